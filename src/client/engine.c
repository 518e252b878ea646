/*
 * engine.c - the client engine (engine.h): the control thread, which owns the
 * signaling client (signaling.h) and turns front-end commands into API calls,
 * server events and media events into engine events, and drives the media thread
 * (media.h) through its thread-safe messages.
 *
 * The control thread's loop waits in signaling_poll() on curl's transfers, the
 * command queue and the media events queue. Server events from the stream go to a
 * backlog processed strictly in order; processing pauses while we fetch a peer's
 * identity key (GET /v1/users/ID, needed before the media may seal to or open
 * from that peer) and while a join is being set up, so that what the front end
 * sees keeps the server's order.
 *
 * State (room, members, keys) belongs to the control thread only. The front-end
 * thread touches only the two queues.
 */
#include "config.h"

#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium.h>

#include "audio.h"
#include "earcon.h"
#include "encoding.h"
#include "engine.h"
#include "i18n.h"
#include "identity.h"
#include "log.h"
#include "media.h"
#include "pins.h"
#include "queue.h"
#include "sframe.h"
#include "signaling.h"
#include "util.h"
#include "xdg.h"

/* How long QUIT waits for the leave request before giving up on it. */
#define ENGINE_QUIT_TIMEOUT_MS 3000
/* Largest key batch per request (doc/API.md). */
#define ENGINE_KEY_BATCH 1000
/* Attempts to post a key batch that failed for want of a connection. */
#define ENGINE_KEYS_ATTEMPTS 6

enum engine_key_state {
	ENGINE_KEY_FETCHING,
	ENGINE_KEY_OK,
	ENGINE_KEY_FAILED,
};

/* A peer's identity key as the server gave it. */
struct engine_key {
	uint64_t user_id;
	enum engine_key_state state;
	uint8_t key[IDENTITY_PUBLIC_LEN];
};

/* A member of the current room as we know it (listeners see only part of a room). */
struct engine_member {
	uint64_t user_id;
	uint64_t member_id;
	char *name;
	json_t *json;  /* the latest Member object */
	bool in_media; /* handed to media_members_add */
	bool blocked;  /* pinned key changed, not accepted */
};

/* An API call in flight on behalf of a command (or of the engine itself). */
struct engine_call {
	struct engine_call *next, *prev;
	struct engine *engine;
	enum engine_command_type type;
	char *tag;
	uint64_t room_id;
	uint64_t user_id;
	char *user; /* as the command named them */
	char *text;
	bool flag;
	double number;
	json_t *body; /* kept for retries (key batches) */
	unsigned attempts;
	void (*then)(struct engine_call *call); /* after a user lookup */
};

/* A join being set up: join answer, member list, the members' keys. */
struct engine_join {
	uint64_t room_id;
	char *tag;
	bool rejoin;
	json_t *answer;	 /* POST join */
	json_t *members; /* GET members */
	bool waiting_keys;
};

struct engine {
	/* Set by engine_new, read-only afterwards. */
	char *server_url;
	char *ca_file; /* NULL: the system's CAs */
	char *name;
	bool bot;
	char *record_path;
	bool playback_records; /* the playback is a file or a pipe: a recording too */
	struct media_config media_config;
	char *capture_device;
	char *playback_device;
	struct identity identity;
	struct pins *pins;
	struct queue *commands;	    /* front end -> control thread */
	struct queue *events;	    /* control thread -> front end */
	struct queue *media_events; /* media thread -> control thread */
	pthread_t thread;
	bool started;
	atomic_bool stop_now;

	/* Control thread only from here on. */
	struct media *media;
	struct signaling *signaling;
	json_t *user; /* ours, from login */
	uint64_t user_id;
	bool connected; /* logged in at least once */
	unsigned login_attempt;
	bool api_down;			  /* the stream is failing */
	uint64_t api_reconnecting_ms;	  /* when RECONNECTING (api) was last emitted */
	struct engine_command **deferred; /* commands that came before the login */
	size_t deferred_count;
	struct engine_call *calls; /* in flight */
	bool quitting;
	bool done;
	uint64_t quit_deadline_ms;

	uint64_t room_id; /* 0 when in no room */
	json_t *room;
	json_t *self_member;
	bool listen_only;
	bool local_mute;
	bool server_mute;
	struct engine_member *members;
	size_t member_count, member_cap;
	struct engine_key *keys;
	size_t key_count, key_cap;
	unsigned key_fetches; /* GET /v1/users/ID in flight */
	struct engine_join *join;
	unsigned rejoin_attempt;
	uint64_t rejoin_timer;
	bool rejoining;
	json_t *backlog; /* server events not processed yet */
	bool in_backlog;

	/* Recording (control thread): what records, and whether the room was told. */
	char *recording;         /* the recorder's path (record_path at first), or NULL */
	bool recording_announced; /* the server accepted "recording": true in this room */
	/* ENGINE_CMD_PLAY: the play in progress. */
	int play_serial;         /* media_play's number, 0 when none */
	char *play_path;
	char *play_tag;
};

static const char *const engine_event_names[] = {
    [ENGINE_EV_CONNECTED] = "connected",
    [ENGINE_EV_RECONNECTING] = "reconnecting",
    [ENGINE_EV_ROOMS] = "rooms",
    [ENGINE_EV_ROOM_CREATED] = "room_created",
    [ENGINE_EV_JOINED] = "joined",
    [ENGINE_EV_LEFT] = "left",
    [ENGINE_EV_ROOM_ENDED] = "room_ended",
    [ENGINE_EV_MEMBER_JOINED] = "member_joined",
    [ENGINE_EV_MEMBER_LEFT] = "member_left",
    [ENGINE_EV_ROLE_CHANGED] = "role_changed",
    [ENGINE_EV_HAND_RAISED] = "hand_raised",
    [ENGINE_EV_HAND_LOWERED] = "hand_lowered",
    [ENGINE_EV_MUTED] = "muted",
    [ENGINE_EV_RECORDING] = "recording",
    [ENGINE_EV_LISTENER_COUNT] = "listener_count",
    [ENGINE_EV_SPEAKING_STARTED] = "speaking_started",
    [ENGINE_EV_SPEAKING_STOPPED] = "speaking_stopped",
    [ENGINE_EV_CHAT] = "chat",
    [ENGINE_EV_KEY_CHANGED] = "key_changed",
    [ENGINE_EV_SAFETY_NUMBER] = "safety_number",
    [ENGINE_EV_WHOAMI] = "whoami",
    [ENGINE_EV_PLAY_FINISHED] = "play_finished",
    [ENGINE_EV_ERROR] = "error",
    [ENGINE_EV_QUIT] = "quit",
    [ENGINE_EV_STATS] = "stats",
};

const char *engine_event_name(enum engine_event_type type)
{
	if ((size_t)type < ARRAY_SIZE(engine_event_names) && engine_event_names[type] != NULL)
		return engine_event_names[type];
	return "unknown";
}

/* Commands by name, for error events ("command" field) and logs. */
static const char *engine_command_name(enum engine_command_type type)
{
	static const char *const names[] = {
	    [ENGINE_CMD_LIST_ROOMS] = "rooms",
	    [ENGINE_CMD_CREATE_ROOM] = "create",
	    [ENGINE_CMD_JOIN] = "join",
	    [ENGINE_CMD_LEAVE] = "leave",
	    [ENGINE_CMD_MUTE] = "mute",
	    [ENGINE_CMD_UNMUTE] = "unmute",
	    [ENGINE_CMD_RAISE_HAND] = "raise_hand",
	    [ENGINE_CMD_LOWER_HAND] = "lower_hand",
	    [ENGINE_CMD_INVITE] = "invite",
	    [ENGINE_CMD_MOVE_TO_AUDIENCE] = "move_to_audience",
	    [ENGINE_CMD_MAKE_MODERATOR] = "make_moderator",
	    [ENGINE_CMD_REMOVE] = "remove",
	    [ENGINE_CMD_SAY] = "say",
	    [ENGINE_CMD_PLAY] = "play",
	    [ENGINE_CMD_RECORD] = "record",
	    [ENGINE_CMD_VERIFY] = "verify",
	    [ENGINE_CMD_ACCEPT_KEY] = "accept_key",
	    [ENGINE_CMD_SET_VOLUME] = "set_volume",
	    [ENGINE_CMD_WHOAMI] = "whoami",
	    [ENGINE_CMD_END_ROOM] = "end_room",
	    [ENGINE_CMD_QUIT] = "quit",
	    [ENGINE_CMD_EARCON] = "earcon",
	    [ENGINE_CMD_STATS] = "stats",
	};

	if ((size_t)type < ARRAY_SIZE(names) && names[type] != NULL)
		return names[type];
	return "unknown";
}

/* Events out. */

static void engine_emit(struct engine *engine, enum engine_event_type type, json_t *data,
			const char *tag)
{
	struct engine_event *event = xcalloc(1, sizeof(*event));

	event->type = type;
	event->data = data != NULL ? data : json_object();
	if (tag != NULL)
		json_object_set_new(event->data, "tag", json_string(tag));
	queue_push(engine->events, event);
}

