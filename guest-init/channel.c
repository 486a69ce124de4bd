#include "channel.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

void channel_init(struct channel *ch, int fd)
{
	ch->fd = fd;
	reader_reset(&ch->reader);
	ch->out_head = 0;
	ch->out_len = 0;
}

int channel_connect_unix(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		LOG_ERROR("socket path too long: %s", path);
		return -1;
	}
	memcpy(addr.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		LOG_ERRNO("socket");
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		LOG_ERRNO("connect %s", path);
		close(fd);
		return -1;
	}
	return fd;
}

int channel_fill(struct channel *ch)
{
	size_t avail;
	uint8_t *space = reader_space(&ch->reader, &avail);
	ssize_t n;

	if (avail == 0)
		return 1;
	n = read(ch->fd, space, avail);
	if (n < 0)
		return -1;
	if (n == 0)
		return 0;
	reader_commit(&ch->reader, (size_t)n);
	return 1;
}

int channel_flush(struct channel *ch)
{
	while (ch->out_len > ch->out_head) {
		ssize_t n = write(ch->fd, ch->out + ch->out_head, ch->out_len - ch->out_head);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			LOG_ERRNO("write to host");
			return -1;
		}
		ch->out_head += (size_t)n;
	}
	ch->out_head = 0;
	ch->out_len = 0;
	return 0;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int channel_drain(struct channel *ch, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;

	while (channel_has_pending_output(ch)) {
		struct pollfd pfd = { .fd = ch->fd, .events = POLLOUT };
		long long left = deadline - now_ms();

		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0 || (pfd.revents & (POLLERR | POLLNVAL)))
			return -1;
		if (channel_flush(ch) < 0)
			return -1;
	}
	return 0;
}

size_t channel_out_free(const struct channel *ch)
{
	return sizeof(ch->out) - ch->out_len + ch->out_head;
}

bool channel_has_pending_output(const struct channel *ch)
{
	return ch->out_len > ch->out_head;
}

void channel_frame(struct channel *ch, struct frame_writer *w, uint16_t type, uint32_t id)
{
	if (ch->out_head) {
		memmove(ch->out, ch->out + ch->out_head, ch->out_len - ch->out_head);
		ch->out_len -= ch->out_head;
		ch->out_head = 0;
	}
	fw_begin(w, ch->out + ch->out_len, sizeof(ch->out) - ch->out_len, type, id);
}

int channel_send(struct channel *ch, struct frame_writer *w)
{
	size_t n = fw_end(w);

	if (n == 0) {
		/* Cannot happen while callers respect channel_out_free(); never send half. */
		LOG_ERROR("outgoing frame does not fit, dropped");
		return -1;
	}
	ch->out_len += n;
	return channel_flush(ch);
}
