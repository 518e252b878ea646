/*
 * relaytool.c - a test client that drives a real salond's relay with tickets the
 * API issued, to show the whole path: API join -> ticket -> Noise NK handshake ->
 * MEDIA from a speaker -> one DOWNLINK to each listener.
 *
 *   relaytool HOST PORT RELAY_PUBLIC_B64 FRAMES SPEAKER_TICKET LISTENER_TICKET...
 *
 * Every member completes a handshake and waits for its DOWNLINK_KEY. Then the
 * first listener sends a MEDIA frame (which the relay must drop: listeners may
 * not speak), and the speaker sends FRAMES frames. Each listener must receive
 * every speaker frame exactly once, in a DOWNLINK it can open, and never the
 * listener's frame. Prints one line of results; exits 0 when all of that holds,
 * 1 otherwise. Every wait is bounded by a deadline.
 */
#include "config.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "encoding.h"
#include "hop.h"
#include "util.h"
#include "wire.h"

#define DEADLINE_MS 5000
#define FRAME_LEN 60
#define MAX_MEMBERS 64
#define LISTENER_MARK 0xEE

struct member {
	int fd;
	struct hop_session session;
	struct downlink_key downlink;
	bool have_key;
	unsigned received;
	unsigned duplicates;
	unsigned bad;
	unsigned char *seen;
};

static int relaytool_connect(const char *host, const char *port)
{
	struct addrinfo hints = {.ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICHOST};
	struct addrinfo *ai;
	int fd;

	if (getaddrinfo(host, port, &hints, &ai) != 0)
		fatal("relaytool: bad relay address %s %s", host, port);
	fd = socket(ai->ai_family, SOCK_DGRAM, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0)
		fatal("relaytool: cannot reach %s %s: %s", host, port, strerror(errno));
	freeaddrinfo(ai);
	return fd;
}

/* Waits up to the deadline for one datagram; returns its length or -1. */
static ssize_t relaytool_recv(int fd, uint8_t *buf, size_t cap, uint64_t deadline)
{
	for (;;) {
		uint64_t now = util_now_ms();
		struct pollfd pfd = {.fd = fd, .events = POLLIN};

		if (now >= deadline)
			return -1;
		if (poll(&pfd, 1, (int)(deadline - now)) > 0)
			return recv(fd, buf, cap, 0);
	}
}

static void relaytool_send_inner(struct member *m, const uint8_t *inner, size_t len)
{
	uint8_t out[WIRE_MAX_DATAGRAM];
	size_t out_len;

	if (hop_seal(&m->session, inner, len, out, sizeof(out), &out_len) != 0)
		fatal("relaytool: hop_seal failed");
	if (send(m->fd, out, out_len, 0) < 0)
		fatal("relaytool: send: %s", strerror(errno));
}

/* Handles one datagram from the relay: keys, tickets, and frames. */
static void relaytool_handle(struct member *m, const uint8_t *buf, size_t len, unsigned frames)
{
	struct wire_datagram d;
	struct wire_inner inner;
	uint8_t pt[WIRE_MAX_DATAGRAM];
	size_t pt_len;
	uint32_t source;

	if (wire_parse(buf, len, &d) != 0) {
		m->bad++;
		return;
	}
	if (d.type == WIRE_TRANSPORT) {
		if (hop_open(&m->session, &d, pt, sizeof(pt), &pt_len) != 0 ||
		    wire_inner_parse(pt, pt_len, &inner) != 0) {
			m->bad++;
			return;
		}
		if (inner.type == WIRE_INNER_DOWNLINK_KEY) {
			memset(&m->downlink, 0, sizeof(m->downlink));
			m->downlink.key_index = inner.key_index;
			memcpy(m->downlink.key, inner.key, WIRE_KEY_LEN);
			replay_init(&m->downlink.replay);
			m->have_key = true;
		}
		return;
	}
	if (d.type != WIRE_DOWNLINK || !m->have_key || d.key_index != m->downlink.key_index ||
	    downlink_open(&m->downlink, &d, &source, pt, sizeof(pt), &pt_len) != 0 ||
	    pt_len != FRAME_LEN || pt[0] == LISTENER_MARK) {
		m->bad++;
		return;
	}
	unsigned index = get_u32be(pt);
	if (index >= frames) {
		m->bad++;
	} else if (m->seen[index]) {
		m->duplicates++;
	} else {
		m->seen[index] = 1;
		m->received++;
	}
}