static void engine_emit_error(struct engine *engine, const char *tag, const char *code,
			      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void engine_emit_error(struct engine *engine, const char *tag, const char *code,
			      const char *fmt, ...)
{
	va_list ap;
	char *message;

	va_start(ap, fmt);
	if (vasprintf(&message, fmt, ap) < 0)
		fatal(_("out of memory"));
	va_end(ap);
	log_debug("error %s: %s", code, message);
	engine_emit(engine, ENGINE_EV_ERROR,
		    json_pack("{s:s, s:s}", "code", code, "message", message), tag);
	free(message);
}

/*
 * Translates a failed API answer into an ENGINE_EV_ERROR: transport failures say
 * the server's URL; the server's codes keep their name with a sentence of ours.
 */
static void engine_api_error(struct engine *engine, const char *tag, const char *what,
			     const struct signaling_result *result)
{
	const char *code = result->code;
	const char *message;
	json_t *data;

	if (result->status == 0) {
		if (result->too_large) {
			code = "too_large";
			message = _("The server's answer was too large.");
		} else {
			code = "unreachable";
			message = NULL;
		}
	} else if (code == NULL) {
		code = "server_error";
		message = _("The server gave an unexpected answer.");
	} else if (strcmp(code, "room_not_found") == 0) {
		message = _("No such room: it may have ended, or the id is wrong.");
	} else if (strcmp(code, "user_not_found") == 0) {
		message = _("No such user.");
	} else if (strcmp(code, "member_not_found") == 0) {
		message = _("That user is not in the room.");
	} else if (strcmp(code, "forbidden") == 0) {
		message = _("Your role in this room does not allow that.");
	} else if (strcmp(code, "not_a_member") == 0) {
		message = _("You are not a member of that room.");
	} else if (strcmp(code, "too_many_rooms") == 0) {
		message = _("You are already in as many rooms as the server allows: leave one "
			    "first.");
	} else if (strcmp(code, "not_on_stage") == 0) {
		message = _("Only members on stage can be muted.");
	} else if (strcmp(code, "name_taken") == 0) {
		message = _("That name is taken: choose another one.");
	} else if (strcmp(code, "rate_limited") == 0 || strcmp(code, "unavailable") == 0) {
		message = _("The server is busy: try again in a moment.");
	} else if (strcmp(code, "unauthorized") == 0 || strcmp(code, "bad_signature") == 0 ||
		   strcmp(code, "bad_challenge") == 0 || strcmp(code, "challenge_expired") == 0) {
		message = _("The server refused our login.");
	} else if (strcmp(code, "invalid_field") == 0 || strcmp(code, "malformed_json") == 0 ||
		   strcmp(code, "too_large") == 0) {
		message = _("The server refused the request as invalid (too long, or a "
			    "forbidden character?).");
	} else {
		message = _("The server refused the request.");
	}
	if (message == NULL) {
		char *text = xasprintf(
		    _("Cannot reach the server at %s: %s"), signaling_url(engine->signaling),
		    result->transport_error != NULL ? result->transport_error : "?");
		data = json_pack("{s:s, s:s}", "code", code, "message", text);
		free(text);
	} else {
		data = json_pack("{s:s, s:s}", "code", code, "message", message);
	}
	json_object_set_new(data, "command", json_string(what));
	if (result->status != 0)
		json_object_set_new(data, "status", json_integer(result->status));
	if (result->message != NULL)
		json_object_set_new(data, "server_message", json_string(result->message));
	log_debug("%s failed: %s", what, code);
	engine_emit(engine, ENGINE_EV_ERROR, data, tag);
}

/* Calls in flight. */

static struct engine_call *engine_call_new(struct engine *engine, enum engine_command_type type,
					   const char *tag)
{
	struct engine_call *call = xcalloc(1, sizeof(*call));

	call->engine = engine;
	call->type = type;
	call->tag = tag != NULL ? xstrdup(tag) : NULL;
	call->room_id = engine->room_id;
	call->next = engine->calls;
	if (engine->calls != NULL)
		engine->calls->prev = call;
	engine->calls = call;
	return call;
}

static void engine_call_free(struct engine_call *call)
{
	struct engine *engine = call->engine;

	if (call->prev != NULL)
		call->prev->next = call->next;
	else
		engine->calls = call->next;
	if (call->next != NULL)
		call->next->prev = call->prev;
	free(call->tag);
	free(call->user);
	free(call->text);
	json_decref(call->body);
	free(call);
}

/* An answer nobody waits for. */
static void engine_call_done(void *arg, const struct signaling_result *result)
{
	(void)result;
	engine_call_free(arg);
}

/* Members and keys. */

static bool engine_on_stage(const char *role)
{
	return role != NULL && (strcmp(role, "host") == 0 || strcmp(role, "moderator") == 0 ||
				strcmp(role, "speaker") == 0);
}

static uint64_t engine_u64(const json_t *object, const char *key)
{
	json_t *value = json_object_get(object, key);

	if (!json_is_integer(value) || json_integer_value(value) < 0)
		return 0;
	return (uint64_t)json_integer_value(value);
}

static const char *engine_str(const json_t *object, const char *key)
{
	json_t *value = json_object_get(object, key);

	return json_is_string(value) ? json_string_value(value) : NULL;
}

static bool engine_bool(const json_t *object, const char *key)
{
	return json_is_true(json_object_get(object, key));
}

static struct engine_member *engine_member_find(struct engine *engine, uint64_t user_id)
{
	for (size_t i = 0; i < engine->member_count; i++)
		if (engine->members[i].user_id == user_id)
			return &engine->members[i];
	return NULL;
}

static struct engine_member *engine_member_by_name(struct engine *engine, const char *name)
{
	for (size_t i = 0; i < engine->member_count; i++)
		if (strcasecmp(engine->members[i].name, name) == 0)
			return &engine->members[i];
	return NULL;
}

/* A member's name for events: the table's, ours, or "" when unknown. */
static const char *engine_name_of(struct engine *engine, uint64_t user_id)
{
	struct engine_member *member = engine_member_find(engine, user_id);

	if (member != NULL)
		return member->name;
	if (user_id == engine->user_id && engine->user != NULL && engine_str(engine->user, "name"))
		return engine_str(engine->user, "name");
	return "";
}

static void engine_member_clear(struct engine_member *member)
{
	free(member->name);
	json_decref(member->json);
}

static void engine_members_clear(struct engine *engine)
{
	for (size_t i = 0; i < engine->member_count; i++)
		engine_member_clear(&engine->members[i]);
	engine->member_count = 0;
}

/* Adds or updates a member from a Member object; returns it. */
static struct engine_member *engine_member_set(struct engine *engine, json_t *json)
{
	uint64_t user_id = engine_u64(json, "user_id");
	struct engine_member *member = engine_member_find(engine, user_id);
	const char *name = engine_str(json, "name");

	if (member == NULL) {
		if (engine->member_count == engine->member_cap) {
			engine->member_cap = engine->member_cap ? engine->member_cap * 2 : 16;
			engine->members = xreallocarray(engine->members, engine->member_cap,
							sizeof(*engine->members));
		}
		member = &engine->members[engine->member_count++];
		memset(member, 0, sizeof(*member));
		member->user_id = user_id;
	}
	member->member_id = engine_u64(json, "member_id");
	free(member->name);
	member->name = xstrdup(name != NULL ? name : "");
	json_incref(json);
	json_decref(member->json);
	member->json = json;
	return member;
}

static void engine_member_delete(struct engine *engine, uint64_t user_id)
{
	struct engine_member *member = engine_member_find(engine, user_id);
	size_t index;

	if (member == NULL)
		return;
	index = (size_t)(member - engine->members);
	engine_member_clear(member);
	memmove(&engine->members[index], &engine->members[index + 1],
		(engine->member_count - index - 1) * sizeof(*member));
	engine->member_count--;
}

static struct engine_key *engine_key_find(struct engine *engine, uint64_t user_id)
{
	for (size_t i = 0; i < engine->key_count; i++)
		if (engine->keys[i].user_id == user_id)
			return &engine->keys[i];
	return NULL;
}

static struct engine_key *engine_key_add(struct engine *engine, uint64_t user_id)
{
	struct engine_key *key = engine_key_find(engine, user_id);

	if (key != NULL)
		return key;
	if (engine->key_count == engine->key_cap) {
		engine->key_cap = engine->key_cap ? engine->key_cap * 2 : 16;
		engine->keys = xreallocarray(engine->keys, engine->key_cap, sizeof(*engine->keys));
	}
	key = &engine->keys[engine->key_count++];
	memset(key, 0, sizeof(*key));
	key->user_id = user_id;
	key->state = ENGINE_KEY_FAILED;
	return key;
}

/* Records the public key of a User object; returns the cache entry or NULL. */
static struct engine_key *engine_key_from_user(struct engine *engine, const json_t *user)
{
	uint64_t user_id = engine_u64(user, "id");
	const char *text = engine_str(user, "public_key");
	struct engine_key *key;

	if (user_id == 0)
		return NULL;
	key = engine_key_add(engine, user_id);
	if (text != NULL && base64_decode(key->key, sizeof(key->key), text) == 0)
		key->state = ENGINE_KEY_OK;
	else
		key->state = ENGINE_KEY_FAILED;
	return key;
}

static void engine_backlog_run(struct engine *engine);
static void engine_join_keys_ready(struct engine *engine);
static bool engine_member_to_media(struct engine *engine, struct engine_member *member);
static void engine_pins_save(struct engine *engine);

static void engine_key_answer(void *arg, const struct signaling_result *result)
{
	struct engine_call *call = arg;
	struct engine *engine = call->engine;
	uint64_t user_id = call->user_id;
	struct engine_key *key;

	if (result->status == 200 && engine_u64(result->body, "id") == call->user_id) {
		key = engine_key_from_user(engine, result->body);
	} else {
		key = engine_key_add(engine, call->user_id);
		key->state = ENGINE_KEY_FAILED;
		log_warn(_("cannot get the identity key of user %" PRIu64 " (HTTP %ld)"),
			 call->user_id, result->status);
	}
	if (key != NULL && key->state != ENGINE_KEY_OK)
		log_warn(_("user %" PRIu64 " has no valid identity key"), call->user_id);
	engine_call_free(call);
	engine->key_fetches--;
	{
		/* A member met before its key (a refresh of the member list) joins the media now.
		 */
		struct engine_member *member = engine_member_find(engine, user_id);

		if (member != NULL && engine->join == NULL &&
		    engine_member_to_media(engine, member))
			engine_pins_save(engine);
	}
	if (engine->key_fetches == 0) {
		engine_join_keys_ready(engine);
		engine_backlog_run(engine);
	}
}

/*
 * Makes sure user_id's key is known or on its way. Returns true when it is known
 * (or cannot be), false when a fetch is in flight.
 */
static bool engine_key_ensure(struct engine *engine, uint64_t user_id)
{
	struct engine_key *key;
	struct engine_call *call;
	char path[64];

	if (user_id == 0 || user_id == engine->user_id)
		return true;
	key = engine_key_find(engine, user_id);
	if (key != NULL)
		return key->state != ENGINE_KEY_FETCHING;
	key = engine_key_add(engine, user_id);
	key->state = ENGINE_KEY_FETCHING;
	call = engine_call_new(engine, ENGINE_CMD_JOIN, NULL);
	call->user_id = user_id;
	engine->key_fetches++;
	snprintf(path, sizeof(path), "/v1/users/%" PRIu64, user_id);
	signaling_request(engine->signaling, "GET", path, NULL, 0, engine_key_answer, call);
	return false;
}

/*
 * Hands a member to the media thread once its key is known, after asking the pins:
 * a changed key is reported loudly and the member is blocked (no keys to or from it).
 * Returns whether the pin store changed.
 */
static bool engine_member_to_media(struct engine *engine, struct engine_member *member)
{
	struct engine_key *key = engine_key_find(engine, member->user_id);
	struct media_member media_member = {0};
	enum pins_result pin;

	if (member->in_media || member->user_id == engine->user_id || key == NULL ||
	    key->state != ENGINE_KEY_OK)
		return false;
	if (pins_check(engine->pins, member->user_id, key->key, time(NULL), &pin) != 0)
		return false;
	member->blocked = pin == PINS_CHANGED;
	media_member.user_id = member->user_id;
	media_member.member_number = member->member_id;
	memcpy(media_member.public_key, key->key, sizeof(media_member.public_key));
	media_member.blocked = member->blocked;
	if (engine->media != NULL) {
		media_members_add(engine->media, &media_member, 1);
		if (member->blocked)
			media_member_block(engine->media, member->user_id, true);
	}
	member->in_media = true;
	if (member->blocked) {
		char number[IDENTITY_SAFETY_TEXT_LEN];

		identity_safety_number(number, key->key);
		log_warn(_("the identity key of user %" PRIu64 " changed"), member->user_id);
		engine_emit(engine, ENGINE_EV_KEY_CHANGED,
			    json_pack("{s:I, s:s, s:s}", "user_id", (json_int_t)member->user_id,
				      "name", member->name, "safety_number", number),
			    NULL);
	}
	return pin == PINS_NEW;
}

static void engine_pins_save(struct engine *engine)
{
	if (pins_dirty(engine->pins)) {
		int ret = pins_save(engine->pins);
		if (ret < 0)
			log_warn(_("cannot save the pins: %s"), strerror(-ret));
	}
}

/* Room state. */

static void engine_room_clear(struct engine *engine)
{
	if (engine->room_id != 0 && engine->media != NULL)
		media_leave(engine->media);
	/* The next room must be told before it is recorded. */
	if (engine->recording_announced && engine->media != NULL)
		media_allow_recording(engine->media, false);
	engine->recording_announced = false;
	engine->room_id = 0;
	json_decref(engine->room);
	engine->room = NULL;
	json_decref(engine->self_member);
	engine->self_member = NULL;
	engine->server_mute = false;
	engine_members_clear(engine);
	if (engine->rejoin_timer != 0)
		signaling_timer_cancel(engine->signaling, engine->rejoin_timer);
	engine->rejoin_timer = 0;
	engine->rejoining = false;
	engine->rejoin_attempt = 0;
}

static void engine_apply_speaker(struct engine *engine)
{
	const char *role = engine_str(engine->self_member, "role");

	if (engine->media != NULL)
		media_set_speaker(engine->media, engine_on_stage(role) && !engine->listen_only);
}

static void engine_apply_mute(struct engine *engine)
{
	if (engine->media != NULL)
		media_set_muted(engine->media, engine->local_mute || engine->server_mute);
}

static void engine_members_refresh(struct engine *engine);

/* Parses "HOST:PORT" or "[HOST]:PORT" of the join answer into join. */
static int engine_parse_relay(const char *address, struct media_join *join)
{
	const char *host = address, *colon;
	size_t host_len;

	if (address == NULL)
		return -EINVAL;
	if (address[0] == '[') {
		const char *close = strchr(address, ']');
		if (close == NULL || close[1] != ':')
			return -EINVAL;
		host = address + 1;
		host_len = (size_t)(close - host);
		colon = close + 1;
	} else {
		colon = strrchr(address, ':');
		if (colon == NULL)
			return -EINVAL;
		host_len = (size_t)(colon - address);
	}
	if (host_len == 0 || host_len >= sizeof(join->relay_host) || strlen(colon + 1) == 0 ||
	    strlen(colon + 1) >= sizeof(join->relay_port) ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1))
		return -EINVAL;
	memcpy(join->relay_host, host, host_len);
	join->relay_host[host_len] = '\0';
	strcpy(join->relay_port, colon + 1);
	return 0;
}

