/*
 * hkdf.h - HKDF with HMAC-SHA-512 (RFC 5869), for SFrame key derivation.
 *
 * libsodium 1.0.18 has no HKDF, so this builds it on the streaming
 * crypto_auth_hmacsha512_init/update/final API, which accepts keys of any length
 * (the one-shot crypto_auth_hmacsha512 takes exactly 32 bytes, which HKDF cannot
 * use). Errors as in util.h. Every function is pure and may be called from any
 * thread; none allocates, so they are safe on the media thread.
 */
#ifndef SALON_HKDF_H
#define SALON_HKDF_H

#include <stddef.h>
#include <stdint.h>

/* HashLen of SHA-512: the size of a pseudorandom key (PRK). */
#define HKDF_SHA512_HASH_LEN 64
/* The largest output Expand may produce: 255 blocks of HashLen. */
#define HKDF_SHA512_MAX_OUTPUT (255 * HKDF_SHA512_HASH_LEN)

/*
 * HKDF-Extract(salt, ikm): writes the 64-byte PRK = HMAC-SHA-512(salt, ikm).
 * An empty salt (salt_len 0, salt may then be NULL) is equivalent to the RFC's
 * default of HashLen zero bytes, because HMAC pads the key with zeros. Cannot fail.
 */
void hkdf_sha512_extract(uint8_t prk[HKDF_SHA512_HASH_LEN], const uint8_t *salt,
			 size_t salt_len, const uint8_t *ikm, size_t ikm_len);

/*
 * HKDF-Expand(prk, info, out_len): fills out with out_len bytes of keying material.
 * prk is normally the 64-byte output of hkdf_sha512_extract; info may be NULL when
 * info_len is 0. Returns 0, or -EINVAL when out_len exceeds HKDF_SHA512_MAX_OUTPUT
 * (the RFC's limit of 255 * HashLen) or prk_len is 0; out is then left untouched.
 */
int hkdf_sha512_expand(uint8_t *out, size_t out_len, const uint8_t *prk, size_t prk_len,
		       const uint8_t *info, size_t info_len);

#endif
