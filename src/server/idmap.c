/*
 * idmap.c - open addressing with linear probing and backward-shift deletion (no
 * tombstones, so a map that churns does not slow down).
 */
#include "config.h"

#include <stdlib.h>

#include "idmap.h"
#include "util.h"

/* A 64-bit mixer (the finaliser of SplitMix64): ids are often consecutive. */
static size_t idmap_slot(uint64_t id, size_t cap)
{
	id ^= id >> 30;
	id *= UINT64_C(0xbf58476d1ce4e5b9);
	id ^= id >> 27;
	id *= UINT64_C(0x94d049bb133111eb);
	id ^= id >> 31;
	return (size_t)id & (cap - 1);
}

void idmap_clear(struct idmap *map)
{
	free(map->keys);
	free(map->values);
	map->keys = NULL;
	map->values = NULL;
	map->cap = 0;
	map->count = 0;
}

static size_t idmap_find(const struct idmap *map, uint64_t id)
{
	size_t slot = idmap_slot(id, map->cap);

	while (map->keys[slot] != 0 && map->keys[slot] != id)
		slot = (slot + 1) & (map->cap - 1);
	return slot;
}

void *idmap_get(const struct idmap *map, uint64_t id)
{
	size_t slot;

	if (map->cap == 0 || id == 0)
		return NULL;
	slot = idmap_find(map, id);
	return map->keys[slot] == id ? map->values[slot] : NULL;
}

/* Doubles the table (or makes the first one), keeping it at most half full. */
static void idmap_grow(struct idmap *map)
{
	struct idmap bigger = IDMAP_INIT;

	bigger.cap = map->cap ? map->cap * 2 : 16;
	bigger.keys = xcalloc(bigger.cap, sizeof(*bigger.keys));
	bigger.values = xcalloc(bigger.cap, sizeof(*bigger.values));
	for (size_t i = 0; i < map->cap; i++) {
		if (map->keys[i] != 0) {
			size_t slot = idmap_find(&bigger, map->keys[i]);

			bigger.keys[slot] = map->keys[i];
			bigger.values[slot] = map->values[i];
		}
	}
	bigger.count = map->count;
	idmap_clear(map);
	*map = bigger;
}

void idmap_put(struct idmap *map, uint64_t id, void *value)
{
	size_t slot;

	if (id == 0 || value == NULL)
		fatal("idmap_put: id 0 or NULL value");
	if ((map->count + 1) * 2 > map->cap)
		idmap_grow(map);
	slot = idmap_find(map, id);
	if (map->keys[slot] == 0)
		map->count++;
	map->keys[slot] = id;
	map->values[slot] = value;
}

void *idmap_remove(struct idmap *map, uint64_t id)
{
	size_t mask = map->cap - 1, hole, next;
	void *value;

	if (map->cap == 0 || id == 0)
		return NULL;
	hole = idmap_find(map, id);
	if (map->keys[hole] != id)
		return NULL;
	value = map->values[hole];
	/*
	 * Backward shift: move up every later entry of the run whose home slot does
	 * not lie (cyclically) between the hole and its own slot, so that no probe
	 * sequence crosses an empty slot.
	 */
	for (next = (hole + 1) & mask; map->keys[next] != 0; next = (next + 1) & mask) {
		size_t home = idmap_slot(map->keys[next], map->cap);

		if (((next - home) & mask) >= ((next - hole) & mask)) {
			map->keys[hole] = map->keys[next];
			map->values[hole] = map->values[next];
			hole = next;
		}
	}
	map->keys[hole] = 0;
	map->values[hole] = NULL;
	map->count--;
	return value;
}

void *idmap_next(const struct idmap *map, size_t *pos, uint64_t *id)
{
	for (size_t i = *pos; i < map->cap; i++) {
		if (map->keys[i] != 0) {
			*pos = i + 1;
			*id = map->keys[i];
			return map->values[i];
		}
	}
	*pos = map->cap;
	return NULL;
}
