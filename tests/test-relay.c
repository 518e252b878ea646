/*
 * test-relay.c - the media relay over real UDP sockets on 127.0.0.1.
 *
 * Each test starts its own relay on an ephemeral port and drives clients that do
 * the client side of the hop protocol with hop.h on their own sockets. Nothing
 * sleeps to synchronise: clients poll() their sockets with a deadline, and
 * counters are awaited the same way.
 */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "hop.h"
#include "relay.h"
#include "sframe.h"
#include "util.h"
#include "wire.h"

#define DEADLINE_MS 3000
#define ROOM 7
#define OTHER_ROOM 8
#define LISTENERS 20
#define FRAMES 50

struct fixture {
	struct relay *relay;
	uint8_t secret[32];
	uint8_t public[32];
	struct sockaddr_storage addr;
	socklen_t addr_len;
};

/* One test client: a socket connected to the relay and its hop state. */
struct client {
	int fd;
	uint64_t member_id;
	struct hop_session hop;
	bool has_session;
	struct downlink_key downlink;
	bool has_key;
	unsigned key_changes;
	uint8_t resume[WIRE_TICKET_LEN];
	bool has_resume;
	int close_reason; /* -1 until a CLOSE arrives */
	unsigned keepalives;
	/* The last DOWNLINK received, raw and opened. */
	uint8_t raw[WIRE_MAX_DATAGRAM];
	size_t raw_len;
	uint32_t source;
	uint8_t frame[WIRE_MAX_FRAME];
	size_t frame_len;
};

enum client_event {
	EV_TIMEOUT,
	EV_OTHER,
	EV_KEY,
	EV_RESUME,
	EV_CLOSE,
	EV_KEEPALIVE,
	EV_FRAME,
};

static uint64_t deadline_in(uint64_t ms)
{
	return util_now_ms() + ms;
}

static struct fixture *fixture_new(uint64_t timeout_ms, uint64_t reject_ms)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_true(sodium_init() >= 0);
	randombytes_buf(f->secret, sizeof(f->secret));
	crypto_scalarmult_base(f->public, f->secret);
	f->relay = relay_new("127.0.0.1", "0", f->secret);
	assert_non_null(f->relay);
	relay_set_timeouts(f->relay, timeout_ms, reject_ms);
	assert_int_equal(relay_local_address(f->relay, &f->addr, &f->addr_len), 0);
	assert_int_equal(f->addr.ss_family, AF_INET);
	assert_int_not_equal(((struct sockaddr_in *)&f->addr)->sin_port, 0);
	return f;
}

static int setup(void **state)
{
	struct fixture *f = fixture_new(0, 0);

	assert_int_equal(relay_start(f->relay), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	relay_free(f->relay);
	free(f);
	return 0;
}

static void client_open(struct fixture *f, struct client *c, uint64_t member_id)
{
	struct sockaddr_in local = {.sin_family = AF_INET};

	memset(c, 0, sizeof(*c));
	c->member_id = member_id;
	c->close_reason = -1;
	c->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(c->fd >= 0);
	local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(c->fd, (struct sockaddr *)&local, sizeof(local)), 0);
	assert_int_equal(connect(c->fd, (struct sockaddr *)&f->addr, f->addr_len), 0);
}

static void client_close(struct client *c)
{
	close(c->fd);
	c->fd = -1;
}

static void client_send_raw(struct client *c, const uint8_t *buf, size_t len)
{
	assert_int_equal(send(c->fd, buf, len, 0), (ssize_t)len);
}

/* Receives one datagram before the deadline; returns its length or -1 on timeout. */
static ssize_t client_recv(struct client *c, uint8_t *buf, size_t cap, uint64_t deadline)
{
	for (;;) {
		struct pollfd p = {.fd = c->fd, .events = POLLIN};
		uint64_t now = util_now_ms();
		int rc;

		if (now >= deadline)
			return -1;
		rc = poll(&p, 1, (int)(deadline - now));
		if (rc < 0 && errno == EINTR)
			continue;
		assert_true(rc >= 0);
		if (rc == 0)
			return -1;
		return recv(c->fd, buf, cap, 0);
	}
}

/* True when nothing at all is waiting on c's socket. */
static bool client_idle(struct client *c)
{
	uint8_t buf[WIRE_MAX_DATAGRAM];

	return recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT) < 0 && errno == EAGAIN;
}

/* Handles one datagram from the relay, updating c; returns what it was. */
static enum client_event client_handle(struct client *c, const uint8_t *buf, size_t len)
{
	struct wire_datagram d;
	struct wire_inner inner;
	uint8_t pt[WIRE_MAX_INNER];
	size_t pt_len = 0;

