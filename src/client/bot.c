/*
 * bot.c - JSON lines in, JSON lines out.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bot.h"
#include "earcon.h"
#include "i18n.h"
#include "log.h"
#include "util.h"

/* How long "quit" waits for the engine to leave the room and stop. */
#define BOT_QUIT_TIMEOUT_MS 5000

/* What a command takes besides its name. */
enum bot_argument {
	BOT_ARG_NONE,
	BOT_ARG_ROOM,    /* "room": id; "listen_only": bool */
	BOT_ARG_USER,    /* "user": name or id */
	BOT_ARG_TEXT,    /* "text": string */
	BOT_ARG_FILE,    /* "file": string, or null / missing / "stop": true to stop */
	BOT_ARG_EARCON,  /* "type": earcon name; "volume": 0..100 */
	BOT_ARG_CREATE,  /* "title", "topic", "private" */
	BOT_ARG_VOLUME,  /* "user", "gain" */
};

static const struct {
	const char *name;
	enum engine_command_type type;
	enum bot_argument argument;
} bot_commands[] = {
	{"list_rooms", ENGINE_CMD_LIST_ROOMS, BOT_ARG_NONE},
	{"create", ENGINE_CMD_CREATE_ROOM, BOT_ARG_CREATE},
	{"join", ENGINE_CMD_JOIN, BOT_ARG_ROOM},
	{"leave", ENGINE_CMD_LEAVE, BOT_ARG_NONE},
	{"mute", ENGINE_CMD_MUTE, BOT_ARG_NONE},
	{"unmute", ENGINE_CMD_UNMUTE, BOT_ARG_NONE},
	{"raise_hand", ENGINE_CMD_RAISE_HAND, BOT_ARG_NONE},
	{"lower_hand", ENGINE_CMD_LOWER_HAND, BOT_ARG_NONE},
	{"invite", ENGINE_CMD_INVITE, BOT_ARG_USER},
	{"move_to_audience", ENGINE_CMD_MOVE_TO_AUDIENCE, BOT_ARG_USER},
	{"make_moderator", ENGINE_CMD_MAKE_MODERATOR, BOT_ARG_USER},
	{"remove", ENGINE_CMD_REMOVE, BOT_ARG_USER},
	{"say", ENGINE_CMD_SAY, BOT_ARG_TEXT},
	{"play", ENGINE_CMD_PLAY, BOT_ARG_FILE},
	{"record", ENGINE_CMD_RECORD, BOT_ARG_FILE},
	{"earcon", ENGINE_CMD_EARCON, BOT_ARG_EARCON},
	{"verify", ENGINE_CMD_VERIFY, BOT_ARG_USER},
	{"accept_key", ENGINE_CMD_ACCEPT_KEY, BOT_ARG_USER},
	{"volume", ENGINE_CMD_SET_VOLUME, BOT_ARG_VOLUME},
	{"whoami", ENGINE_CMD_WHOAMI, BOT_ARG_NONE},
	{"stats", ENGINE_CMD_STATS, BOT_ARG_NONE},
	{"end_room", ENGINE_CMD_END_ROOM, BOT_ARG_NONE},
	{"quit", ENGINE_CMD_QUIT, BOT_ARG_NONE},
};

/* A JSON string, or a non-negative integer as its decimal text; NULL otherwise. */
static char *bot_string_or_id(const json_t *value)
{
	if (json_is_string(value))
		return xstrndup(json_string_value(value), json_string_length(value));
	if (json_is_integer(value) && json_integer_value(value) >= 0)
		return xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(value));
	return NULL;
}

/* A required, non-empty string field without NUL bytes; NULL when it is not one. */
static const char *bot_text(const json_t *object, const char *key)
{
	const json_t *value = json_object_get(object, key);

	if (!json_is_string(value) || json_string_length(value) == 0 ||
	    strlen(json_string_value(value)) != json_string_length(value))
		return NULL;
	return json_string_value(value);
}

