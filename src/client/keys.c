/*
 * keys.c - sender keys: our chain per room, sealing it to members with cached
 * crypto_box shared keys, and installing and ratcheting the other speakers' keys.
 * The construction is specified in keys.h and doc/PROTOCOL.md.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "encoding.h"
#include "hkdf.h"
#include "i18n.h"
#include "keys.h"
#include "log.h"
#include "util.h"

#define KEYS_RATCHET_SALT "salon ratchet v1"
#define KEYS_RATCHET_INFO "salon sender key ratchet"

/*
 * A map from 64-bit ids to array indices: open addressing with linear probing and
 * backward-shift deletion, grown to keep the load under one half. Ten thousand
 * members make linear searches too slow on every join and leave.
 */
struct keys_map_slot {
	uint64_t id;
	uint32_t index;
	bool used;
};

struct keys_map {
	struct keys_map_slot *slots;
	size_t capacity; /* a power of two, or 0 */
	size_t count;
};

static size_t keys_map_hash(uint64_t id, size_t capacity)
{
	/* The splitmix64 finaliser: user ids are sequential, so mix them well. */
	id ^= id >> 30;
	id *= UINT64_C(0xbf58476d1ce4e5b9);
	id ^= id >> 27;
	id *= UINT64_C(0x94d049bb133111eb);
	id ^= id >> 31;
	return (size_t)id & (capacity - 1);
}

static struct keys_map_slot *keys_map_find(const struct keys_map *map, uint64_t id)
{
	size_t i;

	if (map->capacity == 0)
		return NULL;
	for (i = keys_map_hash(id, map->capacity); map->slots[i].used;
	     i = (i + 1) & (map->capacity - 1)) {
		if (map->slots[i].id == id)
			return &map->slots[i];
	}
	return NULL;
}

static void keys_map_insert_slot(struct keys_map *map, uint64_t id, uint32_t index)
{
	size_t i = keys_map_hash(id, map->capacity);

	while (map->slots[i].used)
		i = (i + 1) & (map->capacity - 1);
	map->slots[i].id = id;
	map->slots[i].index = index;
	map->slots[i].used = true;
	map->count++;
}

/* Inserts id, which must not be present yet. */
static void keys_map_put(struct keys_map *map, uint64_t id, uint32_t index)
{
	if ((map->count + 1) * 2 > map->capacity) {
		struct keys_map old = *map;

		map->capacity = old.capacity == 0 ? 16 : old.capacity * 2;
		map->slots = xcalloc(map->capacity, sizeof(*map->slots));
		map->count = 0;
		for (size_t i = 0; i < old.capacity; i++) {
			if (old.slots[i].used)
				keys_map_insert_slot(map, old.slots[i].id, old.slots[i].index);
		}
		free(old.slots);
	}
	keys_map_insert_slot(map, id, index);
}

/* Removes slot, then shifts later entries of its probe run back into the hole. */
static void keys_map_delete(struct keys_map *map, struct keys_map_slot *slot)
{
	size_t mask = map->capacity - 1;
	size_t hole = (size_t)(slot - map->slots);
	size_t i = hole;

	map->slots[hole].used = false;
	map->count--;
	for (;;) {
		size_t home;

		i = (i + 1) & mask;
		if (!map->slots[i].used)
			return;
		home = keys_map_hash(map->slots[i].id, map->capacity);
		/* Move the entry if its home is not cyclically within (hole, i]. */
		if (((i - home) & mask) >= ((i - hole) & mask)) {
			map->slots[hole] = map->slots[i];
			map->slots[i].used = false;
			hole = i;
		}
	}
}

static void keys_map_free(struct keys_map *map)
{
	free(map->slots);
	memset(map, 0, sizeof(*map));
}

/* A peer: its keys and, once computed, the crypto_box key we share with it. */
struct keys_peer {
	uint64_t user_id;
	uint8_t ed_public[IDENTITY_PUBLIC_LEN];
	uint8_t x_public[IDENTITY_X25519_LEN];
	uint8_t shared[crypto_box_BEFORENMBYTES];
	bool have_shared;
	bool blocked;
};

struct keys_peers {
	uint64_t self_user_id;
	uint8_t x_secret[IDENTITY_X25519_LEN];
	struct keys_peer *peers;
	size_t count;
	size_t capacity;
	struct keys_map index;
	uint64_t beforenm_calls;
};

