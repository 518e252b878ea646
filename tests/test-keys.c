/*
 * test-keys.c - the key manager: the ratchet against its documented construction
 * (computed here independently with HMAC-SHA-512), sealing to members who then read
 * the sender's SFrame frames, late joiners who cannot read the past, leavers who
 * cannot read the future, ratcheting on demand with a bounded look-ahead and no way
 * back, the grace window, epoch wrap-around, rejection of tampered, misaddressed,
 * moved and misattributed boxes, the precomputed shared-key cache, blocking, and
 * the member index under many joins and leaves.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "identity.h"
#include "keys.h"
#include "sframe.h"
#include "util.h"

#define SUITE SFRAME_SUITE_CHACHA20_POLY1305_SHA512
#define ROOM UINT64_C(0x1122334455667788)
#define MAX_USERS 48

struct user {
	struct identity id;
	uint64_t user_id;
	uint64_t member;
	struct keys_peers *peers;
	struct keys_room *room;
};

static struct user users[MAX_USERS];

/* Makes user i with a deterministic identity, user id 1000 + i, member number i + 1. */
static struct user *user_make(int i)
{
	struct user *u = &users[i];
	uint8_t seed[IDENTITY_SEED_LEN];

	memset(seed, 0x40 + i, sizeof(seed));
	assert_int_equal(identity_from_seed(&u->id, seed), 0);
	u->user_id = 1000 + (uint64_t)i;
	u->member = (uint64_t)i + 1;
	u->peers = keys_peers_new(&u->id, u->user_id);
	assert_non_null(u->peers);
	assert_int_equal(keys_room_new(&u->room, u->peers, ROOM, u->member, SUITE), 0);
	return u;
}

static void user_free(struct user *u)
{
	keys_room_free(u->room);
	keys_peers_free(u->peers);
	identity_wipe(&u->id);
	memset(u, 0, sizeof(*u));
}

/* a and b learn each other's identity key. */
static void introduce(struct user *a, struct user *b)
{
	assert_true(keys_peers_set(a->peers, b->user_id, b->id.public_key) >= 0);
	assert_true(keys_peers_set(b->peers, a->user_id, a->id.public_key) >= 0);
}

static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < MAX_USERS; i++) {
		if (users[i].peers != NULL)
			user_free(&users[i]);
	}
	return 0;
}

/* from adds the members (introduced first) in one batch; returns the boxes. */
static struct keys_sealed *add_members(struct user *from, struct user **to, size_t n, size_t *count)
{
	uint64_t ids[MAX_USERS], numbers[MAX_USERS];
	struct keys_sealed *sealed = NULL;

	for (size_t i = 0; i < n; i++) {
		introduce(from, to[i]);
		ids[i] = to[i]->user_id;
		numbers[i] = to[i]->member;
	}
	assert_int_equal(keys_room_members_add(from->room, ids, numbers, n, &sealed, count), 0);
	return sealed;
}

/* Finds the box addressed to u among count boxes, or fails the test. */
static const uint8_t *box_for(const struct keys_sealed *sealed, size_t count, const struct user *u)
{
	for (size_t i = 0; i < count; i++) {
		if (sealed[i].user_id == u->user_id)
			return sealed[i].box;
	}
	fail_msg("no box for user %llu", (unsigned long long)u->user_id);
	abort(); /* not reached: fail_msg does not return */
}

/* u opens from's box, delivered through its text form as the API would. */
static int deliver(struct user *from, struct user *u, const struct keys_sealed *sealed,
		   size_t count, uint64_t now)
{
	char text[KEYS_BOX_TEXT_LEN];
	uint8_t box[KEYS_BOX_LEN];

	keys_box_to_text(text, box_for(sealed, count, u));
	assert_int_equal(strlen(text), KEYS_BOX_TEXT_LEN - 1);
	assert_int_equal(keys_box_from_text(box, text), 0);
	return keys_room_open(u->room, from->user_id, from->member, box, sizeof(box), now);
}

struct frame {
	uint8_t data[128];
	size_t len;
};

/* from protects a frame carrying text under its current key. */
static struct frame send_frame(struct user *from, const char *text)
{
	struct frame f;

	assert_int_equal(sframe_protect(keys_room_sender(from->room), NULL, 0,
					(const uint8_t *)text, strlen(text), f.data, sizeof(f.data),
					&f.len),
			 0);
	return f;
}

