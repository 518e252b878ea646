/*
 * test-sframe.c - SFrame (RFC 9605): every header vector, the suite-5 encryption
 * vector, salon's ChaCha20-Poly1305 suite, and every error path of protect and
 * unprotect (unknown KID, altered or truncated frames, replay, counter exhaustion).
 *
 * Vectors come from $SALON_VECTORS/sframe/test-vectors.json; the test fails when the
 * file is missing, and fails (never skips) when this CPU cannot run AES-256-GCM.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>

#include "encoding.h"
#include "sframe.h"
#include "util.h"

#define CHACHA SFRAME_SUITE_CHACHA20_POLY1305_SHA512
#define AESGCM SFRAME_SUITE_AES_256_GCM_SHA512_128

static json_t *vectors;

static const uint8_t base_a[16] = "salon base key A";
static const uint8_t base_b[16] = "salon base key B";

/*
 * jansson cannot hold integers above INT64_MAX, and the header vectors go up to
 * 2^64 - 1, so every bare number outside strings is turned into a string first and
 * parsed with strtoull in vector_uint. The file holds no fractions or exponents.
 */
static char *quote_numbers(const char *text, size_t len)
{
	char *out = malloc(2 * len + 1);
	size_t o = 0;
	bool in_string = false, in_number = false;

	assert_non_null(out);
	for (size_t i = 0; i < len; i++) {
		char c = text[i];

		if (in_string) {
			if (c == '\\' && i + 1 < len) {
				out[o++] = c;
				c = text[++i];
			} else if (c == '"') {
				in_string = false;
			}
		} else if (c == '"') {
			in_string = true;
		} else if (c >= '0' && c <= '9' && !in_number) {
			in_number = true;
			out[o++] = '"';
		} else if ((c < '0' || c > '9') && in_number) {
			in_number = false;
			out[o++] = '"';
		}
		out[o++] = c;
	}
	if (in_number)
		out[o++] = '"';
	out[o] = '\0';
	return out;
}

static json_t *load_vectors(void)
{
	const char *dir = getenv("SALON_VECTORS");
	char path[4096], *text, *quoted;
	json_error_t error;
	json_t *root;
	FILE *f;
	long size;

	if (dir == NULL || *dir == '\0') {
		fprintf(stderr, "FAIL: SALON_VECTORS is not set; point it at the "
				"shared vectors directory\n");
		return NULL;
	}
	snprintf(path, sizeof(path), "%s/sframe/test-vectors.json", dir);
	f = fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "FAIL: cannot open %s: %s\n", path, strerror(errno));
		return NULL;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET) != 0) {
		fprintf(stderr, "FAIL: cannot read %s\n", path);
		fclose(f);
		return NULL;
	}
	text = malloc((size_t)size);
	if (text == NULL || fread(text, 1, (size_t)size, f) != (size_t)size) {
		fprintf(stderr, "FAIL: cannot read %s\n", path);
		free(text);
		fclose(f);
		return NULL;
	}
	fclose(f);
	quoted = quote_numbers(text, (size_t)size);
	root = json_loads(quoted, 0, &error);
	if (root == NULL)
		fprintf(stderr, "FAIL: cannot parse %s: %s (line %d)\n", path, error.text,
			error.line);
	free(text);
	free(quoted);
	return root;
}

/* Decodes the hex string member name of obj into a new buffer of *len bytes. */
static uint8_t *vector_hex(json_t *obj, const char *name, size_t *len)
{
	const char *text = json_string_value(json_object_get(obj, name));
	uint8_t *bin;

	if (text == NULL)
		fail_msg("vector has no string member %s", name);
	*len = strlen(text) / 2;
	bin = malloc(*len + 1);
	assert_non_null(bin);
	assert_int_equal(hex_decode(bin, *len, text), 0);
	return bin;
}

static uint64_t vector_uint(json_t *obj, const char *name)
{
	const char *text = json_string_value(json_object_get(obj, name));
	unsigned long long v;
	char *end;

	if (text == NULL || *text < '0' || *text > '9')
		fail_msg("vector has no integer member %s", name);
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno != 0 || *end != '\0')
		fail_msg("vector member %s is not a 64-bit integer: %s", name, text);
	return (uint64_t)v;
}

