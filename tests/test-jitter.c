/*
 * test-jitter.c - the adaptive jitter buffer, driven by a fake clock.
 *
 * Each scenario gives every frame counter an arrival time (or none, for a lost
 * packet); the simulation pushes the packets that have arrived by each 20 ms tick,
 * then pops once, and records what the buffer said.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jitter.h"
#include "util.h"

#define FRAME_MS 20
#define LOST UINT64_MAX
#define MAX_FRAMES 1200

struct sim {
	size_t n; /* counters 0 .. n - 1, offset by base */
	uint64_t base;
	uint64_t arrival[MAX_FRAMES];
	int push_ret[MAX_FRAMES];
	/* What each tick's pop said; payload is the counter read back from the data. */
	size_t ticks;
	enum jitter_action action[2 * MAX_FRAMES];
	uint64_t counter[2 * MAX_FRAMES];
	uint64_t payload[2 * MAX_FRAMES];
	unsigned target[2 * MAX_FRAMES];
};

static struct sim sim;

/* Packets carry their own counter, so the test can tell which one it got back. */
static int push(struct jitter *jb, uint64_t counter, uint64_t at)
{
	uint8_t packet[8];

	put_u64be(packet, counter);
	return jitter_push(jb, counter, packet, sizeof(packet), at);
}

static void sim_init(size_t n, uint64_t base)
{
	memset(&sim, 0, sizeof(sim));
	sim.n = n;
	sim.base = base;
	/* By default, a perfect network: one packet every 20 ms from t = 1000. */
	for (size_t i = 0; i < n; i++)
		sim.arrival[i] = 1000 + FRAME_MS * i;
}

/* Runs ticks pops, every 20 ms from first_tick, pushing arrivals as they come. */
static void sim_run(struct jitter *jb, uint64_t first_tick, size_t ticks)
{
	bool *pushed = calloc(sim.n, sizeof(*pushed));

	assert_non_null(pushed);
	assert_true(ticks <= 2 * MAX_FRAMES);
	for (size_t t = 0; t < ticks; t++) {
		uint64_t now = first_tick + FRAME_MS * t;
		struct jitter_frame out;

		/* Arrival order, ties broken by counter (a burst comes in order). */
		for (;;) {
			size_t pick = SIZE_MAX;

			for (size_t i = 0; i < sim.n; i++) {
				if (pushed[i] || sim.arrival[i] == LOST || sim.arrival[i] > now)
					continue;
				if (pick == SIZE_MAX || sim.arrival[i] < sim.arrival[pick])
					pick = i;
			}
			if (pick == SIZE_MAX)
				break;
			pushed[pick] = true;
			sim.push_ret[pick] = push(jb, sim.base + pick, sim.arrival[pick]);
		}
		jitter_pop(jb, now, &out);
		sim.action[t] = out.action;
		sim.counter[t] = out.counter;
		sim.payload[t] = UINT64_MAX;
		if (out.action == JITTER_PACKET || out.action == JITTER_FEC) {
			assert_non_null(out.data);
			assert_int_equal(out.len, 8);
			sim.payload[t] = get_u64be(out.data);
		} else {
			assert_null(out.data);
		}
		sim.target[t] = jitter_target_frames(jb);
	}
	sim.ticks = ticks;
	free(pushed);
}

/* The first tick at which the buffer played something. */
static size_t sim_first_output(void)
{
	for (size_t t = 0; t < sim.ticks; t++)
		if (sim.action[t] != JITTER_NOTHING)
			return t;
	fail_msg("the buffer never played anything");
	return 0;
}

/* The tick at which counter came out, or fails. */
static size_t tick_of(uint64_t counter)
{
	for (size_t t = 0; t < sim.ticks; t++)
		if (sim.action[t] != JITTER_NOTHING && sim.counter[t] == sim.base + counter)
			return t;
	fail_msg("counter %llu never came out", (unsigned long long)counter);
	return 0;
}

/*
 * Asserts that everything played from tick start on is a packet, in increasing order
 * from first, with nothing concealed, and returns how many counters were skipped.
 */