/* A room member we seal to. */
struct keys_member {
	uint64_t user_id;
	uint64_t member_number;
};

/* One generation of a remote sender held in the keyring. */
struct keys_held {
	uint32_t generation;
	bool superseded;
	uint64_t superseded_ms;
};

/* What we hold of one remote sender's chain. */
struct keys_remote {
	uint64_t member_number;
	uint64_t user_id;
	uint32_t chain_generation; /* the newest generation we hold */
	uint8_t chain_key[KEYS_KEY_LEN];
	struct keys_held held[KEYS_KEEP_GENERATIONS];
	size_t held_count;
};

struct keys_room {
	struct keys_peers *peers;
	uint64_t room_id;
	uint64_t self_member;
	uint16_t suite;

	/* Our sender chain. */
	uint32_t generation;
	uint8_t chain_key[KEYS_KEY_LEN];
	struct sframe_sender sender;
	/*
	 * Whether a frame may have gone out under the current generation (the sender was
	 * handed out or used). Until then a newcomer may get the current key as it is:
	 * there is nothing said under it to keep from them.
	 */
	bool key_used;

	struct keys_member *members;
	size_t member_count;
	size_t member_capacity;
	struct keys_map member_index;

	bool rotate_pending;
	bool rotated_once;
	uint64_t last_rotation_ms;
	uint64_t rotate_interval_ms;
	uint64_t grace_ms;

	struct keys_remote *remotes;
	size_t remote_count;
	size_t remote_capacity;
	struct sframe_keyring ring;
};

void keys_ratchet(uint8_t out[KEYS_KEY_LEN], const uint8_t in[KEYS_KEY_LEN])
{
	uint8_t prk[HKDF_SHA512_HASH_LEN];

	hkdf_sha512_extract(prk, (const uint8_t *)KEYS_RATCHET_SALT, sizeof(KEYS_RATCHET_SALT) - 1,
			    in, KEYS_KEY_LEN);
	/* 32 bytes never exceed the Expand limit and prk is not empty: cannot fail. */
	(void)hkdf_sha512_expand(out, KEYS_KEY_LEN, prk, sizeof(prk),
				 (const uint8_t *)KEYS_RATCHET_INFO, sizeof(KEYS_RATCHET_INFO) - 1);
	sodium_memzero(prk, sizeof(prk));
}

void keys_box_to_text(char out[KEYS_BOX_TEXT_LEN], const uint8_t box[KEYS_BOX_LEN])
{
	base64_encode(out, box, KEYS_BOX_LEN);
}

int keys_box_from_text(uint8_t out[KEYS_BOX_LEN], const char *text)
{
	return base64_decode(out, KEYS_BOX_LEN, text);
}

/* ---- peers ---- */

struct keys_peers *keys_peers_new(const struct identity *self, uint64_t self_user_id)
{
	struct keys_peers *peers;

	if (sodium_init() < 0)
		return NULL;
	peers = xcalloc(1, sizeof(*peers));
	peers->self_user_id = self_user_id;
	identity_x25519_secret(peers->x_secret, self);
	return peers;
}

void keys_peers_free(struct keys_peers *peers)
{
	if (peers == NULL)
		return;
	if (peers->peers != NULL)
		sodium_memzero(peers->peers, peers->capacity * sizeof(*peers->peers));
	free(peers->peers);
	keys_map_free(&peers->index);
	sodium_memzero(peers, sizeof(*peers));
	free(peers);
}

static struct keys_peer *keys_peers_find(const struct keys_peers *peers, uint64_t user_id)
{
	struct keys_map_slot *slot = keys_map_find(&peers->index, user_id);

	return slot == NULL ? NULL : &peers->peers[slot->index];
}

