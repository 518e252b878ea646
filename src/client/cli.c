/*
 * cli.c - one-shot subcommands over the engine.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio.h"
#include "cli.h"
#include "i18n.h"
#include "log.h"
#include "plain.h"
#include "sanitize.h"
#include "util.h"

/* How long a subcommand waits for its answer before giving up. */
#define CLI_ANSWER_TIMEOUT_MS 30000
/* How long the engine gets to leave and stop at the end. */
#define CLI_QUIT_TIMEOUT_MS 5000

static const struct {
	const char *name;
	int operands;
	const char *usage;
} cli_subcommands[] = {
	/* The operands' names (TITLE, ROOM, ...) are translated, as in --help. */
	{"rooms", 0, N_("salon rooms [--json]")},
	{"create", 1, N_("salon create TITLE [--topic TOPIC] [--private] [--json]")},
	{"join", 1, N_("salon join ROOM [--play FILE|-] [--record FILE|-] [--listen-only] "
		       "[--for SECONDS]")},
	{"whoami", 0, N_("salon whoami [--json]")},
	{"verify", 1, N_("salon verify USER [--json]")},
	{"devices", 0, N_("salon devices")},
};

bool cli_is_subcommand(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(cli_subcommands); i++)
		if (strcmp(name, cli_subcommands[i].name) == 0)
			return true;
	return false;
}

int cli_check_operands(const char *name, int argc, char **argv)
{
	(void)argv;
	for (size_t i = 0; i < ARRAY_SIZE(cli_subcommands); i++) {
		if (strcmp(name, cli_subcommands[i].name) != 0)
			continue;
		if (argc == cli_subcommands[i].operands)
			return 0;
		fprintf(stderr, _("Usage: %s\n"), _(cli_subcommands[i].usage));
		return -EINVAL;
	}
	return -EINVAL;
}

struct cli {
	struct engine *engine;
	const struct frontend_options *options;
	int signal_fd;
	bool connected;
	bool interrupted;
	uint64_t self_id;   /* our user id, from ENGINE_EV_CONNECTED */
	struct plain *plain; /* describes events in words */
};

/* Prints an event's data as one JSON line on standard output (without any tag). */
static void cli_print_json(const json_t *data)
{
	json_t *copy = json_deep_copy(data);
	char *text;

	json_object_del(copy, "tag");
	text = json_dumps(copy, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(copy);
	if (text == NULL)
		fatal("json_dumps failed");
	printf("%s\n", text);
	free(text);
}

/* Prints an event in words on stream (when the event says anything). */
static void cli_print_words(struct cli *cli, const struct engine_event *event, FILE *stream)
{
	char *text = plain_describe(cli->plain, event);

	if (text != NULL)
		fputs(text, stream);
	free(text);
	fflush(stream);
}

/*
 * Waits up to timeout_ms for the next event. Returns 0 and *out (the caller frees
 * it), -ETIMEDOUT, or -EINTR when SIGINT or SIGTERM arrived.
 */
static int cli_next(struct cli *cli, int timeout_ms, struct engine_event **out)
{
	uint64_t deadline = util_now_ms() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms);

	for (;;) {
		uint64_t now;
		int ret;

		*out = engine_next_event(cli->engine);
		if (*out != NULL)
			return 0;
		now = util_now_ms();
		if (timeout_ms >= 0 && now >= deadline)
			return -ETIMEDOUT;
		ret = frontend_wait(cli->engine, cli->signal_fd,
				    timeout_ms < 0 ? -1 : (int)(deadline - now));
		if (ret == 2) {
			frontend_signals_read(cli->signal_fd);
			cli->interrupted = true;
			return -EINTR;
		}
		if (ret < 0)
			return ret;
	}
}

/*
 * Handles the events every subcommand treats alike before its answer: errors
 * (returns their exit status), failing to reach the server before login (exit 3),
 * an unexpected stop. Returns -1 when the event is none of those.
 */
