/*
 * engine.h - what every front end (tui, plain, bot, one-shot subcommands) sees of
 * the client: a command queue in and an event queue out, with a descriptor to poll.
 *
 * The engine runs its own threads: the control thread (signaling over libcurl's
 * multi interface: login, API calls, the event stream with reconnect and backoff,
 * key distribution decisions) and the media thread (media.h). Front ends never touch
 * sockets or curl, and the engine never includes curses.h.
 *
 * Everything from the network reaches front ends as event data exactly as the server
 * sent it: front ends sanitize (sanitize.h) before showing text in a terminal.
 *
 * Errors as in util.h. engine_* functions may be called from the front-end thread
 * only, unless said otherwise.
 */
#ifndef SALON_ENGINE_H
#define SALON_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

struct engine;

struct engine_options {
	const char *server_url;     /* http(s)://host:port, required */
	const char *ca_file;        /* CAs to trust for https (PEM); NULL: the system's */
	const char *identity_path;  /* Ed25519 identity file; created if missing */
	const char *pins_path;      /* TOFU pin store */
	const char *name;           /* display name at first login */
	bool bot;                   /* label this account as a bot */
	/*
	 * Audio: "portaudio[:DEVICE]", "file:PATH", "pipe:-" (stdin/stdout),
	 * "pipe:PATH", or "null". capture NULL means listen-only. A playback to a file
	 * or a pipe is a recording of the room: the engine announces it in every room
	 * it joins, and the output gets silence until the server accepted that.
	 */
	const char *capture;
	const char *playback;
	/* Also record the room's mix here, or NULL (announced as ENGINE_CMD_RECORD is). */
	const char *record_path;
	bool loop_capture;          /* play the capture file in a loop */
	unsigned frame_ms;          /* 10 or 20 */
	int bitrate;
	int complexity;
	bool dsp;
};

enum engine_command_type {
	ENGINE_CMD_LIST_ROOMS,      /* -> ENGINE_EV_ROOMS */
	ENGINE_CMD_CREATE_ROOM,     /* text = title, text2 = topic, flag = private */
	ENGINE_CMD_JOIN,            /* room = id; flag = listen only */
	ENGINE_CMD_LEAVE,
	ENGINE_CMD_MUTE,
	ENGINE_CMD_UNMUTE,
	ENGINE_CMD_RAISE_HAND,
	ENGINE_CMD_LOWER_HAND,
	ENGINE_CMD_INVITE,          /* user: invite to speak */
	ENGINE_CMD_MOVE_TO_AUDIENCE,/* user (ourselves to step down) */
	ENGINE_CMD_MAKE_MODERATOR,  /* user */
	ENGINE_CMD_REMOVE,          /* user */
	ENGINE_CMD_SAY,             /* text: chat */
	/*
	 * text: a file to speak from instead of the microphone ("-": raw PCM on stdin),
	 * heard once we may speak; ENGINE_EV_PLAY_FINISHED {path} (with the tag) when it
	 * ends. A new PLAY replaces the current one, and text NULL stops it: both end it
	 * with ENGINE_EV_PLAY_FINISHED {path, stopped: true} at once. A file that cannot
	 * be opened: ENGINE_EV_ERROR code "play_failed".
	 */
	ENGINE_CMD_PLAY,
	/*
	 * text: a file to record the room to (format by extension: .wav .flac .ogg
	 * .opus; "-": raw PCM on stdout); NULL stops. In a room only. Recording is
	 * never silent: the engine first announces it (POST /v1/rooms/ID/recording) and
	 * writes no audio of the room before the server accepted that; everyone, us
	 * too, then gets ENGINE_EV_RECORDING. Stopping clears the announcement (unless
	 * the playback output is itself a recording, see engine_options.playback).
	 * A file that cannot be created: ENGINE_EV_ERROR code "record_failed".
	 */
	ENGINE_CMD_RECORD,
	/*
	 * user -> ENGINE_EV_SAFETY_NUMBER. flag true: the user compared the number and
	 * marks this member verified (stored with the pin, so it lasts across runs);
	 * refused with code "key_changed" while the member's key differs from the pin.
	 */
	ENGINE_CMD_VERIFY,
	ENGINE_CMD_ACCEPT_KEY,      /* user: accept a changed identity key */
	ENGINE_CMD_SET_VOLUME,      /* user, number = gain (1.0 unchanged) */
	ENGINE_CMD_WHOAMI,          /* -> ENGINE_EV_WHOAMI */
	ENGINE_CMD_END_ROOM,        /* host only: end the current room */
	ENGINE_CMD_QUIT,            /* leave and stop: ENGINE_EV_QUIT is the last event */
	/*
	 * Additive. number = enum earcon_type (earcon.h); text = volume 0..100 as
	 * decimal text, or NULL for 50. Mixes the earcon into what we hear (the playback
	 * output) only: never into what we send, nor into the recording of
	 * ENGINE_CMD_RECORD. No event answers it; a bad type gives code "invalid".
	 */
	ENGINE_CMD_EARCON,
	/*
	 * Additive. -> ENGINE_EV_STATS: the media engine's counters since the start,
	 * answered at once, before login too.
	 */
	ENGINE_CMD_STATS,
};

