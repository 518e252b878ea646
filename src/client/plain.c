/*
 * plain.c - line mode: one sentence per event, commands from a prompt.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "i18n.h"
#include "log.h"
#include "plain.h"
#include "sanitize.h"
#include "util.h"

/* Names and titles are cut to this many columns; chat is shown whole. */
#define PLAIN_NAME_WIDTH 48
#define PLAIN_TITLE_WIDTH 100
/* The longest command line read; longer lines are refused, not cut. */
#define PLAIN_LINE_MAX 4096
/* How long /quit waits for the engine to leave the room and stop. */
#define PLAIN_QUIT_TIMEOUT_MS 5000
/* The tag of the room list asked for to find a room by its title. */
#define PLAIN_FIND_TAG "plain-find-room"

struct plain {
	unsigned flags;
	uint64_t self_id;
	uint64_t room_id;
	char *room_title;     /* sanitized */
	json_t *members;      /* array of member objects as the engine gave them */
	uint64_t listeners;
	bool hand_raised;
};

struct plain *plain_new(unsigned sanitize_flags)
{
	struct plain *plain = xcalloc(1, sizeof(*plain));

	plain->flags = sanitize_flags;
	plain->members = json_array();
	return plain;
}

void plain_free(struct plain *plain)
{
	if (plain == NULL)
		return;
	free(plain->room_title);
	json_decref(plain->members);
	free(plain);
}

/* A sanitized copy of a string field (whole, NULs included), or of fallback. */
static char *plain_clean(const struct plain *plain, const json_t *object, const char *key,
			 size_t width, const char *fallback)
{
	return frontend_field_text(object, key, plain->flags, width, fallback);
}

/* The member with this user id in our copy of the room, or NULL. */
static json_t *plain_member(const struct plain *plain, uint64_t user_id, size_t *index)
{
	size_t i;
	json_t *member;

	json_array_foreach(plain->members, i, member) {
		if (frontend_u64(member, "user_id") == user_id) {
			if (index != NULL)
				*index = i;
			return member;
		}
	}
	return NULL;
}

/*
 * The sanitized name of the user an event is about: its "name" field, else the
 * name we know from the member list, else "user N".
 */
static char *plain_name(const struct plain *plain, const json_t *data)
{
	uint64_t user_id = frontend_u64(data, "user_id");
	const json_t *member;

	if (json_is_string(json_object_get(data, "name")))
		return plain_clean(plain, data, "name", PLAIN_NAME_WIDTH, "");
	member = plain_member(plain, user_id, NULL);
	if (member != NULL && json_is_string(json_object_get(member, "name")))
		return plain_clean(plain, member, "name", PLAIN_NAME_WIDTH, "");
	return frontend_user_text(user_id, plain->flags);
}

/* "the host", "a moderator", ... for "joined as ..." and "is now ...". */
static const char *plain_role_phrase(const char *role)
{
	return frontend_role_phrase(role, _("a member"));
}

static bool plain_on_stage(const char *role)
{
	return role != NULL && strcmp(role, "listener") != 0;
}

/* Sets a member's field in our copy (when we know the member). */
static void plain_member_set(struct plain *plain, uint64_t user_id, const char *key,
			     json_t *value)
{
	json_t *member = plain_member(plain, user_id, NULL);

	if (member != NULL)
		json_object_set(member, key, value);
	json_decref(value);
}

static void plain_forget_room(struct plain *plain)
{
	plain->room_id = 0;
	free(plain->room_title);
	plain->room_title = NULL;
	json_array_clear(plain->members);
	plain->listeners = 0;
	plain->hand_raised = false;
}

/* "Alice (host), Bob (speaker, muted)" for the members on stage, or NULL if none. */
static char *plain_stage_text(const struct plain *plain)
{
	char *text = NULL;
	size_t i;
	json_t *member;

	json_array_foreach(plain->members, i, member) {
		const char *role = frontend_str(member, "role", NULL);
		char *name, *item, *joined;

		if (!plain_on_stage(role))
			continue;
		name = plain_clean(plain, member, "name", PLAIN_NAME_WIDTH, "?");
		item = xasprintf("%s (%s%s%s%s)", name, plain_role_phrase(role),
				 json_is_true(json_object_get(member, "bot")) ? _(", bot") : "",
				 json_is_true(json_object_get(member, "muted")) ? _(", muted") :
										  "",
				 json_is_true(json_object_get(member, "recording")) ?
					 _(", recording") : "");
		free(name);
		joined = text == NULL ? item : xasprintf("%s, %s", text, item);
		if (joined != item) {
			free(text);
			free(item);
		}
		text = joined;
	}
	return text;
}