int keys_peers_set(struct keys_peers *peers, uint64_t user_id,
		   const uint8_t ed_public[IDENTITY_PUBLIC_LEN])
{
	uint8_t x_public[IDENTITY_X25519_LEN];
	struct keys_peer *peer;

	if (user_id == peers->self_user_id)
		return -EPERM;
	peer = keys_peers_find(peers, user_id);
	if (peer != NULL && memcmp(peer->ed_public, ed_public, IDENTITY_PUBLIC_LEN) == 0)
		return 0;
	if (identity_x25519_public(x_public, ed_public) < 0)
		return -EINVAL;
	if (peer != NULL) {
		memcpy(peer->ed_public, ed_public, IDENTITY_PUBLIC_LEN);
		memcpy(peer->x_public, x_public, IDENTITY_X25519_LEN);
		sodium_memzero(peer->shared, sizeof(peer->shared));
		peer->have_shared = false;
		return 1;
	}
	if (peers->count == peers->capacity) {
		size_t capacity = peers->capacity == 0 ? 16 : peers->capacity * 2;
		struct keys_peer *grown = xcalloc(capacity, sizeof(*grown));

		/* Copy by hand rather than realloc so no shared key stays in freed memory. */
		if (peers->count > 0)
			memcpy(grown, peers->peers, peers->count * sizeof(*grown));
		if (peers->peers != NULL)
			sodium_memzero(peers->peers, peers->capacity * sizeof(*peers->peers));
		free(peers->peers);
		peers->peers = grown;
		peers->capacity = capacity;
	}
	peer = &peers->peers[peers->count];
	memset(peer, 0, sizeof(*peer));
	peer->user_id = user_id;
	memcpy(peer->ed_public, ed_public, IDENTITY_PUBLIC_LEN);
	memcpy(peer->x_public, x_public, IDENTITY_X25519_LEN);
	keys_map_put(&peers->index, user_id, (uint32_t)peers->count);
	peers->count++;
	return 0;
}

int keys_peers_set_blocked(struct keys_peers *peers, uint64_t user_id, bool blocked)
{
	struct keys_peer *peer = keys_peers_find(peers, user_id);

	if (peer == NULL)
		return -ENOENT;
	peer->blocked = blocked;
	return 0;
}

bool keys_peers_has(const struct keys_peers *peers, uint64_t user_id)
{
	return keys_peers_find(peers, user_id) != NULL;
}

bool keys_peers_blocked(const struct keys_peers *peers, uint64_t user_id)
{
	struct keys_peer *peer = keys_peers_find(peers, user_id);

	return peer != NULL && peer->blocked;
}

/* The cached shared key of peer, computing it the first time. */
static int keys_peer_shared(struct keys_peers *peers, struct keys_peer *peer)
{
	if (peer->have_shared)
		return 0;
	peers->beforenm_calls++;
	/* libsodium refuses public keys of small order, whose shared key is all zero. */
	if (crypto_box_beforenm(peer->shared, peer->x_public, peers->x_secret) != 0)
		return -EINVAL;
	peer->have_shared = true;
	return 0;
}

int keys_peers_precompute(struct keys_peers *peers, uint64_t user_id)
{
	struct keys_peer *peer = keys_peers_find(peers, user_id);

	if (peer == NULL)
		return -ENOENT;
	return keys_peer_shared(peers, peer);
}

uint64_t keys_peers_beforenm_count(const struct keys_peers *peers)
{
	return peers->beforenm_calls;
}

/* ---- sealing ---- */

/* Offsets in the box plaintext (keys.h). */
enum {
	KEYS_PT_VERSION = 0,
	KEYS_PT_ROOM = 1,
	KEYS_PT_SENDER = 9,
	KEYS_PT_MEMBER = 17,
	KEYS_PT_RECIPIENT = 25,
	KEYS_PT_GENERATION = 33,
	KEYS_PT_SUITE = 37,
	KEYS_PT_KEY = 39,
};

_Static_assert(KEYS_PT_KEY + KEYS_KEY_LEN == KEYS_BOX_PLAIN_LEN, "box plaintext layout");
_Static_assert(KEYS_BOX_NONCE_LEN == crypto_box_NONCEBYTES, "nonce size");
_Static_assert(KEYS_BOX_MAC_LEN == crypto_box_MACBYTES, "MAC size");

/* Fills the plaintext for our current key, all but the recipient. */
static void keys_room_plaintext(const struct keys_room *room, uint8_t pt[KEYS_BOX_PLAIN_LEN])
{
	pt[KEYS_PT_VERSION] = KEYS_BOX_VERSION;
	put_u64be(pt + KEYS_PT_ROOM, room->room_id);
	put_u64be(pt + KEYS_PT_SENDER, room->peers->self_user_id);
	put_u64be(pt + KEYS_PT_MEMBER, room->self_member);
	put_u64be(pt + KEYS_PT_RECIPIENT, 0);
	put_u32be(pt + KEYS_PT_GENERATION, room->generation);
	put_u16be(pt + KEYS_PT_SUITE, room->suite);
	memcpy(pt + KEYS_PT_KEY, room->chain_key, KEYS_KEY_LEN);
}

