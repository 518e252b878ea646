/*
 * test-hop.c - the hop transport: a complete NK handshake in memory carrying a
 * ticket, sealed datagrams both ways, tampering and replay, the replay window's
 * edges (checked against a simple reference model as well), the downlink key and
 * counter exhaustion.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "hop.h"
#include "util.h"
#include "wire.h"

/* Both ends of an established session, made through the real handshake. */
struct link {
	uint8_t relay_public[32], relay_secret[32];
	uint8_t ticket[WIRE_TICKET_LEN];
	struct hop_session client, relay;
};

static void link_make(struct link *l)
{
	uint8_t init_buf[WIRE_HANDSHAKE_INIT_LEN], resp_buf[WIRE_HANDSHAKE_RESP_LEN];
	uint8_t got_ticket[WIRE_TICKET_LEN];
	struct hop_initiator init;
	struct hop_responder resp;
	struct wire_datagram d;

	crypto_box_keypair(l->relay_public, l->relay_secret);
	randombytes_buf(l->ticket, sizeof(l->ticket));
	assert_int_equal(hop_initiator_start(&init, l->relay_public, l->ticket, 0x1111, init_buf),
			 0);
	assert_int_equal(wire_parse(init_buf, sizeof(init_buf), &d), 0);
	assert_int_equal(hop_responder_read(&resp, l->relay_secret, &d, got_ticket), 0);
	assert_memory_equal(got_ticket, l->ticket, WIRE_TICKET_LEN);
	assert_int_equal(hop_responder_accept(&resp, 0x2222, &l->relay, resp_buf), 0);
	assert_int_equal(wire_parse(resp_buf, sizeof(resp_buf), &d), 0);
	assert_int_equal(hop_initiator_finish(&init, &d, &l->client), 0);
}

static void test_handshake(void **state)
{
	uint64_t before = util_now_ms();
	struct link l;

	(void)state;
	link_make(&l);
	assert_int_equal(l.client.local_index, 0x1111);
	assert_int_equal(l.client.remote_index, 0x2222);
	assert_int_equal(l.relay.local_index, 0x2222);
	assert_int_equal(l.relay.remote_index, 0x1111);
	/* The initiator sends with c1 and the responder with c2. */
	assert_memory_equal(l.client.send_key, l.relay.recv_key, WIRE_KEY_LEN);
	assert_memory_equal(l.client.recv_key, l.relay.send_key, WIRE_KEY_LEN);
	assert_memory_not_equal(l.client.send_key, l.client.recv_key, WIRE_KEY_LEN);
	assert_int_equal(l.client.send_counter, 0);
	assert_true(l.client.created_ms >= before && l.client.created_ms <= util_now_ms());
	assert_true(l.relay.created_ms >= before && l.relay.created_ms <= util_now_ms());
}

static void test_handshake_fresh_each_time(void **state)
{
	uint8_t a[WIRE_HANDSHAKE_INIT_LEN], b[WIRE_HANDSHAKE_INIT_LEN];
	uint8_t pub[32], sec[32], ticket[WIRE_TICKET_LEN] = {0};
	struct hop_initiator i1, i2;

	(void)state;
	crypto_box_keypair(pub, sec);
	assert_int_equal(hop_initiator_start(&i1, pub, ticket, 7, a), 0);
	assert_int_equal(hop_initiator_start(&i2, pub, ticket, 7, b), 0);
	/* Fresh ephemeral keys: nothing beyond the header repeats. */
	assert_memory_equal(a, b, 8);
	assert_memory_not_equal(a + 8, b + 8, 32);
	assert_memory_not_equal(a + 40, b + 40, WIRE_NOISE_INIT_LEN - 32);
}