/* u tries to read f; on success checks the text. Returns the unprotect result. */
static int recv_frame(struct user *u, const struct frame *f, const char *text, uint64_t now)
{
	uint8_t out[128];
	size_t len = 0;
	int r;

	r = keys_room_unprotect(u->room, f->data, f->len, out, sizeof(out), &len, NULL, now);
	if (r == 0) {
		assert_int_equal(len, strlen(text));
		assert_memory_equal(out, text, len);
	}
	return r;
}

/* The ratchet is exactly the documented HKDF-SHA-512, computed here by hand. */
static void test_ratchet_construction(void **state)
{
	static const char salt[] = "salon ratchet v1";
	static const char info[] = "salon sender key ratchet";
	crypto_auth_hmacsha512_state h;
	uint8_t key[KEYS_KEY_LEN], prk[64], block[64], got[KEYS_KEY_LEN];
	uint8_t one = 1;

	(void)state;
	for (int i = 0; i < KEYS_KEY_LEN; i++)
		key[i] = (uint8_t)i;
	crypto_auth_hmacsha512_init(&h, (const uint8_t *)salt, strlen(salt));
	crypto_auth_hmacsha512_update(&h, key, sizeof(key));
	crypto_auth_hmacsha512_final(&h, prk);
	crypto_auth_hmacsha512_init(&h, prk, sizeof(prk));
	crypto_auth_hmacsha512_update(&h, (const uint8_t *)info, strlen(info));
	crypto_auth_hmacsha512_update(&h, &one, 1);
	crypto_auth_hmacsha512_final(&h, block);

	keys_ratchet(got, key);
	assert_memory_equal(got, block, KEYS_KEY_LEN);
	/* In place gives the same, and the next step differs from the previous. */
	keys_ratchet(key, key);
	assert_memory_equal(key, block, KEYS_KEY_LEN);
	keys_ratchet(got, key);
	assert_memory_not_equal(got, key, KEYS_KEY_LEN);
}

/* A seals to B and C in one batch; both read A's frames; the KID names A and g. */
static void test_three_members(void **state)
{
	struct user *a = user_make(0), *b = user_make(1), *c = user_make(2);
	struct user *to[] = {b, c};
	struct keys_sealed *sealed;
	struct sframe_header hdr;
	struct frame f;
	uint8_t out[64];
	size_t count, len;

	(void)state;
	assert_int_equal(keys_room_generation(a->room), 0);
	sealed = add_members(a, to, 2, &count);
	assert_int_equal(count, 2);
	/* Nothing was said yet: the members get the current key, no step. */
	assert_int_equal(keys_room_generation(a->room), 0);
	assert_int_equal(keys_room_member_count(a->room), 2);
	assert_int_equal(deliver(a, b, sealed, count, 0), 0);
	assert_int_equal(deliver(a, c, sealed, count, 0), 0);
	/* The same box again is harmless. */
	assert_int_equal(deliver(a, c, sealed, count, 0), 0);
	free(sealed);

	for (int i = 0; i < 3; i++) {
		f = send_frame(a, "hello salon");
		assert_int_equal(recv_frame(b, &f, "hello salon", 0), 0);
		assert_int_equal(recv_frame(c, &f, "hello salon", 0), 0);
	}
	/* The frame's KID is A's member number and epoch 0. */
	f = send_frame(a, "kid");
	assert_int_equal(
	    keys_room_unprotect(b->room, f.data, f.len, out, sizeof(out), &len, &hdr, 0), 0);
	assert_int_equal(hdr.kid, sframe_kid_make(a->member, 0));
	/* Replays are still refused through the key manager. */
	assert_int_equal(recv_frame(b, &f, "kid", 0), -EALREADY);
	/* Someone with no box (D) cannot read it. */
	struct user *d = user_make(3);
	introduce(a, d);
	assert_int_equal(recv_frame(d, &f, "kid", 0), -ENOKEY);
}

