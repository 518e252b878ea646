/*
 * bench-crowd.c - salond's signaling under a crowd, on loopback.
 *
 * Starts a real salond (SALOND, default src/server/salond) on 127.0.0.1 port 0
 * with a temporary database and talks HTTP/1.1 to it over plain non-blocking
 * sockets with keep-alive, driven by one epoll loop (no libcurl, so that the
 * client side costs as little as possible on a machine shared with the server).
 *
 * Phases of one run (untimed ones are set-up; their rate is printed for interest):
 *   1. login      10,001 accounts (challenge + signed login), in chunks of 2,000
 *                 because salond keeps at most 4,096 challenges outstanding.
 *   2. join       10,000 listeners join one room through CONCURRENCY keep-alive
 *                 connections, as fast as the server answers. Timed: joins per
 *                 second, p50/p99 latency, errors.
 *   3. events     every listener holds a long-poll (GET /v1/events?wait=30) on its
 *                 own connection: 10,000 concurrent connections. Once they are all
 *                 parked (no answer for CROWD_QUIET_MS), the host invites a listener
 *                 to speak; timed: from the request until every one of the 10,000
 *                 streams has the member_updated event. Repeated STAGE_CHANGES times.
 *   4. list       10,000 more rooms are created by 50 accounts (salond runs with
 *                 --max-rooms 1000), then GET /v1/rooms is timed LIST_SAMPLES times
 *                 on one connection (each answer holds the 200 newest rooms).
 *
 * Targets (the project's benchmark issue): at least 1,000 joins/s, p99 join latency
 * at most 200 ms, zero errors; a stage change reaches all 10,000 event streams
 * within 1 s; listing 10,000 rooms p99 at most 20 ms.
 *
 * Usage: bench/bench-crowd [-r RUNS] [-n LISTENERS] [-c CONCURRENCY]
 * Exit status 0 when every target is met, 1 when one is missed, 2 on a setup error.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "encoding.h"
#include "http-client.h"
#include "util.h"

#define CROWD_ROOMS 10000
#define CROWD_ROOM_HOSTS 50
#define CROWD_LOGIN_CHUNK 2000
#define CROWD_STAGE_CHANGES 3
#define CROWD_LIST_SAMPLES 200
#define CROWD_LIST_EXPECTED 200
#define CROWD_WAVE 500
#define CROWD_QUIET_MS 2000
#define CROWD_PARK_DEADLINE_MS 60000
#define CROWD_STAGE_DEADLINE_MS 10000
#define CROWD_BATCH_DEADLINE_MS 120000
#define CROWD_MAX_RUNS 9

#define TARGET_JOIN_RATE 1000.0
#define TARGET_JOIN_P99_MS 200.0
#define TARGET_STAGE_MS 1000.0
#define TARGET_LIST_P99_MS 20.0

static size_t crowd_listeners = 10000;
static unsigned crowd_concurrency = 64;
static int crowd_runs = 3;

enum crowd_phase {
	PH_CHALLENGE,
	PH_LOGIN,
	PH_CREATE_CROWD,
	PH_JOIN,
	PH_STAGE,
	PH_CREATE_ROOMS,
	PH_LIST,
};

enum conn_kind {
	CONN_BATCH,
	CONN_POLL,
};

struct crowd_user {
	uint8_t public_key[32];
	uint8_t secret_key[64];
	uint8_t nonce[32];
	char token[64];
	uint64_t id;
	uint64_t last_seq;
	uint64_t stage_ns; /* when the awaited stage change arrived; 0: not yet */
};

struct conn {
	struct http_conn http; /* tests/http-client.c */
	enum conn_kind kind;
	bool dead;
	size_t user; /* CONN_POLL: the listener (index in users) */
	size_t item; /* CONN_BATCH: the item in progress */
	uint64_t sent_ns;
};

struct crowd {
	int epoll_fd;
	struct sockaddr_in api;
	struct crowd_user *users; /* 0: the host of the crowd room; 1..N listeners */
	size_t user_count;
	uint64_t room_id;

	/* The batch in progress. */
	enum crowd_phase phase;
	size_t base, count, next, done;
	unsigned errors;
	double *latency_ms;
	struct conn *pool;
	size_t pool_size;

	/* The event streams. */
	struct conn *polls;
	size_t poll_count;
	uint64_t poll_answers, poll_errors, last_answer_ns;
	uint64_t stage_target; /* user id whose promotion is awaited */
	size_t stage_seen;
};

