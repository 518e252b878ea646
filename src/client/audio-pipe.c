/*
 * audio-pipe.c - raw s16le 48 kHz mono PCM on a descriptor, for bots and tests.
 *
 * Caller-clocked: read() takes only what has already arrived (it polls with a zero
 * timeout, so the media thread never waits on the writer), keeping an odd byte for
 * later; write() blocks until the pipe has taken everything.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audio.h"
#include "i18n.h"
#include "util.h"

/* Bytes converted per write(2) on a big-endian host. */
#define AUDIO_PIPE_CHUNK 4096

struct audio_stream {
	int fd;
	bool owns_fd;
	bool capture;
	bool eof;
	struct audio_params params;
	/* Capture: the first byte of a sample whose second byte has not arrived. */
	bool have_odd;
	uint8_t odd;
};

static bool audio_pipe_little_endian(void)
{
	return __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;
}

/* Resolves "-", "fd:N" or a path into a descriptor. */
static int audio_pipe_open(const char *device, bool capture, const struct audio_params *params,
			   struct audio_stream **out, char **error)
{
	struct audio_stream *stream;
	int fd;
	bool owns = false;

	if (params->sample_rate != AUDIO_SAMPLE_RATE || params->channels != 1 ||
	    params->frame_samples == 0) {
		AUDIO_ERROR(error, _("the pipe carries %u Hz mono audio only (asked for %u Hz, "
				     "%u channels)"),
			    AUDIO_SAMPLE_RATE, params->sample_rate, params->channels);
		return -EINVAL;
	}
	if (device == NULL || strcmp(device, "-") == 0) {
		fd = capture ? STDIN_FILENO : STDOUT_FILENO;
	} else if (strncmp(device, "fd:", 3) == 0) {
		char *end;
		long n;

		errno = 0;
		n = strtol(device + 3, &end, 10);
		if (errno != 0 || end == device + 3 || *end != '\0' || n < 0 || n > INT_MAX ||
		    fcntl((int)n, F_GETFD) < 0) {
			AUDIO_ERROR(error, _("%s is not an open file descriptor"), device);
			return -EBADF;
		}
		fd = (int)n;
	} else {
		fd = open(device, (capture ? O_RDONLY : O_WRONLY) | O_CLOEXEC);
		if (fd < 0) {
			int ret = -errno;

			AUDIO_ERROR(error, _("cannot open %s: %s"), device, strerror(-ret));
			return ret;
		}
		owns = true;
	}
	stream = xcalloc(1, sizeof(*stream));
	stream->fd = fd;
	stream->owns_fd = owns;
	stream->capture = capture;
	stream->params = *params;
	*out = stream;
	return 0;
}

static int audio_pipe_open_capture(const char *device, const struct audio_params *params,
				   struct audio_stream **out, char **error)
{
	return audio_pipe_open(device, true, params, out, error);
}

static int audio_pipe_open_playback(const char *device, const struct audio_params *params,
				    struct audio_stream **out, char **error)
{
	return audio_pipe_open(device, false, params, out, error);
}

/* True when a read(2) on fd would not block now. */
static bool audio_pipe_ready(int fd)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	int n;

	do
		n = poll(&pfd, 1, 0);
	while (n < 0 && errno == EINTR);
	return n > 0;
}

static int audio_pipe_read(struct audio_stream *stream, int16_t *pcm, size_t frames)
{
	uint8_t *bytes = (uint8_t *)pcm;
	size_t want, have = 0;

	if (!stream->capture)
		return -EBADF;
	if (frames > INT_MAX / 2)
		frames = INT_MAX / 2;
	want = frames * 2;
	if (stream->have_odd && want > 0) {
		bytes[0] = stream->odd;
		stream->have_odd = false;
		have = 1;
	}
	while (have < want && !stream->eof && audio_pipe_ready(stream->fd)) {
		ssize_t n = read(stream->fd, bytes + have, want - have);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return -errno;
		}
		if (n == 0)
			stream->eof = true; /* a trailing odd byte is dropped below */
		have += (size_t)n;
	}
	if (have % 2 == 1) {
		if (!stream->eof) {
			stream->odd = bytes[have - 1];
			stream->have_odd = true;
		}
		have--;
	}
	if (have == 0 && stream->eof)
		return AUDIO_EOF;
	if (!audio_pipe_little_endian()) {
		for (size_t i = 0; i < have / 2; i++)
			pcm[i] = (int16_t)(bytes[2 * i] | (bytes[2 * i + 1] << 8));
	}
	return (int)(have / 2);
}

/* Writes all of buf, waiting while the pipe is full. */
static int audio_pipe_write_all(int fd, const uint8_t *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				struct pollfd pfd = {.fd = fd, .events = POLLOUT};

				if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
					return -errno;
				continue;
			}
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int audio_pipe_write(struct audio_stream *stream, const int16_t *pcm, size_t frames)
{
	uint8_t chunk[AUDIO_PIPE_CHUNK];
	int ret;

	if (stream->capture)
		return -EBADF;
	if (frames > INT_MAX / 2)
		return -EINVAL;
	if (audio_pipe_little_endian()) {
		ret = audio_pipe_write_all(stream->fd, (const uint8_t *)pcm, frames * 2);
		return ret < 0 ? ret : (int)frames;
	}
	for (size_t done = 0; done < frames;) {
		size_t n = frames - done;

		if (n > sizeof(chunk) / 2)
			n = sizeof(chunk) / 2;
		for (size_t i = 0; i < n; i++) {
			uint16_t v = (uint16_t)pcm[done + i];

			chunk[2 * i] = (uint8_t)v;
			chunk[2 * i + 1] = (uint8_t)(v >> 8);
		}
		ret = audio_pipe_write_all(stream->fd, chunk, n * 2);
		if (ret < 0)
			return ret;
		done += n;
	}
	return (int)frames;
}

static void audio_pipe_info(const struct audio_stream *stream, struct audio_stream_info *info)
{
	*info = (struct audio_stream_info){.params = stream->params, .poll_fd = stream->fd};
}

static int audio_pipe_close(struct audio_stream *stream)
{
	int ret = 0;

	if (stream == NULL)
		return 0;
	if (stream->owns_fd && close(stream->fd) < 0)
		ret = -errno;
	free(stream);
	return ret;
}

static int audio_pipe_list_devices(audio_device_cb cb, void *arg)
{
	struct audio_device dev = {
		.name = "-",
		.description = _("standard input and output"),
		.capture = true,
		.playback = true,
	};

	cb(arg, &dev);
	return 1;
}

const struct audio_backend audio_pipe_backend = {
	.name = "pipe",
	.open_capture = audio_pipe_open_capture,
	.open_playback = audio_pipe_open_playback,
	.read = audio_pipe_read,
	.write = audio_pipe_write,
	.info = audio_pipe_info,
	.close = audio_pipe_close,
	.list_devices = audio_pipe_list_devices,
};