static void test_handshake_failures(void **state)
{
	uint8_t init_buf[WIRE_HANDSHAKE_INIT_LEN], resp_buf[WIRE_HANDSHAKE_RESP_LEN];
	uint8_t bad[WIRE_HANDSHAKE_RESP_LEN];
	uint8_t pub[32], sec[32], other_pub[32], other_sec[32];
	uint8_t ticket[WIRE_TICKET_LEN], got[WIRE_TICKET_LEN];
	struct hop_initiator init;
	struct hop_responder resp;
	struct hop_session client, relay;
	struct wire_datagram d, dr;

	(void)state;
	crypto_box_keypair(pub, sec);
	crypto_box_keypair(other_pub, other_sec);
	randombytes_buf(ticket, sizeof(ticket));
	assert_int_equal(hop_initiator_start(&init, pub, ticket, 0xabc, init_buf), 0);
	assert_int_equal(wire_parse(init_buf, sizeof(init_buf), &d), 0);
	/* A relay with another static key cannot read the ticket. */
	assert_int_equal(hop_responder_read(&resp, other_sec, &d, got), -EBADMSG);
	/* A flipped byte of the Noise message is caught. */
	init_buf[50] ^= 0x20;
	assert_int_equal(wire_parse(init_buf, sizeof(init_buf), &d), 0);
	assert_int_equal(hop_responder_read(&resp, sec, &d, got), -EBADMSG);
	init_buf[50] ^= 0x20;
	/* Not a HANDSHAKE_INIT at all. */
	memset(&dr, 0, sizeof(dr));
	dr.type = WIRE_TRANSPORT;
	assert_int_equal(hop_responder_read(&resp, sec, &dr, got), -EINVAL);
	assert_int_equal(hop_responder_read(&resp, sec, &d, got), 0);
	assert_memory_equal(got, ticket, sizeof(ticket));
	assert_int_equal(hop_responder_accept(&resp, 0xdef, &relay, resp_buf), 0);

	/* A response for another receiver index is refused before any crypto. */
	memcpy(bad, resp_buf, sizeof(bad));
	bad[8] ^= 1;
	assert_int_equal(wire_parse(bad, sizeof(bad), &dr), 0);
	assert_int_equal(hop_initiator_finish(&init, &dr, &client), -EINVAL);
	/* A forged response fails, and leaves the handshake able to finish. */
	memcpy(bad, resp_buf, sizeof(bad));
	bad[sizeof(bad) - 1] ^= 1;
	assert_int_equal(wire_parse(bad, sizeof(bad), &dr), 0);
	assert_int_equal(hop_initiator_finish(&init, &dr, &client), -EBADMSG);
	memcpy(bad, resp_buf, sizeof(bad));
	bad[12] ^= 4;
	assert_int_equal(wire_parse(bad, sizeof(bad), &dr), 0);
	assert_int_equal(hop_initiator_finish(&init, &dr, &client), -EBADMSG);
	/* An INIT is not a RESP. */
	assert_int_equal(hop_initiator_finish(&init, &d, &client), -EINVAL);

	assert_int_equal(wire_parse(resp_buf, sizeof(resp_buf), &dr), 0);
	assert_int_equal(hop_initiator_finish(&init, &dr, &client), 0);
	assert_memory_equal(client.send_key, relay.recv_key, WIRE_KEY_LEN);
	assert_int_equal(client.remote_index, 0xdef);
	/* The handshake is spent: a second finish fails. */
	assert_true(hop_initiator_finish(&init, &dr, &client) < 0);
}

/* Seals pt from one session and opens it at the other. */
static void check_one_way(struct hop_session *from, struct hop_session *to, const char *text)
{
	uint8_t out[WIRE_MAX_DATAGRAM], pt[WIRE_MAX_INNER];
	size_t out_len = 0, pt_len = 0;
	struct wire_datagram d;
	size_t len = strlen(text);

	assert_int_equal(hop_seal(from, (const uint8_t *)text, len, out, sizeof(out), &out_len),
			 0);
	assert_int_equal(out_len, WIRE_TRANSPORT_HEADER_LEN + len + WIRE_TAG_LEN);
	assert_int_equal(wire_parse(out, out_len, &d), 0);
	assert_int_equal(d.receiver_index, to->local_index);
	assert_int_equal(hop_open(to, &d, pt, sizeof(pt), &pt_len), 0);
	assert_int_equal(pt_len, len);
	assert_memory_equal(pt, text, len);
}