static uint64_t crowd_now_ns(void)
{
	return util_now_ns();
}

static uint64_t crowd_start_ns;

/* A progress line on stderr, stamped with the seconds since the start. */
static void crowd_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void crowd_note(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "bench-crowd: [%6.1f s] ", (double)(crowd_now_ns() - crowd_start_ns) / 1e9);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int crowd_compare(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The p-quantile (0..1) of values, by the nearest-rank method; sorts values. */
static double crowd_quantile(double *values, size_t count, double p)
{
	size_t rank;

	if (count == 0)
		return 0;
	qsort(values, count, sizeof(*values), crowd_compare);
	rank = (size_t)(p * (double)count + 0.999999);
	if (rank == 0)
		rank = 1;
	if (rank > count)
		rank = count;
	return values[rank - 1];
}

static double crowd_median(const double *values, int count)
{
	double sorted[CROWD_MAX_RUNS];

	memcpy(sorted, values, (size_t)count * sizeof(*values));
	qsort(sorted, (size_t)count, sizeof(*sorted), crowd_compare);
	if (count % 2 == 1)
		return sorted[count / 2];
	return (sorted[count / 2 - 1] + sorted[count / 2]) / 2;
}

/* HTTP (tests/http-client.c). */

static void crowd_conn_request(struct conn *conn, const char *method, const char *path,
			       const char *token, const char *body)
{
	if (http_client_request(&conn->http, method, path, token, body) < 0)
		fatal("request too long");
	conn->sent_ns = crowd_now_ns();
}

static int crowd_conn_open(struct crowd *c, struct conn *conn, enum conn_kind kind)
{
	conn->kind = kind;
	conn->dead = false;
	return http_client_open(&conn->http, c->epoll_fd, &c->api, conn);
}

static void crowd_conn_close(struct conn *conn)
{
	http_client_close(&conn->http);
	conn->dead = true;
}

/* Batches: every request of a phase. */

static struct crowd_user *crowd_item_user(struct crowd *c, size_t item)
{
	switch (c->phase) {
	case PH_CREATE_ROOMS:
		return &c->users[1 + item % CROWD_ROOM_HOSTS];
	case PH_LIST:
		return &c->users[1 + item % (c->user_count - 1)];
	case PH_JOIN:
		return &c->users[1 + item];
	case PH_CREATE_CROWD:
	case PH_STAGE:
		return &c->users[0];
	case PH_CHALLENGE:
	case PH_LOGIN:
	default:
		return &c->users[item];
	}
}

static void crowd_build(struct crowd *c, struct conn *conn, size_t item)
{
	struct crowd_user *u = crowd_item_user(c, item);
	char key[64], nonce[64], sig_text[128], path[128], body[512];
	uint8_t message[15 + 32 + 32], sig[64];

	base64_encode(key, u->public_key, 32);
	switch (c->phase) {
	case PH_CHALLENGE:
		snprintf(body, sizeof(body), "{\"public_key\":\"%s\",\"name\":\"crowd%zu\"}",
			 key, item);
		crowd_conn_request(conn, "POST", "/v1/auth/challenge", NULL, body);
		return;
	case PH_LOGIN:
		memcpy(message, "salon-login-v1", 15); /* with its NUL */
		memcpy(message + 15, u->nonce, 32);
		memcpy(message + 47, u->public_key, 32);
		crypto_sign_detached(sig, NULL, message, sizeof(message), u->secret_key);
		base64_encode(nonce, u->nonce, 32);
		base64_encode(sig_text, sig, 64);
		snprintf(body, sizeof(body),
			 "{\"nonce\":\"%s\",\"public_key\":\"%s\",\"signature\":\"%s\"}", nonce,
			 key, sig_text);
		crowd_conn_request(conn, "POST", "/v1/auth/login", NULL, body);
		return;
	case PH_CREATE_CROWD:
		crowd_conn_request(conn, "POST", "/v1/rooms", u->token, "{\"title\":\"crowd\"}");
		return;
	case PH_JOIN:
		snprintf(path, sizeof(path), "/v1/rooms/%llu/join",
			 (unsigned long long)c->room_id);
		crowd_conn_request(conn, "POST", path, u->token, "{}");
		return;
	case PH_STAGE:
		snprintf(path, sizeof(path), "/v1/rooms/%llu/members/%llu/role",
			 (unsigned long long)c->room_id, (unsigned long long)c->stage_target);
		crowd_conn_request(conn, "POST", path, u->token, "{\"role\":\"speaker\"}");
		return;
	case PH_CREATE_ROOMS:
		snprintf(body, sizeof(body), "{\"title\":\"room %zu\",\"topic\":\"bench\"}", item);
		crowd_conn_request(conn, "POST", "/v1/rooms", u->token, body);
		return;
	case PH_LIST:
		crowd_conn_request(conn, "GET", "/v1/rooms", u->token, NULL);
		return;
	}
}

/* Checks one answer of a batch; returns 0 when it is the expected one. */
static int crowd_done(struct crowd *c, size_t item, int status, json_t *body)
{
	struct crowd_user *u = crowd_item_user(c, item);
	const char *text;
	json_t *value;

	switch (c->phase) {
	case PH_CHALLENGE:
		text = json_string_value(json_object_get(body, "nonce"));
		if (status != 200 || text == NULL || base64_decode(u->nonce, 32, text) < 0)
			return -1;
		return 0;
	case PH_LOGIN:
		text = json_string_value(json_object_get(body, "token"));
		value = json_object_get(json_object_get(body, "user"), "id");
		if (status != 200 || text == NULL || strlen(text) >= sizeof(u->token) ||
		    !json_is_integer(value))
			return -1;
		snprintf(u->token, sizeof(u->token), "%s", text);
		u->id = (uint64_t)json_integer_value(value);
		return 0;
	case PH_CREATE_CROWD:
		value = json_object_get(body, "id");
		if (status != 201 || !json_is_integer(value))
			return -1;
		c->room_id = (uint64_t)json_integer_value(value);
		return 0;
	case PH_JOIN:
		return status == 201 && json_object_get(body, "ticket") != NULL ? 0 : -1;
	case PH_STAGE:
		return status == 200 ? 0 : -1;
	case PH_CREATE_ROOMS:
		return status == 201 ? 0 : -1;
	case PH_LIST:
		value = json_object_get(body, "rooms");
		return status == 200 && json_array_size(value) == CROWD_LIST_EXPECTED ? 0 : -1;
	}
	return -1;
}

static void crowd_batch_next(struct crowd *c, struct conn *conn)
{
	if (c->next >= c->count) {
		conn->http.busy = false;
		return;
	}
	conn->item = c->next++;
	crowd_build(c, conn, c->base + conn->item);
}

static void crowd_poll_send(struct crowd *c, struct conn *conn)
{
	char path[96];

	snprintf(path, sizeof(path), "/v1/events?after=%llu&wait=30",
		 (unsigned long long)c->users[conn->user].last_seq);
	crowd_conn_request(conn, "GET", path, c->users[conn->user].token, NULL);
}

static void crowd_poll_answer(struct crowd *c, struct conn *conn, int status, json_t *body)
{
	struct crowd_user *u = &c->users[conn->user];
	json_t *events = json_object_get(body, "events"), *event, *last;
	size_t i;

	c->poll_answers++;
	c->last_answer_ns = crowd_now_ns();
	last = json_object_get(body, "last_seq");
	if (status != 200 || !json_is_array(events) || !json_is_integer(last)) {
		c->poll_errors++;
		return;
	}
	u->last_seq = (uint64_t)json_integer_value(last);
	json_array_foreach(events, i, event) {
		json_t *member = json_object_get(event, "member");
		const char *type = json_string_value(json_object_get(event, "type"));
		const char *role = json_string_value(json_object_get(member, "role"));

		if (c->stage_target == 0 || u->stage_ns != 0 || type == NULL || role == NULL ||
		    strcmp(type, "member_updated") != 0 || strcmp(role, "speaker") != 0 ||
		    (uint64_t)json_integer_value(json_object_get(member, "user_id")) !=
			    c->stage_target)
			continue;
		u->stage_ns = c->last_answer_ns;
		c->stage_seen++;
	}
}

/* A connection failed or the server closed it. */
static void crowd_conn_failed(struct crowd *c, struct conn *conn)
{
	if (conn->kind == CONN_POLL) {
		c->poll_errors++;
		crowd_conn_close(conn);
		return;
	}
	/* The batch item in progress failed; carry on over a new connection. */
	if (conn->http.busy) {
		c->errors++;
		c->done++;
	}
	crowd_conn_close(conn);
	if (crowd_conn_open(c, conn, CONN_BATCH) < 0)
		fatal("cannot reconnect to salond");
	crowd_batch_next(c, conn);
}

/* One whole answer on conn (an http_client_answer_fn). */
static void crowd_conn_answer(void *arg, struct http_conn *http, int status, const char *text,
			      size_t len)
{
	struct crowd *c = arg;
	struct conn *conn = http->data;
	json_t *body = len > 0 ? json_loadb(text, len, 0, NULL) : NULL;

	if (conn->kind == CONN_POLL) {
		crowd_poll_answer(c, conn, status, body);
		json_decref(body);
		crowd_poll_send(c, conn);
		return;
	}
	if (c->latency_ms != NULL)
		c->latency_ms[conn->item] = (double)(crowd_now_ns() - conn->sent_ns) / 1e6;
	if (crowd_done(c, c->base + conn->item, status, body) < 0) {
		if (c->errors++ < 5)
			fprintf(stderr, "bench-crowd: phase %d item %zu: HTTP %d %.*s\n",
				(int)c->phase, c->base + conn->item, status, (int)len, text);
	}
	json_decref(body);
	c->done++;
	crowd_batch_next(c, conn);
}

static void crowd_conn_event(struct crowd *c, struct conn *conn, uint32_t events)
{
	if (conn->dead)
		return;
	if (http_client_event(&conn->http, events, crowd_conn_answer, c) < 0)
		crowd_conn_failed(c, conn);
}

/* Runs the loop for at most timeout_ms. */
static void crowd_step(struct crowd *c, int timeout_ms)
{
	struct epoll_event events[256];
	int n = epoll_wait(c->epoll_fd, events, 256, timeout_ms);

	for (int i = 0; i < n; i++)
		crowd_conn_event(c, events[i].data.ptr, events[i].events);
}

/*
 * Runs count items of phase (items base .. base + count - 1) through concurrency
 * keep-alive connections. Fills latency_ms[i] when not NULL. Returns the number of
 * errors, or -ETIMEDOUT.
 */
static int crowd_batch(struct crowd *c, enum crowd_phase phase, size_t base, size_t count,
		       unsigned concurrency, double *latency_ms)
{
	uint64_t deadline = util_now_ms() + CROWD_BATCH_DEADLINE_MS;

	if (concurrency > c->pool_size)
		concurrency = (unsigned)c->pool_size;
	c->phase = phase;
	c->base = base;
	c->count = count;
	c->next = c->done = 0;
	c->errors = 0;
	c->latency_ms = latency_ms;
	for (unsigned i = 0; i < concurrency && c->next < count; i++)
		crowd_batch_next(c, &c->pool[i]);
	while (c->done < count) {
		if (util_now_ms() >= deadline)
			return -ETIMEDOUT;
		crowd_step(c, 100);
	}
	c->latency_ms = NULL;
	return (int)c->errors;
}

/* The server. */

struct crowd_server {
	pid_t pid;
	char dir[64];
	uint16_t port;
};

static int crowd_server_start(struct crowd_server *s)
{
	const char *salond = getenv("SALOND");
	char db[128], ports[128], line[256];
	uint64_t deadline = util_now_ms() + 10000;
	FILE *f;

	if (salond == NULL)
		salond = "src/server/salond";
	snprintf(s->dir, sizeof(s->dir), "/tmp/bench-crowd.XXXXXX");
	if (mkdtemp(s->dir) == NULL)
		return -errno;
	snprintf(db, sizeof(db), "%s/salond.db", s->dir);
	snprintf(ports, sizeof(ports), "%s/ports", s->dir);
	fflush(stdout);
	s->pid = fork();
	if (s->pid < 0)
		return -errno;
	if (s->pid == 0) {
		/* salond goes when the bench goes, even when the bench is killed. */
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0)
			_exit(127);
		/* Its port lines on stdout are not news here; errors still show. */
		if (freopen("/dev/null", "w", stdout) == NULL)
			_exit(127);
		execl(salond, "salond", "--listen", "127.0.0.1:0", "--relay", "127.0.0.1:0", "--db",
		      db, "--port-file", ports, "--max-rooms", "1000", "--login-burst",
		      "1000000", "-q", (char *)NULL);
		fprintf(stderr, "bench-crowd: cannot run %s: %s\n", salond, strerror(errno));
		_exit(127);
	}
	/* Wait for the port file (salond writes it atomically once it listens). */
	for (;;) {
		int status;

		f = fopen(ports, "r");
		if (f != NULL)
			break;
		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			s->pid = 0;
			return -ECHILD;
		}
		if (util_now_ms() >= deadline)
			return -ETIMEDOUT;
		(void)poll(NULL, 0, 10);
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		const char *colon = strrchr(line, ':');

		if (strncmp(line, "api http://127.0.0.1:", 21) == 0 && colon != NULL)
			s->port = (uint16_t)atoi(colon + 1);
	}
	fclose(f);
	return s->port != 0 ? 0 : -EPROTO;
}

