/*
 * plain.h - salon's line mode (--plain): for screen readers, slow links and logs.
 *
 * One line of words per event ("Alice joined as a listener.", "Chat from Alice:
 * hi"), every piece of text from the network sanitized (sanitize.h), no cursor
 * addressing, and nothing printed when nothing happens. Commands are read a line at
 * a time from standard input: "/join ID", "/say TEXT" or any text as chat, "/help"
 * for the rest (man/salon.1, PLAIN MODE).
 *
 * The describing half (plain_new, plain_describe) keeps no terminal state, so that
 * the one-shot `salon join` and the tests use it too. Main thread only; errors as
 * in util.h.
 */
#ifndef SALON_PLAIN_H
#define SALON_PLAIN_H

#include <stdbool.h>

#include "engine.h"
#include "frontend.h"

struct plain;

/*
 * Creates the state that plain_describe() keeps (who we are, the room, its
 * members). sanitize_flags are sanitize.h flags (SANITIZE_ASCII for a non-UTF-8
 * terminal). The caller frees it with plain_free().
 */
struct plain *plain_new(unsigned sanitize_flags);
void plain_free(struct plain *plain);

/*
 * Updates the state from event and returns what to print for it: one or more
 * lines, each ending in '\n', in a new string the caller frees; or NULL when the
 * event shows nothing (speaking stopped, the last QUIT). Text that came from the
 * network is sanitized in the result.
 */
char *plain_describe(struct plain *plain, const struct engine_event *event);

/*
 * Runs line mode on standard input and output with a started engine until the user
 * quits (/quit, end of input, SIGINT or SIGTERM through signal_fd). Joins
 * options->room first when it is set. Returns an exit status (frontend.h).
 */
int plain_run(struct engine *engine, const struct frontend_options *options, int signal_fd);

#endif
