/*
 * Each container's cgroup (v2) inside the guest, as PID 1 keeps them: the limits `runv update`
 * changes after boot and the usage and OOM kills `runv events` reports. Only the files named
 * here are read or written, so the host cannot reach anything else under /sys/fs/cgroup.
 */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#define CGROUP_ROOT "/sys/fs/cgroup"

static const char *const writable[] = { "memory.max", "memory.low", "memory.high",
					"cpu.max", "cpu.weight", "pids.max" };
static const char *const readable[] = { "memory.current", "memory.max", "memory.low",
					"memory.events", "cpu.stat", "cpu.max", "cpu.weight",
					"pids.current", "pids.max" };

static bool listed(const char *name, const char *const *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(name, list[i]) == 0)
			return true;
	return false;
}

/* At boot: the hierarchy, with the controllers every container cgroup gets. */
int cgroup_setup(void)
{
	static const char *const controllers[] = { "+memory", "+cpu", "+pids" };
	size_t i;
	int fd;

	if (mount("cgroup2", CGROUP_ROOT, "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0 &&
	    errno != EBUSY) {
		LOG_ERRNO("mount cgroup2");
		return -1;
	}
	fd = open(CGROUP_ROOT "/cgroup.subtree_control", O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		LOG_ERRNO("open cgroup.subtree_control");
		return -1;
	}
	/* One at a time: a kernel without one controller still gets the others. */
	for (i = 0; i < sizeof(controllers) / sizeof(controllers[0]); i++)
		if (write(fd, controllers[i], strlen(controllers[i])) < 0)
			LOG_ERRNO("enable %s", controllers[i]);
	close(fd);
	return 0;
}

static int cgroup_path(char *buf, size_t n, const struct container *c, const char *file)
{
	int len = file ? snprintf(buf, n, CGROUP_ROOT "/runv-%s/%s", c->id, file)
		       : snprintf(buf, n, CGROUP_ROOT "/runv-%s", c->id);

	if (len < 0 || (size_t)len >= n) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

int cgroup_create(struct container *c)
{
	char path[PATH_MAX];

	/* ADD_CONTAINER checked the id: no '/', and the prefix keeps "." and ".." inside. */
	if (cgroup_path(path, sizeof(path), c, NULL) < 0 || (mkdir(path, 0755) < 0 && errno != EEXIST))
		return -1;
	c->cgroup = true;
	return 0;
}

/* In a new process, before it execs: it and its descendants count against the container. */
int cgroup_join(const struct container *c)
{
	char path[PATH_MAX];

	if (!c->cgroup)
		return 0;
	return cgroup_path(path, sizeof(path), c, "cgroup.procs") < 0 ? -1 :
	       cgroup_write_file(path, "0");
}

int cgroup_write_file(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, value, strlen(value));
	close(fd);
	return n < 0 ? -1 : 0;
}

/* The path of an allowed file of the container's cgroup, into path[PATH_MAX]. */
static int allowed_path(char *path, const struct container *c, const char *file,
			const char *const *allowed, size_t n)
{
	if (!c->cgroup) {
		errno = EOPNOTSUPP;
		return -1;
	}
	if (!listed(file, allowed, n)) {
		errno = EPERM;
		return -1;
	}
	return cgroup_path(path, PATH_MAX, c, file);
}

int cgroup_set(const struct container *c, const char *file, const char *value)
{
	char path[PATH_MAX];

	if (allowed_path(path, c, file, writable, sizeof(writable) / sizeof(writable[0])) < 0)
		return -1;
	return cgroup_write_file(path, value);
}

/* Reads a whole (small) cgroup file into buf, NUL terminated; returns its length or -1. */
ssize_t cgroup_get(const struct container *c, const char *file, char *buf, size_t n)
{
	char path[PATH_MAX];
	ssize_t len, got = 0;
	int fd;

	if (allowed_path(path, c, file, readable, sizeof(readable) / sizeof(readable[0])) < 0)
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while ((size_t)got < n - 1 && (len = read(fd, buf + got, n - 1 - (size_t)got)) > 0)
		got += len;
	close(fd);
	buf[got] = '\0';
	return got;
}
