/*
 * churn-tool.c - the crowd of tests/churn.sh: many simulated room members that join
 * and leave one room through salond's API, and the recording analysis of the test.
 *
 *   churn-tool run API_PORT ROOM SECONDS MEMBERS RATE
 *       MEMBERS accounts (Ed25519 keys made here) log in on 127.0.0.1:API_PORT and
 *       then, for SECONDS, join ROOM and leave it again: at most RATE joins a second,
 *       each member staying 2 to 8 s and resting at least 1 s between stays, taken in
 *       turn (the member that rested longest goes next), so that every member joins
 *       when RATE * SECONDS is well over MEMBERS. Every third stay holds the event
 *       stream open (long-polls, acknowledging what arrives) and every fourth opens a
 *       hop session with the relay with the join ticket and stays until the relay
 *       handed it the downlink key. Each member has its own keep-alive connection
 *       while it is busy and closes it after leaving, so connections churn too. At
 *       the end every member still in leaves, and the tool prints one line:
 *       "churn: members M joined J joins N leaves L streams S events E keys K
 *       hop H/A errors X" and exits 0 when there was no error, every member joined
 *       at least once and every hop session got its key; 1 otherwise.
 *   churn-tool gaps REC WINDOW_MS MIN_DB HZ...
 *       Cuts REC (any sound file libsndfile reads, mixed to mono) into windows of
 *       WINDOW_MS from its first loud sample on and, in each, compares the Goertzel
 *       power at each HZ with the strongest of control frequencies between them: a
 *       tone is heard in a window when it stands MIN_DB above. Prints per tone
 *       "HZ heard H/W longest_gap_ms G" and the windows where some tone is missing.
 *
 * Every wait has a deadline; failures print a message and exit 1.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>
#include <sndfile.h>
#include <sodium.h>

#include "encoding.h"
#include "hop.h"
#include "http-client.h"
#include "util.h"
#include "wire.h"

#define CHURN_STAY_MIN_MS 2000
#define CHURN_STAY_MAX_MS 8000
#define CHURN_REST_MS 1000
#define CHURN_HOP_DEADLINE_MS 15000
#define CHURN_FINISH_DEADLINE_MS 60000
#define CHURN_ERRORS_SHOWN 10

enum conn_kind {
	CONN_API,
	CONN_POLL,
	CONN_UDP,
};

struct member;

/* A connection of a member's: HTTP to the API, or (CONN_UDP) its hop session's socket. */
struct conn {
	struct http_conn http; /* CONN_UDP uses its fd only */
	enum conn_kind kind;
	struct member *member;
};

enum member_state {
	M_IDLE,      /* resting (or never started): waits for its turn */
	M_CHALLENGE, /* POST /v1/auth/challenge is out */
	M_LOGIN,     /* POST /v1/auth/login is out */
	M_JOIN,      /* POST /v1/rooms/ID/join is out */
	M_JOINED,    /* in the room until leave_ms */
	M_LEAVE,     /* POST /v1/rooms/ID/leave is out */
};

struct member {
	size_t index;
	uint8_t public_key[32];
	uint8_t secret_key[64];
	char token[64];
	enum member_state state;
	uint64_t ready_ms; /* M_IDLE: rests until then */
	uint64_t leave_ms; /* M_JOINED: leaves then */
	unsigned joins;
	bool stream, hop;  /* this stay's extras */
	uint64_t last_seq;
	struct conn api, poll, udp;
	/* The hop session of this stay. */
	struct hop_initiator init;
	struct hop_session session;
	uint8_t init_msg[WIRE_HANDSHAKE_INIT_LEN];
	bool hop_up, hop_key;
	uint64_t hop_resend_ms, hop_deadline_ms;
	size_t queue_next; /* the idle queue's link (SIZE_MAX: none) */
	bool queued;
};

struct churn {
	int epoll_fd;
	struct sockaddr_in api;
	uint64_t room;
	struct member *members;
	size_t count;
	size_t queue_head, queue_tail; /* the idle queue, oldest rest first */
	unsigned long joins, leaves, streams, events, keys, hop_attempts, hop_ok, errors;
	unsigned long logins;
};

