/*
 * test-engine.c - two client engines (engine.h) against a real salond.
 *
 *  - control: A creates a room and joins, B joins; A sees member_joined; chat both
 *    ways; B raises a hand and A sees it; A invites B on stage and B sees its role
 *    change; A mutes and unmutes B; both see the same pair safety number; B leaves
 *    and A sees it; QUIT is the last event. Expected events must come in this order
 *    (others may come between them; an unexpected error fails the test).
 *  - errors: unknown room, chat outside a room, an unreachable server (the error
 *    names the URL and the engine says it reconnects).
 *  - restart: salond is killed (SIGKILL) and restarted on the same database and
 *    ports; both engines reconnect by themselves and chat works again.
 *  - audio: A speaks a WAV file (file: capture), B records the room; B's recording
 *    matches the source (windows aligned one by one, see assert_matches).
 *  - verify: verification persists across runs; a changed pinned key is "changed".
 *  - play_record: PLAY, RECORD (announced before any audio), a file playback that is
 *    announced as a recording, earcons in the playback only, and the member list
 *    learned when stepping on stage.
 *
 * No sleeps: every wait polls engine_fd() with a deadline.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <sndfile.h>

#include "earcon.h"
#include "engine.h"
#include "log.h"
#include "salond-child.h"
#include "util.h"

#define DEADLINE_MS 15000

static char tmpdir[256];
/* Whether wait_event lets error events pass (a test that kills the server). */
static bool tolerate_errors;
static struct salond_child salond;
/* Bob's user id in test_control, for test_verify. */
static uint64_t control_bob_id;

static int setup(void **state)
{
	(void)state;
	if (salond_child_tmpdir(tmpdir) != 0)
		return -1;
	return salond_child_start(&salond, tmpdir, "0", "0") == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	if (salond.pid > 0)
		salond_child_stop(&salond, SIGTERM);
	if (getenv("SALON_TEST_KEEP") == NULL)
		salond_child_rmdir(tmpdir);
	else
		fprintf(stderr, "kept %s\n", tmpdir);
	return 0;
}

static struct engine *engine_make(const char *name, const char *url, const char *capture,
				  const char *playback, const char *record)
{
	struct engine_options options = {0};
	struct engine *engine = NULL;
	char identity[512], pins[512];
	char *error = NULL;
	int ret;

	snprintf(identity, sizeof(identity), "%s/%s.key", tmpdir, name);
	snprintf(pins, sizeof(pins), "%s/%s.pins", tmpdir, name);
	options.server_url = url;
	options.identity_path = identity;
	options.pins_path = pins;
	options.name = name;
	options.capture = capture;
	options.playback = playback;
	options.record_path = record;
	options.frame_ms = 20;
	options.bitrate = 64000;
	options.complexity = 5;
	ret = engine_new(&options, &engine, &error);
	if (ret != 0)
		fail_msg("engine_new(%s): %s", name, error != NULL ? error : "?");
	assert_int_equal(engine_start(engine), 0);
	return engine;
}

/*
 * Waits for the next event of the given type (skipping others, but failing on an
 * error event unless an error is what we wait for). The caller frees it.
 */
static struct engine_event *wait_event(struct engine *engine, enum engine_event_type type,
				       const char *who)
{
	uint64_t deadline = util_now_ms() + DEADLINE_MS;

	for (;;) {
		struct engine_event *event;
		struct pollfd pfd = {.fd = engine_fd(engine), .events = POLLIN};
		uint64_t now = util_now_ms();

		while ((event = engine_next_event(engine)) != NULL) {
			if (event->type == type)
				return event;
			if (event->type == ENGINE_EV_ERROR && !tolerate_errors) {
				char *text = json_dumps(event->data, JSON_COMPACT);
				fail_msg("%s: unexpected error %s while waiting for %s", who, text,
					 engine_event_name(type));
			}
			if (event->type == ENGINE_EV_QUIT)
				fail_msg("%s: quit while waiting for %s", who,
					 engine_event_name(type));
			engine_event_free(event);
		}
		if (now > deadline)
			fail_msg("%s: timed out waiting for %s", who, engine_event_name(type));
		poll(&pfd, 1, (int)(deadline - now));
	}
}

static const char *str(const struct engine_event *event, const char *key)
{
	json_t *value = json_object_get(event->data, key);

	return json_is_string(value) ? json_string_value(value) : "";
}

static uint64_t num(const json_t *object, const char *key)
{
	return (uint64_t)json_integer_value(json_object_get(object, key));
}

static void send_cmd(struct engine *engine, enum engine_command_type type, uint64_t room,
		     const char *user, const char *text, const char *tag)
{
	struct engine_command *command = engine_command_new(type);

	command->room = room;
	command->user = user != NULL ? xstrdup(user) : NULL;
	command->text = text != NULL ? xstrdup(text) : NULL;
	command->tag = tag != NULL ? xstrdup(tag) : NULL;
	engine_send(engine, command);
}

