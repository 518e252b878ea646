/*
 * sframe.c - SFrame (RFC 9605): header coding, key schedule, protect and unprotect
 * with a per-KID replay window.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "hkdf.h"
#include "sframe.h"
#include "util.h"

typedef int (*sframe_aead_encrypt_fn)(unsigned char *c, unsigned long long *clen,
				      const unsigned char *m, unsigned long long mlen,
				      const unsigned char *ad, unsigned long long adlen,
				      const unsigned char *nsec, const unsigned char *npub,
				      const unsigned char *k);
typedef int (*sframe_aead_decrypt_fn)(unsigned char *m, unsigned long long *mlen,
				      unsigned char *nsec, const unsigned char *c,
				      unsigned long long clen, const unsigned char *ad,
				      unsigned long long adlen, const unsigned char *npub,
				      const unsigned char *k);

/*
 * Both suites share Nk = 32, Nn = 12 and Nt = 16 and libsodium's combined AEAD
 * calling convention (ciphertext followed by the tag), so a suite is just a pair
 * of functions.
 */
struct sframe_suite {
	uint16_t id;
	bool needs_aesni;
	sframe_aead_encrypt_fn encrypt;
	sframe_aead_decrypt_fn decrypt;
};

static const struct sframe_suite sframe_suites[] = {
	{SFRAME_SUITE_AES_256_GCM_SHA512_128, true, crypto_aead_aes256gcm_encrypt,
	 crypto_aead_aes256gcm_decrypt},
	{SFRAME_SUITE_CHACHA20_POLY1305_SHA512, false, crypto_aead_chacha20poly1305_ietf_encrypt,
	 crypto_aead_chacha20poly1305_ietf_decrypt},
};

static const struct sframe_suite *sframe_suite_find(uint16_t id)
{
	for (size_t i = 0; i < ARRAY_SIZE(sframe_suites); i++) {
		if (sframe_suites[i].id == id)
			return &sframe_suites[i];
	}
	return NULL;
}

/*
 * Whether a suite can run. libsodium caches the CPU features in sodium_init(),
 * which sframe_key_init has called before any key can exist, so this is cheap
 * enough for the per-frame path.
 */
static bool sframe_suite_runnable(const struct sframe_suite *suite)
{
	return !suite->needs_aesni || crypto_aead_aes256gcm_is_available();
}

bool sframe_suite_available(uint16_t suite)
{
	const struct sframe_suite *s = sframe_suite_find(suite);

	if (s == NULL || sodium_init() < 0)
		return false;
	return sframe_suite_runnable(s);
}

/* Bytes needed for v in big-endian without leading zeros (1 for 0). */
static size_t sframe_uint_len(uint64_t v)
{
	size_t n = 1;

	while (v > 0xff) {
		v >>= 8;
		n++;
	}
	return n;
}

static size_t sframe_field_len(uint64_t v)
{
	return v < 8 ? 0 : sframe_uint_len(v);
}

size_t sframe_header_len(uint64_t kid, uint64_t ctr)
{
	return 1 + sframe_field_len(kid) + sframe_field_len(ctr);
}

static void sframe_put_uint(uint8_t *out, uint64_t v, size_t len)
{
	for (size_t i = 0; i < len; i++)
		out[i] = (uint8_t)(v >> (8 * (len - 1 - i)));
}

int sframe_header_encode(uint8_t *out, size_t cap, const struct sframe_header *hdr)
{
	size_t kid_len = sframe_field_len(hdr->kid);
	size_t ctr_len = sframe_field_len(hdr->ctr);
	size_t len = 1 + kid_len + ctr_len;
	uint8_t config = 0;

	if (cap < len)
		return -EMSGSIZE;
	/* Config byte: X (1 bit), K (3 bits), Y (1 bit), C (3 bits). */
	if (kid_len == 0)
		config |= (uint8_t)(hdr->kid << 4);
	else
		config |= (uint8_t)(0x80 | ((kid_len - 1) << 4));
	if (ctr_len == 0)
		config |= (uint8_t)hdr->ctr;
	else
		config |= (uint8_t)(0x08 | (ctr_len - 1));
	out[0] = config;
	sframe_put_uint(out + 1, hdr->kid, kid_len);
	sframe_put_uint(out + 1 + kid_len, hdr->ctr, ctr_len);
	return (int)len;
}

/*
 * Reads one extended field of len bytes at in, refusing encodings that are not the
 * shortest: RFC 9605 puts values 0-7 in the config byte and larger ones in the
 * minimum number of bytes.
 */
