/*
 * test-store.c - the SQLite store: migrations in order (and refusal of a newer
 * schema), users, rooms, memberships, per-user event sequences and durability
 * across a close and reopen.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

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
	assert_int_equal(store_event_add(store, user.id, "{\"n\":1}", 1, &seq1), 0);
	assert_int_equal(store_event_add(store, user.id, "{\"n\":2}", 1, &seq2), 0);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_newer_schema_refused),
	};

	return cmocka_run_group_tests(tests, test_setup, test_teardown);
}
