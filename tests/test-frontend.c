/*
 * test-frontend.c - the pure parts of salon's front ends: line mode's sentences
 * (with hostile text from the network) and bot mode's command parser and output.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bot.h"
#include "earcon.h"
#include "frontend.h"
#include "plain.h"
#include "sanitize.h"

static struct engine_event *event_new(enum engine_event_type type, const char *json)
{
	struct engine_event *event = calloc(1, sizeof(*event));

	assert_non_null(event);
	event->type = type;
	event->data = json_loads(json, JSON_ALLOW_NUL, NULL);
	assert_non_null(event->data);
	return event;
}

static char *describe(struct plain *plain, enum engine_event_type type, const char *json)
{
	struct engine_event *event = event_new(type, json);
	char *text = plain_describe(plain, event);

	json_decref(event->data);
	free(event);
	return text;
}

/* No byte of text is a C0 control other than the final newline, DEL, or C1 in UTF-8. */
static void assert_clean(const char *text)
{
	size_t len = strlen(text);

	assert_true(len > 0 && text[len - 1] == '\n');
	for (size_t i = 0; i + 1 < len; i++) {
		unsigned char c = (unsigned char)text[i];

		assert_true(c >= 0x20 && c != 0x7f);
		if (c == 0xc2)
			assert_false((unsigned char)text[i + 1] >= 0x80 &&
				     (unsigned char)text[i + 1] <= 0x9f);
	}
}

static void test_plain_hostile_text(void **state)
{
	struct plain *plain = plain_new(0);
	char *text;

	(void)state;
	text = describe(plain, ENGINE_EV_CONNECTED,
			"{\"user\":{\"id\":1,\"name\":\"me\"},\"server\":\"http://x\"}");
	assert_string_equal(text, "Connected to http://x as me.\n");
	free(text);

	text = describe(plain, ENGINE_EV_JOINED,
			"{\"room\":{\"id\":5,\"title\":\"T\\u001b[2J\\u0007\",\"listeners\":3},"
			"\"member\":{\"user_id\":1,\"name\":\"me\",\"role\":\"listener\"},"
			"\"members\":[{\"user_id\":2,\"name\":\"Ev\\u001b]0;x\\u0007il\","
			"\"role\":\"host\",\"bot\":true}]}");
	assert_clean(text);
	assert_non_null(strstr(text, "\"T\xef\xbf\xbd[2J\xef\xbf\xbd\" (room 5) as a listener"));
	assert_non_null(strstr(text, "Ev\xef\xbf\xbd]0;x\xef\xbf\xbdil (the host, bot)"));
	free(text);

	text = describe(plain, ENGINE_EV_CHAT,
			"{\"user_id\":2,\"name\":\"Ev\\u001b]0;x\\u0007il\","
			"\"text\":\"hi\\u001b[31m\\u0000\\u009b1m\\n\\u202eevil\"}");
	assert_clean(text);
	assert_string_equal(text, "Chat from Ev\xef\xbf\xbd]0;x\xef\xbf\xbdil: hi\xef\xbf\xbd[31m"
				  "\xef\xbf\xbd\xef\xbf\xbd" "1m \xef\xbf\xbd" "evil\n");
	free(text);

	/* A name we learnt from the member list is used when the event has none. */
	text = describe(plain, ENGINE_EV_SPEAKING_STARTED, "{\"user_id\":2}");
	assert_string_equal(text, "Ev\xef\xbf\xbd]0;x\xef\xbf\xbdil is speaking.\n");
	free(text);
	text = describe(plain, ENGINE_EV_SPEAKING_STOPPED, "{\"user_id\":2}");
	assert_null(text);

	text = describe(plain, ENGINE_EV_ROLE_CHANGED,
			"{\"user_id\":1,\"name\":\"me\",\"role\":\"speaker\"}");
	assert_string_equal(text, "You are now a speaker.\n");
	free(text);
	text = describe(plain, ENGINE_EV_MEMBER_LEFT,
			"{\"user_id\":2,\"name\":\"x\",\"reason\":\"removed\"}");
	assert_string_equal(text, "x was removed from the room.\n");
	free(text);
	plain_free(plain);
}

