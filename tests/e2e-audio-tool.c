/*
 * e2e-audio-tool.c - sound helpers for the end-to-end tests (tests/e2e-*.sh): makes
 * test clips and measures recordings made by real salon clients.
 *
 *   e2e-audio-tool speech OUT.wav SECONDS SEED
 *       a speech-like clip: voiced "syllables" (a gliding fundamental with harmonics
 *       shaped by two formants, 90-280 ms each) separated by gaps, 48 kHz mono.
 *   e2e-audio-tool tone OUT.wav HZ SECONDS
 *       a tone in bursts (330 ms on, 70 ms off), 48 kHz mono.
 *   e2e-audio-tool compare REF REC MIN_SCORE [MIN_WINDOW [WINDOW_MS]]
 *       aligns REC to REF (a coarse search over the whole recording on 5 ms energy
 *       envelopes, then per window of WINDOW_MS (default 400) a waveform search of
 *       +-40 ms around the previous window's lag, because the jitter buffer may move
 *       the audio) and prints the normalised cross-correlation of each window, their
 *       energy-weighted mean (the score) and the global figure (the whole clip at the
 *       median lag). Exits 0 when the score is at least MIN_SCORE and every speech
 *       window's at least MIN_WINDOW (default MIN_SCORE - 0.3: a lost stretch of
 *       speech fails even when the mean forgives it), 1 otherwise.
 *   e2e-audio-tool tones REC MIN_DB HZ...
 *       Goertzel power of REC at each HZ against control frequencies between them:
 *       exits 0 when every HZ stands at least MIN_DB above the strongest control.
 *   e2e-audio-tool energy REC
 *       prints the RMS of the whole file (int16 units).
 *   e2e-audio-tool damage IN OUT PERCENT SEED
 *       OUT is IN with PERCENT of its 20 ms frames silenced: a broken recording, to
 *       show that compare notices missing audio.
 *   e2e-audio-tool gap IN OUT START LENGTH
 *       OUT is IN with LENGTH seconds silenced from START seconds after its first
 *       sound (a recording starts with however long the speaker took to start).
 *
 * Sound files are read with libsndfile (any format it knows), mixed down to mono.
 */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sndfile.h>

#include "util.h"

#define RATE 48000
#define ENV_STEP (RATE / 200) /* 5 ms envelope frames */

struct clip {
	float *x;
	size_t n;
};

static void e2e_audio_write(const char *path, const float *x, size_t n)
{
	SF_INFO info = {.samplerate = RATE, .channels = 1,
			.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16};
	SNDFILE *sf = sf_open(path, SFM_WRITE, &info);

	if (sf == NULL)
		fatal("e2e-audio-tool: cannot write %s: %s", path, sf_strerror(NULL));
	if (sf_writef_float(sf, x, (sf_count_t)n) != (sf_count_t)n)
		fatal("e2e-audio-tool: short write to %s", path);
	sf_close(sf);
}

static struct clip e2e_audio_read(const char *path)
{
	SF_INFO info = {0};
	SNDFILE *sf = sf_open(path, SFM_READ, &info);
	struct clip c = {0};
	float *frames;
	sf_count_t got;

	if (sf == NULL)
		fatal("e2e-audio-tool: cannot read %s: %s", path, sf_strerror(NULL));
	if (info.samplerate != RATE)
		fatal("e2e-audio-tool: %s is at %d Hz, not %d", path, info.samplerate, RATE);
	if (info.channels < 1 || info.frames < 0 || info.frames > 600 * RATE)
		fatal("e2e-audio-tool: %s: unexpected shape", path);
	frames = xcalloc((size_t)info.frames * (size_t)info.channels + 1, sizeof(float));
	got = sf_readf_float(sf, frames, info.frames);
	sf_close(sf);
	c.n = got > 0 ? (size_t)got : 0;
	c.x = xcalloc(c.n + 1, sizeof(float));
	for (size_t i = 0; i < c.n; i++) {
		float sum = 0;

		for (int ch = 0; ch < info.channels; ch++)
			sum += frames[i * (size_t)info.channels + (size_t)ch];
		c.x[i] = sum / (float)info.channels;
	}
	free(frames);
	return c;
}

/* A small deterministic generator, so that a seed always gives the same clip. */
static double e2e_audio_rand(uint64_t *state)
{
	*state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (double)(*state >> 11) / (double)(1ULL << 53);
}