/* The answer to /who. */
static char *plain_who_text(const struct plain *plain)
{
	char *stage, *hands = NULL, *text;
	size_t i;
	json_t *member;

	if (plain->room_id == 0)
		return xstrdup(_("You are not in a room.\n"));
	stage = plain_stage_text(plain);
	json_array_foreach(plain->members, i, member) {
		char *name, *joined;

		if (!json_is_true(json_object_get(member, "hand_raised")))
			continue;
		name = plain_clean(plain, member, "name", PLAIN_NAME_WIDTH, "?");
		joined = hands == NULL ? xstrdup(name) : xasprintf("%s, %s", hands, name);
		free(name);
		free(hands);
		hands = joined;
	}
	text = xasprintf(_("Room %" PRIu64 ": %s. On stage: %s. Listeners: %" PRIu64
			   ". Hands raised: %s.\n"),
			 plain->room_id, plain->room_title != NULL ? plain->room_title : "",
			 stage != NULL ? stage : _("nobody"), plain->listeners,
			 hands != NULL ? hands : _("none"));
	free(stage);
	free(hands);
	return text;
}

/* One line per room of an ENGINE_EV_ROOMS event. */
static char *plain_rooms_text(const struct plain *plain, const json_t *data)
{
	const json_t *rooms = json_object_get(data, "rooms");
	char *text;
	size_t i;
	json_t *room;

	if (json_array_size(rooms) == 0)
		return xstrdup(_("No rooms are open.\n"));
	text = xasprintf(P_("%zu room:\n", "%zu rooms:\n", json_array_size(rooms)),
			 json_array_size(rooms));
	json_array_foreach(rooms, i, room) {
		char *title = plain_clean(plain, room, "title", PLAIN_TITLE_WIDTH, "");
		char *topic = plain_clean(plain, room, "topic", PLAIN_TITLE_WIDTH, "");
		uint64_t speakers = frontend_u64(room, "speakers");
		uint64_t listeners = frontend_u64(room, "listeners");
		char *line, *joined;

		line = xasprintf(_("  %" PRIu64 "  %s%s%s (%" PRIu64 " on stage, %" PRIu64
				   " listening)%s\n"),
				 frontend_u64(room, "id"), title, topic[0] ? " - " : "", topic,
				 speakers, listeners,
				 strcmp(frontend_str(room, "visibility", ""), "private") == 0 ?
					 _(" [private]") : "");
		joined = xasprintf("%s%s", text, line);
		free(text);
		free(line);
		free(title);
		free(topic);
		text = joined;
	}
	return text;
}

static char *plain_joined_text(struct plain *plain, const json_t *data)
{
	const json_t *room = json_object_get(data, "room");
	const json_t *member = json_object_get(data, "member");
	const json_t *members = json_object_get(data, "members");
	char *stage, *text;

	plain_forget_room(plain);
	plain->room_id = frontend_u64(room, "id");
	plain->room_title = plain_clean(plain, room, "title", PLAIN_TITLE_WIDTH, "");
	plain->listeners = frontend_u64(room, "listeners");
	if (json_is_array(members)) {
		size_t i;
		json_t *item;

		json_array_foreach(members, i, item)
			if (json_is_object(item))
				json_array_append_new(plain->members, json_deep_copy(item));
	}
	if (json_is_object(member) &&
	    plain_member(plain, frontend_u64(member, "user_id"), NULL) == NULL)
		json_array_append_new(plain->members, json_deep_copy(member));
	stage = plain_stage_text(plain);
	text = xasprintf(_("You joined \"%s\" (room %" PRIu64 ") as %s. On stage: %s. "
			   "Listeners: %" PRIu64 ".\n"),
			 plain->room_title, plain->room_id,
			 plain_role_phrase(frontend_str(member, "role", NULL)),
			 stage != NULL ? stage : _("nobody"), plain->listeners);
	free(stage);
	return text;
}