static int bot_fill(struct engine_command *command, enum bot_argument argument,
		    const json_t *object, char **error)
{
	const json_t *value;
	const char *text;

	switch (argument) {
	case BOT_ARG_NONE:
		return 0;
	case BOT_ARG_ROOM: {
		char *room_text = bot_string_or_id(json_object_get(object, "room"));
		int ret = frontend_parse_room(room_text, &command->room);

		free(room_text);
		if (ret < 0) {
			*error = xstrdup(_("\"room\" must be a room id"));
			return -EINVAL;
		}
		value = json_object_get(object, "listen_only");
		if (value != NULL && !json_is_boolean(value)) {
			*error = xstrdup(_("\"listen_only\" must be true or false"));
			return -EINVAL;
		}
		command->flag = json_is_true(value);
		return 0;
	}
	case BOT_ARG_VOLUME:
		value = json_object_get(object, "gain");
		if (!json_is_number(value) || !(json_number_value(value) >= 0.0) ||
		    json_number_value(value) > FRONTEND_GAIN_MAX) {
			*error = xstrdup(_("\"gain\" must be a number from 0 to 4"));
			return -EINVAL;
		}
		command->number = json_number_value(value);
		/* The user too. */
		/* fall through */
	case BOT_ARG_USER:
		value = json_object_get(object, "user");
		command->user = bot_string_or_id(value);
		if (command->user == NULL || command->user[0] == '\0' ||
		    (json_is_string(value) &&
		     strlen(command->user) != json_string_length(value))) {
			*error = xstrdup(_("\"user\" must be a user name or id"));
			return -EINVAL;
		}
		return 0;
	case BOT_ARG_TEXT:
		if ((text = bot_text(object, "text")) == NULL) {
			*error = xstrdup(_("\"text\" must be a non-empty string"));
			return -EINVAL;
		}
		command->text = xstrdup(text);
		return 0;
	case BOT_ARG_FILE:
		/* Playing and recording both stop with text NULL (engine.h). */
		value = json_object_get(object, "stop");
		if (value != NULL && !json_is_boolean(value)) {
			*error = xstrdup(_("\"stop\" must be true or false"));
			return -EINVAL;
		}
		if (json_is_true(value)) {
			if (json_object_get(object, "file") != NULL) {
				*error = xstrdup(_("give either \"file\" or \"stop\", not both"));
				return -EINVAL;
			}
			return 0;
		}
		value = json_object_get(object, "file");
		if (value == NULL || json_is_null(value))
			return 0;
		if ((text = bot_text(object, "file")) == NULL) {
			*error = xstrdup(_("\"file\" must be a file name, or null to stop"));
			return -EINVAL;
		}
		command->text = xstrdup(text);
		return 0;
	case BOT_ARG_EARCON:
		if ((text = bot_text(object, "type")) == NULL) {
			*error = xstrdup(_("\"type\" must be an earcon name"));
			return -EINVAL;
		}
		command->number = -1;
		for (int i = 0; i < EARCON_COUNT; i++)
			if (strcmp(text, earcon_name((enum earcon_type)i)) == 0)
				command->number = i;
		if (command->number < 0) {
			*error = xasprintf(_("unknown earcon \"%s\""), text);
			return -EINVAL;
		}
		value = json_object_get(object, "volume");
		if (value == NULL)
			return 0;
		if (!json_is_integer(value) || json_integer_value(value) < 0 ||
		    json_integer_value(value) > 100) {
			*error = xstrdup(_("\"volume\" must be an integer from 0 to 100"));
			return -EINVAL;
		}
		command->text = xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(value));
		return 0;
	case BOT_ARG_CREATE:
		if ((text = bot_text(object, "title")) == NULL) {
			*error = xstrdup(_("\"title\" must be a non-empty string"));
			return -EINVAL;
		}
		command->text = xstrdup(text);
		value = json_object_get(object, "topic");
		if (value != NULL) {
			if ((text = bot_text(object, "topic")) == NULL &&
			    !(json_is_string(value) && json_string_length(value) == 0)) {
				*error = xstrdup(_("\"topic\" must be a string"));
				return -EINVAL;
			}
			command->text2 = xstrdup(text != NULL ? text : "");
		}
		value = json_object_get(object, "private");
		if (value != NULL && !json_is_boolean(value)) {
			*error = xstrdup(_("\"private\" must be true or false"));
			return -EINVAL;
		}
		command->flag = json_is_true(value);
		return 0;
	}
	return 0;
}

