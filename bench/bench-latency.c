/*
 * bench-latency.c - the client's added latency, mouth to ear less the devices
 * (issue 6, item 3), measured on one CLOCK_MONOTONIC.
 *
 * bench/bench-client.sh runs two salon bots through a real salond on loopback: the
 * speaker's microphone is a FIFO (--input pipe:CAPTURE) and the listener's speakers
 * are another FIFO (--output pipe:PLAYBACK). This program is both ends, in one
 * process: it writes the speaker's capture in real time, one frame every frame_ms
 * of CLOCK_MONOTONIC, with a 10 ms 1 kHz tone burst (the "impulse") at the start of
 * one frame every 400 to 600 ms and digital silence elsewhere; and it reads the
 * listener's playback.
 *
 * For each impulse it records t_in, the time its frame was written into the capture
 * pipe (the pipe is the capture ring of the pipe backend), and t_out, the time the
 * listener's media thread wrote the first frame holding the burst's onset into the
 * playback pipe (the playback ring): a blocking read() returns as soon as that
 * write() is done, and each frame is one write() of at most PIPE_BUF bytes.
 * Latency = t_out - t_in: framing, encoding, encryption, the hop to the relay and
 * back, decryption, the jitter buffer, decoding and mixing. The sound devices' own
 * buffers are not part of it (they depend on the device, not on salon). The first
 * impulse heard meets the jitter buffer still at its initial depth; it is printed
 * as the warm-up and left out of the figures, which are of a room in its steady
 * state. Also printed: the latency to the onset's own sample (t_out plus its offset
 * in the frame), which adds the codec's look-ahead.
 *
 * So that no stale audio waits in the capture pipe (which would add latency that a
 * device's ring, which drops what nobody reads, would not), a frame is written only
 * when the pipe holds less than one frame (FIONREAD); frames skipped meanwhile are
 * counted, and an impulse is only sent when the pipe was empty.
 *
 * Usage: bench-latency CAPTURE_FIFO PLAYBACK_FIFO FRAME_MS SECONDS MAX_MS
 * SECONDS of impulses are measured from the first one heard (the warm-up), which
 * must come within LAT_SETUP_S seconds.
 * Prints every latency on a line "latency MS onset MS", then a summary line
 * "impulses N detected D min MS median MS p95 MS max MS (target <= MAX_MS ms)" and
 * PASS or FAIL against MAX_MS for the median and the p95; exits 0 on PASS, 1 on
 * FAIL, 2 on a usage or system error.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define LAT_RATE 48000
/* An impulse every 400 to 600 ms (random), so that no fixed pattern can pair an
 * onset with the wrong impulse unnoticed. */
#define LAT_IMPULSE_EVERY_MS 400
#define LAT_IMPULSE_SPREAD_MS 200
#define LAT_BURST_MS 10
#define LAT_BURST_HZ 1000.0
#define LAT_BURST_AMPLITUDE 16000.0
/* Onset: a sample above this after LAT_QUIET_MS of samples below LAT_QUIET_LEVEL. */
#define LAT_ONSET_LEVEL 3000
#define LAT_QUIET_LEVEL 1000
#define LAT_QUIET_MS 200
#define LAT_MAX_IMPULSES 4096
/* How long the bots may take to join before the first impulse is heard. */
#define LAT_SETUP_S 60

static int64_t lat_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The time to the next impulse, 400 to 600 ms. */
static int64_t lat_interval_ns(void)
{
	return (LAT_IMPULSE_EVERY_MS + rand() % LAT_IMPULSE_SPREAD_MS) * 1000000LL;
}

