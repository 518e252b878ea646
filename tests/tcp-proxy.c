/*
 * tcp-proxy.c - a TCP proxy for the network-cut test: sits between one salon client
 * and salond's API, forwards both ways, and on command cuts the path the way a dead
 * network does: nothing is refused or reset, everything is just held.
 *
 *   tcp-proxy PORT_FILE UPSTREAM_FILE --cut FILE
 *
 * It binds 127.0.0.1 on an ephemeral port and writes "api http://127.0.0.1:PORT" to
 * PORT_FILE (atomically), then waits (20 s at most) for UPSTREAM_FILE, a salond port
 * file, and forwards every connection to its "api" address.
 *
 * While FILE exists, the path is cut: the proxy neither reads nor writes the
 * connections it holds (their bytes wait in the kernel's buffers, as on a path that
 * lost every packet: the peers see no answer, no error), and it accepts new
 * connections but leaves them unanswered (neither connected upstream nor read), so
 * a client that opens a new connection sees it established and then nothing, as
 * after a middlebox that still answers SYNs. When FILE goes away, the held bytes
 * flow again (as TCP's retransmissions would deliver them) and the accepted
 * connections are connected upstream. Each change is acknowledged by writing "on"
 * or "off" to FILE.tcp-state (atomically), for the test to wait on (tests/udp-proxy
 * may watch the same FILE and acknowledge in FILE.state). The file is checked every
 * 20 ms.
 *
 * Each direction of a connection has a 64 KiB buffer; EOF or an error on either
 * side closes both. SIGTERM and SIGINT stop it; it also stops by itself after 10
 * minutes.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy-util.h"
#include "util.h"

#define TPROXY_MAX_CONNS 64
#define TPROXY_BUF 65536
#define TPROXY_LIFETIME_MS (10 * 60 * 1000)
#define TPROXY_CHECK_MS 20

/* One direction of a connection: bytes read from one side, not yet written on. */
struct tproxy_pipe {
	uint8_t data[TPROXY_BUF];
	size_t len, off;
};

struct tproxy_conn {
	int client;		 /* accepted from the salon client */
	int upstream;		 /* to salond; -1 while accepted during a cut */
	struct tproxy_pipe up;	 /* client -> salond */
	struct tproxy_pipe down; /* salond -> client */
};

static volatile sig_atomic_t tproxy_stop;
static struct tproxy_conn *tproxy_conns[TPROXY_MAX_CONNS];
static struct sockaddr_in tproxy_upstream;
static unsigned long tproxy_accepted, tproxy_held;

static void tproxy_on_signal(int sig)
{
	(void)sig;
	tproxy_stop = 1;
}

/* Parses "http://127.0.0.1:PORT" (what salond's port file says) into out. */
static int tproxy_parse_url(const char *text, struct sockaddr_in *out)
{
	const char *prefix = "http://127.0.0.1:";
	char *end;
	unsigned long port;

	if (strncmp(text, prefix, strlen(prefix)) != 0)
		return -EINVAL;
	errno = 0;
	port = strtoul(text + strlen(prefix), &end, 10);
	if (errno != 0 || *end != '\0' || port == 0 || port > 65535)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->sin_family = AF_INET;
	out->sin_port = htons((uint16_t)port);
	out->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return 0;
}

static void tproxy_close(int i)
{
	struct tproxy_conn *c = tproxy_conns[i];

	close(c->client);
	if (c->upstream >= 0)
		close(c->upstream);
	free(c);
	tproxy_conns[i] = NULL;
}

/* Connects conn to salond (loopback: a blocking connect is immediate); false on error. */
static bool tproxy_connect(struct tproxy_conn *c)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 ||
	    connect(fd, (const struct sockaddr *)&tproxy_upstream, sizeof(tproxy_upstream)) < 0) {
		if (fd >= 0)
			close(fd);
		return false;
	}
	if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
		close(fd);
		return false;
	}
	c->upstream = fd;
	return true;
}

static void tproxy_accept(int listen_fd, bool cut)
{
	int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	int slot = -1;

	if (fd < 0)
		return;
	for (int i = 0; i < TPROXY_MAX_CONNS; i++)
		if (tproxy_conns[i] == NULL) {
			slot = i;
			break;
		}
	if (slot < 0) {
		close(fd);
		return;
	}
	tproxy_conns[slot] = xcalloc(1, sizeof(struct tproxy_conn));
	tproxy_conns[slot]->client = fd;
	tproxy_conns[slot]->upstream = -1;
	tproxy_accepted++;
	if (cut) {
		tproxy_held++;
		return;
	}
	if (!tproxy_connect(tproxy_conns[slot]))
		tproxy_close(slot);
}

/* Reads into p from fd if p is empty; returns false on EOF or an error. */
static bool tproxy_fill(struct tproxy_pipe *p, int fd)
{
	ssize_t n;

	if (p->len > p->off)
		return true;
	n = read(fd, p->data, sizeof(p->data));
	if (n == 0)
		return false;
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
	p->len = (size_t)n;
	p->off = 0;
	return true;
}

