/* The processes of a container, read from /proc: for LIST_PROCESSES and SIGNAL with ALL. */
#include "agent.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct proc_table {
	struct member *v;
	size_t n;
	size_t cap;
};

/* Reads up to size bytes of /proc/PID/name: /proc files may come in several reads. */
static ssize_t read_proc(pid_t pid, const char *name, char *buf, size_t size)
{
	char path[64];
	size_t got = 0;
	ssize_t n = 1;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while (got < size && (n = read(fd, buf + got, size - got)) > 0)
		got += (size_t)n;
	close(fd);
	return n < 0 ? -1 : (ssize_t)got;
}

/* The text after name (such as "\nPPid:") in /proc/PID/status, or NULL. */
static const char *status_field(const char *status, const char *name)
{
	const char *p = strstr(status, name);

	return p ? p + strlen(name) : NULL;
}

/* The last number of a line: a PID namespace's own numbering ends NSpid. */
static long last_number(const char *line)
{
	const char *p = line + strcspn(line, "\n");

	while (p > line && isdigit((unsigned char)p[-1]))
		p--;
	return strtol(p, NULL, 10);
}

static int read_status(pid_t pid, struct member *m)
{
	const char *ppid, *uid, *nspid;
	char buf[4096];
	char *end;
	ssize_t n;

	n = read_proc(pid, "status", buf, sizeof(buf) - 1);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	ppid = status_field(buf, "\nPPid:");
	uid = status_field(buf, "\nUid:");
	nspid = status_field(buf, "\nNSpid:");
	if (!ppid || !uid)
		return -1;
	*m = (struct member){ .pid = pid, .ppid = (pid_t)strtol(ppid, NULL, 10), .ns_pid = pid };
	/* Real, then effective uid: ps shows the effective one. */
	strtoul(uid, &end, 10);
	m->uid = (uint32_t)strtoul(end, NULL, 10);
	if (nspid)
		m->ns_pid = (uint32_t)last_number(nspid);
	return 0;
}

static bool same_file(const char *path, const struct stat *want)
{
	struct stat st;

	return stat(path, &st) == 0 && st.st_dev == want->st_dev && st.st_ino == want->st_ino;
}

static int table_add(struct proc_table *t, const struct member *m)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 256;
		struct member *v = realloc(t->v, cap * sizeof(*v));

		if (!v)
			return -1;
		t->v = v;
		t->cap = cap;
	}
	t->v[t->n++] = *m;
	return 0;
}

/* Every process; in_container set for those in the PID namespace pid_ns, if given. */
static int scan_proc(struct proc_table *t, const struct stat *pid_ns)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int rc = 0;

	if (!d)
		return -1;
	while (rc == 0 && (e = readdir(d)) != NULL) {
		char path[64], *end;
		long pid = strtol(e->d_name, &end, 10);
		struct member m;

		/* A process that exited since readdir saw it is simply not there. */
		if (*end || pid <= 0 || read_status((pid_t)pid, &m) < 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/ns/pid", pid);
		m.in_container = pid_ns && same_file(path, pid_ns);
		rc = table_add(t, &m);
	}
	closedir(d);
	return rc;
}

static int by_pid(const void *x, const void *y)
{
	const struct member *a = x, *b = y;

	return (a->pid > b->pid) - (a->pid < b->pid);
}

static struct member *table_find(const struct proc_table *t, pid_t pid)
{
	struct member key = { .pid = pid };

	return bsearch(&key, t->v, t->n, sizeof(*t->v), by_pid);
}

static bool started_for(const struct agent *a, const struct container *c, pid_t pid)
{
	const struct process *p;

	for (p = a->processes; p; p = p->next)
		if (p->container == c && !p->reaped && p->pid == pid)
			return true;
	return false;
}

/* Without namespaces a container is what guest-init started for it and their descendants. */
static void mark_descendants(struct proc_table *t, const struct agent *a,
			     const struct container *c)
{
	bool grew = true;
	size_t i;

	for (i = 0; i < t->n; i++)
		t->v[i].in_container = started_for(a, c, t->v[i].pid);
	/* To a fixed point: after pid wrap-around a child may come before its parent. */
	while (grew) {
		grew = false;
		for (i = 0; i < t->n; i++) {
			const struct member *parent = table_find(t, t->v[i].ppid);

			if (!t->v[i].in_container && parent && parent->in_container) {
				t->v[i].in_container = true;
				grew = true;
			}
		}
	}
}

/* Keeps the members only, their parent numbered as the container sees it. */
static size_t keep_members(struct proc_table *t)
{
	size_t i, n = 0;

	for (i = 0; i < t->n; i++) {
		const struct member *parent = table_find(t, t->v[i].ppid);

		t->v[i].ns_ppid = parent && parent->in_container ? parent->ns_pid : 0;
	}
	for (i = 0; i < t->n; i++)
		if (t->v[i].in_container)
			t->v[n++] = t->v[i];
	return n;
}

/* The container init's PID namespace: 1 found, 0 no init (the namespace went with it), -1 error. */
static int container_pid_ns(const struct container *c, struct stat *pid_ns)
{
	char path[64];

	if (!c->init_pid)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)c->init_pid);
	return stat(path, pid_ns) < 0 ? -1 : 1;
}

int container_members(const struct agent *a, const struct container *c, struct member **out,
		      size_t *n)
{
	struct proc_table t = { 0 };
	struct stat pid_ns;
	int rc = 0;

	*out = NULL;
	*n = 0;
	if (a->pid1)
		rc = container_pid_ns(c, &pid_ns);
	if (rc <= 0 && a->pid1)
		return rc;
	if (scan_proc(&t, a->pid1 ? &pid_ns : NULL) < 0) {
		free(t.v);
		return -1;
	}
	qsort(t.v, t.n, sizeof(*t.v), by_pid);
	if (!a->pid1)
		mark_descendants(&t, a, c);
	*n = keep_members(&t);
	*out = t.v;
	return 0;
}

/* "[comm]": what ps shows for a process without a command line. */
static ssize_t bracketed_comm(pid_t pid, char *buf, size_t size)
{
	char comm[32];
	ssize_t n;
	int len;

	n = read_proc(pid, "comm", comm, sizeof(comm) - 1);
	if (n < 0)
		return -1;
	comm[n] = '\0';
	comm[strcspn(comm, "\n")] = '\0';
	len = snprintf(buf, size, "[%s]", comm);
	return len < (int)size ? len : (ssize_t)size - 1;
}

ssize_t member_command(pid_t pid, char *buf, size_t size)
{
	ssize_t n, i;

	n = read_proc(pid, "cmdline", buf, size);
	if (n < 0)
		return -1;
	if (n == (ssize_t)size) {
		/* Cut before the character that did not fit, not in the middle of it. */
		for (n = (ssize_t)size - 1; n > 0 && ((unsigned char)buf[n] & 0xC0) == 0x80; n--)
			;
	}
	while (n > 0 && buf[n - 1] == '\0')
		n--;
	if (n == 0)
		return bracketed_comm(pid, buf, size);
	for (i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	return n;
}
