/*
 * fuzz-keys.c - the client's sealed key boxes: keys_box_from_text() and
 * keys_room_open(), then keys_room_unprotect() on what the boxes installed.
 *
 * We are user 1 (member 1) in room 10; users 2 and 3 are known peers, user 4 is
 * known but blocked. The input is a list of operations, each on a fresh room per
 * input:
 *   0  box text: a NUL-terminated string from the input, decoded and opened as if
 *      the API said user 2 (member 5) posted it.
 *   1  forged plaintext: fields chosen by the input (version, room, sender, member,
 *      recipient, generation, suite, key), sealed for real by user 2, so that the
 *      checks after authentication are reached; what opens must match every field.
 *   2  genuine box from user 2's own keys_room, through its text form, possibly with
 *      one character changed: an unchanged box opens (unless a forged one already
 *      installed a newer generation), a changed one never does.
 *   3  a media frame, raw from the input or protected by user 2's sender (possibly
 *      changed), through keys_room_unprotect().
 * Return codes must be among those keys.h documents.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "common.h"
#include "identity.h"
#include "keys.h"
#include "sframe.h"
#include "util.h"

#define ROOM_ID 10
#define SUITE SFRAME_SUITE_CHACHA20_POLY1305_SHA512
#define MAX_OPS 64

static struct identity ids[5];
static struct keys_peers *self_peers;  /* user 1 */
static struct keys_peers *peer2_peers; /* user 2, the sender */
static uint8_t shared_2_to_1[crypto_box_BEFORENMBYTES];

static void open_check(int ret)
{
	FUZZ_ASSERT(ret == 0 || ret == -ENOENT || ret == -EPERM || ret == -EINVAL ||
		    ret == -EBADMSG || ret == -EPROTO || ret == -ESTALE || ret == -EEXIST);
}

static void op_text(struct fuzz_reader *r, struct keys_room *room, uint64_t now)
{
	const uint8_t *p;
	size_t len = fuzz_take(r, fuzz_u8(r), &p);
	char *text = malloc(len + 1);
	uint8_t box[KEYS_BOX_LEN];
	uint64_t sender = 2 + fuzz_u8(r) % 4; /* 2, 3, 4 (blocked) or 5 (unknown) */
	int ret;

	memcpy(text, p, len);
	text[len] = '\0';
	ret = keys_box_from_text(box, text);
	FUZZ_ASSERT(ret == 0 || ret == -EINVAL);
	if (ret == 0) {
		char again[KEYS_BOX_TEXT_LEN];

		/* Only the canonical text of exactly KEYS_BOX_LEN bytes decodes. */
		keys_box_to_text(again, box);
		FUZZ_ASSERT(strcmp(again, text) == 0);
		ret = keys_room_open(room, sender, 5, box, sizeof(box), now);
		open_check(ret);
		FUZZ_ASSERT(sender != 4 || ret == -EPERM);
		FUZZ_ASSERT(sender != 5 || ret == -ENOENT);
	}
	free(text);
}

static uint64_t pick_u64(struct fuzz_reader *r, uint64_t usual)
{
	uint8_t how = fuzz_u8(r);
	uint64_t v = 0;

	if (how < 192)
		return usual;
	for (int i = 0; i < 8; i++)
		v = v << 8 | fuzz_u8(r);
	return v;
}

static void op_forged(struct fuzz_reader *r, struct keys_room *room, uint64_t now)
{
	uint8_t pt[KEYS_BOX_PLAIN_LEN], box[KEYS_BOX_LEN];
	const uint8_t *p;
	uint64_t member = fuzz_u8(r) < 240 ? 5u + fuzz_u8(r) % 3u : pick_u64(r, 5);
	uint32_t generation;
	size_t n;
	int ret;

	memset(pt, 0, sizeof(pt));
	pt[0] = fuzz_u8(r) < 240 ? KEYS_BOX_VERSION : fuzz_u8(r);
	put_u64be(pt + 1, pick_u64(r, ROOM_ID));
	put_u64be(pt + 9, pick_u64(r, 2));
	put_u64be(pt + 17, pick_u64(r, member));
	put_u64be(pt + 25, pick_u64(r, 1));
	generation = (uint32_t)fuzz_u16(r);
	if (fuzz_u8(r) > 240)
		generation = UINT32_MAX - fuzz_u8(r);
	put_u32be(pt + 33, generation);
	put_u16be(pt + 37, fuzz_u8(r) < 240 ? SUITE : fuzz_u16(r));
	n = fuzz_take(r, KEYS_KEY_LEN, &p);
	memcpy(pt + 39, p, n);
	memset(box, 0x33, KEYS_BOX_NONCE_LEN);
	box[0] = fuzz_u8(r);
	crypto_box_easy_afternm(box + KEYS_BOX_NONCE_LEN, pt, sizeof(pt), box, shared_2_to_1);
	ret = keys_room_open(room, 2, member, box, sizeof(box), now);
	open_check(ret);
	FUZZ_ASSERT(ret != -EBADMSG && ret != -ENOENT && ret != -EPERM);
	if (ret == 0) {
		uint32_t held = 0;

		FUZZ_ASSERT(pt[0] == KEYS_BOX_VERSION && get_u64be(pt + 1) == ROOM_ID);
		FUZZ_ASSERT(get_u64be(pt + 9) == 2 && get_u64be(pt + 17) == member);
		FUZZ_ASSERT(get_u64be(pt + 25) == 1 && get_u16be(pt + 37) == SUITE);
		FUZZ_ASSERT(member <= KEYS_MEMBER_MAX);
		FUZZ_ASSERT(keys_room_peer_generation(room, member, &held) == 0);
		FUZZ_ASSERT(held >= generation);
	}
}

