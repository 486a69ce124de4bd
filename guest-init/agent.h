/* State shared by the request handlers, the event loop and process/container setup. */
#ifndef GUEST_INIT_AGENT_H
#define GUEST_INIT_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "channel.h"

#define MAX_CONTAINERS 64
#define MAX_PROCESSES 1024
#define MAX_ID_LEN 255
#define MAX_MOUNTS 64
#define MAX_SHARES 8
#define MAX_RLIMITS 32
#define MAX_GROUPS 64
#define MAX_HOOKS 16

/*
 * A kernel filesystem or a bind mount from the spec, mounted inside the container root by its
 * init. A bind's source is a path inside one of the container's shares.
 */
struct mount_entry {
	char *type;
	char *source;
	char *dest;           /* inside the root, symlinks resolved when the container is added */
	char *data;           /* option words that are not MS_ flags, joined by commas */
	unsigned long flags;  /* MS_ flags parsed from the option words */
	bool bind;
	bool recursive;       /* rbind */
};

struct container {
	char *id;
	char *rootfs;         /* directory the container sees as "/", or "/" for no switch */
	bool rootfs_mounted;  /* guest-init mounted it and unmounts it on SHUTDOWN */
	bool readonly;
	char *hostname;
	struct mount_entry mounts[MAX_MOUNTS];
	size_t nmounts;
	char *shares[MAX_SHARES]; /* names of the shares mounted for it, unmounted on SHUTDOWN */
	size_t nshares;
	char **masked_paths;  /* NULL terminated */
	char **readonly_paths; /* NULL terminated */
	pid_t init_pid;       /* 0 until INIT started; namespaces for later processes */
	bool cgroup;          /* has /sys/fs/cgroup/runv-<id> (PID 1 mode only) */
	struct container *next;
};

struct rlimit_entry {
	int resource;
	struct rlimit limit;
};

/* A startContainer hook: the container's init runs it, in the container, before its program. */
struct hook_spec {
	char *path;
	char **argv;          /* NULL terminated, owned */
	char **envp;          /* NULL terminated, owned */
	uint32_t timeout;     /* seconds; 0: HOOK_DEFAULT_TIMEOUT */
};

/* What START_PROCESS asks for, parsed and checked before forking. */
struct process_spec {
	bool init;
	bool terminal;
	bool no_new_privs;
	char **argv;          /* NULL terminated, owned */
	char **envp;          /* NULL terminated, owned */
	char *cwd;
	uid_t uid;
	gid_t gid;
	gid_t groups[MAX_GROUPS];
	size_t ngroups;
	mode_t umask;
	struct rlimit_entry rlimits[MAX_RLIMITS];
	size_t nrlimits;
	unsigned short rows, cols;
	struct hook_spec hooks[MAX_HOOKS];
	size_t nhooks;
	char *hook_state;     /* the state JSON every hook reads on stdin */
};

/* Output fds: -1 once they reached end of file. */
struct process {
	struct container *container;
	char *id;
	pid_t pid;
	bool init;
	bool terminal;
	int stdin_fd;         /* pipe write end, or the pty master (shared with stdout_fd) */
	int stdout_fd;
	int stderr_fd;
	int held_pty;         /* the pty master after its end of file, open until the process is freed */
	bool stdin_closed;
	uint8_t *pending;     /* one STDIN chunk being written, at most one per process */
	size_t pending_len;
	size_t pending_off;
	uint32_t pending_request;
	bool reaped;
	int wait_status;
	struct process *next;
};

struct agent {
	bool pid1;
	bool cgroups;         /* the VM's own cgroup2 hierarchy is set up: never a host's */
	struct channel ch;
	int sigfd;
	bool hello_seen;
	struct container *containers;
	size_t ncontainers;
	struct process *processes;
	size_t nprocesses;
	bool started_init;    /* any container init ever started (for idle power-off) */
	bool stop;            /* leave the loop: SHUTDOWN, host gone, or a signal */
};