static int cli_common(struct cli *cli, const struct engine_event *event)
{
	switch (event->type) {
	case ENGINE_EV_CONNECTED:
		cli->connected = true;
		cli->self_id = frontend_u64(json_object_get(event->data, "user"), "id");
		return -1;
	case ENGINE_EV_RECONNECTING:
		if (cli->connected)
			return -1;
		fprintf(stderr, _("salon: cannot reach the server at %s\n"),
			cli->options->engine.server_url);
		return FRONTEND_EXIT_UNREACHABLE;
	case ENGINE_EV_ERROR: {
		char *message = sanitize_text(frontend_str(event->data, "message", ""),
					      strlen(frontend_str(event->data, "message", "")),
					      cli->options->ascii ? SANITIZE_ASCII : 0);

		frontend_error("%s", message);
		free(message);
		if (strcmp(frontend_str(event->data, "code", ""), "audio") == 0)
			fputs(frontend_audio_hint(), stderr);
		return frontend_exit_for_error(frontend_str(event->data, "code", NULL));
	}
	case ENGINE_EV_QUIT:
		return FRONTEND_EXIT_ERROR;
	default:
		return -1;
	}
}

/*
 * Waits for an event of type want (after sending nothing). Returns 0 and *out, or an
 * exit status (> 0) when something else decided the outcome.
 */
static int cli_wait_for(struct cli *cli, enum engine_event_type want,
			enum engine_event_type also, struct engine_event **out)
{
	uint64_t deadline = util_now_ms() + CLI_ANSWER_TIMEOUT_MS;

	for (;;) {
		struct engine_event *event;
		uint64_t now = util_now_ms();
		int ret, status;

		ret = cli_next(cli, now >= deadline ? 0 : (int)(deadline - now), &event);
		if (ret == -EINTR)
			return FRONTEND_EXIT_ERROR;
		if (ret < 0) {
			fprintf(stderr, cli->connected ?
						_("salon: no answer from the server in time\n") :
						_("salon: cannot reach the server at %s\n"),
				cli->options->engine.server_url);
			return cli->connected ? FRONTEND_EXIT_ERROR : FRONTEND_EXIT_UNREACHABLE;
		}
		if (event->type == want || event->type == also) {
			*out = event;
			return 0;
		}
		status = cli_common(cli, event);
		engine_event_free(event);
		if (status >= 0)
			return status;
	}
}

/* Sends a command and waits for its answer (want, or also). */
static int cli_ask(struct cli *cli, struct engine_command *command, enum engine_event_type want,
		   enum engine_event_type also, struct engine_event **out)
{
	int status;
	struct engine_event *event;

	if (!cli->connected) {
		status = cli_wait_for(cli, ENGINE_EV_CONNECTED, ENGINE_EV_CONNECTED, &event);
		if (status != 0) {
			engine_command_free(command);
			return status;
		}
		cli_common(cli, event);
		engine_event_free(event);
	}
	engine_send(cli->engine, command);
	return cli_wait_for(cli, want, also, out);
}

/* Asks the engine to stop and waits (bounded) for its last event. */
static void cli_quit(struct cli *cli)
{
	uint64_t deadline = util_now_ms() + CLI_QUIT_TIMEOUT_MS;
	struct engine_event *event;

	engine_send(cli->engine, engine_command_new(ENGINE_CMD_QUIT));
	for (;;) {
		uint64_t now = util_now_ms();
		int ret;

		if (now >= deadline)
			break;
		ret = cli_next(cli, (int)(deadline - now), &event);
		if (ret == -EINTR)
			continue;
		if (ret < 0)
			break;
		if (event->type == ENGINE_EV_ERROR && !cli->options->quiet)
			cli_print_words(cli, event, stderr);
		if (event->type == ENGINE_EV_QUIT) {
			engine_event_free(event);
			return;
		}
		engine_event_free(event);
	}
	log_warn(_("the engine did not stop in time"));
}

/*
 * Sends command, waits for its answer (want, or also) and prints it: as JSON with
 * --json, else in words on standard output. Returns 0 and the answer's type in
 * *answered (when not NULL), or an exit status (> 0) when no answer came.
 */
