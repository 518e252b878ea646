/*
 * noise.h - the Noise protocol framework (revision 34), restricted to what salon
 * uses: the NK handshake pattern with 25519, ChaChaPoly and SHA512
 * (Noise_NK_25519_ChaChaPoly_SHA512), on libsodium.
 *
 *   NK:  <- s
 *        ...
 *        -> e, es
 *        <- e, ee
 *
 * The handshake is checked against the published cacophony and snow vectors.
 * Errors as in util.h. Nothing here allocates; wipe state with noise_handshake_wipe().
 */
#ifndef SALON_NOISE_H
#define SALON_NOISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NOISE_DH_LEN 32
#define NOISE_KEY_LEN 32
#define NOISE_HASH_LEN 64
#define NOISE_TAG_LEN 16
#define NOISE_MAX_MESSAGE 65535
#define NOISE_PROTOCOL_NAME "Noise_NK_25519_ChaChaPoly_SHA512"

/* A CipherState: a key (when has_key) and the implicit nonce n. */
struct noise_cipher {
	uint8_t key[NOISE_KEY_LEN];
	uint64_t n;
	bool has_key;
};

enum noise_role {
	NOISE_INITIATOR,
	NOISE_RESPONDER,
};

/* A HandshakeState with its SymmetricState. */
struct noise_handshake {
	enum noise_role role;
	int message_index;               /* 0: next is "e, es"; 1: "e, ee"; 2: done */
	uint8_t ck[NOISE_HASH_LEN];
	uint8_t h[NOISE_HASH_LEN];
	struct noise_cipher cipher;
	uint8_t s_secret[NOISE_DH_LEN];  /* responder's static key pair */
	uint8_t s_public[NOISE_DH_LEN];
	uint8_t e_secret[NOISE_DH_LEN];  /* our ephemeral key pair */
	uint8_t e_public[NOISE_DH_LEN];
	bool e_fixed;                    /* e was set by noise_handshake_set_ephemeral() */
	uint8_t rs[NOISE_DH_LEN];        /* remote static (initiator: the responder's) */
	uint8_t re[NOISE_DH_LEN];        /* remote ephemeral */
};

/*
 * Initialises an NK handshake. The initiator passes the responder's static public
 * key in remote_static; the responder passes its static secret key in
 * local_static_secret (the other argument is NULL). The prologue is mixed into h.
 */
int noise_nk_init(struct noise_handshake *hs, enum noise_role role, const uint8_t *prologue,
		  size_t prologue_len, const uint8_t *local_static_secret,
		  const uint8_t *remote_static);

/* Test vectors fix the ephemeral key; otherwise a fresh one is made when needed. */
void noise_handshake_set_ephemeral(struct noise_handshake *hs,
				   const uint8_t secret[NOISE_DH_LEN]);

/*
 * Writes the next handshake message with payload into out (capacity out_cap).
 * Returns 0 and sets *out_len, -EMSGSIZE when out is too small, or -EPROTO when it
 * is not our turn.
 */
int noise_handshake_write(struct noise_handshake *hs, const uint8_t *payload,
			  size_t payload_len, uint8_t *out, size_t out_cap, size_t *out_len);

/*
 * Reads the next handshake message and decrypts its payload into payload
 * (capacity payload_cap). Returns 0, -EINVAL for a short message, -EBADMSG when
 * authentication fails (the state is then unusable), -EPROTO when out of turn,
 * -EMSGSIZE when payload_cap is too small. -EINVAL and -EMSGSIZE leave the state as
 * it was. noise_handshake_write also returns -EBADMSG when the remote key is a
 * low-order point (all-zero DH output).
 */
int noise_handshake_read(struct noise_handshake *hs, const uint8_t *msg, size_t msg_len,
			 uint8_t *payload, size_t payload_cap, size_t *payload_len);

/* True once both messages have been written or read. */
bool noise_handshake_done(const struct noise_handshake *hs);

/*
 * Split(): the initiator's sending key is c1, the responder's is c2. Fills the two
 * cipher states and, when handshake_hash is not NULL, the final h. Returns -EPROTO
 * when the handshake is not done.
 */
int noise_handshake_split(const struct noise_handshake *hs, struct noise_cipher *send,
			  struct noise_cipher *recv, uint8_t handshake_hash[NOISE_HASH_LEN]);

/* Zeroes every secret in hs. */
void noise_handshake_wipe(struct noise_handshake *hs);

/*
 * ChaChaPoly with an explicit nonce (the 96-bit nonce is 32 zero bits followed by
 * the 64-bit little-endian n, as the Noise spec says). out must hold len + 16.
 * noise_decrypt returns -EBADMSG when authentication fails.
 */
void noise_encrypt(const uint8_t key[NOISE_KEY_LEN], uint64_t n, const uint8_t *ad,
		   size_t ad_len, const uint8_t *plaintext, size_t len, uint8_t *out);
int noise_decrypt(const uint8_t key[NOISE_KEY_LEN], uint64_t n, const uint8_t *ad,
		  size_t ad_len, const uint8_t *ciphertext, size_t len, uint8_t *out);

/*
 * EncryptWithAd / DecryptWithAd on a CipherState (implicit nonce, incremented),
 * used by the transport-message vectors. Return 0, -ERANGE at nonce 2^64-1,
 * -EBADMSG on authentication failure.
 */
int noise_cipher_encrypt(struct noise_cipher *c, const uint8_t *ad, size_t ad_len,
			 const uint8_t *plaintext, size_t len, uint8_t *out);
int noise_cipher_decrypt(struct noise_cipher *c, const uint8_t *ad, size_t ad_len,
			 const uint8_t *ciphertext, size_t len, uint8_t *out);

#endif