static uint64_t expect_in_order(size_t start, uint64_t first, uint64_t last)
{
	uint64_t expect = sim.base + first, skipped = 0;
	size_t t;

	for (t = start; t < sim.ticks && expect <= sim.base + last; t++) {
		assert_int_equal(sim.action[t], JITTER_PACKET);
		assert_true(sim.counter[t] >= expect);
		assert_int_equal(sim.payload[t], sim.counter[t]);
		skipped += sim.counter[t] - expect;
		expect = sim.counter[t] + 1;
	}
	assert_int_equal(expect, sim.base + last + 1);
	return skipped;
}

/* Asserts that, from tick start, counters first .. last come out as packets. */
static void expect_packets(size_t start, uint64_t first, uint64_t last)
{
	for (uint64_t c = first; c <= last; c++) {
		size_t t = start + (size_t)(c - first);

		assert_true(t < sim.ticks);
		assert_int_equal(sim.action[t], JITTER_PACKET);
		assert_int_equal(sim.counter[t], sim.base + c);
		assert_int_equal(sim.payload[t], sim.base + c);
	}
}

static void test_in_order(void **state)
{
	struct jitter *jb = jitter_new(FRAME_MS);
	struct jitter_stats stats;
	uint64_t skipped;
	size_t first;

	(void)state;
	sim_init(100, 0);
	/* Ticks 5 ms after each arrival, so the phase is not a coincidence. */
	sim_run(jb, 1005, 115);
	first = sim_first_output();
	/*
	 * Playout waits for the initial target delay, then plays 0 .. 99 in order; once
	 * it has measured a perfect network it lowers the delay to the minimum by
	 * skipping the frames in between, once each.
	 */
	assert_int_equal(first, JITTER_INITIAL_FRAMES);
	expect_packets(first, 0, 10);
	skipped = expect_in_order(first, 0, 99);
	assert_int_equal(skipped, JITTER_INITIAL_FRAMES - JITTER_MIN_FRAMES);
	for (size_t i = 0; i < sim.n; i++)
		assert_int_equal(sim.push_ret[i], 0);
	jitter_get_stats(jb, &stats);
	assert_int_equal(stats.received, 100);
	assert_int_equal(stats.skipped, skipped);
	assert_int_equal(stats.played, 100 - skipped);
	assert_int_equal(stats.fec, 0);
	/* A perfect network needs only the minimum delay. */
	assert_int_equal(jitter_target_frames(jb), JITTER_MIN_FRAMES);
	/* Once the stream ends, the speaker goes quiet after a few concealed frames. */
	assert_int_equal(stats.concealed, JITTER_IDLE_POPS);
	assert_int_equal(sim.action[sim.ticks - 1], JITTER_NOTHING);
	jitter_free(jb);
}

static void test_reordered(void **state)
{
	struct jitter *jb = jitter_new(FRAME_MS);
	struct jitter_stats stats;

	(void)state;
	sim_init(60, 5000);
	/*
	 * 1 arrives before 0 (before playout starts), 21 before 20 and 43 before 42,
	 * each swapped pair within the delay that the buffer has chosen by then.
	 */
	sim.arrival[0] = sim.arrival[1] + 5;
	sim.arrival[20] = sim.arrival[21] + 5;
	sim.arrival[42] = sim.arrival[43] + 1;
	sim_run(jb, 1005, 70);
	/* The delay is lowered from the initial one by 19. */
	expect_packets(sim_first_output(), 0, 10);
	expect_packets(tick_of(19), 19, 59);
	jitter_get_stats(jb, &stats);
	assert_int_equal(stats.played + stats.skipped, 60);
	assert_int_equal(stats.late, 0);
	jitter_free(jb);
}

static void test_duplicated(void **state)
{
	struct jitter *jb = jitter_new(FRAME_MS);
	struct jitter_stats stats;
	struct jitter_frame out;

	(void)state;
	assert_int_equal(push(jb, 7, 1000), 0);
	assert_int_equal(push(jb, 8, 1020), 0);
	assert_int_equal(push(jb, 7, 1021), -EEXIST);
	assert_int_equal(jitter_buffered(jb), 2);
	jitter_pop(jb, 1065, &out);
	assert_int_equal(out.action, JITTER_PACKET);
	assert_int_equal(out.counter, 7);
	/* Once played, a copy is late rather than a duplicate, and is not played twice. */
	assert_int_equal(push(jb, 7, 1070), -ETIME);
	jitter_pop(jb, 1085, &out);
	assert_int_equal(out.action, JITTER_PACKET);
	assert_int_equal(out.counter, 8);
	jitter_get_stats(jb, &stats);
	assert_int_equal(stats.duplicates, 1);
	assert_int_equal(stats.late, 1);
	assert_int_equal(stats.played, 2);
	/* Empty and oversized packets are refused. */
	assert_int_equal(jitter_push(jb, 9, (const uint8_t *)"x", 0, 1130), -EMSGSIZE);
	{
		static uint8_t big[JITTER_MAX_PACKET + 1];

		assert_int_equal(jitter_push(jb, 9, big, sizeof(big), 1130), -EMSGSIZE);
	}
	jitter_free(jb);
}

