/* Container roots: the rootfs mount (guest-init side) and the root switch (child side). */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "log.h"
#include "sysinit.h"

#define DEVICE_WAIT_US 5000000
#define DEVICE_POLL_US 10000

int mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	size_t i, n = strlen(path);

	if (n >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, path, n + 1);
	for (i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -1;
		buf[i] = path[i];
	}
	return 0;
}

/* A disk's node appears once its driver, just loaded, has probed it: give it a moment. */
static void wait_for_device(const char *source)
{
	int waited = 0;

	while (access(source, F_OK) < 0 && waited < DEVICE_WAIT_US) {
		usleep(DEVICE_POLL_US);
		waited += DEVICE_POLL_US;
	}
}

int mount_loading(const char *source, const char *target, const char *fstype,
		  unsigned long flags, const char *data)
{
	if (sysinit_load_module_list(fstype) > 0)
		LOG_ERROR("some modules for %s failed to load", fstype);
	if (strncmp(source, "/dev/", 5) == 0)
		wait_for_device(source);
	return mount(source, target, fstype, flags, data);
}

int container_mount_rootfs(struct container *c, const char *source, const char *fstype,
			   const char *options, struct reply *r)
{
	char path[PATH_MAX];
	/*
	 * Mounted writable even for a read-only container: mount points for the spec's mounts may
	 * have to be made first. The container's own view is remounted read-only when it enters.
	 */
	unsigned long flags = 0;

	if (snprintf(path, sizeof(path), CONTAINERS_DIR "/%s/rootfs", c->id) >= (int)sizeof(path)) {
		reply_error(r, ENAMETOOLONG, "rootfs path too long");
		return -1;
	}
	if (mkdir_p(path, 0755) < 0) {
		reply_error(r, errno, "mkdir %s: %s", path, strerror(errno));
		return -1;
	}
	if (mount_loading(source, path, fstype, flags, options) < 0) {
		reply_error(r, errno, "mount %s (%s) on %s: %s", source, fstype, path,
			    strerror(errno));
		return -1;
	}
	c->rootfs = strdup(path);
	c->rootfs_mounted = true;
	if (!c->rootfs) {
		container_unmount(c);
		reply_error(r, ENOMEM, "out of memory");
		return -1;
	}
	return 0;
}

void container_unmount(struct container *c)
{
	char path[PATH_MAX];
	size_t i;

	for (i = 0; i < c->nshares; i++) {
		if (snprintf(path, sizeof(path), CONTAINERS_DIR "/%s/shares/%s", c->id,
			     c->shares[i]) < (int)sizeof(path) && umount2(path, MNT_DETACH) < 0)
			LOG_ERRNO("umount %s", path);
		free(c->shares[i]);
	}
	c->nshares = 0; /* a second call (a failed ADD_CONTAINER's) has nothing left to unmount */
	if (!c->rootfs_mounted)
		return;
	if (snprintf(path, sizeof(path), CONTAINERS_DIR "/%s/rootfs", c->id) >= (int)sizeof(path))
		return;
	if (umount2(path, MNT_DETACH) < 0)
		LOG_ERRNO("umount %s", path);
	c->rootfs_mounted = false;
}

void container_free(struct container *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < c->nmounts; i++) {
		free(c->mounts[i].type);
		free(c->mounts[i].source);
		free(c->mounts[i].dest);
		free(c->mounts[i].data);
	}
	for (i = 0; i < c->nshares; i++)
		free(c->shares[i]);
	strv_free(c->masked_paths);
	strv_free(c->readonly_paths);
	free(c->id);
	free(c->rootfs);
	free(c->hostname);
	free(c);
}

static const struct {
	const char *word;
	bool clear;
	unsigned long flag;
} mount_flag_words[] = {
	{ "ro", false, MS_RDONLY }, { "rw", true, MS_RDONLY },
	{ "nosuid", false, MS_NOSUID }, { "suid", true, MS_NOSUID },
	{ "nodev", false, MS_NODEV }, { "dev", true, MS_NODEV },
	{ "noexec", false, MS_NOEXEC }, { "exec", true, MS_NOEXEC },
	{ "sync", false, MS_SYNCHRONOUS }, { "async", true, MS_SYNCHRONOUS },
	{ "dirsync", false, MS_DIRSYNC },
	{ "noatime", false, MS_NOATIME }, { "atime", true, MS_NOATIME },
	{ "nodiratime", false, MS_NODIRATIME }, { "diratime", true, MS_NODIRATIME },
	{ "relatime", false, MS_RELATIME }, { "norelatime", true, MS_RELATIME },
	{ "strictatime", false, MS_STRICTATIME }, { "nostrictatime", true, MS_STRICTATIME },
	/* Propagation and bind words do not apply to the kernel filesystems we mount. */
	{ "private", false, 0 }, { "rprivate", false, 0 }, { "shared", false, 0 },
	{ "rshared", false, 0 }, { "slave", false, 0 }, { "rslave", false, 0 },
	{ "unbindable", false, 0 }, { "runbindable", false, 0 }, { "bind", false, 0 },
	{ "rbind", false, 0 },
};

