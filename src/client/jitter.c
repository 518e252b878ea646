/*
 * jitter.c - adaptive jitter buffer: slots indexed by counter modulo JITTER_SLOTS,
 * and a playout clock derived from measured transit times.
 *
 * Invariant: every stored packet's counter lies in [next, next + JITTER_SLOTS), so
 * counter % JITTER_SLOTS names a unique slot. next is the first frame not yet played;
 * before anything has been played it may still move down for a reordered packet.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "jitter.h"
#include "util.h"

/* A counter this far behind the playout point is a restarted sender, not a late one. */
#define JITTER_JUMP_BACK (2 * JITTER_SLOTS)

struct jitter_slot {
	bool used;
	uint64_t counter;
	size_t len;
	uint8_t data[JITTER_MAX_PACKET];
};

struct jitter {
	int64_t frame_ms;
	struct jitter_slot slots[JITTER_SLOTS];
	size_t count;

	bool have_next; /* next is meaningful: a packet arrived since the reset */
	bool have_played; /* next has advanced past a played frame since the reset */
	bool started; /* playing (not idle) */
	uint64_t next;
	uint64_t highest;
	unsigned empty_pops;
	uint64_t dry_next; /* next when the buffer ran dry */

	/* Transit is measured against counter anchor_counter being due at time 0. */
	bool anchored;
	uint64_t anchor_counter;
	int64_t history[JITTER_HISTORY]; /* in arrival order, a ring */
	int64_t sorted[JITTER_HISTORY]; /* the same values in ascending order */
	size_t history_len;
	size_t history_pos;
	int64_t transit_min;
	unsigned target_frames;

	/* The last packet in arrival order, to tell a sender's pause from jitter. */
	bool have_last;
	uint64_t last_counter;
	uint64_t last_arrival;

	struct jitter_stats stats;
};

static struct jitter_slot *jitter_slot(struct jitter *jb, uint64_t counter)
{
	return &jb->slots[counter & (JITTER_SLOTS - 1)];
}

/* The stored packet for counter, or NULL. */
static struct jitter_slot *jitter_find(struct jitter *jb, uint64_t counter)
{
	struct jitter_slot *slot = jitter_slot(jb, counter);

	return slot->used && slot->counter == counter ? slot : NULL;
}

static void jitter_drop(struct jitter *jb, uint64_t counter)
{
	struct jitter_slot *slot = jitter_find(jb, counter);

	if (slot != NULL) {
		slot->used = false;
		jb->count--;
	}
}

/* Forgets the transit measurements, keeping the current target. */
static void jitter_unanchor(struct jitter *jb)
{
	jb->anchored = false;
	jb->history_len = 0;
	jb->history_pos = 0;
	jb->transit_min = 0;
}

static void jitter_clear(struct jitter *jb)
{
	for (size_t i = 0; i < JITTER_SLOTS; i++)
		jb->slots[i].used = false;
	jb->count = 0;
	jb->have_next = false;
	jb->have_played = false;
	jb->started = false;
	jb->empty_pops = 0;
	jb->have_last = false;
	jitter_unanchor(jb);
}

struct jitter *jitter_new(unsigned frame_ms)
{
	struct jitter *jb;

	if (frame_ms == 0 || frame_ms > 120)
		fatal("jitter_new: bad frame length %u ms", frame_ms);
	jb = xcalloc(1, sizeof(*jb));
	jb->frame_ms = frame_ms;
	jb->target_frames = JITTER_INITIAL_FRAMES;
	jitter_clear(jb);
	return jb;
}

void jitter_free(struct jitter *jb)
{
	free(jb);
}

void jitter_reset(struct jitter *jb)
{
	jitter_clear(jb);
}

/* The first index of jb->sorted whose value is not below value (binary search). */
static size_t jitter_rank(const struct jitter *jb, int64_t value)
{
	size_t low = 0, high = jb->history_len;

	while (low < high) {
		size_t mid = low + (high - low) / 2;

		if (jb->sorted[mid] < value)
			low = mid + 1;
		else
			high = mid;
	}
	return low;
}

/*
 * Puts transit in the history in place of the oldest value once the history is full,
 * keeping jb->sorted sorted: one binary search for the leaving value, one for the
 * place of the new one, and one move of the values between them (usually a few, as
 * transits cluster), instead of sorting the whole history for every packet.
 */