/* A command; the engine takes ownership in engine_send(). */
struct engine_command {
	enum engine_command_type type;
	uint64_t room;   /* room id */
	char *user;      /* a member's user name or decimal user id */
	char *text;
	char *text2;
	bool flag;
	double number;
	char *tag;       /* echoed in the events that answer it (bot "id"), or NULL */
};

enum engine_event_type {
	ENGINE_EV_CONNECTED,        /* {user: {id, name, bot}, server} */
	ENGINE_EV_RECONNECTING,     /* {what: "api"|"media", in_ms} */
	ENGINE_EV_ROOMS,            /* {rooms: [{id, title, topic, speakers, listeners, ...}]} */
	ENGINE_EV_ROOM_CREATED,     /* {room: {...}} */
	ENGINE_EV_JOINED,           /* {room: {...}, member: {...}, members: [...]} */
	ENGINE_EV_LEFT,             /* {room_id} */
	ENGINE_EV_ROOM_ENDED,       /* {room_id} */
	/*
	 * {member: {user_id, name, role, bot, ...}}. Also sent, with "refresh": true,
	 * for each member we had not been told about when we step on stage and the
	 * engine fetches the full member list (the audience hears of stage changes
	 * only); members gone meanwhile then get ENGINE_EV_MEMBER_LEFT with "refresh".
	 */
	ENGINE_EV_MEMBER_JOINED,
	ENGINE_EV_MEMBER_LEFT,      /* {user_id, name} */
	ENGINE_EV_ROLE_CHANGED,     /* {user_id, name, role} */
	ENGINE_EV_HAND_RAISED,      /* {user_id, name} */
	ENGINE_EV_HAND_LOWERED,     /* {user_id, name} */
	ENGINE_EV_MUTED,            /* {user_id, name, muted} */
	ENGINE_EV_RECORDING,        /* {user_id, name, recording} */
	ENGINE_EV_LISTENER_COUNT,   /* {room_id, listeners} */
	ENGINE_EV_SPEAKING_STARTED, /* {user_id, name} */
	ENGINE_EV_SPEAKING_STOPPED, /* {user_id, name} */
	ENGINE_EV_CHAT,             /* {user_id, name, text} */
	ENGINE_EV_KEY_CHANGED,      /* {user_id, name, safety_number}: no keys sent to them */
	/*
	 * {user_id, name, safety_number, verified, pinned, changed}: pinned when the
	 * current key is the pinned one; changed when a different key is pinned (not
	 * accepted yet); verified when the user marked this very key verified
	 * (ENGINE_CMD_VERIFY with flag), in this run or an earlier one.
	 */
	ENGINE_EV_SAFETY_NUMBER,
	ENGINE_EV_WHOAMI,           /* {user: {...}, safety_number, server} */
	ENGINE_EV_PLAY_FINISHED,    /* {path}, and "stopped": true when cut short */
	ENGINE_EV_ERROR,            /* {code, message}: message translated */
	ENGINE_EV_QUIT,             /* {} last event */
	/*
	 * Additive. {media: {frames_sent, frames_received, frames_undecryptable,
	 * frames_concealed, frames_fec, datagrams_dropped, reconnects,
	 * downlink_recoveries, key_asks}} (media.h, struct media_stats); media is null
	 * when there is no media engine (a one-shot subcommand).
	 */
	ENGINE_EV_STATS,
};

/* An event; data is a JSON object as documented above, plus "tag" when answering one. */
struct engine_event {
	enum engine_event_type type;
	json_t *data;
};

/* The event's name in bot mode and logs ("member_joined", ...). */
const char *engine_event_name(enum engine_event_type type);

/*
 * Creates the engine (loads or creates the identity, opens audio devices).
 * Returns 0 and *out, or a negative errno value with a translated message in *error.
 */
int engine_new(const struct engine_options *options, struct engine **out, char **error);

/* Starts the threads: logs in and emits ENGINE_EV_CONNECTED (or errors). */
int engine_start(struct engine *engine);

/* Stops everything and frees the engine. */
void engine_free(struct engine *engine);

/* A descriptor that polls readable while events are waiting. */
int engine_fd(const struct engine *engine);

/* Pops the next event, or NULL. Free it with engine_event_free. */
struct engine_event *engine_next_event(struct engine *engine);
void engine_event_free(struct engine_event *event);

/* Allocates a zeroed command of the given type. */
struct engine_command *engine_command_new(enum engine_command_type type);
void engine_command_free(struct engine_command *command);
/* Queues a command (ownership passes to the engine). Never blocks. */
void engine_send(struct engine *engine, struct engine_command *command);

#endif