/* Waits for a chat event and checks its text and author. */
static void expect_chat(struct engine *engine, const char *who, const char *text, const char *from)
{
	struct engine_event *event = wait_event(engine, ENGINE_EV_CHAT, who);

	assert_string_equal(str(event, "text"), text);
	assert_string_equal(str(event, "name"), from);
	engine_event_free(event);
}

/* Quits: QUIT comes, and it is the last event. */
static void quit_and_free(struct engine *engine, const char *who)
{
	struct engine_event *event;
	struct pollfd pfd = {.fd = engine_fd(engine), .events = POLLIN};

	uint64_t deadline = util_now_ms() + DEADLINE_MS;

	send_cmd(engine, ENGINE_CMD_QUIT, 0, NULL, NULL, NULL);
	for (;;) {
		event = engine_next_event(engine);
		if (event == NULL) {
			assert_true(util_now_ms() < deadline);
			poll(&pfd, 1, 200);
			continue;
		}
		if (event->type == ENGINE_EV_QUIT)
			break;
		engine_event_free(event);
	}
	engine_event_free(event);
	assert_null(engine_next_event(engine));
	engine_free(engine);
	(void)who;
}

static uint64_t expect_connected(struct engine *engine, const char *who)
{
	struct engine_event *event = wait_event(engine, ENGINE_EV_CONNECTED, who);
	json_t *user = json_object_get(event->data, "user");
	uint64_t id = num(user, "id");

	assert_string_equal(json_string_value(json_object_get(user, "name")), who);
	assert_string_equal(str(event, "server"), salond.url);
	assert_true(id > 0);
	engine_event_free(event);
	return id;
}

