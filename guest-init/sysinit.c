#include "sysinit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <termios.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define MODULES_DIR "/lib/modules"
#define PORTS_DIR "/sys/class/virtio-ports"
#define CMDLINE_FILE "/proc/cmdline"
#define AGENT_CMDLINE_KEY "runv.agent="
#define PORT_RETRY_US 20000

static int mount_fs(const char *source, const char *target, const char *type,
		    unsigned long flags, const char *data)
{
	if (mkdir(target, 0755) < 0 && errno != EEXIST) {
		LOG_ERRNO("mkdir %s", target);
		return -1;
	}
	if (mount(source, target, type, flags, data) < 0 && errno != EBUSY) {
		LOG_ERRNO("mount %s on %s", type, target);
		return -1;
	}
	return 0;
}

int sysinit_mount_basics(void)
{
	const unsigned long safe = MS_NOSUID | MS_NODEV | MS_NOEXEC;

	if (mount_fs("proc", "/proc", "proc", safe, NULL) < 0 ||
	    mount_fs("sysfs", "/sys", "sysfs", safe, NULL) < 0 ||
	    mount_fs("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755") < 0 ||
	    mount_fs("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
		     "ptmxmode=0666,mode=0620,gid=5") < 0 ||
	    mount_fs("shm", "/dev/shm", "tmpfs", safe, "mode=1777") < 0)
		return -1;
	return 0;
}

void sysinit_std_fds(void)
{
	int fd;

	for (fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) >= 0)
			continue;
		if (open("/dev/console", O_RDWR | O_NOCTTY) != fd &&
		    open("/dev/null", O_RDWR) != fd)
			LOG_ERROR("cannot open fd %d", fd);
	}
}

static int load_module(const char *name)
{
	char path[PATH_MAX];
	int fd, rc;

	if (snprintf(path, sizeof(path), MODULES_DIR "/%s", name) >= (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = (int)syscall(SYS_finit_module, fd, "", 0);
	if (rc < 0 && errno == EEXIST)
		rc = 0;
	close(fd);
	return rc;
}

int sysinit_load_modules(void)
{
	return sysinit_load_module_list("load");
}

/*
 * load.order lists the module files to load at boot, already sorted so that dependencies come
 * first; <fstype>.order those a filesystem type needs, loaded when something mounts one.
 */
int sysinit_load_module_list(const char *list)
{
	char line[NAME_MAX + 2], path[PATH_MAX];
	int failed = 0;
	FILE *order;

	if (strchr(list, '/') ||
	    snprintf(path, sizeof(path), MODULES_DIR "/%s.order", list) >= (int)sizeof(path))
		return 0;
	order = fopen(path, "re");
	if (!order)
		return 0;
	while (fgets(line, sizeof(line), order)) {
		size_t len = strcspn(line, "\n");

		if (line[len] != '\n' && !feof(order)) {
			LOG_ERROR("module name too long in load.order");
			failed++;
			break;
		}
		line[len] = '\0';
		if (len == 0)
			continue;
		if (load_module(line) < 0) {
			LOG_ERRNO("load module %s", line);
			failed++;
		}
	}
	fclose(order);
	return failed;
}

/* Containers share the VM's network stack: like a fresh netns, it has loopback up. */
int sysinit_loopback_up(void)
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int rc = -1;

	if (fd < 0) {
		LOG_ERRNO("socket");
		return -1;
	}
	memcpy(ifr.ifr_name, "lo", 3);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
		LOG_ERRNO("get flags of lo");
	} else {
		ifr.ifr_flags |= IFF_UP;
		rc = ioctl(fd, SIOCSIFFLAGS, &ifr);
		if (rc < 0)
			LOG_ERRNO("bring lo up");
	}
	close(fd);
	return rc;
}

