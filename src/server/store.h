/*
 * store.h - salond's durable state behind one narrow interface.
 *
 * Today the store is SQLite (WAL mode, foreign keys on, a busy timeout, schema
 * migrations applied in order at open). The SQL is kept portable (no SQLite-only
 * syntax beyond what PostgreSQL also accepts, save the pragmas in store_open) so
 * that a PostgreSQL store can implement this same header without any change to the
 * API handlers.
 *
 * Threading: a store is used by one thread only (salond's event loop, which also
 * runs every HTTP handler), so one connection suffices and nothing here locks.
 *
 * Errors as in util.h: 0 or a negative errno value. -ENOENT: no such row;
 * -EEXIST: a uniqueness rule was broken (name taken, already a member);
 * -EBUSY / -ENOSPC: the database is locked or the disk is full (the caller answers
 * 503); -EIO: any other database failure (logged here; the caller answers 500);
 * -EPROTO: the database was written by a newer salond (store_open only).
 * Strings in the structs below are copies owned by the struct.
 */
#ifndef SALON_STORE_H
#define SALON_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Hard limits on stored text, in Unicode code points (doc/API.md, "Limits"). */
#define STORE_NAME_MAX 32
#define STORE_TITLE_MAX 100
#define STORE_TOPIC_MAX 300
/* Buffers for the text above: up to 4 bytes a code point plus the NUL. */
#define STORE_NAME_BUF (STORE_NAME_MAX * 4 + 1)
#define STORE_TITLE_BUF (STORE_TITLE_MAX * 4 + 1)
#define STORE_TOPIC_BUF (STORE_TOPIC_MAX * 4 + 1)

/* The schema version this build writes (migrations 1..STORE_SCHEMA_VERSION). */
#define STORE_SCHEMA_VERSION 4

struct store;

struct store_user {
	uint64_t id;
	char name[STORE_NAME_BUF];
	uint8_t public_key[32];
	bool bot;
	int64_t created; /* Unix seconds */
};

enum store_role {
	STORE_ROLE_LISTENER = 0,
	STORE_ROLE_SPEAKER,
	STORE_ROLE_MODERATOR,
	STORE_ROLE_HOST,
};

struct store_room {
	uint64_t id;
	char title[STORE_TITLE_BUF];
	char topic[STORE_TOPIC_BUF];
	bool is_public;
	uint64_t host_id;
	int64_t created;
	int64_t ended; /* 0 while the room is live */
	uint32_t speakers;  /* members on stage: host, moderators, speakers */
	uint32_t listeners; /* members in the audience */
};

struct store_member {
	uint64_t room_id;
	uint64_t user_id;
	uint64_t member_id; /* per-room member number, never reused in the room */
	enum store_role role;
	bool hand_raised;
	bool muted;     /* server mute by a moderator */
	bool recording; /* the member announced that it records */
	int64_t joined;
	/* Copied from the user for display. */
	char name[STORE_NAME_BUF];
	bool bot;
};

/* "listener", "speaker", ...; store_role_parse returns 0 or -EINVAL. */
const char *store_role_name(enum store_role role);
int store_role_parse(const char *name, enum store_role *role);
/* True for the roles on stage (host, moderator, speaker). */
bool store_role_on_stage(enum store_role role);

/*
 * Opens (creating it 0600 if needed) the database at path and applies any pending
 * migrations. On success *out owns the connection; free it with store_close().
 */
int store_open(const char *path, struct store **out);
/* Closes the connection (checkpointing the WAL). NULL is allowed. */
void store_close(struct store *store);
/* The schema version recorded in the database. */
int store_schema_version(struct store *store, int *version);

/*
 * Transactions: everything between begin and commit is atomic. On any error in
 * between, call store_rollback (which is harmless when nothing is open).
 */
int store_begin(struct store *store);
int store_commit(struct store *store);
void store_rollback(struct store *store);

/* Users. store_user_create fills user->id and user->created; -EEXIST if taken. */
int store_user_by_id(struct store *store, uint64_t id, struct store_user *user);
int store_user_by_key(struct store *store, const uint8_t key[32], struct store_user *user);
int store_user_by_name(struct store *store, const char *name, struct store_user *user);
int store_user_create(struct store *store, struct store_user *user);
int store_user_rename(struct store *store, uint64_t id, const char *name);

/* Bearer tokens, stored by hash only. lookup: -ENOENT for unknown or expired. */
int store_token_add(struct store *store, const uint8_t hash[32], uint64_t user_id,
		    int64_t created, int64_t expires);