/*
 * Seals pt (its recipient field set here) to peer into out, with the random nonce
 * given (drawn in bulk by the caller: one getrandom call per box would cost more
 * than the encryption itself).
 */
static int keys_seal(struct keys_peers *peers, struct keys_peer *peer,
		     uint8_t pt[KEYS_BOX_PLAIN_LEN], const uint8_t nonce[KEYS_BOX_NONCE_LEN],
		     struct keys_sealed *out)
{
	int r = keys_peer_shared(peers, peer);

	if (r < 0)
		return r;
	put_u64be(pt + KEYS_PT_RECIPIENT, peer->user_id);
	out->user_id = peer->user_id;
	memcpy(out->box, nonce, KEYS_BOX_NONCE_LEN);
	/* Cannot fail: the afternm variant only checks the message length. */
	(void)crypto_box_easy_afternm(out->box + KEYS_BOX_NONCE_LEN, pt, KEYS_BOX_PLAIN_LEN,
				      out->box, peer->shared);
	return 0;
}

/* n random nonces in one buffer (allocated, free() it). */
static uint8_t *keys_nonces(size_t n)
{
	uint8_t *nonces = xcalloc(n == 0 ? 1 : n, KEYS_BOX_NONCE_LEN);

	randombytes_buf(nonces, n * KEYS_BOX_NONCE_LEN);
	return nonces;
}

/* ---- rooms: our chain ---- */

/* Re-keys our SFrame sender for the current generation and chain key. */
static int keys_room_sender_reset(struct keys_room *room)
{
	uint64_t kid = sframe_kid_make(room->self_member, (uint8_t)room->generation);

	sframe_sender_wipe(&room->sender);
	return sframe_sender_init(&room->sender, room->suite, kid, room->chain_key, KEYS_KEY_LEN);
}

/* Moves our chain one generation forward, by ratchet or by a fresh random key. */
static int keys_room_step(struct keys_room *room, bool fresh)
{
	if (room->generation == UINT32_MAX)
		return -ERANGE;
	room->generation++;
	if (fresh)
		randombytes_buf(room->chain_key, KEYS_KEY_LEN);
	else
		keys_ratchet(room->chain_key, room->chain_key);
	room->key_used = false;
	return keys_room_sender_reset(room);
}

int keys_room_new(struct keys_room **out, struct keys_peers *peers, uint64_t room_id,
		  uint64_t self_member, uint16_t suite)
{
	struct keys_room *room;
	int r;

	if (self_member > KEYS_MEMBER_MAX)
		return -EINVAL;
	room = xcalloc(1, sizeof(*room));
	room->peers = peers;
	room->room_id = room_id;
	room->self_member = self_member;
	room->suite = suite;
	room->rotate_interval_ms = KEYS_ROTATE_INTERVAL_MS;
	room->grace_ms = KEYS_GRACE_MS;
	sframe_keyring_init(&room->ring);
	randombytes_buf(room->chain_key, KEYS_KEY_LEN);
	r = keys_room_sender_reset(room);
	if (r < 0) {
		keys_room_free(room);
		return r;
	}
	*out = room;
	return 0;
}

void keys_room_free(struct keys_room *room)
{
	if (room == NULL)
		return;
	sframe_sender_wipe(&room->sender);
	sframe_keyring_free(&room->ring);
	if (room->remotes != NULL)
		sodium_memzero(room->remotes, room->remote_capacity * sizeof(*room->remotes));
	free(room->remotes);
	free(room->members);
	keys_map_free(&room->member_index);
	sodium_memzero(room, sizeof(*room));
	free(room);
}

void keys_room_set_rotate_interval(struct keys_room *room, uint64_t ms)
{
	room->rotate_interval_ms = ms;
}

void keys_room_set_grace(struct keys_room *room, uint64_t ms)
{
	room->grace_ms = ms;
}

uint32_t keys_room_generation(const struct keys_room *room)
{
	return room->generation;
}

struct sframe_sender *keys_room_sender(struct keys_room *room)
{
	/* Whoever takes the sender may protect frames with it. */
	room->key_used = true;
	return &room->sender;
}

bool keys_room_key_used(const struct keys_room *room)
{
	return room->key_used;
}

