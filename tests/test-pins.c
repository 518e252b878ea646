/*
 * test-pins.c - the trust-on-first-use pin store: NEW, SAME and CHANGED, accepting
 * a changed key, the file's mode (0600 whatever the umask), atomic replacement with
 * no temporary file left behind, a round trip through the file, and damaged lines
 * reported by line number while the good ones still load and the bad ones survive
 * a rewrite.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "encoding.h"
#include "pins.h"

struct fixture {
	char dir[64];
	char sub[96];
	char path[128];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test-pins-XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	snprintf(f->sub, sizeof(f->sub), "%s/salon", f->dir);
	snprintf(f->path, sizeof(f->path), "%s/pins", f->sub);
	*state = f;
	return 0;
}

/* Removes every file of a directory, then the directory (the fixture is flat). */
static void remove_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		char child[512];

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(child, sizeof(child), "%s/%s", path, e->d_name);
		unlink(child);
	}
	closedir(d);
	rmdir(path);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	remove_dir(f->sub);
	remove_dir(f->dir);
	free(f);
	return 0;
}

static void key_make(uint8_t key[IDENTITY_PUBLIC_LEN], int seed)
{
	for (int i = 0; i < IDENTITY_PUBLIC_LEN; i++)
		key[i] = (uint8_t)(seed * 31 + i);
}

/* Number of entries in dir besides . and .. */
static int dir_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	}
	closedir(d);
	return n;
}

static void test_new_same_changed_accept(void **state)
{
	struct fixture *f = *state;
	uint8_t k1[IDENTITY_PUBLIC_LEN], k2[IDENTITY_PUBLIC_LEN], got[IDENTITY_PUBLIC_LEN];
	enum pins_result result;
	struct pins *pins;
	time_t first_seen;
	struct stat st;

	key_make(k1, 1);
	key_make(k2, 2);
	/* A missing file is an empty store; nothing is written until asked. */
	assert_int_equal(pins_open(&pins, f->path, NULL, NULL), 0);
	assert_int_equal(pins_count(pins), 0);
	assert_int_equal(pins_lookup(pins, 7, got, NULL), -ENOENT);

	assert_int_equal(pins_check(pins, 7, k1, 1000, &result), 0);
	assert_int_equal(result, PINS_NEW);
	assert_true(pins_dirty(pins));
	assert_int_equal(pins_check(pins, 7, k1, 2000, &result), 0);
	assert_int_equal(result, PINS_SAME);
	assert_int_equal(pins_check(pins, 7, k2, 3000, &result), 0);
	assert_int_equal(result, PINS_CHANGED);
	/* CHANGED does not touch the pin, and stays CHANGED until accepted. */
	assert_int_equal(pins_lookup(pins, 7, got, &first_seen), 0);
	assert_memory_equal(got, k1, sizeof(k1));
	assert_int_equal(first_seen, 1000);
	assert_int_equal(pins_check(pins, 7, k2, 3500, &result), 0);
	assert_int_equal(result, PINS_CHANGED);
	assert_int_equal(pins_check(pins, 8, k2, 3600, &result), 0);
	assert_int_equal(result, PINS_NEW);

	/* Saved with mode 0600 even under a permissive umask. */
	mode_t old_umask = umask(0);
	assert_int_equal(pins_save(pins), 0);
	umask(old_umask);
	assert_false(pins_dirty(pins));
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(dir_entries(f->sub), 1);

	/* Accepting writes at once. */
	assert_int_equal(pins_accept(pins, 7, k2, 4000), 0);
	assert_int_equal(pins_check(pins, 7, k2, 4100, &result), 0);
	assert_int_equal(result, PINS_SAME);
	assert_int_equal(pins_check(pins, 7, k1, 4200, &result), 0);
	assert_int_equal(result, PINS_CHANGED);
	pins_free(pins);

	/* What the file holds after the accept. */
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(dir_entries(f->sub), 1);
	assert_int_equal(pins_open(&pins, f->path, NULL, NULL), 0);
	assert_int_equal(pins_count(pins), 2);
	assert_int_equal(pins_lookup(pins, 7, got, &first_seen), 0);
	assert_memory_equal(got, k2, sizeof(k2));
	assert_int_equal(first_seen, 4000);
	assert_int_equal(pins_lookup(pins, 8, got, &first_seen), 0);
	assert_memory_equal(got, k2, sizeof(k2));
	assert_int_equal(first_seen, 3600);
	assert_int_equal(pins_check(pins, 8, k2, 5000, &result), 0);
	assert_int_equal(result, PINS_SAME);
	assert_false(pins_dirty(pins));
	pins_free(pins);
}

