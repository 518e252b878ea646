/*
 * test-mixer.c - mixing with gains, and the look-ahead limiter: transparent when
 * quiet, smooth and within range when loud, and recovering afterwards.
 */
#include "config.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mixer.h"

#define RATE 48000
#define FRAME 960
#define SECONDS 2
#define TOTAL (RATE * SECONDS)

/* The largest output the limiter may produce, in int16 units. */
#define CEILING_S16 ((int)lrintf(MIXER_CEILING * 32768.0f))

static int16_t *sine(double freq, double amplitude, double phase)
{
	int16_t *pcm = malloc(TOTAL * sizeof(*pcm));

	assert_non_null(pcm);
	for (size_t i = 0; i < TOTAL; i++)
		pcm[i] = (int16_t)lrint(amplitude *
					sin(2 * M_PI * freq * (double)i / RATE + phase));
	return pcm;
}

/* Mixes whole streams frame by frame, as the media thread does. */
static void mix_stream(struct mixer *mixer, int16_t **sources, const float *gains,
		       size_t n_sources, int16_t *out, size_t total)
{
	for (size_t off = 0; off < total; off += FRAME) {
		const int16_t *frame[8];

		for (size_t i = 0; i < n_sources; i++)
			frame[i] = sources[i] != NULL ? sources[i] + off : NULL;
		mixer_mix_s16(mixer, frame, gains, n_sources, out + off, FRAME);
	}
}

static void test_silence_plus_x_is_x(void **state)
{
	struct mixer *mixer = mixer_new(RATE);
	int16_t *x = sine(440, 30000, 0.3); /* loud, but under the ceiling */
	int16_t *silence = calloc(TOTAL, sizeof(*silence));
	int16_t *out = malloc(TOTAL * sizeof(*out));
	int16_t *sources[3] = {silence, x, NULL};
	size_t latency = mixer_latency(mixer);

	(void)state;
	/* About 1.5 ms of look-ahead. */
	assert_true(latency >= 48 && latency <= 96);
	mix_stream(mixer, sources, NULL, 3, out, TOTAL);
	for (size_t n = 0; n < latency; n++)
		assert_int_equal(out[n], 0);
	/* Exactly x, only delayed, across frame boundaries too. */
	for (size_t n = latency; n < TOTAL; n++)
		assert_int_equal(out[n], x[n - latency]);
	assert_true(mixer_limiter_gain(mixer) == 1.0f);
	free(x);
	free(silence);
	free(out);
	mixer_free(mixer);
}

static void test_gains(void **state)
{
	struct mixer *mixer = mixer_new(RATE);
	int16_t *a = sine(300, 20000, 0);
	int16_t *b = sine(700, 20000, 1);
	int16_t *out = malloc(TOTAL * sizeof(*out));
	int16_t *sources[2] = {a, b};
	const float gains[2] = {0.25f, 0.5f};
	size_t latency = mixer_latency(mixer);

	(void)state;
	mix_stream(mixer, sources, gains, 2, out, TOTAL);
	for (size_t n = latency; n < TOTAL; n++) {
		double want = 0.25 * a[n - latency] + 0.5 * b[n - latency];

		assert_true(fabs(out[n] - want) <= 1.0);
	}
	/* Gain 0 mutes. */
	{
		const float muted[2] = {0.0f, 0.0f};

		mix_stream(mixer, sources, muted, 2, out, TOTAL);
		for (size_t n = latency; n < TOTAL; n++)
			assert_int_equal(out[n], 0);
	}
	free(a);
	free(b);
	free(out);
	mixer_free(mixer);
}

/* Normalised correlation of out (delayed by lag) with x. */
static double correlation(const int16_t *x, const int16_t *out, size_t n, size_t lag)
{
	double xy = 0, xx = 0, yy = 0;

	for (size_t i = 0; i + lag < n; i++) {
		xy += (double)x[i] * out[i + lag];
		xx += (double)x[i] * x[i];
		yy += (double)out[i + lag] * out[i + lag];
	}
	return xy / sqrt(xx * yy);
}

