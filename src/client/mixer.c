/*
 * mixer.c - summing and a look-ahead limiter.
 *
 * For each input sample x[n] the limiter wants gain t[n] = min(1, ceiling / |x[n]|).
 * Output sample n is x[n - L] times g[n], where
 *   h[n] = min(t[n - L .. n])          (holds the lowest wanted gain for L samples),
 *   r[n] = h[n] if h[n] < r[n - 1], else r[n - 1] eased towards h[n] (release),
 *   g[n] = mean(r[n - L + 1 .. n])     (turns steps into ramps of L samples).
 * Every h[k] in that mean covers t[n - L], and r[k] <= h[k], so g[n] <= t[n - L]: the
 * delayed sample never exceeds the ceiling, yet the gain only ever moves smoothly.
 *
 * h[n] is a sliding-window minimum, kept in O(1) amortised time per sample by a
 * monotonic queue: the queue holds, oldest first, the wanted gains of the window that
 * are below unity and lower than every gain that came after them (a gain followed by
 * one as low or lower can never be the minimum again). Its head is then the window's
 * minimum, and an empty queue means that every gain in the window is 1 (t[n] <= 1
 * always). The minimum is exact, so the output is the same as a search of the whole
 * window's.
 *
 * Most of the time nothing comes near the ceiling and the limiter is idle: the queue
 * is empty and the last L eased gains r[] were exactly 1, so g[n] = 1 and the output
 * is the delayed input. While a sample within the ceiling keeps it so, mixer_limit
 * takes a short path that only moves the delay line (the same output, bit for bit).
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>

#include "mixer.h"
#include "util.h"

struct mixer {
	size_t lookahead; /* L */
	double release; /* per-sample easing towards a higher gain */
	size_t pos; /* write position in delay */
	float delay[MIXER_MAX_LOOKAHEAD + 1]; /* x[n - L .. n] */
	/*
	 * The monotonic queue of wanted gains below unity (see above), a ring of at most
	 * L + 1 entries: gains strictly increasing from head to tail, each with the
	 * number of its sample so that it leaves when it leaves the window.
	 */
	float low_gain[MIXER_MAX_LOOKAHEAD + 1];
	uint64_t low_sample[MIXER_MAX_LOOKAHEAD + 1];
	size_t low_head;
	size_t low_count;
	uint64_t sample; /* n: samples taken so far */
	/* Double precision, or the easing stalls short of 1 in float's rounding. */
	double eased[MIXER_MAX_LOOKAHEAD]; /* r[n - L + 1 .. n] */
	size_t eased_pos;
	double last_eased; /* r[n - 1] */
	double eased_sum;
	/* How many r[] in a row, up to r[n - 1], were exactly 1 (counted up to L). */
	size_t unity_run;
	float gain; /* g[n] */
};

struct mixer *mixer_new(unsigned sample_rate)
{
	struct mixer *mixer;
	size_t i;

	if (sample_rate < 8000 || sample_rate > 96000)
		fatal("mixer_new: bad sample rate %u", sample_rate);
	mixer = xcalloc(1, sizeof(*mixer));
	mixer->lookahead = (size_t)lround(sample_rate * MIXER_LOOKAHEAD_MS / 1000.0);
	if (mixer->lookahead > MIXER_MAX_LOOKAHEAD)
		mixer->lookahead = MIXER_MAX_LOOKAHEAD;
	mixer->release = 1.0 - exp(-1000.0 / (MIXER_RELEASE_MS * sample_rate));
	for (i = 0; i < mixer->lookahead; i++)
		mixer->eased[i] = 1.0;
	mixer->last_eased = 1.0;
	mixer->unity_run = mixer->lookahead;
	mixer->gain = 1.0f;
	return mixer;
}

void mixer_free(struct mixer *mixer)
{
	free(mixer);
}

size_t mixer_latency(const struct mixer *mixer)
{
	return mixer->lookahead;
}

float mixer_limiter_gain(const struct mixer *mixer)
{
	return mixer->gain;
}

/* Re-adds the mean's terms so that rounding errors cannot pile up across calls. */
static void mixer_resum(struct mixer *mixer)
{
	mixer->eased_sum = 0;
	for (size_t i = 0; i < mixer->lookahead; i++)
		mixer->eased_sum += mixer->eased[i];
}

/* Index i of the queue's ring, moved on by step (at most the ring's size). */
static size_t mixer_low_index(size_t i, size_t step)
{
	i += step;
	return i >= MIXER_MAX_LOOKAHEAD + 1 ? i - (MIXER_MAX_LOOKAHEAD + 1) : i;
}

