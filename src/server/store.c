/*
 * store.c - the SQLite store. Every statement is prepared once with bound
 * parameters and cached for the life of the connection.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "i18n.h"
#include "log.h"
#include "store.h"
#include "util.h"

#define STORE_MAX_STMTS 64

struct store {
	sqlite3 *db;
	struct {
		const char *sql; /* identity of the statement: a static string */
		sqlite3_stmt *stmt;
	} cache[STORE_MAX_STMTS];
	size_t cached;
	bool in_transaction;
};

/*
 * Migrations, applied in order: migration i brings the schema to version i + 1.
 * Never edit one that has shipped; append a new one instead.
 */
static const char *const store_migrations[] = {
	/* 1: the first schema. */
	"CREATE TABLE users ("
	" id INTEGER PRIMARY KEY,"
	" name TEXT NOT NULL,"
	" name_key TEXT NOT NULL UNIQUE,"
	" public_key BLOB NOT NULL UNIQUE,"
	" bot INTEGER NOT NULL DEFAULT 0,"
	" created BIGINT NOT NULL,"
	" last_seq BIGINT NOT NULL DEFAULT 0);"
	"CREATE TABLE tokens ("
	" hash BLOB PRIMARY KEY,"
	" user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	" created BIGINT NOT NULL,"
	" expires BIGINT NOT NULL);"
	"CREATE INDEX tokens_user ON tokens(user_id);"
	"CREATE TABLE rooms ("
	" id BIGINT PRIMARY KEY,"
	" title TEXT NOT NULL,"
	" topic TEXT NOT NULL,"
	" public INTEGER NOT NULL,"
	" host_id INTEGER NOT NULL REFERENCES users(id),"
	" created BIGINT NOT NULL,"
	" ended BIGINT NOT NULL DEFAULT 0,"
	" last_member BIGINT NOT NULL DEFAULT 0);"
	"CREATE TABLE members ("
	" room_id BIGINT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,"
	" user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	" member_id BIGINT NOT NULL,"
	" role TEXT NOT NULL"
	"  CHECK (role IN ('listener', 'speaker', 'moderator', 'host')),"
	" hand_raised INTEGER NOT NULL DEFAULT 0,"
	" muted INTEGER NOT NULL DEFAULT 0,"
	" recording INTEGER NOT NULL DEFAULT 0,"
	" joined BIGINT NOT NULL,"
	" PRIMARY KEY (room_id, user_id),"
	" UNIQUE (room_id, member_id));"
	"CREATE INDEX members_user ON members(user_id);"
	"CREATE TABLE events ("
	" user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	" seq BIGINT NOT NULL,"
	" body TEXT NOT NULL,"
	" created BIGINT NOT NULL,"
	" PRIMARY KEY (user_id, seq));",
	/*
	 * 2: rooms of thousands, and thousands of rooms. A room's stage and counts are
	 * read on every join: members_room_role makes the stage an equality lookup and
	 * the counts index-only. rooms_live returns the room list in its order (newest
	 * first), so listing stops after the first page instead of sorting every room.
	 */
	"CREATE INDEX members_room_role ON members(room_id, role);"
	"CREATE INDEX rooms_live ON rooms(ended, created DESC, id);",
	/*
	 * 3: listener counts are no longer stored as events (bus.h, "soft events");
	 * the bus records here whether the last stop was clean.
	 */
	"CREATE TABLE server_state ("
	" name TEXT PRIMARY KEY,"
	" value BIGINT NOT NULL);",
	/*
	 * 4: an event that a whole room (or its stage) gets is stored once, in
	 * room_events; each member's stream keeps only its place in event_places
	 * (user, seq, and the shared row's id instead of a body), written for the
	 * whole room by one statement. The view events shows every stream as
	 * before, bodies included, for whoever reads the database by hand (and
	 * tests/fault-kill.sh). The partial index finds the shared rows that no
	 * place refers to any more.
	 */
	"ALTER TABLE events RENAME TO event_places;"
	"ALTER TABLE event_places ADD COLUMN room_event BIGINT;"
	"CREATE TABLE room_events ("
	" id INTEGER PRIMARY KEY,"
	" room_id BIGINT NOT NULL,"
	" body TEXT NOT NULL,"
	" created BIGINT NOT NULL);"
	"CREATE INDEX event_places_room_event ON event_places(room_event)"
	" WHERE room_event IS NOT NULL;"
	"CREATE VIEW events AS SELECT p.user_id AS user_id, p.seq AS seq,"
	" CASE WHEN p.room_event IS NULL THEN p.body ELSE r.body END AS body,"
	" p.created AS created, p.room_event AS room_event"
	" FROM event_places p LEFT JOIN room_events r ON r.id = p.room_event;",
};

_Static_assert(ARRAY_SIZE(store_migrations) == STORE_SCHEMA_VERSION,
	       "STORE_SCHEMA_VERSION must count the migrations");

static const char *const store_role_names[] = {
	[STORE_ROLE_LISTENER] = "listener",
	[STORE_ROLE_SPEAKER] = "speaker",
	[STORE_ROLE_MODERATOR] = "moderator",
	[STORE_ROLE_HOST] = "host",
};

const char *store_role_name(enum store_role role)
{
	if ((size_t)role >= ARRAY_SIZE(store_role_names))
		return "listener";
	return store_role_names[role];
}

