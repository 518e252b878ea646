/*
 * test-signaling.c - the client's API client (signaling.h) against a real salond:
 * login, requests and their errors, automatic re-login after the token is revoked,
 * the event stream, and the stream resuming exactly (nothing lost, nothing twice)
 * after salond is killed with SIGKILL and restarted on the same database and port,
 * with RECONNECTING reported meanwhile. No sleeps: everything waits on
 * signaling_poll() with a deadline.
 *
 * test_stream_connection_dies uses a scripted HTTP server (a thread on a loopback
 * socket) instead: it closes the stream's kept-alive connection under a long-poll,
 * as a server killed and restarted at once looks to a client that was not scheduled
 * meanwhile, and checks that the stream reports it (RECONNECTING, then RESUMED)
 * rather than letting libcurl send the request again on a new connection unseen.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "identity.h"
#include "salond-child.h"
#include "signaling.h"
#include "util.h"

#define DEADLINE_MS 10000

/* What a finished request left behind. */
struct answer {
	bool done;
	long status;
	char code[64];
	char transport[256];
	json_t *body;
};

static void answer_cb(void *arg, const struct signaling_result *result)
{
	struct answer *answer = arg;

	answer->done = true;
	answer->status = result->status;
	snprintf(answer->code, sizeof(answer->code), "%s", result->code ? result->code : "");
	snprintf(answer->transport, sizeof(answer->transport), "%s",
		 result->transport_error ? result->transport_error : "");
	json_decref(answer->body);
	answer->body = result->body != NULL ? json_incref(result->body) : NULL;
}

static void answer_clear(struct answer *answer)
{
	json_decref(answer->body);
	memset(answer, 0, sizeof(*answer));
}

/* Polls until *flag is true; fails the test at the deadline. */
static void run_until(struct signaling *signaling, const bool *flag, const char *what)
{
	uint64_t deadline = util_now_ms() + DEADLINE_MS;

	while (!*flag) {
		if (util_now_ms() > deadline)
			fail_msg("timed out waiting for %s", what);
		assert_int_equal(signaling_poll(signaling, NULL, 0, 100), 0);
	}
}

static void request(struct signaling *signaling, struct answer *answer, const char *method,
		    const char *path, json_t *body)
{
	answer_clear(answer);
	assert_true(signaling_request(signaling, method, path, body, 0, answer_cb, answer) > 0);
	json_decref(body);
	run_until(signaling, &answer->done, path);
}

/* The event stream's record of what it was handed. */
struct stream_log {
	uint64_t seqs[64];
	char texts[64][32];
	size_t count;
	unsigned reconnecting;
	unsigned last_in_ms;
	unsigned resumed;
};

static void stream_event(void *arg, json_t *event)
{
	struct stream_log *log = arg;
	json_t *text = json_object_get(event, "text");

	assert_true(log->count < 64);
	log->seqs[log->count] = (uint64_t)json_integer_value(json_object_get(event, "seq"));
	snprintf(log->texts[log->count], sizeof(log->texts[0]), "%s",
		 json_is_string(text) ? json_string_value(text)
				      : json_string_value(json_object_get(event, "type")));
	log->count++;
}

static void stream_reconnecting(void *arg, unsigned in_ms, const struct signaling_result *r)
{
	struct stream_log *log = arg;

	(void)r;
	log->reconnecting++;
	log->last_in_ms = in_ms;
}

static void stream_resumed(void *arg)
{
	struct stream_log *log = arg;

	log->resumed++;
}

static const struct signaling_stream_ops stream_ops = {
    .event = stream_event,
    .reconnecting = stream_reconnecting,
    .resumed = stream_resumed,
};

/* Polls until the stream has handed over count events. */
static void wait_events(struct signaling *signaling, struct stream_log *log, size_t count)
{
	uint64_t deadline = util_now_ms() + DEADLINE_MS;

	while (log->count < count) {
		if (util_now_ms() > deadline)
			fail_msg("timed out waiting for event %zu (have %zu)", count, log->count);
		assert_int_equal(signaling_poll(signaling, NULL, 0, 100), 0);
	}
}

static void chat(struct signaling *signaling, uint64_t room, const char *text)
{
	struct answer answer = {0};
	char path[64];

	snprintf(path, sizeof(path), "/v1/rooms/%" PRIu64 "/chat", room);
	request(signaling, &answer, "POST", path, json_pack("{s:s}", "text", text));
	assert_int_equal(answer.status, 204);
	answer_clear(&answer);
}