/* Every header case: exact minimal encoding, exact decoding, truncation refused. */
static void test_header_vectors(void **state)
{
	json_t *cases = json_object_get(vectors, "header");
	size_t index, count = 0;
	json_t *c;

	(void)state;
	assert_true(json_is_array(cases));
	json_array_foreach(cases, index, c) {
		struct sframe_header hdr = {vector_uint(c, "kid"), vector_uint(c, "ctr")};
		struct sframe_header back = {0, 0};
		uint8_t out[SFRAME_HEADER_MAX];
		size_t want_len;
		uint8_t *want = vector_hex(c, "encoded", &want_len);
		int n = sframe_header_encode(out, sizeof(out), &hdr);

		if (n != (int)want_len || memcmp(out, want, want_len) != 0)
			fail_msg("header case %zu (kid %llu, ctr %llu) encodes wrongly", index,
				 (unsigned long long)hdr.kid, (unsigned long long)hdr.ctr);
		assert_int_equal(sframe_header_len(hdr.kid, hdr.ctr), want_len);
		assert_int_equal(sframe_header_decode(&back, want, want_len), (int)want_len);
		assert_true(back.kid == hdr.kid && back.ctr == hdr.ctr);
		for (size_t cut = 0; cut < want_len; cut++)
			assert_int_equal(sframe_header_decode(&back, want, cut), -EINVAL);
		if (want_len > 1)
			assert_int_equal(sframe_header_encode(out, want_len - 1, &hdr),
					 -EMSGSIZE);
		free(want);
		count++;
	}
	assert_int_equal(count, 289);
}

/* Encodings the RFC forbids: extended fields that are not the shortest. */
static void test_header_non_minimal(void **state)
{
	struct sframe_header hdr;
	/* X=1 with a one-byte KID of 5: 5 belongs in the config byte. */
	static const uint8_t kid_small[] = {0x80, 0x05};
	/* Y=1 with a one-byte CTR of 7. */
	static const uint8_t ctr_small[] = {0x08, 0x07};
	/* Two-byte KID with a leading zero byte. */
	static const uint8_t kid_zero[] = {0x90, 0x00, 0x10};
	/* Two-byte CTR with a leading zero byte. */
	static const uint8_t ctr_zero[] = {0x09, 0x00, 0xff};
	/* Smallest legal extended values, for contrast. */
	static const uint8_t kid_ok[] = {0x80, 0x08};
	static const uint8_t both_ok[] = {0x99, 0x01, 0x00, 0x01, 0x00};
	/* The longest header: 8-byte KID and CTR. */
	uint8_t longest[SFRAME_HEADER_MAX];
	struct sframe_header max = {UINT64_MAX, UINT64_MAX};

	(void)state;
	assert_int_equal(sframe_header_decode(&hdr, kid_small, 0), -EINVAL);
	assert_int_equal(sframe_header_decode(&hdr, kid_small, 2), -EINVAL);
	assert_int_equal(sframe_header_decode(&hdr, ctr_small, 2), -EINVAL);
	assert_int_equal(sframe_header_decode(&hdr, kid_zero, 3), -EINVAL);
	assert_int_equal(sframe_header_decode(&hdr, ctr_zero, 3), -EINVAL);
	assert_int_equal(sframe_header_decode(&hdr, kid_ok, 2), 2);
	assert_true(hdr.kid == 8 && hdr.ctr == 0);
	assert_int_equal(sframe_header_decode(&hdr, both_ok, 5), 5);
	assert_true(hdr.kid == 256 && hdr.ctr == 256);

	assert_int_equal(sframe_header_encode(longest, sizeof(longest), &max),
			 SFRAME_HEADER_MAX);
	assert_int_equal(longest[0], 0xff);
	assert_int_equal(sframe_header_decode(&hdr, longest, sizeof(longest)),
			 SFRAME_HEADER_MAX);
	assert_true(hdr.kid == UINT64_MAX && hdr.ctr == UINT64_MAX);
}

static void test_kid_layout(void **state)
{
	uint64_t kid = sframe_kid_make(0x1234, 0xfe);

	(void)state;
	assert_true(kid == 0x1234fe);
	assert_true(sframe_kid_sender(kid) == 0x1234);
	assert_int_equal(sframe_kid_epoch(kid), 0xfe);
	assert_true(sframe_kid_make(3, 0) == 0x300);
	assert_true(sframe_kid_sender(sframe_kid_make((UINT64_C(1) << 56) - 1, 255)) ==
		    (UINT64_C(1) << 56) - 1);
}

