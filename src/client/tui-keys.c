/*
 * tui-keys.c - key bindings of the full-screen UI.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "i18n.h"
#include "tui-keys.h"
#include "util.h"

struct tui_action_info {
	const char *name;
	const char *help;
};

static const struct tui_action_info tui_keys_actions[TUI_ACTION_COUNT] = {
	[TUI_ACTION_NONE] = {"none", N_("nothing (unbinds the key)")},
	[TUI_ACTION_HELP] = {"help", N_("show or close this help")},
	[TUI_ACTION_QUIT] = {"quit", N_("quit salon")},
	[TUI_ACTION_LEAVE] = {"leave", N_("leave the room, close a page (hallway: q quits, "
					  "Escape clears)")},
	[TUI_ACTION_UP] = {"up", N_("move to the previous item")},
	[TUI_ACTION_DOWN] = {"down", N_("move to the next item")},
	[TUI_ACTION_PAGE_UP] = {"page-up", N_("move a page up")},
	[TUI_ACTION_PAGE_DOWN] = {"page-down", N_("move a page down")},
	[TUI_ACTION_TOP] = {"top", N_("move to the first item")},
	[TUI_ACTION_BOTTOM] = {"bottom", N_("move to the last item")},
	[TUI_ACTION_SELECT] = {"select", N_("join the room; show or hide the listeners")},
	[TUI_ACTION_NEXT_PANE] = {"next-pane",
				  N_("go to the next pane: members, chat log, input")},
	[TUI_ACTION_REFRESH] = {"refresh", N_("refresh the room list")},
	[TUI_ACTION_CREATE] = {"create", N_("create a room")},
	[TUI_ACTION_FILTER] = {"filter", N_("filter the room list")},
	[TUI_ACTION_MUTE] = {"mute", N_("mute or unmute your microphone")},
	[TUI_ACTION_MUTE_MEMBER] = {"mute-member",
				    N_("mute or unmute the member (host, moderators)")},
	[TUI_ACTION_HAND] = {"hand", N_("raise or lower your hand")},
	[TUI_ACTION_INVITE] = {"invite", N_("invite the member to speak")},
	[TUI_ACTION_AUDIENCE] = {"audience", N_("move the member to the audience")},
	[TUI_ACTION_MODERATOR] = {"moderator", N_("make the member a moderator")},
	[TUI_ACTION_REMOVE] = {"remove", N_("remove the member from the room (asks first)")},
	[TUI_ACTION_VERIFY] = {"verify", N_("show the member's safety number to verify it")},
	[TUI_ACTION_VOLUME_UP] = {"volume-up", N_("turn the member up")},
	[TUI_ACTION_VOLUME_DOWN] = {"volume-down", N_("turn the member down")},
	[TUI_ACTION_LISTENERS] = {"listeners", N_("show or hide the list of listeners")},
	[TUI_ACTION_CHAT] = {"chat", N_("write a chat message")},
	[TUI_ACTION_COMMAND] = {"command", N_("type a command (:help lists them)")},
	[TUI_ACTION_WHOAMI] = {"whoami", N_("show your name and safety number")},
};

static const struct {
	const char *key;
	enum tui_action action;
} tui_keys_defaults[] = {
	{"?", TUI_ACTION_HELP}, {"F1", TUI_ACTION_HELP},
	{"Q", TUI_ACTION_QUIT}, {"C-c", TUI_ACTION_QUIT},
	{"q", TUI_ACTION_LEAVE}, {"Esc", TUI_ACTION_LEAVE},
	{"Up", TUI_ACTION_UP}, {"k", TUI_ACTION_UP},
	{"Down", TUI_ACTION_DOWN}, {"j", TUI_ACTION_DOWN},
	{"PageUp", TUI_ACTION_PAGE_UP}, {"PageDown", TUI_ACTION_PAGE_DOWN},
	{"Home", TUI_ACTION_TOP}, {"End", TUI_ACTION_BOTTOM},
	{"Enter", TUI_ACTION_SELECT},
	{"Tab", TUI_ACTION_NEXT_PANE},
	{"r", TUI_ACTION_REFRESH}, {"c", TUI_ACTION_CREATE}, {"/", TUI_ACTION_FILTER},
	{"m", TUI_ACTION_MUTE}, {"M", TUI_ACTION_MUTE_MEMBER},
	{"h", TUI_ACTION_HAND}, {"i", TUI_ACTION_INVITE}, {"a", TUI_ACTION_AUDIENCE},
	{"o", TUI_ACTION_MODERATOR}, {"x", TUI_ACTION_REMOVE}, {"v", TUI_ACTION_VERIFY},
	{"+", TUI_ACTION_VOLUME_UP}, {"=", TUI_ACTION_VOLUME_UP},
	{"-", TUI_ACTION_VOLUME_DOWN},
	{"l", TUI_ACTION_LISTENERS}, {"t", TUI_ACTION_CHAT}, {":", TUI_ACTION_COMMAND},
	{"w", TUI_ACTION_WHOAMI},
};

static const struct {
	const char *name;
	int key;
} tui_keys_names[] = {
	{"Enter", TUI_KEY_ENTER},
	{"Tab", '\t'},
	{"Esc", TUI_KEY_ESCAPE},
	{"Space", ' '},
	{"Up", TUI_KEY_FUNCTION | TUI_FKEY_UP},
	{"Down", TUI_KEY_FUNCTION | TUI_FKEY_DOWN},
	{"Left", TUI_KEY_FUNCTION | TUI_FKEY_LEFT},
	{"Right", TUI_KEY_FUNCTION | TUI_FKEY_RIGHT},
	{"Home", TUI_KEY_FUNCTION | TUI_FKEY_HOME},
	{"End", TUI_KEY_FUNCTION | TUI_FKEY_END},
	{"PageUp", TUI_KEY_FUNCTION | TUI_FKEY_PAGE_UP},
	{"PageDown", TUI_KEY_FUNCTION | TUI_FKEY_PAGE_DOWN},
	{"Backspace", TUI_KEY_FUNCTION | TUI_FKEY_BACKSPACE},
	{"Delete", TUI_KEY_FUNCTION | TUI_FKEY_DELETE},
	{"BackTab", TUI_KEY_FUNCTION | TUI_FKEY_BACK_TAB},
	/* Other spellings, parsed but never printed. */
	{"Return", TUI_KEY_ENTER},
	{"Escape", TUI_KEY_ESCAPE},
	{"PgUp", TUI_KEY_FUNCTION | TUI_FKEY_PAGE_UP},
	{"PgDn", TUI_KEY_FUNCTION | TUI_FKEY_PAGE_DOWN},
	{"Del", TUI_KEY_FUNCTION | TUI_FKEY_DELETE},
};

