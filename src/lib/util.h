/*
 * util.h - allocation and small helpers shared by every layer.
 *
 * Error convention for src/lib: allocation never fails visibly (the x* wrappers
 * abort with a message on out-of-memory, as tmux does), so callers never test for
 * NULL from them. Functions that can fail for any other reason return 0 on success
 * and a negative errno value on failure (-EINVAL for malformed input, -EBADMSG for
 * data that fails authentication, -ERANGE for exhausted counters, ...), and leave
 * their outputs unspecified on failure.
 */
#ifndef SALON_UTIL_H
#define SALON_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Allocate or die. Safe from any thread except the real-time audio callback. */
void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *ptr, size_t size);
/* realloc for arrays, checking count * size for overflow. */
void *xreallocarray(void *ptr, size_t count, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* printf into a new string. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Print "salon: MESSAGE" to stderr and exit with status 70 (internal error). */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Monotonic clock in nanoseconds and milliseconds. */
uint64_t util_now_ns(void);
uint64_t util_now_ms(void);

/* Little- and big-endian loads and stores on byte buffers of known length. */
static inline void put_u16be(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}
static inline void put_u32be(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}
static inline void put_u64be(uint8_t *p, uint64_t v)
{
	put_u32be(p, (uint32_t)(v >> 32));
	put_u32be(p + 4, (uint32_t)v);
}
static inline void put_u64le(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t get_u16be(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}
static inline uint32_t get_u32be(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint64_t get_u64be(const uint8_t *p)
{
	return ((uint64_t)get_u32be(p) << 32) | get_u32be(p + 4);
}
static inline uint64_t get_u64le(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

#endif
