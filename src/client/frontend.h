/*
 * frontend.h - what salon's front ends (plain, bot, TUI, one-shot subcommands) share:
 * the options main.c gathers, exit codes, signal handling and small helpers over
 * engine events.
 *
 * Front ends run on the main thread only; they talk to the engine through engine.h
 * and own the terminal. Errors as in util.h.
 */
#ifndef SALON_FRONTEND_H
#define SALON_FRONTEND_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine.h"

/* salon's exit status, documented in man/salon.1 (EXIT STATUS). */
enum frontend_exit {
	FRONTEND_EXIT_OK = 0,
	FRONTEND_EXIT_ERROR = 1,       /* any other failure */
	FRONTEND_EXIT_USAGE = 2,       /* bad command line */
	FRONTEND_EXIT_UNREACHABLE = 3, /* the server (or the local salond) cannot be reached */
	FRONTEND_EXIT_NOT_FOUND = 4,   /* no such room or user */
	FRONTEND_EXIT_NO_AUDIO = 5,    /* an audio device cannot be opened */
	FRONTEND_EXIT_KEY_CHANGED = 6, /* a peer's identity key differs from its pin */
};

/* Everything main.c decided from the command line, the config file and defaults. */
struct frontend_options {
	struct engine_options engine;
	bool ascii;            /* sanitize to ASCII (non-UTF-8 terminal or --ascii) */
	bool quiet;            /* -q: only errors */
	bool json;             /* --json: machine-readable answers (rooms, create, ...) */
	const char *room;      /* room to join at start (id or title), or NULL */
	bool listen_only;      /* join without speaking */
	double for_seconds;    /* join: leave after this long; 0 means no limit */
	const char *topic;     /* create */
	bool private_room;     /* create */
	const char *local_note; /* shown once by plain mode in local mode, or NULL */
};

/*
 * Blocks SIGINT, SIGTERM and SIGHUP in the calling thread (threads started later
 * inherit the mask, so only the front end sees them) and returns a signalfd that
 * reads them, or a negative errno value. Also ignores SIGPIPE, as the pipe audio
 * backend and a bot's reader going away require. Call it before engine_start().
 */
int frontend_signals_open(void);

/*
 * For a child process between fork() and exec(): unblocks every signal and puts
 * SIGPIPE back to its default, undoing frontend_signals_open().
 */
void frontend_signals_reset_child(void);

/* Reads one pending signal from the signalfd; returns its number, or 0 if none. */
int frontend_signals_read(int fd);

/*
 * Maps an error code of an ENGINE_EV_ERROR event (the server's codes of doc/API.md
 * and the engine's own) to an exit status.
 */
enum frontend_exit frontend_exit_for_error(const char *code);

/*
 * Parses a room id (decimal, 1..2^53-1) into *room. Returns 0 or -EINVAL when text
 * is not a room id (then it may be a title; see frontend_find_room()).
 */
int frontend_parse_room(const char *text, uint64_t *room);

/*
 * Looks for a live room whose title is title (exactly) in the data of an
 * ENGINE_EV_ROOMS event. Returns 0 and its id in *room, or -ENOENT.
 */
int frontend_find_room(const json_t *rooms_data, const char *title, uint64_t *room);

/*
 * Prints "salon: " and the message made of format and its arguments on standard
 * error, then a newline. The prefix goes through gettext too (a language may put
 * the program's name differently); format should be translated by the caller.
 */
void frontend_error(const char *format, ...) __attribute__((format(printf, 1, 2)));

/* frontend_error() with a va_list, for functions that take a format themselves. */
void frontend_verror(const char *format, va_list ap) __attribute__((format(printf, 1, 0)));

/* What to say when no sound device can be opened (translated, ends in '\n'). */
const char *frontend_audio_hint(void);

/* A string field of an event's data, or fallback when it is missing. */
const char *frontend_str(const json_t *object, const char *key, const char *fallback);

/* An integer field of an event's data, or 0 when it is missing. */
uint64_t frontend_u64(const json_t *object, const char *key);

/*
 * A sanitized copy of a string field of an event's data (whole, NULs included), or of
 * fallback when it is missing; sanitize_flags are sanitize.h flags, width as
 * sanitize_text_width() (0: no limit). The caller frees the result.
 */
char *frontend_field_text(const json_t *object, const char *key, unsigned sanitize_flags,
			  size_t width, const char *fallback);

/*
 * "user N", sanitized with sanitize_flags: how a user whose name is unknown is
 * shown. The caller frees the result.
 */
char *frontend_user_text(uint64_t user_id, unsigned sanitize_flags);

/* The roles of doc/API.md, highest first, as frontend_role_rank() numbers them. */
enum frontend_role {
	FRONTEND_ROLE_HOST,
	FRONTEND_ROLE_MODERATOR,
	FRONTEND_ROLE_SPEAKER,
	FRONTEND_ROLE_LISTENER,
	FRONTEND_ROLE_OTHER, /* NULL or a role this client does not know */
};

/* The enum frontend_role of a role's name ("host", ...; NULL is fine). */
enum frontend_role frontend_role_rank(const char *role);

/*
 * "the host", "a moderator", "a speaker" or "a listener" (translated) for a role in a
 * sentence; other for NULL or any other role. Never NULL unless other is.
 */
const char *frontend_role_phrase(const char *role, const char *other);

/* The highest gain a listener may give a member's voice (ENGINE_CMD_SET_VOLUME). */
#define FRONTEND_GAIN_MAX 4.0

/*
 * Parses the arguments of a volume command, "NAME GAIN", in place: cuts args at its
 * last space, leaving NAME in args, and reads GAIN into *gain. Returns 0, -EINVAL
 * when there is no GAIN (a usage error), or -ERANGE when GAIN is not a number from 0
 * to FRONTEND_GAIN_MAX.
 */
int frontend_parse_volume(char *args, double *gain);

/* Sends the engine ENGINE_CMD_SET_VOLUME: user's voice (as the engine names users) at gain. */
void frontend_send_volume(struct engine *engine, const char *user, double gain);

/*
 * Sends the engine a new command of this type with copies of user and text (either
 * may be NULL: the field stays unset).
 */
void frontend_send(struct engine *engine, enum engine_command_type type, const char *user,
		   const char *text);

/*
 * Waits up to timeout_ms (negative: forever) for the engine's descriptor or the
 * signalfd (when >= 0) to be readable. Returns 1 when the engine has events, 2 when
 * a signal is waiting, 0 on timeout, or a negative errno value.
 */
int frontend_wait(const struct engine *engine, int signal_fd, int timeout_ms);

/* What frontend_poll() found ready (a bit mask). */
enum frontend_ready {
	FRONTEND_READY_ENGINE = 1, /* the engine has events */
	FRONTEND_READY_SIGNAL = 2, /* the signalfd has a signal */
	FRONTEND_READY_INPUT = 4,  /* standard input can be read (or is at its end) */
};

/*
 * One turn of the loop of a front end that reads lines (bot, plain): waits for the
 * engine, the signalfd and, when read_input, standard input, until deadline
 * (util_now_ms() time; UINT64_MAX: no limit, the usual case before quitting).
 * Returns the enum frontend_ready bits of what is ready, 0 when a signal
 * interrupted the wait, -ETIMEDOUT when the deadline passed (logged as the engine
 * not stopping in time: a deadline is only set while quitting), or another
 * negative errno value when poll() failed (logged).
 */
int frontend_poll(const struct engine *engine, int signal_fd, bool read_input,
		  uint64_t deadline);

#endif