	assert_int_equal(wire_parse(buf, len, &d), 0);
	if (d.type == WIRE_DOWNLINK) {
		assert_true(c->has_key);
		assert_int_equal(d.key_index, c->downlink.key_index);
		assert_int_equal(downlink_open(&c->downlink, &d, &c->source, c->frame,
					       sizeof(c->frame), &c->frame_len), 0);
		memcpy(c->raw, buf, len);
		c->raw_len = len;
		return EV_FRAME;
	}
	assert_int_equal(d.type, WIRE_TRANSPORT);
	assert_true(c->has_session);
	assert_int_equal(hop_open(&c->hop, &d, pt, sizeof(pt), &pt_len), 0);
	assert_int_equal(wire_inner_parse(pt, pt_len, &inner), 0);
	switch (inner.type) {
	case WIRE_INNER_DOWNLINK_KEY:
		if (c->has_key)
			assert_int_not_equal(inner.key_index, c->downlink.key_index);
		memset(&c->downlink, 0, sizeof(c->downlink));
		c->downlink.key_index = inner.key_index;
		memcpy(c->downlink.key, inner.key, WIRE_KEY_LEN);
		replay_init(&c->downlink.replay);
		c->has_key = true;
		c->key_changes++;
		return EV_KEY;
	case WIRE_INNER_RESUME_TICKET:
		memcpy(c->resume, inner.ticket, WIRE_TICKET_LEN);
		c->has_resume = true;
		return EV_RESUME;
	case WIRE_INNER_CLOSE:
		c->close_reason = (int)inner.reason;
		c->has_session = false;
		return EV_CLOSE;
	case WIRE_INNER_KEEPALIVE:
		c->keepalives++;
		return EV_KEEPALIVE;
	case WIRE_INNER_MEDIA:
	default:
		fail_msg("unexpected inner message type %d from the relay", (int)inner.type);
	}
	return EV_OTHER;
}

/* Waits for the next datagram and handles it. */
static enum client_event client_next(struct client *c, uint64_t deadline)
{
	uint8_t buf[WIRE_MAX_DATAGRAM + 1];
	ssize_t n = client_recv(c, buf, sizeof(buf), deadline);

	if (n < 0)
		return EV_TIMEOUT;
	return client_handle(c, buf, (size_t)n);
}

/* Waits for an event of kind want, handling everything before it. */
static bool client_wait(struct client *c, enum client_event want, uint64_t deadline)
{
	for (;;) {
		enum client_event ev = client_next(c, deadline);

		if (ev == want)
			return true;
		if (ev == EV_TIMEOUT)
			return false;
	}
}

/*
 * Sends HANDSHAKE_INIT with ticket. Returns 0 once the session is up and the key
 * and resume ticket arrived, -ETIMEDOUT when the relay stays silent.
 */
static int client_handshake_wait(struct fixture *f, struct client *c,
				 const uint8_t ticket[WIRE_TICKET_LEN], uint64_t wait_ms)
{
	struct hop_initiator init;
	uint8_t out[WIRE_HANDSHAKE_INIT_LEN];
	uint8_t buf[WIRE_MAX_DATAGRAM];
	uint64_t deadline = deadline_in(wait_ms);
	struct wire_datagram d;
	ssize_t n;

	assert_int_equal(hop_initiator_start(&init, f->public, ticket, randombytes_random(),
					     out), 0);
	client_send_raw(c, out, sizeof(out));
	n = client_recv(c, buf, sizeof(buf), deadline);
	if (n < 0)
		return -ETIMEDOUT;
	assert_int_equal(wire_parse(buf, (size_t)n, &d), 0);
	assert_int_equal(d.type, WIRE_HANDSHAKE_RESP);
	assert_int_equal(hop_initiator_finish(&init, &d, &c->hop), 0);
	c->has_session = true;
	c->has_key = false;
	c->has_resume = false;
	c->close_reason = -1;
	while (!c->has_key || !c->has_resume) {
		if (client_next(c, deadline) == EV_TIMEOUT)
			fail_msg("no DOWNLINK_KEY or RESUME_TICKET after the handshake");
	}
	return 0;
}

static void client_join(struct fixture *f, struct client *c, uint64_t room, uint64_t member,
			bool may_speak)
{
	uint8_t ticket[WIRE_TICKET_LEN];

	client_open(f, c, member);
	randombytes_buf(ticket, sizeof(ticket));
	assert_int_equal(relay_ticket_add(f->relay, ticket, room, member, may_speak,
					  util_now_ms() + 60000), 0);
	assert_int_equal(client_handshake_wait(f, c, ticket, DEADLINE_MS), 0);
}

static void wait_stats(struct fixture *f, size_t offset, uint64_t value);

/*
 * Offers ticket and checks that the relay refuses it: once drop_ticket reaches
 * drops the relay has made its decision, and nothing may have come back.
 */
static void client_refused(struct fixture *f, struct client *c,
			   const uint8_t ticket[WIRE_TICKET_LEN], uint64_t drops)
{
	struct hop_initiator init;
	uint8_t out[WIRE_HANDSHAKE_INIT_LEN];

	assert_int_equal(hop_initiator_start(&init, f->public, ticket, randombytes_random(),
					     out), 0);
	client_send_raw(c, out, sizeof(out));
	wait_stats(f, offsetof(struct relay_stats, drop_ticket), drops);
	assert_true(client_idle(c));
}

/* Seals an inner message over c's session into out; returns the length. */
static size_t client_seal(struct client *c, const uint8_t *inner, size_t inner_len,
			  uint8_t *out)
{
	size_t len = 0;

	assert_int_equal(hop_seal(&c->hop, inner, inner_len, out, WIRE_MAX_DATAGRAM, &len), 0);
	return len;
}

static void client_send_inner(struct client *c, const uint8_t *inner, size_t inner_len)
{
	uint8_t out[WIRE_MAX_DATAGRAM];

	client_send_raw(c, out, client_seal(c, inner, inner_len, out));
}

