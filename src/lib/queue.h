/*
 * queue.h - a message queue between threads with an eventfd wake-up, so that a
 * thread sleeping in poll() learns that messages are waiting (as libre's mqueue).
 *
 * Any number of threads may push; one thread pops. Messages are opaque pointers
 * whose ownership passes to the queue on push and to the popper on pop. Pushing
 * never blocks on the consumer. Not for the real-time audio callback (it takes a
 * mutex and may allocate): the callback talks through ring.h instead.
 */
#ifndef SALON_QUEUE_H
#define SALON_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

struct queue;

/* Creates an empty queue. Aborts on out-of-memory; NULL if no eventfd (errno set). */
struct queue *queue_new(void);

/*
 * Frees the queue. Messages still in it are passed to free_message (when not NULL)
 * first. No other thread may use the queue any more.
 */
void queue_free(struct queue *queue, void (*free_message)(void *message));

/* Appends message (not NULL); the queue owns it until it is popped. Any thread. */
void queue_push(struct queue *queue, void *message);

/*
 * Removes and returns the oldest message, or NULL when the queue is empty. The
 * caller owns the message. The consumer thread only.
 */
void *queue_pop(struct queue *queue);

/*
 * The descriptor to poll for POLLIN: readable while messages are waiting. Pop until
 * queue_pop() returns NULL after each wake-up; the descriptor is drained by it.
 */
int queue_fd(const struct queue *queue);

/* Number of messages waiting (a snapshot). Any thread. */
size_t queue_length(struct queue *queue);

#endif
