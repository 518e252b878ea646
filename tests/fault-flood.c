/*
 * fault-flood.c - an attacker and a victim for tests/attack-tokens.sh: floods a
 * relay with garbage handshakes from one loopback address, and tries one real
 * handshake from a chosen loopback address.
 *
 *   fault-flood flood SRC HOST PORT COUNT RATE
 *       Sends up to COUNT datagrams from SRC (a loopback address such as 127.0.0.2)
 *       to the relay at HOST PORT, RATE per second, until COUNT are out or SIGTERM
 *       comes: nine in ten are HANDSHAKE_INITs of the right length with random
 *       contents (each would cost the relay a Diffie-Hellman if it did not
 *       rate-limit them), one in ten a TRANSPORT for a random session. Prints
 *       "flooding" once the first 1000 are out, and "sent N" at the end. Exit 0, or
 *       1 on a socket error.
 *
 *   fault-flood handshake SRC HOST PORT RELAY_PUBLIC TICKET WAIT_MS
 *       From SRC, sends one HANDSHAKE_INIT carrying TICKET (base64url) and waits up
 *       to WAIT_MS for the HANDSHAKE_RESP and the DOWNLINK_KEY that follows. Exit 0
 *       when both came, 3 when nothing valid came in time, 1 on a socket error.
 *
 * Every datagram goes to the address given, which the test keeps on loopback; every
 * wait has a deadline.
 */
#include "config.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "encoding.h"
#include "hop.h"
#include "util.h"
#include "wire.h"

#define FLOOD_BATCH 50
#define FLOOD_ANNOUNCE 1000

static volatile sig_atomic_t fault_flood_stop;

static void fault_flood_on_term(int sig)
{
	(void)sig;
	fault_flood_stop = 1;
}

/* A UDP socket bound to src (port 0) and connected to host:port. */
static int fault_flood_socket(const char *src, const char *host, const char *port)
{
	struct addrinfo hints = {.ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICHOST};
	struct addrinfo *local, *remote;
	int fd;

	if (getaddrinfo(src, "0", &hints, &local) != 0 ||
	    getaddrinfo(host, port, &hints, &remote) != 0)
		fatal("fault-flood: bad address %s or %s %s", src, host, port);
	fd = socket(remote->ai_family, SOCK_DGRAM, 0);
	if (fd < 0 || bind(fd, local->ai_addr, local->ai_addrlen) < 0 ||
	    connect(fd, remote->ai_addr, remote->ai_addrlen) < 0)
		fatal("fault-flood: socket from %s to %s %s: %s", src, host, port,
		      strerror(errno));
	freeaddrinfo(local);
	freeaddrinfo(remote);
	return fd;
}

static void fault_flood_sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int fault_flood_flood(int fd, unsigned long count, unsigned long rate)
{
	uint8_t buf[WIRE_MAX_DATAGRAM];
	unsigned long sent = 0;
	uint64_t start = util_now_ms();
	bool announced = false;

	struct sigaction sa = {.sa_handler = fault_flood_on_term};

	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	while (sent < count && !fault_flood_stop) {
		for (unsigned i = 0; i < FLOOD_BATCH && sent < count; i++, sent++) {
			size_t len;

			randombytes_buf(buf, sizeof(buf));
			buf[1] = buf[2] = buf[3] = 0;
			if (sent % 10 == 9) {
				buf[0] = WIRE_TRANSPORT;
				len = WIRE_TRANSPORT_HEADER_LEN + 1 + WIRE_TAG_LEN;
			} else {
				buf[0] = WIRE_HANDSHAKE_INIT;
				len = WIRE_HANDSHAKE_INIT_LEN;
			}
			/* The relay's socket buffer may be full: that is the point. */
			if (send(fd, buf, len, 0) < 0 && errno != ENOBUFS && errno != EAGAIN &&
			    errno != ECONNREFUSED && errno != EINTR) {
				fprintf(stderr, "fault-flood: send: %s\n", strerror(errno));
				return 1;
			}
		}
		if (!announced && (sent >= FLOOD_ANNOUNCE || sent == count)) {
			printf("flooding\n");
			fflush(stdout);
			announced = true;
		}
		/* Pace: sent datagrams should have taken sent / rate seconds. */
		uint64_t due = start + (uint64_t)sent * 1000 / rate;
		uint64_t now = util_now_ms();

		if (due > now)
			fault_flood_sleep_ms((unsigned)(due - now));
	}
	printf("sent %lu\n", sent);
	return 0;
}

