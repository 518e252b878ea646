/*
 * cli.h - salon's one-shot subcommands: rooms, create, join, whoami, verify, devices.
 *
 * Each logs in, does one thing, prints the answer on standard output (in words, or
 * JSON with --json) and exits with a status of frontend.h; diagnostics and, for
 * `join`, the room's events go to standard error, since standard output may carry
 * the room's audio (--record -). Main thread only; errors as in util.h.
 */
#ifndef SALON_CLI_H
#define SALON_CLI_H

#include <stdbool.h>

#include "engine.h"
#include "frontend.h"

/* True when name is a subcommand that cli_run() knows (devices excepted). */
bool cli_is_subcommand(const char *name);

/*
 * Checks the operands of a subcommand (argc words after its name). Returns 0, or
 * -EINVAL after printing a usage message to standard error.
 */
int cli_check_operands(const char *name, int argc, char **argv);

/*
 * Runs subcommand name (rooms, create, join, whoami or verify) with its operands on
 * a started engine. Returns an exit status.
 */
int cli_run(struct engine *engine, const char *name, int argc, char **argv,
	    const struct frontend_options *options, int signal_fd);

/* `salon devices`: lists the audio backends and devices. Returns an exit status. */
int cli_devices(const struct frontend_options *options);

#endif