/*
 * A recognisable SFrame-sized payload from member: an SFrame header (KID = member
 * << 8, CTR = number; the relay checks the KID's member), a tag byte, the frame
 * number, filler.
 */
static size_t make_frame(uint8_t *frame, uint64_t member, uint8_t tag, uint32_t number)
{
	struct sframe_header hdr = {.kid = member << 8, .ctr = number};
	int n;

	memset(frame, 0xa5, 80);
	n = sframe_header_encode(frame, 80, &hdr);
	assert_true(n > 0 && n <= 70);
	frame[n] = tag;
	put_u32be(frame + n + 1, number);
	return 80;
}

static void client_send_media(struct client *c, uint8_t tag, uint32_t number)
{
	uint8_t frame[80];
	uint8_t inner[WIRE_MAX_INNER];
	size_t frame_len = make_frame(frame, c->member_id, tag, number);

	client_send_inner(c, inner, wire_inner_write_media(inner, frame, frame_len));
}

/* Waits for the next frame on c and checks it is (tag, number) from source. */
static void client_expect_frame(struct client *c, uint8_t tag, uint32_t number,
				uint64_t source)
{
	uint8_t expected[80];
	size_t len = make_frame(expected, source, tag, number);

	if (!client_wait(c, EV_FRAME, deadline_in(DEADLINE_MS)))
		fail_msg("member %llu: no frame %u/%u", (unsigned long long)c->member_id,
			 tag, number);
	assert_int_equal(c->source, (uint32_t)source);
	assert_int_equal(c->frame_len, len);
	assert_memory_equal(c->frame, expected, len);
}

static void wait_stats(struct fixture *f, size_t offset, uint64_t value)
{
	uint64_t deadline = deadline_in(DEADLINE_MS);
	struct relay_stats s;

	for (;;) {
		uint64_t v;

		relay_get_stats(f->relay, &s);
		memcpy(&v, (const uint8_t *)&s + offset, sizeof(v));
		if (v == value)
			return;
		if (util_now_ms() >= deadline)
			fail_msg("counter at offset %zu is %llu, expected %llu", offset,
				 (unsigned long long)v, (unsigned long long)value);
		/* The counter is bumped by the relay thread: poll it with a deadline. */
		(void)poll(NULL, 0, 1);
	}
}

#define WAIT_STAT(f, field, value) wait_stats((f), offsetof(struct relay_stats, field), (value))

/* One speaker, twenty listeners, fifty frames: everyone gets each frame once. */
static void test_fan_out(void **state)
{
	struct fixture *f = *state;
	static struct client listeners[LISTENERS];
	struct client speaker;
	struct relay_stats s;
	uint32_t key_index;

	client_join(f, &speaker, ROOM, 1, true);
	key_index = speaker.downlink.key_index;
	for (int i = 0; i < LISTENERS; i++) {
		client_join(f, &listeners[i], ROOM, 100 + (uint64_t)i, false);
		/* Everyone in the room shares the room's downlink key. */
		assert_int_equal(listeners[i].downlink.key_index, key_index);
		assert_memory_equal(listeners[i].downlink.key, speaker.downlink.key,
				    WIRE_KEY_LEN);
	}
	relay_get_stats(f->relay, &s);
	assert_int_equal(s.handshakes, LISTENERS + 1);
	assert_int_equal(s.sessions, LISTENERS + 1);

	for (uint32_t k = 0; k < FRAMES; k++)
		client_send_media(&speaker, 'A', k);
	for (int i = 0; i < LISTENERS; i++) {
		/* In order and each once: the replay window would reject a duplicate. */
		for (uint32_t k = 0; k < FRAMES; k++)
			client_expect_frame(&listeners[i], 'A', k, speaker.member_id);
	}
	/*
	 * forwarded is bumped after a frame's last send: once it shows every frame,
	 * all copies are queued, none went to the speaker and none twice.
	 */
	WAIT_STAT(f, forwarded, FRAMES);
	WAIT_STAT(f, delivered, (uint64_t)FRAMES * LISTENERS);
	assert_true(client_idle(&speaker));
	for (int i = 0; i < LISTENERS; i++)
		assert_true(client_idle(&listeners[i]));
	relay_get_stats(f->relay, &s);
	assert_int_equal(s.drop_send, 0);
	for (int i = 0; i < LISTENERS; i++)
		client_close(&listeners[i]);
	client_close(&speaker);
}

