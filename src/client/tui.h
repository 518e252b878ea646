/*
 * tui.h - salon's full-screen terminal UI (ncurses), made for screen readers first.
 *
 * Two screens: the hallway (the list of open rooms: filter, refresh, create, join)
 * and the room (the stage with each member's state in words, the listeners, the
 * chat and event log, an input line for chat and ':' commands, a status line with
 * the microphone, connection and encryption state). '?' lists every key; keys come
 * from the config file's [keys] section (tui-keys.h).
 *
 * What makes it usable with a screen reader:
 *   - The terminal cursor is always on the line of the focused item, at its start
 *     (in a text field: at the insertion point), after every refresh.
 *   - Nothing on the screen changes when nothing happens: no clock, spinner or
 *     animation; the loop sleeps in poll() on the keyboard and the engine's
 *     descriptor, and only a pending speaking announcement arms a timer.
 *   - State is always in words ("Alice, host [speaking] [muted]"), never only by
 *     colour or attribute; decorations fall back to ASCII outside UTF-8 locales.
 *   - Speaking announcements are coalesced ("Speaking: Alice, Bob"), updated at most
 *     once a second.
 *   - Earcons (earcon.h) for joins, departures, hands, invitations, muting and
 *     mentions, mixed by the engine into what we hear (ENGINE_CMD_EARCON), at their
 *     own volume and with an off switch (tests/test-tui.c checks which event sends
 *     which).
 * Every string from the network goes through sanitize.h before reaching the screen.
 *
 * Main thread only. The caller sets the locale first (i18n_init()): curses and the
 * UTF-8 test depend on it. The engine must be started (engine_start()); the caller
 * frees it. SIGWINCH is handled while tui_run() runs, and restored after.
 */
#ifndef SALON_TUI_H
#define SALON_TUI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config-file.h"
#include "engine.h"

/* Speaking announcements (tui_options.speaking). */
enum tui_speaking {
	TUI_SPEAKING_OFF,   /* no "Speaking:" line and no [speaking] markers */
	TUI_SPEAKING_LINE,  /* the coalesced "Speaking: ..." line and markers (default) */
	TUI_SPEAKING_LOG,   /* as LINE, and each coalesced change also in the event log */
};

struct tui_options {
	bool ascii;            /* ASCII only (also forced when the locale is not UTF-8) */
	bool meters;           /* level meters (accepted; the engine gives no levels yet) */
	bool earcons;          /* earcons on (ENGINE_CMD_EARCON) */
	int earcon_volume;     /* 0..100; 0 sends none, like earcons off */
	enum tui_speaking speaking;
	/* The config file's [keys] section (config-file.h), or NULL and 0. */
	const struct config_file_binding *bindings;
	size_t binding_count;
	uint64_t room;         /* room to join once connected, or 0 for the hallway */
	bool listen_only;      /* join rooms without a microphone */
	int signal_fd;         /* a signalfd (frontend_signals_open()) or -1 */
};

/* Fills options with the defaults: earcons on at 50, speaking LINE, signal_fd -1. */
void tui_options_init(struct tui_options *options);

/*
 * Runs the full-screen UI on the terminal (standard input and output) with a started
 * engine until the user quits, a signal arrives on options->signal_fd, or the engine
 * stops. Owns the terminal from initscr() to endwin(). Returns 0 when the user quit,
 * 1 when the engine stopped by itself or the terminal failed, 3 when the server
 * could not be reached before the engine stopped.
 */
int tui_run(struct engine *engine, const struct tui_options *options);

#endif
