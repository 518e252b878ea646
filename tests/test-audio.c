/*
 * test-audio.c - the sound file, pipe and null backends, and salon's loading of
 * libsndfile and PortAudio only when they are used.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "audio.h"

#define RATE AUDIO_SAMPLE_RATE
#define PERIOD 960
/* Not a whole number of periods, so the last read is short. */
#define LENGTH (3 * PERIOD + 123)

static char tmpdir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/salon-test-audio.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	/* Writing to a pipe whose reader has gone must give EPIPE, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static char *path(const char *name)
{
	static char buf[128];

	snprintf(buf, sizeof(buf), "%s/%s", tmpdir, name);
	return buf;
}

/* Speech-range test signal with every kind of sample: a chirp plus pseudo-noise. */
static void make_signal(int16_t *pcm, size_t frames, unsigned channels)
{
	uint32_t seed = 42;

	for (size_t i = 0; i < frames; i++)
		for (unsigned c = 0; c < channels; c++) {
			double t = (double)i / RATE;

			seed = seed * 1664525 + 1013904223;
			pcm[i * channels + c] = (int16_t)lrint(
				20000 * sin(2 * M_PI * (200 + 2000 * t) * t + c) +
				(double)((int32_t)(seed >> 20) - 2048));
		}
	pcm[0] = INT16_MIN;
	pcm[1] = INT16_MAX;
}

static void write_file(const char *file, const struct audio_params *params, const int16_t *pcm,
		       size_t frames)
{
	struct audio_stream *out = NULL;
	char *error = NULL;

	assert_int_equal(audio_file_backend.open_playback(file, params, &out, &error), 0);
	assert_null(error);
	for (size_t off = 0; off < frames; off += params->frame_samples) {
		size_t n = frames - off < params->frame_samples ? frames - off
								: params->frame_samples;

		assert_int_equal(audio_file_backend.write(out, pcm + off * params->channels, n),
				 (int)n);
	}
	assert_int_equal(audio_file_backend.close(out), 0);
}

/* Reads a whole capture stream period by period; returns the frame count. */
static size_t read_all(const struct audio_backend *backend, struct audio_stream *in,
		       int16_t *pcm, size_t cap)
{
	size_t total = 0;
	int n;

	while ((n = backend->read(in, pcm + total, cap - total < PERIOD ? cap - total : PERIOD)) >
	       0)
		total += (size_t)n;
	assert_int_equal(n, AUDIO_EOF);
	/* And it stays at the end. */
	assert_int_equal(backend->read(in, pcm, 1), AUDIO_EOF);
	return total;
}

static void round_trip(const char *name)
{
	const struct audio_params params = {RATE, 1, PERIOD};
	int16_t *pcm = malloc(LENGTH * sizeof(*pcm));
	int16_t *back = calloc(LENGTH + PERIOD, sizeof(*back));
	struct audio_stream *in = NULL;
	struct audio_stream_info info;
	char *error = NULL;

	make_signal(pcm, LENGTH, 1);
	write_file(path(name), &params, pcm, LENGTH);
	assert_int_equal(audio_file_backend.open_capture(path(name), &params, &in, &error), 0);
	audio_file_backend.info(in, &info);
	assert_false(info.device_clock);
	assert_int_equal(info.poll_fd, -1);
	assert_int_equal(info.params.sample_rate, RATE);
	/* Lossless: every sample back exactly. */
	assert_int_equal(read_all(&audio_file_backend, in, back, LENGTH + PERIOD), LENGTH);
	assert_memory_equal(back, pcm, LENGTH * sizeof(*pcm));
	assert_int_equal(audio_file_backend.close(in), 0);
	free(pcm);
	free(back);
}

static void test_wav_round_trip(void **state)
{
	(void)state;
	round_trip("a.wav");
}

static void test_flac_round_trip(void **state)
{
	(void)state;
	round_trip("a.FLAC");
}

