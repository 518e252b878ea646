/*
 * udp-proxy.c - a recording, lossy UDP proxy for the end-to-end tests: sits between
 * salon clients and salond's relay (salond --relay-advertise points the clients at
 * it), forwards every datagram, optionally drops and reorders some, and records
 * what it forwarded.
 *
 *   udp-proxy PORT_FILE UPSTREAM_FILE [--capture FILE] [--drop PERCENT]
 *             [--reorder PERCENT] [--seed N] [--stats FILE] [--spare-control 1]
 *             [--cut FILE]
 *
 * It binds 127.0.0.1 on an ephemeral port and writes "proxy 127.0.0.1:PORT" to
 * PORT_FILE (atomically), then waits (20 s at most) for UPSTREAM_FILE, a salond port
 * file, and forwards to its "relay" address. Each client address gets its own
 * upstream socket, so the relay sees one address per client, as without the proxy.
 *
 * --drop loses each datagram, in each direction, with that probability; with
 * --spare-control 1 only speech is lost (TRANSPORT datagrams of 64 bytes or more
 * from clients, which carry MEDIA, and DOWNLINK datagrams), never handshakes, keys,
 * tickets or keepalives.
 * --reorder holds each datagram with that probability for 30 to 60 ms, so that
 * later ones overtake it. --capture appends every datagram actually forwarded as a
 * record: direction (1 byte: 'C' client to relay, 'R' relay to client), client
 * number (1 byte, in order of first appearance), length (2 bytes, little-endian),
 * milliseconds since start (4 bytes, little-endian), then the datagram. The records
 * are flushed as they are written. --stats rewrites FILE with counters every second.
 * --cut FILE blackholes clients on command, as a network cut would: while FILE
 * exists, every datagram from and to the chosen clients is dropped, silently. FILE
 * says whom: "all", or "pid N" for the clients whose socket belongs to process N
 * (found through /proc/net/udp and /proc/N/fd, so that the sockets a client opens
 * during the cut are cut too). Each change is acknowledged by writing "on" or "off"
 * to FILE.state (atomically); FILE is checked every 20 ms.
 * SIGTERM and SIGINT stop it; it also stops by itself after 10 minutes.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "proxy-util.h"
#include "util.h"

#define PROXY_MAX_CLIENTS 128
#define PROXY_MAX_HELD 512
#define PROXY_MAX_DATAGRAM 2048
#define PROXY_LIFETIME_MS (10 * 60 * 1000)

struct proxy_client {
	struct sockaddr_in addr;
	int fd;		      /* connected to the relay */
	long cut_checked_pid; /* the --cut pid that owned was computed for (0: none) */
	bool owned;
};

struct proxy_held {
	uint64_t due_ms;
	int to_client; /* -1: to the relay through client from's socket */
	int from;
	size_t len;
	uint8_t data[PROXY_MAX_DATAGRAM];
};

static volatile sig_atomic_t proxy_stop;
static struct proxy_client proxy_clients[PROXY_MAX_CLIENTS];
static int proxy_client_count;
static struct proxy_held *proxy_held[PROXY_MAX_HELD];
static int proxy_listen_fd;
static struct sockaddr_in proxy_upstream;
static FILE *proxy_capture;
static unsigned proxy_drop, proxy_reorder;
static bool proxy_spare_control;
static uint64_t proxy_seed = 1, proxy_start_ms;
static unsigned long proxy_forwarded, proxy_dropped, proxy_reordered, proxy_cut_dropped;
/* --cut: the control file, and what it said when last read. */
static const char *proxy_cut_path;
static bool proxy_cut_on, proxy_cut_all;
static long proxy_cut_pid;
static uint64_t proxy_cut_next_check;

static void proxy_on_signal(int sig)
{
	(void)sig;
	proxy_stop = 1;
}

/* A deterministic generator, so that a seed always loses the same datagrams. */
static unsigned proxy_percent(void)
{
	proxy_seed = proxy_seed * 6364136223846793005ULL + 1442695040888963407ULL;
	return (unsigned)((proxy_seed >> 33) % 100);
}

