/*
 * test-portaudio.c - the PortAudio backend against a virtual sound device.
 *
 * Run by tests/portaudio.sh, which starts a private PulseAudio server with a null sink
 * (tools/audio-device) and passes PULSE_SERVER and SALON_AUDIO_DEVICE (the PortAudio
 * device to open). The null sink's monitor is the default source, so a tone played
 * into the device comes back on capture: the test checks it with the Goertzel
 * algorithm, and checks the callbacks' counters against the wall clock.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "audio.h"
#include "util.h"

#define RATE AUDIO_SAMPLE_RATE
#define PERIOD 960
#define TONE_HZ 1000.0
#define TONE_AMPLITUDE 12000.0
#define TONE_FRAMES RATE /* one second */
/* Goertzel window: 50 ms, a whole number of the tone's cycles. */
#define WINDOW 2400
/* Room for everything captured during the test (at most 4 s). */
#define CAPTURE_MAX (4 * RATE)

static const struct audio_backend *pa = &audio_portaudio_backend;
static const struct audio_params mono = {RATE, 1, PERIOD};
static const char *device; /* SALON_AUDIO_DEVICE */

static double now_s(void)
{
	return (double)util_now_ns() / 1e9;
}

/* Sleeps a few milliseconds between polls of a device-clocked stream, which has no fd. */
static void nap(void)
{
	struct timespec ts = {0, 2 * 1000 * 1000};

	nanosleep(&ts, NULL);
}

struct listing {
	int count;
	bool found;	     /* the virtual device, with both directions */
	int number;	     /* its number, from the description */
	char names[32][128]; /* playback devices */
	int named;
};

static void listing_cb(void *arg, const struct audio_device *dev)
{
	struct listing *l = arg;
	const char *number;

	l->count++;
	assert_non_null(dev->name);
	assert_non_null(dev->description);
	assert_true(dev->capture || dev->playback);
	printf("# device \"%s\" (%s)%s%s\n", dev->name, dev->description,
	       dev->capture ? " capture" : "", dev->playback ? " playback" : "");
	if (dev->playback && l->named < 32)
		snprintf(l->names[l->named++], sizeof(l->names[0]), "%s", dev->name);
	if (strcmp(dev->name, device) == 0 && dev->capture && dev->playback && !l->found) {
		l->found = true;
		/* The description ends with the device's number, which open_* accept. */
		number = strrchr(dev->description, ' ');
		assert_non_null(number);
		l->number = atoi(number + 1);
		assert_true(isdigit((unsigned char)number[1]));
	}
}

/*
 * With no sound server reachable (and no sound card, as in CI), PortAudio finds no
 * device, and opening gives the documented sentence rather than a crash. This runs
 * first, while nothing holds PortAudio initialised, because PortAudio only looks for
 * devices when it is initialised.
 */
static void test_no_server(void **state)
{
	struct listing l = {0};
	struct audio_stream *stream = NULL;
	char *saved = xstrdup(getenv("PULSE_SERVER"));
	char *error = NULL;
	bool no_card = access("/dev/snd", F_OK) != 0;
	int ret;

	(void)state;
	assert_int_equal(setenv("PULSE_SERVER", "unix:/nonexistent/salon-no-server", 1), 0);
	/* A developer's own JACK server must not count as a device either. */
	assert_int_equal(setenv("JACK_DEFAULT_SERVER", "salon-no-such-server", 1), 0);

	ret = pa->list_devices(listing_cb, &l);
	assert_int_equal(ret, l.count);
	assert_false(l.found);
	if (no_card)
		assert_int_equal(ret, 0);

	ret = pa->open_playback(device, &mono, &stream, &error);
	assert_int_equal(ret, -ENODEV);
	assert_null(stream);
	assert_non_null(error);
	printf("# no server, open \"%s\": %s\n", device, error);
	if (no_card)
		assert_string_equal(error, "no audio device found; use --play/--record with a "
					   "file, or the null device");
	else
		assert_non_null(strstr(error, device));
	free(error);
	error = NULL;

	if (no_card) {
		ret = pa->open_capture(NULL, &mono, &stream, &error);
		assert_int_equal(ret, -ENODEV);
		assert_null(stream);
		assert_non_null(strstr(error, "no audio device found"));
		free(error);
		error = NULL;
		/* No error pointer: still an error code, and nothing to free. */
		assert_int_equal(pa->open_capture(NULL, &mono, &stream, NULL), -ENODEV);
	}

	assert_int_equal(setenv("PULSE_SERVER", saved, 1), 0);
	free(saved);
}

