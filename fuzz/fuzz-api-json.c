/*
 * fuzz-api-json.c - salond's request validation without HTTP.
 *
 * The handlers in api.c and rooms.c need a libmicrohttpd connection and a store,
 * so this target runs what they run on a request before acting: the body is parsed
 * with the same jansson flags as api_dispatch() (JSON_REJECT_DUPLICATES; an object is
 * required), then every field any handler reads is read with the same field.h getter
 * and limits (names, titles, topics, chat, visibility, role, booleans, the key
 * epoch and the "boxes" batch with base64url decoding, the login's fixed-size
 * base64url fields). Each answer is checked against field.h's promises: accepted
 * text is valid UTF-8, within its limits and free of the forbidden characters. The
 * first line of the input, when it has one, is also parsed as a path id
 * (field_parse_id), which must print back as the same decimal text.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <jansson.h>

#include "common.h"
#include "encoding.h"
#include "field.h"

/* The limits of store.h and api_internal.h, which need headers this target avoids. */
#define NAME_MAX_CHARS 32
#define TITLE_MAX_CHARS 100
#define TOPIC_MAX_CHARS 300
#define CHAT_MAX_CHARS 1000
#define BOX_MAX 512
#define MAX_BOXES 1000

/* Counts code points of valid UTF-8 and rejects what field_text_check forbids. */
static void check_text(const char *text, size_t min_chars, size_t max_chars)
{
	const unsigned char *p = (const unsigned char *)text;
	size_t chars = 0;

	while (*p) {
		uint32_t cp;
		size_t len;

		if (*p < 0x80) {
			cp = *p, len = 1;
		} else if ((*p & 0xe0) == 0xc0) {
			cp = *p & 0x1f, len = 2;
		} else if ((*p & 0xf0) == 0xe0) {
			cp = *p & 0x0f, len = 3;
		} else {
			FUZZ_ASSERT((*p & 0xf8) == 0xf0);
			cp = *p & 0x07, len = 4;
		}
		for (size_t i = 1; i < len; i++) {
			FUZZ_ASSERT((p[i] & 0xc0) == 0x80);
			cp = cp << 6 | (p[i] & 0x3f);
		}
		FUZZ_ASSERT(cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff));
		FUZZ_ASSERT(len == 1 || cp >= (len == 2 ? 0x80u : len == 3 ? 0x800u : 0x10000u));
		FUZZ_ASSERT(cp >= 0x20 && !(cp >= 0x7f && cp <= 0x9f));
		FUZZ_ASSERT(cp != 0x2028 && cp != 0x2029 && !(cp >= 0x202a && cp <= 0x202e));
		FUZZ_ASSERT(!(cp >= 0x2066 && cp <= 0x2069) && cp != 0x200e && cp != 0x200f);
		FUZZ_ASSERT(cp != 0xfeff);
		p += len;
		chars++;
	}
	FUZZ_ASSERT(chars >= min_chars && chars <= max_chars);
}

static void text_field(json_t *obj, const char *key, size_t min_chars, size_t max_chars)
{
	const char *text = NULL;
	int ret = field_text(obj, key, min_chars, max_chars, &text);

	FUZZ_ASSERT(ret == 0 || ret == -ENOENT || ret == -EINVAL);
	if (ret == 0) {
		FUZZ_ASSERT(json_is_string(json_object_get(obj, key)));
		check_text(text, min_chars, max_chars);
		FUZZ_ASSERT(field_text_check(text, min_chars, max_chars) == 0);
	}
}

static void string_field(json_t *obj, const char *key, size_t max_bytes)
{
	const char *text = NULL;
	int ret = field_string(obj, key, max_bytes, &text);

	FUZZ_ASSERT(ret == 0 || ret == -ENOENT || ret == -EINVAL);
	if (ret == 0)
		FUZZ_ASSERT(strlen(text) <= max_bytes);
}

/* api_field_bytes(): a base64url field of exactly len bytes. */
static void bytes_field(json_t *obj, const char *key, size_t len)
{
	const char *text;
	uint8_t out[64];

	if (field_string(obj, key, 4 * len, &text) == 0)
		(void)base64_decode(out, len, text);
}

static void check_body(json_t *obj)
{
	json_t *boxes, *entry;
	uint64_t n;
	bool b;
	size_t index;
	int ret;

	text_field(obj, "name", 1, NAME_MAX_CHARS);
	text_field(obj, "title", 1, TITLE_MAX_CHARS);
	text_field(obj, "topic", 0, TOPIC_MAX_CHARS);
	text_field(obj, "text", 1, CHAT_MAX_CHARS);
	string_field(obj, "visibility", 16);
	string_field(obj, "role", 16);
	bytes_field(obj, "public_key", 32);
	bytes_field(obj, "nonce", 32);
	bytes_field(obj, "signature", 64);
	ret = field_bool(obj, "bot", &b);
	FUZZ_ASSERT(ret == 0 || ret == -ENOENT || ret == -EINVAL);
	ret = field_bool(obj, "muted", &b);
	FUZZ_ASSERT(ret == 0 || ret == -ENOENT || ret == -EINVAL);
	ret = field_uint(obj, "epoch", UINT32_MAX, &n);
	FUZZ_ASSERT(ret == 0 || ret == -ENOENT || ret == -EINVAL);
	FUZZ_ASSERT(ret != 0 || n <= UINT32_MAX);

	/* rooms_keys(): the batch is checked whole before anything is acted on. */
	boxes = json_object_get(obj, "boxes");
	if (!json_is_array(boxes) || json_array_size(boxes) == 0 ||
	    json_array_size(boxes) > MAX_BOXES)
		return;
	json_array_foreach(boxes, index, entry) {
		uint8_t box[BOX_MAX];
		size_t box_len = 0;
		const char *text;
		uint64_t to;

		if (!json_is_object(entry) || field_uint(entry, "to", INT64_MAX, &to) < 0 ||
		    field_string(entry, "box", BOX_MAX * 2, &text) < 0)
			break;
		ret = base64_decode_any(box, sizeof(box), text, &box_len);
		FUZZ_ASSERT(ret == 0 || ret == -EINVAL || ret == -EMSGSIZE);
		FUZZ_ASSERT(ret != 0 || box_len <= sizeof(box));
		if (ret < 0 || box_len == 0)
			break;
	}
}

static void check_id(const uint8_t *data, size_t size)
{
	const uint8_t *end = memchr(data, '\n', size);
	char segment[24], back[24];
	uint64_t id;
	size_t len;

	if (end == NULL || (len = (size_t)(end - data)) >= sizeof(segment))
		return;
	memcpy(segment, data, len);
	segment[len] = '\0';
	if (field_parse_id(segment, &id) < 0)
		return;
	FUZZ_ASSERT(id >= 1 && id < (UINT64_C(1) << 53));
	snprintf(back, sizeof(back), "%" PRIu64, id);
	FUZZ_ASSERT(strcmp(back, segment) == 0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_error_t error;
	json_t *json;

	check_id(data, size);
	/* api_dispatch(): bodies are at most API_BODY_MAX (keys: larger, same parser). */
	json = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &error);
	if (json == NULL)
		return 0;
	if (json_is_object(json))
		check_body(json);
	json_decref(json);
	return 0;
}