static int e2e_audio_speech(const char *path, double seconds, uint64_t seed)
{
	size_t n = (size_t)(seconds * RATE), i = 0;
	float *x = xcalloc(n + 1, sizeof(float));
	double peak = 0;

	/* A short lead-in of silence, as a speaker's first words come after a breath. */
	i = RATE / 10;
	while (i < n) {
		size_t len = (size_t)((0.09 + 0.19 * e2e_audio_rand(&seed)) * RATE);
		size_t gap = (size_t)((0.04 + 0.16 * e2e_audio_rand(&seed)) * RATE);
		double f0 = 100 + 120 * e2e_audio_rand(&seed);
		double glide = (e2e_audio_rand(&seed) - 0.5) * 60; /* Hz over the syllable */
		double f1 = 300 + 500 * e2e_audio_rand(&seed);
		double f2 = 900 + 1400 * e2e_audio_rand(&seed);
		double phase = 0;

		if (i + len > n)
			len = n - i;
		for (size_t k = 0; k < len; k++) {
			double t = (double)k / (double)len;
			double f = f0 + glide * t;
			double env = sin(M_PI * t);
			double v = 0;

			phase += 2 * M_PI * f / RATE;
			for (int h = 1; h * f < 3800; h++) {
				double hf = h * f;
				double a = 1.0 / (1 + pow((hf - f1) / 120, 2)) +
					   0.6 / (1 + pow((hf - f2) / 180, 2)) + 0.03;
				v += a * sin(h * phase);
			}
			x[i + k] = (float)(v * env * env);
		}
		i += len + gap;
	}
	for (i = 0; i < n; i++)
		peak = fmax(peak, fabs(x[i]));
	for (i = 0; i < n && peak > 0; i++)
		x[i] = (float)(x[i] / peak * 0.5);
	e2e_audio_write(path, x, n);
	free(x);
	return 0;
}

static int e2e_audio_tone(const char *path, double hz, double seconds)
{
	size_t n = (size_t)(seconds * RATE);
	float *x = xcalloc(n + 1, sizeof(float));
	size_t burst = RATE * 400 / 1000, on = RATE * 330 / 1000, ramp = RATE / 200;

	for (size_t i = 0; i < n; i++) {
		size_t pos = i % burst;
		double env = pos >= on ? 0 : 1;

		if (pos < ramp)
			env = (double)pos / (double)ramp;
		else if (pos < on && on - pos < ramp)
			env = (double)(on - pos) / (double)ramp;
		x[i] = (float)(0.3 * env * sin(2 * M_PI * hz * (double)i / RATE));
	}
	e2e_audio_write(path, x, n);
	free(x);
	return 0;
}

/* Normalised cross-correlation of a[0..len) with b[0..len). */
static double e2e_audio_ncc(const float *a, const float *b, size_t len)
{
	double ab = 0, aa = 0, bb = 0;

	for (size_t i = 0; i < len; i++) {
		ab += (double)a[i] * b[i];
		aa += (double)a[i] * a[i];
		bb += (double)b[i] * b[i];
	}
	return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 0;
}

/* The 5 ms RMS envelope of a clip; sets *len. */
static double *e2e_audio_envelope(const struct clip *c, size_t *len)
{
	double *env;

	*len = c->n / ENV_STEP;
	env = xcalloc(*len + 1, sizeof(double));
	for (size_t i = 0; i < *len; i++) {
		double sum = 0;

		for (size_t k = 0; k < ENV_STEP; k++)
			sum += (double)c->x[i * ENV_STEP + k] * c->x[i * ENV_STEP + k];
		env[i] = sqrt(sum / ENV_STEP);
	}
	return env;
}

/* The lag (in samples, rec = ref shifted by lag) that best matches the envelopes. */
static long e2e_audio_coarse_lag(const struct clip *ref, const struct clip *rec)
{
	size_t rn, xn;
	double *re = e2e_audio_envelope(ref, &rn), *xe = e2e_audio_envelope(rec, &xn);
	double best = -2;
	long best_lag = 0;

	for (long lag = -(long)rn / 2; lag < (long)xn; lag++) {
		double ab = 0, aa = 0, bb = 0;

		for (size_t i = 0; i < rn; i++) {
			long j = (long)i + lag;
			double a = re[i], b = j >= 0 && j < (long)xn ? xe[j] : 0;

			ab += a * b;
			aa += a * a;
			bb += b * b;
		}
		if (aa > 0 && bb > 0 && ab / sqrt(aa * bb) > best) {
			best = ab / sqrt(aa * bb);
			best_lag = lag;
		}
	}
	free(re);
	free(xe);
	return best_lag * ENV_STEP;
}