/* D joins after A spoke: D cannot read what came before, B ratchets by itself. */
static void test_late_joiner(void **state)
{
	struct user *a = user_make(0), *b = user_make(1), *d = user_make(3);
	struct user *to_b[] = {b}, *to_d[] = {d};
	struct keys_sealed *sealed;
	struct frame before, after;
	uint32_t generation;
	size_t count;

	(void)state;
	sealed = add_members(a, to_b, 1, &count);
	assert_int_equal(deliver(a, b, sealed, count, 0), 0);
	free(sealed);
	before = send_frame(a, "before D");
	assert_int_equal(recv_frame(b, &before, "before D", 0), 0);

	sealed = add_members(a, to_d, 1, &count);
	/* Only the newcomer gets a box: B derives the next key itself. */
	assert_int_equal(count, 1);
	assert_int_equal(sealed[0].user_id, d->user_id);
	assert_int_equal(deliver(a, d, sealed, count, 0), 0);
	free(sealed);
	assert_int_equal(keys_room_generation(a->room), 1);

	assert_int_equal(recv_frame(d, &before, "before D", 0), -ENOKEY);
	after = send_frame(a, "after D");
	assert_int_equal(recv_frame(d, &after, "after D", 0), 0);
	assert_int_equal(recv_frame(b, &after, "after D", 0), 0);
	assert_int_equal(keys_room_peer_generation(b->room, a->member, &generation), 0);
	assert_int_equal(generation, 1);
	/* Still nothing from before, even now that D holds a key of A's chain. */
	assert_int_equal(recv_frame(d, &before, "before D", 0), -ENOKEY);
	assert_int_equal(keys_room_keyring(d->room)->count, 1);
}

/*
 * The member list reaches A (member 6) in several batches before A says anything:
 * it is coalesced into one key, so every member present opens A's FIRST frame,
 * including one that joined after A (member 7) but before A spoke.
 */
static void test_first_frame_batches(void **state)
{
	struct user *a = user_make(5);
	struct user *b = user_make(0), *c = user_make(1), *d = user_make(2), *e = user_make(6);
	struct user *batch1[] = {b, c}, *batch2[] = {d}, *batch3[] = {e};
	struct user *all[] = {b, c, d, e};
	struct keys_sealed *sealed[3];
	size_t count[3];
	struct frame first;

	(void)state;
	sealed[0] = add_members(a, batch1, 2, &count[0]);
	sealed[1] = add_members(a, batch2, 1, &count[1]);
	sealed[2] = add_members(a, batch3, 1, &count[2]);
	/* One key for the whole list, each member boxed once. */
	assert_int_equal(keys_room_generation(a->room), 0);
	assert_false(keys_room_key_used(a->room));
	assert_int_equal(count[0], 2);
	assert_int_equal(count[1], 1);
	assert_int_equal(count[2], 1);
	assert_int_equal(deliver(a, b, sealed[0], count[0], 0), 0);
	assert_int_equal(deliver(a, c, sealed[0], count[0], 0), 0);
	assert_int_equal(deliver(a, d, sealed[1], count[1], 0), 0);
	assert_int_equal(deliver(a, e, sealed[2], count[2], 0), 0);
	for (int i = 0; i < 3; i++)
		free(sealed[i]);

	first = send_frame(a, "the very first frame");
	for (size_t i = 0; i < ARRAY_SIZE(all); i++)
		assert_int_equal(recv_frame(all[i], &first, "the very first frame", 0), 0);
	assert_true(keys_room_key_used(a->room));
}

/*
 * A speaks before its member list arrives (the list comes in batches, after the
 * first frames): members who were in the room before A (smaller member numbers)
 * get the key A is using, not a ratchet of it, so they open A's first frame. A
 * member who joins after A spoke gets a ratchet and opens nothing said before it.
 */
static void test_first_frame_before_list(void **state)
{
	struct user *a = user_make(5);
	struct user *b = user_make(0), *c = user_make(1), *d = user_make(2), *late = user_make(6);
	struct user *batch1[] = {b, c}, *batch2[] = {d}, *to_late[] = {late};
	struct user *early[] = {b, c, d};
	struct keys_sealed *sealed;
	struct frame first, second, after;
	uint8_t out[64];
	size_t count, len;
	int ret;

	(void)state;
	/* Protected through the precise API, as the media thread does. */
	ret = keys_room_protect(a->room, (const uint8_t *)"first", 5, first.data,
				sizeof(first.data), &first.len);
	assert_int_equal(ret, 0);
	second = send_frame(a, "second");

	sealed = add_members(a, batch1, 2, &count);
	assert_int_equal(count, 2);
	assert_int_equal(deliver(a, b, sealed, count, 0), 0);
	assert_int_equal(deliver(a, c, sealed, count, 0), 0);
	free(sealed);
	sealed = add_members(a, batch2, 1, &count);
	assert_int_equal(deliver(a, d, sealed, count, 0), 0);
	free(sealed);
	assert_int_equal(keys_room_generation(a->room), 0);
	for (size_t i = 0; i < ARRAY_SIZE(early); i++) {
		assert_int_equal(keys_room_unprotect(early[i]->room, first.data, first.len, out,
						     sizeof(out), &len, NULL, 0),
				 0);
		assert_int_equal(len, 5);
		assert_memory_equal(out, "first", 5);
		assert_int_equal(recv_frame(early[i], &second, "second", 0), 0);
	}

	/* A newcomer after A spoke: a ratchet, sealed to it alone. */
	sealed = add_members(a, to_late, 1, &count);
	assert_int_equal(count, 1);
	assert_int_equal(keys_room_generation(a->room), 1);
	assert_int_equal(deliver(a, late, sealed, count, 0), 0);
	free(sealed);
	assert_int_equal(keys_room_unprotect(late->room, first.data, first.len, out, sizeof(out),
					     &len, NULL, 0),
			 -ENOKEY);
	assert_int_equal(recv_frame(late, &second, "second", 0), -ENOKEY);
	after = send_frame(a, "after");
	assert_int_equal(recv_frame(late, &after, "after", 0), 0);
	for (size_t i = 0; i < ARRAY_SIZE(early); i++)
		assert_int_equal(recv_frame(early[i], &after, "after", 0), 0);
	/* The counter is kept across a step, and moving it back is a no-op. */
	assert_int_equal(keys_room_set_counter(a->room, 0), 0);
}