static void test_transport_both_ways(void **state)
{
	struct link l;

	(void)state;
	link_make(&l);
	check_one_way(&l.client, &l.relay, "\x01hello relay");
	check_one_way(&l.relay, &l.client, "\x02");
	check_one_way(&l.client, &l.relay, "\x01second");
	assert_int_equal(l.client.send_counter, 2);
	assert_int_equal(l.relay.send_counter, 1);
	/* A datagram meant for the other direction does not open. */
	{
		uint8_t out[64], pt[64];
		size_t out_len = 0, pt_len = 0;
		struct wire_datagram d;

		assert_int_equal(hop_seal(&l.client, (const uint8_t *)"x", 1, out, sizeof(out),
					  &out_len), 0);
		assert_int_equal(wire_parse(out, out_len, &d), 0);
		assert_int_equal(hop_open(&l.client, &d, pt, sizeof(pt), &pt_len), -EINVAL);
		/* Even if the index matched, the key is the wrong one. */
		d.receiver_index = l.client.local_index;
		assert_int_equal(hop_open(&l.client, &d, pt, sizeof(pt), &pt_len), -EBADMSG);
	}
}

static void test_seal_limits(void **state)
{
	uint8_t big[WIRE_MAX_INNER + 1] = {0};
	uint8_t out[WIRE_MAX_DATAGRAM + 16], pt[WIRE_MAX_INNER];
	size_t out_len = 0, pt_len = 0;
	struct wire_datagram d;
	struct link l;

	(void)state;
	link_make(&l);
	assert_int_equal(hop_seal(&l.client, big, sizeof(big), out, sizeof(out), &out_len),
			 -EMSGSIZE);
	assert_int_equal(hop_seal(&l.client, big, 10, out, 16 + 10 + 15, &out_len), -EMSGSIZE);
	assert_int_equal(l.client.send_counter, 0);
	/* The largest inner message fills a maximal datagram exactly. */
	assert_int_equal(hop_seal(&l.client, big, WIRE_MAX_INNER, out, sizeof(out), &out_len), 0);
	assert_int_equal(out_len, WIRE_MAX_DATAGRAM);
	/* Sealing in place: the plaintext already sits after the header. */
	memcpy(out + WIRE_TRANSPORT_HEADER_LEN, "\x02", 1);
	assert_int_equal(hop_seal(&l.client, out + WIRE_TRANSPORT_HEADER_LEN, 1, out,
				  sizeof(out), &out_len), 0);
	assert_int_equal(wire_parse(out, out_len, &d), 0);
	assert_int_equal(hop_open(&l.relay, &d, pt, sizeof(pt), &pt_len), 0);
	assert_int_equal(pt_len, 1);
	assert_int_equal(pt[0], 2);
	/* Opening in place, over the ciphertext in the receive buffer. */
	assert_int_equal(hop_seal(&l.client, (const uint8_t *)"\x01" "abc", 4, out, sizeof(out),
				  &out_len), 0);
	assert_int_equal(wire_parse(out, out_len, &d), 0);
	assert_int_equal(hop_open(&l.relay, &d, out + WIRE_TRANSPORT_HEADER_LEN,
				  out_len - WIRE_TRANSPORT_HEADER_LEN, &pt_len), 0);
	assert_int_equal(pt_len, 4);
	assert_memory_equal(out + WIRE_TRANSPORT_HEADER_LEN, "\x01" "abc", 4);
	/* A receive buffer too small is refused before decrypting. */
	assert_int_equal(hop_seal(&l.client, big, 100, out, sizeof(out), &out_len), 0);
	assert_int_equal(wire_parse(out, out_len, &d), 0);
	assert_int_equal(hop_open(&l.relay, &d, pt, 99, &pt_len), -EMSGSIZE);
	assert_int_equal(hop_open(&l.relay, &d, pt, 100, &pt_len), 0);
}