const char *tui_keys_action_name(enum tui_action action)
{
	if ((unsigned)action >= TUI_ACTION_COUNT)
		return NULL;
	return tui_keys_actions[action].name;
}

const char *tui_keys_action_help(enum tui_action action)
{
	if ((unsigned)action >= TUI_ACTION_COUNT)
		return "";
	return _(tui_keys_actions[action].help);
}

static int tui_keys_action_parse(const char *text, enum tui_action *action)
{
	for (int i = 0; i < TUI_ACTION_COUNT; i++) {
		/* "volume_up" and "volume-up" both work: config keys often use '_'. */
		const char *name = tui_keys_actions[i].name;
		size_t n = strlen(name), j;

		if (strlen(text) != n)
			continue;
		for (j = 0; j < n; j++) {
			char a = text[j] == '_' ? '-' : text[j];

			if (a != name[j])
				break;
		}
		if (j == n) {
			*action = (enum tui_action)i;
			return 0;
		}
	}
	if (strcmp(text, "unbind") == 0) {
		*action = TUI_ACTION_NONE;
		return 0;
	}
	return -EINVAL;
}

void tui_keys_init(struct tui_keymap *map)
{
	map->bindings = NULL;
	map->count = 0;
	for (size_t i = 0; i < ARRAY_SIZE(tui_keys_defaults); i++) {
		int key;

		if (tui_keys_parse(tui_keys_defaults[i].key, &key) == 0)
			tui_keys_bind(map, key, tui_keys_defaults[i].action);
	}
}

