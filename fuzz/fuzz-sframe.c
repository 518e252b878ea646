/*
 * fuzz-sframe.c - sframe_header_decode() and sframe_unprotect() with a fixed keyring.
 *
 * First the whole input is decoded as a header: what decodes must be the minimal
 * encoding, so sframe_header_encode() writes the same bytes back. Then the input is
 * a list of operations against a keyring holding a few KIDs whose headers have every
 * length class: raw frames (with raw metadata), and genuine frames protected by
 * sframe_protect() at a counter the input picks, possibly changed in flight (frame or
 * metadata). A model of each KID's replay window (RFC 9605: every accepted CTR and
 * the highest) says what must happen: a genuine, unchanged frame opens exactly when
 * its CTR is new and less than SFRAME_REPLAY_WINDOW below the highest accepted, and
 * gives back its plaintext; a changed one never opens.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "common.h"
#include "sframe.h"

#define MAX_OPS 128
#define FRAME_MAX 512

static const uint64_t kids[] = {
	0, 7, 8, 0x1234, 0x0100000000ull, UINT64_C(0x8000000000000005), UINT64_MAX,
};
#define KID_COUNT (sizeof(kids) / sizeof(kids[0]))
/* The last KID uses the AES-GCM suite, which may not run on this CPU (-ENOTSUP). */
#define AES_KID (KID_COUNT - 1)

struct window_model {
	uint64_t accepted[MAX_OPS];
	size_t count;
	uint64_t highest;
};

static struct sframe_keyring ring, raw_ring;
static struct window_model models[KID_COUNT];
static bool aes_runs;

static void base_key_for(uint8_t key[32], size_t kid_index)
{
	memset(key, (int)(0x40 + kid_index), 32);
}

static uint16_t suite_for(size_t kid_index)
{
	return kid_index == AES_KID ? SFRAME_SUITE_AES_256_GCM_SHA512_128
				    : SFRAME_SUITE_CHACHA20_POLY1305_SHA512;
}

static bool model_would_accept(const struct window_model *m, uint64_t ctr)
{
	for (size_t i = 0; i < m->count; i++) {
		if (m->accepted[i] == ctr)
			return false;
	}
	return m->count == 0 || ctr > m->highest || m->highest - ctr < SFRAME_REPLAY_WINDOW;
}

static void model_accept(struct window_model *m, uint64_t ctr)
{
	FUZZ_ASSERT(m->count < MAX_OPS);
	m->accepted[m->count++] = ctr;
	if (m->count == 1 || ctr > m->highest)
		m->highest = ctr;
}