static void test_ogg_opus(void **state)
{
	const struct audio_params params = {RATE, 1, PERIOD};
	int16_t *pcm = malloc(RATE * sizeof(*pcm));
	int16_t *back = calloc(2 * RATE, sizeof(*back));
	struct audio_stream *in = NULL;
	char *error = NULL;
	size_t n;
	double energy = 0;

	(void)state;
	for (size_t i = 0; i < RATE; i++)
		pcm[i] = (int16_t)lrint(10000 * sin(2 * M_PI * 440 * (double)i / RATE));
	write_file(path("a.opus"), &params, pcm, RATE);
	assert_int_equal(audio_file_backend.open_capture(path("a.opus"), &params, &in, &error), 0);
	n = read_all(&audio_file_backend, in, back, 2 * RATE);
	/* Lossy, but a second of tone is about a second of tone. */
	assert_true(n >= RATE - PERIOD && n <= RATE + PERIOD);
	for (size_t i = RATE / 4; i < RATE / 2; i++)
		energy += (double)back[i] * back[i];
	assert_true(sqrt(energy / (RATE / 4)) > 5000);
	assert_int_equal(audio_file_backend.close(in), 0);
	free(pcm);
	free(back);
}

static void test_stereo_to_mono(void **state)
{
	const struct audio_params stereo = {RATE, 2, PERIOD};
	const struct audio_params mono = {RATE, 1, PERIOD};
	int16_t pcm[4 * 2] = {1000, 3000, -32768, -32768, 32767, 32767, -3, 0};
	const int16_t want[4] = {2000, -32768, 32767, -2};
	int16_t back[8];
	struct audio_stream *in = NULL;
	char *error = NULL;

	(void)state;
	write_file(path("stereo.wav"), &stereo, pcm, 4);
	assert_int_equal(audio_file_backend.open_capture(path("stereo.wav"), &mono, &in, &error),
			 0);
	assert_int_equal(read_all(&audio_file_backend, in, back, 8), 4);
	assert_memory_equal(back, want, sizeof(want));
	assert_int_equal(audio_file_backend.close(in), 0);
	/* Asked for as stereo, it comes back as it is. */
	assert_int_equal(
		audio_file_backend.open_capture(path("stereo.wav"), &stereo, &in, &error), 0);
	assert_int_equal(audio_file_backend.read(in, back, 4), 4);
	assert_memory_equal(back, pcm, sizeof(pcm));
	assert_int_equal(audio_file_backend.close(in), 0);
}

static void test_file_errors(void **state)
{
	const struct audio_params params = {RATE, 1, PERIOD};
	const struct audio_params cd = {44100, 1, PERIOD};
	int16_t pcm[100] = {0};
	struct audio_stream *in = NULL;
	char *error = NULL;

	(void)state;
	/* A missing file: ENOENT, and a sentence that names it. */
	assert_int_equal(
		audio_file_backend.open_capture(path("missing.wav"), &params, &in, &error),
		-ENOENT);
	assert_non_null(error);
	assert_non_null(strstr(error, "missing.wav"));
	assert_non_null(strstr(error, strerror(ENOENT)));
	free(error);
	error = NULL;

	/* A 44.1 kHz file: ENOTSUP, saying both rates and that salon does not resample. */
	write_file(path("cd.wav"), &cd, pcm, 100);
	assert_int_equal(audio_file_backend.open_capture(path("cd.wav"), &params, &in, &error),
			 -ENOTSUP);
	assert_non_null(error);
	assert_non_null(strstr(error, "cd.wav"));
	assert_non_null(strstr(error, "44100 Hz"));
	assert_non_null(strstr(error, "48000 Hz only"));
	free(error);
	error = NULL;

	/* Something that is not a sound file. */
	{
		FILE *f = fopen(path("text.wav"), "w");

		assert_non_null(f);
		fputs("not a sound file\n", f);
		fclose(f);
	}
	assert_int_equal(audio_file_backend.open_capture(path("text.wav"), &params, &in, &error),
			 -EINVAL);
	assert_non_null(strstr(error, "text.wav"));
	free(error);
	error = NULL;

	/* Recording needs a known extension. */
	assert_int_equal(audio_file_backend.open_playback(path("a.mp3"), &params, &in, &error),
			 -EINVAL);
	assert_non_null(strstr(error, ".flac"));
	free(error);
	/* A NULL error pointer is fine. */
	assert_int_equal(audio_file_backend.open_capture(path("missing.wav"), &params, &in, NULL),
			 -ENOENT);
}

