/*
 * bus.c - in-process event bus: the store holds the events; a hash table by user
 * and a heap by deadline hold the waiters; the places of soft events live here.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "bus.h"
#include "i18n.h"
#include "idmap.h"
#include "log.h"
#include "util.h"

struct bus_user {
	uint64_t id;
	struct bus_waiter *waiters; /* doubly linked through prev/next */
	uint64_t soft_seq;          /* last place handed out for a soft event; 0: none */
};

struct bus_waiter {
	struct bus_user *user;
	struct bus_waiter *prev, *next;
	size_t heap_index;
	uint64_t deadline_ms;
	bus_wake_fn fn;
	void *arg;
};

struct bus {
	struct store *store;
	struct idmap users; /* user id -> struct bus_user */
	struct bus_waiter **heap; /* a binary min-heap on deadline_ms */
	size_t heap_count, heap_cap;
};

int bus_new(struct store *store, struct bus **out)
{
	struct bus *bus;
	int64_t clean = 1;
	int ret = store_state_get(store, BUS_CLEAN_STATE, &clean);

	/* A database that never recorded a stop never handed out soft places. */
	if (ret == -ENOENT) {
		clean = 1;
		ret = 0;
	}
	if (ret == 0 && clean == 0) {
		log_warn(_("salond did not stop cleanly: event sequences skip %d"),
			 BUS_SOFT_SEQ_MAX);
		ret = store_event_seq_skip(store, BUS_SOFT_SEQ_MAX);
	}
	if (ret == 0)
		ret = store_state_set(store, BUS_CLEAN_STATE, 0);
	if (ret < 0)
		return ret;
	bus = xcalloc(1, sizeof(*bus));
	bus->store = store;
	*out = bus;
	return 0;
}

/* Records every place handed out for a soft event, then the clean stop. */
static void bus_record_stop(struct bus *bus)
{
	struct bus_user *user;
	size_t pos = 0;
	uint64_t id;
	int ret = store_begin(bus->store);

	while (ret == 0 && (user = idmap_next(&bus->users, &pos, &id)) != NULL)
		if (user->soft_seq != 0)
			ret = store_user_seq_raise(bus->store, id, user->soft_seq);
	if (ret == 0)
		ret = store_state_set(bus->store, BUS_CLEAN_STATE, 1);
	if (ret == 0)
		ret = store_commit(bus->store);
	if (ret < 0) {
		store_rollback(bus->store);
		log_error(_("cannot record the event sequences at stop (%d)"), ret);
	}
}

void bus_free(struct bus *bus)
{
	struct bus_user *user;
	size_t pos = 0;
	uint64_t id;

	if (bus == NULL)
		return;
	bus_wake_all(bus);
	bus_record_stop(bus);
	while ((user = idmap_next(&bus->users, &pos, &id)) != NULL)
		free(user);
	idmap_clear(&bus->users);
	free(bus->heap);
	free(bus);
}

static struct bus_user *bus_user_get(struct bus *bus, uint64_t user_id)
{
	struct bus_user *user = idmap_get(&bus->users, user_id);

	if (user == NULL) {
		user = xcalloc(1, sizeof(*user));
		user->id = user_id;
		idmap_put(&bus->users, user_id, user);
	}
	return user;
}

/* Forgets a user record that holds nothing any more. */
static void bus_user_release(struct bus *bus, struct bus_user *user)
{
	if (user->waiters == NULL && user->soft_seq == 0) {
		idmap_remove(&bus->users, user->id);
		free(user);
	}
}

/* The heap. */

static void bus_heap_set(struct bus *bus, size_t index, struct bus_waiter *waiter)
{
	bus->heap[index] = waiter;
	waiter->heap_index = index;
}

static void bus_heap_up(struct bus *bus, size_t index)
{
	struct bus_waiter *waiter = bus->heap[index];

	while (index > 0) {
		size_t parent = (index - 1) / 2;

		if (bus->heap[parent]->deadline_ms <= waiter->deadline_ms)
			break;
		bus_heap_set(bus, index, bus->heap[parent]);
		index = parent;
	}
	bus_heap_set(bus, index, waiter);
}

static void bus_heap_down(struct bus *bus, size_t index)
{
	struct bus_waiter *waiter = bus->heap[index];

	for (;;) {
		size_t child = 2 * index + 1;

		if (child >= bus->heap_count)
			break;
		if (child + 1 < bus->heap_count &&
		    bus->heap[child + 1]->deadline_ms < bus->heap[child]->deadline_ms)
			child++;
		if (waiter->deadline_ms <= bus->heap[child]->deadline_ms)
			break;
		bus_heap_set(bus, index, bus->heap[child]);
		index = child;
	}
	bus_heap_set(bus, index, waiter);
}

static void bus_heap_remove(struct bus *bus, struct bus_waiter *waiter)
{
	size_t index = waiter->heap_index;
	struct bus_waiter *last = bus->heap[--bus->heap_count];

	if (last == waiter)
		return;
	bus_heap_set(bus, index, last);
	if (index > 0 && bus->heap[(index - 1) / 2]->deadline_ms > last->deadline_ms)
		bus_heap_up(bus, index);
	else
		bus_heap_down(bus, index);
}

/* Takes the waiter out of the heap and its user's list; the user may go too. */
static void bus_unlink(struct bus *bus, struct bus_waiter *waiter)
{
	struct bus_user *user = waiter->user;

	bus_heap_remove(bus, waiter);
	if (waiter->prev != NULL)
		waiter->prev->next = waiter->next;
	else
		user->waiters = waiter->next;
	if (waiter->next != NULL)
		waiter->next->prev = waiter->prev;
	bus_user_release(bus, user);
}