static void test_tampering(void **state)
{
	uint8_t out[128], bad[128], pt[128];
	size_t out_len = 0, pt_len = 0;
	struct wire_datagram d;
	struct replay_window saved;
	struct link l;

	(void)state;
	link_make(&l);
	assert_int_equal(hop_seal(&l.client, (const uint8_t *)"\x01media", 6, out, sizeof(out),
				  &out_len), 0);
	saved = l.relay.replay;
	/* Flip each bit of the counter, the ciphertext and the tag in turn. */
	for (size_t bit = 8 * 8; bit < out_len * 8; bit++) {
		memcpy(bad, out, out_len);
		bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_equal(wire_parse(bad, out_len, &d), 0);
		assert_int_equal(hop_open(&l.relay, &d, pt, sizeof(pt), &pt_len), -EBADMSG);
		/* A forgery, even with a huge counter, does not move the window. */
		assert_memory_equal(&l.relay.replay, &saved, sizeof(saved));
	}
	/* The receiver index is authenticated too, not only routed on. */
	memcpy(bad, out, out_len);
	bad[4] ^= 0x80;
	assert_int_equal(wire_parse(bad, out_len, &d), 0);
	d.receiver_index = l.relay.local_index;
	assert_int_equal(hop_open(&l.relay, &d, pt, sizeof(pt), &pt_len), -EBADMSG);
	/* Truncation by one byte breaks the tag. */
	assert_int_equal(wire_parse(out, out_len - 1, &d), 0);
	assert_int_equal(hop_open(&l.relay, &d, pt, sizeof(pt), &pt_len), -EBADMSG);
	assert_memory_equal(&l.relay.replay, &saved, sizeof(saved));
	/* The genuine datagram still opens, once. */
	assert_int_equal(wire_parse(out, out_len, &d), 0);
	assert_int_equal(hop_open(&l.relay, &d, pt, sizeof(pt), &pt_len), 0);
	assert_memory_equal(pt, "\x01media", 6);
	assert_int_equal(hop_open(&l.relay, &d, pt, sizeof(pt), &pt_len), -EALREADY);
}

/* Seals a one-byte message at counter n from s into out. */
static size_t seal_at(struct hop_session *s, uint64_t n, uint8_t *out)
{
	uint8_t msg = (uint8_t)n;
	size_t out_len = 0;

	s->send_counter = n;
	assert_int_equal(hop_seal(s, &msg, 1, out, 64, &out_len), 0);
	return out_len;
}

/* Opens out at s; returns hop_open's result and checks the byte on success. */
static int open_at(struct hop_session *s, const uint8_t *out, size_t len, uint64_t n)
{
	uint8_t pt[64];
	size_t pt_len = 0;
	struct wire_datagram d;
	int r;

	assert_int_equal(wire_parse(out, len, &d), 0);
	assert_true(d.counter == n);
	r = hop_open(s, &d, pt, sizeof(pt), &pt_len);
	if (r == 0) {
		assert_int_equal(pt_len, 1);
		assert_int_equal(pt[0], (uint8_t)n);
	}
	return r;
}

static void test_reorder_and_replay(void **state)
{
	const uint64_t order[] = {0, 5, 3, 4, 1, 2, 9, 8, 6, 7};
	uint8_t dgram[10][64];
	size_t len[10];
	struct link l;

	(void)state;
	link_make(&l);
	for (uint64_t n = 0; n < 10; n++)
		len[n] = seal_at(&l.client, n, dgram[n]);
	for (size_t i = 0; i < ARRAY_SIZE(order); i++)
		assert_int_equal(open_at(&l.relay, dgram[order[i]], len[order[i]], order[i]), 0);
	for (uint64_t n = 0; n < 10; n++)
		assert_int_equal(open_at(&l.relay, dgram[n], len[n], n), -EALREADY);
}

