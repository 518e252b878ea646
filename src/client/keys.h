/*
 * keys.h - the client's end-to-end key manager: sender keys for SFrame, as Signal
 * and Jitsi do them, sealed to each member with crypto_box.
 *
 * Two objects:
 *
 *   struct keys_peers  - our X25519 key pair (converted from the Ed25519 identity)
 *                        and, for every peer we have met, its keys and the
 *                        crypto_box shared key precomputed with crypto_box_beforenm.
 *                        One per identity, shared by every room, so a peer costs
 *                        one scalar multiplication for the life of the process.
 *   struct keys_room   - one room: our sender chain and SFrame sender state, the
 *                        room's members (to seal to), and the SFrame keyring of the
 *                        other speakers' keys.
 *
 * Sender chain. Our key for a room has a generation g (u32); its low 8 bits are the
 * SFrame epoch, and frames go out under KID = member_number << 8 | (g & 0xff), with
 * the 32-byte key(g) as the SFrame base key (sframe.h derives key and salt from it).
 * The generation only ever grows, by one at each step, so every new key has a new
 * epoch. A step is either:
 *
 *   a ratchet (when members join after us and key(g) may have protected a frame):
 *       key(g+1) = RATCHET(key(g)) with
 *       prk      = HKDF-Extract(salt = "salon ratchet v1", ikm = key(g))
 *       key(g+1) = HKDF-Expand(prk, info = "salon sender key ratchet", 32)
 *     (HKDF-SHA-512, hkdf.h; the strings without their NUL). The new key is sealed
 *     only to the new members: members who hold key(g) derive key(g+1) themselves
 *     when they first see a frame of epoch g+1, and the newcomer, holding key(g+1),
 *     cannot go back to anything said before it joined.
 *     No step is needed, and the newcomers get key(g) itself, when nothing has been
 *     said under key(g) yet (the first member list of a room, arriving in batches,
 *     so coalesces into one key that every member holds before our first frame), or
 *     when every newcomer has a smaller member number than ours: member numbers
 *     count up and are never reused in a room, so those were there before we were
 *     (their keys merely reached us late) and may hear all we said.
 *   a rotation (when members leave): key(g+1) is 32 fresh random bytes (a new
 *     chain), sealed to every remaining member. Whoever left holds only the old
 *     chain, which does not lead to the new key. Rotations are batched: leaving
 *     only marks one as pending, and keys_room_rotate_needed() says when the
 *     minimum interval (KEYS_ROTATE_INTERVAL_MS by default) since the last one has
 *     passed.
 *
 * Sealed key box (what the API carries, as base64url text without padding):
 *
 *     box = nonce (24 random bytes) || crypto_box_easy_afternm(plaintext, nonce, k)
 *
 * where k = crypto_box_beforenm(recipient's X25519 public key, sender's X25519
 * secret key), and the plaintext (KEYS_BOX_PLAIN_LEN bytes, integers big-endian) is
 *
 *     version (u8, 1) || room id (u64) || sender user id (u64) ||
 *     sender member number (u64) || recipient user id (u64) ||
 *     generation (u32) || SFrame suite (u16) || key (32 bytes)
 *
 * The receiver opens it with the key it shares with the sender the API names, and
 * checks the version, the room, the sender's user id and member number, and that
 * the recipient is itself: a box moved to another room, to another member, or
 * claiming another sender is refused.
 *
 * Receiving. An opened box installs key(g) for the sender (KID member << 8 | g & 0xff)
 * in the room's keyring, if g is newer than what we hold for that sender (never
 * backwards). When a frame arrives for an epoch we have no key for, and that epoch
 * is 1 to KEYS_MAX_AHEAD generations after the newest one we hold for its sender,
 * keys_room_unprotect ratchets forward to it; the derived key stays only if the
 * frame then authenticates, so a forged or garbled frame cannot leave a wrong key
 * behind (it costs at most KEYS_MAX_AHEAD hashes). Generations that were replaced
 * stay usable for the grace window (KEYS_GRACE_MS by default) so late frames still
 * decode, and at most KEYS_KEEP_GENERATIONS per sender are kept at all.
 *
 * Errors as in util.h. Threads: a keys_peers and the rooms that use it belong to
 * one thread at a time (the engine's media thread), with no internal locking; the
 * signaling thread hands box texts to that thread rather than calling in. Secrets
 * are wiped with sodium_memzero when freed and never logged.
 */
