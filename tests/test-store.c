/*
 * test-store.c - the SQLite store: migrations in order up to the current version
 * (from scratch and from an older database; refusal of a newer schema), users,
 * rooms, memberships, per-user event sequences (with the floor used by soft
 * events), room events stored once (schema version 4, and the migration of a
 * version 3 database that holds events), server state, and durability across a
 * close and reopen. Also the event bus over the store (waiters by user and by
 * deadline, soft sequence places kept across a clean stop and skipped after a
 * crash) and the id map it is built on.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "bus.h"
#include "idmap.h"
#include "store.h"

static char test_dir[] = "/tmp/salon-store-XXXXXX";
static char test_path[64];

static int test_setup(void **state)
{
	(void)state;
	if (mkdtemp(test_dir) == NULL)
		return -1;
	snprintf(test_path, sizeof(test_path), "%s/test.db", test_dir);
	return 0;
}

static int test_teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", test_dir);
	return system(cmd) == 0 ? 0 : -1;
}

static int test_count_event(uint64_t seq, const char *body, void *arg)
{
	uint64_t *last = arg;

	assert_true(seq > *last);
	assert_non_null(strstr(body, "\"n\""));
	*last = seq;
	return 0;
}

static void test_round_trip(void **state)
{
	struct store *store;
	struct store_user user = {0}, found = {0};
	struct store_room room = {0}, got;
	struct store_member member;
	uint64_t seq1, seq2, last = 0;
	unsigned int count;
	int version;

	(void)state;
	assert_int_equal(store_open(test_path, &store), 0);
	assert_int_equal(store_schema_version(store, &version), 0);
	assert_int_equal(version, STORE_SCHEMA_VERSION);
	strcpy(user.name, "Alice");
	memset(user.public_key, 7, 32);
	assert_int_equal(store_user_create(store, &user), 0);
	strcpy(found.name, "alice");
	memset(found.public_key, 8, 32);
	assert_int_equal(store_user_create(store, &found), -EEXIST);
	assert_int_equal(store_user_by_name(store, "ALICE", &found), 0);
	assert_int_equal(found.id, user.id);
	strcpy(room.title, "t");
	room.host_id = user.id;
	room.is_public = true;
	assert_int_equal(store_room_create(store, &room), 0);
	assert_true(room.id > 0 && room.id < (UINT64_C(1) << 53));
	assert_int_equal(store_member_add(store, room.id, user.id, STORE_ROLE_HOST, 1, &member), 0);
	assert_int_equal(member.member_id, 1);
	assert_int_equal(store_member_add(store, room.id, user.id, STORE_ROLE_HOST, 1, &member),
			 -EEXIST);
	assert_int_equal(store_event_add(store, user.id, "{\"n\":1}", 1, 0, &seq1), 0);
	assert_int_equal(store_event_add(store, user.id, "{\"n\":2}", 1, 0, &seq2), 0);
	assert_int_equal(seq2, seq1 + 1);
	store_close(store);

	assert_int_equal(store_open(test_path, &store), 0);
	assert_int_equal(store_room_get(store, room.id, &got), 0);
	assert_int_equal(got.speakers, 1);
	assert_int_equal(store_member_room_count(store, user.id, &count), 0);
	assert_int_equal(count, 1);
	assert_int_equal(store_event_list(store, user.id, 0, 10, test_count_event, &last), 0);
	assert_int_equal(last, seq2);
	assert_int_equal(store_event_ack(store, user.id, seq1), 0);
	last = 0;
	assert_int_equal(store_event_list(store, user.id, 0, 10, test_count_event, &last), 0);
	assert_int_equal(last, seq2);
	assert_int_equal(store_room_end(store, room.id, 5), 0);
	assert_int_equal(store_member_room_count(store, user.id, &count), 0);
	assert_int_equal(count, 0);
	store_close(store);
}

/* A database stamped with a schema newer than this build is refused untouched. */
static void test_newer_schema_refused(void **state)
{
	struct store *store;
	sqlite3 *db;
	int version;

	(void)state;
	assert_int_equal(store_open(test_path, &store), 0);
	store_close(store);
	assert_int_equal(sqlite3_open(test_path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "INSERT INTO schema_version VALUES (99, 0)", NULL, NULL,
				      NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(store_open(test_path, &store), -EPROTO);
	assert_int_equal(sqlite3_open(test_path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "DELETE FROM schema_version WHERE version = 99", NULL,
				      NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(store_open(test_path, &store), 0);
	assert_int_equal(store_schema_version(store, &version), 0);
	assert_int_equal(version, STORE_SCHEMA_VERSION);
	store_close(store);
}

static int test_count_rows(uint64_t seq, const char *body, void *arg)
{
	(void)seq;
	(void)body;
	(*(int *)arg)++;
	return 0;
}

/* Asserts that schema_version lists 1..STORE_SCHEMA_VERSION, each once, in order. */
static void test_check_versions(sqlite3 *db)
{
	sqlite3_stmt *stmt;
	int expect = 1;

	assert_int_equal(sqlite3_prepare_v2(db, "SELECT version, applied FROM schema_version"
					   " ORDER BY rowid", -1, &stmt, NULL), SQLITE_OK);
	while (sqlite3_step(stmt) == SQLITE_ROW) {
		assert_int_equal(sqlite3_column_int(stmt, 0), expect);
		assert_true(sqlite3_column_int64(stmt, 1) > 0);
		expect++;
	}
	sqlite3_finalize(stmt);
	assert_int_equal(expect - 1, STORE_SCHEMA_VERSION);
}

/* Whether the schema has an object (table or index) of that name. */
static bool test_has_object(sqlite3 *db, const char *name)
{
	sqlite3_stmt *stmt;
	bool found;

	assert_int_equal(sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE name = ?", -1,
					   &stmt, NULL), SQLITE_OK);
	sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
	found = sqlite3_step(stmt) == SQLITE_ROW;
	sqlite3_finalize(stmt);
	return found;
}

/* Undoes migration 4 (shared room events): the schema of version 3. */
static const char test_undo_4[] =
	"DROP VIEW events; DROP INDEX event_places_room_event; DROP TABLE room_events;"
	" ALTER TABLE event_places DROP COLUMN room_event;"
	" ALTER TABLE event_places RENAME TO events;"
	" DELETE FROM schema_version WHERE version > 3";

static int test_collect_bodies(uint64_t seq, const char *body, void *arg)
{
	char *out = arg;
	size_t len = strlen(out);

	snprintf(out + len, 512 - len, "%llu:%s;", (unsigned long long)seq, body);
	return 0;
}

/*
 * A database of version 3 with undelivered events (made here by undoing migration
 * 4 and writing the old table as salond 3 did) migrates on open: the events are
 * still in their streams with their numbers and bodies, the view shows them as
 * the old table did, and new events of both kinds follow them.
 */
static void test_migration_4_keeps_events(void **state)
{
	struct store *store;
	struct store_user alice = {0}, bob = {0};
	struct store_room room = {0};
	struct store_member member;
	char bodies[512] = "";
	unsigned int added;
	uint64_t seq;
	sqlite3 *db;
	int version;

	(void)state;
	unlink(test_path);
	assert_int_equal(store_open(test_path, &store), 0);
	strcpy(alice.name, "alice");
	memset(alice.public_key, 1, 32);
	strcpy(bob.name, "bob");
	memset(bob.public_key, 2, 32);
	assert_int_equal(store_user_create(store, &alice), 0);
	assert_int_equal(store_user_create(store, &bob), 0);
	strcpy(room.title, "old");
	room.is_public = true;
	room.host_id = alice.id;
	assert_int_equal(store_room_create(store, &room), 0);
	assert_int_equal(store_member_add(store, room.id, alice.id, STORE_ROLE_HOST, 1, &member), 0);
	assert_int_equal(store_member_add(store, room.id, bob.id, STORE_ROLE_LISTENER, 1, &member),
			 0);
	store_close(store);
	assert_int_equal(sqlite3_open(test_path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, test_undo_4, NULL, NULL, NULL), SQLITE_OK);
	assert_false(test_has_object(db, "room_events"));
	/* What salond 3 stored: two undelivered events of bob's, seq 1 and 2. */
	assert_int_equal(sqlite3_exec(db, "INSERT INTO events VALUES (2, 1, '{\"n\":1}', 1);"
				      " INSERT INTO events VALUES (2, 2, '{\"n\":2}', 1);"
				      " UPDATE users SET last_seq = 2 WHERE id = 2", NULL, NULL,
				      NULL), SQLITE_OK);
	sqlite3_close(db);

	assert_int_equal(store_open(test_path, &store), 0);
	assert_int_equal(store_schema_version(store, &version), 0);
	assert_int_equal(version, 4);
	assert_int_equal(store_event_list(store, bob.id, 0, 10, test_collect_bodies, bodies), 0);
	assert_string_equal(bodies, "1:{\"n\":1};2:{\"n\":2};");
	assert_int_equal(store_begin(store), 0);
	assert_int_equal(store_event_add_room(store, room.id, false, 0, "{\"n\":3}", 2, NULL, 0,
					      &added), 0);
	assert_int_equal(added, 2);
	assert_int_equal(store_event_add(store, bob.id, "{\"n\":4}", 2, 0, &seq), 0);
	assert_int_equal(seq, 4);
	assert_int_equal(store_commit(store), 0);
	bodies[0] = '\0';
	assert_int_equal(store_event_list(store, bob.id, 1, 10, test_collect_bodies, bodies), 0);
	assert_string_equal(bodies, "2:{\"n\":2};3:{\"n\":3};4:{\"n\":4};");
	store_close(store);

	assert_int_equal(sqlite3_open(test_path, &db), SQLITE_OK);
	test_check_versions(db);
	{
		sqlite3_stmt *stmt;
		int rows = 0;

		assert_int_equal(sqlite3_prepare_v2(db, "SELECT user_id, seq, body FROM events"
						   " ORDER BY user_id, seq", -1, &stmt, NULL),
				 SQLITE_OK);
		while (sqlite3_step(stmt) == SQLITE_ROW) {
			rows++;
			assert_true(sqlite3_column_text(stmt, 2)[0] == '{');
		}
		sqlite3_finalize(stmt);
		assert_int_equal(rows, 5); /* alice's room event, bob's four */
	}
	sqlite3_close(db);
	unlink(test_path);
}

/*
 * Room events: one shared row, a place in each recipient's stream (its next
 * number, above its floor), the stage only, one member left out; acknowledging
 * every place lets the prune delete the shared row, and not before.
 */
static void test_room_events(void **state)
{
	struct store *store;
	struct store_user users[3] = {{0}};
	struct store_room room = {0};
	struct store_member member;
	struct store_seq_floor floor;
	char bodies[512];
	unsigned int added;
	uint64_t seq;
	sqlite3 *db;
	sqlite3_stmt *stmt;
	int shared;

	(void)state;
	unlink(test_path);
	assert_int_equal(store_open(test_path, &store), 0);
	for (int i = 0; i < 3; i++) {
		snprintf(users[i].name, sizeof(users[i].name), "u%d", i);
		memset(users[i].public_key, 10 + i, 32);
		assert_int_equal(store_user_create(store, &users[i]), 0);
	}
	strcpy(room.title, "r");
	room.host_id = users[0].id;
	assert_int_equal(store_room_create(store, &room), 0);
	assert_int_equal(store_member_add(store, room.id, users[0].id, STORE_ROLE_HOST, 1, &member),
			 0);
	assert_int_equal(store_member_add(store, room.id, users[1].id, STORE_ROLE_LISTENER, 1,
					  &member), 0);
	assert_int_equal(store_member_add(store, room.id, users[2].id, STORE_ROLE_LISTENER, 1,
					  &member), 0);
	assert_int_equal(store_event_add(store, users[1].id, "{\"own\":1}", 1, 0, &seq), 0);
	assert_int_equal(seq, 1);

	/* Everyone but u2; u1 has a soft place at 7, so its place is 8. */
	floor.user_id = users[1].id;
	floor.seq = 7;
	assert_int_equal(store_begin(store), 0);
	assert_int_equal(store_event_add_room(store, room.id, false, users[2].id, "{\"all\":1}", 1,
					      &floor, 1, &added), 0);
	assert_int_equal(added, 2);
	/* The stage only: the host. */
	assert_int_equal(store_event_add_room(store, room.id, true, 0, "{\"stage\":1}", 1, NULL, 0,
					      &added), 0);
	assert_int_equal(added, 1);
	assert_int_equal(store_commit(store), 0);
	bodies[0] = '\0';
	assert_int_equal(store_event_list(store, users[0].id, 0, 10, test_collect_bodies, bodies),
			 0);
	assert_string_equal(bodies, "1:{\"all\":1};2:{\"stage\":1};");
	bodies[0] = '\0';
	assert_int_equal(store_event_list(store, users[1].id, 0, 10, test_collect_bodies, bodies),
			 0);
	assert_string_equal(bodies, "1:{\"own\":1};8:{\"all\":1};");
	bodies[0] = '\0';
	assert_int_equal(store_event_list(store, users[2].id, 0, 10, test_collect_bodies, bodies),
			 0);
	assert_string_equal(bodies, "");
	/* The floor was for that event only: the next place follows the last one. */
	assert_int_equal(store_event_add(store, users[1].id, "{}", 1, 0, &seq), 0);
	assert_int_equal(seq, 9);

	assert_int_equal(sqlite3_open(test_path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM room_events", -1, &stmt,
					   NULL), SQLITE_OK);
	/* u1 acknowledges: the shared row of "all" stays for u0; then u0 does. */
	assert_int_equal(store_event_ack(store, users[1].id, 9), 0);
	assert_int_equal(store_room_events_prune(store), 0);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	shared = sqlite3_column_int(stmt, 0);
	assert_int_equal(shared, 2);
	sqlite3_reset(stmt);
	assert_int_equal(store_event_ack(store, users[0].id, 1), 0);
	assert_int_equal(store_room_events_prune(store), 0);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(stmt, 0), 1);
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	store_close(store);
	unlink(test_path);
}

/*
 * Migrations run in order, each recorded once, up to the current version: on a
 * new database, and on a database left at version 1 by an older salond (made here
 * by undoing what migrations 2 and later created), where the later ones run on
 * open and the data already there stays.
 */
static void test_migrations_in_order(void **state)
{
	struct store *store;
	struct store_user user = {0};
	sqlite3 *db;
	int version;

	(void)state;
	unlink(test_path);
	assert_true(STORE_SCHEMA_VERSION >= 3);
	assert_int_equal(store_open(test_path, &store), 0);
	assert_int_equal(store_schema_version(store, &version), 0);
	assert_int_equal(version, STORE_SCHEMA_VERSION);
	strcpy(user.name, "Old");
	memset(user.public_key, 9, 32);
	assert_int_equal(store_user_create(store, &user), 0);
	store_close(store);
	assert_int_equal(sqlite3_open(test_path, &db), SQLITE_OK);
	test_check_versions(db);
	assert_true(test_has_object(db, "members_room_role"));
	assert_true(test_has_object(db, "server_state"));
	assert_int_equal(sqlite3_exec(db, test_undo_4, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "DROP INDEX members_room_role; DROP INDEX rooms_live;"
				      " DROP TABLE server_state;"
				      " DELETE FROM schema_version WHERE version > 1", NULL, NULL,
				      NULL), SQLITE_OK);
	assert_false(test_has_object(db, "server_state"));
	sqlite3_close(db);

	assert_int_equal(store_open(test_path, &store), 0);
	assert_int_equal(store_schema_version(store, &version), 0);
	assert_int_equal(version, STORE_SCHEMA_VERSION);
	assert_int_equal(store_user_by_name(store, "old", &user), 0);
	store_close(store);
	assert_int_equal(sqlite3_open(test_path, &db), SQLITE_OK);
	test_check_versions(db);
	assert_true(test_has_object(db, "members_room_role"));
	assert_true(test_has_object(db, "rooms_live"));
	assert_true(test_has_object(db, "server_state"));
	sqlite3_close(db);
	unlink(test_path);
}

/*
 * The sequence helpers behind soft events: a floor puts a stored event after the
 * numbers handed out in memory; raise never lowers; skip moves every user on;
 * server_state keeps named values across a reopen.
 */
static void test_sequences_and_state(void **state)
{
	struct store *store;
	struct store_user alice = {0}, bob = {0};
	struct store_room room = {0};
	struct store_member member;
	uint64_t seq, last;
	int64_t value;
	int rows = 0;

	(void)state;
	unlink(test_path);
	assert_int_equal(store_open(test_path, &store), 0);
	strcpy(alice.name, "alice");
	memset(alice.public_key, 1, 32);
	assert_int_equal(store_user_create(store, &alice), 0);
	strcpy(bob.name, "bob");
	memset(bob.public_key, 2, 32);
	assert_int_equal(store_user_create(store, &bob), 0);
	assert_int_equal(store_user_last_seq(store, alice.id, &last), 0);
	assert_int_equal(last, 0);
	assert_int_equal(store_user_last_seq(store, 9999, &last), -ENOENT);
	assert_int_equal(store_event_add(store, alice.id, "{}", 1, 0, &seq), 0);
	assert_int_equal(seq, 1);
	/* Numbers 2..5 were handed out for events not stored: the next stored one is 6. */
	assert_int_equal(store_event_add(store, alice.id, "{}", 1, 5, &seq), 0);
	assert_int_equal(seq, 6);
	/* A floor below the last number changes nothing. */
	assert_int_equal(store_event_add(store, alice.id, "{}", 1, 2, &seq), 0);
	assert_int_equal(seq, 7);
	assert_int_equal(store_event_add(store, 9999, "{}", 1, 0, &seq), -ENOENT);
	assert_int_equal(store_user_seq_raise(store, alice.id, 20), 0);
	assert_int_equal(store_user_seq_raise(store, alice.id, 10), 0);
	assert_int_equal(store_user_last_seq(store, alice.id, &last), 0);
	assert_int_equal(last, 20);
	assert_int_equal(store_event_seq_skip(store, 100), 0);
	assert_int_equal(store_user_last_seq(store, alice.id, &last), 0);
	assert_int_equal(last, 120);
	assert_int_equal(store_user_last_seq(store, bob.id, &last), 0);
	assert_int_equal(last, 100);
	assert_int_equal(store_event_list(store, alice.id, 0, 10, test_count_rows, &rows), 0);
	assert_int_equal(rows, 3);

	assert_int_equal(store_state_get(store, "flag", &value), -ENOENT);
	assert_int_equal(store_state_set(store, "flag", 0), 0);
	assert_int_equal(store_state_set(store, "flag", 42), 0);
	assert_int_equal(store_state_get(store, "flag", &value), 0);
	assert_int_equal(value, 42);

	strcpy(room.title, "r");
	room.host_id = alice.id;
	assert_int_equal(store_room_create(store, &room), 0);
	assert_int_equal(store_member_add(store, room.id, bob.id, STORE_ROLE_LISTENER, 1,
					  &member), 0);
	assert_int_equal(store_room_get(store, room.id, &room), 0);
	assert_int_equal(room.listeners, 1);
	store_close(store);

	assert_int_equal(store_open(test_path, &store), 0);
	assert_int_equal(store_state_get(store, "flag", &value), 0);
	assert_int_equal(value, 42);
	store_close(store);
	unlink(test_path);
}

/* The id map under churn: 20,000 ids in, every third out, the rest still found. */
static void test_idmap(void **state)
{
	struct idmap map = IDMAP_INIT;
	size_t pos = 0, seen = 0;
	uint64_t id;
	void *value;

	(void)state;
	assert_null(idmap_get(&map, 1));
	assert_null(idmap_remove(&map, 1));
	for (uintptr_t i = 1; i <= 20000; i++)
		idmap_put(&map, i * 7919, (void *)i);
	assert_int_equal(map.count, 20000);
	idmap_put(&map, 7919, (void *)(uintptr_t)5);
	assert_int_equal(map.count, 20000);
	assert_ptr_equal(idmap_get(&map, 7919), (void *)(uintptr_t)5);
	for (uintptr_t i = 3; i <= 20000; i += 3)
		assert_ptr_equal(idmap_remove(&map, i * 7919), (void *)i);
	assert_null(idmap_remove(&map, 3 * 7919));
	for (uintptr_t i = 2; i <= 20000; i++) {
		if (i % 3 == 0)
			assert_null(idmap_get(&map, i * 7919));
		else
			assert_ptr_equal(idmap_get(&map, i * 7919), (void *)i);
	}
	while ((value = idmap_next(&map, &pos, &id)) != NULL) {
		assert_true(id % 7919 == 0);
		seen++;
	}
	assert_int_equal(seen, map.count);
	assert_int_equal(seen, 20000 - 20000 / 3);
	idmap_clear(&map);
	assert_null(idmap_get(&map, 2 * 7919));
}

struct test_wake {
	int order[8];
	int count;
};

static struct test_wake test_woken;

static void test_wake_fn(void *arg)
{
	test_woken.order[test_woken.count++] = (int)(intptr_t)arg;
}

/*
 * Several waiters per user: a publish wakes exactly that user's waiters; a
 * cancelled one is never called; deadlines fire in order, whatever the order of
 * registration.
 */
static void test_bus_waiters(void **state)
{
	struct store *store;
	struct store_user a = {0}, b = {0};
	struct bus *bus;
	struct bus_waiter *cancelled;

	(void)state;
	unlink(test_path);
	memset(&test_woken, 0, sizeof(test_woken));
	assert_int_equal(store_open(test_path, &store), 0);
	strcpy(a.name, "a");
	memset(a.public_key, 3, 32);
	assert_int_equal(store_user_create(store, &a), 0);
	strcpy(b.name, "b");
	memset(b.public_key, 4, 32);
	assert_int_equal(store_user_create(store, &b), 0);
	assert_int_equal(bus_new(store, &bus), 0);
	bus_wait(bus, a.id, 500, test_wake_fn, (void *)1);
	bus_wait(bus, a.id, 100, test_wake_fn, (void *)2);
	bus_wait(bus, b.id, 300, test_wake_fn, (void *)3);
	cancelled = bus_wait(bus, b.id, 50, test_wake_fn, (void *)4);
	bus_wait(bus, b.id, 200, test_wake_fn, (void *)5);
	assert_int_equal(bus_waiter_count(bus), 5);
	assert_int_equal(bus_next_deadline(bus), 50);
	bus_cancel(bus, cancelled);
	assert_int_equal(bus_next_deadline(bus), 100);
	assert_int_equal(bus_publish(bus, a.id, "{}"), 0);
	assert_int_equal(test_woken.count, 2);
	assert_true(test_woken.order[0] + test_woken.order[1] == 3);
	assert_int_equal(bus_waiter_count(bus), 2);
	assert_int_equal(bus_next_deadline(bus), 200);
	bus_expire(bus, 199);
	assert_int_equal(test_woken.count, 2);
	bus_expire(bus, 300);
	assert_int_equal(test_woken.count, 4);
	assert_int_equal(test_woken.order[2], 5);
	assert_int_equal(test_woken.order[3], 3);
	assert_int_equal(bus_next_deadline(bus), UINT64_MAX);
	bus_wait(bus, b.id, 900, test_wake_fn, (void *)6);
	bus_wake(bus, a.id);
	assert_int_equal(test_woken.count, 4);
	bus_wake(bus, b.id);
	assert_int_equal(test_woken.count, 5);
	assert_int_equal(test_woken.order[4], 6);
	bus_free(bus);
	store_close(store);
	unlink(test_path);
}

/*
 * Soft places: above every stored event, stored events after them; kept across
 * a clean stop (the sequence carries on by one), skipped after a crash.
 */
static void test_bus_soft_seq(void **state)
{
	struct store *store;
	struct store_user a = {0};
	struct bus *bus;
	uint64_t seq, soft, last;

	(void)state;
	unlink(test_path);
	assert_int_equal(store_open(test_path, &store), 0);
	strcpy(a.name, "a");
	memset(a.public_key, 5, 32);
	assert_int_equal(store_user_create(store, &a), 0);
	assert_int_equal(bus_new(store, &bus), 0);
	assert_int_equal(bus_soft_seq(bus, 9999, &soft), -ENOENT);
	assert_int_equal(bus_publish(bus, a.id, "{}"), 0);
	assert_int_equal(bus_soft_seq(bus, a.id, &soft), 0);
	assert_int_equal(soft, 2);
	assert_int_equal(bus_soft_seq(bus, a.id, &soft), 0);
	assert_int_equal(soft, 3);
	assert_int_equal(bus_publish(bus, a.id, "{}"), 0);
	assert_int_equal(store_user_last_seq(store, a.id, &last), 0);
	assert_int_equal(last, 4);
	assert_int_equal(bus_soft_seq(bus, a.id, &soft), 0);
	assert_int_equal(soft, 5);
	bus_free(bus);
	/* A clean stop records place 5: the next stored event is 6. */
	assert_int_equal(bus_new(store, &bus), 0);
	assert_int_equal(store_event_add(store, a.id, "{}", 1, 0, &seq), 0);
	assert_int_equal(seq, 6);
	assert_int_equal(bus_soft_seq(bus, a.id, &soft), 0);
	assert_int_equal(soft, 7);
	bus_free(bus);
	/* A crash: the stop was not recorded, so every sequence skips ahead. */
	assert_int_equal(store_state_set(store, BUS_CLEAN_STATE, 0), 0);
	assert_int_equal(bus_new(store, &bus), 0);
	assert_int_equal(store_user_last_seq(store, a.id, &last), 0);
	assert_int_equal(last, 7 + BUS_SOFT_SEQ_MAX);
	/* Places far ahead of the stored sequence are recorded before they are given. */
	for (int i = 0; i < BUS_SOFT_SEQ_MAX + 2; i++)
		assert_int_equal(bus_soft_seq(bus, a.id, &soft), 0);
	assert_int_equal(store_user_last_seq(store, a.id, &last), 0);
	assert_true(last < soft && soft - last < BUS_SOFT_SEQ_MAX);
	bus_free(bus);
	store_close(store);
	unlink(test_path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_newer_schema_refused),
		cmocka_unit_test(test_migrations_in_order),
		cmocka_unit_test(test_migration_4_keeps_events),
		cmocka_unit_test(test_room_events),
		cmocka_unit_test(test_sequences_and_state),
		cmocka_unit_test(test_idmap),
		cmocka_unit_test(test_bus_waiters),
		cmocka_unit_test(test_bus_soft_seq),
	};

	return cmocka_run_group_tests(tests, test_setup, test_teardown);
}
