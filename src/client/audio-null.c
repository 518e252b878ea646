/*
 * audio-null.c - the null backend: capture gives silence, playback discards.
 *
 * For listeners without a microphone, headless bots, and tests. Caller-clocked.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "audio.h"
#include "i18n.h"
#include "util.h"

struct audio_stream {
	bool capture;
	struct audio_params params;
};

int audio_null_check_params(const struct audio_params *params, char **error)
{
	if (params->sample_rate == 0 || params->frame_samples == 0 || params->channels < 1 ||
	    params->channels > 2) {
		AUDIO_ERROR(error, _("unsupported audio parameters: %u Hz, %u channels, "
				     "%u frames per period"),
			    params->sample_rate, params->channels, params->frame_samples);
		return -EINVAL;
	}
	return 0;
}

static int audio_null_open(bool capture, const struct audio_params *params,
			   struct audio_stream **out, char **error)
{
	struct audio_stream *stream;
	int ret = audio_null_check_params(params, error);

	if (ret < 0)
		return ret;
	stream = xcalloc(1, sizeof(*stream));
	stream->capture = capture;
	stream->params = *params;
	*out = stream;
	return 0;
}

static int audio_null_open_capture(const char *device, const struct audio_params *params,
				   struct audio_stream **out, char **error)
{
	(void)device;
	return audio_null_open(true, params, out, error);
}

static int audio_null_open_playback(const char *device, const struct audio_params *params,
				    struct audio_stream **out, char **error)
{
	(void)device;
	return audio_null_open(false, params, out, error);
}

static int audio_null_read(struct audio_stream *stream, int16_t *pcm, size_t frames)
{
	if (!stream->capture)
		return -EBADF;
	if (frames > INT_MAX / stream->params.channels)
		frames = INT_MAX / stream->params.channels;
	memset(pcm, 0, frames * stream->params.channels * sizeof(*pcm));
	return (int)frames;
}

static int audio_null_write(struct audio_stream *stream, const int16_t *pcm, size_t frames)
{
	(void)pcm;
	if (stream->capture)
		return -EBADF;
	if (frames > INT_MAX)
		return -EINVAL;
	return (int)frames;
}

static void audio_null_info(const struct audio_stream *stream, struct audio_stream_info *info)
{
	*info = (struct audio_stream_info){.params = stream->params, .poll_fd = -1};
}

static int audio_null_close(struct audio_stream *stream)
{
	free(stream);
	return 0;
}

static int audio_null_list_devices(audio_device_cb cb, void *arg)
{
	struct audio_device dev = {
		.name = "null",
		.description = _("silence in, nothing out"),
		.capture = true,
		.playback = true,
	};

	cb(arg, &dev);
	return 1;
}

const struct audio_backend audio_null_backend = {
	.name = "null",
	.open_capture = audio_null_open_capture,
	.open_playback = audio_null_open_playback,
	.read = audio_null_read,
	.write = audio_null_write,
	.info = audio_null_info,
	.close = audio_null_close,
	.list_devices = audio_null_list_devices,
};
