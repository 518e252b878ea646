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
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>

#include "mixer.h"
#include "util.h"

struct mixer {
	size_t lookahead; /* L */
	double release; /* per-sample easing towards a higher gain */
	size_t pos; /* write position in the rings below */
	float delay[MIXER_MAX_LOOKAHEAD + 1]; /* x[n - L .. n] */
	float want[MIXER_MAX_LOOKAHEAD + 1]; /* t[n - L .. n] */
	/* Double precision, or the easing stalls short of 1 in float's rounding. */
	double eased[MIXER_MAX_LOOKAHEAD]; /* r[n - L + 1 .. n] */
	size_t eased_pos;
	double last_eased; /* r[n - 1] */
	double eased_sum;
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
	for (i = 0; i <= mixer->lookahead; i++)
		mixer->want[i] = 1.0f;
	for (i = 0; i < mixer->lookahead; i++)
		mixer->eased[i] = 1.0;
	mixer->last_eased = 1.0;
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

/* Takes input sample x[n] and returns output sample n, limited. */
static float mixer_limit(struct mixer *mixer, float x)
{
	size_t span = mixer->lookahead + 1;
	float magnitude = fabsf(x);
	float held, out;
	double eased;
	size_t i;

	mixer->delay[mixer->pos] = x;
	mixer->want[mixer->pos] = magnitude > MIXER_CEILING ? MIXER_CEILING / magnitude : 1.0f;
	mixer->pos = (mixer->pos + 1) % span;
	/* After the step, pos holds the oldest sample, x[n - L]. */
	out = mixer->delay[mixer->pos];

	held = 1.0f;
	for (i = 0; i < span; i++)
		if (mixer->want[i] < held)
			held = mixer->want[i];

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

	if (mixer->lookahead == 0) {
		mixer->gain = (float)eased;
	} else {
		mixer->eased_sum += eased - mixer->eased[mixer->eased_pos];
		mixer->eased[mixer->eased_pos] = eased;
		mixer->eased_pos = (mixer->eased_pos + 1) % mixer->lookahead;
		mixer->gain = (float)(mixer->eased_sum / (double)mixer->lookahead);
		if (mixer->gain > 1.0f)
			mixer->gain = 1.0f;
	}
	return out * mixer->gain;
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
