/*
 * hkdf.c - HKDF-SHA-512 (RFC 5869) on libsodium's streaming HMAC-SHA-512.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "hkdf.h"

void hkdf_sha512_extract(uint8_t prk[HKDF_SHA512_HASH_LEN], const uint8_t *salt,
			 size_t salt_len, const uint8_t *ikm, size_t ikm_len)
{
	crypto_auth_hmacsha512_state state;
	/* libsodium wants a valid pointer even for an empty key. */
	static const uint8_t empty[1];

	crypto_auth_hmacsha512_init(&state, salt_len > 0 ? salt : empty, salt_len);
	if (ikm_len > 0)
		crypto_auth_hmacsha512_update(&state, ikm, ikm_len);
	crypto_auth_hmacsha512_final(&state, prk);
	sodium_memzero(&state, sizeof(state));
}

int hkdf_sha512_expand(uint8_t *out, size_t out_len, const uint8_t *prk, size_t prk_len,
		       const uint8_t *info, size_t info_len)
{
	crypto_auth_hmacsha512_state state;
	uint8_t block[HKDF_SHA512_HASH_LEN];
	size_t done = 0;
	uint8_t counter = 0;

	if (out_len > HKDF_SHA512_MAX_OUTPUT || prk_len == 0)
		return -EINVAL;
	/* T(i) = HMAC(PRK, T(i-1) || info || i), with T(0) empty. */
	while (done < out_len) {
		size_t take = out_len - done;

		counter++;
		crypto_auth_hmacsha512_init(&state, prk, prk_len);
		if (counter > 1)
			crypto_auth_hmacsha512_update(&state, block, sizeof(block));
		if (info_len > 0)
			crypto_auth_hmacsha512_update(&state, info, info_len);
		crypto_auth_hmacsha512_update(&state, &counter, 1);
		crypto_auth_hmacsha512_final(&state, block);
		if (take > sizeof(block))
			take = sizeof(block);
		memcpy(out + done, block, take);
		done += take;
	}
	sodium_memzero(&state, sizeof(state));
	sodium_memzero(block, sizeof(block));
	return 0;
}
