/*
 * test-noise.c - Noise_NK_25519_ChaChaPoly_SHA512 against the published cacophony
 * and snow vectors (both roles, handshake and transport), and the failure paths:
 * tampering, short messages, calls out of turn, low-order keys, nonce exhaustion.
 *
 * The vectors are read from $SALON_VECTORS/noise/; the test fails when they are
 * missing rather than passing vacuously.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>

#include "encoding.h"
#include "noise.h"
#include "util.h"

/* A hex string from the vector, decoded into a new buffer. */
struct blob {
	uint8_t *data;
	size_t len;
};

static struct blob blob_hex(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	const char *text;
	struct blob b;

	if (!json_is_string(v))
		fail_msg("vector field %s is missing or not a string", key);
	text = json_string_value(v);
	b.len = strlen(text) / 2;
	b.data = xmalloc(b.len + 1);
	if (hex_decode(b.data, b.len, text) != 0)
		fail_msg("vector field %s is not hex", key);
	return b;
}

static void blob_free(struct blob *b)
{
	free(b->data);
	b->data = NULL;
}

static json_t *load_vectors(const char *file)
{
	const char *dir = getenv("SALON_VECTORS");
	json_error_t error;
	json_t *root;
	char *path;

	if (dir == NULL || *dir == '\0')
		fail_msg("SALON_VECTORS is not set: it must name the shared vectors directory");
	path = xasprintf("%s/noise/%s", dir, file);
	root = json_load_file(path, 0, &error);
	if (root == NULL)
		fail_msg("cannot load %s: %s (line %d)", path, error.text, error.line);
	free(path);
	return root;
}

/*
 * Runs one NK vector. Each side checks its output bytes against the vector, and
 * each side reads what the other side actually produced (not the vector's copy), so
 * the vector checks both our initiator against a reference responder and the
 * reverse.
 */
static void run_nk_vector(json_t *v)
{
	struct blob init_prologue = blob_hex(v, "init_prologue");
	struct blob resp_prologue = blob_hex(v, "resp_prologue");
	struct blob init_e = blob_hex(v, "init_ephemeral");
	struct blob resp_e = blob_hex(v, "resp_ephemeral");
	struct blob resp_s = blob_hex(v, "resp_static");
	struct blob remote_s = blob_hex(v, "init_remote_static");
	json_t *messages = json_object_get(v, "messages");
	struct noise_handshake ini, res;
	struct noise_cipher ini_send, ini_recv, res_send, res_recv;
	uint8_t ini_hash[NOISE_HASH_LEN], res_hash[NOISE_HASH_LEN];
	uint8_t wire[NOISE_MAX_MESSAGE], plain[NOISE_MAX_MESSAGE];
	size_t wire_len = 0, plain_len = 0;
	uint8_t derived_public[NOISE_DH_LEN];

	assert_int_equal(remote_s.len, NOISE_DH_LEN);
	assert_int_equal(resp_s.len, NOISE_DH_LEN);
	/* The vector's remote static is the public half of the responder's key. */
	crypto_scalarmult_base(derived_public, resp_s.data);
	assert_memory_equal(derived_public, remote_s.data, NOISE_DH_LEN);
	assert_true(json_is_array(messages));
	assert_true(json_array_size(messages) >= 2);

	assert_int_equal(noise_nk_init(&ini, NOISE_INITIATOR, init_prologue.data,
				       init_prologue.len, NULL, remote_s.data), 0);
	noise_handshake_set_ephemeral(&ini, init_e.data);
	assert_int_equal(noise_nk_init(&res, NOISE_RESPONDER, resp_prologue.data,
				       resp_prologue.len, resp_s.data, NULL), 0);
	noise_handshake_set_ephemeral(&res, resp_e.data);

	for (size_t i = 0; i < json_array_size(messages); i++) {
		json_t *m = json_array_get(messages, i);
		struct blob payload = blob_hex(m, "payload");
		struct blob ct = blob_hex(m, "ciphertext");
		bool from_initiator = i % 2 == 0;

		if (i < 2) {
			struct noise_handshake *w = from_initiator ? &ini : &res;
			struct noise_handshake *r = from_initiator ? &res : &ini;

			assert_int_equal(noise_handshake_write(w, payload.data, payload.len, wire,
							       sizeof(wire), &wire_len), 0);
			assert_int_equal(wire_len, ct.len);
			assert_memory_equal(wire, ct.data, ct.len);
			assert_int_equal(noise_handshake_read(r, wire, wire_len, plain,
							      sizeof(plain), &plain_len), 0);
			assert_int_equal(plain_len, payload.len);
			assert_memory_equal(plain, payload.data, payload.len);
			if (i == 1) {
				assert_true(noise_handshake_done(&ini));
				assert_true(noise_handshake_done(&res));
				assert_int_equal(noise_handshake_split(&ini, &ini_send, &ini_recv,
								       ini_hash), 0);
				assert_int_equal(noise_handshake_split(&res, &res_send, &res_recv,
								       res_hash), 0);
				assert_memory_equal(ini_hash, res_hash, NOISE_HASH_LEN);
				assert_memory_equal(ini_send.key, res_recv.key, NOISE_KEY_LEN);
				assert_memory_equal(ini_recv.key, res_send.key, NOISE_KEY_LEN);
				if (json_object_get(v, "handshake_hash") != NULL) {
					struct blob hh = blob_hex(v, "handshake_hash");

					assert_int_equal(hh.len, NOISE_HASH_LEN);
					assert_memory_equal(ini_hash, hh.data, NOISE_HASH_LEN);
					blob_free(&hh);
				}
			}
		} else {
			struct noise_cipher *w = from_initiator ? &ini_send : &res_send;
			struct noise_cipher *r = from_initiator ? &res_recv : &ini_recv;

			assert_int_equal(noise_cipher_encrypt(w, NULL, 0, payload.data,
							      payload.len, wire), 0);
			assert_int_equal(payload.len + NOISE_TAG_LEN, ct.len);
			assert_memory_equal(wire, ct.data, ct.len);
			assert_int_equal(noise_cipher_decrypt(r, NULL, 0, wire, ct.len, plain), 0);
			assert_memory_equal(plain, payload.data, payload.len);
		}
		blob_free(&payload);
		blob_free(&ct);
	}
	noise_handshake_wipe(&ini);
	noise_handshake_wipe(&res);
	blob_free(&init_prologue);
	blob_free(&resp_prologue);
	blob_free(&init_e);
	blob_free(&resp_e);
	blob_free(&resp_s);
	blob_free(&remote_s);
}