static void crowd_server_stop(struct crowd_server *s)
{
	char path[160];
	uint64_t deadline = util_now_ms() + 10000;
	int status;

	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		while (waitpid(s->pid, &status, WNOHANG) == 0) {
			if (util_now_ms() >= deadline) {
				kill(s->pid, SIGKILL);
				waitpid(s->pid, &status, 0);
				break;
			}
			(void)poll(NULL, 0, 20);
		}
	}
	static const char *const files[] = {"salond.db", "salond.db-wal", "salond.db-shm",
					    "ports"};
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		snprintf(path, sizeof(path), "%s/%s", s->dir, files[i]);
		unlink(path);
	}
	rmdir(s->dir);
}

/* One run. */

struct crowd_result {
	double login_rate;
	double join_rate, join_p50, join_p99;
	int join_errors;
	size_t polls_open;
	uint64_t poll_errors;
	double stage_ms[CROWD_STAGE_CHANGES], stage_p50[CROWD_STAGE_CHANGES];
	size_t stage_reached[CROWD_STAGE_CHANGES];
	int stage_errors;
	double create_rate;
	double list_p50, list_p99;
	int list_errors;
	bool setup_ok;
};

static size_t crowd_polls_alive(const struct crowd *c)
{
	size_t alive = 0;

	for (size_t i = 0; i < c->poll_count; i++)
		alive += !c->polls[i].dead;
	return alive;
}