/* C leaves; after A rotates, B reads A's frames and nothing C holds does. */
static void test_leaver(void **state)
{
	struct user *a = user_make(0), *b = user_make(1), *c = user_make(2);
	struct user *to[] = {b, c};
	struct keys_sealed *sealed;
	struct frame f;
	size_t count, c_keys;

	(void)state;
	keys_room_set_rotate_interval(a->room, 2000);
	sealed = add_members(a, to, 2, &count);
	assert_int_equal(deliver(a, b, sealed, count, 0), 0);
	assert_int_equal(deliver(a, c, sealed, count, 0), 0);
	free(sealed);
	f = send_frame(a, "all three");
	assert_int_equal(recv_frame(b, &f, "all three", 0), 0);
	assert_int_equal(recv_frame(c, &f, "all three", 0), 0);

	assert_false(keys_room_rotate_needed(a->room, 0));
	assert_int_equal(keys_room_member_remove(a->room, c->user_id), 0);
	assert_int_equal(keys_room_member_remove(a->room, c->user_id), -ENOENT);
	assert_false(keys_room_is_member(a->room, c->user_id));
	assert_true(keys_room_rotate_needed(a->room, 10000));
	assert_int_equal(keys_room_rotate(a->room, 10000, &sealed, &count), 0);
	assert_false(keys_room_rotate_needed(a->room, 10000));
	assert_int_equal(count, 1);
	assert_int_equal(sealed[0].user_id, b->user_id);
	assert_int_equal(deliver(a, b, sealed, count, 10000), 0);
	/* C cannot open B's box either. */
	assert_int_equal(
	    keys_room_open(c->room, a->user_id, a->member, sealed[0].box, KEYS_BOX_LEN, 10000),
	    -EBADMSG);
	free(sealed);

	c_keys = keys_room_keyring(c->room)->count;
	for (int i = 0; i < 3; i++) {
		f = send_frame(a, "after C left");
		assert_int_equal(recv_frame(b, &f, "after C left", 10000), 0);
		/* C ratchets its old chain to the new epoch: the wrong key, not kept. */
		assert_int_equal(recv_frame(c, &f, "after C left", 10000), -EBADMSG);
		assert_int_equal(keys_room_keyring(c->room)->count, c_keys);
	}

	/* Rotations are batched: another leave within the interval waits. */
	struct user *e = user_make(4);
	struct user *to_e[] = {e};
	sealed = add_members(a, to_e, 1, &count);
	free(sealed);
	assert_int_equal(keys_room_member_remove(a->room, e->user_id), 0);
	assert_false(keys_room_rotate_needed(a->room, 11999));
	assert_true(keys_room_rotate_needed(a->room, 12000));
}