static void test_list(void **state)
{
	struct listing l = {0};
	int ret;

	(void)state;
	ret = pa->list_devices(listing_cb, &l);
	assert_int_equal(ret, l.count);
	if (!l.found)
		fail_msg("the virtual device \"%s\" is not listed with capture and playback "
			 "(is tools/audio-device running, PULSE_SERVER right, libasound2-plugins "
			 "installed?)",
			 device);
}

/* Goertzel: the power of frequency hz in n samples. */
static double goertzel(const int16_t *x, size_t n, double hz)
{
	double coeff = 2 * cos(2 * M_PI * hz / RATE), s1 = 0, s2 = 0;

	for (size_t i = 0; i < n; i++) {
		double s0 = x[i] + coeff * s1 - s2;

		s2 = s1;
		s1 = s0;
	}
	return s1 * s1 + s2 * s2 - coeff * s1 * s2;
}

/* The amplitude of a sine of frequency hz in n samples, from its Goertzel power. */
static double amplitude(const int16_t *x, size_t n, double hz)
{
	return 2 * sqrt(goertzel(x, n, hz)) / (double)n;
}

/*
 * Plays one second of 1 kHz into the null sink while capturing its monitor, and checks
 * that the tone comes back, that the playback callback consumed exactly what was
 * written at the device's rate, and that capture delivered frames at that rate too.
 */