/* Drops t[n - L - 1] from the window's minimum queue, adds t[n], and returns h[n]. */
static float mixer_hold(struct mixer *mixer, float want)
{
	size_t tail;

	/*
	 * t[n - L - 1] leaves the window, so at most one entry expires; dropping it
	 * first leaves room for the new one in L + 1 entries.
	 */
	if (mixer->low_count > 0 &&
	    mixer->sample - mixer->low_sample[mixer->low_head] > mixer->lookahead) {
		mixer->low_head = mixer_low_index(mixer->low_head, 1);
		mixer->low_count--;
	}
	if (want < 1.0f) {
		/* Gains at or above the new one can never be the minimum again. */
		while (mixer->low_count > 0 &&
		       mixer->low_gain[mixer_low_index(mixer->low_head, mixer->low_count - 1)] >=
			       want)
			mixer->low_count--;
		tail = mixer_low_index(mixer->low_head, mixer->low_count);
		mixer->low_gain[tail] = want;
		mixer->low_sample[tail] = mixer->sample;
		mixer->low_count++;
	}
	return mixer->low_count > 0 ? mixer->low_gain[mixer->low_head] : 1.0f;
}

/* mixer_limit's long path, for magnitude |x[n]| and the delayed sample out. */
static __attribute__((noinline)) float mixer_limit_active(struct mixer *mixer, float magnitude,
							    float out)
{
	float held;
	double eased;

	held = mixer_hold(mixer, magnitude > MIXER_CEILING ? MIXER_CEILING / magnitude : 1.0f);
	mixer->sample++;

	if (held < mixer->last_eased) {
		eased = held;
	} else {
		eased = mixer->last_eased + mixer->release * (held - mixer->last_eased);
		/*
		 * Land exactly on the held gain once within 1e-5 (-0.0001 dB), so that
		 * unity gain becomes exact again.
		 */
		if (held - eased < 1e-5)
			eased = held;
	}
	mixer->last_eased = eased;
	if (eased != 1.0)
		mixer->unity_run = 0;
	else if (mixer->unity_run < mixer->lookahead)
		mixer->unity_run++;

	if (mixer->lookahead == 0) {
		mixer->gain = (float)eased;
	} else {
		mixer->eased_sum += eased - mixer->eased[mixer->eased_pos];
		mixer->eased[mixer->eased_pos] = eased;
		if (++mixer->eased_pos == mixer->lookahead)
			mixer->eased_pos = 0;
		mixer->gain = (float)(mixer->eased_sum / (double)mixer->lookahead);
		if (mixer->gain > 1.0f)
			mixer->gain = 1.0f;
	}
	return out * mixer->gain;
}

/*
 * Takes input sample x[n] and returns output sample n, limited. The idle case is
 * inlined into the mixing loops; the rest is mixer_limit_active.
 */
static inline float mixer_limit(struct mixer *mixer, float x)
{
	float magnitude = fabsf(x);
	float out;

	mixer->delay[mixer->pos] = x;
	if (++mixer->pos > mixer->lookahead)
		mixer->pos = 0;
	/* After the step, pos holds the oldest sample, x[n - L]. */
	out = mixer->delay[mixer->pos];

	/*
	 * Idle (see the top): t[n] = 1 joins an empty queue, so h[n] = 1; r[n - 1] = 1
	 * gives r[n] = 1; the mean of L ones is 1 when their running sum is exactly L
	 * (it may be off by rounding until mixer_resum, and then the long path runs).
	 * Only the positions move.
	 */
	if (magnitude <= MIXER_CEILING && mixer->low_count == 0 && mixer->last_eased == 1.0 &&
	    mixer->unity_run >= mixer->lookahead && mixer->eased_sum == (double)mixer->lookahead) {
		mixer->sample++;
		if (mixer->lookahead > 0 && ++mixer->eased_pos == mixer->lookahead)
			mixer->eased_pos = 0;
		mixer->gain = 1.0f;
		return out;
	}
	return mixer_limit_active(mixer, magnitude, out);
}

void mixer_mix_s16(struct mixer *mixer, const int16_t *const *sources, const float *gains,
		   size_t n_sources, int16_t *out, size_t frames)
{
	mixer_resum(mixer);
	for (size_t n = 0; n < frames; n++) {
		float sum = 0.0f, y;

		for (size_t i = 0; i < n_sources; i++)
			if (sources[i] != NULL)
				sum += (float)sources[i][n] * (gains != NULL ? gains[i] : 1.0f);
		y = mixer_limit(mixer, sum / 32768.0f) * 32768.0f;
		/* The limiter keeps y within the ceiling; this only guards the conversion. */
		if (y > 32767.0f)
			y = 32767.0f;
		if (y < -32768.0f)
			y = -32768.0f;
		out[n] = (int16_t)lrintf(y);
	}
}

void mixer_mix_float(struct mixer *mixer, const float *const *sources, const float *gains,
		     size_t n_sources, float *out, size_t frames)
{
	mixer_resum(mixer);
	for (size_t n = 0; n < frames; n++) {
		float sum = 0.0f;

		for (size_t i = 0; i < n_sources; i++) {
			float x;

			if (sources[i] == NULL)
				continue;
			x = sources[i][n] * (gains != NULL ? gains[i] : 1.0f);
			if (isfinite(x))
				sum += x;
		}
		if (!isfinite(sum))
			sum = 0.0f;
		out[n] = mixer_limit(mixer, sum);
	}
}