/* Runs every NK vector of file; fails when the file holds none. */
static void run_file(const char *file)
{
	json_t *root = load_vectors(file);
	json_t *vectors = json_object_get(root, "vectors");
	int count = 0;

	assert_true(json_is_array(vectors));
	for (size_t i = 0; i < json_array_size(vectors); i++) {
		json_t *v = json_array_get(vectors, i);
		const char *name = json_string_value(json_object_get(v, "protocol_name"));

		if (name == NULL || strcmp(name, NOISE_PROTOCOL_NAME) != 0)
			continue;
		run_nk_vector(v);
		count++;
	}
	if (count == 0)
		fail_msg("%s holds no %s vector", file, NOISE_PROTOCOL_NAME);
	json_decref(root);
}

static void test_cacophony_vectors(void **state)
{
	(void)state;
	run_file("cacophony-25519-chachapoly-sha512.json");
}

static void test_snow_vectors(void **state)
{
	(void)state;
	run_file("snow-25519-chachapoly-sha512.json");
}

/* A responder key pair and an initiator/responder pair ready for message 1. */
struct pair {
	uint8_t s_secret[NOISE_DH_LEN];
	uint8_t s_public[NOISE_DH_LEN];
	struct noise_handshake ini, res;
};

static void pair_init(struct pair *p)
{
	static const uint8_t prologue[] = "test prologue";

	crypto_box_keypair(p->s_public, p->s_secret);
	assert_int_equal(noise_nk_init(&p->ini, NOISE_INITIATOR, prologue, sizeof(prologue),
				       NULL, p->s_public), 0);
	assert_int_equal(noise_nk_init(&p->res, NOISE_RESPONDER, prologue, sizeof(prologue),
				       p->s_secret, NULL), 0);
}

static void test_tampered_message_1(void **state)
{
	const uint8_t payload[] = "ticket";
	uint8_t msg[128], bad[128], out[64];
	size_t msg_len = 0, out_len = 0;
	struct pair p;

	(void)state;
	pair_init(&p);
	assert_int_equal(noise_handshake_write(&p.ini, payload, sizeof(payload), msg,
					       sizeof(msg), &msg_len), 0);
	assert_int_equal(msg_len, NOISE_DH_LEN + sizeof(payload) + NOISE_TAG_LEN);
	/* Every single-bit flip anywhere in the message must be detected. */
	for (size_t bit = 0; bit < msg_len * 8; bit++) {
		struct noise_handshake res = p.res;

		memcpy(bad, msg, msg_len);
		bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_equal(noise_handshake_read(&res, bad, msg_len, out, sizeof(out),
						      &out_len), -EBADMSG);
		/* A failed handshake stays failed. */
		assert_int_equal(noise_handshake_read(&res, msg, msg_len, out, sizeof(out),
						      &out_len), -EPROTO);
		assert_int_equal(noise_handshake_write(&res, NULL, 0, bad, sizeof(bad),
						       &out_len), -EPROTO);
	}
	assert_int_equal(noise_handshake_read(&p.res, msg, msg_len, out, sizeof(out), &out_len),
			 0);
	assert_int_equal(out_len, sizeof(payload));
	assert_memory_equal(out, payload, sizeof(payload));
}

