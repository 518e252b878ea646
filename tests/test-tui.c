/*
 * test-tui.c - the full-screen UI turns room events into the right earcons.
 *
 * tui.c is compiled into this program (it is included below), so that its event
 * handler, tui_handle_event(), runs on real engine events without a terminal. The
 * engine is a fake: struct engine here records every command the UI sends, which
 * is how the UI asks for an earcon (ENGINE_CMD_EARCON, number = the earcon type,
 * text = the volume). The test links no engine.c (see tests/local.mk), so the
 * fake cannot be confused with the real one.
 *
 * Proves: a member joining, a member leaving, another member's hand going up,
 * being invited on stage, being muted and being mentioned in chat each send
 * exactly the matching earcon at the configured volume; the things that must stay
 * quiet (our own arrival, refresh notices, lowered hands, our own chat, a name
 * inside a longer word, unmuting, role changes that are not an invitation) send
 * none; a changed identity key sounds the mention earcon; the off switch and
 * volume 0 silence them all; a volume above 100 is sent as 100. Also that what the
 * UI builds from the helpers it shares with the other front ends (frontend.c, linked
 * in) is right: :volume's parsing and range, commands and their arguments, role
 * phrases and the "user N" of a user without a name.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tui.c"

#define TEST_TUI_SELF 1
#define TEST_TUI_HOST 2
#define TEST_TUI_OTHER 3

/* The fake engine: what the UI sent, in order. */
struct engine {
	struct engine_command **commands;
	size_t count;
};

struct engine_command *engine_command_new(enum engine_command_type type)
{
	struct engine_command *command = xcalloc(1, sizeof(*command));

	command->type = type;
	return command;
}

void engine_command_free(struct engine_command *command)
{
	if (command == NULL)
		return;
	free(command->user);
	free(command->text);
	free(command->text2);
	free(command->tag);
	free(command);
}

void engine_send(struct engine *engine, struct engine_command *command)
{
	engine->commands = xreallocarray(engine->commands, engine->count + 1,
					 sizeof(*engine->commands));
	engine->commands[engine->count++] = command;
}

/* tui_run() needs these to link; the event handler never calls them. */
int engine_fd(const struct engine *engine)
{
	(void)engine;
	return -1;
}

struct engine_event *engine_next_event(struct engine *engine)
{
	(void)engine;
	return NULL;
}

void engine_event_free(struct engine_event *event)
{
	if (event == NULL)
		return;
	json_decref(event->data);
	free(event);
}

static void test_tui_engine_clear(struct engine *engine)
{
	for (size_t i = 0; i < engine->count; i++)
		engine_command_free(engine->commands[i]);
	free(engine->commands);
	engine->commands = NULL;
	engine->count = 0;
}

/* A UI in a room, as tui_run() and ENGINE_EV_CONNECTED would leave it. */
struct test_tui {
	struct engine engine;
	struct tui_options options;
	struct tui tui;
};

/*
 * Feeds one event to the UI's event handler. Its data is JSON text written with
 * single quotes for readability (the test's strings hold none of their own).
 */
static void test_tui_event(struct test_tui *t, enum engine_event_type type, const char *quoted)
{
	struct engine_event event = {.type = type};
	char *json = xstrdup(quoted);
	json_error_t error;

	for (char *c = json; *c != '\0'; c++)
		if (*c == '\'')
			*c = '"';
	event.data = json_loads(json, 0, &error);
	if (event.data == NULL)
		fail_msg("bad test JSON (%s): %s", error.text, json);
	free(json);
	tui_handle_event(&t->tui, &event);
	json_decref(event.data);
}

/* Starts a UI (earcons as given) in a room hosted by bob, as a listener. */
static struct test_tui *test_tui_new(bool earcons, int volume)
{
	struct test_tui *t = xcalloc(1, sizeof(*t));

	tui_options_init(&t->options);
	t->options.earcons = earcons;
	t->options.earcon_volume = volume;
	t->tui.engine = &t->engine;
	t->tui.options = &t->options;
	t->tui.screen = TUI_SCREEN_CONNECTING;
	t->tui.conn = TUI_CONN_CONNECTING;
	t->tui.pane = TUI_PANE_MEMBERS;
	tui_setup_keys(&t->tui);
	test_tui_event(t, ENGINE_EV_CONNECTED,
		       "{'user': {'id': 1, 'name': 'carol'}, 'server': 'test'}");
	test_tui_event(t, ENGINE_EV_JOINED,
		       "{'room': {'id': 7, 'title': 'Tea', 'topic': 'green'},"
		       " 'member': {'user_id': 1, 'name': 'carol', 'role': 'listener'},"
		       " 'members': [{'user_id': 2, 'name': 'bob', 'role': 'host'}]}");
	assert_int_equal(t->tui.screen, TUI_SCREEN_ROOM);
	return t;
}

