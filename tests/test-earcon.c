/*
 * test-earcon.c - the earcons' synthesis (length, loudness, no clicks, pitch) and
 * the full-screen UI's key bindings (tui-keys.h: names, both config orientations).
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "earcon.h"
#include "tui-keys.h"

static void test_earcon_lengths(void **state)
{
	(void)state;
	for (int type = 0; type < EARCON_COUNT; type++) {
		size_t length = earcon_length((enum earcon_type)type);

		assert_true(length > EARCON_SAMPLE_RATE / 20);              /* > 50 ms */
		assert_true(length <= EARCON_SAMPLE_RATE * EARCON_MAX_MS / 1000);
		assert_string_not_equal(earcon_name((enum earcon_type)type), "?");
	}
	assert_int_equal(earcon_length(EARCON_COUNT), 0);
	assert_string_equal(earcon_name(EARCON_COUNT), "?");
}

static void test_earcon_shape(void **state)
{
	(void)state;
	for (int type = 0; type < EARCON_COUNT; type++) {
		int16_t *samples;
		size_t n = earcon_synthesize((enum earcon_type)type, 100, &samples);
		int peak = 0;

		assert_int_equal(n, earcon_length((enum earcon_type)type));
		for (size_t i = 0; i < n; i++)
			if (abs(samples[i]) > peak)
				peak = abs(samples[i]);
		/* Loud enough to hear, well under full scale. */
		assert_true(peak > 8000);
		assert_true(peak <= (int)(0.4 * 32767) + 1);
		/* Soft ends: no click at the start or the end. */
		assert_true(abs(samples[0]) < 100);
		assert_true(abs(samples[n - 1]) < 1000);
		free(samples);
	}
}

static void test_earcon_volume(void **state)
{
	int16_t *quiet, *silent, *loud;
	size_t n;

	(void)state;
	n = earcon_synthesize(EARCON_JOIN, 0, &silent);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(silent[i], 0);
	earcon_synthesize(EARCON_JOIN, 25, &quiet);
	earcon_synthesize(EARCON_JOIN, 250, &loud); /* clamped to 100 */
	for (size_t i = 0; i < n; i++)
		assert_true(abs(quiet[i]) <= abs(loud[i]) / 4 + 1);
	free(silent);
	free(quiet);
	free(loud);
	assert_int_equal(earcon_synthesize(EARCON_COUNT, 50, &loud), 0);
	assert_null(loud);
}

/* The muted earcon is one 329.63 Hz note: count its zero crossings. */
static void test_earcon_pitch(void **state)
{
	int16_t *samples;
	size_t n = earcon_synthesize(EARCON_MUTED, 100, &samples), crossings = 0;
	double seconds = (double)n / EARCON_SAMPLE_RATE, hz;

	(void)state;
	for (size_t i = 1; i < n; i++)
		if ((samples[i - 1] < 0) != (samples[i] < 0))
			crossings++;
	hz = crossings / 2.0 / seconds;
	assert_true(hz > 320 && hz < 340);
	free(samples);
}

static void test_keys_names(void **state)
{
	const char *names[] = {"m", "+", "Enter", "Tab", "Esc", "Up", "PageDown", "F1", "F12",
			       "C-c", "\xc3\xa9"};
	char buf[32];
	int key;

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		assert_int_equal(tui_keys_parse(names[i], &key), 0);
		assert_string_equal(tui_keys_name(key, buf, sizeof(buf)), names[i]);
	}
	assert_int_equal(tui_keys_parse("^C", &key), 0);
	assert_int_equal(key, 3);
	assert_int_equal(tui_keys_parse("return", &key), 0);
	assert_int_equal(key, TUI_KEY_ENTER);
	assert_int_equal(tui_keys_parse("", &key), -EINVAL);
	assert_int_equal(tui_keys_parse("mm", &key), -EINVAL);
	assert_int_equal(tui_keys_parse("F13", &key), -EINVAL);
	assert_int_equal(tui_keys_parse(" ", &key), -EINVAL);
	assert_int_equal(tui_keys_parse("\x1b", &key), -EINVAL);
}

static void test_keys_config(void **state)
{
	struct config_file_binding bindings[] = {
		{.key = (char *)"u", .action = (char *)"mute", .line = 1},
		{.key = (char *)"hand", .action = (char *)"H", .line = 2},
		{.key = (char *)"m", .action = (char *)"none", .line = 3},
		{.key = (char *)"volume_up", .action = (char *)"F5", .line = 4},
		{.key = (char *)"fly", .action = (char *)"away", .line = 5},
	};
	struct tui_keymap map;
	char *problems = NULL, buf[64];
	int key;

	(void)state;
	tui_keys_init(&map);
	assert_int_equal(tui_keys_lookup(&map, 'm'), TUI_ACTION_MUTE);
	assert_int_equal(tui_keys_lookup(&map, '?'), TUI_ACTION_HELP);
	assert_int_equal(tui_keys_apply(&map, bindings, 5, &problems), 1);
	assert_int_equal(tui_keys_lookup(&map, 'u'), TUI_ACTION_MUTE);
	assert_int_equal(tui_keys_lookup(&map, 'H'), TUI_ACTION_HAND);
	assert_int_equal(tui_keys_lookup(&map, 'h'), TUI_ACTION_HAND);
	assert_int_equal(tui_keys_lookup(&map, 'm'), TUI_ACTION_NONE);
	tui_keys_parse("F5", &key);
	assert_int_equal(tui_keys_lookup(&map, key), TUI_ACTION_VOLUME_UP);
	assert_non_null(problems);
	assert_non_null(strstr(problems, "line 5"));
	assert_string_equal(tui_keys_describe(&map, TUI_ACTION_MUTE, buf, sizeof(buf)), "u");
	assert_string_equal(tui_keys_describe(&map, TUI_ACTION_HAND, buf, sizeof(buf)), "h, H");
	free(problems);
	tui_keys_free(&map);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_earcon_lengths),
		cmocka_unit_test(test_earcon_shape),
		cmocka_unit_test(test_earcon_volume),
		cmocka_unit_test(test_earcon_pitch),
		cmocka_unit_test(test_keys_names),
		cmocka_unit_test(test_keys_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