static void test_pipe(void **state)
{
	const struct audio_params params = {RATE, 1, PERIOD};
	int16_t *pcm = malloc(LENGTH * sizeof(*pcm));
	int16_t *back = calloc(LENGTH, sizeof(*back));
	struct audio_stream *in = NULL, *out = NULL;
	struct audio_stream_info info;
	char device[32], *error = NULL;
	uint8_t raw[4];
	int fds[2];
	size_t total = 0;
	int n;

	(void)state;
	make_signal(pcm, LENGTH, 1);
	assert_int_equal(pipe(fds), 0);
	snprintf(device, sizeof(device), "fd:%d", fds[0]);
	assert_int_equal(audio_pipe_backend.open_capture(device, &params, &in, &error), 0);
	snprintf(device, sizeof(device), "fd:%d", fds[1]);
	assert_int_equal(audio_pipe_backend.open_playback(device, &params, &out, &error), 0);
	audio_pipe_backend.info(in, &info);
	assert_int_equal(info.poll_fd, fds[0]);
	assert_false(info.device_clock);

	/* Nothing written yet: nothing to read, but not the end either. */
	assert_int_equal(audio_pipe_backend.read(in, back, PERIOD), 0);

	/* On the wire: little-endian. */
	{
		const int16_t one[1] = {0x1234};

		assert_int_equal(audio_pipe_backend.write(out, one, 1), 1);
		assert_int_equal(read(fds[0], raw, 2), 2);
		assert_int_equal(raw[0], 0x34);
		assert_int_equal(raw[1], 0x12);
	}

	/* A whole stream through the pipe (under its 64 KiB capacity). */
	assert_int_equal(audio_pipe_backend.write(out, pcm, LENGTH), LENGTH);
	while (total < LENGTH) {
		n = audio_pipe_backend.read(in, back + total, PERIOD);
		assert_true(n > 0);
		total += (size_t)n;
	}
	assert_memory_equal(back, pcm, LENGTH * sizeof(*pcm));

	/* A sample split across two writes is kept until its second byte comes. */
	raw[0] = 0xcd;
	raw[1] = 0xab;
	raw[2] = 0x01;
	assert_int_equal(write(fds[1], raw, 3), 3);
	assert_int_equal(audio_pipe_backend.read(in, back, PERIOD), 1);
	assert_int_equal((uint16_t)back[0], 0xabcd);
	raw[0] = 0x80;
	assert_int_equal(write(fds[1], raw, 1), 1);
	assert_int_equal(audio_pipe_backend.read(in, back, PERIOD), 1);
	assert_int_equal((uint16_t)back[0], 0x8001);

	/* The writer goes away: the end, reported once everything has been read. */
	assert_int_equal(audio_pipe_backend.write(out, pcm, 10), 10);
	assert_int_equal(audio_pipe_backend.close(out), 0);
	/* fd:N descriptors belong to the caller: still open after close. */
	assert_int_equal(close(fds[1]), 0);
	assert_int_equal(audio_pipe_backend.read(in, back, PERIOD), 10);
	assert_int_equal(audio_pipe_backend.read(in, back, PERIOD), AUDIO_EOF);
	assert_int_equal(audio_pipe_backend.close(in), 0);
	assert_int_equal(close(fds[0]), 0);

	/* The reader goes away: writing fails with EPIPE. */
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(close(fds[0]), 0);
	snprintf(device, sizeof(device), "fd:%d", fds[1]);
	assert_int_equal(audio_pipe_backend.open_playback(device, &params, &out, &error), 0);
	assert_int_equal(audio_pipe_backend.write(out, pcm, PERIOD), -EPIPE);
	assert_int_equal(audio_pipe_backend.close(out), 0);
	assert_int_equal(close(fds[1]), 0);

	/* Bad devices and formats are refused with a message. */
	assert_int_equal(audio_pipe_backend.open_capture("fd:x", &params, &in, &error), -EBADF);
	assert_non_null(strstr(error, "fd:x"));
	free(error);
	{
		const struct audio_params cd = {44100, 1, PERIOD};

		assert_int_equal(audio_pipe_backend.open_capture("-", &cd, &in, &error), -EINVAL);
		assert_non_null(strstr(error, "48000"));
		free(error);
	}
	assert_int_equal(audio_pipe_backend.open_capture(path("nope"), &params, &in, &error),
			 -ENOENT);
	free(error);
	free(pcm);
	free(back);
}