static uint64_t pick_counter(struct fuzz_reader *r, const struct window_model *m)
{
	uint64_t v = 0;

	switch (fuzz_u8(r) % 3) {
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

static void check_header_roundtrip(const uint8_t *data, size_t size)
{
	struct sframe_header hdr;
	uint8_t out[SFRAME_HEADER_MAX];
	int len = sframe_header_decode(&hdr, data, size);

	if (len < 0) {
		FUZZ_ASSERT(len == -EINVAL);
		return;
	}
	FUZZ_ASSERT(len >= 1 && len <= SFRAME_HEADER_MAX && (size_t)len <= size);
	FUZZ_ASSERT(sframe_header_len(hdr.kid, hdr.ctr) == (size_t)len);
	FUZZ_ASSERT(sframe_header_encode(out, sizeof(out), &hdr) == len);
	FUZZ_ASSERT(memcmp(out, data, (size_t)len) == 0);
}

static void op_genuine(struct fuzz_reader *r)
{
	size_t k = fuzz_u8(r) % KID_COUNT;
	struct window_model *m = &models[k];
	uint64_t ctr = pick_counter(r, m);
	uint8_t base[32], frame[FRAME_MAX + SFRAME_OVERHEAD_MAX], out[FRAME_MAX];
	uint8_t meta[SFRAME_METADATA_MAX + 8];
	struct sframe_sender sender;
	struct sframe_header hdr;
	const uint8_t *pt, *p;
	size_t meta_len = fuzz_take(r, fuzz_u8(r) % (SFRAME_METADATA_MAX + 8), &p);
	size_t pt_len, frame_len = 0, got_len = 0;
	uint8_t tamper = fuzz_u8(r), at = fuzz_u8(r), x = fuzz_u8(r);
	bool tampered = false, expect;
	int ret;

	memcpy(meta, p, meta_len);
	pt_len = fuzz_take(r, fuzz_u16(r) % FRAME_MAX, &pt);
	base_key_for(base, k);
	FUZZ_ASSERT(sframe_sender_init(&sender, suite_for(k), kids[k], base, sizeof(base)) == 0);
	FUZZ_ASSERT(sframe_sender_set_counter(&sender, ctr) == 0);
	ret = sframe_protect(&sender, meta, meta_len, pt, pt_len, frame, sizeof(frame),
			     &frame_len);
	sframe_sender_wipe(&sender);
	if (ret == -ERANGE || ret == -ENOTSUP || ret == -EMSGSIZE) {
		FUZZ_ASSERT(ret != -ERANGE || ctr == UINT64_MAX);
		FUZZ_ASSERT(ret != -ENOTSUP || (k == AES_KID && !aes_runs));
		FUZZ_ASSERT(ret != -EMSGSIZE || meta_len > SFRAME_METADATA_MAX);
		return;
	}
	FUZZ_ASSERT(ret == 0);
	FUZZ_ASSERT(frame_len == sframe_header_len(kids[k], ctr) + pt_len + SFRAME_TAG_LEN);
	if (x != 0 && (tamper & 3) == 0) {
		frame[at % frame_len] ^= x;
		tampered = true;
	} else if (x != 0 && (tamper & 3) == 1 && meta_len > 0) {
		meta[at % meta_len] ^= x;
		tampered = true;
	}
	expect = !tampered && model_would_accept(m, ctr);
	ret = sframe_unprotect(&ring, meta, meta_len, frame, frame_len, out, sizeof(out),
			       &got_len, &hdr);
	if (expect) {
		FUZZ_ASSERT(ret == 0);
		FUZZ_ASSERT(hdr.kid == kids[k] && hdr.ctr == ctr);
		FUZZ_ASSERT(got_len == pt_len && memcmp(out, pt, pt_len) == 0);
		model_accept(m, ctr);
	} else {
		FUZZ_ASSERT(ret < 0);
		FUZZ_ASSERT(tampered || ret == -EALREADY);
	}
}

static void op_raw(struct fuzz_reader *r)
{
	const uint8_t *p, *meta;
	size_t len = fuzz_take(r, fuzz_u16(r) % (FRAME_MAX + SFRAME_OVERHEAD_MAX), &p);
	size_t meta_len = fuzz_take(r, fuzz_u8(r), &meta), got_len = 0;
	uint8_t *frame = malloc(len ? len : 1), out[FRAME_MAX + SFRAME_OVERHEAD_MAX];
	struct sframe_header hdr, want;
	int ret, hlen;

	/* An exact-size copy, so that ASan sees any read past the frame. */
	memcpy(frame, p, len);
	/* A scratch keyring: a seed may hold a genuine frame, which must not move the model. */
	ret = sframe_unprotect(&raw_ring, meta, meta_len, frame, len, out, sizeof(out),
			       &got_len, &hdr);
	hlen = sframe_header_decode(&want, frame, len);
	if (hlen < 0 || len - (size_t)hlen < SFRAME_TAG_LEN) {
		FUZZ_ASSERT(ret == -EINVAL);
	} else {
		FUZZ_ASSERT(ret != -EINVAL);
		FUZZ_ASSERT(hdr.kid == want.kid && hdr.ctr == want.ctr);
		FUZZ_ASSERT((ret == -ENOKEY) == !sframe_keyring_has(&raw_ring, want.kid));
		FUZZ_ASSERT(ret != 0 || got_len == len - (size_t)hlen - SFRAME_TAG_LEN);
	}
	free(frame);
}

static void ring_reset(struct sframe_keyring *keyring)
{
	sframe_keyring_free(keyring);
	sframe_keyring_init(keyring);
	for (size_t k = 0; k < KID_COUNT; k++) {
		uint8_t base[32];

		base_key_for(base, k);
		FUZZ_ASSERT(sframe_keyring_add(keyring, suite_for(k), kids[k], base,
					       sizeof(base)) == 0);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	if (sodium_init() < 0)
		abort();
	aes_runs = sframe_suite_available(SFRAME_SUITE_AES_256_GCM_SHA512_128);
	sframe_keyring_init(&ring);
	sframe_keyring_init(&raw_ring);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_reader r = {data, size, 0};

	check_header_roundtrip(data, size);
	ring_reset(&ring);
	ring_reset(&raw_ring);
	memset(models, 0, sizeof(models));
	for (int ops = 0; ops < MAX_OPS && r.pos < r.size; ops++) {
		if (fuzz_u8(&r) & 1)
			op_genuine(&r);
		else
			op_raw(&r);
	}
	return 0;
}