int store_role_parse(const char *name, enum store_role *role)
{
	for (size_t i = 0; i < ARRAY_SIZE(store_role_names); i++) {
		if (strcmp(name, store_role_names[i]) == 0) {
			*role = (enum store_role)i;
			return 0;
		}
	}
	return -EINVAL;
}

bool store_role_on_stage(enum store_role role)
{
	return role != STORE_ROLE_LISTENER;
}

/* Maps an SQLite result code to an errno value, logging what is unexpected. */
static int store_error(struct store *store, int rc, const char *what)
{
	switch (rc & 0xff) {
	case SQLITE_CONSTRAINT:
		return -EEXIST;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		log_error(_("database busy (%s): %s"), what, sqlite3_errmsg(store->db));
		return -EBUSY;
	case SQLITE_FULL:
		log_error(_("database full (%s): %s"), what, sqlite3_errmsg(store->db));
		return -ENOSPC;
	default:
		log_error(_("database error (%s): %s"), what, sqlite3_errmsg(store->db));
		return -EIO;
	}
}

/* The cached statement for sql, reset and with its bindings cleared; NULL on error. */
static sqlite3_stmt *store_stmt(struct store *store, const char *sql)
{
	sqlite3_stmt *stmt;
	int rc;

	for (size_t i = 0; i < store->cached; i++) {
		if (store->cache[i].sql == sql) {
			sqlite3_reset(store->cache[i].stmt);
			sqlite3_clear_bindings(store->cache[i].stmt);
			return store->cache[i].stmt;
		}
	}
	rc = sqlite3_prepare_v3(store->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL);
	if (rc != SQLITE_OK) {
		store_error(store, rc, "prepare");
		return NULL;
	}
	if (store->cached == STORE_MAX_STMTS)
		fatal("store: statement cache full");
	store->cache[store->cached].sql = sql;
	store->cache[store->cached].stmt = stmt;
	store->cached++;
	return stmt;
}

/*
 * The cached statement for sql, as store_stmt gives it, with parameters 1 to count
 * bound to the integers in values (borrowed); NULL on error. Most statements here
 * take integers only: STORE_INTS below spells values and count for them.
 */
static sqlite3_stmt *store_stmt_ints(struct store *store, const char *sql,
				     const sqlite3_int64 *values, size_t count)
{
	sqlite3_stmt *stmt = store_stmt(store, sql);

	for (size_t i = 0; stmt != NULL && i < count; i++)
		sqlite3_bind_int64(stmt, (int)i + 1, values[i]);
	return stmt;
}

/*
 * The values and count arguments of the *_ints helpers for a list of integers:
 * store_run_ints(store, sql, what, STORE_INTS(room_id, user_id)) binds ?1 and ?2.
 */
#define STORE_INTS(...)                                                                    \
	(const sqlite3_int64[]){ __VA_ARGS__ },                                             \
		ARRAY_SIZE(((const sqlite3_int64[]){ __VA_ARGS__ }))

/* Runs a statement that returns no rows. */
static int store_step_done(struct store *store, sqlite3_stmt *stmt, const char *what)
{
	int rc = sqlite3_step(stmt);
	int ret = rc == SQLITE_DONE ? 0 : store_error(store, rc, what);

	sqlite3_reset(stmt);
	return ret;
}

/* Runs a statement of integer parameters (STORE_INTS) that returns no rows. */
static int store_run_ints(struct store *store, const char *sql, const char *what,
			  const sqlite3_int64 *values, size_t count)
{
	sqlite3_stmt *stmt = store_stmt_ints(store, sql, values, count);

	return stmt != NULL ? store_step_done(store, stmt, what) : -EIO;
}

/*
 * Steps stmt to its next row and leaves it as it is (not reset): 1 when a row is
 * ready to be read, 0 when the statement is done, or store_error()'s value (logged)
 * on failure.
 */
static int store_step_row(struct store *store, sqlite3_stmt *stmt, const char *what)
{
	int rc = sqlite3_step(stmt);

	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : store_error(store, rc, what);
}

/* Copies the current row of a statement into out (whose type the reader knows). */
typedef void store_read_fn(sqlite3_stmt *stmt, void *out);

/*
 * Runs a bound statement for at most one row, then resets it. A row is copied into
 * out by read and gives 0 (out is left alone otherwise). No row gives -ENOENT;
 * where certain is set, though, the statement always returns a row (an aggregate,
 * an INSERT with RETURNING), so no row is a database failure like any other: logged,
 * -EIO. Other failures: store_error()'s value.
 */
static int store_step_one(struct store *store, sqlite3_stmt *stmt, bool certain,
			  store_read_fn *read, void *out, const char *what)
{
	int ret = store_step_row(store, stmt, what);

	if (ret == 1) {
		read(stmt, out);
		ret = 0;
	} else if (ret == 0) {
		ret = certain ? store_error(store, SQLITE_DONE, what) : -ENOENT;
	}
	sqlite3_reset(stmt);
	return ret;
}

/*
 * Runs a statement of integer parameters (STORE_INTS) for at most one row, as
 * store_step_one does (no row: -ENOENT); -EIO when it cannot be prepared.
 */
static int store_get_ints(struct store *store, const char *sql, store_read_fn *read, void *out,
			  const char *what, const sqlite3_int64 *values, size_t count)
{
	sqlite3_stmt *stmt = store_stmt_ints(store, sql, values, count);

	return stmt != NULL ? store_step_one(store, stmt, false, read, out, what) : -EIO;
}

