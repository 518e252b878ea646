/*
 * test-config.c - the client's config file: syntax, settings, diagnostics.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config-file.h"
#include "util.h"

/* Parses text (a C string) as file "test.conf" into a fresh cfg. */
static int parse(struct config_file *cfg, const char *text)
{
	config_file_init(cfg);
	return config_file_parse_buffer(cfg, "test.conf", text, strlen(text));
}

/* Asserts that text gives exactly one diagnostic, equal to want. */
static void expect_one_diag(const char *text, const char *want)
{
	struct config_file cfg;

	assert_int_equal(parse(&cfg, text), -EINVAL);
	if (cfg.diag_count != 1 || strcmp(cfg.diags[0].message, want) != 0) {
		fprintf(stderr, "input: %s\nwant: %s\n", text, want);
		for (size_t i = 0; i < cfg.diag_count; i++)
			fprintf(stderr, "got:  %s\n", cfg.diags[i].message);
		fail();
	}
	config_file_free(&cfg);
}

static void test_defaults(void **state)
{
	struct config_file cfg;

	(void)state;
	assert_int_equal(parse(&cfg, ""), 0);
	assert_null(cfg.server);
	assert_null(cfg.name);
	assert_null(cfg.input_device);
	assert_null(cfg.output_device);
	assert_int_equal(cfg.bitrate, 24000);
	assert_int_equal(cfg.frame_ms, 20);
	assert_int_equal(cfg.complexity, 5);
	assert_int_equal(cfg.verbosity, LOG_LEVEL_WARN);
	assert_true(cfg.earcons);
	assert_int_equal(cfg.earcon_volume, 50);
	assert_int_equal(cfg.ascii, -1);
	assert_false(cfg.meters);
	assert_int_equal(cfg.diag_count, 0);
	assert_int_equal(cfg.binding_count, 0);
	config_file_free(&cfg);
}

static void test_every_setting(void **state)
{
	struct config_file cfg;
	const char *text = "server = https://salon.example.org:8443/\n"
			   "name = Alice\n"
			   "input_device = USB Mic (hw:1,0)\n"
			   "output_device = default\n"
			   "bitrate = 64000\n"
			   "frame_ms = 10\n"
			   "complexity = 10\n"
			   "verbosity = debug\n"
			   "earcons = off\n"
			   "earcon_volume = 0\n"
			   "ascii = on\n"
			   "meters = yes\n";

	(void)state;
	assert_int_equal(parse(&cfg, text), 0);
	assert_string_equal(cfg.server, "https://salon.example.org:8443/");
	assert_string_equal(cfg.name, "Alice");
	assert_string_equal(cfg.input_device, "USB Mic (hw:1,0)");
	assert_string_equal(cfg.output_device, "default");
	assert_int_equal(cfg.bitrate, 64000);
	assert_int_equal(cfg.frame_ms, 10);
	assert_int_equal(cfg.complexity, 10);
	assert_int_equal(cfg.verbosity, LOG_LEVEL_DEBUG);
	assert_false(cfg.earcons);
	assert_int_equal(cfg.earcon_volume, 0);
	assert_int_equal(cfg.ascii, 1);
	assert_true(cfg.meters);
	/* A second buffer applies over the first; empty strings unset. */
	text = "name =\nascii = off\nverbosity = 1\n";
	assert_int_equal(config_file_parse_buffer(&cfg, "b", text, strlen(text)), 0);
	assert_null(cfg.name);
	assert_int_equal(cfg.ascii, 0);
	assert_int_equal(cfg.verbosity, LOG_LEVEL_WARN);
	config_file_free(&cfg);
}

static void test_range_limits_accepted(void **state)
{
	struct config_file cfg;

	(void)state;
	assert_int_equal(parse(&cfg, "bitrate=6000\ncomplexity=0\nearcon_volume=100\n"), 0);
	assert_int_equal(cfg.bitrate, 6000);
	assert_int_equal(cfg.complexity, 0);
	assert_int_equal(cfg.earcon_volume, 100);
	config_file_free(&cfg);
	assert_int_equal(parse(&cfg, "bitrate=128000\nframe_ms=20\nverbosity=ERROR\n"), 0);
	assert_int_equal(cfg.bitrate, 128000);
	assert_int_equal(cfg.frame_ms, 20);
	assert_int_equal(cfg.verbosity, LOG_LEVEL_ERROR);
	config_file_free(&cfg);
}