int keys_room_protect(struct keys_room *room, const uint8_t *pt, size_t pt_len, uint8_t *out,
		      size_t out_cap, size_t *out_len)
{
	int r = sframe_protect(&room->sender, NULL, 0, pt, pt_len, out, out_cap, out_len);

	if (r == 0)
		room->key_used = true;
	return r;
}

int keys_room_set_counter(struct keys_room *room, uint64_t next_ctr)
{
	if (room->sender.next_ctr >= next_ctr)
		return 0;
	return sframe_sender_set_counter(&room->sender, next_ctr);
}

/*
 * Whether adding these members needs a ratchet first: only when something may have
 * been said under the current key and one of them joined after us (member numbers
 * count up in a room and are never reused, so a smaller number than ours was in
 * the room before we were, and may hear everything we said). An empty batch is an
 * explicit request for a ratchet.
 */
static bool keys_room_add_needs_step(const struct keys_room *room,
				     const uint64_t *member_numbers, size_t n)
{
	if (n == 0)
		return true;
	if (!room->key_used)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (member_numbers[i] > room->self_member)
			return true;
	}
	return false;
}

bool keys_room_is_member(const struct keys_room *room, uint64_t user_id)
{
	return keys_map_find(&room->member_index, user_id) != NULL;
}

size_t keys_room_member_count(const struct keys_room *room)
{
	return room->member_count;
}

int keys_room_members_add(struct keys_room *room, const uint64_t *user_ids,
			  const uint64_t *member_numbers, size_t n, struct keys_sealed **sealed,
			  size_t *count)
{
	uint8_t pt[KEYS_BOX_PLAIN_LEN];
	struct keys_sealed *boxes;
	uint8_t *nonces;
	size_t done = 0;
	bool step;
	int r;

	/* Check the whole batch first, so that a bad entry changes nothing. */
	for (size_t i = 0; i < n; i++) {
		if (member_numbers[i] > KEYS_MEMBER_MAX)
			return -EINVAL;
		if (keys_peers_find(room->peers, user_ids[i]) == NULL)
			return -ENOENT;
	}
	step = keys_room_add_needs_step(room, member_numbers, n);
	if (step && room->generation == UINT32_MAX)
		return -ERANGE;
	for (size_t i = 0; i < n; i++) {
		if (keys_room_is_member(room, user_ids[i])) {
			/* Already a member, or twice in the batch: undo this batch. */
			while (i-- > 0) {
				room->member_count--;
				keys_map_delete(&room->member_index,
						keys_map_find(&room->member_index, user_ids[i]));
			}
			return -EEXIST;
		}
		if (room->member_count == room->member_capacity) {
			room->member_capacity =
			    room->member_capacity == 0 ? 16 : room->member_capacity * 2;
			room->members = xreallocarray(room->members, room->member_capacity,
						      sizeof(*room->members));
		}
		room->members[room->member_count].user_id = user_ids[i];
		room->members[room->member_count].member_number = member_numbers[i];
		keys_map_put(&room->member_index, user_ids[i], (uint32_t)room->member_count);
		room->member_count++;
	}
	if (step) {
		r = keys_room_step(room, false);
		if (r < 0)
			return r;
	}

	boxes = xcalloc(n == 0 ? 1 : n, sizeof(*boxes));
	nonces = keys_nonces(n);
	keys_room_plaintext(room, pt);
	for (size_t i = 0; i < n; i++) {
		struct keys_peer *peer = keys_peers_find(room->peers, user_ids[i]);

		if (peer == NULL || peer->blocked)
			continue;
		if (keys_seal(room->peers, peer, pt, nonces + i * KEYS_BOX_NONCE_LEN,
			      &boxes[done]) < 0) {
			log_warn(_("keys: cannot seal to user %llu (degenerate key)"),
				 (unsigned long long)user_ids[i]);
			continue;
		}
		done++;
	}
	sodium_memzero(pt, sizeof(pt));
	free(nonces);
	*sealed = boxes;
	*count = done;
	return 0;
}

/* Forgets every key held for remote index i and removes it from the array. */
static void keys_room_remote_drop(struct keys_room *room, size_t i)
{
	struct keys_remote *remote = &room->remotes[i];

	for (size_t j = 0; j < remote->held_count; j++) {
		uint64_t kid =
		    sframe_kid_make(remote->member_number, (uint8_t)remote->held[j].generation);

		(void)sframe_keyring_remove(&room->ring, kid);
	}
	room->remotes[i] = room->remotes[room->remote_count - 1];
	room->remote_count--;
	sodium_memzero(&room->remotes[room->remote_count], sizeof(*room->remotes));
}