/* Waits until every event stream is parked: no answer for CROWD_QUIET_MS. */
static bool crowd_wait_parked(struct crowd *c)
{
	uint64_t deadline = util_now_ms() + CROWD_PARK_DEADLINE_MS;

	for (;;) {
		bool all_sent = true;

		for (size_t i = 0; i < c->poll_count && all_sent; i++) {
			const struct http_conn *http = &c->polls[i].http;

			all_sent = c->polls[i].dead ||
				   (http->connected && http->out_off == http->out_len);
		}
		if (all_sent && crowd_now_ns() - c->last_answer_ns >=
					(uint64_t)CROWD_QUIET_MS * 1000000)
			return true;
		if (util_now_ms() >= deadline) {
			fprintf(stderr, "bench-crowd: %llu answers, %llu stream errors, %zu open\n",
				(unsigned long long)c->poll_answers,
				(unsigned long long)c->poll_errors, crowd_polls_alive(c));
			return false;
		}
		crowd_step(c, 50);
	}
}

static int crowd_open_polls(struct crowd *c)
{
	c->poll_count = c->user_count - 1;
	c->polls = xcalloc(c->poll_count, sizeof(*c->polls));
	c->last_answer_ns = crowd_now_ns();
	for (size_t base = 0; base < c->poll_count; base += CROWD_WAVE) {
		size_t end = base + CROWD_WAVE < c->poll_count ? base + CROWD_WAVE : c->poll_count;
		uint64_t deadline = util_now_ms() + 10000;
		bool all;

		for (size_t i = base; i < end; i++) {
			struct conn *conn = &c->polls[i];
			int err;

			conn->user = i + 1;
			err = crowd_conn_open(c, conn, CONN_POLL);
			if (err < 0) {
				fprintf(stderr, "bench-crowd: event stream %zu: socket: %s\n", i,
					strerror(-err));
				return -1;
			}
			crowd_poll_send(c, conn);
		}
		/* Next wave once this one is connected, to stay within the backlog. */
		do {
			all = true;
			crowd_step(c, 20);
			for (size_t i = base; i < end && all; i++)
				all = c->polls[i].http.connected || c->polls[i].dead;
		} while (!all && util_now_ms() < deadline);
	}
	return 0;
}

