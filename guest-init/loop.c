/* The event loop: channel, signals, process output and stdin, EXIT events. */
#include "agent.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define IDLE_POWEROFF_MS 10000  /* last container init gone, no SHUTDOWN */
#define HOST_GONE_MS 5000       /* port without host after HELLO */
#define HUP_BACKOFF_MS 100      /* re-poll a port without host at this pace */
#define KILL_WAIT_MS 2000

enum watch_kind { WATCH_CHANNEL, WATCH_SIGNALS, WATCH_STDOUT, WATCH_STDERR, WATCH_STDIN };

struct watch {
	enum watch_kind kind;
	struct process *p;
};

struct poll_set {
	struct pollfd fds[2 + 3 * MAX_PROCESSES];
	struct watch watches[2 + 3 * MAX_PROCESSES];
	nfds_t n;
};

/* Timers of the loop, all CLOCK_MONOTONIC milliseconds; 0 = not running. */
struct loop_timers {
	long long channel_down_since;
	long long channel_retry_at;
	long long idle_since;
};

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void watch(struct poll_set *ps, int fd, short events, enum watch_kind kind,
		  struct process *p)
{
	ps->fds[ps->n] = (struct pollfd){ .fd = fd, .events = events };
	ps->watches[ps->n] = (struct watch){ .kind = kind, .p = p };
	ps->n++;
}

static void build_poll_set(struct agent *a, struct poll_set *ps, const struct loop_timers *t)
{
	size_t free_out = channel_out_free(&a->ch);
	struct process *p;
	short ch_events = 0;

	ps->n = 0;
	watch(ps, a->sigfd, POLLIN, WATCH_SIGNALS, NULL);
	/* Requests are read only while their replies fit: a host that never reads stalls. */
	if (free_out >= CHANNEL_REQUEST_ROOM)
		ch_events |= POLLIN;
	if (channel_has_pending_output(&a->ch))
		ch_events |= POLLOUT;
	if (!t->channel_retry_at)
		watch(ps, a->ch.fd, ch_events, WATCH_CHANNEL, NULL);
	for (p = a->processes; p; p = p->next) {
		if (p->stdout_fd >= 0 && free_out >= CHANNEL_MAX_OUTPUT_EVENT * 2)
			watch(ps, p->stdout_fd, POLLIN, WATCH_STDOUT, p);
		if (p->stderr_fd >= 0 && free_out >= CHANNEL_MAX_OUTPUT_EVENT * 2)
			watch(ps, p->stderr_fd, POLLIN, WATCH_STDERR, p);
		if (p->pending)
			watch(ps, p->stdin_fd, POLLOUT, WATCH_STDIN, p);
	}
}

static void send_reply_code(struct agent *a, uint32_t id, int code)
{
	struct reply r = { .exit_status = -1 };
	struct frame_writer w;

	if (!code) {
		channel_frame(&a->ch, &w, RUNV_OK, id);
		channel_send(&a->ch, &w);
		return;
	}
	reply_error(&r, code, "stdin: %s", strerror(code));
	agent_send_error(a, id, &r);
}

static void finish_pending(struct agent *a, struct process *p, int code)
{
	send_reply_code(a, p->pending_request, code);
	free(p->pending);
	p->pending = NULL;
}

void stdin_close(struct process *p)
{
	struct termios tio;

	p->stdin_closed = true;
	if (!p->terminal) {
		close(p->stdin_fd);
		p->stdin_fd = -1;
		return;
	}
	/*
	 * A pty has no half-close: in canonical mode the line discipline turns VEOF into end of
	 * file. A program that reads raw (a shell's line editor) would only get one more byte,
	 * and one that disabled VEOF a NUL echoed as ^@: it gets nothing, as on a terminal.
	 */
	if (p->stdin_fd < 0 || tcgetattr(p->stdin_fd, &tio) < 0 || !(tio.c_lflag & ICANON) ||
	    tio.c_cc[VEOF] == _POSIX_VDISABLE)
		return;
	if (write(p->stdin_fd, &tio.c_cc[VEOF], 1) < 0)
		LOG_ERRNO("send EOF to %s", p->id);
}

void stdin_write_pending(struct agent *a, struct process *p)
{
	while (p->pending_off < p->pending_len) {
		ssize_t n = write(p->stdin_fd, p->pending + p->pending_off,
				  p->pending_len - p->pending_off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0) {
			int err = errno;

			finish_pending(a, p, err);
			if (!p->terminal)
				stdin_close(p);
			p->stdin_closed = true;
			return;
		}
		p->pending_off += (size_t)n;
	}
	finish_pending(a, p, 0);
}

