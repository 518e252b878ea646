/*
 * bus.h - the per-user event bus: publish an event to a user, and wait for one.
 *
 * Today the bus is in-process: events are appended to the store (so they survive
 * a restart until acknowledged) and waiters of the same process are woken. A bus
 * over Redis pub/sub would implement this same header (store the event, publish
 * the user id; subscribers wake their local waiters) without touching the API.
 *
 * Threading: salond's event-loop thread only. Errors as in util.h.
 */
#ifndef SALON_BUS_H
#define SALON_BUS_H

#include <stdint.h>

#include "store.h"

struct bus;
struct bus_waiter;

/* Called once when a waiter is woken (event, deadline or shutdown); then it is gone. */
typedef void (*bus_wake_fn)(void *arg);

/* A bus over the store (borrowed: it must outlive the bus). */
struct bus *bus_new(struct store *store);
/* Frees the bus; waiters still registered are woken first. */
void bus_free(struct bus *bus);

/*
 * Appends the event body (a JSON object as text, without "seq") to the user's
 * stream and wakes the user's waiters. Call it inside the transaction that makes
 * the change the event reports. Returns 0 or a store error.
 */
int bus_publish(struct bus *bus, uint64_t user_id, const char *body);

/*
 * Registers a waiter for user_id, woken by the next publish to that user or at
 * deadline_ms (util_now_ms clock), whichever comes first. The returned handle is
 * valid until fn runs or bus_cancel() is called.
 */
struct bus_waiter *bus_wait(struct bus *bus, uint64_t user_id, uint64_t deadline_ms,
			    bus_wake_fn fn, void *arg);
/* Unregisters a waiter without calling its function. */
void bus_cancel(struct bus *bus, struct bus_waiter *waiter);
/* Wakes the waiters whose deadline has passed. */
void bus_expire(struct bus *bus, uint64_t now_ms);
/* The earliest deadline, or UINT64_MAX when nobody waits. */
uint64_t bus_next_deadline(const struct bus *bus);
/* Wakes every waiter (shutdown). */
void bus_wake_all(struct bus *bus);
/* How many waiters are registered. */
unsigned int bus_waiter_count(const struct bus *bus);

#endif
