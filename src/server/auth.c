/*
 * auth.c - login challenges, signature checks, tokens and token buckets.
 */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "auth.h"
#include "encoding.h"
#include "util.h"

/* How many rate-limit buckets are remembered; the fullest is evicted first. */
#define AUTH_BUCKETS 1024
#define AUTH_REFILL_MS 60000

struct auth_bucket {
	uint8_t id[33]; /* kind byte ('a'ddress or 'k'ey) then 32 bytes */
	double tokens;
	uint64_t updated_ms;
	bool used;
};

struct auth {
	unsigned int burst_addr;
	unsigned int burst_key;
	struct auth_bucket buckets[AUTH_BUCKETS];
	struct auth_challenge *challenges;
	size_t challenge_count;
};

struct auth *auth_new(unsigned int burst)
{
	struct auth *auth = xcalloc(1, sizeof(*auth));

	auth->burst_addr = burst > 0 ? burst : 1;
	auth->burst_key = auth->burst_addr / 2 > 0 ? auth->burst_addr / 2 : 1;
	auth->challenges = xcalloc(AUTH_MAX_CHALLENGES, sizeof(*auth->challenges));
	return auth;
}

void auth_free(struct auth *auth)
{
	if (auth == NULL)
		return;
	sodium_memzero(auth->challenges, AUTH_MAX_CHALLENGES * sizeof(*auth->challenges));
	free(auth->challenges);
	free(auth);
}

/* Refills a bucket for the time elapsed; burst tokens per AUTH_REFILL_MS. */
static void auth_bucket_refill(struct auth_bucket *bucket, unsigned int burst, uint64_t now_ms)
{
	uint64_t elapsed = now_ms > bucket->updated_ms ? now_ms - bucket->updated_ms : 0;

	bucket->tokens += (double)elapsed * burst / AUTH_REFILL_MS;
	if (bucket->tokens > burst)
		bucket->tokens = burst;
	bucket->updated_ms = now_ms;
}

/* Finds or makes the bucket for id, evicting the fullest one when all are used. */
static struct auth_bucket *auth_bucket_get(struct auth *auth, const uint8_t id[33],
					   unsigned int burst, uint64_t now_ms)
{
	struct auth_bucket *victim = NULL;
	double fullest = -1;

	for (size_t i = 0; i < AUTH_BUCKETS; i++) {
		struct auth_bucket *bucket = &auth->buckets[i];

		if (bucket->used && memcmp(bucket->id, id, 33) == 0) {
			auth_bucket_refill(bucket, burst, now_ms);
			return bucket;
		}
		if (!bucket->used) {
			if (fullest < 1e300) {
				victim = bucket;
				fullest = 1e300;
			}
			continue;
		}
		auth_bucket_refill(bucket, bucket->id[0] == 'a' ? auth->burst_addr :
								auth->burst_key, now_ms);
		if (bucket->tokens > fullest) {
			victim = bucket;
			fullest = bucket->tokens;
		}
	}
	memcpy(victim->id, id, 33);
	victim->used = true;
	victim->tokens = burst;
	victim->updated_ms = now_ms;
	return victim;
}

int auth_rate_take(struct auth *auth, const struct sockaddr *addr, const uint8_t key[32],
		   uint64_t now_ms)
{
	struct auth_bucket *by_addr, *by_key;
	uint8_t id[33] = {'a'};

	/* IPv6 clients usually own a whole /64, so that is what is counted. */
	if (addr != NULL && addr->sa_family == AF_INET)
		memcpy(id + 1, &((const struct sockaddr_in *)(const void *)addr)->sin_addr, 4);
	else if (addr != NULL && addr->sa_family == AF_INET6)
		memcpy(id + 1, &((const struct sockaddr_in6 *)(const void *)addr)->sin6_addr, 8);
	by_addr = auth_bucket_get(auth, id, auth->burst_addr, now_ms);
	id[0] = 'k';
	memcpy(id + 1, key, 32);
	by_key = auth_bucket_get(auth, id, auth->burst_key, now_ms);
	if (by_addr->tokens < 1 || by_key->tokens < 1)
		return -EAGAIN;
	by_addr->tokens -= 1;
	by_key->tokens -= 1;
	return 0;
}

int auth_challenge_new(struct auth *auth, struct auth_challenge *challenge, uint64_t now_ms)
{
	auth_expire(auth, now_ms);
	if (auth->challenge_count == AUTH_MAX_CHALLENGES)
		return -ENOSPC;
	randombytes_buf(challenge->nonce, sizeof(challenge->nonce));
	challenge->expires_ms = now_ms + AUTH_CHALLENGE_TTL_MS;
	auth->challenges[auth->challenge_count++] = *challenge;
	return 0;
}

/* Removes challenge i by moving the last one into its place. */
static void auth_challenge_drop(struct auth *auth, size_t i)
{
	auth->challenges[i] = auth->challenges[--auth->challenge_count];
	sodium_memzero(&auth->challenges[auth->challenge_count], sizeof(struct auth_challenge));
}

int auth_challenge_take(struct auth *auth, const uint8_t nonce[32], uint64_t now_ms,
			struct auth_challenge *out)
{
	for (size_t i = 0; i < auth->challenge_count; i++) {
		if (sodium_memcmp(auth->challenges[i].nonce, nonce, 32) != 0)
			continue;
		*out = auth->challenges[i];
		auth_challenge_drop(auth, i);
		return out->expires_ms <= now_ms ? -ETIMEDOUT : 0;
	}
	return -ENOENT;
}

void auth_expire(struct auth *auth, uint64_t now_ms)
{
	for (size_t i = 0; i < auth->challenge_count;) {
		if (auth->challenges[i].expires_ms <= now_ms)
			auth_challenge_drop(auth, i);
		else
			i++;
	}
}

void auth_message(uint8_t out[AUTH_MESSAGE_LEN], const uint8_t nonce[32],
		  const uint8_t public_key[32])
{
	memcpy(out, AUTH_DOMAIN, sizeof(AUTH_DOMAIN)); /* with its NUL */
	memcpy(out + sizeof(AUTH_DOMAIN), nonce, 32);
	memcpy(out + sizeof(AUTH_DOMAIN) + 32, public_key, 32);
}

int auth_verify(const uint8_t nonce[32], const uint8_t public_key[32],
		const uint8_t signature[64])
{
	uint8_t message[AUTH_MESSAGE_LEN];

	auth_message(message, nonce, public_key);
	if (crypto_sign_verify_detached(signature, message, sizeof(message), public_key) != 0)
		return -EBADMSG;
	return 0;
}

char *auth_token_new(uint8_t hash[32])
{
	uint8_t token[AUTH_TOKEN_LEN];
	char *text;

	randombytes_buf(token, sizeof(token));
	crypto_generichash(hash, 32, token, sizeof(token), NULL, 0);
	text = base64_encode_new(token, sizeof(token));
	sodium_memzero(token, sizeof(token));
	return text;
}

int auth_token_hash(const char *text, uint8_t hash[32])
{
	uint8_t token[AUTH_TOKEN_LEN];

	if (base64_decode(token, sizeof(token), text) < 0)
		return -EINVAL;
	crypto_generichash(hash, 32, token, sizeof(token), NULL, 0);
	sodium_memzero(token, sizeof(token));
	return 0;
}