static int proxy_parse_address(const char *text, struct sockaddr_in *out)
{
	char host[64];
	const char *colon = strrchr(text, ':');

	if (colon == NULL || (size_t)(colon - text) >= sizeof(host))
		return -EINVAL;
	memcpy(host, text, (size_t)(colon - text));
	host[colon - text] = '\0';
	memset(out, 0, sizeof(*out));
	out->sin_family = AF_INET;
	out->sin_port = htons((uint16_t)atoi(colon + 1));
	return inet_pton(AF_INET, host, &out->sin_addr) == 1 ? 0 : -EINVAL;
}

static void proxy_record(char direction, int client, const uint8_t *data, size_t len)
{
	uint8_t head[8];
	uint32_t ms = (uint32_t)(util_now_ms() - proxy_start_ms);

	if (proxy_capture == NULL)
		return;
	head[0] = (uint8_t)direction;
	head[1] = (uint8_t)client;
	head[2] = (uint8_t)(len & 0xff);
	head[3] = (uint8_t)(len >> 8);
	for (int i = 0; i < 4; i++)
		head[4 + i] = (uint8_t)(ms >> (8 * i));
	if (fwrite(head, 1, sizeof(head), proxy_capture) != sizeof(head) ||
	    fwrite(data, 1, len, proxy_capture) != len || fflush(proxy_capture) != 0)
		fatal("udp-proxy: cannot write the capture: %s", strerror(errno));
}

/* Sends now: to_client >= 0 goes to that client, else to the relay for from. */
static void proxy_send(int to_client, int from, const uint8_t *data, size_t len)
{
	ssize_t n;

	if (to_client >= 0) {
		struct proxy_client *c = &proxy_clients[to_client];

		n = sendto(proxy_listen_fd, data, len, 0, (const struct sockaddr *)&c->addr,
			   sizeof(c->addr));
		proxy_record('R', to_client, data, len);
	} else {
		n = send(proxy_clients[from].fd, data, len, 0);
		proxy_record('C', from, data, len);
	}
	/* A closed relay (salond restarting) refuses datagrams: that is loss, not failure. */
	if (n >= 0)
		proxy_forwarded++;
}

/* The inode of the UDP socket bound to 127.0.0.1:port, or 0. */
static unsigned long proxy_udp_inode(uint16_t port)
{
	FILE *f = fopen("/proc/net/udp", "r");
	char line[512];
	unsigned long inode = 0;

	if (f == NULL)
		fatal("udp-proxy: /proc/net/udp: %s", strerror(errno));
	while (inode == 0 && fgets(line, sizeof(line), f) != NULL) {
		unsigned long ip, found;
		unsigned lport;

		if (sscanf(line, " %*d: %8lX:%4X %*s %*s %*s %*s %*s %*s %*s %lu", &ip, &lport,
			   &found) == 3 &&
		    lport == port && ntohl((uint32_t)ip) == INADDR_LOOPBACK)
			inode = found;
	}
	fclose(f);
	return inode;
}