static struct keys_remote *keys_room_remote_find(const struct keys_room *room,
						 uint64_t member_number)
{
	for (size_t i = 0; i < room->remote_count; i++) {
		if (room->remotes[i].member_number == member_number)
			return &room->remotes[i];
	}
	return NULL;
}

int keys_room_member_remove(struct keys_room *room, uint64_t user_id)
{
	struct keys_map_slot *slot = keys_map_find(&room->member_index, user_id);
	struct keys_remote *remote;
	uint64_t member_number;
	size_t i, last;

	if (slot == NULL)
		return -ENOENT;
	i = slot->index;
	member_number = room->members[i].member_number;
	keys_map_delete(&room->member_index, slot);
	last = room->member_count - 1;
	if (i != last) {
		room->members[i] = room->members[last];
		keys_map_find(&room->member_index, room->members[i].user_id)->index = (uint32_t)i;
	}
	room->member_count--;

	remote = keys_room_remote_find(room, member_number);
	if (remote != NULL && remote->user_id == user_id)
		keys_room_remote_drop(room, (size_t)(remote - room->remotes));
	room->rotate_pending = true;
	return 0;
}

bool keys_room_rotate_needed(const struct keys_room *room, uint64_t now_ms)
{
	if (!room->rotate_pending)
		return false;
	if (!room->rotated_once)
		return true;
	return now_ms < room->last_rotation_ms || /* a clock going back: do not stall */
	       now_ms - room->last_rotation_ms >= room->rotate_interval_ms;
}

int keys_room_rotate(struct keys_room *room, uint64_t now_ms, struct keys_sealed **sealed,
		     size_t *count)
{
	uint8_t pt[KEYS_BOX_PLAIN_LEN];
	struct keys_sealed *boxes;
	uint8_t *nonces;
	size_t done = 0;
	int r;

	r = keys_room_step(room, true);
	if (r < 0)
		return r;
	room->rotate_pending = false;
	room->rotated_once = true;
	room->last_rotation_ms = now_ms;

	boxes = xcalloc(room->member_count == 0 ? 1 : room->member_count, sizeof(*boxes));
	nonces = keys_nonces(room->member_count);
	keys_room_plaintext(room, pt);
	for (size_t i = 0; i < room->member_count; i++) {
		struct keys_peer *peer = keys_peers_find(room->peers, room->members[i].user_id);

		if (peer == NULL || peer->blocked)
			continue;
		if (keys_seal(room->peers, peer, pt, nonces + i * KEYS_BOX_NONCE_LEN,
			      &boxes[done]) < 0) {
			log_warn(_("keys: cannot seal to user %llu (degenerate key)"),
				 (unsigned long long)peer->user_id);
			continue;
		}
		done++;
	}
	sodium_memzero(pt, sizeof(pt));
	free(nonces);
	*sealed = boxes;
	*count = done;
	return 0;
}

int keys_room_seal_to(struct keys_room *room, uint64_t user_id, struct keys_sealed *sealed)
{
	uint8_t pt[KEYS_BOX_PLAIN_LEN], nonce[KEYS_BOX_NONCE_LEN];
	struct keys_peer *peer;
	int r;

	if (!keys_room_is_member(room, user_id))
		return -ENOENT;
	peer = keys_peers_find(room->peers, user_id);
	if (peer == NULL)
		return -ENOENT;
	if (peer->blocked)
		return -EPERM;
	keys_room_plaintext(room, pt);
	randombytes_buf(nonce, sizeof(nonce));
	r = keys_seal(room->peers, peer, pt, nonce, sealed);
	sodium_memzero(pt, sizeof(pt));
	return r;
}

/* ---- rooms: other speakers' keys ---- */

/* Drops the oldest generation held for remote (never the newest). */
static void keys_remote_drop_oldest(struct keys_room *room, struct keys_remote *remote)
{
	size_t oldest = 0;

	for (size_t j = 1; j < remote->held_count; j++) {
		if (remote->held[j].generation < remote->held[oldest].generation)
			oldest = j;
	}
	(void)sframe_keyring_remove(
	    &room->ring,
	    sframe_kid_make(remote->member_number, (uint8_t)remote->held[oldest].generation));
	remote->held[oldest] = remote->held[remote->held_count - 1];
	remote->held_count--;
}