/* Reads the first column as a uint64_t (out points to one). */
static void store_read_u64(sqlite3_stmt *stmt, void *out)
{
	*(uint64_t *)out = (uint64_t)sqlite3_column_int64(stmt, 0);
}

/* Reads the first column as an int64_t (out points to one). */
static void store_read_i64(sqlite3_stmt *stmt, void *out)
{
	*(int64_t *)out = sqlite3_column_int64(stmt, 0);
}

/* Reads the first column as an int (out points to one). */
static void store_read_int(sqlite3_stmt *stmt, void *out)
{
	*(int *)out = sqlite3_column_int(stmt, 0);
}

/* Reads the first column as an unsigned int, a count (out points to one). */
static void store_read_uint(sqlite3_stmt *stmt, void *out)
{
	*(unsigned int *)out = (unsigned int)sqlite3_column_int(stmt, 0);
}

static int store_exec(struct store *store, const char *sql, const char *what)
{
	int rc = sqlite3_exec(store->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : store_error(store, rc, what);
}

static void store_copy_text(char *out, size_t cap, sqlite3_stmt *stmt, int col)
{
	const unsigned char *text = sqlite3_column_text(stmt, col);
	size_t len = text != NULL ? (size_t)sqlite3_column_bytes(stmt, col) : 0;

	if (len >= cap)
		len = cap - 1;
	if (len > 0)
		memcpy(out, text, len);
	out[len] = '\0';
}

int store_schema_version(struct store *store, int *version)
{
	static const char sql[] = "SELECT MAX(version) FROM schema_version";
	sqlite3_stmt *stmt = store_stmt(store, sql);

	if (stmt == NULL)
		return -EIO;
	/* MAX() always returns a row (NULL, read as 0, for an empty table). */
	return store_step_one(store, stmt, true, store_read_int, version, "schema version");
}

/* Applies every migration newer than the database, each in its own transaction. */
static int store_migrate(struct store *store)
{
	static const char record[] = "INSERT INTO schema_version (version, applied) VALUES (?, ?)";
	int version = 0, ret;

	ret = store_exec(store, "CREATE TABLE IF NOT EXISTS schema_version ("
				" version INTEGER PRIMARY KEY, applied BIGINT NOT NULL)",
			 "schema table");
	if (ret < 0)
		return ret;
	ret = store_schema_version(store, &version);
	if (ret < 0)
		return ret;
	if (version > (int)ARRAY_SIZE(store_migrations)) {
		log_error(_("database schema version %d is newer than this salond (%d)"), version,
			  (int)ARRAY_SIZE(store_migrations));
		return -EPROTO;
	}
	for (int i = version; i < (int)ARRAY_SIZE(store_migrations); i++) {
		sqlite3_stmt *stmt;

		ret = store_begin(store);
		if (ret < 0)
			return ret;
		ret = store_exec(store, store_migrations[i], "migration");
		if (ret == 0) {
			stmt = store_stmt(store, record);
			if (stmt == NULL) {
				ret = -EIO;
			} else {
				sqlite3_bind_int(stmt, 1, i + 1);
				sqlite3_bind_int64(stmt, 2, (sqlite3_int64)time(NULL));
				ret = store_step_done(store, stmt, "migration record");
			}
		}
		if (ret == 0)
			ret = store_commit(store);
		if (ret < 0) {
			store_rollback(store);
			return ret;
		}
		log_info(_("database migrated to schema version %d"), i + 1);
	}
	return 0;
}

int store_open(const char *path, struct store **out)
{
	struct store *store = xcalloc(1, sizeof(*store));
	int fd, rc, ret;

	/* Create the file ourselves so that it is private from the first byte. */
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = -errno;
		free(store);
		return ret;
	}
	close(fd);
	rc = sqlite3_open_v2(path, &store->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX,
			     NULL);
	if (rc != SQLITE_OK) {
		log_error(_("cannot open the database: %s"),
			  store->db ? sqlite3_errmsg(store->db) : sqlite3_errstr(rc));
		sqlite3_close(store->db);
		free(store);
		return -EIO;
	}
	sqlite3_busy_timeout(store->db, 5000);
	ret = store_exec(store, "PRAGMA journal_mode = WAL", "WAL");
	if (ret == 0)
		ret = store_exec(store, "PRAGMA foreign_keys = ON", "foreign keys");
	if (ret == 0)
		ret = store_exec(store, "PRAGMA synchronous = NORMAL", "synchronous");
	/*
	 * A room of 10,000 touches 10,000 users, tokens and event rows at each stage
	 * change: keep them in the page cache (64 MiB) rather than the default 2 MiB,
	 * which makes SQLite read the same pages back from the kernel every time.
	 */
	if (ret == 0)
		ret = store_exec(store, "PRAGMA cache_size = -65536", "cache size");
	if (ret == 0)
		ret = store_migrate(store);
	/*
	 * Per connection: the floors of the users' sequences for one room event
	 * (store_event_add_room), filled and emptied inside its transaction.
	 */
	if (ret == 0)
		ret = store_exec(store, "CREATE TEMP TABLE IF NOT EXISTS seq_floor ("
					" user_id INTEGER PRIMARY KEY, seq BIGINT NOT NULL)",
				 "floor table");
	if (ret < 0) {
		store_close(store);
		return ret;
	}
	*out = store;
	return 0;
}