void tui_keys_free(struct tui_keymap *map)
{
	free(map->bindings);
	map->bindings = NULL;
	map->count = 0;
}

void tui_keys_bind(struct tui_keymap *map, int key, enum tui_action action)
{
	for (size_t i = 0; i < map->count; i++) {
		if (map->bindings[i].key != key)
			continue;
		if (action == TUI_ACTION_NONE) {
			memmove(&map->bindings[i], &map->bindings[i + 1],
				(map->count - i - 1) * sizeof(map->bindings[0]));
			map->count--;
		} else {
			map->bindings[i].action = action;
		}
		return;
	}
	if (action == TUI_ACTION_NONE)
		return;
	map->bindings = xreallocarray(map->bindings, map->count + 1, sizeof(map->bindings[0]));
	map->bindings[map->count].key = key;
	map->bindings[map->count].action = action;
	map->count++;
}

enum tui_action tui_keys_lookup(const struct tui_keymap *map, int key)
{
	for (size_t i = 0; i < map->count; i++)
		if (map->bindings[i].key == key)
			return map->bindings[i].action;
	return TUI_ACTION_NONE;
}

char *tui_keys_describe(const struct tui_keymap *map, enum tui_action action, char *buf,
			size_t size)
{
	size_t used = 0;

	if (size == 0)
		return buf;
	buf[0] = '\0';
	for (size_t i = 0; i < map->count; i++) {
		char name[32];
		int n;

		if (map->bindings[i].action != action)
			continue;
		tui_keys_name(map->bindings[i].key, name, sizeof(name));
		n = snprintf(buf + used, size - used, "%s%s", used > 0 ? ", " : "", name);
		if (n < 0 || (size_t)n >= size - used)
			break;
		used += (size_t)n;
	}
	return buf;
}

char *tui_keys_first(const struct tui_keymap *map, enum tui_action action, char *buf,
		     size_t size)
{
	if (size == 0)
		return buf;
	buf[0] = '\0';
	for (size_t i = 0; i < map->count; i++) {
		if (map->bindings[i].action == action)
			return tui_keys_name(map->bindings[i].key, buf, size);
	}
	return buf;
}

/* Decodes one UTF-8 code point that must be the whole of text. */
static int tui_keys_one_char(const char *text, int *key)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t len = strlen(text), need;
	unsigned cp;

	if (len == 0)
		return -EINVAL;
	if (s[0] < 0x80) {
		cp = s[0];
		need = 1;
	} else if ((s[0] & 0xe0) == 0xc0) {
		cp = s[0] & 0x1fu;
		need = 2;
	} else if ((s[0] & 0xf0) == 0xe0) {
		cp = s[0] & 0x0fu;
		need = 3;
	} else if ((s[0] & 0xf8) == 0xf0) {
		cp = s[0] & 0x07u;
		need = 4;
	} else {
		return -EINVAL;
	}
	if (len != need)
		return -EINVAL;
	for (size_t i = 1; i < need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return -EINVAL;
		cp = (cp << 6) | (s[i] & 0x3fu);
	}
	if (cp < 0x21 || cp == 0x7f || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -EINVAL;
	*key = (int)cp;
	return 0;
}