/*
 * Calls and frees a chain of unlinked waiters (linked through next). They are
 * called only once every structure is consistent again, since a wake function
 * may register a new waiter.
 */
static void bus_call(struct bus_waiter *woken)
{
	while (woken != NULL) {
		struct bus_waiter *waiter = woken;

		woken = waiter->next;
		waiter->fn(waiter->arg);
		free(waiter);
	}
}

void bus_wake(struct bus *bus, uint64_t user_id)
{
	struct bus_user *user = idmap_get(&bus->users, user_id);
	struct bus_waiter *woken = NULL;

	while (user != NULL && user->waiters != NULL) {
		struct bus_waiter *waiter = user->waiters;
		bool last = waiter->next == NULL;

		/* Unlinking the last waiter may free the user record. */
		bus_unlink(bus, waiter);
		waiter->next = woken;
		woken = waiter;
		if (last)
			break;
	}
	bus_call(woken);
}

int bus_publish(struct bus *bus, uint64_t user_id, const char *body)
{
	struct bus_user *user = idmap_get(&bus->users, user_id);
	uint64_t seq;
	int ret = store_event_add(bus->store, user_id, body, (int64_t)time(NULL),
				  user != NULL ? user->soft_seq : 0, &seq);

	/*
	 * Waking before the transaction commits is safe: a woken long-poll runs only
	 * after the current handler returns, and it re-reads the store then.
	 */
	if (ret == 0)
		bus_wake(bus, user_id);
	return ret;
}

int bus_publish_room(struct bus *bus, uint64_t room_id, bool stage_only, uint64_t except,
		     const char *body)
{
	struct store_seq_floor *floors = NULL;
	size_t floor_count = 0;
	uint64_t *ids = NULL;
	size_t count = 0;
	unsigned int added;
	int ret = store_member_user_ids(bus->store, room_id, stage_only, &ids, &count);

	if (ret < 0)
		return ret;
	/* The recipients' places handed out for soft events, which must stay below. */
	for (size_t i = 0; i < count; i++) {
		struct bus_user *user = idmap_get(&bus->users, ids[i]);

		if (user == NULL || user->soft_seq == 0 || ids[i] == except)
			continue;
		if (floors == NULL)
			floors = xreallocarray(NULL, count, sizeof(*floors));
		floors[floor_count].user_id = ids[i];
		floors[floor_count].seq = user->soft_seq;
		floor_count++;
	}
	ret = store_event_add_room(bus->store, room_id, stage_only, except, body,
				   (int64_t)time(NULL), floors, floor_count, &added);
	free(floors);
	/* As in bus_publish: the woken long-polls read the store after this handler. */
	for (size_t i = 0; ret == 0 && i < count; i++)
		if (ids[i] != except)
			bus_wake(bus, ids[i]);
	free(ids);
	return ret;
}

int bus_soft_seq(struct bus *bus, uint64_t user_id, uint64_t *seq)
{
	struct bus_user *user;
	uint64_t stored, next;
	int ret = store_user_last_seq(bus->store, user_id, &stored);

	if (ret < 0)
		return ret;
	user = bus_user_get(bus, user_id);
	next = (user->soft_seq > stored ? user->soft_seq : stored) + 1;
	/*
	 * Keep within BUS_SOFT_SEQ_MAX of the stored sequence, which is what a
	 * restart after a crash skips: record the place once in a while.
	 */
	if (next - stored >= BUS_SOFT_SEQ_MAX) {
		ret = store_user_seq_raise(bus->store, user_id, next);
		if (ret < 0) {
			bus_user_release(bus, user);
			return ret;
		}
	}
	user->soft_seq = next;
	*seq = next;
	return 0;
}

struct bus_waiter *bus_wait(struct bus *bus, uint64_t user_id, uint64_t deadline_ms,
			    bus_wake_fn fn, void *arg)
{
	struct bus_user *user = bus_user_get(bus, user_id);
	struct bus_waiter *waiter = xcalloc(1, sizeof(*waiter));

	waiter->user = user;
	waiter->deadline_ms = deadline_ms;
	waiter->fn = fn;
	waiter->arg = arg;
	waiter->next = user->waiters;
	if (user->waiters != NULL)
		user->waiters->prev = waiter;
	user->waiters = waiter;
	if (bus->heap_count == bus->heap_cap) {
		bus->heap_cap = bus->heap_cap ? bus->heap_cap * 2 : 64;
		bus->heap = xreallocarray(bus->heap, bus->heap_cap, sizeof(*bus->heap));
	}
	bus_heap_set(bus, bus->heap_count++, waiter);
	bus_heap_up(bus, waiter->heap_index);
	return waiter;
}

void bus_cancel(struct bus *bus, struct bus_waiter *waiter)
{
	bus_unlink(bus, waiter);
	free(waiter);
}

void bus_expire(struct bus *bus, uint64_t now_ms)
{
	struct bus_waiter *woken = NULL, **tail = &woken;

	/* Called in deadline order: the longest-waiting request is answered first. */
	while (bus->heap_count > 0 && bus->heap[0]->deadline_ms <= now_ms) {
		struct bus_waiter *waiter = bus->heap[0];

		bus_unlink(bus, waiter);
		waiter->next = NULL;
		*tail = waiter;
		tail = &waiter->next;
	}
	bus_call(woken);
}

uint64_t bus_next_deadline(const struct bus *bus)
{
	return bus->heap_count > 0 ? bus->heap[0]->deadline_ms : UINT64_MAX;
}

void bus_wake_all(struct bus *bus)
{
	bus_expire(bus, UINT64_MAX);
}

unsigned int bus_waiter_count(const struct bus *bus)
{
	return (unsigned int)bus->heap_count;
}
