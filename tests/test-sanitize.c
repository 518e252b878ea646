/*
 * test-sanitize.c - nothing from the network reaches the terminal as a control.
 *
 * The checker below decodes UTF-8 on its own (it does not reuse sanitize.c), so a
 * bug in the module's decoder cannot hide itself from the test.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sanitize.h"

#define FFFD "\xef\xbf\xbd"

/* Encodes cp as UTF-8 into buf (4 bytes); returns the length. */
static size_t encode_utf8(uint32_t cp, char *buf)
{
	if (cp < 0x80) {
		buf[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		buf[0] = (char)(0xc0 | (cp >> 6));
		buf[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		buf[0] = (char)(0xe0 | (cp >> 12));
		buf[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		buf[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	buf[0] = (char)(0xf0 | (cp >> 18));
	buf[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	buf[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	buf[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* True for the code points that must never appear in sanitized output. */
static bool forbidden(uint32_t cp, bool allow_newline)
{
	if (cp == '\n')
		return !allow_newline;
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e) ||
	       (cp >= 0x2066 && cp <= 0x2069) || cp == 0x061c || cp == 0x200b ||
	       cp == 0x200c || cp == 0x200e || cp == 0x200f || cp == 0x2028 || cp == 0x2029 ||
	       cp == 0xfeff || (cp >= 0xe0000 && cp <= 0xe007f) || (cp >= 0xd800 && cp <= 0xdfff);
}

/*
 * Fails the test unless s (len bytes) is strictly valid UTF-8 (shortest forms, no
 * surrogates, nothing above U+10FFFF) free of forbidden code points, and pure
 * ASCII when ascii is set.
 */
static void assert_clean(const char *s, size_t len, bool ascii, bool allow_newline)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t i = 0;

	assert_int_equal(strlen(s), len);
	while (i < len) {
		uint32_t cp = 0, min = 0;
		size_t n = 1;

		if (p[i] < 0x80) {
			cp = p[i];
			n = 1;
			min = 0;
		} else if ((p[i] & 0xe0) == 0xc0) {
			cp = p[i] & 0x1f;
			n = 2;
			min = 0x80;
		} else if ((p[i] & 0xf0) == 0xe0) {
			cp = p[i] & 0x0f;
			n = 3;
			min = 0x800;
		} else if ((p[i] & 0xf8) == 0xf0) {
			cp = p[i] & 0x07;
			n = 4;
			min = 0x10000;
		} else {
			fail_msg("bad lead byte 0x%02x at %zu", p[i], i);
		}
		assert_true(i + n <= len);
		for (size_t k = 1; k < n; k++) {
			assert_int_equal(p[i + k] & 0xc0, 0x80);
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff)
			fail_msg("overlong or out-of-range U+%04X at %zu", (unsigned)cp, i);
		if (forbidden(cp, allow_newline))
			fail_msg("forbidden U+%04X at %zu", (unsigned)cp, i);
		if (ascii && cp >= 0x80)
			fail_msg("non-ASCII U+%04X at %zu in ASCII mode", (unsigned)cp, i);
		i += n;
	}
}

/* Sanitizes in (len bytes) in both modes and checks both outputs. */
static void check_both(const char *in, size_t len)
{
	char *out = sanitize_text(in, len, 0);

	assert_clean(out, strlen(out), false, false);
	free(out);
	out = sanitize_text(in, len, SANITIZE_ASCII);
	assert_clean(out, strlen(out), true, false);
	free(out);
	out = sanitize_text(in, len, SANITIZE_KEEP_NEWLINE);
	assert_clean(out, strlen(out), false, true);
	free(out);
}

/* Asserts that sanitizing in (len bytes) under flags gives exactly want. */
static void expect(const char *in, size_t len, unsigned flags, const char *want)
{
	char *out = sanitize_text(in, len, flags);

	if (strcmp(out, want) != 0) {
		fprintf(stderr, "input of %zu bytes, flags %u\n  got:  ", len, flags);
		for (const char *p = out; *p; p++)
			fprintf(stderr, "%02x ", (unsigned char)*p);
		fprintf(stderr, "\n  want: ");
		for (const char *p = want; *p; p++)
			fprintf(stderr, "%02x ", (unsigned char)*p);
		fprintf(stderr, "\n");
		fail();
	}
	free(out);
}

#define EXPECT(literal, flags, want) expect((literal), sizeof(literal) - 1, (flags), (want))

static void test_every_c0_and_del(void **state)
{
	(void)state;
	for (unsigned c = 0; c < 0x20; c++) {
		char in[3] = {'a', (char)c, 'b'};
		const char *want = FFFD;
		char buf[16];

		if (c == '\t' || c == '\n')
			want = " ";
		snprintf(buf, sizeof(buf), "a%sb", want);
		expect(in, 3, 0, buf);
		snprintf(buf, sizeof(buf), "a%sb", (c == '\t' || c == '\n') ? " " : "?");
		expect(in, 3, SANITIZE_ASCII, buf);
		check_both(in, 3);
	}
	EXPECT("a\x7f" "b", 0, "a" FFFD "b");
	EXPECT("a\x7f" "b", SANITIZE_ASCII, "a?b");
}

static void test_every_c1(void **state)
{
	(void)state;
	for (unsigned c = 0x80; c <= 0x9f; c++) {
		/* As a code point (C2 80 .. C2 9F) and as a raw byte (invalid UTF-8). */
		char coded[4] = {'a', (char)0xc2, (char)c, 'b'};
		char raw[3] = {'a', (char)c, 'b'};

		expect(coded, 4, 0, "a" FFFD "b");
		expect(coded, 4, SANITIZE_ASCII, "a?b");
		expect(raw, 3, 0, "a" FFFD "b");
		expect(raw, 3, SANITIZE_ASCII, "a?b");
		check_both(coded, 4);
		check_both(raw, 3);
	}
}

static void test_escape_sequences(void **state)
{
	(void)state;
	/* The ESC goes; the printable rest stays as inert text. */
	EXPECT("\x1b[31mred\x1b[0m", 0, FFFD "[31mred" FFFD "[0m");
	EXPECT("\x1b[31mred\x1b[0m", SANITIZE_ASCII, "?[31mred?[0m");
	/* OSC 52 writes to the clipboard; OSC 8 makes hidden hyperlinks. */
	EXPECT("\x1b]52;c;cm0gLXJmIH4=\x07", 0, FFFD "]52;c;cm0gLXJmIH4=" FFFD);
	EXPECT("\x1b]8;;http://evil/\x1b\\click\x1b]8;;\x1b\\", 0,
	       FFFD "]8;;http://evil/" FFFD "\\click" FFFD "]8;;" FFFD "\\");
	/* 8-bit CSI, as a raw byte and as a code point. */
	EXPECT("\x9b" "31m", 0, FFFD "31m");
	EXPECT("\xc2\x9b" "31m", 0, FFFD "31m");
	/* Title setting, bell, backspace over text, carriage return overwrite. */
	EXPECT("\x1b]0;pwned\x07", SANITIZE_ASCII, "?]0;pwned?");
	EXPECT("admin\b\b\b\b\bguest", SANITIZE_ASCII, "admin?????guest");
	EXPECT("safe\rEVIL", SANITIZE_ASCII, "safe?EVIL");
	/* Device status report and DCS. */
	EXPECT("\x1b[6n\x1bP+q\x1b\\", SANITIZE_ASCII, "?[6n?P+q?\\");
	check_both("\x1b]8;;http://evil/\x1b\\click\x1b]8;;\x1b\\", 32);
}

static void test_ill_formed_utf8(void **state)
{
	(void)state;
	/* Overlong ESC and CSI: C0 and C1 are never leads; E0 needs A0-BF next. */
	EXPECT("\xc0\x9b", 0, FFFD FFFD);
	EXPECT("\xc1\x9b", 0, FFFD FFFD);
	EXPECT("\xc0\x9b", SANITIZE_ASCII, "??");
	EXPECT("\xe0\x80\x9b", 0, FFFD FFFD FFFD);
	EXPECT("\xe0\x80\x9b", 0, FFFD FFFD FFFD);
	EXPECT("\xf0\x80\x80\x9b", 0, FFFD FFFD FFFD FFFD);
	EXPECT("\xc0\x80", 0, FFFD FFFD); /* overlong NUL */
	/* Surrogates U+D800 and U+DFFF, and a CESU-8 pair. */
	EXPECT("\xed\xa0\x80", 0, FFFD FFFD FFFD);
	EXPECT("\xed\xbf\xbf", 0, FFFD FFFD FFFD);
	EXPECT("\xed\xa0\xbd\xed\xb8\x80", 0, FFFD FFFD FFFD FFFD FFFD FFFD);
	/* Above U+10FFFF, and bytes that never appear. */
	EXPECT("\xf4\x90\x80\x80", 0, FFFD FFFD FFFD FFFD);
	EXPECT("\xf5\x80\x80\x80", 0, FFFD FFFD FFFD FFFD);
	EXPECT("\xff\xfe", 0, FFFD FFFD);
	/* Truncated sequences: one marker for the maximal subpart. */
	EXPECT("abc\xe2\x82", 0, "abc" FFFD);
	EXPECT("abc\xf0\x9f\x98", 0, "abc" FFFD);
	EXPECT("abc\xf0\x9f\x98", SANITIZE_ASCII, "abc?");
	EXPECT("\xe2\x82" "x", 0, FFFD "x");
	EXPECT("\xc3", 0, FFFD);
	/* A lead followed by a new lead: the second one is read on its own. */
	EXPECT("\xe2\xc3\xa9", 0, FFFD "\xc3\xa9");
	check_both("\xf0\x9f\x98", 3);
}

static void test_format_characters(void **state)
{
	static const uint32_t bad[] = {
		0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069,
		0x200b, 0x200c, 0x200d, 0x200e, 0x200f, 0x2028, 0x2029, 0xfeff, 0x061c,
		0x00ad, 0x2060, 0xe0041, 0xe007f,
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char in[8] = "a";
		size_t n = 1 + encode_utf8(bad[i], in + 1);

		in[n++] = 'b';
		expect(in, n, 0, "a" FFFD "b");
		expect(in, n, SANITIZE_ASCII, "a?b");
		check_both(in, n);
	}
	/* The classic file-name spoof: "exe.txt" shown with RLO. */
	EXPECT("invoice\xe2\x80\xaetxt.exe", 0, "invoice" FFFD "txt.exe");
}

static void test_every_code_point(void **state)
{
	(void)state;
	/* Each scalar value alone, and between two letters: the output is always clean. */
	for (uint32_t cp = 0; cp <= 0x10ffff; cp++) {
		char in[6], out[32];
		size_t n, used;

		if (cp >= 0xd800 && cp <= 0xdfff)
			continue;
		in[0] = 'x';
		n = 1 + encode_utf8(cp, in + 1);
		in[n++] = 'y';
		used = sanitize_text_into(out, sizeof(out), in, n, 0, 0);
		assert_clean(out, used, false, false);
		assert_true(used >= 3);
		used = sanitize_text_into(out, sizeof(out), in, n, SANITIZE_ASCII, 0);
		assert_clean(out, used, true, false);
		assert_int_equal(used, 3);
	}
}

static void test_every_byte_pair_and_random(void **state)
{
	uint32_t seed = 12345;
	char in[64], out[256];

	(void)state;
	for (unsigned a = 0; a < 256; a++) {
		for (unsigned b = 0; b < 256; b++) {
			size_t used;

			in[0] = (char)a;
			in[1] = (char)b;
			used = sanitize_text_into(out, sizeof(out), in, 2, 0, 0);
			assert_clean(out, used, false, false);
		}
	}
	/* Random bytes biased towards UTF-8 lead and continuation bytes. */
	for (int round = 0; round < 20000; round++) {
		size_t len = 1 + round % sizeof(in);
		size_t used;

		for (size_t i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			uint8_t r = (uint8_t)(seed >> 16);
			in[i] = (char)((seed >> 28) & 1 ? (0x80 | (r & 0x7f)) : r);
		}
		used = sanitize_text_into(out, sizeof(out), in, len, 0, 0);
		assert_clean(out, used, false, false);
		assert_true(used + 1 <= sanitize_bound(len));
		used = sanitize_text_into(out, sizeof(out), in, len, SANITIZE_ASCII, 7);
		assert_clean(out, used, true, false);
		assert_true(used <= 7);
		used = sanitize_text_into(out, sizeof(out), in, len, 0, 5);
		assert_clean(out, used, false, false);
		assert_true(sanitize_width(out, used) <= 5);
	}
}

static void test_ordinary_text_unchanged(void **state)
{
	static const char *const texts[] = {
		"Hello, world!",
		"caf\xc3\xa9 d\xc3\xa9j\xc3\xa0 vu, \xc3\x9cml\xc3\xa4ut, \xc3\xb1",
		"e\xcc\x81",                                      /* e + combining acute */
		"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",           /* CJK */
		"\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4",           /* Hangul */
		"\xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7",       /* Arabic letters */
		"\xf0\x9f\x98\x80\xf0\x9f\x8e\x89",               /* emoji */
		"\xe2\x9d\xa4\xef\xb8\x8f",                       /* heart + VS16 */
		/* man ZWJ woman ZWJ girl: a ZWJ between emoji is kept. */
		"\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7",
		"\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd",               /* thumbs up, skin tone */
		"~!@#$%^&*()_+{}|:\"<>?`-=[]\\;',./",
		"\xef\xbf\xbd",                                   /* U+FFFD itself */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		expect(texts[i], strlen(texts[i]), 0, texts[i]);
		check_both(texts[i], strlen(texts[i]));
	}
	/* A ZWJ next to a letter is replaced. */
	EXPECT("a\xe2\x80\x8d\xf0\x9f\x98\x80", 0, "a" FFFD "\xf0\x9f\x98\x80");
	EXPECT("\xf0\x9f\x98\x80\xe2\x80\x8d", 0, "\xf0\x9f\x98\x80" FFFD);
}

static void test_ascii_mode(void **state)
{
	(void)state;
	EXPECT("caf\xc3\xa9", SANITIZE_ASCII, "caf?");
	EXPECT("\xe6\x97\xa5\xe6\x9c\xac", SANITIZE_ASCII, "??");
	EXPECT("\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9", SANITIZE_ASCII, "???");
	EXPECT("plain ascii", SANITIZE_ASCII, "plain ascii");
}

static void test_newlines_and_nul(void **state)
{
	(void)state;
	EXPECT("one\ntwo", 0, "one two");
	EXPECT("one\ntwo", SANITIZE_KEEP_NEWLINE, "one\ntwo");
	EXPECT("one\r\ntwo", SANITIZE_KEEP_NEWLINE, "one\ntwo");
	EXPECT("one\r\ntwo", 0, "one two");
	EXPECT("one\rtwo\n", SANITIZE_KEEP_NEWLINE, "one" FFFD "two\n");
	EXPECT("a\tb", 0, "a b");
	EXPECT("a\0b", 0, "a" FFFD "b");
	EXPECT("", 0, "");
}

static void test_width_limit(void **state)
{
	char *out;

	(void)state;
	out = sanitize_text_width("hello world", 11, 0, 5);
	assert_string_equal(out, "hell\xe2\x80\xa6");
	free(out);
	out = sanitize_text_width("hello world", 11, SANITIZE_ASCII, 5);
	assert_string_equal(out, "he...");
	free(out);
	/* Text that fits exactly is left alone. */
	out = sanitize_text_width("hello", 5, SANITIZE_ASCII, 5);
	assert_string_equal(out, "hello");
	free(out);
	/* Wide characters count two columns and are never split. */
	out = sanitize_text_width("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", 9, 0, 4);
	assert_string_equal(out, "\xe6\x97\xa5\xe2\x80\xa6");
	assert_int_equal(sanitize_width(out, strlen(out)), 3);
	free(out);
	out = sanitize_text_width("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", 9, 0, 6);
	assert_string_equal(out, "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e");
	free(out);
	/* A combining mark stays with its letter. */
	out = sanitize_text_width("e\xcc\x81" "abc", 6, 0, 3);
	assert_string_equal(out, "e\xcc\x81" "a\xe2\x80\xa6");
	free(out);
	/* Cutting in the middle of a ZWJ sequence leaves no dangling joiner. */
	out = sanitize_text_width("\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9", 11, 0, 3);
	assert_string_equal(out, "\xf0\x9f\x91\xa8\xe2\x80\xa6");
	free(out);
	/* Tiny widths in ASCII mode: the ellipsis itself is cut. */
	out = sanitize_text_width("hello", 5, SANITIZE_ASCII, 2);
	assert_string_equal(out, "..");
	free(out);
	/* Markers count too: the limit applies to what is shown. */
	out = sanitize_text_width("\x1b\x1b\x1b\x1b", 4, SANITIZE_ASCII, 3);
	assert_string_equal(out, "...");
	free(out);
	out = sanitize_text_width("\x1b\x1b\x1b", 3, SANITIZE_ASCII, 3);
	assert_string_equal(out, "???");
	free(out);
}

static void test_into_buffer(void **state)
{
	char out[8];
	size_t used;

	(void)state;
	/* Cut on a code point boundary when the buffer is short. */
	used = sanitize_text_into(out, 5, "\xe6\x97\xa5\xe6\x9c\xac", 6, 0, 0);
	assert_int_equal(used, 3);
	assert_string_equal(out, "\xe6\x97\xa5");
	/* A marker that does not fit is not followed by later text. */
	used = sanitize_text_into(out, 4, "ab\x1b" "c", 4, 0, 0);
	assert_int_equal(used, 2);
	assert_string_equal(out, "ab");
	used = sanitize_text_into(out, 1, "abc", 3, 0, 0);
	assert_int_equal(used, 0);
	assert_string_equal(out, "");
	assert_int_equal(sanitize_text_into(out, 0, "abc", 3, 0, 0), 0);
	/* Width limit and a short buffer together: the cut is marked all the same. */
	used = sanitize_text_into(out, 6, "abcdefgh", 8, 0, 5);
	assert_string_equal(out, "ab\xe2\x80\xa6");
	assert_int_equal(used, 5);
	/* The bound is enough for the worst case: every byte a marker. */
	assert_int_equal(sanitize_bound(2), 13);
	used = sanitize_text_into(out, sizeof(out), "\xff\xff", 2, 0, 0);
	assert_int_equal(used, 6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_c0_and_del),
		cmocka_unit_test(test_every_c1),
		cmocka_unit_test(test_escape_sequences),
		cmocka_unit_test(test_ill_formed_utf8),
		cmocka_unit_test(test_format_characters),
		cmocka_unit_test(test_every_code_point),
		cmocka_unit_test(test_every_byte_pair_and_random),
		cmocka_unit_test(test_ordinary_text_unchanged),
		cmocka_unit_test(test_ascii_mode),
		cmocka_unit_test(test_newlines_and_nul),
		cmocka_unit_test(test_width_limit),
		cmocka_unit_test(test_into_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