static void send_output(struct agent *a, struct process *p, uint16_t type, const void *data,
			size_t len)
{
	struct frame_writer w;

	channel_frame(&a->ch, &w, type, 0);
	fw_str(&w, RUNV_A_CONTAINER_ID, p->container->id);
	fw_str(&w, RUNV_A_PROCESS_ID, p->id);
	fw_bytes(&w, RUNV_A_DATA, data, len);
	channel_send(&a->ch, &w);
}

/*
 * The pty master reports the end with EIO once every slave fd is closed. The process may still
 * run: closing the master would hang up its controlling terminal and SIGHUP it, so the master
 * is only set aside until the process is freed.
 */
static void close_output(struct process *p, int *fd)
{
	if (p->terminal) {
		if (p->stdin_fd == *fd)
			p->stdin_fd = -1;
		p->held_pty = *fd;
	} else {
		close(*fd);
	}
	*fd = -1;
}

static void relay_output(struct agent *a, struct process *p, int *fd, uint16_t type)
{
	static uint8_t buf[RUNV_MAX_DATA_CHUNK];
	ssize_t n;

	if (channel_out_free(&a->ch) < CHANNEL_MAX_OUTPUT_EVENT)
		return;
	n = read(*fd, buf, sizeof(buf));
	if (n > 0) {
		send_output(a, p, type, buf, (size_t)n);
		return;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0 && errno != EIO)
		LOG_ERRNO("read output of %s", p->id);
	close_output(p, fd);
}

static struct process *find_by_pid(struct agent *a, pid_t pid)
{
	struct process *p;

	for (p = a->processes; p; p = p->next)
		if (p->pid == pid && !p->reaped)
			return p;
	return NULL;
}

/* Reaps every child, ours or orphans re-parented to PID 1. False once none is left. */
static bool reap_children(struct agent *a)
{
	struct process *p;
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		p = find_by_pid(a, pid);
		if (!p)
			continue;
		p->reaped = true;
		p->wait_status = status;
		if (p->init && p->container->init_pid == pid)
			p->container->init_pid = 0;
	}
	return !(pid < 0 && errno == ECHILD);
}

static void handle_signals(struct agent *a)
{
	struct signalfd_siginfo si;

	while (read(a->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGCHLD) {
			reap_children(a);
		} else if (!a->pid1) {
			LOG_INFO("signal %u, stopping", si.ssi_signo);
			a->stop = true;
		}
	}
}

static void send_exit(struct agent *a, struct process *p)
{
	struct frame_writer w;
	int st = p->wait_status;

	channel_frame(&a->ch, &w, RUNV_EXIT, 0);
	fw_str(&w, RUNV_A_CONTAINER_ID, p->container->id);
	fw_str(&w, RUNV_A_PROCESS_ID, p->id);
	if (WIFSIGNALED(st)) {
		fw_u32(&w, RUNV_A_EXIT_STATUS, 128u + (uint32_t)WTERMSIG(st));
		fw_u32(&w, RUNV_A_SIGNAL, (uint32_t)WTERMSIG(st));
	} else {
		fw_u32(&w, RUNV_A_EXIT_STATUS, (uint32_t)WEXITSTATUS(st));
	}
	channel_send(&a->ch, &w);
	LOG_INFO("container %s: process %s exited, status 0x%x", p->container->id, p->id, st);
}

/* EXIT goes out once the process is reaped and its output drained: it is the last frame. */
static void finish_processes(struct agent *a)
{
	struct process **link = &a->processes;

	while (*link) {
		struct process *p = *link;

		if (!p->reaped || p->stdout_fd >= 0 || p->stderr_fd >= 0 ||
		    channel_out_free(&a->ch) < CHANNEL_MAX_SMALL_FRAME * 2) {
			link = &p->next;
			continue;
		}
		if (p->pending)
			finish_pending(a, p, EPIPE);
		send_exit(a, p);
		*link = p->next;
		a->nprocesses--;
		process_free(p);
	}
}

static void handle_frames(struct agent *a)
{
	struct frame f;
	struct bad_frame bad;
	enum reader_result res;

	while (!a->stop && channel_out_free(&a->ch) >= CHANNEL_REQUEST_ROOM) {
		res = reader_next(&a->ch.reader, &f, &bad);
		if (res == READER_NEED_MORE)
			return;
		if (res == READER_FRAME) {
			agent_handle_frame(a, &f);
		} else if (bad.type != RUNV_ERROR) {
			struct reply r = { .code = bad.code, .exit_status = -1 };

			snprintf(r.message, sizeof(r.message), "bad frame: %s", strerror(bad.code));
			agent_send_error(a, bad.id, &r);
		}
	}
}

/*
 * A virtio-serial port reports POLLHUP (and reads return 0) while no host is connected;
 * that is normal before the host connects, so re-poll slowly instead of spinning. After
 * HELLO a host that stays away means the VM is no longer wanted. A unix socket is simpler:
 * its end is final.
 */