static void test_tui_free(struct test_tui *t)
{
	tui_free_state(&t->tui);
	test_tui_engine_clear(&t->engine);
	free(t);
}

/* How many earcon commands the UI sent since the last call (which forgets them). */
static size_t test_tui_earcons(struct test_tui *t, enum earcon_type *last, char **volume)
{
	size_t found = 0;

	for (size_t i = 0; i < t->engine.count; i++) {
		const struct engine_command *command = t->engine.commands[i];

		if (command->type != ENGINE_CMD_EARCON)
			continue;
		found++;
		*last = (enum earcon_type)command->number;
		free(*volume);
		*volume = command->text != NULL ? xstrdup(command->text) : NULL;
	}
	test_tui_engine_clear(&t->engine);
	return found;
}

/* Asserts that exactly one earcon, of type want at volume text want_volume, was sent. */
static void test_tui_expect(struct test_tui *t, enum earcon_type want, const char *want_volume)
{
	enum earcon_type got = EARCON_COUNT;
	char *volume = NULL;
	size_t n = test_tui_earcons(t, &got, &volume);

	if (n != 1)
		fail_msg("expected the earcon %s, got %zu earcons", earcon_name(want), n);
	assert_string_equal(earcon_name(got), earcon_name(want));
	assert_non_null(volume);
	assert_string_equal(volume, want_volume);
	free(volume);
}

static void test_tui_expect_none(struct test_tui *t, const char *why)
{
	enum earcon_type got = EARCON_COUNT;
	char *volume = NULL;
	size_t n = test_tui_earcons(t, &got, &volume);

	free(volume);
	if (n != 0)
		fail_msg("%s: expected no earcon, got %zu (last: %s)", why, n, earcon_name(got));
}

/*
 * The whole journey of earcons; expect(type) after each event that must sound,
 * none() after each that must not. With sound false, every event must stay quiet.
 */
static void test_tui_journey(struct test_tui *t, bool sound, const char *volume)
{
#define EXPECT(type) (sound ? test_tui_expect(t, (type), volume) : \
			      test_tui_expect_none(t, "earcons are off"))
	/* Joining the room ourselves is not an arrival to announce. */
	test_tui_expect_none(t, "our own join");

	test_tui_event(t, ENGINE_EV_MEMBER_JOINED,
		       "{'member': {'user_id': 3, 'name': 'dave', 'role': 'listener'}}");
	EXPECT(EARCON_JOIN);
	test_tui_event(t, ENGINE_EV_MEMBER_JOINED,
		       "{'member': {'user_id': 4, 'name': 'erin', 'role': 'speaker'},"
		       " 'refresh': true}");
	test_tui_expect_none(t, "a member we only now hear of");
	test_tui_event(t, ENGINE_EV_MEMBER_LEFT, "{'user_id': 4, 'name': 'erin'}");
	EXPECT(EARCON_LEAVE);
	test_tui_event(t, ENGINE_EV_MEMBER_LEFT,
		       "{'user_id': 5, 'name': 'finn', 'refresh': true}");
	test_tui_expect_none(t, "a member gone before we knew");

	test_tui_event(t, ENGINE_EV_HAND_RAISED, "{'user_id': 3, 'name': 'dave'}");
	EXPECT(EARCON_HAND);
	test_tui_event(t, ENGINE_EV_HAND_LOWERED, "{'user_id': 3, 'name': 'dave'}");
	test_tui_expect_none(t, "a lowered hand");
	test_tui_event(t, ENGINE_EV_HAND_RAISED, "{'user_id': 1, 'name': 'carol'}");
	test_tui_expect_none(t, "our own hand");

	test_tui_event(t, ENGINE_EV_ROLE_CHANGED,
		       "{'user_id': 3, 'name': 'dave', 'role': 'speaker',"
		       " 'old_role': 'listener'}");
	test_tui_expect_none(t, "someone else invited");
	test_tui_event(t, ENGINE_EV_ROLE_CHANGED,
		       "{'user_id': 1, 'name': 'carol', 'role': 'speaker',"
		       " 'old_role': 'listener'}");
	EXPECT(EARCON_INVITED);
	test_tui_event(t, ENGINE_EV_ROLE_CHANGED,
		       "{'user_id': 1, 'name': 'carol', 'role': 'moderator',"
		       " 'old_role': 'speaker'}");
	test_tui_expect_none(t, "a promotion on stage");

	test_tui_event(t, ENGINE_EV_MUTED,
		       "{'user_id': 1, 'name': 'carol', 'muted': true, 'by': 'server'}");
	EXPECT(EARCON_MUTED);
	test_tui_event(t, ENGINE_EV_MUTED,
		       "{'user_id': 1, 'name': 'carol', 'muted': false, 'by': 'server'}");
	test_tui_expect_none(t, "unmuted by a moderator");
	/* Muting ourselves sounds too: the key press gets an answer one can hear. */
	test_tui_event(t, ENGINE_EV_MUTED,
		       "{'user_id': 1, 'name': 'carol', 'muted': true, 'by': 'self'}");
	EXPECT(EARCON_MUTED);
	test_tui_event(t, ENGINE_EV_MUTED,
		       "{'user_id': 3, 'name': 'dave', 'muted': true, 'by': 'server'}");
	test_tui_expect_none(t, "someone else muted");

	test_tui_event(t, ENGINE_EV_CHAT,
		       "{'user_id': 2, 'name': 'bob', 'text': 'welcome, Carol!'}");
	EXPECT(EARCON_MENTION);
	test_tui_event(t, ENGINE_EV_CHAT,
		       "{'user_id': 2, 'name': 'bob', 'text': 'off to carolina'}");
	test_tui_expect_none(t, "our name inside a longer word");
	test_tui_event(t, ENGINE_EV_CHAT,
		       "{'user_id': 1, 'name': 'carol', 'text': 'carol here'}");
	test_tui_expect_none(t, "our own chat");
	test_tui_event(t, ENGINE_EV_CHAT,
		       "{'user_id': 2, 'name': 'bob', 'text': 'hello all'}");
	test_tui_expect_none(t, "chat without our name");

	/* A changed identity key calls for attention as a mention does. */
	test_tui_event(t, ENGINE_EV_KEY_CHANGED,
		       "{'user_id': 2, 'name': 'bob', 'safety_number': '1'}");
	EXPECT(EARCON_MENTION);
