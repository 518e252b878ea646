/*
 * test-codec.c - Opus at constant bitrate: fixed packet sizes, faithful decoding,
 * and full frames from FEC and concealment.
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

#include "codec.h"

#define RATE CODEC_SAMPLE_RATE
#define SECONDS 2
#define TOTAL (RATE * SECONDS)

static void make_sine(int16_t *pcm, size_t n, double freq, double amplitude)
{
	for (size_t i = 0; i < n; i++)
		pcm[i] = (int16_t)lrint(amplitude * sin(2 * M_PI * freq * (double)i / RATE));
}

/*
 * Speech-like: 200 ms bursts of a voiced sound (a 150 Hz buzz with harmonics and a
 * slow vibrato) separated by silences of varying length, plus a little noise.
 */
static void make_bursts(int16_t *pcm, size_t n)
{
	uint32_t seed = 12345;
	double phase = 0;

	for (size_t i = 0; i < n; i++) {
		size_t ms = i * 1000 / RATE;
		size_t cycle = ms % 500;
		int talking = cycle < 200 || (ms / 500 % 3 == 0 && cycle > 350);
		double f0 = 150 + 20 * sin(2 * M_PI * 3 * (double)i / RATE);
		double v = 0;

		phase += 2 * M_PI * f0 / RATE;
		if (talking)
			for (int h = 1; h <= 6; h++)
				v += 3000.0 / h * sin(h * phase);
		seed = seed * 1103515245 + 12345;
		v += (double)((seed >> 16) % 201) - 100; /* faint noise floor */
		pcm[i] = (int16_t)lrint(v);
	}
}

/* Encodes all of pcm; returns the packets back to back, each packet_size long. */
static uint8_t *encode_all(struct codec_encoder *enc, const int16_t *pcm, size_t n,
			   size_t *count)
{
	size_t frame = codec_encoder_frame_samples(enc);
	size_t size = codec_encoder_packet_size(enc);
	uint8_t *packets = malloc(n / frame * size);
	uint8_t buf[CODEC_MAX_PACKET];

	assert_non_null(packets);
	*count = n / frame;
	for (size_t i = 0; i < *count; i++) {
		int len = codec_encode(enc, pcm + i * frame, buf, sizeof(buf));

		/* The property that matters: every packet, the same size. */
		assert_int_equal(len, (int)size);
		memcpy(packets + i * size, buf, size);
	}
	return packets;
}

static void test_config(void **state)
{
	struct codec_encoder_config config;
	struct codec_encoder *enc;
	uint8_t small[10];
	int16_t pcm[CODEC_MAX_FRAME_SAMPLES] = {0};

	(void)state;
	codec_encoder_config_default(&config);
	assert_int_equal(config.frame_ms, 20);
	assert_int_equal(config.bitrate, 24000);
	config.frame_ms = 30;
	assert_int_equal(codec_encoder_new(&config, &enc), -EINVAL);
	config.frame_ms = 10;
	config.complexity = 11;
	assert_int_equal(codec_encoder_new(&config, &enc), -EINVAL);
	config.complexity = 5;
	assert_int_equal(codec_encoder_new(&config, &enc), 0);
	assert_int_equal(codec_encoder_frame_samples(enc), 480);
	assert_int_equal(codec_encoder_packet_size(enc), 30);
	assert_int_equal(codec_encode(enc, pcm, small, sizeof(small)), -ENOBUFS);
	codec_encoder_free(enc);

	assert_int_equal(codec_encoder_new(NULL, &enc), 0);
	assert_int_equal(codec_encoder_frame_samples(enc), 960);
	assert_int_equal(codec_encoder_packet_size(enc), 60);
	codec_encoder_free(enc);
}

/* Runs the constant-size check on a signal for both frame lengths. */
static void check_constant_size(const int16_t *pcm, size_t n)
{
	static const unsigned frame_ms[] = {20, 10};

	for (size_t f = 0; f < sizeof(frame_ms) / sizeof(frame_ms[0]); f++) {
		struct codec_encoder_config config;
		struct codec_encoder *enc;
		uint8_t *packets;
		size_t count;

		codec_encoder_config_default(&config);
		config.frame_ms = frame_ms[f];
		assert_int_equal(codec_encoder_new(&config, &enc), 0);
		packets = encode_all(enc, pcm, n, &count);
		assert_int_equal(count, n / codec_encoder_frame_samples(enc));
		free(packets);
		codec_encoder_free(enc);
	}
}

static void test_cbr_sine(void **state)
{
	int16_t *pcm = malloc(TOTAL * sizeof(*pcm));

	(void)state;
	make_sine(pcm, TOTAL, 1000, 12000);
	check_constant_size(pcm, TOTAL);
	free(pcm);
}

static void test_cbr_speech_and_silence(void **state)
{
	int16_t *pcm = malloc(TOTAL * sizeof(*pcm));

	(void)state;
	make_bursts(pcm, TOTAL);
	check_constant_size(pcm, TOTAL);
	/* Pure digital silence too: no shorter "nothing to say" packets. */
	memset(pcm, 0, TOTAL * sizeof(*pcm));
	check_constant_size(pcm, TOTAL);
	free(pcm);
}