static char *plain_member_joined_text(struct plain *plain, const json_t *data)
{
	const json_t *member = json_object_get(data, "member");
	uint64_t user_id = frontend_u64(member, "user_id");
	size_t index;
	char *name, *text;

	if (!json_is_object(member))
		return NULL;
	if (plain_member(plain, user_id, &index) != NULL)
		json_array_remove(plain->members, index);
	json_array_append_new(plain->members, json_deep_copy(member));
	name = plain_clean(plain, member, "name", PLAIN_NAME_WIDTH, "?");
	text = xasprintf(json_is_true(json_object_get(member, "bot")) ?
				 _("%s (a bot) joined as %s.\n") : _("%s joined as %s.\n"),
			 name, plain_role_phrase(frontend_str(member, "role", NULL)));
	free(name);
	return text;
}

static char *plain_member_left_text(struct plain *plain, const json_t *data)
{
	uint64_t user_id = frontend_u64(data, "user_id");
	char *name = plain_name(plain, data), *text;
	bool removed = strcmp(frontend_str(data, "reason", ""), "removed") == 0;
	size_t index;

	if (user_id != 0 && user_id == plain->self_id)
		text = xstrdup(removed ? _("You were removed from the room.\n") :
					 _("You left the room.\n"));
	else
		text = xasprintf(removed ? _("%s was removed from the room.\n") : _("%s left.\n"),
				 name);
	if (plain_member(plain, user_id, &index) != NULL)
		json_array_remove(plain->members, index);
	free(name);
	return text;
}

static char *plain_role_text(struct plain *plain, const json_t *data)
{
	uint64_t user_id = frontend_u64(data, "user_id");
	const char *role = frontend_str(data, "role", NULL);
	char *name, *text;

	if (role != NULL)
		plain_member_set(plain, user_id, "role", json_string(role));
	if (plain_on_stage(role))
		plain_member_set(plain, user_id, "hand_raised", json_false());
	if (user_id == plain->self_id) {
		if (plain_on_stage(role))
			plain->hand_raised = false;
		if (role != NULL && strcmp(role, "listener") == 0)
			return xstrdup(_("You are now in the audience.\n"));
		return xasprintf(_("You are now %s.\n"), plain_role_phrase(role));
	}
	name = plain_name(plain, data);
	if (role != NULL && strcmp(role, "listener") == 0)
		text = xasprintf(_("%s is now in the audience.\n"), name);
	else
		text = xasprintf(_("%s is now %s.\n"), name, plain_role_phrase(role));
	free(name);
	return text;
}

/*
 * Events about one user with a yes/no state (hands, mutes, recording): updates our
 * copy, and returns the sentence when the event is about us, else NULL.
 */
static char *plain_flag_self(struct plain *plain, const json_t *data, const char *key, bool on,
			     const char *self_on, const char *self_off)
{
	uint64_t user_id = frontend_u64(data, "user_id");

	plain_member_set(plain, user_id, key, json_boolean(on));
	if (user_id == plain->self_id)
		return xstrdup(on ? self_on : self_off);
	return NULL;
}