/* A listener's MEDIA is dropped until the API lets it speak. */
static void test_unauthorised(void **state)
{
	struct fixture *f = *state;
	struct client speaker, listeners[3];

	client_join(f, &speaker, ROOM, 1, true);
	for (int i = 0; i < 3; i++)
		client_join(f, &listeners[i], ROOM, 10 + (uint64_t)i, false);

	client_send_media(&listeners[0], 'L', 0);
	WAIT_STAT(f, drop_unauthorised, 1);
	/* The next thing everyone gets is the speaker's frame, not the listener's. */
	client_send_media(&speaker, 'S', 0);
	for (int i = 1; i < 3; i++)
		client_expect_frame(&listeners[i], 'S', 0, speaker.member_id);
	client_expect_frame(&listeners[0], 'S', 0, speaker.member_id);
	WAIT_STAT(f, forwarded, 1);
	assert_true(client_idle(&speaker));

	/* Ordered before the frame: the relay runs commands before datagrams. */
	relay_member_set_speaker(f->relay, ROOM, listeners[0].member_id, true);
	client_send_media(&listeners[0], 'L', 1);
	client_expect_frame(&speaker, 'L', 1, listeners[0].member_id);
	for (int i = 1; i < 3; i++)
		client_expect_frame(&listeners[i], 'L', 1, listeners[0].member_id);
	WAIT_STAT(f, forwarded, 2);
	assert_true(client_idle(&listeners[0]));

	/* And back to the audience. */
	relay_member_set_speaker(f->relay, ROOM, listeners[0].member_id, false);
	client_send_media(&listeners[0], 'L', 2);
	WAIT_STAT(f, drop_unauthorised, 2);
	client_send_media(&speaker, 'S', 1);
	for (int i = 0; i < 3; i++) {
		client_expect_frame(&listeners[i], 'S', 1, speaker.member_id);
		client_close(&listeners[i]);
	}
	client_close(&speaker);
}

/*
 * A speaker's MEDIA whose SFrame KID names another member (or whose SFrame header
 * does not parse) is dropped and counted: a member cannot pass its frames off as
 * another's. A KID of its own with any epoch goes through: the relay cannot know
 * which epochs the speaker issued, receivers find out (no key).
 */
static void test_forged_kid(void **state)
{
	struct fixture *f = *state;
	struct client a, b, listener;
	uint8_t frame[80], inner[WIRE_MAX_INNER];
	size_t len;

	client_join(f, &a, ROOM, 1, true);
	client_join(f, &b, ROOM, 2, true);
	client_join(f, &listener, ROOM, 3, false);

	/* b sends a frame under a's KID, then one whose header is cut short. */
	len = make_frame(frame, a.member_id, 'K', 0);
	client_send_inner(&b, inner, wire_inner_write_media(inner, frame, len));
	frame[0] = 0xff; /* X=1, K=7: an 8-byte KID that the 1-byte body does not hold */
	client_send_inner(&b, inner, wire_inner_write_media(inner, frame, 1));
	WAIT_STAT(f, drop_kid, 2);
	/* b's own KID with an epoch never announced (0x77): forwarded. */
	len = make_frame(frame, b.member_id, 'E', 1);
	frame[2] = 0x77; /* KID 2 << 8 is two bytes after the config byte: its low byte */
	{
		struct sframe_header hdr;

		assert_int_equal(sframe_header_decode(&hdr, frame, len) > 0, 1);
		assert_int_equal(hdr.kid, (b.member_id << 8) | 0x77);
	}
	client_send_inner(&b, inner, wire_inner_write_media(inner, frame, len));
	assert_true(client_wait(&listener, EV_FRAME, deadline_in(DEADLINE_MS)));
	assert_int_equal(listener.source, (uint32_t)b.member_id);
	assert_memory_equal(listener.frame, frame, len);
	/* Nothing else reached the listener; a's genuine frame still does. */
	client_send_media(&a, 'A', 0);
	client_expect_frame(&listener, 'A', 0, a.member_id);
	WAIT_STAT(f, forwarded, 2);
	assert_true(client_idle(&listener));
	client_close(&listener);
	client_close(&b);
	client_close(&a);
}