static void test_lost(void **state)
{
	struct jitter *jb = jitter_new(FRAME_MS);
	struct jitter_stats stats;
	size_t first;

	(void)state;
	sim_init(60, 0);
	sim.arrival[30] = LOST; /* 31 is there: rebuild 30 from 31's FEC */
	sim.arrival[40] = LOST; /* 40 and 41 both lost: conceal 40, FEC for 41 from 42 */
	sim.arrival[41] = LOST;
	sim_run(jb, 1005, 65);
	first = tick_of(25);
	expect_packets(first, 25, 29);
	assert_int_equal(sim.action[first + 5], JITTER_FEC);
	assert_int_equal(sim.counter[first + 5], 30);
	assert_int_equal(sim.payload[first + 5], 31);
	expect_packets(first + 6, 31, 39);
	assert_int_equal(sim.action[first + 15], JITTER_CONCEAL);
	assert_int_equal(sim.counter[first + 15], 40);
	assert_int_equal(sim.action[first + 16], JITTER_FEC);
	assert_int_equal(sim.counter[first + 16], 41);
	assert_int_equal(sim.payload[first + 16], 42);
	expect_packets(first + 17, 42, 59);
	jitter_get_stats(jb, &stats);
	assert_int_equal(stats.fec, 2);
	/* The end of the stream is concealed too, but nothing else was. */
	for (size_t t = 0; t < tick_of(59); t++)
		assert_true(sim.action[t] != JITTER_CONCEAL || sim.counter[t] == 40);
	assert_int_equal(stats.played + stats.skipped, 57);
	jitter_free(jb);
}

static void test_late(void **state)
{
	struct jitter *jb = jitter_new(FRAME_MS);
	struct jitter_stats stats;
	size_t first;

	(void)state;
	sim_init(60, 0);
	/* Packet 35 turns up 300 ms late, well after its turn. */
	sim.arrival[35] += 300;
	sim_run(jb, 1005, 65);
	first = tick_of(30);
	expect_packets(first, 30, 34);
	assert_int_equal(sim.action[first + 5], JITTER_FEC);
	assert_int_equal(sim.counter[first + 5], 35);
	assert_int_equal(sim.payload[first + 5], 36);
	assert_int_equal(sim.push_ret[35], -ETIME);
	jitter_get_stats(jb, &stats);
	assert_int_equal(stats.late, 1);
	/* Packet 36, FEC'd from, is still played itself next. */
	expect_packets(first + 6, 36, 59);
	jitter_free(jb);
}

static void test_adapts_to_jitter(void **state)
{
	struct jitter *jb = jitter_new(FRAME_MS);
	struct jitter_stats before, after;
	size_t conceals = 0;
	unsigned peak = 0;

	(void)state;
	sim_init(900, 0);
	/*
	 * 100 packets of calm; then 300 for which the network holds every 5 and
	 * releases them together, so they are 80, 60, 40, 20 and 0 ms late; then 500
	 * packets of calm again.
	 */
	for (size_t i = 100; i < 400; i++)
		sim.arrival[i] = 1000 + FRAME_MS * (i / 5 * 5 + 4);
	sim_run(jb, 1005, 920);
	assert_int_equal(sim.target[90], JITTER_MIN_FRAMES);
	jitter_get_stats(jb, &before);
	for (size_t t = 0; t < sim.ticks; t++) {
		if (sim.target[t] > peak)
			peak = sim.target[t];
		/* Once adapted (after 150 bursty ticks), the bursts cost nothing. */
		if (t >= 250 && t < 400 && sim.action[t] == JITTER_CONCEAL)
			conceals++;
	}
	/* 80 ms of jitter needs 4 frames. */
	assert_int_equal(peak, 4);
	assert_int_equal(sim.target[390], 4);
	assert_int_equal(conceals, 0);
	/* Calm brings it back down to the minimum. */
	assert_int_equal(jitter_target_frames(jb), JITTER_MIN_FRAMES);
	jitter_get_stats(jb, &after);
	/*
	 * The buffer did move its playout down by skipping. On the way up, each held
	 * packet that came on a dry buffer restarted the playout one target delay after
	 * it (rather than being dropped as late), and the burst right behind it showed
	 * that the sender had not paused: no pause moved the clock.
	 */
	assert_true(after.skipped >= 2);
	assert_int_equal(after.pauses, 0);
	assert_int_equal(after.late, 0);
	/* No packet went missing in the accounting, and nearly all were played. */
	assert_int_equal(after.received + after.late, 900);
	assert_true(after.played >= 880);
	jitter_free(jb);
}