static void test_too_old(void **state)
{
	uint8_t old[64], edge[64], mid[64], top[64];
	size_t old_len, edge_len, mid_len, top_len;
	const uint64_t high = 5000;
	struct link l;

	(void)state;
	link_make(&l);
	old_len = seal_at(&l.client, high - REPLAY_WINDOW_BITS, old);
	edge_len = seal_at(&l.client, high - (REPLAY_WINDOW_BITS - 1), edge);
	mid_len = seal_at(&l.client, high - 1, mid);
	top_len = seal_at(&l.client, high, top);
	assert_int_equal(open_at(&l.relay, top, top_len, high), 0);
	/* Exactly the window size behind: too old; one less: still accepted, once. */
	assert_int_equal(open_at(&l.relay, old, old_len, high - REPLAY_WINDOW_BITS), -EALREADY);
	assert_int_equal(open_at(&l.relay, edge, edge_len, high - (REPLAY_WINDOW_BITS - 1)), 0);
	assert_int_equal(open_at(&l.relay, edge, edge_len, high - (REPLAY_WINDOW_BITS - 1)),
			 -EALREADY);
	assert_int_equal(open_at(&l.relay, mid, mid_len, high - 1), 0);
}

static void test_window_edges(void **state)
{
	struct replay_window w;

	(void)state;
	replay_init(&w);
	/* Counter 0 is a real counter, not "nothing yet". */
	assert_true(replay_check(&w, 0));
	replay_accept(&w, 0);
	assert_false(replay_check(&w, 0));
	assert_true(replay_check(&w, 1));

	/* Fill the whole window, then slide by less than its width. */
	replay_init(&w);
	for (uint64_t n = 0; n < REPLAY_WINDOW_BITS; n++)
		replay_accept(&w, n);
	for (uint64_t n = 0; n < REPLAY_WINDOW_BITS; n++)
		assert_false(replay_check(&w, n));
	replay_accept(&w, REPLAY_WINDOW_BITS + 52);
	for (uint64_t n = 0; n <= 52; n++)
		assert_false(replay_check(&w, n)); /* fell out */
	for (uint64_t n = 53; n < REPLAY_WINDOW_BITS; n++)
		assert_false(replay_check(&w, n)); /* still remembered */
	for (uint64_t n = REPLAY_WINDOW_BITS; n < REPLAY_WINDOW_BITS + 52; n++)
		assert_true(replay_check(&w, n)); /* slots reused, cleared */
	assert_false(replay_check(&w, REPLAY_WINDOW_BITS + 52));

	/* A jump of more than the window forgets everything before it. */
	replay_accept(&w, 100000);
	assert_false(replay_check(&w, 100000));
	assert_false(replay_check(&w, 100000 - REPLAY_WINDOW_BITS));
	for (uint64_t n = 100000 - (REPLAY_WINDOW_BITS - 1); n < 100000; n++)
		assert_true(replay_check(&w, n));
	/* A jump of exactly the window width: the old slot is reused by the new counter. */
	replay_accept(&w, 100000 + REPLAY_WINDOW_BITS);
	assert_false(replay_check(&w, 100000));
	assert_false(replay_check(&w, 100000 + REPLAY_WINDOW_BITS));
	assert_true(replay_check(&w, 100001));

	/* Counters near the top of the range. */
	replay_init(&w);
	assert_false(replay_check(&w, UINT64_MAX));
	replay_accept(&w, UINT64_MAX - 1);
	assert_false(replay_check(&w, UINT64_MAX - 1));
	assert_true(replay_check(&w, UINT64_MAX - 2));
	assert_false(replay_check(&w, UINT64_MAX));
	assert_false(replay_check(&w, 0));
}