/*
 * Waits until deadline for one datagram; returns its length, -1 at the deadline, or
 * -2 on a socket error.
 */
static ssize_t fault_flood_recv(int fd, uint8_t *buf, size_t cap, uint64_t deadline)
{
	for (;;) {
		uint64_t now = util_now_ms();
		struct pollfd pfd = {.fd = fd, .events = POLLIN};

		if (now >= deadline)
			return -1;
		if (poll(&pfd, 1, (int)(deadline - now)) > 0) {
			ssize_t n = recv(fd, buf, cap, 0);

			if (n >= 0)
				return n;
			/* An ICMP error on a connected socket: nothing came yet. */
			if (errno != ECONNREFUSED && errno != EINTR) {
				fprintf(stderr, "fault-flood: recv: %s\n", strerror(errno));
				return -2;
			}
		}
	}
}

static int fault_flood_handshake(int fd, const char *relay_text, const char *ticket_text,
				 unsigned wait_ms)
{
	uint8_t relay_public[32], ticket[WIRE_TICKET_LEN];
	uint8_t out[WIRE_HANDSHAKE_INIT_LEN], buf[WIRE_MAX_DATAGRAM], pt[WIRE_MAX_DATAGRAM];
	struct hop_initiator init;
	struct hop_session session;
	struct wire_datagram d;
	struct wire_inner inner;
	uint64_t deadline = util_now_ms() + wait_ms;
	bool have_session = false;
	size_t pt_len;
	ssize_t n;

	if (base64_decode(relay_public, sizeof(relay_public), relay_text) != 0 ||
	    base64_decode(ticket, sizeof(ticket), ticket_text) != 0)
		fatal("fault-flood: bad relay key or ticket");
	if (hop_initiator_start(&init, relay_public, ticket, randombytes_random(), out) != 0)
		fatal("fault-flood: handshake start failed");
	if (send(fd, out, sizeof(out), 0) < 0) {
		fprintf(stderr, "fault-flood: send: %s\n", strerror(errno));
		return 1;
	}
	while ((n = fault_flood_recv(fd, buf, sizeof(buf), deadline)) >= 0) {
		if (wire_parse(buf, (size_t)n, &d) != 0)
			continue;
		if (!have_session) {
			if (d.type == WIRE_HANDSHAKE_RESP &&
			    hop_initiator_finish(&init, &d, &session) == 0)
				have_session = true;
			continue;
		}
		if (d.type == WIRE_TRANSPORT &&
		    hop_open(&session, &d, pt, sizeof(pt), &pt_len) == 0 &&
		    wire_inner_parse(pt, pt_len, &inner) == 0 &&
		    inner.type == WIRE_INNER_DOWNLINK_KEY) {
			printf("handshake complete\n");
			return 0;
		}
	}
	if (n == -2)
		return 1;
	printf("no answer within %u ms%s\n", wait_ms, have_session ? " (no downlink key)" : "");
	return 3;
}

int main(int argc, char **argv)
{
	int fd, status;

	if (sodium_init() < 0)
		fatal("fault-flood: libsodium failed to start");
	if (argc == 7 && strcmp(argv[1], "flood") == 0) {
		unsigned long count = strtoul(argv[5], NULL, 10);
		unsigned long rate = strtoul(argv[6], NULL, 10);

		if (count == 0 || rate == 0)
			fatal("fault-flood: COUNT and RATE must be positive");
		fd = fault_flood_socket(argv[2], argv[3], argv[4]);
		status = fault_flood_flood(fd, count, rate);
	} else if (argc == 8 && strcmp(argv[1], "handshake") == 0) {
		fd = fault_flood_socket(argv[2], argv[3], argv[4]);
		status = fault_flood_handshake(fd, argv[5], argv[6],
					       (unsigned)strtoul(argv[7], NULL, 10));
	} else {
		fprintf(stderr, "usage: fault-flood flood SRC HOST PORT COUNT RATE\n"
				"       fault-flood handshake SRC HOST PORT RELAY_PUBLIC TICKET "
				"WAIT_MS\n");
		return 2;
	}
	close(fd);
	return status;
}
