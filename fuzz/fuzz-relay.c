/*
 * fuzz-relay.c - salond's relay on hostile datagrams, through the test hook
 * relay_handle_datagram_for_test() (relay.h), which runs the relay thread's own
 * datagram path synchronously while the thread is not started.
 *
 * Each input gets a fresh relay on 127.0.0.1 with two join tickets in room 7: a
 * speaker (member 1) and a listener (member 2), each a client with its own loopback
 * socket. When the first input bit asks, both clients complete a real handshake
 * first. The rest of the input is a list of operations:
 *   0  raw bytes as a datagram, from either client's address or from one the relay
 *      has never seen (or with an impossible address);
 *   1  an inner message chosen by the input, sealed by the speaker's or the
 *      listener's session (possibly replaying a counter, or sent from the other
 *      socket, which moves the session);
 *   2  a new HANDSHAKE_INIT with the speaker's used ticket, its resume ticket, or
 *      bytes from the input, possibly changed in flight.
 * After every operation, everything the relay sent is read back: it must parse,
 * and what is addressed to a client's current session or downlink key must open.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <sodium.h>

#include "common.h"
#include "hop.h"
#include "relay.h"
#include "util.h"
#include "wire.h"

#define ROOM_ID 7
#define MAX_OPS 32

struct client {
	int fd;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	uint8_t ticket[WIRE_TICKET_LEN];
	bool has_session;
	struct hop_session session;
	bool has_downlink;
	struct downlink_key downlink;
	bool has_resume;
	uint8_t resume[WIRE_TICKET_LEN];
	struct hop_initiator pending;
	bool has_pending;
};

static uint8_t relay_secret[32], relay_public[32];
static struct client clients[2];

static void client_open(struct client *c)
{
	struct sockaddr_in *in = (struct sockaddr_in *)&c->addr;

	c->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	FUZZ_ASSERT(c->fd >= 0);
	memset(&c->addr, 0, sizeof(c->addr));
	in->sin_family = AF_INET;
	in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	FUZZ_ASSERT(bind(c->fd, (struct sockaddr *)in, sizeof(*in)) == 0);
	c->addr_len = sizeof(c->addr);
	FUZZ_ASSERT(getsockname(c->fd, (struct sockaddr *)&c->addr, &c->addr_len) == 0);
}

/* Handles one datagram the relay sent to client c, checking that it is sound. */
static void client_receive(struct client *c, const uint8_t *buf, size_t len)
{
	struct wire_datagram d;
	uint8_t pt[WIRE_MAX_DATAGRAM];
	size_t pt_len = 0;
	struct wire_inner inner;
	uint32_t source = 0;

	FUZZ_ASSERT(wire_parse(buf, len, &d) == 0);
	switch (d.type) {
	case WIRE_HANDSHAKE_RESP:
		if (c->has_pending && d.receiver_index == c->pending.local_index &&
		    hop_initiator_finish(&c->pending, &d, &c->session) == 0) {
			c->has_pending = false;
			c->has_session = true;
		}
		return;
	case WIRE_TRANSPORT:
		if (!c->has_session || d.receiver_index != c->session.local_index)
			return; /* for a session this socket no longer holds */
		FUZZ_ASSERT(hop_open(&c->session, &d, pt, sizeof(pt), &pt_len) == 0);
		FUZZ_ASSERT(wire_inner_parse(pt, pt_len, &inner) == 0);
		if (inner.type == WIRE_INNER_DOWNLINK_KEY) {
			memset(&c->downlink, 0, sizeof(c->downlink));
			c->downlink.key_index = inner.key_index;
			memcpy(c->downlink.key, inner.key, WIRE_KEY_LEN);
			replay_init(&c->downlink.replay);
			c->has_downlink = true;
		} else if (inner.type == WIRE_INNER_RESUME_TICKET) {
			memcpy(c->resume, inner.ticket, WIRE_TICKET_LEN);
			c->has_resume = true;
		} else {
			FUZZ_ASSERT(inner.type == WIRE_INNER_KEEPALIVE ||
				    inner.type == WIRE_INNER_CLOSE);
		}
		return;
	case WIRE_DOWNLINK:
		if (!c->has_downlink || d.key_index != c->downlink.key_index)
			return;
		FUZZ_ASSERT(downlink_open(&c->downlink, &d, &source, pt, sizeof(pt), &pt_len) ==
			    0);
		FUZZ_ASSERT(source == 1); /* only the speaker may be forwarded */
		return;
	default:
		FUZZ_ASSERT(!"the relay sent a HANDSHAKE_INIT");
	}
}

/* Reads everything waiting on both sockets (loopback delivery is immediate). */
static void drain(void)
{
	uint8_t buf[WIRE_MAX_DATAGRAM + 1];

	for (int i = 0; i < 2; i++) {
		ssize_t n;

		while ((n = recv(clients[i].fd, buf, sizeof(buf), MSG_DONTWAIT)) >= 0) {
			FUZZ_ASSERT(n <= WIRE_MAX_DATAGRAM);
			client_receive(&clients[i], buf, (size_t)n);
		}
	}
}

static void send_handshake(struct relay *relay, struct client *c, const uint8_t *ticket,
			   struct fuzz_reader *r)
{
	uint8_t out[WIRE_HANDSHAKE_INIT_LEN];