/* Random operations against a plain "set of seen counters" model. */
static void test_window_model(void **state)
{
	enum { RANGE = 12000 };
	static bool seen[RANGE];
	struct replay_window w;
	uint64_t highest = 0;
	bool any = false;
	uint64_t base = 0;

	(void)state;
	memset(seen, 0, sizeof(seen));
	replay_init(&w);
	for (int i = 0; i < 60000; i++) {
		uint64_t c;
		bool expect;

		/* Mostly near the top, sometimes far ahead or far behind. */
		switch (randombytes_uniform(8)) {
		case 0:
			c = randombytes_uniform(RANGE);
			break;
		case 1:
			c = base + randombytes_uniform(3 * REPLAY_WINDOW_BITS);
			break;
		default:
			c = base + randombytes_uniform(REPLAY_WINDOW_BITS + 64);
			break;
		}
		if (c >= RANGE)
			c = RANGE - 1;
		expect = !any || c > highest ||
			 (highest - c < REPLAY_WINDOW_BITS && !seen[c]);
		assert_int_equal(replay_check(&w, c), expect);
		if (expect) {
			replay_accept(&w, c);
			seen[c] = true;
			if (!any || c > highest)
				highest = c;
			any = true;
			base = highest > REPLAY_WINDOW_BITS ? highest - REPLAY_WINDOW_BITS : 0;
		} else if (randombytes_uniform(2) == 0) {
			/* Accepting a rejected counter must change nothing. */
			struct replay_window before = w;

			replay_accept(&w, c);
			assert_memory_equal(&before, &w, sizeof(w));
		}
	}
	assert_true(any);
}

static void test_counter_exhaustion(void **state)
{
	uint8_t out[64];
	size_t out_len = 0;
	struct link l;

	(void)state;
	link_make(&l);
	/* The last allowed counter is still sealed, and accepted by the peer. */
	out_len = seal_at(&l.client, HOP_REJECT_AFTER_MESSAGES - 1, out);
	assert_int_equal(open_at(&l.relay, out, out_len, HOP_REJECT_AFTER_MESSAGES - 1), 0);
	assert_true(l.client.send_counter == HOP_REJECT_AFTER_MESSAGES);
	assert_int_equal(hop_seal(&l.client, (const uint8_t *)"\x02", 1, out, sizeof(out),
				  &out_len), -ERANGE);
	assert_true(l.client.send_counter == HOP_REJECT_AFTER_MESSAGES);
	l.client.send_counter = UINT64_MAX;
	assert_int_equal(hop_seal(&l.client, (const uint8_t *)"\x02", 1, out, sizeof(out),
				  &out_len), -ERANGE);
}