/* Hands the join answer (relay, ticket, member) to the media thread. */
static int engine_media_join(struct engine *engine, const json_t *answer)
{
	struct media_join join = {0};
	json_t *relay = json_object_get(answer, "relay");
	json_t *member = json_object_get(answer, "member");

	join.room_id = engine_u64(json_object_get(answer, "room"), "id");
	join.member_number = engine_u64(member, "member_id");
	if (join.room_id == 0 || join.member_number == 0 ||
	    engine_parse_relay(engine_str(relay, "address"), &join) != 0 ||
	    engine_str(relay, "public_key") == NULL ||
	    base64_decode(join.relay_public, sizeof(join.relay_public),
			  engine_str(relay, "public_key")) != 0 ||
	    engine_str(answer, "ticket") == NULL ||
	    base64_decode(join.ticket, sizeof(join.ticket), engine_str(answer, "ticket")) != 0) {
		sodium_memzero(&join, sizeof(join));
		return -EINVAL;
	}
	join.may_speak = engine_on_stage(engine_str(member, "role")) && !engine->listen_only;
	if (engine->media != NULL)
		media_join(engine->media, &join);
	sodium_memzero(&join, sizeof(join));
	return 0;
}

static void engine_join_free(struct engine_join *join)
{
	if (join == NULL)
		return;
	free(join->tag);
	json_decref(join->answer);
	json_decref(join->members);
	free(join);
}

/* The join failed: report, and let the backlog go on. */
static void engine_join_abort(struct engine *engine)
{
	engine_join_free(engine->join);
	engine->join = NULL;
	engine_backlog_run(engine);
}

static void engine_announce_recording(struct engine *engine, bool recording, const char *tag);

/* Every key of the member list is known: hand the members over and say JOINED. */
static void engine_join_keys_ready(struct engine *engine)
{
	struct engine_join *join = engine->join;
	json_t *data, *list;
	size_t i;
	json_t *item;

	if (join == NULL || !join->waiting_keys || engine->key_fetches > 0)
		return;
	list = json_object_get(join->members, "members");
	json_array_foreach(list, i, item)
	{
		struct engine_member *member =
		    engine_member_find(engine, engine_u64(item, "user_id"));
		if (member != NULL)
			engine_member_to_media(engine, member);
	}
	engine_pins_save(engine);
	data = json_pack("{s:O, s:O, s:O}", "room", json_object_get(join->answer, "room"), "member",
			 json_object_get(join->answer, "member"), "members", list);
	json_object_set(data, "complete", json_object_get(join->members, "complete"));
	json_object_set(data, "speakers", json_object_get(join->members, "speakers"));
	json_object_set(data, "listeners", json_object_get(join->members, "listeners"));
	engine_emit(engine, ENGINE_EV_JOINED, data, join->tag);
	log_info(_("joined room %" PRIu64 " with %zu members known"), engine->room_id,
		 json_array_size(list));
	if (engine->recording != NULL || engine->playback_records)
		engine_announce_recording(engine, true, NULL);
	engine_join_abort(engine); /* frees the join and runs the backlog */
}

static void engine_join_members(void *arg, const struct signaling_result *result)
{
	struct engine_call *call = arg;
	struct engine *engine = call->engine;
	struct engine_join *join = engine->join;
	json_t *list = json_object_get(result->body, "members");
	size_t i;
	json_t *item;

	if (join == NULL || engine->room_id != call->room_id) {
		engine_call_free(call);
		return;
	}
	if (result->status != 200 || !json_is_array(list)) {
		engine_api_error(engine, join->tag, "join", result);
		engine_call_free(call);
		engine_room_clear(engine);
		engine_join_abort(engine);
		return;
	}
	engine_call_free(call);
	join->members = json_incref(result->body);
	engine_members_clear(engine);
	json_array_foreach(list, i, item)
	{
		uint64_t user_id = engine_u64(item, "user_id");

		if (user_id == 0)
			continue;
		engine_member_set(engine, item);
		if (user_id == engine->user_id) {
			json_decref(engine->self_member);
			engine->self_member = json_incref(item);
		} else {
			engine_key_ensure(engine, user_id);
		}
	}
	join->waiting_keys = true;
	engine_join_keys_ready(engine);
}

static void engine_join_answer(void *arg, const struct signaling_result *result)
{
	struct engine_call *call = arg;
	struct engine *engine = call->engine;
	struct engine_join *join = engine->join;
	struct engine_call *next;
	char path[80];

	if (join == NULL || engine->quitting) {
		engine_call_free(call);
		return;
	}
	if (result->status != 200 && result->status != 201) {
		engine_api_error(engine, join->tag, "join", result);
		engine_call_free(call);
		engine_join_abort(engine);
		return;
	}
	engine_call_free(call);
	json_decref(engine->room);
	engine->room = json_incref(json_object_get(result->body, "room"));
	engine->room_id = join->room_id;
	json_decref(engine->self_member);
	engine->self_member = json_incref(json_object_get(result->body, "member"));
	engine->server_mute = engine_bool(engine->self_member, "muted");
	if (engine_media_join(engine, result->body) != 0) {
		engine_emit_error(engine, join->tag, "server_error", "%s",
				  _("The server's join answer is malformed."));
		engine_room_clear(engine);
		engine_join_abort(engine);
		return;
	}
	engine_apply_mute(engine);
	join->answer = json_incref(result->body);
	next = engine_call_new(engine, ENGINE_CMD_JOIN, join->tag);
	snprintf(path, sizeof(path), "/v1/rooms/%" PRIu64 "/members", join->room_id);
	signaling_request(engine->signaling, "GET", path, NULL, 0, engine_join_members, next);
}

static void engine_join_start(struct engine *engine, uint64_t room_id, bool listen_only,
			      const char *tag)
{
	struct engine_call *call;
	char path[80];

	if (engine->join != NULL) {
		engine_emit_error(engine, tag, "busy", "%s", _("A join is already in progress."));
		return;
	}
	if (engine->room_id != 0 && engine->room_id != room_id) {
		/* One room at a time: leave the current one (fire and forget). */
		struct engine_call *leave = engine_call_new(engine, ENGINE_CMD_LEAVE, NULL);
		uint64_t old = engine->room_id;

		snprintf(path, sizeof(path), "/v1/rooms/%" PRIu64 "/leave", old);
		signaling_request(engine->signaling, "POST", path, NULL, 0, engine_call_done,
				  leave);
		engine_room_clear(engine);
		engine_emit(engine, ENGINE_EV_LEFT, json_pack("{s:I}", "room_id", (json_int_t)old),
			    NULL);
	}
	engine->join = xcalloc(1, sizeof(*engine->join));
	engine->join->room_id = room_id;
	engine->join->tag = tag != NULL ? xstrdup(tag) : NULL;
	engine->listen_only = listen_only;
	call = engine_call_new(engine, ENGINE_CMD_JOIN, tag);
	call->room_id = room_id;
	snprintf(path, sizeof(path), "/v1/rooms/%" PRIu64 "/join", room_id);
	signaling_request(engine->signaling, "POST", path, NULL, 0, engine_join_answer, call);
}

/* Rejoining after the media lost its session (NEED_TICKET). */

static void engine_rejoin(struct engine *engine);

static void engine_rejoin_timer(void *arg)
{
	struct engine *engine = arg;

	engine->rejoin_timer = 0;
	engine_rejoin(engine);
}

static void engine_rejoin_answer(void *arg, const struct signaling_result *result)
{
	struct engine_call *call = arg;
	struct engine *engine = call->engine;
	uint64_t room_id = call->room_id;

	engine_call_free(call);
	if (engine->room_id != room_id || engine->quitting)
		return;
	if (result->status == 200 || result->status == 201) {
		engine->rejoining = false;
		engine->rejoin_attempt = 0;
		json_decref(engine->self_member);
		engine->self_member = json_incref(json_object_get(result->body, "member"));
		if (engine_media_join(engine, result->body) != 0)
			log_warn(_("malformed join answer on rejoin"));
		engine_apply_speaker(engine);
		log_info(_("rejoined room %" PRIu64 " with a new ticket"), room_id);
		return;
	}
	if (result->status == 404 || result->status == 403) {
		/* The room ended (or we were removed) while we were away. */
		engine_emit(engine, ENGINE_EV_ROOM_ENDED,
			    json_pack("{s:I}", "room_id", (json_int_t)room_id), NULL);
		engine_room_clear(engine);
		return;
	}
	{
		unsigned delay = signaling_backoff_ms(
		    engine->rejoin_attempt, SIGNALING_BACKOFF_MIN_MS, SIGNALING_BACKOFF_MAX_MS);
		if (engine->rejoin_attempt < 16)
			engine->rejoin_attempt++;
		engine_emit(engine, ENGINE_EV_RECONNECTING,
			    json_pack("{s:s, s:I}", "what", "media", "in_ms", (json_int_t)delay),
			    NULL);
		engine->rejoin_timer =
		    signaling_timer(engine->signaling, delay, engine_rejoin_timer, engine);
	}
}

