/*
 * runv-console-socket: the runtime's half of runc's --console-socket protocol, which Node
 * cannot speak because it cannot pass file descriptors.
 *
 *   runv-console-socket SOCKET [ROWS COLS]
 *
 * Makes a raw pty, optionally sizes it, connects once to the unix stream socket SOCKET and sends
 * the pty master in one message: SCM_RIGHTS with that one fd, and the slave's path as the
 * payload (receivers such as go-runc read both in a single recvmsg and want exactly one fd).
 * Prints the slave's path on stdout for the caller, which opens it to relay the container's
 * terminal. The helper's copy of the master dies with it, so the receiver owns the pty and
 * nothing is left behind on failure.
 *
 * Exit: 0 sent; 1 the console socket failed (the caller's socket); 2 usage; 3 the host
 * failed (no pty, stdout unwritable). Every failure is one line on stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

enum { EXIT_SOCKET = 1, EXIT_USAGE = 2, EXIT_HOST = 3 };

struct pty {
	int master;
	char slave[PATH_MAX];
};

static int open_pty(struct pty *pty)
{
	/* O_NOCTTY: the master must not become this process's controlling terminal. */
	pty->master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (pty->master < 0)
		return -1;
	if (grantpt(pty->master) < 0 || unlockpt(pty->master) < 0 ||
	    ptsname_r(pty->master, pty->slave, sizeof(pty->slave)) != 0)
		return -1;
	return 0;
}

/*
 * The terminal's line discipline is the guest's pty: this host pty must pass bytes through
 * untouched, or output would gain a second \r before each \n and input would be echoed twice.
 */
static int make_raw(const char *slave)
{
	struct termios mode;
	int fd = open(slave, O_RDWR | O_NOCTTY | O_CLOEXEC);
	int ok;

	if (fd < 0)
		return -1;
	ok = tcgetattr(fd, &mode) == 0;
	if (ok) {
		cfmakeraw(&mode);
		ok = tcsetattr(fd, TCSANOW, &mode) == 0;
	}
	close(fd);
	return ok ? 0 : -1;
}

static int set_size(int master, unsigned short rows, unsigned short cols)
{
	struct winsize size = { .ws_row = rows, .ws_col = cols };

	return ioctl(master, TIOCSWINSZ, &size);
}

static int connect_path(int sock, const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	size_t len = strlen(path);

	if (len >= sizeof(addr.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(addr.sun_path, path, len + 1);
	return connect(sock, (struct sockaddr *)&addr, sizeof(addr));
}

/*
 * runc-compatible callers may pass paths longer than sun_path. The kernel resolves the
 * /proc/self/fd link of an O_PATH descriptor of the socket file like the path itself, with the
 * same permission checks, and that short name always fits.
 */
static int connect_long_path(int sock, const char *path)
{
	char link[sizeof("/proc/self/fd/") + 10];
	int fd, ret, saved;

	fd = open(path, O_PATH | O_CLOEXEC);
	if (fd < 0)
		return -1;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ret = connect_path(sock, link);
	saved = errno;
	close(fd);
	errno = saved;
	return ret;
}

static int connect_socket(const char *path)
{
	int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int saved;

	if (sock < 0)
		return -1;
	if (connect_path(sock, path) == 0 ||
	    (errno == ENAMETOOLONG && connect_long_path(sock, path) == 0))
		return sock;
	saved = errno;
	close(sock);
	errno = saved;
	return -1;
}

static int send_master(int sock, const struct pty *pty)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} control;
	struct iovec payload = { .iov_base = (void *)pty->slave, .iov_len = strlen(pty->slave) };
	struct msghdr msg = {
		.msg_iov = &payload,
		.msg_iovlen = 1,
		.msg_control = control.buf,
		.msg_controllen = sizeof(control.buf),
	};
	struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
	ssize_t sent;

	memset(&control, 0, sizeof(control));
	cmsg->cmsg_level = SOL_SOCKET;
	cmsg->cmsg_type = SCM_RIGHTS;
	cmsg->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cmsg), &pty->master, sizeof(int));
	/* A peer that hung up is an error to report, not a SIGPIPE to die of. */
	sent = sendmsg(sock, &msg, MSG_NOSIGNAL);
	if (sent < 0)
		return -1;
	if ((size_t)sent != payload.iov_len) {
		errno = EMSGSIZE;
		return -1;
	}
	return 0;
}

static int parse_dimension(const char *text, unsigned short *value)
{
	char *end;
	unsigned long n;

	if (*text < '0' || *text > '9')
		return -1;
	errno = 0;
	n = strtoul(text, &end, 10);
	if (errno || *end || n > USHRT_MAX)
		return -1;
	*value = (unsigned short)n;
	return 0;
}

static int fail(int status, const char *socket_path, const char *what)
{
	fprintf(stderr, "console socket %s: %s%s%s\n", socket_path, what ? what : "",
		what ? ": " : "", strerror(errno));
	return status;
}

int main(int argc, char **argv)
{
	unsigned short rows = 0, cols = 0;
	const char *path;
	struct pty pty;
	int sock;

	if ((argc != 2 && argc != 4) ||
	    (argc == 4 && (parse_dimension(argv[2], &rows) < 0 || parse_dimension(argv[3], &cols) < 0))) {
		fprintf(stderr, "usage: runv-console-socket SOCKET [ROWS COLS] (ROWS, COLS: 0-65535)\n");
		return EXIT_USAGE;
	}
	path = argv[1];
	if (open_pty(&pty) < 0)
		return fail(EXIT_HOST, path, "cannot make a pty");
	if (make_raw(pty.slave) < 0)
		return fail(EXIT_HOST, path, "cannot make the pty raw");
	if (argc == 4 && set_size(pty.master, rows, cols) < 0)
		return fail(EXIT_HOST, path, "cannot set the pty's size");
	sock = connect_socket(path);
	if (sock < 0)
		return fail(EXIT_SOCKET, path, NULL);
	if (send_master(sock, &pty) < 0)
		return fail(EXIT_SOCKET, path, "cannot send the pty");
	if (printf("%s\n", pty.slave) < 0 || fflush(stdout) != 0)
		return fail(EXIT_HOST, path, "cannot print the pty's path");
	return 0;
}
