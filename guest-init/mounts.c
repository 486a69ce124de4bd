/*
 * A container's filesystems beyond its rootfs: the shares that carry bind-mount sources (host
 * side: src/storage), the bind mounts themselves, maskedPaths and readonlyPaths, and where
 * inside the root each destination really is.
 */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#define MAX_SYMLINKS 40

int container_mount_share(struct container *c, const char *name, const char *source,
			  const char *fstype, const char *options, struct reply *r)
{
	char path[PATH_MAX];
	unsigned long flags;
	char *data;
	int rc;

	if (c->nshares == MAX_SHARES) {
		reply_error(r, E2BIG, "more than %d SHARE entries", MAX_SHARES);
		return -1;
	}
	if (!name[0] || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
	    snprintf(path, sizeof(path), CONTAINERS_DIR "/%s/shares/%s", c->id, name) >=
		    (int)sizeof(path)) {
		reply_error(r, EINVAL, "bad SHARE name %s", name);
		return -1;
	}
	if (mkdir_p(path, 0700) < 0) {
		reply_error(r, errno, "mkdir %s: %s", path, strerror(errno));
		return -1;
	}
	if (mount_options_parse(options, &flags, &data) < 0) {
		reply_error(r, ENOMEM, "out of memory");
		return -1;
	}
	rc = mount_loading(source, path, fstype, flags, data);
	free(data);
	if (rc < 0) {
		reply_error(r, errno, "mount share %s (%s) on %s: %s", source, fstype, path,
			    strerror(errno));
		return -1;
	}
	c->shares[c->nshares] = strdup(name);
	if (!c->shares[c->nshares]) {
		umount2(path, MNT_DETACH);
		reply_error(r, ENOMEM, "out of memory");
		return -1;
	}
	c->nshares++;
	return 0;
}

/* Moves the first component of *rest into comp; false when none is left. */
static bool next_component(const char **rest, char *comp, size_t size)
{
	const char *p = *rest;
	size_t len;

	while (*p == '/')
		p++;
	len = strcspn(p, "/");
	if (len == 0 || len >= size)
		return false;
	memcpy(comp, p, len);
	comp[len] = '\0';
	*rest = p + len;
	return true;
}

/*
 * Resolves path as the container will see it: symlinks followed, absolute targets from the
 * root. What does not exist yet is kept as written (mkdir makes plain directories of it). A
 * ".." that would climb above the root fails with EXDEV: mounting there would land outside.
 */
int resolve_in_root(const char *root, const char *path, char *out, size_t size)
{
	char pending[PATH_MAX], next[PATH_MAX], comp[NAME_MAX + 1], host[PATH_MAX],
		target[PATH_MAX];
	const char *rest;
	size_t used = 0;
	int links = 0;
	ssize_t n;

	if (snprintf(pending, sizeof(pending), "%s", path) >= (int)sizeof(pending))
		return errno = ENAMETOOLONG, -1;
	out[0] = '\0';
	rest = pending;
	while (next_component(&rest, comp, sizeof(comp))) {
		struct stat st;

		if (strcmp(comp, ".") == 0)
			continue;
		if (strcmp(comp, "..") == 0) {
			if (used == 0)
				return errno = EXDEV, -1;
			while (used > 0 && out[--used] != '/')
				;
			out[used] = '\0';
			continue;
		}
		if (used + 1 + strlen(comp) >= size)
			return errno = ENAMETOOLONG, -1;
		used += (size_t)sprintf(out + used, "/%s", comp);
		if (join_path(host, sizeof(host), root, out) < 0)
			return -1;
		if (lstat(host, &st) < 0 || !S_ISLNK(st.st_mode))
			continue;
		if (++links > MAX_SYMLINKS)
			return errno = ELOOP, -1;
		n = readlink(host, target, sizeof(target) - 1);
		if (n < 0)
			return -1;
		target[n] = '\0';
		while (used > 0 && out[--used] != '/')
			;
		out[used] = '\0';
		if (target[0] == '/')
			out[used = 0] = '\0';
		if (snprintf(next, sizeof(next), "%s/%s", target, rest) >= (int)sizeof(next))
			return errno = ENAMETOOLONG, -1;
		memcpy(pending, next, sizeof(pending));
		rest = pending;
	}
	if (used == 0)
		strcpy(out, "/");
	return 0;
}

int container_resolve_mounts(struct container *c, struct reply *r)
{
	char resolved[PATH_MAX];
	size_t i;

	for (i = 0; i < c->nmounts; i++) {
		struct mount_entry *m = &c->mounts[i];
		char *copy;

		if (resolve_in_root(c->rootfs, m->dest, resolved, sizeof(resolved)) < 0) {
			if (errno == EXDEV)
				reply_error(r, EXDEV, "mount destination %s leaves the container root through a symlink", m->dest);
			else
				reply_error(r, errno, "mount destination %s: %s", m->dest, strerror(errno));
			return -1;
		}
		copy = strdup(resolved);
		if (!copy) {
			reply_error(r, ENOMEM, "out of memory");
			return -1;
		}
		free(m->dest);
		m->dest = copy;
	}
	return 0;
}

/* A bind needs a target of its source's kind: a directory, or a file to cover. */
static int make_target(const char *source, const char *target)
{
	struct stat st;
	char dir[PATH_MAX];
	char *slash;
	int fd;

	if (stat(source, &st) < 0)
		return -1;
	if (S_ISDIR(st.st_mode))
		return mkdir_p(target, 0755);
	snprintf(dir, sizeof(dir), "%s", target);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir_p(dir, 0755) < 0)
			return -1;
	}
	fd = open(target, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return errno == EISDIR ? 0 : -1;
	close(fd);
	return 0;
}

/* Flags such as ro only take effect on a bind through a remount. */
int bind_entry(const struct mount_entry *m, const char *target)
{
	const unsigned long remount = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;

	if (make_target(m->source, target) < 0) {
		LOG_ERRNO("bind mount point %s", target);
		return -1;
	}
	if (mount(m->source, target, NULL, MS_BIND | (m->recursive ? MS_REC : 0), NULL) < 0) {
		LOG_ERRNO("bind %s on %s", m->source, target);
		return -1;
	}
	if ((m->flags & remount) &&
	    mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | (m->flags & remount), NULL) < 0) {
		LOG_ERRNO("remount %s", target);
		return -1;
	}
	return 0;
}

/* Hides a file behind /dev/null, a directory behind an empty read-only tmpfs, as runc does. */
static int mask_path(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	if (S_ISDIR(st.st_mode))
		return mount("tmpfs", path, "tmpfs", MS_RDONLY, "size=0");
	return mount("/dev/null", path, NULL, MS_BIND, NULL);
}

static int protect_path(const char *path)
{
	if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0)
		return errno == ENOENT ? 0 : -1;
	return mount(NULL, path, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL);
}

static int apply_to_paths(const char *root, char **paths, int (*apply)(const char *),
			  const char *what)
{
	char resolved[PATH_MAX], path[PATH_MAX];
	size_t i;

	for (i = 0; paths && paths[i]; i++) {
		if (resolve_in_root(root, paths[i], resolved, sizeof(resolved)) < 0 ||
		    join_path(path, sizeof(path), root, resolved) < 0 || apply(path) < 0) {
			LOG_ERRNO("%s %s", what, paths[i]);
			return -1;
		}
	}
	return 0;
}

int mask_and_protect_paths(const struct container *c)
{
	if (apply_to_paths(c->rootfs, c->readonly_paths, protect_path, "readonly path") < 0)
		return -1;
	return apply_to_paths(c->rootfs, c->masked_paths, mask_path, "masked path");
}
