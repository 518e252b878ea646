/*
 * main.c - salon: options, config file, the local server, and the front end.
 *
 * Precedence: command-line options, then the config file, then defaults. With no
 * server configured, or with --local, a private salond is started on loopback
 * (local-server.h). Exit status: enum frontend_exit (man/salon.1, EXIT STATUS).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <langinfo.h>
#include <math.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "audio.h"
#include "bot.h"
#include "cli.h"
#include "config-file.h"
#include "engine.h"
#include "frontend.h"
#include "i18n.h"
#include "local-server.h"
#include "log.h"
#include "plain.h"
#include "tui.h"
#include "util.h"
#include "xdg.h"

enum main_mode {
	MAIN_MODE_DEFAULT, /* no subcommand: the interactive front end */
	MAIN_MODE_PLAIN,
	MAIN_MODE_BOT,
	MAIN_MODE_SUBCOMMAND,
};

/* What the command line says, before the config file and defaults are applied. */
struct main_args {
	enum main_mode mode;
	const char *server;
	bool local;
	const char *ca_file;
	const char *name;
	const char *config;
	const char *identity;
	const char *input;
	const char *output;
	int bitrate;          /* 0: not given */
	bool ascii;
	int verbose;
	bool quiet;
	bool json;
	const char *topic;
	bool private_room;
	const char *play;
	const char *record;
	bool listen_only;
	double for_seconds;
	bool loop;
	const char *subcommand;
	int operand_count;
	char **operands;
};

static void main_usage(FILE *out)
{
	fprintf(out, _("Usage: salon [OPTION]...                 talk in rooms (line mode)\n"
		       "       salon rooms [--json]              list the open rooms\n"
		       "       salon create TITLE [--topic TOPIC] [--private] [--json]\n"
		       "       salon join ROOM [--play FILE|-] [--record FILE|-] [--listen-only]\n"
		       "                       [--for SECONDS]   join a room by id or title\n"
		       "       salon whoami [--json]             your name and safety number\n"
		       "       salon verify USER [--json]        a user's safety number\n"
		       "       salon devices                     list the sound devices\n"
		       "       salon --bot                       JSON lines on stdin and stdout\n"
		       "       salon --plain                     line mode (screen readers)\n"
		       "End-to-end encrypted audio rooms.\n\n"
		       "Options:\n"
		       "  --server URL         salond to use (http:// or https://)\n"
		       "  --ca-file FILE       trust the certificate authorities in FILE (PEM)\n"
		       "                       for https:// instead of the system's\n"
		       "  --local              start a private salond on this computer (the\n"
		       "                       default when no server is configured)\n"
		       "  --name NAME          your name, used when your account is created\n"
		       "  --config FILE        config file (default ~/.config/salon/config)\n"
		       "  --identity FILE      identity key (default: identity in salon's data dir)\n"
		       "  --input DEV          microphone: a device from `salon devices`, null,\n"
		       "                       file:PATH or pipe:PATH\n"
		       "  --output DEV         speakers: a device, null, file:PATH or pipe:PATH\n"
		       "  --bitrate BPS        Opus bit rate, 6000 to 128000 (default 24000)\n"
		       "  --ascii              show only ASCII (for terminals without UTF-8)\n"
		       "  --json               answer in JSON (rooms, create, whoami, verify)\n"
		       "  --topic TOPIC        create: the room's topic\n"
		       "  --private            create: an unlisted room (share its id)\n"
		       "  --play FILE|-        speak from a sound file (- : raw PCM on stdin)\n"
		       "  --loop               play the --play file again and again\n"
		       "  --record FILE|-      record the room (announced; -: raw PCM on stdout)\n"
		       "  --listen-only        join without a microphone\n"
		       "  --for SECONDS        join: leave after this long\n"
		       "  --bot                bot mode: JSON commands in, JSON events out\n"
		       "  --plain              line mode: a line per event, commands at a prompt\n"
		       "  -v, --verbose        log more (repeat for debug)\n"
		       "  -q, --quiet          print less: errors and chat only\n"
		       "  -h, --help           show this help and exit\n"
		       "  -V, --version        show the version and exit\n\n"
		       "Exit status: 0 ok, 1 error, 2 usage, 3 server unreachable, 4 no such\n"
		       "room or user, 5 no audio device, 6 identity key changed. See salon(1).\n"));
}