static void test_control(void **state)
{
	struct engine *a, *b;
	struct engine_event *event;
	uint64_t room, bob_id;
	json_t *members;
	char number_a[128], number_b[128];

	(void)state;
	a = engine_make("alice", salond.url, "null", "null", NULL);
	b = engine_make("bob", salond.url, "null", "null", NULL);
	expect_connected(a, "alice");
	bob_id = expect_connected(b, "bob");

	/* Errors a user can act on. */
	send_cmd(b, ENGINE_CMD_SAY, 0, NULL, "nobody hears", "s0");
	event = wait_event(b, ENGINE_EV_ERROR, "bob");
	assert_string_equal(str(event, "code"), "not_in_room");
	assert_string_equal(str(event, "tag"), "s0");
	engine_event_free(event);
	send_cmd(b, ENGINE_CMD_JOIN, 4242, NULL, NULL, "j0");
	event = wait_event(b, ENGINE_EV_ERROR, "bob");
	assert_string_equal(str(event, "code"), "room_not_found");
	assert_string_equal(str(event, "tag"), "j0");
	assert_true(strlen(str(event, "message")) > 0);
	engine_event_free(event);

	/* A creates a room and joins it. */
	{
		struct engine_command *command = engine_command_new(ENGINE_CMD_CREATE_ROOM);
		command->text = xstrdup("engine test");
		command->text2 = xstrdup("two engines");
		command->tag = xstrdup("c1");
		engine_send(a, command);
	}
	event = wait_event(a, ENGINE_EV_ROOM_CREATED, "alice");
	assert_string_equal(str(event, "tag"), "c1");
	room = num(json_object_get(event->data, "room"), "id");
	assert_true(room > 0);
	engine_event_free(event);
	send_cmd(a, ENGINE_CMD_JOIN, room, NULL, NULL, "j1");
	event = wait_event(a, ENGINE_EV_JOINED, "alice");
	assert_string_equal(str(event, "tag"), "j1");
	assert_int_equal(num(json_object_get(event->data, "room"), "id"), room);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(event->data, "member"), "role")),
	    "host");
	assert_int_equal(json_array_size(json_object_get(event->data, "members")), 1);
	engine_event_free(event);

	/* B joins as a listener; A sees it. */
	send_cmd(b, ENGINE_CMD_JOIN, room, NULL, NULL, NULL);
	event = wait_event(b, ENGINE_EV_JOINED, "bob");
	members = json_object_get(event->data, "members");
	assert_int_equal(json_array_size(members), 2);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(event->data, "member"), "role")),
	    "listener");
	engine_event_free(event);
	event = wait_event(a, ENGINE_EV_MEMBER_JOINED, "alice");
	assert_int_equal(num(json_object_get(event->data, "member"), "user_id"), bob_id);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(event->data, "member"), "name")),
	    "bob");
	engine_event_free(event);

	/* Chat both ways, in order. */
	send_cmd(a, ENGINE_CMD_SAY, 0, NULL, "hello from alice", NULL);
	expect_chat(b, "bob", "hello from alice", "alice");
	send_cmd(b, ENGINE_CMD_SAY, 0, NULL, "hello from bob", NULL);
	expect_chat(a, "alice", "hello from alice", "alice");
	expect_chat(a, "alice", "hello from bob", "bob");
	expect_chat(b, "bob", "hello from bob", "bob");

	/* B raises a hand; A invites B on stage. */
	send_cmd(b, ENGINE_CMD_RAISE_HAND, 0, NULL, NULL, NULL);
	event = wait_event(a, ENGINE_EV_HAND_RAISED, "alice");
	assert_string_equal(str(event, "name"), "bob");
	assert_int_equal(num(event->data, "user_id"), bob_id);
	engine_event_free(event);
	send_cmd(a, ENGINE_CMD_INVITE, 0, "bob", NULL, "i1");
	event = wait_event(b, ENGINE_EV_ROLE_CHANGED, "bob");
	assert_string_equal(str(event, "role"), "speaker");
	assert_true(json_is_true(json_object_get(event->data, "self")));
	engine_event_free(event);
	event = wait_event(b, ENGINE_EV_HAND_LOWERED, "bob");
	engine_event_free(event);
	event = wait_event(a, ENGINE_EV_ROLE_CHANGED, "alice");
	assert_string_equal(str(event, "name"), "bob");
	assert_string_equal(str(event, "role"), "speaker");
	engine_event_free(event);

	/* A mutes B (server mute) and unmutes; B sees both. */
	send_cmd(a, ENGINE_CMD_MUTE, 0, "bob", NULL, NULL);
	event = wait_event(b, ENGINE_EV_MUTED, "bob");
	assert_true(json_is_true(json_object_get(event->data, "muted")));
	assert_string_equal(str(event, "by"), "server");
	engine_event_free(event);
	send_cmd(a, ENGINE_CMD_UNMUTE, 0, "bob", NULL, NULL);
	event = wait_event(b, ENGINE_EV_MUTED, "bob");
	assert_true(json_is_false(json_object_get(event->data, "muted")));
	engine_event_free(event);

	/* A moderator action B is not allowed: a translated error with the code. */
	send_cmd(b, ENGINE_CMD_REMOVE, 0, "alice", NULL, "r1");
	event = wait_event(b, ENGINE_EV_ERROR, "bob");
	assert_string_equal(str(event, "code"), "forbidden");
	assert_string_equal(str(event, "tag"), "r1");
	engine_event_free(event);

	/* Both see the same pair safety number. */
	send_cmd(a, ENGINE_CMD_VERIFY, 0, "bob", NULL, NULL);
	event = wait_event(a, ENGINE_EV_SAFETY_NUMBER, "alice");
	snprintf(number_a, sizeof(number_a), "%s", str(event, "safety_number"));
	engine_event_free(event);
	send_cmd(b, ENGINE_CMD_VERIFY, 0, "alice", NULL, NULL);
	event = wait_event(b, ENGINE_EV_SAFETY_NUMBER, "bob");
	snprintf(number_b, sizeof(number_b), "%s", str(event, "safety_number"));
	assert_true(json_is_true(json_object_get(event->data, "pinned")));
	engine_event_free(event);
	assert_int_equal(strlen(number_a), 71);
	assert_string_equal(number_a, number_b);

	/* A compares the numbers with B and marks B verified. */
	{
		struct engine_command *command = engine_command_new(ENGINE_CMD_VERIFY);

		command->user = xstrdup("bob");
		command->flag = true;
		command->tag = xstrdup("v1");
		engine_send(a, command);
	}
	event = wait_event(a, ENGINE_EV_SAFETY_NUMBER, "alice");
	assert_string_equal(str(event, "tag"), "v1");
	assert_true(json_is_true(json_object_get(event->data, "verified")));
	assert_true(json_is_true(json_object_get(event->data, "pinned")));
	assert_true(json_is_false(json_object_get(event->data, "changed")));
	engine_event_free(event);
	control_bob_id = bob_id;

	/* B leaves; A sees it. */
	send_cmd(b, ENGINE_CMD_LEAVE, 0, NULL, NULL, "l1");
	event = wait_event(b, ENGINE_EV_LEFT, "bob");
	assert_int_equal(num(event->data, "room_id"), room);
	engine_event_free(event);
	event = wait_event(a, ENGINE_EV_MEMBER_LEFT, "alice");
	assert_int_equal(num(event->data, "user_id"), bob_id);
	assert_string_equal(str(event, "name"), "bob");
	engine_event_free(event);

	quit_and_free(b, "bob");
	quit_and_free(a, "alice");
}