/* Forged, replayed, truncated, garbage and unknown datagrams: dropped and counted. */
static void test_bad_datagrams(void **state)
{
	struct fixture *f = *state;
	struct client speaker, listeners[2], stranger;
	uint8_t frame[80], inner[WIRE_MAX_INNER], dgram[WIRE_MAX_DATAGRAM + 300];
	size_t frame_len;
	size_t len;
	struct relay_stats s;
	uint64_t received;

	client_join(f, &speaker, ROOM, 1, true);
	for (int i = 0; i < 2; i++)
		client_join(f, &listeners[i], ROOM, 20 + (uint64_t)i, false);
	client_open(f, &stranger, 99);
	frame_len = make_frame(frame, speaker.member_id, 'F', 0);
	relay_get_stats(f->relay, &s);
	received = s.received;

	/* Forged: one flipped ciphertext byte. */
	len = client_seal(&speaker, inner, wire_inner_write_media(inner, frame, frame_len),
			  dgram);
	dgram[len - 3] ^= 0x40;
	client_send_raw(&speaker, dgram, len);
	/* A flipped header byte (the counter) is authenticated too. */
	len = client_seal(&speaker, inner, wire_inner_write_media(inner, frame, frame_len),
			  dgram);
	dgram[9] ^= 0x01;
	client_send_raw(&speaker, dgram, len);
	WAIT_STAT(f, drop_forged, 2);

	/* Replayed: the same genuine datagram twice; the first one is forwarded. */
	len = client_seal(&speaker, inner, wire_inner_write_media(inner, frame, frame_len),
			  dgram);
	client_send_raw(&speaker, dgram, len);
	client_send_raw(&speaker, dgram, len);
	WAIT_STAT(f, drop_replayed, 1);
	for (int i = 0; i < 2; i++)
		client_expect_frame(&listeners[i], 'F', 0, speaker.member_id);

	/*
	 * Truncated: a genuine datagram one byte short fails authentication (forged);
	 * one cut inside its header does not even parse (malformed).
	 */
	len = client_seal(&speaker, inner, wire_inner_write_media(inner, frame, frame_len),
			  dgram);
	client_send_raw(&speaker, dgram, len - 1);
	WAIT_STAT(f, drop_forged, 3);
	client_send_raw(&speaker, dgram, 10);
	/* Garbage: unknown type, nonzero reserved bytes, empty, oversize. */
	memset(dgram, 0x77, sizeof(dgram));
	client_send_raw(&stranger, dgram, 100);
	dgram[0] = WIRE_TRANSPORT;
	client_send_raw(&stranger, dgram, 100);
	client_send_raw(&stranger, dgram, 0);
	memset(dgram + 1, 0, 3);
	client_send_raw(&stranger, dgram, WIRE_MAX_DATAGRAM + 200);
	/* A relay-to-client type sent to the relay. */
	wire_write_downlink_header(dgram, 1, 0);
	client_send_raw(&stranger, dgram, 60);
	/* A genuine session carrying an inner message only the relay may send. */
	{
		uint8_t key[WIRE_KEY_LEN] = {0};

		client_send_inner(&speaker, inner, wire_inner_write_downlink_key(inner, 5, key));
	}
	/* An inner message of unknown type. */
	inner[0] = 0x42;
	client_send_inner(&speaker, inner, 1);
	WAIT_STAT(f, drop_malformed, 8);

	/* Unknown receiver index. */
	wire_write_transport_header(dgram, speaker.hop.remote_index ^ 0x5a5a5a5a, 0);
	memset(dgram + WIRE_TRANSPORT_HEADER_LEN, 0, 40);
	client_send_raw(&stranger, dgram, WIRE_TRANSPORT_HEADER_LEN + 40);
	WAIT_STAT(f, drop_unknown, 1);

	/* A handshake whose Noise message is noise. */
	randombytes_buf(dgram, WIRE_HANDSHAKE_INIT_LEN);
	memset(dgram, 0, 4);
	dgram[0] = WIRE_HANDSHAKE_INIT;
	client_send_raw(&stranger, dgram, WIRE_HANDSHAKE_INIT_LEN);
	WAIT_STAT(f, drop_forged, 4);
	WAIT_STAT(f, received, received + 15);

	/* Nothing reached anybody, and the relay still serves. */
	assert_true(client_idle(&stranger));
	client_send_media(&speaker, 'F', 1);
	for (int i = 0; i < 2; i++)
		client_expect_frame(&listeners[i], 'F', 1, speaker.member_id);
	WAIT_STAT(f, forwarded, 2);
	for (int i = 0; i < 2; i++) {
		assert_true(client_idle(&listeners[i]));
		client_close(&listeners[i]);
	}
	assert_true(client_idle(&speaker));
	relay_get_stats(f->relay, &s);
	assert_int_equal(s.drop_unauthorised, 0);
	assert_int_equal(s.drop_replayed, 1);
	assert_int_equal(s.sessions, 3);
	client_close(&stranger);
	client_close(&speaker);
}

/* Thousands of random datagrams of every type and length: all dropped, relay alive. */
static void test_random_garbage(void **state)
{
	struct fixture *f = *state;
	struct client speaker, listener, stranger;
	uint8_t dgram[1400];
	struct relay_stats s;
	uint64_t received;

	client_join(f, &speaker, ROOM, 1, true);
	client_join(f, &listener, ROOM, 97, false);
	client_open(f, &stranger, 98);
	relay_get_stats(f->relay, &s);
	received = s.received;
	for (int chunk = 0; chunk < 20; chunk++) {
		for (int i = 0; i < 100; i++) {
			size_t len = randombytes_uniform(sizeof(dgram) + 1);

			randombytes_buf(dgram, sizeof(dgram));
			dgram[0] = (uint8_t)randombytes_uniform(6);
			if (randombytes_uniform(2))
				memset(dgram + 1, 0, 3);
			if (dgram[0] == WIRE_TRANSPORT && randombytes_uniform(2)) {
				/* Aim at the live session so hop_open sees garbage too. */
				dgram[4] = (uint8_t)speaker.hop.remote_index;
				dgram[5] = (uint8_t)(speaker.hop.remote_index >> 8);
				dgram[6] = (uint8_t)(speaker.hop.remote_index >> 16);
				dgram[7] = (uint8_t)(speaker.hop.remote_index >> 24);
			}
			client_send_raw(&stranger, dgram, len);
		}
		/* Let the relay drain each chunk so that none is lost in a full buffer. */
		received += 100;
		WAIT_STAT(f, received, received);
	}
	client_send_media(&speaker, 'G', 0);
	client_expect_frame(&listener, 'G', 0, speaker.member_id);
	WAIT_STAT(f, forwarded, 1);
	assert_true(client_idle(&stranger));
	relay_get_stats(f->relay, &s);
	assert_int_equal(s.sessions, 2);
	assert_int_equal(s.handshakes, 2);
	client_close(&stranger);
	client_close(&listener);
	client_close(&speaker);
}