static void test_plain_ascii(void **state)
{
	struct plain *plain = plain_new(SANITIZE_ASCII);
	char *text;

	(void)state;
	text = describe(plain, ENGINE_EV_CHAT,
			"{\"user_id\":2,\"name\":\"Ren\\u00e9e\","
			"\"text\":\"\\u001b[2J caf\\u00e9\"}");
	assert_string_equal(text, "Chat from Ren?e: ?[2J caf?\n");
	free(text);
	plain_free(plain);
}

static void test_bot_parse(void **state)
{
	static const char *const bad[] = {
		"", "nope", "[1]", "{}", "{\"cmd\":42}", "{\"cmd\":\"fly\"}",
		"{\"cmd\":\"join\"}", "{\"cmd\":\"join\",\"room\":0}",
		"{\"cmd\":\"join\",\"room\":-4}", "{\"cmd\":\"join\",\"room\":\"12x\"}",
		"{\"cmd\":\"say\"}", "{\"cmd\":\"say\",\"text\":\"\"}",
		"{\"cmd\":\"invite\"}", "{\"cmd\":\"volume\",\"user\":\"a\"}",
		"{\"cmd\":\"volume\",\"user\":\"a\",\"gain\":9}", "{\"cmd\":\"create\"}",
		"{\"cmd\":\"create\",\"title\":\"t\",\"private\":\"yes\"}",
		"{\"cmd\":\"say\",\"text\":\"a\\u0000b\"}", "{\"cmd\":\"quit\",\"id\":[1]}",
		"{\"cmd\":\"quit\",\"cmd\":\"quit\"}",
	};
	struct engine_command *command;
	char *error, *tag;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(bot_parse_command(bad[i], strlen(bad[i]), &command, &error, &tag),
				 -EINVAL);
		assert_null(command);
		assert_non_null(error);
		free(error);
		free(tag);
	}

	const char *line = "{\"cmd\":\"fly\",\"id\":\"t1\"}";

	assert_int_equal(bot_parse_command(line, strlen(line), &command, &error, &tag), -EINVAL);
	assert_string_equal(tag, "t1");
	free(error);
	free(tag);

	line = "{\"cmd\":\"join\",\"room\":123,\"listen_only\":true,\"id\":9}";
	assert_int_equal(bot_parse_command(line, strlen(line), &command, &error, &tag), 0);
	assert_int_equal(command->type, ENGINE_CMD_JOIN);
	assert_int_equal(command->room, 123);
	assert_true(command->flag);
	assert_string_equal(command->tag, "9");
	engine_command_free(command);
	free(tag);

	line = "{\"cmd\":\"volume\",\"user\":17,\"gain\":0.5}";
	assert_int_equal(bot_parse_command(line, strlen(line), &command, &error, &tag), 0);
	assert_int_equal(command->type, ENGINE_CMD_SET_VOLUME);
	assert_string_equal(command->user, "17");
	assert_true(command->number == 0.5);
	assert_null(command->tag);
	engine_command_free(command);

	line = "{\"cmd\":\"create\",\"title\":\"T\",\"topic\":\"\",\"private\":true}";
	assert_int_equal(bot_parse_command(line, strlen(line), &command, &error, &tag), 0);
	assert_int_equal(command->type, ENGINE_CMD_CREATE_ROOM);
	assert_string_equal(command->text, "T");
	assert_string_equal(command->text2, "");
	assert_true(command->flag);
	engine_command_free(command);

	line = "{\"cmd\":\"record\",\"file\":null}";
	assert_int_equal(bot_parse_command(line, strlen(line), &command, &error, &tag), 0);
	assert_int_equal(command->type, ENGINE_CMD_RECORD);
	assert_null(command->text);
	engine_command_free(command);

	/* Playing stops as recording does: file null, or "stop": true. */
	line = "{\"cmd\":\"play\",\"file\":null}";
	assert_int_equal(bot_parse_command(line, strlen(line), &command, &error, &tag), 0);
	assert_int_equal(command->type, ENGINE_CMD_PLAY);
	assert_null(command->text);
	engine_command_free(command);
	line = "{\"cmd\":\"record\",\"stop\":true}";
	assert_int_equal(bot_parse_command(line, strlen(line), &command, &error, &tag), 0);
	assert_int_equal(command->type, ENGINE_CMD_RECORD);
	assert_null(command->text);
	engine_command_free(command);
	line = "{\"cmd\":\"play\",\"file\":\"a.wav\",\"stop\":true}";
	assert_int_equal(bot_parse_command(line, strlen(line), &command, &error, &tag), -EINVAL);
	assert_null(command);
	free(error);

	/* Earcons by name, with an optional volume. */
	line = "{\"cmd\":\"earcon\",\"type\":\"hand\",\"volume\":80}";
	assert_int_equal(bot_parse_command(line, strlen(line), &command, &error, &tag), 0);
	assert_int_equal(command->type, ENGINE_CMD_EARCON);
	assert_int_equal((int)command->number, EARCON_HAND);
	assert_string_equal(command->text, "80");
	engine_command_free(command);
	line = "{\"cmd\":\"earcon\",\"type\":\"join\"}";
	assert_int_equal(bot_parse_command(line, strlen(line), &command, &error, &tag), 0);
	assert_int_equal((int)command->number, EARCON_JOIN);
	assert_null(command->text);
	engine_command_free(command);
	line = "{\"cmd\":\"earcon\",\"type\":\"?\"}";
	assert_int_equal(bot_parse_command(line, strlen(line), &command, &error, &tag), -EINVAL);
	free(error);
	line = "{\"cmd\":\"earcon\",\"type\":\"join\",\"volume\":101}";
	assert_int_equal(bot_parse_command(line, strlen(line), &command, &error, &tag), -EINVAL);
	free(error);
}