#undef EXPECT
}

static void test_tui_earcons_on(void **state)
{
	struct test_tui *t = test_tui_new(true, 70);

	(void)state;
	test_tui_journey(t, true, "70");
	test_tui_free(t);
}

static void test_tui_earcons_off(void **state)
{
	struct test_tui *t = test_tui_new(false, 70);

	(void)state;
	test_tui_journey(t, false, NULL);
	test_tui_free(t);
}

static void test_tui_earcons_volume(void **state)
{
	struct test_tui *t;

	(void)state;
	/* Volume 0 is off too: no command at all, not a silent one. */
	t = test_tui_new(true, 0);
	test_tui_journey(t, false, NULL);
	test_tui_free(t);
	/* The engine takes 0..100; more is clamped here, before it refuses it. */
	t = test_tui_new(true, 150);
	test_tui_journey(t, true, "100");
	test_tui_free(t);
	t = test_tui_new(true, 1);
	test_tui_journey(t, true, "1");
	test_tui_free(t);
}

/* Runs a ':' command as typed after the colon. */
static void test_tui_command(struct test_tui *t, const char *typed)
{
	char *line = xstrdup(typed);

	tui_command(&t->tui, line);
	free(line);
}

/* Asserts that the UI sent exactly one command since the last check, and forgets it. */
static void test_tui_sent(struct test_tui *t, enum engine_command_type type, const char *user,
			  const char *text)
{
	const struct engine_command *command;

	if (t->engine.count != 1)
		fail_msg("expected one command, got %zu", t->engine.count);
	command = t->engine.commands[0];
	assert_int_equal(command->type, type);
	if (user == NULL)
		assert_null(command->user);
	else
		assert_string_equal(command->user, user);
	if (text == NULL)
		assert_null(command->text);
	else
		assert_string_equal(command->text, text);
}

/* The newest entry of the room's log. */
static const char *test_tui_said(const struct test_tui *t)
{
	assert_true(t->tui.log_count > 0);
	return t->tui.log[t->tui.log_count - 1];
}

/*
 * What the UI builds from the helpers it shares with line mode (frontend.c): :volume
 * is parsed and range-checked before a member's gain goes out; other commands go out
 * with their argument; roles and users without a name read right in the log.
 */
