#include "codec.h"

#include <errno.h>
#include <string.h>

static uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

void attr_iter_init(struct attr_iter *it, const uint8_t *p, size_t len)
{
	it->cur = p;
	it->end = p + len;
}

int attr_next(struct attr_iter *it, struct attr *out)
{
	size_t left = (size_t)(it->end - it->cur);

	if (left == 0)
		return 0;
	if (left < RUNV_ATTR_HEADER_SIZE)
		return -1;
	out->tag = get_be16(it->cur);
	out->len = get_be16(it->cur + 2);
	if (out->len > left - RUNV_ATTR_HEADER_SIZE)
		return -1;
	out->value = it->cur + RUNV_ATTR_HEADER_SIZE;
	it->cur = out->value + out->len;
	return 1;
}

static size_t fixed_size_of(uint16_t tag)
{
	switch (tag) {
	case RUNV_A_RLIMIT_SOFT:
	case RUNV_A_RLIMIT_HARD:
		return 8;
	case RUNV_A_VERSION: case RUNV_A_CODE: case RUNV_A_PID: case RUNV_A_EXIT_STATUS:
	case RUNV_A_SIGNAL: case RUNV_A_UID: case RUNV_A_GID: case RUNV_A_ADDITIONAL_GID:
	case RUNV_A_NO_NEW_PRIVS: case RUNV_A_TERMINAL: case RUNV_A_ROWS: case RUNV_A_COLS:
	case RUNV_A_UMASK: case RUNV_A_READONLY: case RUNV_A_INIT: case RUNV_A_STREAM:
	case RUNV_A_PPID: case RUNV_A_TRUNCATED: case RUNV_A_ALL: case RUNV_A_MTU:
	case RUNV_A_HOOK_TIMEOUT:
		return 4;
	default:
		return 0;
	}
}

static bool is_nested(uint16_t tag)
{
	return tag == RUNV_A_MOUNT || tag == RUNV_A_RLIMIT || tag == RUNV_A_PROCESS ||
	       tag == RUNV_A_ROUTE || tag == RUNV_A_SHARE || tag == RUNV_A_HOOK ||
	       tag == RUNV_A_CGROUP_FILE;
}

int attrs_validate(const uint8_t *p, size_t len, unsigned depth)
{
	struct attr_iter it;
	struct attr a;
	int rc;

	if (depth > RUNV_MAX_NESTING)
		return -1;
	attr_iter_init(&it, p, len);
	while ((rc = attr_next(&it, &a)) > 0) {
		size_t want = fixed_size_of(a.tag);

		if (want && a.len != want)
			return -1;
		if (is_nested(a.tag) && attrs_validate(a.value, a.len, depth + 1) < 0)
			return -1;
	}
	return rc;
}

bool attr_find(const uint8_t *p, size_t len, uint16_t tag, struct attr *out)
{
	struct attr_iter it;

	attr_iter_init(&it, p, len);
	while (attr_next(&it, out) > 0)
		if (out->tag == tag)
			return true;
	return false;
}

uint32_t attr_u32(const struct attr *a)
{
	return get_be32(a->value);
}

uint64_t attr_u64(const struct attr *a)
{
	return (uint64_t)get_be32(a->value) << 32 | get_be32(a->value + 4);
}

void fw_begin(struct frame_writer *w, uint8_t *buf, size_t cap, uint16_t type, uint32_t id)
{
	w->buf = buf;
	w->cap = cap;
	w->len = RUNV_HEADER_SIZE;
	w->nested_at = 0;
	w->overflow = cap < RUNV_HEADER_SIZE;
	if (w->overflow)
		return;
	put_be32(buf, RUNV_MAGIC);
	put_be16(buf + 4, type);
	put_be16(buf + 6, 0);
	put_be32(buf + 8, id);
}

static uint8_t *fw_reserve(struct frame_writer *w, size_t n)
{
	uint8_t *p;

	if (w->overflow || n > w->cap - w->len) {
		w->overflow = true;
		return NULL;
	}
	p = w->buf + w->len;
	w->len += n;
	return p;
}

void fw_bytes(struct frame_writer *w, uint16_t tag, const void *value, size_t len)
{
	uint8_t *p;

	if (len > UINT16_MAX) {
		w->overflow = true;
		return;
	}
	p = fw_reserve(w, RUNV_ATTR_HEADER_SIZE + len);
	if (!p)
		return;
	put_be16(p, tag);
	put_be16(p + 2, (uint16_t)len);
	if (len)
		memcpy(p + RUNV_ATTR_HEADER_SIZE, value, len);
}