/* Whether a key text is in a pins file, and rewrites bob's pin with another key. */
static void pins_change_key(const char *path, uint64_t user_id)
{
	FILE *file = fopen(path, "r+");
	char line[256], prefix[32], all[4096] = "";
	bool found = false;

	assert_non_null(file);
	snprintf(prefix, sizeof(prefix), "%" PRIu64 " ", user_id);
	while (fgets(line, sizeof(line), file) != NULL) {
		if (strncmp(line, prefix, strlen(prefix)) == 0) {
			char *key = line + strlen(prefix);

			/* The pin says verified; a character of its key changes. */
			assert_non_null(strstr(line, " verified\n"));
			key[10] = key[10] == 'A' ? 'B' : 'A';
			found = true;
		}
		assert_true(strlen(all) + strlen(line) < sizeof(all));
		strcat(all, line);
	}
	assert_true(found);
	assert_non_null(freopen(path, "w", file));
	fputs(all, file);
	assert_int_equal(fclose(file), 0);
}

static struct engine_event *verify(struct engine *engine, const char *user, bool flag,
				   enum engine_command_type type, enum engine_event_type expect)
{
	struct engine_command *command = engine_command_new(type);

	command->user = xstrdup(user);
	command->flag = flag;
	engine_send(engine, command);
	return wait_event(engine, expect, "alice");
}

/*
 * Verification lasts across runs (it is stored with the pin), and a changed key is
 * reported as changed, not verified, cannot be verified before it is accepted, and
 * is not verified once accepted. Runs after test_control (alice's files).
 */
static void test_verify(void **state)
{
	struct engine *a;
	struct engine_event *event;
	char pins[512], user[32];

	(void)state;
	assert_true(control_bob_id > 0);
	snprintf(user, sizeof(user), "%" PRIu64, control_bob_id);
	a = engine_make("alice", salond.url, NULL, NULL, NULL);
	expect_connected(a, "alice");
	event = verify(a, user, false, ENGINE_CMD_VERIFY, ENGINE_EV_SAFETY_NUMBER);
	assert_true(json_is_true(json_object_get(event->data, "verified")));
	assert_true(json_is_false(json_object_get(event->data, "changed")));
	engine_event_free(event);
	quit_and_free(a, "alice");

	snprintf(pins, sizeof(pins), "%s/alice.pins", tmpdir);
	pins_change_key(pins, control_bob_id);
	a = engine_make("alice", salond.url, NULL, NULL, NULL);
	expect_connected(a, "alice");
	event = verify(a, user, false, ENGINE_CMD_VERIFY, ENGINE_EV_SAFETY_NUMBER);
	assert_true(json_is_false(json_object_get(event->data, "verified")));
	assert_true(json_is_false(json_object_get(event->data, "pinned")));
	assert_true(json_is_true(json_object_get(event->data, "changed")));
	engine_event_free(event);
	event = verify(a, user, true, ENGINE_CMD_VERIFY, ENGINE_EV_ERROR);
	assert_string_equal(str(event, "code"), "key_changed");
	engine_event_free(event);
	event = verify(a, user, false, ENGINE_CMD_ACCEPT_KEY, ENGINE_EV_SAFETY_NUMBER);
	assert_true(json_is_true(json_object_get(event->data, "pinned")));
	assert_true(json_is_false(json_object_get(event->data, "changed")));
	assert_true(json_is_false(json_object_get(event->data, "verified")));
	engine_event_free(event);
	event = verify(a, user, true, ENGINE_CMD_VERIFY, ENGINE_EV_SAFETY_NUMBER);
	assert_true(json_is_true(json_object_get(event->data, "verified")));
	engine_event_free(event);
	quit_and_free(a, "alice");
}

static void test_unreachable(void **state)
{
	struct engine *c;
	struct engine_event *event;
	char url[64];

	(void)state;
	/* Port 1 on loopback: nothing listens there. */
	snprintf(url, sizeof(url), "http://127.0.0.1:1");
	c = engine_make("carol", url, NULL, NULL, NULL);
	event = wait_event(c, ENGINE_EV_ERROR, "carol");
	assert_string_equal(str(event, "code"), "unreachable");
	assert_non_null(strstr(str(event, "message"), url));
	engine_event_free(event);
	event = wait_event(c, ENGINE_EV_RECONNECTING, "carol");
	assert_string_equal(str(event, "what"), "api");
	assert_true(num(event->data, "in_ms") > 0);
	engine_event_free(event);
	quit_and_free(c, "carol");
}