char *plain_describe(struct plain *plain, const struct engine_event *event)
{
	const json_t *data = event->data;
	char *a = NULL, *b = NULL, *text = NULL;
	bool on;

	switch (event->type) {
	case ENGINE_EV_CONNECTED: {
		const json_t *user = json_object_get(data, "user");

		plain->self_id = frontend_u64(user, "id");
		a = plain_clean(plain, user, "name", PLAIN_NAME_WIDTH, "?");
		b = plain_clean(plain, data, "server", PLAIN_TITLE_WIDTH, "");
		text = xasprintf(_("Connected to %s as %s.\n"), b, a);
		break;
	}
	case ENGINE_EV_RECONNECTING: {
		uint64_t in_ms = frontend_u64(data, "in_ms");

		if (strcmp(frontend_str(data, "what", ""), "media") == 0)
			text = xasprintf(_("Audio connection lost; retrying in %" PRIu64
					   " seconds.\n"), (in_ms + 999) / 1000);
		else
			text = xasprintf(_("Server connection lost; retrying in %" PRIu64
					   " seconds.\n"), (in_ms + 999) / 1000);
		break;
	}
	case ENGINE_EV_ROOMS:
		text = plain_rooms_text(plain, data);
		break;
	case ENGINE_EV_ROOM_CREATED: {
		const json_t *room = json_object_get(data, "room");

		a = plain_clean(plain, room, "title", PLAIN_TITLE_WIDTH, "");
		text = xasprintf(_("Room %" PRIu64 " created: \"%s\".\n"),
				 frontend_u64(room, "id"), a);
		break;
	}
	case ENGINE_EV_JOINED:
		text = plain_joined_text(plain, data);
		break;
	case ENGINE_EV_LEFT:
		plain_forget_room(plain);
		text = xstrdup(_("You left the room.\n"));
		break;
	case ENGINE_EV_ROOM_ENDED:
		plain_forget_room(plain);
		text = xstrdup(_("The room has ended.\n"));
		break;
	case ENGINE_EV_MEMBER_JOINED:
		text = plain_member_joined_text(plain, data);
		break;
	case ENGINE_EV_MEMBER_LEFT:
		text = plain_member_left_text(plain, data);
		break;
	case ENGINE_EV_ROLE_CHANGED:
		text = plain_role_text(plain, data);
		break;
	case ENGINE_EV_HAND_RAISED:
	case ENGINE_EV_HAND_LOWERED:
		on = event->type == ENGINE_EV_HAND_RAISED;
		if (frontend_u64(data, "user_id") == plain->self_id)
			plain->hand_raised = on;
		text = plain_flag_self(plain, data, "hand_raised", on,
				       _("You raised your hand.\n"), _("Your hand is lowered.\n"));
		if (text != NULL)
			break;
		a = plain_name(plain, data);
		text = on ? xasprintf(_("%s raised their hand.\n"), a) :
			    xasprintf(_("%s lowered their hand.\n"), a);
		break;
	case ENGINE_EV_MUTED:
		on = json_is_true(json_object_get(data, "muted"));
		text = plain_flag_self(plain, data, "muted", on, _("You are muted.\n"),
				       _("You are no longer muted.\n"));
		if (text != NULL)
			break;
		a = plain_name(plain, data);
		text = on ? xasprintf(_("%s is muted.\n"), a) :
			    xasprintf(_("%s is no longer muted.\n"), a);
		break;
	case ENGINE_EV_RECORDING:
		on = json_is_true(json_object_get(data, "recording"));
		text = plain_flag_self(plain, data, "recording", on,
				       _("You are recording the room [recording].\n"),
				       _("You stopped recording.\n"));
		if (text != NULL)
			break;
		a = plain_name(plain, data);
		text = on ? xasprintf(_("%s is recording the room [recording].\n"), a) :
			    xasprintf(_("%s stopped recording.\n"), a);
		break;
	case ENGINE_EV_LISTENER_COUNT:
		plain->listeners = frontend_u64(data, "listeners");
		text = xasprintf(P_("%" PRIu64 " listener.\n", "%" PRIu64 " listeners.\n",
				    plain->listeners),
				 plain->listeners);
		break;
	case ENGINE_EV_SPEAKING_STARTED:
		if (frontend_u64(data, "user_id") == plain->self_id) {
			text = xstrdup(_("You are speaking.\n"));
			break;
		}
		a = plain_name(plain, data);
		text = xasprintf(_("%s is speaking.\n"), a);
		break;
	case ENGINE_EV_SPEAKING_STOPPED:
		/* The end of every sentence would be noise for a screen reader. */
		break;
	case ENGINE_EV_CHAT:
		a = plain_name(plain, data);
		b = plain_clean(plain, data, "text", 0, "");
		text = xasprintf(_("Chat from %s: %s\n"), a, b);
		break;
	case ENGINE_EV_KEY_CHANGED:
		a = plain_name(plain, data);
		b = plain_clean(plain, data, "safety_number", PLAIN_TITLE_WIDTH, "");
		text = xasprintf(_("Warning: the identity key of %s has changed (new safety "
				   "number %s). No audio keys go to them until you accept it: "
				   "check the number with them, then /accept %s.\n"),
				 a, b, a);
		break;
	case ENGINE_EV_SAFETY_NUMBER:
		a = plain_name(plain, data);
		b = plain_clean(plain, data, "safety_number", PLAIN_TITLE_WIDTH, "");
		/*
		 * Compare it aloud with theirs. A changed key comes first: it is the one
		 * state where the number must not be trusted yet.
		 */
		if (json_is_true(json_object_get(data, "changed")))
			text = xasprintf(_("Safety number of %s: %s (changed: this is not the "
					   "key first seen for them; check it with them, then "
					   "/accept %s).\n"), a, b, a);
		else if (json_is_true(json_object_get(data, "verified")))
			text = xasprintf(_("Safety number of %s: %s (verified).\n"), a, b);
		else if (json_is_true(json_object_get(data, "pinned")))
			text = xasprintf(_("Safety number of %s: %s (the key first seen for "
					   "them, not verified: if it matches theirs, "
					   "/verify %s yes).\n"), a, b, a);
		else
			text = xasprintf(_("Safety number of %s: %s (no pinned key matches "
					   "it).\n"), a, b);
		break;
	case ENGINE_EV_WHOAMI: {
		const json_t *user = json_object_get(data, "user");

		a = plain_clean(plain, user, "name", PLAIN_NAME_WIDTH, "?");
		b = plain_clean(plain, data, "safety_number", PLAIN_TITLE_WIDTH, "");
		text = xasprintf(_("You are %s (user %" PRIu64 "). Your safety number: %s\n"), a,
				 frontend_u64(user, "id"), b);
		break;
	}
	case ENGINE_EV_PLAY_FINISHED:
		a = plain_clean(plain, data, "path", 0, "");
		text = json_is_true(json_object_get(data, "stopped")) ?
			       xasprintf(_("Stopped playing %s.\n"), a) :
			       xasprintf(_("Finished playing %s.\n"), a);
		break;
	case ENGINE_EV_ERROR:
		a = plain_clean(plain, data, "message", 0, "");
		text = xasprintf(_("Error: %s\n"), a);
		break;
	case ENGINE_EV_STATS: {
		const json_t *media = json_object_get(data, "media");

		if (!json_is_object(media)) {
			text = xstrdup(_("No audio counters: the audio engine is not running.\n"));
			break;
		}
		text = xasprintf(_("Audio: %" PRIu64 " frames heard (%" PRIu64 " concealed, %" PRIu64
				   " recovered by FEC), %" PRIu64 " could not be decrypted, %" PRIu64
				   " datagrams dropped; %" PRIu64 " frames sent; %" PRIu64
				   " reconnections.\n"),
				 frontend_u64(media, "frames_received"),
				 frontend_u64(media, "frames_concealed"),
				 frontend_u64(media, "frames_fec"),
				 frontend_u64(media, "frames_undecryptable"),
				 frontend_u64(media, "datagrams_dropped"),
				 frontend_u64(media, "frames_sent"), frontend_u64(media, "reconnects"));
		break;
	}
	case ENGINE_EV_QUIT:
		break;
	}
	free(a);
	free(b);
	return text;
}

