/*
 * mixer.h - sums speakers' frames with per-source gain, through a limiter.
 *
 * The limiter is a look-ahead peak limiter: it sees each sample MIXER_LOOKAHEAD_MS
 * before it leaves, lowers the gain along a smooth ramp so that the peak comes out at
 * or below full scale, then lets the gain recover with a release time constant. The
 * output therefore never leaves the int16 range (or [-1, 1] for float) and is never
 * hard-clipped; the cost is mixer_latency() samples of delay, carried from one call to
 * the next (the mixer is meant for one continuous stream).
 *
 * Sources are int16 PCM (full scale 32768) or float PCM (full scale 1.0), mono, all of
 * the same length. A mixer belongs to one thread (the media thread); it never
 * allocates after mixer_new(), so it could run in a real-time callback too.
 */
#ifndef SALON_MIXER_H
#define SALON_MIXER_H

#include <stddef.h>
#include <stdint.h>

#define MIXER_LOOKAHEAD_MS 1.5
#define MIXER_RELEASE_MS 80.0
/* The level the limiter holds peaks to, as a fraction of full scale. */
#define MIXER_CEILING 0.98f
/* The longest look-ahead window, in samples (enough for 1.5 ms at 96 kHz). */
#define MIXER_MAX_LOOKAHEAD 256

struct mixer;

/*
 * Creates a mixer for sample_rate Hz (8000 to 96000), its limiter at unity gain and
 * its delay line silent. Owned by the caller, freed with mixer_free(); aborts on
 * out-of-memory or a sample rate out of range.
 */
struct mixer *mixer_new(unsigned sample_rate);
void mixer_free(struct mixer *mixer);

/*
 * Writes to out (frames samples) the sum of sources[i][n] * gains[i] for the
 * n_sources sources, limited, delayed by mixer_latency() samples. gains may be NULL
 * for unity gain; a source may be NULL for silence; n_sources may be 0.
 */
void mixer_mix_s16(struct mixer *mixer, const int16_t *const *sources, const float *gains,
		   size_t n_sources, int16_t *out, size_t frames);

/* The same for float PCM; non-finite input samples count as silence. */
void mixer_mix_float(struct mixer *mixer, const float *const *sources, const float *gains,
		     size_t n_sources, float *out, size_t frames);

/* The delay that the limiter's look-ahead adds, in samples. */
size_t mixer_latency(const struct mixer *mixer);

/* The gain the limiter applied to the last sample out: 1.0 when it is not limiting. */
float mixer_limiter_gain(const struct mixer *mixer);

#endif
