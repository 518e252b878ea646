/*
 * bench-relay.c - fan-out throughput of salond's media relay on loopback.
 *
 * One speaker sends MEDIA frames to the relay (linked in from libsalond.a, running
 * on its own thread exactly as in salond); N listeners, each a UDP socket on
 * 127.0.0.1 with its own hop session (a real Noise handshake with a real ticket),
 * receive the DOWNLINK datagrams. A drain thread empties the listener sockets with
 * non-blocking recvmmsg() sweeps and counts what arrived; listener 0 also opens
 * every datagram with the room's downlink key, so the count is of genuine frames.
 *
 * Three measurements per N, repeated RUNS times (medians are reported):
 *   paced       the speaker sends 50 frames/s (CBR 24 kbit/s, 20 ms: 60 bytes of
 *               Opus + 20 bytes of SFrame header and tag = 80-byte frames) for
 *               PACED_SECONDS. Reported: datagrams delivered per second, relay
 *               thread CPU per delivered datagram, delivered datagrams per second
 *               per relay core, the relay core's load, and loss counted at the
 *               listeners.
 *   saturation  the speaker keeps SAT_WINDOW frames in flight (it sends as fast as
 *               the relay takes them): datagrams handed to the kernel per second of
 *               relay thread CPU.
 *   baseline    no relay: one thread sends the same bytes (a DOWNLINK-sized
 *               datagram) to the same N listener addresses with a bare sendmmsg()
 *               loop, batches of 1024, prebuilt headers: datagrams per second of
 *               that thread's CPU, the machine's limit.
 * CPU is read from each thread's own CPU clock (pthread_getcpuclockid), so other
 * load on the machine does not inflate it; on loopback it includes the kernel's
 * delivery into the listener's socket, which runs in the sender's context.
 *
 * Targets (the project's benchmark issue):
 *   - saturation rate at least 80% of the baseline's, for every N;
 *   - a 5,000-listener room at 50 frames/s (250,000 datagrams/s) held by one relay
 *     core (relay thread load < 100%) with at most 0.1% loss.
 *
 * Usage: bench/bench-relay [-r RUNS] [-n N[,N...]] [-t PACED_SECONDS]
 * Exit status 0 when every target is met, 1 when one is missed, 2 on a setup error.
 */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "hop.h"
#include "log.h"
#include "relay.h"
#include "sframe.h"
#include "util.h"
#include "wire.h"

#define BENCH_ROOM 1
#define BENCH_SPEAKER 1
#define BENCH_FRAME_LEN 80 /* 60 bytes of Opus at 24 kbit/s, 20 ms, + SFrame 4 + 16 */
#define BENCH_DOWNLINK_LEN (WIRE_DOWNLINK_HEADER_LEN + 4 + BENCH_FRAME_LEN + WIRE_TAG_LEN)
#define BENCH_FRAME_NS UINT64_C(20000000)
#define BENCH_RECV_BATCH 64
#define BENCH_RECV_CAP 256
#define BENCH_SEND_BATCH 1024
#define BENCH_CHUNK 256
#define BENCH_HANDSHAKE_WAIT_MS 3000
#define BENCH_SOCKET_BUFFER (256 * 1024)
#define BENCH_RELAY_BUFFER (4 * 1024 * 1024)
#define BENCH_DRAIN_PERIOD_NS UINT64_C(100000000)
#define BENCH_SAT_WINDOW 64
#define BENCH_SAT_SECONDS 1.5
#define BENCH_SETTLE_MS 3000
#define BENCH_MAX_RUNS 9

#define TARGET_RATIO 0.80
#define TARGET_ROOM 5000
#define TARGET_LOSS 0.001

static size_t bench_sizes[16] = {100, 1000, 5000, 10000};
static size_t bench_size_count = 4;
static int bench_runs = 3;
static double bench_paced_seconds = 4.0;

static uint64_t bench_now_ns(void)
{
	return util_now_ns();
}

static uint64_t bench_thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