/*
 * Records that generation (whose key is already in the keyring) is now the newest of
 * remote: the ones before it start their grace window at now_ms.
 */
static void keys_remote_advance(struct keys_room *room, struct keys_remote *remote,
				uint32_t generation, const uint8_t key[KEYS_KEY_LEN],
				uint64_t now_ms)
{
	for (size_t j = 0; j < remote->held_count; j++) {
		if (!remote->held[j].superseded) {
			remote->held[j].superseded = true;
			remote->held[j].superseded_ms = now_ms;
		}
	}
	while (remote->held_count >= KEYS_KEEP_GENERATIONS)
		keys_remote_drop_oldest(room, remote);
	remote->held[remote->held_count].generation = generation;
	remote->held[remote->held_count].superseded = false;
	remote->held[remote->held_count].superseded_ms = 0;
	remote->held_count++;
	remote->chain_generation = generation;
	memcpy(remote->chain_key, key, KEYS_KEY_LEN);
}

/*
 * Removes from the keyring any key of remote held under the KID that generation
 * would use (an older generation with the same epoch, 256 steps back).
 */
static void keys_remote_clear_kid(struct keys_room *room, struct keys_remote *remote,
				  uint32_t generation)
{
	for (size_t j = 0; j < remote->held_count; j++) {
		if ((uint8_t)remote->held[j].generation == (uint8_t)generation) {
			(void)sframe_keyring_remove(
			    &room->ring,
			    sframe_kid_make(remote->member_number, (uint8_t)generation));
			remote->held[j] = remote->held[remote->held_count - 1];
			remote->held_count--;
			return;
		}
	}
}

int keys_room_open(struct keys_room *room, uint64_t sender_user_id, uint64_t sender_member,
		   const uint8_t *box, size_t len, uint64_t now_ms)
{
	uint8_t pt[KEYS_BOX_PLAIN_LEN];
	struct keys_peer *peer;
	struct keys_remote *remote;
	uint32_t generation;
	int r;

	if (box == NULL || len != KEYS_BOX_LEN)
		return -EINVAL;
	peer = keys_peers_find(room->peers, sender_user_id);
	if (peer == NULL)
		return -ENOENT;
	if (peer->blocked)
		return -EPERM;
	r = keys_peer_shared(room->peers, peer);
	if (r < 0)
		return r;
	if (crypto_box_open_easy_afternm(pt, box + KEYS_BOX_NONCE_LEN,
					 KEYS_BOX_LEN - KEYS_BOX_NONCE_LEN, box, peer->shared) != 0)
		return -EBADMSG;

	r = -EPROTO;
	if (pt[KEYS_PT_VERSION] != KEYS_BOX_VERSION ||
	    get_u64be(pt + KEYS_PT_ROOM) != room->room_id ||
	    get_u64be(pt + KEYS_PT_SENDER) != sender_user_id ||
	    get_u64be(pt + KEYS_PT_MEMBER) != sender_member ||
	    get_u64be(pt + KEYS_PT_RECIPIENT) != room->peers->self_user_id ||
	    get_u16be(pt + KEYS_PT_SUITE) != room->suite || sender_member > KEYS_MEMBER_MAX)
		goto out;
	generation = get_u32be(pt + KEYS_PT_GENERATION);

	remote = keys_room_remote_find(room, sender_member);
	if (remote != NULL && remote->user_id != sender_user_id) {
		/* The member number was given to someone else: start over. */
		keys_room_remote_drop(room, (size_t)(remote - room->remotes));
		remote = NULL;
	}
	if (remote != NULL) {
		if (generation < remote->chain_generation) {
			r = -ESTALE;
			goto out;
		}
		if (generation == remote->chain_generation) {
			r = sodium_memcmp(pt + KEYS_PT_KEY, remote->chain_key, KEYS_KEY_LEN) == 0
				? 0
				: -EEXIST;
			goto out;
		}
	} else {
		if (room->remote_count == room->remote_capacity) {
			size_t capacity =
			    room->remote_capacity == 0 ? 8 : room->remote_capacity * 2;
			struct keys_remote *grown = xcalloc(capacity, sizeof(*grown));

			if (room->remote_count > 0)
				memcpy(grown, room->remotes, room->remote_count * sizeof(*grown));
			if (room->remotes != NULL)
				sodium_memzero(room->remotes,
					       room->remote_capacity * sizeof(*room->remotes));
			free(room->remotes);
			room->remotes = grown;
			room->remote_capacity = capacity;
		}
		remote = &room->remotes[room->remote_count++];
		memset(remote, 0, sizeof(*remote));
		remote->member_number = sender_member;
		remote->user_id = sender_user_id;
	}
	keys_remote_clear_kid(room, remote, generation);
	r = sframe_keyring_add(&room->ring, room->suite,
			       sframe_kid_make(sender_member, (uint8_t)generation),
			       pt + KEYS_PT_KEY, KEYS_KEY_LEN);
	if (r < 0) {
		if (remote->held_count == 0)
			keys_room_remote_drop(room, (size_t)(remote - room->remotes));
		goto out;
	}
	keys_remote_advance(room, remote, generation, pt + KEYS_PT_KEY, now_ms);
	keys_room_expire(room, now_ms);
	r = 0;
out:
	sodium_memzero(pt, sizeof(pt));
	return r;
}