static void engine_rejoin(struct engine *engine)
{
	struct engine_call *call;
	char path[80];

	if (engine->room_id == 0 || engine->quitting)
		return;
	engine->rejoining = true;
	call = engine_call_new(engine, ENGINE_CMD_JOIN, NULL);
	call->room_id = engine->room_id;
	snprintf(path, sizeof(path), "/v1/rooms/%" PRIu64 "/join", engine->room_id);
	signaling_request(engine->signaling, "POST", path, NULL, 0, engine_rejoin_answer, call);
}

/* Refreshing the member list when we step on stage (we then seal keys to everyone). */

static json_t *engine_who(struct engine *engine, uint64_t user_id);
static void engine_member_updated(struct engine *engine, json_t *member_json);

static void engine_refresh_answer(void *arg, const struct signaling_result *result)
{
	struct engine_call *call = arg;
	struct engine *engine = call->engine;
	json_t *list = json_object_get(result->body, "members");
	size_t i;
	json_t *item;

	if (engine->room_id != call->room_id || result->status != 200 || !json_is_array(list)) {
		engine_call_free(call);
		return;
	}
	engine_call_free(call);
	/*
	 * Members we knew of but the list lacks left while we were in the audience,
	 * which is not told of listeners leaving: tell the front ends now.
	 */
	for (size_t k = 0; k < engine->member_count;) {
		struct engine_member *member = &engine->members[k];
		uint64_t user_id = member->user_id;
		bool listed = user_id == engine->user_id;
		json_t *data;

		json_array_foreach(list, i, item)
		{
			if (engine_u64(item, "user_id") == user_id)
				listed = true;
		}
		if (listed) {
			k++;
			continue;
		}
		data = engine_who(engine, user_id);
		json_object_set_new(data, "reason", json_string("left"));
		json_object_set_new(data, "refresh", json_true());
		if (member->in_media && engine->media != NULL)
			media_member_remove(engine->media, user_id);
		engine_member_delete(engine, user_id);
		engine_emit(engine, ENGINE_EV_MEMBER_LEFT, data, NULL);
	}
	json_array_foreach(list, i, item)
	{
		uint64_t user_id = engine_u64(item, "user_id");
		struct engine_member *member;

		if (user_id == 0 || user_id == engine->user_id)
			continue;
		if (engine_member_find(engine, user_id) != NULL) {
			/* Known: report what changed (role, hand, mute, recording). */
			engine_member_updated(engine, item);
			continue;
		}
		member = engine_member_set(engine, item);
		engine_emit(engine, ENGINE_EV_MEMBER_JOINED,
			    json_pack("{s:O, s:b}", "member", item, "refresh", 1), NULL);
		if (engine_key_ensure(engine, user_id))
			engine_member_to_media(engine, member);
	}
	engine_pins_save(engine);
	/* Members whose keys are still on their way join the media when they arrive. */
}

static void engine_members_refresh(struct engine *engine)
{
	struct engine_call *call = engine_call_new(engine, ENGINE_CMD_JOIN, NULL);
	char path[80];

	snprintf(path, sizeof(path), "/v1/rooms/%" PRIu64 "/members", engine->room_id);
	signaling_request(engine->signaling, "GET", path, NULL, 0, engine_refresh_answer, call);
}

/* Server events. */

static json_t *engine_who(struct engine *engine, uint64_t user_id)
{
	json_t *data = json_pack("{s:I, s:s}", "user_id", (json_int_t)user_id, "name",
				 engine_name_of(engine, user_id));

	if (user_id == engine->user_id)
		json_object_set_new(data, "self", json_true());
	return data;
}

/* A Member object changed: report each difference from what we knew. */
static void engine_member_updated(struct engine *engine, json_t *member_json)
{
	uint64_t user_id = engine_u64(member_json, "user_id");
	struct engine_member *member = engine_member_find(engine, user_id);
	const char *old_role = "listener", *new_role = engine_str(member_json, "role");
	bool old_hand = false, old_muted = false, old_recording = false;
	bool known = member != NULL;
	json_t *data;

	if (user_id == 0 || new_role == NULL)
		return;
	if (known) {
		old_role = engine_str(member->json, "role");
		old_hand = engine_bool(member->json, "hand_raised");
		old_muted = engine_bool(member->json, "muted");
		old_recording = engine_bool(member->json, "recording");
		/* The old object goes when we set the new one: keep the role text. */
		old_role = old_role != NULL ? old_role : "listener";
	}
	{
		char old_role_copy[16];
		snprintf(old_role_copy, sizeof(old_role_copy), "%s", old_role);
		member = engine_member_set(engine, member_json);
		if (strcmp(old_role_copy, new_role) != 0) {
			data = engine_who(engine, user_id);
			json_object_set_new(data, "role", json_string(new_role));
			json_object_set_new(data, "old_role", json_string(old_role_copy));
			engine_emit(engine, ENGINE_EV_ROLE_CHANGED, data, NULL);
			if (user_id == engine->user_id) {
				json_decref(engine->self_member);
				engine->self_member = json_incref(member_json);
				engine_apply_speaker(engine);
				if (engine_on_stage(new_role) && !engine_on_stage(old_role_copy))
					engine_members_refresh(engine);
			}
		}
	}
	if (user_id == engine->user_id) {
		json_decref(engine->self_member);
		engine->self_member = json_incref(member_json);
	}
	if (engine_bool(member_json, "hand_raised") != old_hand)
		engine_emit(engine, old_hand ? ENGINE_EV_HAND_LOWERED : ENGINE_EV_HAND_RAISED,
			    engine_who(engine, user_id), NULL);
	if (engine_bool(member_json, "muted") != old_muted) {
		data = engine_who(engine, user_id);
		json_object_set_new(data, "muted", json_boolean(!old_muted));
		json_object_set_new(data, "by", json_string("server"));
		engine_emit(engine, ENGINE_EV_MUTED, data, NULL);
		if (user_id == engine->user_id) {
			engine->server_mute = !old_muted;
			engine_apply_mute(engine);
		}
	}
	if (engine_bool(member_json, "recording") != old_recording) {
		data = engine_who(engine, user_id);
		json_object_set_new(data, "recording", json_boolean(!old_recording));
		engine_emit(engine, ENGINE_EV_RECORDING, data, NULL);
	}
	if (!known && engine_member_to_media(engine, member))
		engine_pins_save(engine);
}

static void engine_server_event(struct engine *engine, json_t *event)
{
	const char *type = engine_str(event, "type");
	uint64_t room_id = engine_u64(event, "room_id");
	json_t *data;

	if (room_id == 0 || room_id != engine->room_id) {
		log_debug("event %s for room %" PRIu64 " (not ours) ignored", type, room_id);
		return;
	}
	if (strcmp(type, "member_joined") == 0) {
		json_t *member_json = json_object_get(event, "member");
		uint64_t user_id = engine_u64(member_json, "user_id");
		struct engine_member *member = engine_member_find(engine, user_id);

		if (user_id == 0 || user_id == engine->user_id)
			return;
		if (member != NULL && member->member_id == engine_u64(member_json, "member_id")) {
			/* Already in the member list we fetched at join. */
			engine_member_set(engine, member_json);
			return;
		}
		if (member != NULL && member->in_media && engine->media != NULL)
			media_member_remove(engine->media, user_id);
		if (member != NULL)
			engine_member_delete(engine, user_id);
		member = engine_member_set(engine, member_json);
		engine_emit(engine, ENGINE_EV_MEMBER_JOINED,
			    json_pack("{s:O}", "member", member_json), NULL);
		if (engine_member_to_media(engine, member))
			engine_pins_save(engine);
	} else if (strcmp(type, "member_left") == 0) {
		uint64_t user_id = engine_u64(event, "user_id");
		const char *reason = engine_str(event, "reason");
		struct engine_member *member = engine_member_find(engine, user_id);

		if (user_id == engine->user_id) {
			engine_room_clear(engine);
			engine_emit(engine, ENGINE_EV_LEFT,
				    json_pack("{s:I, s:s}", "room_id", (json_int_t)room_id,
					      "reason", reason != NULL ? reason : "left"),
				    NULL);
			return;
		}
		data = engine_who(engine, user_id);
		json_object_set_new(data, "reason", json_string(reason != NULL ? reason : "left"));
		if (engine_str(event, "role") != NULL)
			json_object_set_new(data, "role", json_string(engine_str(event, "role")));
		if (member != NULL) {
			if (member->in_media && engine->media != NULL)
				media_member_remove(engine->media, user_id);
			engine_member_delete(engine, user_id);
		}
		engine_emit(engine, ENGINE_EV_MEMBER_LEFT, data, NULL);
	} else if (strcmp(type, "member_updated") == 0) {
		engine_member_updated(engine, json_object_get(event, "member"));
	} else if (strcmp(type, "listener_count") == 0) {
		engine_emit(engine, ENGINE_EV_LISTENER_COUNT,
			    json_pack("{s:I, s:I, s:I}", "room_id", (json_int_t)room_id,
				      "listeners", (json_int_t)engine_u64(event, "listeners"),
				      "speakers", (json_int_t)engine_u64(event, "speakers")),
			    NULL);
	} else if (strcmp(type, "room_ended") == 0) {
		engine_room_clear(engine);
		engine_emit(engine, ENGINE_EV_ROOM_ENDED,
			    json_pack("{s:I}", "room_id", (json_int_t)room_id), NULL);
	} else if (strcmp(type, "key") == 0) {
		const char *box = engine_str(event, "box");
		uint64_t from = engine_u64(event, "from");
		uint64_t from_member = engine_u64(event, "from_member");

		if (box == NULL || from == 0 || from_member == 0) {
			log_warn(_("malformed key event ignored"));
			return;
		}
		log_debug("key box from user %" PRIu64 " (member %" PRIu64 ") for the media", from,
			  from_member);
		if (engine->media != NULL)
			media_key_box(engine->media, from, from_member, box);
	} else if (strcmp(type, "chat") == 0) {
		const char *text = engine_str(event, "text");
		const char *name = engine_str(event, "name");
		uint64_t from = engine_u64(event, "from");

		if (text == NULL)
			return;
		data = json_pack("{s:I, s:s, s:s, s:I}", "user_id", (json_int_t)from, "name",
				 name != NULL ? name : engine_name_of(engine, from), "text", text,
				 "sent", (json_int_t)engine_u64(event, "sent"));
		if (from == engine->user_id)
			json_object_set_new(data, "self", json_true());
		engine_emit(engine, ENGINE_EV_CHAT, data, NULL);
	} else {
		log_debug("unknown event type %s ignored", type);
	}
}

/* The user an event needs the key of before it can be processed, or 0. */
static uint64_t engine_event_needs(struct engine *engine, const json_t *event)
{
	const char *type = engine_str(event, "type");
	uint64_t user_id = 0;

	if (engine_u64(event, "room_id") != engine->room_id || engine->room_id == 0)
		return 0;
	if (strcmp(type, "member_joined") == 0 || strcmp(type, "member_updated") == 0)
		user_id = engine_u64(json_object_get(event, "member"), "user_id");
	else if (strcmp(type, "key") == 0)
		user_id = engine_u64(event, "from");
	return user_id == engine->user_id ? 0 : user_id;
}

