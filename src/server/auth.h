/*
 * auth.h - challenge-response login with Ed25519 identity keys, bearer tokens
 * and login rate limiting.
 *
 * Login: the client asks for a challenge for its public key; the server keeps a
 * random 32-byte nonce for AUTH_CHALLENGE_TTL_MS; the client signs
 *     "salon-login-v1\0" || nonce || public_key
 * with its identity key and sends the signature back; a challenge is used at most
 * once, whatever the outcome. Tokens are 32 random bytes (base64url); only their
 * BLAKE2b-256 hash is stored (store.h).
 *
 * State lives in memory and is used from salond's event-loop thread only.
 * Errors as in util.h.
 */
#ifndef SALON_AUTH_H
#define SALON_AUTH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "store.h"

#define AUTH_CHALLENGE_TTL_MS 60000
#define AUTH_MAX_CHALLENGES 4096
#define AUTH_TOKEN_LEN 32
#define AUTH_TOKEN_TTL_S (30 * 24 * 3600)
#define AUTH_DOMAIN "salon-login-v1"
/* Length of the signed message: the domain with its NUL, the nonce, the key. */
#define AUTH_MESSAGE_LEN (sizeof(AUTH_DOMAIN) + 32 + 32)

struct auth;

/* What a challenge remembers until the login that answers it. */
struct auth_challenge {
	uint8_t nonce[32];
	uint8_t public_key[32];
	char name[STORE_NAME_BUF];
	bool bot;
	uint64_t expires_ms;
};

/*
 * Creates the login state. burst is the number of challenges a client address may
 * ask for at once (refilled at burst per minute); each key gets half of that
 * (at least 1). The caller frees it with auth_free().
 */
struct auth *auth_new(unsigned int burst);
void auth_free(struct auth *auth);

/*
 * Takes one token from the address's and the key's buckets. Returns 0, or -EAGAIN
 * when either is empty (answer 429).
 */
int auth_rate_take(struct auth *auth, const struct sockaddr *addr, const uint8_t key[32],
		   uint64_t now_ms);

/*
 * Records a new challenge (nonce filled in). Returns 0 or -ENOSPC when too many
 * are outstanding (answer 503).
 */
int auth_challenge_new(struct auth *auth, struct auth_challenge *challenge, uint64_t now_ms);

/*
 * Removes the challenge with this nonce and copies it out. Returns 0, -ENOENT when
 * there is none (never issued, or already used), -ETIMEDOUT when it expired.
 */
int auth_challenge_take(struct auth *auth, const uint8_t nonce[32], uint64_t now_ms,
			struct auth_challenge *out);

/* Builds the signed message (AUTH_MESSAGE_LEN bytes) for a nonce and key. */
void auth_message(uint8_t out[AUTH_MESSAGE_LEN], const uint8_t nonce[32],
		  const uint8_t public_key[32]);

/* Checks the login signature. Returns 0 or -EBADMSG. */
int auth_verify(const uint8_t nonce[32], const uint8_t public_key[32],
		const uint8_t signature[64]);

/*
 * Makes a new token: its text (base64url, newly allocated, the caller frees it)
 * and the hash to store.
 */
char *auth_token_new(uint8_t hash[32]);

/* Hashes a token presented by a client. Returns 0 or -EINVAL for malformed text. */
int auth_token_hash(const char *text, uint8_t hash[32]);

/* Forgets expired challenges. */
void auth_expire(struct auth *auth, uint64_t now_ms);

#endif