static void test_restart(void **state)
{
	struct engine *a, *b;
	struct engine_event *event;
	uint64_t room;
	char api_port[8], relay_port[8];

	(void)state;
	a = engine_make("dave", salond.url, "null", "null", NULL);
	b = engine_make("erin", salond.url, NULL, "null", NULL);
	expect_connected(a, "dave");
	expect_connected(b, "erin");
	send_cmd(a, ENGINE_CMD_CREATE_ROOM, 0, NULL, "restart", NULL);
	event = wait_event(a, ENGINE_EV_ROOM_CREATED, "dave");
	room = num(json_object_get(event->data, "room"), "id");
	engine_event_free(event);
	send_cmd(a, ENGINE_CMD_JOIN, room, NULL, NULL, NULL);
	engine_event_free(wait_event(a, ENGINE_EV_JOINED, "dave"));
	send_cmd(b, ENGINE_CMD_JOIN, room, NULL, NULL, NULL);
	engine_event_free(wait_event(b, ENGINE_EV_JOINED, "erin"));
	engine_event_free(wait_event(a, ENGINE_EV_MEMBER_JOINED, "dave"));

	snprintf(api_port, sizeof(api_port), "%s", salond.api_port);
	snprintf(relay_port, sizeof(relay_port), "%s", salond.relay_port);
	tolerate_errors = true;
	salond_child_stop(&salond, SIGKILL);
	event = wait_event(a, ENGINE_EV_RECONNECTING, "dave");
	assert_string_equal(str(event, "what"), "api");
	engine_event_free(event);
	assert_int_equal(salond_child_start(&salond, tmpdir, api_port, relay_port), 0);

	/* Both come back by themselves; the room goes on. */
	event = wait_event(a, ENGINE_EV_CONNECTED, "dave");
	assert_true(json_is_true(json_object_get(event->data, "reconnected")));
	engine_event_free(event);
	send_cmd(b, ENGINE_CMD_SAY, 0, NULL, "still here", NULL);
	expect_chat(a, "dave", "still here", "erin");
	expect_chat(b, "erin", "still here", "erin");
	tolerate_errors = false;
	quit_and_free(b, "erin");
	quit_and_free(a, "dave");
}

/* The source: a 3 s chirp from 200 to 1100 Hz with a slow envelope. */
#define AUDIO_RATE 48000
#define AUDIO_SECONDS 3

static void write_source(const char *path, int16_t *pcm, size_t frames)
{
	SF_INFO info = {
	    .samplerate = AUDIO_RATE, .channels = 1, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16};
	SNDFILE *file;

	for (size_t i = 0; i < frames; i++) {
		double t = (double)i / AUDIO_RATE;
		double phase = 2 * M_PI * (200 * t + 150 * t * t);
		double envelope = 0.6 + 0.4 * sin(2 * M_PI * 1.3 * t);
		pcm[i] = (int16_t)(9000 * envelope * sin(phase));
	}
	file = sf_open(path, SFM_WRITE, &info);
	assert_non_null(file);
	assert_int_equal(sf_writef_short(file, pcm, (sf_count_t)frames), (sf_count_t)frames);
	sf_close(file);
}

static int16_t *read_wav(const char *path, size_t *frames)
{
	SF_INFO info = {0};
	SNDFILE *file = sf_open(path, SFM_READ, &info);
	int16_t *pcm;

	if (file == NULL)
		fail_msg("cannot read the recording %s: %s", path, sf_strerror(NULL));
	assert_int_equal(info.channels, 1);
	assert_int_equal(info.samplerate, AUDIO_RATE);
	pcm = xcalloc((size_t)info.frames + 1, sizeof(*pcm));
	*frames = (size_t)sf_readf_short(file, pcm, info.frames);
	sf_close(file);
	return pcm;
}

/*
 * Best alignment of src in rec: a coarse search on 16-fold averaged signals, then a
 * fine one around it. Returns the lag (rec index of src[0]).
 */
static long align(const int16_t *src, size_t src_n, const int16_t *rec, size_t rec_n)
{
	enum { D = 16 };
	size_t cs = src_n / D, cr = rec_n / D;
	float *a = xcalloc(cs + 1, sizeof(float)), *b = xcalloc(cr + 1, sizeof(float));
	double best = -1e300;
	long best_lag = 0, fine_best = 0;

	for (size_t i = 0; i < cs; i++)
		for (size_t k = 0; k < D; k++)
			a[i] += src[i * D + k];
	for (size_t i = 0; i < cr; i++)
		for (size_t k = 0; k < D; k++)
			b[i] += rec[i * D + k];
	for (long lag = -(long)cs / 2; lag < (long)cr; lag++) {
		double sum = 0;
		for (size_t i = 0; i < cs; i++) {
			long j = lag + (long)i;
			if (j >= 0 && j < (long)cr)
				sum += (double)a[i] * b[j];
		}
		if (sum > best) {
			best = sum;
			best_lag = lag;
		}
	}
	free(a);
	free(b);
	best = -1e300;
	for (long lag = best_lag * D - 2 * D; lag <= best_lag * D + 2 * D; lag++) {
		double sum = 0;
		for (size_t i = 0; i < src_n; i += 2) {
			long j = lag + (long)i;
			if (j >= 0 && j < (long)rec_n)
				sum += (double)src[i] * rec[j];
		}
		if (sum > best) {
			best = sum;
			fine_best = lag;
		}
	}
	return fine_best;
}