/* Reused, expired and unknown tickets are refused; a resume ticket works once. */
static void test_tickets(void **state)
{
	struct fixture *f = *state;
	struct client a, b, c, d;
	uint8_t ticket[WIRE_TICKET_LEN], expired[WIRE_TICKET_LEN], unknown[WIRE_TICKET_LEN];
	uint8_t resume[WIRE_TICKET_LEN];
	struct relay_stats s;

	client_open(f, &a, 30);
	randombytes_buf(ticket, sizeof(ticket));
	assert_int_equal(relay_ticket_add(f->relay, ticket, ROOM, 30, false,
					  util_now_ms() + 60000), 0);
	assert_int_equal(client_handshake_wait(f, &a, ticket, DEADLINE_MS), 0);

	/* The same join ticket a second time, from another socket. */
	client_open(f, &b, 31);
	client_refused(f, &b, ticket, 1);

	/* A ticket that expired before it was used. */
	randombytes_buf(expired, sizeof(expired));
	assert_int_equal(relay_ticket_add(f->relay, expired, ROOM, 31, false,
					  util_now_ms() - 1), 0);
	client_refused(f, &b, expired, 2);

	/* A ticket the API never issued. */
	randombytes_buf(unknown, sizeof(unknown));
	client_refused(f, &b, unknown, 3);

	/* The resume ticket works once, even from a new address, and replaces a's session. */
	memcpy(resume, a.resume, sizeof(resume));
	client_open(f, &c, 30);
	assert_int_equal(client_handshake_wait(f, &c, resume, DEADLINE_MS), 0);
	assert_memory_not_equal(c.resume, resume, sizeof(resume));
	relay_get_stats(f->relay, &s);
	assert_int_equal(s.handshakes, 2);
	assert_int_equal(s.sessions, 1);
	client_open(f, &d, 30);
	client_refused(f, &d, resume, 4);

	/* a's old session is gone: its datagrams now name an unknown index. */
	{
		uint8_t inner[WIRE_MAX_INNER];

		client_send_inner(&a, inner, wire_inner_write_keepalive(inner));
	}
	WAIT_STAT(f, drop_unknown, 1);

	/* The new session works: a keepalive is answered with a keepalive. */
	{
		uint8_t inner[WIRE_MAX_INNER];

		client_send_inner(&c, inner, wire_inner_write_keepalive(inner));
	}
	assert_true(client_wait(&c, EV_KEEPALIVE, deadline_in(DEADLINE_MS)));

	/* The fresh resume ticket works in turn. */
	assert_int_equal(client_handshake_wait(f, &d, c.resume, DEADLINE_MS), 0);
	relay_get_stats(f->relay, &s);
	assert_int_equal(s.handshakes, 3);
	assert_int_equal(s.drop_ticket, 4);
	client_close(&a);
	client_close(&b);
	client_close(&c);
	client_close(&d);
}

/*
 * A retransmitted HANDSHAKE_INIT (our answer was lost) gets the same answer again
 * without a new session; the same INIT from another address is refused.
 */
static void test_retransmit(void **state)
{
	struct fixture *f = *state;
	struct client c, other;
	struct hop_initiator init;
	uint8_t ticket[WIRE_TICKET_LEN], out[WIRE_HANDSHAKE_INIT_LEN];
	uint8_t first[WIRE_MAX_DATAGRAM], second[WIRE_MAX_DATAGRAM];
	ssize_t first_len, second_len;
	struct wire_datagram d;
	struct relay_stats s;

	client_open(f, &c, 95);
	client_open(f, &other, 95);
	randombytes_buf(ticket, sizeof(ticket));
	assert_int_equal(relay_ticket_add(f->relay, ticket, ROOM, 95, false,
					  util_now_ms() + 60000), 0);
	assert_int_equal(hop_initiator_start(&init, f->public, ticket, 1234, out), 0);
	client_send_raw(&c, out, sizeof(out));
	first_len = client_recv(&c, first, sizeof(first), deadline_in(DEADLINE_MS));
	assert_int_equal(first_len, WIRE_HANDSHAKE_RESP_LEN);
	/* Pretend that was lost: the client sends the very same INIT again. */
	client_send_raw(&c, out, sizeof(out));
	do {
		second_len = client_recv(&c, second, sizeof(second), deadline_in(DEADLINE_MS));
		assert_true(second_len > 0);
	} while (second[0] != WIRE_HANDSHAKE_RESP);
	assert_int_equal(second_len, first_len);
	assert_memory_equal(second, first, (size_t)first_len);
	relay_get_stats(f->relay, &s);
	assert_int_equal(s.handshakes, 1);
	assert_int_equal(s.sessions, 1);
	/* The session it names works, and the key and ticket came again. */
	assert_int_equal(wire_parse(second, (size_t)second_len, &d), 0);
	assert_int_equal(hop_initiator_finish(&init, &d, &c.hop), 0);
	c.has_session = true;
	while (!c.has_key || !c.has_resume)
		assert_int_not_equal(client_next(&c, deadline_in(DEADLINE_MS)), EV_TIMEOUT);
	/* Another address replaying the INIT gets nothing. */
	client_send_raw(&other, out, sizeof(out));
	WAIT_STAT(f, drop_ticket, 1);
	assert_true(client_idle(&other));
	client_close(&c);
	client_close(&other);
}