static void test_comments_blanks_whitespace(void **state)
{
	struct config_file cfg;
	const char *text = "# a comment\n"
			   "\n"
			   "   \t\n"
			   "   # an indented comment = with equals\n"
			   "\tbitrate\t=\t32000   \r\n"
			   "name=Bob # trailing comment\n"
			   "server = http://h/#frag\n"
			   "complexity = 3"; /* no final newline */

	(void)state;
	assert_int_equal(parse(&cfg, text), 0);
	assert_int_equal(cfg.bitrate, 32000);
	assert_string_equal(cfg.name, "Bob");
	/* A '#' not after a blank is part of the value. */
	assert_string_equal(cfg.server, "http://h/#frag");
	assert_int_equal(cfg.complexity, 3);
	config_file_free(&cfg);
}

static void test_quoted_values(void **state)
{
	struct config_file cfg;

	(void)state;
	assert_int_equal(parse(&cfg, "name = \"Alice \\\"the voice\\\" \\\\ # not a comment\""
				     "  # comment\n"
				     "input_device = \"  padded  \"\n"),
			 0);
	assert_string_equal(cfg.name, "Alice \"the voice\" \\ # not a comment");
	assert_string_equal(cfg.input_device, "  padded  ");
	config_file_free(&cfg);
	/* A quoted number is a number. */
	assert_int_equal(parse(&cfg, "bitrate = \"48000\"\n"), 0);
	assert_int_equal(cfg.bitrate, 48000);
	config_file_free(&cfg);

	expect_one_diag("name = \"open\n", "test.conf:1: unterminated quoted value");
	expect_one_diag("name = \"a\\nb\"\n",
			"test.conf:1: unknown escape in quoted value (only \\\" and \\\\ are "
			"allowed)");
	expect_one_diag("name = \"a\" b\n", "test.conf:1: unexpected text after the quoted value");
	expect_one_diag("name = \"a\\\"\n", "test.conf:1: unterminated quoted value");
}

static void test_unknown_key_and_bad_values(void **state)
{
	(void)state;
	expect_one_diag("\n\nbitrat = 24000\n", "test.conf:3: unknown key 'bitrat'");
	expect_one_diag("bitrate = 5999", "test.conf:1: 'bitrate' must be a whole number from "
					   "6000 to 128000");
	expect_one_diag("bitrate = 128001", "test.conf:1: 'bitrate' must be a whole number from "
					     "6000 to 128000");
	expect_one_diag("bitrate = 24k", "test.conf:1: 'bitrate' must be a whole number from "
					  "6000 to 128000");
	expect_one_diag("bitrate = 99999999999999999999",
			"test.conf:1: 'bitrate' must be a whole number from 6000 to 128000");
	expect_one_diag("bitrate = +24000",
			"test.conf:1: 'bitrate' must be a whole number from 6000 to 128000");
	expect_one_diag("bitrate =", "test.conf:1: 'bitrate' needs a value");
	expect_one_diag("frame_ms = 15", "test.conf:1: 'frame_ms' must be 10 or 20");
	expect_one_diag("frame_ms = 40", "test.conf:1: 'frame_ms' must be 10 or 20");
	expect_one_diag("complexity = 11",
			"test.conf:1: 'complexity' must be a whole number from 0 to 10");
	expect_one_diag("complexity = -1",
			"test.conf:1: 'complexity' must be a whole number from 0 to 10");
	expect_one_diag("earcon_volume = 101",
			"test.conf:1: 'earcon_volume' must be a whole number from 0 to 100");
	expect_one_diag("earcons = maybe", "test.conf:1: 'earcons' must be on or off");
	expect_one_diag("ascii = 2", "test.conf:1: 'ascii' must be on or off");
	expect_one_diag("meters = ", "test.conf:1: 'meters' needs a value");
	expect_one_diag("verbosity = 4",
			"test.conf:1: 'verbosity' must be 0 to 3, or error, warn, info or debug");
	expect_one_diag("server = salon.example.org",
			"test.conf:1: 'server' must be an http:// or https:// URL");
	expect_one_diag("server = https://",
			"test.conf:1: 'server' must be an http:// or https:// URL");
	expect_one_diag("server = ftp://x", "test.conf:1: 'server' must be an http:// or "
					     "https:// URL");
}