static void test_loopback(void **state)
{
	static int16_t tone[TONE_FRAMES];
	static int16_t captured[CAPTURE_MAX];
	struct audio_stream *in = NULL, *out = NULL;
	struct audio_stream_info info;
	struct audio_portaudio_counters pc, cc;
	size_t written = 0, got = 0, got_at_end = 0, first = 0, last = 0, middle;
	double start, end, deadline, best = 0, rate, a;
	/* When each stream got past its start (10 periods), and how far it was then. */
	double play_t0 = 0, cap_t0 = 0;
	uint64_t play_f0 = 0, cap_f0 = 0;
	/* Whole numbers of cycles per window (multiples of 20 Hz): no leakage between. */
	const double others[] = {200, 500, 700, 1500, 2000, 3000, 5000, 8000};
	char *error = NULL;
	int ret, tone_windows = 0, inside = 0, clean_windows = 0;

	(void)state;
	for (size_t i = 0; i < TONE_FRAMES; i++)
		tone[i] = (int16_t)lrint(TONE_AMPLITUDE * sin(2 * M_PI * TONE_HZ * i / RATE));

	ret = pa->open_capture(device, &mono, &in, &error);
	if (ret < 0)
		fail_msg("open capture on \"%s\": %s", device, error);
	ret = pa->open_playback(device, &mono, &out, &error);
	if (ret < 0)
		fail_msg("open playback on \"%s\": %s", device, error);
	start = now_s();

	pa->info(in, &info);
	assert_true(info.device_clock);
	assert_int_equal(info.poll_fd, -1);
	assert_int_equal(info.params.sample_rate, RATE);
	assert_int_equal(info.params.channels, 1);
	assert_int_equal(info.params.frame_samples, PERIOD);
	pa->info(out, &info);
	assert_true(info.device_clock);
	assert_int_equal(info.poll_fd, -1);

	/* Wrong direction. */
	assert_int_equal(pa->read(out, captured, 1), -EBADF);
	assert_int_equal(pa->write(in, tone, 1), -EBADF);

	/*
	 * Feed the tone as the ring takes it and drain capture, until the device has
	 * played all of it and 300 ms more have been captured. The streams have no fd,
	 * so this polls, as the media thread's clock would.
	 */
	deadline = start + 6;
	for (;;) {
		if (written < TONE_FRAMES) {
			ret = pa->write(out, tone + written, TONE_FRAMES - written);
			assert_true(ret >= 0);
			written += (size_t)ret;
		}
		ret = pa->read(in, captured + got, CAPTURE_MAX - got);
		assert_true(ret >= 0);
		got += (size_t)ret;
		audio_portaudio_counters(out, &pc);
		audio_portaudio_counters(in, &cc);
		if (play_t0 == 0 && pc.frames >= 10 * PERIOD) {
			play_t0 = now_s();
			play_f0 = pc.frames;
		}
		if (cap_t0 == 0 && cc.frames >= 10 * PERIOD) {
			cap_t0 = now_s();
			cap_f0 = cc.frames;
		}
		if (pc.frames - pc.xrun_frames == TONE_FRAMES && got_at_end == 0)
			got_at_end = got;
		if (got_at_end != 0 && got >= got_at_end + RATE * 3 / 10)
			break;
		if (now_s() > deadline || got == CAPTURE_MAX)
			fail_msg("timed out: wrote %zu of %d frames, device played %llu "
				 "(%llu of silence), captured %zu",
				 written, TONE_FRAMES,
				 (unsigned long long)(pc.frames - pc.xrun_frames),
				 (unsigned long long)pc.xrun_frames, got);
		nap();
	}
	end = now_s();
	audio_portaudio_counters(out, &pc);
	audio_portaudio_counters(in, &cc);
	printf("# %.3f s: played %llu frames in %llu callbacks (%llu silent), captured %llu "
	       "in %llu callbacks (%llu dropped), read %zu\n",
	       end - start, (unsigned long long)pc.frames, (unsigned long long)pc.callbacks,
	       (unsigned long long)pc.xrun_frames, (unsigned long long)cc.frames,
	       (unsigned long long)cc.callbacks, (unsigned long long)cc.xrun_frames, got);

	/* Everything written was played, none twice: the ring neither lost nor invented. */
	assert_int_equal(written, TONE_FRAMES);
	assert_int_equal(pc.frames - pc.xrun_frames, TONE_FRAMES);
	/*
	 * The device's clock runs at 48 kHz, measured once each stream is past its start
	 * (a sound server may take a while to start a stream on a loaded machine). The
	 * bounds are generous: the counters move by whole periods of 20 ms.
	 */
	assert_true(play_t0 > 0 && cap_t0 > 0);
	rate = (double)(pc.frames - play_f0) / (end - play_t0);
	printf("# playback %.0f frames/s (started after %.3f s), capture %.0f frames/s (after "
	       "%.3f s)\n",
	       rate, play_t0 - start, (double)(cc.frames - cap_f0) / (end - cap_t0),
	       cap_t0 - start);
	assert_true(rate > 0.75 * RATE && rate < 1.33 * RATE);
	rate = (double)(cc.frames - cap_f0) / (end - cap_t0);
	assert_true(rate > 0.75 * RATE && rate < 1.33 * RATE);
	/* Periods of frame_samples frames, as asked. */
	assert_true(pc.callbacks > 0 && pc.frames == pc.callbacks * PERIOD);
	assert_true(cc.callbacks > 0 && cc.frames == cc.callbacks * PERIOD);
	/* Read everything the callback kept, up to what is still in the ring. */
	assert_int_equal(cc.xrun_frames, 0);
	assert_true(got <= cc.frames && cc.frames - got <= 8 * PERIOD + PERIOD);

	/* The tone came back: strong at 1 kHz, nothing much anywhere else. */
	for (size_t at = 0; at + WINDOW <= got; at += WINDOW / 2) {
		a = amplitude(captured + at, WINDOW, TONE_HZ);
		if (a > TONE_AMPLITUDE / 2) {
			if (tone_windows++ == 0)
				first = at;
			last = at;
		}
		if (a > best)
			best = a;
	}
	printf("# 1 kHz amplitude up to %.0f (played %.0f) from %.3f s to %.3f s; %d windows "
	       "of 50 ms with it\n",
	       best, TONE_AMPLITUDE, (double)first / RATE, (double)(last + WINDOW) / RATE,
	       tone_windows);
	assert_true(best > TONE_AMPLITUDE * 0.7 && best < TONE_AMPLITUDE * 1.3);
	/*
	 * A window inside the tone holds nothing but the tone: check that in every such
	 * window, but let a few fail, since a machine under load may let the sound server
	 * insert a gap of silence. The middle one is printed.
	 */
	middle = (first + last) / 2;
	middle -= middle % (WINDOW / 2);
	for (size_t at = first + WINDOW / 2; at + WINDOW <= last; at += WINDOW / 2) {
		bool clean = true;

		a = amplitude(captured + at, WINDOW, TONE_HZ);
		for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
			double other = amplitude(captured + at, WINDOW, others[i]);

			if (at == middle)
				printf("#   at %.3f s, %.0f Hz: %.2f\n", (double)at / RATE,
				       others[i], other);
			/* 40 dB below the tone */
			clean = clean && other < a / 100;
		}
		clean = clean && a > TONE_AMPLITUDE * 0.7 && a < TONE_AMPLITUDE * 1.3;
		inside++;
		clean_windows += clean;
	}
	printf("# %d of %d windows inside the tone hold nothing else\n", clean_windows, inside);
	assert_true(inside >= 30 && clean_windows >= inside * 3 / 4);
	/* About one second of it (two half-overlapping windows per 50 ms). */
	assert_true(tone_windows >= 30 && tone_windows <= 42);

	assert_int_equal(pa->close(out), 0);
	assert_int_equal(pa->close(in), 0);
	assert_int_equal(pa->close(NULL), 0);
}

