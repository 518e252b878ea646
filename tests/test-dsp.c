/*
 * test-dsp.c - the speexdsp preprocessor behind dsp.h: white noise is suppressed,
 * quiet speech-like bursts are raised by the AGC, and frames of the wrong size are
 * refused without touching the samples.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dsp.h"

#define RATE 48000
#define FRAME 960

/* A small deterministic generator, so the test never depends on luck. */
static uint32_t test_rng = 12345;
static double uniform(void)
{
	test_rng = test_rng * 1664525u + 1013904223u;
	return (double)(test_rng >> 8) / (double)(1u << 24) * 2.0 - 1.0;
}

static double energy(const int16_t *pcm, size_t n)
{
	double sum = 0;

	for (size_t i = 0; i < n; i++)
		sum += (double)pcm[i] * pcm[i];
	return sum / (double)n;
}

/* Runs every frame of pcm (total samples, a multiple of FRAME) through dsp in place. */
static void process_all(struct dsp *dsp, int16_t *pcm, size_t total)
{
	for (size_t off = 0; off < total; off += FRAME)
		assert_int_equal(dsp_process(dsp, pcm + off, FRAME), 0);
}

static void test_noise_reduced(void **state)
{
	size_t total = 3 * RATE;
	int16_t *in = malloc(total * sizeof(*in));
	int16_t *out = malloc(total * sizeof(*out));
	struct dsp *dsp;
	double e_in, e_out;

	(void)state;
	assert_non_null(in);
	assert_non_null(out);
	for (size_t i = 0; i < total; i++)
		in[i] = (int16_t)lrint(2000.0 * uniform());
	memcpy(out, in, total * sizeof(*in));
	assert_int_equal(dsp_new(RATE, FRAME, &dsp), 0);
	process_all(dsp, out, total);
	/* After the noise estimate has settled (the first second), compare the rest. */
	e_in = energy(in + RATE, total - RATE);
	e_out = energy(out + RATE, total - RATE);
	print_message("white noise: %.1f dB after suppression\n", 10 * log10(e_out / e_in));
	assert_true(e_out < e_in / 4); /* at least 6 dB less */
	dsp_free(dsp);
	free(in);
	free(out);
}

/* Quiet speech-like bursts: voiced harmonics, on for 300 ms, off for 100 ms. */
static void bursts(int16_t *pcm, size_t total, double amplitude)
{
	for (size_t i = 0; i < total; i++) {
		double t = (double)i / RATE;
		size_t phase = i % (RATE * 4 / 10);
		double f0 = 140.0 + 40.0 * sin(2 * M_PI * 0.7 * t);
		double v = 0;

		if (phase < RATE * 3 / 10) {
			for (int h = 1; h <= 8; h++)
				v += sin(2 * M_PI * f0 * h * t) / h;
			v *= amplitude / 2.0;
		}
		pcm[i] = (int16_t)lrint(v + 20.0 * uniform());
	}
}

static void test_agc_raises_quiet_speech(void **state)
{
	size_t total = 6 * RATE;
	int16_t *in = malloc(total * sizeof(*in));
	int16_t *out = malloc(total * sizeof(*out));
	struct dsp *dsp;
	double e_in, e_out;

	(void)state;
	assert_non_null(in);
	assert_non_null(out);
	bursts(in, total, 400.0);
	memcpy(out, in, total * sizeof(*in));
	assert_int_equal(dsp_new(RATE, FRAME, &dsp), 0);
	process_all(dsp, out, total);
	/* The AGC adapts over a few seconds: judge the last two. */
	e_in = energy(in + total - 2 * RATE, 2 * RATE);
	e_out = energy(out + total - 2 * RATE, 2 * RATE);
	print_message("quiet speech: %+.1f dB after AGC\n", 10 * log10(e_out / e_in));
	assert_true(e_out > e_in * 4); /* at least 6 dB louder */
	dsp_free(dsp);

	/* With AGC off, the same input is not made louder. */
	memcpy(out, in, total * sizeof(*in));
	assert_int_equal(dsp_new(RATE, FRAME, &dsp), 0);
	assert_int_equal(dsp_set_agc(dsp, false), 0);
	process_all(dsp, out, total);
	e_out = energy(out + total - 2 * RATE, 2 * RATE);
	assert_true(e_out < e_in * 1.5);
	dsp_free(dsp);
	free(in);
	free(out);
}

static void test_frame_sizes(void **state)
{
	int16_t pcm[FRAME];
	int16_t copy[FRAME];
	struct dsp *dsp;

	(void)state;
	assert_int_equal(dsp_new(RATE, 0, &dsp), -EINVAL);
	assert_int_equal(dsp_new(0, FRAME, &dsp), -EINVAL);
	assert_int_equal(dsp_new(RATE, RATE, &dsp), -EINVAL);

	/* 10 ms frames work as well as 20 ms ones. */
	assert_int_equal(dsp_new(RATE, 480, &dsp), 0);
	assert_int_equal(dsp_frame_samples(dsp), 480);
	for (size_t i = 0; i < FRAME; i++)
		pcm[i] = (int16_t)lrint(1000.0 * uniform());
	memcpy(copy, pcm, sizeof(pcm));
	assert_int_equal(dsp_process(dsp, pcm, FRAME), -EINVAL);
	assert_memory_equal(pcm, copy, sizeof(pcm));
	assert_int_equal(dsp_process(dsp, pcm, 479), -EINVAL);
	assert_memory_equal(pcm, copy, sizeof(pcm));
	assert_int_equal(dsp_process(dsp, pcm, 480), 0);
	assert_int_equal(dsp_process(dsp, pcm + 480, 480), 0);
	dsp_free(dsp);
	dsp_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_noise_reduced),
		cmocka_unit_test(test_agc_raises_quiet_speech),
		cmocka_unit_test(test_frame_sizes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
