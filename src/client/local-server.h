/*
 * local-server.h - the embedded salond behind `salon --local` (and behind salon when
 * no server is configured): a private server on loopback so that a newcomer has a
 * working room with no set-up.
 *
 * local_server_start() runs salond as a child process: found as $SALOND, else
 * beside the salon binary in a build tree (../server/salond), else in the
 * configured sbindir, else as `salond` in $PATH. It listens on 127.0.0.1 with
 * ports the kernel picks, keeps its database in $XDG_DATA_HOME/salon/local.db and
 * writes its port file into a private directory under $XDG_RUNTIME_DIR/salon (or
 * $TMPDIR); its log goes to $XDG_STATE_HOME/salon/local-salond.log. Only one salon
 * at a time uses the local database (a lock file beside it).
 *
 * local_server_start_demo() then makes sure a room called "Demo" is open, hosted by
 * a bot: a `salon --bot` child with its own identity ($XDG_DATA_HOME/salon/
 * demo-bot.identity), named "demo-bot", that plays the demo clip (demo.opus in
 * $SALON_DATADIR, else the installed data directory) in a loop.
 *
 * local_server_stop() ends the bot (end of its input: it leaves and quits), then
 * salond (SIGTERM, waited for), and removes the private directory. The children
 * are in their own process group, so the terminal's Ctrl-C reaches salon alone,
 * and they get SIGTERM should salon die without stopping them.
 *
 * Main thread only. Errors as in util.h; failures come with a translated message.
 */
#ifndef SALON_LOCAL_SERVER_H
#define SALON_LOCAL_SERVER_H

#include <stdint.h>

struct local_server;

/* The demo room's title. */
#define LOCAL_SERVER_DEMO_TITLE "Demo"

/*
 * Starts salond and waits (at most 10 s) for its port file. Returns 0 and *out,
 * or a negative errno value and a message in *error (the caller frees it).
 */
int local_server_start(struct local_server **out, char **error);

/* The API's URL ("http://127.0.0.1:PORT"), owned by the server. */
const char *local_server_url(const struct local_server *server);

/*
 * Starts the demo bot and waits (at most 20 s) until it is in the demo room, which
 * it creates if no open room is called "Demo". Returns 0 and the room's id in
 * *room, or a negative errno value and a message in *error (the caller frees it);
 * the local server keeps running either way.
 */
int local_server_start_demo(struct local_server *server, uint64_t *room, char **error);

/* Stops the bot and salond, waits for them, cleans up and frees server (NULL: no-op). */
void local_server_stop(struct local_server *server);

#endif