#ifndef SALON_KEYS_H
#define SALON_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "identity.h"
#include "sframe.h"

#define KEYS_KEY_LEN 32
#define KEYS_BOX_VERSION 1
#define KEYS_BOX_NONCE_LEN 24 /* crypto_box_NONCEBYTES */
#define KEYS_BOX_MAC_LEN 16   /* crypto_box_MACBYTES */
#define KEYS_BOX_PLAIN_LEN (1 + 8 + 8 + 8 + 8 + 4 + 2 + KEYS_KEY_LEN)
#define KEYS_BOX_LEN (KEYS_BOX_NONCE_LEN + KEYS_BOX_MAC_LEN + KEYS_BOX_PLAIN_LEN)
/* base64url of KEYS_BOX_LEN bytes without padding, and the NUL. */
#define KEYS_BOX_TEXT_LEN ((KEYS_BOX_LEN * 4 + 2) / 3 + 1)

/* How far ahead of the newest known generation a frame may make us ratchet. */
#define KEYS_MAX_AHEAD 16
/* Generations kept per sender (the newest and those in their grace window). */
#define KEYS_KEEP_GENERATIONS 4
/* Defaults: minimum time between rotations, and how long replaced keys live. */
#define KEYS_ROTATE_INTERVAL_MS 2000
#define KEYS_GRACE_MS 2000
/* Member numbers must fit the 56 bits a KID leaves them. */
#define KEYS_MEMBER_MAX ((UINT64_C(1) << 56) - 1)

struct keys_peers;
struct keys_room;

/* One sealed box and its addressee, as produced by the sealing functions. */
struct keys_sealed {
	uint64_t user_id;
	uint8_t box[KEYS_BOX_LEN];
};

/*
 * key(g+1) from key(g) as described above. out and in may be the same buffer.
 * Pure, any thread.
 */
void keys_ratchet(uint8_t out[KEYS_KEY_LEN], const uint8_t in[KEYS_KEY_LEN]);

/* Writes the base64url text of a box (KEYS_BOX_TEXT_LEN bytes with the NUL). */
void keys_box_to_text(char out[KEYS_BOX_TEXT_LEN], const uint8_t box[KEYS_BOX_LEN]);

/*
 * Decodes box text into out. Returns 0, or -EINVAL when the text is not base64url
 * of exactly KEYS_BOX_LEN bytes.
 */
int keys_box_from_text(uint8_t out[KEYS_BOX_LEN], const char *text);

/*
 * Creates the peer cache for our identity self (copied: only its X25519 secret is
 * kept) and our user id. Returns NULL only if libsodium cannot start. Free with
 * keys_peers_free, which wipes every secret; free the rooms using it first.
 */
struct keys_peers *keys_peers_new(const struct identity *self, uint64_t self_user_id);
void keys_peers_free(struct keys_peers *peers);

/*
 * Records (or updates) peer user_id's Ed25519 public key, converting it to X25519.
 * The shared key is computed lazily, on the first seal or open. Returns 0 when the
 * peer is new or its key is the same as before, 1 when the key differs from the one
 * recorded (the old key and its shared key are discarded; the caller should have
 * asked pins.h first and blocked the peer), -EINVAL for a key that is not a valid
 * point, or -EPERM for our own user id.
 */
int keys_peers_set(struct keys_peers *peers, uint64_t user_id,
		   const uint8_t ed_public[IDENTITY_PUBLIC_LEN]);

