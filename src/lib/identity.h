/*
 * identity.h - a user's Ed25519 identity key: generation, storage, signatures,
 * X25519 conversion for sealing keys with crypto_box, and safety numbers.
 *
 * File format (one file, mode 0600, normally $XDG_DATA_HOME/salon/identity):
 *
 *     salon-identity-v1\n
 *     <the 32-byte Ed25519 seed in base64url without padding: 43 characters>\n
 *
 * and nothing else (the final newline is optional on load). The public key is
 * recomputed from the seed. A file that group or others may access is refused.
 *
 * Safety numbers (what `salon whoami` shows and `salon verify USER` compares):
 *     d = SHA-512("salon safety number v1" || 0x00 || public_key)
 *     repeat IDENTITY_SAFETY_ITERATIONS times: d = SHA-512(d || public_key)
 * then the first 30 bytes of d, read as six 5-byte big-endian integers, each taken
 * modulo 100000, give six groups of five decimal digits: "01234 56789 ..." (30
 * digits). The iterations make it expensive to search for a second key with the
 * same number (as Signal does). A pair safety number for two users is both numbers,
 * the smaller (as a digit string) first, as twelve groups: both users see the same
 * 60 digits and read them aloud to each other.
 *
 * Errors as in util.h. All functions may be called from any thread; none keeps
 * global state. Secrets are wiped with sodium_memzero when no longer needed.
 */
#ifndef SALON_IDENTITY_H
#define SALON_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#define IDENTITY_PUBLIC_LEN 32	/* crypto_sign_PUBLICKEYBYTES */
#define IDENTITY_SECRET_LEN 64	/* crypto_sign_SECRETKEYBYTES */
#define IDENTITY_SEED_LEN 32	/* crypto_sign_SEEDBYTES */
#define IDENTITY_SIGNATURE_LEN 64 /* crypto_sign_BYTES */
#define IDENTITY_X25519_LEN 32	/* crypto_box_PUBLICKEYBYTES and SECRETKEYBYTES */

#define IDENTITY_FILE_MAGIC "salon-identity-v1"
#define IDENTITY_SAFETY_ITERATIONS 5200
#define IDENTITY_SAFETY_DIGITS 30
/* "ddddd ddddd ddddd ddddd ddddd ddddd" and its NUL. */
#define IDENTITY_SAFETY_TEXT_LEN (IDENTITY_SAFETY_DIGITS + 5 + 1)
/* Twelve groups for a pair, and the NUL. */
#define IDENTITY_PAIR_SAFETY_TEXT_LEN (2 * IDENTITY_SAFETY_DIGITS + 11 + 1)

/* One user's key pair. The caller owns it and wipes it with identity_wipe. */
struct identity {
	uint8_t public_key[IDENTITY_PUBLIC_LEN];
	uint8_t secret_key[IDENTITY_SECRET_LEN];
};

/* Makes a new random key pair. Returns 0, or -EIO if libsodium cannot start. */
int identity_generate(struct identity *id);

/* Derives the key pair from a 32-byte seed. Returns 0, or -EIO as above. */
int identity_from_seed(struct identity *id, const uint8_t seed[IDENTITY_SEED_LEN]);

/* Erases the key pair. */
void identity_wipe(struct identity *id);

/*
 * Writes id to path in the format above: missing parent directories are created
 * with mode 0700, the key goes to a new temporary file beside path (O_CREAT|O_EXCL,
 * mode 0600), is flushed to disk, and is renamed over path only if path does not
 * exist yet, so a key is never lost by accident. Returns 0, -EEXIST when path
 * exists, or another negative errno from the file system. On failure, when reason is
 * not NULL, a translated, human-readable explanation (never containing the key) is
 * written to reason (capacity reason_len).
 */
int identity_save(const struct identity *id, const char *path, char *reason,
		  size_t reason_len);

/*
 * Reads path into id. Returns 0, -ENOENT when there is no such file, -EPERM when
 * the file is not owned by this user or group or others have any access to it
 * (the key may have leaked; the reason says to check and chmod 600), -EINVAL when
 * it is not a regular file or not in the format above (truncated, corrupted), or
 * another negative errno. reason as in identity_save.
 */
int identity_load(struct identity *id, const char *path, char *reason, size_t reason_len);

/*
 * The X25519 public key for an Ed25519 public key, for crypto_box. Returns 0 or
 * -EINVAL when ed_public is not a valid Ed25519 point (out unspecified).
 */
int identity_x25519_public(uint8_t out[IDENTITY_X25519_LEN],
			   const uint8_t ed_public[IDENTITY_PUBLIC_LEN]);

/* The X25519 secret key of id, for crypto_box. The caller wipes out. Returns 0. */
int identity_x25519_secret(uint8_t out[IDENTITY_X25519_LEN], const struct identity *id);

/* Writes the detached Ed25519 signature of msg (len bytes) by id into sig. */
void identity_sign(uint8_t sig[IDENTITY_SIGNATURE_LEN], const struct identity *id,
		   const uint8_t *msg, size_t len);

/* Checks a detached signature. Returns 0 if valid, -EBADMSG otherwise. */
int identity_verify(const uint8_t public_key[IDENTITY_PUBLIC_LEN],
		    const uint8_t sig[IDENTITY_SIGNATURE_LEN], const uint8_t *msg, size_t len);

/* Writes the safety number of public_key into out, formatted as above. */
void identity_safety_number(char out[IDENTITY_SAFETY_TEXT_LEN],
			    const uint8_t public_key[IDENTITY_PUBLIC_LEN]);

/*
 * Writes the pair safety number of two users (the same whichever comes first) into
 * out, formatted as above.
 */
void identity_pair_safety_number(char out[IDENTITY_PAIR_SAFETY_TEXT_LEN],
				 const uint8_t public_a[IDENTITY_PUBLIC_LEN],
				 const uint8_t public_b[IDENTITY_PUBLIC_LEN]);

#endif