/* B follows A's joins by ratcheting, up to KEYS_MAX_AHEAD at once, never back. */
static void test_ratchet_bounds(void **state)
{
	struct user *a = user_make(0), *b = user_make(1);
	struct user *to_b[] = {b};
	struct keys_sealed *sealed, *stale;
	struct frame f, old, old2;
	uint32_t generation;
	size_t count, stale_count;

	(void)state;
	keys_room_set_grace(b->room, 500);
	sealed = add_members(a, to_b, 1, &count);
	/* Keep this box for later: it becomes stale. */
	stale = sealed;
	stale_count = count;
	assert_int_equal(deliver(a, b, stale, stale_count, 0), 0);
	old = send_frame(a, "generation 0");
	old2 = send_frame(a, "generation 0");

	/*
	 * KEYS_MAX_AHEAD joins, each after A said something, while B hears nothing: still
	 * within reach.
	 */
	for (int i = 0; i < KEYS_MAX_AHEAD; i++) {
		struct user *u = user_make(2 + i);
		struct user *to[] = {u};

		sealed = add_members(a, to, 1, &count);
		free(sealed);
		(void)send_frame(a, "to the others");
	}
	assert_int_equal(keys_room_generation(a->room), KEYS_MAX_AHEAD);
	f = send_frame(a, "far ahead");
	assert_int_equal(recv_frame(b, &f, "far ahead", 100), 0);
	assert_int_equal(keys_room_peer_generation(b->room, a->member, &generation), 0);
	assert_int_equal(generation, KEYS_MAX_AHEAD);

	/* The old generation still decodes within the grace window, not after. */
	assert_int_equal(recv_frame(b, &old, "generation 0", 599), 0);
	keys_room_expire(b->room, 600);
	assert_int_equal(recv_frame(b, &old2, "generation 0", 600), -ENOKEY);
	f = send_frame(a, "far ahead 2");
	assert_int_equal(recv_frame(b, &f, "far ahead 2", 600), 0);

	/* One step more than allowed: refused, and the generation does not move. */
	for (int i = 0; i < KEYS_MAX_AHEAD + 1; i++) {
		sealed = NULL;
		assert_int_equal(keys_room_members_add(a->room, NULL, NULL, 0, &sealed, &count), 0);
		assert_int_equal(count, 0);
		free(sealed);
	}
	f = send_frame(a, "too far");
	assert_int_equal(recv_frame(b, &f, "too far", 700), -ENOKEY);
	assert_int_equal(keys_room_peer_generation(b->room, a->member, &generation), 0);
	assert_int_equal(generation, KEYS_MAX_AHEAD);

	/* A box for an older generation than we hold is refused: never backwards. */
	assert_int_equal(deliver(a, b, stale, stale_count, 800), -ESTALE);
	free(stale);

	/* Only the newest generation is left once every grace window has ended. */
	keys_room_expire(b->room, 5000);
	assert_int_equal(keys_room_keyring(b->room)->count, 1);
}

/* B follows A through 300 generations, across the epoch's wrap from 255 to 0. */
static void test_epoch_wrap(void **state)
{
	struct user *a = user_make(0), *b = user_make(1);
	struct user *to_b[] = {b};
	struct keys_sealed *sealed;
	struct sframe_header hdr;
	uint8_t out[64];
	size_t count, len;
	struct frame f;

	(void)state;
	sealed = add_members(a, to_b, 1, &count);
	assert_int_equal(deliver(a, b, sealed, count, 0), 0);
	free(sealed);
	for (int g = 1; g <= 300; g++) {
		assert_int_equal(keys_room_members_add(a->room, NULL, NULL, 0, &sealed, &count), 0);
		free(sealed);
		f = send_frame(a, "wrap");
		assert_int_equal(keys_room_unprotect(b->room, f.data, f.len, out, sizeof(out), &len,
						     &hdr, (uint64_t)g),
				 0);
		assert_int_equal(hdr.kid, sframe_kid_make(a->member, (uint8_t)g));
		/* Bounded memory: a few generations per sender, never 256. */
		assert_true(keys_room_keyring(b->room)->count <= KEYS_KEEP_GENERATIONS);
	}
}

/* Build a box by hand, as A would, with chosen plaintext fields. */
static void forge_box(uint8_t box[KEYS_BOX_LEN], const struct user *from, const struct user *to,
		      uint64_t room, uint64_t sender_id, uint64_t member, uint32_t generation,
		      uint8_t version)
{
	uint8_t pt[KEYS_BOX_PLAIN_LEN], x_secret[32], x_public[32];

	pt[0] = version;
	put_u64be(pt + 1, room);
	put_u64be(pt + 9, sender_id);
	put_u64be(pt + 17, member);
	put_u64be(pt + 25, to->user_id);
	put_u32be(pt + 33, generation);
	put_u16be(pt + 37, SUITE);
	memset(pt + 39, 0x5a, KEYS_KEY_LEN);
	assert_int_equal(identity_x25519_secret(x_secret, &from->id), 0);
	assert_int_equal(identity_x25519_public(x_public, to->id.public_key), 0);
	randombytes_buf(box, crypto_box_NONCEBYTES);
	assert_int_equal(
	    crypto_box_easy(box + crypto_box_NONCEBYTES, pt, sizeof(pt), box, x_public, x_secret),
	    0);
}