static void jitter_record(struct jitter *jb, int64_t transit)
{
	size_t from, to;

	if (jb->history_len < JITTER_HISTORY) {
		to = jitter_rank(jb, transit);
		memmove(&jb->sorted[to + 1], &jb->sorted[to],
			(jb->history_len - to) * sizeof(jb->sorted[0]));
		jb->sorted[to] = transit;
		jb->history[jb->history_pos] = transit;
		jb->history_len++;
	} else {
		/* Any copy of the leaving value will do: equal values are interchangeable. */
		from = jitter_rank(jb, jb->history[jb->history_pos]);
		to = jitter_rank(jb, transit);
		if (to > from) {
			/* Shift the values in between down; the new one goes just below to. */
			to--;
			memmove(&jb->sorted[from], &jb->sorted[from + 1],
				(to - from) * sizeof(jb->sorted[0]));
		} else {
			memmove(&jb->sorted[to + 1], &jb->sorted[to],
				(from - to) * sizeof(jb->sorted[0]));
		}
		jb->sorted[to] = transit;
		jb->history[jb->history_pos] = transit;
	}
	jb->history_pos = (jb->history_pos + 1) % JITTER_HISTORY;
}

/* Records the transit of one packet and recomputes the floor and the target. */
static void jitter_measure(struct jitter *jb, uint64_t counter, uint64_t arrival_ms)
{
	int64_t transit, spread;
	size_t rank;
	unsigned frames;

	if (!jb->anchored) {
		jb->anchored = true;
		jb->anchor_counter = counter;
	}
	/* Unsigned subtraction then a signed view: counters before the anchor go negative. */
	transit = (int64_t)arrival_ms - (int64_t)(counter - jb->anchor_counter) * jb->frame_ms;
	jitter_record(jb, transit);

	jb->transit_min = jb->sorted[0];
	if (jb->history_len < JITTER_MIN_HISTORY)
		return;

	rank = (jb->history_len - 1) * 95 / 100;
	spread = jb->sorted[rank] - jb->transit_min;
	frames = (unsigned)((spread + jb->frame_ms - 1) / jb->frame_ms);
	if (frames < JITTER_MIN_FRAMES)
		frames = JITTER_MIN_FRAMES;
	if (frames > JITTER_MAX_FRAMES)
		frames = JITTER_MAX_FRAMES;
	jb->target_frames = frames;
}

int jitter_push(struct jitter *jb, uint64_t counter, const uint8_t *packet, size_t len,
		uint64_t arrival_ms)
{
	struct jitter_slot *slot;
	int64_t excess;

	if (len == 0 || len > JITTER_MAX_PACKET)
		return -EMSGSIZE;

	if (jb->have_next) {
		if (counter >= jb->next + JITTER_SLOTS ||
		    (counter < jb->next && jb->next - counter > JITTER_JUMP_BACK)) {
			/* The sender restarted its counter: start over, keeping the target. */
			jitter_clear(jb);
			jb->stats.resets++;
		} else if (counter < jb->next &&
			   (jb->have_played || jb->highest - counter >= JITTER_SLOTS)) {
			/* Its frame is gone; the delay it had still tells about jitter. */
			jitter_measure(jb, counter, arrival_ms);
			jb->stats.late++;
			return -ETIME;
		}
	}
	if (jitter_find(jb, counter) != NULL) {
		jb->stats.duplicates++;
		return -EEXIST;
	}

	/*
	 * Arrivals much further apart than their counters explain mean that the sender
	 * stopped sending (muted) rather than that the network held its packets: the
	 * old transit times no longer describe this stream.
	 */
	if (jb->have_last && counter > jb->last_counter) {
		excess = (int64_t)(arrival_ms - jb->last_arrival) -
			 (int64_t)(counter - jb->last_counter) * jb->frame_ms;
		if (excess > JITTER_PAUSE_MS && !jb->started)
			jitter_unanchor(jb);
	}
	jb->have_last = true;
	jb->last_counter = counter;
	jb->last_arrival = arrival_ms;
	jitter_measure(jb, counter, arrival_ms);

	if (!jb->have_next) {
		jb->have_next = true;
		jb->next = counter;
		jb->highest = counter;
	}
	if (counter < jb->next)
		jb->next = counter; /* reordered before anything was played */
	if (counter > jb->highest)
		jb->highest = counter;

	slot = jitter_slot(jb, counter);
	slot->used = true;
	slot->counter = counter;
	slot->len = len;
	memcpy(slot->data, packet, len);
	jb->count++;
	jb->stats.received++;
	return 0;
}