static void test_two_full_scale_sines(void **state)
{
	struct mixer *mixer = mixer_new(RATE);
	int16_t *a = sine(440, 32767, 0);
	int16_t *b = sine(440, 32767, 0);
	int16_t *out = malloc(TOTAL * sizeof(*out));
	int16_t *sources[2] = {a, b};
	size_t latency = mixer_latency(mixer), run = 0, longest = 0;
	int peak = 0;

	(void)state;
	mix_stream(mixer, sources, NULL, 2, out, TOTAL);
	for (size_t n = 0; n < TOTAL; n++) {
		if (abs(out[n]) > peak)
			peak = abs(out[n]);
		/* A hard clip shows as runs of equal samples at the top. */
		if (n > 0 && abs(out[n]) > 16000 && out[n] == out[n - 1])
			run++;
		else
			run = 0;
		if (run > longest)
			longest = run;
	}
	/* Held at the ceiling by the limiter, not by the int16 conversion... */
	assert_true(peak <= CEILING_S16);
	assert_true(peak >= CEILING_S16 - 200);
	/* ...with no flat tops... */
	assert_true(longest < 2);
	/* ...and still a clean sine: the gain moves slowly, so the shape is kept. */
	assert_true(correlation(a, out, TOTAL, latency) > 0.999);
	assert_true(mixer_limiter_gain(mixer) < 0.55f);
	free(a);
	free(b);
	free(out);
	mixer_free(mixer);
}

static void test_float_full_scale(void **state)
{
	struct mixer *mixer = mixer_new(RATE);
	float *a = malloc(FRAME * sizeof(*a));
	float *out = malloc(FRAME * sizeof(*out));
	const float *sources[3];
	float peak = 0;

	(void)state;
	sources[0] = a;
	sources[1] = a;
	sources[2] = a;
	for (int f = 0; f < 50; f++) {
		for (size_t i = 0; i < FRAME; i++)
			a[i] = (float)sin(2 * M_PI * 1000 * (double)(f * FRAME + i) / RATE);
		if (f == 10)
			a[5] = NAN; /* garbage in must not poison the stream */
		mixer_mix_float(mixer, sources, NULL, 3, out, FRAME);
		for (size_t i = 0; i < FRAME; i++) {
			assert_true(isfinite(out[i]));
			if (fabsf(out[i]) > peak)
				peak = fabsf(out[i]);
		}
	}
	assert_true(peak <= MIXER_CEILING + 1e-5f);
	assert_true(peak > 0.9f);
	free(a);
	free(out);
	mixer_free(mixer);
}

static void test_attack_is_a_ramp(void **state)
{
	struct mixer *mixer = mixer_new(RATE);
	size_t latency = mixer_latency(mixer);
	float last = 1.0f, steepest = 0.0f;

	(void)state;
	/* Silence, then a sudden square wave at four times full scale, sample by sample. */
	for (size_t n = 0; n < 2000; n++) {
		int16_t loud = n < 1000 ? 0 : (n / 50 % 2 ? 32767 : -32767), y;
		const int16_t *sources[4] = {&loud, &loud, &loud, &loud};
		float g;

		mixer_mix_s16(mixer, sources, NULL, 4, &y, 1);
		assert_true(abs(y) <= CEILING_S16);
		g = mixer_limiter_gain(mixer);
		if (last - g > steepest)
			steepest = last - g;
		last = g;
	}
	/* From 1 down to about 0.245, spread over the look-ahead rather than one step. */
	assert_true(last < 0.26f);
	assert_true(steepest <= (1.0f - last) / (float)latency * 1.01f);
	mixer_free(mixer);
}

static void test_recovers_after_burst(void **state)
{
	struct mixer *mixer = mixer_new(RATE);
	int16_t *quiet = sine(500, 8000, 0);
	int16_t *burst = calloc(TOTAL, sizeof(*burst));
	int16_t *out = malloc(TOTAL * sizeof(*out));
	size_t latency = mixer_latency(mixer);
	size_t burst_end = RATE / 2 + RATE / 10;
	float gain_in_burst = 1.0f, gain_soon_after = 0.0f;

	(void)state;
	/* 100 ms of a loud chord from 0.5 s, over a quiet tone throughout. */
	for (size_t i = RATE / 2; i < burst_end; i++)
		burst[i] = (int16_t)lrint(30000 * sin(2 * M_PI * 220 * (double)i / RATE));
	for (size_t off = 0; off < TOTAL; off += FRAME) {
		const int16_t *frame[3] = {quiet + off, burst + off, burst + off};

		mixer_mix_s16(mixer, frame, NULL, 3, out + off, FRAME);
		if (off + FRAME == burst_end)
			gain_in_burst = mixer_limiter_gain(mixer);
		if (off == burst_end + FRAME)
			gain_soon_after = mixer_limiter_gain(mixer);
	}
	for (size_t n = 0; n < TOTAL; n++)
		assert_true(abs(out[n]) <= CEILING_S16);
	assert_true(gain_in_burst < 0.6f);
	/* The release is gradual: 20 ms after the burst, the gain is still coming back. */
	assert_true(gain_soon_after > gain_in_burst);
	assert_true(gain_soon_after < 0.95f);
	/* And fully back: the last half second is the quiet tone again, untouched. */
	assert_true(mixer_limiter_gain(mixer) == 1.0f);
	for (size_t n = TOTAL - RATE / 2; n < TOTAL; n++)
		assert_int_equal(out[n], quiet[n - latency]);
	free(quiet);
	free(burst);
	free(out);
	mixer_free(mixer);
}