struct reports {
	unsigned lines[16];
	int count;
};

static void record(void *arg, unsigned line, const char *reason)
{
	struct reports *r = arg;

	assert_non_null(reason);
	assert_true(strlen(reason) > 0);
	if (r->count < 16)
		r->lines[r->count] = line;
	r->count++;
}

static void test_bad_lines(void **state)
{
	struct fixture *f = *state;
	char good1[128], good2[128], text[2048], key_text[64];
	uint8_t k1[IDENTITY_PUBLIC_LEN], k3[IDENTITY_PUBLIC_LEN], got[IDENTITY_PUBLIC_LEN];
	struct reports reports = {{0}, 0};
	enum pins_result result;
	struct pins *pins;
	FILE *fp;
	size_t len;

	key_make(k1, 1);
	key_make(k3, 3);
	base64_encode(key_text, k1, sizeof(k1));
	snprintf(good1, sizeof(good1), "11 %s 100", key_text);
	base64_encode(key_text, k3, sizeof(k3));
	snprintf(good2, sizeof(good2), "33 %s 300", key_text);
	assert_int_equal(mkdir(f->sub, 0700), 0);
	fp = fopen(f->path, "w");
	assert_non_null(fp);
	fprintf(fp,
		"# my pins\n"		      /* 1: comment */
		"%s\n"			      /* 2: good */
		"22 not-a-key 200\n"	      /* 3: bad key */
		"x22 %s 200\n"		      /* 4: bad user id */
		"%s\n"			      /* 5: duplicate of line 2 */
		"\n"			      /* 6: blank */
		"44 %s\n"		      /* 7: missing field */
		"55 %s 1 extra\n"	      /* 8: extra field */
		"66 %s -5\n"		      /* 9: bad time */
		"99999999999999999999 %s 1\n" /* 10: user id overflow */
		"%s",			      /* 11: good, no final newline */
		good1, key_text, good1, key_text, key_text, key_text, key_text, good2);
	fclose(fp);

	assert_int_equal(pins_open(&pins, f->path, record, &reports), 0);
	assert_int_equal(reports.count, 7);
	unsigned want[] = {3, 4, 5, 7, 8, 9, 10};
	for (int i = 0; i < 7; i++)
		assert_int_equal(reports.lines[i], want[i]);
	/* The good lines loaded, the duplicate did not override the first. */
	assert_int_equal(pins_count(pins), 2);
	assert_int_equal(pins_lookup(pins, 11, got, NULL), 0);
	assert_memory_equal(got, k1, sizeof(k1));
	assert_int_equal(pins_lookup(pins, 33, got, NULL), 0);
	assert_memory_equal(got, k3, sizeof(k3));
	assert_int_equal(pins_lookup(pins, 22, got, NULL), -ENOENT);
	assert_int_equal(pins_check(pins, 11, k3, 500, &result), 0);
	assert_int_equal(result, PINS_CHANGED);

	/* A rewrite keeps the bad lines verbatim, for the user to repair. */
	assert_int_equal(pins_check(pins, 77, k1, 700, &result), 0);
	assert_int_equal(result, PINS_NEW);
	assert_int_equal(pins_save(pins), 0);
	pins_free(pins);
	fp = fopen(f->path, "r");
	assert_non_null(fp);
	len = fread(text, 1, sizeof(text) - 1, fp);
	fclose(fp);
	text[len] = '\0';
	assert_non_null(strstr(text, "# my pins\n"));
	assert_non_null(strstr(text, "22 not-a-key 200\n"));
	assert_non_null(strstr(text, "x22 "));
	assert_non_null(strstr(text, good2));
	base64_encode(key_text, k1, sizeof(k1));
	snprintf(good1, sizeof(good1), "\n77 %s 700\n", key_text);
	assert_non_null(strstr(text, good1));

	/* Reopening reports the same bad lines and finds the new pin. */
	reports.count = 0;
	assert_int_equal(pins_open(&pins, f->path, record, &reports), 0);
	assert_int_equal(reports.count, 7);
	assert_int_equal(pins_count(pins), 3);
	pins_free(pins);
}

