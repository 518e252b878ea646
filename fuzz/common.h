/*
 * common.h - what salon's libFuzzer targets share.
 *
 * Each fuzz/fuzz-*.c defines LLVMFuzzerTestOneInput(), which libFuzzer calls once
 * per input on its main thread; the input buffer is libFuzzer's and is exactly size
 * bytes long, so AddressSanitizer catches any read past its end. A target returns 0
 * and aborts (through FUZZ_ASSERT) when a module breaks one of its promises, which
 * libFuzzer reports as a crash and keeps the input of.
 */
#ifndef SALON_FUZZ_COMMON_H
#define SALON_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"

/* Aborts with the failed condition when a module's output breaks its contract. */
#define FUZZ_ASSERT(cond)                                                              \
	do {                                                                           \
		if (!(cond)) {                                                         \
			fprintf(stderr, "%s:%d: invariant violated: %s\n", __FILE__,   \
				__LINE__, #cond);                                      \
			abort();                                                       \
		}                                                                      \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Keeps the modules' own log lines out of the fuzzer's output. */
static inline void fuzz_quiet(void)
{
	FILE *null = fopen("/dev/null", "w");

	log_set_level(LOG_LEVEL_ERROR);
	if (null != NULL)
		log_set_fd(fileno(null)); /* kept open for the life of the process */
}

/*
 * A byte reader over the input, for targets that split it into several values. It
 * never reads past the end: a short read gives zeros.
 */
struct fuzz_reader {
	const uint8_t *data;
	size_t size;
	size_t pos;
};

static inline uint8_t fuzz_u8(struct fuzz_reader *r)
{
	return r->pos < r->size ? r->data[r->pos++] : 0;
}

static inline uint16_t fuzz_u16(struct fuzz_reader *r)
{
	uint16_t hi = fuzz_u8(r);

	return (uint16_t)(hi << 8 | fuzz_u8(r));
}

/* Takes up to want bytes; returns how many were taken and points *out at them. */
static inline size_t fuzz_take(struct fuzz_reader *r, size_t want, const uint8_t **out)
{
	size_t left = r->size - r->pos;

	if (want > left)
		want = left;
	*out = r->data + r->pos;
	r->pos += want;
	return want;
}

#endif