/* Tampered, misaddressed, moved and misattributed boxes are all refused. */
static void test_box_rejections(void **state)
{
	struct user *a = user_make(0), *b = user_make(1), *c = user_make(2);
	struct user *to[] = {b, c};
	struct keys_sealed *sealed;
	struct keys_room *other_room;
	uint8_t box[KEYS_BOX_LEN], x_secret[32], x_public[32], pt[KEYS_BOX_PLAIN_LEN];
	uint8_t scratch[KEYS_BOX_LEN];
	size_t count;

	(void)state;
	introduce(b, c);
	sealed = add_members(a, to, 2, &count);
	memcpy(box, box_for(sealed, count, b), KEYS_BOX_LEN);

	/* The documented layout, opened here with plain crypto_box_open_easy. */
	assert_int_equal(identity_x25519_secret(x_secret, &b->id), 0);
	assert_int_equal(identity_x25519_public(x_public, a->id.public_key), 0);
	assert_int_equal(
	    crypto_box_open_easy(pt, box + 24, KEYS_BOX_LEN - 24, box, x_public, x_secret), 0);
	assert_int_equal(pt[0], KEYS_BOX_VERSION);
	assert_true(get_u64be(pt + 1) == ROOM);
	assert_true(get_u64be(pt + 9) == a->user_id);
	assert_true(get_u64be(pt + 17) == a->member);
	assert_true(get_u64be(pt + 25) == b->user_id);
	assert_int_equal(get_u32be(pt + 33), 0);
	assert_int_equal(get_u16be(pt + 37), SUITE);

	/* Every single flipped bit (nonce, ciphertext or tag) is caught. */
	for (size_t i = 0; i < KEYS_BOX_LEN; i += 7) {
		box[i] ^= 0x10;
		assert_int_equal(
		    keys_room_open(b->room, a->user_id, a->member, box, KEYS_BOX_LEN, 0), -EBADMSG);
		box[i] ^= 0x10;
	}
	/* Wrong lengths and bad text. */
	assert_int_equal(keys_room_open(b->room, a->user_id, a->member, box, KEYS_BOX_LEN - 1, 0),
			 -EINVAL);
	assert_int_equal(keys_box_from_text(scratch, "not base64!"), -EINVAL);
	assert_int_equal(keys_box_from_text(scratch, "AAAA"), -EINVAL);
	/* C's box opened by B: not sealed for B. */
	assert_int_equal(keys_room_open(b->room, a->user_id, a->member, box_for(sealed, count, c),
					KEYS_BOX_LEN, 0),
			 -EBADMSG);
	/* A's box presented as C's: C's shared key does not open it. */
	assert_int_equal(keys_room_open(b->room, c->user_id, c->member, box, KEYS_BOX_LEN, 0),
			 -EBADMSG);
	/* The right sender but another member number than the room says. */
	assert_int_equal(keys_room_open(b->room, a->user_id, a->member + 1, box, KEYS_BOX_LEN, 0),
			 -EPROTO);
	/* Replayed into another room. */
	assert_int_equal(keys_room_new(&other_room, b->peers, ROOM + 1, b->member, SUITE), 0);
	assert_int_equal(keys_room_open(other_room, a->user_id, a->member, box, KEYS_BOX_LEN, 0),
			 -EPROTO);
	keys_room_free(other_room);
	/* Authentic boxes from A whose contents claim something else. */
	forge_box(box, a, b, ROOM, c->user_id, a->member, 1, KEYS_BOX_VERSION);
	assert_int_equal(keys_room_open(b->room, a->user_id, a->member, box, KEYS_BOX_LEN, 0),
			 -EPROTO);
	forge_box(box, a, b, ROOM, a->user_id, a->member, 1, KEYS_BOX_VERSION + 1);
	assert_int_equal(keys_room_open(b->room, a->user_id, a->member, box, KEYS_BOX_LEN, 0),
			 -EPROTO);
	forge_box(box, a, c, ROOM, a->user_id, a->member, 1, KEYS_BOX_VERSION);
	/* Sealed to C but by A: B cannot open it (and C checks the recipient too). */
	assert_int_equal(keys_room_open(b->room, a->user_id, a->member, box, KEYS_BOX_LEN, 0),
			 -EBADMSG);
	/* A box of the right generation with a different key: the sender misbehaves. */
	assert_int_equal(deliver(a, b, sealed, count, 0), 0);
	forge_box(box, a, b, ROOM, a->user_id, a->member, 0, KEYS_BOX_VERSION);
	assert_int_equal(keys_room_open(b->room, a->user_id, a->member, box, KEYS_BOX_LEN, 0),
			 -EEXIST);
	/* None of this disturbed the real key. */
	struct frame f = send_frame(a, "still fine");
	assert_int_equal(recv_frame(b, &f, "still fine", 0), 0);
	/* Boxes from unknown or blocked senders. */
	struct user *d = user_make(3);
	assert_int_equal(keys_room_open(d->room, a->user_id, a->member, box, KEYS_BOX_LEN, 0),
			 -ENOENT);
	assert_int_equal(keys_peers_set_blocked(b->peers, a->user_id, true), 0);
	assert_int_equal(deliver(a, b, sealed, count, 0), -EPERM);
	free(sealed);
}