static int cli_ask_print(struct cli *cli, struct engine_command *command,
			 enum engine_event_type want, enum engine_event_type also,
			 enum engine_event_type *answered)
{
	struct engine_event *event;
	int status = cli_ask(cli, command, want, also, &event);

	if (status != 0)
		return status;
	if (cli->options->json)
		cli_print_json(event->data);
	else
		cli_print_words(cli, event, stdout);
	if (answered != NULL)
		*answered = event->type;
	engine_event_free(event);
	return FRONTEND_EXIT_OK;
}

static int cli_rooms(struct cli *cli)
{
	return cli_ask_print(cli, engine_command_new(ENGINE_CMD_LIST_ROOMS), ENGINE_EV_ROOMS,
			     ENGINE_EV_ROOMS, NULL);
}

static int cli_create(struct cli *cli, const char *title)
{
	struct engine_command *command = engine_command_new(ENGINE_CMD_CREATE_ROOM);

	command->text = xstrdup(title);
	if (cli->options->topic != NULL)
		command->text2 = xstrdup(cli->options->topic);
	command->flag = cli->options->private_room;
	return cli_ask_print(cli, command, ENGINE_EV_ROOM_CREATED, ENGINE_EV_ROOM_CREATED, NULL);
}

static int cli_whoami(struct cli *cli)
{
	return cli_ask_print(cli, engine_command_new(ENGINE_CMD_WHOAMI), ENGINE_EV_WHOAMI,
			     ENGINE_EV_WHOAMI, NULL);
}

static int cli_verify(struct cli *cli, const char *user)
{
	struct engine_command *command = engine_command_new(ENGINE_CMD_VERIFY);
	enum engine_event_type answered;
	int status;

	command->user = xstrdup(user);
	status = cli_ask_print(cli, command, ENGINE_EV_SAFETY_NUMBER, ENGINE_EV_KEY_CHANGED,
			       &answered);
	if (status != 0)
		return status;
	return answered == ENGINE_EV_KEY_CHANGED ? FRONTEND_EXIT_KEY_CHANGED : FRONTEND_EXIT_OK;
}

/* Finds the id of the room named by text (an id, or a title in the room list). */
static int cli_resolve_room(struct cli *cli, const char *text, uint64_t *room)
{
	struct engine_event *event;
	int status;
	char *clean;

	if (frontend_parse_room(text, room) == 0)
		return 0;
	status = cli_ask(cli, engine_command_new(ENGINE_CMD_LIST_ROOMS), ENGINE_EV_ROOMS,
			 ENGINE_EV_ROOMS, &event);
	if (status != 0)
		return status;
	status = frontend_find_room(event->data, text, room) == 0 ? 0 : FRONTEND_EXIT_NOT_FOUND;
	engine_event_free(event);
	if (status != 0) {
		clean = sanitize_text(text, strlen(text),
				      cli->options->ascii ? SANITIZE_ASCII : 0);
		fprintf(stderr, _("salon: no open room is called \"%s\"\n"), clean);
		free(clean);
	}
	return status;
}

