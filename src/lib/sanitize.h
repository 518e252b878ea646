/*
 * sanitize.h - terminal hygiene for text that came from other users.
 *
 * Names, room titles, topics and chat arrive from the network. Nothing of it may
 * reach the terminal as a control character, an escape sequence, or an invisible
 * character that changes how the text around it reads. Every front end passes such
 * text through sanitize_text() (or a variant) before showing it.
 *
 * The rules, applied to each code point of the input read as UTF-8:
 *   - An ill-formed sequence (a stray continuation byte, an overlong form, a
 *     surrogate, a value above U+10FFFF, a sequence cut short by the end of the
 *     input) becomes one marker per maximal ill-formed subpart, as the Unicode
 *     standard recommends. A raw byte 0x9B (8-bit CSI) is such a sequence.
 *   - TAB becomes a space. LF is kept with SANITIZE_KEEP_NEWLINE and otherwise
 *     becomes a space, so that two lines never run together into one word. A CR
 *     directly before an LF is dropped (it belongs to the line ending).
 *   - Every other C0 control (U+0000-U+001F, including ESC, BEL, BS and CR), DEL
 *     (U+007F) and every C1 control (U+0080-U+009F, including CSI U+009B) becomes
 *     a marker.
 *   - Invisible format characters that can reorder or disguise text become a
 *     marker: the bidirectional embeddings, overrides and isolates (U+202A-U+202E,
 *     U+2066-U+2069), the Arabic letter mark U+061C, zero-width and directional
 *     marks (U+200B-U+200F), the line and paragraph separators (U+2028, U+2029),
 *     the byte order mark U+FEFF, the soft hyphen U+00AD, U+180E, the invisible
 *     operators and deprecated format controls (U+2060-U+2065, U+206A-U+206F),
 *     the interlinear annotation controls (U+FFF9-U+FFFB) and the tag characters
 *     (U+E0000-U+E007F, which can smuggle invisible text). One exception: a
 *     ZERO WIDTH JOINER (U+200D) is kept between two emoji, where it only joins
 *     the pictures into one (a family, a flag); anywhere else it is replaced.
 *
 * The marker is U+FFFD REPLACEMENT CHARACTER, or '?' with SANITIZE_ASCII. A
 * neutralised character is always replaced, never deleted, so sanitizing can never
 * join the text on either side into something new, and the reader sees that
 * something was there.
 *
 * Escape sequences: only the ESC (or CSI, or other control) that introduces them is
 * replaced. The printable rest stays as plain text, so "\x1b[31m" shows as
 * "\uFFFD[31m" (or "?[31m"). That text is harmless because no terminal interprets
 * it without the ESC, and showing it tells the reader that someone tried.
 *
 * With SANITIZE_ASCII (for terminals in a non-UTF-8 locale) every code point
 * outside ASCII becomes '?', so the output is pure printable ASCII.
 *
 * Output is always valid UTF-8 without any of the characters above. Everything else
 * (accents, CJK, emoji, right-to-left letters themselves) passes through unchanged.
 *
 * Errors as in util.h: allocation aborts on out-of-memory. These functions keep no
 * state and may be called from any thread except the real-time audio callback.
 */
#ifndef SALON_SANITIZE_H
#define SALON_SANITIZE_H

#include <stddef.h>
#include <stdint.h>

/* Replace every non-ASCII code point by '?' and use '?' and "..." as markers. */
#define SANITIZE_ASCII (1u << 0)
/* Keep LF as a line break instead of turning it into a space. */
#define SANITIZE_KEEP_NEWLINE (1u << 1)

/*
 * Returns the size of a buffer (including the NUL) that always holds the sanitized
 * form of len input bytes, with or without a width limit. Aborts through fatal() if
 * that size would overflow size_t.
 */
size_t sanitize_bound(size_t len);

/*
 * Sanitizes the len bytes at in (which need not be NUL-terminated and may contain
 * NUL bytes, which are neutralised like any C0 control) under flags. Returns a new
 * NUL-terminated string that the caller owns and frees with free().
 */
char *sanitize_text(const char *in, size_t len, unsigned flags);

/*
 * As sanitize_text(), and then limits the result to max_width terminal columns
 * (see sanitize_width()). Text wider than that is cut on a code point boundary and
 * ends with an ellipsis ("\u2026", or "..." with SANITIZE_ASCII) so that the result,
 * ellipsis included, is at most max_width columns wide. A max_width of 0 means no
 * limit. Returns a new string that the caller owns and frees with free().
 */
char *sanitize_text_width(const char *in, size_t len, unsigned flags, size_t max_width);

/*
 * Sanitizes into the caller's buffer out of out_size bytes, with the same rules and
 * max_width as sanitize_text_width(). The output is always NUL-terminated when
 * out_size > 0. If it does not fit, it is cut on a code point boundary: silently
 * when max_width is 0, and with the ellipsis otherwise. A buffer of
 * sanitize_bound(len) bytes never cuts. Returns the number of bytes written before
 * the NUL. out and in must not overlap.
 */
size_t sanitize_text_into(char *out, size_t out_size, const char *in, size_t len,
			  unsigned flags, size_t max_width);

/*
 * Returns the number of terminal columns code point cp is expected to take: 0 for
 * combining marks, variation selectors and ZERO WIDTH JOINER, 2 for East Asian wide
 * and fullwidth characters and most emoji, 1 otherwise. This is an approximation of
 * wcwidth() that does not depend on the locale; it is meant for sanitized text.
 */
unsigned sanitize_cp_width(uint32_t cp);

/*
 * Returns the width in terminal columns of the len bytes of sanitized text at s, the
 * sum of sanitize_cp_width() over its code points (an ill-formed byte counts 1).
 */
size_t sanitize_width(const char *s, size_t len);

#endif