/* Writes what p holds to fd; returns false on an error. */
static bool tproxy_flush(struct tproxy_pipe *p, int fd)
{
	ssize_t n;

	if (p->len == p->off)
		return true;
	n = send(fd, p->data + p->off, p->len - p->off, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
	p->off += (size_t)n;
	if (p->off == p->len)
		p->len = p->off = 0;
	return true;
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr = {.sin_family = AF_INET};
	socklen_t addr_len = sizeof(addr);
	const char *cut_path = NULL;
	char text[128];
	uint64_t start_ms, next_check = 0;
	bool cut = false;
	int listen_fd;

	if (argc != 5 || strcmp(argv[3], "--cut") != 0) {
		fprintf(stderr, "usage: tcp-proxy PORT_FILE UPSTREAM_FILE --cut FILE\n");
		return 2;
	}
	cut_path = argv[4];
	signal(SIGTERM, tproxy_on_signal);
	signal(SIGINT, tproxy_on_signal);
	signal(SIGPIPE, SIG_IGN);
	start_ms = util_now_ms();

	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (listen_fd < 0 || bind(listen_fd, (const struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(listen_fd, 64) < 0 ||
	    getsockname(listen_fd, (struct sockaddr *)&addr, &addr_len) < 0)
		fatal("tcp-proxy: cannot listen: %s", strerror(errno));
	proxy_util_read_upstream("tcp-proxy", argv[2], "api", tproxy_parse_url, &tproxy_upstream,
				 &tproxy_stop);
	proxy_util_cut_ack("tcp-proxy", cut_path, ".tcp-state", false);
	snprintf(text, sizeof(text), "api http://127.0.0.1:%u\n", ntohs(addr.sin_port));
	proxy_util_write_file("tcp-proxy", argv[1], text);

	while (!tproxy_stop && util_now_ms() - start_ms < TPROXY_LIFETIME_MS) {
		struct pollfd pfds[1 + 2 * TPROXY_MAX_CONNS];
		int owner[1 + 2 * TPROXY_MAX_CONNS];
		int n = 0;

		if (util_now_ms() >= next_check) {
			bool now_cut = access(cut_path, F_OK) == 0;

			if (now_cut != cut) {
				cut = now_cut;
				if (!cut) {
					/* The path is back: connect what was accepted meanwhile. */
					for (int i = 0; i < TPROXY_MAX_CONNS; i++)
						if (tproxy_conns[i] != NULL &&
						    tproxy_conns[i]->upstream < 0 &&
						    !tproxy_connect(tproxy_conns[i]))
							tproxy_close(i);
				}
				proxy_util_cut_ack("tcp-proxy", cut_path, ".tcp-state", cut);
			}
			next_check = util_now_ms() + TPROXY_CHECK_MS;
		}
		pfds[n] = (struct pollfd){.fd = listen_fd, .events = POLLIN};
		owner[n++] = -1;
		for (int i = 0; i < TPROXY_MAX_CONNS && !cut; i++) {
			struct tproxy_conn *c = tproxy_conns[i];

			if (c == NULL)
				continue;
			pfds[n] = (struct pollfd){
			    .fd = c->client,
			    .events = (short)((c->up.len == c->up.off ? POLLIN : 0) |
					      (c->down.len > c->down.off ? POLLOUT : 0))};
			owner[n++] = i;
			pfds[n] = (struct pollfd){
			    .fd = c->upstream,
			    .events = (short)((c->down.len == c->down.off ? POLLIN : 0) |
					      (c->up.len > c->up.off ? POLLOUT : 0))};
			owner[n++] = i;
		}
		if (poll(pfds, (nfds_t)n, TPROXY_CHECK_MS) <= 0)
			continue;
		if (pfds[0].revents & POLLIN)
			tproxy_accept(listen_fd, cut);
		for (int k = 1; k < n; k++) {
			struct tproxy_conn *c;
			bool ok = true;

			if (pfds[k].revents == 0 || tproxy_conns[owner[k]] == NULL)
				continue;
			c = tproxy_conns[owner[k]];
			if (pfds[k].fd == c->client) {
				if (pfds[k].revents & (POLLIN | POLLHUP | POLLERR))
					ok = tproxy_fill(&c->up, c->client);
				ok = ok && tproxy_flush(&c->up, c->upstream);
				ok = ok && tproxy_flush(&c->down, c->client);
			} else {
				if (pfds[k].revents & (POLLIN | POLLHUP | POLLERR))
					ok = tproxy_fill(&c->down, c->upstream);
				ok = ok && tproxy_flush(&c->down, c->client);
				ok = ok && tproxy_flush(&c->up, c->upstream);
			}
			if (!ok)
				tproxy_close(owner[k]);
		}
	}
	for (int i = 0; i < TPROXY_MAX_CONNS; i++)
		if (tproxy_conns[i] != NULL)
			tproxy_close(i);
	close(listen_fd);
	fprintf(stderr, "tcp-proxy: %lu connections, %lu accepted during a cut\n", tproxy_accepted,
		tproxy_held);
	return 0;
}
