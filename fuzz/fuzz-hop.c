/*
 * fuzz-hop.c - hop_open() and downlink_open() for a fixed session and room key.
 *
 * The input is a list of operations. Each delivers one datagram to the receiving
 * side, either raw bytes from the input or a genuine datagram sealed with the fixed
 * keys at a counter the input picks (far back, near the top of the window, or any
 * 64-bit value), possibly with one byte changed in flight. A model of the replay
 * window (every accepted counter, and the highest) says what must happen: a
 * genuine, unchanged datagram opens exactly when its counter is new and no more
 * than REPLAY_WINDOW_BITS - 1 below the highest accepted; it then yields the
 * plaintext that was sealed; a changed one never opens. Raw bytes go to a second
 * copy of the session and key (a seed may well hold a genuine datagram), so that
 * they cannot move the window the model follows.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "common.h"
#include "hop.h"
#include "noise.h"
#include "wire.h"

#define SESSION_INDEX 0x12345678u
#define DOWNLINK_INDEX 0x87654321u
#define MAX_OPS 256

static const uint8_t hop_key[WIRE_KEY_LEN] = {
	0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x10, 0x32, 0x54,
	0x76, 0x98, 0xba, 0xdc, 0xfe, 0x02, 0x13, 0x24, 0x35, 0x46, 0x57,
	0x68, 0x79, 0x8a, 0x9b, 0xac, 0xbd, 0xce, 0xdf, 0xe0, 0xf1,
};
static const uint8_t room_key[WIRE_KEY_LEN] = {
	0xf1, 0xe0, 0xdf, 0xce, 0xbd, 0xac, 0x9b, 0x8a, 0x79, 0x68, 0x57,
	0x46, 0x35, 0x24, 0x13, 0x02, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54,
	0x32, 0x10, 0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01,
};

/* What the receiver must have accepted so far, for one window. */
struct window_model {
	uint64_t accepted[MAX_OPS];
	size_t count;
	uint64_t highest;
};

static bool model_would_accept(const struct window_model *m, uint64_t counter)
{
	if (counter == UINT64_MAX)
		return false;
	for (size_t i = 0; i < m->count; i++) {
		if (m->accepted[i] == counter)
			return false;
	}
	return m->count == 0 || counter > m->highest ||
	       m->highest - counter < REPLAY_WINDOW_BITS;
}

static void model_accept(struct window_model *m, uint64_t counter)
{
	FUZZ_ASSERT(m->count < MAX_OPS);
	m->accepted[m->count++] = counter;
	if (m->count == 1 || counter > m->highest)
		m->highest = counter;
}

/* A counter chosen by the input: small, around the window's top, or anything. */
static uint64_t pick_counter(struct fuzz_reader *r, const struct window_model *m)
{
	uint8_t how = fuzz_u8(r);
	uint64_t v = 0;

	switch (how % 3) {
	case 0:
		return fuzz_u16(r);
	case 1:
		return m->highest + (uint64_t)(int64_t)(int16_t)fuzz_u16(r);
	default:
		for (int i = 0; i < 8; i++)
			v = v << 8 | fuzz_u8(r);
		return v;
	}
}

/* Changes one byte of buf (len > 0) when the input asks; returns whether it did. */
static bool maybe_tamper(struct fuzz_reader *r, uint8_t *buf, size_t len)
{
	uint8_t flag = fuzz_u8(r);
	uint16_t at = fuzz_u16(r);
	uint8_t x = fuzz_u8(r);

	if ((flag & 3) != 0 || x == 0)
		return false;
	buf[at % len] ^= x;
	return true;
}

static void op_transport(struct fuzz_reader *r, struct hop_session *s, struct window_model *m)
{
	uint8_t dgram[WIRE_MAX_DATAGRAM], pt[WIRE_MAX_DATAGRAM], msg[WIRE_MAX_INNER];
	const uint8_t *p;
	struct wire_datagram d;
	uint64_t counter = pick_counter(r, m);
	size_t msg_len = fuzz_take(r, fuzz_u8(r), &p), pt_len = 0, len;
	bool tampered, expect;
	int ret;

	memcpy(msg, p, msg_len);
	wire_write_transport_header(dgram, SESSION_INDEX, counter);
	noise_encrypt(hop_key, counter, dgram, WIRE_TRANSPORT_HEADER_LEN, msg, msg_len,
		      dgram + WIRE_TRANSPORT_HEADER_LEN);
	len = WIRE_TRANSPORT_HEADER_LEN + msg_len + WIRE_TAG_LEN;
	tampered = maybe_tamper(r, dgram, len);
	expect = !tampered && model_would_accept(m, counter);
	ret = wire_parse(dgram, len, &d);
	FUZZ_ASSERT(ret == 0 || tampered);
	if (ret == 0)
		ret = hop_open(s, &d, pt, sizeof(pt), &pt_len);
	if (expect) {
		FUZZ_ASSERT(ret == 0);
		FUZZ_ASSERT(pt_len == msg_len && memcmp(pt, msg, msg_len) == 0);
		model_accept(m, counter);
	} else {
		FUZZ_ASSERT(ret < 0);
		FUZZ_ASSERT(tampered || ret == -EALREADY);
	}
}