/* Removing a member closes it and rotates the key for everyone else. */
static void test_remove(void **state)
{
	struct fixture *f = *state;
	struct client speaker, listeners[3];
	struct downlink_key old;
	struct wire_datagram d;
	uint32_t source;
	uint8_t frame[WIRE_MAX_FRAME];
	size_t frame_len;
	struct relay_stats s;

	client_join(f, &speaker, ROOM, 1, true);
	for (int i = 0; i < 3; i++)
		client_join(f, &listeners[i], ROOM, 40 + (uint64_t)i, false);
	client_send_media(&speaker, 'R', 0);
	for (int i = 0; i < 3; i++)
		client_expect_frame(&listeners[i], 'R', 0, speaker.member_id);
	old = listeners[0].downlink;

	relay_member_remove(f->relay, ROOM, listeners[0].member_id, WIRE_CLOSE_REMOVED);
	assert_true(client_wait(&listeners[0], EV_CLOSE, deadline_in(DEADLINE_MS)));
	assert_int_equal(listeners[0].close_reason, WIRE_CLOSE_REMOVED);
	assert_true(client_wait(&speaker, EV_KEY, deadline_in(DEADLINE_MS)));
	for (int i = 1; i < 3; i++) {
		assert_true(client_wait(&listeners[i], EV_KEY, deadline_in(DEADLINE_MS)));
		assert_int_equal(listeners[i].key_changes, 2);
		assert_int_not_equal(listeners[i].downlink.key_index, old.key_index);
		assert_memory_equal(listeners[i].downlink.key, speaker.downlink.key,
				    WIRE_KEY_LEN);
	}
	relay_get_stats(f->relay, &s);
	assert_int_equal(s.sessions, 3);

	client_send_media(&speaker, 'R', 1);
	for (int i = 1; i < 3; i++)
		client_expect_frame(&listeners[i], 'R', 1, speaker.member_id);
	/* The removed member got nothing, and the old key cannot open the new frame. */
	WAIT_STAT(f, forwarded, 2);
	assert_true(client_idle(&listeners[0]));
	assert_int_equal(wire_parse(listeners[1].raw, listeners[1].raw_len, &d), 0);
	assert_int_not_equal(d.key_index, old.key_index);
	assert_int_equal(downlink_open(&old, &d, &source, frame, sizeof(frame), &frame_len),
			 -EINVAL);
	old.key_index = d.key_index;
	assert_int_equal(downlink_open(&old, &d, &source, frame, sizeof(frame), &frame_len),
			 -EBADMSG);

	/* The removed member's resume ticket no longer works. */
	client_refused(f, &listeners[0], listeners[0].resume, 1);
	/* Nor does a join ticket of a member removed before it connected. */
	{
		uint8_t ticket[WIRE_TICKET_LEN];

		randombytes_buf(ticket, sizeof(ticket));
		assert_int_equal(relay_ticket_add(f->relay, ticket, ROOM, 49, false,
						  util_now_ms() + 60000), 0);
		relay_member_remove(f->relay, ROOM, 49, WIRE_CLOSE_REMOVED);
		client_refused(f, &listeners[0], ticket, 2);
	}
	for (int i = 0; i < 3; i++)
		client_close(&listeners[i]);
	client_close(&speaker);
}

/* An authenticated datagram from a new address moves the session; a forged one does not. */
static void test_roaming(void **state)
{
	struct fixture *f = *state;
	struct client speaker, listener, attacker;
	uint8_t inner[WIRE_MAX_INNER], dgram[WIRE_MAX_DATAGRAM];
	size_t len;
	int old_fd;

	client_join(f, &speaker, ROOM, 1, true);
	client_join(f, &listener, ROOM, 55, false);
	/* The listener's NAT binding changes: same session, new socket. */
	old_fd = listener.fd;
	client_open(f, &attacker, 0);
	listener.fd = attacker.fd;
	client_open(f, &attacker, 56);
	client_send_inner(&listener, inner, wire_inner_write_keepalive(inner));
	assert_true(client_wait(&listener, EV_KEEPALIVE, deadline_in(DEADLINE_MS)));
	/* A forged datagram naming the session from elsewhere moves nothing. */
	len = client_seal(&listener, inner, wire_inner_write_keepalive(inner), dgram);
	dgram[len - 1] ^= 1;
	client_send_raw(&attacker, dgram, len);
	WAIT_STAT(f, drop_forged, 1);
	client_send_media(&speaker, 'M', 0);
	client_expect_frame(&listener, 'M', 0, speaker.member_id);
	WAIT_STAT(f, forwarded, 1);
	assert_true(client_idle(&attacker));
	{
		struct client old = {.fd = old_fd};

		assert_true(client_idle(&old));
	}
	close(old_fd);
	client_close(&attacker);
	client_close(&listener);
	client_close(&speaker);
}

/* A CLOSE from a client drops its session without rotating the key. */
static void test_client_close(void **state)
{
	struct fixture *f = *state;
	struct client speaker, listener;
	uint8_t inner[WIRE_MAX_INNER];

	client_join(f, &speaker, ROOM, 1, true);
	client_join(f, &listener, ROOM, 50, false);
	client_send_inner(&listener, inner, wire_inner_write_close(inner, WIRE_CLOSE_BYE));
	WAIT_STAT(f, sessions, 1);
	client_send_inner(&listener, inner, wire_inner_write_keepalive(inner));
	WAIT_STAT(f, drop_unknown, 1);
	client_send_media(&speaker, 'C', 0);
	WAIT_STAT(f, forwarded, 1);
	assert_true(client_idle(&speaker));
	assert_true(client_idle(&listener));
	assert_int_equal(speaker.key_changes, 1);
	client_close(&speaker);
	client_close(&listener);
}

