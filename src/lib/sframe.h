/*
 * sframe.h - end-to-end encryption of media frames with SFrame (RFC 9605).
 *
 * A protected frame is  header || AEAD ciphertext || tag,  where the header carries
 * the key id (KID) and the frame counter (CTR) as in RFC 9605 section 4.3, and the
 * AEAD's associated data is  header || metadata  (section 4.4.3). The relay sees
 * only the header; it cannot open or alter a frame without detection.
 *
 * Cipher suites:
 *   0x0005 AES_256_GCM_SHA512_128 (RFC 9605): Nk = 32, Nn = 12, Nt = 16. libsodium
 *          runs AES-GCM only on CPUs with AES-NI and CLMUL; sframe_suite_available()
 *          says whether this one can, and protect/unprotect return -ENOTSUP where it
 *          cannot. Conformance: it reproduces the RFC's test vectors exactly.
 *   0xF001 CHACHA20_POLY1305_SHA512 (salon's own, from the RFC's private-use range
 *          0xF000-0xFFFF): ChaCha20-Poly1305 as in RFC 8439 ("IETF" variant, 96-bit
 *          nonce), Nk = 32, Nn = 12, Nt = 16, with exactly the same key schedule,
 *          nonce formation, header and AAD as suite 0x0005, and HKDF-SHA-512 as KDF.
 *          It exists for CPUs without AES-NI and runs everywhere.
 *
 * Key schedule (RFC 9605 section 4.4.2), for both suites:
 *   secret = HKDF-Extract("", base_key)
 *   key    = HKDF-Expand(secret, "SFrame 1.0 Secret key "  || KID || suite, Nk)
 *   salt   = HKDF-Expand(secret, "SFrame 1.0 Secret salt " || KID || suite, Nn)
 * with KID as 8 bytes and the suite as 2 bytes, both big-endian. The nonce of a frame
 * is salt XOR CTR, the CTR left-padded with zeros to Nn bytes.
 *
 * KID layout used by salon: KID = (sender_id << 8) | epoch. sender_id is the member
 * number the server assigned to the speaker in that room (at most 56 bits); epoch
 * is the low 8 bits of the speaker's key epoch, incremented at each re-key and
 * wrapping from 255 to 0 (a receiver keeps only a few epochs per sender, so the wrap
 * is unambiguous). Each speaker owns its base keys: a base key is used by one sender
 * only, as the RFC requires.
 *
 * Replay: the receiver keeps a sliding window of SFRAME_REPLAY_WINDOW counters per
 * KID, updated only after a frame authenticates. A frame whose counter is already
 * seen, or older than the window, is refused.
 *
 * Errors as in util.h. Threads: the header functions are pure and callable from any
 * thread. A sender or a keyring belongs to one thread at a time (the media thread),
 * with no internal locking. protect and unprotect never allocate; keyring add and
 * remove may.
 */
#ifndef SALON_SFRAME_H
#define SALON_SFRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SFRAME_SUITE_AES_256_GCM_SHA512_128 0x0005
#define SFRAME_SUITE_CHACHA20_POLY1305_SHA512 0xF001

/* The longest header: config byte, 8-byte KID, 8-byte CTR. */
#define SFRAME_HEADER_MAX 17
/* Key, nonce and tag sizes shared by both suites (Nk, Nn, Nt). */
#define SFRAME_KEY_LEN 32
#define SFRAME_NONCE_LEN 12
#define SFRAME_TAG_LEN 16
/* A protected frame is at most this much longer than its plaintext. */
#define SFRAME_OVERHEAD_MAX (SFRAME_HEADER_MAX + SFRAME_TAG_LEN)
/* Longest metadata accepted, so the AAD can be built on the stack without malloc. */
#define SFRAME_METADATA_MAX 256
/* Counters remembered per KID by the receiver (a multiple of 64). */
#define SFRAME_REPLAY_WINDOW 1024

struct sframe_header {
	uint64_t kid;
	uint64_t ctr;
};

/* Key material for one KID, derived from a base key. Wipe with sframe_key_wipe. */
struct sframe_key {
	uint16_t suite;
	uint64_t kid;
	uint8_t key[SFRAME_KEY_LEN];
	uint8_t salt[SFRAME_NONCE_LEN];
};

/*
 * A sender's state for one base key. next_ctr is the CTR of the next frame; frames
 * are numbered from 0 and counters never reach ctr_limit (UINT64_MAX after
 * sframe_sender_init), so no (key, CTR) pair is ever used twice.
 */
struct sframe_sender {
	struct sframe_key key;
	uint64_t next_ctr;
	uint64_t ctr_limit;
};

/* A receiver's key for one KID, with its replay window. */
struct sframe_recv_key {
	struct sframe_key key;
	bool seen_any;	  /* whether any frame authenticated yet */
	uint64_t max_ctr; /* highest CTR that authenticated */
	/* Bit (ctr % 64) of word ((ctr / 64) % words) marks ctr as seen. */
	uint64_t seen[SFRAME_REPLAY_WINDOW / 64 + 1];
};

/* The receiver's keys, sorted by KID for binary search. */
struct sframe_keyring {
	struct sframe_recv_key *keys;
	size_t count;
	size_t capacity;
};

/* Builds salon's KID from a member number (< 2^56) and an epoch. */
static inline uint64_t sframe_kid_make(uint64_t sender_id, uint8_t epoch)
{
	return (sender_id << 8) | epoch;
}
/* The member number and the epoch a salon KID names. */
static inline uint64_t sframe_kid_sender(uint64_t kid)
{
	return kid >> 8;
}
static inline uint8_t sframe_kid_epoch(uint64_t kid)
{
	return (uint8_t)kid;
}