/* Suite 5 of appendix C: key schedule, then the exact frame, then back. */
static void test_aes_gcm_vector(void **state)
{
	json_t *cases = json_object_get(vectors, "sframe");
	json_t *c, *found = NULL;
	size_t index;
	size_t base_len, key_len, salt_len, meta_len, nonce_len, aad_len, pt_len, ct_len;
	uint8_t *base, *want_key, *want_salt, *meta, *want_nonce, *want_aad, *pt, *ct;
	struct sframe_sender sender;
	struct sframe_keyring ring;
	struct sframe_header hdr;
	uint8_t frame[256], plain[256], nonce[SFRAME_NONCE_LEN], aad[64];
	size_t frame_len = 0, plain_len = 0;
	uint64_t kid, ctr;
	int hdr_len;

	(void)state;
	assert_true(json_is_array(cases));
	json_array_foreach(cases, index, c) {
		if (vector_uint(c, "cipher_suite") == AESGCM) {
			assert_null(found);
			found = c;
		}
	}
	if (found == NULL)
		fail_msg("no cipher_suite 5 case in the sframe vectors");
	kid = vector_uint(found, "kid");
	ctr = vector_uint(found, "ctr");
	base = vector_hex(found, "base_key", &base_len);
	want_key = vector_hex(found, "sframe_key", &key_len);
	want_salt = vector_hex(found, "sframe_salt", &salt_len);
	meta = vector_hex(found, "metadata", &meta_len);
	want_nonce = vector_hex(found, "nonce", &nonce_len);
	want_aad = vector_hex(found, "aad", &aad_len);
	pt = vector_hex(found, "pt", &pt_len);
	ct = vector_hex(found, "ct", &ct_len);

	/* The key schedule does not need AES-NI. */
	assert_int_equal(sframe_sender_init(&sender, AESGCM, kid, base, base_len), 0);
	assert_int_equal(key_len, SFRAME_KEY_LEN);
	assert_int_equal(salt_len, SFRAME_NONCE_LEN);
	assert_memory_equal(sender.key.key, want_key, key_len);
	assert_memory_equal(sender.key.salt, want_salt, salt_len);

	/* The nonce and AAD rules the implementation follows, against the vector. */
	assert_int_equal(nonce_len, SFRAME_NONCE_LEN);
	memcpy(nonce, want_salt, sizeof(nonce));
	for (int i = 0; i < 8; i++)
		nonce[SFRAME_NONCE_LEN - 1 - i] ^= (uint8_t)(ctr >> (8 * i));
	assert_memory_equal(nonce, want_nonce, nonce_len);
	hdr = (struct sframe_header){kid, ctr};
	hdr_len = sframe_header_encode(aad, sizeof(aad), &hdr);
	assert_true(hdr_len > 0 && (size_t)hdr_len + meta_len == aad_len);
	memcpy(aad + hdr_len, meta, meta_len);
	assert_memory_equal(aad, want_aad, aad_len);

	if (!sframe_suite_available(AESGCM)) {
		fail_msg("this CPU lacks AES-NI/CLMUL, so libsodium cannot run "
			 "AES_256_GCM_SHA512_128 and the RFC 9605 vector cannot be checked");
	}
	assert_int_equal(sframe_sender_set_counter(&sender, ctr), 0);
	assert_int_equal(sframe_protect(&sender, meta, meta_len, pt, pt_len, frame,
					sizeof(frame), &frame_len), 0);
	assert_int_equal(frame_len, ct_len);
	assert_memory_equal(frame, ct, ct_len);
	assert_true(sender.next_ctr == ctr + 1);

	sframe_keyring_init(&ring);
	assert_int_equal(sframe_keyring_add(&ring, AESGCM, kid, base, base_len), 0);
	assert_int_equal(sframe_unprotect(&ring, meta, meta_len, ct, ct_len, plain,
					  sizeof(plain), &plain_len, &hdr), 0);
	assert_int_equal(plain_len, pt_len);
	assert_memory_equal(plain, pt, pt_len);
	assert_true(hdr.kid == kid && hdr.ctr == ctr);
	/* Wrong metadata fails authentication. */
	meta[0] ^= 1;
	assert_int_equal(sframe_unprotect(&ring, meta, meta_len, ct, ct_len, plain,
					  sizeof(plain), &plain_len, NULL), -EBADMSG);

	sframe_keyring_free(&ring);
	sframe_sender_wipe(&sender);
	free(base);
	free(want_key);
	free(want_salt);
	free(meta);
	free(want_nonce);
	free(want_aad);
	free(pt);
	free(ct);
}