/* NCC of ref[start..start+len) against rec at start + lag (0 outside rec). */
static double e2e_audio_window_ncc(const struct clip *ref, const struct clip *rec, size_t start,
				   size_t len, long lag)
{
	long from = (long)start + lag;

	if (from < 0 || from + (long)len > (long)rec->n)
		return 0;
	return e2e_audio_ncc(ref->x + start, rec->x + from, len);
}

static int compare_lags(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return (x > y) - (x < y);
}

static int e2e_audio_compare(const char *ref_path, const char *rec_path, double min_score,
			     double min_window, double window_ms)
{
	struct clip ref = e2e_audio_read(ref_path), rec = e2e_audio_read(rec_path);
	size_t win = (size_t)(window_ms * RATE / 1000), windows, counted = 0, good = 0;
	long coarse, lag, search = RATE * 40 / 1000, *lags;
	double ref_rms = 0, weight = 0, score = 0, worst = 1, global;
	int status;

	if (ref.n < win || rec.n == 0) {
		printf("compare: reference %zu samples, recording %zu: nothing to compare\n",
		       ref.n, rec.n);
		return 1;
	}
	for (size_t i = 0; i < ref.n; i++)
		ref_rms += (double)ref.x[i] * ref.x[i];
	ref_rms = sqrt(ref_rms / (double)ref.n);
	coarse = e2e_audio_coarse_lag(&ref, &rec);
	windows = ref.n / win;
	lags = xcalloc(windows + 1, sizeof(long));
	lag = coarse;
	for (size_t w = 0; w < windows; w++) {
		size_t start = w * win;
		double energy = 0, best = -2;
		long best_lag = lag;

		for (size_t i = 0; i < win; i++)
			energy += (double)ref.x[start + i] * ref.x[start + i];
		/* Windows that are (nearly) silence in the reference say nothing. */
		if (sqrt(energy / (double)win) < 0.25 * ref_rms)
			continue;
		/* Steps of 4 samples over +-40 ms, then every sample around the best one. */
		for (long d = -search; d <= search; d += 4) {
			double v = e2e_audio_window_ncc(&ref, &rec, start, win, lag + d);

			if (v > best) {
				best = v;
				best_lag = lag + d;
			}
		}
		for (long d = best_lag - 4, end = best_lag + 4; d <= end; d++) {
			double v = e2e_audio_window_ncc(&ref, &rec, start, win, d);

			if (v > best) {
				best = v;
				best_lag = d;
			}
		}
		if (best < 0)
			best = 0;
		/* Follow the lag only where the match is real, so noise does not drag it off. */
		if (best > 0.5)
			lag = best_lag;
		lags[counted++] = best_lag;
		score += best * energy;
		weight += energy;
		worst = fmin(worst, best);
		good += best >= 0.8;
		printf("  window %5.2f s: ncc %.3f at lag %+.1f ms\n", (double)start / RATE, best,
		       (double)(best_lag - coarse) * 1000 / RATE);
	}
	score = weight > 0 ? score / weight : 0;
	qsort(lags, counted, sizeof(long), compare_lags);
	global = counted > 0 ? e2e_audio_window_ncc(&ref, &rec, 0, ref.n, lags[counted / 2]) : 0;
	status = counted > 0 && score >= min_score && worst >= min_window ? 0 : 1;
	printf("compare: %zu speech windows of %.0f ms, score (energy-weighted mean ncc) %.3f, "
	       "worst window %.3f, %zu windows >= 0.8, global ncc %.3f at a lag of %.3f s, "
	       "lag drift %.1f ms; required score >= %.2f, windows >= %.2f: %s\n",
	       counted, window_ms, score, counted ? worst : 0, good, global,
	       counted ? (double)lags[counted / 2] / RATE : 0,
	       counted ? (double)(lags[counted - 1] - lags[0]) * 1000 / RATE : 0, min_score,
	       min_window, status == 0 ? "pass" : "FAIL");
	free(lags);
	free(ref.x);
	free(rec.x);
	return status;
}

/* Goertzel power of x at hz, normalised by the length. */
static double e2e_audio_goertzel(const struct clip *c, double hz)
{
	double coeff = 2 * cos(2 * M_PI * hz / RATE), s1 = 0, s2 = 0;

	for (size_t i = 0; i < c->n; i++) {
		double s0 = c->x[i] + coeff * s1 - s2;

		s2 = s1;
		s1 = s0;
	}
	return (s1 * s1 + s2 * s2 - coeff * s1 * s2) / ((double)c->n * (double)c->n);
}