static void test_tui_shared_helpers(void **state)
{
	/* Commands that go out, with what they carry. */
	static const struct {
		const char *typed;
		enum engine_command_type type;
		const char *user, *text;
		double number;
	} sent[] = {
		{"volume bob 2.5", ENGINE_CMD_SET_VOLUME, "bob", NULL, 2.5},
		{"volume bob 4", ENGINE_CMD_SET_VOLUME, "bob", NULL, 4.0},
		{"invite  dave ", ENGINE_CMD_INVITE, "dave", NULL, 0.0},
		{"say hi there", ENGINE_CMD_SAY, NULL, "hi there", 0.0},
		{"leave", ENGINE_CMD_LEAVE, NULL, NULL, 0.0},
		{"stats", ENGINE_CMD_STATS, NULL, NULL, 0.0},
	};
	/* Commands refused with a sentence in the log. */
	static const struct {
		const char *typed, *said;
	} refused[] = {
		{"volume bob", "Usage: :volume NAME GAIN (1 is unchanged)"},
		{"volume bob 4.5", "The gain is a number from 0 to 4 (1 is unchanged)."},
		{"volume bob -1", "The gain is a number from 0 to 4 (1 is unchanged)."},
		{"volume bob loud", "The gain is a number from 0 to 4 (1 is unchanged)."},
		{"volume bob 2x", "The gain is a number from 0 to 4 (1 is unchanged)."},
	};
	/*
	 * Role changes, in order, and what they read as. Bob is in the room, user 9 is
	 * not and has no name (so is "user N"); an unknown role reads as a listener.
	 */
	static const struct {
		const char *data, *said;
	} roles[] = {
		{"{'user_id': 2, 'name': 'bob', 'role': 'moderator', 'old_role': 'host'}",
		 "bob is now a moderator."},
		{"{'user_id': 2, 'role': 'host', 'old_role': 'moderator'}",
		 "bob is now the host."},
		{"{'user_id': 9, 'role': 'speaker', 'old_role': 'listener'}",
		 "user 9 is now a speaker."},
		{"{'user_id': 9, 'role': 'guest', 'old_role': 'speaker'}",
		 "user 9 is now a listener."},
		{"{'user_id': 1, 'role': 'speaker', 'old_role': 'listener'}",
		 "You are now a speaker: your microphone is live. Press m to mute."},
	};
	struct test_tui *t = test_tui_new(false, 0);

	(void)state;
	test_tui_engine_clear(&t->engine);
	for (size_t i = 0; i < ARRAY_SIZE(sent); i++) {
		test_tui_command(t, sent[i].typed);
		test_tui_sent(t, sent[i].type, sent[i].user, sent[i].text);
		if (t->engine.commands[0]->number != sent[i].number)
			fail_msg("%s: sent the number %g", sent[i].typed,
				 t->engine.commands[0]->number);
		test_tui_engine_clear(&t->engine);
	}
	for (size_t i = 0; i < ARRAY_SIZE(refused); i++) {
		test_tui_command(t, refused[i].typed);
		if (t->engine.count != 0)
			fail_msg("%s: sent a command", refused[i].typed);
		assert_string_equal(test_tui_said(t), refused[i].said);
	}

	for (size_t i = 0; i < ARRAY_SIZE(roles); i++) {
		test_tui_event(t, ENGINE_EV_ROLE_CHANGED, roles[i].data);
		assert_string_equal(test_tui_said(t), roles[i].said);
	}
	test_tui_free(t);
}

/* The answer to :stats opens a page of the audio counters, in words. */
static void test_tui_stats_page(void **state)
{
	struct test_tui *t = test_tui_new(false, 0);

	(void)state;
	test_tui_event(t, ENGINE_EV_STATS,
		       "{'media': {'frames_sent': 3, 'frames_received': 250,"
		       " 'frames_undecryptable': 2, 'frames_concealed': 7, 'frames_fec': 4,"
		       " 'datagrams_dropped': 1, 'reconnects': 0, 'downlink_recoveries': 0,"
		       " 'key_asks': 0}}");
	assert_int_equal(t->tui.page_count, 4);
	assert_string_equal(t->tui.page_lines[0],
			    "Frames heard: 250 (7 concealed, 4 recovered by FEC).");
	assert_string_equal(t->tui.page_lines[1],
			    "Frames that could not be decrypted: 2; datagrams dropped: 1.");
	assert_string_equal(t->tui.page_lines[2], "Frames sent: 3; reconnections: 0.");
	test_tui_event(t, ENGINE_EV_STATS, "{'media': null}");
	assert_int_equal(t->tui.page_count, 1);
	assert_string_equal(t->tui.page_lines[0],
			    "No audio counters: the audio engine is not running.");
	test_tui_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tui_earcons_on),
		cmocka_unit_test(test_tui_earcons_off),
		cmocka_unit_test(test_tui_earcons_volume),
		cmocka_unit_test(test_tui_shared_helpers),
		cmocka_unit_test(test_tui_stats_page),
	};

	/* English whatever the caller's locale: the test compares sentences. */
	setenv("LC_ALL", "C", 1);
	i18n_init();
	log_init("test-tui", LOG_LEVEL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
