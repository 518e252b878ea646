/*
 * ring.c - lock-free single-producer single-consumer ring of bytes.
 *
 * Two free-running counters: head (bytes ever written, stored only by the producer)
 * and tail (bytes ever read, stored only by the consumer). head - tail is the fill
 * level even after the counters wrap, since unsigned arithmetic is modular and the
 * capacity divides SIZE_MAX + 1. The producer publishes data with a release store of
 * head after copying, and the consumer acquires head before copying out; symmetrically
 * for tail, so that the producer never overwrites bytes still being read.
 */
#include "config.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ring.h"
#include "util.h"

/*
 * Keeps each thread's counter on its own cache line, so they do not bounce between
 * cores. Padding rather than alignas, because malloc does not promise 64-byte
 * alignment and an over-aligned struct from malloc would be undefined behaviour.
 */
#define RING_CACHE_LINE 64

struct ring {
	_Atomic size_t head;
	char pad_head[RING_CACHE_LINE - sizeof(size_t)];
	_Atomic size_t tail;
	char pad_tail[RING_CACHE_LINE - sizeof(size_t)];
	size_t mask;
	uint8_t *buf;
};

struct ring *ring_new(size_t capacity)
{
	struct ring *ring;
	size_t size = 2;

	while (size < capacity) {
		if (size > SIZE_MAX / 4)
			fatal("ring capacity too large (%zu bytes)", capacity);
		size <<= 1;
	}
	ring = xcalloc(1, sizeof(*ring));
	ring->mask = size - 1;
	ring->buf = xcalloc(size, 1);
	atomic_init(&ring->head, 0);
	atomic_init(&ring->tail, 0);
	return ring;
}

void ring_free(struct ring *ring)
{
	if (ring == NULL)
		return;
	free(ring->buf);
	free(ring);
}

size_t ring_capacity(const struct ring *ring)
{
	return ring->mask + 1;
}

size_t ring_readable(const struct ring *ring)
{
	size_t head = atomic_load_explicit(&ring->head, memory_order_acquire);
	size_t tail = atomic_load_explicit(&ring->tail, memory_order_acquire);

	return head - tail;
}

size_t ring_writable(const struct ring *ring)
{
	return ring_capacity(ring) - ring_readable(ring);
}

size_t ring_write(struct ring *ring, const void *data, size_t len)
{
	/* Our own counter needs no ordering; the other side's needs acquire. */
	size_t head = atomic_load_explicit(&ring->head, memory_order_relaxed);
	size_t tail = atomic_load_explicit(&ring->tail, memory_order_acquire);
	size_t space = ring_capacity(ring) - (head - tail);
	size_t start = head & ring->mask;
	size_t first;

	if (len > space)
		len = space;
	if (len == 0)
		return 0;
	first = ring_capacity(ring) - start;
	if (first > len)
		first = len;
	memcpy(ring->buf + start, data, first);
	memcpy(ring->buf, (const uint8_t *)data + first, len - first);
	atomic_store_explicit(&ring->head, head + len, memory_order_release);
	return len;
}

/* Copies (when data is not NULL) and consumes up to len bytes. */
static size_t ring_consume(struct ring *ring, void *data, size_t len)
{
	size_t tail = atomic_load_explicit(&ring->tail, memory_order_relaxed);
	size_t head = atomic_load_explicit(&ring->head, memory_order_acquire);
	size_t avail = head - tail;
	size_t start = tail & ring->mask;
	size_t first;

	if (len > avail)
		len = avail;
	if (len == 0)
		return 0;
	if (data != NULL) {
		first = ring_capacity(ring) - start;
		if (first > len)
			first = len;
		memcpy(data, ring->buf + start, first);
		memcpy((uint8_t *)data + first, ring->buf, len - first);
	}
	atomic_store_explicit(&ring->tail, tail + len, memory_order_release);
	return len;
}

size_t ring_read(struct ring *ring, void *data, size_t len)
{
	if (data == NULL)
		return 0;
	return ring_consume(ring, data, len);
}

size_t ring_skip(struct ring *ring, size_t len)
{
	return ring_consume(ring, NULL, len);
}
