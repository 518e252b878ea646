/*
 * noise.c - Noise_NK_25519_ChaChaPoly_SHA512 (Noise revision 34) on libsodium.
 *
 * The code follows the structure of the specification (CipherState, SymmetricState,
 * HandshakeState) so that a reader can check it section by section. HKDF is built
 * on the streaming HMAC-SHA512 interface because the one-shot crypto_auth_hmacsha512
 * only takes 32-byte keys, and Noise keys HMAC with the 64-byte chaining key.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "noise.h"

/* The 96-bit ChaChaPoly nonce: 32 zero bits, then n as 64 bits little-endian. */
static void noise_nonce(uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES], uint64_t n)
{
	memset(nonce, 0, 4);
	for (int i = 0; i < 8; i++)
		nonce[4 + i] = (uint8_t)(n >> (8 * i));
}

void noise_encrypt(const uint8_t key[NOISE_KEY_LEN], uint64_t n, const uint8_t *ad,
		   size_t ad_len, const uint8_t *plaintext, size_t len, uint8_t *out)
{
	uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];

	noise_nonce(nonce, n);
	/* Detached mode writes the tag after the ciphertext without memmove, in place. */
	crypto_aead_chacha20poly1305_ietf_encrypt_detached(out, out + len, NULL, plaintext, len,
							   ad, ad_len, NULL, nonce, key);
}

int noise_decrypt(const uint8_t key[NOISE_KEY_LEN], uint64_t n, const uint8_t *ad,
		  size_t ad_len, const uint8_t *ciphertext, size_t len, uint8_t *out)
{
	uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];

	if (len < NOISE_TAG_LEN)
		return -EBADMSG;
	noise_nonce(nonce, n);
	if (crypto_aead_chacha20poly1305_ietf_decrypt_detached(out, NULL, ciphertext,
							       len - NOISE_TAG_LEN,
							       ciphertext + len - NOISE_TAG_LEN,
							       ad, ad_len, nonce, key) != 0)
		return -EBADMSG;
	return 0;
}

int noise_cipher_encrypt(struct noise_cipher *c, const uint8_t *ad, size_t ad_len,
			 const uint8_t *plaintext, size_t len, uint8_t *out)
{
	/* Nonce 2^64-1 is reserved by the spec (for rekey); never use it. */
	if (c->n == UINT64_MAX)
		return -ERANGE;
	noise_encrypt(c->key, c->n, ad, ad_len, plaintext, len, out);
	c->n++;
	return 0;
}

int noise_cipher_decrypt(struct noise_cipher *c, const uint8_t *ad, size_t ad_len,
			 const uint8_t *ciphertext, size_t len, uint8_t *out)
{
	int r;

	if (c->n == UINT64_MAX)
		return -ERANGE;
	r = noise_decrypt(c->key, c->n, ad, ad_len, ciphertext, len, out);
	if (r < 0)
		return r;
	c->n++;
	return 0;
}

/* HMAC-SHA512 over the concatenation of up to two inputs, with a key of any length. */
static void noise_hmac(uint8_t out[NOISE_HASH_LEN], const uint8_t *key, size_t key_len,
		       const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
	crypto_auth_hmacsha512_state st;

	crypto_auth_hmacsha512_init(&st, key, key_len);
	if (a_len > 0)
		crypto_auth_hmacsha512_update(&st, a, a_len);
	if (b_len > 0)
		crypto_auth_hmacsha512_update(&st, b, b_len);
	crypto_auth_hmacsha512_final(&st, out);
	sodium_memzero(&st, sizeof(st));
}

/* HKDF(chaining_key, input_key_material, 2) from section 4.3 of the spec. */
static void noise_hkdf2(const uint8_t ck[NOISE_HASH_LEN], const uint8_t *ikm, size_t ikm_len,
			uint8_t out1[NOISE_HASH_LEN], uint8_t out2[NOISE_HASH_LEN])
{
	uint8_t temp_key[NOISE_HASH_LEN];
	const uint8_t one = 0x01, two = 0x02;

	noise_hmac(temp_key, ck, NOISE_HASH_LEN, ikm, ikm_len, NULL, 0);
	noise_hmac(out1, temp_key, sizeof(temp_key), &one, 1, NULL, 0);
	noise_hmac(out2, temp_key, sizeof(temp_key), out1, NOISE_HASH_LEN, &two, 1);
	sodium_memzero(temp_key, sizeof(temp_key));
}

static void noise_mix_hash(struct noise_handshake *hs, const uint8_t *data, size_t len)
{
	crypto_hash_sha512_state st;

	crypto_hash_sha512_init(&st);
	crypto_hash_sha512_update(&st, hs->h, sizeof(hs->h));
	if (len > 0)
		crypto_hash_sha512_update(&st, data, len);
	crypto_hash_sha512_final(&st, hs->h);
}