static void test_tampered_message_2(void **state)
{
	uint8_t msg[128], bad[128], out[64];
	size_t msg_len = 0, out_len = 0;
	struct pair p;

	(void)state;
	pair_init(&p);
	assert_int_equal(noise_handshake_write(&p.ini, NULL, 0, msg, sizeof(msg), &msg_len), 0);
	assert_int_equal(noise_handshake_read(&p.res, msg, msg_len, out, sizeof(out), &out_len),
			 0);
	assert_int_equal(out_len, 0);
	assert_int_equal(noise_handshake_write(&p.res, NULL, 0, msg, sizeof(msg), &msg_len), 0);
	assert_int_equal(msg_len, NOISE_DH_LEN + NOISE_TAG_LEN);
	for (size_t bit = 0; bit < msg_len * 8; bit++) {
		struct noise_handshake ini = p.ini;

		memcpy(bad, msg, msg_len);
		bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_equal(noise_handshake_read(&ini, bad, msg_len, out, sizeof(out),
						      &out_len), -EBADMSG);
		assert_false(noise_handshake_done(&ini));
	}
	assert_int_equal(noise_handshake_read(&p.ini, msg, msg_len, out, sizeof(out), &out_len),
			 0);
	assert_true(noise_handshake_done(&p.ini));
}

static void test_short_messages(void **state)
{
	uint8_t msg[128], out[64];
	size_t msg_len = 0, out_len = 0;
	struct pair p;

	(void)state;
	pair_init(&p);
	assert_int_equal(noise_handshake_write(&p.ini, NULL, 0, msg, sizeof(msg), &msg_len), 0);
	for (size_t len = 0; len < NOISE_DH_LEN + NOISE_TAG_LEN; len++) {
		struct noise_handshake res = p.res;

		assert_int_equal(noise_handshake_read(&res, msg, len, out, sizeof(out),
						      &out_len), -EINVAL);
	}
	/* A short message does not consume the turn: the real one still reads. */
	assert_int_equal(noise_handshake_read(&p.res, msg, 10, out, sizeof(out), &out_len),
			 -EINVAL);
	assert_int_equal(noise_handshake_read(&p.res, msg, msg_len, out, sizeof(out), &out_len),
			 0);
	assert_int_equal(noise_handshake_write(&p.res, NULL, 0, msg, sizeof(msg), &msg_len), 0);
	assert_int_equal(noise_handshake_read(&p.ini, msg, msg_len - 1, out, sizeof(out),
					      &out_len), -EINVAL);
	assert_int_equal(noise_handshake_read(&p.ini, msg, msg_len, out, sizeof(out), &out_len),
			 0);
}

static void test_out_of_turn(void **state)
{
	uint8_t msg[128], out[64];
	size_t msg_len = 0, out_len = 0;
	struct noise_cipher c1, c2;
	struct pair p;

	(void)state;
	pair_init(&p);
	/* The responder cannot speak first; the initiator cannot read first. */
	assert_int_equal(noise_handshake_write(&p.res, NULL, 0, msg, sizeof(msg), &msg_len),
			 -EPROTO);
	assert_int_equal(noise_handshake_read(&p.ini, msg, 48, out, sizeof(out), &out_len),
			 -EPROTO);
	assert_int_equal(noise_handshake_split(&p.ini, &c1, &c2, NULL), -EPROTO);
	assert_int_equal(noise_handshake_write(&p.ini, NULL, 0, msg, sizeof(msg), &msg_len), 0);
	/* The initiator cannot send message 1 twice nor write message 2. */
	assert_int_equal(noise_handshake_write(&p.ini, NULL, 0, msg, sizeof(msg), &msg_len),
			 -EPROTO);
	assert_int_equal(noise_handshake_read(&p.res, msg, msg_len, out, sizeof(out), &out_len),
			 0);
	assert_int_equal(noise_handshake_read(&p.res, msg, msg_len, out, sizeof(out), &out_len),
			 -EPROTO);
	assert_int_equal(noise_handshake_split(&p.res, &c1, &c2, NULL), -EPROTO);
	assert_int_equal(noise_handshake_write(&p.res, NULL, 0, msg, sizeof(msg), &msg_len), 0);
	assert_int_equal(noise_handshake_read(&p.ini, msg, msg_len, out, sizeof(out), &out_len),
			 0);
	/* Once done, neither side may write or read another handshake message. */
	assert_int_equal(noise_handshake_write(&p.ini, NULL, 0, msg, sizeof(msg), &msg_len),
			 -EPROTO);
	assert_int_equal(noise_handshake_write(&p.res, NULL, 0, msg, sizeof(msg), &msg_len),
			 -EPROTO);
	assert_int_equal(noise_handshake_read(&p.res, msg, msg_len, out, sizeof(out), &out_len),
			 -EPROTO);
	assert_int_equal(noise_handshake_split(&p.ini, &c1, &c2, NULL), 0);
}