/* Whether process pid holds the UDP socket that client i sends from. */
static bool proxy_owned_by(int i, long pid)
{
	unsigned long inode = proxy_udp_inode(ntohs(proxy_clients[i].addr.sin_port));
	char path[64], want[64], link[64];
	struct dirent *e;
	bool owned = false;
	DIR *dir;

	if (inode == 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%ld/fd", pid);
	snprintf(want, sizeof(want), "socket:[%lu]", inode);
	dir = opendir(path);
	if (dir == NULL)
		return false;
	while (!owned && (e = readdir(dir)) != NULL) {
		char fd_path[sizeof(path) + sizeof(e->d_name) + 1];
		ssize_t n;

		snprintf(fd_path, sizeof(fd_path), "%s/%s", path, e->d_name);
		n = readlink(fd_path, link, sizeof(link) - 1);
		if (n > 0) {
			link[n] = '\0';
			owned = strcmp(link, want) == 0;
		}
	}
	closedir(dir);
	return owned;
}

/* Reads the --cut file (at most every 20 ms) and acknowledges a change. */
static void proxy_cut_check(void)
{
	char line[64] = "";
	bool on, all = false;
	long pid = 0;
	FILE *f;

	if (proxy_cut_path == NULL || util_now_ms() < proxy_cut_next_check)
		return;
	proxy_cut_next_check = util_now_ms() + 20;
	f = fopen(proxy_cut_path, "r");
	on = f != NULL;
	if (f != NULL) {
		if (fgets(line, sizeof(line), f) == NULL)
			line[0] = '\0';
		fclose(f);
		line[strcspn(line, "\r\n")] = '\0';
		all = strcmp(line, "all") == 0;
		/* A file still being written says nothing yet: wait for a whole line. */
		if (!all && (sscanf(line, "pid %ld", &pid) != 1 || pid <= 0))
			return;
	}
	if (on == proxy_cut_on && all == proxy_cut_all && pid == proxy_cut_pid)
		return;
	proxy_cut_on = on;
	proxy_cut_all = all;
	proxy_cut_pid = pid;
	proxy_util_cut_ack("udp-proxy", proxy_cut_path, ".state", on);
}

/* Whether --cut blackholes client i now. */
static bool proxy_client_cut(int i)
{
	struct proxy_client *c = &proxy_clients[i];

	if (!proxy_cut_on)
		return false;
	if (proxy_cut_all)
		return true;
	if (c->cut_checked_pid != proxy_cut_pid) {
		c->owned = proxy_owned_by(i, proxy_cut_pid);
		c->cut_checked_pid = proxy_cut_pid;
	}
	return c->owned;
}

/* Drops, holds or sends a datagram. */
static void proxy_forward(int to_client, int from, const uint8_t *data, size_t len)
{
	bool speech =
	    (to_client < 0 && len >= 64 && data[0] == 3) || (to_client >= 0 && data[0] == 4);

	if (proxy_client_cut(to_client >= 0 ? to_client : from)) {
		proxy_cut_dropped++;
		return;
	}

	if (proxy_drop > 0 && (speech || !proxy_spare_control) && proxy_percent() < proxy_drop) {
		proxy_dropped++;
		return;
	}
	if (proxy_reorder > 0 && proxy_percent() < proxy_reorder) {
		for (int i = 0; i < PROXY_MAX_HELD; i++) {
			if (proxy_held[i] == NULL) {
				struct proxy_held *h = xmalloc(sizeof(*h));

				h->due_ms = util_now_ms() + 30 + proxy_percent() * 30 / 100;
				h->to_client = to_client;
				h->from = from;
				h->len = len;
				memcpy(h->data, data, len);
				proxy_held[i] = h;
				proxy_reordered++;
				return;
			}
		}
	}
	proxy_send(to_client, from, data, len);
}

static int proxy_find_client(const struct sockaddr_in *addr)
{
	for (int i = 0; i < proxy_client_count; i++) {
		if (proxy_clients[i].addr.sin_port == addr->sin_port &&
		    proxy_clients[i].addr.sin_addr.s_addr == addr->sin_addr.s_addr)
			return i;
	}
	if (proxy_client_count == PROXY_MAX_CLIENTS)
		return -1;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0 ||
	    connect(fd, (const struct sockaddr *)&proxy_upstream, sizeof(proxy_upstream)) < 0)
		fatal("udp-proxy: cannot open an upstream socket: %s", strerror(errno));
	proxy_clients[proxy_client_count].addr = *addr;
	proxy_clients[proxy_client_count].fd = fd;
	return proxy_client_count++;
}

static void proxy_write_stats(const char *path)
{
	char text[256];

	if (path == NULL)
		return;
	snprintf(
	    text, sizeof(text), "clients %d\nforwarded %lu\ndropped %lu\nreordered %lu\ncut %lu\n",
	    proxy_client_count, proxy_forwarded, proxy_dropped, proxy_reordered, proxy_cut_dropped);
	proxy_util_write_file("udp-proxy", path, text);
}

