/*
 * startContainer hooks (OCI runtime-spec): run by the container's init after its root switch
 * and credentials, before it execs the container's program, each with the state JSON on stdin.
 * Their stdout is discarded and their stderr is the container's, where a failure is seen.
 */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* guest-init serves nothing else until the init execs: a hook without a timeout gets this one. */
#define HOOK_DEFAULT_TIMEOUT 60u
#define HOOK_POLL_NS 10000000L

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

static _Noreturn void hook_exec(const struct hook_spec *h, int in)
{
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

	if (dup2(in, 0) < 0 || null < 0 || dup2(null, 1) < 0)
		_exit(126);
	execve(h->path, h->argv, h->envp);
	_exit(errno == ENOENT || errno == ENOTDIR ? 127 : 126);
}

/* Waits for the hook until its deadline; then it is killed. */
static int hook_wait(pid_t pid, uint32_t timeout, int *status)
{
	int64_t deadline = now_ms() + (int64_t)timeout * 1000;
	const struct timespec step = { 0, HOOK_POLL_NS };
	pid_t got;

	while ((got = waitpid(pid, status, WNOHANG)) == 0 && now_ms() < deadline)
		nanosleep(&step, NULL);
	if (got == pid)
		return 0;
	kill(pid, SIGKILL);
	waitpid(pid, status, 0);
	return -1;
}

static int hook_run(const struct hook_spec *h, const char *state, char *what, size_t n)
{
	uint32_t timeout = h->timeout ? h->timeout : HOOK_DEFAULT_TIMEOUT;
	int in, status = 0;
	pid_t pid;

	in = state_pipe(state);
	if (in < 0 || (pid = fork()) < 0) {
		int err = errno;

		snprintf(what, n, "startContainer hook %s: %s", h->path, strerror(err));
		if (in >= 0)
			close(in);
		return err;
	}
	if (pid == 0)
		hook_exec(h, in);
	close(in);
	if (hook_wait(pid, timeout, &status) < 0) {
		snprintf(what, n, "startContainer hook %s timed out after %u s", h->path, timeout);
		return ETIMEDOUT;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFSIGNALED(status))
		snprintf(what, n, "startContainer hook %s was killed by signal %d", h->path,
			 WTERMSIG(status));
	else
		snprintf(what, n, "startContainer hook %s exited with status %d", h->path,
			 WEXITSTATUS(status));
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