static int lat_compare(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The value at fraction q (0..1) of sorted v[0..n-1], nearest rank. */
static double lat_quantile(const double *v, size_t n, double q)
{
	size_t i = (size_t)ceil(q * (double)n);

	if (i > 0)
		i--;
	return v[i < n ? i : n - 1];
}

int main(int argc, char **argv)
{
	static int64_t sent_at[LAT_MAX_IMPULSES];
	static double latency[LAT_MAX_IMPULSES];
	static double onset[LAT_MAX_IMPULSES];
	int largest_read = 0;
	/* A frame of at most 20 ms at 48 kHz. */
	static int16_t frame_in[LAT_RATE / 50], frame_out[LAT_RATE / 50];
	size_t frame_samples, frame_bytes, got = 0, impulses = 0, detected = 0, quiet = 0;
	size_t skipped = 0, not_sent = 0, last_heard = SIZE_MAX;
	int64_t start, next, end, next_impulse;
	int in_fd, out_fd, frame_ms, seconds;
	double max_ms;
	bool armed = false;

	if (argc != 6) {
		fprintf(stderr, "usage: bench-latency CAPTURE_FIFO PLAYBACK_FIFO FRAME_MS "
				"SECONDS MAX_MS\n");
		return 2;
	}
	frame_ms = atoi(argv[3]);
	seconds = atoi(argv[4]);
	max_ms = atof(argv[5]);
	if ((frame_ms != 10 && frame_ms != 20) || seconds <= 0 || seconds > 3600) {
		fprintf(stderr, "bench-latency: FRAME_MS is 10 or 20, SECONDS 1..3600\n");
		return 2;
	}
	frame_samples = (size_t)(LAT_RATE / 1000 * frame_ms);
	frame_bytes = frame_samples * sizeof(int16_t);

	/*
	 * O_RDWR on a FIFO never blocks in open() (Linux), whichever of the two sides
	 * salon opens first; the playback side is read without blocking and polled.
	 */
	in_fd = open(argv[1], O_RDWR | O_CLOEXEC);
	out_fd = open(argv[2], O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (in_fd < 0 || out_fd < 0) {
		fprintf(stderr, "bench-latency: cannot open the FIFOs: %s\n", strerror(errno));
		return 2;
	}

	start = lat_now_ns();
	next = start;
	/*
	 * SECONDS count from the first impulse heard (the bots may take a while to
	 * join on a busy machine); at most LAT_SETUP_S are allowed for that.
	 */
	end = start + (int64_t)LAT_SETUP_S * 1000000000;
	next_impulse = start + 1000000000LL; /* one second of silence first */
	while (next < end) {
		struct pollfd pfd = {.fd = out_fd, .events = POLLIN};
		int64_t now = lat_now_ns();
		int timeout_ms;

		if (now >= next) {
			int queued = 0;
			bool impulse = next >= next_impulse;

			/* Write this frame only if salon took the one before (no backlog). */
			if (ioctl(in_fd, FIONREAD, &queued) < 0)
				queued = 0;
			if ((size_t)queued >= frame_bytes) {
				skipped++;
				if (impulse) {
					not_sent++;
					next_impulse += lat_interval_ns();
				}
			} else {
				size_t burst = impulse && queued == 0 ?
					       (size_t)(LAT_RATE / 1000 * LAT_BURST_MS) : 0;
				ssize_t w;

				if (burst > frame_samples)
					burst = frame_samples;
				memset(frame_in, 0, frame_bytes);
				for (size_t i = 0; i < burst; i++)
					frame_in[i] = (int16_t)(LAT_BURST_AMPLITUDE *
						sin(2.0 * M_PI * LAT_BURST_HZ * (double)i / LAT_RATE));
				if (impulse && burst == 0)
					not_sent++;
				if (burst > 0 && impulses < LAT_MAX_IMPULSES)
					sent_at[impulses] = lat_now_ns();
				w = write(in_fd, frame_in, frame_bytes);
				if (w != (ssize_t)frame_bytes) {
					fprintf(stderr, "bench-latency: capture write: %s\n",
						w < 0 ? strerror(errno) : "short");
					return 2;
				}
				if (burst > 0 && impulses < LAT_MAX_IMPULSES)
					impulses++;
				if (impulse)
					next_impulse += lat_interval_ns();
			}
			next += (int64_t)frame_ms * 1000000;
			continue;
		}
		timeout_ms = (int)((next - now + 999999) / 1000000);
		if (poll(&pfd, 1, timeout_ms) <= 0)
			continue;
		{
			/* What one wake-up finds waiting: a frame, if salon writes frames. */
			int waiting = 0;

			if (ioctl(out_fd, FIONREAD, &waiting) == 0 && waiting > largest_read)
				largest_read = waiting;
		}
		for (;;) {
			ssize_t r = read(out_fd, (char *)frame_out + got, frame_bytes - got);
			int64_t t = lat_now_ns();

			if (r <= 0)
				break;
			got += (size_t)r;
			if (got < frame_bytes)
				continue;
			got = 0;
			for (size_t i = 0; i < frame_samples; i++) {
				int v = abs(frame_out[i]);

				if (armed && v >= LAT_ONSET_LEVEL) {
					armed = false;
					quiet = 0;
					/*
					 * The most recent impulse sent is the one heard (each
					 * once). The first one heard is the jitter buffer's
					 * warm-up (it starts at JITTER_INITIAL_FRAMES): shown,
					 * not counted.
					 */
					if (impulses > 0 && impulses - 1 != last_heard) {
						size_t k = impulses - 1;
						double ms = (double)(t - sent_at[k]) / 1e6;
						double at = ms + (double)i * 1000.0 / LAT_RATE;

						if (ms <= 0 || ms >= LAT_IMPULSE_EVERY_MS) {
							/* not ours: ignore */
						} else if (last_heard == SIZE_MAX) {
							printf("warm-up (first impulse heard) %.2f "
							       "ms\n", ms);
						} else {
							onset[detected] = at;
							latency[detected++] = ms;
							printf("latency %.2f onset %.2f\n", ms, at);
						}
						if (ms > 0 && ms < LAT_IMPULSE_EVERY_MS) {
							if (last_heard == SIZE_MAX)
								end = t + (int64_t)seconds *
									  1000000000;
							last_heard = k;
						}
					}
				} else if (v < LAT_QUIET_LEVEL) {
					if (++quiet >= (size_t)(LAT_RATE / 1000 * LAT_QUIET_MS))
						armed = true;
				} else {
					quiet = 0;
				}
			}
		}
	}

	printf("frames skipped (salon not reading yet) %zu, impulses not sent %zu, largest "
	       "playback wake-up %d bytes (a frame is %zu)\n", skipped, not_sent, largest_read,
	       frame_bytes);
	if (detected < 10) {
		printf("impulses %zu detected %zu: too few to measure: FAIL\n", impulses,
		       detected);
		return 1;
	}
	qsort(latency, detected, sizeof(double), lat_compare);
	qsort(onset, detected, sizeof(double), lat_compare);
	/* Informational: to the onset's own sample, as a device would play it. */
	printf("to the burst's onset sample: median %.1f p95 %.1f ms\n",
	       lat_quantile(onset, detected, 0.5), lat_quantile(onset, detected, 0.95));
	{
		double median = lat_quantile(latency, detected, 0.5);
		double p95 = lat_quantile(latency, detected, 0.95);
		bool pass = median <= max_ms && p95 <= max_ms;

		printf("impulses %zu detected %zu min %.1f median %.1f p95 %.1f max %.1f ms "
		       "(target <= %.0f ms) %s\n",
		       impulses, detected, latency[0], median, p95, latency[detected - 1],
		       max_ms, pass ? "PASS" : "FAIL");
		return pass ? 0 : 1;
	}
}