static void engine_backlog_run(struct engine *engine)
{
	if (engine->in_backlog)
		return; /* re-entered from a callback: the outer loop goes on */
	engine->in_backlog = true;
	while (engine->join == NULL && engine->key_fetches == 0 &&
	       json_array_size(engine->backlog) > 0) {
		json_t *event = json_array_get(engine->backlog, 0);
		uint64_t need = engine_event_needs(engine, event);

		if (need != 0 && !engine_key_ensure(engine, need))
			break; /* resumes when the key arrives */
		json_incref(event);
		json_array_remove(engine->backlog, 0);
		engine_server_event(engine, event);
		json_decref(event);
	}
	engine->in_backlog = false;
}

static void engine_stream_event(void *arg, json_t *event)
{
	struct engine *engine = arg;

	json_array_append(engine->backlog, event);
	engine_backlog_run(engine);
}

static void engine_stream_reconnecting(void *arg, unsigned in_ms,
				       const struct signaling_result *result)
{
	struct engine *engine = arg;

	if (!engine->api_down && result->status == 0)
		engine_emit_error(engine, NULL, "unreachable",
				  _("Cannot reach the server at %s: %s"),
				  signaling_url(engine->signaling),
				  result->transport_error != NULL ? result->transport_error : "?");
	/*
	 * While the server cannot be reached, the stream tries about every second
	 * (SIGNALING_UNREACHABLE_MAX_MS); telling the front ends each time would flood a
	 * line-mode transcript and a screen reader. Tell them at the first failure, then
	 * at most every SIGNALING_BACKOFF_MAX_MS.
	 */
	if (engine->api_down &&
	    util_now_ms() - engine->api_reconnecting_ms < SIGNALING_BACKOFF_MAX_MS)
		return;
	engine->api_down = true;
	engine->api_reconnecting_ms = util_now_ms();
	engine_emit(engine, ENGINE_EV_RECONNECTING,
		    json_pack("{s:s, s:I}", "what", "api", "in_ms", (json_int_t)in_ms), NULL);
}

static void engine_stream_resumed(void *arg)
{
	struct engine *engine = arg;
	json_t *data;

	engine->api_down = false;
	data = json_pack("{s:O, s:s, s:b}", "user", engine->user, "server",
			 signaling_url(engine->signaling), "reconnected", 1);
	engine_emit(engine, ENGINE_EV_CONNECTED, data, NULL);
	/*
	 * The stream broke, so the server may have restarted, and a restarted relay drops
	 * datagrams for sessions it no longer knows: our media session would only notice
	 * at the hop timeout (30 s). Join again at once instead (the server keeps our
	 * member number) and hand the fresh ticket to the media thread, which keeps the
	 * room's keys and redoes only the hop session. A rejoin waiting for its retry
	 * timer goes now; one already in flight is left to finish.
	 */
	if (engine->room_id != 0 && engine->join == NULL && !engine->quitting) {
		if (engine->rejoin_timer != 0) {
			signaling_timer_cancel(engine->signaling, engine->rejoin_timer);
			engine->rejoin_timer = 0;
			engine_rejoin(engine);
		} else if (!engine->rejoining) {
			engine_rejoin(engine);
		}
	}
}

static const struct signaling_stream_ops engine_stream_ops = {
    .event = engine_stream_event,
    .reconnecting = engine_stream_reconnecting,
    .resumed = engine_stream_resumed,
};

/* Commands. */

static void engine_command_run(struct engine *engine, struct engine_command *command);

/* Answers whose only news is an error (the stream reports the effect). */
static void engine_plain_answer(void *arg, const struct signaling_result *result)
{
	struct engine_call *call = arg;

	if (result->status < 200 || result->status > 299)
		engine_api_error(call->engine, call->tag, engine_command_name(call->type), result);
	engine_call_free(call);
}

static void engine_rooms_answer(void *arg, const struct signaling_result *result)
{
	struct engine_call *call = arg;
	json_t *rooms = json_object_get(result->body, "rooms");

	if (result->status == 200 && json_is_array(rooms))
		engine_emit(call->engine, ENGINE_EV_ROOMS, json_pack("{s:O}", "rooms", rooms),
			    call->tag);
	else
		engine_api_error(call->engine, call->tag, engine_command_name(call->type), result);
	engine_call_free(call);
}

static void engine_created_answer(void *arg, const struct signaling_result *result)
{
	struct engine_call *call = arg;

	if (result->status == 201 && json_is_object(result->body))
		engine_emit(call->engine, ENGINE_EV_ROOM_CREATED,
			    json_pack("{s:O}", "room", result->body), call->tag);
	else
		engine_api_error(call->engine, call->tag, engine_command_name(call->type), result);
	engine_call_free(call);
}

static void engine_left_answer(void *arg, const struct signaling_result *result)
{
	struct engine_call *call = arg;
	struct engine *engine = call->engine;

	if ((result->status < 200 || result->status > 299) && result->status != 403 &&
	    result->status != 404)
		engine_api_error(engine, call->tag, engine_command_name(call->type), result);
	engine_emit(engine, ENGINE_EV_LEFT,
		    json_pack("{s:I}", "room_id", (json_int_t)call->room_id), call->tag);
	engine_call_free(call);
}

/* Whether something records the room: the recorder, or the playback output. */
static bool engine_records(const struct engine *engine)
{
	return engine->recording != NULL || engine->playback_records;
}

static void engine_recording_answer(void *arg, const struct signaling_result *result)
{
	struct engine_call *call = arg;
	struct engine *engine = call->engine;

	if (result->status < 200 || result->status > 299) {
		/* Not announced: the room's audio stays out of the recordings. */
		engine_api_error(engine, call->tag, engine_command_name(call->type), result);
		engine_call_free(call);
		return;
	}
	if (call->flag && call->room_id == engine->room_id && engine->room_id != 0) {
		if (call->text != NULL) {
			/* ENGINE_CMD_RECORD: the room knows; the file may start now. */
			char *error = NULL;
			int ret = engine->media != NULL
				      ? media_record(engine->media, call->text, &error)
				      : -ENODEV;

			if (ret < 0) {
				const char *text =
				    error != NULL ? error : _("Cannot start the audio engine.");

				engine_emit_error(engine, call->tag, "record_failed", "%s", text);
				free(error);
				if (!engine_records(engine)) {
					engine_call_free(call);
					engine_announce_recording(engine, false, NULL);
					return;
				}
			} else {
				free(engine->recording);
				engine->recording = xstrdup(call->text);
			}
		}
		engine->recording_announced = true;
		if (engine->media != NULL)
			media_allow_recording(engine->media, true);
		log_info(_("recording announced in room %" PRIu64), engine->room_id);
	}
	engine_call_free(call);
}

/*
 * Tells the room that we record (or stopped). When start_path is not NULL, the
 * recorder starts on it once the server has accepted the announcement.
 */
static void engine_announce_recording_path(struct engine *engine, bool recording,
					   const char *start_path, const char *tag)
{
	struct engine_call *call = engine_call_new(engine, ENGINE_CMD_RECORD, tag);
	json_t *body = json_pack("{s:b}", "recording", recording);
	char path[80];

	call->flag = recording;
	call->text = start_path != NULL ? xstrdup(start_path) : NULL;
	snprintf(path, sizeof(path), "/v1/rooms/%" PRIu64 "/recording", engine->room_id);
	signaling_request(engine->signaling, "POST", path, body, 0, engine_recording_answer, call);
	json_decref(body);
}

static void engine_announce_recording(struct engine *engine, bool recording, const char *tag)
{
	if (!recording && engine->recording_announced && engine->media != NULL)
		media_allow_recording(engine->media, false);
	if (!recording)
		engine->recording_announced = false;
	engine_announce_recording_path(engine, recording, NULL, tag);
}

/* Something stopped recording: take the announcement back when nothing else records. */
static void engine_recording_stopped(struct engine *engine, const char *tag)
{
	if (engine->room_id != 0 && !engine_records(engine))
		engine_announce_recording(engine, false, tag);
}

static bool engine_need_room(struct engine *engine, const struct engine_command *command);

/* ENGINE_CMD_RECORD. */
static void engine_record_command(struct engine *engine, const struct engine_command *command)
{
	if (command->text == NULL) {
		char *error = NULL;
		json_t *data;

		if (engine->media != NULL)
			(void)media_record(engine->media, NULL, &error);
		free(error);
		free(engine->recording);
		engine->recording = NULL;
		if (engine->room_id != 0 && !engine->playback_records) {
			engine_recording_stopped(engine, command->tag);
			return; /* the server's member_updated tells */
		}
		data = engine_who(engine, engine->user_id);
		json_object_set_new(data, "recording", json_boolean(engine_records(engine)));
		engine_emit(engine, ENGINE_EV_RECORDING, data, command->tag);
		return;
	}
	if (!engine_need_room(engine, command))
		return;
	if (engine->recording != NULL && strcmp(command->text, engine->recording) == 0) {
		engine_announce_recording(engine, true, command->tag);
		return;
	}
	engine_announce_recording_path(engine, true, command->text, command->tag);
}

/* ENGINE_CMD_PLAY. */
static void engine_play_finished(struct engine *engine, bool stopped)
{
	json_t *data;

	if (engine->play_serial == 0)
		return;
	data = json_pack("{s:s}", "path", engine->play_path != NULL ? engine->play_path : "");
	if (stopped)
		json_object_set_new(data, "stopped", json_true());
	engine_emit(engine, ENGINE_EV_PLAY_FINISHED, data, engine->play_tag);
	engine->play_serial = 0;
	free(engine->play_path);
	engine->play_path = NULL;
	free(engine->play_tag);
	engine->play_tag = NULL;
}

static void engine_play_command(struct engine *engine, const struct engine_command *command)
{
	char *error = NULL;
	int serial;

	if (engine->media == NULL) {
		engine_emit_error(engine, command->tag, "audio", "%s",
				  _("The audio engine is not running."));
		return;
	}
	if (command->text == NULL) {
		if (engine->play_serial == 0) {
			engine_emit_error(engine, command->tag, "not_playing", "%s",
					  _("Nothing is playing."));
			return;
		}
		media_stop_play(engine->media);
		engine_play_finished(engine, true);
		return;
	}
	serial = media_play(engine->media, command->text, &error);
	if (serial < 0) {
		engine_emit_error(engine, command->tag, "play_failed", "%s",
				  error != NULL ? error : _("Cannot play that file."));
		free(error);
		return;
	}
	/* The play before, if any, was replaced. */
	engine_play_finished(engine, true);
	engine->play_serial = serial;
	engine->play_path = xstrdup(command->text);
	engine->play_tag = command->tag != NULL ? xstrdup(command->tag) : NULL;
}

/* ENGINE_CMD_EARCON. */
static void engine_earcon_command(struct engine *engine, const struct engine_command *command)
{
	int volume = 50;
	int16_t *pcm = NULL;
	size_t samples;

	if (!(command->number >= 0 && command->number < EARCON_COUNT)) {
		engine_emit_error(engine, command->tag, "invalid", "%s", _("No such earcon."));
		return;
	}
	if (command->text != NULL) {
		char *end;
		long v = strtol(command->text, &end, 10);

		if (end == command->text || *end != '\0' || v < 0 || v > 100) {
			engine_emit_error(engine, command->tag, "invalid", "%s",
					  _("The volume must be a number from 0 to 100."));
			return;
		}
		volume = (int)v;
	}
	samples = earcon_synthesize((enum earcon_type)command->number, volume, &pcm);
	if (engine->media != NULL && samples > 0)
		media_earcon(engine->media, pcm, samples);
	free(pcm);
}