/* entry is a port directory such as "vport0p1"; its name file holds the port name. */
static bool port_has_name(const char *entry, const char *name)
{
	char path[PATH_MAX], found[64];
	ssize_t n;
	int fd;

	if (snprintf(path, sizeof(path), PORTS_DIR "/%s/name", entry) >= (int)sizeof(path))
		return false;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, found, sizeof(found) - 1);
	close(fd);
	if (n <= 0)
		return false;
	found[n] = '\0';
	found[strcspn(found, "\n")] = '\0';
	return strcmp(found, name) == 0;
}

static int try_open_port(const char *name)
{
	DIR *dir = opendir(PORTS_DIR);
	struct dirent *e;
	char dev[PATH_MAX];
	int fd = -1;

	if (!dir)
		return -1;
	while ((e = readdir(dir)) != NULL) {
		if (e->d_name[0] == '.' || !port_has_name(e->d_name, name))
			continue;
		if (snprintf(dev, sizeof(dev), "/dev/%s", e->d_name) >= (int)sizeof(dev))
			break;
		/* devtmpfs may lag behind sysfs: the caller retries. */
		fd = open(dev, O_RDWR | O_CLOEXEC | O_NONBLOCK);
		if (fd >= 0)
			LOG_INFO("channel %s is %s", name, dev);
		break;
	}
	closedir(dir);
	return fd;
}

/*
 * Under Xen the channel is a PV console (hvc1, ...) whose name only xenstore knows: the host
 * names the device on the kernel command line instead, as runv.agent=<device>. The kernel
 * keeps dotted words from init's argv, hence /proc/cmdline. 0 with dev set, -1 if absent.
 */
static int cmdline_agent_device(char *dev, size_t size)
{
	char line[4096], *word, *save = NULL;
	ssize_t n;
	int fd = open(CMDLINE_FILE, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	n = read(fd, line, sizeof(line) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	line[n] = '\0';
	for (word = strtok_r(line, " \n", &save); word; word = strtok_r(NULL, " \n", &save)) {
		if (strncmp(word, AGENT_CMDLINE_KEY, strlen(AGENT_CMDLINE_KEY)) != 0 || strchr(word, '/'))
			continue;
		if (snprintf(dev, size, "/dev/%s", word + strlen(AGENT_CMDLINE_KEY)) >= (int)size)
			return -1;
		return 0;
	}
	return -1;
}

/* A console is a tty: raw, or its line discipline would echo and rewrite the protocol's bytes. */
static int open_console_channel(const char *dev)
{
	struct termios t;
	int fd = open(dev, O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return -1;
	if (tcgetattr(fd, &t) == 0) {
		cfmakeraw(&t);
		if (tcsetattr(fd, TCSANOW, &t) < 0) {
			LOG_ERRNO("make %s raw", dev);
			close(fd);
			return -1;
		}
	}
	LOG_INFO("channel is the console %s", dev);
	return fd;
}

int sysinit_open_port(const char *name, int timeout_ms)
{
	char console[PATH_MAX];
	bool named_console = cmdline_agent_device(console, sizeof(console)) == 0;
	int waited_us = 0;
	int fd;

	/* The port (or Xen console) is hot-plugged asynchronously after its driver loads. */
	while ((fd = named_console ? open_console_channel(console) : try_open_port(name)) < 0 && waited_us < timeout_ms * 1000) {
		usleep(PORT_RETRY_US);
		waited_us += PORT_RETRY_US;
	}
	if (fd < 0)
		LOG_ERROR("no virtio-serial port named %s after %d ms", name, timeout_ms);
	return fd;
}

_Noreturn void sysinit_poweroff(void)
{
	kill(-1, SIGKILL);
	sync();
	reboot(RB_POWER_OFF);
	/*
	 * reboot() returns only when it is not allowed: as the init of a PID namespace without
	 * CAP_SYS_BOOT, which libvirt's LXC driver drops. There, exiting ends the namespace and
	 * the domain with it. In a VM it never returns; exiting there would panic the kernel.
	 */
	if (getpid() == 1 && errno == EPERM)
		_exit(0);
	for (;;)
		pause();
}

_Noreturn void sysinit_fatal(const char *reason)
{
	LOG_ERROR("fatal: %s; powering off", reason);
	sysinit_poweroff();
}