/*
 * Asserts that rec holds src through Opus and the jitter buffer: the jitter buffer
 * may drop or conceal a frame now and then (more on a busy machine), shifting what
 * follows by a frame, so src is compared in 100 ms windows, each at its own best lag
 * near the global one, and only windows that were heard (late keys may cost the
 * start). Most heard windows must match (>= 0.9), and all of them together too;
 * garbled audio matches at no lag, and missing audio is not heard.
 */
static void assert_matches(const char *what, const int16_t *src, size_t frames,
			   const int16_t *rec, size_t rec_n)
{
	size_t active = 0, good = 0;
	double sxy = 0, sxx = 0, syy = 0, ncc;
	long lag;

	assert_true(rec_n > frames / 2);
	lag = align(src, frames, rec, rec_n);
	for (size_t win = 0; win + 4800 <= frames; win += 4800) {
		double best = -2, bxx = 0, byy = 0;

		for (long d = -1500; d <= 1500; d++) {
			double xx = 0, yy = 0, xy = 0;

			for (size_t i = win; i < win + 4800; i += 2) {
				long j = lag + d + (long)i;
				double x = src[i], y = (j >= 0 && j < (long)rec_n) ? rec[j] : 0;
				xx += x * x;
				yy += y * y;
				xy += x * y;
			}
			if (yy / 2400 < 100.0 * 100.0)
				continue; /* silent here: not received */
			if (xy / sqrt(xx * yy) > best) {
				best = xy / sqrt(xx * yy);
				bxx = xx;
				byy = yy;
			}
		}
		if (best < -1)
			continue;
		active++;
		good += best >= 0.9;
		/* Weighted by the window's energy, as one correlation over all of them. */
		sxy += best * sqrt(bxx * byy);
		sxx += bxx;
		syy += byy;
	}
	ncc = sxy / sqrt(sxx * syy + 1e-9);
	fprintf(stderr, "%s: lag %ld samples, %zu of %zu windows heard, %zu >= 0.9, NCC %.3f\n",
		what, lag, active, frames / 4800, good, ncc);
	assert_true(active * 2 >= frames / 4800);
	/*
	 * Under load whole frames are concealed, which spoils their windows: most
	 * windows still match (unloaded: 26 or 27 of 30; garbled audio: 2 of 30).
	 */
	assert_true(good * 10 >= active * 6);
	/* Unloaded 0.95 to 0.98, 0.90 seen under load; garbled audio: 0.69. */
	assert_true(ncc >= 0.85);
}

static void test_audio(void **state)
{
	struct engine *a, *b;
	struct engine_event *event;
	char source[512], recording[512], capture[600];
	size_t frames = AUDIO_RATE * AUDIO_SECONDS, rec_n;
	int16_t *src = xcalloc(frames, sizeof(*src)), *rec;
	uint64_t room, alice_id;

	(void)state;
	snprintf(source, sizeof(source), "%s/source.wav", tmpdir);
	snprintf(recording, sizeof(recording), "%s/recording.wav", tmpdir);
	snprintf(capture, sizeof(capture), "file:%s", source);
	write_source(source, src, frames);

	a = engine_make("frank", salond.url, capture, "null", NULL);
	b = engine_make("grace", salond.url, NULL, "null", recording);
	alice_id = expect_connected(a, "frank");
	expect_connected(b, "grace");
	send_cmd(a, ENGINE_CMD_CREATE_ROOM, 0, NULL, "audio", NULL);
	event = wait_event(a, ENGINE_EV_ROOM_CREATED, "frank");
	room = num(json_object_get(event->data, "room"), "id");
	engine_event_free(event);
	/* The listener first, so that the speaker's file starts with someone to hear it. */
	send_cmd(b, ENGINE_CMD_JOIN, room, NULL, NULL, NULL);
	engine_event_free(wait_event(b, ENGINE_EV_JOINED, "grace"));
	/* Recording is never silent: B announces it as it joins... */
	event = wait_event(b, ENGINE_EV_RECORDING, "grace");
	assert_true(json_is_true(json_object_get(event->data, "self")));
	assert_true(json_is_true(json_object_get(event->data, "recording")));
	engine_event_free(event);
	send_cmd(a, ENGINE_CMD_JOIN, room, NULL, NULL, NULL);
	event = wait_event(a, ENGINE_EV_JOINED, "frank");
	/* ... and A sees it in the member list. */
	{
		json_t *members = json_object_get(event->data, "members"), *member;
		size_t i;
		bool seen = false;

		json_array_foreach(members, i, member)
		{
			if (strcmp(json_string_value(json_object_get(member, "name")), "grace") ==
			    0)
				seen = json_is_true(json_object_get(member, "recording"));
		}
		assert_true(seen);
	}
	engine_event_free(event);

	event = wait_event(b, ENGINE_EV_SPEAKING_STARTED, "grace");
	assert_int_equal(num(event->data, "user_id"), alice_id);
	assert_string_equal(str(event, "name"), "frank");
	engine_event_free(event);
	engine_event_free(wait_event(a, ENGINE_EV_PLAY_FINISHED, "frank"));
	event = wait_event(b, ENGINE_EV_SPEAKING_STOPPED, "grace");
	assert_int_equal(num(event->data, "user_id"), alice_id);
	engine_event_free(event);
	quit_and_free(b, "grace"); /* finishes the recording */
	quit_and_free(a, "frank");

	rec = read_wav(recording, &rec_n);
	assert_matches("audio", src, frames, rec, rec_n);
	free(src);
	free(rec);
}