static void test_bot_format(void **state)
{
	struct engine_event *event;
	char *line;

	event = event_new(ENGINE_EV_CHAT, "{\"user_id\":2,\"name\":\"a\","
					  "\"text\":\"\\u001b\",\"tag\":\"x\"}");
	(void)state;
	line = bot_format_event(event);
	assert_string_equal(line, "{\"event\":\"chat\",\"user_id\":2,\"name\":\"a\","
				  "\"text\":\"\\u001B\",\"tag\":\"x\"}\n");
	free(line);
	json_decref(event->data);
	event->data = NULL;
	event->type = ENGINE_EV_QUIT;
	line = bot_format_event(event);
	assert_string_equal(line, "{\"event\":\"quit\"}\n");
	free(line);
	free(event);
}

static void test_frontend_helpers(void **state)
{
	uint64_t room;
	json_t *rooms = json_loads("{\"rooms\":[{\"id\":7,\"title\":\"Demo\"},"
				   "{\"id\":8,\"title\":\"demo\"}]}", 0, NULL);

	(void)state;
	assert_int_equal(frontend_parse_room("42", &room), 0);
	assert_int_equal(room, 42);
	assert_int_equal(frontend_parse_room("0", &room), -EINVAL);
	assert_int_equal(frontend_parse_room("9007199254740992", &room), -EINVAL);
	assert_int_equal(frontend_parse_room("+1", &room), -EINVAL);
	assert_int_equal(frontend_parse_room("Demo", &room), -EINVAL);
	assert_int_equal(frontend_find_room(rooms, "demo", &room), 0);
	assert_int_equal(room, 8);
	assert_int_equal(frontend_find_room(rooms, "Nope", &room), -ENOENT);
	json_decref(rooms);
	assert_int_equal(frontend_exit_for_error("room_not_found"), FRONTEND_EXIT_NOT_FOUND);
	assert_int_equal(frontend_exit_for_error("unreachable"), FRONTEND_EXIT_UNREACHABLE);
	assert_int_equal(frontend_exit_for_error("audio"), FRONTEND_EXIT_NO_AUDIO);
	assert_int_equal(frontend_exit_for_error("forbidden"), FRONTEND_EXIT_ERROR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_hostile_text),
		cmocka_unit_test(test_plain_ascii),
		cmocka_unit_test(test_bot_parse),
		cmocka_unit_test(test_bot_format),
		cmocka_unit_test(test_frontend_helpers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