/* Prints a usage error and the hint to --help; returns -EINVAL. */
static int main_usage_error(const char *format, ...) __attribute__((format(printf, 1, 2)));
static int main_usage_error(const char *format, ...)
{
	va_list ap;

	va_start(ap, format);
	frontend_verror(format, ap);
	va_end(ap);
	fprintf(stderr, _("Try 'salon --help' for more information.\n"));
	return -EINVAL;
}

static int main_parse_args(int argc, char **argv, struct main_args *args)
{
	enum {
		OPT_SERVER = 256, OPT_LOCAL, OPT_NAME, OPT_CONFIG, OPT_IDENTITY, OPT_INPUT,
		OPT_OUTPUT, OPT_BITRATE, OPT_ASCII, OPT_JSON, OPT_TOPIC, OPT_PRIVATE, OPT_PLAY,
		OPT_RECORD, OPT_LISTEN_ONLY, OPT_FOR, OPT_LOOP, OPT_BOT, OPT_PLAIN, OPT_CA_FILE,
	};
	static const struct option longopts[] = {
		{"server", required_argument, NULL, OPT_SERVER},
		{"ca-file", required_argument, NULL, OPT_CA_FILE},
		{"local", no_argument, NULL, OPT_LOCAL},
		{"name", required_argument, NULL, OPT_NAME},
		{"config", required_argument, NULL, OPT_CONFIG},
		{"identity", required_argument, NULL, OPT_IDENTITY},
		{"input", required_argument, NULL, OPT_INPUT},
		{"output", required_argument, NULL, OPT_OUTPUT},
		{"bitrate", required_argument, NULL, OPT_BITRATE},
		{"ascii", no_argument, NULL, OPT_ASCII},
		{"json", no_argument, NULL, OPT_JSON},
		{"topic", required_argument, NULL, OPT_TOPIC},
		{"private", no_argument, NULL, OPT_PRIVATE},
		{"play", required_argument, NULL, OPT_PLAY},
		{"record", required_argument, NULL, OPT_RECORD},
		{"listen-only", no_argument, NULL, OPT_LISTEN_ONLY},
		{"for", required_argument, NULL, OPT_FOR},
		{"loop", no_argument, NULL, OPT_LOOP},
		{"bot", no_argument, NULL, OPT_BOT},
		{"plain", no_argument, NULL, OPT_PLAIN},
		{"verbose", no_argument, NULL, 'v'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	char *end;
	long value;
	int c;

	while ((c = getopt_long(argc, argv, "vqhV", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_SERVER: args->server = optarg; break;
		case OPT_CA_FILE: args->ca_file = optarg; break;
		case OPT_LOCAL: args->local = true; break;
		case OPT_NAME: args->name = optarg; break;
		case OPT_CONFIG: args->config = optarg; break;
		case OPT_IDENTITY: args->identity = optarg; break;
		case OPT_INPUT: args->input = optarg; break;
		case OPT_OUTPUT: args->output = optarg; break;
		case OPT_BITRATE:
			errno = 0;
			value = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || value < CONFIG_FILE_BITRATE_MIN ||
			    value > CONFIG_FILE_BITRATE_MAX)
				return main_usage_error(_("--bitrate takes 6000 to 128000: %s"),
							optarg);
			args->bitrate = (int)value;
			break;
		case OPT_ASCII: args->ascii = true; break;
		case OPT_JSON: args->json = true; break;
		case OPT_TOPIC: args->topic = optarg; break;
		case OPT_PRIVATE: args->private_room = true; break;
		case OPT_PLAY: args->play = optarg; break;
		case OPT_RECORD: args->record = optarg; break;
		case OPT_LISTEN_ONLY: args->listen_only = true; break;
		case OPT_FOR:
			args->for_seconds = strtod(optarg, &end);
			if (*end != '\0' || end == optarg || !(args->for_seconds > 0.0) ||
			    args->for_seconds > 1e7)
				return main_usage_error(_("--for takes a number of seconds: %s"),
							optarg);
			break;
		case OPT_LOOP: args->loop = true; break;
		case OPT_BOT: args->mode = MAIN_MODE_BOT; break;
		case OPT_PLAIN: args->mode = MAIN_MODE_PLAIN; break;
		case 'v': args->verbose++; break;
		case 'q': args->quiet = true; break;
		case 'h': main_usage(stdout); exit(FRONTEND_EXIT_OK);
		case 'V': printf("salon %s\n", PACKAGE_VERSION); exit(FRONTEND_EXIT_OK);
		default:
			fprintf(stderr, _("Try 'salon --help' for more information.\n"));
			return -EINVAL;
		}
	}
	if (optind < argc) {
		if (args->mode != MAIN_MODE_DEFAULT)
			return main_usage_error(_("unexpected argument: %s"), argv[optind]);
		args->subcommand = argv[optind];
		if (!cli_is_subcommand(args->subcommand))
			return main_usage_error(_("unknown command: %s"), args->subcommand);
		args->mode = MAIN_MODE_SUBCOMMAND;
		args->operands = argv + optind + 1;
		args->operand_count = argc - optind - 1;
		if (cli_check_operands(args->subcommand, args->operand_count, args->operands) < 0)
			return -EINVAL;
	}

	/* Options that belong to one subcommand are refused elsewhere. */
	const char *sub = args->subcommand != NULL ? args->subcommand : "";

	if ((args->topic != NULL || args->private_room) && strcmp(sub, "create") != 0)
		return main_usage_error(_("%s goes with 'salon create'"),
					args->topic != NULL ? "--topic" : "--private");
	if (args->for_seconds > 0 && strcmp(sub, "join") != 0)
		return main_usage_error(_("%s goes with 'salon join'"), "--for");
	if ((args->play != NULL || args->record != NULL || args->listen_only || args->loop) &&
	    args->mode == MAIN_MODE_SUBCOMMAND && strcmp(sub, "join") != 0)
		return main_usage_error(_("%s goes with 'salon join', --bot or --plain"),
					args->play != NULL ? "--play" :
					args->record != NULL ? "--record" :
					args->loop ? "--loop" : "--listen-only");
	if (args->play != NULL && args->listen_only)
		return main_usage_error(_("%s: --play and --listen-only exclude each other"),
					"--play");
	if (args->loop && args->play == NULL)
		return main_usage_error(_("%s goes with --play"), "--loop");
	if (args->json && (args->mode == MAIN_MODE_BOT || strcmp(sub, "join") == 0 ||
			   strcmp(sub, "devices") == 0 || args->mode != MAIN_MODE_SUBCOMMAND))
		return main_usage_error(_("%s goes with rooms, create, whoami and verify"),
					"--json");
	if (args->server != NULL && args->local)
		return main_usage_error(_("%s: --server and --local exclude each other"),
					"--local");
	if (args->server != NULL && strncmp(args->server, "http://", 7) != 0 &&
	    strncmp(args->server, "https://", 8) != 0)
		return main_usage_error(_("--server takes an http:// or https:// URL: %s"),
					args->server);
	return 0;
}

/* The engine's audio spec for a device given by the user (see engine.h). */
static char *main_audio_spec(const char *device)
{
	if (strcmp(device, "null") == 0 || strncmp(device, "file:", 5) == 0 ||
	    strncmp(device, "pipe:", 5) == 0 || strncmp(device, "portaudio", 9) == 0)
		return xstrdup(device);
	return xasprintf("portaudio:%s", device);
}

/* A sound file to speak from or record to, as an engine audio spec. */
static char *main_file_spec(const char *file)
{
	if (strcmp(file, "-") == 0)
		return xstrdup("pipe:-");
	return xasprintf("file:%s", file);
}

/* The default display name: $USER, else the account's name, else "guest". */
static const char *main_default_name(void)
{
	const char *user = getenv("USER");
	const struct passwd *pw;

	if (user != NULL && user[0] != '\0')
		return user;
	pw = getpwuid(getuid());
	if (pw != NULL && pw->pw_name != NULL && pw->pw_name[0] != '\0')
		return pw->pw_name;
	return "guest";
}

/* Strings main() allocates for the options, freed at exit. */
struct main_owned {
	char *capture, *playback, *identity, *pins, *room, *note;
};

/*
 * Decides the audio of each mode (man/salon.1, AUDIO). One-shot commands other
 * than join open no device; bots are silent and deaf unless told; a scripted join
 * (--play or --record) opens no sound card unless --input or --output names one.
 */
static int main_audio(const struct main_args *args, const struct config_file *cfg,
		      struct frontend_options *options, struct main_owned *owned)
{
	const char *input = args->input != NULL ? args->input : cfg->input_device;
	const char *output = args->output != NULL ? args->output : cfg->output_device;
	bool join = args->mode == MAIN_MODE_SUBCOMMAND && strcmp(args->subcommand, "join") == 0;
	bool scripted = args->mode == MAIN_MODE_BOT ||
			(join && (args->play != NULL || args->record != NULL));

	if (args->mode == MAIN_MODE_SUBCOMMAND && !join) {
		owned->playback = xstrdup("null");
		return 0;
	}
	/* Capture. */
	if (args->play != NULL)
		owned->capture = main_file_spec(args->play);
	else if (args->listen_only)
		owned->capture = NULL;
	else if (args->input != NULL || (!scripted && input != NULL))
		owned->capture = main_audio_spec(input);
	else if (!scripted)
		owned->capture = xstrdup("portaudio");
	/* Playback, and the recording. */
	if (args->record != NULL && strcmp(args->record, "-") == 0) {
		if (args->output != NULL) {
			fprintf(stderr, _("salon: --record - writes the room to standard output; "
					  "it cannot go with --output\n"));
			return -EINVAL;
		}
		owned->playback = xstrdup("pipe:-");
	} else {
		if (args->record != NULL)
			options->engine.record_path = args->record;
		if (args->output != NULL || (!scripted && output != NULL))
			owned->playback = main_audio_spec(output);
		else
			owned->playback = xstrdup(scripted ? "null" : "portaudio");
	}
	options->engine.loop_capture = args->loop;
	options->engine.dsp = owned->capture != NULL &&
			      strncmp(owned->capture, "portaudio", 9) == 0;
	return 0;
}

/*
 * When engine_new() failed and a sound card was asked for, tells whether the card is
 * the reason, by opening the asked-for devices once more here.
 */
static bool main_audio_failed(const struct frontend_options *options)
{
	const struct audio_params params = {
		.sample_rate = AUDIO_SAMPLE_RATE, .channels = 1, .frame_samples = 960,
	};
	const char *specs[2] = {options->engine.capture, options->engine.playback};

	for (int i = 0; i < 2; i++) {
		struct audio_stream *stream = NULL;
		const char *device;
		int ret;

		if (specs[i] == NULL || strncmp(specs[i], "portaudio", 9) != 0)
			continue;
		device = specs[i][9] == ':' ? specs[i] + 10 : NULL;
		if (i == 0)
			ret = audio_portaudio_backend.open_capture(device, &params, &stream, NULL);
		else
			ret = audio_portaudio_backend.open_playback(device, &params, &stream, NULL);
		if (ret < 0)
			return true;
		audio_portaudio_backend.close(stream);
	}
	return false;
}

static enum log_level main_log_level(const struct main_args *args, enum log_level base)
{
	int level = (int)base + args->verbose;

	if (args->quiet)
		return LOG_LEVEL_ERROR;
	return level > (int)LOG_LEVEL_DEBUG ? LOG_LEVEL_DEBUG : (enum log_level)level;
}

/* The full-screen UI needs a terminal on both ends that can address the cursor. */
static bool main_full_screen_possible(void)
{
	const char *term = getenv("TERM");

	return isatty(STDIN_FILENO) && isatty(STDOUT_FILENO) && term != NULL &&
	       term[0] != '\0' && strcmp(term, "dumb") != 0;
}

/* Runs the full-screen UI with the options and the config file's settings. */
static int main_run_tui(struct engine *engine, const struct frontend_options *options,
			const struct config_file *cfg, int signal_fd)
{
	struct tui_options tui;
	char *end;

	tui_options_init(&tui);
	tui.ascii = options->ascii;
	tui.meters = cfg->meters;
	tui.earcons = cfg->earcons;
	tui.earcon_volume = cfg->earcon_volume;
	tui.bindings = cfg->bindings;
	tui.binding_count = cfg->binding_count;
	tui.listen_only = options->listen_only;
	tui.signal_fd = signal_fd;
	/* A room given by number is joined at once; otherwise the hallway opens. */
	if (options->room != NULL) {
		unsigned long long room = strtoull(options->room, &end, 10);

		if (end != options->room && *end == '\0')
			tui.room = room;
	}
	return tui_run(engine, &tui);
}

int main(int argc, char **argv)
{
	struct main_args args = {.mode = MAIN_MODE_DEFAULT};
	struct frontend_options options = {0};
	struct main_owned owned = {0};
	struct config_file cfg;
	struct local_server *local = NULL;
	struct engine *engine = NULL;
	char *config_path = NULL, *error = NULL;
	int signal_fd = -1, status = FRONTEND_EXIT_ERROR, ret;

	i18n_init();
	/* Tests point salon at catalogues built in the tree, before any installation. */
	if (getenv("SALON_LOCALEDIR") != NULL && getenv("SALON_LOCALEDIR")[0] != '\0')
		(void)bindtextdomain(PACKAGE, getenv("SALON_LOCALEDIR"));
	log_init("salon", LOG_LEVEL_WARN);
	config_file_init(&cfg);
	if (main_parse_args(argc, argv, &args) < 0) {
		status = FRONTEND_EXIT_USAGE;
		goto out;
	}

	/* The config file: its problems are reported, never fatal. */
	if (args.config != NULL)
		config_path = xstrdup(args.config);
	else if (config_file_default_path(&config_path) < 0)
		config_path = NULL;
	if (config_path != NULL && strcmp(config_path, "/dev/null") != 0) {
		config_file_load(&cfg, config_path);
		for (size_t i = 0; i < cfg.diag_count; i++)
			frontend_error("%s", cfg.diags[i].message);
	}
	log_set_level(main_log_level(&args, cfg.verbosity));

	if (args.mode == MAIN_MODE_SUBCOMMAND && strcmp(args.subcommand, "devices") == 0) {
		status = cli_devices(&options);
		goto out;
	}
	if (sodium_init() < 0)
		fatal("%s", _("libsodium failed to initialise"));

	options.ascii = args.ascii || cfg.ascii == 1 ||
			(cfg.ascii == -1 && strcmp(nl_langinfo(CODESET), "UTF-8") != 0);
	options.quiet = args.quiet;
	options.json = args.json;
	options.topic = args.topic;
	options.private_room = args.private_room;
	options.listen_only = args.listen_only;
	options.for_seconds = args.for_seconds;
	if (args.mode == MAIN_MODE_SUBCOMMAND && strcmp(args.subcommand, "join") == 0)
		options.room = args.operands[0];
	options.engine.name = args.name != NULL ? args.name :
			      cfg.name != NULL ? cfg.name : main_default_name();
	options.engine.bot = args.mode == MAIN_MODE_BOT;
	options.engine.bitrate = args.bitrate != 0 ? args.bitrate : cfg.bitrate;
	options.engine.frame_ms = (unsigned)cfg.frame_ms;
	options.engine.complexity = cfg.complexity;
	if (args.identity != NULL) {
		owned.identity = xstrdup(args.identity);
		/* Another identity keeps its own pins (the demo bot runs beside its user). */
		owned.pins = xasprintf("%s.pins", args.identity);
	} else if (xdg_path(XDG_DATA, "identity", &owned.identity) < 0 ||
		   xdg_path(XDG_DATA, "pins", &owned.pins) < 0) {
		fprintf(stderr, _("salon: no home directory to keep the identity key in; give "
				  "--identity FILE\n"));
		goto out;
	}
	options.engine.identity_path = owned.identity;
	options.engine.pins_path = owned.pins;
	if (main_audio(&args, &cfg, &options, &owned) < 0) {
		status = FRONTEND_EXIT_USAGE;
		goto out;
	}
	options.engine.capture = owned.capture;
	options.engine.playback = owned.playback;

	signal_fd = frontend_signals_open();
	if (signal_fd < 0) {
		frontend_error(_("cannot watch for signals: %s"), strerror(-signal_fd));
		goto out;
	}

	options.engine.server_url = args.server != NULL ? args.server : cfg.server;
	options.engine.ca_file = args.ca_file != NULL ? args.ca_file : cfg.ca_file;
	if (options.engine.ca_file != NULL && access(options.engine.ca_file, R_OK) != 0) {
		frontend_error(_("cannot read the certificate authorities file %s: %s"),
			       options.engine.ca_file, strerror(errno));
		status = FRONTEND_EXIT_USAGE;
		goto out;
	}
	if (args.local || options.engine.server_url == NULL) {
		ret = local_server_start(&local, &error);
		if (ret < 0) {
			fprintf(stderr, _("salon: cannot start the local server: %s\n"), error);
			status = FRONTEND_EXIT_UNREACHABLE;
			goto out;
		}
		options.engine.server_url = local_server_url(local);
		owned.note = xasprintf(_("This is a private salon server on this computer (%s); "
					 "it stops when you quit.\n"),
				       options.engine.server_url);
		options.local_note = owned.note;
		if (args.mode == MAIN_MODE_DEFAULT || args.mode == MAIN_MODE_PLAIN) {
			uint64_t room;

			if (local_server_start_demo(local, &room, &error) == 0) {
				owned.room = xasprintf("%" PRIu64, room);
				options.room = owned.room;
			} else {
				log_warn(_("no demo room: %s"), error);
			}
			free(error);
			error = NULL;
		}
	}

	ret = engine_new(&options.engine, &engine, &error);
	if (ret < 0) {
		frontend_error("%s", error != NULL ? error : strerror(-ret));
		if (main_audio_failed(&options)) {
			fputs(frontend_audio_hint(), stderr);
			status = FRONTEND_EXIT_NO_AUDIO;
		}
		goto out;
	}
	ret = engine_start(engine);
	if (ret < 0) {
		fprintf(stderr, _("salon: cannot start: %s\n"), strerror(-ret));
		goto out;
	}
	switch (args.mode) {
	case MAIN_MODE_BOT:
		status = bot_run(engine, &options, signal_fd);
		break;
	case MAIN_MODE_SUBCOMMAND:
		status = cli_run(engine, args.subcommand, args.operand_count, args.operands,
				 &options, signal_fd);
		break;
	case MAIN_MODE_DEFAULT:
		if (main_full_screen_possible()) {
			status = main_run_tui(engine, &options, &cfg, signal_fd);
			break;
		}
		/* Not a terminal (a pipe, a log, a dumb terminal): line mode. */
		status = plain_run(engine, &options, signal_fd);
		break;
	case MAIN_MODE_PLAIN:
		status = plain_run(engine, &options, signal_fd);
		break;
	}
out:
	if (engine != NULL)
		engine_free(engine);
	local_server_stop(local);
	if (signal_fd >= 0)
		close(signal_fd);
	free(error);
	free(config_path);
	free(owned.capture);
	free(owned.playback);
	free(owned.identity);
	free(owned.pins);
	free(owned.room);
	free(owned.note);
	config_file_free(&cfg);
	return status;
}
