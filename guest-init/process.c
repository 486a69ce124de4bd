/* Starting a process: stdio, the fork/clone, the child's setup and exec. */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "log.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* Both ends of the child's stdio; -1 where unused. */
struct stdio_fds {
	int child[3];
	int parent_in, parent_out, parent_err;
};

/* What a child that could not exec tells its parent through the CLOEXEC pipe. */
struct child_report {
	int err;
	bool hook;            /* a startContainer hook failed: `what` says all, and no exit status */
	char what[256];
};

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void stdio_close(struct stdio_fds *io)
{
	int i;

	for (i = 0; i < 3; i++)
		close_fd(&io->child[i]);
	if (io->parent_in != io->parent_out)
		close_fd(&io->parent_in);
	close_fd(&io->parent_out);
	close_fd(&io->parent_err);
}

static int set_nonblock(int fd)
{
	int flags = fcntl(fd, F_GETFL);

	return flags < 0 ? -1 : fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

static int open_pipes(struct stdio_fds *io)
{
	int in[2], out[2], err[2];

	if (pipe2(in, O_CLOEXEC) < 0)
		return -1;
	if (pipe2(out, O_CLOEXEC) < 0) {
		close(in[0]);
		close(in[1]);
		return -1;
	}
	if (pipe2(err, O_CLOEXEC) < 0) {
		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		return -1;
	}
	*io = (struct stdio_fds){ .child = { in[0], out[1], err[1] },
				  .parent_in = in[1], .parent_out = out[0], .parent_err = err[0] };
	return 0;
}

/* openpty() by hand: libutil is not part of the static build. */
static int open_pty(struct stdio_fds *io, const struct process_spec *s)
{
	struct winsize ws = { .ws_row = s->rows, .ws_col = s->cols };
	char name[64];
	int master, slave;

	master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0)
		return -1;
	if (grantpt(master) < 0 || unlockpt(master) < 0 || ptsname_r(master, name, sizeof(name))) {
		close(master);
		return -1;
	}
	slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (slave < 0) {
		close(master);
		return -1;
	}
	if ((ws.ws_row || ws.ws_col) && ioctl(master, TIOCSWINSZ, &ws) < 0)
		LOG_ERRNO("set window size");
	*io = (struct stdio_fds){ .child = { slave, -1, -1 }, .parent_in = master,
				  .parent_out = master, .parent_err = -1 };
	return 0;
}

static int open_stdio(struct stdio_fds *io, const struct process_spec *s)
{
	int rc = s->terminal ? open_pty(io, s) : open_pipes(io);

	if (rc < 0)
		return -1;
	if (set_nonblock(io->parent_in) < 0 || set_nonblock(io->parent_out) < 0 ||
	    (io->parent_err >= 0 && set_nonblock(io->parent_err) < 0)) {
		stdio_close(io);
		return -1;
	}
	return 0;
}

static _Noreturn void child_report_fail(int report_fd, int err, bool hook, const char *what)
{
	struct child_report rep = { .err = err, .hook = hook };

	snprintf(rep.what, sizeof(rep.what), "%s", what);
	if (write(report_fd, &rep, sizeof(rep)) < 0)
		_exit(126);
	_exit(err == ENOENT || err == ENOTDIR ? 127 : 126);
}

static _Noreturn void child_fail(int report_fd, int err, const char *what)
{
	child_report_fail(report_fd, err, false, what);
}

static int attach_stdio(const struct stdio_fds *io, bool terminal)
{
	int i;

	if (setsid() < 0)
		return -1;
	if (terminal && ioctl(io->child[0], TIOCSCTTY, 0) < 0)
		return -1;
	for (i = 0; i < 3; i++)
		if (dup2(io->child[terminal ? 0 : i], i) < 0)
			return -1;
	return 0;
}