/*
 * Blocks (or unblocks) sealing to user_id, e.g. while its pin is CHANGED and the
 * user has not accepted the new key: sealing functions skip blocked peers, and
 * keys_room_seal_to refuses them. Boxes from a blocked peer are refused too.
 * Returns 0 or -ENOENT for an unknown peer.
 */
int keys_peers_set_blocked(struct keys_peers *peers, uint64_t user_id, bool blocked);

/* Whether user_id is known, and whether it is blocked (false when unknown). */
bool keys_peers_has(const struct keys_peers *peers, uint64_t user_id);
bool keys_peers_blocked(const struct keys_peers *peers, uint64_t user_id);

/*
 * Computes the shared key of user_id now if it is not cached yet (to warm the
 * cache off the critical path). Returns 0, -ENOENT for an unknown peer, or -EINVAL
 * if the shared key is degenerate (a low-order public key).
 */
int keys_peers_precompute(struct keys_peers *peers, uint64_t user_id);

/* Test and benchmark hook: how many times crypto_box_beforenm has run. */
uint64_t keys_peers_beforenm_count(const struct keys_peers *peers);

/*
 * Creates the key state of room room_id, where we are member number self_member
 * (at most KEYS_MEMBER_MAX), with SFrame suite suite, and starts our sender chain
 * at generation 0 with a random key (nobody holds it yet: seal it with
 * keys_room_members_add as members arrive). peers must outlive the room. Returns 0,
 * -EINVAL for a member number too large, or -ENOTSUP for an unknown suite.
 */
int keys_room_new(struct keys_room **out, struct keys_peers *peers, uint64_t room_id,
		  uint64_t self_member, uint16_t suite);

/* Wipes every key of the room and frees it. NULL is allowed. */
void keys_room_free(struct keys_room *room);

/* Sets the minimum interval between rotations and the grace window, in ms. */
void keys_room_set_rotate_interval(struct keys_room *room, uint64_t ms);
void keys_room_set_grace(struct keys_room *room, uint64_t ms);

/*
 * Our current generation, and the SFrame sender to protect our frames with (owned by
 * the room, replaced at every step). When sframe_protect says -ERANGE (counter
 * exhausted), call keys_room_rotate. Taking the sender counts as using the current
 * key (a frame may go out under it), so that the next newcomer gets a ratchet;
 * keys_room_protect and keys_room_set_counter are the precise way.
 */
uint32_t keys_room_generation(const struct keys_room *room);
struct sframe_sender *keys_room_sender(struct keys_room *room);

/*
 * sframe_protect (no metadata) with our current key, recording that the key has
 * protected a frame. Returns as sframe_protect: -ERANGE when the counter is
 * exhausted (rotate), -ENOBUFS when out_cap is too small.
 */
int keys_room_protect(struct keys_room *room, const uint8_t *pt, size_t pt_len, uint8_t *out,
		      size_t out_cap, size_t *out_len);

/*
 * Moves our sender's frame counter forward to next_ctr if it is behind (to keep one
 * counter across generations). Does not count as using the key. Returns 0, or as
 * sframe_sender_set_counter.
 */
int keys_room_set_counter(struct keys_room *room, uint64_t next_ctr);

/* Whether a frame may have been protected under our current generation. */
bool keys_room_key_used(const struct keys_room *room);

/*
 * Members join: adds the n members (user ids and member numbers, whose peers must
 * be known with keys_peers_set) to the room, ratchets our chain forward one
 * generation when that is needed (once for the whole batch; see "No step" above;
 * n may be 0, which always ratchets), and seals the resulting current key to each
 * of them (members already there need nothing: they hold the key or derive it).
 * Returns 0 with *sealed (allocated, free() it) holding *count boxes, blocked peers
 * left out; -ENOENT when a user is not a known peer, -EEXIST when already a
 * member, -EINVAL for a bad member number (nothing changes in these three cases),
 * or -ERANGE when the generation would overflow (rotate impossible too: leave and
 * rejoin).
 */
