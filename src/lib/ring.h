/*
 * ring.h - lock-free single-producer single-consumer ring of bytes.
 *
 * The audio callback and the media thread exchange PCM through these rings: one
 * thread only ever writes (the producer), one thread only ever reads (the consumer),
 * and neither ever waits for the other. ring_write() and ring_read() never block,
 * never allocate, never take a lock and make no system call, so either side may run
 * inside a real-time audio callback (PortAudio's, for instance). Which side runs on
 * which thread is the caller's choice, but it must not change while the ring is in
 * use: exactly one producer thread and exactly one consumer thread.
 *
 * The capacity is a power of two. Writes and reads move as many bytes as fit (or as
 * are available) and report how many moved; callers moving int16 samples pass byte
 * counts that are multiples of 2, and then every count returned is one too, because
 * the capacity is even.
 *
 * Errors as in util.h: ring_new() aborts on out-of-memory, and nothing else fails.
 */
#ifndef SALON_RING_H
#define SALON_RING_H

#include <stddef.h>

struct ring;

/*
 * Creates an empty ring that holds capacity bytes, rounded up to a power of two
 * (at least 2). The caller owns the ring and frees it with ring_free(). Not for the
 * real-time callback (it allocates); call it before starting either thread.
 */
struct ring *ring_new(size_t capacity);

/* Frees the ring (NULL is fine). Call only when neither thread uses it any more. */
void ring_free(struct ring *ring);

/* The capacity in bytes (a power of two). Any thread. */
size_t ring_capacity(const struct ring *ring);

/*
 * Copies up to len bytes from data into the ring and returns how many were copied
 * (0 when it is full). Producer thread only; real-time safe.
 */
size_t ring_write(struct ring *ring, const void *data, size_t len);

/*
 * Copies up to len bytes out of the ring into data and returns how many were copied
 * (0 when it is empty). Consumer thread only; real-time safe.
 */
size_t ring_read(struct ring *ring, void *data, size_t len);

/*
 * Drops up to len bytes from the reading end without copying them and returns how
 * many were dropped (to skip a backlog). Consumer thread only; real-time safe.
 */
size_t ring_skip(struct ring *ring, size_t len);

/*
 * Bytes that the consumer can read now. Exact on the consumer's thread; from the
 * producer's thread it may be an overestimate of what is left by the time it is used.
 */
size_t ring_readable(const struct ring *ring);

/*
 * Bytes that the producer can write now. Exact on the producer's thread; from the
 * consumer's thread it may be an underestimate.
 */
size_t ring_writable(const struct ring *ring);

#endif
