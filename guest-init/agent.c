/* Request handlers: decode a frame, act, reply with OK or ERROR. */
#include "agent.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "log.h"
#include "netconf.h"

void reply_error(struct reply *r, int code, const char *fmt, ...)
{
	va_list ap;

	r->code = code;
	va_start(ap, fmt);
	vsnprintf(r->message, sizeof(r->message), fmt, ap);
	va_end(ap);
}

void agent_send_error(struct agent *a, uint32_t id, const struct reply *r)
{
	struct frame_writer w;

	channel_frame(&a->ch, &w, RUNV_ERROR, id);
	fw_u32(&w, RUNV_A_CODE, (uint32_t)r->code);
	fw_str(&w, RUNV_A_MESSAGE, r->message);
	if (r->exit_status >= 0)
		fw_u32(&w, RUNV_A_EXIT_STATUS, (uint32_t)r->exit_status);
	if (r->version)
		fw_u32(&w, RUNV_A_VERSION, r->version);
	channel_send(&a->ch, &w);
}

static void send_reply(struct agent *a, uint32_t id, const struct reply *r)
{
	struct frame_writer w;

	if (r->code) {
		agent_send_error(a, id, r);
		return;
	}
	channel_frame(&a->ch, &w, RUNV_OK, id);
	if (r->pid)
		fw_u32(&w, RUNV_A_PID, r->pid);
	if (r->version)
		fw_u32(&w, RUNV_A_VERSION, r->version);
	channel_send(&a->ch, &w);
}

static const char *tag_name(uint16_t tag)
{
	switch (tag) {
	case RUNV_A_VERSION: return "VERSION";
	case RUNV_A_CONTAINER_ID: return "CONTAINER_ID";
	case RUNV_A_PROCESS_ID: return "PROCESS_ID";
	case RUNV_A_SIGNAL: return "SIGNAL";
	case RUNV_A_ARG: return "ARG";
	case RUNV_A_ROWS: return "ROWS";
	case RUNV_A_COLS: return "COLS";
	case RUNV_A_ROOTFS_SOURCE: return "ROOTFS_SOURCE";
	case RUNV_A_MOUNT_TYPE: return "MOUNT_TYPE";
	case RUNV_A_MOUNT_DEST: return "MOUNT_DEST";
	case RUNV_A_RLIMIT_TYPE: return "RLIMIT_TYPE";
	case RUNV_A_RLIMIT_SOFT: return "RLIMIT_SOFT";
	case RUNV_A_RLIMIT_HARD: return "RLIMIT_HARD";
	case RUNV_A_HOOK_PATH: return "HOOK_PATH";
	case RUNV_A_ROUTE_DEST: return "ROUTE_DEST";
	default: return "attribute";
	}
}

/* Copies a str attribute into a new C string; NUL bytes inside are refused. */
static char *attr_strdup(const struct attr *at, struct reply *r)
{
	char *s;

	if (memchr(at->value, 0, at->len)) {
		reply_error(r, EINVAL, "%s contains a NUL byte", tag_name(at->tag));
		return NULL;
	}
	s = strndup((const char *)at->value, at->len);
	if (!s)
		reply_error(r, ENOMEM, "out of memory");
	return s;
}

/* 1: found, 0: absent and optional, -1: error set in r. */
static int find_str(const uint8_t *p, size_t len, uint16_t tag, bool required, char **out,
		    struct reply *r)
{
	struct attr at;

	*out = NULL;
	if (!attr_find(p, len, tag, &at)) {
		if (!required)
			return 0;
		reply_error(r, EINVAL, "missing %s", tag_name(tag));
		return -1;
	}
	*out = attr_strdup(&at, r);
	return *out ? 1 : -1;
}

static int find_u32(const uint8_t *p, size_t len, uint16_t tag, bool required, uint32_t *out,
		    struct reply *r)
{
	struct attr at;

	if (!attr_find(p, len, tag, &at)) {
		if (required)
			reply_error(r, EINVAL, "missing %s", tag_name(tag));
		return required ? -1 : 0;
	}
	*out = attr_u32(&at);
	return 1;
}

static bool valid_id(const char *id)
{
	size_t n = strlen(id);

	return n > 0 && n <= MAX_ID_LEN && !strchr(id, '/') && strcmp(id, ".") != 0 &&
	       strcmp(id, "..") != 0;
}

static struct container *find_container(struct agent *a, const char *id)
{
	struct container *c;

	for (c = a->containers; c; c = c->next)
		if (strcmp(c->id, id) == 0)
			return c;
	return NULL;
}

static struct process *find_process(struct agent *a, const struct container *c, const char *id)
{
	struct process *p;

	for (p = a->processes; p; p = p->next)
		if (p->container == c && strcmp(p->id, id) == 0)
			return p;
	return NULL;
}

/* Finds the container named by CONTAINER_ID, or sets an error. */
static struct container *lookup_container(struct agent *a, const struct frame *f,
					  struct reply *r)
{
	struct container *c;
	char *cid;