/* Sends the held datagrams that are due; returns the ms until the next, or -1. */
static int proxy_release(void)
{
	uint64_t now = util_now_ms(), next = UINT64_MAX;

	for (int i = 0; i < PROXY_MAX_HELD; i++) {
		struct proxy_held *h = proxy_held[i];

		if (h == NULL)
			continue;
		if (h->due_ms <= now) {
			proxy_send(h->to_client, h->from, h->data, h->len);
			free(h);
			proxy_held[i] = NULL;
		} else if (h->due_ms < next) {
			next = h->due_ms;
		}
	}
	return next == UINT64_MAX ? -1 : (int)(next - now);
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr = {.sin_family = AF_INET};
	socklen_t addr_len = sizeof(addr);
	const char *stats_path = NULL;
	uint8_t buf[PROXY_MAX_DATAGRAM];
	char text[128];
	uint64_t next_stats = 0;

	if (argc < 3) {
		fprintf(stderr, "usage: udp-proxy PORT_FILE UPSTREAM_FILE [--capture FILE] "
				"[--drop PERCENT] [--reorder PERCENT] [--seed N] "
				"[--stats FILE] [--spare-control 1] [--cut FILE]\n");
		return 2;
	}
	for (int i = 3; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--capture") == 0) {
			proxy_capture = fopen(argv[i + 1], "wb");
			if (proxy_capture == NULL)
				fatal("udp-proxy: %s: %s", argv[i + 1], strerror(errno));
		} else if (strcmp(argv[i], "--drop") == 0) {
			proxy_drop = (unsigned)atoi(argv[i + 1]);
		} else if (strcmp(argv[i], "--reorder") == 0) {
			proxy_reorder = (unsigned)atoi(argv[i + 1]);
		} else if (strcmp(argv[i], "--seed") == 0) {
			proxy_seed = strtoull(argv[i + 1], NULL, 10);
		} else if (strcmp(argv[i], "--spare-control") == 0) {
			proxy_spare_control = atoi(argv[i + 1]) != 0;
		} else if (strcmp(argv[i], "--stats") == 0) {
			stats_path = argv[i + 1];
		} else if (strcmp(argv[i], "--cut") == 0) {
			proxy_cut_path = argv[i + 1];
		} else {
			fatal("udp-proxy: unknown option %s", argv[i]);
		}
	}
	signal(SIGTERM, proxy_on_signal);
	signal(SIGINT, proxy_on_signal);
	proxy_start_ms = util_now_ms();

	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	proxy_listen_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (proxy_listen_fd < 0 ||
	    bind(proxy_listen_fd, (const struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    getsockname(proxy_listen_fd, (struct sockaddr *)&addr, &addr_len) < 0)
		fatal("udp-proxy: cannot bind: %s", strerror(errno));
	snprintf(text, sizeof(text), "proxy 127.0.0.1:%u\n", ntohs(addr.sin_port));
	proxy_util_write_file("udp-proxy", argv[1], text);
	proxy_util_read_upstream("udp-proxy", argv[2], "relay", proxy_parse_address,
				 &proxy_upstream, &proxy_stop);
	if (proxy_cut_path != NULL)
		proxy_util_cut_ack("udp-proxy", proxy_cut_path, ".state", false);

	while (!proxy_stop && util_now_ms() - proxy_start_ms < PROXY_LIFETIME_MS) {
		struct pollfd pfds[PROXY_MAX_CLIENTS + 1];
		int timeout = proxy_release(), n = 0;

		if (util_now_ms() >= next_stats) {
			proxy_write_stats(stats_path);
			next_stats = util_now_ms() + 1000;
		}
		proxy_cut_check();
		if (timeout < 0 || timeout > 200)
			timeout = 200;
		if (proxy_cut_path != NULL && timeout > 20)
			timeout = 20;
		pfds[n++] = (struct pollfd){.fd = proxy_listen_fd, .events = POLLIN};
		for (int i = 0; i < proxy_client_count; i++)
			pfds[n++] = (struct pollfd){.fd = proxy_clients[i].fd, .events = POLLIN};
		if (poll(pfds, (nfds_t)n, timeout) <= 0)
			continue;
		if (pfds[0].revents & POLLIN) {
			struct sockaddr_in from;
			socklen_t from_len = sizeof(from);
			ssize_t len = recvfrom(proxy_listen_fd, buf, sizeof(buf), MSG_DONTWAIT,
					       (struct sockaddr *)&from, &from_len);
			int client = len > 0 ? proxy_find_client(&from) : -1;

			if (client >= 0)
				proxy_forward(-1, client, buf, (size_t)len);
		}
		for (int i = 1; i < n; i++) {
			ssize_t len;

			if (!(pfds[i].revents & (POLLIN | POLLERR)))
				continue;
			/* An error (ICMP refused while salond restarts) is read and forgotten. */
			len = recv(pfds[i].fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (len > 0)
				proxy_forward(i - 1, i - 1, buf, (size_t)len);
		}
	}
	proxy_write_stats(stats_path);
	for (int i = 0; i < PROXY_MAX_HELD; i++)
		free(proxy_held[i]);
	for (int i = 0; i < proxy_client_count; i++)
		close(proxy_clients[i].fd);
	close(proxy_listen_fd);
	if (proxy_capture != NULL)
		fclose(proxy_capture);
	return 0;
}