int store_token_lookup(struct store *store, const uint8_t hash[32], int64_t now,
		       uint64_t *user_id);
int store_token_delete(struct store *store, const uint8_t hash[32]);

/* Rooms. create fills room->id (random, below 2^53) and created. */
int store_room_create(struct store *store, struct store_room *room);
/* Fills the room with its counts; ended rooms are returned too (ended != 0). */
int store_room_get(struct store *store, uint64_t id, struct store_room *room);
/*
 * Calls fn for each live room that is public or has user_id as a member, newest
 * first, up to limit rooms. Stops early (returning fn's value) when fn returns
 * non-zero.
 */
int store_room_list(struct store *store, uint64_t user_id, unsigned int limit,
		    int (*fn)(const struct store_room *room, void *arg), void *arg);
/* Marks the room ended and deletes its memberships. */
int store_room_end(struct store *store, uint64_t id, int64_t now);
/* Every live room id (for start-up bookkeeping); *ids is xmalloc'ed. */
int store_room_ids_live(struct store *store, uint64_t **ids, size_t *count);

/* Memberships. */
int store_member_get(struct store *store, uint64_t room_id, uint64_t user_id,
		     struct store_member *member);
/* Adds the user with the role; fills the member (new member number). -EEXIST. */
int store_member_add(struct store *store, uint64_t room_id, uint64_t user_id,
		     enum store_role role, int64_t now, struct store_member *member);
/* Writes role, hand_raised, muted and recording back. */
int store_member_update(struct store *store, const struct store_member *member);
int store_member_delete(struct store *store, uint64_t room_id, uint64_t user_id);
/* Live rooms the user is a member of. */
int store_member_room_count(struct store *store, uint64_t user_id, unsigned int *count);
/* Calls fn for each member (stage_only: host, moderators, speakers), oldest first. */
int store_member_list(struct store *store, uint64_t room_id, bool stage_only,
		      int (*fn)(const struct store_member *member, void *arg), void *arg);
/* User ids of the room's members (stage_only as above); *ids is xmalloc'ed. */
int store_member_user_ids(struct store *store, uint64_t room_id, bool stage_only,
			  uint64_t **ids, size_t *count);

/*
 * Per-user events. add appends body (JSON text) with the user's next sequence
 * number, returned in *seq: one more than the larger of the user's last number
 * and floor (which lets numbers handed out for events that are not stored stay
 * unique). list calls fn for events with seq > after, in order, up to limit. ack
 * deletes the events with seq <= upto.
 */
int store_event_add(struct store *store, uint64_t user_id, const char *body, int64_t now,
		    uint64_t floor, uint64_t *seq);
int store_event_list(struct store *store, uint64_t user_id, uint64_t after, unsigned int limit,
		     int (*fn)(uint64_t seq, const char *body, void *arg), void *arg);
int store_event_ack(struct store *store, uint64_t user_id, uint64_t upto);
/*
 * Room events (schema version 4): an event for every member of a room (or its
 * stage), but except, is stored once, and each recipient's stream gets its own
 * place (its next sequence number, as store_event_add gives) that refers to the
 * shared body; store_event_list returns such places like any other event, and
 * store_event_ack deletes them. A place is a small row without a body, and the
 * places of the whole room are written by one statement: the room costs three
 * statements (plus one per floor, into a temporary table) instead of two per
 * member. floors (floor_count of them, borrowed) are the recipients' floors, as
 * in store_event_add; users not listed have none. *added is the number of
 * recipients. Returns 0 or a store error. Call it inside a transaction.
 */
struct store_seq_floor {
	uint64_t user_id;
	uint64_t seq;
};
int store_event_add_room(struct store *store, uint64_t room_id, bool stage_only, uint64_t except,
			 const char *body, int64_t now, const struct store_seq_floor *floors,
			 size_t floor_count, unsigned int *added);
/* Deletes the shared room events that no stream refers to any more. */
int store_room_events_prune(struct store *store);
/* The user's last sequence number (0 before any event); -ENOENT: no such user. */
int store_user_last_seq(struct store *store, uint64_t user_id, uint64_t *seq);
/* Raises the user's last sequence number to seq (never lowers it). */
int store_user_seq_raise(struct store *store, uint64_t user_id, uint64_t seq);
/* Adds count to every user's last sequence number. */
int store_event_seq_skip(struct store *store, unsigned int count);

/*
 * Small named integers of the server's own (schema version 3). get: -ENOENT when
 * the name was never set. set creates or replaces.
 */
int store_state_get(struct store *store, const char *name, int64_t *value);
int store_state_set(struct store *store, const char *name, int64_t value);

#endif