	if (find_str(f->payload, f->len, RUNV_A_CONTAINER_ID, true, &cid, r) < 0)
		return NULL;
	c = find_container(a, cid);
	if (!c)
		reply_error(r, ENOENT, "no container %s", cid);
	free(cid);
	return c;
}

/* Finds the process named by CONTAINER_ID and PROCESS_ID, or sets an error. */
static struct process *lookup_process(struct agent *a, const struct frame *f, struct reply *r)
{
	char *cid = NULL, *pid = NULL;
	struct process *p = NULL;
	struct container *c;

	if (find_str(f->payload, f->len, RUNV_A_CONTAINER_ID, true, &cid, r) < 0 ||
	    find_str(f->payload, f->len, RUNV_A_PROCESS_ID, true, &pid, r) < 0)
		goto out;
	c = find_container(a, cid);
	if (c)
		p = find_process(a, c, pid);
	if (!p)
		reply_error(r, ENOENT, "no process %s in container %s", pid, cid);
out:
	free(cid);
	free(pid);
	return p;
}

static void handle_hello(struct agent *a, const struct frame *f, struct reply *r)
{
	uint32_t version, probe = 0;

	r->version = RUNV_PROTOCOL_VERSION;
	if (find_u32(f->payload, f->len, RUNV_A_VERSION, true, &version, r) < 0 ||
	    find_u32(f->payload, f->len, RUNV_A_PROBE, false, &probe, r) < 0)
		return;
	if (version != RUNV_PROTOCOL_VERSION) {
		reply_error(r, EPROTONOSUPPORT, "protocol version %u not supported", version);
		return;
	}
	/* A probe (a warm pool checking a booted VM) is no owner: its leaving does not end the VM. */
	if (!probe)
		a->hello_seen = true;
}

static bool is_kernel_fs(const char *type)
{
	static const char *const known[] = { "proc", "sysfs", "tmpfs", "devpts", "mqueue",
					     "cgroup", "cgroup2" };
	size_t i;

	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(type, known[i]) == 0)
			return true;
	return false;
}

/* Absolute and without "..", so it cannot leave the container root. */
static bool valid_mount_dest(const char *dest)
{
	const char *p = dest;

	if (dest[0] != '/')
		return false;
	while ((p = strstr(p, "..")) != NULL) {
		if ((p == dest || p[-1] == '/') && (p[2] == '/' || p[2] == '\0'))
			return false;
		p += 2;
	}
	return true;
}

static char **collect_strs(const uint8_t *p, size_t len, uint16_t tag, struct reply *r);

/* A path inside one of the container's shares ("<share name>/<path>"): relative, with no "..". */
static char *share_path(const struct container *c, const char *rel)
{
	char path[PATH_MAX];

	if (!rel || rel[0] == '/' || strstr(rel, "..") ||
	    snprintf(path, sizeof(path), CONTAINERS_DIR "/%s/shares/%s", c->id, rel) >=
		    (int)sizeof(path)) {
		errno = EINVAL;
		return NULL;
	}
	return strdup(path);
}

static int bind_source(struct container *c, struct mount_entry *m, struct reply *r)
{
	char *abs = share_path(c, m->source);

	if (!abs) {
		reply_error(r, errno, "bad bind MOUNT_SOURCE %s: %s", m->source ? m->source : "",
			    strerror(errno));
		return -1;
	}
	free(m->source);
	m->source = abs;
	return 0;
}

static bool has_option(const char *options, const char *word)
{
	size_t len = strlen(word);
	const char *p = options;

	while (p && *p) {
		size_t n = strcspn(p, ",");

		if (n == len && strncmp(p, word, len) == 0)
			return true;
		p += n + (p[n] == ',');
	}
	return false;
}

static int parse_mount(struct container *c, const struct attr *nested, struct reply *r)
{
	struct mount_entry *m = &c->mounts[c->nmounts];
	char *options = NULL;

	*m = (struct mount_entry){ 0 };
	if (find_str(nested->value, nested->len, RUNV_A_MOUNT_TYPE, true, &m->type, r) < 0 ||
	    find_str(nested->value, nested->len, RUNV_A_MOUNT_DEST, true, &m->dest, r) < 0 ||
	    find_str(nested->value, nested->len, RUNV_A_MOUNT_SOURCE, false, &m->source, r) < 0 ||
	    find_str(nested->value, nested->len, RUNV_A_MOUNT_OPTIONS, false, &options, r) < 0)
		goto fail;
	m->bind = strcmp(m->type, "bind") == 0;
	if (!m->bind && !is_kernel_fs(m->type)) {
		reply_error(r, EOPNOTSUPP, "mount type %s (on %s) is not supported", m->type, m->dest);
		goto fail;
	}
	if (!valid_mount_dest(m->dest)) {
		reply_error(r, EINVAL, "bad MOUNT_DEST %s", m->dest);
		goto fail;
	}
	if (m->bind && bind_source(c, m, r) < 0)
		goto fail;
	m->recursive = has_option(options, "rbind");
	if (mount_options_parse(options ? options : "", &m->flags, &m->data) < 0) {
		reply_error(r, ENOMEM, "out of memory");
		goto fail;
	}
	free(options);
	c->nmounts++;
	return 0;
fail:
	free(options);
	free(m->type);
	free(m->dest);
	free(m->source);
	return -1;
}

