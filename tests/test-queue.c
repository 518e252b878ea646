/*
 * test-queue.c - the inter-thread queue: order, wake-up descriptor, and several
 * producers against one consumer that sleeps in poll().
 */
#include "config.h"

#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "queue.h"

#define PRODUCERS 4
#define PER_PRODUCER 20000

static bool queue_readable(struct queue *queue, int timeout_ms)
{
	struct pollfd pfd = {.fd = queue_fd(queue), .events = POLLIN};

	return poll(&pfd, 1, timeout_ms) == 1 && (pfd.revents & POLLIN);
}

static void test_order_and_wakeup(void **state)
{
	struct queue *queue = queue_new();
	int values[3] = {1, 2, 3};

	(void)state;
	assert_non_null(queue);
	assert_false(queue_readable(queue, 0));
	assert_null(queue_pop(queue));
	for (int i = 0; i < 3; i++)
		queue_push(queue, &values[i]);
	assert_true(queue_readable(queue, 0));
	assert_int_equal(queue_length(queue), 3);
	assert_ptr_equal(queue_pop(queue), &values[0]);
	/* Still readable while messages remain. */
	assert_true(queue_readable(queue, 0));
	assert_ptr_equal(queue_pop(queue), &values[1]);
	assert_ptr_equal(queue_pop(queue), &values[2]);
	assert_false(queue_readable(queue, 0));
	assert_null(queue_pop(queue));
	queue_push(queue, &values[0]);
	assert_true(queue_readable(queue, 0));
	queue_free(queue, NULL);
}

static int freed;
static void count_free(void *message)
{
	freed++;
	free(message);
}

static void test_free_remaining(void **state)
{
	struct queue *queue = queue_new();

	(void)state;
	for (int i = 0; i < 5; i++)
		queue_push(queue, malloc(8));
	freed = 0;
	queue_free(queue, count_free);
	assert_int_equal(freed, 5);
}

struct producer {
	struct queue *queue;
	uintptr_t id;
};

static void *producer_main(void *arg)
{
	struct producer *p = arg;

	/* Messages encode (producer, sequence) so the consumer can check order. */
	for (uintptr_t i = 1; i <= PER_PRODUCER; i++)
		queue_push(p->queue, (void *)((p->id << 24) | i));
	return NULL;
}

static void test_many_producers(void **state)
{
	struct queue *queue = queue_new();
	struct producer producers[PRODUCERS];
	pthread_t threads[PRODUCERS];
	uintptr_t last[PRODUCERS] = {0};
	size_t received = 0;

	(void)state;
	for (int i = 0; i < PRODUCERS; i++) {
		producers[i] = (struct producer){queue, (uintptr_t)i};
		assert_int_equal(pthread_create(&threads[i], NULL, producer_main, &producers[i]),
				 0);
	}
	while (received < PRODUCERS * PER_PRODUCER) {
		void *message;

		/* A generous bound: a lost wake-up would hang here and fail. */
		assert_true(queue_readable(queue, 10000));
		while ((message = queue_pop(queue)) != NULL) {
			uintptr_t value = (uintptr_t)message;
			uintptr_t id = value >> 24, seq = value & 0xffffff;

			assert_true(id < PRODUCERS);
			assert_int_equal(seq, last[id] + 1);
			last[id] = seq;
			received++;
		}
	}
	for (int i = 0; i < PRODUCERS; i++)
		pthread_join(threads[i], NULL);
	assert_false(queue_readable(queue, 0));
	queue_free(queue, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_and_wakeup),
		cmocka_unit_test(test_free_remaining),
		cmocka_unit_test(test_many_producers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