void store_close(struct store *store)
{
	if (store == NULL)
		return;
	for (size_t i = 0; i < store->cached; i++)
		sqlite3_finalize(store->cache[i].stmt);
	/* A clean close checkpoints the WAL into the main file. */
	if (sqlite3_close(store->db) != SQLITE_OK)
		log_error(_("closing the database: %s"), sqlite3_errmsg(store->db));
	free(store);
}

int store_begin(struct store *store)
{
	int ret = store_exec(store, "BEGIN IMMEDIATE", "begin");

	store->in_transaction = ret == 0;
	return ret;
}

int store_commit(struct store *store)
{
	int ret = store_exec(store, "COMMIT", "commit");

	if (ret == 0)
		store->in_transaction = false;
	return ret;
}

void store_rollback(struct store *store)
{
	if (!store->in_transaction)
		return;
	store->in_transaction = false;
	if (sqlite3_get_autocommit(store->db) == 0)
		store_exec(store, "ROLLBACK", "rollback");
}

/* Users. */

#define STORE_USER_COLUMNS "id, name, public_key, bot, created"

/* Reads a row of STORE_USER_COLUMNS into the struct store_user at out. */
static void store_user_read(sqlite3_stmt *stmt, void *out)
{
	struct store_user *user = out;
	const void *key = sqlite3_column_blob(stmt, 2);

	memset(user, 0, sizeof(*user));
	user->id = (uint64_t)sqlite3_column_int64(stmt, 0);
	store_copy_text(user->name, sizeof(user->name), stmt, 1);
	if (key != NULL && sqlite3_column_bytes(stmt, 2) == 32)
		memcpy(user->public_key, key, 32);
	user->bot = sqlite3_column_int(stmt, 3) != 0;
	user->created = sqlite3_column_int64(stmt, 4);
}

/*
 * Names are unique without regard to ASCII case, so that "Alice" and "alice"
 * cannot both exist; name_key holds the folded form.
 */