/* Sends call's request on the current room: METHOD /v1/rooms/ID SUFFIX. */
static void engine_room_request(struct engine *engine, struct engine_call *call, const char *method,
				const char *suffix, json_t *body, signaling_cb *cb)
{
	char *path = xasprintf("/v1/rooms/%" PRIu64 "%s", engine->room_id, suffix);

	signaling_request(engine->signaling, method, path, body, 0, cb, call);
	free(path);
	json_decref(body);
}

static bool engine_need_room(struct engine *engine, const struct engine_command *command)
{
	if (engine->room_id != 0)
		return true;
	engine_emit_error(engine, command->tag, "not_in_room", "%s", _("You are not in a room."));
	return false;
}

/* Acting on a user named by a command, once we know its id. */

static void engine_user_act(struct engine_call *call)
{
	struct engine *engine = call->engine;
	char suffix[96];
	const char *role = NULL;

	switch (call->type) {
	case ENGINE_CMD_INVITE:
		role = "speaker";
		break;
	case ENGINE_CMD_MOVE_TO_AUDIENCE:
		role = "listener";
		break;
	case ENGINE_CMD_MAKE_MODERATOR:
		role = "moderator";
		break;
	default:
		break;
	}
	if (role != NULL) {
		snprintf(suffix, sizeof(suffix), "/members/%" PRIu64 "/role", call->user_id);
		engine_room_request(engine, call, "POST", suffix, json_pack("{s:s}", "role", role),
				    engine_plain_answer);
		return;
	}
	switch (call->type) {
	case ENGINE_CMD_REMOVE:
		snprintf(suffix, sizeof(suffix), "/members/%" PRIu64, call->user_id);
		engine_room_request(engine, call, "DELETE", suffix, NULL, engine_plain_answer);
		return;
	case ENGINE_CMD_MUTE:
	case ENGINE_CMD_UNMUTE:
		snprintf(suffix, sizeof(suffix), "/members/%" PRIu64 "/mute", call->user_id);
		engine_room_request(engine, call, "POST", suffix,
				    json_pack("{s:b}", "muted", call->type == ENGINE_CMD_MUTE),
				    engine_plain_answer);
		return;
	case ENGINE_CMD_SET_VOLUME:
		if (engine->media != NULL)
			media_set_gain(engine->media, call->user_id, (float)call->number);
		break;
	case ENGINE_CMD_VERIFY:
	case ENGINE_CMD_ACCEPT_KEY: {
		struct engine_key *key = engine_key_find(engine, call->user_id);
		char number[IDENTITY_PAIR_SAFETY_TEXT_LEN];
		uint8_t pinned[IDENTITY_PUBLIC_LEN];
		bool same, has_pin;
		json_t *data;

		if (key == NULL || key->state != ENGINE_KEY_OK) {
			engine_emit_error(engine, call->tag, "user_not_found", "%s",
					  _("That user's identity key is not known."));
			break;
		}
		if (call->type == ENGINE_CMD_ACCEPT_KEY) {
			struct engine_member *member = engine_member_find(engine, call->user_id);
			int ret = pins_accept(engine->pins, call->user_id, key->key, time(NULL));

			if (ret < 0)
				log_warn(_("cannot save the pins: %s"), strerror(-ret));
			if (member != NULL && member->blocked) {
				member->blocked = false;
				if (engine->media != NULL)
					media_member_block(engine->media, call->user_id, false);
			} else if (member != NULL && !member->in_media) {
				engine_member_to_media(engine, member);
			}
		}
		if (call->type == ENGINE_CMD_VERIFY && call->flag) {
			enum pins_result pin;
			int ret = pins_check(engine->pins, call->user_id, key->key, time(NULL),
					     &pin);

			/* A peer never met before is pinned now, as verified. */
			if (ret == 0)
				ret = pins_set_verified(engine->pins, call->user_id, key->key,
							true);
			if (ret == -EKEYREJECTED) {
				engine_emit_error(
				    engine, call->tag, "key_changed", "%s",
				    _("This member's identity key changed: accept the new key "
				      "before you verify it."));
				break;
			}
			if (ret < 0)
				log_warn(_("cannot save the pins: %s"), strerror(-ret));
		}
		has_pin = pins_lookup(engine->pins, call->user_id, pinned, NULL) == 0;
		same = has_pin && sodium_memcmp(pinned, key->key, sizeof(pinned)) == 0;
		identity_pair_safety_number(number, engine->identity.public_key, key->key);
		data = json_pack(
		    "{s:I, s:s, s:s, s:b, s:b, s:b}", "user_id", (json_int_t)call->user_id,
		    "name", call->text != NULL ? call->text : engine_name_of(engine, call->user_id),
		    "safety_number", number, "verified",
		    pins_verified(engine->pins, call->user_id, key->key), "pinned", same,
		    "changed", has_pin && !same);
		if (call->type == ENGINE_CMD_ACCEPT_KEY)
			json_object_set_new(data, "accepted", json_true());
		engine_emit(engine, ENGINE_EV_SAFETY_NUMBER, data, call->tag);
		break;
	}
	default:
		break;
	}
	engine_call_free(call);
}

static void engine_lookup_answer(void *arg, const struct signaling_result *result)
{
	struct engine_call *call = arg;
	struct engine *engine = call->engine;

	if (result->status != 200 || engine_u64(result->body, "id") == 0) {
		engine_api_error(engine, call->tag, engine_command_name(call->type), result);
		engine_call_free(call);
		return;
	}
	call->user_id = engine_u64(result->body, "id");
	engine_key_from_user(engine, result->body);
	free(call->text);
	call->text = engine_str(result->body, "name") != NULL
			 ? xstrdup(engine_str(result->body, "name"))
			 : NULL;
	call->then(call);
}

/*
 * Finds the user a command names (a member's name or a decimal id) and runs
 * engine_user_act; asks the server when the member table does not know them or
 * when we need their key.
 */
static void engine_user_resolve(struct engine *engine, struct engine_call *call, bool need_key)
{
	const char *user = call->user;
	struct engine_member *member = NULL;
	struct engine_key *key;
	char *path;

	call->then = engine_user_act;
	if (user == NULL || user[0] == '\0') {
		call->user_id = engine->user_id;
	} else if (strspn(user, "0123456789") == strlen(user) && strlen(user) < 17) {
		call->user_id = strtoull(user, NULL, 10);
	} else {
		member = engine_member_by_name(engine, user);
		if (member != NULL)
			call->user_id = member->user_id;
	}
	key = call->user_id != 0 ? engine_key_find(engine, call->user_id) : NULL;
	if (call->user_id != 0 && (!need_key || (key != NULL && key->state == ENGINE_KEY_OK))) {
		engine_user_act(call);
		return;
	}
	if (call->user_id != 0) {
		path = xasprintf("/v1/users/%" PRIu64, call->user_id);
	} else {
		char *escaped = curl_easy_escape(NULL, user, 0);
		path = xasprintf("/v1/users?name=%s", escaped != NULL ? escaped : "");
		curl_free(escaped);
	}
	signaling_request(engine->signaling, "GET", path, NULL, 0, engine_lookup_answer, call);
	free(path);
}

static void engine_keys_answer(void *arg, const struct signaling_result *result);

static void engine_keys_send(struct engine_call *call)
{
	char path[80];

	call->attempts++;
	snprintf(path, sizeof(path), "/v1/rooms/%" PRIu64 "/keys", call->room_id);
	signaling_request(call->engine->signaling, "POST", path, call->body, 0, engine_keys_answer,
			  call);
}

static void engine_keys_retry(void *arg)
{
	engine_keys_send(arg);
}

static void engine_keys_answer(void *arg, const struct signaling_result *result)
{
	struct engine_call *call = arg;
	struct engine *engine = call->engine;

	if (result->status == 200) {
		log_debug("key batch delivered to %" PRId64 " members",
			  (int64_t)json_integer_value(json_object_get(result->body, "delivered")));
	} else if ((result->status == 0 || result->status == 503) &&
		   call->attempts < ENGINE_KEYS_ATTEMPTS && engine->room_id == call->room_id &&
		   !engine->quitting) {
		signaling_timer(engine->signaling,
				signaling_backoff_ms(call->attempts, SIGNALING_BACKOFF_MIN_MS,
						     SIGNALING_BACKOFF_MAX_MS),
				engine_keys_retry, call);
		return;
	} else if (engine->room_id == call->room_id) {
		log_warn(_("cannot deliver our audio key (HTTP %ld %s)"), result->status,
			 result->code != NULL ? result->code : "");
	}
	engine_call_free(call);
}

/* The media engine's counters as a JSON object (new reference), or JSON null. */
static json_t *engine_media_stats(struct engine *engine)
{
	struct media_stats stats;

	if (engine->media == NULL)
		return json_null();
	media_get_stats(engine->media, &stats);
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "frames_sent",
			 (json_int_t)stats.frames_sent, "frames_received",
			 (json_int_t)stats.frames_received, "frames_undecryptable",
			 (json_int_t)stats.frames_undecryptable, "frames_concealed",
			 (json_int_t)stats.frames_concealed, "frames_fec",
			 (json_int_t)stats.frames_fec, "datagrams_dropped",
			 (json_int_t)stats.datagrams_dropped, "reconnects",
			 (json_int_t)stats.reconnects, "downlink_recoveries",
			 (json_int_t)stats.downlink_recoveries, "key_asks",
			 (json_int_t)stats.key_asks);
}