/*
 * A straightforward limiter to compare the mixer's with: the equations at the top of
 * mixer.c, with the held gain found by searching the whole look-ahead window for every
 * sample (as mixer.c did before its sliding-window minimum). The mean is re-added at
 * the start of each call, as mixer.c does, so that both round alike.
 */
struct ref_limiter {
	size_t lookahead, pos, eased_pos;
	double release, last_eased, eased_sum;
	float delay[MIXER_MAX_LOOKAHEAD + 1];
	float want[MIXER_MAX_LOOKAHEAD + 1];
	double eased[MIXER_MAX_LOOKAHEAD];
	float gain;
};

static void ref_init(struct ref_limiter *ref, unsigned rate)
{
	memset(ref, 0, sizeof(*ref));
	ref->lookahead = (size_t)lround(rate * MIXER_LOOKAHEAD_MS / 1000.0);
	if (ref->lookahead > MIXER_MAX_LOOKAHEAD)
		ref->lookahead = MIXER_MAX_LOOKAHEAD;
	ref->release = 1.0 - exp(-1000.0 / (MIXER_RELEASE_MS * rate));
	for (size_t i = 0; i <= ref->lookahead; i++)
		ref->want[i] = 1.0f;
	for (size_t i = 0; i < ref->lookahead; i++)
		ref->eased[i] = 1.0;
	ref->last_eased = 1.0;
	ref->gain = 1.0f;
}

static void ref_resum(struct ref_limiter *ref)
{
	ref->eased_sum = 0;
	for (size_t i = 0; i < ref->lookahead; i++)
		ref->eased_sum += ref->eased[i];
}

static float ref_limit(struct ref_limiter *ref, float x)
{
	size_t span = ref->lookahead + 1;
	float magnitude = fabsf(x), held = 1.0f, out;
	double eased;

	ref->delay[ref->pos] = x;
	ref->want[ref->pos] = magnitude > MIXER_CEILING ? MIXER_CEILING / magnitude : 1.0f;
	ref->pos = (ref->pos + 1) % span;
	out = ref->delay[ref->pos];
	for (size_t i = 0; i < span; i++)
		if (ref->want[i] < held)
			held = ref->want[i];
	if (held < ref->last_eased) {
		eased = held;
	} else {
		eased = ref->last_eased + ref->release * (held - ref->last_eased);
		if (held - eased < 1e-5)
			eased = held;
	}
	ref->last_eased = eased;
	if (ref->lookahead == 0) {
		ref->gain = (float)eased;
	} else {
		ref->eased_sum += eased - ref->eased[ref->eased_pos];
		ref->eased[ref->eased_pos] = eased;
		ref->eased_pos = (ref->eased_pos + 1) % ref->lookahead;
		ref->gain = (float)(ref->eased_sum / (double)ref->lookahead);
		if (ref->gain > 1.0f)
			ref->gain = 1.0f;
	}
	return out * ref->gain;
}

