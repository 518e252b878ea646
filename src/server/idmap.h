/*
 * idmap.h - a hash map from 64-bit ids (user ids, room ids) to pointers.
 *
 * salond keeps per-user and per-room state for crowds of 10,000 and more, where a
 * list walk per lookup would make every fan-out O(n^2). Open addressing with
 * linear probing; lookups, insertions and removals are O(1) on average.
 *
 * The map borrows its values: it never frees them. Id 0 is not a valid key (no
 * user or room has it). Threading: one thread at a time, no locking.
 */
#ifndef SALON_IDMAP_H
#define SALON_IDMAP_H

#include <stddef.h>
#include <stdint.h>

struct idmap {
	uint64_t *keys; /* 0 marks a free slot */
	void **values;
	size_t cap;     /* a power of two, or 0 before the first insertion */
	size_t count;
};

/* An empty map needs no allocation: zero the struct (or use IDMAP_INIT). */
#define IDMAP_INIT {NULL, NULL, 0, 0}

/* Frees the map's tables (not the values); the map is empty and usable after. */
void idmap_clear(struct idmap *map);

/* The value stored under id, or NULL when there is none. */
void *idmap_get(const struct idmap *map, uint64_t id);

/*
 * Stores value (not NULL) under id, replacing any value there; id must not be 0.
 * Never fails (allocation aborts on out-of-memory).
 */
void idmap_put(struct idmap *map, uint64_t id, void *value);

/* Removes id; returns its value, or NULL when it was not there. */
void *idmap_remove(struct idmap *map, uint64_t id);

/*
 * Iteration in no particular order: *pos starts at 0; each call returns the next
 * value and stores its id in *id, or returns NULL at the end. The map must not
 * change during an iteration (collect the ids to remove, then remove them).
 */
void *idmap_next(const struct idmap *map, size_t *pos, uint64_t *id);

#endif
