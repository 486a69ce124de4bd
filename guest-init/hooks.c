/*
 * startContainer hooks (OCI runtime-spec): run by the container's init after its root switch
 * and credentials, before it execs the container's program, each with the state JSON on stdin.
 * Their stdout is discarded; the end of their stderr goes into the error a failure reports
 * (read as they run: a hook must never block on a pipe nobody drains).
 */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* guest-init serves nothing else until the init execs: a hook without a timeout gets this one. */
#define HOOK_DEFAULT_TIMEOUT 60u
#define HOOK_POLL_MS 10
#define STDERR_KEPT 160

/* The last bytes a hook wrote to stderr. */
struct tail {
	char text[STDERR_KEPT + 1];
	size_t len;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A pipe already holding the whole state: it fits, being smaller than one frame. */
static int state_pipe(const char *state)
{
	size_t len = state ? strlen(state) : 0, off = 0;
	int fds[2];

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -1;
	fcntl(fds[1], F_SETPIPE_SZ, (int)len + 1);
	while (off < len) {
		ssize_t n = write(fds[1], state + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			close(fds[0]);
			close(fds[1]);
			return -1;
		}
		off += (size_t)n;
	}
	close(fds[1]);
	return fds[0];
}

static _Noreturn void hook_exec(const struct hook_spec *h, int in, int err)
{
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

	if (dup2(in, 0) < 0 || null < 0 || dup2(null, 1) < 0 || dup2(err, 2) < 0)
		_exit(126);
	execve(h->path, h->argv, h->envp);
	_exit(errno == ENOENT || errno == ENOTDIR ? 127 : 126);
}

/* Reads what the hook wrote so far, keeping the last STDERR_KEPT bytes. */
static void tail_read(struct tail *t, int fd)
{
	char buf[512];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		size_t take = (size_t)n > STDERR_KEPT ? STDERR_KEPT : (size_t)n;
		size_t keep = t->len + take > STDERR_KEPT ? STDERR_KEPT - take : t->len;

		memmove(t->text, t->text + t->len - keep, keep);
		memcpy(t->text + keep, buf + n - take, take);
		t->len = keep + take;
	}
	t->text[t->len] = '\0';
}

/* The last non-empty line the hook wrote, or "". */
static const char *tail_line(struct tail *t)
{
	char *end = t->text + t->len, *start;

	while (end > t->text && (end[-1] == '\n' || end[-1] == '\r'))
		*--end = '\0';
	start = memrchr(t->text, '\n', (size_t)(end - t->text));
	return start ? start + 1 : t->text;
}

/* Waits for the hook until its deadline, draining its stderr; then it is killed. */
static int hook_wait(pid_t pid, uint32_t timeout, int err, struct tail *t, int *status)
{
	int64_t deadline = now_ms() + (int64_t)timeout * 1000;
	struct pollfd pfd = { .fd = err, .events = POLLIN };
	pid_t got;

	while ((got = waitpid(pid, status, WNOHANG)) == 0 && now_ms() < deadline) {
		if (poll(&pfd, 1, HOOK_POLL_MS) > 0)
			tail_read(t, err);
	}
	tail_read(t, err);
	if (got == pid)
		return 0;
	kill(pid, SIGKILL);
	waitpid(pid, status, 0);
	return -1;
}

static int hook_start(const struct hook_spec *h, const char *state, int err[2], pid_t *pid)
{
	int in = state_pipe(state);

	if (in < 0)
		return -1;
	if (pipe2(err, O_CLOEXEC) < 0) {
		close(in);
		return -1;
	}
	/* Non-blocking for us only: the hook's writes must wait for room, not fail. */
	if (fcntl(err[0], F_SETFL, O_NONBLOCK) < 0) {
		close(in);
		close(err[0]);
		close(err[1]);
		return -1;
	}
	*pid = fork();
	if (*pid == 0)
		hook_exec(h, in, err[1]);
	close(in);
	close(err[1]);
	if (*pid < 0) {
		close(err[0]);
		return -1;
	}
	return 0;
}

static int hook_run(const struct hook_spec *h, const char *state, char *what, size_t n)
{
	uint32_t timeout = h->timeout ? h->timeout : HOOK_DEFAULT_TIMEOUT;
	struct tail t = { .len = 0 };
	int err[2], status = 0, waited;
	const char *said;
	pid_t pid;

	if (hook_start(h, state, err, &pid) < 0) {
		int e = errno;

		snprintf(what, n, "startContainer hook %s: %s", h->path, strerror(e));
		return e;
	}
	waited = hook_wait(pid, timeout, err[0], &t, &status);
	close(err[0]);
	if (waited < 0) {
		snprintf(what, n, "startContainer hook %s timed out after %u s", h->path, timeout);
		return ETIMEDOUT;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	said = tail_line(&t);
	if (WIFSIGNALED(status))
		snprintf(what, n, "startContainer hook %s was killed by signal %d%s%s", h->path,
			 WTERMSIG(status), *said ? ": " : "", said);
	else
		snprintf(what, n, "startContainer hook %s exited with status %d%s%s", h->path,
			 WEXITSTATUS(status), *said ? ": " : "", said);
	return ECANCELED;
}

int hooks_run(const struct process_spec *s, char *what, size_t what_len)
{
	size_t i;
	int err;

	for (i = 0; i < s->nhooks; i++) {
		err = hook_run(&s->hooks[i], s->hook_state, what, what_len);
		if (err)
			return err;
	}
	return 0;
}

void hook_spec_free(struct hook_spec *h)
{
	free(h->path);
	strv_free(h->argv);
	strv_free(h->envp);
	*h = (struct hook_spec){ 0 };
}