/* Sealing and opening compute each shared key once, and again only on a new key. */
static void test_precompute_cache(void **state)
{
	struct user *a = user_make(0), *b = user_make(1), *c = user_make(2);
	struct user *to[] = {b, c};
	struct keys_sealed *sealed;
	size_t count;

	(void)state;
	assert_int_equal(keys_peers_beforenm_count(a->peers), 0);
	sealed = add_members(a, to, 2, &count);
	assert_int_equal(keys_peers_beforenm_count(a->peers), 2);
	assert_int_equal(deliver(a, b, sealed, count, 0), 0);
	free(sealed);
	assert_int_equal(keys_room_member_remove(a->room, c->user_id), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(keys_room_rotate(a->room, 0, &sealed, &count), 0);
		assert_int_equal(count, 1);
		assert_int_equal(deliver(a, b, sealed, count, 0), 0);
		free(sealed);
	}
	assert_int_equal(keys_peers_beforenm_count(a->peers), 2);
	assert_int_equal(keys_peers_beforenm_count(b->peers), 1);
	/* Warming the cache is idempotent too. */
	assert_int_equal(keys_peers_precompute(a->peers, b->user_id), 0);
	assert_int_equal(keys_peers_beforenm_count(a->peers), 2);
	assert_int_equal(keys_peers_precompute(a->peers, 999999), -ENOENT);

	/* B's identity changes: the cached key goes, and is computed afresh once. */
	assert_int_equal(keys_peers_set(a->peers, b->user_id, b->id.public_key), 0);
	assert_int_equal(keys_peers_set(a->peers, b->user_id, c->id.public_key), 1);
	assert_int_equal(keys_room_rotate(a->room, 0, &sealed, &count), 0);
	assert_int_equal(keys_peers_beforenm_count(a->peers), 3);
	/* Sealed to the new key, so the real B cannot open it. */
	assert_int_equal(deliver(a, b, sealed, count, 0), -EBADMSG);
	free(sealed);
	/* Our own id and invalid points are refused. */
	assert_int_equal(keys_peers_set(a->peers, a->user_id, b->id.public_key), -EPERM);
	uint8_t bad[IDENTITY_PUBLIC_LEN];
	memset(bad, 0xff, sizeof(bad));
	assert_int_equal(keys_peers_set(a->peers, 4242, bad), -EINVAL);
}