static char *store_name_key(const char *name)
{
	char *key = xstrdup(name);

	for (char *p = key; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return key;
}

/* Binds parameter index to name's key (store_name_key); SQLite keeps its own copy. */
static void store_bind_name_key(sqlite3_stmt *stmt, int index, const char *name)
{
	char *key = store_name_key(name);

	sqlite3_bind_text(stmt, index, key, -1, SQLITE_TRANSIENT);
	free(key);
}

int store_user_by_id(struct store *store, uint64_t id, struct store_user *user)
{
	static const char sql[] = "SELECT " STORE_USER_COLUMNS " FROM users WHERE id = ?";

	return store_get_ints(store, sql, store_user_read, user, "user", STORE_INTS(id));
}

int store_user_by_key(struct store *store, const uint8_t key[32], struct store_user *user)
{
	static const char sql[] = "SELECT " STORE_USER_COLUMNS " FROM users WHERE public_key = ?";
	sqlite3_stmt *stmt = store_stmt(store, sql);

	if (stmt == NULL)
		return -EIO;
	sqlite3_bind_blob(stmt, 1, key, 32, SQLITE_STATIC);
	return store_step_one(store, stmt, false, store_user_read, user, "user");
}

int store_user_by_name(struct store *store, const char *name, struct store_user *user)
{
	static const char sql[] = "SELECT " STORE_USER_COLUMNS " FROM users WHERE name_key = ?";
	sqlite3_stmt *stmt = store_stmt(store, sql);

	if (stmt == NULL)
		return -EIO;
	store_bind_name_key(stmt, 1, name);
	return store_step_one(store, stmt, false, store_user_read, user, "user");
}

int store_user_create(struct store *store, struct store_user *user)
{
	static const char sql[] = "INSERT INTO users (name, name_key, public_key, bot, created)"
				  " VALUES (?, ?, ?, ?, ?)";
	sqlite3_stmt *stmt = store_stmt(store, sql);
	int ret;

	if (stmt == NULL)
		return -EIO;
	user->created = (int64_t)time(NULL);
	sqlite3_bind_text(stmt, 1, user->name, -1, SQLITE_STATIC);
	store_bind_name_key(stmt, 2, user->name);
	sqlite3_bind_blob(stmt, 3, user->public_key, 32, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 4, user->bot ? 1 : 0);
	sqlite3_bind_int64(stmt, 5, user->created);
	ret = store_step_done(store, stmt, "user create");
	if (ret == 0)
		user->id = (uint64_t)sqlite3_last_insert_rowid(store->db);
	return ret;
}

int store_user_rename(struct store *store, uint64_t id, const char *name)
{
	static const char sql[] = "UPDATE users SET name = ?, name_key = ? WHERE id = ?";
	sqlite3_stmt *stmt = store_stmt(store, sql);
	int ret;

	if (stmt == NULL)
		return -EIO;
	sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
	store_bind_name_key(stmt, 2, name);
	sqlite3_bind_int64(stmt, 3, (sqlite3_int64)id);
	ret = store_step_done(store, stmt, "user rename");
	if (ret == 0 && sqlite3_changes(store->db) == 0)
		ret = -ENOENT;
	return ret;
}

/* Tokens. */

int store_token_add(struct store *store, const uint8_t hash[32], uint64_t user_id,
		    int64_t created, int64_t expires)
{
	static const char sql[] = "INSERT INTO tokens (hash, user_id, created, expires)"
				  " VALUES (?, ?, ?, ?)";
	static const char purge[] = "DELETE FROM tokens WHERE user_id = ? AND expires <= ?";
	sqlite3_stmt *stmt;
	int ret;

	/* Expired tokens of this user are dropped here so the table does not grow. */
	ret = store_run_ints(store, purge, "token purge", STORE_INTS(user_id, created));
	if (ret < 0)
		return ret;
	stmt = store_stmt(store, sql);
	if (stmt == NULL)
		return -EIO;
	sqlite3_bind_blob(stmt, 1, hash, 32, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, (sqlite3_int64)user_id);
	sqlite3_bind_int64(stmt, 3, created);
	sqlite3_bind_int64(stmt, 4, expires);
	return store_step_done(store, stmt, "token add");
}

int store_token_lookup(struct store *store, const uint8_t hash[32], int64_t now,
		       uint64_t *user_id)
{
	static const char sql[] = "SELECT user_id FROM tokens WHERE hash = ? AND expires > ?";
	sqlite3_stmt *stmt = store_stmt(store, sql);

	if (stmt == NULL)
		return -EIO;
	sqlite3_bind_blob(stmt, 1, hash, 32, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, now);
	return store_step_one(store, stmt, false, store_read_u64, user_id, "token lookup");
}

int store_token_delete(struct store *store, const uint8_t hash[32])
{
	static const char sql[] = "DELETE FROM tokens WHERE hash = ?";
	sqlite3_stmt *stmt = store_stmt(store, sql);

	if (stmt == NULL)
		return -EIO;
	sqlite3_bind_blob(stmt, 1, hash, 32, SQLITE_STATIC);
	return store_step_done(store, stmt, "token delete");
}

/* Rooms. */

#define STORE_ROOM_SELECT                                                                  \
	"SELECT r.id, r.title, r.topic, r.public, r.host_id, r.created, r.ended,"          \
	" (SELECT COUNT(*) FROM members m WHERE m.room_id = r.id"                          \
	"  AND m.role IN ('host', 'moderator', 'speaker')),"                                \
	" (SELECT COUNT(*) FROM members m WHERE m.room_id = r.id AND m.role = 'listener')"  \
	" FROM rooms r "

/* Reads a row of STORE_ROOM_SELECT into the struct store_room at out. */
static void store_room_read(sqlite3_stmt *stmt, void *out)
{
	struct store_room *room = out;

	memset(room, 0, sizeof(*room));
	room->id = (uint64_t)sqlite3_column_int64(stmt, 0);
	store_copy_text(room->title, sizeof(room->title), stmt, 1);
	store_copy_text(room->topic, sizeof(room->topic), stmt, 2);
	room->is_public = sqlite3_column_int(stmt, 3) != 0;
	room->host_id = (uint64_t)sqlite3_column_int64(stmt, 4);
	room->created = sqlite3_column_int64(stmt, 5);
	room->ended = sqlite3_column_int64(stmt, 6);
	room->speakers = (uint32_t)sqlite3_column_int(stmt, 7);
	room->listeners = (uint32_t)sqlite3_column_int(stmt, 8);
}

int store_room_create(struct store *store, struct store_room *room)
{
	static const char sql[] = "INSERT INTO rooms (id, title, topic, public, host_id, created)"
				  " VALUES (?, ?, ?, ?, ?, ?)";
	int ret = -EEXIST;

	room->created = (int64_t)time(NULL);
	/*
	 * Room ids are random (and below 2^53, so JSON numbers carry them exactly):
	 * an unlisted room cannot be found by counting. Retry on the rare collision.
	 */
	for (int attempt = 0; attempt < 8 && ret == -EEXIST; attempt++) {
		sqlite3_stmt *stmt = store_stmt(store, sql);
		uint64_t id;

		if (stmt == NULL)
			return -EIO;
		randombytes_buf(&id, sizeof(id));
		id &= (UINT64_C(1) << 53) - 1;
		if (id == 0)
			continue;
		sqlite3_bind_int64(stmt, 1, (sqlite3_int64)id);
		sqlite3_bind_text(stmt, 2, room->title, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 3, room->topic, -1, SQLITE_STATIC);
		sqlite3_bind_int(stmt, 4, room->is_public ? 1 : 0);
		sqlite3_bind_int64(stmt, 5, (sqlite3_int64)room->host_id);
		sqlite3_bind_int64(stmt, 6, room->created);
		ret = store_step_done(store, stmt, "room create");
		if (ret == 0)
			room->id = id;
	}
	return ret;
}

int store_room_get(struct store *store, uint64_t id, struct store_room *room)
{
	static const char sql[] = STORE_ROOM_SELECT "WHERE r.id = ?";

	return store_get_ints(store, sql, store_room_read, room, "room get", STORE_INTS(id));
}

int store_room_list(struct store *store, uint64_t user_id, unsigned int limit,
		    int (*fn)(const struct store_room *room, void *arg), void *arg)
{
	static const char sql[] = STORE_ROOM_SELECT
		"WHERE r.ended = 0 AND (r.public = 1 OR EXISTS (SELECT 1 FROM members m"
		" WHERE m.room_id = r.id AND m.user_id = ?)) ORDER BY r.created DESC, r.id"
		" LIMIT ?";
	sqlite3_stmt *stmt = store_stmt_ints(store, sql, STORE_INTS(user_id, limit));
	struct store_room room;
	int ret;

	if (stmt == NULL)
		return -EIO;
	/* Stops at the end (0), on a failure, or when fn returns non-zero. */
	while ((ret = store_step_row(store, stmt, "room list")) == 1) {
		store_room_read(stmt, &room);
		ret = fn(&room, arg);
		if (ret != 0)
			break;
	}
	sqlite3_reset(stmt);
	return ret;
}

int store_room_end(struct store *store, uint64_t id, int64_t now)
{
	static const char end[] = "UPDATE rooms SET ended = ? WHERE id = ? AND ended = 0";
	static const char drop[] = "DELETE FROM members WHERE room_id = ?";
	int ret = store_run_ints(store, end, "room end", STORE_INTS(now > 0 ? now : 1, id));

	if (ret < 0)
		return ret;
	return store_run_ints(store, drop, "room end members", STORE_INTS(id));
}

/* Collects the first column of every row as a uint64_t array. */
static int store_collect_ids(struct store *store, sqlite3_stmt *stmt, uint64_t **ids,
			     size_t *count, const char *what)
{
	uint64_t *out = NULL;
	size_t n = 0, cap = 0;
	int ret;

	while ((ret = store_step_row(store, stmt, what)) == 1) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			out = xreallocarray(out, cap, sizeof(*out));
		}
		out[n++] = (uint64_t)sqlite3_column_int64(stmt, 0);
	}
	sqlite3_reset(stmt);
	if (ret < 0) {
		free(out);
		return ret;
	}
	*ids = out;
	*count = n;
	return 0;
}

