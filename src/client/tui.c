/*
 * tui.c - the full-screen UI: state, engine events, keys, and drawing.
 *
 * The screen is redrawn whole (into curses' virtual screen) after every batch of
 * keys or engine events; curses then sends only what differs, so a redraw that
 * changes nothing sends nothing. Drawing is a pure function of the state: that is
 * what keeps the screen still when nothing happens.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <langinfo.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define NCURSES_WIDECHAR 1
#include <curses.h>

#include "earcon.h"
#include "frontend.h"
#include "i18n.h"
#include "log.h"
#include "sanitize.h"
#include "tui-keys.h"
#include "tui.h"
#include "util.h"

/*
 * salon does not link ncurses: tui_run() loads it with dlopen(), so that a bot or
 * line-mode process never maps libncursesw and libtinfo (about 0.2 MiB of resident
 * pages touched by the dynamic linker at start-up; bench/README.md, section 4).
 * The curses functions and variables this file uses, including those that curses.h's
 * macros expand to (attron() is wattr_on(stdscr, ...)), are reached through the
 * pointers below; the macros after tui_curses_load() send each name to its pointer.
 */

/* ncurses' soname (the wide-character library; it pulls in libtinfo). */
#define TUI_CURSES_LIBRARY "libncursesw.so.6"

/* A pointer to the curses function NAME, of its own type (from curses.h). */
#define TUI_CURSES_FUNCTION(name) __typeof__(name) *name

/*
 * The loaded library and its symbols, set by tui_curses_load(); handle stays NULL until
 * loading succeeded. Main thread only (as tui_run()); never unloaded.
 */
static struct {
	void *handle;
	int *lines;
	int *cols;
	WINDOW **stdscr;
	TUI_CURSES_FUNCTION(beep);
	TUI_CURSES_FUNCTION(curs_set);
	TUI_CURSES_FUNCTION(delscreen);
	TUI_CURSES_FUNCTION(endwin);
	TUI_CURSES_FUNCTION(keypad);
	TUI_CURSES_FUNCTION(newterm);
	TUI_CURSES_FUNCTION(nodelay);
	TUI_CURSES_FUNCTION(noecho);
	TUI_CURSES_FUNCTION(nonl);
	TUI_CURSES_FUNCTION(raw);
	TUI_CURSES_FUNCTION(resizeterm);
	TUI_CURSES_FUNCTION(set_escdelay);
	TUI_CURSES_FUNCTION(waddnstr);
	TUI_CURSES_FUNCTION(wattr_off);
	TUI_CURSES_FUNCTION(wattr_on);
	TUI_CURSES_FUNCTION(werase);
	TUI_CURSES_FUNCTION(wget_wch);
	TUI_CURSES_FUNCTION(wmove);
	TUI_CURSES_FUNCTION(wrefresh);
} tui_curses;

/* Looks up NAME in the loaded library into tui_curses.FIELD; false when it is missing. */
#define TUI_CURSES_RESOLVE(handle, field, name)                                            \
	((tui_curses.field = (__typeof__(tui_curses.field))dlsym(handle, name)) != NULL)

/*
 * Loads ncurses and looks up its symbols, once. Returns 0, or -ENOENT after logging
 * why (the library or one of its symbols is missing). Main thread only.
 */
static int tui_curses_load(void)
{
	void *handle;

	if (tui_curses.handle != NULL)
		return 0;
	handle = dlopen(TUI_CURSES_LIBRARY, RTLD_NOW | RTLD_LOCAL);
	if (handle == NULL) {
		log_error(_("cannot load ncurses (%s): %s; try --plain"), TUI_CURSES_LIBRARY,
			  dlerror());
		return -ENOENT;
	}
	if (!TUI_CURSES_RESOLVE(handle, lines, "LINES") ||
	    !TUI_CURSES_RESOLVE(handle, cols, "COLS") ||
	    !TUI_CURSES_RESOLVE(handle, stdscr, "stdscr") ||
	    !TUI_CURSES_RESOLVE(handle, beep, "beep") ||
	    !TUI_CURSES_RESOLVE(handle, curs_set, "curs_set") ||
	    !TUI_CURSES_RESOLVE(handle, delscreen, "delscreen") ||
	    !TUI_CURSES_RESOLVE(handle, endwin, "endwin") ||
	    !TUI_CURSES_RESOLVE(handle, keypad, "keypad") ||
	    !TUI_CURSES_RESOLVE(handle, newterm, "newterm") ||
	    !TUI_CURSES_RESOLVE(handle, nodelay, "nodelay") ||
	    !TUI_CURSES_RESOLVE(handle, noecho, "noecho") ||
	    !TUI_CURSES_RESOLVE(handle, nonl, "nonl") ||
	    !TUI_CURSES_RESOLVE(handle, raw, "raw") ||
	    !TUI_CURSES_RESOLVE(handle, resizeterm, "resizeterm") ||
	    !TUI_CURSES_RESOLVE(handle, set_escdelay, "set_escdelay") ||
	    !TUI_CURSES_RESOLVE(handle, waddnstr, "waddnstr") ||
	    !TUI_CURSES_RESOLVE(handle, wattr_off, "wattr_off") ||
	    !TUI_CURSES_RESOLVE(handle, wattr_on, "wattr_on") ||
	    !TUI_CURSES_RESOLVE(handle, werase, "werase") ||
	    !TUI_CURSES_RESOLVE(handle, wget_wch, "wget_wch") ||
	    !TUI_CURSES_RESOLVE(handle, wmove, "wmove") ||
	    !TUI_CURSES_RESOLVE(handle, wrefresh, "wrefresh")) {
		log_error(_("cannot load ncurses (%s): %s; try --plain"), TUI_CURSES_LIBRARY,
			  dlerror());
		dlclose(handle);
		return -ENOENT;
	}
	tui_curses.handle = handle;
	return 0;
}

/*
 * From here on, every curses name goes through tui_curses. LINES and COLS read 0
 * before the library is loaded (as curses' own do before initscr()): the event
 * handlers, which tests/test-tui.c runs without a terminal, may look at them.
 */
#undef LINES
#define LINES (tui_curses.lines != NULL ? *tui_curses.lines : 0)
#undef COLS
#define COLS (tui_curses.cols != NULL ? *tui_curses.cols : 0)
#undef stdscr
#define stdscr (*tui_curses.stdscr)
#undef beep
#define beep (*tui_curses.beep)
#undef curs_set
#define curs_set (*tui_curses.curs_set)
#undef delscreen
#define delscreen (*tui_curses.delscreen)
#undef endwin
#define endwin (*tui_curses.endwin)
#undef keypad
#define keypad (*tui_curses.keypad)
#undef newterm
#define newterm (*tui_curses.newterm)
#undef nodelay
#define nodelay (*tui_curses.nodelay)
#undef noecho
#define noecho (*tui_curses.noecho)
#undef nonl
#define nonl (*tui_curses.nonl)
#undef raw
#define raw (*tui_curses.raw)
#undef resizeterm
#define resizeterm (*tui_curses.resizeterm)
#undef set_escdelay
#define set_escdelay (*tui_curses.set_escdelay)
#undef waddnstr
#define waddnstr (*tui_curses.waddnstr)
#undef wattr_off
#define wattr_off (*tui_curses.wattr_off)
#undef wattr_on
#define wattr_on (*tui_curses.wattr_on)
#undef werase
#define werase (*tui_curses.werase)
#undef wget_wch
#define wget_wch (*tui_curses.wget_wch)
#undef wmove
#define wmove (*tui_curses.wmove)
#undef wrefresh
#define wrefresh (*tui_curses.wrefresh)

/* Names and titles are cut to this many columns before the line is laid out. */
#define TUI_NAME_WIDTH 40
#define TUI_TITLE_WIDTH 100
/* The event log keeps this many entries; older ones are dropped. */
#define TUI_LOG_MAX 500
/* The longest text typed into a field, in bytes. */
#define TUI_FIELD_MAX 1000
/* Speaking announcements change at most this often. */
#define TUI_SPEAKING_INTERVAL_MS 1000
/* How long quitting waits for the engine to leave the room and stop. */
#define TUI_QUIT_TIMEOUT_MS 5000
/* Per-member volume: steps of the gain (1.0 is unchanged; FRONTEND_GAIN_MAX at most). */
#define TUI_GAIN_STEP 0.25
/* Keys arrive this fast after ESC when they belong to an escape sequence. */
#define TUI_ESCDELAY_MS 50

struct tui_field {
	char text[TUI_FIELD_MAX + 1];
	size_t len;
	size_t cursor; /* byte offset, always on a code point boundary */
};

struct tui_member {
	uint64_t user_id;
	char *name;           /* sanitized */
	char role[16];
	bool bot;
	bool muted;           /* by a moderator (server mute) */
	bool hand;
	bool recording;
	bool speaking;        /* as the engine last said */
	bool speaking_shown;  /* as the screen says (coalesced) */
	bool key_changed;
	bool self;
	double gain;
	uint64_t order;       /* arrival order, to keep the list stable */
};

struct tui_room_info {
	uint64_t id;
	char *title;          /* sanitized */
	char *topic;          /* sanitized */
	uint64_t speakers;
	uint64_t listeners;
	bool private_room;
};

enum tui_screen {
	TUI_SCREEN_CONNECTING,
	TUI_SCREEN_HALLWAY,
	TUI_SCREEN_ROOM,
};

enum tui_pane {
	TUI_PANE_MEMBERS,
	TUI_PANE_LOG,
	TUI_PANE_INPUT,
};

enum tui_conn {
	TUI_CONN_CONNECTING,
	TUI_CONN_OK,
	TUI_CONN_API_RETRY,
	TUI_CONN_MEDIA_RETRY,
};

/* Full-screen pages over the hallway or the room. */
enum tui_page_kind {
	TUI_PAGE_NONE,
	TUI_PAGE_HELP,
	TUI_PAGE_INFO,
	TUI_PAGE_CONFIRM_REMOVE,
	TUI_PAGE_VERIFY,
	TUI_PAGE_CREATE,
};

/* The create dialog's fields, in focus order. */
enum tui_create_item {
	TUI_CREATE_TITLE,
	TUI_CREATE_TOPIC,
	TUI_CREATE_PRIVATE,
	TUI_CREATE_OK,
	TUI_CREATE_CANCEL,
	TUI_CREATE_COUNT,
};

/* One line of the member pane. */
struct tui_item {
	bool listeners_item;  /* the "N listeners" line */
	size_t member;        /* index into members otherwise */
};

struct tui {
	struct engine *engine;
	const struct tui_options *options;
	unsigned flags;       /* sanitize flags */
	bool ascii;
	struct tui_keymap keys;
	int status;
	bool done;
	bool quitting;
	uint64_t quit_deadline;
	bool dirty;
	int last_error_exit;

	enum tui_screen screen;
	enum tui_conn conn;
	bool connected_once;
	char *self_name;      /* sanitized */
	uint64_t self_id;
	char *server;         /* sanitized */
	char *message;        /* the hallway's last notice, or NULL */

	/* Hallway. */
	struct tui_room_info *rooms;
	size_t room_count;
	bool rooms_loaded;
	size_t hall_focus;    /* index among the rooms the filter shows */
	uint64_t hall_focus_id;
	struct tui_field filter;
	bool filter_editing;

	/* Room. */
	uint64_t room_id;
	char *room_title;     /* sanitized */
	char *room_topic;     /* sanitized */
	uint64_t listeners;
	struct tui_member *members;
	size_t member_count;
	uint64_t member_order;
	bool show_listeners;
	enum tui_pane pane;
	size_t member_focus;
	uint64_t member_focus_id; /* 0: the listeners line */
	char **log;
	size_t log_count;
	size_t log_focus;
	struct tui_field input;
	bool local_mute;
	bool speaking_pending;
	uint64_t speaking_last_ms;

	/* Members whose current key is verified, as the engine last told us. */
	uint64_t *verified;
	size_t verified_count;

	/* The page over the screen. */
	enum tui_page_kind page;
	char **page_lines;
	size_t page_count;
	size_t page_focus;
	uint64_t page_user;
	char *page_user_name;
	bool page_key_changed;
	struct tui_field create_title;
	struct tui_field create_topic;
	bool create_private;
	int create_focus;

	/* Where the cursor goes after drawing. */
	int cursor_y;
	int cursor_x;
};

/* The write end of the SIGWINCH self-pipe (the handler may run in any thread). */
static volatile int tui_winch_fd = -1;

static void tui_winch_handler(int signo)
{
	int saved = errno;
	char c = 1;

	(void)signo;
	if (tui_winch_fd >= 0 && write(tui_winch_fd, &c, 1) < 0) {
		/* The pipe is full: a wakeup is already waiting. */
	}
	errno = saved;
}