/* Line mode's terminal side: output, prompt, input buffer. */
struct plain_run {
	struct engine *engine;
	struct plain *plain;
	const struct frontend_options *options;
	bool prompt;          /* show a prompt (both ends are a terminal) */
	bool prompt_shown;    /* the prompt is the last thing on the screen */
	char line[PLAIN_LINE_MAX + 1];
	size_t line_len;
	bool line_too_long;
	bool input_done;
	bool quitting;
	uint64_t quit_deadline;
	char *find_title;     /* a /join by title waiting for the room list */
	int last_error;       /* exit status for the last error event */
	int status;
};

static void plain_print(struct plain_run *run, const char *text)
{
	if (run->prompt_shown) {
		fputs("\n", stdout);
		run->prompt_shown = false;
	}
	fputs(text, stdout);
}

static void plain_show_prompt(struct plain_run *run)
{
	if (run->prompt && !run->prompt_shown && !run->quitting) {
		fputs("> ", stdout);
		run->prompt_shown = true;
	}
	fflush(stdout);
}

static void plain_join(struct plain_run *run, const char *room_text)
{
	struct engine_command *command;
	uint64_t room;

	if (frontend_parse_room(room_text, &room) == 0) {
		command = engine_command_new(ENGINE_CMD_JOIN);
		command->room = room;
		command->flag = run->options->listen_only;
		engine_send(run->engine, command);
		return;
	}
	/* Not an id: look the title up in the room list first. */
	free(run->find_title);
	run->find_title = xstrdup(room_text);
	command = engine_command_new(ENGINE_CMD_LIST_ROOMS);
	command->tag = xstrdup(PLAIN_FIND_TAG);
	engine_send(run->engine, command);
}