/* Salon's private suite: round trip, counters advance, keys depend on the suite. */
static void test_chacha_round_trip(void **state)
{
	struct sframe_sender sender, aes;
	struct sframe_keyring ring;
	struct sframe_header hdr;
	static const uint8_t meta[] = "room 7";
	uint8_t pt[160], frame[2][200], plain[200];
	size_t frame_len[2], plain_len = 0;
	uint64_t kid = sframe_kid_make(42, 3);

	(void)state;
	assert_true(sframe_suite_available(CHACHA));
	assert_false(sframe_suite_available(0x0006));
	randombytes_buf(pt, sizeof(pt));
	assert_int_equal(sframe_sender_init(&sender, CHACHA, kid, base_a, sizeof(base_a)), 0);
	assert_int_equal(sframe_sender_init(&aes, AESGCM, kid, base_a, sizeof(base_a)), 0);
	assert_memory_not_equal(sender.key.key, aes.key.key, SFRAME_KEY_LEN);
	assert_memory_not_equal(sender.key.salt, aes.key.salt, SFRAME_NONCE_LEN);

	for (int i = 0; i < 2; i++) {
		assert_int_equal(sframe_protect(&sender, meta, sizeof(meta), pt, sizeof(pt),
						frame[i], sizeof(frame[i]), &frame_len[i]), 0);
		assert_int_equal(frame_len[i], sframe_header_len(kid, (uint64_t)i) +
						       sizeof(pt) + SFRAME_TAG_LEN);
	}
	/* Same plaintext, different counters: different ciphertexts. */
	assert_memory_not_equal(frame[0] + 4, frame[1] + 4, sizeof(pt));

	sframe_keyring_init(&ring);
	assert_int_equal(sframe_keyring_add(&ring, CHACHA, kid, base_a, sizeof(base_a)), 0);
	for (int i = 1; i >= 0; i--) {
		assert_int_equal(sframe_unprotect(&ring, meta, sizeof(meta), frame[i],
						  frame_len[i], plain, sizeof(plain), &plain_len,
						  &hdr), 0);
		assert_int_equal(plain_len, sizeof(pt));
		assert_memory_equal(plain, pt, sizeof(pt));
		assert_true(hdr.kid == kid && hdr.ctr == (uint64_t)i);
	}
	/* An empty frame with no metadata works too. */
	assert_int_equal(sframe_protect(&sender, NULL, 0, NULL, 0, frame[0], sizeof(frame[0]),
					&frame_len[0]), 0);
	assert_int_equal(sframe_unprotect(&ring, NULL, 0, frame[0], frame_len[0], plain,
					  sizeof(plain), &plain_len, NULL), 0);
	assert_int_equal(plain_len, 0);

	sframe_keyring_free(&ring);
	sframe_sender_wipe(&sender);
	sframe_sender_wipe(&aes);
}

/*
 * Every single-bit flip anywhere in a frame is refused: in the ciphertext or tag
 * with -EBADMSG; in the header with -EBADMSG (same KID), -ENOKEY (another KID) or
 * -EINVAL (a length that no longer fits), never success. Every truncation is refused.
 */
static void test_tamper_and_truncate(void **state)
{
	static const uint16_t suites[] = {CHACHA, AESGCM};

	(void)state;
	for (size_t s = 0; s < ARRAY_SIZE(suites); s++) {
		struct sframe_sender sender;
		struct sframe_keyring ring;
		uint8_t pt[40], frame[100], plain[100];
		size_t frame_len = 0, plain_len = 0, hdr_len;
		uint64_t kid = sframe_kid_make(300, 1);

		if (!sframe_suite_available(suites[s]))
			fail_msg("suite 0x%04x unavailable: this CPU lacks AES-NI", suites[s]);
		memset(pt, 0x5a, sizeof(pt));
		assert_int_equal(sframe_sender_init(&sender, suites[s], kid, base_a,
						    sizeof(base_a)), 0);
		assert_int_equal(sframe_sender_set_counter(&sender, 70000), 0);
		assert_int_equal(sframe_protect(&sender, NULL, 0, pt, sizeof(pt), frame,
						sizeof(frame), &frame_len), 0);
		hdr_len = sframe_header_len(kid, 70000);
		sframe_keyring_init(&ring);
		assert_int_equal(sframe_keyring_add(&ring, suites[s], kid, base_a,
						    sizeof(base_a)), 0);

		for (size_t byte = 0; byte < frame_len; byte++) {
			for (int bit = 0; bit < 8; bit++) {
				int r;

				frame[byte] ^= (uint8_t)(1 << bit);
				r = sframe_unprotect(&ring, NULL, 0, frame, frame_len, plain,
						     sizeof(plain), &plain_len, NULL);
				frame[byte] ^= (uint8_t)(1 << bit);
				if (byte >= hdr_len)
					assert_int_equal(r, -EBADMSG);
				else if (r != -EBADMSG && r != -ENOKEY && r != -EINVAL)
					fail_msg("header bit flip gave %d", r);
			}
		}
		for (size_t cut = 0; cut < frame_len; cut++) {
			int r = sframe_unprotect(&ring, NULL, 0, frame, cut, plain,
						 sizeof(plain), &plain_len, NULL);

			if (cut < hdr_len + SFRAME_TAG_LEN)
				assert_int_equal(r, -EINVAL);
			else
				assert_int_equal(r, -EBADMSG);
		}
		/* Still intact after all that: the original opens once. */
		assert_int_equal(sframe_unprotect(&ring, NULL, 0, frame, frame_len, plain,
						  sizeof(plain), &plain_len, NULL), 0);
		assert_memory_equal(plain, pt, sizeof(pt));
		sframe_keyring_free(&ring);
		sframe_sender_wipe(&sender);
	}
}