static int sframe_get_uint(uint64_t *v, const uint8_t *in, size_t len)
{
	uint64_t value = 0;

	if (len > 1 && in[0] == 0)
		return -EINVAL;
	for (size_t i = 0; i < len; i++)
		value = (value << 8) | in[i];
	if (value < 8)
		return -EINVAL;
	*v = value;
	return 0;
}

int sframe_header_decode(struct sframe_header *hdr, const uint8_t *in, size_t len)
{
	size_t kid_len = 0, ctr_len = 0;
	uint8_t config;
	uint64_t kid, ctr;

	if (len < 1)
		return -EINVAL;
	config = in[0];
	kid = (config >> 4) & 0x07;
	ctr = config & 0x07;
	if (config & 0x80)
		kid_len = (size_t)kid + 1;
	if (config & 0x08)
		ctr_len = (size_t)ctr + 1;
	if (len - 1 < kid_len + ctr_len)
		return -EINVAL;
	if (kid_len > 0 && sframe_get_uint(&kid, in + 1, kid_len) < 0)
		return -EINVAL;
	if (ctr_len > 0 && sframe_get_uint(&ctr, in + 1 + kid_len, ctr_len) < 0)
		return -EINVAL;
	hdr->kid = kid;
	hdr->ctr = ctr;
	return (int)(1 + kid_len + ctr_len);
}

int sframe_key_init(struct sframe_key *key, uint16_t suite, uint64_t kid,
		    const uint8_t *base_key, size_t base_key_len)
{
	static const char key_label[] = "SFrame 1.0 Secret key ";
	static const char salt_label[] = "SFrame 1.0 Secret salt ";
	uint8_t secret[HKDF_SHA512_HASH_LEN];
	/* The longer label, then KID (8 bytes) and suite (2 bytes), big-endian. */
	uint8_t info[sizeof(salt_label) - 1 + 8 + 2];
	size_t n;

	if (sframe_suite_find(suite) == NULL)
		return -ENOTSUP;
	if (base_key_len == 0)
		return -EINVAL;
	if (sodium_init() < 0)
		return -ENOTSUP;
	memset(key, 0, sizeof(*key));
	key->suite = suite;
	key->kid = kid;
	hkdf_sha512_extract(secret, NULL, 0, base_key, base_key_len);

	n = sizeof(key_label) - 1;
	memcpy(info, key_label, n);
	put_u64be(info + n, kid);
	put_u16be(info + n + 8, suite);
	hkdf_sha512_expand(key->key, sizeof(key->key), secret, sizeof(secret), info, n + 10);

	n = sizeof(salt_label) - 1;
	memcpy(info, salt_label, n);
	put_u64be(info + n, kid);
	put_u16be(info + n + 8, suite);
	hkdf_sha512_expand(key->salt, sizeof(key->salt), secret, sizeof(secret), info, n + 10);

	sodium_memzero(secret, sizeof(secret));
	return 0;
}

void sframe_key_wipe(struct sframe_key *key)
{
	sodium_memzero(key, sizeof(*key));
}

/* nonce = salt XOR CTR, the CTR left-padded with zeros to Nn bytes. */
static void sframe_nonce(uint8_t nonce[SFRAME_NONCE_LEN], const struct sframe_key *key,
			 uint64_t ctr)
{
	uint8_t padded[SFRAME_NONCE_LEN] = {0};

	put_u64be(padded + SFRAME_NONCE_LEN - 8, ctr);
	for (size_t i = 0; i < SFRAME_NONCE_LEN; i++)
		nonce[i] = key->salt[i] ^ padded[i];
}

int sframe_sender_init(struct sframe_sender *sender, uint16_t suite, uint64_t kid,
		       const uint8_t *base_key, size_t base_key_len)
{
	int r;

	memset(sender, 0, sizeof(*sender));
	r = sframe_key_init(&sender->key, suite, kid, base_key, base_key_len);
	if (r < 0)
		return r;
	sender->next_ctr = 0;
	sender->ctr_limit = UINT64_MAX;
	return 0;
}

void sframe_sender_wipe(struct sframe_sender *sender)
{
	sodium_memzero(sender, sizeof(*sender));
}

int sframe_sender_set_counter(struct sframe_sender *sender, uint64_t next_ctr)
{
	if (next_ctr < sender->next_ctr)
		return -EINVAL;
	sender->next_ctr = next_ctr;
	return 0;
}