static int apply_credentials(const struct process_spec *s, const char **what)
{
	size_t i;

	*what = "setrlimit";
	for (i = 0; i < s->nrlimits; i++)
		if (setrlimit(s->rlimits[i].resource, &s->rlimits[i].limit) < 0)
			return -1;
	umask(s->umask);
	*what = "setgroups";
	if (setgroups(s->ngroups, s->groups) < 0)
		return -1;
	*what = "setgid";
	if (setgid(s->gid) < 0)
		return -1;
	*what = "setuid";
	if (setuid(s->uid) < 0)
		return -1;
	*what = "no_new_privs";
	if (s->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -1;
	return 0;
}

static const char *env_path(char *const envp[])
{
	size_t i;

	for (i = 0; envp[i]; i++)
		if (strncmp(envp[i], "PATH=", 5) == 0)
			return envp[i] + 5;
	return DEFAULT_PATH;
}

/* execvpe() with PATH taken from the new environment. Returns the errno to report. */
static int exec_program(char *const argv[], char *const envp[])
{
	const char *dir = env_path(envp);
	char path[PATH_MAX];
	bool denied = false;

	if (strchr(argv[0], '/')) {
		execve(argv[0], argv, envp);
		return errno;
	}
	for (;;) {
		size_t len = strcspn(dir, ":");
		int n = snprintf(path, sizeof(path), "%.*s%s%s", (int)len, dir, len ? "/" : "",
				 argv[0]);

		if (n < (int)sizeof(path)) {
			execve(path, argv, envp);
			if (errno == EACCES)
				denied = true;
			else if (errno != ENOENT && errno != ENOTDIR)
				return errno;
		}
		if (dir[len] == '\0')
			break;
		dir += len + 1;
	}
	return denied ? EACCES : ENOENT;
}

static _Noreturn void child_main(struct agent *a, const struct container *c,
				 const struct process_spec *s, const struct stdio_fds *io,
				 int report_fd)
{
	sigset_t none;
	char what[PATH_MAX + 16];
	const char *step;
	int err;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* Before attach_stdio, so that setup errors are logged to guest-init's stderr. */
	if (cgroup_join(c) < 0)
		child_fail(report_fd, errno, "join the container's cgroup");
	step = "enter container";
	if (a->pid1 && s->init && container_enter_root(c) < 0)
		child_fail(report_fd, errno, step);
	if (a->pid1 && !s->init && container_join_namespaces(c) < 0)
		child_fail(report_fd, errno, step);
	if (!a->pid1 && strcmp(c->rootfs, "/") != 0 && (chroot(c->rootfs) < 0 || chdir("/") < 0))
		child_fail(report_fd, errno, "chroot");
	if (attach_stdio(io, s->terminal) < 0)
		child_fail(report_fd, errno, "setup stdio");
	if (apply_credentials(s, &step) < 0)
		child_fail(report_fd, errno, step);
	if (chdir(s->cwd ? s->cwd : "/") < 0) {
		err = errno;
		snprintf(what, sizeof(what), "chdir %s", s->cwd);
		child_fail(report_fd, err, what);
	}
	err = hooks_run(s, what, sizeof(what));
	if (err)
		child_report_fail(report_fd, err, true, what);
	err = exec_program(s->argv, s->envp);
	snprintf(what, sizeof(what), "exec %s", s->argv[0]);
	child_fail(report_fd, err, what);
}

/* Forks with our PID namespace for children set to the container init's. */
static pid_t fork_into_pid_ns(const struct container *c)
{
	char path[64];
	int target, self;
	pid_t pid = -1;

	snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)c->init_pid);
	target = open(path, O_RDONLY | O_CLOEXEC);
	self = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
	if (target >= 0 && self >= 0 && setns(target, CLONE_NEWPID) == 0) {
		pid = fork();
		if (pid != 0 && setns(self, CLONE_NEWPID) < 0)
			LOG_ERRNO("restore pid namespace");
	}
	if (target >= 0)
		close(target);
	if (self >= 0)
		close(self);
	return pid;
}

static pid_t start_child(struct agent *a, const struct process_spec *s, const struct container *c)
{
	if (!a->pid1)
		return fork();
	if (!s->init)
		return fork_into_pid_ns(c);
	/* fork() with new namespaces: the raw syscall, as glibc's clone() wants a new stack. */
	return (pid_t)syscall(SYS_clone, SIGCHLD | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS |
				       CLONE_NEWIPC, NULL, NULL, NULL, NULL);
}

/* Waits for exec (the pipe closes) or for the child's report of why it did not happen. */
static int await_exec(pid_t pid, int report_fd, struct reply *r)
{
	struct child_report rep;
	ssize_t n;

	do
		n = read(report_fd, &rep, sizeof(rep));
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return 0;
	if (n != (ssize_t)sizeof(rep))
		rep = (struct child_report){ .err = EIO, .what = "start" };
	rep.what[sizeof(rep.what) - 1] = '\0';
	/* Reaped here so that no EXIT event follows this ERROR. */
	waitpid(pid, NULL, 0);
	if (rep.hook) {
		reply_error(r, rep.err, "%s", rep.what);
		return -1;
	}
	reply_error(r, rep.err, "%s: %s", rep.what, strerror(rep.err));
	r->exit_status = rep.err == ENOENT || rep.err == ENOTDIR ? 127 : 126;
	return -1;
}

int process_spawn(struct agent *a, struct process *p, const struct process_spec *s,
		  struct reply *r)
{
	struct stdio_fds io;
	int report[2];
	pid_t pid;

	if (open_stdio(&io, s) < 0) {
		reply_error(r, errno, "stdio: %s", strerror(errno));
		return -1;
	}
	if (pipe2(report, O_CLOEXEC) < 0) {
		reply_error(r, errno, "pipe: %s", strerror(errno));
		stdio_close(&io);
		return -1;
	}
	pid = start_child(a, s, p->container);
	if (pid == 0)
		child_main(a, p->container, s, &io, report[1]);
	close(report[1]);
	if (pid < 0 || await_exec(pid, report[0], r) < 0) {
		if (pid < 0)
			reply_error(r, errno, "fork: %s", strerror(errno));
		close(report[0]);
		stdio_close(&io);
		return -1;
	}
	close(report[0]);
	p->pid = pid;
	p->init = s->init;
	p->terminal = s->terminal;
	p->stdin_fd = io.parent_in;
	p->stdout_fd = io.parent_out;
	p->stderr_fd = io.parent_err;
	io.parent_in = io.parent_out = io.parent_err = -1;
	stdio_close(&io);
	LOG_INFO("container %s: process %s started, pid %d", p->container->id, p->id, (int)pid);
	return 0;
}

void strv_free(char **v)
{
	size_t i;

	for (i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

void process_spec_free(struct process_spec *s)
{
	size_t i;

	strv_free(s->argv);
	strv_free(s->envp);
	free(s->cwd);
	for (i = 0; i < s->nhooks; i++)
		hook_spec_free(&s->hooks[i]);
	free(s->hook_state);
}

void process_free(struct process *p)
{
	if (!p)
		return;
	if (p->stdin_fd != p->stdout_fd)
		close_fd(&p->stdin_fd);
	close_fd(&p->stdout_fd);
	close_fd(&p->stderr_fd);
	close_fd(&p->held_pty);
	free(p->pending);
	free(p->id);
	free(p);
}