static void count_bad(void *arg, unsigned line, const char *reason)
{
	(void)line;
	(void)reason;
	(*(unsigned *)arg)++;
}

/*
 * The verified mark: set only on the pinned key, kept in the file (read back by a
 * new store), old three-field lines still read (unverified), a bad fourth field is a
 * bad line, and accepting a different key clears the mark.
 */
static void test_verified(void **state)
{
	struct fixture *f = *state;
	uint8_t k1[IDENTITY_PUBLIC_LEN], k2[IDENTITY_PUBLIC_LEN];
	char k1_text[64], line[256];
	enum pins_result result;
	struct pins *pins;
	unsigned bad_lines = 0;
	FILE *file;

	key_make(k1, 1);
	key_make(k2, 2);
	base64_encode(k1_text, k1, sizeof(k1));
	assert_int_equal(mkdir(f->sub, 0700), 0);
	file = fopen(f->path, "w");
	assert_non_null(file);
	/* An old file: three fields; and a line with a bad fourth field. */
	fprintf(file, "7 %s 1000\n9 %s 1000 trusted\n", k1_text, k1_text);
	fclose(file);
	assert_int_equal(pins_open(&pins, f->path, count_bad, &bad_lines), 0);
	assert_int_equal(bad_lines, 1);
	assert_false(pins_verified(pins, 7, k1));
	assert_int_equal(pins_set_verified(pins, 7, k2, true), -EKEYREJECTED);
	assert_int_equal(pins_set_verified(pins, 8, k1, true), -ENOENT);
	assert_int_equal(pins_set_verified(pins, 7, k1, true), 0);
	assert_true(pins_verified(pins, 7, k1));
	assert_false(pins_verified(pins, 7, k2));
	pins_free(pins);

	/* Saved: the line says so, and a new store reads it back. */
	file = fopen(f->path, "r");
	assert_non_null(file);
	{
		bool found = false;
		char want[128];

		snprintf(want, sizeof(want), "7 %s 1000 verified\n", k1_text);
		while (fgets(line, sizeof(line), file) != NULL)
			found = found || strcmp(line, want) == 0;
		assert_true(found);
	}
	fclose(file);
	bad_lines = 0;
	assert_int_equal(pins_open(&pins, f->path, count_bad, &bad_lines), 0);
	assert_int_equal(bad_lines, 1); /* kept verbatim, still bad */
	assert_true(pins_verified(pins, 7, k1));
	/* A changed key is not verified; accepting it clears the mark. */
	assert_int_equal(pins_check(pins, 7, k2, 2000, &result), 0);
	assert_int_equal(result, PINS_CHANGED);
	assert_false(pins_verified(pins, 7, k2));
	assert_int_equal(pins_accept(pins, 7, k2, 2000), 0);
	assert_false(pins_verified(pins, 7, k2));
	assert_false(pins_verified(pins, 7, k1));
	pins_free(pins);
	assert_int_equal(pins_open(&pins, f->path, count_bad, &bad_lines), 0);
	assert_false(pins_verified(pins, 7, k2));
	pins_free(pins);
}

static void test_not_a_file(void **state)
{
	struct fixture *f = *state;
	struct pins *pins = NULL;

	assert_int_equal(mkdir(f->sub, 0700), 0);
	assert_int_equal(mkdir(f->path, 0700), 0);
	assert_true(pins_open(&pins, f->path, NULL, NULL) < 0);
	assert_null(pins);
	rmdir(f->path);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_new_same_changed_accept, setup, teardown),
    cmocka_unit_test_setup_teardown(test_bad_lines, setup, teardown),
    cmocka_unit_test_setup_teardown(test_not_a_file, setup, teardown),
    cmocka_unit_test_setup_teardown(test_verified, setup, teardown),
};

int main(void)
{
	return cmocka_run_group_tests(tests, NULL, NULL);
}