int sframe_sender_set_limit(struct sframe_sender *sender, uint64_t limit)
{
	if (limit > sender->ctr_limit)
		return -EINVAL;
	sender->ctr_limit = limit;
	return 0;
}

int sframe_protect(struct sframe_sender *sender, const uint8_t *metadata,
		   size_t metadata_len, const uint8_t *pt, size_t pt_len, uint8_t *out,
		   size_t out_cap, size_t *out_len)
{
	const struct sframe_suite *suite = sframe_suite_find(sender->key.suite);
	struct sframe_header hdr = {.kid = sender->key.kid, .ctr = sender->next_ctr};
	uint8_t aad[SFRAME_HEADER_MAX + SFRAME_METADATA_MAX];
	uint8_t nonce[SFRAME_NONCE_LEN];
	unsigned long long ct_len = 0;
	size_t hdr_len;
	int r;

	if (suite == NULL || !sframe_suite_runnable(suite))
		return -ENOTSUP;
	if (sender->next_ctr >= sender->ctr_limit)
		return -ERANGE;
	if (metadata_len > SFRAME_METADATA_MAX)
		return -EMSGSIZE;
	hdr_len = sframe_header_len(hdr.kid, hdr.ctr);
	if (pt_len > SIZE_MAX - hdr_len - SFRAME_TAG_LEN ||
	    out_cap < hdr_len + pt_len + SFRAME_TAG_LEN)
		return -EMSGSIZE;
	r = sframe_header_encode(out, out_cap, &hdr);
	if (r < 0)
		return r;
	memcpy(aad, out, hdr_len);
	if (metadata_len > 0)
		memcpy(aad + hdr_len, metadata, metadata_len);
	sframe_nonce(nonce, &sender->key, hdr.ctr);
	/* The counter moves before encryption finishes so no path can reuse it. */
	sender->next_ctr++;
	if (suite->encrypt(out + hdr_len, &ct_len, pt, pt_len, aad, hdr_len + metadata_len,
			   NULL, nonce, sender->key.key) != 0)
		return -EINVAL;
	*out_len = hdr_len + (size_t)ct_len;
	return 0;
}

void sframe_keyring_init(struct sframe_keyring *ring)
{
	memset(ring, 0, sizeof(*ring));
}

void sframe_keyring_free(struct sframe_keyring *ring)
{
	if (ring->keys != NULL)
		sodium_memzero(ring->keys, ring->capacity * sizeof(*ring->keys));
	free(ring->keys);
	memset(ring, 0, sizeof(*ring));
}