static void test_backoff(void **state)
{
	(void)state;
	for (unsigned attempt = 0; attempt < 20; attempt++) {
		uint64_t base = 250;
		for (unsigned i = 0; i < attempt && base < 10000; i++)
			base *= 2;
		if (base > 10000)
			base = 10000;
		for (int k = 0; k < 50; k++) {
			unsigned ms = signaling_backoff_ms(attempt, 250, 10000);
			assert_true(ms >= base / 2 && ms <= base);
		}
	}
}

static void test_signaling(void **state)
{
	char dir[256];
	struct salond_child salond;
	struct signaling *signaling;
	struct identity identity;
	struct answer answer = {0};
	struct stream_log log = {0};
	uint64_t room, user_id;
	char api_port[8], relay_port[8];
	int status;

	(void)state;
	assert_int_equal(salond_child_tmpdir(dir), 0);
	assert_int_equal(salond_child_start(&salond, dir, "0", "0"), 0);
	assert_int_equal(signaling_new("ftp://127.0.0.1/", &signaling), -EINVAL);
	assert_int_equal(signaling_new(salond.url, &signaling), 0);
	assert_string_equal(signaling_url(signaling), salond.url);

	/* Login: challenge, signature, token; the callback gets our user. */
	assert_int_equal(identity_generate(&identity), 0);
	assert_false(signaling_logged_in(signaling));
	assert_true(signaling_login(signaling, &identity, "alice", false, answer_cb, &answer) > 0);
	run_until(signaling, &answer.done, "login");
	assert_int_equal(answer.status, 200);
	assert_string_equal(json_string_value(json_object_get(answer.body, "name")), "alice");
	user_id = (uint64_t)json_integer_value(json_object_get(answer.body, "id"));
	assert_true(user_id > 0);
	assert_true(signaling_logged_in(signaling));

	/* Requests with the token; errors come back with the server's code. */
	request(signaling, &answer, "GET", "/v1/users/me", NULL);
	assert_int_equal(answer.status, 200);
	assert_int_equal(json_integer_value(json_object_get(answer.body, "id")), user_id);
	request(signaling, &answer, "POST", "/v1/rooms",
		json_pack("{s:s, s:s}", "title", "stream test", "visibility", "private"));
	assert_int_equal(answer.status, 201);
	room = (uint64_t)json_integer_value(json_object_get(answer.body, "id"));
	assert_true(room > 0);
	request(signaling, &answer, "GET", "/v1/rooms/12345", NULL);
	assert_int_equal(answer.status, 404);
	assert_string_equal(answer.code, "room_not_found");
	request(signaling, &answer, "POST", "/v1/rooms", json_pack("{s:i}", "title", 3));
	assert_int_equal(answer.status, 400);
	assert_string_equal(answer.code, "invalid_field");

	/* A cancelled request never calls back. */
	answer_clear(&answer);
	signaling_cancel(signaling, signaling_request(signaling, "GET", "/v1/users/me", NULL, 0,
						      answer_cb, &answer));
	assert_int_equal(signaling_pending(signaling), 0);

	/* A revoked token: the next request logs in again by itself and succeeds. */
	request(signaling, &answer, "POST", "/v1/auth/logout", NULL);
	assert_int_equal(answer.status, 204);
	request(signaling, &answer, "GET", "/v1/users/me", NULL);
	assert_int_equal(answer.status, 200);
	assert_int_equal(json_integer_value(json_object_get(answer.body, "id")), user_id);

	/* The stream hands over our chat in order. */
	signaling_stream_start(signaling, 0, 5, &stream_ops, &log);
	chat(signaling, room, "one");
	chat(signaling, room, "two");
	chat(signaling, room, "three");
	wait_events(signaling, &log, 3);
	assert_string_equal(log.texts[0], "one");
	assert_string_equal(log.texts[2], "three");
	assert_int_equal(log.seqs[1], log.seqs[0] + 1);
	assert_int_equal(log.seqs[2], log.seqs[1] + 1);
	assert_int_equal(signaling_stream_seq(signaling), log.seqs[2]);

	/* SIGKILL: requests fail without an answer, the stream says it reconnects. */
	snprintf(api_port, sizeof(api_port), "%s", salond.api_port);
	snprintf(relay_port, sizeof(relay_port), "%s", salond.relay_port);
	status = salond_child_stop(&salond, SIGKILL);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	request(signaling, &answer, "GET", "/v1/users/me", NULL);
	assert_int_equal(answer.status, 0);
	assert_true(answer.transport[0] != '\0');
	{
		uint64_t deadline = util_now_ms() + DEADLINE_MS;
		while (log.reconnecting == 0) {
			assert_true(util_now_ms() < deadline);
			assert_int_equal(signaling_poll(signaling, NULL, 0, 100), 0);
		}
	}
	assert_true(log.last_in_ms >= SIGNALING_BACKOFF_MIN_MS / 2 &&
		    log.last_in_ms <= SIGNALING_BACKOFF_MAX_MS);
	assert_int_equal(log.count, 3);

	/* Restart on the same database and port: the stream resumes after "three". */
	assert_int_equal(salond_child_start(&salond, dir, api_port, relay_port), 0);
	assert_string_equal(salond.api_port, api_port);
	chat(signaling, room, "four");
	chat(signaling, room, "five");
	wait_events(signaling, &log, 5);
	chat(signaling, room, "six");
	wait_events(signaling, &log, 6);
	assert_true(log.resumed >= 1);
	{
		static const char *const want[] = {"one", "two", "three", "four", "five", "six"};

		for (size_t i = 0; i < 6; i++) {
			assert_string_equal(log.texts[i], want[i]);
			/*
			 * One by one, except across the SIGKILL: a server that did not stop
			 * cleanly may skip sequence numbers (never reuse them).
			 */
			if (i > 0 && i != 3)
				assert_int_equal(log.seqs[i], log.seqs[i - 1] + 1);
			else if (i > 0)
				assert_true(log.seqs[i] > log.seqs[i - 1]);
		}
	}
	/* Nothing more, nothing twice: a short extra wait hands over nothing. */
	{
		uint64_t until = util_now_ms() + 300;
		while (util_now_ms() < until)
			assert_int_equal(signaling_poll(signaling, NULL, 0, 50), 0);
		assert_int_equal(log.count, 6);
	}

	signaling_stream_stop(signaling);
	answer_clear(&answer);
	signaling_free(signaling);
	identity_wipe(&identity);
	status = salond_child_stop(&salond, SIGTERM);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	salond_child_rmdir(dir);
}