static void op_genuine(struct fuzz_reader *r, struct keys_room *room,
		       struct keys_room *sender_room, uint64_t now)
{
	uint64_t to = 1, number = 1;
	struct keys_sealed *sealed = NULL;
	size_t count = 0;
	char text[KEYS_BOX_TEXT_LEN];
	uint8_t box[KEYS_BOX_LEN];
	uint8_t at = fuzz_u8(r), x = fuzz_u8(r);
	int ret;

	/* Member 1 joins again after leaving: a ratchet step, sealed to us alone. */
	(void)keys_room_member_remove(sender_room, 1);
	ret = keys_room_members_add(sender_room, &to, &number, 1, &sealed, &count);
	if (ret == -ERANGE)
		return;
	FUZZ_ASSERT(ret == 0 && count == 1 && sealed[0].user_id == 1);
	keys_box_to_text(text, sealed[0].box);
	if (x != 0 && (at & 1))
		text[(at >> 1) % (KEYS_BOX_TEXT_LEN - 1)] ^= (char)(x & 0x3f);
	ret = keys_box_from_text(box, text);
	if (ret == 0) {
		bool same = memcmp(box, sealed[0].box, KEYS_BOX_LEN) == 0;

		ret = keys_room_open(room, 2, 5, box, sizeof(box), now);
		open_check(ret);
		/* A forged box (operation 1) may hold a newer generation for member 5. */
		FUZZ_ASSERT(same ? (ret == 0 || ret == -ESTALE || ret == -EEXIST)
				 : ret == -EBADMSG);
	}
	free(sealed);
}

static void op_frame(struct fuzz_reader *r, struct keys_room *room,
		     struct keys_room *sender_room, uint64_t now)
{
	uint8_t frame[600], out[600];
	const uint8_t *p;
	struct sframe_header hdr;
	size_t len = 0, pt_len = 0;
	bool genuine = fuzz_u8(r) & 1;
	int ret;

	if (genuine) {
		size_t n = fuzz_take(r, fuzz_u8(r), &p);

		ret = sframe_protect(keys_room_sender(sender_room), NULL, 0, p, n, frame,
				     sizeof(frame), &len);
		if (ret < 0)
			return;
		if (fuzz_u8(r) & 1)
			frame[fuzz_u16(r) % len] ^= (uint8_t)(fuzz_u8(r) | 1);
	} else {
		len = fuzz_take(r, fuzz_u16(r) % sizeof(frame), &p);
		memcpy(frame, p, len);
	}
	ret = keys_room_unprotect(room, frame, len, out, sizeof(out), &pt_len, &hdr, now);
	FUZZ_ASSERT(ret == 0 || ret == -EINVAL || ret == -ENOKEY || ret == -EBADMSG ||
		    ret == -EALREADY || ret == -EMSGSIZE);
	FUZZ_ASSERT(ret != 0 || pt_len + SFRAME_TAG_LEN < len);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	uint8_t seed[IDENTITY_SEED_LEN], x_secret[32], x_public[32];

	(void)argc;
	(void)argv;
	fuzz_quiet();
	if (sodium_init() < 0)
		abort();
	for (int i = 1; i <= 4; i++) {
		memset(seed, 0x10 * i, sizeof(seed));
		FUZZ_ASSERT(identity_from_seed(&ids[i], seed) == 0);
	}
	self_peers = keys_peers_new(&ids[1], 1);
	peer2_peers = keys_peers_new(&ids[2], 2);
	FUZZ_ASSERT(self_peers != NULL && peer2_peers != NULL);
	for (int i = 2; i <= 4; i++)
		FUZZ_ASSERT(keys_peers_set(self_peers, (uint64_t)i, ids[i].public_key) == 0);
	FUZZ_ASSERT(keys_peers_set_blocked(self_peers, 4, true) == 0);
	FUZZ_ASSERT(keys_peers_set(peer2_peers, 1, ids[1].public_key) == 0);
	FUZZ_ASSERT(identity_x25519_secret(x_secret, &ids[2]) == 0);
	FUZZ_ASSERT(identity_x25519_public(x_public, ids[1].public_key) == 0);
	FUZZ_ASSERT(crypto_box_beforenm(shared_2_to_1, x_public, x_secret) == 0);
	sodium_memzero(x_secret, sizeof(x_secret));
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_reader r = {data, size, 0};
	struct keys_room *room = NULL, *sender_room = NULL;
	uint64_t now = 1000;

	FUZZ_ASSERT(keys_room_new(&room, self_peers, ROOM_ID, 1, SUITE) == 0);
	FUZZ_ASSERT(keys_room_new(&sender_room, peer2_peers, ROOM_ID, 5, SUITE) == 0);
	for (int ops = 0; ops < MAX_OPS && r.pos < r.size; ops++) {
		now += fuzz_u8(&r) * 16;
		switch (fuzz_u8(&r) % 4) {
		case 0:
			op_text(&r, room, now);
			break;
		case 1:
			op_forged(&r, room, now);
			break;
		case 2:
			op_genuine(&r, room, sender_room, now);
			break;
		default:
			op_frame(&r, room, sender_room, now);
			break;
		}
	}
	keys_room_free(sender_room);
	keys_room_free(room);
	return 0;
}