int tui_keys_parse(const char *text, int *key)
{
	if (tui_keys_one_char(text, key) == 0)
		return 0;
	if ((strncasecmp(text, "C-", 2) == 0 || text[0] == '^') &&
	    text[text[0] == '^' ? 1 : 2] != '\0' && text[text[0] == '^' ? 2 : 3] == '\0') {
		char c = text[text[0] == '^' ? 1 : 2];

		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (c < '@' || c > '_')
			return -EINVAL;
		*key = c - '@';
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(tui_keys_names); i++) {
		if (strcasecmp(text, tui_keys_names[i].name) == 0) {
			*key = tui_keys_names[i].key;
			return 0;
		}
	}
	if ((text[0] == 'F' || text[0] == 'f') && text[1] >= '1' && text[1] <= '9') {
		char *end;
		long n = strtol(text + 1, &end, 10);

		if (*end == '\0' && n >= 1 && n <= 12) {
			*key = TUI_KEY_FUNCTION | (TUI_FKEY_F0 + (int)n);
			return 0;
		}
	}
	return -EINVAL;
}

char *tui_keys_name(int key, char *buf, size_t size)
{
	if (size == 0)
		return buf;
	for (size_t i = 0; i < ARRAY_SIZE(tui_keys_names); i++) {
		if (tui_keys_names[i].key == key) {
			snprintf(buf, size, "%s", tui_keys_names[i].name);
			return buf;
		}
	}
	if (key & TUI_KEY_FUNCTION) {
		int code = key & ~TUI_KEY_FUNCTION;

		if (code > TUI_FKEY_F0 && code <= TUI_FKEY_F0 + 12)
			snprintf(buf, size, "F%d", code - TUI_FKEY_F0);
		else
			snprintf(buf, size, "key%d", code);
	} else if (key >= 0 && key < 0x20) {
		snprintf(buf, size, "C-%c", (char)(key + 'a' - 1));
	} else if (key < 0x80) {
		snprintf(buf, size, "%c", (char)key);
	} else {
		/* Encode the code point as UTF-8. */
		unsigned cp = (unsigned)key;
		char out[5] = {0};

		if (cp < 0x800) {
			out[0] = (char)(0xc0 | (cp >> 6));
			out[1] = (char)(0x80 | (cp & 0x3f));
		} else if (cp < 0x10000) {
			out[0] = (char)(0xe0 | (cp >> 12));
			out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
			out[2] = (char)(0x80 | (cp & 0x3f));
		} else {
			out[0] = (char)(0xf0 | (cp >> 18));
			out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
			out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
			out[3] = (char)(0x80 | (cp & 0x3f));
		}
		snprintf(buf, size, "%s", out);
	}
	return buf;
}

static void tui_keys_problem(char **problems, unsigned line, const char *what,
			     const char *text)
{
	char *joined = xasprintf(_("[keys] line %u: %s: %s\n"), line, what, text);

	if (*problems == NULL) {
		*problems = joined;
		return;
	}
	char *both = xasprintf("%s%s", *problems, joined);

	free(*problems);
	free(joined);
	*problems = both;
}

size_t tui_keys_apply(struct tui_keymap *map, const struct config_file_binding *bindings,
		      size_t count, char **problems)
{
	size_t skipped = 0;

	for (size_t i = 0; i < count; i++) {
		const char *left = bindings[i].key, *right = bindings[i].action;
		enum tui_action action;
		int key;

		if (left == NULL || right == NULL) {
			skipped++;
			continue;
		}
		/* "m = mute" or "mute = m": whichever side names an action is the action. */
		if (tui_keys_action_parse(right, &action) == 0 &&
		    tui_keys_parse(left, &key) == 0) {
			tui_keys_bind(map, key, action);
		} else if (tui_keys_action_parse(left, &action) == 0 &&
			   tui_keys_parse(right, &key) == 0) {
			tui_keys_bind(map, key, action);
		} else {
			tui_keys_problem(problems, bindings[i].line,
					 _("not a key and an action"), left);
			skipped++;
		}
	}
	return skipped;
}
