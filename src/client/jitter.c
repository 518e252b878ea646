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

/*
 * A slot's bytes are allocated on its first packet and grown when a longer one comes,
 * never shrunk: a slot costs the longest packet it has held (about 60 bytes at the
 * default 24 kbit/s) rather than JITTER_MAX_PACKET, which the ring's slots would all
 * touch within JITTER_SLOTS frames (80 KiB resident per speaker).
 */
struct jitter_slot {
	bool used;
	uint64_t counter;
	size_t len;
	size_t cap;
	uint8_t *data;
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

	/*
	 * Transit is measured against counter anchor_counter being due at time shift.
	 * shift grows by the length of each sender pause (its counter stops while it
	 * is muted), so that the transits after a pause are comparable with those
	 * before it instead of all looking late by the pause's length.
	 */
	bool anchored;
	uint64_t anchor_counter;
	int64_t shift;
	/*
	 * A packet that came after a hole, in order, on a dry buffer and too late for
	 * its turn: a sender pause, unless the next packet comes in a burst right
	 * behind it (then the network held the stream, and the clock stays). Until the
	 * next packet says which, playout uses shift + pause_shift, and the packet's
	 * transit is recorded on that clock (as the floor: it is played one target
	 * delay after it came), at history[pause_pos], as the pause_measured-th.
	 */
	bool pause_pending;
	uint64_t pause_counter;
	uint64_t pause_arrival;
	int64_t pause_shift;
	size_t pause_pos;
	uint64_t pause_measured;
	int64_t history[JITTER_HISTORY]; /* in arrival order, a ring */
	int64_t sorted[JITTER_HISTORY]; /* the same values in ascending order */
	size_t history_len;
	size_t history_pos;
	int64_t transit_min;
	unsigned target_frames;
	uint64_t measured; /* transits recorded since the last unanchor */

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
	jb->shift = 0;
	jb->pause_pending = false;
	jb->history_len = 0;
	jb->history_pos = 0;
	jb->measured = 0;
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
	if (jb == NULL)
		return;
	for (size_t i = 0; i < JITTER_SLOTS; i++)
		free(jb->slots[i].data);
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

/* Puts transit in the place of history[pos], keeping jb->sorted sorted. */
static void jitter_replace(struct jitter *jb, size_t pos, int64_t transit)
{
	/* Any copy of the leaving value will do: equal values are interchangeable. */
	size_t from = jitter_rank(jb, jb->history[pos]);
	size_t to = jitter_rank(jb, transit);

	if (to > from) {
		/* Shift the values in between down; the new one goes just below to. */
		to--;
		memmove(&jb->sorted[from], &jb->sorted[from + 1],
			(to - from) * sizeof(jb->sorted[0]));
	} else {
		memmove(&jb->sorted[to + 1], &jb->sorted[to], (from - to) * sizeof(jb->sorted[0]));
	}
	jb->sorted[to] = transit;
	jb->history[pos] = transit;
}

/*
 * Puts transit in the history in place of the oldest value once the history is full,
 * keeping jb->sorted sorted: one binary search for the leaving value, one for the
 * place of the new one, and one move of the values between them (usually a few, as
 * transits cluster), instead of sorting the whole history for every packet.
 */
static void jitter_record(struct jitter *jb, int64_t transit)
{
	size_t to;

	if (jb->history_len < JITTER_HISTORY) {
		to = jitter_rank(jb, transit);
		memmove(&jb->sorted[to + 1], &jb->sorted[to],
			(jb->history_len - to) * sizeof(jb->sorted[0]));
		jb->sorted[to] = transit;
		jb->history[jb->history_pos] = transit;
		jb->history_len++;
	} else {
		jitter_replace(jb, jb->history_pos, transit);
	}
	jb->history_pos = (jb->history_pos + 1) % JITTER_HISTORY;
}

/* The transit of counter arriving at arrival_ms; only called when anchored. */
static int64_t jitter_transit(const struct jitter *jb, uint64_t counter, uint64_t arrival_ms)
{
	/* Unsigned subtraction then a signed view: counters before the anchor go negative. */
	return (int64_t)arrival_ms - jb->shift -
	       (int64_t)(counter - jb->anchor_counter) * jb->frame_ms;
}

static void jitter_update_target(struct jitter *jb);

/* Records the transit of one packet and recomputes the floor and the target. */
static void jitter_measure(struct jitter *jb, uint64_t counter, uint64_t arrival_ms)
{
	int64_t transit;

	if (!jb->anchored) {
		jb->anchored = true;
		jb->anchor_counter = counter;
	}
	transit = jitter_transit(jb, counter, arrival_ms);
	jitter_record(jb, transit);
	jb->measured++;
	jitter_update_target(jb);
}

/* Recomputes the transit floor and the target from the history. */
static void jitter_update_target(struct jitter *jb)
{
	int64_t spread;
	size_t rank;
	unsigned frames;

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

/* When frame counter is due, on the arrival clock. */
static int64_t jitter_playout_ms(const struct jitter *jb, uint64_t counter)
{
	return jb->transit_min + jb->shift + (jb->pause_pending ? jb->pause_shift : 0) +
	       (int64_t)(counter - jb->anchor_counter) * jb->frame_ms +
	       (int64_t)jb->target_frames * jb->frame_ms;
}

/*
 * Settles a pending pause on the arrival of counter at arrival_ms, when counter
 * comes after the packet that started it. Arriving at the sender's pace behind it,
 * counter confirms a pause: the clock keeps the shift. Arriving in a burst right
 * behind it, counter shows that the network held the stream: the clock goes back,
 * and the buffer catches up by skipping, as for any delay that fell.
 */
static void jitter_settle_pause(struct jitter *jb, uint64_t counter, uint64_t arrival_ms)
{
	int64_t gap, pace;

	if (!jb->pause_pending || counter <= jb->pause_counter)
		return;
	jb->pause_pending = false;
	gap = (int64_t)arrival_ms - (int64_t)jb->pause_arrival;
	pace = (int64_t)(counter - jb->pause_counter) * jb->frame_ms;
	if (gap >= pace - jb->frame_ms / 2) {
		jb->shift += jb->pause_shift;
		jb->stats.pauses++;
		return;
	}
	/*
	 * The first packet's transit goes back to what it was measured, unless a whole
	 * history of late packets came in between (it is gone then).
	 */
	if (jb->measured - jb->pause_measured < JITTER_HISTORY) {
		jitter_replace(jb, jb->pause_pos, jb->history[jb->pause_pos] + jb->pause_shift);
		jitter_update_target(jb);
	}
}

/*
 * Whether counter, arriving at arrival_ms, is the first packet after the sender
 * paused: the buffer is dry, counter is the newest so far and still to be played,
 * and it comes too late for its turn on the current clock. If so, sets *resume to
 * the first frame not played since the buffer ran dry (the frames concealed since
 * then may still come: a paused sender's counter stops too).
 */
static bool jitter_is_pause(const struct jitter *jb, uint64_t counter, uint64_t arrival_ms,
			    uint64_t *resume)
{
	if (!jb->anchored || jb->pause_pending || !jb->have_next || !jb->have_last ||
	    jb->count != 0 || counter <= jb->last_counter)
		return false;
	*resume = jb->started && jb->empty_pops > 0 ? jb->dry_next : jb->next;
	if (counter < *resume || counter - *resume >= JITTER_SLOTS)
		return false;
	return (int64_t)arrival_ms > jitter_playout_ms(jb, counter);
}

int jitter_push(struct jitter *jb, uint64_t counter, const uint8_t *packet, size_t len,
		uint64_t arrival_ms)
{
	struct jitter_slot *slot;
	uint64_t resume = 0;
	int64_t excess;
	bool pause;

	if (len == 0 || len > JITTER_MAX_PACKET)
		return -EMSGSIZE;

	if (jb->have_next && (counter >= jb->next + JITTER_SLOTS ||
			      (counter < jb->next && jb->next - counter > JITTER_JUMP_BACK))) {
		/* The sender restarted its counter: start over, keeping the target. */
		jitter_clear(jb);
		jb->stats.resets++;
	}
	if (jitter_find(jb, counter) != NULL) {
		jb->stats.duplicates++;
		return -EEXIST;
	}
	jitter_settle_pause(jb, counter, arrival_ms);

	/*
	 * Arrivals much further apart than their counters explain, on an idle buffer,
	 * mean that the sender stopped sending (muted) for long: the old transit times
	 * may no longer describe this stream (a new route, say). Start measuring anew.
	 */
	if (jb->have_last && counter > jb->last_counter && !jb->started &&
	    (!jb->have_next || counter >= jb->next)) {
		excess = (int64_t)(arrival_ms - jb->last_arrival) -
			 (int64_t)(counter - jb->last_counter) * jb->frame_ms;
		if (excess > JITTER_PAUSE_MS)
			jitter_unanchor(jb);
	}

	/*
	 * A shorter pause leaves a hole in the arrivals that the counters do not show:
	 * on the old clock, every packet after it would be late by the hole's length,
	 * and dropped until the history forgot the old stream. Instead, the first packet
	 * after it is played one target delay after it came, and the clock follows.
	 */
	pause = jitter_is_pause(jb, counter, arrival_ms, &resume);
	if (!pause && jb->have_next && counter < jb->next &&
	    (jb->have_played || jb->highest - counter >= JITTER_SLOTS)) {
		/* Its frame is gone; the delay it had still tells about jitter. */
		jitter_measure(jb, counter, arrival_ms);
		jb->stats.late++;
		return -ETIME;
	}

	jb->have_last = true;
	jb->last_counter = counter;
	jb->last_arrival = arrival_ms;
	if (pause) {
		jb->pause_pending = true;
		jb->pause_counter = counter;
		jb->pause_arrival = arrival_ms;
		jb->pause_shift = jitter_transit(jb, counter, arrival_ms) - jb->transit_min;
		jb->pause_pos = jb->history_pos;
		jb->pause_measured = jb->measured;
		jb->started = false;
		jb->empty_pops = 0;
		jb->next = resume;
		jitter_record(jb, jb->transit_min);
		jb->measured++;
		jitter_update_target(jb);
	} else {
		jitter_measure(jb, counter, arrival_ms);
	}

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
	if (slot->cap < len) {
		slot->data = xrealloc(slot->data, len);
		slot->cap = len;
	}
	slot->used = true;
	slot->counter = counter;
	slot->len = len;
	memcpy(slot->data, packet, len);
	jb->count++;
	jb->stats.received++;
	return 0;
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

size_t jitter_history(const struct jitter *jb, int64_t *transits, size_t max)
{
	size_t n = jb->history_len < max ? jb->history_len : max;
	size_t first = jb->history_len < JITTER_HISTORY ? 0 : jb->history_pos;

	for (size_t i = 0; i < n; i++)
		transits[i] = jb->history[(first + jb->history_len - n + i) % JITTER_HISTORY];
	return n;
}

size_t jitter_buffered(const struct jitter *jb)
{
	return jb->count;
}

void jitter_get_stats(const struct jitter *jb, struct jitter_stats *stats)
{
	*stats = jb->stats;
}