static int parse_mounts(struct container *c, const struct frame *f, struct reply *r)
{
	struct attr_iter it;
	struct attr at;

	attr_iter_init(&it, f->payload, f->len);
	while (attr_next(&it, &at) > 0) {
		if (at.tag != RUNV_A_MOUNT)
			continue;
		if (c->nmounts == MAX_MOUNTS) {
			reply_error(r, E2BIG, "more than %d MOUNT entries", MAX_MOUNTS);
			return -1;
		}
		if (parse_mount(c, &at, r) < 0)
			return -1;
	}
	return 0;
}

/* Each SHARE is mounted now, outside the container's root: bind sources live there. */
static int mount_shares(struct container *c, const struct frame *f, struct reply *r)
{
	struct attr_iter it;
	struct attr at;

	attr_iter_init(&it, f->payload, f->len);
	while (attr_next(&it, &at) > 0) {
		char *type = NULL, *source = NULL, *name = NULL, *options = NULL;
		int rc;

		if (at.tag != RUNV_A_SHARE)
			continue;
		rc = find_str(at.value, at.len, RUNV_A_MOUNT_TYPE, true, &type, r) < 0 ||
		     find_str(at.value, at.len, RUNV_A_MOUNT_SOURCE, true, &source, r) < 0 ||
		     find_str(at.value, at.len, RUNV_A_MOUNT_DEST, true, &name, r) < 0 ||
		     find_str(at.value, at.len, RUNV_A_MOUNT_OPTIONS, false, &options, r) < 0 ||
		     container_mount_share(c, name, source, type, options ? options : "", r) < 0;
		free(type);
		free(source);
		free(name);
		free(options);
		if (rc)
			return -1;
	}
	return 0;
}

static int setup_rootfs(struct container *c, const struct frame *f, struct reply *r)
{
	char *source = NULL, *fstype = NULL, *options = NULL;
	struct stat st;
	int rc = -1;

	if (find_str(f->payload, f->len, RUNV_A_ROOTFS_SOURCE, true, &source, r) < 0 ||
	    find_str(f->payload, f->len, RUNV_A_ROOTFS_FSTYPE, false, &fstype, r) < 0 ||
	    find_str(f->payload, f->len, RUNV_A_ROOTFS_OPTIONS, false, &options, r) < 0)
		goto out;
	if (fstype) {
		rc = container_mount_rootfs(c, source, fstype, options ? options : "", r);
		goto out;
	}
	/* A relative source is a directory inside a share: a booted VM's rootfs (warm pool). */
	if (source[0] != '/') {
		char *inside = share_path(c, source);

		if (!inside) {
			reply_error(r, errno, "bad ROOTFS_SOURCE %s: %s", source, strerror(errno));
			goto out;
		}
		free(source);
		source = inside;
	}
	if (stat(source, &st) < 0) {
		reply_error(r, errno, "rootfs %s: %s", source, strerror(errno));
		goto out;
	}
	if (!S_ISDIR(st.st_mode)) {
		reply_error(r, ENOTDIR, "rootfs %s is not a directory", source);
		goto out;
	}
	c->rootfs = source;
	source = NULL;
	rc = 0;
out:
	free(source);
	free(fstype);
	free(options);
	return rc;
}

static void handle_add_container(struct agent *a, const struct frame *f, struct reply *r)
{
	struct container *c;
	uint32_t readonly = 0;

	if (a->ncontainers >= MAX_CONTAINERS) {
		reply_error(r, ENOSPC, "at most %d containers", MAX_CONTAINERS);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		reply_error(r, ENOMEM, "out of memory");
		return;
	}
	if (find_str(f->payload, f->len, RUNV_A_CONTAINER_ID, true, &c->id, r) < 0 ||
	    find_u32(f->payload, f->len, RUNV_A_READONLY, false, &readonly, r) < 0 ||
	    find_str(f->payload, f->len, RUNV_A_HOSTNAME, false, &c->hostname, r) < 0)
		goto fail;
	c->readonly = readonly != 0;
	if (!valid_id(c->id)) {
		reply_error(r, EINVAL, "bad CONTAINER_ID");
		goto fail;
	}
	if (find_container(a, c->id)) {
		reply_error(r, EEXIST, "container %s exists", c->id);
		goto fail;
	}
	c->masked_paths = collect_strs(f->payload, f->len, RUNV_A_MASKED_PATH, r);
	c->readonly_paths = c->masked_paths ?
		collect_strs(f->payload, f->len, RUNV_A_READONLY_PATH, r) : NULL;
	if (!c->readonly_paths || parse_mounts(c, f, r) < 0 || mount_shares(c, f, r) < 0 ||
	    setup_rootfs(c, f, r) < 0 || container_resolve_mounts(c, r) < 0)
		goto fail;
	if (a->cgroups && cgroup_create(c) < 0)
		LOG_ERRNO("container %s: no cgroup, it runs without limits", c->id);
	c->next = a->containers;
	a->containers = c;
	a->ncontainers++;
	LOG_INFO("container %s added, rootfs %s", c->id, c->rootfs);
	return;
fail:
	container_unmount(c);
	container_free(c);
}