static int device_count;

static void count_device(void *arg, const struct audio_device *device)
{
	(void)arg;
	assert_non_null(device->name);
	device_count++;
}

static void test_null(void **state)
{
	const struct audio_params params = {RATE, 1, PERIOD};
	int16_t pcm[PERIOD];
	struct audio_stream *in = NULL, *out = NULL;
	struct audio_stream_info info;

	(void)state;
	assert_int_equal(audio_null_backend.open_capture(NULL, &params, &in, NULL), 0);
	assert_int_equal(audio_null_backend.open_playback(NULL, &params, &out, NULL), 0);
	memset(pcm, 0x55, sizeof(pcm));
	/* Silence, a whole period at a time, forever. */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(audio_null_backend.read(in, pcm, PERIOD), PERIOD);
		for (size_t j = 0; j < PERIOD; j++)
			assert_int_equal(pcm[j], 0);
	}
	memset(pcm, 0x55, sizeof(pcm));
	assert_int_equal(audio_null_backend.write(out, pcm, PERIOD), PERIOD);
	/* Streams are one-way. */
	assert_int_equal(audio_null_backend.write(in, pcm, PERIOD), -EBADF);
	assert_int_equal(audio_null_backend.read(out, pcm, PERIOD), -EBADF);
	audio_null_backend.info(out, &info);
	assert_int_equal(info.poll_fd, -1);
	assert_int_equal(info.params.frame_samples, PERIOD);
	assert_int_equal(audio_null_backend.close(in), 0);
	assert_int_equal(audio_null_backend.close(out), 0);
	device_count = 0;
	assert_int_equal(audio_null_backend.list_devices(count_device, NULL), 1);
	assert_int_equal(device_count, 1);
	assert_string_equal(audio_null_backend.name, "null");
	assert_string_equal(audio_file_backend.name, "file");
	assert_string_equal(audio_pipe_backend.name, "pipe");
}

/*
 * salon itself does not link libsndfile or PortAudio (audio-file.c and
 * audio-portaudio.c load them with dlopen() when a file or a device is used), so that
 * a bot on null or pipe audio does not map them: the dynamic linker's list of what it
 * loads at start (LD_TRACE_LOADED_OBJECTS, as ldd uses) must name neither, nor ALSA
 * or JACK, while still naming the libraries salon does link.
 */
static void test_salon_loads_lazily(void **state)
{
	const char *builddir = getenv("top_builddir");
	char program[4096], listing[16384];
	size_t len = 0;
	ssize_t got;
	int fds[2], status;
	pid_t pid;

	(void)state;
	if (builddir == NULL)
		fail_msg("top_builddir is not set: run this test through make check");
	snprintf(program, sizeof(program), "%s/src/client/salon", builddir);
	if (access(program, X_OK) != 0)
		fail_msg("%s is not built", program);
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		setenv("LD_TRACE_LOADED_OBJECTS", "1", 1);
		execl(program, program, "--version", (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	while ((got = read(fds[0], listing + len, sizeof(listing) - 1 - len)) > 0)
		len += (size_t)got;
	close(fds[0]);
	listing[len] = '\0';
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	print_message("# %s loads at start:\n%s", program, listing);
	assert_non_null(strstr(listing, "libopus"));
	assert_non_null(strstr(listing, "libcurl"));
	assert_null(strstr(listing, "libsndfile"));
	assert_null(strstr(listing, "libportaudio"));
	assert_null(strstr(listing, "libasound"));
	assert_null(strstr(listing, "libjack"));
	/* ncurses is loaded by the full-screen UI only (tui.c). */
	assert_null(strstr(listing, "libncurses"));
	assert_null(strstr(listing, "libtinfo"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wav_round_trip),
		cmocka_unit_test(test_flac_round_trip),
		cmocka_unit_test(test_ogg_opus),
		cmocka_unit_test(test_stereo_to_mono),
		cmocka_unit_test(test_file_errors),
		cmocka_unit_test(test_pipe),
		cmocka_unit_test(test_null),
		cmocka_unit_test(test_salon_loads_lazily),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
