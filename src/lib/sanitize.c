/*
 * sanitize.c - make text from other users safe to show in a terminal.
 *
 * The rules are described in sanitize.h. The decoder follows the well-formed byte
 * sequences of the Unicode standard (table 3-7) directly, so overlong forms,
 * surrogates and values above U+10FFFF never decode to a code point at all.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "sanitize.h"
#include "util.h"

/* What sanitize_decode() returns for an ill-formed sequence. */
#define SANITIZE_BAD UINT32_MAX

static const char sanitize_marker_utf8[] = "\xef\xbf\xbd"; /* U+FFFD */
static const char sanitize_ellipsis_utf8[] = "\xe2\x80\xa6"; /* U+2026 */

/*
 * Decodes one code point from the len (> 0) bytes at s into *cp. Returns the number
 * of bytes consumed. For an ill-formed sequence *cp is SANITIZE_BAD and the count is
 * the length of its maximal subpart (at least 1), so that the next call starts on
 * the first byte that could not belong to it.
 */
static size_t sanitize_decode(const uint8_t *s, size_t len, uint32_t *cp)
{
	uint8_t lead = s[0];
	uint8_t lo = 0x80, hi = 0xbf;
	size_t need;
	uint32_t value;

	if (lead < 0x80) {
		*cp = lead;
		return 1;
	}
	if (lead >= 0xc2 && lead <= 0xdf) {
		need = 1;
		value = lead & 0x1f;
	} else if (lead >= 0xe0 && lead <= 0xef) {
		need = 2;
		value = lead & 0x0f;
		/* Overlong forms below U+0800 and the surrogates U+D800-U+DFFF. */
		if (lead == 0xe0)
			lo = 0xa0;
		else if (lead == 0xed)
			hi = 0x9f;
	} else if (lead >= 0xf0 && lead <= 0xf4) {
		need = 3;
		value = lead & 0x07;
		/* Overlong forms below U+10000 and values above U+10FFFF. */
		if (lead == 0xf0)
			lo = 0x90;
		else if (lead == 0xf4)
			hi = 0x8f;
	} else {
		/* A continuation byte, C0, C1 or F5-FF: never a valid lead. */
		*cp = SANITIZE_BAD;
		return 1;
	}
	for (size_t i = 1; i <= need; i++) {
		if (i >= len || s[i] < lo || s[i] > hi) {
			*cp = SANITIZE_BAD;
			return i;
		}
		value = (value << 6) | (s[i] & 0x3f);
		lo = 0x80;
		hi = 0xbf;
	}
	*cp = value;
	return need + 1;
}

/* True for the code points that are shown as pictures and may be joined by a ZWJ. */
static bool sanitize_is_emoji(uint32_t cp)
{
	return (cp >= 0x1f000 && cp <= 0x1faff) || (cp >= 0x2600 && cp <= 0x27bf) ||
	       (cp >= 0x2b00 && cp <= 0x2bff) || cp == 0xfe0f;
}

/*
 * True for the invisible format characters listed in sanitize.h, which can reorder
 * or disguise the text around them. The ZWJ is handled by the caller.
 */
static bool sanitize_is_spoofing(uint32_t cp)
{
	return cp == 0x00ad || cp == 0x061c || cp == 0x180e ||
	       (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202e) ||
	       (cp >= 0x2060 && cp <= 0x206f) || cp == 0xfeff ||
	       (cp >= 0xfff9 && cp <= 0xfffb) || (cp >= 0xe0000 && cp <= 0xe007f);
}

unsigned sanitize_cp_width(uint32_t cp)
{
	/* Combining marks, variation selectors and the ZWJ draw on the cell before. */
	if ((cp >= 0x0300 && cp <= 0x036f) || (cp >= 0x1ab0 && cp <= 0x1aff) ||
	    (cp >= 0x1dc0 && cp <= 0x1dff) || (cp >= 0x20d0 && cp <= 0x20ff) ||
	    (cp >= 0xfe00 && cp <= 0xfe0f) || (cp >= 0xfe20 && cp <= 0xfe2f) ||
	    cp == 0x200d || (cp >= 0xe0100 && cp <= 0xe01ef))
		return 0;
	/* East Asian wide and fullwidth blocks, and the emoji blocks. */
	if ((cp >= 0x1100 && cp <= 0x115f) || (cp >= 0x2e80 && cp <= 0x303e) ||
	    (cp >= 0x3041 && cp <= 0x33ff) || (cp >= 0x3400 && cp <= 0x4dbf) ||
	    (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0xa000 && cp <= 0xa4cf) ||
	    (cp >= 0xac00 && cp <= 0xd7a3) || (cp >= 0xf900 && cp <= 0xfaff) ||
	    (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff60) ||
	    (cp >= 0xffe0 && cp <= 0xffe6) || (cp >= 0x1f300 && cp <= 0x1f64f) ||
	    (cp >= 0x1f680 && cp <= 0x1f6ff) || (cp >= 0x1f900 && cp <= 0x1f9ff) ||
	    (cp >= 0x1fa70 && cp <= 0x1faff) || (cp >= 0x20000 && cp <= 0x2fffd) ||
	    (cp >= 0x30000 && cp <= 0x3fffd))
		return 2;
	return 1;
}

size_t sanitize_width(const char *s, size_t len)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t width = 0;

	while (len > 0) {
		uint32_t cp;
		size_t n = sanitize_decode(p, len, &cp);

		width += cp == SANITIZE_BAD ? 1 : sanitize_cp_width(cp);
		p += n;
		len -= n;
	}
	return width;
}