static void engine_command_run(struct engine *engine, struct engine_command *command)
{
	struct engine_call *call;
	json_t *body;

	if (!engine->connected && command->type != ENGINE_CMD_QUIT &&
	    command->type != ENGINE_CMD_WHOAMI && command->type != ENGINE_CMD_STATS) {
		/* Not logged in yet: keep it for when we are. */
		engine->deferred = xreallocarray(engine->deferred, engine->deferred_count + 1,
						 sizeof(*engine->deferred));
		engine->deferred[engine->deferred_count++] = command;
		return;
	}
	switch (command->type) {
	case ENGINE_CMD_LIST_ROOMS:
		call = engine_call_new(engine, command->type, command->tag);
		signaling_request(engine->signaling, "GET", "/v1/rooms", NULL, 0,
				  engine_rooms_answer, call);
		break;
	case ENGINE_CMD_CREATE_ROOM:
		call = engine_call_new(engine, command->type, command->tag);
		body = json_pack("{s:s, s:s, s:s}", "title", command->text ? command->text : "",
				 "topic", command->text2 ? command->text2 : "", "visibility",
				 command->flag ? "private" : "public");
		signaling_request(engine->signaling, "POST", "/v1/rooms", body, 0,
				  engine_created_answer, call);
		json_decref(body);
		break;
	case ENGINE_CMD_JOIN:
		engine_join_start(engine, command->room, command->flag, command->tag);
		break;
	case ENGINE_CMD_LEAVE:
	case ENGINE_CMD_END_ROOM:
		if (!engine_need_room(engine, command))
			break;
		call = engine_call_new(engine, command->type, command->tag);
		if (command->type == ENGINE_CMD_LEAVE) {
			engine_room_request(engine, call, "POST", "/leave", NULL,
					    engine_left_answer);
			engine_room_clear(engine);
		} else {
			engine_room_request(engine, call, "DELETE", "", NULL, engine_plain_answer);
		}
		break;
	case ENGINE_CMD_MUTE:
	case ENGINE_CMD_UNMUTE:
		if (command->user == NULL) {
			/* Our own microphone: not the server's business. */
			json_t *data = engine_who(engine, engine->user_id);

			engine->local_mute = command->type == ENGINE_CMD_MUTE;
			engine_apply_mute(engine);
			json_object_set_new(data, "muted", json_boolean(engine->local_mute));
			json_object_set_new(data, "by", json_string("self"));
			engine_emit(engine, ENGINE_EV_MUTED, data, command->tag);
			break;
		}
		if (!engine_need_room(engine, command))
			break;
		call = engine_call_new(engine, command->type, command->tag);
		call->user = xstrdup(command->user);
		engine_user_resolve(engine, call, false);
		break;
	case ENGINE_CMD_RAISE_HAND:
	case ENGINE_CMD_LOWER_HAND:
		if (!engine_need_room(engine, command))
			break;
		call = engine_call_new(engine, command->type, command->tag);
		engine_room_request(
		    engine, call, "POST", "/hand",
		    json_pack("{s:b}", "raised", command->type == ENGINE_CMD_RAISE_HAND),
		    engine_plain_answer);
		break;
	case ENGINE_CMD_INVITE:
	case ENGINE_CMD_MAKE_MODERATOR:
	case ENGINE_CMD_REMOVE:
	case ENGINE_CMD_MOVE_TO_AUDIENCE:
		if (!engine_need_room(engine, command))
			break;
		if (command->user == NULL && command->type != ENGINE_CMD_MOVE_TO_AUDIENCE) {
			engine_emit_error(engine, command->tag, "invalid", "%s",
					  _("Say which member."));
			break;
		}
		call = engine_call_new(engine, command->type, command->tag);
		call->user = command->user != NULL ? xstrdup(command->user) : NULL;
		engine_user_resolve(engine, call, false);
		break;
	case ENGINE_CMD_SET_VOLUME:
	case ENGINE_CMD_VERIFY:
	case ENGINE_CMD_ACCEPT_KEY:
		if (command->user == NULL) {
			engine_emit_error(engine, command->tag, "invalid", "%s",
					  _("Say which member."));
			break;
		}
		call = engine_call_new(engine, command->type, command->tag);
		call->user = xstrdup(command->user);
		call->number = command->number;
		call->flag = command->flag;
		engine_user_resolve(engine, call, command->type != ENGINE_CMD_SET_VOLUME);
		break;
	case ENGINE_CMD_SAY:
		if (!engine_need_room(engine, command))
			break;
		call = engine_call_new(engine, command->type, command->tag);
		engine_room_request(engine, call, "POST", "/chat",
				    json_pack("{s:s}", "text", command->text ? command->text : ""),
				    engine_plain_answer);
		break;
	case ENGINE_CMD_PLAY:
		engine_play_command(engine, command);
		break;
	case ENGINE_CMD_RECORD:
		engine_record_command(engine, command);
		break;
	case ENGINE_CMD_EARCON:
		engine_earcon_command(engine, command);
		break;
	case ENGINE_CMD_STATS:
		engine_emit(engine, ENGINE_EV_STATS,
			    json_pack("{s:o}", "media", engine_media_stats(engine)), command->tag);
		break;
	case ENGINE_CMD_WHOAMI: {
		char number[IDENTITY_SAFETY_TEXT_LEN];

		identity_safety_number(number, engine->identity.public_key);
		engine_emit(engine, ENGINE_EV_WHOAMI,
			    json_pack("{s:O?, s:s, s:s}", "user", engine->user, "safety_number",
				      number, "server", engine->server_url),
			    command->tag);
		break;
	}
	case ENGINE_CMD_QUIT:
		if (engine->quitting)
			break;
		engine->quitting = true;
		engine->quit_deadline_ms = util_now_ms() + ENGINE_QUIT_TIMEOUT_MS;
		signaling_stream_stop(engine->signaling);
		if (engine->room_id != 0 && engine->connected) {
			call = engine_call_new(engine, ENGINE_CMD_LEAVE, command->tag);
			engine_room_request(engine, call, "POST", "/leave", NULL,
					    engine_left_answer);
			engine_room_clear(engine);
		}
		break;
	}
	engine_command_free(command);
}

/* Media events. */

static void engine_media_event(struct engine *engine, struct media_event *event)
{
	json_t *data;

	switch (event->type) {
	case MEDIA_EVENT_CONNECTED:
		log_info(_("media connected"));
		engine->rejoin_attempt = 0;
		break;
	case MEDIA_EVENT_DISCONNECTED:
		if (engine->room_id != 0)
			engine_emit(engine, ENGINE_EV_RECONNECTING,
				    json_pack("{s:s, s:i}", "what", "media", "in_ms", 0), NULL);
		break;
	case MEDIA_EVENT_NEED_TICKET:
		if (engine->room_id != 0 && event->room_id == engine->room_id && !engine->rejoining)
			engine_rejoin(engine);
		break;
	case MEDIA_EVENT_CLOSED:
		log_info(_("the relay closed our session (reason %d)"), event->reason);
		break;
	case MEDIA_EVENT_KEYS_SEALED:
		if (engine->room_id == 0 || event->room_id != engine->room_id)
			break;
		for (size_t start = 0; start < event->sealed_count; start += ENGINE_KEY_BATCH) {
			size_t end = start + ENGINE_KEY_BATCH;
			struct engine_call *call;
			json_t *boxes = json_array();

			if (end > event->sealed_count)
				end = event->sealed_count;
			for (size_t i = start; i < end; i++) {
				char text[KEYS_BOX_TEXT_LEN];

				keys_box_to_text(text, event->sealed[i].box);
				json_array_append_new(
				    boxes,
				    json_pack("{s:I, s:s}", "to",
					      (json_int_t)event->sealed[i].user_id, "box", text));
			}
			call = engine_call_new(engine, ENGINE_CMD_JOIN, NULL);
			call->body = json_pack("{s:I, s:o}", "epoch", (json_int_t)event->generation,
					       "boxes", boxes);
			engine_keys_send(call);
		}
		break;
	case MEDIA_EVENT_SPEAKING_STARTED:
	case MEDIA_EVENT_SPEAKING_STOPPED:
		log_debug("user %" PRIu64 " speaking: %s", event->user_id,
			  event->type == MEDIA_EVENT_SPEAKING_STARTED ? "yes" : "no");
		if (event->room_id != 0 && event->room_id != engine->room_id)
			break;
		engine_emit(engine,
			    event->type == MEDIA_EVENT_SPEAKING_STARTED
				? ENGINE_EV_SPEAKING_STARTED
				: ENGINE_EV_SPEAKING_STOPPED,
			    engine_who(engine, event->user_id), NULL);
		break;
	case MEDIA_EVENT_CAPTURE_ENDED:
		engine_emit(engine, ENGINE_EV_PLAY_FINISHED,
			    json_pack("{s:s}", "path",
				      engine->capture_device ? engine->capture_device : ""),
			    NULL);
		break;
	case MEDIA_EVENT_ERROR:
		data = json_pack("{s:s, s:s}", "code", "media", "message",
				 event->message != NULL ? event->message : "");
		engine_emit(engine, ENGINE_EV_ERROR, data, NULL);
		break;
	case MEDIA_EVENT_PLAY_ENDED:
		/* A play replaced or stopped since was reported then. */
		if (engine->play_serial != 0 && (uint64_t)engine->play_serial == event->serial)
			engine_play_finished(engine, false);
		break;
	case MEDIA_EVENT_RECORDING_ENDED:
		if (event->reason == 0) {
			free(engine->recording);
			engine->recording = NULL;
		} else {
			engine->playback_records = false;
		}
		engine_recording_stopped(engine, NULL);
		break;
	}
}

/* Login. */

static void engine_login(struct engine *engine);

static void engine_login_timer(void *arg)
{
	engine_login(arg);
}

static void engine_start_media(struct engine *engine)
{
	char *error = NULL;
	int ret;

	if (engine->media != NULL)
		return;
	engine->media_config.identity = &engine->identity;
	engine->media_config.user_id = engine->user_id;
	ret = media_new(&engine->media_config, engine->media_events, &engine->media, &error);
	if (ret == 0)
		ret = media_start(engine->media);
	if (ret < 0) {
		engine_emit_error(engine, NULL, "audio", "%s",
				  error != NULL ? error : _("Cannot start the audio engine."));
		media_free(engine->media);
		engine->media = NULL;
	}
	free(error);
}

static void engine_login_answer(void *arg, const struct signaling_result *result)
{
	struct engine *engine = arg;
	uint64_t user_id = engine_u64(result->body, "id");

	if (engine->quitting)
		return;
	if (result->status == 200 && user_id != 0) {
		bool first = !engine->connected;
		json_t *data;

		engine->login_attempt = 0;
		json_decref(engine->user);
		engine->user = json_incref(result->body);
		engine->user_id = user_id;
		engine->connected = true;
		engine_start_media(engine);
		data = json_pack("{s:O, s:s}", "user", engine->user, "server", engine->server_url);
		engine_emit(engine, ENGINE_EV_CONNECTED, data, NULL);
		if (first) {
			signaling_stream_start(engine->signaling, 0, 0, &engine_stream_ops, engine);
			for (size_t i = 0; i < engine->deferred_count; i++)
				engine_command_run(engine, engine->deferred[i]);
			free(engine->deferred);
			engine->deferred = NULL;
			engine->deferred_count = 0;
		}
		return;
	}
	engine_api_error(engine, NULL, "login", result);
	if (result->status == 0 || result->status == 429 || result->status == 503) {
		unsigned delay = signaling_backoff_ms(
		    engine->login_attempt, SIGNALING_BACKOFF_MIN_MS, SIGNALING_BACKOFF_MAX_MS);
		if (engine->login_attempt < 16)
			engine->login_attempt++;
		engine_emit(engine, ENGINE_EV_RECONNECTING,
			    json_pack("{s:s, s:I}", "what", "api", "in_ms", (json_int_t)delay),
			    NULL);
		signaling_timer(engine->signaling, delay, engine_login_timer, engine);
	}
}

static void engine_login(struct engine *engine)
{
	if (engine->quitting)
		return;
	signaling_login(engine->signaling, &engine->identity, engine->name, engine->bot,
			engine_login_answer, engine);
}

/* The control thread. */

static void *engine_thread(void *arg)
{
	struct engine *engine = arg;

	engine_login(engine);
	while (!engine->done && !atomic_load(&engine->stop_now)) {
		struct curl_waitfd fds[2] = {
		    {.fd = queue_fd(engine->commands), .events = CURL_WAIT_POLLIN},
		    {.fd = queue_fd(engine->media_events), .events = CURL_WAIT_POLLIN},
		};
		struct engine_command *command;
		struct media_event *media_event;

		if (signaling_poll(engine->signaling, fds, 2, engine->quitting ? 50 : 1000) < 0)
			break;
		while ((command = queue_pop(engine->commands)) != NULL) {
			if (engine->quitting && command->type != ENGINE_CMD_QUIT) {
				engine_command_free(command);
				continue;
			}
			engine_command_run(engine, command);
		}
		while ((media_event = queue_pop(engine->media_events)) != NULL) {
			if (!engine->quitting)
				engine_media_event(engine, media_event);
			media_event_free(media_event);
		}
		if (engine->quitting &&
		    (engine->calls == NULL || util_now_ms() >= engine->quit_deadline_ms))
			engine->done = true;
	}
	if (engine->media != NULL)
		media_leave(engine->media);
	engine_emit(engine, ENGINE_EV_QUIT, NULL, NULL);
	return NULL;
}