/* When frame counter is due, on the arrival clock. */
static int64_t jitter_playout_ms(const struct jitter *jb, uint64_t counter)
{
	return jb->transit_min + (int64_t)(counter - jb->anchor_counter) * jb->frame_ms +
	       (int64_t)jb->target_frames * jb->frame_ms;
}

/* The lowest buffered counter; only called with count > 0. */
static uint64_t jitter_lowest(const struct jitter *jb)
{
	uint64_t lowest = UINT64_MAX;

	for (size_t i = 0; i < JITTER_SLOTS; i++)
		if (jb->slots[i].used && jb->slots[i].counter < lowest)
			lowest = jb->slots[i].counter;
	return lowest;
}

/* Moves the playout point past frame next without playing it. */
static void jitter_advance(struct jitter *jb)
{
	jitter_drop(jb, jb->next);
	jb->next++;
	jb->have_played = true;
}

void jitter_pop(struct jitter *jb, uint64_t now_ms, struct jitter_frame *out)
{
	struct jitter_slot *slot;
	uint64_t lowest;
	int64_t lag;

	memset(out, 0, sizeof(*out));
	out->action = JITTER_NOTHING;

	if (!jb->started) {
		if (jb->count == 0 || !jb->anchored)
			return;
		lowest = jitter_lowest(jb);
		if ((int64_t)now_ms < jitter_playout_ms(jb, lowest))
			return;
		jb->next = lowest;
		jb->started = true;
		jb->empty_pops = 0;
	}

	/* How late we are in playing frame next; normally in [0, frame_ms). */
	lag = (int64_t)now_ms - jitter_playout_ms(jb, jb->next);
	if (lag < -jb->frame_ms / 2) {
		/* The target rose: play one extra concealed frame to fall behind. */
		out->action = JITTER_CONCEAL;
		out->counter = jb->next;
		jb->stats.concealed++;
		jb->stats.stretched++;
		return;
	}
	if (lag >= jb->frame_ms * (JITTER_MAX_FRAMES + 1)) {
		/* Far behind (the caller stalled): jump to the frame due now. */
		while (lag >= jb->frame_ms) {
			jitter_advance(jb);
			jb->stats.skipped++;
			lag -= jb->frame_ms;
		}
	} else if (lag >= jb->frame_ms) {
		/* The target fell: skip one frame to catch up. */
		jitter_advance(jb);
		jb->stats.skipped++;
	}

	out->counter = jb->next;
	slot = jitter_find(jb, jb->next);
	if (slot != NULL) {
		out->action = JITTER_PACKET;
		out->data = slot->data;
		out->len = slot->len;
		/* Freed, but its bytes stay put until the next call, as promised. */
		slot->used = false;
		jb->count--;
		jb->next++;
		jb->have_played = true;
		jb->empty_pops = 0;
		jb->stats.played++;
		return;
	}
	slot = jitter_find(jb, jb->next + 1);
	if (slot != NULL) {
		out->action = JITTER_FEC;
		out->data = slot->data;
		out->len = slot->len;
		jb->next++;
		jb->have_played = true;
		jb->empty_pops = 0;
		jb->stats.fec++;
		return;
	}
	if (jb->count == 0) {
		if (jb->empty_pops == 0)
			jb->dry_next = jb->next;
		if (++jb->empty_pops > JITTER_IDLE_POPS) {
			/*
			 * The speaker stopped: go quiet until packets come back. A muted
			 * sender's counter stops too, so the frames concealed since the
			 * buffer ran dry may still come: take them back.
			 */
			jb->started = false;
			jb->empty_pops = 0;
			jb->next = jb->dry_next;
			return;
		}
	} else {
		jb->empty_pops = 0;
	}
	out->action = JITTER_CONCEAL;
	jb->next++;
	jb->have_played = true;
	jb->stats.concealed++;
}

unsigned jitter_target_frames(const struct jitter *jb)
{
	return jb->target_frames;
}

size_t jitter_buffered(const struct jitter *jb)
{
	return jb->count;
}

void jitter_get_stats(const struct jitter *jb, struct jitter_stats *stats)
{
	*stats = jb->stats;
}
