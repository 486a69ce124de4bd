/*
 * What busybox cannot show of a filesystem, for the storage tests: run the same way inside a
 * container and on the host, it prints what happened, so the two can be compared.
 *   posix-probe mmap FILE   writes through a shared mapping, msyncs, reads back with read(2)
 *   posix-probe xattr FILE  sets user.runv on FILE and reads it back
 * Prints "ok", or the errno name of the step that failed; exits 0 either way, 2 on bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/xattr.h>
#include <unistd.h>

#define PAGE 4096
#define WORD "mapped"

static int report(const char *step)
{
	printf("%s %s\n", step, strerrorname_np(errno));
	return 0;
}

static int probe_mmap(const char *file)
{
	char back[sizeof(WORD)] = "";
	char *map;
	int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);

	if (fd < 0 || ftruncate(fd, 2 * PAGE) < 0)
		return report("create");
	map = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return report("mmap");
	memcpy(map + PAGE, WORD, strlen(WORD));
	if (msync(map, 2 * PAGE, MS_SYNC) < 0)
		return report("msync");
	munmap(map, 2 * PAGE);
	if (pread(fd, back, strlen(WORD), PAGE) != (ssize_t)strlen(WORD))
		return report("read");
	close(fd);
	puts(strcmp(back, WORD) == 0 ? "ok" : "read differs");
	return 0;
}

static int probe_xattr(const char *file)
{
	char back[16] = "";
	int fd = open(file, O_WRONLY | O_CREAT, 0644);

	if (fd < 0)
		return report("create");
	close(fd);
	if (setxattr(file, "user.runv", "v1", 2, 0) < 0)
		return report("setxattr");
	if (getxattr(file, "user.runv", back, sizeof(back) - 1) != 2)
		return report("getxattr");
	puts(strcmp(back, "v1") == 0 ? "ok" : "getxattr differs");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "mmap") == 0)
		return probe_mmap(argv[2]);
	if (argc == 3 && strcmp(argv[1], "xattr") == 0)
		return probe_xattr(argv[2]);
	fprintf(stderr, "usage: posix-probe mmap|xattr FILE\n");
	return 2;
}
