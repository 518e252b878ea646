/*
 * test-ring.c - the SPSC ring: wraparound, full and empty, and two threads.
 */
#include "config.h"

#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ring.h"

static void test_capacity_rounds_up(void **state)
{
	struct ring *ring;

	(void)state;
	ring = ring_new(100);
	assert_int_equal(ring_capacity(ring), 128);
	assert_int_equal(ring_readable(ring), 0);
	assert_int_equal(ring_writable(ring), 128);
	ring_free(ring);
	ring = ring_new(0);
	assert_int_equal(ring_capacity(ring), 2);
	ring_free(ring);
	ring = ring_new(64);
	assert_int_equal(ring_capacity(ring), 64);
	ring_free(ring);
	ring_free(NULL);
}

static void test_full_and_empty(void **state)
{
	struct ring *ring = ring_new(16);
	uint8_t in[20], out[20];

	(void)state;
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i + 1);
	/* Reading an empty ring moves nothing. */
	assert_int_equal(ring_read(ring, out, sizeof(out)), 0);
	assert_int_equal(ring_skip(ring, 5), 0);
	/* A write larger than the space is cut to the space. */
	assert_int_equal(ring_write(ring, in, sizeof(in)), 16);
	assert_int_equal(ring_readable(ring), 16);
	assert_int_equal(ring_writable(ring), 0);
	/* A full ring takes nothing more. */
	assert_int_equal(ring_write(ring, in, 1), 0);
	/* A read larger than the fill is cut to the fill. */
	memset(out, 0, sizeof(out));
	assert_int_equal(ring_read(ring, out, sizeof(out)), 16);
	assert_memory_equal(out, in, 16);
	assert_int_equal(ring_readable(ring), 0);
	assert_int_equal(ring_read(ring, out, 1), 0);
	ring_free(ring);
}

static void test_wraparound(void **state)
{
	struct ring *ring = ring_new(8);
	uint8_t in[8], out[8];
	uint8_t next_in = 0, next_out = 0;

	(void)state;
	/* Odd-sized steps make every write and read straddle the end at some point. */
	for (int round = 0; round < 100; round++) {
		size_t w = (size_t)(round % 5) + 1, r = (size_t)(round % 3) + 2, n;

		for (size_t i = 0; i < w; i++)
			in[i] = (uint8_t)(next_in + i);
		n = ring_write(ring, in, w);
		next_in = (uint8_t)(next_in + n);
		n = ring_read(ring, out, r);
		for (size_t i = 0; i < n; i++)
			assert_int_equal(out[i], (uint8_t)(next_out + i));
		next_out = (uint8_t)(next_out + n);
		assert_int_equal(ring_readable(ring), (uint8_t)(next_in - next_out));
	}
	/* Skip drops from the reading end and the next read continues after it. */
	for (size_t i = 0; i < 4; i++)
		in[i] = (uint8_t)(next_in + i);
	next_in = (uint8_t)(next_in + ring_write(ring, in, 4));
	assert_true(ring_readable(ring) >= 2);
	assert_int_equal(ring_skip(ring, 1), 1);
	next_out++;
	assert_int_equal(ring_read(ring, out, 1), 1);
	assert_int_equal(out[0], next_out);
	ring_free(ring);
}

/* Samples the stress test moves: about a second of work on a slow machine. */
#define STRESS_SAMPLES (8u * 1000u * 1000u)

static void *stress_producer(void *arg)
{
	struct ring *ring = arg;
	uint32_t next = 0;
	uint32_t chunk[37];

	/* Spins when full: the consumer always makes progress, so this ends. */
	while (next < STRESS_SAMPLES) {
		size_t room = ring_writable(ring) / sizeof(uint32_t);

		if (room == 0) {
			sched_yield();
			continue;
		}
		if (room > sizeof(chunk) / sizeof(chunk[0]))
			room = sizeof(chunk) / sizeof(chunk[0]);
		if (room > STRESS_SAMPLES - next)
			room = STRESS_SAMPLES - next;
		for (size_t i = 0; i < room; i++)
			chunk[i] = next + (uint32_t)i;
		/* Only this thread writes, so all the room it saw is still there. */
		if (ring_write(ring, chunk, room * sizeof(uint32_t)) != room * sizeof(uint32_t))
			return (void *)1;
		next += (uint32_t)room;
	}
	return NULL;
}

static void test_two_threads(void **state)
{
	struct ring *ring = ring_new(1024);
	pthread_t producer;
	uint32_t expect = 0, bad = 0;
	uint32_t chunk[53];
	uint8_t *bytes = (uint8_t *)chunk;
	size_t partial = 0;
	void *result;

	(void)state;
	assert_int_equal(pthread_create(&producer, NULL, stress_producer, ring), 0);
	while (expect < STRESS_SAMPLES) {
		/* Reads of odd byte counts split values across reads on purpose. */
		size_t got = ring_read(ring, bytes + partial, sizeof(chunk) - partial - 1);
		size_t whole;

		if (got == 0)
			sched_yield();
		partial += got;
		whole = partial / sizeof(uint32_t);
		for (size_t i = 0; i < whole; i++)
			if (chunk[i] != expect++)
				bad++;
		memmove(bytes, bytes + whole * sizeof(uint32_t), partial % sizeof(uint32_t));
		partial %= sizeof(uint32_t);
	}
	assert_int_equal(pthread_join(producer, &result), 0);
	assert_null(result);
	assert_int_equal(bad, 0);
	assert_int_equal(partial, 0);
	assert_int_equal(ring_readable(ring), 0);
	ring_free(ring);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_capacity_rounds_up),
		cmocka_unit_test(test_full_and_empty),
		cmocka_unit_test(test_wraparound),
		cmocka_unit_test(test_two_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