int store_room_ids_live(struct store *store, uint64_t **ids, size_t *count)
{
	static const char sql[] = "SELECT id FROM rooms WHERE ended = 0";
	sqlite3_stmt *stmt = store_stmt(store, sql);

	if (stmt == NULL)
		return -EIO;
	return store_collect_ids(store, stmt, ids, count, "live rooms");
}

/* Memberships. */

#define STORE_MEMBER_SELECT                                                               \
	"SELECT m.room_id, m.user_id, m.member_id, m.role, m.hand_raised, m.muted,"       \
	" m.recording, m.joined, u.name, u.bot FROM members m JOIN users u ON u.id = m.user_id "

/* Reads a row of STORE_MEMBER_SELECT into the struct store_member at out. */
static void store_member_read(sqlite3_stmt *stmt, void *out)
{
	struct store_member *member = out;
	const char *role = (const char *)sqlite3_column_text(stmt, 3);

	memset(member, 0, sizeof(*member));
	member->room_id = (uint64_t)sqlite3_column_int64(stmt, 0);
	member->user_id = (uint64_t)sqlite3_column_int64(stmt, 1);
	member->member_id = (uint64_t)sqlite3_column_int64(stmt, 2);
	if (role == NULL || store_role_parse(role, &member->role) < 0)
		member->role = STORE_ROLE_LISTENER;
	member->hand_raised = sqlite3_column_int(stmt, 4) != 0;
	member->muted = sqlite3_column_int(stmt, 5) != 0;
	member->recording = sqlite3_column_int(stmt, 6) != 0;
	member->joined = sqlite3_column_int64(stmt, 7);
	store_copy_text(member->name, sizeof(member->name), stmt, 8);
	member->bot = sqlite3_column_int(stmt, 9) != 0;
}

int store_member_get(struct store *store, uint64_t room_id, uint64_t user_id,
		     struct store_member *member)
{
	static const char sql[] = STORE_MEMBER_SELECT "WHERE m.room_id = ? AND m.user_id = ?";

	return store_get_ints(store, sql, store_member_read, member, "member get",
			      STORE_INTS(room_id, user_id));
}

int store_member_add(struct store *store, uint64_t room_id, uint64_t user_id,
		     enum store_role role, int64_t now, struct store_member *member)
{
	static const char next[] = "UPDATE rooms SET last_member = last_member + 1 WHERE id = ?"
				   " RETURNING last_member";
	static const char sql[] = "INSERT INTO members (room_id, user_id, member_id, role, joined)"
				  " VALUES (?, ?, ?, ?, ?)";
	sqlite3_stmt *stmt;
	uint64_t member_id = 0;
	int ret;

	/* No row: no such room. */
	ret = store_get_ints(store, next, store_read_u64, &member_id, "member number",
			     STORE_INTS(room_id));
	if (ret < 0)
		return ret;
	stmt = store_stmt(store, sql);
	if (stmt == NULL)
		return -EIO;
	sqlite3_bind_int64(stmt, 1, (sqlite3_int64)room_id);
	sqlite3_bind_int64(stmt, 2, (sqlite3_int64)user_id);
	sqlite3_bind_int64(stmt, 3, (sqlite3_int64)member_id);
	sqlite3_bind_text(stmt, 4, store_role_name(role), -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 5, now);
	ret = store_step_done(store, stmt, "member add");
	if (ret < 0)
		return ret;
	return store_member_get(store, room_id, user_id, member);
}

int store_member_update(struct store *store, const struct store_member *member)
{
	static const char sql[] = "UPDATE members SET role = ?, hand_raised = ?, muted = ?,"
				  " recording = ? WHERE room_id = ? AND user_id = ?";
	sqlite3_stmt *stmt = store_stmt(store, sql);

	if (stmt == NULL)
		return -EIO;
	sqlite3_bind_text(stmt, 1, store_role_name(member->role), -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 2, member->hand_raised);
	sqlite3_bind_int(stmt, 3, member->muted);
	sqlite3_bind_int(stmt, 4, member->recording);
	sqlite3_bind_int64(stmt, 5, (sqlite3_int64)member->room_id);
	sqlite3_bind_int64(stmt, 6, (sqlite3_int64)member->user_id);
	return store_step_done(store, stmt, "member update");
}

