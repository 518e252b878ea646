/*
 * bus.c - in-process event bus: the store holds the events, a list holds the
 * waiters. A few thousand long-polls at most per process, so a list is enough.
 */
#include "config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "bus.h"
#include "util.h"

struct bus_waiter {
	struct bus_waiter *next;
	uint64_t user_id;
	uint64_t deadline_ms;
	bus_wake_fn fn;
	void *arg;
};

struct bus {
	struct store *store;
	struct bus_waiter *waiters;
	unsigned int count;
};

struct bus *bus_new(struct store *store)
{
	struct bus *bus = xcalloc(1, sizeof(*bus));

	bus->store = store;
	return bus;
}

void bus_free(struct bus *bus)
{
	if (bus == NULL)
		return;
	bus_wake_all(bus);
	free(bus);
}

/*
 * Unlinks every waiter for which match() holds and calls them after the list is
 * consistent again, since a wake function may register a new waiter.
 */
static void bus_wake_matching(struct bus *bus, bool (*match)(const struct bus_waiter *w,
							       uint64_t value), uint64_t value)
{
	struct bus_waiter **link = &bus->waiters, *woken = NULL;

	while (*link != NULL) {
		struct bus_waiter *waiter = *link;

		if (match(waiter, value)) {
			*link = waiter->next;
			waiter->next = woken;
			woken = waiter;
			bus->count--;
		} else {
			link = &waiter->next;
		}
	}
	while (woken != NULL) {
		struct bus_waiter *waiter = woken;

		woken = waiter->next;
		waiter->fn(waiter->arg);
		free(waiter);
	}
}

static bool bus_match_user(const struct bus_waiter *waiter, uint64_t user_id)
{
	return waiter->user_id == user_id;
}

static bool bus_match_expired(const struct bus_waiter *waiter, uint64_t now_ms)
{
	return waiter->deadline_ms <= now_ms;
}

static bool bus_match_all(const struct bus_waiter *waiter, uint64_t unused)
{
	(void)waiter;
	(void)unused;
	return true;
}

int bus_publish(struct bus *bus, uint64_t user_id, const char *body)
{
	uint64_t seq;
	int ret = store_event_add(bus->store, user_id, body, (int64_t)time(NULL), &seq);

	/*
	 * Waking before the transaction commits is safe: a woken long-poll runs only
	 * after the current handler returns, and it re-reads the store then.
	 */
	if (ret == 0)
		bus_wake_matching(bus, bus_match_user, user_id);
	return ret;
}

struct bus_waiter *bus_wait(struct bus *bus, uint64_t user_id, uint64_t deadline_ms,
			    bus_wake_fn fn, void *arg)
{
	struct bus_waiter *waiter = xcalloc(1, sizeof(*waiter));

	waiter->user_id = user_id;
	waiter->deadline_ms = deadline_ms;
	waiter->fn = fn;
	waiter->arg = arg;
	waiter->next = bus->waiters;
	bus->waiters = waiter;
	bus->count++;
	return waiter;
}

void bus_cancel(struct bus *bus, struct bus_waiter *waiter)
{
	for (struct bus_waiter **link = &bus->waiters; *link != NULL; link = &(*link)->next) {
		if (*link == waiter) {
			*link = waiter->next;
			bus->count--;
			free(waiter);
			return;
		}
	}
}

void bus_expire(struct bus *bus, uint64_t now_ms)
{
	bus_wake_matching(bus, bus_match_expired, now_ms);
}

uint64_t bus_next_deadline(const struct bus *bus)
{
	uint64_t next = UINT64_MAX;

	for (const struct bus_waiter *w = bus->waiters; w != NULL; w = w->next)
		if (w->deadline_ms < next)
			next = w->deadline_ms;
	return next;
}

void bus_wake_all(struct bus *bus)
{
	bus_wake_matching(bus, bus_match_all, 0);
}

unsigned int bus_waiter_count(const struct bus *bus)
{
	return bus->count;
}
