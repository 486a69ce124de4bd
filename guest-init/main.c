/*
 * guest-init: PID 1 of a runv VM, or (--connect) an ordinary process speaking the same
 * protocol over a unix socket, for tests. Only main decides to exit or power off.
 *
 * PID 1 with --connect (e.g. under `unshare --pid --fork --mount`) skips the VM set-up and
 * the port but keeps PID-1 behaviour (namespaces, root switch): that tests those paths
 * without a VM.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "agent.h"
#include "log.h"
#include "sysinit.h"

#define GUEST_INIT_VERSION "0.1.0"
#define PORT_WAIT_MS 10000

/* Large buffers: static, not on PID 1's stack. */
static struct agent agent;

static int open_signalfd(void)
{
	sigset_t all, handled;

	sigfillset(&all);
	if (sigprocmask(SIG_BLOCK, &all, NULL) < 0)
		return -1;
	sigemptyset(&handled);
	sigaddset(&handled, SIGCHLD);
	sigaddset(&handled, SIGTERM);
	sigaddset(&handled, SIGINT);
	return signalfd(-1, &handled, SFD_NONBLOCK | SFD_CLOEXEC);
}

static int set_nonblock(int fd)
{
	int flags = fcntl(fd, F_GETFL);

	return flags < 0 ? -1 : fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

/* PID-1 mode: bring up the VM, return the host channel. Fatal errors power off. */
static int boot_vm(struct agent *a)
{
	int failed, fd;

	if (sysinit_mount_basics() < 0)
		sysinit_fatal("cannot mount /proc, /sys or /dev");
	sysinit_std_fds();
	failed = sysinit_load_modules();
	if (failed)
		LOG_ERROR("%d kernel modules failed to load", failed);
	sysinit_loopback_up();
	a->cgroups = cgroup_setup() == 0;
	if (!a->cgroups)
		LOG_ERROR("no cgroups: containers run without limits");
	fd = sysinit_open_port(AGENT_PORT_NAME, PORT_WAIT_MS);
	if (fd < 0)
		sysinit_fatal("no host channel");
	return fd;
}

/*
 * The word runv_poweroff on the kernel command line (no '.' or '=', so the kernel passes it in
 * PID 1's argv) powers the VM off at once: bench/run-bench.ts boots the same kernel and initrd
 * with it under bare qemu, as the baseline runv's boot is compared with.
 */
static bool wants_poweroff_at_once(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "runv_poweroff") == 0)
			return true;
	return false;
}

static int usage(const char *argv0)
{
	fprintf(stderr, "usage: %s [--connect SOCKET | --version]\n"
			"  As PID 1 it sets up the VM and talks to the host over the\n"
			"  virtio-serial port " AGENT_PORT_NAME ".\n", argv0);
	return 2;
}

int main(int argc, char **argv)
{
	struct agent *a = &agent;
	const char *connect_path = NULL;
	int fd;

	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("guest-init %s (protocol %u)\n", GUEST_INIT_VERSION, RUNV_PROTOCOL_VERSION);
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "--connect") == 0)
		connect_path = argv[2];
	a->pid1 = getpid() == 1;
	if (a->pid1 && wants_poweroff_at_once(argc, argv)) {
		LOG_INFO("runv_poweroff: powering off at once");
		sysinit_poweroff();
	}
	/* The kernel hands PID 1 the command-line words it does not know: ignore them. */
	if (!a->pid1 && !connect_path)
		return usage(argv[0]);
	a->sigfd = open_signalfd();
	if (a->sigfd < 0) {
		LOG_ERRNO("signalfd");
		if (a->pid1)
			sysinit_fatal("no signalfd");
		return 1;
	}
	fd = connect_path ? channel_connect_unix(connect_path) : boot_vm(a);
	if (fd < 0 || set_nonblock(fd) < 0) {
		if (a->pid1)
			sysinit_fatal("no host channel");
		return 1;
	}
	channel_init(&a->ch, fd);
	if (agent_run(a) < 0 && a->pid1)
		sysinit_fatal("event loop failed");
	agent_kill_all(a);
	channel_drain(&a->ch, 1000);
	agent_unmount_all(a);
	if (a->pid1)
		sysinit_poweroff();
	return 0;
}