static void noise_mix_key(struct noise_handshake *hs, const uint8_t *ikm, size_t ikm_len)
{
	uint8_t ck[NOISE_HASH_LEN], temp_k[NOISE_HASH_LEN];

	noise_hkdf2(hs->ck, ikm, ikm_len, ck, temp_k);
	memcpy(hs->ck, ck, sizeof(ck));
	/* HASHLEN is 64: the cipher key is the first 32 bytes of temp_k. */
	memcpy(hs->cipher.key, temp_k, NOISE_KEY_LEN);
	hs->cipher.n = 0;
	hs->cipher.has_key = true;
	sodium_memzero(ck, sizeof(ck));
	sodium_memzero(temp_k, sizeof(temp_k));
}

/* EncryptAndHash: out holds len (+ NOISE_TAG_LEN once a key is set) bytes. */
static int noise_encrypt_and_hash(struct noise_handshake *hs, const uint8_t *pt, size_t len,
				  uint8_t *out, size_t *out_len)
{
	int r;

	if (hs->cipher.has_key) {
		r = noise_cipher_encrypt(&hs->cipher, hs->h, sizeof(hs->h), pt, len, out);
		if (r < 0)
			return r;
		*out_len = len + NOISE_TAG_LEN;
	} else {
		if (len > 0)
			memmove(out, pt, len);
		*out_len = len;
	}
	noise_mix_hash(hs, out, *out_len);
	return 0;
}

static int noise_decrypt_and_hash(struct noise_handshake *hs, const uint8_t *ct, size_t len,
				  uint8_t *out, size_t out_cap, size_t *out_len)
{
	crypto_hash_sha512_state st;
	uint8_t next_h[NOISE_HASH_LEN];
	int r;

	/*
	 * The next h hashes the ciphertext; compute it first so that out may alias ct,
	 * but install it only after authentication, since the old h is the AD.
	 */
	crypto_hash_sha512_init(&st);
	crypto_hash_sha512_update(&st, hs->h, sizeof(hs->h));
	if (len > 0)
		crypto_hash_sha512_update(&st, ct, len);
	crypto_hash_sha512_final(&st, next_h);
	if (hs->cipher.has_key) {
		if (len < NOISE_TAG_LEN)
			return -EINVAL;
		if (len - NOISE_TAG_LEN > out_cap)
			return -EMSGSIZE;
		r = noise_cipher_decrypt(&hs->cipher, hs->h, sizeof(hs->h), ct, len, out);
		if (r < 0)
			return r;
		*out_len = len - NOISE_TAG_LEN;
	} else {
		if (len > out_cap)
			return -EMSGSIZE;
		if (len > 0)
			memmove(out, ct, len);
		*out_len = len;
	}
	memcpy(hs->h, next_h, sizeof(next_h));
	return 0;
}

/* DH(): X25519, refusing the all-zero output of a low-order point. */
static int noise_dh(uint8_t out[NOISE_DH_LEN], const uint8_t secret[NOISE_DH_LEN],
		    const uint8_t public[NOISE_DH_LEN])
{
	if (crypto_scalarmult(out, secret, public) != 0)
		return -EBADMSG;
	return 0;
}

int noise_nk_init(struct noise_handshake *hs, enum noise_role role, const uint8_t *prologue,
		  size_t prologue_len, const uint8_t *local_static_secret,
		  const uint8_t *remote_static)
{
	static const char name[] = NOISE_PROTOCOL_NAME;

	_Static_assert(sizeof(name) - 1 <= NOISE_HASH_LEN, "protocol name fits in h");
	if (sodium_init() < 0)
		return -EIO;
	memset(hs, 0, sizeof(*hs));
	hs->role = role;
	if (role == NOISE_INITIATOR) {
		if (remote_static == NULL)
			return -EINVAL;
		memcpy(hs->rs, remote_static, NOISE_DH_LEN);
	} else if (role == NOISE_RESPONDER) {
		if (local_static_secret == NULL)
			return -EINVAL;
		memcpy(hs->s_secret, local_static_secret, NOISE_DH_LEN);
		crypto_scalarmult_base(hs->s_public, hs->s_secret);
	} else {
		return -EINVAL;
	}
	/* InitializeSymmetric: a name of at most HASHLEN bytes is zero-padded, not hashed. */
	memcpy(hs->h, name, sizeof(name) - 1);
	memcpy(hs->ck, hs->h, sizeof(hs->ck));
	noise_mix_hash(hs, prologue, prologue_len);
	/* Pre-message "<- s": both sides hash the responder's static public key. */
	noise_mix_hash(hs, role == NOISE_INITIATOR ? hs->rs : hs->s_public, NOISE_DH_LEN);
	return 0;
}

void noise_handshake_set_ephemeral(struct noise_handshake *hs,
				   const uint8_t secret[NOISE_DH_LEN])
{
	memcpy(hs->e_secret, secret, NOISE_DH_LEN);
	crypto_scalarmult_base(hs->e_public, hs->e_secret);
	hs->e_fixed = true;
}

static void noise_make_ephemeral(struct noise_handshake *hs)
{
	if (hs->e_fixed)
		return;
	randombytes_buf(hs->e_secret, sizeof(hs->e_secret));
	crypto_scalarmult_base(hs->e_public, hs->e_secret);
}