/* Index of the first key whose KID is >= kid (binary search on the sorted array). */
static size_t sframe_keyring_lower_bound(const struct sframe_keyring *ring, uint64_t kid)
{
	size_t lo = 0, hi = ring->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ring->keys[mid].key.kid < kid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct sframe_recv_key *sframe_keyring_find(const struct sframe_keyring *ring,
						   uint64_t kid)
{
	size_t i = sframe_keyring_lower_bound(ring, kid);

	if (i < ring->count && ring->keys[i].key.kid == kid)
		return &ring->keys[i];
	return NULL;
}

bool sframe_keyring_has(const struct sframe_keyring *ring, uint64_t kid)
{
	return sframe_keyring_find(ring, kid) != NULL;
}

int sframe_keyring_add(struct sframe_keyring *ring, uint16_t suite, uint64_t kid,
		       const uint8_t *base_key, size_t base_key_len)
{
	struct sframe_key key;
	size_t i;
	int r;

	if (sframe_keyring_find(ring, kid) != NULL)
		return -EEXIST;
	r = sframe_key_init(&key, suite, kid, base_key, base_key_len);
	if (r < 0)
		return r;
	if (ring->count == ring->capacity) {
		size_t capacity = ring->capacity == 0 ? 8 : ring->capacity * 2;
		struct sframe_recv_key *keys = xcalloc(capacity, sizeof(*keys));

		/* Copy by hand rather than realloc so no stale key bytes stay behind. */
		if (ring->count > 0)
			memcpy(keys, ring->keys, ring->count * sizeof(*keys));
		if (ring->keys != NULL)
			sodium_memzero(ring->keys, ring->capacity * sizeof(*ring->keys));
		free(ring->keys);
		ring->keys = keys;
		ring->capacity = capacity;
	}
	i = sframe_keyring_lower_bound(ring, kid);
	memmove(&ring->keys[i + 1], &ring->keys[i], (ring->count - i) * sizeof(*ring->keys));
	memset(&ring->keys[i], 0, sizeof(ring->keys[i]));
	ring->keys[i].key = key;
	ring->count++;
	sframe_key_wipe(&key);
	return 0;
}

int sframe_keyring_remove(struct sframe_keyring *ring, uint64_t kid)
{
	size_t i = sframe_keyring_lower_bound(ring, kid);

	if (i >= ring->count || ring->keys[i].key.kid != kid)
		return -ENOKEY;
	memmove(&ring->keys[i], &ring->keys[i + 1],
		(ring->count - i - 1) * sizeof(*ring->keys));
	ring->count--;
	sodium_memzero(&ring->keys[ring->count], sizeof(ring->keys[ring->count]));
	return 0;
}

#define SFRAME_REPLAY_WORDS (SFRAME_REPLAY_WINDOW / 64 + 1)

/*
 * Accepts ctr once: 0 if new (and records it), -EALREADY if seen or older than the
 * window. The bitmap holds one more 64-bit word than the window needs, as WireGuard
 * does, so sliding forward clears whole words and every counter within
 * SFRAME_REPLAY_WINDOW of the highest one still has its bit.
 */
static int sframe_replay_check(struct sframe_recv_key *rk, uint64_t ctr)
{
	uint64_t *word;
	uint64_t bit = UINT64_C(1) << (ctr & 63);

	if (!rk->seen_any) {
		memset(rk->seen, 0, sizeof(rk->seen));
		rk->seen_any = true;
		rk->max_ctr = ctr;
	} else if (ctr > rk->max_ctr) {
		uint64_t top = rk->max_ctr >> 6, new_top = ctr >> 6;
		uint64_t clear = new_top - top;

		if (clear > SFRAME_REPLAY_WORDS)
			clear = SFRAME_REPLAY_WORDS;
		for (uint64_t i = 1; i <= clear; i++)
			rk->seen[(top + i) % SFRAME_REPLAY_WORDS] = 0;
		rk->max_ctr = ctr;
	} else if (rk->max_ctr - ctr >= SFRAME_REPLAY_WINDOW) {
		return -EALREADY;
	}
	word = &rk->seen[(ctr >> 6) % SFRAME_REPLAY_WORDS];
	if (*word & bit)
		return -EALREADY;
	*word |= bit;
	return 0;
}

int sframe_unprotect(struct sframe_keyring *ring, const uint8_t *metadata,
		     size_t metadata_len, const uint8_t *frame, size_t frame_len, uint8_t *out,
		     size_t out_cap, size_t *pt_len, struct sframe_header *hdr)
{
	const struct sframe_suite *suite;
	struct sframe_recv_key *rk;
	struct sframe_header parsed;
	uint8_t aad[SFRAME_HEADER_MAX + SFRAME_METADATA_MAX];
	uint8_t nonce[SFRAME_NONCE_LEN];
	unsigned long long m_len = 0;
	size_t hdr_len, ct_len;
	int r;

	r = sframe_header_decode(&parsed, frame, frame_len);
	if (r < 0)
		return r;
	hdr_len = (size_t)r;
	if (frame_len - hdr_len < SFRAME_TAG_LEN)
		return -EINVAL;
	ct_len = frame_len - hdr_len;
	if (hdr != NULL)
		*hdr = parsed;
	rk = sframe_keyring_find(ring, parsed.kid);
	if (rk == NULL)
		return -ENOKEY;
	suite = sframe_suite_find(rk->key.suite);
	if (suite == NULL || !sframe_suite_runnable(suite))
		return -ENOTSUP;
	if (metadata_len > SFRAME_METADATA_MAX || out_cap < ct_len - SFRAME_TAG_LEN)
		return -EMSGSIZE;
	memcpy(aad, frame, hdr_len);
	if (metadata_len > 0)
		memcpy(aad + hdr_len, metadata, metadata_len);
	sframe_nonce(nonce, &rk->key, parsed.ctr);
	if (suite->decrypt(out, &m_len, NULL, frame + hdr_len, ct_len, aad,
			   hdr_len + metadata_len, nonce, rk->key.key) != 0)
		return -EBADMSG;
	/* Only an authentic frame may move the replay window. */
	r = sframe_replay_check(rk, parsed.ctr);
	if (r < 0)
		return r;
	*pt_len = (size_t)m_len;
	return 0;
}