static void test_downlink(void **state)
{
	struct downlink_key sender, member;
	uint8_t frame[WIRE_MAX_FRAME + 1], out[WIRE_MAX_DATAGRAM + 16], got[WIRE_MAX_FRAME];
	uint8_t bad[WIRE_MAX_DATAGRAM];
	size_t out_len = 0, got_len = 0;
	uint32_t source = 0;
	struct wire_datagram d;
	struct replay_window saved;

	(void)state;
	memset(&sender, 0, sizeof(sender));
	randombytes_buf(sender.key, sizeof(sender.key));
	sender.key_index = randombytes_random();
	member = sender;
	replay_init(&member.replay);
	randombytes_buf(frame, sizeof(frame));

	assert_int_equal(downlink_seal(&sender, 0xcafe0001, frame, 100, out, sizeof(out),
				       &out_len), 0);
	assert_int_equal(out_len, WIRE_DOWNLINK_HEADER_LEN + 4 + 100 + WIRE_TAG_LEN);
	assert_int_equal(wire_parse(out, out_len, &d), 0);
	assert_int_equal(d.type, WIRE_DOWNLINK);
	assert_true(d.counter == 0);
	saved = member.replay;
	/* Every flipped bit after the type header fails; the window stays put. */
	for (size_t bit = 4 * 8; bit < out_len * 8; bit++) {
		memcpy(bad, out, out_len);
		bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_equal(wire_parse(bad, out_len, &d), 0);
		d.key_index = member.key_index;
		assert_int_equal(downlink_open(&member, &d, &source, got, sizeof(got), &got_len),
				 -EBADMSG);
		assert_memory_equal(&member.replay, &saved, sizeof(saved));
	}
	assert_int_equal(wire_parse(out, out_len, &d), 0);
	assert_int_equal(downlink_open(&member, &d, &source, got, 99, &got_len), -EMSGSIZE);
	assert_int_equal(downlink_open(&member, &d, &source, got, sizeof(got), &got_len), 0);
	assert_int_equal(source, 0xcafe0001);
	assert_int_equal(got_len, 100);
	assert_memory_equal(got, frame, 100);
	assert_int_equal(downlink_open(&member, &d, &source, got, sizeof(got), &got_len),
			 -EALREADY);
	/* A datagram under another key index is not ours to open. */
	d.key_index ^= 1;
	assert_int_equal(downlink_open(&member, &d, &source, got, sizeof(got), &got_len),
			 -EINVAL);

	/* Largest and empty frames, and the size limits. */
	assert_int_equal(downlink_seal(&sender, 7, frame, WIRE_MAX_FRAME, out, sizeof(out),
				       &out_len), 0);
	assert_int_equal(out_len, WIRE_MAX_DATAGRAM);
	assert_int_equal(wire_parse(out, out_len, &d), 0);
	assert_int_equal(downlink_open(&member, &d, &source, got, sizeof(got), &got_len), 0);
	assert_int_equal(got_len, WIRE_MAX_FRAME);
	assert_memory_equal(got, frame, WIRE_MAX_FRAME);
	assert_int_equal(downlink_seal(&sender, 7, frame, WIRE_MAX_FRAME + 1, out, sizeof(out),
				       &out_len), -EMSGSIZE);
	assert_int_equal(downlink_seal(&sender, 7, frame, 10, out, 16 + 4 + 10 + 15, &out_len),
			 -EMSGSIZE);
	assert_int_equal(downlink_seal(&sender, 9, frame, 0, out, sizeof(out), &out_len), 0);
	assert_int_equal(wire_parse(out, out_len, &d), 0);
	assert_int_equal(downlink_open(&member, &d, &source, got, 0, &got_len), 0);
	assert_int_equal(source, 9);
	assert_int_equal(got_len, 0);

	/* The relay may place the frame in out already (at out + 20) or anywhere in it. */
	memcpy(out + WIRE_DOWNLINK_HEADER_LEN + 4, frame, 50);
	assert_int_equal(downlink_seal(&sender, 11, out + WIRE_DOWNLINK_HEADER_LEN + 4, 50, out,
				       sizeof(out), &out_len), 0);
	assert_int_equal(wire_parse(out, out_len, &d), 0);
	assert_int_equal(downlink_open(&member, &d, &source, got, sizeof(got), &got_len), 0);
	assert_int_equal(got_len, 50);
	assert_memory_equal(got, frame, 50);
	memcpy(out, frame, 50);
	assert_int_equal(downlink_seal(&sender, 12, out, 50, out, sizeof(out), &out_len), 0);
	assert_int_equal(wire_parse(out, out_len, &d), 0);
	assert_int_equal(downlink_open(&member, &d, &source, got, sizeof(got), &got_len), 0);
	assert_int_equal(source, 12);
	assert_memory_equal(got, frame, 50);

	/* Exhaustion. */
	sender.counter = HOP_REJECT_AFTER_MESSAGES - 1;
	assert_int_equal(downlink_seal(&sender, 1, frame, 10, out, sizeof(out), &out_len), 0);
	assert_int_equal(downlink_seal(&sender, 1, frame, 10, out, sizeof(out), &out_len),
			 -ERANGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_handshake),
		cmocka_unit_test(test_handshake_fresh_each_time),
		cmocka_unit_test(test_handshake_failures),
		cmocka_unit_test(test_transport_both_ways),
		cmocka_unit_test(test_seal_limits),
		cmocka_unit_test(test_tampering),
		cmocka_unit_test(test_reorder_and_replay),
		cmocka_unit_test(test_too_old),
		cmocka_unit_test(test_window_edges),
		cmocka_unit_test(test_window_model),
		cmocka_unit_test(test_counter_exhaustion),
		cmocka_unit_test(test_downlink),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