static void test_small_buffers(void **state)
{
	const uint8_t payload[32] = {1, 2, 3};
	uint8_t msg[128], out[64];
	size_t msg_len = 0, out_len = 0;
	struct pair p;

	(void)state;
	pair_init(&p);
	assert_int_equal(noise_handshake_write(&p.ini, payload, sizeof(payload), msg, 79,
					       &msg_len), -EMSGSIZE);
	assert_int_equal(noise_handshake_write(&p.ini, payload, sizeof(payload), msg, 80,
					       &msg_len), 0);
	assert_int_equal(noise_handshake_read(&p.res, msg, msg_len, out, 31, &out_len),
			 -EMSGSIZE);
	assert_int_equal(noise_handshake_read(&p.res, msg, msg_len, out, 32, &out_len), 0);
	assert_memory_equal(out, payload, sizeof(payload));
}

static void test_low_order_keys(void **state)
{
	const uint8_t zero[NOISE_DH_LEN] = {0};
	uint8_t msg[128], out[64];
	size_t msg_len = 0, out_len = 0;
	struct noise_handshake hs;
	struct pair p;

	(void)state;
	/* A relay key of zero would give an all-zero DH output: refuse to use it. */
	assert_int_equal(noise_nk_init(&hs, NOISE_INITIATOR, NULL, 0, NULL, zero), 0);
	assert_true(noise_handshake_write(&hs, NULL, 0, msg, sizeof(msg), &msg_len) < 0);
	/* Likewise an initiator ephemeral of zero at the responder. */
	pair_init(&p);
	memset(msg, 0, sizeof(msg));
	assert_int_equal(noise_handshake_read(&p.res, msg, 48, out, sizeof(out), &out_len),
			 -EBADMSG);
}

static void test_cipher_state(void **state)
{
	struct noise_cipher c = {.n = 0, .has_key = true};
	uint8_t pt[5] = "hello", ct[5 + NOISE_TAG_LEN], back[5];
	uint8_t nonce[12] = {0};
	uint8_t expect[5 + NOISE_TAG_LEN];

	(void)state;
	randombytes_buf(c.key, sizeof(c.key));
	/* The nonce is 4 zero bytes then n little-endian: check against libsodium. */
	c.n = UINT64_C(0x0102030405060708);
	for (int i = 0; i < 8; i++)
		nonce[4 + i] = (uint8_t)(c.n >> (8 * i));
	crypto_aead_chacha20poly1305_ietf_encrypt(expect, NULL, pt, sizeof(pt),
						  (const uint8_t *)"ad", 2, NULL, nonce, c.key);
	assert_int_equal(noise_cipher_encrypt(&c, (const uint8_t *)"ad", 2, pt, sizeof(pt), ct),
			 0);
	assert_memory_equal(ct, expect, sizeof(ct));
	assert_int_equal(c.n, UINT64_C(0x0102030405060709));
	assert_int_equal(noise_decrypt(c.key, c.n - 1, (const uint8_t *)"ad", 2, ct, sizeof(ct),
				       back), 0);
	assert_memory_equal(back, pt, sizeof(pt));
	assert_int_equal(noise_decrypt(c.key, c.n, (const uint8_t *)"ad", 2, ct, sizeof(ct),
				       back), -EBADMSG);
	assert_int_equal(noise_decrypt(c.key, c.n - 1, (const uint8_t *)"ae", 2, ct, sizeof(ct),
				       back), -EBADMSG);
	/* n = 2^64 - 1 is reserved. */
	c.n = UINT64_MAX - 1;
	assert_int_equal(noise_cipher_encrypt(&c, NULL, 0, pt, sizeof(pt), ct), 0);
	assert_int_equal(noise_cipher_encrypt(&c, NULL, 0, pt, sizeof(pt), ct), -ERANGE);
	assert_int_equal(noise_cipher_decrypt(&c, NULL, 0, ct, sizeof(ct), back), -ERANGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cacophony_vectors),
		cmocka_unit_test(test_snow_vectors),
		cmocka_unit_test(test_tampered_message_1),
		cmocka_unit_test(test_tampered_message_2),
		cmocka_unit_test(test_short_messages),
		cmocka_unit_test(test_out_of_turn),
		cmocka_unit_test(test_small_buffers),
		cmocka_unit_test(test_low_order_keys),
		cmocka_unit_test(test_cipher_state),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