static void churn_error(struct churn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void churn_error(struct churn *c, const char *fmt, ...)
{
	va_list ap;

	if (c->errors++ >= CHURN_ERRORS_SHOWN)
		return;
	fputs("churn-tool: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* The idle queue: members wait their turn in the order they started resting. */
static void churn_queue_push(struct churn *c, struct member *m)
{
	m->queue_next = SIZE_MAX;
	m->queued = true;
	if (c->queue_tail == SIZE_MAX)
		c->queue_head = m->index;
	else
		c->members[c->queue_tail].queue_next = m->index;
	c->queue_tail = m->index;
}

static struct member *churn_queue_ready(struct churn *c, uint64_t now)
{
	struct member *m;

	if (c->queue_head == SIZE_MAX)
		return NULL;
	m = &c->members[c->queue_head];
	if (m->ready_ms > now)
		return NULL;
	c->queue_head = m->queue_next;
	if (c->queue_head == SIZE_MAX)
		c->queue_tail = SIZE_MAX;
	m->queued = false;
	return m;
}

/* HTTP over non-blocking keep-alive connections (tests/http-client.c). */

static void churn_close(struct conn *conn)
{
	http_client_close(&conn->http);
}

static void churn_request(struct churn *c, struct conn *conn, const char *method,
			  const char *path, const char *token, const char *body)
{
	int err;

	if (conn->http.fd < 0) {
		err = http_client_open(&conn->http, c->epoll_fd, &c->api, conn);
		if (err < 0)
			fatal("churn-tool: cannot connect to the API: %s", strerror(-err));
	}
	if (http_client_request(&conn->http, method, path, token, body) < 0)
		fatal("churn-tool: request too long");
}

/* Members. */

static void churn_send_challenge(struct churn *c, struct member *m)
{
	char key[64], body[256];

	base64_encode(key, m->public_key, 32);
	snprintf(body, sizeof(body), "{\"public_key\":\"%s\",\"name\":\"churn%zu\"}", key,
		 m->index);
	m->state = M_CHALLENGE;
	churn_request(c, &m->api, "POST", "/v1/auth/challenge", NULL, body);
}

static void churn_send_login(struct churn *c, struct member *m, const uint8_t nonce[32])
{
	char key[64], nonce_text[64], sig_text[128], body[512];
	uint8_t message[15 + 32 + 32], sig[64];

	memcpy(message, "salon-login-v1", 15); /* with its NUL */
	memcpy(message + 15, nonce, 32);
	memcpy(message + 47, m->public_key, 32);
	crypto_sign_detached(sig, NULL, message, sizeof(message), m->secret_key);
	base64_encode(key, m->public_key, 32);
	base64_encode(nonce_text, nonce, 32);
	base64_encode(sig_text, sig, 64);
	snprintf(body, sizeof(body), "{\"nonce\":\"%s\",\"public_key\":\"%s\",\"signature\":\"%s\"}",
		 nonce_text, key, sig_text);
	m->state = M_LOGIN;
	churn_request(c, &m->api, "POST", "/v1/auth/login", NULL, body);
}

static void churn_send_join(struct churn *c, struct member *m)
{
	char path[96];

	snprintf(path, sizeof(path), "/v1/rooms/%llu/join", (unsigned long long)c->room);
	m->state = M_JOIN;
	churn_request(c, &m->api, "POST", path, m->token, "{}");
}

static void churn_send_poll(struct churn *c, struct member *m)
{
	char path[96];

	snprintf(path, sizeof(path), "/v1/events?after=%llu&wait=5",
		 (unsigned long long)m->last_seq);
	churn_request(c, &m->poll, "GET", path, m->token, NULL);
}

/* Starts a stay: login first when the member has no token yet. */
static void churn_start(struct churn *c, struct member *m)
{
	if (m->token[0] == '\0')
		churn_send_challenge(c, m);
	else
		churn_send_join(c, m);
}

static void churn_leave(struct churn *c, struct member *m)
{
	char path[96];

	/* The event stream and the hop session go first, as with a client that quits. */
	churn_close(&m->poll);
	if (m->udp.http.fd >= 0)
		churn_close(&m->udp);
	snprintf(path, sizeof(path), "/v1/rooms/%llu/leave", (unsigned long long)c->room);
	m->state = M_LEAVE;
	churn_request(c, &m->api, "POST", path, m->token, NULL);
}

/* Opens the stay's hop session with the relay named in the join answer. */
static int churn_hop_start(struct churn *c, struct member *m, json_t *answer)
{
	json_t *relay = json_object_get(answer, "relay");
	const char *address = json_string_value(json_object_get(relay, "address"));
	const char *public = json_string_value(json_object_get(relay, "public_key"));
	const char *ticket_text = json_string_value(json_object_get(answer, "ticket"));
	uint8_t relay_public[32], ticket[WIRE_TICKET_LEN];
	struct sockaddr_in addr = {.sin_family = AF_INET};
	const char *colon = address ? strrchr(address, ':') : NULL;
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &m->udp};
	char host[64];
	int fd;

	if (colon == NULL || public == NULL || ticket_text == NULL ||
	    (size_t)(colon - address) >= sizeof(host) ||
	    base64_decode(relay_public, sizeof(relay_public), public) != 0 ||
	    base64_decode(ticket, sizeof(ticket), ticket_text) != 0)
		return -EPROTO;
	memcpy(host, address, (size_t)(colon - address));
	host[colon - address] = '\0';
	addr.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &addr.sin_addr) != 1)
		return -EPROTO;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		fatal("churn-tool: socket: %s", strerror(errno));
	if (connect(fd, (const struct sockaddr *)&addr, sizeof(addr)) < 0)
		fatal("churn-tool: connect: %s", strerror(errno));
	m->udp.http.fd = fd;
	m->udp.http.connected = true;
	if (epoll_ctl(c->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0)
		fatal("churn-tool: epoll_ctl: %s", strerror(errno));
	if (hop_initiator_start(&m->init, relay_public, ticket, randombytes_random(),
				m->init_msg) != 0)
		return -EPROTO;
	(void)send(fd, m->init_msg, sizeof(m->init_msg), 0);
	m->hop_up = m->hop_key = false;
	m->hop_resend_ms = util_now_ms() + 250;
	m->hop_deadline_ms = util_now_ms() + CHURN_HOP_DEADLINE_MS;
	c->hop_attempts++;
	return 0;
}

static void churn_hop_datagram(struct churn *c, struct member *m)
{
	uint8_t buf[WIRE_MAX_DATAGRAM], pt[WIRE_MAX_DATAGRAM];
	struct wire_datagram d;
	struct wire_inner in;
	size_t pt_len;
	ssize_t n;

	while ((n = recv(m->udp.http.fd, buf, sizeof(buf), 0)) > 0) {
		if (wire_parse(buf, (size_t)n, &d) != 0)
			continue;
		if (d.type == WIRE_HANDSHAKE_RESP && !m->hop_up) {
			if (hop_initiator_finish(&m->init, &d, &m->session) == 0)
				m->hop_up = true;
			continue;
		}
		if (d.type != WIRE_TRANSPORT || !m->hop_up ||
		    hop_open(&m->session, &d, pt, sizeof(pt), &pt_len) != 0 ||
		    wire_inner_parse(pt, pt_len, &in) != 0)
			continue;
		if (in.type == WIRE_INNER_DOWNLINK_KEY && !m->hop_key) {
			m->hop_key = true;
			c->hop_ok++;
		}
		sodium_memzero(pt, sizeof(pt));
	}
}

/* One whole answer on a member's API connection. */
static void churn_api_answer(struct churn *c, struct member *m, int status, json_t *body,
			     const char *text)
{
	const char *value;
	uint8_t nonce[32];

	switch (m->state) {
	case M_CHALLENGE:
		value = json_string_value(json_object_get(body, "nonce"));
		if (status != 200 || value == NULL || base64_decode(nonce, 32, value) != 0)
			break;
		churn_send_login(c, m, nonce);
		return;
	case M_LOGIN:
		value = json_string_value(json_object_get(body, "token"));
		if (status != 200 || value == NULL || strlen(value) >= sizeof(m->token))
			break;
		snprintf(m->token, sizeof(m->token), "%s", value);
		c->logins++;
		churn_send_join(c, m);
		return;
	case M_JOIN:
		if (status != 201)
			break;
		c->joins++;
		m->joins++;
		m->state = M_JOINED;
		m->leave_ms = util_now_ms() + CHURN_STAY_MIN_MS +
			      randombytes_uniform(CHURN_STAY_MAX_MS - CHURN_STAY_MIN_MS);
		m->stream = c->joins % 3 == 0;
		m->hop = c->joins % 4 == 0;
		if (m->hop && churn_hop_start(c, m, body) != 0) {
			churn_error(c, "member %zu: a join answer without a usable relay",
				    m->index);
			m->hop = false;
		}
		if (m->stream) {
			c->streams++;
			churn_send_poll(c, m);
		}
		return;
	case M_LEAVE:
		if (status != 204)
			break;
		c->leaves++;
		churn_close(&m->api);
		m->state = M_IDLE;
		m->ready_ms = util_now_ms() + CHURN_REST_MS;
		churn_queue_push(c, m);
		return;
	case M_IDLE:
	case M_JOINED:
		break;
	}
	churn_error(c, "member %zu (state %d): HTTP %d %s", m->index, (int)m->state, status,
		    text);
	/* Start over from a clean slate: leave if it may be in, then rest. */
	churn_close(&m->api);
	churn_close(&m->poll);
	churn_close(&m->udp);
	m->state = M_IDLE;
	m->ready_ms = util_now_ms() + CHURN_REST_MS;
	churn_queue_push(c, m);
}

static void churn_poll_answer(struct churn *c, struct member *m, int status, json_t *body,
			      const char *text)
{
	json_t *events = json_object_get(body, "events"), *event, *last;
	size_t i;

	last = json_object_get(body, "last_seq");
	if (status != 200 || !json_is_array(events) || !json_is_integer(last)) {
		churn_error(c, "member %zu: events: HTTP %d %s", m->index, status, text);
		churn_close(&m->poll);
		return;
	}
	m->last_seq = (uint64_t)json_integer_value(last);
	json_array_foreach(events, i, event) {
		const char *type = json_string_value(json_object_get(event, "type"));

		c->events++;
		if (type != NULL && strcmp(type, "key") == 0)
			c->keys++;
	}
	if (m->state == M_JOINED)
		churn_send_poll(c, m);
}

static void churn_conn_failed(struct churn *c, struct conn *conn)
{
	struct member *m = conn->member;

	if (conn->kind == CONN_API && m->state == M_IDLE) {
		/* An idle keep-alive connection the server closed: not an error. */
		churn_close(conn);
		return;
	}
	churn_error(c, "member %zu: connection (%s) lost in state %d", m->index,
		    conn->kind == CONN_API ? "api" : "events", (int)m->state);
	churn_close(conn);
	if (conn->kind == CONN_API) {
		churn_close(&m->poll);
		churn_close(&m->udp);
		m->state = M_IDLE;
		m->ready_ms = util_now_ms() + CHURN_REST_MS;
		churn_queue_push(c, m);
	}
}

/* One whole answer on a member's API or event stream connection. */
static void churn_answer(void *arg, struct http_conn *http, int status, const char *text,
			 size_t len)
{
	struct churn *c = arg;
	struct conn *conn = http->data;
	json_t *json = len > 0 ? json_loads(text, 0, NULL) : NULL;

	if (conn->kind == CONN_API)
		churn_api_answer(c, conn->member, status, json, text);
	else
		churn_poll_answer(c, conn->member, status, json, text);
	json_decref(json);
}

static void churn_conn_event(struct churn *c, struct conn *conn, uint32_t events)
{
	if (conn->http.fd < 0)
		return;
	if (conn->kind == CONN_UDP) {
		churn_hop_datagram(c, conn->member);
		return;
	}
	if (http_client_event(&conn->http, events, churn_answer, c) < 0)
		churn_conn_failed(c, conn);
}

/* Hop sessions: resend the first message until answered; keep the session alive. */
static void churn_hop_tick(struct member *m, uint64_t now)
{
	uint8_t inner[WIRE_MAX_INNER], out[WIRE_MAX_DATAGRAM];
	size_t out_len;

	if (m->udp.http.fd < 0 || now < m->hop_resend_ms)
		return;
	if (!m->hop_up) {
		(void)send(m->udp.http.fd, m->init_msg, sizeof(m->init_msg), 0);
		m->hop_resend_ms = now + 250;
		return;
	}
	if (hop_seal(&m->session, inner, wire_inner_write_keepalive(inner), out, sizeof(out),
		     &out_len) == 0)
		(void)send(m->udp.http.fd, out, out_len, 0);
	m->hop_resend_ms = now + 5000;
}

static size_t churn_busy(const struct churn *c)
{
	size_t busy = 0;

	for (size_t i = 0; i < c->count; i++)
		busy += c->members[i].state != M_IDLE;
	return busy;
}

static int churn_run(char **argv)
{
	struct churn c = {.queue_head = SIZE_MAX, .queue_tail = SIZE_MAX};
	uint64_t start = util_now_ms(), end, finish_deadline, last_ms;
	double rate = atof(argv[4]), tokens = 1;
	size_t joined = 0;
	struct rlimit lim;

	c.api.sin_family = AF_INET;
	c.api.sin_port = htons((uint16_t)atoi(argv[0]));
	c.api.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c.room = strtoull(argv[1], NULL, 10);
	end = start + (uint64_t)(atof(argv[2]) * 1000);
	c.count = strtoul(argv[3], NULL, 10);
	if (c.room == 0 || c.count == 0 || c.api.sin_port == 0 || !(rate > 0) || end <= start)
		fatal("churn-tool: bad arguments");
	/* Up to three descriptors a member (API, events, hop) besides the few of our own. */
	if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < 3 * c.count + 64) {
		lim.rlim_cur = lim.rlim_max < 3 * c.count + 64 ? lim.rlim_max : 3 * c.count + 64;
		(void)setrlimit(RLIMIT_NOFILE, &lim);
	}
	c.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (c.epoll_fd < 0)
		fatal("churn-tool: epoll: %s", strerror(errno));
	c.members = xcalloc(c.count, sizeof(*c.members));
	for (size_t i = 0; i < c.count; i++) {
		struct member *m = &c.members[i];

		m->index = i;
		crypto_sign_keypair(m->public_key, m->secret_key);
		m->api = (struct conn){.kind = CONN_API, .member = m, .http.fd = -1};
		m->poll = (struct conn){.kind = CONN_POLL, .member = m, .http.fd = -1};
		m->udp = (struct conn){.kind = CONN_UDP, .member = m, .http.fd = -1};
		m->ready_ms = start;
		churn_queue_push(&c, m);
	}
	last_ms = start;
	finish_deadline = end + CHURN_FINISH_DEADLINE_MS;
	for (;;) {
		struct epoll_event events[256];
		uint64_t now;
		int n = epoll_wait(c.epoll_fd, events, 256, 10);
		struct member *m;

		for (int i = 0; i < n; i++)
			churn_conn_event(&c, events[i].data.ptr, events[i].events);
		now = util_now_ms();
		if (now < end) {
			/* The token bucket: at most rate joins a second, bursts of one second. */
			tokens += (double)(now - last_ms) * rate / 1000.0;
			if (tokens > rate)
				tokens = rate;
			while (tokens >= 1 && (m = churn_queue_ready(&c, now)) != NULL) {
				tokens -= 1;
				churn_start(&c, m);
			}
		}
		last_ms = now;
		for (size_t i = 0; i < c.count; i++) {
			m = &c.members[i];
			if (m->state != M_JOINED)
				continue;
			churn_hop_tick(m, now);
			if (m->hop && !m->hop_key && now < m->hop_deadline_ms)
				continue; /* stays until the relay gave it the downlink key */
			if (m->hop && !m->hop_key) {
				churn_error(&c, "member %zu: no downlink key from the relay within"
					    " %d ms", m->index, CHURN_HOP_DEADLINE_MS);
				m->hop = false;
			}
			if (now >= m->leave_ms || now >= end)
				churn_leave(&c, m);
		}
		if (now >= end && churn_busy(&c) == 0)
			break;
		if (now >= finish_deadline) {
			churn_error(&c, "%zu members still busy %d s after the end", churn_busy(&c),
				    CHURN_FINISH_DEADLINE_MS / 1000);
			break;
		}
	}
	for (size_t i = 0; i < c.count; i++) {
		joined += c.members[i].joins > 0;
		churn_close(&c.members[i].api);
		churn_close(&c.members[i].poll);
		churn_close(&c.members[i].udp);
	}
	printf("churn: members %zu joined %zu joins %lu leaves %lu logins %lu streams %lu "
	       "events %lu keys %lu hop %lu/%lu errors %lu\n",
	       c.count, joined, c.joins, c.leaves, c.logins, c.streams, c.events, c.keys,
	       c.hop_ok, c.hop_attempts, c.errors);
	sodium_memzero(c.members, c.count * sizeof(*c.members));
	free(c.members);
	close(c.epoll_fd);
	if (joined < c.count)
		fprintf(stderr, "churn-tool: only %zu of %zu members joined\n", joined, c.count);
	return c.errors == 0 && joined == c.count && c.hop_ok == c.hop_attempts ? 0 : 1;
}