int bot_parse_command(const char *line, size_t len, struct engine_command **out,
		      char **error, char **tag)
{
	json_error_t json_error;
	json_t *object;
	const char *name;
	struct engine_command *command = NULL;
	int ret = -EINVAL;

	*out = NULL;
	*error = NULL;
	*tag = NULL;
	object = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &json_error);
	if (object == NULL) {
		*error = xasprintf(_("not JSON: %s"), json_error.text);
		return -EINVAL;
	}
	if (!json_is_object(object)) {
		*error = xstrdup(_("a command is a JSON object"));
		goto out;
	}
	if (json_object_get(object, "id") != NULL) {
		*tag = bot_string_or_id(json_object_get(object, "id"));
		if (*tag == NULL) {
			*error = xstrdup(_("\"id\" must be a string or a non-negative integer"));
			goto out;
		}
	}
	name = bot_text(object, "cmd");
	if (name == NULL) {
		*error = xstrdup(_("\"cmd\" is missing"));
		goto out;
	}
	for (size_t i = 0; i < ARRAY_SIZE(bot_commands); i++) {
		if (strcmp(name, bot_commands[i].name) != 0)
			continue;
		command = engine_command_new(bot_commands[i].type);
		ret = bot_fill(command, bot_commands[i].argument, object, error);
		if (ret < 0) {
			engine_command_free(command);
			goto out;
		}
		if (*tag != NULL)
			command->tag = xstrdup(*tag);
		*out = command;
		ret = 0;
		goto out;
	}
	*error = xasprintf(_("unknown command \"%s\""), name);
out:
	json_decref(object);
	return ret;
}