/* Unknown KID, a key from another base key, and keyring bookkeeping. */
static void test_keyring(void **state)
{
	struct sframe_sender sender;
	struct sframe_keyring ring;
	struct sframe_header hdr = {0, 0};
	uint8_t pt[8] = "abcdefgh", frame[64], plain[64];
	size_t frame_len = 0, plain_len = 0;
	uint64_t kid = sframe_kid_make(200, 0);

	(void)state;
	sframe_keyring_init(&ring);
	assert_int_equal(sframe_sender_init(&sender, CHACHA, kid, base_a, sizeof(base_a)), 0);
	assert_int_equal(sframe_protect(&sender, NULL, 0, pt, sizeof(pt), frame, sizeof(frame),
					&frame_len), 0);
	/* Empty keyring: no key, and the KID is reported so the caller can ask. */
	assert_int_equal(sframe_unprotect(&ring, NULL, 0, frame, frame_len, plain,
					  sizeof(plain), &plain_len, &hdr), -ENOKEY);
	assert_true(hdr.kid == kid && hdr.ctr == 0);

	/* Many senders and epochs, added out of order. */
	for (uint64_t i = 0; i < 40; i++) {
		uint64_t k = sframe_kid_make((i * 7919) % 101, (uint8_t)(i % 3));

		assert_int_equal(sframe_keyring_add(&ring, CHACHA, k, base_b, sizeof(base_b)),
				 0);
		assert_int_equal(sframe_keyring_add(&ring, CHACHA, k, base_b, sizeof(base_b)),
				 -EEXIST);
	}
	assert_int_equal(ring.count, 40);
	for (size_t i = 1; i < ring.count; i++)
		assert_true(ring.keys[i - 1].key.kid < ring.keys[i].key.kid);
	assert_false(sframe_keyring_has(&ring, kid));

	/* The right KID but a key from another base key: authentication fails. */
	assert_int_equal(sframe_keyring_add(&ring, CHACHA, kid, base_b, sizeof(base_b)), 0);
	assert_int_equal(sframe_unprotect(&ring, NULL, 0, frame, frame_len, plain,
					  sizeof(plain), &plain_len, NULL), -EBADMSG);
	/* The right key under the wrong suite fails too. */
	assert_int_equal(sframe_keyring_remove(&ring, kid), 0);
	assert_int_equal(sframe_keyring_add(&ring, AESGCM, kid, base_a, sizeof(base_a)), 0);
	if (sframe_suite_available(AESGCM))
		assert_int_equal(sframe_unprotect(&ring, NULL, 0, frame, frame_len, plain,
						  sizeof(plain), &plain_len, NULL), -EBADMSG);
	assert_int_equal(sframe_keyring_remove(&ring, kid), 0);
	assert_int_equal(sframe_keyring_add(&ring, CHACHA, kid, base_a, sizeof(base_a)), 0);
	assert_true(sframe_keyring_has(&ring, kid));
	assert_int_equal(sframe_unprotect(&ring, NULL, 0, frame, frame_len, plain,
					  sizeof(plain), &plain_len, NULL), 0);
	assert_memory_equal(plain, pt, sizeof(pt));

	assert_int_equal(sframe_keyring_remove(&ring, kid), 0);
	assert_int_equal(sframe_keyring_remove(&ring, kid), -ENOKEY);
	assert_int_equal(ring.count, 40);
	assert_int_equal(sframe_unprotect(&ring, NULL, 0, frame, frame_len, plain,
					  sizeof(plain), &plain_len, NULL), -ENOKEY);

	/* Bad key parameters. */
	assert_int_equal(sframe_keyring_add(&ring, 0x0006, 1, base_a, sizeof(base_a)),
			 -ENOTSUP);
	assert_int_equal(sframe_keyring_add(&ring, CHACHA, 1, base_a, 0), -EINVAL);
	assert_int_equal(ring.count, 40);

	sframe_keyring_free(&ring);
	assert_int_equal(ring.count, 0);
	sframe_sender_wipe(&sender);
}