static void channel_down(struct agent *a, struct loop_timers *t)
{
	long long now = now_ms();

	if (!a->pid1) {
		LOG_INFO("host closed the channel");
		a->stop = true;
		return;
	}
	if (!t->channel_down_since)
		t->channel_down_since = now;
	t->channel_retry_at = now + HUP_BACKOFF_MS;
	if (a->hello_seen && now - t->channel_down_since >= HOST_GONE_MS) {
		LOG_INFO("host gone for %d ms", HOST_GONE_MS);
		a->stop = true;
	}
}

static void channel_up(struct agent *a, struct loop_timers *t)
{
	if (!t->channel_down_since)
		return;
	/* A new connection: whatever half frame the old one left is meaningless. */
	reader_reset(&a->ch.reader);
	t->channel_down_since = 0;
}

static void handle_channel(struct agent *a, short revents, struct loop_timers *t)
{
	if (revents & POLLIN) {
		int rc = channel_fill(&a->ch);

		if (rc > 0)
			channel_up(a, t);
		if (rc == 0 || (rc < 0 && errno != EAGAIN && errno != EINTR)) {
			channel_down(a, t);
			return;
		}
	} else if (revents & (POLLHUP | POLLERR | POLLNVAL)) {
		channel_down(a, t);
		return;
	} else {
		channel_up(a, t);
	}
	if ((revents & POLLOUT) && channel_flush(&a->ch) < 0)
		channel_down(a, t);
}

static bool has_live_init(const struct agent *a)
{
	const struct process *p;

	for (p = a->processes; p; p = p->next)
		if (p->init && !p->reaped)
			return true;
	return false;
}

static void check_idle(struct agent *a, struct loop_timers *t)
{
	long long now = now_ms();

	if (!a->pid1 || !a->started_init || has_live_init(a)) {
		t->idle_since = 0;
		return;
	}
	if (!t->idle_since)
		t->idle_since = now;
	if (now - t->idle_since >= IDLE_POWEROFF_MS) {
		LOG_INFO("no container init for %d ms and no SHUTDOWN", IDLE_POWEROFF_MS);
		a->stop = true;
	}
}

static int poll_timeout(const struct loop_timers *t)
{
	long long now = now_ms(), wake = -1;

	if (t->idle_since)
		wake = t->idle_since + IDLE_POWEROFF_MS;
	if (t->channel_retry_at && (wake < 0 || t->channel_retry_at < wake))
		wake = t->channel_retry_at;
	if (wake < 0)
		return -1;
	return wake <= now ? 0 : (int)(wake - now);
}

static void dispatch_events(struct agent *a, struct poll_set *ps, struct loop_timers *t)
{
	nfds_t i;

	for (i = 0; i < ps->n; i++) {
		struct pollfd *pfd = &ps->fds[i];
		struct watch *w = &ps->watches[i];

		if (!pfd->revents)
			continue;
		switch (w->kind) {
		case WATCH_SIGNALS: handle_signals(a); break;
		case WATCH_CHANNEL: handle_channel(a, pfd->revents, t); break;
		case WATCH_STDOUT:
			if (w->p->stdout_fd >= 0)
				relay_output(a, w->p, &w->p->stdout_fd, RUNV_STDOUT);
			break;
		case WATCH_STDERR:
			if (w->p->stderr_fd >= 0)
				relay_output(a, w->p, &w->p->stderr_fd, RUNV_STDERR);
			break;
		case WATCH_STDIN:
			if (w->p->pending)
				stdin_write_pending(a, w->p);
			break;
		}
	}
}

int agent_run(struct agent *a)
{
	static struct poll_set ps;
	struct loop_timers t = { 0 };

	while (!a->stop) {
		if (t.channel_retry_at && now_ms() >= t.channel_retry_at)
			t.channel_retry_at = 0;
		build_poll_set(a, &ps, &t);
		if (poll(ps.fds, ps.n, poll_timeout(&t)) < 0 && errno != EINTR) {
			LOG_ERRNO("poll");
			return -1;
		}
		dispatch_events(a, &ps, &t);
		handle_frames(a);
		finish_processes(a);
		check_idle(a, &t);
	}
	return 0;
}

void agent_kill_all(struct agent *a)
{
	long long deadline = now_ms() + KILL_WAIT_MS;
	struct process *p;

	if (a->pid1)
		kill(-1, SIGKILL);
	/* Each process leads its own session and group (once its setsid ran): kill both. */
	for (p = a->processes; p; p = p->next) {
		if (p->reaped)
			continue;
		kill(-p->pid, SIGKILL);
		kill(p->pid, SIGKILL);
	}
	/* Bounded: a process stuck in the kernel (a dead 9p server) must not hang us. */
	while (reap_children(a) && now_ms() < deadline)
		usleep(10000);
}

void agent_unmount_all(struct agent *a)
{
	struct container *c;

	for (c = a->containers; c; c = c->next)
		container_unmount(c);
}