int store_member_delete(struct store *store, uint64_t room_id, uint64_t user_id)
{
	static const char sql[] = "DELETE FROM members WHERE room_id = ? AND user_id = ?";
	int ret = store_run_ints(store, sql, "member delete", STORE_INTS(room_id, user_id));

	if (ret == 0 && sqlite3_changes(store->db) == 0)
		ret = -ENOENT;
	return ret;
}

int store_member_room_count(struct store *store, uint64_t user_id, unsigned int *count)
{
	static const char sql[] = "SELECT COUNT(*) FROM members m JOIN rooms r ON r.id = m.room_id"
				  " WHERE m.user_id = ? AND r.ended = 0";
	sqlite3_stmt *stmt = store_stmt_ints(store, sql, STORE_INTS(user_id));

	if (stmt == NULL)
		return -EIO;
	/* COUNT() always returns a row. */
	return store_step_one(store, stmt, true, store_read_uint, count, "member room count");
}

int store_member_list(struct store *store, uint64_t room_id, bool stage_only,
		      int (*fn)(const struct store_member *member, void *arg), void *arg)
{
	static const char all[] = STORE_MEMBER_SELECT "WHERE m.room_id = ? ORDER BY m.member_id";
	static const char stage[] = STORE_MEMBER_SELECT
		"WHERE m.room_id = ? AND m.role IN ('host', 'moderator', 'speaker')"
		" ORDER BY m.member_id";
	sqlite3_stmt *stmt = store_stmt_ints(store, stage_only ? stage : all, STORE_INTS(room_id));
	struct store_member member;
	int ret;

	if (stmt == NULL)
		return -EIO;
	/* Stops at the end (0), on a failure, or when fn returns non-zero. */
	while ((ret = store_step_row(store, stmt, "member list")) == 1) {
		store_member_read(stmt, &member);
		ret = fn(&member, arg);
		if (ret != 0)
			break;
	}
	sqlite3_reset(stmt);
	return ret;
}

int store_member_user_ids(struct store *store, uint64_t room_id, bool stage_only,
			  uint64_t **ids, size_t *count)
{
	static const char all[] = "SELECT user_id FROM members WHERE room_id = ?";
	/* Spelled as equalities so that members_room_role finds the stage directly. */
	static const char stage[] = "SELECT user_id FROM members WHERE room_id = ?"
				    " AND role IN ('host', 'moderator', 'speaker')";
	sqlite3_stmt *stmt = store_stmt_ints(store, stage_only ? stage : all, STORE_INTS(room_id));

	if (stmt == NULL)
		return -EIO;
	return store_collect_ids(store, stmt, ids, count, "member ids");
}

/* Events. */

int store_event_add(struct store *store, uint64_t user_id, const char *body, int64_t now,
		    uint64_t floor, uint64_t *seq)
{
	static const char next[] = "UPDATE users SET last_seq ="
				   " CASE WHEN last_seq > ? THEN last_seq ELSE ? END + 1"
				   " WHERE id = ? RETURNING last_seq";
	static const char sql[] = "INSERT INTO event_places (user_id, seq, body, created)"
				  " VALUES (?, ?, ?, ?)";
	sqlite3_stmt *stmt;
	int ret;

	/* No row: no such user. */
	ret = store_get_ints(store, next, store_read_u64, seq, "event seq",
			     STORE_INTS(floor, floor, user_id));
	if (ret < 0)
		return ret;
	stmt = store_stmt(store, sql);
	if (stmt == NULL)
		return -EIO;
	sqlite3_bind_int64(stmt, 1, (sqlite3_int64)user_id);
	sqlite3_bind_int64(stmt, 2, (sqlite3_int64)*seq);
	sqlite3_bind_text(stmt, 3, body, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 4, now);
	return store_step_done(store, stmt, "event add");
}

/*
 * The recipients of a room event: the room's members (or its stage), less one.
 * Spelled as equalities so that members_room_role finds the stage directly.
 */
#define STORE_ROOM_ALL "SELECT user_id FROM members WHERE room_id = ?1 AND user_id <> ?2"
#define STORE_ROOM_STAGE STORE_ROOM_ALL " AND role IN ('host', 'moderator', 'speaker')"
#define STORE_ROOM_FLOOR "(SELECT seq FROM seq_floor WHERE seq_floor.user_id = users.id)"
/* Each recipient's next place: one more than its last one and its floor. */
#define STORE_ROOM_NEXT								\
	"UPDATE users SET last_seq = CASE WHEN last_seq > COALESCE(" STORE_ROOM_FLOOR	\
	", 0) THEN last_seq ELSE COALESCE(" STORE_ROOM_FLOOR ", 0) END + 1 WHERE id IN ("
#define STORE_ROOM_PLACES							\
	"INSERT INTO event_places (user_id, seq, body, created, room_event)"	\
	" SELECT id, last_seq, '', ?3, ?4 FROM users WHERE id IN ("

