/* Encoding and decoding of protocol frames (see protocol.h); no I/O here. */
#ifndef GUEST_INIT_CODEC_H
#define GUEST_INIT_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol.h"

struct frame {
	uint16_t type;
	uint32_t id;
	const uint8_t *payload;
	uint32_t len;
};

struct attr {
	uint16_t tag;
	uint16_t len;
	const uint8_t *value;
};

/* Walks a sequence of attributes; the cursor starts at the payload. */
struct attr_iter {
	const uint8_t *cur;
	const uint8_t *end;
};

void attr_iter_init(struct attr_iter *it, const uint8_t *p, size_t len);
/* 1: *out holds the next attribute; 0: end; -1: an attribute overruns the sequence. */
int attr_next(struct attr_iter *it, struct attr *out);
/* 0 if every attribute fits, known u32/u64 tags have their size and nesting is shallow. */
int attrs_validate(const uint8_t *p, size_t len, unsigned depth);
bool attr_find(const uint8_t *p, size_t len, uint16_t tag, struct attr *out);
uint32_t attr_u32(const struct attr *a);
uint64_t attr_u64(const struct attr *a);

/* Builds one frame in caller memory; overflow is sticky and checked once at the end. */
struct frame_writer {
	uint8_t *buf;
	size_t cap;
	size_t len;
	size_t nested_at; /* offset of the open nested attribute header, 0 if none */
	bool overflow;
};

void fw_begin(struct frame_writer *w, uint8_t *buf, size_t cap, uint16_t type, uint32_t id);
void fw_bytes(struct frame_writer *w, uint16_t tag, const void *value, size_t len);
void fw_str(struct frame_writer *w, uint16_t tag, const char *s);
void fw_u32(struct frame_writer *w, uint16_t tag, uint32_t v);
void fw_nested_begin(struct frame_writer *w, uint16_t tag);
void fw_nested_end(struct frame_writer *w);
/* Returns the frame size, or 0 if it did not fit. */
size_t fw_end(struct frame_writer *w);

/* Splits a byte stream into frames with a buffer of fixed size. */
struct frame_reader {
	uint8_t buf[RUNV_HEADER_SIZE + RUNV_MAX_PAYLOAD];
	size_t head; /* first unconsumed byte */
	size_t len;  /* bytes held */
	uint64_t discard; /* payload bytes of a rejected frame still to drop */
	bool resyncing;   /* bad magic already reported, scanning for "RUNV" */
};

enum reader_result { READER_NEED_MORE, READER_FRAME, READER_BAD_FRAME };

struct bad_frame {
	uint16_t type; /* 0 when the header could not be read */
	uint32_t id;
	int code;
};

void reader_reset(struct frame_reader *r);
/* Free space for the next read(), after compacting consumed bytes away. */
uint8_t *reader_space(struct frame_reader *r, size_t *avail);
void reader_commit(struct frame_reader *r, size_t n);
/* The frame payload stays valid until the next reader_space(). */
enum reader_result reader_next(struct frame_reader *r, struct frame *f, struct bad_frame *bad);

#endif