void tui_options_init(struct tui_options *options)
{
	memset(options, 0, sizeof(*options));
	options->earcons = true;
	options->earcon_volume = 50;
	options->speaking = TUI_SPEAKING_LINE;
	options->signal_fd = -1;
}

/* Text helpers. */

static char *tui_clean(const struct tui *tui, const char *text, size_t len, size_t width)
{
	return sanitize_text_width(text, len, tui->flags, width);
}

/* A sanitized copy of a string field of object, or of fallback. */
static char *tui_field_text(const struct tui *tui, const json_t *object, const char *key,
			    size_t width, const char *fallback)
{
	return frontend_field_text(object, key, tui->flags, width, fallback);
}

static bool tui_bool(const json_t *object, const char *key)
{
	return json_is_true(json_object_get(object, key));
}

/* The text that format and the arguments in ap make, in a new string. */
static char *tui_vformat(const char *format, va_list ap)
{
	char *text;

	if (vasprintf(&text, format, ap) < 0)
		fatal("out of memory");
	return text;
}

/* A decoration: the UTF-8 form, or its ASCII stand-in. */
static const char *tui_deco(const struct tui *tui, const char *utf8, const char *ascii)
{
	return tui->ascii ? ascii : utf8;
}

/* Decodes the code point at s (valid UTF-8, as sanitized text is); sets *len. */
static uint32_t tui_utf8_next(const char *s, size_t *len)
{
	const unsigned char *u = (const unsigned char *)s;

	if (u[0] < 0x80) {
		*len = 1;
		return u[0];
	}
	if ((u[0] & 0xe0) == 0xc0 && (u[1] & 0xc0) == 0x80) {
		*len = 2;
		return ((uint32_t)(u[0] & 0x1f) << 6) | (u[1] & 0x3f);
	}
	if ((u[0] & 0xf0) == 0xe0 && (u[1] & 0xc0) == 0x80 && (u[2] & 0xc0) == 0x80) {
		*len = 3;
		return ((uint32_t)(u[0] & 0x0f) << 12) | ((uint32_t)(u[1] & 0x3f) << 6) |
		       (u[2] & 0x3f);
	}
	if ((u[0] & 0xf8) == 0xf0 && (u[1] & 0xc0) == 0x80 && (u[2] & 0xc0) == 0x80 &&
	    (u[3] & 0xc0) == 0x80) {
		*len = 4;
		return ((uint32_t)(u[0] & 0x07) << 18) | ((uint32_t)(u[1] & 0x3f) << 12) |
		       ((uint32_t)(u[2] & 0x3f) << 6) | (u[3] & 0x3f);
	}
	*len = 1;
	return '?';
}

/*
 * Splits sanitized text into rows of at most width columns, breaking after a space
 * when one is near the end of the row. Returns the number of rows; *rows (when not
 * NULL) gets a new array of new strings.
 */
static size_t tui_wrap(const char *text, size_t width, char ***rows)
{
	size_t count = 0, start = 0, total = strlen(text);
	char **out = NULL;

	if (width == 0)
		width = 1;
	do {
		size_t at = start, cols = 0, last_space = 0, len;

		while (at < total) {
			uint32_t cp = tui_utf8_next(text + at, &len);
			unsigned w = sanitize_cp_width(cp);

			if (cols + w > width)
				break;
			cols += w;
			at += len;
			if (cp == ' ')
				last_space = at;
		}
		if (at < total && last_space > start && last_space - start > width / 2)
			at = last_space;
		if (at == start && at < total) {
			tui_utf8_next(text + at, &len);
			at += len; /* a character wider than the row: show it anyway */
		}
		if (rows != NULL) {
			out = xreallocarray(out, count + 1, sizeof(*out));
			out[count] = xstrndup(text + start, at - start);
		}
		count++;
		start = at;
	} while (start < total);
	if (rows != NULL)
		*rows = out;
	return count;
}

/* Frees an array of count strings: rows, the log's entries or a page's lines. */
static void tui_free_rows(char **rows, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(rows[i]);
	free(rows);
}

/* Fields. */

static void tui_field_clear(struct tui_field *field)
{
	field->len = 0;
	field->cursor = 0;
	field->text[0] = '\0';
}

static void tui_field_set(struct tui_field *field, const char *text)
{
	size_t len = strlen(text);

	if (len > TUI_FIELD_MAX)
		len = TUI_FIELD_MAX;
	memcpy(field->text, text, len);
	field->text[len] = '\0';
	field->len = len;
	field->cursor = len;
}