int store_event_add_room(struct store *store, uint64_t room_id, bool stage_only, uint64_t except,
			 const char *body, int64_t now, const struct store_seq_floor *floors,
			 size_t floor_count, unsigned int *added)
{
	static const char shared[] = "INSERT INTO room_events (room_id, body, created)"
				     " VALUES (?, ?, ?) RETURNING id";
	static const char floor[] = "INSERT INTO seq_floor (user_id, seq) VALUES (?, ?)"
				    " ON CONFLICT (user_id) DO UPDATE SET seq = excluded.seq";
	static const char next_all[] = STORE_ROOM_NEXT STORE_ROOM_ALL ")";
	static const char next_stage[] = STORE_ROOM_NEXT STORE_ROOM_STAGE ")";
	static const char places_all[] = STORE_ROOM_PLACES STORE_ROOM_ALL ")";
	static const char places_stage[] = STORE_ROOM_PLACES STORE_ROOM_STAGE ")";
	static const char clear[] = "DELETE FROM seq_floor";
	sqlite3_stmt *stmt = store_stmt(store, shared);
	int64_t shared_id = 0;
	int ret;

	*added = 0;
	if (stmt == NULL)
		return -EIO;
	sqlite3_bind_int64(stmt, 1, (sqlite3_int64)room_id);
	sqlite3_bind_text(stmt, 2, body, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 3, now);
	ret = store_step_one(store, stmt, true, store_read_i64, &shared_id, "room event");
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < floor_count; i++) {
		ret = store_run_ints(store, floor, "seq floor",
				     STORE_INTS(floors[i].user_id, floors[i].seq));
		if (ret < 0)
			return ret;
	}
	ret = store_run_ints(store, stage_only ? next_stage : next_all, "room event seq",
			     STORE_INTS(room_id, except));
	if (ret < 0)
		return ret;
	ret = store_run_ints(store, stage_only ? places_stage : places_all, "room event places",
			     STORE_INTS(room_id, except, now, shared_id));
	if (ret < 0)
		return ret;
	*added = (unsigned int)sqlite3_changes(store->db);
	if (floor_count == 0)
		return 0;
	return store_run_ints(store, clear, "seq floor clear", NULL, 0);
}

int store_room_events_prune(struct store *store)
{
	static const char sql[] = "DELETE FROM room_events WHERE NOT EXISTS"
				  " (SELECT 1 FROM event_places p WHERE p.room_event = room_events.id)";

	return store_run_ints(store, sql, "room event prune", NULL, 0);
}

int store_event_list(struct store *store, uint64_t user_id, uint64_t after, unsigned int limit,
		     int (*fn)(uint64_t seq, const char *body, void *arg), void *arg)
{
	/* A place in a room event takes its body from the shared row. */
	static const char sql[] = "SELECT e.seq, CASE WHEN e.room_event IS NULL THEN e.body"
				  " ELSE r.body END FROM event_places e"
				  " LEFT JOIN room_events r ON r.id = e.room_event"
				  " WHERE e.user_id = ? AND e.seq > ? ORDER BY e.seq LIMIT ?";
	sqlite3_stmt *stmt = store_stmt_ints(store, sql, STORE_INTS(user_id, after, limit));
	int ret;

	if (stmt == NULL)
		return -EIO;
	/* Stops at the end (0), on a failure, or when fn returns non-zero. */
	while ((ret = store_step_row(store, stmt, "event list")) == 1) {
		const char *body = (const char *)sqlite3_column_text(stmt, 1);

		ret = fn((uint64_t)sqlite3_column_int64(stmt, 0), body ? body : "{}", arg);
		if (ret != 0)
			break;
	}
	sqlite3_reset(stmt);
	return ret;
}

int store_event_ack(struct store *store, uint64_t user_id, uint64_t upto)
{
	static const char sql[] = "DELETE FROM event_places WHERE user_id = ? AND seq <= ?";

	return store_run_ints(store, sql, "event ack", STORE_INTS(user_id, upto));
}

int store_user_last_seq(struct store *store, uint64_t user_id, uint64_t *seq)
{
	static const char sql[] = "SELECT last_seq FROM users WHERE id = ?";

	return store_get_ints(store, sql, store_read_u64, seq, "last seq", STORE_INTS(user_id));
}

int store_user_seq_raise(struct store *store, uint64_t user_id, uint64_t seq)
{
	static const char sql[] = "UPDATE users SET last_seq = ? WHERE id = ? AND last_seq < ?";

	return store_run_ints(store, sql, "seq raise", STORE_INTS(seq, user_id, seq));
}

int store_event_seq_skip(struct store *store, unsigned int count)
{
	static const char sql[] = "UPDATE users SET last_seq = last_seq + ?";

	return store_run_ints(store, sql, "seq skip", STORE_INTS(count));
}

int store_state_get(struct store *store, const char *name, int64_t *value)
{
	static const char sql[] = "SELECT value FROM server_state WHERE name = ?";
	sqlite3_stmt *stmt = store_stmt(store, sql);

	if (stmt == NULL)
		return -EIO;
	sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
	return store_step_one(store, stmt, false, store_read_i64, value, "state get");
}

int store_state_set(struct store *store, const char *name, int64_t value)
{
	static const char sql[] = "INSERT INTO server_state (name, value) VALUES (?, ?)"
				  " ON CONFLICT (name) DO UPDATE SET value = excluded.value";
	sqlite3_stmt *stmt = store_stmt(store, sql);

	if (stmt == NULL)
		return -EIO;
	sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, value);
	return store_step_done(store, stmt, "state set");
}
