/*
 * queue.c - a mutex-protected FIFO of pointers plus an eventfd counter.
 *
 * The eventfd is written when the queue goes from empty to non-empty and drained
 * when the consumer finds it empty, so a burst of pushes costs one wake-up.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "queue.h"
#include "util.h"

struct queue_node {
	struct queue_node *next;
	void *message;
};

struct queue {
	pthread_mutex_t lock;
	struct queue_node *head;
	struct queue_node *tail;
	size_t length;
	int fd;
};

struct queue *queue_new(void)
{
	struct queue *queue;
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

	if (fd < 0)
		return NULL;
	queue = xcalloc(1, sizeof(*queue));
	pthread_mutex_init(&queue->lock, NULL);
	queue->fd = fd;
	return queue;
}

void queue_free(struct queue *queue, void (*free_message)(void *message))
{
	struct queue_node *node, *next;

	if (queue == NULL)
		return;
	for (node = queue->head; node != NULL; node = next) {
		next = node->next;
		if (free_message != NULL)
			free_message(node->message);
		free(node);
	}
	close(queue->fd);
	pthread_mutex_destroy(&queue->lock);
	free(queue);
}

void queue_push(struct queue *queue, void *message)
{
	struct queue_node *node = xmalloc(sizeof(*node));
	bool was_empty;
	uint64_t one = 1;

	node->next = NULL;
	node->message = message;
	pthread_mutex_lock(&queue->lock);
	was_empty = queue->head == NULL;
	if (queue->tail != NULL)
		queue->tail->next = node;
	else
		queue->head = node;
	queue->tail = node;
	queue->length++;
	/* Under the lock, so that the consumer's drain cannot miss this wake-up. */
	if (was_empty && write(queue->fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		fatal("queue: eventfd write failed");
	pthread_mutex_unlock(&queue->lock);
}

void *queue_pop(struct queue *queue)
{
	struct queue_node *node;
	void *message = NULL;
	uint64_t count;

	pthread_mutex_lock(&queue->lock);
	node = queue->head;
	if (node != NULL) {
		queue->head = node->next;
		if (queue->head == NULL)
			queue->tail = NULL;
		queue->length--;
		message = node->message;
	}
	if (queue->head == NULL) {
		/* Empty now: clear the wake-up (EAGAIN when already clear). */
		if (read(queue->fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
			fatal("queue: eventfd read failed");
	}
	pthread_mutex_unlock(&queue->lock);
	free(node);
	return message;
}

int queue_fd(const struct queue *queue)
{
	return queue->fd;
}

size_t queue_length(struct queue *queue)
{
	size_t length;

	pthread_mutex_lock(&queue->lock);
	length = queue->length;
	pthread_mutex_unlock(&queue->lock);
	return length;
}
