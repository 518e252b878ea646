/*
 * tui-keys.h - the full-screen UI's key bindings: actions, their default keys, key
 * names, and the [keys] section of the config file (config-file.h).
 *
 * A key is an int: a Unicode code point for a character (control characters
 * included: Tab is 9, Ctrl-C is 3), or TUI_KEY_FUNCTION | a curses KEY_* code for a
 * function key, so that the two never collide. Enter is always TUI_KEY_ENTER ('\r')
 * whatever the terminal sends for it.
 *
 * Both ways of writing a binding are accepted, "m = mute" (key = action, as
 * config-file.h shows) and "mute = m" (action = key): the side that names an action
 * is the action. An action of "none" unbinds the key.
 *
 * This file does not include curses.h; tui.c translates curses key codes. Main
 * thread only; errors as in util.h.
 */
#ifndef SALON_TUI_KEYS_H
#define SALON_TUI_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#include "config-file.h"

#define TUI_KEY_FUNCTION 0x40000000
#define TUI_KEY_ENTER '\r'
#define TUI_KEY_ESCAPE 27

enum tui_action {
	TUI_ACTION_NONE,
	TUI_ACTION_HELP,
	TUI_ACTION_QUIT,
	TUI_ACTION_LEAVE,
	TUI_ACTION_UP,
	TUI_ACTION_DOWN,
	TUI_ACTION_PAGE_UP,
	TUI_ACTION_PAGE_DOWN,
	TUI_ACTION_TOP,
	TUI_ACTION_BOTTOM,
	TUI_ACTION_SELECT,
	TUI_ACTION_NEXT_PANE,
	TUI_ACTION_REFRESH,
	TUI_ACTION_CREATE,
	TUI_ACTION_FILTER,
	TUI_ACTION_MUTE,
	TUI_ACTION_MUTE_MEMBER,
	TUI_ACTION_HAND,
	TUI_ACTION_INVITE,
	TUI_ACTION_AUDIENCE,
	TUI_ACTION_MODERATOR,
	TUI_ACTION_REMOVE,
	TUI_ACTION_VERIFY,
	TUI_ACTION_VOLUME_UP,
	TUI_ACTION_VOLUME_DOWN,
	TUI_ACTION_LISTENERS,
	TUI_ACTION_CHAT,
	TUI_ACTION_COMMAND,
	TUI_ACTION_WHOAMI,
	TUI_ACTION_COUNT,
};

/* Function-key codes the parser knows by name; tui.c maps curses codes to these. */
enum tui_fkey {
	TUI_FKEY_UP = 1,
	TUI_FKEY_DOWN,
	TUI_FKEY_LEFT,
	TUI_FKEY_RIGHT,
	TUI_FKEY_HOME,
	TUI_FKEY_END,
	TUI_FKEY_PAGE_UP,
	TUI_FKEY_PAGE_DOWN,
	TUI_FKEY_BACKSPACE,
	TUI_FKEY_DELETE,
	TUI_FKEY_BACK_TAB,
	TUI_FKEY_F0 = 100, /* F1 is TUI_FKEY_F0 + 1, up to F12 */
};

struct tui_binding {
	int key;
	enum tui_action action;
};

struct tui_keymap {
	struct tui_binding *bindings;
	size_t count;
};

/* The action's name in the config file ("mute"), or NULL out of range. */
const char *tui_keys_action_name(enum tui_action action);

/* What the action does, translated, for the help screen. */
const char *tui_keys_action_help(enum tui_action action);

/* Fills map with the default bindings; free it with tui_keys_free(). */
void tui_keys_init(struct tui_keymap *map);
void tui_keys_free(struct tui_keymap *map);

/* Binds key to action (TUI_ACTION_NONE unbinds it), replacing its old action. */
void tui_keys_bind(struct tui_keymap *map, int key, enum tui_action action);

/* The action bound to key, or TUI_ACTION_NONE. */
enum tui_action tui_keys_lookup(const struct tui_keymap *map, int key);

/*
 * Writes into buf (size bytes) the names of the keys bound to action, separated by
 * ", " in binding order, and returns buf; buf is "" when none is.
 */
char *tui_keys_describe(const struct tui_keymap *map, enum tui_action action, char *buf,
			size_t size);

/* The first key bound to action, named into buf, or "" when none is. */
char *tui_keys_first(const struct tui_keymap *map, enum tui_action action, char *buf,
		     size_t size);

/*
 * Parses a key name: one character ("m", "+", "é"), "C-x" or "^x" for a control
 * key, or a name (Enter, Tab, Esc, Space, Backspace, Delete, Up, Down, Left, Right,
 * Home, End, PageUp, PageDown, F1..F12; case does not matter). Returns 0 and *key,
 * or -EINVAL.
 */
int tui_keys_parse(const char *text, int *key);

/* Names key into buf (the reverse of tui_keys_parse) and returns buf. */
char *tui_keys_name(int key, char *buf, size_t size);

/*
 * Applies the [keys] bindings of a config file to map. Each one that cannot be
 * understood is skipped and described in a new translated line appended to
 * *problems (one '\n'-terminated line each; *problems may start NULL; the caller
 * frees it). Returns the number of bindings skipped.
 */
size_t tui_keys_apply(struct tui_keymap *map, const struct config_file_binding *bindings,
		      size_t count, char **problems);

#endif