static void bench_sleep_ns(uint64_t ns)
{
	struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000), .tv_nsec = (long)(ns % 1000000000)};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int bench_compare(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double bench_median(const double *values, int count)
{
	double sorted[BENCH_MAX_RUNS];

	memcpy(sorted, values, (size_t)count * sizeof(*values));
	qsort(sorted, (size_t)count, sizeof(*sorted), bench_compare);
	if (count % 2 == 1)
		return sorted[count / 2];
	return (sorted[count / 2 - 1] + sorted[count / 2]) / 2;
}

/* A UDP socket on 127.0.0.1 connected to the relay; returns the fd or -1. */
static int bench_socket(const struct sockaddr_storage *relay_addr, socklen_t relay_len)
{
	struct sockaddr_in local = {.sin_family = AF_INET};
	int size = BENCH_SOCKET_BUFFER;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (bind(fd, (struct sockaddr *)&local, sizeof(local)) < 0 ||
	    connect(fd, (const struct sockaddr *)relay_addr, relay_len) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The drain: empties every listener socket in sweeps and counts what came. */
struct bench_drain {
	int *fds;
	size_t count;
	pthread_t thread;
	/* Set by the main thread between phases; read with atomics. */
	bool stop;
	bool continuous; /* sweep again at once instead of once per period */
	bool verify;     /* check type, size and key index; open listener 0's */
	uint32_t key_index;
	struct downlink_key key0; /* listener 0's copy of the room key (drain thread) */
	/* Written by the drain thread with atomics. */
	uint64_t received;
	uint64_t invalid;
	uint64_t opened; /* listener 0's datagrams that authenticated */
};

static void bench_drain_datagram(struct bench_drain *d, size_t listener, const uint8_t *buf,
				 size_t len, uint64_t *invalid, uint64_t *opened)
{
	struct wire_datagram dg;
	uint8_t frame[WIRE_MAX_FRAME];
	size_t frame_len;
	uint32_t source;

	if (!__atomic_load_n(&d->verify, __ATOMIC_RELAXED))
		return;
	if (len != BENCH_DOWNLINK_LEN || wire_parse(buf, len, &dg) < 0 ||
	    dg.type != WIRE_DOWNLINK ||
	    dg.key_index != __atomic_load_n(&d->key_index, __ATOMIC_RELAXED)) {
		(*invalid)++;
		return;
	}
	if (listener != 0)
		return;
	if (downlink_open(&d->key0, &dg, &source, frame, sizeof(frame), &frame_len) == 0 &&
	    source == BENCH_SPEAKER && frame_len == BENCH_FRAME_LEN)
		(*opened)++;
	else
		(*invalid)++;
}

static void *bench_drain_thread(void *arg)
{
	struct bench_drain *d = arg;
	static uint8_t bufs[BENCH_RECV_BATCH][BENCH_RECV_CAP];
	struct iovec iov[BENCH_RECV_BATCH];
	struct mmsghdr msgs[BENCH_RECV_BATCH];

	while (!__atomic_load_n(&d->stop, __ATOMIC_RELAXED)) {
		uint64_t start = bench_now_ns(), received = 0, invalid = 0, opened = 0;

		for (size_t i = 0; i < d->count; i++) {
			for (;;) {
				int n;

				for (int j = 0; j < BENCH_RECV_BATCH; j++) {
					iov[j].iov_base = bufs[j];
					iov[j].iov_len = sizeof(bufs[j]);
					memset(&msgs[j].msg_hdr, 0, sizeof(msgs[j].msg_hdr));
					msgs[j].msg_hdr.msg_iov = &iov[j];
					msgs[j].msg_hdr.msg_iovlen = 1;
				}
				n = recvmmsg(d->fds[i], msgs, BENCH_RECV_BATCH, MSG_DONTWAIT, NULL);
				if (n <= 0)
					break;
				received += (uint64_t)n;
				for (int j = 0; j < n; j++)
					bench_drain_datagram(d, i, bufs[j], msgs[j].msg_len,
							     &invalid, &opened);
				if (n < BENCH_RECV_BATCH)
					break;
			}
		}
		__atomic_add_fetch(&d->received, received, __ATOMIC_RELAXED);
		__atomic_add_fetch(&d->invalid, invalid, __ATOMIC_RELAXED);
		__atomic_add_fetch(&d->opened, opened, __ATOMIC_RELAXED);
		if (!__atomic_load_n(&d->continuous, __ATOMIC_RELAXED)) {
			uint64_t spent = bench_now_ns() - start;

			if (spent < BENCH_DRAIN_PERIOD_NS)
				bench_sleep_ns(BENCH_DRAIN_PERIOD_NS - spent);
		}
	}
	return NULL;
}

static uint64_t bench_drain_received(struct bench_drain *d)
{
	return __atomic_load_n(&d->received, __ATOMIC_RELAXED);
}

/* Waits until the drain's count stops growing (or reaches want); returns it. */
static uint64_t bench_drain_settle(struct bench_drain *d, uint64_t want)
{
	uint64_t deadline = util_now_ms() + BENCH_SETTLE_MS;
	uint64_t last = bench_drain_received(d), last_change = util_now_ms();

	while (util_now_ms() < deadline) {
		uint64_t now_count = bench_drain_received(d);

		if (now_count >= want)
			return now_count;
		if (now_count != last) {
			last = now_count;
			last_change = util_now_ms();
		} else if (util_now_ms() - last_change > 3 * BENCH_DRAIN_PERIOD_NS / 1000000) {
			break;
		}
		bench_sleep_ns(5000000);
	}
	return bench_drain_received(d);
}

/* One room on one relay: the speaker and the listeners' sockets. */
struct bench_room {
	struct relay *relay;
	uint8_t public_key[32];
	struct sockaddr_storage relay_addr;
	socklen_t relay_len;
	int speaker_fd;
	struct hop_session speaker;
	uint32_t frame_number;
	int *fds;
	size_t count;
	uint32_t key_index;
	uint8_t key[WIRE_KEY_LEN];
	struct bench_drain drain;
};

/* Per-client handshake state while a chunk of handshakes is in flight. */
struct bench_pending {
	struct hop_initiator init;
	struct hop_session session;
	uint8_t hello[WIRE_HANDSHAKE_INIT_LEN];
	bool established;
	bool has_key;
	bool has_resume;
	uint32_t key_index;
	uint8_t key[WIRE_KEY_LEN];
};

/* Reads what is queued on fd for p; returns true once p is complete. */
static bool bench_pending_read(int fd, struct bench_pending *p)
{
	uint8_t buf[WIRE_MAX_DATAGRAM];
	uint8_t pt[WIRE_MAX_INNER];
	struct wire_datagram d;
	struct wire_inner inner;
	size_t pt_len;
	ssize_t n;

	while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
		if (wire_parse(buf, (size_t)n, &d) < 0)
			continue;
		if (d.type == WIRE_HANDSHAKE_RESP && !p->established) {
			if (hop_initiator_finish(&p->init, &d, &p->session) == 0)
				p->established = true;
			continue;
		}
		if (d.type != WIRE_TRANSPORT || !p->established ||
		    hop_open(&p->session, &d, pt, sizeof(pt), &pt_len) < 0 ||
		    wire_inner_parse(pt, pt_len, &inner) < 0)
			continue;
		if (inner.type == WIRE_INNER_DOWNLINK_KEY) {
			p->key_index = inner.key_index;
			memcpy(p->key, inner.key, WIRE_KEY_LEN);
			p->has_key = true;
		} else if (inner.type == WIRE_INNER_RESUME_TICKET) {
			p->has_resume = true;
		}
	}
	return p->established && p->has_key && p->has_resume;
}

/*
 * Handshakes count clients (fds[i] becomes member first_member + i) in chunks of
 * BENCH_CHUNK: tickets are registered, every HANDSHAKE_INIT of the chunk is sent,
 * then each answer is awaited (an unanswered one is sent once more). Fills
 * sessions[i] when sessions is not NULL. Returns 0 or -ETIMEDOUT.
 */
static int bench_handshake(struct bench_room *room, const int *fds, size_t count,
			   uint64_t first_member, bool may_speak, struct hop_session *sessions)
{
	struct bench_pending *pending = xcalloc(BENCH_CHUNK, sizeof(*pending));
	int ret = 0;

	for (size_t base = 0; base < count && ret == 0; base += BENCH_CHUNK) {
		size_t chunk = count - base < BENCH_CHUNK ? count - base : BENCH_CHUNK;

		memset(pending, 0, BENCH_CHUNK * sizeof(*pending));
		for (size_t i = 0; i < chunk; i++) {
			uint8_t ticket[WIRE_TICKET_LEN];

			randombytes_buf(ticket, sizeof(ticket));
			relay_ticket_add(room->relay, ticket, BENCH_ROOM, first_member + base + i,
					 may_speak, util_now_ms() + 60000);
			if (hop_initiator_start(&pending[i].init, room->public_key, ticket,
						randombytes_random() | 1, pending[i].hello) < 0)
				fatal("hop_initiator_start failed");
			if (send(fds[base + i], pending[i].hello, sizeof(pending[i].hello), 0) < 0)
				fatal("send: %s", strerror(errno));
		}
		for (size_t i = 0; i < chunk && ret == 0; i++) {
			struct bench_pending *p = &pending[i];
			int fd = fds[base + i];
			bool resent = false;
			uint64_t deadline = util_now_ms() + BENCH_HANDSHAKE_WAIT_MS;

			while (!bench_pending_read(fd, p)) {
				struct pollfd pfd = {.fd = fd, .events = POLLIN};
				uint64_t now = util_now_ms();

				if (now >= deadline) {
					if (resent) {
						ret = -ETIMEDOUT;
						break;
					}
					/* The relay answers a retransmission without a new DH. */
					resent = true;
					deadline = now + BENCH_HANDSHAKE_WAIT_MS;
					(void)send(fd, p->hello, sizeof(p->hello), 0);
					continue;
				}
				(void)poll(&pfd, 1, (int)(deadline - now));
			}
			if (ret < 0)
				break;
			if (base + i == 0 && first_member != BENCH_SPEAKER) {
				room->key_index = p->key_index;
				memcpy(room->key, p->key, sizeof(room->key));
			}
			if (p->key_index != room->key_index && first_member != BENCH_SPEAKER) {
				fprintf(stderr, "bench-relay: listener %zu got another room key\n",
					base + i);
				ret = -EPROTO;
			}
			if (sessions != NULL)
				sessions[base + i] = p->session;
		}
	}
	sodium_memzero(pending, BENCH_CHUNK * sizeof(*pending));
	free(pending);
	return ret;
}

static int bench_room_open(struct bench_room *room, size_t count)
{
	uint8_t secret[32];
	struct relay_stats stats;

	memset(room, 0, sizeof(*room));
	randombytes_buf(secret, sizeof(secret));
	crypto_scalarmult_base(room->public_key, secret);
	room->relay = relay_new("127.0.0.1", "0", secret);
	sodium_memzero(secret, sizeof(secret));
	if (room->relay == NULL) {
		fprintf(stderr, "bench-relay: relay_new: %s\n", strerror(errno));
		return -1;
	}
	/* One source address opens every session, and nobody sends keepalives. */
	relay_set_handshake_rate(room->relay, 1u << 20, 1u << 20);
	relay_set_timeouts(room->relay, 3600000, 3600000);
	relay_local_address(room->relay, &room->relay_addr, &room->relay_len);
	if (relay_start(room->relay) < 0)
		return -1;
	room->count = count;
	room->fds = xcalloc(count, sizeof(*room->fds));
	for (size_t i = 0; i < count; i++) {
		room->fds[i] = bench_socket(&room->relay_addr, room->relay_len);
		if (room->fds[i] < 0) {
			fprintf(stderr, "bench-relay: listener socket %zu: %s\n", i,
				strerror(errno));
			room->count = i;
			return -1;
		}
	}
	room->speaker_fd = bench_socket(&room->relay_addr, room->relay_len);
	if (room->speaker_fd < 0)
		return -1;
	if (bench_handshake(room, room->fds, count, BENCH_SPEAKER + 1, false, NULL) < 0 ||
	    bench_handshake(room, &room->speaker_fd, 1, BENCH_SPEAKER, true, &room->speaker) < 0) {
		fprintf(stderr, "bench-relay: handshakes failed\n");
		return -1;
	}
	relay_get_stats(room->relay, &stats);
	if (stats.sessions != count + 1) {
		fprintf(stderr, "bench-relay: %llu sessions, expected %zu\n",
			(unsigned long long)stats.sessions, count + 1);
		return -1;
	}
	room->drain.fds = room->fds;
	room->drain.count = count;
	room->drain.key_index = room->key_index;
	room->drain.key0.key_index = room->key_index;
	memcpy(room->drain.key0.key, room->key, sizeof(room->key));
	replay_init(&room->drain.key0.replay);
	room->drain.verify = true;
	if (pthread_create(&room->drain.thread, NULL, bench_drain_thread, &room->drain) != 0)
		return -1;
	return 0;
}

static void bench_room_close(struct bench_room *room)
{
	if (room->drain.fds != NULL) {
		__atomic_store_n(&room->drain.stop, true, __ATOMIC_RELAXED);
		pthread_join(room->drain.thread, NULL);
	}
	relay_free(room->relay);
	for (size_t i = 0; i < room->count; i++)
		close(room->fds[i]);
	if (room->speaker_fd > 0)
		close(room->speaker_fd);
	free(room->fds);
	sodium_memzero(room, sizeof(*room));
}

/* Sends one MEDIA frame of BENCH_FRAME_LEN bytes from the speaker. */
static void bench_speak(struct bench_room *room)
{
	uint8_t frame[BENCH_FRAME_LEN];
	uint8_t inner[WIRE_MAX_INNER];
	uint8_t out[WIRE_MAX_DATAGRAM];
	size_t out_len = 0;
	struct sframe_header hdr = {.kid = (uint64_t)BENCH_SPEAKER << 8,
				    .ctr = room->frame_number++};

	/* An SFrame header naming the speaker: the relay drops frames naming another. */
	memset(frame, 0x5a, sizeof(frame));
	if (sframe_header_encode(frame, sizeof(frame), &hdr) < 0)
		fatal("cannot encode an SFrame header");
	if (hop_seal(&room->speaker, inner,
		     wire_inner_write_media(inner, frame, sizeof(frame)), out, sizeof(out),
		     &out_len) < 0)
		fatal("hop_seal failed");
	if (send(room->speaker_fd, out, out_len, 0) < 0)
		fatal("speaker send: %s", strerror(errno));
}

static uint64_t bench_relay_cpu(struct bench_room *room)
{
	uint64_t ns = 0;

	if (relay_thread_cpu_ns(room->relay, &ns) < 0)
		fatal("relay_thread_cpu_ns failed");
	return ns;
}

/* Waits until the relay has forwarded want frames in total; false on timeout. */
static bool bench_wait_forwarded(struct bench_room *room, uint64_t want)
{
	uint64_t deadline = util_now_ms() + BENCH_SETTLE_MS;
	struct relay_stats stats;

	for (;;) {
		relay_get_stats(room->relay, &stats);
		if (stats.forwarded >= want)
			return true;
		if (util_now_ms() >= deadline)
			return false;
		bench_sleep_ns(20000);
	}
}

struct bench_paced {
	double delivered_per_s;  /* at the listeners, over the sending time */
	double ns_per_datagram;  /* relay thread CPU per datagram handed to the kernel */
	double per_core;         /* datagrams handed to the kernel per relay CPU second */
	double load;             /* relay thread CPU / wall time */
	double loss;             /* 1 - received / (frames * N) */
	uint64_t invalid;
};

static struct bench_paced bench_run_paced(struct bench_room *room, double seconds)
{
	struct bench_paced out = {0};
	struct relay_stats before, after;
	uint64_t frames = (uint64_t)(seconds * 50), rx0, rx, cpu0, cpu, inv0;
	struct timespec next;
	uint64_t wall;

	__atomic_store_n(&room->drain.continuous, false, __ATOMIC_RELAXED);
	__atomic_store_n(&room->drain.verify, true, __ATOMIC_RELAXED);
	bench_drain_settle(&room->drain, UINT64_MAX);
	relay_get_stats(room->relay, &before);
	rx0 = bench_drain_received(&room->drain);
	inv0 = __atomic_load_n(&room->drain.invalid, __ATOMIC_RELAXED);
	cpu0 = bench_relay_cpu(room);
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (uint64_t f = 0; f < frames; f++) {
		bench_speak(room);
		next.tv_nsec += (long)BENCH_FRAME_NS;
		if (next.tv_nsec >= 1000000000) {
			next.tv_nsec -= 1000000000;
			next.tv_sec++;
		}
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
			;
	}
	if (!bench_wait_forwarded(room, before.forwarded + frames))
		fprintf(stderr, "bench-relay: the relay did not forward every frame\n");
	cpu = bench_relay_cpu(room) - cpu0;
	rx = bench_drain_settle(&room->drain, rx0 + frames * room->count) - rx0;
	relay_get_stats(room->relay, &after);
	wall = frames * BENCH_FRAME_NS;
	out.delivered_per_s = (double)rx / ((double)wall / 1e9);
	out.ns_per_datagram = (double)cpu / (double)(after.delivered - before.delivered);
	out.per_core = 1e9 / out.ns_per_datagram;
	out.load = (double)cpu / (double)wall;
	out.loss = 1.0 - (double)rx / (double)(frames * room->count);
	out.invalid = __atomic_load_n(&room->drain.invalid, __ATOMIC_RELAXED) - inv0;
	return out;
}

struct bench_rate {
	double per_core; /* datagrams handed to the kernel per second of sender CPU */
	double per_s;    /* the same per wall-clock second */
	double received; /* fraction of them that the drain got */
};

static struct bench_rate bench_run_saturation(struct bench_room *room, double seconds)
{
	struct bench_rate out = {0};
	struct relay_stats before, after, now;
	uint64_t sent = 0, cpu0, cpu, start, wall, rx0, rx;

	__atomic_store_n(&room->drain.continuous, true, __ATOMIC_RELAXED);
	bench_drain_settle(&room->drain, UINT64_MAX);
	relay_get_stats(room->relay, &before);
	rx0 = bench_drain_received(&room->drain);
	cpu0 = bench_relay_cpu(room);
	start = bench_now_ns();
	while (bench_now_ns() - start < (uint64_t)(seconds * 1e9)) {
		relay_get_stats(room->relay, &now);
		if (sent - (now.forwarded - before.forwarded) < BENCH_SAT_WINDOW) {
			bench_speak(room);
			sent++;
		} else {
			bench_sleep_ns(20000);
		}
	}
	if (!bench_wait_forwarded(room, before.forwarded + sent))
		fprintf(stderr, "bench-relay: the relay did not forward every frame\n");
	cpu = bench_relay_cpu(room) - cpu0;
	wall = bench_now_ns() - start;
	relay_get_stats(room->relay, &after);
	rx = bench_drain_settle(&room->drain, rx0 + sent * room->count) - rx0;
	out.per_core = (double)(after.delivered - before.delivered) / ((double)cpu / 1e9);
	out.per_s = (double)(after.delivered - before.delivered) / ((double)wall / 1e9);
	out.received = (double)rx / (double)(sent * room->count);
	return out;
}

/* The bare sendmmsg() loop to the same listener addresses. */
static struct bench_rate bench_run_baseline(struct bench_room *room, double seconds)
{
	struct bench_rate out = {0};
	struct sockaddr_in local = {.sin_family = AF_INET};
	struct sockaddr_storage *addrs = xcalloc(room->count, sizeof(*addrs));
	socklen_t *lens = xcalloc(room->count, sizeof(*lens));
	struct mmsghdr *msgs = xcalloc(room->count, sizeof(*msgs));
	uint8_t datagram[BENCH_DOWNLINK_LEN];
	struct iovec iov = {.iov_base = datagram, .iov_len = sizeof(datagram)};
	int size = BENCH_RELAY_BUFFER;
	uint64_t sent = 0, errors = 0, cpu0, cpu, start, wall, rx0, rx;
	int fd;

	randombytes_buf(datagram, sizeof(datagram));
	memset(datagram, 0, 4);
	datagram[0] = WIRE_DOWNLINK;
	for (size_t i = 0; i < room->count; i++) {
		lens[i] = sizeof(addrs[i]);
		if (getsockname(room->fds[i], (struct sockaddr *)&addrs[i], &lens[i]) < 0)
			fatal("getsockname: %s", strerror(errno));
		msgs[i].msg_hdr.msg_name = &addrs[i];
		msgs[i].msg_hdr.msg_namelen = lens[i];
		msgs[i].msg_hdr.msg_iov = &iov;
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	/* The same kind of socket as the relay's: non-blocking, same buffer size. */
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&local, sizeof(local)) < 0)
		fatal("baseline socket: %s", strerror(errno));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	__atomic_store_n(&room->drain.continuous, true, __ATOMIC_RELAXED);
	__atomic_store_n(&room->drain.verify, false, __ATOMIC_RELAXED);
	bench_drain_settle(&room->drain, UINT64_MAX);
	rx0 = bench_drain_received(&room->drain);
	cpu0 = bench_thread_cpu_ns();
	start = bench_now_ns();
	while (bench_now_ns() - start < (uint64_t)(seconds * 1e9)) {
		/* One pass over every destination is one frame's fan-out. */
		size_t done = 0;

		while (done < room->count) {
			size_t batch = room->count - done;
			int n;

			if (batch > BENCH_SEND_BATCH)
				batch = BENCH_SEND_BATCH;
			n = sendmmsg(fd, msgs + done, (unsigned)batch, 0);
			if (n <= 0) {
				errors++;
				done++;
				continue;
			}
			sent += (uint64_t)n;
			done += (size_t)n;
		}
	}
	cpu = bench_thread_cpu_ns() - cpu0;
	wall = bench_now_ns() - start;
	rx = bench_drain_settle(&room->drain, rx0 + sent) - rx0;
	__atomic_store_n(&room->drain.verify, true, __ATOMIC_RELAXED);
	if (errors > 0)
		fprintf(stderr, "bench-relay: baseline: %llu send errors\n",
			(unsigned long long)errors);
	out.per_core = (double)sent / ((double)cpu / 1e9);
	out.per_s = (double)sent / ((double)wall / 1e9);
	out.received = (double)rx / (double)sent;
	close(fd);
	free(msgs);
	free(lens);
	free(addrs);
	return out;
}

static bool bench_parse_args(int argc, char **argv)
{
	int opt;

	while ((opt = getopt(argc, argv, "r:n:t:")) != -1) {
		char *text, *save = NULL;

		switch (opt) {
		case 'r':
			bench_runs = atoi(optarg);
			if (bench_runs < 1 || bench_runs > BENCH_MAX_RUNS)
				return false;
			break;
		case 't':
			bench_paced_seconds = atof(optarg);
			if (bench_paced_seconds < 0.2 || bench_paced_seconds > 60)
				return false;
			break;
		case 'n':
			bench_size_count = 0;
			for (text = strtok_r(optarg, ",", &save); text != NULL;
			     text = strtok_r(NULL, ",", &save)) {
				long n = atol(text);

				if (n < 1 || n > 30000 || bench_size_count == 16)
					return false;
				bench_sizes[bench_size_count++] = (size_t)n;
			}
			if (bench_size_count == 0)
				return false;
			break;
		default:
			return false;
		}
	}
	return optind == argc;
}

/* Room for every listener socket, the relay's and the process's own. */
static int bench_raise_fd_limit(size_t largest)
{
	struct rlimit limit;
	rlim_t want = (rlim_t)largest + 256;

	if (getrlimit(RLIMIT_NOFILE, &limit) < 0)
		return -errno;
	if (limit.rlim_cur >= want)
		return 0;
	if (limit.rlim_max < want)
		limit.rlim_max = want; /* works as root; otherwise setrlimit says no */
	limit.rlim_cur = want;
	if (setrlimit(RLIMIT_NOFILE, &limit) < 0)
		return -errno;
	return 0;
}

static const char *bench_verdict(bool ok)
{
	return ok ? "PASS" : "FAIL";
}

int main(int argc, char **argv)
{
	size_t largest = 0;
	bool all_ok = true;

	if (!bench_parse_args(argc, argv)) {
		fprintf(stderr, "usage: %s [-r RUNS] [-n N[,N...]] [-t PACED_SECONDS]\n",
			argv[0]);
		return 2;
	}
	if (sodium_init() < 0)
		return 2;
	log_init("bench-relay", LOG_LEVEL_WARN);
	for (size_t i = 0; i < bench_size_count; i++)
		if (bench_sizes[i] > largest)
			largest = bench_sizes[i];
	if (bench_raise_fd_limit(largest) < 0) {
		fprintf(stderr, "bench-relay: cannot raise RLIMIT_NOFILE to %zu: %s\n",
			largest + 256, strerror(errno));
		return 2;
	}
	printf("bench-relay: %d runs per figure (medians), paced %.1f s at 50 frames/s, "
	       "saturation and baseline %.1f s each; DOWNLINK datagrams of %d bytes\n",
	       bench_runs, bench_paced_seconds, BENCH_SAT_SECONDS, BENCH_DOWNLINK_LEN);
	for (size_t s = 0; s < bench_size_count; s++) {
		size_t n = bench_sizes[s];
		struct bench_room room;
		double rate[BENCH_MAX_RUNS], ns[BENCH_MAX_RUNS], core[BENCH_MAX_RUNS];
		double load[BENCH_MAX_RUNS], loss[BENCH_MAX_RUNS], sat[BENCH_MAX_RUNS];
		double sat_wall[BENCH_MAX_RUNS], base[BENCH_MAX_RUNS], base_wall[BENCH_MAX_RUNS];
		double ratio[BENCH_MAX_RUNS], sat_rx[BENCH_MAX_RUNS];
		uint64_t invalid = 0, setup_ms = util_now_ms();
		double m_ratio, m_load, m_loss;
		bool ok;

		if (bench_room_open(&room, n) < 0) {
			bench_room_close(&room);
			return 2;
		}
		setup_ms = util_now_ms() - setup_ms;
		for (int r = 0; r < bench_runs; r++) {
			struct bench_paced p = bench_run_paced(&room, bench_paced_seconds);
			struct bench_rate sr = bench_run_saturation(&room, BENCH_SAT_SECONDS);
			struct bench_rate br = bench_run_baseline(&room, BENCH_SAT_SECONDS);

			rate[r] = p.delivered_per_s;
			ns[r] = p.ns_per_datagram;
			core[r] = p.per_core;
			load[r] = p.load;
			loss[r] = p.loss;
			invalid += p.invalid;
			sat[r] = sr.per_core;
			sat_wall[r] = sr.per_s;
			sat_rx[r] = sr.received;
			base[r] = br.per_core;
			base_wall[r] = br.per_s;
			ratio[r] = sr.per_core / br.per_core;
			printf("  N=%zu run %d: paced %.0f/s, %.0f ns/datagram, load %.1f%%, "
			       "loss %.4f%%; saturation %.0f/s per core (%.0f/s wall); "
			       "baseline %.0f/s per core (%.0f/s wall); ratio %.1f%%\n",
			       n, r + 1, p.delivered_per_s, p.ns_per_datagram, 100 * p.load,
			       100 * p.loss, sr.per_core, sr.per_s, br.per_core, br.per_s,
			       100 * ratio[r]);
			fflush(stdout);
		}
		m_ratio = bench_median(ratio, bench_runs);
		m_load = bench_median(load, bench_runs);
		m_loss = bench_median(loss, bench_runs);
		printf("N=%zu (setup: %zu handshakes in %llu ms)\n", n, n + 1,
		       (unsigned long long)setup_ms);
		printf("  paced 50 frames/s: delivered %.0f datagrams/s (expected %zu), "
		       "relay CPU %.0f ns/datagram = %.0f datagrams/s per relay core, "
		       "relay core load %.1f%%, loss %.4f%%, invalid %llu\n",
		       bench_median(rate, bench_runs), 50 * n, bench_median(ns, bench_runs),
		       bench_median(core, bench_runs), 100 * m_load, 100 * m_loss,
		       (unsigned long long)invalid);
		if (n == TARGET_ROOM) {
			ok = m_load < 1.0 && m_loss <= TARGET_LOSS && invalid == 0;
			all_ok &= ok;
			printf("  target: %d listeners held by one relay core (load < 100%%) "
			       "with loss <= %.1f%%: load %.1f%%, loss %.4f%% %s\n",
			       TARGET_ROOM, 100 * TARGET_LOSS, 100 * m_load, 100 * m_loss,
			       bench_verdict(ok));
		} else if (invalid > 0) {
			all_ok = false;
			printf("  target: every datagram genuine: %llu invalid FAIL\n",
			       (unsigned long long)invalid);
		}
		ok = m_ratio >= TARGET_RATIO;
		all_ok &= ok;
		printf("  saturation: relay %.0f datagrams/s per relay core (%.0f/s wall, "
		       "%.1f%% drained), bare sendmmsg %.0f/s per core (%.0f/s wall)\n",
		       bench_median(sat, bench_runs), bench_median(sat_wall, bench_runs),
		       100 * bench_median(sat_rx, bench_runs), bench_median(base, bench_runs),
		       bench_median(base_wall, bench_runs));
		printf("  target: relay >= %.0f%% of bare sendmmsg per core: %.1f%% %s\n",
		       100 * TARGET_RATIO, 100 * m_ratio, bench_verdict(ok));
		fflush(stdout);
		bench_room_close(&room);
	}
	printf("bench-relay: %s\n", all_ok ? "all targets met" : "a target was missed");
	return all_ok ? 0 : 1;
}