/* A process of a container, as LIST_PROCESSES reports it and SIGNAL with ALL reaches it. */
struct member {
	pid_t pid;            /* in guest-init's PID namespace: what kill() takes */
	pid_t ppid;           /* in guest-init's PID namespace */
	uint32_t ns_pid;      /* as the container sees it */
	uint32_t ns_ppid;     /* as the container sees it; 0: the parent is not in the container */
	uint32_t uid;         /* effective, as ps shows it */
	bool in_container;    /* /proc is read whole, then the container's processes marked */
};

/* A request's outcome; code 0 means OK. */
struct reply {
	int code;
	char message[256];
	int exit_status;      /* -1: none */
	uint32_t pid;         /* START_PROCESS OK; 0: none */
	uint32_t version;     /* HELLO OK or ERROR; 0: none */
};

void reply_error(struct reply *r, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* agent.c */
void agent_handle_frame(struct agent *a, const struct frame *f);
void agent_send_error(struct agent *a, uint32_t id, const struct reply *r);
void agent_kill_all(struct agent *a);
void agent_unmount_all(struct agent *a);

/* loop.c */
int agent_run(struct agent *a);
/* Writes the pending STDIN chunk; replies to its request once it is all written. */
void stdin_write_pending(struct agent *a, struct process *p);
void stdin_close(struct process *p);

/* process.c */
int process_spawn(struct agent *a, struct process *p, const struct process_spec *spec,
		  struct reply *r);
void process_spec_free(struct process_spec *spec);
/* Frees a NULL-terminated array of strings and the strings; NULL is fine. */
void strv_free(char **v);

/* cgroup.c: -1 with errno; EPERM for a file outside the allowed ones. */
int cgroup_setup(void);
int cgroup_create(struct container *c);
int cgroup_join(const struct container *c);
int cgroup_write_file(const char *path, const char *value);
int cgroup_set(const struct container *c, const char *file, const char *value);
ssize_t cgroup_get(const struct container *c, const char *file, char *buf, size_t n);

/* hooks.c: runs in the child; 0, or an errno with `what` saying which hook failed and how. */
int hooks_run(const struct process_spec *s, char *what, size_t what_len);
void hook_spec_free(struct hook_spec *h);
void process_free(struct process *p);

/* container.c */
int container_mount_rootfs(struct container *c, const char *source, const char *fstype,
			   const char *options, struct reply *r);
/* Unmounts the container's shares and its rootfs; a second call does nothing. */
void container_unmount(struct container *c);
void container_free(struct container *c);
int mount_options_parse(const char *options, unsigned long *flags, char **data);
/* Child side, before exec: the container's mounts and root switch. */
int container_enter_root(const struct container *c);
int container_join_namespaces(const struct container *c);
int mkdir_p(const char *path, mode_t mode);
/* root + path, where root "/" adds nothing. */
int join_path(char *buf, size_t size, const char *root, const char *path);
/* Loads the modules a filesystem type needs, then mounts; a device source may appear late. */
int mount_loading(const char *source, const char *target, const char *fstype,
		  unsigned long flags, const char *data);

/* mounts.c: the container's filesystems beyond its rootfs */
#define CONTAINERS_DIR "/run/runv/containers"
int container_mount_share(struct container *c, const char *name, const char *source,
			  const char *fstype, const char *options, struct reply *r);
int container_resolve_mounts(struct container *c, struct reply *r);
/*
 * path as the container sees it from root: symlinks followed, absolute ones from root; EXDEV
 * when it would leave root.
 */
int resolve_in_root(const char *root, const char *path, char *out, size_t size);
/* Child side: one spec mount (kernel filesystem or bind) under root. */
int mount_entry_apply(const char *root, const struct mount_entry *m);
int bind_entry(const struct mount_entry *m, const char *target);
int mask_and_protect_paths(const struct container *c);

/* members.c */
/*
 * In PID-1 mode the processes in the container init's PID namespace; standalone, the ones
 * guest-init started for the container and their descendants. *out is freed by the caller.
 */
int container_members(const struct agent *a, const struct container *c, struct member **out,
		      size_t *n);
/* argv joined by spaces, or [comm] when empty; at most size - 1 bytes. -1: the process is gone. */
ssize_t member_command(pid_t pid, char *buf, size_t size);

#endif