void fw_str(struct frame_writer *w, uint16_t tag, const char *s)
{
	fw_bytes(w, tag, s, strlen(s));
}

void fw_u32(struct frame_writer *w, uint16_t tag, uint32_t v)
{
	uint8_t be[4];

	put_be32(be, v);
	fw_bytes(w, tag, be, sizeof(be));
}

void fw_nested_begin(struct frame_writer *w, uint16_t tag)
{
	uint8_t *p = fw_reserve(w, RUNV_ATTR_HEADER_SIZE);

	if (!p)
		return;
	put_be16(p, tag);
	w->nested_at = (size_t)(p - w->buf);
}

void fw_nested_end(struct frame_writer *w)
{
	size_t inner;

	if (w->overflow || !w->nested_at)
		return;
	inner = w->len - w->nested_at - RUNV_ATTR_HEADER_SIZE;
	if (inner > UINT16_MAX) {
		w->overflow = true;
		return;
	}
	put_be16(w->buf + w->nested_at + 2, (uint16_t)inner);
	w->nested_at = 0;
}

size_t fw_end(struct frame_writer *w)
{
	size_t payload = w->len - RUNV_HEADER_SIZE;

	if (w->overflow || payload > RUNV_MAX_PAYLOAD)
		return 0;
	put_be32(w->buf + 12, (uint32_t)payload);
	return w->len;
}

void reader_reset(struct frame_reader *r)
{
	r->head = 0;
	r->len = 0;
	r->discard = 0;
	r->resyncing = false;
}

uint8_t *reader_space(struct frame_reader *r, size_t *avail)
{
	if (r->head) {
		memmove(r->buf, r->buf + r->head, r->len - r->head);
		r->len -= r->head;
		r->head = 0;
	}
	*avail = sizeof(r->buf) - r->len;
	return r->buf + r->len;
}

void reader_commit(struct frame_reader *r, size_t n)
{
	r->len += n;
}

static const uint8_t magic_bytes[4] = { 'R', 'U', 'N', 'V' };

/* Drops bytes up to the next "RUNV", keeping a tail that may be the start of one. */
static bool resync(struct frame_reader *r)
{
	size_t i;

	for (i = r->head + 1; i + sizeof(magic_bytes) <= r->len; i++) {
		if (memcmp(r->buf + i, magic_bytes, sizeof(magic_bytes)) == 0) {
			r->head = i;
			return true;
		}
	}
	r->head = i;
	return false;
}

static enum reader_result reject(struct frame_reader *r, const uint8_t *hdr, uint32_t payload_len,
				 int code, struct bad_frame *bad)
{
	bad->type = get_be16(hdr + 4);
	bad->id = get_be32(hdr + 8);
	bad->code = code;
	r->head += RUNV_HEADER_SIZE;
	r->discard = payload_len;
	return READER_BAD_FRAME;
}

enum reader_result reader_next(struct frame_reader *r, struct frame *f, struct bad_frame *bad)
{
	const uint8_t *hdr;
	uint32_t payload_len;

	if (r->discard) {
		size_t drop = r->len - r->head < r->discard ? r->len - r->head : r->discard;

		r->head += drop;
		r->discard -= drop;
		if (r->discard)
			return READER_NEED_MORE;
	}
	for (;;) {
		if (r->len - r->head < sizeof(magic_bytes))
			return READER_NEED_MORE;
		if (memcmp(r->buf + r->head, magic_bytes, sizeof(magic_bytes)) == 0)
			break;
		if (!r->resyncing) {
			r->resyncing = true;
			*bad = (struct bad_frame){ .type = 0, .id = 0, .code = EBADMSG };
			return READER_BAD_FRAME;
		}
		if (!resync(r))
			return READER_NEED_MORE;
	}
	r->resyncing = false;
	if (r->len - r->head < RUNV_HEADER_SIZE)
		return READER_NEED_MORE;
	hdr = r->buf + r->head;
	payload_len = get_be32(hdr + 12);
	if (payload_len > RUNV_MAX_PAYLOAD)
		return reject(r, hdr, payload_len, EMSGSIZE, bad);
	if (get_be16(hdr + 6) != 0)
		return reject(r, hdr, payload_len, EBADMSG, bad);
	if (r->len - r->head < RUNV_HEADER_SIZE + payload_len)
		return READER_NEED_MORE;
	f->type = get_be16(hdr + 4);
	f->id = get_be32(hdr + 8);
	f->payload = hdr + RUNV_HEADER_SIZE;
	f->len = payload_len;
	r->head += RUNV_HEADER_SIZE + payload_len;
	return READER_FRAME;
}