/* Collects every value of a repeated str tag into a NULL-terminated array. */
static char **collect_strs(const uint8_t *p, size_t len, uint16_t tag, struct reply *r)
{
	struct attr_iter it;
	struct attr at;
	size_t n = 0, i = 0;
	char **v;

	attr_iter_init(&it, p, len);
	while (attr_next(&it, &at) > 0)
		n += at.tag == tag;
	v = calloc(n + 1, sizeof(*v));
	if (!v) {
		reply_error(r, ENOMEM, "out of memory");
		return NULL;
	}
	attr_iter_init(&it, p, len);
	while (attr_next(&it, &at) > 0) {
		if (at.tag != tag)
			continue;
		v[i] = attr_strdup(&at, r);
		if (!v[i++])
			goto fail;
	}
	return v;
fail:
	for (i = 0; v[i]; i++)
		free(v[i]);
	free(v);
	return NULL;
}

static const struct {
	const char *name;
	int resource;
} rlimit_names[] = {
	{ "RLIMIT_AS", RLIMIT_AS }, { "RLIMIT_CORE", RLIMIT_CORE }, { "RLIMIT_CPU", RLIMIT_CPU },
	{ "RLIMIT_DATA", RLIMIT_DATA }, { "RLIMIT_FSIZE", RLIMIT_FSIZE },
	{ "RLIMIT_LOCKS", RLIMIT_LOCKS }, { "RLIMIT_MEMLOCK", RLIMIT_MEMLOCK },
	{ "RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE }, { "RLIMIT_NICE", RLIMIT_NICE },
	{ "RLIMIT_NOFILE", RLIMIT_NOFILE }, { "RLIMIT_NPROC", RLIMIT_NPROC },
	{ "RLIMIT_RSS", RLIMIT_RSS }, { "RLIMIT_RTPRIO", RLIMIT_RTPRIO },
	{ "RLIMIT_RTTIME", RLIMIT_RTTIME }, { "RLIMIT_SIGPENDING", RLIMIT_SIGPENDING },
	{ "RLIMIT_STACK", RLIMIT_STACK },
};

static int parse_rlimit(struct rlimit_entry *e, const struct attr *nested, struct reply *r)
{
	struct attr soft, hard;
	char *name = NULL;
	size_t i;

	if (find_str(nested->value, nested->len, RUNV_A_RLIMIT_TYPE, true, &name, r) < 0)
		return -1;
	if (!attr_find(nested->value, nested->len, RUNV_A_RLIMIT_SOFT, &soft) ||
	    !attr_find(nested->value, nested->len, RUNV_A_RLIMIT_HARD, &hard)) {
		reply_error(r, EINVAL, "missing RLIMIT_SOFT or RLIMIT_HARD for %s", name);
		free(name);
		return -1;
	}
	for (i = 0; i < sizeof(rlimit_names) / sizeof(rlimit_names[0]); i++)
		if (strcmp(name, rlimit_names[i].name) == 0)
			break;
	if (i == sizeof(rlimit_names) / sizeof(rlimit_names[0])) {
		reply_error(r, EINVAL, "unknown RLIMIT_TYPE %s", name);
		free(name);
		return -1;
	}
	free(name);
	e->resource = rlimit_names[i].resource;
	e->limit.rlim_cur = attr_u64(&soft);
	e->limit.rlim_max = attr_u64(&hard);
	return 0;
}

static int parse_hook(struct hook_spec *h, const struct attr *nested, struct reply *r)
{
	if (find_str(nested->value, nested->len, RUNV_A_HOOK_PATH, true, &h->path, r) < 0 ||
	    find_u32(nested->value, nested->len, RUNV_A_HOOK_TIMEOUT, false, &h->timeout, r) < 0)
		return -1;
	h->argv = collect_strs(nested->value, nested->len, RUNV_A_ARG, r);
	h->envp = h->argv ? collect_strs(nested->value, nested->len, RUNV_A_ENV, r) : NULL;
	if (!h->envp)
		return -1;
	if (!h->argv[0]) {
		reply_error(r, EINVAL, "HOOK %s without ARG", h->path);
		return -1;
	}
	return 0;
}

/* ADDITIONAL_GID, RLIMIT and HOOK: the repeated parts of a process spec. */
static int parse_lists(struct process_spec *s, const struct frame *f, struct reply *r)
{
	struct attr_iter it;
	struct attr at;

	attr_iter_init(&it, f->payload, f->len);
	while (attr_next(&it, &at) > 0) {
		if (at.tag == RUNV_A_ADDITIONAL_GID) {
			if (s->ngroups == MAX_GROUPS) {
				reply_error(r, E2BIG, "more than %d ADDITIONAL_GID", MAX_GROUPS);
				return -1;
			}
			s->groups[s->ngroups++] = attr_u32(&at);
		} else if (at.tag == RUNV_A_RLIMIT) {
			if (s->nrlimits == MAX_RLIMITS) {
				reply_error(r, E2BIG, "more than %d RLIMIT", MAX_RLIMITS);
				return -1;
			}
			if (parse_rlimit(&s->rlimits[s->nrlimits++], &at, r) < 0)
				return -1;
		} else if (at.tag == RUNV_A_HOOK) {
			if (s->nhooks == MAX_HOOKS) {
				reply_error(r, E2BIG, "more than %d HOOK", MAX_HOOKS);
				return -1;
			}
			if (parse_hook(&s->hooks[s->nhooks++], &at, r) < 0)
				return -1;
		}
	}
	return 0;
}

static int parse_process_spec(struct process_spec *s, const struct frame *f, struct reply *r)
{
	uint32_t init = 0, terminal = 0, nnp = 0, uid = 0, gid = 0, umask = 022, rows = 0,
		 cols = 0;

	if (find_u32(f->payload, f->len, RUNV_A_INIT, false, &init, r) < 0 ||
	    find_u32(f->payload, f->len, RUNV_A_TERMINAL, false, &terminal, r) < 0 ||
	    find_u32(f->payload, f->len, RUNV_A_NO_NEW_PRIVS, false, &nnp, r) < 0 ||
	    find_u32(f->payload, f->len, RUNV_A_UID, false, &uid, r) < 0 ||
	    find_u32(f->payload, f->len, RUNV_A_GID, false, &gid, r) < 0 ||
	    find_u32(f->payload, f->len, RUNV_A_UMASK, false, &umask, r) < 0 ||
	    find_u32(f->payload, f->len, RUNV_A_ROWS, false, &rows, r) < 0 ||
	    find_u32(f->payload, f->len, RUNV_A_COLS, false, &cols, r) < 0 ||
	    find_str(f->payload, f->len, RUNV_A_CWD, false, &s->cwd, r) < 0)
		return -1;
	*s = (struct process_spec){ .init = init, .terminal = terminal, .no_new_privs = nnp,
				    .uid = uid, .gid = gid, .umask = umask & 07777,
				    .rows = (unsigned short)rows, .cols = (unsigned short)cols,
				    .cwd = s->cwd };
	s->argv = collect_strs(f->payload, f->len, RUNV_A_ARG, r);
	if (!s->argv)
		return -1;
	if (!s->argv[0]) {
		reply_error(r, EINVAL, "missing ARG");
		return -1;
	}
	s->envp = collect_strs(f->payload, f->len, RUNV_A_ENV, r);
	if (!s->envp || find_str(f->payload, f->len, RUNV_A_HOOK_STATE, false, &s->hook_state, r) < 0)
		return -1;
	return parse_lists(s, f, r);
}

/* Refuses a START_PROCESS that does not fit the container's state. */
static int check_start(struct agent *a, struct container *c, const char *pid,
		       const struct process_spec *s, struct reply *r)
{
	if (find_process(a, c, pid)) {
		reply_error(r, EEXIST, "process %s exists in container %s", pid, c->id);
		return -1;
	}
	if (a->nprocesses >= MAX_PROCESSES) {
		reply_error(r, EAGAIN, "at most %d processes", MAX_PROCESSES);
		return -1;
	}
	if (s->init && c->init_pid) {
		reply_error(r, EBUSY, "container %s already has an init", c->id);
		return -1;
	}
	if (a->pid1 && !s->init && !c->init_pid) {
		reply_error(r, ESRCH, "container %s has no running init", c->id);
		return -1;
	}
	return 0;
}

static void handle_start_process(struct agent *a, const struct frame *f, struct reply *r)
{
	struct process_spec spec = { 0 };
	struct container *c;
	struct process *p;

	p = calloc(1, sizeof(*p));
	if (!p) {
		reply_error(r, ENOMEM, "out of memory");
		return;
	}
	*p = (struct process){ .stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1, .held_pty = -1 };
	c = lookup_container(a, f, r);
	if (!c || find_str(f->payload, f->len, RUNV_A_PROCESS_ID, true, &p->id, r) < 0)
		goto fail;
	if (!valid_id(p->id)) {
		reply_error(r, EINVAL, "bad PROCESS_ID");
		goto fail;
	}
	if (parse_process_spec(&spec, f, r) < 0 || check_start(a, c, p->id, &spec, r) < 0)
		goto fail;
	p->container = c;
	if (process_spawn(a, p, &spec, r) < 0)
		goto fail;
	p->next = a->processes;
	a->processes = p;
	a->nprocesses++;
	if (p->init) {
		c->init_pid = p->pid;
		a->started_init = true;
	}
	r->pid = (uint32_t)p->pid;
	process_spec_free(&spec);
	return;
fail:
	process_spec_free(&spec);
	process_free(p);
}

/* Replies itself: the OK comes once the data is written. */
static void handle_stdin(struct agent *a, const struct frame *f, struct reply *r)
{
	struct process *p = lookup_process(a, f, r);
	struct attr data;

	if (!p)
		return;
	if (p->stdin_closed) {
		reply_error(r, EPIPE, "stdin of %s is closed", p->id);
		return;
	}
	if (p->pending) {
		reply_error(r, EBUSY, "previous STDIN of %s not written yet", p->id);
		return;
	}
	if (!attr_find(f->payload, f->len, RUNV_A_DATA, &data) || data.len == 0) {
		stdin_close(p);
		return;
	}
	p->pending = malloc(data.len);
	if (!p->pending) {
		reply_error(r, ENOMEM, "out of memory");
		return;
	}
	memcpy(p->pending, data.value, data.len);
	p->pending_len = data.len;
	p->pending_off = 0;
	p->pending_request = f->id;
	r->code = -1; /* deferred: stdin_write_pending() replies */
	stdin_write_pending(a, p);
}

static void handle_resize(struct agent *a, const struct frame *f, struct reply *r)
{
	struct process *p = lookup_process(a, f, r);
	uint32_t rows, cols;
	struct winsize ws = { 0 };

	if (!p || find_u32(f->payload, f->len, RUNV_A_ROWS, true, &rows, r) < 0 ||
	    find_u32(f->payload, f->len, RUNV_A_COLS, true, &cols, r) < 0)
		return;
	if (!p->terminal || p->stdout_fd < 0) {
		reply_error(r, ENOTTY, "process %s has no terminal", p->id);
		return;
	}
	ws.ws_row = (unsigned short)rows;
	ws.ws_col = (unsigned short)cols;
	if (ioctl(p->stdout_fd, TIOCSWINSZ, &ws) < 0)
		reply_error(r, errno, "resize: %s", strerror(errno));
}

static void signal_process(struct process *p, int sig, struct reply *r)
{
	/* After the reap the pid may belong to someone else. */
	if (p->reaped) {
		reply_error(r, ESRCH, "process %s has exited", p->id);
		return;
	}
	if (kill(p->pid, sig) < 0)
		reply_error(r, errno, "kill %d: %s", p->pid, strerror(errno));
}

/* `kill --all`: a process that exits meanwhile is not an error, only finding none at all. */
static void signal_container(struct agent *a, const struct container *c, int sig,
			     struct reply *r)
{
	struct member *members;
	size_t n, i, delivered = 0;
	int err = ESRCH;

	if (container_members(a, c, &members, &n) < 0) {
		reply_error(r, errno, "processes of %s: %s", c->id, strerror(errno));
		return;
	}
	for (i = 0; i < n; i++) {
		if (kill(members[i].pid, sig) == 0)
			delivered++;
		else
			err = errno;
	}
	free(members);
	if (!delivered)
		reply_error(r, err, "signal to container %s: %s", c->id, strerror(err));
}

static void handle_signal(struct agent *a, const struct frame *f, struct reply *r)
{
	struct process *p = lookup_process(a, f, r);
	uint32_t sig, all = 0;

	if (!p || find_u32(f->payload, f->len, RUNV_A_SIGNAL, true, &sig, r) < 0 ||
	    find_u32(f->payload, f->len, RUNV_A_ALL, false, &all, r) < 0)
		return;
	if (sig > INT32_MAX) {
		reply_error(r, EINVAL, "bad SIGNAL %u", sig);
		return;
	}
	if (all)
		signal_container(a, p->container, (int)sig, r);
	else
		signal_process(p, (int)sig, r);
}

/* Size of one PROCESS attribute: PID, PPID and UID u32s, then COMMAND. */
static size_t process_attr_size(size_t command_len)
{
	return RUNV_ATTR_HEADER_SIZE + 3 * (RUNV_ATTR_HEADER_SIZE + 4) + RUNV_ATTR_HEADER_SIZE +
	       command_len;
}

static bool payload_has_room(const struct frame_writer *w, size_t n)
{
	return w->len - RUNV_HEADER_SIZE + n <= RUNV_MAX_PAYLOAD;
}

/* One PROCESS per member while the frame has room; TRUNCATED says that some were left out. */
static void send_process_list(struct agent *a, uint32_t id, const struct member *members,
			      size_t n)
{
	static char command[RUNV_MAX_COMMAND + 1];
	const size_t truncated_size = RUNV_ATTR_HEADER_SIZE + 4;
	struct frame_writer w;
	size_t i;

	channel_frame(&a->ch, &w, RUNV_OK, id);
	for (i = 0; i < n; i++) {
		ssize_t len = member_command(members[i].pid, command, sizeof(command));

		if (len < 0)
			continue;
		if (!payload_has_room(&w, process_attr_size((size_t)len) + truncated_size)) {
			fw_u32(&w, RUNV_A_TRUNCATED, 1);
			break;
		}
		fw_nested_begin(&w, RUNV_A_PROCESS);
		fw_u32(&w, RUNV_A_PID, members[i].ns_pid);
		fw_u32(&w, RUNV_A_PPID, members[i].ns_ppid);
		fw_u32(&w, RUNV_A_UID, members[i].uid);
		fw_bytes(&w, RUNV_A_COMMAND, command, (size_t)len);
		fw_nested_end(&w);
	}
	channel_send(&a->ch, &w);
}

/* Replies itself: the list is built straight into the outgoing frame. */
static void handle_list_processes(struct agent *a, const struct frame *f, struct reply *r)
{
	struct container *c = lookup_container(a, f, r);
	struct member *members;
	size_t n;

	if (!c)
		return;
	if (container_members(a, c, &members, &n) < 0) {
		reply_error(r, errno, "processes of %s: %s", c->id, strerror(errno));
		return;
	}
	send_process_list(a, f->id, members, n);
	free(members);
	r->code = -1; /* replied */
}

/* Writes each CGROUP_FILE's value; stops at the first that fails, naming it. */
static void handle_set_cgroup(struct agent *a, const struct frame *f, struct reply *r)
{
	struct container *c = lookup_container(a, f, r);
	struct attr_iter it;
	struct attr at;

	if (!c)
		return;
	attr_iter_init(&it, f->payload, f->len);
	while (attr_next(&it, &at) > 0) {
		char *name = NULL, *value = NULL;
		int rc = -1;

		if (at.tag != RUNV_A_CGROUP_FILE)
			continue;
		if (find_str(at.value, at.len, RUNV_A_CGROUP_FILE_NAME, true, &name, r) > 0 &&
		    find_str(at.value, at.len, RUNV_A_CGROUP_FILE_VALUE, true, &value, r) > 0) {
			rc = cgroup_set(c, name, value);
			if (rc < 0)
				reply_error(r, errno, "%s %s: %s", name, value, strerror(errno));
			else
				LOG_INFO("container %s: %s = %s", c->id, name, value);
		}
		free(name);
		free(value);
		if (rc < 0)
			return;
	}
}

/* Replies itself: each CGROUP_FILE_NAME asked for comes back as a CGROUP_FILE with its value. */
static void handle_read_cgroup(struct agent *a, const struct frame *f, struct reply *r)
{
	struct container *c = lookup_container(a, f, r);
	struct frame_writer w;
	struct attr_iter it;
	struct attr at;
	char name[64], value[4096];

	if (!c)
		return;
	channel_frame(&a->ch, &w, RUNV_OK, f->id);
	attr_iter_init(&it, f->payload, f->len);
	while (attr_next(&it, &at) > 0) {
		if (at.tag != RUNV_A_CGROUP_FILE_NAME)
			continue;
		if (at.len >= sizeof(name) || memchr(at.value, '\0', at.len)) {
			reply_error(r, EINVAL, "bad CGROUP_FILE_NAME");
			return;
		}
		memcpy(name, at.value, at.len);
		name[at.len] = '\0';
		if (cgroup_get(c, name, value, sizeof(value)) < 0) {
			reply_error(r, errno, "%s: %s", name, strerror(errno));
			return;
		}
		if (!payload_has_room(&w, 3 * RUNV_ATTR_HEADER_SIZE + at.len + strlen(value))) {
			reply_error(r, EMSGSIZE, "cgroup files do not fit one frame");
			return;
		}
		fw_nested_begin(&w, RUNV_A_CGROUP_FILE);
		fw_str(&w, RUNV_A_CGROUP_FILE_NAME, name);
		fw_str(&w, RUNV_A_CGROUP_FILE_VALUE, value);
		fw_nested_end(&w);
	}
	channel_send(&a->ch, &w);
	r->code = -1; /* replied */
}

/*
 * The host's reader of this output went away (`runv run ... | head -1`): closing our end gives
 * the process EPIPE on its next write, as a broken pipe on the host would.
 */
static void handle_close_output(struct agent *a, const struct frame *f, struct reply *r)
{
	struct process *p = lookup_process(a, f, r);
	uint32_t stream;
	int *fd;

	if (!p || find_u32(f->payload, f->len, RUNV_A_STREAM, true, &stream, r) < 0)
		return;
	if (stream != 1 && stream != 2) {
		reply_error(r, EINVAL, "stream %u is neither stdout (1) nor stderr (2)", stream);
		return;
	}
	fd = stream == 1 ? &p->stdout_fd : &p->stderr_fd;
	if (*fd < 0)
		return;
	if (p->stdin_fd == *fd)
		p->stdin_fd = -1;
	close(*fd);
	*fd = -1;
}

/* One ROUTE { ROUTE_DEST, ROUTE_GATEWAY? }; the gateway has the destination's family. */
static int parse_route(struct net_route *route, const struct attr *nested, struct reply *r)
{
	char *dest = NULL, *gateway = NULL;
	int rc = -1;

	if (find_str(nested->value, nested->len, RUNV_A_ROUTE_DEST, true, &dest, r) < 0 ||
	    find_str(nested->value, nested->len, RUNV_A_ROUTE_GATEWAY, false, &gateway, r) < 0)
		goto out;
	if (net_parse_prefix(dest, &route->dest) < 0) {
		reply_error(r, EINVAL, "bad ROUTE_DEST %s", dest);
		goto out;
	}
	route->has_gateway = gateway != NULL;
	if (gateway && net_parse_address(route->dest.family, gateway, route->gateway) < 0) {
		reply_error(r, EINVAL, "bad ROUTE_GATEWAY %s for %s", gateway, dest);
		goto out;
	}
	rc = 0;
out:
	free(dest);
	free(gateway);
	return rc;
}

static int parse_address(struct net_interface *nif, const struct attr *at, struct reply *r)
{
	char *text = attr_strdup(at, r);
	int rc = -1;

	if (!text)
		return -1;
	if (nif->naddresses == NET_MAX_ADDRESSES) {
		reply_error(r, E2BIG, "more than %d ADDRESS entries", NET_MAX_ADDRESSES);
	} else if (net_parse_prefix(text, &nif->addresses[nif->naddresses]) < 0) {
		reply_error(r, EINVAL, "bad ADDRESS %s", text);
	} else {
		nif->naddresses++;
		rc = 0;
	}
	free(text);
	return rc;
}

static int parse_interface_lists(struct net_interface *nif, const struct frame *f,
				 struct reply *r)
{
	struct attr_iter it;
	struct attr at;

	attr_iter_init(&it, f->payload, f->len);
	while (attr_next(&it, &at) > 0) {
		if (at.tag == RUNV_A_ADDRESS && parse_address(nif, &at, r) < 0)
			return -1;
		if (at.tag != RUNV_A_ROUTE)
			continue;
		if (nif->nroutes == NET_MAX_ROUTES) {
			reply_error(r, E2BIG, "more than %d ROUTE entries", NET_MAX_ROUTES);
			return -1;
		}
		if (parse_route(&nif->routes[nif->nroutes++], &at, r) < 0)
			return -1;
	}
	return 0;
}

/* Not tied to a container: a VM booted ahead of time can get its interfaces later. */
static void handle_add_interface(const struct frame *f, struct reply *r)
{
	struct net_interface nif = { 0 };
	char *name = NULL, why[128];
	struct attr mac;

	if (!attr_find(f->payload, f->len, RUNV_A_MAC, &mac) || mac.len != NET_MAC_LEN) {
		reply_error(r, EINVAL, "missing MAC, or not %d bytes", NET_MAC_LEN);
		return;
	}
	memcpy(nif.mac, mac.value, NET_MAC_LEN);
	if (attr_find(f->payload, f->len, RUNV_A_NEW_MAC, &mac)) {
		if (mac.len != NET_MAC_LEN) {
			reply_error(r, EINVAL, "NEW_MAC is not %d bytes", NET_MAC_LEN);
			return;
		}
		memcpy(nif.new_mac, mac.value, NET_MAC_LEN);
		nif.set_mac = true;
	}
	if (find_str(f->payload, f->len, RUNV_A_IFNAME, false, &name, r) < 0 ||
	    find_u32(f->payload, f->len, RUNV_A_MTU, false, &nif.mtu, r) < 0)
		goto out;
	if (name && (strlen(name) >= IFNAMSIZ || strchr(name, '/'))) {
		reply_error(r, EINVAL, "bad IFNAME %s", name);
		goto out;
	}
	snprintf(nif.name, sizeof(nif.name), "%s", name ? name : "");
	if (parse_interface_lists(&nif, f, r) < 0)
		goto out;
	if (net_configure(&nif, why, sizeof(why)) < 0)
		reply_error(r, errno, "interface %s: %s: %s", name ? name : "", why, strerror(errno));
	else
		LOG_INFO("interface %s configured", name ? name : "");
out:
	free(name);
}

static void handle_shutdown(struct agent *a, struct reply *r)
{
	(void)r;
	LOG_INFO("shutdown requested");
	agent_kill_all(a);
	sync();
	agent_unmount_all(a);
	a->stop = true;
}

static void dispatch(struct agent *a, const struct frame *f, struct reply *r)
{
	switch (f->type) {
	case RUNV_HELLO: handle_hello(a, f, r); break;
	case RUNV_ADD_CONTAINER: handle_add_container(a, f, r); break;
	case RUNV_START_PROCESS: handle_start_process(a, f, r); break;
	case RUNV_STDIN: handle_stdin(a, f, r); break;
	case RUNV_RESIZE: handle_resize(a, f, r); break;
	case RUNV_SIGNAL: handle_signal(a, f, r); break;
	case RUNV_SHUTDOWN: handle_shutdown(a, r); break;
	case RUNV_CLOSE_OUTPUT: handle_close_output(a, f, r); break;
	case RUNV_LIST_PROCESSES: handle_list_processes(a, f, r); break;
	case RUNV_SET_CGROUP: handle_set_cgroup(a, f, r); break;
	case RUNV_READ_CGROUP: handle_read_cgroup(a, f, r); break;
	case RUNV_ADD_INTERFACE: handle_add_interface(f, r); break;
	default: reply_error(r, EOPNOTSUPP, "message type 0x%x not supported", f->type);
	}
}

void agent_handle_frame(struct agent *a, const struct frame *f)
{
	struct reply r = { .exit_status = -1 };

	/* Replies from the host are never answered, so two peers cannot loop. */
	if (f->type == RUNV_ERROR || f->type == RUNV_OK)
		return;
	if (attrs_validate(f->payload, f->len, 1) < 0)
		reply_error(&r, EBADMSG, "malformed attributes");
	else if (f->id == 0)
		reply_error(&r, EINVAL, "request id 0");
	else
		dispatch(a, f, &r);
	if (r.code >= 0)
		send_reply(a, f->id, &r);
}