static void test_counter_jump(void **state)
{
	struct jitter *jb = jitter_new(FRAME_MS);
	struct jitter_stats stats;
	struct jitter_frame out;
	uint64_t now = 1000;
	uint64_t c;

	(void)state;
	for (c = 0; c < 20; c++) {
		assert_int_equal(push(jb, c, now), 0);
		jitter_pop(jb, now, &out);
		now += FRAME_MS;
	}
	/* The sender restarts far ahead: the buffer starts over instead of waiting. */
	for (c = 1000000; c < 1000020; c++) {
		assert_int_equal(push(jb, c, now), 0);
		jitter_pop(jb, now, &out);
		now += FRAME_MS;
	}
	jitter_get_stats(jb, &stats);
	assert_int_equal(stats.resets, 1);
	assert_int_equal(out.action, JITTER_PACKET);
	assert_true(out.counter >= 1000000 && out.counter < 1000020);
	/* And far behind (a restart from 0) resets too, rather than being "late". */
	assert_int_equal(push(jb, 0, now), 0);
	jitter_get_stats(jb, &stats);
	assert_int_equal(stats.resets, 2);
	assert_int_equal(stats.late, 0);
	jitter_free(jb);
}

static void test_sender_pause(void **state)
{
	struct jitter *jb = jitter_new(FRAME_MS);
	struct jitter_stats stats;
	size_t t, first, resumed = SIZE_MAX, quiet = 0;

	(void)state;
	sim_init(100, 0);
	/* The sender mutes for 3 s after frame 49; its counter stops meanwhile. */
	for (size_t i = 50; i < 100; i++)
		sim.arrival[i] += 3000;
	sim_run(jb, 1005, 260);
	first = tick_of(20);
	expect_packets(first, 20, 49);
	first -= 20;
	/* It conceals a little, then goes quiet rather than concealing for 3 s. */
	for (t = first + 50; t < first + 50 + 100; t++)
		if (sim.action[t] == JITTER_NOTHING)
			quiet++;
	assert_true(quiet >= 100 - JITTER_IDLE_POPS - 1);
	for (t = first + 50; t < sim.ticks; t++)
		if (sim.action[t] == JITTER_PACKET) {
			resumed = t;
			break;
		}
	/* Frame 50 is not "late" for having been concealed before the pause. */
	assert_true(resumed < sim.ticks);
	expect_packets(resumed, 50, 99);
	jitter_get_stats(jb, &stats);
	assert_int_equal(stats.late, 0);
	assert_int_equal(stats.resets, 0);
	assert_int_equal(stats.played + stats.skipped, 100);
	jitter_free(jb);
}

/*
 * A speaker pauses (mutes briefly; its counter stops meanwhile) for 100, 300, 600,
 * 900 and 1500 ms, between stretches of 100 frames, on a network with 0 to
 * jitter_ms - 1 ms of jitter. After each pause, its first frame is played within one
 * target delay (and a tick) of arriving, and the whole stretch after it in order,
 * nothing dropped as late or skipped: a pause is not a delay to adapt to.
 */