/* Opens and closes device for playback, asserting success. */
static void open_ok(const char *name)
{
	struct audio_stream *stream = NULL;
	char *error = NULL;
	int ret = pa->open_playback(name, &mono, &stream, &error);

	if (ret < 0)
		fail_msg("open playback \"%s\": %s", name ? name : "(default)", error);
	assert_non_null(stream);
	assert_int_equal(pa->close(stream), 0);
}

/* Device selection: default, number, exact name, a part of a name in any case. */
static void test_select(void **state)
{
	struct listing l = {0};
	char number[16], upper[128], part[128];

	(void)state;
	assert_true(pa->list_devices(listing_cb, &l) > 0);
	assert_true(l.found);
	open_ok(NULL);
	open_ok("");
	snprintf(number, sizeof(number), "%d", l.number);
	open_ok(number);
	open_ok(device);
	/* All but the last letter, upper case: still names the device if no other has it. */
	snprintf(upper, sizeof(upper), "%s", device);
	for (char *p = upper; *p != '\0'; p++)
		*p = (char)toupper((unsigned char)*p);
	snprintf(part, sizeof(part), "%.*s", (int)strlen(upper) - 1, upper);
	open_ok(part);
}

/* Names that fit nothing, or more than one device, give a sentence that helps. */
static void test_unknown(void **state)
{
	struct listing l = {0};
	struct audio_stream *stream = NULL;
	struct audio_params bad = mono;
	char *error = NULL;
	int ret;

	(void)state;
	ret = pa->open_capture("salon-no-such-device", &mono, &stream, &error);
	assert_int_equal(ret, -ENODEV);
	assert_null(stream);
	printf("# %s\n", error);
	assert_non_null(strstr(error, "unknown audio device \"salon-no-such-device\""));
	/* It lists what exists. */
	assert_non_null(strstr(error, device));
	free(error);
	error = NULL;

	ret = pa->open_playback("9999", &mono, &stream, &error);
	assert_int_equal(ret, -ENODEV);
	assert_non_null(strstr(error, "number 9999"));
	assert_non_null(strstr(error, device));
	free(error);
	error = NULL;

	/* A letter that two devices' names share, if any: ambiguous. */
	assert_true(pa->list_devices(listing_cb, &l) > 0);
	for (char c = 'a'; c <= 'z'; c++) {
		char needle[2] = {c, '\0'};
		int holders = 0;

		for (int i = 0; i < l.named; i++)
			holders += strchr(l.names[i], c) != NULL;
		if (holders < 2)
			continue;
		ret = pa->open_playback(needle, &mono, &stream, &error);
		assert_int_equal(ret, -EINVAL);
		printf("# %s\n", error);
		assert_non_null(strstr(error, "ambiguous"));
		free(error);
		error = NULL;
		break;
	}

	bad.channels = 3;
	assert_int_equal(pa->open_playback(device, &bad, &stream, &error), -EINVAL);
	assert_null(stream);
	free(error);
}

/*
 * Holds PortAudio initialised through the second group with a playback stream that
 * plays silence (mixed into the sink, it changes nothing): otherwise each open and
 * listing initialises PortAudio anew, which probes every ALSA device again, and that
 * is slow under AddressSanitizer.
 */
static struct audio_stream *anchor;

static int anchor_open(void **state)
{
	char *error = NULL;

	(void)state;
	if (pa->open_playback(device, &mono, &anchor, &error) < 0) {
		fprintf(stderr, "test-portaudio: open playback on \"%s\": %s\n", device, error);
		free(error);
		return -1;
	}
	return 0;
}

static int anchor_close(void **state)
{
	(void)state;
	return pa->close(anchor);
}

int main(void)
{
	const struct CMUnitTest alone[] = {
	    cmocka_unit_test(test_no_server),
	};
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_list),
	    cmocka_unit_test(test_loopback),
	    cmocka_unit_test(test_select),
	    cmocka_unit_test(test_unknown),
	};
	int failed;

	device = getenv("SALON_AUDIO_DEVICE");
	if (getenv("PULSE_SERVER") == NULL || device == NULL || device[0] == '\0') {
		fprintf(stderr, "test-portaudio: PULSE_SERVER and SALON_AUDIO_DEVICE are not set: "
				"run it through tests/portaudio.sh, which starts the virtual "
				"device with tools/audio-device\n");
		return 1;
	}
	/* First, while nothing holds PortAudio initialised (see test_no_server). */
	failed = cmocka_run_group_tests_name("no sound server", alone, NULL, NULL);
	failed += cmocka_run_group_tests_name("virtual device", tests, anchor_open, anchor_close);
	return failed != 0;
}