struct parsed {
	uint64_t seqs[8];
	size_t count;
	size_t stop_at; /* 0: never */
};

static int parsed_event(void *arg, json_t *event)
{
	struct parsed *p = arg;

	if (p->stop_at != 0 && p->count + 1 == p->stop_at)
		return 1;
	assert_true(p->count < 8);
	p->seqs[p->count++] = (uint64_t)json_integer_value(json_object_get(event, "seq"));
	return 0;
}

/*
 * The public event-page parser: malformed events skipped, nothing at or below the
 * last seq, duplicate keys and non-pages refused, a stop leaves seq at the last
 * event delivered. And URL schemes in any case.
 */
static void test_parse_events(void **state)
{
	static const char page[] =
	    "{\"events\": [{\"seq\": 2, \"type\": \"chat\"}, {\"seq\": 3}, 7,"
	    " {\"seq\": 3, \"type\": \"chat\"}, {\"seq\": 3, \"type\": \"chat\"},"
	    " {\"seq\": \"4\", \"type\": \"x\"}, {\"seq\": 5, \"type\": \"x\"}], \"last_seq\": 5}";
	struct parsed p = {0};
	struct signaling *signaling;
	uint64_t seq = 2;

	(void)state;
	assert_int_equal(signaling_parse_events(page, strlen(page), &seq, parsed_event, &p), 2);
	assert_int_equal(p.count, 2);
	assert_int_equal(p.seqs[0], 3);
	assert_int_equal(p.seqs[1], 5);
	assert_int_equal(seq, 5);
	memset(&p, 0, sizeof(p));
	p.stop_at = 2;
	seq = 0;
	assert_int_equal(signaling_parse_events(page, strlen(page), &seq, parsed_event, &p),
			 -ECANCELED);
	assert_int_equal(seq, 2);
	assert_int_equal(signaling_parse_events("{\"events\": 1}", 13, &seq, parsed_event, &p),
			 -EBADMSG);
	{
		static const char dup[] = "{\"events\": [], \"events\": []}";

		assert_int_equal(
		    signaling_parse_events(dup, strlen(dup), &seq, parsed_event, &p), -EBADMSG);
	}
	assert_int_equal(signaling_parse_events("[", 1, &seq, parsed_event, &p), -EBADMSG);
	assert_int_equal(seq, 2);

	assert_int_equal(signaling_new("HTTP://127.0.0.1:1", &signaling), 0);
	signaling_free(signaling);
	assert_int_equal(signaling_new("Https://127.0.0.1:1", &signaling), 0);
	signaling_free(signaling);
	assert_int_equal(signaling_new("ftp://127.0.0.1:1", &signaling), -EINVAL);
}

