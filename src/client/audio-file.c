/*
 * audio-file.c - the sound file backend, through libsndfile.
 *
 * Capture plays a file into a room; playback records a room to a file. Both are
 * caller-clocked: the media thread reads or writes one period per tick.
 *
 * salon does not link libsndfile: the backend loads it with dlopen() when a stream is
 * first opened, so that a process that never plays or records a file does not map it
 * with its codecs (FLAC, Vorbis, Opus, MPEG), about 1 MiB of resident pages touched by
 * the dynamic linker at start-up.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <sndfile.h>

#include "audio.h"
#include "i18n.h"
#include "util.h"

struct audio_stream {
	SNDFILE *sf;
	int fd;
	bool capture;
	bool eof;
	struct audio_params params;
	unsigned file_channels;
	/* Capture: one period of the file's interleaved frames, to mix down from. */
	int16_t *scratch;
	size_t scratch_frames;
};

/* libsndfile's soname. */
#define AUDIO_FILE_LIBRARY "libsndfile.so.1"

/* A pointer to libsndfile's function sf_NAME, of its own type (from sndfile.h). */
#define AUDIO_FILE_FUNCTION(name) __typeof__(sf_##name) *name

/*
 * libsndfile's functions, set once by audio_file_load_once(); handle stays NULL when
 * loading failed, and load_error then says why. Never unloaded.
 */
static struct {
	void *handle;
	char load_error[256];
	AUDIO_FILE_FUNCTION(open_fd);
	AUDIO_FILE_FUNCTION(close);
	AUDIO_FILE_FUNCTION(strerror);
	AUDIO_FILE_FUNCTION(format_check);
	AUDIO_FILE_FUNCTION(readf_short);
	AUDIO_FILE_FUNCTION(writef_short);
} sf;

static pthread_once_t audio_file_once = PTHREAD_ONCE_INIT;