	FUZZ_ASSERT(hop_initiator_start(&c->pending, relay_public, ticket,
					randombytes_random() | 1, out) == 0);
	c->has_pending = true;
	if (r != NULL && (fuzz_u8(r) & 3) == 0)
		out[fuzz_u8(r) % sizeof(out)] ^= (uint8_t)(fuzz_u8(r) | 1);
	relay_handle_datagram_for_test(relay, out, sizeof(out), &c->addr, c->addr_len);
	drain();
}

static void op_raw(struct fuzz_reader *r, struct relay *relay)
{
	const uint8_t *p;
	uint8_t how = fuzz_u8(r);
	size_t len = fuzz_take(r, fuzz_u16(r) % (WIRE_MAX_DATAGRAM + 2), &p);
	uint8_t *copy = malloc(len ? len : 1);
	struct sockaddr_storage from = clients[how & 1].addr;
	socklen_t from_len = clients[how & 1].addr_len;

	memcpy(copy, p, len);
	if ((how & 6) == 2) {
		/* An address the relay has not seen: port 9 on loopback (discard). */
		((struct sockaddr_in *)&from)->sin_port = htons(9);
	} else if ((how & 6) == 4) {
		from.ss_family = AF_UNIX;
	} else if ((how & 6) == 6) {
		from_len = sizeof(from) + 1;
	}
	relay_handle_datagram_for_test(relay, copy, len, &from, from_len);
	free(copy);
	drain();
}

static void op_sealed(struct fuzz_reader *r, struct relay *relay)
{
	uint8_t how = fuzz_u8(r);
	struct client *c = &clients[how & 1], *via = &clients[(how >> 1) & 1];
	uint8_t out[WIRE_MAX_DATAGRAM], inner[WIRE_MAX_INNER + 1];
	const uint8_t *p;
	size_t len = fuzz_take(r, fuzz_u16(r) % (WIRE_MAX_INNER + 2), &p), out_len = 0;

	if (!c->has_session)
		return;
	memcpy(inner, p, len);
	if (how & 4)
		inner[0] = (uint8_t)(1 + (how >> 3) % 5); /* a valid inner type */
	if ((how & 0x80) && c->session.send_counter > 0)
		c->session.send_counter -= 1 + fuzz_u8(r) % 4 % c->session.send_counter;
	if (hop_seal(&c->session, inner, len, out, sizeof(out), &out_len) < 0)
		return;
	relay_handle_datagram_for_test(relay, out, out_len, &via->addr, via->addr_len);
	drain();
}

static void op_handshake(struct fuzz_reader *r, struct relay *relay)
{
	uint8_t which = fuzz_u8(r), ticket[WIRE_TICKET_LEN] = {0};
	struct client *c = &clients[which & 1];
	const uint8_t *p;

	if ((which & 6) == 0 && c->has_resume) {
		memcpy(ticket, c->resume, sizeof(ticket));
		c->has_resume = false;
	} else if ((which & 6) == 2) {
		memcpy(ticket, c->ticket, sizeof(ticket));
	} else {
		size_t n = fuzz_take(r, sizeof(ticket), &p);

		memcpy(ticket, p, n);
	}
	send_handshake(relay, c, ticket, r);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	if (sodium_init() < 0)
		abort();
	memset(relay_secret, 0x77, sizeof(relay_secret));
	crypto_scalarmult_base(relay_public, relay_secret);
	for (int i = 0; i < 2; i++) {
		client_open(&clients[i]);
		memset(clients[i].ticket, 0xa0 + i, WIRE_TICKET_LEN);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_reader r = {data, size, 0};
	struct relay *relay;
	struct relay_stats stats;

	if (size < 1)
		return 0;
	relay = relay_new("127.0.0.1", "0", relay_secret);
	FUZZ_ASSERT(relay != NULL);
	for (int i = 0; i < 2; i++) {
		struct client *c = &clients[i];

		c->has_session = c->has_downlink = c->has_resume = c->has_pending = false;
		FUZZ_ASSERT(relay_ticket_add(relay, c->ticket, ROOM_ID, (uint64_t)i + 1, i == 0,
					     util_now_ms() + 600000) == 0);
	}
	drain(); /* anything left from the previous input */
	if (fuzz_u8(&r) & 1) {
		for (int i = 0; i < 2; i++) {
			send_handshake(relay, &clients[i], clients[i].ticket, NULL);
			FUZZ_ASSERT(clients[i].has_session && clients[i].has_downlink);
		}
	}
	for (int ops = 0; ops < MAX_OPS && r.pos < r.size; ops++) {
		switch (fuzz_u8(&r) % 3) {
		case 0:
			op_raw(&r, relay);
			break;
		case 1:
			op_sealed(&r, relay);
			break;
		default:
			op_handshake(&r, relay);
			break;
		}
	}
	relay_get_stats(relay, &stats);
	FUZZ_ASSERT(stats.sessions <= 2);
	relay_free(relay);
	for (int i = 0; i < 2; i++) {
		if (clients[i].has_pending)
			noise_handshake_wipe(&clients[i].pending.hs);
	}
	return 0;
}