static void run_short_pauses(unsigned jitter_ms)
{
	static const uint64_t pauses[] = {100, 300, 600, 900, 1500};
	struct jitter *jb = jitter_new(FRAME_MS);
	struct jitter_stats stats;
	uint64_t extra = 0, rng = 12345;
	unsigned target;

	sim_init(600, 77);
	for (size_t i = 0; i < sim.n; i++) {
		if (i % 100 == 0 && i > 0)
			extra += pauses[i / 100 - 1];
		rng = rng * 6364136223846793005u + 1442695040888963407u;
		sim.arrival[i] += extra + (jitter_ms > 0 ? (rng >> 33) % jitter_ms : 0);
	}
	sim_run(jb, 1005, (size_t)(sim.arrival[sim.n - 1] - 1000) / FRAME_MS + 30);
	for (size_t k = 100; k < sim.n; k += 100) {
		size_t t = 0;
		uint64_t played_at;

		/* Not tick_of(): frame k may have been concealed as the buffer ran dry. */
		while (t < sim.ticks && !(sim.action[t] == JITTER_PACKET &&
					  sim.counter[t] == sim.base + k))
			t++;
		assert_true(t < sim.ticks);
		played_at = 1005 + FRAME_MS * t;

		assert_true(played_at >= sim.arrival[k]);
		/* The target may have fallen meanwhile: the highest since it came. */
		target = 0;
		for (size_t u = (size_t)(sim.arrival[k] - 1000) / FRAME_MS; u <= t; u++)
			target = sim.target[u] > target ? sim.target[u] : target;
		assert_true(played_at - sim.arrival[k] <= (uint64_t)(target + 1) * FRAME_MS);
		expect_packets(t, k, k + 99);
	}
	for (size_t i = 0; i < sim.n; i++)
		assert_int_equal(sim.push_ret[i], 0);
	jitter_get_stats(jb, &stats);
	assert_int_equal(stats.late, 0);
	assert_int_equal(stats.resets, 0);
	/* The four short pauses moved the clock (the long one restarts the measures). */
	assert_int_equal(stats.pauses, 4);
	/* The target stays low: the pauses were not taken for jitter. */
	assert_true(jitter_target_frames(jb) <= JITTER_MIN_FRAMES + jitter_ms / FRAME_MS + 1);
	jitter_free(jb);
}

static void test_short_pauses(void **state)
{
	(void)state;
	run_short_pauses(0);
}

static void test_short_pauses_jittery(void **state)
{
	(void)state;
	run_short_pauses(15);
}

static void test_bounded(void **state)
{
	struct jitter *jb = jitter_new(FRAME_MS);
	struct jitter_stats stats;

	(void)state;
	/* Nobody pops: the buffer never holds more than its slots. */
	for (uint64_t c = 0; c < 1000; c++) {
		assert_int_equal(push(jb, c, 1000 + c), 0);
		assert_true(jitter_buffered(jb) <= JITTER_SLOTS);
	}
	jitter_get_stats(jb, &stats);
	assert_true(stats.resets > 0);
	jitter_reset(jb);
	assert_int_equal(jitter_buffered(jb), 0);
	jitter_free(jb);
}

static int compare_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/*
 * The target as jitter.h defines it, computed the plain way: the last JITTER_HISTORY
 * transits sorted, their 95th percentile above the lowest, in whole frames.
 */
static unsigned reference_target(const int64_t *transits, size_t count, unsigned previous)
{
	int64_t window[JITTER_HISTORY], spread;
	size_t len = count < JITTER_HISTORY ? count : JITTER_HISTORY;
	unsigned frames;

	if (len < JITTER_MIN_HISTORY)
		return previous;
	memcpy(window, transits + count - len, len * sizeof(window[0]));
	qsort(window, len, sizeof(window[0]), compare_i64);
	spread = window[(len - 1) * 95 / 100] - window[0];
	frames = (unsigned)((spread + FRAME_MS - 1) / FRAME_MS);
	if (frames < JITTER_MIN_FRAMES)
		frames = JITTER_MIN_FRAMES;
	if (frames > JITTER_MAX_FRAMES)
		frames = JITTER_MAX_FRAMES;
	return frames;
}

/*
 * The buffer keeps its history sorted as packets come and go rather than sorting it
 * for every packet: its target must be the plain computation's after every packet
 * measured (stored or late; not duplicates), through calm and jittery stretches,
 * spikes, losses and reordering, with many equal transits.
 */