static int e2e_audio_tones(const char *path, double min_db, int count, char **hz_text)
{
	struct clip c = e2e_audio_read(path);
	double control = 0, worst = 1e9;
	int status = 0;

	if (c.n < RATE / 10) {
		printf("tones: %s holds %zu samples only\n", path, c.n);
		return 1;
	}
	/* Controls: halfway between neighbouring targets and beyond the outer ones. */
	for (int i = 0; i <= count; i++) {
		double lo = i > 0 ? atof(hz_text[i - 1]) : 0.6 * atof(hz_text[0]);
		double hi = i < count ? atof(hz_text[i]) : 1.3 * atof(hz_text[count - 1]);
		double p = e2e_audio_goertzel(&c, (lo + hi) / 2);

		control = fmax(control, p);
	}
	for (int i = 0; i < count; i++) {
		double p = e2e_audio_goertzel(&c, atof(hz_text[i]));
		double db = 10 * log10((p + 1e-30) / (control + 1e-30));

		printf("  %s Hz: %.1f dB above the strongest control frequency\n", hz_text[i], db);
		worst = fmin(worst, db);
		if (db < min_db)
			status = 1;
	}
	printf("tones: %s: weakest of %d tones %.1f dB over the controls (need %.0f): %s\n", path,
	       count, worst, min_db, status == 0 ? "pass" : "FAIL");
	free(c.x);
	return status;
}

static int e2e_audio_energy(const char *path)
{
	struct clip c = e2e_audio_read(path);
	double sum = 0;

	for (size_t i = 0; i < c.n; i++)
		sum += (double)c.x[i] * c.x[i];
	printf("%.1f\n", c.n ? sqrt(sum / (double)c.n) * 32768 : 0);
	free(c.x);
	return 0;
}

static int e2e_audio_damage(const char *in, const char *out, double percent, uint64_t seed)
{
	struct clip c = e2e_audio_read(in);
	size_t frame = RATE / 50;

	for (size_t start = 0; start < c.n; start += frame) {
		if (e2e_audio_rand(&seed) * 100 >= percent)
			continue;
		for (size_t i = start; i < start + frame && i < c.n; i++)
			c.x[i] = 0;
	}
	e2e_audio_write(out, c.x, c.n);
	free(c.x);
	return 0;
}

static int e2e_audio_gap(const char *in, const char *out, double start, double length)
{
	struct clip c = e2e_audio_read(in);
	size_t first = 0;

	while (first < c.n && fabsf(c.x[first]) < 0.02f)
		first++;
	for (size_t i = first + (size_t)(start * RATE);
	     i < c.n && i < first + (size_t)((start + length) * RATE); i++)
		c.x[i] = 0;
	e2e_audio_write(out, c.x, c.n);
	free(c.x);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "speech") == 0)
		return e2e_audio_speech(argv[2], atof(argv[3]), strtoull(argv[4], NULL, 10));
	if (argc == 5 && strcmp(argv[1], "tone") == 0)
		return e2e_audio_tone(argv[2], atof(argv[3]), atof(argv[4]));
	if (argc >= 5 && argc <= 7 && strcmp(argv[1], "compare") == 0)
		return e2e_audio_compare(argv[2], argv[3], atof(argv[4]),
					 argc >= 6 ? atof(argv[5]) : atof(argv[4]) - 0.3,
					 argc == 7 ? atof(argv[6]) : 400);
	if (argc == 6 && strcmp(argv[1], "gap") == 0)
		return e2e_audio_gap(argv[2], argv[3], atof(argv[4]), atof(argv[5]));
	if (argc >= 5 && strcmp(argv[1], "tones") == 0)
		return e2e_audio_tones(argv[2], atof(argv[3]), argc - 4, argv + 4);
	if (argc == 3 && strcmp(argv[1], "energy") == 0)
		return e2e_audio_energy(argv[2]);
	if (argc == 6 && strcmp(argv[1], "damage") == 0)
		return e2e_audio_damage(argv[2], argv[3], atof(argv[4]),
					strtoull(argv[5], NULL, 10));
	fprintf(stderr, "usage: e2e-audio-tool speech OUT SECONDS SEED | tone OUT HZ SECONDS |\n"
			"       compare REF REC MIN_SCORE [MIN_WINDOW [WINDOW_MS]] |\n"
			"       tones REC MIN_DB HZ... | gap IN OUT START LENGTH |\n"
			"       energy REC | damage IN OUT PERCENT SEED\n");
	return 2;
}
