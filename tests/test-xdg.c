/*
 * test-xdg.c - XDG base directories under a temporary HOME, and mkdir -p.
 */
#include "config.h"

#include <errno.h>
#include <ftw.h>
#include <pwd.h>
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

#include "util.h"
#include "xdg.h"

static char tmp_home[64];

static void clear_xdg_variables(void)
{
	unsetenv("XDG_CONFIG_HOME");
	unsetenv("XDG_DATA_HOME");
	unsetenv("XDG_STATE_HOME");
	unsetenv("XDG_CACHE_HOME");
	unsetenv("XDG_RUNTIME_DIR");
}

static int setup(void **state)
{
	(void)state;
	snprintf(tmp_home, sizeof(tmp_home), "/tmp/salon-test-xdg-XXXXXX");
	if (mkdtemp(tmp_home) == NULL) {
		fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
		return -1;
	}
	setenv("HOME", tmp_home, 1);
	clear_xdg_variables();
	umask(022);
	return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int teardown(void **state)
{
	(void)state;
	return nftw(tmp_home, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Asserts that xdg_dir(kind) succeeds with the path home + suffix. */
static void expect_dir(enum xdg_kind kind, const char *prefix, const char *suffix)
{
	char *want = xasprintf("%s%s", prefix, suffix);
	char *got = NULL;

	assert_int_equal(xdg_dir(kind, &got), 0);
	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
	free(want);
}

static void test_defaults_under_home(void **state)
{
	char *got = (char *)1;

	(void)state;
	expect_dir(XDG_CONFIG, tmp_home, "/.config/salon");
	expect_dir(XDG_DATA, tmp_home, "/.local/share/salon");
	expect_dir(XDG_STATE, tmp_home, "/.local/state/salon");
	expect_dir(XDG_CACHE, tmp_home, "/.cache/salon");
	/* The runtime directory has no default. */
	assert_int_equal(xdg_dir(XDG_RUNTIME, &got), -ENOENT);
	assert_null(got);
}

static void test_absolute_variables_win(void **state)
{
	(void)state;
	setenv("XDG_CONFIG_HOME", "/srv/conf", 1);
	setenv("XDG_DATA_HOME", "/srv/data/", 1); /* trailing slash dropped */
	setenv("XDG_STATE_HOME", "/srv/state", 1);
	setenv("XDG_CACHE_HOME", "/srv/cache", 1);
	setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1);
	expect_dir(XDG_CONFIG, "/srv/conf", "/salon");
	expect_dir(XDG_DATA, "/srv/data", "/salon");
	expect_dir(XDG_STATE, "/srv/state", "/salon");
	expect_dir(XDG_CACHE, "/srv/cache", "/salon");
	expect_dir(XDG_RUNTIME, "/run/user/1000", "/salon");
	clear_xdg_variables();
}

static void test_relative_or_empty_variables_ignored(void **state)
{
	char *got = (char *)1;

	(void)state;
	setenv("XDG_CONFIG_HOME", "relative/conf", 1);
	setenv("XDG_DATA_HOME", "", 1);
	setenv("XDG_STATE_HOME", "./state", 1);
	setenv("XDG_CACHE_HOME", "~/cache", 1);
	setenv("XDG_RUNTIME_DIR", "run", 1);
	expect_dir(XDG_CONFIG, tmp_home, "/.config/salon");
	expect_dir(XDG_DATA, tmp_home, "/.local/share/salon");
	expect_dir(XDG_STATE, tmp_home, "/.local/state/salon");
	expect_dir(XDG_CACHE, tmp_home, "/.cache/salon");
	assert_int_equal(xdg_dir(XDG_RUNTIME, &got), -ENOENT);
	assert_null(got);
	clear_xdg_variables();
}

static void test_home_fallback(void **state)
{
	struct passwd *pw = getpwuid(getuid());

	(void)state;
	/* Without a usable HOME, the password database gives the home directory. */
	assert_non_null(pw);
	assert_true(pw->pw_dir[0] == '/');
	unsetenv("HOME");
	expect_dir(XDG_CONFIG, strcmp(pw->pw_dir, "/") == 0 ? "" : pw->pw_dir,
		   "/.config/salon");
	setenv("HOME", "not/absolute", 1);
	expect_dir(XDG_DATA, strcmp(pw->pw_dir, "/") == 0 ? "" : pw->pw_dir,
		   "/.local/share/salon");
	/* An absolute XDG variable needs no home at all. */
	setenv("XDG_CONFIG_HOME", "/etc/xdg-test", 1);
	expect_dir(XDG_CONFIG, "/etc/xdg-test", "/salon");
	clear_xdg_variables();
	setenv("HOME", tmp_home, 1);
}

static void test_path(void **state)
{
	char *got = NULL;

	(void)state;
	assert_int_equal(xdg_path(XDG_CONFIG, "config", &got), 0);
	{
		char *want = xasprintf("%s/.config/salon/config", tmp_home);

		assert_string_equal(got, want);
		free(want);
	}
	free(got);
	got = (char *)1;
	assert_int_equal(xdg_path(XDG_RUNTIME, "sock", &got), -ENOENT);
	assert_null(got);
}

static void test_mkdirs(void **state)
{
	char *deep = xasprintf("%s/a/b//c/", tmp_home);
	char *file = xasprintf("%s/a/file", tmp_home);
	char *under_file = xasprintf("%s/a/file/sub", tmp_home);
	char *path;
	struct stat st;
	FILE *f;

	(void)state;
	assert_int_equal(xdg_mkdirs(deep, 0700), 0);
	assert_int_equal(stat(deep, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	/* Parents created on the way get 0700 too. */
	path = xasprintf("%s/a", tmp_home);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	free(path);
	/* Existing directories are fine. */
	assert_int_equal(xdg_mkdirs(deep, 0700), 0);
	assert_int_equal(xdg_mkdirs(tmp_home, 0700), 0);
	assert_int_equal(xdg_mkdirs("/", 0700), 0);
	/* A file in the way. */
	f = fopen(file, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(xdg_mkdirs(file, 0700), -ENOTDIR);
	assert_int_equal(xdg_mkdirs(under_file, 0700), -ENOTDIR);
	assert_int_equal(xdg_mkdirs("", 0700), -EINVAL);
	free(deep);
	free(file);
	free(under_file);
}

static void test_dir_create(void **state)
{
	char *got = NULL;
	struct stat st;

	(void)state;
	assert_int_equal(xdg_dir_create(XDG_DATA, &got), 0);
	assert_non_null(got);
	assert_int_equal(stat(got, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	free(got);
	/* A base directory that cannot be created: the error comes back, no path. */
	got = (char *)1;
	setenv("XDG_STATE_HOME", "/proc/salon-test-cannot-exist", 1);
	assert_true(xdg_dir_create(XDG_STATE, &got) < 0);
	assert_null(got);
	clear_xdg_variables();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_under_home),
		cmocka_unit_test(test_absolute_variables_win),
		cmocka_unit_test(test_relative_or_empty_variables_ignored),
		cmocka_unit_test(test_home_fallback),
		cmocka_unit_test(test_path),
		cmocka_unit_test(test_mkdirs),
		cmocka_unit_test(test_dir_create),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