/* Protects frames with counters ctrs[] into frames[]. */
static void make_frames(uint64_t kid, const uint64_t *ctrs, size_t n, uint8_t frames[][64],
			size_t *lens)
{
	for (size_t i = 0; i < n; i++) {
		struct sframe_sender sender;
		uint8_t pt[4];

		put_u32be(pt, (uint32_t)ctrs[i]);
		/* A fresh sender per frame only so the test can make old counters. */
		assert_int_equal(sframe_sender_init(&sender, CHACHA, kid, base_a, sizeof(base_a)),
				 0);
		assert_int_equal(sframe_sender_set_counter(&sender, ctrs[i]), 0);
		assert_int_equal(sframe_protect(&sender, NULL, 0, pt, sizeof(pt), frames[i], 64,
						&lens[i]), 0);
		sframe_sender_wipe(&sender);
	}
}

static int open_frame(struct sframe_keyring *ring, const uint8_t *frame, size_t len)
{
	uint8_t plain[64];
	size_t plain_len = 0;

	return sframe_unprotect(ring, NULL, 0, frame, len, plain, sizeof(plain), &plain_len,
				NULL);
}

/* Replay, reordering within the window, the window's edge, and per-KID state. */
static void test_replay_window(void **state)
{
	enum { W = SFRAME_REPLAY_WINDOW };
	const uint64_t ctrs[] = {0, 1, 5, 3, W + 5, 6, 5, 3 + W, 4 + W, 2 * W + 200, 4 * W};
	uint8_t frames[ARRAY_SIZE(ctrs)][64], other[1][64], forged[64];
	size_t lens[ARRAY_SIZE(ctrs)], other_len[1];
	const uint64_t zero = 0;
	struct sframe_keyring ring;
	uint64_t kid = sframe_kid_make(1, 1), kid2 = sframe_kid_make(2, 1);

	(void)state;
	make_frames(kid, ctrs, ARRAY_SIZE(ctrs), frames, lens);
	make_frames(kid2, &zero, 1, other, other_len);
	sframe_keyring_init(&ring);
	assert_int_equal(sframe_keyring_add(&ring, CHACHA, kid, base_a, sizeof(base_a)), 0);
	assert_int_equal(sframe_keyring_add(&ring, CHACHA, kid2, base_a, sizeof(base_a)), 0);

	assert_int_equal(open_frame(&ring, frames[0], lens[0]), 0);	   /* 0 */
	assert_int_equal(open_frame(&ring, frames[0], lens[0]), -EALREADY); /* replay */
	assert_int_equal(open_frame(&ring, frames[2], lens[2]), 0);	   /* 5 */
	assert_int_equal(open_frame(&ring, frames[1], lens[1]), 0);	   /* 1, late */
	assert_int_equal(open_frame(&ring, frames[3], lens[3]), 0);	   /* 3, late */
	assert_int_equal(open_frame(&ring, frames[3], lens[3]), -EALREADY);
	/* Another KID keeps its own window: its counter 0 is fresh. */
	assert_int_equal(open_frame(&ring, other[0], other_len[0]), 0);
	assert_int_equal(open_frame(&ring, other[0], other_len[0]), -EALREADY);

	/*
	 * A forged frame with a far-ahead counter must not move the window: flip a tag
	 * bit of the 4W frame. Were the window moved, counter 6 would be too old.
	 */
	memcpy(forged, frames[10], lens[10]);
	forged[lens[10] - 1] ^= 0x80;
	assert_int_equal(open_frame(&ring, forged, lens[10]), -EBADMSG);
	assert_int_equal(open_frame(&ring, frames[5], lens[5]), 0); /* 6 */

	/* Jump to W + 5: 5 is now exactly W behind, so too old; 6 was seen. */
	assert_int_equal(open_frame(&ring, frames[4], lens[4]), 0);
	assert_int_equal(open_frame(&ring, frames[6], lens[6]), -EALREADY);
	assert_int_equal(open_frame(&ring, frames[5], lens[5]), -EALREADY);
	/* W + 3 and W + 4 are inside the window and fresh. */
	assert_int_equal(open_frame(&ring, frames[7], lens[7]), 0);
	assert_int_equal(open_frame(&ring, frames[8], lens[8]), 0);
	assert_int_equal(open_frame(&ring, frames[8], lens[8]), -EALREADY);
	/* A jump of more than a window clears everything older. */
	assert_int_equal(open_frame(&ring, frames[9], lens[9]), 0);
	assert_int_equal(open_frame(&ring, frames[7], lens[7]), -EALREADY);
	assert_int_equal(open_frame(&ring, frames[10], lens[10]), 0);
	assert_int_equal(open_frame(&ring, frames[9], lens[9]), -EALREADY);
	assert_int_equal(open_frame(&ring, frames[10], lens[10]), -EALREADY);

	sframe_keyring_free(&ring);
}