static void crowd_close_polls(struct crowd *c)
{
	for (size_t i = 0; i < c->poll_count; i++)
		if (!c->polls[i].dead)
			crowd_conn_close(&c->polls[i]);
	free(c->polls);
	c->polls = NULL;
	c->poll_count = 0;
}


static void crowd_stage_change(struct crowd *c, int round, struct crowd_result *res)
{
	size_t listeners = c->user_count - 1;
	double *arrival = xcalloc(listeners, sizeof(*arrival));
	uint64_t start, deadline;
	int errors;

	for (size_t i = 0; i < c->user_count; i++)
		c->users[i].stage_ns = 0;
	c->stage_seen = 0;
	c->stage_target = c->users[1 + (size_t)round].id;
	start = crowd_now_ns();
	errors = crowd_batch(c, PH_STAGE, 0, 1, 1, NULL);
	res->stage_errors += errors != 0;
	deadline = util_now_ms() + CROWD_STAGE_DEADLINE_MS;
	while (c->stage_seen < listeners && util_now_ms() < deadline)
		crowd_step(c, 20);
	for (size_t i = 0; i < listeners; i++) {
		uint64_t at = c->users[1 + i].stage_ns;

		arrival[i] = at != 0 ? (double)(at - start) / 1e6 : 1e9;
	}
	res->stage_reached[round] = c->stage_seen;
	res->stage_p50[round] = crowd_quantile(arrival, listeners, 0.5);
	res->stage_ms[round] = crowd_quantile(arrival, listeners, 1.0);
	c->stage_target = 0;
	free(arrival);
}

