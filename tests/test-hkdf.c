/*
 * test-hkdf.c - HKDF-SHA-512: the RFC 9605 suite-5 key schedule values, a
 * multi-block output and the full 255-block output checked against values computed
 * independently (Python's hmac module), and the RFC 5869 length limit.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "encoding.h"
#include "hkdf.h"
#include "util.h"

static void hex(uint8_t *out, size_t len, const char *text)
{
	assert_int_equal(hex_decode(out, len, text), 0);
}

/* The secret, key and salt of the suite-5 case of RFC 9605 appendix C. */
static void test_sframe_schedule(void **state)
{
	uint8_t base_key[16], prk[64], want_prk[64], key[32], want_key[32];
	uint8_t salt[12], want_salt[12], info[64];
	static const char key_label[] = "SFrame 1.0 Secret key ";
	static const char salt_label[] = "SFrame 1.0 Secret salt ";
	size_t n;

	(void)state;
	hex(base_key, sizeof(base_key), "000102030405060708090a0b0c0d0e0f");
	hex(want_prk, sizeof(want_prk),
	    "0fc3ea6de6aac97a35f194cf9bed94d4b5230f1cb45a785c9fe5dce9c188938a"
	    "b6ba005bc4c0a19181599e9d1bcf7b74aca48b60bf5e254e546d809313e083a3");
	hex(want_key, sizeof(want_key),
	    "d3e27b0d4a5ae9e55df01a70e6d4d28d969b246e2936f4b7a5d9b494da6b9633");
	hex(want_salt, sizeof(want_salt), "84991c167b8cd23c93708ec7");

	hkdf_sha512_extract(prk, NULL, 0, base_key, sizeof(base_key));
	assert_memory_equal(prk, want_prk, sizeof(prk));

	n = strlen(key_label);
	memcpy(info, key_label, n);
	put_u64be(info + n, 0x123);
	put_u16be(info + n + 8, 5);
	assert_int_equal(hkdf_sha512_expand(key, sizeof(key), prk, 64, info, n + 10), 0);
	assert_memory_equal(key, want_key, sizeof(key));

	n = strlen(salt_label);
	memcpy(info, salt_label, n);
	put_u64be(info + n, 0x123);
	put_u16be(info + n + 8, 5);
	assert_int_equal(hkdf_sha512_expand(salt, sizeof(salt), prk, 64, info, n + 10), 0);
	assert_memory_equal(salt, want_salt, sizeof(salt));
}

/* A long salt (longer than 32 bytes, which the one-shot HMAC could not take) and
 * an output spanning three blocks. */
static void test_long_salt_multi_block(void **state)
{
	uint8_t salt[80], ikm[100], prk[64], want_prk[64], okm[150], want_okm[150];
	uint8_t prefix[64];
	static const char info[] = "salon hkdf test info";

	(void)state;
	for (size_t i = 0; i < sizeof(salt); i++)
		salt[i] = (uint8_t)(0x60 + i);
	for (size_t i = 0; i < sizeof(ikm); i++)
		ikm[i] = (uint8_t)i;
	hex(want_prk, sizeof(want_prk),
	    "3d977f4ecbde677a3f0c87a7daf9b9ec5aec8f00d53f948696dbbb33b0f8fcc2"
	    "8aee52978e2f230c4527895d2499e395a953db5ed35fd82ee887dcf167a6c282");
	hex(want_okm, sizeof(want_okm),
	    "9aac45b24350384cc55da924217ba6b20af9d47135bc383a37759ce051aca911"
	    "784288a44aaadd9c1ae15ee406e52d55a759db3fde2b408a5cb6d1eb07007565"
	    "841f9240803c436f89a056f289a0331ce3882045436618b9f6fab3632b762b99"
	    "68c13262ec2199742b1c14508d2d1dc410d89f0c0f48d0ca63a5a356b7f42008"
	    "5da6c5002d89a151df62f4aa3da963609ec25edc7d56");
	hkdf_sha512_extract(prk, salt, sizeof(salt), ikm, sizeof(ikm));
	assert_memory_equal(prk, want_prk, sizeof(prk));
	assert_int_equal(hkdf_sha512_expand(okm, sizeof(okm), prk, sizeof(prk),
					    (const uint8_t *)info, strlen(info)), 0);
	assert_memory_equal(okm, want_okm, sizeof(okm));
	/* A shorter output is a prefix of a longer one. */
	assert_int_equal(hkdf_sha512_expand(prefix, sizeof(prefix), prk, sizeof(prk),
					    (const uint8_t *)info, strlen(info)), 0);
	assert_memory_equal(prefix, want_okm, sizeof(prefix));
}

/* The largest output is 255 * 64 bytes; one more byte is refused untouched. */
static void test_length_limit(void **state)
{
	uint8_t ikm[22], prk[64], want_prk[64], digest[32], want_digest[32];
	uint8_t *okm = malloc(HKDF_SHA512_MAX_OUTPUT + 1);
	uint8_t small[4] = {1, 2, 3, 4};

	(void)state;
	assert_non_null(okm);
	for (size_t i = 0; i < sizeof(ikm); i++)
		ikm[i] = (uint8_t)i;
	hex(want_prk, sizeof(want_prk),
	    "489d5cd2fab3c35532af3d246c302e8040c3eb6315dc493e2bb41b11dc8eea39"
	    "c0467d7560cb817e4e457acb7b21f8fffd8c310b541524878161dc9bec8aa1b4");
	hex(want_digest, sizeof(want_digest),
	    "84eed4cadc9204cbdd432c07bf19a1af1c24d367111ddfb9fe157ae8fa2f6379");
	hkdf_sha512_extract(prk, NULL, 0, ikm, sizeof(ikm));
	assert_memory_equal(prk, want_prk, sizeof(prk));
	assert_int_equal(hkdf_sha512_expand(okm, HKDF_SHA512_MAX_OUTPUT, prk, sizeof(prk),
					    NULL, 0), 0);
	crypto_hash_sha256(digest, okm, HKDF_SHA512_MAX_OUTPUT);
	assert_memory_equal(digest, want_digest, sizeof(digest));
	assert_int_equal(hkdf_sha512_expand(okm, HKDF_SHA512_MAX_OUTPUT + 1, prk, sizeof(prk),
					    NULL, 0), -EINVAL);
	assert_int_equal(hkdf_sha512_expand(small, SIZE_MAX, prk, sizeof(prk), NULL, 0),
			 -EINVAL);
	assert_int_equal(small[0], 1);
	assert_int_equal(hkdf_sha512_expand(small, sizeof(small), prk, 0, NULL, 0), -EINVAL);
	free(okm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sframe_schedule),
		cmocka_unit_test(test_long_salt_multi_block),
		cmocka_unit_test(test_length_limit),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