/* The recording analysis. */

static double churn_goertzel(const float *x, size_t n, double hz)
{
	double coeff = 2 * cos(2 * M_PI * hz / 48000.0), s1 = 0, s2 = 0;

	for (size_t i = 0; i < n; i++) {
		double s = x[i] + coeff * s1 - s2;

		s2 = s1;
		s1 = s;
	}
	return s1 * s1 + s2 * s2 - coeff * s1 * s2;
}

static int churn_gaps(int argc, char **argv)
{
	SF_INFO info = {0};
	SNDFILE *sf = sf_open(argv[0], SFM_READ, &info);
	unsigned window_ms = (unsigned)atoi(argv[1]);
	double min_db = atof(argv[2]);
	int tones = argc - 3;
	float *x, frame[8];
	size_t n = 0, first = 0, window;
	unsigned *heard, *gap, *longest, windows = 0, all = 0;

	if (sf == NULL)
		fatal("churn-tool: cannot read %s: %s", argv[0], sf_strerror(NULL));
	if (info.samplerate != 48000 || info.channels < 1 || info.channels > 8 || tones < 1 ||
	    window_ms < 20)
		fatal("churn-tool: %s: want 48 kHz, 1-8 channels, a window and tones", argv[0]);
	x = xcalloc((size_t)info.frames + 1, sizeof(*x));
	while (sf_readf_float(sf, frame, 1) == 1) {
		float sum = 0;

		for (int ch = 0; ch < info.channels; ch++)
			sum += frame[ch];
		x[n++] = sum / (float)info.channels;
	}
	sf_close(sf);
	while (first < n && fabsf(x[first]) < 0.01f)
		first++;
	window = 48 * (size_t)window_ms;
	heard = xcalloc((size_t)tones, sizeof(*heard));
	gap = xcalloc((size_t)tones, sizeof(*gap));
	longest = xcalloc((size_t)tones, sizeof(*longest));
	for (size_t at = first; at + window <= n; at += window) {
		double control = 0;
		bool every = true;

		windows++;
		/* Control frequencies: halfway between the tones, and beyond both ends. */
		for (int t = 0; t <= tones; t++) {
			double lo = t == 0 ? atof(argv[3]) * 0.6 : atof(argv[3 + t - 1]);
			double hi = t == tones ? atof(argv[3 + tones - 1]) * 1.4 : atof(argv[3 + t]);
			double p = churn_goertzel(x + at, window, (lo + hi) / 2);

			if (p > control)
				control = p;
		}
		for (int t = 0; t < tones; t++) {
			double p = churn_goertzel(x + at, window, atof(argv[3 + t]));

			if (p > control * pow(10, min_db / 10) && p > 0) {
				heard[t]++;
				gap[t] = 0;
			} else {
				every = false;
				gap[t] += window_ms;
				if (gap[t] > longest[t])
					longest[t] = gap[t];
			}
		}
		if (every)
			all++;
		else
			printf("  window at %.1f s: a tone is missing\n",
			       (double)(at - first) / 48000.0);
	}
	for (int t = 0; t < tones; t++)
		printf("%s Hz heard %u/%u longest_gap_ms %u\n", argv[3 + t], heard[t], windows,
		       longest[t]);
	printf("all tones heard in %u/%u windows of %u ms\n", all, windows, window_ms);
	free(x);
	free(heard);
	free(gap);
	free(longest);
	return windows > 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (sodium_init() < 0)
		fatal("churn-tool: sodium_init failed");
	if (argc == 7 && strcmp(argv[1], "run") == 0)
		return churn_run(argv + 2);
	if (argc >= 6 && strcmp(argv[1], "gaps") == 0)
		return churn_gaps(argc - 2, argv + 2);
	fprintf(stderr, "usage: churn-tool run API_PORT ROOM SECONDS MEMBERS RATE\n"
			"       churn-tool gaps REC WINDOW_MS MIN_DB HZ...\n");
	return 2;
}
