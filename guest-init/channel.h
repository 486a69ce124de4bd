/*
 * The byte stream to the host: a virtio-serial port (PID-1 mode) or a unix socket
 * (--connect). Reads go through a frame_reader; writes are queued in a fixed buffer and
 * flushed when the fd is writable, so a slow host throttles us instead of blocking us.
 */
#ifndef GUEST_INIT_CHANNEL_H
#define GUEST_INIT_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec.h"

#define CHANNEL_OUT_SIZE (256u * 1024u)
/* Largest STDOUT/STDERR event: header, two ids of at most 255 bytes, one data chunk. */
#define CHANNEL_MAX_OUTPUT_EVENT (RUNV_HEADER_SIZE + 3 * RUNV_ATTR_HEADER_SIZE + 2 * 255 + \
				  RUNV_MAX_DATA_CHUNK)
/* Room kept for EXIT events and errors, none of which is larger. */
#define CHANNEL_MAX_SMALL_FRAME 2048u
/* A request is read only when this much is free: a LIST_PROCESSES OK may fill a whole frame. */
#define CHANNEL_REQUEST_ROOM (RUNV_HEADER_SIZE + RUNV_MAX_PAYLOAD)

struct channel {
	int fd;
	struct frame_reader reader;
	uint8_t out[CHANNEL_OUT_SIZE];
	size_t out_head;
	size_t out_len;
};

void channel_init(struct channel *ch, int fd);
/* Connects to a listening unix socket; returns the fd or -1. */
int channel_connect_unix(const char *path);
/* Reads once into the frame reader. 1: data, 0: end of stream, -1: error (EAGAIN incl.). */
int channel_fill(struct channel *ch);
/* Writes queued bytes without blocking; -1 on a hard error. */
int channel_flush(struct channel *ch);
/* Blocks (with a timeout) until queued bytes are written; used before exiting. */
int channel_drain(struct channel *ch, int timeout_ms);
size_t channel_out_free(const struct channel *ch);
bool channel_has_pending_output(const struct channel *ch);

/* Starts a frame in the queue; finish it with channel_send(). */
void channel_frame(struct channel *ch, struct frame_writer *w, uint16_t type, uint32_t id);
int channel_send(struct channel *ch, struct frame_writer *w);

#endif