static int cli_join(struct cli *cli, const char *room_text)
{
	const struct frontend_options *options = cli->options;
	struct engine_command *command;
	struct engine_event *event;
	uint64_t room, deadline = 0;
	bool playing = options->engine.capture != NULL &&
		       strncmp(options->engine.capture, "file:", 5) == 0 &&
		       !options->engine.loop_capture;
	int status;

	status = cli_resolve_room(cli, room_text, &room);
	if (status != 0)
		return status;
	command = engine_command_new(ENGINE_CMD_JOIN);
	command->room = room;
	command->flag = options->listen_only;
	status = cli_ask(cli, command, ENGINE_EV_JOINED, ENGINE_EV_JOINED, &event);
	if (status != 0)
		return status;
	if (!options->quiet)
		cli_print_words(cli, event, stderr);
	engine_event_free(event);
	if (options->for_seconds > 0)
		deadline = util_now_ms() + (uint64_t)(options->for_seconds * 1000.0);

	/* In the room: report what happens until the time is up or the room ends. */
	for (;;) {
		uint64_t now = util_now_ms();
		int timeout = -1, ret;

		if (deadline != 0)
			timeout = now >= deadline ? 0 : (int)(deadline - now);
		ret = cli_next(cli, timeout, &event);
		if (ret == -EINTR || ret == -ETIMEDOUT)
			return FRONTEND_EXIT_OK;
		if (ret < 0)
			return FRONTEND_EXIT_ERROR;
		if (!options->quiet || event->type == ENGINE_EV_ERROR)
			cli_print_words(cli, event, stderr);
		switch (event->type) {
		case ENGINE_EV_ROOM_ENDED:
		case ENGINE_EV_LEFT:
			engine_event_free(event);
			return FRONTEND_EXIT_OK;
		case ENGINE_EV_MEMBER_LEFT:
			/* Removed by a moderator: nothing more to hear. */
			if (frontend_u64(event->data, "user_id") == cli->self_id) {
				engine_event_free(event);
				return FRONTEND_EXIT_OK;
			}
			break;
		case ENGINE_EV_PLAY_FINISHED:
			if (playing && deadline == 0) {
				engine_event_free(event);
				return FRONTEND_EXIT_OK;
			}
			break;
		case ENGINE_EV_QUIT:
			engine_event_free(event);
			return FRONTEND_EXIT_ERROR;
		default:
			break;
		}
		engine_event_free(event);
	}
}

int cli_run(struct engine *engine, const char *name, int argc, char **argv,
	    const struct frontend_options *options, int signal_fd)
{
	struct cli cli = {
		.engine = engine,
		.options = options,
		.signal_fd = signal_fd,
	};
	int status = FRONTEND_EXIT_USAGE;

	cli.plain = plain_new(options->ascii ? SANITIZE_ASCII : 0);
	if (strcmp(name, "rooms") == 0)
		status = cli_rooms(&cli);
	else if (strcmp(name, "create") == 0 && argc == 1)
		status = cli_create(&cli, argv[0]);
	else if (strcmp(name, "whoami") == 0)
		status = cli_whoami(&cli);
	else if (strcmp(name, "verify") == 0 && argc == 1)
		status = cli_verify(&cli, argv[0]);
	else if (strcmp(name, "join") == 0 && argc == 1)
		status = cli_join(&cli, argv[0]);
	cli_quit(&cli);
	plain_free(cli.plain);
	return status;
}

struct cli_devices {
	const char *backend;
	unsigned count;
	bool ascii;
};

static void cli_device(void *arg, const struct audio_device *device)
{
	struct cli_devices *list = arg;
	char *name = sanitize_text(device->name, strlen(device->name),
				   list->ascii ? SANITIZE_ASCII : 0);
	char *description = device->description == NULL ? NULL :
			    sanitize_text(device->description, strlen(device->description),
					  list->ascii ? SANITIZE_ASCII : 0);

	printf("  %s:%s%s%s%s%s\n", list->backend, name,
	       device->capture ? _(" [input]") : "", device->playback ? _(" [output]") : "",
	       description != NULL ? " - " : "", description != NULL ? description : "");
	list->count++;
	free(name);
	free(description);
}

int cli_devices(const struct frontend_options *options)
{
	struct cli_devices list = {.backend = "portaudio", .ascii = options->ascii};
	int ret;

	printf(_("Sound devices (give one to --input or --output):\n"));
	fflush(stdout);
	ret = audio_portaudio_backend.list_devices(cli_device, &list);
	if (ret < 0 || list.count == 0)
		printf(_("  none found\n"));
	printf(_("Always available:\n"
		 "  null             silence in, nothing out\n"
		 "  file:PATH        a sound file (WAV, FLAC, Ogg Opus at 48 kHz)\n"
		 "  pipe:-           raw PCM, 16-bit little-endian 48 kHz mono, on stdin/stdout\n"
		 "  pipe:PATH        the same on a FIFO or file\n"));
	return FRONTEND_EXIT_OK;
}