static void test_malformed_lines(void **state)
{
	(void)state;
	expect_one_diag("just some words\n", "test.conf:1: expected 'key = value'");
	expect_one_diag("= 3\n", "test.conf:1: expected 'key = value'");
	expect_one_diag("bad key = 3\n", "test.conf:1: expected 'key = value'");
	expect_one_diag("na\xc3\xa9me = 3\n", "test.conf:1: expected 'key = value'");
	expect_one_diag("name = a\x1b[31mb\n", "test.conf:1: control character in line");
	expect_one_diag("[keys\n", "test.conf:1: malformed section header");
	expect_one_diag("[]\n", "test.conf:1: malformed section header");
	expect_one_diag("[keys] x\n", "test.conf:1: malformed section header");
}

static void test_bad_value_keeps_previous(void **state)
{
	struct config_file cfg;

	(void)state;
	assert_int_equal(parse(&cfg, "bitrate = 32000\nbitrate = 1\n"), -EINVAL);
	assert_int_equal(cfg.bitrate, 32000);
	assert_int_equal(cfg.diag_count, 1);
	assert_int_equal(cfg.diags[0].line, 2);
	config_file_free(&cfg);
}

static void test_errors_do_not_stop_reading(void **state)
{
	struct config_file cfg;
	const char *text = "garbage line\n"
			   "bitrate = 32000\n"
			   "bitrat = 1\n"
			   "name = \"unterminated\n"
			   "[nosuch]\n"
			   "complexity = 1\n" /* skipped: in an unknown section */
			   "[keys]\n"
			   "q = quit\n"
			   "frame_ms = 10\n"; /* a key binding here, not a setting */

	(void)state;
	assert_int_equal(parse(&cfg, text), -EINVAL);
	assert_int_equal(cfg.bitrate, 32000);
	assert_null(cfg.name);
	assert_int_equal(cfg.complexity, 5);
	assert_int_equal(cfg.frame_ms, 20);
	assert_int_equal(cfg.diag_count, 4);
	assert_string_equal(cfg.diags[0].message, "test.conf:1: expected 'key = value'");
	assert_string_equal(cfg.diags[1].message, "test.conf:3: unknown key 'bitrat'");
	assert_string_equal(cfg.diags[2].message, "test.conf:4: unterminated quoted value");
	assert_string_equal(cfg.diags[3].message, "test.conf:5: unknown section '[nosuch]'");
	assert_int_equal(cfg.diags[3].line, 5);
	assert_int_equal(cfg.binding_count, 2);
	config_file_free(&cfg);
}

static void test_key_bindings(void **state)
{
	struct config_file cfg;
	const char *text = "name = Carol\n"
			   "[keys]\n"
			   "# comment in a section\n"
			   "m = mute\n"
			   "C-x = \"leave room\"\n"
			   "? = help\n"
			   "[keys]\n"
			   "space = talk\n";

	(void)state;
	assert_int_equal(parse(&cfg, text), 0);
	assert_string_equal(cfg.name, "Carol");
	assert_int_equal(cfg.binding_count, 4);
	assert_string_equal(cfg.bindings[0].key, "m");
	assert_string_equal(cfg.bindings[0].action, "mute");
	assert_int_equal(cfg.bindings[0].line, 4);
	assert_string_equal(cfg.bindings[1].key, "C-x");
	assert_string_equal(cfg.bindings[1].action, "leave room");
	assert_string_equal(cfg.bindings[2].key, "?");
	assert_string_equal(cfg.bindings[3].key, "space");
	assert_int_equal(cfg.bindings[3].line, 8);
	config_file_free(&cfg);
}