/* xorshift64: the same pseudo-random signals on every run. */
static uint64_t rng_next(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

/* Uniform in [-1, 1). */
static double rng_signed(uint64_t *state)
{
	return (double)(rng_next(state) >> 11) / 4503599627370496.0 - 1.0;
}

/*
 * A test signal of total samples, in multiples of full scale: stretches of silence,
 * quiet and loud noise (up to 4 times full scale), isolated spikes, and slow rises
 * and falls of loudness (a fall is the monotonic queue's longest case).
 */
static void ref_signal(float *x, size_t total, uint64_t *rng)
{
	size_t n = 0;

	while (n < total) {
		size_t len = 1 + (size_t)(rng_next(rng) % 3000), kind = rng_next(rng) % 6;
		double level = 4.0 * (rng_signed(rng) + 1.0) / 2.0;

		for (size_t i = 0; i < len && n < total; i++, n++) {
			double ramp = (double)i / (double)len;

			switch (kind) {
			case 0:
				x[n] = 0.0f;
				break;
			case 1:
				x[n] = (float)(0.5 * rng_signed(rng));
				break;
			case 2:
				x[n] = (float)(level * rng_signed(rng));
				break;
			case 3:
				x[n] = rng_next(rng) % 100 == 0 ? (float)(level * rng_signed(rng)) :
								  0.0f;
				break;
			case 4:
				x[n] = (float)(level * (1.0 - ramp) * (n % 2 ? 1 : -1));
				break;
			default:
				x[n] = (float)(level * ramp * rng_signed(rng));
				break;
			}
		}
	}
}

static void test_same_as_reference(void **state)
{
	static const unsigned rates[] = {8000, 16000, 44100, 48000, 96000};
	const size_t total = 4 * RATE;
	float *x = malloc(total * sizeof(*x)), *out = malloc(total * sizeof(*out));
	int16_t *x16 = malloc(total * sizeof(*x16)), *out16 = malloc(total * sizeof(*out16));
	uint64_t rng = 0x5a10f00dcafe1234u;
	size_t limited = 0;

	(void)state;
	assert_non_null(x);
	assert_non_null(out);
	assert_non_null(x16);
	assert_non_null(out16);
	for (size_t r = 0; r < sizeof(rates) / sizeof(rates[0]); r++) {
		struct mixer *mixer = mixer_new(rates[r]), *mixer16 = mixer_new(rates[r]);
		struct ref_limiter ref, ref16;

		ref_init(&ref, rates[r]);
		ref_init(&ref16, rates[r]);
		assert_int_equal(mixer_latency(mixer), ref.lookahead);
		ref_signal(x, total, &rng);
		/* The same signal in int16 at a quarter of its level, summed four times. */
		for (size_t n = 0; n < total; n++)
			x16[n] = (int16_t)lrintf(fmaxf(fminf(x[n] / 4.0f, 0.999f), -1.0f) * 32768.0f);
		for (size_t off = 0; off < total;) {
			/* Calls of every length, frames and single samples alike. */
			size_t len = 1 + (size_t)(rng_next(&rng) % 1200);
			const float *src[1] = {x + off};
			const int16_t *src16[4] = {x16 + off, x16 + off, x16 + off, x16 + off};

			if (len > total - off)
				len = total - off;
			mixer_mix_float(mixer, src, NULL, 1, out + off, len);
			mixer_mix_s16(mixer16, src16, NULL, 4, out16 + off, len);
			ref_resum(&ref);
			ref_resum(&ref16);
			for (size_t n = off; n < off + len; n++) {
				float want = ref_limit(&ref, 0.0f + x[n]);
				float y = ref_limit(&ref16, 4.0f * (float)x16[n] / 32768.0f) * 32768.0f;

				/* Bit for bit the same output, in both formats. */
				assert_true(memcmp(&out[n], &want, sizeof(want)) == 0);
				y = fmaxf(fminf(y, 32767.0f), -32768.0f);
				assert_int_equal(out16[n], (int16_t)lrintf(y));
				if (ref.gain < 1.0f)
					limited++;
			}
			assert_true(mixer_limiter_gain(mixer) == ref.gain);
			assert_true(mixer_limiter_gain(mixer16) == ref16.gain);
			off += len;
		}
		mixer_free(mixer);
		mixer_free(mixer16);
	}
	/* The signals did make the limiter work, a good part of the time. */
	assert_true(limited > total);
	free(x);
	free(out);
	free(x16);
	free(out16);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_silence_plus_x_is_x),
		cmocka_unit_test(test_gains),
		cmocka_unit_test(test_two_full_scale_sines),
		cmocka_unit_test(test_float_full_scale),
		cmocka_unit_test(test_attack_is_a_ramp),
		cmocka_unit_test(test_recovers_after_burst),
		cmocka_unit_test(test_same_as_reference),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
