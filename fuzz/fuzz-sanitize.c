/*
 * fuzz-sanitize.c - sanitize_text(), sanitize_text_width() and sanitize_text_into()
 * on arbitrary bytes, checking the promises of sanitize.h on every output:
 *   - valid UTF-8 (shortest forms, no surrogates, nothing above U+10FFFF);
 *   - no C0 control (LF only with SANITIZE_KEEP_NEWLINE), no DEL, no C1 control, no
 *     bidirectional or invisible format character of the list in sanitize.h (a
 *     ZERO WIDTH JOINER may stay, between emoji);
 *   - with SANITIZE_ASCII, printable ASCII only;
 *   - never wider than max_width columns, never longer than sanitize_bound() - 1
 *     bytes, and the caller's buffer is never overrun;
 *   - sanitizing sanitized text changes nothing.
 * The first input byte holds the flags, the second the width limit; the rest is text.
 */
#include "config.h"

#include <string.h>

#include "common.h"
#include "sanitize.h"

/* Decodes one well-formed UTF-8 sequence; returns its length, or 0 if ill-formed. */
static size_t utf8_next(const unsigned char *s, size_t len, uint32_t *cp)
{
	size_t n;
	uint32_t c = s[0], min;

	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if (c >= 0xc2 && c <= 0xdf) {
		n = 2, c &= 0x1f, min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3, c &= 0x0f, min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4, c &= 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n > len)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

static bool forbidden(uint32_t cp, unsigned flags)
{
	if (cp == '\n')
		return !(flags & SANITIZE_KEEP_NEWLINE);
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0xad || cp == 0x61c ||
	       cp == 0x180e || (cp >= 0x200b && cp <= 0x200f && cp != 0x200d) ||
	       (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2060 && cp <= 0x206f) ||
	       cp == 0xfeff || (cp >= 0xfff9 && cp <= 0xfffb) ||
	       (cp >= 0xe0000 && cp <= 0xe007f);
}

/* Checks one output string of len bytes (before its NUL). */
static void check_output(const char *out, size_t len, unsigned flags, size_t max_width)
{
	const unsigned char *p = (const unsigned char *)out;
	size_t i = 0;

	FUZZ_ASSERT(out[len] == '\0' && strlen(out) == len);
	while (i < len) {
		uint32_t cp = 0;
		size_t n = utf8_next(p + i, len - i, &cp);

		FUZZ_ASSERT(n > 0);
		FUZZ_ASSERT(!forbidden(cp, flags));
		FUZZ_ASSERT(!(flags & SANITIZE_ASCII) || cp < 0x80);
		i += n;
	}
	if (max_width > 0)
		FUZZ_ASSERT(sanitize_width(out, len) <= max_width);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned flags;
	size_t max_width, len, bound, into_len;
	const char *in;
	char *plain, *wide, *again, *buf;

	if (size < 2)
		return 0;
	flags = data[0] & (SANITIZE_ASCII | SANITIZE_KEEP_NEWLINE);
	max_width = data[1] % 80;
	in = (const char *)data + 2;
	len = size - 2;
	bound = sanitize_bound(len);

	plain = sanitize_text(in, len, flags);
	check_output(plain, strlen(plain), flags, 0);
	FUZZ_ASSERT(strlen(plain) < bound);
	again = sanitize_text(plain, strlen(plain), flags);
	FUZZ_ASSERT(strcmp(again, plain) == 0);
	free(again);

	wide = sanitize_text_width(in, len, flags, max_width);
	check_output(wide, strlen(wide), flags, max_width);
	FUZZ_ASSERT(strlen(wide) < bound);
	if (max_width == 0 || sanitize_width(plain, strlen(plain)) <= max_width)
		FUZZ_ASSERT(strcmp(wide, plain) == 0);

	/* A buffer of the promised bound never cuts. */
	buf = malloc(bound);
	into_len = sanitize_text_into(buf, bound, in, len, flags, max_width);
	FUZZ_ASSERT(into_len < bound);
	check_output(buf, into_len, flags, max_width);
	FUZZ_ASSERT(strcmp(buf, wide) == 0);
	free(buf);

	/* A small buffer (exact size, so ASan sees an overrun) cuts on a boundary. */
	for (size_t small = 1; small <= 8 && small < bound; small += 3) {
		buf = malloc(small);
		into_len = sanitize_text_into(buf, small, in, len, flags, max_width);
		FUZZ_ASSERT(into_len < small);
		check_output(buf, into_len, flags, max_width);
		free(buf);
	}
	free(wide);
	free(plain);
	return 0;
}
