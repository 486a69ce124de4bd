/* Log lines go to stderr, which is /dev/console when guest-init is PID 1. */
#ifndef GUEST_INIT_LOG_H
#define GUEST_INIT_LOG_H

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define LOG_INFO(fmt, ...) \
	fprintf(stderr, "guest-init: %s: " fmt "\n", __func__, ##__VA_ARGS__)
#define LOG_ERROR(fmt, ...) \
	fprintf(stderr, "guest-init: %s: error: " fmt "\n", __func__, ##__VA_ARGS__)
/* Appends strerror(errno); errno is preserved for the caller. */
#define LOG_ERRNO(fmt, ...)                                                          \
	do {                                                                         \
		int log_saved_errno_ = errno;                                        \
		fprintf(stderr, "guest-init: %s: error: " fmt ": %s\n", __func__,    \
			##__VA_ARGS__, strerror(log_saved_errno_));                  \
		errno = log_saved_errno_;                                            \
	} while (0)

#endif