/* Silent sessions and old sessions are closed with WIRE_CLOSE_EXPIRED. */
static void test_timeouts(void **state)
{
	struct fixture *f = fixture_new(150, 60000);
	struct fixture *g;
	struct client c;
	uint8_t inner[WIRE_MAX_INNER];
	uint64_t deadline;

	(void)state;
	assert_int_equal(relay_start(f->relay), 0);
	client_join(f, &c, ROOM, 60, false);
	assert_true(client_wait(&c, EV_CLOSE, deadline_in(DEADLINE_MS)));
	assert_int_equal(c.close_reason, WIRE_CLOSE_EXPIRED);
	WAIT_STAT(f, sessions, 0);
	/* The resume ticket outlives a lost session. */
	assert_int_equal(client_handshake_wait(f, &c, c.resume, DEADLINE_MS), 0);
	WAIT_STAT(f, sessions, 1);
	client_close(&c);
	relay_free(f->relay);
	free(f);

	/* A session kept alive is still refused once it is too old. */
	g = fixture_new(60000, 300);
	assert_int_equal(relay_start(g->relay), 0);
	client_join(g, &c, ROOM, 61, false);
	deadline = deadline_in(DEADLINE_MS);
	while (c.close_reason < 0 && util_now_ms() < deadline) {
		client_send_inner(&c, inner, wire_inner_write_keepalive(inner));
		(void)client_wait(&c, EV_CLOSE, deadline_in(50));
	}
	assert_int_equal(c.close_reason, WIRE_CLOSE_EXPIRED);
	assert_true(c.keepalives > 0);
	WAIT_STAT(g, sessions, 0);
	client_close(&c);
	relay_free(g->relay);
	free(g);
}

/* Ending a room closes its members only; stopping the relay closes the rest. */
static void test_room_end_and_stop(void **state)
{
	struct fixture *f = *state;
	struct client a[2], b[2];

	for (int i = 0; i < 2; i++) {
		client_join(f, &a[i], ROOM, 70 + (uint64_t)i, i == 0);
		client_join(f, &b[i], OTHER_ROOM, 80 + (uint64_t)i, i == 0);
	}
	relay_room_end(f->relay, ROOM);
	for (int i = 0; i < 2; i++) {
		assert_true(client_wait(&a[i], EV_CLOSE, deadline_in(DEADLINE_MS)));
		assert_int_equal(a[i].close_reason, WIRE_CLOSE_ROOM_ENDED);
	}
	WAIT_STAT(f, sessions, 2);
	/* The other room still works. */
	client_send_media(&b[0], 'E', 0);
	client_expect_frame(&b[1], 'E', 0, b[0].member_id);
	WAIT_STAT(f, forwarded, 1);
	assert_true(client_idle(&a[0]) && client_idle(&a[1]));

	relay_stop(f->relay);
	for (int i = 0; i < 2; i++) {
		assert_true(client_wait(&b[i], EV_CLOSE, deadline_in(DEADLINE_MS)));
		assert_int_equal(b[i].close_reason, WIRE_CLOSE_SHUTDOWN);
		client_close(&a[i]);
		client_close(&b[i]);
	}
}

/* Handshakes over the per-address budget are dropped before any DH. */
static void test_rate_limit(void **state)
{
	struct fixture *f = fixture_new(0, 0);
	struct client c;
	uint8_t dgram[WIRE_HANDSHAKE_INIT_LEN];
	struct relay_stats s;
	uint64_t deadline;

	(void)state;
	relay_set_handshake_rate(f->relay, 3, 1);
	assert_int_equal(relay_start(f->relay), 0);
	client_open(f, &c, 90);
	for (int i = 0; i < 8; i++) {
		randombytes_buf(dgram, sizeof(dgram));
		memset(dgram, 0, 4);
		dgram[0] = WIRE_HANDSHAKE_INIT;
		client_send_raw(&c, dgram, sizeof(dgram));
	}
	/* received counts a batch before it is handled: wait for the outcomes. */
	deadline = deadline_in(DEADLINE_MS);
	do {
		relay_get_stats(f->relay, &s);
		if (s.drop_forged + s.drop_rate == 8)
			break;
		(void)poll(NULL, 0, 1);
	} while (util_now_ms() < deadline);
	assert_int_equal(s.drop_forged + s.drop_rate, 8);
	assert_int_equal(s.received, 8);
	/* One token may have come back while the eight were in flight. */
	assert_true(s.drop_forged >= 3 && s.drop_forged <= 4);
	client_close(&c);
	relay_free(f->relay);
	free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fan_out, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unauthorised, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forged_kid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_datagrams, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_garbage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tickets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retransmit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_roaming, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_close, setup, teardown),
		cmocka_unit_test(test_timeouts),
		cmocka_unit_test_setup_teardown(test_room_end_and_stop, setup, teardown),
		cmocka_unit_test(test_rate_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