static void plain_quit(struct plain_run *run)
{
	if (run->quitting)
		return;
	run->quitting = true;
	run->quit_deadline = util_now_ms() + PLAIN_QUIT_TIMEOUT_MS;
	frontend_send(run->engine, ENGINE_CMD_QUIT, NULL, NULL);
}

static void plain_help(struct plain_run *run)
{
	plain_print(run, _("Commands:\n"
			   "  /rooms              list the open rooms\n"
			   "  /create TITLE       open a room (you are its host)\n"
			   "  /join ROOM          join a room by id or title\n"
			   "  /leave              leave the room\n"
			   "  /who                who is on stage, hands raised, listeners\n"
			   "  /hand [up|down]     raise or lower your hand (toggles)\n"
			   "  /mute, /unmute      turn your microphone off or on\n"
			   "  /say TEXT           chat (so is any line not starting with /;\n"
			   "                      start a line with // to chat a leading /)\n"
			   "  /invite NAME        invite a member to speak (host, moderators)\n"
			   "  /audience NAME      move a member back to the audience\n"
			   "  /moderator NAME     make a member a moderator (host)\n"
			   "  /remove NAME        remove a member from the room\n"
			   "  /play [FILE]        speak from a sound file; no FILE stops\n"
			   "  /record [FILE]      record the room (announced); no FILE stops\n"
			   "  /volume NAME GAIN   a member's volume (1 is unchanged)\n"
			   "  /verify NAME        show a member's safety number, and whether\n"
			   "                      it is verified or changed\n"
			   "  /verify NAME yes    mark it verified: the numbers match\n"
			   "  /accept NAME        accept a member's changed identity key\n"
			   "  /whoami             your name and safety number\n"
			   "  /stats              audio counters: frames heard, lost, dropped\n"
			   "  /end                end the room (host)\n"
			   "  /quit               leave and exit\n"));
}

/* Splits "/cmd rest" into cmd and rest (rest without leading blanks, maybe empty). */
static void plain_split(char *line, char **cmd, char **rest)
{
	char *space = strpbrk(line, " \t");

	*cmd = line + 1;
	if (space == NULL) {
		*rest = line + strlen(line);
		return;
	}
	*space++ = '\0';
	while (*space == ' ' || *space == '\t')
		space++;
	*rest = space;
	/* Trailing blanks are never meant. */
	for (size_t n = strlen(space); n > 0 && (space[n - 1] == ' ' || space[n - 1] == '\t'); n--)
		space[n - 1] = '\0';
}

static bool plain_need(struct plain_run *run, const char *rest, const char *usage)
{
	if (rest[0] != '\0')
		return true;
	char *text = xasprintf(_("Usage: %s\n"), _(usage));

	plain_print(run, text);
	free(text);
	return false;
}

/*
 * "/verify NAME" asks for the safety number; "/verify NAME yes" also marks the key
 * verified (the engine stores that with the pin and refuses a changed key).
 */
static void plain_verify(struct plain_run *run, char *rest)
{
	struct engine_command *command = engine_command_new(ENGINE_CMD_VERIFY);
	size_t len = strlen(rest);

	if (len > 4 && strcmp(rest + len - 4, " yes") == 0) {
		command->flag = true;
		rest[len - 4] = '\0';
		/* "NAME  yes": the split left blanks only at the end of the whole line. */
		for (len -= 4; len > 0 && (rest[len - 1] == ' ' || rest[len - 1] == '\t'); len--)
			rest[len - 1] = '\0';
	}
	command->user = xstrdup(rest);
	engine_send(run->engine, command);
}

