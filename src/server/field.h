/*
 * field.h - reading typed, bounded fields out of a parsed JSON request body.
 *
 * Every getter returns 0 when the field is valid, -ENOENT when it is absent (or
 * null) and -EINVAL when it has the wrong type or breaks a limit; the API answers
 * 400 for both of the latter when the field is required. Unknown fields are never
 * looked at, so they are ignored. Pure functions; any thread.
 */
#ifndef SALON_FIELD_H
#define SALON_FIELD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/*
 * Checks user text: valid UTF-8 (jansson already guarantees that for parsed
 * strings, but this also checks text from elsewhere), between min_chars and
 * max_chars code points, and free of control characters (C0, DEL, C1), of the
 * Unicode line and paragraph separators and of bidirectional overrides, which
 * could disguise text on another member's terminal. Returns 0 or -EINVAL.
 */
int field_text_check(const char *text, size_t min_chars, size_t max_chars);

/* A string field checked with field_text_check; *out points into obj. */
int field_text(json_t *obj, const char *key, size_t min_chars, size_t max_chars,
	       const char **out);
/* A string field with no content checks (for base64url and enum values). */
int field_string(json_t *obj, const char *key, size_t max_bytes, const char **out);
/* A boolean field. */
int field_bool(json_t *obj, const char *key, bool *out);
/* A non-negative integer field no larger than max. */
int field_uint(json_t *obj, const char *key, uint64_t max, uint64_t *out);

/* Parses a decimal id from text (1 .. 2^53-1, no sign, no leading zeros). */
int field_parse_id(const char *text, uint64_t *out);

#endif