int keys_room_members_add(struct keys_room *room, const uint64_t *user_ids,
			  const uint64_t *member_numbers, size_t n, struct keys_sealed **sealed,
			  size_t *count);

/*
 * A member left: forgets it, drops the keys of its frames, and marks a rotation as
 * pending. Returns 0 or -ENOENT when user_id is not a member.
 */
int keys_room_member_remove(struct keys_room *room, uint64_t user_id);

/* Whether user_id is a member of the room (as far as keys go). */
bool keys_room_is_member(const struct keys_room *room, uint64_t user_id);
size_t keys_room_member_count(const struct keys_room *room);

/*
 * Whether a rotation is pending and the minimum interval since the last one has
 * passed at now_ms (any monotonic clock, the same for every call).
 */
bool keys_room_rotate_needed(const struct keys_room *room, uint64_t now_ms);

/*
 * Starts a fresh chain one generation ahead with a random key and seals it to every
 * member that is not blocked. Returns 0 with *sealed (allocated, free() it) and
 * *count as above, or -ERANGE when the generation would overflow. Clears the
 * pending flag and records now_ms as the time of the last rotation.
 */
int keys_room_rotate(struct keys_room *room, uint64_t now_ms, struct keys_sealed **sealed,
		     size_t *count);

/*
 * Seals our current key to one member (after the user accepts its changed key, or
 * when it asks again). Returns 0, -ENOENT when it is not a member or not a known
 * peer, -EPERM when it is blocked, or -EINVAL for a degenerate shared key.
 */
int keys_room_seal_to(struct keys_room *room, uint64_t user_id, struct keys_sealed *sealed);

/*
 * Opens a box (len bytes) that the API says sender_user_id posted in this room,
 * where that sender is member number sender_member, and installs its key. Returns
 *   0          the key is installed (or we already held exactly this key)
 *   -ENOENT    the sender is not a known peer
 *   -EPERM     the sender is blocked (changed key not yet accepted)
 *   -EINVAL    wrong length, or a degenerate shared key
 *   -EBADMSG   the box does not authenticate (tampered, or not sealed for us by it)
 *   -EPROTO    authentic but for another room, sender, member number, recipient,
 *              suite or version
 *   -ESTALE    a generation older than the newest we hold for that sender
 *   -EEXIST    the same generation with a different key (the sender misbehaves)
 * now_ms starts the grace window of the generations it replaces.
 */
int keys_room_open(struct keys_room *room, uint64_t sender_user_id, uint64_t sender_member,
		   const uint8_t *box, size_t len, uint64_t now_ms);

/*
 * sframe_unprotect (no metadata) through the room's keyring, ratcheting a known
 * sender forward on demand as described above. Returns as sframe_unprotect;
 * -ENOKEY also when the frame's epoch is behind the sender's newest generation and
 * no longer kept, or more than KEYS_MAX_AHEAD ahead of it. No allocation except
 * when a ratchet adds a key to the keyring.
 */
int keys_room_unprotect(struct keys_room *room, const uint8_t *frame, size_t frame_len,
			uint8_t *out, size_t out_cap, size_t *pt_len, struct sframe_header *hdr,
			uint64_t now_ms);

/* Drops replaced generations whose grace window has ended at now_ms. */
void keys_room_expire(struct keys_room *room, uint64_t now_ms);

/*
 * The newest generation we hold for member sender_member. Returns 0, or -ENOENT
 * when we hold none.
 */
int keys_room_peer_generation(const struct keys_room *room, uint64_t sender_member,
			      uint32_t *generation);

/* The room's keyring (for tests and diagnostics; do not add or remove keys). */
const struct sframe_keyring *keys_room_keyring(const struct keys_room *room);

#endif
