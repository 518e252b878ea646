/*
 * field.c - typed, bounded request fields and the user-text rules.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "field.h"

/* Decodes one UTF-8 sequence at s; returns its length or 0 when it is malformed. */
static size_t field_utf8_next(const unsigned char *s, uint32_t *cp)
{
	size_t len;
	uint32_t c = s[0], min;

	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if ((c & 0xe0) == 0xc0) {
		len = 2, c &= 0x1f, min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		len = 3, c &= 0x0f, min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		len = 4, c &= 0x07, min = 0x10000;
	} else {
		return 0;
	}
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0; /* also stops at the NUL */
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

static bool field_forbidden(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 ||
	       (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) ||
	       cp == 0x200e || cp == 0x200f || cp == 0xfeff;
}

int field_text_check(const char *text, size_t min_chars, size_t max_chars)
{
	const unsigned char *p = (const unsigned char *)text;
	size_t chars = 0;

	while (*p) {
		uint32_t cp;
		size_t len = field_utf8_next(p, &cp);

		if (len == 0 || field_forbidden(cp))
			return -EINVAL;
		p += len;
		if (++chars > max_chars)
			return -EINVAL;
	}
	return chars < min_chars ? -EINVAL : 0;
}

int field_string(json_t *obj, const char *key, size_t max_bytes, const char **out)
{
	json_t *value = json_object_get(obj, key);

	if (value == NULL || json_is_null(value))
		return -ENOENT;
	if (!json_is_string(value))
		return -EINVAL;
	/* Strings with an embedded NUL (\u0000) are refused outright. */
	if (json_string_length(value) > max_bytes ||
	    strlen(json_string_value(value)) != json_string_length(value))
		return -EINVAL;
	*out = json_string_value(value);
	return 0;
}

int field_text(json_t *obj, const char *key, size_t min_chars, size_t max_chars,
	       const char **out)
{
	const char *text;
	int ret = field_string(obj, key, max_chars * 4, &text);

	if (ret < 0)
		return ret;
	if (field_text_check(text, min_chars, max_chars) < 0)
		return -EINVAL;
	*out = text;
	return 0;
}

int field_bool(json_t *obj, const char *key, bool *out)
{
	json_t *value = json_object_get(obj, key);

	if (value == NULL || json_is_null(value))
		return -ENOENT;
	if (!json_is_boolean(value))
		return -EINVAL;
	*out = json_is_true(value);
	return 0;
}

int field_uint(json_t *obj, const char *key, uint64_t max, uint64_t *out)
{
	json_t *value = json_object_get(obj, key);
	json_int_t n;

	if (value == NULL || json_is_null(value))
		return -ENOENT;
	if (!json_is_integer(value))
		return -EINVAL;
	n = json_integer_value(value);
	if (n < 0 || (uint64_t)n > max)
		return -EINVAL;
	*out = (uint64_t)n;
	return 0;
}

int field_parse_id(const char *text, uint64_t *out)
{
	uint64_t n = 0;
	size_t len = strlen(text);

	if (len == 0 || len > 16 || text[0] == '0')
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (text[i] < '0' || text[i] > '9')
			return -EINVAL;
		n = n * 10 + (uint64_t)(text[i] - '0');
	}
	if (n >= (UINT64_C(1) << 53))
		return -EINVAL;
	*out = n;
	return 0;
}