/* Waits for ENGINE_EV_RECORDING about name saying recording (skipping others). */
static void expect_recording(struct engine *engine, const char *who, const char *name,
			     bool recording)
{
	for (;;) {
		struct engine_event *event = wait_event(engine, ENGINE_EV_RECORDING, who);
		bool match = strcmp(str(event, "name"), name) == 0 &&
			     json_is_true(json_object_get(event->data, "recording")) == recording;

		engine_event_free(event);
		if (match)
			return;
	}
}

static void send_earcon(struct engine *engine, enum earcon_type type, const char *volume)
{
	struct engine_command *command = engine_command_new(ENGINE_CMD_EARCON);

	command->number = type;
	command->text = volume != NULL ? xstrdup(volume) : NULL;
	engine_send(engine, command);
}

/*
 * PLAY and RECORD during a session, earcons, and the member list on stepping on
 * stage. H hosts and plays the source (its capture is silence); I listens with its
 * playback to a file, which is a recording: announced as I joins; J listens and
 * records with RECORD (announced first, everyone sees it) and stops (announced
 * too). I, stepping on stage, learns of J, whom the audience was not told about.
 * J's recording is the source; I's playback holds the earcon it asked for, J's
 * recording no earcon.
 */
static void test_play_record(void **state)
{
	struct engine *h, *i, *j;
	struct engine_event *event;
	char source[512], out[512], rec_path[512], playback[600];
	size_t frames = AUDIO_RATE * AUDIO_SECONDS, n;
	int16_t *src = xcalloc(frames, sizeof(*src)), *pcm, *ear;
	size_t ear_n;
	uint64_t room, host_id;

	(void)state;
	snprintf(source, sizeof(source), "%s/play-source.wav", tmpdir);
	snprintf(out, sizeof(out), "%s/iris-out.wav", tmpdir);
	snprintf(rec_path, sizeof(rec_path), "%s/jack-rec.wav", tmpdir);
	snprintf(playback, sizeof(playback), "file:%s", out);
	write_source(source, src, frames);

	h = engine_make("henry", salond.url, "null", "null", NULL);
	i = engine_make("iris", salond.url, NULL, playback, NULL);
	j = engine_make("jack", salond.url, NULL, "null", NULL);
	host_id = expect_connected(h, "henry");
	expect_connected(i, "iris");
	expect_connected(j, "jack");
	/*
	 * I's earcon first: its playback starts with it. The file then grows by at least
	 * 600 ms more (the earcon lasts at most 400) before anything else can be heard.
	 */
	{
		struct stat st;
		off_t size0;
		uint64_t deadline = util_now_ms() + DEADLINE_MS;

		assert_int_equal(stat(out, &st), 0);
		size0 = st.st_size;
		send_earcon(i, EARCON_JOIN, "100");
		for (;;) {
			assert_int_equal(stat(out, &st), 0);
			if (st.st_size >= size0 + AUDIO_RATE * 2 * 6 / 10)
				break;
			if (util_now_ms() > deadline)
				fail_msg("iris's playback file does not grow");
			(void)poll(NULL, 0, 20);
		}
	}

	send_cmd(h, ENGINE_CMD_CREATE_ROOM, 0, NULL, "play and record", NULL);
	event = wait_event(h, ENGINE_EV_ROOM_CREATED, "henry");
	room = num(json_object_get(event->data, "room"), "id");
	engine_event_free(event);
	send_cmd(h, ENGINE_CMD_JOIN, room, NULL, NULL, NULL);
	engine_event_free(wait_event(h, ENGINE_EV_JOINED, "henry"));
	send_cmd(i, ENGINE_CMD_JOIN, room, NULL, NULL, NULL);
	engine_event_free(wait_event(i, ENGINE_EV_JOINED, "iris"));
	/* A playback to a file records the room: announced. */
	expect_recording(i, "iris", "iris", true);
	expect_recording(h, "henry", "iris", true);
	send_cmd(j, ENGINE_CMD_JOIN, room, NULL, NULL, NULL);
	engine_event_free(wait_event(j, ENGINE_EV_JOINED, "jack"));

	/* Out of the audience: I learns of J. */
	send_cmd(h, ENGINE_CMD_INVITE, 0, "iris", NULL, NULL);
	for (;;) {
		event = wait_event(i, ENGINE_EV_MEMBER_JOINED, "iris");
		json_t *member = json_object_get(event->data, "member");

		if (strcmp(json_string_value(json_object_get(member, "name")), "jack") == 0)
			break;
		engine_event_free(event);
	}
	assert_true(json_is_true(json_object_get(event->data, "refresh")));
	engine_event_free(event);

	/* J records: announced, then recording; a bad path is an error. */
	send_cmd(j, ENGINE_CMD_RECORD, 0, NULL, "/nonexistent/dir/x.wav", "r0");
	event = wait_event(j, ENGINE_EV_ERROR, "jack");
	assert_string_equal(str(event, "code"), "record_failed");
	assert_string_equal(str(event, "tag"), "r0");
	engine_event_free(event);
	/* (The failed attempt was announced and taken back.) */
	expect_recording(h, "henry", "jack", true);
	expect_recording(h, "henry", "jack", false);
	send_cmd(j, ENGINE_CMD_RECORD, 0, NULL, rec_path, "r1");
	expect_recording(j, "jack", "jack", true);
	expect_recording(h, "henry", "jack", true);

	/* H plays the source. */
	send_cmd(h, ENGINE_CMD_PLAY, 0, NULL, "/nonexistent/none.wav", "p0");
	event = wait_event(h, ENGINE_EV_ERROR, "henry");
	assert_string_equal(str(event, "code"), "play_failed");
	engine_event_free(event);
	send_cmd(h, ENGINE_CMD_PLAY, 0, NULL, source, "p1");
	event = wait_event(j, ENGINE_EV_SPEAKING_STARTED, "jack");
	assert_int_equal(num(event->data, "user_id"), host_id);
	engine_event_free(event);
	event = wait_event(h, ENGINE_EV_PLAY_FINISHED, "henry");
	assert_string_equal(str(event, "tag"), "p1");
	assert_string_equal(str(event, "path"), source);
	assert_null(json_object_get(event->data, "stopped"));
	engine_event_free(event);
	engine_event_free(wait_event(j, ENGINE_EV_SPEAKING_STOPPED, "jack"));

	/* J stops recording: everyone is told. */
	send_cmd(j, ENGINE_CMD_RECORD, 0, NULL, NULL, "r2");
	expect_recording(j, "jack", "jack", false);
	expect_recording(h, "henry", "jack", false);

	quit_and_free(j, "jack");
	quit_and_free(i, "iris");
	quit_and_free(h, "henry");

	pcm = read_wav(rec_path, &n);
	assert_matches("RECORD", src, frames, pcm, n);
	free(pcm);
	/* I's playback: its earcon at the very start, then the source. */
	pcm = read_wav(out, &n);
	ear_n = earcon_synthesize(EARCON_JOIN, 100, &ear);
	{
		double best = 0;
		size_t first = 0, start = 0;

		/* The earcon's first samples may be zero (a soft attack): try a few. */
		while (first < n && pcm[first] == 0)
			first++;
		for (size_t at = first > 16 ? first - 16 : 0; at <= first; at++) {
			double xy = 0, xx = 0, yy = 0;

			assert_true(at + ear_n <= n);
			for (size_t k = 0; k < ear_n; k++) {
				xy += (double)ear[k] * pcm[at + k];
				xx += (double)ear[k] * ear[k];
				yy += (double)pcm[at + k] * pcm[at + k];
			}
			if (xy / sqrt(xx * yy + 1e-9) > best) {
				best = xy / sqrt(xx * yy + 1e-9);
				start = at;
			}
		}
		fprintf(stderr, "earcon at %zu: correlation %.4f\n", start, best);
		assert_true(best >= 0.99);
		/* Out of the way of the comparison with the source. */
		memset(pcm + start, 0, ear_n * sizeof(*pcm));
	}
	assert_matches("file playback", src, frames, pcm, n);
	free(ear);
	free(pcm);
	free(src);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_control),
	    cmocka_unit_test(test_verify),
	    cmocka_unit_test(test_unreachable),
	    cmocka_unit_test(test_restart),
	    cmocka_unit_test(test_audio),
	    cmocka_unit_test(test_play_record),
	};

	signal(SIGPIPE, SIG_IGN);
	if (getenv("SALON_TEST_DEBUG") != NULL)
		log_init("test-engine", LOG_LEVEL_DEBUG);
	return cmocka_run_group_tests(tests, setup, teardown);
}