/* Returns true if the word is a flag (applied to *flags). */
static bool apply_flag_word(const char *word, size_t len, unsigned long *flags)
{
	size_t i;

	for (i = 0; i < sizeof(mount_flag_words) / sizeof(mount_flag_words[0]); i++) {
		const char *w = mount_flag_words[i].word;

		if (strlen(w) != len || strncmp(w, word, len) != 0)
			continue;
		if (mount_flag_words[i].clear)
			*flags &= ~mount_flag_words[i].flag;
		else
			*flags |= mount_flag_words[i].flag;
		return true;
	}
	return false;
}

int mount_options_parse(const char *options, unsigned long *flags, char **data)
{
	const char *word = options;
	size_t used = 0;
	char *out = malloc(strlen(options) + 1);

	if (!out)
		return -1;
	*flags = 0;
	while (*word) {
		size_t len = strcspn(word, ",");

		if (len && !apply_flag_word(word, len, flags)) {
			if (used)
				out[used++] = ',';
			memcpy(out + used, word, len);
			used += len;
		}
		word += len + (word[len] == ',');
	}
	out[used] = '\0';
	*data = out;
	return 0;
}

int join_path(char *buf, size_t size, const char *root, const char *path)
{
	if (strcmp(root, "/") == 0)
		root = "";
	if (snprintf(buf, size, "%s%s", root, path) >= (int)size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/*
 * guest-init's own /dev, where the container init finds the nodes to bind: "/dev" in a VM,
 * where the container has a root of its own. Under LXC the container's root is "/" too and its
 * /dev tmpfs hides ours, so it is reached through a descriptor opened before (own_dev_open).
 */
static char own_dev[32] = "/dev";

static int own_dev_open(void)
{
	int fd = open("/dev", O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0) {
		LOG_ERRNO("open /dev");
		return -1;
	}
	snprintf(own_dev, sizeof(own_dev), "/proc/self/fd/%d", fd);
	return 0;
}

/*
 * Without CAP_MKNOD (libvirt's LXC driver drops it from the container's init) the node is our
 * own /dev's, bound onto an empty file: the same device, as runc does in a user namespace.
 */
static int make_dev_node(const char *path, const char *name, dev_t dev)
{
	char own[PATH_MAX];
	int fd;

	if (mknod(path, S_IFCHR | 0666, dev) == 0 && chmod(path, 0666) == 0)
		return 0;
	if (errno != EPERM) {
		LOG_ERRNO("mknod %s", path);
		return -1;
	}
	snprintf(own, sizeof(own), "%s/%s", own_dev, name);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
	if (fd < 0 || close(fd) < 0 || mount(own, path, NULL, MS_BIND, NULL) < 0) {
		LOG_ERRNO("bind %s on %s", own, path);
		return -1;
	}
	return 0;
}

/* A tmpfs /dev from the spec starts empty; give it the devices every program expects. */
static int populate_dev(const char *devdir)
{
	static const struct { const char *name; unsigned major, minor; } nodes[] = {
		{ "null", 1, 3 }, { "zero", 1, 5 }, { "full", 1, 7 }, { "random", 1, 8 },
		{ "urandom", 1, 9 }, { "tty", 5, 0 },
	};
	static const struct { const char *name, *target; } links[] = {
		{ "ptmx", "pts/ptmx" }, { "fd", "/proc/self/fd" }, { "stdin", "/proc/self/fd/0" },
		{ "stdout", "/proc/self/fd/1" }, { "stderr", "/proc/self/fd/2" },
	};
	char path[PATH_MAX];
	size_t i;

	for (i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
		if (snprintf(path, sizeof(path), "%s/%s", devdir, nodes[i].name) >= (int)sizeof(path))
			return -1;
		if (make_dev_node(path, nodes[i].name, makedev(nodes[i].major, nodes[i].minor)) < 0)
			return -1;
	}
	for (i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		if (snprintf(path, sizeof(path), "%s/%s", devdir, links[i].name) >= (int)sizeof(path))
			return -1;
		if (symlink(links[i].target, path) < 0 && errno != EEXIST) {
			LOG_ERRNO("symlink %s", path);
			return -1;
		}
	}
	return 0;
}

/*
 * devpts is the guest's own instance bound in, not a new one: the pty guest-init allocated
 * before the clone must show up as /dev/pts/N inside the container for ttyname() to work.
 */
/*
 * The kernel refuses to mount a filesystem on a mount point of the same superblock (EBUSY). Under
 * libvirt's LXC driver the container's root is "/" and /sys already holds the sysfs of the
 * network namespace the container shares: that mount, with the spec's flags, is what it asks for.
 */
static int mount_kernel_fs(const struct mount_entry *m, const char *path)
{
	if (mount(m->source ? m->source : m->type, path, m->type, m->flags, m->data) == 0)
		return 0;
	if (errno != EBUSY)
		return -1;
	return mount(NULL, path, NULL, MS_REMOUNT | MS_BIND | m->flags, NULL);
}

int mount_entry_apply(const char *root, const struct mount_entry *m)
{
	char resolved[PATH_MAX], path[PATH_MAX];
	int rc;

	/* Again, now that the earlier mounts are there: a symlink in one of them counts too. */
	if (resolve_in_root(root, m->dest, resolved, sizeof(resolved)) < 0 ||
	    join_path(path, sizeof(path), root, resolved) < 0) {
		LOG_ERRNO("mount destination %s", m->dest);
		return -1;
	}
	if (m->bind)
		return bind_entry(m, path);
	if (mkdir_p(path, 0755) < 0) {
		LOG_ERRNO("mkdir %s", m->dest);
		return -1;
	}
	if (strcmp(m->type, "devpts") == 0) {
		char pts[sizeof(own_dev) + 4];

		snprintf(pts, sizeof(pts), "%s/pts", own_dev);
		rc = mount(pts, path, NULL, MS_BIND, NULL);
	} else {
		rc = mount_kernel_fs(m, path);
	}
	if (rc < 0) {
		LOG_ERRNO("mount %s on %s", m->type, path);
		/* cgroup layouts vary between guest kernels; a container runs without them. */
		return strncmp(m->type, "cgroup", 6) == 0 ? 0 : -1;
	}
	if (strcmp(m->type, "tmpfs") == 0 && strcmp(m->dest, "/dev") == 0)
		return populate_dev(path);
	return 0;
}

static int switch_root(const char *root)
{
	if (chdir(root) < 0 || mount(root, "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0 ||
	    chdir("/") < 0) {
		LOG_ERRNO("switch root to %s", root);
		return -1;
	}
	return 0;
}

/* Runs in the container init, in its new mount/PID/UTS/IPC namespaces. */
int container_enter_root(const struct container *c)
{
	bool own_root = strcmp(c->rootfs, "/") != 0;
	size_t i;

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		LOG_ERRNO("make mounts private");
		return -1;
	}
	/* A bind of the root onto itself makes it a mount point that MS_MOVE can take. */
	if (own_root && mount(c->rootfs, c->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0) {
		LOG_ERRNO("bind %s", c->rootfs);
		return -1;
	}
	if (!own_root && own_dev_open() < 0)
		return -1;
	for (i = 0; i < c->nmounts; i++)
		if (mount_entry_apply(c->rootfs, &c->mounts[i]) < 0)
			return -1;
	if (mask_and_protect_paths(c) < 0)
		return -1;
	if (own_root && c->readonly &&
	    mount(NULL, c->rootfs, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0) {
		LOG_ERRNO("remount %s read-only", c->rootfs);
		return -1;
	}
	if (own_root && switch_root(c->rootfs) < 0)
		return -1;
	if (c->hostname && sethostname(c->hostname, strlen(c->hostname)) < 0) {
		LOG_ERRNO("sethostname");
		return -1;
	}
	return 0;
}

/* The PID namespace is joined by guest-init itself around the fork (see process.c). */
int container_join_namespaces(const struct container *c)
{
	static const char *const names[] = { "ipc", "uts", "mnt" };
	char path[64];
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		int fd, rc;

		snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)c->init_pid, names[i]);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			LOG_ERRNO("open %s", path);
			return -1;
		}
		rc = setns(fd, 0);
		close(fd);
		if (rc < 0) {
			LOG_ERRNO("setns %s", path);
			return -1;
		}
	}
	/* Joining a mount namespace moves our root to its root: the container's. */
	return chdir("/");
}