static void tui_field_insert(struct tui_field *field, uint32_t cp)
{
	char utf8[4];
	size_t n;

	if (cp < 0x80) {
		utf8[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		utf8[0] = (char)(0xc0 | (cp >> 6));
		utf8[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		utf8[0] = (char)(0xe0 | (cp >> 12));
		utf8[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		utf8[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		utf8[0] = (char)(0xf0 | (cp >> 18));
		utf8[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		utf8[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		utf8[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	if (field->len + n > TUI_FIELD_MAX) {
		beep(); /* full: say so the only way a field can */
		return;
	}
	memmove(field->text + field->cursor + n, field->text + field->cursor,
		field->len - field->cursor + 1);
	memcpy(field->text + field->cursor, utf8, n);
	field->len += n;
	field->cursor += n;
}

/* The byte offset of the code point before offset. */
static size_t tui_field_prev(const struct tui_field *field, size_t offset)
{
	if (offset == 0)
		return 0;
	offset--;
	while (offset > 0 && ((unsigned char)field->text[offset] & 0xc0) == 0x80)
		offset--;
	return offset;
}

static size_t tui_field_next(const struct tui_field *field, size_t offset)
{
	if (offset >= field->len)
		return field->len;
	offset++;
	while (offset < field->len && ((unsigned char)field->text[offset] & 0xc0) == 0x80)
		offset++;
	return offset;
}

static void tui_field_delete(struct tui_field *field, size_t from, size_t to)
{
	memmove(field->text + from, field->text + to, field->len - to + 1);
	field->len -= to - from;
	field->cursor = from;
}

/*
 * Edits field with key. Returns true when the key was an editing key (printable
 * text, Backspace, Delete, Left, Right, Home, End, C-u, C-a, C-e, C-k).
 */
static bool tui_field_key(struct tui_field *field, int key)
{
	if (!(key & TUI_KEY_FUNCTION) && key >= 0x20 && key != 0x7f) {
		tui_field_insert(field, (uint32_t)key);
		return true;
	}
	switch (key) {
	case TUI_KEY_FUNCTION | TUI_FKEY_BACKSPACE:
		if (field->cursor > 0)
			tui_field_delete(field, tui_field_prev(field, field->cursor),
					 field->cursor);
		return true;
	case TUI_KEY_FUNCTION | TUI_FKEY_DELETE:
		if (field->cursor < field->len)
			tui_field_delete(field, field->cursor,
					 tui_field_next(field, field->cursor));
		return true;
	case TUI_KEY_FUNCTION | TUI_FKEY_LEFT:
		field->cursor = tui_field_prev(field, field->cursor);
		return true;
	case TUI_KEY_FUNCTION | TUI_FKEY_RIGHT:
		field->cursor = tui_field_next(field, field->cursor);
		return true;
	case TUI_KEY_FUNCTION | TUI_FKEY_HOME:
	case 'A' - '@':
		field->cursor = 0;
		return true;
	case TUI_KEY_FUNCTION | TUI_FKEY_END:
	case 'E' - '@':
		field->cursor = field->len;
		return true;
	case 'U' - '@':
		tui_field_delete(field, 0, field->cursor);
		return true;
	case 'K' - '@':
		field->len = field->cursor;
		field->text[field->len] = '\0';
		return true;
	default:
		return false;
	}
}

/*
 * Earcons: the engine mixes them into what we hear (never into what we send), at the
 * configured volume, and only when they are on.
 */
static void tui_earcon(struct tui *tui, enum earcon_type type)
{
	struct engine_command *command;

	if (!tui->options->earcons || tui->options->earcon_volume <= 0)
		return;
	log_debug("earcon %s", earcon_name(type));
	command = engine_command_new(ENGINE_CMD_EARCON);
	command->number = (double)type;
	command->text = xasprintf("%d", tui->options->earcon_volume > 100 ?
						    100 : tui->options->earcon_volume);
	engine_send(tui->engine, command);
}

/* The log. */

static void tui_log_add(struct tui *tui, const char *text)
{
	if (tui->log_count == TUI_LOG_MAX) {
		free(tui->log[0]);
		memmove(tui->log, tui->log + 1, (TUI_LOG_MAX - 1) * sizeof(*tui->log));
		tui->log_count--;
		if (tui->log_focus > 0)
			tui->log_focus--;
	}
	tui->log = xreallocarray(tui->log, tui->log_count + 1, sizeof(*tui->log));
	tui->log[tui->log_count++] = xstrdup(text);
	/* Unless the reader is going through the log, follow its end. */
	if (tui->pane != TUI_PANE_LOG)
		tui->log_focus = tui->log_count - 1;
	tui->dirty = true;
}

static void tui_log_clear(struct tui *tui)
{
	tui_free_rows(tui->log, tui->log_count);
	tui->log = NULL;
	tui->log_count = 0;
	tui->log_focus = 0;
}

/* Adds to the room's log, or shows as the hallway's notice outside a room. */
static void tui_say(struct tui *tui, const char *text)
{
	if (tui->screen == TUI_SCREEN_ROOM) {
		tui_log_add(tui, text);
		return;
	}
	free(tui->message);
	tui->message = xstrdup(text);
	tui->dirty = true;
}

/* Members. */

static bool tui_on_stage(const char *role)
{
	return role != NULL && role[0] != '\0' && strcmp(role, "listener") != 0;
}

/* 0 for the host, 1 a moderator, 2 a speaker, 3 anyone else (the order on stage). */
static int tui_role_rank(const char *role)
{
	enum frontend_role rank = frontend_role_rank(role);

	return rank < FRONTEND_ROLE_LISTENER ? (int)rank : (int)FRONTEND_ROLE_LISTENER;
}

static const char *tui_role_word(const char *role)
{
	/* In the order of tui_role_rank(). */
	const char *words[] = {_("host"), _("moderator"), _("speaker"), _("listener")};

	return words[tui_role_rank(role)];
}

/* "the host", "a speaker", ... for sentences. */
static const char *tui_role_phrase(const char *role)
{
	return frontend_role_phrase(role, _("a listener"));
}

static struct tui_member *tui_member_find(struct tui *tui, uint64_t user_id)
{
	for (size_t i = 0; i < tui->member_count; i++)
		if (tui->members[i].user_id == user_id)
			return &tui->members[i];
	return NULL;
}

static bool tui_is_verified(const struct tui *tui, uint64_t user_id)
{
	for (size_t i = 0; i < tui->verified_count; i++)
		if (tui->verified[i] == user_id)
			return true;
	return false;
}

static void tui_set_verified(struct tui *tui, uint64_t user_id, bool verified)
{
	for (size_t i = 0; i < tui->verified_count; i++) {
		if (tui->verified[i] != user_id)
			continue;
		if (!verified)
			tui->verified[i] = tui->verified[--tui->verified_count];
		return;
	}
	if (!verified)
		return;
	tui->verified = xreallocarray(tui->verified, tui->verified_count + 1,
				      sizeof(*tui->verified));
	tui->verified[tui->verified_count++] = user_id;
}

/* Adds or updates a member from a Member object; returns it, or NULL if unusable. */
static struct tui_member *tui_member_set(struct tui *tui, const json_t *object)
{
	uint64_t user_id = frontend_u64(object, "user_id");
	struct tui_member *member;

	if (user_id == 0)
		return NULL;
	member = tui_member_find(tui, user_id);
	if (member == NULL) {
		tui->members = xreallocarray(tui->members, tui->member_count + 1,
					     sizeof(*tui->members));
		member = &tui->members[tui->member_count++];
		memset(member, 0, sizeof(*member));
		member->user_id = user_id;
		member->gain = 1.0;
		member->order = ++tui->member_order;
	}
	free(member->name);
	member->name = tui_field_text(tui, object, "name", TUI_NAME_WIDTH, "?");
	snprintf(member->role, sizeof(member->role), "%s",
		 frontend_str(object, "role", "listener"));
	member->bot = tui_bool(object, "bot");
	member->muted = tui_bool(object, "muted");
	member->hand = tui_bool(object, "hand_raised");
	member->recording = tui_bool(object, "recording");
	member->self = user_id == tui->self_id;
	tui->dirty = true;
	return member;
}

static void tui_member_remove(struct tui *tui, uint64_t user_id)
{
	struct tui_member *member = tui_member_find(tui, user_id);
	size_t index;

	if (member == NULL)
		return;
	index = (size_t)(member - tui->members);
	free(member->name);
	memmove(member, member + 1, (tui->member_count - index - 1) * sizeof(*member));
	tui->member_count--;
	tui->dirty = true;
}

static void tui_room_clear(struct tui *tui)
{
	for (size_t i = 0; i < tui->member_count; i++)
		free(tui->members[i].name);
	free(tui->members);
	tui->members = NULL;
	tui->member_count = 0;
	free(tui->room_title);
	free(tui->room_topic);
	tui->room_title = NULL;
	tui->room_topic = NULL;
	tui->room_id = 0;
	tui->listeners = 0;
	tui->show_listeners = false;
	tui->pane = TUI_PANE_MEMBERS;
	tui->member_focus = 0;
	tui->member_focus_id = 0;
	tui->local_mute = false;
	tui->speaking_pending = false;
	tui_field_clear(&tui->input);
	tui_log_clear(tui);
	tui->dirty = true;
}

/*
 * The member pane's lines: the stage (host, moderators, speakers, in arrival
 * order), the listener count, then the listeners when shown. Returns the count;
 * the caller frees *items.
 */
static size_t tui_room_items(const struct tui *tui, struct tui_item **items)
{
	struct tui_item *out = xcalloc(tui->member_count + 1, sizeof(*out));
	size_t count = 0;

	for (int rank = 0; rank < 3; rank++) {
		for (size_t i = 0; i < tui->member_count; i++) {
			/* members[] is in arrival order already: sorting is by rank only. */
			if (tui_on_stage(tui->members[i].role) &&
			    tui_role_rank(tui->members[i].role) == rank)
				out[count++].member = i;
		}
	}
	out[count++].listeners_item = true;
	if (tui->show_listeners) {
		for (size_t i = 0; i < tui->member_count; i++)
			if (!tui_on_stage(tui->members[i].role))
				out[count++].member = i;
	}
	*items = out;
	return count;
}

/* Finds the focused line of the member pane again after the list changed. */
static size_t tui_member_focus_index(struct tui *tui, const struct tui_item *items,
				     size_t count)
{
	for (size_t i = 0; i < count; i++) {
		uint64_t id = items[i].listeners_item ? 0 : tui->members[items[i].member].user_id;

		if (id == tui->member_focus_id) {
			tui->member_focus = i;
			return i;
		}
	}
	if (tui->member_focus >= count)
		tui->member_focus = count - 1;
	tui->member_focus_id = items[tui->member_focus].listeners_item ?
				       0 : tui->members[items[tui->member_focus].member].user_id;
	return tui->member_focus;
}

/* The focused member, or NULL when the listener count has the focus. */
static struct tui_member *tui_focused_member(struct tui *tui)
{
	struct tui_item *items;
	size_t count = tui_room_items(tui, &items);
	size_t index = tui_member_focus_index(tui, items, count);
	struct tui_member *member = items[index].listeners_item ?
					    NULL : &tui->members[items[index].member];

	free(items);
	return member;
}

static struct tui_member *tui_self(struct tui *tui)
{
	return tui_member_find(tui, tui->self_id);
}

/* "Alice (you), host [speaking] [muted] [hand] [bot] [recording] [unverified]" */
static char *tui_member_line(const struct tui *tui, const struct tui_member *member)
{
	bool muted = member->muted || (member->self && tui->local_mute);
	char volume[48] = "";
	char *line;

	if (member->gain != 1.0)
		snprintf(volume, sizeof(volume), _(" [volume %d%%]"),
			 (int)(member->gain * 100 + 0.5));
	line = xasprintf("%s%s, %s%s%s%s%s%s%s%s", member->name, member->self ? _(" (you)") : "",
			 tui_role_word(member->role),
			 member->speaking_shown && tui->options->speaking != TUI_SPEAKING_OFF ?
				 _(" [speaking]") : "",
			 muted ? _(" [muted]") : "", member->hand ? _(" [hand]") : "",
			 member->bot ? _(" [bot]") : "",
			 member->recording ? _(" [recording]") : "",
			 member->self ? "" :
			 member->key_changed ? _(" [key changed]") :
			 tui_is_verified(tui, member->user_id) ? _(" [verified]") :
								  _(" [unverified]"),
			 volume);
	return line;
}

/*
 * The names of the members the screen shows speaking, "Alice, Bob", in arrival
 * order; NULL when nobody speaks. The caller frees it.
 */
static char *tui_speaking_names(const struct tui *tui)
{
	char *names = NULL;

	for (size_t i = 0; i < tui->member_count; i++) {
		const struct tui_member *member = &tui->members[i];
		char *joined;

		if (!member->speaking_shown)
			continue;
		joined = names == NULL ? xstrdup(member->name) :
					 xasprintf("%s, %s", names, member->name);
		free(names);
		names = joined;
	}
	return names;
}

/* Speaking announcements: copy what the engine said to the screen, at most 1/s. */
static void tui_speaking_flush(struct tui *tui)
{
	char *names;

	tui->speaking_pending = false;
	tui->speaking_last_ms = util_now_ms();
	for (size_t i = 0; i < tui->member_count; i++)
		tui->members[i].speaking_shown = tui->members[i].speaking;
	names = tui_speaking_names(tui);
	if (tui->options->speaking == TUI_SPEAKING_LOG && names != NULL) {
		char *text = xasprintf(_("Speaking: %s"), names);

		tui_log_add(tui, text);
		free(text);
	}
	free(names);
	tui->dirty = true;
}

static void tui_speaking_changed(struct tui *tui)
{
	if (tui->options->speaking == TUI_SPEAKING_OFF)
		return;
	if (util_now_ms() >= tui->speaking_last_ms + TUI_SPEAKING_INTERVAL_MS)
		tui_speaking_flush(tui);
	else
		tui->speaking_pending = true;
}

/* Pages. */

static void tui_page_close(struct tui *tui)
{
	tui_free_rows(tui->page_lines, tui->page_count);
	tui->page_lines = NULL;
	tui->page_count = 0;
	tui->page_focus = 0;
	tui->page = TUI_PAGE_NONE;
	tui->page_user = 0;
	free(tui->page_user_name);
	tui->page_user_name = NULL;
	tui->page_key_changed = false;
	tui->dirty = true;
}

static void tui_page_open(struct tui *tui, enum tui_page_kind kind)
{
	tui_page_close(tui);
	tui->page = kind;
}

/* Appends a line (already safe for the terminal) to the page. */
static void tui_page_add(struct tui *tui, const char *line)
{
	tui->page_lines = xreallocarray(tui->page_lines, tui->page_count + 1,
					sizeof(*tui->page_lines));
	tui->page_lines[tui->page_count++] = xstrdup(line);
}

static void tui_page_addf(struct tui *tui, const char *format, ...)
	__attribute__((format(printf, 2, 3)));
static void tui_page_addf(struct tui *tui, const char *format, ...)
{
	va_list ap;
	char *line;

	va_start(ap, format);
	line = tui_vformat(format, ap);
	va_end(ap);
	tui_page_add(tui, line);
	free(line);
}

static void tui_help_open(struct tui *tui)
{
	static const enum tui_action hallway[] = {
		TUI_ACTION_UP, TUI_ACTION_DOWN, TUI_ACTION_SELECT, TUI_ACTION_REFRESH,
		TUI_ACTION_CREATE, TUI_ACTION_FILTER, TUI_ACTION_COMMAND, TUI_ACTION_WHOAMI,
		TUI_ACTION_LEAVE, TUI_ACTION_QUIT, TUI_ACTION_HELP,
	};
	static const enum tui_action room[] = {
		TUI_ACTION_UP, TUI_ACTION_DOWN, TUI_ACTION_PAGE_UP, TUI_ACTION_PAGE_DOWN,
		TUI_ACTION_TOP, TUI_ACTION_BOTTOM, TUI_ACTION_NEXT_PANE, TUI_ACTION_SELECT,
		TUI_ACTION_MUTE, TUI_ACTION_HAND, TUI_ACTION_CHAT, TUI_ACTION_COMMAND,
		TUI_ACTION_LISTENERS, TUI_ACTION_INVITE, TUI_ACTION_AUDIENCE,
		TUI_ACTION_MODERATOR, TUI_ACTION_MUTE_MEMBER, TUI_ACTION_REMOVE,
		TUI_ACTION_VERIFY, TUI_ACTION_VOLUME_UP, TUI_ACTION_VOLUME_DOWN,
		TUI_ACTION_WHOAMI, TUI_ACTION_LEAVE, TUI_ACTION_QUIT, TUI_ACTION_HELP,
	};
	const enum tui_action *list = tui->screen == TUI_SCREEN_ROOM ? room : hallway;
	size_t count = tui->screen == TUI_SCREEN_ROOM ? ARRAY_SIZE(room) : ARRAY_SIZE(hallway);

	tui_page_open(tui, TUI_PAGE_HELP);
	tui_page_add(tui, tui->screen == TUI_SCREEN_ROOM ?
				  _("Help: keys in a room. Escape or ? closes this help.") :
				  _("Help: keys in the hallway. Escape or ? closes this help."));
	for (size_t i = 0; i < count; i++) {
		char keys[128];

		tui_keys_describe(&tui->keys, list[i], keys, sizeof(keys));
		if (keys[0] == '\0')
			snprintf(keys, sizeof(keys), "%s", _("no key"));
		tui_page_addf(tui, _("%s: %s (action %s)"), keys, tui_keys_action_help(list[i]),
			      tui_keys_action_name(list[i]));
	}
	tui_page_add(tui, _("In text fields: Enter sends, Escape cancels, Left, Right, "
			    "Home, End, Backspace and Delete edit, C-u clears."));
	tui_page_add(tui, _("Commands (type : then the command): :join ROOM, :create TITLE, "
			    ":say TEXT, :mute, :unmute, :hand, :invite NAME, :audience NAME, "
			    ":moderator NAME, :remove NAME, :verify NAME, :accept NAME, "
			    ":volume NAME GAIN, :play [FILE], :record [FILE], :whoami, :stats, "
			    ":end, :leave, :quit."));
	tui_page_add(tui, _("Markers: [speaking], [muted], [hand] (hand raised), [bot], "
			    "[recording], [verified] or [unverified] (safety number compared "
			    "or not), [key changed] (no audio keys go to them until accepted)."));
}

/* Engine commands. */

/* The tag of ENGINE_CMD_VERIFY with flag, so that its answer opens no page. */
#define TUI_TAG_MARK_VERIFIED "tui-mark-verified"

/* Sends a command about a member, naming them by user id. */
static void tui_send_member(struct tui *tui, enum engine_command_type type,
			    const struct tui_member *member)
{
	char id[24];

	snprintf(id, sizeof(id), "%" PRIu64, member->user_id);
	frontend_send(tui->engine, type, id, NULL);
}

static void tui_join(struct tui *tui, uint64_t room)
{
	struct engine_command *command = engine_command_new(ENGINE_CMD_JOIN);

	command->room = room;
	command->flag = tui->options->listen_only;
	engine_send(tui->engine, command);
	tui_say(tui, _("Joining the room..."));
}

static void tui_refresh_rooms(struct tui *tui)
{
	frontend_send(tui->engine, ENGINE_CMD_LIST_ROOMS, NULL, NULL);
}

static void tui_quit(struct tui *tui)
{
	if (tui->quitting)
		return;
	tui->quitting = true;
	tui->quit_deadline = util_now_ms() + TUI_QUIT_TIMEOUT_MS;
	frontend_send(tui->engine, ENGINE_CMD_QUIT, NULL, NULL);
}

/* Engine events. */

/* The sanitized name an event is about: "name", else the member's, else "user N". */
static char *tui_event_name(struct tui *tui, const json_t *data)
{
	uint64_t user_id = frontend_u64(data, "user_id");
	struct tui_member *member = tui_member_find(tui, user_id);

	if (json_is_string(json_object_get(data, "name")))
		return tui_field_text(tui, data, "name", TUI_NAME_WIDTH, "?");
	if (member != NULL)
		return xstrdup(member->name);
	return frontend_user_text(user_id, tui->flags);
}

static void tui_sayf(struct tui *tui, const char *format, ...)
	__attribute__((format(printf, 2, 3)));
static void tui_sayf(struct tui *tui, const char *format, ...)
{
	va_list ap;
	char *line;

	va_start(ap, format);
	line = tui_vformat(format, ap);
	va_end(ap);
	tui_say(tui, line);
	free(line);
}

static void tui_on_rooms(struct tui *tui, const json_t *data)
{
	const json_t *rooms = json_object_get(data, "rooms");
	size_t i;
	json_t *room;

	for (i = 0; i < tui->room_count; i++) {
		free(tui->rooms[i].title);
		free(tui->rooms[i].topic);
	}
	free(tui->rooms);
	tui->rooms = NULL;
	tui->room_count = 0;
	json_array_foreach(rooms, i, room) {
		struct tui_room_info *info;

		if (frontend_u64(room, "id") == 0)
			continue;
		tui->rooms = xreallocarray(tui->rooms, tui->room_count + 1, sizeof(*tui->rooms));
		info = &tui->rooms[tui->room_count++];
		info->id = frontend_u64(room, "id");
		info->title = tui_field_text(tui, room, "title", TUI_TITLE_WIDTH, "");
		info->topic = tui_field_text(tui, room, "topic", TUI_TITLE_WIDTH, "");
		info->speakers = frontend_u64(room, "speakers");
		info->listeners = frontend_u64(room, "listeners");
		info->private_room = strcmp(frontend_str(room, "visibility", ""), "private") == 0;
	}
	tui->rooms_loaded = true;
	tui->dirty = true;
}

static void tui_on_joined(struct tui *tui, const json_t *data)
{
	const json_t *room = json_object_get(data, "room");
	const json_t *self = json_object_get(data, "member");
	const json_t *members = json_object_get(data, "members");
	size_t i;
	json_t *item;
	const char *role;

	tui_room_clear(tui);
	tui_page_close(tui);
	tui->screen = TUI_SCREEN_ROOM;
	tui->room_id = frontend_u64(room, "id");
	tui->room_title = tui_field_text(tui, room, "title", TUI_TITLE_WIDTH, "");
	tui->room_topic = tui_field_text(tui, room, "topic", TUI_TITLE_WIDTH, "");
	tui->listeners = frontend_u64(room, "listeners");
	json_array_foreach(members, i, item)
		tui_member_set(tui, item);
	if (json_is_object(self))
		tui_member_set(tui, self);
	role = frontend_str(self, "role", "listener");
	tui->conn = TUI_CONN_OK;
	free(tui->message);
	tui->message = NULL;
	tui_sayf(tui, _("You joined \"%s\" as %s. Press ? for help, t to chat."),
		 tui->room_title, tui_role_phrase(role));
	/*
	 * Focus starts on our own line on stage (it says our role and microphone at
	 * once), else on the first line of the stage.
	 */
	tui->member_focus = 0;
	tui->member_focus_id = tui_on_stage(role) ? tui->self_id : UINT64_MAX;
}

static void tui_back_to_hallway(struct tui *tui, const char *why)
{
	tui_room_clear(tui);
	tui_page_close(tui);
	tui->screen = TUI_SCREEN_HALLWAY;
	tui_say(tui, why);
	tui_refresh_rooms(tui);
}

static void tui_on_member_joined(struct tui *tui, const json_t *data)
{
	const json_t *object = json_object_get(data, "member");
	struct tui_member *member = tui_member_set(tui, object);

	if (member == NULL || member->self)
		return;
	tui_sayf(tui, member->bot ? _("%s (a bot) joined as %s.") : _("%s joined as %s."),
		 member->name, tui_role_phrase(member->role));
	/* A refresh tells of someone who was already there: nobody just arrived. */
	if (!tui_bool(data, "refresh"))
		tui_earcon(tui, EARCON_JOIN);
}

static void tui_on_member_left(struct tui *tui, const json_t *data)
{
	char *name = tui_event_name(tui, data);
	bool removed = strcmp(frontend_str(data, "reason", ""), "removed") == 0;

	tui_member_remove(tui, frontend_u64(data, "user_id"));
	tui_sayf(tui, removed ? _("%s was removed from the room.") : _("%s left."), name);
	free(name);
	if (!tui_bool(data, "refresh"))
		tui_earcon(tui, EARCON_LEAVE);
}

static void tui_on_role(struct tui *tui, const json_t *data)
{
	uint64_t user_id = frontend_u64(data, "user_id");
	struct tui_member *member = tui_member_find(tui, user_id);
	const char *role = frontend_str(data, "role", "listener");
	const char *old_role = frontend_str(data, "old_role", "listener");
	char *name;

	if (member != NULL) {
		snprintf(member->role, sizeof(member->role), "%s", role);
		if (tui_on_stage(role))
			member->hand = false;
		else
			member->muted = false;
		tui->dirty = true;
	}
	if (user_id == tui->self_id) {
		if (!tui_on_stage(role)) {
			tui_say(tui, _("You are now in the audience."));
		} else if (!tui_on_stage(old_role)) {
			tui_sayf(tui,
				 _("You are now %s: your microphone is live. Press m to mute."),
				 tui_role_phrase(role));
			tui_earcon(tui, EARCON_INVITED);
		} else {
			tui_sayf(tui, _("You are now %s."), tui_role_phrase(role));
		}
		return;
	}
	name = tui_event_name(tui, data);
	if (!tui_on_stage(role))
		tui_sayf(tui, _("%s is now in the audience."), name);
	else
		tui_sayf(tui, _("%s is now %s."), name, tui_role_phrase(role));
	free(name);
}

static void tui_on_flag(struct tui *tui, const struct engine_event *event)
{
	const json_t *data = event->data;
	uint64_t user_id = frontend_u64(data, "user_id");
	struct tui_member *member = tui_member_find(tui, user_id);
	bool self = user_id == tui->self_id;
	char *name = tui_event_name(tui, data);
	bool on;

	switch (event->type) {
	case ENGINE_EV_HAND_RAISED:
	case ENGINE_EV_HAND_LOWERED:
		on = event->type == ENGINE_EV_HAND_RAISED;
		if (member != NULL)
			member->hand = on;
		if (self)
			tui_say(tui, on ? _("You raised your hand.") : _("Your hand is lowered."));
		else
			tui_sayf(tui,
				 on ? _("%s raised their hand.") : _("%s lowered their hand."),
				 name);
		if (on && !self)
			tui_earcon(tui, EARCON_HAND);
		break;
	case ENGINE_EV_MUTED:
		on = tui_bool(data, "muted");
		if (self && strcmp(frontend_str(data, "by", "server"), "self") == 0) {
			tui->local_mute = on;
			tui_say(tui, on ? _("Your microphone is muted.") :
					  _("Your microphone is on."));
		} else {
			if (member != NULL)
				member->muted = on;
			if (self)
				tui_say(tui, on ? _("A moderator muted you.") :
						  _("A moderator unmuted you."));
			else
				tui_sayf(tui, on ? _("%s is muted.") : _("%s is no longer muted."),
					 name);
		}
		if (on && self)
			tui_earcon(tui, EARCON_MUTED);
		break;
	case ENGINE_EV_RECORDING:
		on = tui_bool(data, "recording");
		if (member != NULL)
			member->recording = on;
		if (self)
			tui_say(tui, on ? _("You are recording the room [recording].") :
					  _("You stopped recording."));
		else
			tui_sayf(tui, on ? _("%s is recording the room [recording].") :
					   _("%s stopped recording."), name);
		break;
	default:
		break;
	}
	free(name);
	tui->dirty = true;
}

/* Whether chat text mentions our name (as a word, case aside). */
static bool tui_mentions(const struct tui *tui, const char *text)
{
	size_t len;
	const char *at;

	if (tui->self_name == NULL || (len = strlen(tui->self_name)) == 0)
		return false;
	for (at = strcasestr(text, tui->self_name); at != NULL;
	     at = strcasestr(at + 1, tui->self_name)) {
		bool start = at == text || !((at[-1] >= 'a' && at[-1] <= 'z') ||
					     (at[-1] >= 'A' && at[-1] <= 'Z') ||
					     (at[-1] >= '0' && at[-1] <= '9'));
		char after = at[len];
		bool end = !((after >= 'a' && after <= 'z') || (after >= 'A' && after <= 'Z') ||
			     (after >= '0' && after <= '9'));

		if (start && end)
			return true;
	}
	return false;
}

static void tui_on_chat(struct tui *tui, const json_t *data)
{
	char *name = tui_event_name(tui, data);
	char *text = tui_field_text(tui, data, "text", 0, "");

	tui_sayf(tui, _("%s: %s"), name, text);
	if (frontend_u64(data, "user_id") != tui->self_id && tui_mentions(tui, text))
		tui_earcon(tui, EARCON_MENTION);
	free(name);
	free(text);
}

static void tui_on_safety_number(struct tui *tui, const json_t *data)
{
	uint64_t user_id = frontend_u64(data, "user_id");
	struct tui_member *member = tui_member_find(tui, user_id);
	char *name = tui_event_name(tui, data);
	char *number = tui_field_text(tui, data, "safety_number", TUI_TITLE_WIDTH, "");
	bool accepted = tui_bool(data, "accepted");
	bool verified = tui_bool(data, "verified");

	if (accepted && member != NULL)
		member->key_changed = false;
	/* The engine remembers verified keys across runs: trust its word. */
	tui_set_verified(tui, user_id, verified);
	if (strcmp(frontend_str(data, "tag", ""), TUI_TAG_MARK_VERIFIED) == 0) {
		/* The answer to y in the verify page: the page is closed already. */
		if (verified)
			tui_sayf(tui, _("You verified %s."), name);
		free(name);
		free(number);
		return;
	}
	if (accepted)
		tui_sayf(tui, _("You accepted the new identity key of %s."), name);
	tui_page_open(tui, TUI_PAGE_VERIFY);
	tui->page_user = user_id;
	tui->page_user_name = xstrdup(name);
	tui->page_key_changed = member != NULL && member->key_changed;
	tui_page_addf(tui, _("Safety number of %s: %s"), name, number);
	if (tui->page_key_changed)
		tui_page_addf(tui, _("Warning: the identity key of %s has changed. No audio keys "
				     "go to them until you accept the new key."), name);
	else if (verified)
		tui_page_add(tui, _("You have verified this key before."));
	else if (tui_bool(data, "pinned"))
		tui_page_add(tui, _("This is the key first seen for them."));
	else
		tui_page_add(tui, _("No pinned key matches it."));
	tui_page_addf(tui, _("Compare it with the number %s's salon shows for you, by voice "
			     "or in person."), name);
	if (tui->page_key_changed)
		tui_page_add(tui, _("Press a to accept the new key, Escape to keep it blocked."));
	else
		tui_page_add(tui, _("Press y if the numbers match (verified), n if they do not, "
				    "Escape to close."));
	free(name);
	free(number);
}

static void tui_on_key_changed(struct tui *tui, const json_t *data)
{
	uint64_t user_id = frontend_u64(data, "user_id");
	struct tui_member *member = tui_member_find(tui, user_id);
	char *name = tui_event_name(tui, data);

	if (member != NULL)
		member->key_changed = true;
	tui_set_verified(tui, user_id, false);
	tui_sayf(tui, _("Warning: the identity key of %s has changed. No audio keys go to "
			"them until you accept it: focus them and press v."), name);
	tui_earcon(tui, EARCON_MENTION);
	free(name);
}

static void tui_handle_event(struct tui *tui, const struct engine_event *event)
{
	const json_t *data = event->data;
	char *a = NULL, *b = NULL;

	tui->dirty = true;
	switch (event->type) {
	case ENGINE_EV_CONNECTED: {
		const json_t *user = json_object_get(data, "user");
		bool first = !tui->connected_once;

		tui->conn = TUI_CONN_OK;
		tui->connected_once = true;
		tui->self_id = frontend_u64(user, "id");
		free(tui->self_name);
		tui->self_name = tui_field_text(tui, user, "name", TUI_NAME_WIDTH, "?");
		free(tui->server);
		tui->server = tui_field_text(tui, data, "server", TUI_TITLE_WIDTH, "");
		if (!first) {
			tui_say(tui, _("Connected again."));
			break;
		}
		tui->screen = TUI_SCREEN_HALLWAY;
		tui_refresh_rooms(tui);
		if (tui->options->room != 0)
			tui_join(tui, tui->options->room);
		break;
	}
	case ENGINE_EV_RECONNECTING:
		if (strcmp(frontend_str(data, "what", ""), "media") == 0) {
			tui->conn = TUI_CONN_MEDIA_RETRY;
			tui_say(tui, _("Audio connection lost; reconnecting."));
		} else {
			tui->conn = TUI_CONN_API_RETRY;
			tui_sayf(tui,
				 _("Server connection lost; retrying in %" PRIu64 " seconds."),
				 (frontend_u64(data, "in_ms") + 999) / 1000);
		}
		break;
	case ENGINE_EV_ROOMS:
		tui_on_rooms(tui, data);
		break;
	case ENGINE_EV_ROOM_CREATED: {
		const json_t *room = json_object_get(data, "room");

		a = tui_field_text(tui, room, "title", TUI_TITLE_WIDTH, "");
		tui_sayf(tui, _("Room \"%s\" created."), a);
		if (frontend_u64(room, "id") != 0)
			tui_join(tui, frontend_u64(room, "id"));
		break;
	}
	case ENGINE_EV_JOINED:
		tui_on_joined(tui, data);
		break;
	case ENGINE_EV_LEFT:
		tui_back_to_hallway(tui, strcmp(frontend_str(data, "reason", ""), "removed") == 0
					     ? _("You were removed from the room.")
					     : _("You left the room."));
		break;
	case ENGINE_EV_ROOM_ENDED:
		tui_back_to_hallway(tui, _("The room has ended."));
		break;
	case ENGINE_EV_MEMBER_JOINED:
		tui_on_member_joined(tui, data);
		break;
	case ENGINE_EV_MEMBER_LEFT:
		tui_on_member_left(tui, data);
		break;
	case ENGINE_EV_ROLE_CHANGED:
		tui_on_role(tui, data);
		break;
	case ENGINE_EV_HAND_RAISED:
	case ENGINE_EV_HAND_LOWERED:
	case ENGINE_EV_MUTED:
	case ENGINE_EV_RECORDING:
		tui_on_flag(tui, event);
		break;
	case ENGINE_EV_LISTENER_COUNT:
		tui->listeners = frontend_u64(data, "listeners");
		break;
	case ENGINE_EV_SPEAKING_STARTED:
	case ENGINE_EV_SPEAKING_STOPPED: {
		struct tui_member *member = tui_member_find(tui, frontend_u64(data, "user_id"));

		if (tui->conn == TUI_CONN_MEDIA_RETRY)
			tui->conn = TUI_CONN_OK; /* audio flows again */
		if (member != NULL) {
			member->speaking = event->type == ENGINE_EV_SPEAKING_STARTED;
			tui_speaking_changed(tui);
		}
		break;
	}
	case ENGINE_EV_CHAT:
		tui_on_chat(tui, data);
		break;
	case ENGINE_EV_KEY_CHANGED:
		tui_on_key_changed(tui, data);
		break;
	case ENGINE_EV_SAFETY_NUMBER:
		tui_on_safety_number(tui, data);
		break;
	case ENGINE_EV_WHOAMI: {
		const json_t *user = json_object_get(data, "user");

		a = tui_field_text(tui, user, "name", TUI_NAME_WIDTH, "?");
		b = tui_field_text(tui, data, "safety_number", TUI_TITLE_WIDTH, "");
		tui_page_open(tui, TUI_PAGE_INFO);
		tui_page_addf(tui, _("You are %s (user %" PRIu64 ")."), a,
			      frontend_u64(user, "id"));
		tui_page_addf(tui, _("Your safety number: %s"), b);
		tui_page_add(tui, _("Others compare it with what their salon shows for you. "
				    "Press Escape to close."));
		break;
	}
	case ENGINE_EV_PLAY_FINISHED:
		a = tui_field_text(tui, data, "path", 0, "");
		tui_sayf(tui, tui_bool(data, "stopped") ? _("Stopped playing %s.") :
							  _("Finished playing %s."), a);
		break;
	case ENGINE_EV_ERROR: {
		const char *code = frontend_str(data, "code", "");

		if (strcmp(code, "unreachable") == 0)
			tui->last_error_exit = 3;
		a = tui_field_text(tui, data, "message", 0, "");
		tui_sayf(tui, _("Error: %s"), a);
		break;
	}
	case ENGINE_EV_QUIT:
		if (!tui->quitting)
			tui->status = tui->last_error_exit != 0 ? tui->last_error_exit : 1;
		tui->done = true;
		break;
	case ENGINE_EV_STATS: {
		const json_t *media = json_object_get(data, "media");

		tui_page_open(tui, TUI_PAGE_INFO);
		if (!json_is_object(media)) {
			tui_page_add(tui, _("No audio counters: the audio engine is not running."));
			break;
		}
		tui_page_addf(tui, _("Frames heard: %" PRIu64 " (%" PRIu64 " concealed, %" PRIu64
				     " recovered by FEC)."),
			      frontend_u64(media, "frames_received"),
			      frontend_u64(media, "frames_concealed"),
			      frontend_u64(media, "frames_fec"));
		tui_page_addf(tui, _("Frames that could not be decrypted: %" PRIu64
				     "; datagrams dropped: %" PRIu64 "."),
			      frontend_u64(media, "frames_undecryptable"),
			      frontend_u64(media, "datagrams_dropped"));
		tui_page_addf(tui, _("Frames sent: %" PRIu64 "; reconnections: %" PRIu64 "."),
			      frontend_u64(media, "frames_sent"), frontend_u64(media, "reconnects"));
		tui_page_add(tui, _("Press Escape to close."));
		break;
	}
	}
	free(a);
	free(b);
}

/* Hallway helpers. */

static bool tui_room_matches(const struct tui *tui, const struct tui_room_info *room)
{
	if (tui->filter.len == 0)
		return true;
	return strcasestr(room->title, tui->filter.text) != NULL ||
	       strcasestr(room->topic, tui->filter.text) != NULL;
}

/* The indices of the rooms the filter shows; returns their count; caller frees. */
static size_t tui_hall_visible(const struct tui *tui, size_t **out)
{
	size_t *visible = xcalloc(tui->room_count + 1, sizeof(*visible)), count = 0;

	for (size_t i = 0; i < tui->room_count; i++)
		if (tui_room_matches(tui, &tui->rooms[i]))
			visible[count++] = i;
	*out = visible;
	return count;
}

/* Keeps the hallway's focus on the same room across refreshes and filtering. */
static size_t tui_hall_focus(struct tui *tui, const size_t *visible, size_t count)
{
	if (count == 0) {
		tui->hall_focus = 0;
		return 0;
	}
	for (size_t i = 0; i < count; i++) {
		if (tui->rooms[visible[i]].id == tui->hall_focus_id) {
			tui->hall_focus = i;
			return i;
		}
	}
	if (tui->hall_focus >= count)
		tui->hall_focus = count - 1;
	tui->hall_focus_id = tui->rooms[visible[tui->hall_focus]].id;
	return tui->hall_focus;
}

/* Moves a focus index by action over count items, a page being page items. */
static size_t tui_move(size_t focus, size_t count, enum tui_action action, size_t page)
{
	if (count == 0)
		return 0;
	if (page == 0)
		page = 1;
	switch (action) {
	case TUI_ACTION_UP:
		return focus > 0 ? focus - 1 : 0;
	case TUI_ACTION_DOWN:
		return focus + 1 < count ? focus + 1 : count - 1;
	case TUI_ACTION_PAGE_UP:
		return focus > page ? focus - page : 0;
	case TUI_ACTION_PAGE_DOWN:
		return focus + page < count ? focus + page : count - 1;
	case TUI_ACTION_TOP:
		return 0;
	case TUI_ACTION_BOTTOM:
		return count - 1;
	default:
		return focus;
	}
}

static bool tui_is_move(enum tui_action action)
{
	return action == TUI_ACTION_UP || action == TUI_ACTION_DOWN ||
	       action == TUI_ACTION_PAGE_UP || action == TUI_ACTION_PAGE_DOWN ||
	       action == TUI_ACTION_TOP || action == TUI_ACTION_BOTTOM;
}

/* ':' commands, in the hallway and in rooms. */

static void tui_command(struct tui *tui, char *line)
{
	static const struct {
		const char *name;
		enum engine_command_type type;
		bool needs_user;
	} simple[] = {
		{"leave", ENGINE_CMD_LEAVE, false},
		{"mute", ENGINE_CMD_MUTE, false},
		{"unmute", ENGINE_CMD_UNMUTE, false},
		{"rooms", ENGINE_CMD_LIST_ROOMS, false},
		{"whoami", ENGINE_CMD_WHOAMI, false},
		{"stats", ENGINE_CMD_STATS, false},
		{"end", ENGINE_CMD_END_ROOM, false},
		{"invite", ENGINE_CMD_INVITE, true},
		{"audience", ENGINE_CMD_MOVE_TO_AUDIENCE, true},
		{"moderator", ENGINE_CMD_MAKE_MODERATOR, true},
		{"remove", ENGINE_CMD_REMOVE, true},
		{"verify", ENGINE_CMD_VERIFY, true},
		{"accept", ENGINE_CMD_ACCEPT_KEY, true},
	};
	char *cmd = line, *rest = line + strcspn(line, " ");

	if (*rest != '\0')
		*rest++ = '\0';
	rest += strspn(rest, " ");
	for (size_t n = strlen(rest); n > 0 && rest[n - 1] == ' '; n--)
		rest[n - 1] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(simple); i++) {
		if (strcmp(cmd, simple[i].name) != 0)
			continue;
		if (simple[i].needs_user && rest[0] == '\0')
			tui_sayf(tui, _("Usage: :%s NAME"), cmd);
		else
			frontend_send(tui->engine, simple[i].type,
				      simple[i].needs_user ? rest : NULL, NULL);
		return;
	}
	if (strcmp(cmd, "quit") == 0 || strcmp(cmd, "q") == 0) {
		tui_quit(tui);
	} else if (strcmp(cmd, "help") == 0) {
		tui_help_open(tui);
	} else if (strcmp(cmd, "say") == 0 && rest[0] != '\0') {
		frontend_send(tui->engine, ENGINE_CMD_SAY, NULL, rest);
	} else if (strcmp(cmd, "create") == 0 && rest[0] != '\0') {
		frontend_send(tui->engine, ENGINE_CMD_CREATE_ROOM, NULL, rest);
	} else if (strcmp(cmd, "join") == 0) {
		char *end;
		unsigned long long room = strtoull(rest, &end, 10);

		if (rest[0] < '1' || rest[0] > '9' || *end != '\0')
			tui_say(tui, _("Usage: :join ROOM (the room's number)"));
		else
			tui_join(tui, (uint64_t)room);
	} else if (strcmp(cmd, "hand") == 0) {
		struct tui_member *self = tui_self(tui);

		frontend_send(tui->engine,
			      self != NULL && self->hand ? ENGINE_CMD_LOWER_HAND
							 : ENGINE_CMD_RAISE_HAND,
			      NULL, NULL);
	} else if (strcmp(cmd, "play") == 0) {
		/* No file stops the current one, as :record does. */
		frontend_send(tui->engine, ENGINE_CMD_PLAY, NULL, rest[0] != '\0' ? rest : NULL);
	} else if (strcmp(cmd, "record") == 0) {
		frontend_send(tui->engine, ENGINE_CMD_RECORD, NULL, rest[0] != '\0' ? rest : NULL);
	} else if (strcmp(cmd, "volume") == 0) {
		double gain;
		int ret = frontend_parse_volume(rest, &gain);

		if (ret == -EINVAL)
			tui_say(tui, _("Usage: :volume NAME GAIN (1 is unchanged)"));
		else if (ret < 0)
			tui_say(tui, _("The gain is a number from 0 to 4 (1 is unchanged)."));
		else
			frontend_send_volume(tui->engine, rest, gain);
	} else {
		char *clean = tui_clean(tui, cmd, strlen(cmd), TUI_NAME_WIDTH);

		tui_sayf(tui, _("Unknown command :%s; :help lists them."), clean);
		free(clean);
	}
}

/* Keys in pages and dialogs. */

static void tui_page_key(struct tui *tui, int key, enum tui_action action)
{
	if (tui_is_move(action)) {
		tui->page_focus = tui_move(tui->page_focus, tui->page_count, action,
					   (size_t)(LINES > 4 ? LINES - 2 : 1));
		return;
	}
	switch (tui->page) {
	case TUI_PAGE_CONFIRM_REMOVE:
		if (key == 'y' || key == 'Y') {
			char id[24];

			snprintf(id, sizeof(id), "%" PRIu64, tui->page_user);
			frontend_send(tui->engine, ENGINE_CMD_REMOVE, id, NULL);
			tui_page_close(tui);
		} else if (key == 'n' || key == 'N' || action == TUI_ACTION_LEAVE) {
			tui_page_close(tui);
		}
		return;
	case TUI_PAGE_VERIFY:
		if (tui->page_key_changed && (key == 'a' || key == 'A')) {
			char id[24];

			snprintf(id, sizeof(id), "%" PRIu64, tui->page_user);
			frontend_send(tui->engine, ENGINE_CMD_ACCEPT_KEY, id, NULL);
			tui_page_close(tui);
		} else if (!tui->page_key_changed && (key == 'y' || key == 'Y')) {
			struct engine_command *command = engine_command_new(ENGINE_CMD_VERIFY);

			/* The engine stores it with the pin; its answer says "You verified". */
			command->user = xasprintf("%" PRIu64, tui->page_user);
			command->flag = true;
			command->tag = xstrdup(TUI_TAG_MARK_VERIFIED);
			engine_send(tui->engine, command);
			tui_page_close(tui);
		} else if (!tui->page_key_changed && (key == 'n' || key == 'N')) {
			tui_set_verified(tui, tui->page_user, false);
			tui_sayf(tui, _("The safety numbers of %s do not match: someone may be "
					"listening in. Do not trust this connection."),
				 tui->page_user_name);
			tui_page_close(tui);
		} else if (action == TUI_ACTION_LEAVE || key == TUI_KEY_ENTER) {
			tui_page_close(tui);
		}
		return;
	default:
		if (action == TUI_ACTION_LEAVE || action == TUI_ACTION_HELP ||
		    key == TUI_KEY_ENTER)
			tui_page_close(tui);
		return;
	}
}

static struct tui_field *tui_create_field(struct tui *tui)
{
	if (tui->create_focus == TUI_CREATE_TITLE)
		return &tui->create_title;
	if (tui->create_focus == TUI_CREATE_TOPIC)
		return &tui->create_topic;
	return NULL;
}

static void tui_create_key(struct tui *tui, int key)
{
	struct tui_field *field = tui_create_field(tui);

	if (key == TUI_KEY_ESCAPE) {
		tui_page_close(tui);
		return;
	}
	if (key == '\t' || key == (TUI_KEY_FUNCTION | TUI_FKEY_DOWN)) {
		tui->create_focus = (tui->create_focus + 1) % TUI_CREATE_COUNT;
		return;
	}
	if (key == (TUI_KEY_FUNCTION | TUI_FKEY_BACK_TAB) ||
	    key == (TUI_KEY_FUNCTION | TUI_FKEY_UP)) {
		tui->create_focus = (tui->create_focus + TUI_CREATE_COUNT - 1) % TUI_CREATE_COUNT;
		return;
	}
	if (field != NULL) {
		if (key == TUI_KEY_ENTER)
			tui->create_focus++;
		else
			tui_field_key(field, key);
		return;
	}
	switch (tui->create_focus) {
	case TUI_CREATE_PRIVATE:
		if (key == ' ' || key == TUI_KEY_ENTER)
			tui->create_private = !tui->create_private;
		break;
	case TUI_CREATE_OK:
		if (key != TUI_KEY_ENTER && key != ' ')
			break;
		if (tui->create_title.len == 0) {
			tui->create_focus = TUI_CREATE_TITLE;
			beep();
			break;
		}
		struct engine_command *command = engine_command_new(ENGINE_CMD_CREATE_ROOM);

		command->text = xstrdup(tui->create_title.text);
		command->text2 = xstrdup(tui->create_topic.text);
		command->flag = tui->create_private;
		engine_send(tui->engine, command);
		tui_page_close(tui);
		tui_say(tui, _("Creating the room..."));
		break;
	case TUI_CREATE_CANCEL:
		if (key == TUI_KEY_ENTER || key == ' ')
			tui_page_close(tui);
		break;
	default:
		break;
	}
}

static void tui_create_open(struct tui *tui)
{
	tui_page_open(tui, TUI_PAGE_CREATE);
	tui_field_clear(&tui->create_title);
	tui_field_clear(&tui->create_topic);
	tui->create_private = false;
	tui->create_focus = TUI_CREATE_TITLE;
}

/* The room's text input: chat, or a command after ':'. */
static void tui_input_key(struct tui *tui, int key, enum tui_action action)
{
	if (key == TUI_KEY_ENTER) {
		char *text = xstrdup(tui->input.text);

		tui_field_clear(&tui->input);
		if (text[0] == ':') {
			if (tui->screen == TUI_SCREEN_ROOM)
				tui->pane = TUI_PANE_MEMBERS;
			tui_command(tui, text + 1);
		} else if (text[0] != '\0') {
			frontend_send(tui->engine, ENGINE_CMD_SAY, NULL, text);
		}
		free(text);
		if (tui->screen != TUI_SCREEN_ROOM)
			tui->pane = TUI_PANE_MEMBERS;
		return;
	}
	if (key == TUI_KEY_ESCAPE) {
		tui_field_clear(&tui->input);
		tui->pane = TUI_PANE_MEMBERS;
		return;
	}
	if (key == '\t' || key == (TUI_KEY_FUNCTION | TUI_FKEY_BACK_TAB)) {
		tui->pane = TUI_PANE_MEMBERS;
		return;
	}
	if (!tui_field_key(&tui->input, key) && action == TUI_ACTION_QUIT)
		tui_quit(tui);
}

static void tui_filter_key(struct tui *tui, int key)
{
	if (key == TUI_KEY_ENTER || key == (TUI_KEY_FUNCTION | TUI_FKEY_DOWN) || key == '\t') {
		tui->filter_editing = false;
		tui->hall_focus = 0;
		tui->hall_focus_id = 0;
		return;
	}
	if (key == TUI_KEY_ESCAPE) {
		tui_field_clear(&tui->filter);
		tui->filter_editing = false;
		return;
	}
	if (tui_field_key(&tui->filter, key)) {
		tui->hall_focus = 0;
		tui->hall_focus_id = 0;
	}
}

/*
 * The actions that do the same in the hallway and in a room: a ':' command, who am
 * I, quit, help. Others do nothing here.
 */
static void tui_common_action(struct tui *tui, enum tui_action action)
{
	switch (action) {
	case TUI_ACTION_COMMAND:
		tui->pane = TUI_PANE_INPUT;
		tui_field_set(&tui->input, ":");
		break;
	case TUI_ACTION_WHOAMI:
		frontend_send(tui->engine, ENGINE_CMD_WHOAMI, NULL, NULL);
		break;
	case TUI_ACTION_QUIT:
		tui_quit(tui);
		break;
	case TUI_ACTION_HELP:
		tui_help_open(tui);
		break;
	default:
		break;
	}
}

static void tui_hallway_action(struct tui *tui, int key, enum tui_action action)
{
	size_t *visible, count = tui_hall_visible(tui, &visible);
	size_t focus = tui_hall_focus(tui, visible, count);

	if (tui_is_move(action)) {
		focus = tui_move(focus, count, action, (size_t)(LINES > 6 ? LINES - 5 : 1));
		if (count > 0) {
			tui->hall_focus = focus;
			tui->hall_focus_id = tui->rooms[visible[focus]].id;
		}
		free(visible);
		return;
	}
	switch (action) {
	case TUI_ACTION_SELECT:
		if (count > 0)
			tui_join(tui, tui->rooms[visible[focus]].id);
		break;
	case TUI_ACTION_REFRESH:
		tui_refresh_rooms(tui);
		break;
	case TUI_ACTION_CREATE:
		tui_create_open(tui);
		break;
	case TUI_ACTION_FILTER:
		tui->filter_editing = true;
		break;
	case TUI_ACTION_LEAVE:
		/*
		 * Escape backs out of things; in the hallway it clears the filter and
		 * the notice, and never quits by surprise.
		 */
		if (key == TUI_KEY_ESCAPE) {
			tui_field_clear(&tui->filter);
			free(tui->message);
			tui->message = NULL;
			break;
		}
		tui_quit(tui);
		break;
	default:
		tui_common_action(tui, action);
		break;
	}
	free(visible);
}

/* Runs a member action on the focused member; says why not when it cannot. */
static void tui_member_action(struct tui *tui, enum tui_action action)
{
	struct tui_member *member = tui_focused_member(tui);
	char key[32];

	if (member == NULL) {
		tui_say(tui, _("Move to a member first (Up and Down), then press the key again."));
		return;
	}
	switch (action) {
	case TUI_ACTION_INVITE:
		tui_send_member(tui, ENGINE_CMD_INVITE, member);
		break;
	case TUI_ACTION_AUDIENCE:
		tui_send_member(tui, ENGINE_CMD_MOVE_TO_AUDIENCE, member);
		break;
	case TUI_ACTION_MODERATOR:
		tui_send_member(tui, ENGINE_CMD_MAKE_MODERATOR, member);
		break;
	case TUI_ACTION_MUTE_MEMBER:
		tui_send_member(tui, member->muted ? ENGINE_CMD_UNMUTE : ENGINE_CMD_MUTE, member);
		break;
	case TUI_ACTION_REMOVE:
		if (member->self) {
			tui_keys_first(&tui->keys, TUI_ACTION_LEAVE, key, sizeof(key));
			tui_sayf(tui, _("To leave the room, press %s."), key);
			break;
		}
		tui_page_open(tui, TUI_PAGE_CONFIRM_REMOVE);
		tui->page_user = member->user_id;
		tui->page_user_name = xstrdup(member->name);
		tui_page_addf(tui, _("Remove %s from the room? Press y to remove them, n or "
				     "Escape to cancel."), member->name);
		break;
	case TUI_ACTION_VERIFY:
	case TUI_ACTION_SELECT:
		if (member->self)
			frontend_send(tui->engine, ENGINE_CMD_WHOAMI, NULL, NULL);
		else
			tui_send_member(tui, ENGINE_CMD_VERIFY, member);
		break;
	case TUI_ACTION_VOLUME_UP:
	case TUI_ACTION_VOLUME_DOWN: {
		double gain = member->gain + (action == TUI_ACTION_VOLUME_UP ? TUI_GAIN_STEP :
									    -TUI_GAIN_STEP);
		char id[24];

		if (gain < 0.0)
			gain = 0.0;
		if (gain > FRONTEND_GAIN_MAX)
			gain = FRONTEND_GAIN_MAX;
		member->gain = gain;
		snprintf(id, sizeof(id), "%" PRIu64, member->user_id);
		frontend_send_volume(tui->engine, id, gain);
		break;
	}
	default:
		break;
	}
}

static void tui_room_action(struct tui *tui, enum tui_action action)
{
	struct tui_member *self = tui_self(tui);

	if (tui_is_move(action)) {
		if (tui->pane == TUI_PANE_LOG) {
			tui->log_focus = tui_move(tui->log_focus, tui->log_count, action, 5);
		} else {
			struct tui_item *items;
			size_t count = tui_room_items(tui, &items);
			size_t focus = tui_member_focus_index(tui, items, count);

			focus = tui_move(focus, count, action, 5);
			tui->member_focus = focus;
			tui->member_focus_id =
				items[focus].listeners_item ?
					0 : tui->members[items[focus].member].user_id;
			free(items);
		}
		return;
	}
	switch (action) {
	case TUI_ACTION_NEXT_PANE:
		if (tui->pane == TUI_PANE_MEMBERS && tui->log_count > 0)
			tui->pane = TUI_PANE_LOG;
		else if (tui->pane == TUI_PANE_MEMBERS || tui->pane == TUI_PANE_LOG)
			tui->pane = TUI_PANE_INPUT;
		else
			tui->pane = TUI_PANE_MEMBERS;
		if (tui->pane == TUI_PANE_LOG)
			tui->log_focus = tui->log_count - 1;
		break;
	case TUI_ACTION_SELECT:
		if (tui->pane == TUI_PANE_MEMBERS && tui_focused_member(tui) == NULL)
			tui->show_listeners = !tui->show_listeners;
		else if (tui->pane == TUI_PANE_MEMBERS)
			tui_member_action(tui, action);
		break;
	case TUI_ACTION_LISTENERS:
		tui->show_listeners = !tui->show_listeners;
		if (tui->show_listeners && self != NULL && !tui_on_stage(self->role))
			tui_say(tui, _("Listeners see only themselves in the audience: the stage "
				       "sees every listener."));
		break;
	case TUI_ACTION_MUTE:
		frontend_send(tui->engine, tui->local_mute ? ENGINE_CMD_UNMUTE : ENGINE_CMD_MUTE,
			      NULL, NULL);
		break;
	case TUI_ACTION_HAND:
		frontend_send(tui->engine,
			      self != NULL && self->hand ? ENGINE_CMD_LOWER_HAND
							 : ENGINE_CMD_RAISE_HAND,
			      NULL, NULL);
		break;
	case TUI_ACTION_INVITE:
	case TUI_ACTION_AUDIENCE:
	case TUI_ACTION_MODERATOR:
	case TUI_ACTION_MUTE_MEMBER:
	case TUI_ACTION_REMOVE:
	case TUI_ACTION_VERIFY:
	case TUI_ACTION_VOLUME_UP:
	case TUI_ACTION_VOLUME_DOWN:
		tui_member_action(tui, action);
		break;
	case TUI_ACTION_CHAT:
		tui->pane = TUI_PANE_INPUT;
		break;
	case TUI_ACTION_LEAVE:
		frontend_send(tui->engine, ENGINE_CMD_LEAVE, NULL, NULL);
		break;
	default:
		tui_common_action(tui, action);
		break;
	}
}

static void tui_key(struct tui *tui, int key)
{
	enum tui_action action = tui_keys_lookup(&tui->keys, key);

	tui->dirty = true;
	if (key == 'C' - '@') {
		tui_quit(tui);
		return;
	}
	if (tui->page == TUI_PAGE_CREATE) {
		tui_create_key(tui, key);
		return;
	}
	if (tui->page != TUI_PAGE_NONE) {
		tui_page_key(tui, key, action);
		return;
	}
	if (tui->screen == TUI_SCREEN_HALLWAY && tui->filter_editing) {
		tui_filter_key(tui, key);
		return;
	}
	if (tui->screen != TUI_SCREEN_CONNECTING && tui->pane == TUI_PANE_INPUT) {
		tui_input_key(tui, key, action);
		return;
	}
	switch (tui->screen) {
	case TUI_SCREEN_CONNECTING:
		if (action == TUI_ACTION_QUIT || action == TUI_ACTION_LEAVE)
			tui_quit(tui);
		else if (action == TUI_ACTION_HELP)
			tui_help_open(tui);
		break;
	case TUI_SCREEN_HALLWAY:
		tui_hallway_action(tui, key, action);
		break;
	case TUI_SCREEN_ROOM:
		tui_room_action(tui, action);
		break;
	}
}

/* Drawing. */

static int tui_width(void)
{
	return COLS > 1 ? COLS - 1 : 1;
}

/* Draws a line of text (made safe again and cut to the screen); focus puts the cursor. */
static void tui_draw_line(struct tui *tui, int y, const char *text, bool focused)
{
	char *cut;

	if (y < 0 || y >= LINES)
		return;
	cut = tui_clean(tui, text, strlen(text), (size_t)tui_width());
	move(y, 0);
	if (focused)
		attron(A_REVERSE);
	addstr(cut);
	if (focused)
		attroff(A_REVERSE);
	free(cut);
	if (focused) {
		tui->cursor_y = y;
		tui->cursor_x = 0;
	}
}

/* tui_draw_line() of the text that format and its arguments make. */
static void tui_draw_linef(struct tui *tui, int y, bool focused, const char *format, ...)
	__attribute__((format(printf, 4, 5)));
static void tui_draw_linef(struct tui *tui, int y, bool focused, const char *format, ...)
{
	va_list ap;
	char *text;

	va_start(ap, format);
	text = tui_vformat(format, ap);
	va_end(ap);
	tui_draw_line(tui, y, text, focused);
	free(text);
}

/* Draws "PROMPT TEXT" for a text field; focused puts the cursor at the insertion point. */
static void tui_draw_field(struct tui *tui, int y, const char *prompt,
			   const struct tui_field *field, bool focused)
{
	char *text = tui_clean(tui, field->text, field->len, 0);
	char *before = tui_clean(tui, field->text, field->cursor, 0);
	size_t prompt_width = sanitize_width(prompt, strlen(prompt));
	size_t avail = (size_t)tui_width() > prompt_width + 1 ?
			       (size_t)tui_width() - prompt_width : 1;
	size_t skip = 0, cursor_width = sanitize_width(before, strlen(before));
	char *line, *shown;

	/* Scroll the text left until the insertion point fits. */
	while (cursor_width + 1 > avail && text[skip] != '\0') {
		size_t len;
		uint32_t cp = tui_utf8_next(text + skip, &len);

		cursor_width -= cursor_width >= sanitize_cp_width(cp) ? sanitize_cp_width(cp) :
									  cursor_width;
		skip += len;
	}
	shown = sanitize_text_width(text + skip, strlen(text + skip), tui->flags, avail);
	line = xasprintf("%s%s", prompt, shown);
	if (y >= 0 && y < LINES) {
		move(y, 0);
		addstr(line);
		if (focused) {
			tui->cursor_y = y;
			tui->cursor_x = (int)(prompt_width + cursor_width);
		}
	}
	free(line);
	free(shown);
	free(text);
	free(before);
}

/* The status line: the last one of the screen. */
static void tui_draw_status(struct tui *tui, const char *text)
{
	tui_draw_line(tui, LINES - 1, text, false);
}

static const char *tui_conn_text(const struct tui *tui)
{
	switch (tui->conn) {
	case TUI_CONN_OK:
		return _("Connected");
	case TUI_CONN_API_RETRY:
		return _("Reconnecting to the server");
	case TUI_CONN_MEDIA_RETRY:
		return _("Audio reconnecting");
	case TUI_CONN_CONNECTING:
		break;
	}
	return _("Connecting");
}

static const char *tui_mic_text(struct tui *tui)
{
	struct tui_member *self = tui_self(tui);

	if (tui->options->listen_only)
		return _("No microphone");
	if (self == NULL || !tui_on_stage(self->role))
		return tui->local_mute ? _("Mic muted (in the audience)") :
					 _("Mic off (in the audience)");
	if (self->muted)
		return _("Muted by a moderator");
	if (tui->local_mute)
		return _("Mic muted");
	return _("Mic on");
}

static char *tui_encryption_text(const struct tui *tui)
{
	size_t verified = 0, unverified = 0, changed = 0;
	char *text, *more;

	for (size_t i = 0; i < tui->member_count; i++) {
		const struct tui_member *member = &tui->members[i];

		if (member->self)
			continue;
		if (member->key_changed)
			changed++;
		else if (tui_is_verified(tui, member->user_id))
			verified++;
		else
			unverified++;
	}
	text = xasprintf(_("Encrypted: %zu verified, %zu unverified"), verified, unverified);
	if (changed == 0)
		return text;
	more = xasprintf(P_("%s, %zu key changed", "%s, %zu keys changed", changed), text,
			 changed);
	free(text);
	return more;
}

static void tui_draw_page(struct tui *tui)
{
	int top = 0, bottom = LINES - 2;
	size_t first = tui->page_focus;
	char help[32];
	int y;

	/* Show as much as fits before the focused line, then the lines after it. */
	for (int used = 0; first > 0; first--) {
		char **rows;
		size_t n = tui_wrap(tui->page_lines[first - 1], (size_t)tui_width(), &rows);

		tui_free_rows(rows, n);
		if (used + (int)n + (int)tui_wrap(tui->page_lines[tui->page_focus],
						  (size_t)tui_width(), NULL) > bottom - top)
			break;
		used += (int)n;
	}
	y = top;
	for (size_t i = first; i < tui->page_count && y < bottom; i++) {
		char *safe = tui_clean(tui, tui->page_lines[i], strlen(tui->page_lines[i]), 0);
		char **rows;
		size_t n = tui_wrap(safe, (size_t)tui_width(), &rows);

		for (size_t r = 0; r < n && y < bottom; r++, y++)
			tui_draw_line(tui, y, rows[r], i == tui->page_focus && r == 0);
		tui_free_rows(rows, n);
		free(safe);
	}
	tui_keys_first(&tui->keys, TUI_ACTION_LEAVE, help, sizeof(help));
	switch (tui->page) {
	case TUI_PAGE_CONFIRM_REMOVE:
		tui_draw_status(tui, _("y: remove, n: cancel"));
		break;
	case TUI_PAGE_VERIFY:
		tui_draw_status(tui, tui->page_key_changed ?
					     _("a: accept the new key, Escape: close") :
					     _("y: verified, n: no match, Escape: close"));
		break;
	default:
		tui_draw_linef(tui, LINES - 1, false,
			       _("Up and Down to read, %s or Escape to close"), help);
		break;
	}
}

static void tui_draw_create(struct tui *tui)
{
	tui_draw_line(tui, 0, _("Create a room. Tab moves between the fields, Escape cancels."),
		      false);
	tui_draw_field(tui, 2, _("Title: "), &tui->create_title,
		       tui->create_focus == TUI_CREATE_TITLE);
	tui_draw_field(tui, 3, _("Topic: "), &tui->create_topic,
		       tui->create_focus == TUI_CREATE_TOPIC);
	tui_draw_linef(tui, 4, tui->create_focus == TUI_CREATE_PRIVATE,
		       _("Private (unlisted; share its number to invite): %s"),
		       tui->create_private ? _("yes") : _("no"));
	tui_draw_line(tui, 5, _("[ Create the room ]"), tui->create_focus == TUI_CREATE_OK);
	tui_draw_line(tui, 6, _("[ Cancel ]"), tui->create_focus == TUI_CREATE_CANCEL);
	tui_draw_status(tui, _("Enter: next field or press the button; Space: toggle"));
}

static char *tui_key_hint(struct tui *tui)
{
	char help[32], chat[32], command[32];

	tui_keys_first(&tui->keys, TUI_ACTION_HELP, help, sizeof(help));
	tui_keys_first(&tui->keys, TUI_ACTION_CHAT, chat, sizeof(chat));
	tui_keys_first(&tui->keys, TUI_ACTION_COMMAND, command, sizeof(command));
	if (tui->screen == TUI_SCREEN_ROOM)
		return xasprintf(_("Press %s to chat, %s for a command, %s for help."), chat,
				 command, help);
	return xasprintf(_("Press %s for help."), help);
}

static void tui_draw_hallway(struct tui *tui)
{
	size_t *visible, count = tui_hall_visible(tui, &visible);
	size_t focus = tui_hall_focus(tui, visible, count);
	int y = 1, rows;
	size_t first = 0;
	char *text;

	if (!tui->rooms_loaded)
		text = xstrdup(_("Hallway: loading the room list..."));
	else if (tui->filter.len > 0)
		text = xasprintf(P_("Hallway: %zu of %zu rooms matches the filter",
				    "Hallway: %zu of %zu rooms match the filter", count),
				 count, tui->room_count);
	else if (tui->room_count == 0)
		text = xstrdup(_("Hallway: no rooms are open"));
	else
		text = xasprintf(P_("Hallway: %zu room is open", "Hallway: %zu rooms are open",
				    tui->room_count), tui->room_count);
	tui_draw_line(tui, 0, text, false);
	free(text);
	if (tui->filter_editing || tui->filter.len > 0)
		tui_draw_field(tui, y++, _("Filter: "), &tui->filter, tui->filter_editing);
	rows = LINES - 2 - y;
	if (rows < 1)
		rows = 1;
	if (count == 0 && tui->rooms_loaded) {
		char key[32];

		tui_keys_first(&tui->keys, TUI_ACTION_CREATE, key, sizeof(key));
		if (tui->filter.len > 0)
			text = xstrdup(_("No room matches the filter."));
		else
			text = xasprintf(_("No rooms are open. Press %s to create one."), key);
		tui_draw_line(tui, y, text, !tui->filter_editing && tui->pane != TUI_PANE_INPUT);
		free(text);
	}
	if (focus >= (size_t)rows)
		first = focus - (size_t)rows + 1;
	for (size_t i = first; i < count && y < LINES - 2; i++, y++) {
		const struct tui_room_info *room = &tui->rooms[visible[i]];

		tui_draw_linef(tui, y, i == focus && !tui->filter_editing &&
					       tui->pane != TUI_PANE_INPUT,
			       _("%s%s%s. %" PRIu64 " on stage, %" PRIu64 " listening%s"),
			       room->title, room->topic[0] != '\0' ?
						    tui_deco(tui, " \u2014 ", " - ") : "",
			       room->topic, room->speakers, room->listeners,
			       room->private_room ? _(" [private]") : "");
	}
	free(visible);
	if (tui->pane == TUI_PANE_INPUT)
		tui_draw_field(tui, LINES - 2, _("Command: "), &tui->input, true);
	else if (tui->message != NULL)
		tui_draw_line(tui, LINES - 2, tui->message, false);
	if (tui->filter_editing)
		text = xstrdup(_("Type to filter; Enter keeps the filter, Escape clears it."));
	else {
		char *hint = tui_key_hint(tui);

		text = xasprintf(_("%s as %s | %s"), tui_conn_text(tui),
				 tui->self_name != NULL ? tui->self_name : "?", hint);
		free(hint);
	}
	tui_draw_status(tui, text);
	free(text);
}

/* The log pane, bottom up from the focused entry (or the last one). */
static void tui_draw_log(struct tui *tui, int top, int bottom)
{
	bool focused = tui->pane == TUI_PANE_LOG;
	size_t last = focused ? tui->log_focus : tui->log_count - 1;
	int y = bottom;

	if (tui->log_count == 0)
		return;
	for (size_t e = last + 1; e-- > 0 && y >= top;) {
		char **rows;
		size_t n = tui_wrap(tui->log[e], (size_t)tui_width(), &rows);
		int start = y - (int)n + 1;

		for (size_t r = 0; r < n; r++) {
			int row = start + (int)r;

			if (row >= top && row <= y)
				tui_draw_line(tui, row, rows[r], false);
		}
		if (focused && e == tui->log_focus) {
			tui->cursor_y = start >= top ? start : top;
			tui->cursor_x = 0;
		}
		tui_free_rows(rows, n);
		y = start - 1;
	}
}

static void tui_draw_room(struct tui *tui)
{
	struct tui_item *items;
	size_t count = tui_room_items(tui, &items);
	size_t focus = tui_member_focus_index(tui, items, count), first = 0;
	int y = 0, member_rows, log_top;
	char *text, *enc, *hint, help[32];

	tui_draw_linef(tui, y++, false, _("Room: %s%s%s"), tui->room_title,
		       tui->room_topic[0] != '\0' ? tui_deco(tui, " \u2014 ", " - ") : "",
		       tui->room_topic);
	if (tui->options->speaking != TUI_SPEAKING_OFF) {
		char *names = tui_speaking_names(tui);

		tui_draw_linef(tui, y++, false, _("Speaking: %s"),
			       names != NULL ? names : _("nobody"));
		free(names);
	}
	member_rows = (LINES - 2 - y - 1) / 2;
	if (member_rows > (int)count)
		member_rows = (int)count;
	if (member_rows < 1)
		member_rows = 1;
	if (focus >= (size_t)member_rows)
		first = focus - (size_t)member_rows + 1;
	for (size_t i = first; i < count && i < first + (size_t)member_rows; i++, y++) {
		bool focused = tui->pane == TUI_PANE_MEMBERS && i == focus;

		if (items[i].listeners_item) {
			char key[32];

			tui_keys_first(&tui->keys, TUI_ACTION_LISTENERS, key, sizeof(key));
			text = xasprintf(P_("%" PRIu64 " listener (%s: %s the list)",
					    "%" PRIu64 " listeners (%s: %s the list)",
					    tui->listeners),
					 tui->listeners, key,
					 tui->show_listeners ? _("hide") : _("show"));
		} else {
			text = tui_member_line(tui, &tui->members[items[i].member]);
		}
		tui_draw_line(tui, y, text, focused);
		free(text);
	}
	free(items);
	tui_draw_linef(tui, y++, false, "%s %s %s", tui_deco(tui, "\u2500\u2500", "--"),
		       _("Chat and events"), tui_deco(tui, "\u2500\u2500", "--"));
	log_top = y;
	tui_draw_log(tui, log_top, LINES - 3);
	hint = tui_key_hint(tui);
	if (tui->pane == TUI_PANE_INPUT)
		tui_draw_field(tui, LINES - 2,
			       tui->input.text[0] == ':' ? _("Command: ") : _("Message: "),
			       &tui->input, true);
	else
		tui_draw_line(tui, LINES - 2, hint, false);
	enc = tui_encryption_text(tui);
	tui_keys_first(&tui->keys, TUI_ACTION_HELP, help, sizeof(help));
	tui_draw_linef(tui, LINES - 1, false, _("%s | %s | %s | %s: help"), tui_mic_text(tui),
		       tui_conn_text(tui), enc, help);
	free(enc);
	free(hint);
}

static void tui_draw(struct tui *tui)
{
	tui->dirty = false;
	tui->cursor_y = 0;
	tui->cursor_x = 0;
	erase();
	if (tui->page == TUI_PAGE_CREATE)
		tui_draw_create(tui);
	else if (tui->page != TUI_PAGE_NONE)
		tui_draw_page(tui);
	else if (tui->screen == TUI_SCREEN_HALLWAY)
		tui_draw_hallway(tui);
	else if (tui->screen == TUI_SCREEN_ROOM)
		tui_draw_room(tui);
	else {
		tui_draw_linef(tui, 0, true, _("Connecting to the server%s"),
			       tui->quitting ? _(" (quitting)") : "...");
		if (tui->message != NULL)
			tui_draw_line(tui, LINES - 2, tui->message, false);
		tui_draw_status(tui, _("Q: quit, ?: help"));
	}
	if (tui->cursor_y >= LINES)
		tui->cursor_y = LINES - 1;
	if (tui->cursor_x >= COLS)
		tui->cursor_x = COLS - 1;
	move(tui->cursor_y, tui->cursor_x);
	refresh();
}

/* Input. */

/* Translates what get_wch() returned to a tui-keys.h key, or -1 to ignore it. */
static int tui_translate_key(int ret, wint_t ch)
{
	if (ret == KEY_CODE_YES) {
		switch (ch) {
		case KEY_UP: return TUI_KEY_FUNCTION | TUI_FKEY_UP;
		case KEY_DOWN: return TUI_KEY_FUNCTION | TUI_FKEY_DOWN;
		case KEY_LEFT: return TUI_KEY_FUNCTION | TUI_FKEY_LEFT;
		case KEY_RIGHT: return TUI_KEY_FUNCTION | TUI_FKEY_RIGHT;
		case KEY_HOME: return TUI_KEY_FUNCTION | TUI_FKEY_HOME;
		case KEY_END: return TUI_KEY_FUNCTION | TUI_FKEY_END;
		case KEY_PPAGE: return TUI_KEY_FUNCTION | TUI_FKEY_PAGE_UP;
		case KEY_NPAGE: return TUI_KEY_FUNCTION | TUI_FKEY_PAGE_DOWN;
		case KEY_BACKSPACE: return TUI_KEY_FUNCTION | TUI_FKEY_BACKSPACE;
		case KEY_DC: return TUI_KEY_FUNCTION | TUI_FKEY_DELETE;
		case KEY_BTAB: return TUI_KEY_FUNCTION | TUI_FKEY_BACK_TAB;
		case KEY_ENTER: return TUI_KEY_ENTER;
		default:
			if (ch >= (wint_t)KEY_F(1) && ch <= (wint_t)KEY_F(12))
				return TUI_KEY_FUNCTION | (TUI_FKEY_F0 + (int)(ch - KEY_F0));
			return -1;
		}
	}
	if (ch == '\n' || ch == '\r')
		return TUI_KEY_ENTER;
	if (ch == 0x7f || ch == 0x08)
		return TUI_KEY_FUNCTION | TUI_FKEY_BACKSPACE;
	/* C1 controls never come from a keyboard; drop them rather than type them. */
	if (ch >= 0x80 && ch <= 0x9f)
		return -1;
	if (ch > 0x10ffff)
		return -1;
	return (int)ch;
}

static void tui_read_keys(struct tui *tui)
{
	wint_t ch;
	int ret;

	while ((ret = get_wch(&ch)) != ERR) {
		int key;

		if (ret == KEY_CODE_YES && ch == KEY_RESIZE) {
			tui->dirty = true;
			continue;
		}
		key = tui_translate_key(ret, ch);
		if (key >= 0)
			tui_key(tui, key);
		if (tui->done)
			break;
	}
}

static void tui_resize(struct tui *tui, int winch_read_fd)
{
	struct winsize size;
	char buf[64];

	while (read(winch_read_fd, buf, sizeof(buf)) > 0) {
		/* Drain: one resize handles them all. */
	}
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_row > 0 && size.ws_col > 0)
		resizeterm(size.ws_row, size.ws_col);
	tui->dirty = true;
}

static void tui_setup_keys(struct tui *tui)
{
	char *problems = NULL;

	tui_keys_init(&tui->keys);
	if (tui->options->bindings != NULL &&
	    tui_keys_apply(&tui->keys, tui->options->bindings, tui->options->binding_count,
			   &problems) > 0 && problems != NULL) {
		/* Show the first problem; log them all. */
		char *newline = strchr(problems, '\n');

		log_warn("%s", problems);
		if (newline != NULL)
			*newline = '\0';
		tui->message = tui_clean(tui, problems, strlen(problems), 0);
	}
	free(problems);
}

static void tui_free_state(struct tui *tui)
{
	tui_room_clear(tui);
	tui_page_close(tui);
	for (size_t i = 0; i < tui->room_count; i++) {
		free(tui->rooms[i].title);
		free(tui->rooms[i].topic);
	}
	free(tui->rooms);
	free(tui->verified);
	free(tui->self_name);
	free(tui->server);
	free(tui->message);
	tui_keys_free(&tui->keys);
}

int tui_run(struct engine *engine, const struct tui_options *options)
{
	struct tui tui = {
		.engine = engine,
		.options = options,
		.screen = TUI_SCREEN_CONNECTING,
		.conn = TUI_CONN_CONNECTING,
		.pane = TUI_PANE_MEMBERS,
	};
	struct sigaction winch = {.sa_handler = tui_winch_handler}, old_winch;
	int winch_pipe[2];
	SCREEN *screen;

	if (tui_curses_load() < 0)
		return 1;
	tui.ascii = options->ascii || strcmp(nl_langinfo(CODESET), "UTF-8") != 0;
	tui.flags = tui.ascii ? SANITIZE_ASCII : 0;
	tui_setup_keys(&tui);
	if (pipe2(winch_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		log_error(_("cannot create a pipe: %s"), strerror(errno));
		tui_free_state(&tui);
		return 1;
	}
	screen = newterm(NULL, stdout, stdin);
	if (screen == NULL) {
		log_error(_("this terminal cannot run the full-screen interface; try --plain"));
		close(winch_pipe[0]);
		close(winch_pipe[1]);
		tui_free_state(&tui);
		return 1;
	}
	raw();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	set_escdelay(TUI_ESCDELAY_MS);
	curs_set(1);
	/* Our own handler: curses' one would only be noticed at the next key. */
	tui_winch_fd = winch_pipe[1];
	sigemptyset(&winch.sa_mask);
	winch.sa_flags = SA_RESTART;
	sigaction(SIGWINCH, &winch, &old_winch);
	tui.dirty = true;

	while (!tui.done) {
		struct pollfd fds[4] = {
			{.fd = STDIN_FILENO, .events = POLLIN},
			{.fd = engine_fd(engine), .events = POLLIN},
			{.fd = winch_pipe[0], .events = POLLIN},
			{.fd = options->signal_fd, .events = POLLIN},
		};
		uint64_t now = util_now_ms(), deadline = UINT64_MAX;
		int timeout = -1, ret;

		if (tui.dirty)
			tui_draw(&tui);
		if (tui.speaking_pending)
			deadline = tui.speaking_last_ms + TUI_SPEAKING_INTERVAL_MS;
		if (tui.quitting && tui.quit_deadline < deadline)
			deadline = tui.quit_deadline;
		if (deadline != UINT64_MAX)
			timeout = deadline <= now ? 0 : (int)(deadline - now);
		ret = poll(fds, options->signal_fd >= 0 ? 4 : 3, timeout);
		if (ret < 0 && errno != EINTR) {
			log_error(_("poll failed: %s"), strerror(errno));
			tui.status = 1;
			break;
		}
		now = util_now_ms();
		if (tui.quitting && now >= tui.quit_deadline) {
			log_warn(_("the engine did not stop in time"));
			break;
		}
		if (tui.speaking_pending &&
		    now >= tui.speaking_last_ms + TUI_SPEAKING_INTERVAL_MS)
			tui_speaking_flush(&tui);
		if (ret <= 0)
			continue;
		if (fds[2].revents & POLLIN)
			tui_resize(&tui, winch_pipe[0]);
		if (options->signal_fd >= 0 && (fds[3].revents & POLLIN)) {
			char info[128];

			if (read(options->signal_fd, info, sizeof(info)) < 0 && errno != EAGAIN)
				log_warn(_("cannot read a signal: %s"), strerror(errno));
			if (tui.quitting)
				break; /* a second signal: do not wait any longer */
			tui_quit(&tui);
		}
		if (fds[0].revents & (POLLHUP | POLLERR) && !(fds[0].revents & POLLIN)) {
			/* The terminal is gone: nobody is left to ask. */
			tui_quit(&tui);
			if (tui.quitting && now >= tui.quit_deadline)
				break;
		}
		if (fds[0].revents & POLLIN)
			tui_read_keys(&tui);
		if (fds[1].revents & POLLIN) {
			struct engine_event *event;

			while (!tui.done && (event = engine_next_event(engine)) != NULL) {
				tui_handle_event(&tui, event);
				engine_event_free(event);
			}
		}
	}
	sigaction(SIGWINCH, &old_winch, NULL);
	tui_winch_fd = -1;
	endwin();
	delscreen(screen);
	close(winch_pipe[0]);
	close(winch_pipe[1]);
	tui_free_state(&tui);
	return tui.status;
}