/*
 * Whether this build and CPU can run suite (0x0005 needs AES-NI; 0xF001 runs
 * everywhere). Initialises libsodium if needed. Returns false for unknown suites.
 */
bool sframe_suite_available(uint16_t suite);

/* Length in bytes of the minimal header for (kid, ctr): 1 to SFRAME_HEADER_MAX. */
size_t sframe_header_len(uint64_t kid, uint64_t ctr);

/*
 * Writes the minimal RFC 9605 header for hdr into out (capacity cap): a value
 * 0-7 lives in the config byte, a larger one in the fewest big-endian bytes.
 * Returns the number of bytes written, or -EMSGSIZE when cap is too small.
 */
int sframe_header_encode(uint8_t *out, size_t cap, const struct sframe_header *hdr);

/*
 * Parses the header at the start of in (len bytes) into hdr. Returns the header's
 * length (1 to 17), or -EINVAL when it is truncated or not minimally encoded (an
 * extended field holding a value below 8 or starting with a zero byte), which the
 * RFC's encoding rule forbids.
 */
int sframe_header_decode(struct sframe_header *hdr, const uint8_t *in, size_t len);

/*
 * Derives key and salt for (suite, kid) from base_key (any length >= 1) as in
 * section 4.4.2. Returns 0, -ENOTSUP for an unknown suite, or -EINVAL for an empty
 * base key. Derivation works even where the suite cannot run on this CPU. The caller
 * owns key and wipes it with sframe_key_wipe.
 */
int sframe_key_init(struct sframe_key *key, uint16_t suite, uint64_t kid,
		    const uint8_t *base_key, size_t base_key_len);

/* Erases key material (also safe on a zeroed struct). */
void sframe_key_wipe(struct sframe_key *key);

/*
 * Prepares a sender for (suite, kid, base_key), with the next counter 0. Returns as
 * sframe_key_init. Wipe with sframe_sender_wipe.
 */
int sframe_sender_init(struct sframe_sender *sender, uint16_t suite, uint64_t kid,
		       const uint8_t *base_key, size_t base_key_len);
void sframe_sender_wipe(struct sframe_sender *sender);

/*
 * Moves the sender's next counter forward to next_ctr (after restoring state, and
 * in tests to reach the limit quickly). Returns 0, or -EINVAL if that would move it
 * backwards, which could reuse a (key, CTR) pair.
 */
int sframe_sender_set_counter(struct sframe_sender *sender, uint64_t next_ctr);

/*
 * Lowers the counter limit (for a key-lifetime policy, and for tests): frames are
 * refused once next_ctr reaches limit. Raising it is refused with -EINVAL.
 */
int sframe_sender_set_limit(struct sframe_sender *sender, uint64_t limit);

/*
 * Protects one frame: writes header || ciphertext || tag to out (capacity out_cap,
 * at most pt_len + SFRAME_OVERHEAD_MAX needed) and its length to *out_len, using
 * the sender's next counter and then advancing it. metadata (up to
 * SFRAME_METADATA_MAX bytes, NULL if empty) is authenticated but not sent.
 * pt and out must not overlap. Returns 0, -ERANGE when the counter is exhausted
 * (re-key), -EMSGSIZE when out or metadata is too large/small, -ENOTSUP when the
 * suite cannot run on this CPU. On failure the counter is not advanced.
 * No allocation: safe on the media thread.
 */
int sframe_protect(struct sframe_sender *sender, const uint8_t *metadata,
		   size_t metadata_len, const uint8_t *pt, size_t pt_len, uint8_t *out,
		   size_t out_cap, size_t *out_len);

/* Makes an empty keyring. Free with sframe_keyring_free. */
void sframe_keyring_init(struct sframe_keyring *ring);

/* Wipes every key and frees the keyring's memory; it may then be reused after init. */
void sframe_keyring_free(struct sframe_keyring *ring);

/*
 * Adds the key for kid derived from base_key, with a fresh replay window. Returns 0,
 * -EEXIST when kid already has a key (remove it first: silently replacing a key
 * would also reset its replay window), or as sframe_key_init. May allocate.
 */
int sframe_keyring_add(struct sframe_keyring *ring, uint16_t suite, uint64_t kid,
		       const uint8_t *base_key, size_t base_key_len);

/* Wipes and removes kid's key. Returns 0 or -ENOKEY when there is none. */
int sframe_keyring_remove(struct sframe_keyring *ring, uint64_t kid);

/* Whether the keyring holds a key for kid. */
bool sframe_keyring_has(const struct sframe_keyring *ring, uint64_t kid);

/*
 * Opens one protected frame (frame, frame_len bytes), authenticating it against
 * metadata, and writes the plaintext to out (capacity out_cap) and its length to
 * *pt_len. When hdr is not NULL it receives the frame's KID and CTR (on success, and
 * on -ENOKEY so the caller can ask for the missing key). Returns:
 *   0          success; the counter is now marked as seen
 *   -EINVAL    malformed header, or frame shorter than header + tag
 *   -ENOKEY    no key for the frame's KID
 *   -EBADMSG   authentication failed (forged, altered, wrong metadata)
 *   -EALREADY  authentic but replayed, or older than the replay window
 *   -EMSGSIZE  out too small, or metadata longer than SFRAME_METADATA_MAX
 *   -ENOTSUP   the key's suite cannot run on this CPU
 * frame and out must not overlap. No allocation: safe on the media thread.
 */
int sframe_unprotect(struct sframe_keyring *ring, const uint8_t *metadata,
		     size_t metadata_len, const uint8_t *frame, size_t frame_len, uint8_t *out,
		     size_t out_cap, size_t *pt_len, struct sframe_header *hdr);

#endif
