/*
 * bot.h - salon's JSON-lines mode (--bot), for scripts and bots.
 *
 * Standard input carries one command per line, a JSON object such as
 * {"cmd":"join","room":123,"id":"j1"}; standard output carries one JSON object per
 * line for each engine event, {"event":"member_joined", ...the event's data}, with
 * "tag" set to the command's "id" in the events that answer it. A line that is not a
 * valid command gives {"event":"error","code":"bad_command","message":...} and the
 * next line is read. End of input is "quit". Every output line is flushed at once.
 * The protocol, command by command, is in man/salon.1 (BOT PROTOCOL).
 *
 * Main thread only; errors as in util.h.
 */
#ifndef SALON_BOT_H
#define SALON_BOT_H

#include "engine.h"
#include "frontend.h"

/* The longest input line accepted, in bytes; longer lines are refused whole. */
#define BOT_LINE_MAX 65536

/*
 * Parses one input line (len bytes, without its newline) into a new engine command.
 * Returns 0 and *out (the caller owns it), or -EINVAL with a translated reason in
 * *error (the caller frees it) and, when the line had a usable "id", that id in
 * *tag (the caller frees it; else NULL).
 */
int bot_parse_command(const char *line, size_t len, struct engine_command **out,
		      char **error, char **tag);

/*
 * Formats an event as its output line (with the trailing newline) in a new string
 * the caller frees.
 */
char *bot_format_event(const struct engine_event *event);

/*
 * Runs bot mode on standard input and output with a started engine until "quit",
 * end of input, or SIGINT/SIGTERM on signal_fd. When options->room is set, joins it
 * once connected. Returns an exit status (frontend.h).
 */
int bot_run(struct engine *engine, const struct frontend_options *options, int signal_fd);

#endif
