/*
 * fuzz-events.c - the client's reading of an event-stream page (GET /v1/events),
 * through the very function the stream uses: signaling_parse_events() (signaling.h).
 * Every event it hands over must have a seq above the one before, and each text
 * field a front end would show is passed through sanitize_text_width(), checking
 * that no escape or control character survives. A callback that asks to stop part
 * of the way (every third page) must leave the seq at the last event delivered.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <jansson.h>

#include "common.h"
#include "sanitize.h"
#include "signaling.h"

static const char *const shown_fields[] = {"name", "title", "topic", "text", "reason", "role"};

static void show(json_t *obj)
{
	for (size_t i = 0; i < sizeof(shown_fields) / sizeof(shown_fields[0]); i++) {
		json_t *value = json_object_get(obj, shown_fields[i]);
		char *text;

		if (!json_is_string(value))
			continue;
		text = sanitize_text_width(json_string_value(value), json_string_length(value), 0,
					   40);
		for (const unsigned char *p = (const unsigned char *)text; *p; p++)
			FUZZ_ASSERT(*p >= 0x20 && *p != 0x7f);
		free(text);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	return 0;
}

struct page {
	uint64_t last; /* seq of the last event handed over */
	unsigned count;
	unsigned stop_after; /* 0: never stop */
};

static int deliver(void *arg, json_t *event)
{
	struct page *page = arg;
	json_int_t n = json_integer_value(json_object_get(event, "seq"));

	FUZZ_ASSERT(json_is_object(event));
	FUZZ_ASSERT(json_is_string(json_object_get(event, "type")));
	FUZZ_ASSERT(n > 0 && (uint64_t)n > page->last);
	page->last = (uint64_t)n;
	show(event);
	if (json_is_object(json_object_get(event, "member")))
		show(json_object_get(event, "member"));
	if (json_is_object(json_object_get(event, "room")))
		show(json_object_get(event, "room"));
	page->count++;
	return page->stop_after != 0 && page->count == page->stop_after;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct page page = {0};
	uint64_t seq = 0, before;
	int ret;

	/* A starting seq from the input, so that "never twice" is exercised too. */
	if (size > 0)
		seq = data[0] % 4;
	before = seq;
	page.last = seq;
	page.stop_after = size % 3 == 0 ? 2 : 0;
	ret = signaling_parse_events((const char *)data, size, &seq, deliver, &page);
	if (ret >= 0) {
		FUZZ_ASSERT((unsigned)ret == page.count);
		FUZZ_ASSERT(seq == (page.count > 0 ? page.last : before));
	} else if (ret == -ECANCELED) {
		/* The event that said stop does not count as delivered. */
		FUZZ_ASSERT(page.stop_after != 0 && page.count == page.stop_after);
		FUZZ_ASSERT(seq < page.last || page.count == 0);
	} else {
		FUZZ_ASSERT(ret == -EBADMSG || ret == -EMSGSIZE);
		FUZZ_ASSERT(seq == before && page.count == 0);
	}
	return 0;
}