char *bot_format_event(const struct engine_event *event)
{
	json_t *object = json_object();
	char *text, *line;

	json_object_set_new(object, "event", json_string(engine_event_name(event->type)));
	if (json_is_object(event->data)) {
		const char *key;
		json_t *value;

		json_object_foreach(event->data, key, value)
			if (strcmp(key, "event") != 0)
				json_object_set(object, key, value);
	}
	text = json_dumps(object, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(object);
	if (text == NULL)
		fatal("json_dumps failed");
	line = xasprintf("%s\n", text);
	free(text);
	return line;
}

struct bot_run {
	struct engine *engine;
	const struct frontend_options *options;
	char *line;
	size_t line_len;
	bool line_too_long;
	bool input_done;
	bool quitting;
	bool joined_at_start;
	uint64_t quit_deadline;
	int last_error;
	bool output_broken;
};

static void bot_write(struct bot_run *run, const char *line)
{
	if (run->output_broken)
		return;
	if (fputs(line, stdout) == EOF || fflush(stdout) == EOF) {
		/* Nobody reads us any more: there is no point in staying. */
		run->output_broken = true;
	}
}

static void bot_local_error(struct bot_run *run, const char *message, const char *tag)
{
	json_t *object = json_pack("{s:s, s:s, s:s}", "event", "error", "code", "bad_command",
				   "message", message);
	char *text;

	if (tag != NULL)
		json_object_set_new(object, "tag", json_string(tag));
	text = json_dumps(object, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(object);
	if (text == NULL)
		fatal("json_dumps failed");
	bot_write(run, text);
	bot_write(run, "\n");
	free(text);
}

static void bot_quit(struct bot_run *run)
{
	if (run->quitting)
		return;
	run->quitting = true;
	run->quit_deadline = util_now_ms() + BOT_QUIT_TIMEOUT_MS;
	engine_send(run->engine, engine_command_new(ENGINE_CMD_QUIT));
}

static void bot_line(struct bot_run *run, const char *line, size_t len)
{
	struct engine_command *command;
	char *error, *tag;

	/* Blank lines are allowed between commands. */
	if (strspn(line, " \t\r") == len)
		return;
	if (bot_parse_command(line, len, &command, &error, &tag) < 0) {
		bot_local_error(run, error, tag);
		free(error);
		free(tag);
		return;
	}
	free(tag);
	if (command->type == ENGINE_CMD_QUIT) {
		if (!run->quitting) {
			run->quitting = true;
			run->quit_deadline = util_now_ms() + BOT_QUIT_TIMEOUT_MS;
			engine_send(run->engine, command);
		} else {
			engine_command_free(command);
		}
		return;
	}
	engine_send(run->engine, command);
}

static void bot_read_input(struct bot_run *run)
{
	char buf[4096];
	ssize_t got = read(STDIN_FILENO, buf, sizeof(buf));

	if (got < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (got <= 0) {
		if (run->line_len > 0 && !run->line_too_long)
			bot_line(run, run->line, run->line_len);
		run->input_done = true;
		bot_quit(run);
		return;
	}
	for (ssize_t i = 0; i < got && !run->quitting; i++) {
		if (buf[i] == '\n') {
			if (run->line_too_long)
				bot_local_error(run, _("line too long"), NULL);
			else
				bot_line(run, run->line, run->line_len);
			run->line_len = 0;
			run->line_too_long = false;
		} else if (run->line_len < BOT_LINE_MAX) {
			run->line[run->line_len++] = buf[i];
		} else {
			run->line_too_long = true;
		}
	}
}

int bot_run(struct engine *engine, const struct frontend_options *options, int signal_fd)
{
	struct bot_run run = {.engine = engine, .options = options};
	int status = FRONTEND_EXIT_OK;
	bool done = false;

	run.line = xmalloc(BOT_LINE_MAX + 1);
	while (!done) {
		int ready = frontend_poll(engine, signal_fd, !run.input_done && !run.quitting,
					  run.quitting ? run.quit_deadline : UINT64_MAX);

		if (ready < 0) {
			if (ready != -ETIMEDOUT)
				status = FRONTEND_EXIT_ERROR;
			break;
		}
		if (ready == 0)
			continue;
		if (ready & FRONTEND_READY_SIGNAL) {
			frontend_signals_read(signal_fd);
			if (run.quitting)
				break;
			bot_quit(&run);
		}
		if (ready & FRONTEND_READY_INPUT)
			bot_read_input(&run);
		if (ready & FRONTEND_READY_ENGINE) {
			struct engine_event *event;

			while ((event = engine_next_event(engine)) != NULL) {
				char *line = bot_format_event(event);

				bot_write(&run, line);
				free(line);
				if (event->type == ENGINE_EV_ERROR)
					run.last_error = frontend_exit_for_error(
						frontend_str(event->data, "code", NULL));
				if (event->type == ENGINE_EV_CONNECTED && options->room != NULL &&
				    !run.joined_at_start) {
					struct engine_command *join;

					join = engine_command_new(ENGINE_CMD_JOIN);

					run.joined_at_start = true;
					if (frontend_parse_room(options->room, &join->room) == 0) {
						join->flag = options->listen_only;
						engine_send(engine, join);
					} else {
						engine_command_free(join);
					}
				}
				if (event->type == ENGINE_EV_QUIT) {
					if (!run.quitting)
						status = run.last_error != 0 ? run.last_error :
									       FRONTEND_EXIT_ERROR;
					done = true;
				}
				engine_event_free(event);
			}
		}
		if (run.output_broken)
			bot_quit(&run);
	}
	free(run.line);
	return status;
}