/* Every counter just inside the window opens once, in reverse order. */
static void test_replay_window_edge(void **state)
{
	enum { W = SFRAME_REPLAY_WINDOW };
	struct sframe_sender sender;
	struct sframe_keyring ring;
	static uint8_t frames[W + 1][40];
	static size_t lens[W + 1];
	uint8_t pt[1] = {0};
	uint64_t kid = 77;

	(void)state;
	assert_int_equal(sframe_sender_init(&sender, CHACHA, kid, base_b, sizeof(base_b)), 0);
	assert_int_equal(sframe_sender_set_counter(&sender, 100), 0);
	for (size_t i = 0; i <= W; i++)
		assert_int_equal(sframe_protect(&sender, NULL, 0, pt, sizeof(pt), frames[i],
						sizeof(frames[i]), &lens[i]), 0);
	sframe_keyring_init(&ring);
	assert_int_equal(sframe_keyring_add(&ring, CHACHA, kid, base_b, sizeof(base_b)), 0);
	/* Newest first (counter 100 + W), then every older one down to W - 1 behind. */
	for (size_t i = W + 1; i-- > 1;)
		assert_int_equal(open_frame(&ring, frames[i], lens[i]), 0);
	/* Counter 100 is exactly W behind: too old. */
	assert_int_equal(open_frame(&ring, frames[0], lens[0]), -EALREADY);
	for (size_t i = 1; i <= W; i++)
		assert_int_equal(open_frame(&ring, frames[i], lens[i]), -EALREADY);
	sframe_keyring_free(&ring);
	sframe_sender_wipe(&sender);
}

/* The counter never wraps and never moves backwards. */
static void test_counter_exhaustion(void **state)
{
	struct sframe_sender sender;
	struct sframe_keyring ring;
	struct sframe_header hdr;
	uint8_t pt[3] = {1, 2, 3}, frame[64], plain[64];
	size_t frame_len = 0, plain_len = 0;
	uint64_t kid = sframe_kid_make(5, 250);

	(void)state;
	assert_int_equal(sframe_sender_init(&sender, CHACHA, kid, base_a, sizeof(base_a)), 0);
	sframe_keyring_init(&ring);
	assert_int_equal(sframe_keyring_add(&ring, CHACHA, kid, base_a, sizeof(base_a)), 0);

	assert_int_equal(sframe_sender_set_counter(&sender, UINT64_MAX - 2), 0);
	assert_int_equal(sframe_sender_set_counter(&sender, 10), -EINVAL);
	assert_true(sender.next_ctr == UINT64_MAX - 2);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(sframe_protect(&sender, NULL, 0, pt, sizeof(pt), frame,
						sizeof(frame), &frame_len), 0);
		assert_int_equal(sframe_unprotect(&ring, NULL, 0, frame, frame_len, plain,
						  sizeof(plain), &plain_len, &hdr), 0);
		assert_true(hdr.ctr == UINT64_MAX - 2 + (uint64_t)i);
	}
	/* The next counter would be UINT64_MAX, the limit: refused, and it stays put. */
	assert_int_equal(sframe_protect(&sender, NULL, 0, pt, sizeof(pt), frame, sizeof(frame),
					&frame_len), -ERANGE);
	assert_int_equal(sframe_protect(&sender, NULL, 0, pt, sizeof(pt), frame, sizeof(frame),
					&frame_len), -ERANGE);
	assert_true(sender.next_ctr == UINT64_MAX);
	sframe_sender_wipe(&sender);

	/* A lower policy limit works the same way and cannot be raised again. */
	assert_int_equal(sframe_sender_init(&sender, CHACHA, kid, base_a, sizeof(base_a)), 0);
	assert_int_equal(sframe_sender_set_limit(&sender, 2), 0);
	assert_int_equal(sframe_sender_set_limit(&sender, 3), -EINVAL);
	for (int i = 0; i < 2; i++)
		assert_int_equal(sframe_protect(&sender, NULL, 0, pt, sizeof(pt), frame,
						sizeof(frame), &frame_len), 0);
	assert_int_equal(sframe_protect(&sender, NULL, 0, pt, sizeof(pt), frame, sizeof(frame),
					&frame_len), -ERANGE);
	sframe_sender_wipe(&sender);
	sframe_keyring_free(&ring);
}

