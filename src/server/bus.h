/*
 * bus.h - the per-user event bus: publish an event to a user, and wait for one.
 *
 * Today the bus is in-process: events are appended to the store (so they survive
 * a restart until acknowledged) and waiters of the same process are woken. An
 * event for a whole room is stored once for the room (bus_publish_room), with a
 * place in each member's sequence. A bus
 * over Redis pub/sub would implement this same header (store the event, publish
 * the user id; subscribers wake their local waiters) without touching the API.
 *
 * Waiters are indexed by user (a hash table) and by deadline (a heap), so a
 * publish costs O(1) per recipient and a timer tick O(log n) per expired waiter,
 * whatever the number of waiting long-polls.
 *
 * Soft events: some events are state snapshots that the next one replaces (the
 * listener counts): they are not stored, but generated when a long-poll is
 * answered. They still take a place in the user's sequence (bus_soft_seq), so that
 * a client that orders events by seq accepts them. The bus keeps such places in
 * memory and makes sure that stored events always come after them: across a clean
 * restart (bus_free records them) and a crash (bus_new then skips
 * BUS_SOFT_SEQ_MAX numbers for every user, because the places handed out since the
 * last clean stop are unknown).
 *
 * Threading: salond's event-loop thread only. Errors as in util.h.
 */
#ifndef SALON_BUS_H
#define SALON_BUS_H

#include <stdbool.h>
#include <stdint.h>

#include "store.h"

/*
 * How far the places handed out for soft events may run ahead of the stored
 * sequence of a user before the bus records them in the store; also what a
 * start after a crash skips.
 */
#define BUS_SOFT_SEQ_MAX 1024
/* The store's record (store_state_get) of a clean stop: 1 after bus_free, 0 while a bus runs. */
#define BUS_CLEAN_STATE "bus_clean_stop"

struct bus;
struct bus_waiter;

/* Called once when a waiter is woken (event, deadline or shutdown); then it is gone. */
typedef void (*bus_wake_fn)(void *arg);

/*
 * A bus over the store (borrowed: it must outlive the bus). When the previous
 * process did not stop cleanly, every user's sequence skips BUS_SOFT_SEQ_MAX
 * numbers first. Returns 0 and the bus in *out (free it with bus_free), or a
 * store error.
 */
int bus_new(struct store *store, struct bus **out);
/*
 * Wakes the waiters still registered, records the places of soft events in the
 * store and marks the stop clean, then frees the bus. NULL is allowed.
 */
void bus_free(struct bus *bus);

/*
 * Appends the event body (a JSON object as text, without "seq") to the user's
 * stream, after any place handed out for a soft event, and wakes the user's
 * waiters. Call it inside the transaction that makes the change the event
 * reports. Returns 0 or a store error.
 */
int bus_publish(struct bus *bus, uint64_t user_id, const char *body);

/*
 * Publishes the event body to every member of the room (stage_only: to the host,
 * moderators and speakers), except the user except (0: nobody), as bus_publish
 * would to each, but stored once for the room (store_event_add_room): each
 * member's stream gets its next place, after any place handed out for a soft
 * event, and every recipient's waiters are woken. Call it inside the transaction
 * that makes the change. Returns 0 or a store error.
 */
int bus_publish_room(struct bus *bus, uint64_t room_id, bool stage_only, uint64_t except,
		     const char *body);

/*
 * The next place in the user's sequence for a soft event (one that is not
 * stored): greater than every stored event of the user and every place handed out
 * before; stored events published later get greater numbers. Call it outside
 * any transaction (it may write to the store). Returns 0 and *seq, or a store
 * error (-ENOENT for an unknown user).
 */
int bus_soft_seq(struct bus *bus, uint64_t user_id, uint64_t *seq);

/* Wakes the user's waiters without publishing anything (news for a soft event). */
void bus_wake(struct bus *bus, uint64_t user_id);

/*
 * Registers a waiter for user_id, woken by the next publish to that user (or
 * bus_wake) or at deadline_ms (util_now_ms clock), whichever comes first. The
 * returned handle is valid until fn runs or bus_cancel() is called.
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