/* Whether the side whose turn it is to write message index i is role. */
static bool noise_writes(enum noise_role role, int index)
{
	return (index == 0 && role == NOISE_INITIATOR) || (index == 1 && role == NOISE_RESPONDER);
}

int noise_handshake_write(struct noise_handshake *hs, const uint8_t *payload,
			  size_t payload_len, uint8_t *out, size_t out_cap, size_t *out_len)
{
	uint8_t dh[NOISE_DH_LEN];
	size_t ct_len = 0;
	int r;

	if (hs->message_index > 1 || !noise_writes(hs->role, hs->message_index))
		return -EPROTO;
	if (payload_len > NOISE_MAX_MESSAGE - NOISE_DH_LEN - NOISE_TAG_LEN ||
	    out_cap < NOISE_DH_LEN + payload_len + NOISE_TAG_LEN)
		return -EMSGSIZE;
	/* Token "e". */
	noise_make_ephemeral(hs);
	memcpy(out, hs->e_public, NOISE_DH_LEN);
	noise_mix_hash(hs, hs->e_public, NOISE_DH_LEN);
	/* Message 1: "es" = DH(e, rs); message 2: "ee" = DH(e, re). */
	r = noise_dh(dh, hs->e_secret, hs->message_index == 0 ? hs->rs : hs->re);
	if (r < 0)
		goto out;
	noise_mix_key(hs, dh, sizeof(dh));
	r = noise_encrypt_and_hash(hs, payload, payload_len, out + NOISE_DH_LEN, &ct_len);
	if (r < 0)
		goto out;
	*out_len = NOISE_DH_LEN + ct_len;
	hs->message_index++;
out:
	/* After a failure h already covers e: the handshake cannot go on. */
	if (r < 0)
		hs->message_index = 3;
	sodium_memzero(dh, sizeof(dh));
	return r;
}

int noise_handshake_read(struct noise_handshake *hs, const uint8_t *msg, size_t msg_len,
			 uint8_t *payload, size_t payload_cap, size_t *payload_len)
{
	uint8_t dh[NOISE_DH_LEN];
	int r;

	if (hs->message_index > 1 || noise_writes(hs->role, hs->message_index))
		return -EPROTO;
	if (msg_len < NOISE_DH_LEN + NOISE_TAG_LEN)
		return -EINVAL;
	if (msg_len > NOISE_MAX_MESSAGE)
		return -EMSGSIZE;
	if (msg_len - NOISE_DH_LEN - NOISE_TAG_LEN > payload_cap)
		return -EMSGSIZE;
	/* Token "e". */
	memcpy(hs->re, msg, NOISE_DH_LEN);
	noise_mix_hash(hs, hs->re, NOISE_DH_LEN);
	/* Message 1: "es" = DH(s, re) at the responder; message 2: "ee" = DH(e, re). */
	if (hs->message_index == 0)
		r = noise_dh(dh, hs->s_secret, hs->re);
	else
		r = noise_dh(dh, hs->e_secret, hs->re);
	if (r < 0)
		goto fail;
	noise_mix_key(hs, dh, sizeof(dh));
	r = noise_decrypt_and_hash(hs, msg + NOISE_DH_LEN, msg_len - NOISE_DH_LEN, payload,
				   payload_cap, payload_len);
	if (r < 0)
		goto fail;
	hs->message_index++;
	sodium_memzero(dh, sizeof(dh));
	return 0;
fail:
	/* The transcript hash already moved on: this handshake cannot be resumed. */
	sodium_memzero(dh, sizeof(dh));
	hs->message_index = 3;
	return r;
}

bool noise_handshake_done(const struct noise_handshake *hs)
{
	return hs->message_index == 2;
}

int noise_handshake_split(const struct noise_handshake *hs, struct noise_cipher *send,
			  struct noise_cipher *recv, uint8_t handshake_hash[NOISE_HASH_LEN])
{
	uint8_t k1[NOISE_HASH_LEN], k2[NOISE_HASH_LEN];

	if (!noise_handshake_done(hs))
		return -EPROTO;
	noise_hkdf2(hs->ck, NULL, 0, k1, k2);
	memset(send, 0, sizeof(*send));
	memset(recv, 0, sizeof(*recv));
	memcpy(send->key, hs->role == NOISE_INITIATOR ? k1 : k2, NOISE_KEY_LEN);
	memcpy(recv->key, hs->role == NOISE_INITIATOR ? k2 : k1, NOISE_KEY_LEN);
	send->has_key = true;
	recv->has_key = true;
	if (handshake_hash != NULL)
		memcpy(handshake_hash, hs->h, NOISE_HASH_LEN);
	sodium_memzero(k1, sizeof(k1));
	sodium_memzero(k2, sizeof(k2));
	return 0;
}

void noise_handshake_wipe(struct noise_handshake *hs)
{
	sodium_memzero(hs, sizeof(*hs));
}