static void plain_command(struct plain_run *run, char *line)
{
	static const struct {
		const char *name;
		enum engine_command_type type;
		const char *usage; /* NULL: no argument; else the argument is a user name */
	} simple[] = {
		{"leave", ENGINE_CMD_LEAVE, NULL},
		{"mute", ENGINE_CMD_MUTE, NULL},
		{"unmute", ENGINE_CMD_UNMUTE, NULL},
		{"rooms", ENGINE_CMD_LIST_ROOMS, NULL},
		{"whoami", ENGINE_CMD_WHOAMI, NULL},
		{"stats", ENGINE_CMD_STATS, NULL},
		{"end", ENGINE_CMD_END_ROOM, NULL},
		{"invite", ENGINE_CMD_INVITE, N_("/invite NAME")},
		{"audience", ENGINE_CMD_MOVE_TO_AUDIENCE, N_("/audience NAME")},
		{"moderator", ENGINE_CMD_MAKE_MODERATOR, N_("/moderator NAME")},
		{"remove", ENGINE_CMD_REMOVE, N_("/remove NAME")},
		{"accept", ENGINE_CMD_ACCEPT_KEY, N_("/accept NAME")},
	};
	char *cmd, *rest;

	if (line[0] == '\0')
		return;
	if (line[0] != '/' || line[1] == '/') {
		frontend_send(run->engine, ENGINE_CMD_SAY, NULL, line[0] == '/' ? line + 1 : line);
		return;
	}
	plain_split(line, &cmd, &rest);
	for (size_t i = 0; i < ARRAY_SIZE(simple); i++) {
		if (strcmp(cmd, simple[i].name) != 0)
			continue;
		if (simple[i].usage == NULL)
			frontend_send(run->engine, simple[i].type, NULL, NULL);
		else if (plain_need(run, rest, simple[i].usage))
			frontend_send(run->engine, simple[i].type, rest, NULL);
		return;
	}
	if (strcmp(cmd, "quit") == 0 || strcmp(cmd, "exit") == 0) {
		plain_quit(run);
	} else if (strcmp(cmd, "help") == 0 || strcmp(cmd, "?") == 0) {
		plain_help(run);
	} else if (strcmp(cmd, "who") == 0) {
		char *text = plain_who_text(run->plain);

		plain_print(run, text);
		free(text);
	} else if (strcmp(cmd, "join") == 0) {
		if (plain_need(run, rest, N_("/join ROOM")))
			plain_join(run, rest);
	} else if (strcmp(cmd, "say") == 0) {
		if (plain_need(run, rest, N_("/say TEXT")))
			frontend_send(run->engine, ENGINE_CMD_SAY, NULL, rest);
	} else if (strcmp(cmd, "create") == 0) {
		if (plain_need(run, rest, N_("/create TITLE")))
			frontend_send(run->engine, ENGINE_CMD_CREATE_ROOM, NULL, rest);
	} else if (strcmp(cmd, "hand") == 0) {
		bool raise = !run->plain->hand_raised;

		if (strcmp(rest, "up") == 0)
			raise = true;
		else if (strcmp(rest, "down") == 0)
			raise = false;
		frontend_send(run->engine, raise ? ENGINE_CMD_RAISE_HAND : ENGINE_CMD_LOWER_HAND,
			      NULL, NULL);
	} else if (strcmp(cmd, "verify") == 0) {
		if (plain_need(run, rest, N_("/verify NAME [yes]")))
			plain_verify(run, rest);
	} else if (strcmp(cmd, "play") == 0) {
		frontend_send(run->engine, ENGINE_CMD_PLAY, NULL, rest[0] != '\0' ? rest : NULL);
	} else if (strcmp(cmd, "record") == 0) {
		frontend_send(run->engine, ENGINE_CMD_RECORD, NULL, rest[0] != '\0' ? rest : NULL);
	} else if (strcmp(cmd, "volume") == 0) {
		double gain;
		int ret = frontend_parse_volume(rest, &gain);

		if (ret == -EINVAL)
			plain_need(run, "", N_("/volume NAME GAIN"));
		else if (ret < 0)
			plain_print(run,
				    _("The gain is a number from 0 to 4 (1 is unchanged).\n"));
		else
			frontend_send_volume(run->engine, rest, gain);
	} else {
		char *text = xasprintf(_("Unknown command /%s; /help lists them.\n"), cmd);

		plain_print(run, text);
		free(text);
	}
}