/* Looks up sf_NAME in the loaded library into sf.NAME; false when it is missing. */
#define AUDIO_FILE_RESOLVE(name)                                                          \
	((sf.name = (__typeof__(sf.name))dlsym(sf.handle, "sf_" #name)) != NULL)

/* Loads libsndfile and looks up its functions (through pthread_once()). */
static void audio_file_load_once(void)
{
	void *handle = dlopen(AUDIO_FILE_LIBRARY, RTLD_NOW | RTLD_LOCAL);

	if (handle == NULL) {
		snprintf(sf.load_error, sizeof(sf.load_error), "%s", dlerror());
		return;
	}
	sf.handle = handle;
	if (!AUDIO_FILE_RESOLVE(open_fd) || !AUDIO_FILE_RESOLVE(close) ||
	    !AUDIO_FILE_RESOLVE(strerror) || !AUDIO_FILE_RESOLVE(format_check) ||
	    !AUDIO_FILE_RESOLVE(readf_short) || !AUDIO_FILE_RESOLVE(writef_short)) {
		snprintf(sf.load_error, sizeof(sf.load_error), "%s", dlerror());
		dlclose(handle);
		sf.handle = NULL;
	}
}

/*
 * Loads libsndfile on the first call from any thread. Returns 0, or -ENOENT with a
 * message in *error (when error is not NULL) if it or one of its functions is missing.
 */
static int audio_file_load(char **error)
{
	pthread_once(&audio_file_once, audio_file_load_once);
	if (sf.handle == NULL) {
		AUDIO_ERROR(error, _("cannot load libsndfile (%s): %s"), AUDIO_FILE_LIBRARY,
			    sf.load_error);
		return -ENOENT;
	}
	return 0;
}

/*
 * What opening a stream either way begins with: usable parameters, libsndfile loaded
 * and a file named (missing is the translated message for no file). Returns 0, or a
 * negative errno value with a message in *error (when error is not NULL).
 */
static int audio_file_begin(const char *device, const struct audio_params *params,
			    const char *missing, char **error)
{
	int ret = audio_null_check_params(params, error);

	if (ret == 0)
		ret = audio_file_load(error);
	if (ret < 0)
		return ret;
	if (device == NULL || *device == '\0') {
		AUDIO_ERROR(error, "%s", missing);
		return -EINVAL;
	}
	return 0;
}

/* A new stream on the open descriptor fd, for the caller to fill in further. */
static struct audio_stream *audio_file_stream_new(int fd, bool capture,
						  const struct audio_params *params)
{
	struct audio_stream *stream = xcalloc(1, sizeof(*stream));

	stream->fd = fd;
	stream->capture = capture;
	stream->params = *params;
	return stream;
}

static int audio_file_open_capture(const char *device, const struct audio_params *params,
				   struct audio_stream **out, char **error)
{
	struct audio_stream *stream;
	SF_INFO info;
	int fd, ret;

	ret = audio_file_begin(device, params, _("no sound file given to play"), error);
	if (ret < 0)
		return ret;
	fd = open(device, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		AUDIO_ERROR(error, _("cannot open sound file %s: %s"), device,
				 strerror(-ret));
		return ret;
	}
	memset(&info, 0, sizeof(info));
	stream = audio_file_stream_new(fd, true, params);
	stream->sf = sf.open_fd(fd, SFM_READ, &info, SF_FALSE);
	if (stream->sf == NULL) {
		AUDIO_ERROR(error, _("%s is not a sound file salon can read (%s)"), device,
				 sf.strerror(NULL));
		ret = -EINVAL;
		goto fail;
	}
	if (info.samplerate != (int)params->sample_rate) {
		AUDIO_ERROR(error,
				 _("%s has a sample rate of %d Hz, but salon plays files at "
				   "%u Hz only: convert it first (for example with "
				   "\"sox IN.wav -r %u OUT.wav\")"),
				 device, info.samplerate, params->sample_rate,
				 params->sample_rate);
		ret = -ENOTSUP;
		goto fail;
	}
	if (info.channels < 1 ||
	    (params->channels != 1 && info.channels != (int)params->channels)) {
		AUDIO_ERROR(error, _("%s has %d channels; salon cannot play it as %u"),
				 device, info.channels, params->channels);
		ret = -ENOTSUP;
		goto fail;
	}
	stream->file_channels = (unsigned)info.channels;
	stream->scratch_frames = params->frame_samples;
	stream->scratch = xreallocarray(NULL, stream->scratch_frames * stream->file_channels,
					sizeof(int16_t));
	*out = stream;
	return 0;
fail:
	if (stream->sf != NULL)
		sf.close(stream->sf);
	close(fd);
	free(stream);
	return ret;
}

/* The container and encoding for a recording, from the file name's extension. */
static int audio_file_format(const char *path)
{
	const char *dot = strrchr(path, '.');

	if (dot == NULL || strchr(dot, '/') != NULL)
		return 0;
	if (strcasecmp(dot, ".wav") == 0)
		return SF_FORMAT_WAV | SF_FORMAT_PCM_16;
	if (strcasecmp(dot, ".flac") == 0)
		return SF_FORMAT_FLAC | SF_FORMAT_PCM_16;
	if (strcasecmp(dot, ".ogg") == 0 || strcasecmp(dot, ".opus") == 0)
		return SF_FORMAT_OGG | SF_FORMAT_OPUS;
	return 0;
}

static int audio_file_open_playback(const char *device, const struct audio_params *params,
				    struct audio_stream **out, char **error)
{
	struct audio_stream *stream;
	SF_INFO info;
	int fd, ret;

	ret = audio_file_begin(device, params, _("no sound file given to record to"), error);
	if (ret < 0)
		return ret;
	memset(&info, 0, sizeof(info));
	info.samplerate = (int)params->sample_rate;
	info.channels = (int)params->channels;
	info.format = audio_file_format(device);
	if (info.format == 0) {
		AUDIO_ERROR(error, _("cannot record to %s: the name must end in .wav, "
					  ".flac, .ogg or .opus"),
				 device);
		return -EINVAL;
	}
	if (!sf.format_check(&info)) {
		AUDIO_ERROR(error, _("cannot record to %s at %u Hz with %u channels"),
				 device, params->sample_rate, params->channels);
		return -ENOTSUP;
	}
	/* Recordings of a room are private by default. */
	fd = open(device, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = -errno;
		AUDIO_ERROR(error, _("cannot create sound file %s: %s"), device,
				 strerror(-ret));
		return ret;
	}
	stream = audio_file_stream_new(fd, false, params);
	stream->file_channels = params->channels;
	stream->sf = sf.open_fd(fd, SFM_WRITE, &info, SF_FALSE);
	if (stream->sf == NULL) {
		AUDIO_ERROR(error, _("cannot write sound file %s: %s"), device,
				 sf.strerror(NULL));
		close(fd);
		free(stream);
		return -EIO;
	}
	*out = stream;
	return 0;
}

static int audio_file_read(struct audio_stream *stream, int16_t *pcm, size_t frames)
{
	size_t done = 0;

	if (!stream->capture)
		return -EBADF;
	if (frames > (size_t)INT32_MAX)
		frames = INT32_MAX;
	while (done < frames && !stream->eof) {
		size_t want = frames - done;
		unsigned ch = stream->file_channels;
		sf_count_t got;

		if (stream->params.channels == ch) {
			/* Same layout: read straight into the caller's buffer. */
			got = sf.readf_short(stream->sf, pcm + done * ch, (sf_count_t)want);
		} else {
			if (want > stream->scratch_frames)
				want = stream->scratch_frames;
			got = sf.readf_short(stream->sf, stream->scratch, (sf_count_t)want);
			/* Mono from many channels: the average, rounded to nearest. */
			for (sf_count_t i = 0; i < got; i++) {
				long sum = 0;

				for (unsigned c = 0; c < ch; c++)
					sum += stream->scratch[(size_t)i * ch + c];
				pcm[done + (size_t)i] =
					(int16_t)(sum >= 0 ? (sum + (long)ch / 2) / (long)ch
							   : (sum - (long)ch / 2) / (long)ch);
			}
		}
		if (got < 0)
			return -EIO;
		if ((size_t)got < want)
			stream->eof = true;
		done += (size_t)got;
	}
	if (done == 0 && stream->eof)
		return AUDIO_EOF;
	return (int)done;
}

static int audio_file_write(struct audio_stream *stream, const int16_t *pcm, size_t frames)
{
	sf_count_t put;

	if (stream->capture)
		return -EBADF;
	if (frames > (size_t)INT32_MAX)
		return -EINVAL;
	put = sf.writef_short(stream->sf, pcm, (sf_count_t)frames);
	if (put != (sf_count_t)frames)
		return -EIO;
	return (int)frames;
}

static void audio_file_info(const struct audio_stream *stream, struct audio_stream_info *info)
{
	*info = (struct audio_stream_info){.params = stream->params, .poll_fd = -1};
}

static int audio_file_close(struct audio_stream *stream)
{
	int ret = 0;

	if (stream == NULL)
		return 0;
	if (sf.close(stream->sf) != 0)
		ret = -EIO;
	if (close(stream->fd) < 0 && ret == 0)
		ret = -errno;
	free(stream->scratch);
	free(stream);
	return ret;
}

static int audio_file_list_devices(audio_device_cb cb, void *arg)
{
	/* Any path is a "device"; there is nothing to list. */
	(void)cb;
	(void)arg;
	return 0;
}

const struct audio_backend audio_file_backend = {
	.name = "file",
	.open_capture = audio_file_open_capture,
	.open_playback = audio_file_open_playback,
	.read = audio_file_read,
	.write = audio_file_write,
	.info = audio_file_info,
	.close = audio_file_close,
	.list_devices = audio_file_list_devices,
};