static int crowd_run(struct crowd_result *res)
{
	struct crowd_server server = {0};
	struct crowd c;
	size_t listeners = crowd_listeners;
	double *latency = xcalloc(listeners > CROWD_ROOMS ? listeners : CROWD_ROOMS,
				  sizeof(*latency));
	uint64_t t0;
	int ret = -1, errors;

	memset(res, 0, sizeof(*res));
	memset(&c, 0, sizeof(c));
	if (crowd_server_start(&server) < 0) {
		fprintf(stderr, "bench-crowd: cannot start salond (SALOND=%s)\n",
			getenv("SALOND") ? getenv("SALOND") : "src/server/salond");
		goto out;
	}
	c.api.sin_family = AF_INET;
	c.api.sin_port = htons(server.port);
	c.api.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	c.user_count = listeners + 1;
	c.users = xcalloc(c.user_count, sizeof(*c.users));
	for (size_t i = 0; i < c.user_count; i++)
		crypto_sign_keypair(c.users[i].public_key, c.users[i].secret_key);
	c.pool_size = crowd_concurrency;
	c.pool = xcalloc(c.pool_size, sizeof(*c.pool));
	for (size_t i = 0; i < c.pool_size; i++)
		if (crowd_conn_open(&c, &c.pool[i], CONN_BATCH) < 0)
			goto out;

	/* 1. Logins (set-up). */
	t0 = crowd_now_ns();
	for (size_t base = 0; base < c.user_count; base += CROWD_LOGIN_CHUNK) {
		size_t n = c.user_count - base < CROWD_LOGIN_CHUNK ? c.user_count - base :
								      CROWD_LOGIN_CHUNK;

		if (crowd_batch(&c, PH_CHALLENGE, base, n, crowd_concurrency, NULL) != 0 ||
		    crowd_batch(&c, PH_LOGIN, base, n, crowd_concurrency, NULL) != 0) {
			fprintf(stderr, "bench-crowd: logins failed\n");
			goto out;
		}
	}
	res->login_rate = (double)c.user_count / ((double)(crowd_now_ns() - t0) / 1e9);
	crowd_note("%zu logins done", c.user_count);
	if (crowd_batch(&c, PH_CREATE_CROWD, 0, 1, 1, NULL) != 0) {
		fprintf(stderr, "bench-crowd: cannot create the crowd room\n");
		goto out;
	}

	/* 2. Joins (timed). */
	t0 = crowd_now_ns();
	errors = crowd_batch(&c, PH_JOIN, 0, listeners, crowd_concurrency, latency);
	res->join_rate = (double)listeners / ((double)(crowd_now_ns() - t0) / 1e9);
	res->join_errors = errors < 0 ? (int)listeners : errors;
	res->join_p50 = crowd_quantile(latency, listeners, 0.5);
	res->join_p99 = crowd_quantile(latency, listeners, 0.99);
	crowd_note("%zu joins done, %d errors", listeners, res->join_errors);

	/* 3. Event streams and stage changes. */
	if (crowd_open_polls(&c) < 0)
		goto out;
	crowd_note("%zu event streams opened", c.poll_count);
	for (int round = 0; round < CROWD_STAGE_CHANGES; round++) {
		if (!crowd_wait_parked(&c))
			fprintf(stderr, "bench-crowd: event streams never went quiet\n");
		if (round == 0)
			res->polls_open = crowd_polls_alive(&c);
		crowd_note("%zu event streams parked", crowd_polls_alive(&c));
		crowd_stage_change(&c, round, res);
		crowd_note("stage change %d reached %zu streams", round + 1,
			   res->stage_reached[round]);
	}
	res->poll_errors = c.poll_errors;
	crowd_close_polls(&c);

	/* 4. Rooms: create (set-up), then list (timed, one connection, unloaded). */
	t0 = crowd_now_ns();
	if (crowd_batch(&c, PH_CREATE_ROOMS, 0, CROWD_ROOMS, crowd_concurrency, NULL) != 0) {
		fprintf(stderr, "bench-crowd: creating rooms failed\n");
		goto out;
	}
	res->create_rate = (double)CROWD_ROOMS / ((double)(crowd_now_ns() - t0) / 1e9);
	crowd_note("%d rooms created", CROWD_ROOMS);
	errors = crowd_batch(&c, PH_LIST, 0, CROWD_LIST_SAMPLES, 1, latency);
	res->list_errors = errors < 0 ? CROWD_LIST_SAMPLES : errors;
	res->list_p50 = crowd_quantile(latency, CROWD_LIST_SAMPLES, 0.5);
	res->list_p99 = crowd_quantile(latency, CROWD_LIST_SAMPLES, 0.99);
	res->setup_ok = true;
	ret = 0;
out:
	if (c.polls != NULL)
		crowd_close_polls(&c);
	for (size_t i = 0; c.pool != NULL && i < c.pool_size; i++)
		if (!c.pool[i].dead && c.pool[i].http.fd > 0)
			crowd_conn_close(&c.pool[i]);
	free(c.pool);
	if (c.users != NULL)
		sodium_memzero(c.users, c.user_count * sizeof(*c.users));
	free(c.users);
	if (c.epoll_fd > 0)
		close(c.epoll_fd);
	free(latency);
	crowd_server_stop(&server);
	return ret;
}

