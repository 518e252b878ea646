/*
 * jitter.h - per-speaker adaptive jitter buffer for Opus packets.
 *
 * Packets are keyed by the sender's frame counter (the SFrame CTR, one per frame).
 * The media thread pushes each packet as it arrives and pops once per frame tick; a
 * pop says what to play for that tick: a packet to decode, "rebuild this frame from
 * the FEC data of the next packet", "conceal" (Opus PLC), or nothing (the speaker is
 * silent or the buffer is still filling).
 *
 * Timing: for every packet the buffer measures its transit, arrival time minus the
 * time at which its counter was due (counter * frame length, from an anchor). The
 * target delay is the 95th percentile of (transit - lowest recent transit) over the
 * last JITTER_HISTORY packets, rounded up to whole frames and kept between
 * JITTER_MIN_FRAMES and JITTER_MAX_FRAMES. Frame c is played target frames after a
 * packet with the lowest transit would have arrived. When the target or the transit
 * floor moves, the buffer conceals one extra frame (to play later) or skips one (to
 * play sooner). It plays frame c between half a frame before and one frame after c is
 * due; that band, wider than the one-frame step, keeps it from flapping when the
 * ticks jitter.
 *
 * Memory is bounded: a fixed array of JITTER_SLOTS packet slots, each holding at most
 * JITTER_MAX_PACKET bytes (allocated as packets come, to the longest one seen).
 * Packets more than JITTER_SLOTS ahead of the playout point, or far behind it, mean
 * the sender's counter jumped (it restarted): the buffer resets and starts over.
 * When the sender pauses (it stops sending while muted, and its counter stops too),
 * the buffer runs dry and, after JITTER_IDLE_POPS concealed frames, goes idle. The
 * sender's next packet then comes later than its counter says, by the pause's
 * length: when it comes, in order, on a dry buffer and too late for its turn, the
 * buffer takes it back from the frames concealed meanwhile, plays it one target
 * delay after it came, and moves its clock by as much, keeping the jitter measured
 * so far. The packet after it decides: at the sender's pace behind it, the pause is
 * confirmed (stats.pauses); in a burst right behind it, the network had held the
 * stream rather than the sender paused, and the clock goes back (the buffer then
 * catches up by skipping, as when the delay falls). After a pause longer than
 * JITTER_PAUSE_MS, the buffer forgets its measurements and starts them anew.
 *
 * Errors as in util.h. A jitter buffer belongs to one thread (the media thread);
 * nothing here is for the real-time audio callback, and nothing allocates after
 * jitter_new().
 */
#ifndef SALON_JITTER_H
#define SALON_JITTER_H

#include <stddef.h>
#include <stdint.h>

/* Packet slots (a power of two): 1.28 s of 20 ms frames. */
#define JITTER_SLOTS 64
/* The largest packet kept (the largest Opus packet, RFC 6716). */
#define JITTER_MAX_PACKET 1275
#define JITTER_MIN_FRAMES 1
#define JITTER_MAX_FRAMES 10
/* Target delay before enough packets have been measured. */
#define JITTER_INITIAL_FRAMES 3
/* Transit samples kept to estimate jitter, and how many it takes to trust them. */
#define JITTER_HISTORY 128
#define JITTER_MIN_HISTORY 16
/* Concealed frames in a row on an empty buffer before the speaker counts as silent. */
#define JITTER_IDLE_POPS 10
/*
 * A sender pause this long (arrivals this much further apart than the counters say)
 * makes the buffer forget its transit measurements: the route may have changed.
 */
#define JITTER_PAUSE_MS 1000

enum jitter_action {
	JITTER_NOTHING = 0, /* play nothing for this speaker (silent or still filling) */
	JITTER_PACKET, /* decode data: the packet of frame counter */
	JITTER_FEC, /* frame counter is lost: decode FEC from data, frame counter + 1 */
	JITTER_CONCEAL, /* frame counter is lost or late: conceal (Opus PLC) */
};

struct jitter_frame {
	enum jitter_action action;
	/* The frame this tick stands for (meaningless for JITTER_NOTHING). */
	uint64_t counter;
	/*
	 * For JITTER_PACKET and JITTER_FEC, the packet to hand to the decoder, owned by
	 * the buffer and valid until the next call on it; NULL otherwise.
	 */
	const uint8_t *data;
	size_t len;
};

struct jitter_stats {
	uint64_t received; /* packets stored */
	uint64_t duplicates; /* dropped: already buffered */
	uint64_t late; /* dropped: their frame had been played or concealed */
	uint64_t resets; /* counter jumps */
	uint64_t played; /* JITTER_PACKET results */
	uint64_t fec; /* JITTER_FEC results */
	uint64_t concealed; /* JITTER_CONCEAL results, stretches included */
	uint64_t stretched; /* extra frames concealed to raise the delay */
	uint64_t skipped; /* frames skipped to lower the delay */
	uint64_t pauses; /* sender pauses the clock was moved past */
};

struct jitter;

/*
 * Creates an empty buffer for frames of frame_ms milliseconds (1 to 120). Returns
 * the buffer, owned by the caller and freed with jitter_free(); aborts on
 * out-of-memory. Media thread.
 */
struct jitter *jitter_new(unsigned frame_ms);
void jitter_free(struct jitter *jb);

/* Forgets every packet and the clock, as after a counter jump. */
void jitter_reset(struct jitter *jb);

/*
 * Stores a copy of packet (len bytes) for frame counter, which arrived at arrival_ms
 * (a monotonic clock in milliseconds, the same one that jitter_pop() is given).
 * Returns 0 when stored, -EEXIST for a duplicate, -ETIME when the frame has already
 * been played or concealed (too late), -EMSGSIZE when len is 0 or above
 * JITTER_MAX_PACKET. A late packet still counts towards the jitter estimate.
 */
int jitter_push(struct jitter *jb, uint64_t counter, const uint8_t *packet, size_t len,
		uint64_t arrival_ms);

/*
 * Says what to play for the frame tick at now_ms, filling *out; call it once per
 * frame period. out->data, when set, stays valid until the next call on jb.
 */
void jitter_pop(struct jitter *jb, uint64_t now_ms, struct jitter_frame *out);

/* The current target delay in frames. */
unsigned jitter_target_frames(const struct jitter *jb);

/*
 * Copies the last transits measured (at most max, up to JITTER_HISTORY), oldest
 * first, in milliseconds on the buffer's clock, into transits; returns how many.
 * For tests and diagnostics.
 */
size_t jitter_history(const struct jitter *jb, int64_t *transits, size_t max);

/* Packets buffered now. */
size_t jitter_buffered(const struct jitter *jb);

/* Copies the counters since jitter_new() (resets do not clear them). */
void jitter_get_stats(const struct jitter *jb, struct jitter_stats *stats);

#endif