/* Buffers too small and metadata too long are refused without using a counter. */
static void test_sizes(void **state)
{
	struct sframe_sender sender;
	struct sframe_keyring ring;
	uint8_t pt[32] = {0}, frame[128], plain[64];
	static uint8_t meta[SFRAME_METADATA_MAX + 1];
	size_t frame_len = 0, plain_len = 0, need;
	uint64_t kid = sframe_kid_make(1000, 7);

	(void)state;
	assert_int_equal(sframe_sender_init(&sender, CHACHA, kid, base_a, sizeof(base_a)), 0);
	need = sframe_header_len(kid, 0) + sizeof(pt) + SFRAME_TAG_LEN;
	assert_true(need <= sizeof(pt) + SFRAME_OVERHEAD_MAX);
	assert_int_equal(sframe_protect(&sender, NULL, 0, pt, sizeof(pt), frame, need - 1,
					&frame_len), -EMSGSIZE);
	assert_int_equal(sframe_protect(&sender, meta, sizeof(meta), pt, sizeof(pt), frame,
					sizeof(frame), &frame_len), -EMSGSIZE);
	assert_true(sender.next_ctr == 0);
	assert_int_equal(sframe_protect(&sender, meta, SFRAME_METADATA_MAX, pt, sizeof(pt),
					frame, need, &frame_len), 0);
	assert_int_equal(frame_len, need);

	sframe_keyring_init(&ring);
	assert_int_equal(sframe_keyring_add(&ring, CHACHA, kid, base_a, sizeof(base_a)), 0);
	assert_int_equal(sframe_unprotect(&ring, meta, SFRAME_METADATA_MAX, frame, frame_len,
					  plain, sizeof(pt) - 1, &plain_len, NULL), -EMSGSIZE);
	assert_int_equal(sframe_unprotect(&ring, meta, sizeof(meta), frame, frame_len, plain,
					  sizeof(plain), &plain_len, NULL), -EMSGSIZE);
	/* Neither refusal counted as seeing the frame. */
	assert_int_equal(sframe_unprotect(&ring, meta, SFRAME_METADATA_MAX, frame, frame_len,
					  plain, sizeof(pt), &plain_len, NULL), 0);
	assert_int_equal(plain_len, sizeof(pt));
	sframe_keyring_free(&ring);
	sframe_sender_wipe(&sender);

	assert_int_equal(sframe_sender_init(&sender, 0x0004, kid, base_a, sizeof(base_a)),
			 -ENOTSUP);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_vectors),
		cmocka_unit_test(test_header_non_minimal),
		cmocka_unit_test(test_kid_layout),
		cmocka_unit_test(test_aes_gcm_vector),
		cmocka_unit_test(test_chacha_round_trip),
		cmocka_unit_test(test_tamper_and_truncate),
		cmocka_unit_test(test_keyring),
		cmocka_unit_test(test_replay_window),
		cmocka_unit_test(test_replay_window_edge),
		cmocka_unit_test(test_counter_exhaustion),
		cmocka_unit_test(test_sizes),
	};
	int failed;

	if (sodium_init() < 0)
		return 1;
	vectors = load_vectors();
	if (vectors == NULL)
		return 1;
	if (!sframe_suite_available(AESGCM))
		fprintf(stderr, "FAIL: this CPU lacks AES-NI; AES_256_GCM_SHA512_128 cannot "
				"run and its RFC 9605 vector will fail\n");
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	json_decref(vectors);
	return failed;
}