/* Reads what standard input has and runs each complete line. */
static void plain_read_input(struct plain_run *run)
{
	char buf[1024];
	ssize_t got = read(STDIN_FILENO, buf, sizeof(buf));

	if (got < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (got <= 0) {
		/* End of input: a last line without its newline still counts. */
		if (run->line_len > 0 && !run->line_too_long) {
			run->line[run->line_len] = '\0';
			plain_command(run, run->line);
		}
		run->input_done = true;
		plain_quit(run);
		return;
	}
	run->prompt_shown = false;
	for (ssize_t i = 0; i < got; i++) {
		if (buf[i] == '\n') {
			if (run->line_too_long) {
				plain_print(run, _("That line is too long; it was ignored.\n"));
			} else {
				if (run->line_len > 0 && run->line[run->line_len - 1] == '\r')
					run->line_len--;
				run->line[run->line_len] = '\0';
				plain_command(run, run->line);
			}
			run->line_len = 0;
			run->line_too_long = false;
		} else if (run->line_len < PLAIN_LINE_MAX) {
			run->line[run->line_len++] = buf[i];
		} else {
			run->line_too_long = true;
		}
	}
}

static void plain_handle_event(struct plain_run *run, struct engine_event *event)
{
	const char *tag = frontend_str(event->data, "tag", NULL);
	char *text;

	if (event->type == ENGINE_EV_ROOMS && tag != NULL && strcmp(tag, PLAIN_FIND_TAG) == 0 &&
	    run->find_title != NULL) {
		uint64_t room;

		if (frontend_find_room(event->data, run->find_title, &room) == 0) {
			char id[24];

			snprintf(id, sizeof(id), "%" PRIu64, room);
			plain_join(run, id);
		} else {
			char *title = sanitize_text(run->find_title, strlen(run->find_title),
						    run->options->ascii ? SANITIZE_ASCII : 0);

			text = xasprintf(_("No open room is called \"%s\"; /rooms lists them.\n"),
					 title);
			plain_print(run, text);
			free(text);
			free(title);
		}
		free(run->find_title);
		run->find_title = NULL;
		return;
	}
	if (event->type == ENGINE_EV_CONNECTED && run->options->room != NULL &&
	    run->plain->room_id == 0) {
		/* Join the room asked for on the command line once we are logged in. */
		text = plain_describe(run->plain, event);
		if (text != NULL && !run->options->quiet)
			plain_print(run, text);
		free(text);
		if (run->options->local_note != NULL)
			plain_print(run, run->options->local_note);
		plain_join(run, run->options->room);
		return;
	}
	if (event->type == ENGINE_EV_ERROR)
		run->last_error = frontend_exit_for_error(frontend_str(event->data, "code", NULL));
	text = plain_describe(run->plain, event);
	if (event->type == ENGINE_EV_ERROR &&
	    strcmp(frontend_str(event->data, "code", ""), "audio") == 0) {
		char *joined = xasprintf("%s%s", text, frontend_audio_hint());

		free(text);
		text = joined;
	}
	if (text != NULL && (!run->options->quiet || event->type == ENGINE_EV_ERROR ||
			     event->type == ENGINE_EV_CHAT))
		plain_print(run, text);
	free(text);
}

int plain_run(struct engine *engine, const struct frontend_options *options, int signal_fd)
{
	struct plain_run run = {
		.engine = engine,
		.options = options,
		.prompt = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO),
	};
	bool done = false;

	run.plain = plain_new(options->ascii ? SANITIZE_ASCII : 0);
	if (run.prompt && !options->quiet)
		plain_print(&run, _("Type /help for the commands, /quit to leave.\n"));
	plain_show_prompt(&run);
	while (!done) {
		int ready = frontend_poll(engine, signal_fd, !run.input_done && !run.quitting,
					  run.quitting ? run.quit_deadline : UINT64_MAX);

		if (ready < 0) {
			if (ready != -ETIMEDOUT)
				run.status = FRONTEND_EXIT_ERROR;
			break;
		}
		if (ready == 0)
			continue;
		if (ready & FRONTEND_READY_SIGNAL) {
			frontend_signals_read(signal_fd);
			if (run.quitting)
				break; /* a second Ctrl-C: do not wait any longer */
			plain_quit(&run);
		}
		if (ready & FRONTEND_READY_INPUT)
			plain_read_input(&run);
		if (ready & FRONTEND_READY_ENGINE) {
			struct engine_event *event;

			while ((event = engine_next_event(engine)) != NULL) {
				/* An engine that stops unasked failed: say why in the status. */
				if (event->type == ENGINE_EV_QUIT && !run.quitting)
					run.status = run.last_error != 0 ? run.last_error :
									  FRONTEND_EXIT_ERROR;
				if (event->type == ENGINE_EV_QUIT)
					done = true;
				plain_handle_event(&run, event);
				engine_event_free(event);
			}
		}
		plain_show_prompt(&run);
	}
	if (run.prompt_shown)
		fputs("\n", stdout);
	fflush(stdout);
	free(run.find_title);
	plain_free(run.plain);
	return run.status;
}