/* Setup. */

static pthread_once_t engine_curl_once = PTHREAD_ONCE_INIT;

/*
 * libssh2's libssh2_init() and its flag LIBSSH2_INIT_NO_CRYPTO (libssh2.h), which salon
 * does not include: libssh2 is libcurl's dependency, not salon's.
 */
typedef int engine_libssh2_init_fn(int flags);
#define ENGINE_LIBSSH2_INIT_NO_CRYPTO 0x0001

/*
 * Asks libssh2, when libcurl brought it in, not to initialise its crypto library.
 * Debian's libcurl calls libssh2_init(0) in curl_global_init(), and libssh2 then
 * initialises OpenSSL's libcrypto (legacy engines and algorithm tables: 1.4 MiB of
 * resident pages), even in libcurl's GnuTLS flavour, which does not otherwise use
 * libcrypto. salon allows only HTTP and HTTPS (signaling.c), so libssh2 is never used;
 * OpenSSL 1.1 and later would initialise itself on first use anyway. libssh2 counts
 * its initialisations and initialises crypto only in the first, so libcurl's later
 * call changes nothing. Looked up with dlsym() so that salon does not link libssh2.
 */
static void engine_libssh2_no_crypto(void)
{
	engine_libssh2_init_fn *init;

	init = (engine_libssh2_init_fn *)dlsym(RTLD_DEFAULT, "libssh2_init");
	if (init != NULL && init(ENGINE_LIBSSH2_INIT_NO_CRYPTO) != 0)
		log_debug("libssh2_init(LIBSSH2_INIT_NO_CRYPTO) failed");
}

static void engine_curl_init(void)
{
	engine_libssh2_no_crypto();
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		log_error(_("curl_global_init failed"));
}

/* Resolves an audio spec to a backend and device; -EINVAL for an unknown spec. */
static int engine_audio_spec(const char *spec, const struct audio_backend **backend, char **device)
{
	*backend = NULL;
	*device = NULL;
	if (spec == NULL)
		return 0;
	if (strcmp(spec, "null") == 0) {
		*backend = &audio_null_backend;
	} else if (strncmp(spec, "file:", 5) == 0 && spec[5] != '\0') {
		*backend = &audio_file_backend;
		*device = xstrdup(spec + 5);
	} else if (strncmp(spec, "pipe:", 5) == 0 && spec[5] != '\0') {
		*backend = &audio_pipe_backend;
		*device = xstrdup(spec + 5);
	} else if (strcmp(spec, "portaudio") == 0) {
		*backend = &audio_portaudio_backend;
	} else if (strncmp(spec, "portaudio:", 10) == 0) {
		*backend = &audio_portaudio_backend;
		*device = spec[10] != '\0' ? xstrdup(spec + 10) : NULL;
	} else {
		return -EINVAL;
	}
	return 0;
}

/* Loads the identity, or creates it on first use. */
static int engine_identity(struct engine *engine, const char *path, char **error)
{
	char reason[256] = "";
	int ret = identity_load(&engine->identity, path, reason, sizeof(reason));

	if (ret == -ENOENT) {
		ret = identity_generate(&engine->identity);
		if (ret == 0)
			ret = identity_save(&engine->identity, path, reason, sizeof(reason));
		if (ret == 0)
			log_info(_("created a new identity in %s"), path);
	}
	if (ret < 0)
		*error = xasprintf(_("Cannot use the identity key %s: %s"), path,
				   reason[0] != '\0' ? reason : strerror(-ret));
	return ret;
}

static void engine_free_event_message(void *message)
{
	engine_event_free(message);
}

static void engine_free_command_message(void *message)
{
	engine_command_free(message);
}

static void engine_free_media_message(void *message)
{
	media_event_free(message);
}

int engine_new(const struct engine_options *options, struct engine **out, char **error)
{
	struct engine *engine;
	char *path = NULL;
	int ret;

	*error = NULL;
	if (options->server_url == NULL ||
	    (strncasecmp(options->server_url, "http://", 7) != 0 &&
	     strncasecmp(options->server_url, "https://", 8) != 0)) {
		*error = xasprintf(_("The server URL must start with http:// or https://: %s"),
				   options->server_url != NULL ? options->server_url : "");
		return -EINVAL;
	}
	if (sodium_init() < 0) {
		*error = xstrdup(_("Cannot initialise libsodium."));
		return -EIO;
	}
	pthread_once(&engine_curl_once, engine_curl_init);
	engine = xcalloc(1, sizeof(*engine));
	engine->server_url = xstrdup(options->server_url);
	engine->ca_file = options->ca_file != NULL ? xstrdup(options->ca_file) : NULL;
	engine->bot = options->bot;
	engine->name = xstrdup(
	    options->name != NULL && options->name[0] != '\0'
		? options->name
		: (getenv("USER") != NULL && getenv("USER")[0] != '\0' ? getenv("USER") : "salon"));
	engine->record_path = options->record_path ? xstrdup(options->record_path) : NULL;
	engine->recording = options->record_path ? xstrdup(options->record_path) : NULL;
	engine->backlog = json_array();
	atomic_init(&engine->stop_now, false);

	/* Identity. */
	if (options->identity_path != NULL) {
		path = xstrdup(options->identity_path);
	} else if (xdg_path(XDG_DATA, "identity", &path) < 0) {
		*error = xstrdup(_("Cannot find a home directory for the identity key."));
		ret = -ENOENT;
		goto fail;
	}
	ret = engine_identity(engine, path, error);
	free(path);
	path = NULL;
	if (ret < 0)
		goto fail;

	/* Pins. */
	if (options->pins_path != NULL) {
		path = xstrdup(options->pins_path);
	} else if (xdg_path(XDG_DATA, "pins", &path) < 0) {
		*error = xstrdup(_("Cannot find a home directory for the pinned keys."));
		ret = -ENOENT;
		goto fail;
	}
	ret = pins_open(&engine->pins, path, NULL, NULL);
	if (ret < 0) {
		*error = xasprintf(_("Cannot read the pinned keys %s: %s"), path, strerror(-ret));
		free(path);
		goto fail;
	}
	free(path);
	path = NULL;

	/* Audio. */
	ret = engine_audio_spec(options->capture, &engine->media_config.capture,
				&engine->capture_device);
	if (ret == 0)
		ret = engine_audio_spec(options->playback, &engine->media_config.playback,
					&engine->playback_device);
	if (ret < 0) {
		*error = xasprintf(_("Unknown audio source or sink: use portaudio[:DEVICE], "
				     "file:PATH, pipe:-, pipe:PATH or null."));
		goto fail;
	}
	if (engine->media_config.capture == &audio_file_backend &&
	    access(engine->capture_device, R_OK) != 0) {
		ret = -errno;
		*error =
		    xasprintf(_("Cannot read %s: %s"), engine->capture_device, strerror(errno));
		goto fail;
	}
	engine->media_config.capture_device = engine->capture_device;
	engine->media_config.playback_device = engine->playback_device;
	engine->media_config.record_path = engine->record_path;
	engine->media_config.frame_ms = options->frame_ms == 10 ? 10 : 20;
	engine->media_config.bitrate = options->bitrate > 0 ? options->bitrate : 32000;
	engine->media_config.complexity =
	    options->complexity >= 0 && options->complexity <= 10 ? options->complexity : 9;
	engine->media_config.suite = SFRAME_SUITE_CHACHA20_POLY1305_SHA512;
	engine->media_config.dsp = options->dsp;
	engine->media_config.loop_capture = options->loop_capture;
	/* Nothing of a room is recorded before the room was told (engine.h). */
	engine->media_config.recording_consent = true;
	engine->playback_records = engine->media_config.playback == &audio_file_backend ||
				   engine->media_config.playback == &audio_pipe_backend;

	engine->commands = queue_new();
	engine->events = queue_new();
	engine->media_events = queue_new();
	if (engine->commands == NULL || engine->events == NULL || engine->media_events == NULL) {
		ret = -errno;
		*error = xstrdup(_("Cannot create the engine's queues."));
		goto fail;
	}
	ret = signaling_new(engine->server_url, &engine->signaling);
	if (ret < 0) {
		*error = xstrdup(_("Cannot start libcurl."));
		goto fail;
	}
	if (engine->ca_file != NULL)
		signaling_set_ca_file(engine->signaling, engine->ca_file);
	*out = engine;
	return 0;
fail:
	engine_free(engine);
	return ret < 0 ? ret : -EINVAL;
}

int engine_start(struct engine *engine)
{
	int ret;

	if (engine->started)
		return -EALREADY;
	ret = pthread_create(&engine->thread, NULL, engine_thread, engine);
	if (ret != 0)
		return -ret;
	engine->started = true;
	return 0;
}

void engine_free(struct engine *engine)
{
	if (engine == NULL)
		return;
	if (engine->started) {
		atomic_store(&engine->stop_now, true);
		/* Wakes the control thread's poll. */
		queue_push(engine->commands, engine_command_new(ENGINE_CMD_QUIT));
		pthread_join(engine->thread, NULL);
	}
	/* The control thread is gone: its state is ours now. */
	media_free(engine->media);
	while (engine->calls != NULL)
		engine_call_free(engine->calls);
	signaling_free(engine->signaling);
	for (size_t i = 0; i < engine->deferred_count; i++)
		engine_command_free(engine->deferred[i]);
	free(engine->deferred);
	engine_join_free(engine->join);
	engine_members_clear(engine);
	free(engine->members);
	free(engine->keys);
	json_decref(engine->backlog);
	json_decref(engine->user);
	json_decref(engine->room);
	json_decref(engine->self_member);
	if (engine->commands != NULL)
		queue_free(engine->commands, engine_free_command_message);
	if (engine->events != NULL)
		queue_free(engine->events, engine_free_event_message);
	if (engine->media_events != NULL)
		queue_free(engine->media_events, engine_free_media_message);
	if (engine->pins != NULL) {
		engine_pins_save(engine);
		pins_free(engine->pins);
	}
	identity_wipe(&engine->identity);
	free(engine->capture_device);
	free(engine->playback_device);
	free(engine->record_path);
	free(engine->recording);
	free(engine->play_path);
	free(engine->play_tag);
	free(engine->name);
	free(engine->server_url);
	free(engine->ca_file);
	free(engine);
}

int engine_fd(const struct engine *engine)
{
	return queue_fd(engine->events);
}

struct engine_event *engine_next_event(struct engine *engine)
{
	return queue_pop(engine->events);
}

void engine_event_free(struct engine_event *event)
{
	if (event == NULL)
		return;
	json_decref(event->data);
	free(event);
}

struct engine_command *engine_command_new(enum engine_command_type type)
{
	struct engine_command *command = xcalloc(1, sizeof(*command));

	command->type = type;
	return command;
}

void engine_command_free(struct engine_command *command)
{
	if (command == NULL)
		return;
	free(command->user);
	free(command->text);
	free(command->text2);
	free(command->tag);
	free(command);
}

void engine_send(struct engine *engine, struct engine_command *command)
{
	queue_push(engine->commands, command);
}
