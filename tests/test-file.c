/*
 * test-file.c - atomic, durable file replacement and the parents above a file.
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

#include "file.h"
#include "util.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/salon-test-file-XXXXXX");
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	char *cmd = xasprintf("rm -rf '%s'", dir);
	int r;

	(void)state;
	r = system(cmd);
	free(cmd);
	return r == 0 ? 0 : -1;
}

/* Reads a whole small file into a new string; NULL if it cannot be opened. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;

	if (f == NULL)
		return NULL;
	buf = xcalloc(1, 4096);
	n = fread(buf, 1, 4095, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* Counts the entries of a directory other than . and .. (leftover temporaries). */
static int count_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static void test_replace_creates_parents_and_mode(void **state)
{
	char *path = xasprintf("%s/a/b/c/secret", dir);
	char *sub = xasprintf("%s/a/b/c", dir);
	mode_t old = umask(0077 | 0022);
	struct stat st;
	char *text;

	(void)state;
	assert_int_equal(file_replace(path, "one\n", 4, 0640, FILE_REPLACE, NULL), 0);
	umask(old);
	assert_int_equal(stat(path, &st), 0);
	/* The umask took group read away at creation; the file has the mode asked for. */
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(stat(sub, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	text = slurp(path);
	assert_string_equal(text, "one\n");
	free(text);
	assert_int_equal(count_entries(sub), 1);
	free(sub);
	free(path);
}

static void test_replace_and_no_replace(void **state)
{
	char *path = xasprintf("%s/key", dir);
	const char *step = NULL;
	char *text;

	(void)state;
	assert_int_equal(file_replace(path, "old", 3, 0600, FILE_NO_REPLACE, &step), 0);
	assert_int_equal(file_replace(path, "new", 3, 0600, FILE_NO_REPLACE, &step),
			 -EEXIST);
	assert_string_equal(step, "rename");
	text = slurp(path);
	assert_string_equal(text, "old");
	free(text);
	assert_int_equal(file_replace(path, "newer", 5, 0600, FILE_REPLACE, NULL), 0);
	text = slurp(path);
	assert_string_equal(text, "newer");
	free(text);
	/* No temporary file is left beside it, after success or refusal. */
	assert_int_equal(count_entries(dir), 1);
	free(path);
}

static void test_failures_leave_nothing(void **state)
{
	char *file = xasprintf("%s/plain", dir);
	char *below = xasprintf("%s/plain/x", dir);
	const char *step = NULL;
	char *text;

	(void)state;
	assert_int_equal(file_replace(file, "keep", 4, 0600, FILE_REPLACE, NULL), 0);
	/* A parent that is a regular file: the error names the step, the file stays. */
	assert_int_equal(file_replace(below, "x", 1, 0600, FILE_REPLACE, &step), -ENOTDIR);
	assert_string_equal(step, "mkdir");
	assert_int_equal(file_replace("", "x", 1, 0600, FILE_REPLACE, &step), -EINVAL);
	text = slurp(file);
	assert_string_equal(text, "keep");
	free(text);
	assert_int_equal(count_entries(dir), 1);
	free(below);
	free(file);
}

static void test_empty_content(void **state)
{
	char *path = xasprintf("%s/empty", dir);
	struct stat st;

	(void)state;
	assert_int_equal(file_replace(path, "", 0, 0600, FILE_REPLACE, NULL), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 0);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_replace_creates_parents_and_mode, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_replace_and_no_replace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failures_leave_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_content, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