static int crowd_raise_fd_limit(rlim_t want)
{
	struct rlimit limit;

	if (getrlimit(RLIMIT_NOFILE, &limit) < 0)
		return -errno;
	if (limit.rlim_cur >= want)
		return 0;
	if (limit.rlim_max < want)
		limit.rlim_max = want; /* allowed as root; otherwise setrlimit refuses */
	limit.rlim_cur = want;
	return setrlimit(RLIMIT_NOFILE, &limit) < 0 ? -errno : 0;
}

static const char *crowd_verdict(bool ok)
{
	return ok ? "PASS" : "FAIL";
}

int main(int argc, char **argv)
{
	struct crowd_result results[CROWD_MAX_RUNS];
	double v[CROWD_MAX_RUNS], stage_worst[CROWD_MAX_RUNS];
	double join_rate, join_p99, stage, list_p99;
	int opt, join_errors = 0, list_errors = 0, stage_errors = 0;
	size_t stage_missing = 0;
	bool ok, all_ok = true;

	while ((opt = getopt(argc, argv, "r:n:c:")) != -1) {
		switch (opt) {
		case 'r':
			crowd_runs = atoi(optarg);
			if (crowd_runs < 1 || crowd_runs > CROWD_MAX_RUNS)
				goto usage;
			break;
		case 'n':
			crowd_listeners = (size_t)atol(optarg);
			if (crowd_listeners < CROWD_ROOM_HOSTS || crowd_listeners > 15000)
				goto usage;
			break;
		case 'c':
			crowd_concurrency = (unsigned)atoi(optarg);
			if (crowd_concurrency < 1 || crowd_concurrency > 1024)
				goto usage;
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc)
		goto usage;
	if (sodium_init() < 0)
		return 2;
	crowd_start_ns = crowd_now_ns();
	signal(SIGPIPE, SIG_IGN);
	/* Both this process and salond (which inherits it) hold one fd per stream. */
	if (crowd_raise_fd_limit((rlim_t)crowd_listeners + crowd_concurrency + 512) < 0) {
		fprintf(stderr, "bench-crowd: cannot raise RLIMIT_NOFILE to %zu: %s\n",
			crowd_listeners + crowd_concurrency + 512, strerror(errno));
		return 2;
	}
	printf("bench-crowd: %zu listeners, %u concurrent connections for requests, "
	       "%d run(s) (medians)\n", crowd_listeners, crowd_concurrency, crowd_runs);
	for (int r = 0; r < crowd_runs; r++) {
		struct crowd_result *res = &results[r];
		double worst = 0;

		if (crowd_run(res) < 0)
			return 2;
		for (int k = 0; k < CROWD_STAGE_CHANGES; k++) {
			if (res->stage_ms[k] > worst)
				worst = res->stage_ms[k];
			stage_missing += crowd_listeners - res->stage_reached[k];
		}
		stage_worst[r] = worst;
		join_errors += res->join_errors;
		list_errors += res->list_errors;
		stage_errors += res->stage_errors;
		printf("  run %d: logins %.0f/s (set-up); joins %.0f/s, p50 %.1f ms, p99 %.1f ms, "
		       "%d errors; %zu event streams open, %llu stream errors; stage change "
		       "reached all in", r + 1, res->login_rate, res->join_rate, res->join_p50,
		       res->join_p99, res->join_errors, res->polls_open,
		       (unsigned long long)res->poll_errors);
		for (int k = 0; k < CROWD_STAGE_CHANGES; k++) {
			if (res->stage_reached[k] < crowd_listeners)
				printf(" never (%zu reached in %d ms)", res->stage_reached[k],
				       CROWD_STAGE_DEADLINE_MS);
			else
				printf(" %.0f ms (p50 %.0f ms)", res->stage_ms[k],
				       res->stage_p50[k]);
		}
		printf("; rooms created %.0f/s (set-up); list p50 %.2f ms, p99 %.2f ms\n",
		       res->create_rate, res->list_p50, res->list_p99);
		fflush(stdout);
	}
	for (int r = 0; r < crowd_runs; r++)
		v[r] = results[r].join_rate;
	join_rate = crowd_median(v, crowd_runs);
	for (int r = 0; r < crowd_runs; r++)
		v[r] = results[r].join_p99;
	join_p99 = crowd_median(v, crowd_runs);
	stage = crowd_median(stage_worst, crowd_runs);
	for (int r = 0; r < crowd_runs; r++)
		v[r] = results[r].list_p99;
	list_p99 = crowd_median(v, crowd_runs);

	ok = join_rate >= TARGET_JOIN_RATE;
	all_ok &= ok;
	printf("target: joins >= %.0f/s: %.0f/s %s\n", TARGET_JOIN_RATE, join_rate,
	       crowd_verdict(ok));
	ok = join_p99 <= TARGET_JOIN_P99_MS;
	all_ok &= ok;
	printf("target: join p99 <= %.0f ms: %.1f ms %s\n", TARGET_JOIN_P99_MS, join_p99,
	       crowd_verdict(ok));
	ok = join_errors == 0;
	all_ok &= ok;
	printf("target: zero join errors: %d %s\n", join_errors, crowd_verdict(ok));
	ok = stage <= TARGET_STAGE_MS && stage_missing == 0 && stage_errors == 0;
	all_ok &= ok;
	printf("target: stage change reaches all %zu event streams within %.0f ms: "
	       "%.0f ms (worst of %d changes, median of runs), %zu missed %s\n",
	       crowd_listeners, TARGET_STAGE_MS, stage, CROWD_STAGE_CHANGES, stage_missing,
	       crowd_verdict(ok));
	ok = list_p99 <= TARGET_LIST_P99_MS && list_errors == 0;
	all_ok &= ok;
	printf("target: listing %d rooms p99 <= %.0f ms: %.2f ms, %d errors %s\n", CROWD_ROOMS,
	       TARGET_LIST_P99_MS, list_p99, list_errors, crowd_verdict(ok));
	printf("bench-crowd: %s\n", all_ok ? "all targets met" : "a target was missed");
	return all_ok ? 0 : 1;
usage:
	fprintf(stderr, "usage: %s [-r RUNS] [-n LISTENERS] [-c CONCURRENCY]\n", argv[0]);
	return 2;
}