/* Normalised cross-correlation of a and b shifted by lag, over n samples. */
static double xcorr(const int16_t *a, const int16_t *b, size_t n, size_t lag)
{
	double ab = 0, aa = 0, bb = 0;

	for (size_t i = 0; i + lag < n; i++) {
		ab += (double)a[i] * b[i + lag];
		aa += (double)a[i] * a[i];
		bb += (double)b[i + lag] * b[i + lag];
	}
	return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 0;
}

static void test_round_trip(void **state)
{
	int16_t *pcm = malloc(TOTAL * sizeof(*pcm));
	int16_t *out = calloc(TOTAL, sizeof(*out));
	struct codec_encoder *enc;
	struct codec_decoder *dec;
	uint8_t *packets;
	size_t count, size, frame, best_lag = 0, skip;
	double best = -1;
	int lookahead;

	(void)state;
	make_sine(pcm, TOTAL, 1000, 12000);
	assert_int_equal(codec_encoder_new(NULL, &enc), 0);
	assert_int_equal(codec_decoder_new(&dec), 0);
	frame = codec_encoder_frame_samples(enc);
	size = codec_encoder_packet_size(enc);
	lookahead = codec_encoder_lookahead(enc);
	assert_true(lookahead > 0 && lookahead < 1000);
	packets = encode_all(enc, pcm, TOTAL, &count);
	for (size_t i = 0; i < count; i++)
		assert_int_equal(codec_decode(dec, packets + i * size, size, out + i * frame,
					      CODEC_MAX_DECODE_SAMPLES),
				 (int)frame);
	/* Skip the first 100 ms, where the encoder is still settling. */
	skip = RATE / 10;
	for (size_t lag = 0; lag < 2000; lag++) {
		double c = xcorr(pcm + skip, out + skip, TOTAL - skip, lag);

		if (c > best) {
			best = c;
			best_lag = lag;
		}
	}
	assert_true(best >= 0.9);
	/*
	 * And the best lag is the codec's own delay (its look-ahead, give or take the
	 * codec's filters' few samples), not some alias a period away.
	 */
	best = -1;
	for (size_t lag = (size_t)lookahead - 10; lag <= (size_t)lookahead + 10; lag++) {
		double c = xcorr(pcm + skip, out + skip, TOTAL - skip, lag);

		if (c > best) {
			best = c;
			best_lag = lag;
		}
	}
	print_message("look-ahead %d, best lag near it %zu, correlation %.3f\n", lookahead,
		      best_lag, best);
	assert_true(best >= 0.9);
	free(packets);
	free(pcm);
	free(out);
	codec_encoder_free(enc);
	codec_decoder_free(dec);
}

static double rms(const int16_t *pcm, size_t n)
{
	double sum = 0;

	for (size_t i = 0; i < n; i++)
		sum += (double)pcm[i] * pcm[i];
	return sqrt(sum / (double)n);
}

static void test_fec_and_plc(void **state)
{
	int16_t *pcm = malloc(TOTAL * sizeof(*pcm));
	int16_t out[CODEC_MAX_DECODE_SAMPLES];
	struct codec_encoder *enc;
	struct codec_decoder *dec;
	uint8_t *packets;
	size_t count, size, frame;
	int n;

	(void)state;
	make_bursts(pcm, TOTAL);
	assert_int_equal(codec_encoder_new(NULL, &enc), 0);
	assert_int_equal(codec_decoder_new(&dec), 0);
	frame = codec_encoder_frame_samples(enc);
	size = codec_encoder_packet_size(enc);
	packets = encode_all(enc, pcm, TOTAL, &count);

	/* Decode the first 5 frames (talking), then lose frame 5 and rebuild it from 6. */
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(codec_decode(dec, packets + i * size, size, out, sizeof(out) / 2),
				 (int)frame);
	memset(out, 0, sizeof(out));
	n = codec_decode_fec(dec, packets + 6 * size, size, out, CODEC_MAX_DECODE_SAMPLES);
	assert_int_equal(n, (int)frame);
	/* A rebuilt frame of speech is not silence. */
	assert_true(rms(out, frame) > 100);
	n = codec_decode(dec, packets + 6 * size, size, out, CODEC_MAX_DECODE_SAMPLES);
	assert_int_equal(n, (int)frame);

	/* Lose frame 7 with nothing after it: conceal, a full frame that continues the voice. */
	memset(out, 0, sizeof(out));
	n = codec_decode_plc(dec, out, CODEC_MAX_DECODE_SAMPLES);
	assert_int_equal(n, (int)frame);
	assert_true(rms(out, frame) > 100);
	/* Too small a buffer is refused, not overrun. */
	assert_int_equal(codec_decode_plc(dec, out, frame - 1), -ENOBUFS);
	assert_int_equal(codec_decode_fec(dec, packets, size, out, frame - 1), -ENOBUFS);
	/* Garbage and empty packets are errors, not crashes. */
	assert_int_equal(codec_decode(dec, packets, 0, out, CODEC_MAX_DECODE_SAMPLES), -EINVAL);
	{
		uint8_t bad[3] = {0xff, 0xff, 0xff};

		n = codec_decode(dec, bad, sizeof(bad), out, CODEC_MAX_DECODE_SAMPLES);
		assert_true(n < 0);
	}
	free(packets);
	free(pcm);
	codec_encoder_free(enc);
	codec_decoder_free(dec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_cbr_sine),
		cmocka_unit_test(test_cbr_speech_and_silence),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_fec_and_plc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