/* Blocked members get no box until unblocked; errors leave the room unchanged. */
static void test_blocked_and_errors(void **state)
{
	struct user *a = user_make(0), *b = user_make(1), *c = user_make(2);
	struct user *to[] = {b, c};
	struct keys_sealed *sealed, one;
	uint64_t ids[2], numbers[2];
	size_t count;

	(void)state;
	introduce(a, b);
	introduce(a, c);
	assert_int_equal(keys_peers_set_blocked(a->peers, c->user_id, true), 0);
	assert_true(keys_peers_blocked(a->peers, c->user_id));
	sealed = add_members(a, to, 2, &count);
	assert_int_equal(count, 1);
	assert_int_equal(sealed[0].user_id, b->user_id);
	free(sealed);
	assert_int_equal(keys_room_seal_to(a->room, c->user_id, &one), -EPERM);
	assert_int_equal(keys_peers_set_blocked(a->peers, c->user_id, false), 0);
	assert_int_equal(keys_room_seal_to(a->room, c->user_id, &one), 0);
	assert_int_equal(keys_room_open(c->room, a->user_id, a->member, one.box, KEYS_BOX_LEN, 0),
			 0);
	struct frame f = send_frame(a, "accepted");
	assert_int_equal(recv_frame(c, &f, "accepted", 0), 0);
	assert_int_equal(keys_room_seal_to(a->room, 777, &one), -ENOENT);

	/* A batch with a repeated or existing member changes nothing. */
	uint32_t generation = keys_room_generation(a->room);
	struct user *d = user_make(3);
	introduce(a, d);
	ids[0] = d->user_id;
	numbers[0] = d->member;
	ids[1] = b->user_id;
	numbers[1] = b->member;
	assert_int_equal(keys_room_members_add(a->room, ids, numbers, 2, &sealed, &count), -EEXIST);
	ids[1] = d->user_id;
	assert_int_equal(keys_room_members_add(a->room, ids, numbers, 2, &sealed, &count), -EEXIST);
	numbers[1] = KEYS_MEMBER_MAX + 1;
	assert_int_equal(keys_room_members_add(a->room, ids, numbers, 2, &sealed, &count), -EINVAL);
	ids[1] = 31337;
	numbers[1] = 9;
	assert_int_equal(keys_room_members_add(a->room, ids, numbers, 2, &sealed, &count), -ENOENT);
	assert_false(keys_room_is_member(a->room, d->user_id));
	assert_int_equal(keys_room_member_count(a->room), 2);
	assert_int_equal(keys_room_generation(a->room), generation);
	struct keys_room *r;
	assert_int_equal(keys_room_new(&r, a->peers, ROOM, KEYS_MEMBER_MAX + 1, SUITE), -EINVAL);
	assert_int_equal(keys_room_new(&r, a->peers, ROOM, 1, 0x1234), -ENOTSUP);
}

/* Many joins and leaves: the member index stays exact, rotation seals to the rest. */
static void test_member_index(void **state)
{
	enum { N = 600 };
	struct user *a = user_make(0), *b = user_make(1);
	static uint64_t ids[N], numbers[N];
	struct keys_sealed *sealed;
	size_t count;

	(void)state;
	/* Every member shares B's key: only the index is under test here. */
	for (int i = 0; i < N; i++) {
		ids[i] = 50000 + (uint64_t)i * 7;
		numbers[i] = 10 + (uint64_t)i;
		assert_int_equal(keys_peers_set(a->peers, ids[i], b->id.public_key), 0);
	}
	assert_int_equal(keys_room_members_add(a->room, ids, numbers, N, &sealed, &count), 0);
	assert_int_equal(count, N);
	free(sealed);
	/* Shared keys are computed per peer: N of them. */
	assert_int_equal(keys_peers_beforenm_count(a->peers), N);
	for (int i = 0; i < N; i += 3)
		assert_int_equal(keys_room_member_remove(a->room, ids[i]), 0);
	for (int i = 0; i < N; i++)
		assert_int_equal(keys_room_is_member(a->room, ids[i]), i % 3 != 0);
	assert_int_equal(keys_room_member_count(a->room), N - (N + 2) / 3);
	assert_int_equal(keys_room_rotate(a->room, 0, &sealed, &count), 0);
	assert_int_equal(count, N - (N + 2) / 3);
	for (size_t k = 0; k < count; k++) {
		uint64_t off = sealed[k].user_id - 50000;

		assert_int_equal(off % 7, 0);
		assert_true(off / 7 < N && (off / 7) % 3 != 0);
		for (size_t j = 0; j < k; j++)
			assert_true(sealed[j].user_id != sealed[k].user_id);
	}
	free(sealed);
	assert_int_equal(keys_peers_beforenm_count(a->peers), N);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_teardown(test_ratchet_construction, teardown),
    cmocka_unit_test_teardown(test_three_members, teardown),
    cmocka_unit_test_teardown(test_late_joiner, teardown),
    cmocka_unit_test_teardown(test_first_frame_batches, teardown),
    cmocka_unit_test_teardown(test_first_frame_before_list, teardown),
    cmocka_unit_test_teardown(test_leaver, teardown),
    cmocka_unit_test_teardown(test_ratchet_bounds, teardown),
    cmocka_unit_test_teardown(test_epoch_wrap, teardown),
    cmocka_unit_test_teardown(test_box_rejections, teardown),
    cmocka_unit_test_teardown(test_precompute_cache, teardown),
    cmocka_unit_test_teardown(test_blocked_and_errors, teardown),
    cmocka_unit_test_teardown(test_member_index, teardown),
};

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