int keys_room_unprotect(struct keys_room *room, const uint8_t *frame, size_t frame_len,
			uint8_t *out, size_t out_cap, size_t *pt_len, struct sframe_header *hdr,
			uint64_t now_ms)
{
	struct sframe_header header;
	struct keys_remote *remote;
	uint8_t key[KEYS_KEY_LEN];
	uint32_t generation;
	uint64_t kid;
	unsigned ahead;
	int r;

	r = sframe_unprotect(&room->ring, NULL, 0, frame, frame_len, out, out_cap, pt_len, &header);
	if (hdr != NULL && (r == 0 || r == -ENOKEY))
		*hdr = header;
	if (r != -ENOKEY)
		return r;

	remote = keys_room_remote_find(room, sframe_kid_sender(header.kid));
	if (remote == NULL)
		return -ENOKEY;
	/* Epochs are generations modulo 256: how many steps ahead of the newest? */
	ahead = (uint8_t)(sframe_kid_epoch(header.kid) - (uint8_t)remote->chain_generation);
	if (ahead == 0 || ahead > KEYS_MAX_AHEAD || remote->chain_generation > UINT32_MAX - ahead)
		return -ENOKEY;
	generation = remote->chain_generation + ahead;

	memcpy(key, remote->chain_key, KEYS_KEY_LEN);
	for (unsigned i = 0; i < ahead; i++)
		keys_ratchet(key, key);
	kid = sframe_kid_make(remote->member_number, (uint8_t)generation);
	/* The -ENOKEY above means no older generation holds this KID any more. */
	r = sframe_keyring_add(&room->ring, room->suite, kid, key, KEYS_KEY_LEN);
	if (r < 0)
		goto out;
	r = sframe_unprotect(&room->ring, NULL, 0, frame, frame_len, out, out_cap, pt_len, &header);
	if (r == 0) {
		keys_remote_advance(room, remote, generation, key, now_ms);
		keys_room_expire(room, now_ms);
	} else {
		/*
		 * Keep a derived key only once a frame proves it right: the sender may
		 * have rotated to a fresh chain whose box has not reached us yet.
		 */
		(void)sframe_keyring_remove(&room->ring, kid);
	}
out:
	sodium_memzero(key, sizeof(key));
	return r;
}

void keys_room_expire(struct keys_room *room, uint64_t now_ms)
{
	for (size_t i = 0; i < room->remote_count; i++) {
		struct keys_remote *remote = &room->remotes[i];

		for (size_t j = 0; j < remote->held_count;) {
			struct keys_held *held = &remote->held[j];

			if (held->superseded && now_ms >= held->superseded_ms &&
			    now_ms - held->superseded_ms >= room->grace_ms) {
				(void)sframe_keyring_remove(
				    &room->ring, sframe_kid_make(remote->member_number,
								 (uint8_t)held->generation));
				remote->held[j] = remote->held[remote->held_count - 1];
				remote->held_count--;
				continue;
			}
			j++;
		}
	}
}

int keys_room_peer_generation(const struct keys_room *room, uint64_t sender_member,
			      uint32_t *generation)
{
	struct keys_remote *remote = keys_room_remote_find(room, sender_member);

	if (remote == NULL)
		return -ENOENT;
	*generation = remote->chain_generation;
	return 0;
}

const struct sframe_keyring *keys_room_keyring(const struct keys_room *room)
{
	return &room->ring;
}