size_t sanitize_bound(size_t len)
{
	/*
	 * Each input byte yields at most three output bytes (one byte replaced by
	 * U+FFFD); an ellipsis adds at most three more, and then the NUL.
	 */
	if (len > (SIZE_MAX - 7) / 3)
		fatal("text too long to sanitize (%zu bytes)", len);
	return len * 3 + 7;
}

/* An output buffer that refuses everything once one piece did not fit. */
struct sanitize_sink {
	char *buf;
	size_t cap; /* bytes available before the NUL */
	size_t len;
	bool full;
};

static void sanitize_put(struct sanitize_sink *sink, const void *bytes, size_t n)
{
	if (sink->full || n > sink->cap - sink->len) {
		/* Nothing after a gap may appear: the text is cut here for good. */
		sink->full = true;
		return;
	}
	memcpy(sink->buf + sink->len, bytes, n);
	sink->len += n;
}

static void sanitize_put_marker(struct sanitize_sink *sink, unsigned flags)
{
	if (flags & SANITIZE_ASCII)
		sanitize_put(sink, "?", 1);
	else
		sanitize_put(sink, sanitize_marker_utf8, 3);
}

/* Writes the sanitized form of the whole input into sink, without a width limit. */
static void sanitize_run(struct sanitize_sink *sink, const uint8_t *in, size_t len,
			 unsigned flags)
{
	uint32_t prev = SANITIZE_BAD;
	size_t pos = 0;

	while (pos < len && !sink->full) {
		uint32_t cp;
		size_t n = sanitize_decode(in + pos, len - pos, &cp);

		if (cp == SANITIZE_BAD) {
			sanitize_put_marker(sink, flags);
		} else if (cp == '\t') {
			sanitize_put(sink, " ", 1);
		} else if (cp == '\n') {
			sanitize_put(sink, (flags & SANITIZE_KEEP_NEWLINE) ? "\n" : " ", 1);
		} else if (cp == '\r' && pos + 1 < len && in[pos + 1] == '\n') {
			/* Part of a CR LF line ending: the LF stands for both. */
		} else if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) {
			sanitize_put_marker(sink, flags);
		} else if (cp == 0x200d) {
			uint32_t next = SANITIZE_BAD;

			if (pos + n < len)
				sanitize_decode(in + pos + n, len - pos - n, &next);
			if (sanitize_is_emoji(prev) && sanitize_is_emoji(next) &&
			    !(flags & SANITIZE_ASCII))
				sanitize_put(sink, in + pos, n);
			else
				sanitize_put_marker(sink, flags);
		} else if (sanitize_is_spoofing(cp)) {
			sanitize_put_marker(sink, flags);
		} else if (cp >= 0x80 && (flags & SANITIZE_ASCII)) {
			sanitize_put(sink, "?", 1);
		} else {
			sanitize_put(sink, in + pos, n);
		}
		prev = cp;
		pos += n;
	}
}

/*
 * Cuts the (valid UTF-8) text in sink so that it fits max_width columns with an
 * ellipsis at the end. Does nothing when the text already fits.
 */
static void sanitize_limit(struct sanitize_sink *sink, unsigned flags, size_t max_width)
{
	const uint8_t *p = (const uint8_t *)sink->buf;
	bool ascii = flags & SANITIZE_ASCII;
	size_t ellipsis_width = ascii ? 3 : 1;
	size_t budget, width = 0, cut = 0, pos = 0;
	const char *ellipsis;
	size_t ellipsis_len;

	/* Text cut short by the buffer does not fit either, whatever its width. */
	if (max_width == 0 || (!sink->full && sanitize_width(sink->buf, sink->len) <= max_width))
		return;
	if (ellipsis_width > max_width)
		ellipsis_width = max_width;
	budget = max_width - ellipsis_width;
	/* Keep every code point that still fits, zero-width marks included. */
	while (pos < sink->len) {
		uint32_t cp;
		size_t n = sanitize_decode(p + pos, sink->len - pos, &cp);
		unsigned w = cp == SANITIZE_BAD ? 1 : sanitize_cp_width(cp);

		if (width + w > budget)
			break;
		width += w;
		pos += n;
		cut = pos;
	}
	ellipsis = ascii ? "..." : sanitize_ellipsis_utf8;
	ellipsis_len = ascii ? ellipsis_width : 3;
	/* Back off whole code points until the ellipsis fits in the buffer. */
	while (cut > 0 && ellipsis_len > sink->cap - cut) {
		cut--;
		while (cut > 0 && (p[cut] & 0xc0) == 0x80)
			cut--;
	}
	/* A joiner with nothing after it to join would only dangle. */
	if (cut >= 3 && memcmp(sink->buf + cut - 3, "\xe2\x80\x8d", 3) == 0)
		cut -= 3;
	sink->len = cut;
	sink->full = false;
	sanitize_put(sink, ellipsis, ellipsis_len);
}

size_t sanitize_text_into(char *out, size_t out_size, const char *in, size_t len,
			  unsigned flags, size_t max_width)
{
	struct sanitize_sink sink = {.buf = out, .cap = out_size ? out_size - 1 : 0};

	if (out_size == 0)
		return 0;
	sanitize_run(&sink, (const uint8_t *)in, len, flags);
	sanitize_limit(&sink, flags, max_width);
	out[sink.len] = '\0';
	return sink.len;
}

char *sanitize_text_width(const char *in, size_t len, unsigned flags, size_t max_width)
{
	size_t size = sanitize_bound(len);
	char *out = xmalloc(size);
	size_t used = sanitize_text_into(out, size, in, len, flags, max_width);

	/* Give back the worst-case room that ordinary text does not use. */
	return xrealloc(out, used + 1);
}

char *sanitize_text(const char *in, size_t len, unsigned flags)
{
	return sanitize_text_width(in, len, flags, 0);
}