static void test_long_lines(void **state)
{
	struct config_file cfg;
	size_t prefix = strlen("name = ");
	char *text = xmalloc(2 * (CONFIG_FILE_LINE_MAX + 2) + 64);
	size_t len;

	(void)state;
	/* Exactly CONFIG_FILE_LINE_MAX bytes: accepted. */
	memcpy(text, "name = ", prefix);
	memset(text + prefix, 'a', CONFIG_FILE_LINE_MAX - prefix);
	len = CONFIG_FILE_LINE_MAX;
	text[len++] = '\n';
	/* One byte more: rejected, and the next line is still read. */
	memcpy(text + len, "name = ", prefix);
	memset(text + len + prefix, 'b', CONFIG_FILE_LINE_MAX + 1 - prefix);
	len += CONFIG_FILE_LINE_MAX + 1;
	text[len++] = '\n';
	len += (size_t)sprintf(text + len, "bitrate = 12000\n");

	config_file_init(&cfg);
	assert_int_equal(config_file_parse_buffer(&cfg, "long.conf", text, len), -EINVAL);
	assert_non_null(cfg.name);
	assert_int_equal(strlen(cfg.name), CONFIG_FILE_LINE_MAX - prefix);
	assert_int_equal(cfg.name[0], 'a');
	assert_int_equal(cfg.bitrate, 12000);
	assert_int_equal(cfg.diag_count, 1);
	assert_string_equal(cfg.diags[0].message, "long.conf:2: line too long (more than 4096 "
						  "bytes)");
	config_file_free(&cfg);
	free(text);
}

static void test_nul_byte(void **state)
{
	struct config_file cfg;
	static const char text[] = "name = a\0b\nbitrate = 8000\n";

	(void)state;
	config_file_init(&cfg);
	assert_int_equal(config_file_parse_buffer(&cfg, "nul", text, sizeof(text) - 1), -EINVAL);
	assert_null(cfg.name);
	assert_int_equal(cfg.bitrate, 8000);
	assert_int_equal(cfg.diag_count, 1);
	assert_string_equal(cfg.diags[0].message, "nul:1: control character in line");
	config_file_free(&cfg);
}

static void test_files(void **state)
{
	char dir[] = "/tmp/salon-test-config-XXXXXX";
	struct config_file cfg;
	char *path, *missing, *home_path = NULL;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	path = xasprintf("%s/config", dir);
	missing = xasprintf("%s/nothing-here", dir);

	/* A missing file means the defaults, without a diagnostic. */
	config_file_init(&cfg);
	assert_int_equal(config_file_load(&cfg, missing), 0);
	assert_int_equal(cfg.diag_count, 0);
	assert_int_equal(cfg.bitrate, 24000);
	config_file_free(&cfg);

	/* A real file, with its name in the diagnostics. */
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("bitrate = 40000\nbitrat = 1\n", f);
	fclose(f);
	config_file_init(&cfg);
	assert_int_equal(config_file_load(&cfg, path), -EINVAL);
	assert_int_equal(cfg.bitrate, 40000);
	assert_int_equal(cfg.diag_count, 1);
	{
		char *want = xasprintf("%s:2: unknown key 'bitrat'", path);

		assert_string_equal(cfg.diags[0].message, want);
		free(want);
	}
	config_file_free(&cfg);

	/* A directory is not a config file. */
	config_file_init(&cfg);
	assert_int_equal(config_file_load(&cfg, dir), -EISDIR);
	assert_int_equal(cfg.diag_count, 1);
	assert_int_equal(cfg.diags[0].line, 0);
	config_file_free(&cfg);

	/* The default path follows XDG_CONFIG_HOME. */
	setenv("XDG_CONFIG_HOME", dir, 1);
	assert_int_equal(config_file_default_path(&home_path), 0);
	{
		char *want = xasprintf("%s/salon/config", dir);

		assert_string_equal(home_path, want);
		free(want);
	}
	free(home_path);
	unsetenv("XDG_CONFIG_HOME");

	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
	free(path);
	free(missing);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_every_setting),
		cmocka_unit_test(test_range_limits_accepted),
		cmocka_unit_test(test_comments_blanks_whitespace),
		cmocka_unit_test(test_quoted_values),
		cmocka_unit_test(test_unknown_key_and_bad_values),
		cmocka_unit_test(test_malformed_lines),
		cmocka_unit_test(test_bad_value_keeps_previous),
		cmocka_unit_test(test_errors_do_not_stop_reading),
		cmocka_unit_test(test_key_bindings),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