static void op_downlink(struct fuzz_reader *r, struct downlink_key *k, struct window_model *m)
{
	uint8_t dgram[WIRE_MAX_DATAGRAM], body[WIRE_MAX_DATAGRAM], frame[WIRE_MAX_DATAGRAM];
	const uint8_t *p;
	struct wire_datagram d;
	uint64_t counter = pick_counter(r, m);
	uint32_t source = fuzz_u16(r), got_source = 0;
	size_t frame_len = fuzz_take(r, fuzz_u8(r), &p), got_len = 0, len;
	bool tampered, expect;
	int ret;

	body[0] = (uint8_t)source;
	body[1] = (uint8_t)(source >> 8);
	body[2] = 0;
	body[3] = 0;
	memcpy(body + 4, p, frame_len);
	wire_write_downlink_header(dgram, DOWNLINK_INDEX, counter);
	noise_encrypt(room_key, counter, dgram, WIRE_DOWNLINK_HEADER_LEN, body, 4 + frame_len,
		      dgram + WIRE_DOWNLINK_HEADER_LEN);
	len = WIRE_DOWNLINK_HEADER_LEN + 4 + frame_len + WIRE_TAG_LEN;
	tampered = maybe_tamper(r, dgram, len);
	expect = !tampered && model_would_accept(m, counter);
	ret = wire_parse(dgram, len, &d);
	FUZZ_ASSERT(ret == 0 || tampered);
	if (ret == 0)
		ret = downlink_open(k, &d, &got_source, frame, sizeof(frame), &got_len);
	if (expect) {
		FUZZ_ASSERT(ret == 0 && got_source == source);
		FUZZ_ASSERT(got_len == frame_len && memcmp(frame, p, frame_len) == 0);
		model_accept(m, counter);
	} else {
		FUZZ_ASSERT(ret < 0);
		FUZZ_ASSERT(tampered || ret == -EALREADY);
	}
}

static void op_raw(struct fuzz_reader *r, struct hop_session *s, struct downlink_key *k)
{
	uint8_t out[WIRE_MAX_DATAGRAM];
	const uint8_t *p;
	struct wire_datagram d;
	size_t len = fuzz_take(r, fuzz_u16(r) % (WIRE_MAX_DATAGRAM + 2), &p), out_len = 0;
	uint8_t *copy = malloc(len ? len : 1);
	uint32_t source;
	int ret;

	/* An exact-size copy, so that ASan sees any read past the datagram. */
	memcpy(copy, p, len);
	if (wire_parse(copy, len, &d) == 0) {
		ret = hop_open(s, &d, out, sizeof(out), &out_len);
		FUZZ_ASSERT(ret == 0 || ret == -EINVAL || ret == -EBADMSG || ret == -EALREADY);
		FUZZ_ASSERT(ret != 0 || out_len == len - WIRE_TRANSPORT_HEADER_LEN - WIRE_TAG_LEN);
		ret = downlink_open(k, &d, &source, out, sizeof(out), &out_len);
		FUZZ_ASSERT(ret == 0 || ret == -EINVAL || ret == -EBADMSG || ret == -EALREADY);
	}
	free(copy);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	if (sodium_init() < 0)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_reader r = {data, size, 0};
	struct hop_session s, raw_s;
	struct downlink_key k, raw_k;
	static struct window_model hop_model, downlink_model;

	memset(&s, 0, sizeof(s));
	s.local_index = SESSION_INDEX;
	s.remote_index = 1;
	memcpy(s.recv_key, hop_key, sizeof(hop_key));
	replay_init(&s.replay);
	memset(&k, 0, sizeof(k));
	k.key_index = DOWNLINK_INDEX;
	memcpy(k.key, room_key, sizeof(room_key));
	replay_init(&k.replay);
	memset(&hop_model, 0, sizeof(hop_model));
	memset(&downlink_model, 0, sizeof(downlink_model));
	raw_s = s;
	raw_k = k;

	for (int ops = 0; ops < MAX_OPS && r.pos < r.size; ops++) {
		switch (fuzz_u8(&r) % 3) {
		case 0:
			op_transport(&r, &s, &hop_model);
			break;
		case 1:
			op_downlink(&r, &k, &downlink_model);
			break;
		default:
			op_raw(&r, &raw_s, &raw_k);
			break;
		}
	}
	return 0;
}