static void test_target_same_as_reference(void **state)
{
	struct jitter *jb = jitter_new(FRAME_MS);
	int64_t *transits = calloc(2 * MAX_FRAMES, sizeof(*transits));
	uint64_t rng = 0x9e3779b97f4a7c15u, anchor = 0;
	int64_t history[JITTER_HISTORY];
	size_t history_len;
	size_t count = 0, next_push = 0, order[MAX_FRAMES];
	unsigned target = JITTER_INITIAL_FRAMES, seen = 0, late = 0;
	bool anchored = false;
	struct jitter_stats stats;

	(void)state;
	assert_non_null(transits);
	sim_init(MAX_FRAMES, 5000);
	for (size_t i = 0; i < sim.n; i++) {
		uint64_t r;

		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		r = rng;
		switch (i / 150 % 4) {
		case 0: /* calm: 0 to 2 ms */
			sim.arrival[i] += r % 3;
			break;
		case 1: /* jittery: 0 to 59 ms */
			sim.arrival[i] += r % 60;
			break;
		case 2: /* calm with a 150 to 250 ms spike now and then */
			sim.arrival[i] += r % 97 == 0 ? 150 + r % 101 : r % 4;
			break;
		default: /* jittery with losses */
			if (r % 13 == 0)
				sim.arrival[i] = LOST;
			else
				sim.arrival[i] += r % 120;
			break;
		}
	}
	/* Arrival order, ties by counter. */
	for (size_t i = 0; i < sim.n; i++)
		order[i] = i;
	for (size_t i = 1; i < sim.n; i++)
		for (size_t j = i; j > 0 && sim.arrival[order[j]] < sim.arrival[order[j - 1]]; j--) {
			size_t tmp = order[j];

			order[j] = order[j - 1];
			order[j - 1] = tmp;
		}
	for (uint64_t now = 1000; next_push < sim.n; now += FRAME_MS) {
		struct jitter_frame out;

		while (next_push < sim.n && sim.arrival[order[next_push]] != LOST &&
		       sim.arrival[order[next_push]] <= now) {
			size_t i = order[next_push++];
			uint64_t counter = sim.base + i;
			int ret = push(jb, counter, sim.arrival[i]);

			assert_true(ret == 0 || ret == -ETIME);
			late += ret == -ETIME;
			if (!anchored) {
				anchored = true;
				anchor = counter;
			}
			transits[count++] = (int64_t)sim.arrival[i] -
					    (int64_t)(counter - anchor) * FRAME_MS;
			/*
			 * Jitter can look like a sender pause, and the buffer then records
			 * the packet on a moved clock (test_short_pauses): compute from the
			 * transits it did record. Until the first pause, these are the ones
			 * computed here, but for a packet taken for a pause's first (recorded
			 * as the floor until the next packet shows it was a burst).
			 */
			jitter_get_stats(jb, &stats);
			history_len = jitter_history(jb, history, JITTER_HISTORY);
			assert_int_equal(history_len, count < JITTER_HISTORY ? count : JITTER_HISTORY);
			if (stats.pauses == 0)
				assert_true(history[history_len - 1] <= transits[count - 1]);
			target = reference_target(history, history_len, target);
			assert_int_equal(jitter_target_frames(jb), target);
			seen |= 1u << target;
			/* A duplicate is not measured again. */
			if (ret == 0 && i % 7 == 0) {
				assert_int_equal(push(jb, counter, sim.arrival[i] + 1), -EEXIST);
				assert_int_equal(jitter_target_frames(jb), target);
			}
		}
		if (next_push < sim.n && sim.arrival[order[next_push]] == LOST)
			next_push = sim.n; /* losses sort last: the stream is over */
		jitter_pop(jb, now, &out);
	}
	/* The stream did move the target up and down, and had late packets. */
	assert_true(count > JITTER_HISTORY * 5);
	assert_true(__builtin_popcount(seen) >= 4);
	assert_true(late > 0);
	jitter_get_stats(jb, &stats);
	assert_int_equal(stats.resets, 0);
	/* And some of it looked like a pause, so the moved clock was checked too. */
	assert_true(stats.pauses > 0);
	free(transits);
	jitter_free(jb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_in_order),
		cmocka_unit_test(test_reordered),
		cmocka_unit_test(test_duplicated),
		cmocka_unit_test(test_lost),
		cmocka_unit_test(test_late),
		cmocka_unit_test(test_adapts_to_jitter),
		cmocka_unit_test(test_counter_jump),
		cmocka_unit_test(test_sender_pause),
		cmocka_unit_test(test_short_pauses),
		cmocka_unit_test(test_short_pauses_jittery),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_target_same_as_reference),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