/* The scripted server: one listening socket, answers written by the thread. */
struct script_server {
	int listen_fd;
	uint16_t port;
	pthread_t thread;
	unsigned connections;
	unsigned requests;
};

/* Reads one request head (up to the blank line) from fd; false on EOF or error. */
static bool script_read_request(int fd)
{
	char buf[4096];
	size_t len = 0;

	while (len < sizeof(buf) - 1) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);

		if (n <= 0)
			return false;
		len += (size_t)n;
		buf[len] = '\0';
		if (strstr(buf, "\r\n\r\n") != NULL)
			return true; /* GETs have no body */
	}
	return false;
}

static void script_answer(int fd, const char *body)
{
	char head[256];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
			 "Content-Length: %zu\r\n\r\n",
			 strlen(body));

	assert_true(n > 0 && (size_t)n < sizeof(head));
	assert_int_equal(write(fd, head, (size_t)n), n);
	assert_int_equal(write(fd, body, strlen(body)), (ssize_t)strlen(body));
}

/*
 * Connection 1: answers the first long-poll (no events, kept alive), reads the
 * second and closes the connection without a word (FIN, no answer). Every later
 * connection: answers each request with one chat event, seq 1.
 */
static void *script_run(void *arg)
{
	struct script_server *server = arg;
	int fd = accept(server->listen_fd, NULL, NULL);

	if (fd < 0)
		return NULL;
	server->connections++;
	if (script_read_request(fd)) {
		server->requests++;
		script_answer(fd, "{\"events\": [], \"last_seq\": 0}");
		if (script_read_request(fd))
			server->requests++;
	}
	close(fd);
	while ((fd = accept(server->listen_fd, NULL, NULL)) >= 0) {
		server->connections++;
		while (script_read_request(fd)) {
			server->requests++;
			script_answer(fd, "{\"events\": [{\"seq\": 1, \"type\": \"chat\", "
					  "\"text\": \"after\"}], \"last_seq\": 1}");
		}
		close(fd);
	}
	return NULL;
}

static void test_stream_connection_dies(void **state)
{
	struct script_server server = {0};
	struct sockaddr_in addr = {.sin_family = AF_INET};
	socklen_t addr_len = sizeof(addr);
	struct signaling *signaling;
	struct stream_log log = {0};
	char url[64];

	(void)state;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	server.listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(server.listen_fd >= 0);
	assert_int_equal(bind(server.listen_fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(listen(server.listen_fd, 8), 0);
	assert_int_equal(getsockname(server.listen_fd, (struct sockaddr *)&addr, &addr_len), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", ntohs(addr.sin_port));
	assert_int_equal(pthread_create(&server.thread, NULL, script_run, &server), 0);

	assert_int_equal(signaling_new(url, &signaling), 0);
	signaling_stream_start(signaling, 0, 1, &stream_ops, &log);
	wait_events(signaling, &log, 1);
	assert_string_equal(log.texts[0], "after");
	/* The dead connection was told, and the stream came back through a new one. */
	assert_true(log.reconnecting >= 1);
	assert_int_equal(log.resumed, 1);
	signaling_stream_stop(signaling);
	signaling_free(signaling);

	/* Wakes the thread from accept() and waits for it. */
	shutdown(server.listen_fd, SHUT_RDWR);
	assert_int_equal(pthread_join(server.thread, NULL), 0);
	close(server.listen_fd);
	assert_true(server.connections >= 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_backoff),
	    cmocka_unit_test(test_parse_events),
	    cmocka_unit_test(test_signaling),
	    cmocka_unit_test(test_stream_connection_dies),
	};

	if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