static void relaytool_handshake(struct member *m, const uint8_t relay_public[32],
				const char *ticket_text)
{
	uint8_t ticket[WIRE_TICKET_LEN];
	uint8_t out[WIRE_HANDSHAKE_INIT_LEN];
	uint8_t buf[WIRE_MAX_DATAGRAM];
	struct hop_initiator init;
	struct wire_datagram d;
	uint64_t deadline = util_now_ms() + DEADLINE_MS;
	ssize_t n;

	if (base64_decode(ticket, sizeof(ticket), ticket_text) != 0)
		fatal("relaytool: bad ticket");
	if (hop_initiator_start(&init, relay_public, ticket, randombytes_random(), out) != 0)
		fatal("relaytool: handshake start failed");
	if (send(m->fd, out, sizeof(out), 0) < 0)
		fatal("relaytool: send: %s", strerror(errno));
	n = relaytool_recv(m->fd, buf, sizeof(buf), deadline);
	if (n < 0 || wire_parse(buf, (size_t)n, &d) != 0 || d.type != WIRE_HANDSHAKE_RESP ||
	    hop_initiator_finish(&init, &d, &m->session) != 0)
		fatal("relaytool: no valid handshake response within %d ms", DEADLINE_MS);
	while (!m->have_key) {
		n = relaytool_recv(m->fd, buf, sizeof(buf), deadline);
		if (n < 0)
			fatal("relaytool: no downlink key within %d ms", DEADLINE_MS);
		relaytool_handle(m, buf, (size_t)n, 0);
	}
}

int main(int argc, char **argv)
{
	struct member members[MAX_MEMBERS];
	uint8_t relay_public[32];
	uint8_t frame[FRAME_LEN];
	uint8_t inner[WIRE_MAX_INNER];
	uint8_t buf[WIRE_MAX_DATAGRAM];
	unsigned frames, count, i, done = 0, total_bad = 0, total_dup = 0;
	uint64_t deadline;

	if (argc < 7 || argc - 5 > MAX_MEMBERS) {
		fprintf(stderr, "usage: relaytool HOST PORT RELAY_PUBLIC FRAMES SPEAKER_TICKET "
				"LISTENER_TICKET...\n");
		return 2;
	}
	if (sodium_init() < 0)
		fatal("relaytool: libsodium failed to start");
	if (base64_decode(relay_public, sizeof(relay_public), argv[3]) != 0)
		fatal("relaytool: bad relay public key");
	frames = (unsigned)strtoul(argv[4], NULL, 10);
	count = (unsigned)argc - 5;
	memset(members, 0, sizeof(members));
	for (i = 0; i < count; i++) {
		members[i].fd = relaytool_connect(argv[1], argv[2]);
		members[i].seen = xcalloc(frames ? frames : 1, 1);
		relaytool_handshake(&members[i], relay_public, argv[5 + i]);
	}

	/* A listener's frame first: the relay must drop it. */
	memset(frame, LISTENER_MARK, sizeof(frame));
	relaytool_send_inner(&members[1], inner, wire_inner_write_media(inner, frame, FRAME_LEN));
	for (i = 0; i < frames; i++) {
		memset(frame, 0x5A, sizeof(frame));
		put_u32be(frame, i);
		relaytool_send_inner(&members[0], inner,
				     wire_inner_write_media(inner, frame, FRAME_LEN));
	}

	deadline = util_now_ms() + DEADLINE_MS;
	while (done < count - 1 && util_now_ms() < deadline) {
		struct pollfd pfds[MAX_MEMBERS];

		for (i = 1; i < count; i++)
			pfds[i - 1] = (struct pollfd){.fd = members[i].fd, .events = POLLIN};
		if (poll(pfds, count - 1, 100) <= 0)
			continue;
		done = 0;
		for (i = 1; i < count; i++) {
			ssize_t n;

			if (pfds[i - 1].revents & POLLIN) {
				n = recv(members[i].fd, buf, sizeof(buf), 0);
				if (n > 0)
					relaytool_handle(&members[i], buf, (size_t)n, frames);
			}
			if (members[i].received == frames)
				done++;
		}
	}
	/* The speaker must not hear itself, and nothing else may be queued. */
	for (i = 0; i < count; i++) {
		ssize_t n;

		while ((n = recv(members[i].fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
			relaytool_handle(&members[i], buf, (size_t)n, frames);
		total_bad += members[i].bad;
		total_dup += members[i].duplicates;
	}
	printf("relaytool: %u listeners, %u of them got all %u frames, speaker got %u, "
	       "%u duplicates, %u bad or unexpected\n",
	       count - 1, done, frames, members[0].received, total_dup, total_bad);
	for (i = 0; i < count; i++) {
		free(members[i].seen);
		close(members[i].fd);
	}
	return done == count - 1 && members[0].received == 0 && total_dup == 0 && total_bad == 0
		       ? 0
		       : 1;
}
