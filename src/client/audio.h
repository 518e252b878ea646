/*
 * audio.h - audio backends: one table of functions per backend.
 *
 * A backend opens capture streams (PCM in) and playback streams (PCM out) of 16-bit
 * signed native-endian interleaved samples. Two kinds of backend fit behind the same
 * table, told apart by audio_stream_info.device_clock:
 *
 *  - Device-clocked (PortAudio): the device's own real-time callback moves PCM to and
 *    from single-producer single-consumer rings (ring.h) inside the backend; read()
 *    and write() only copy from and to those rings, never block, and may move fewer
 *    frames than asked (or none). The media thread keeps its own frame clock and
 *    copes with underruns and overruns.
 *  - Caller-clocked (sound file, pipe, null): there is no device clock; the media
 *    thread's frame clock decides when a frame is read or written. read() delivers
 *    what is ready at once (a file: always a whole request until the end; a pipe:
 *    the whole frames that have arrived); write() takes every frame it is given.
 *
 * A stream runs from open to close. All functions are called from the media thread
 * (open, close and list_devices from any one thread that is not the real-time
 * callback), one stream by one thread at a time.
 *
 * Errors as in util.h: 0 or a count on success, a negative errno value on failure.
 * open_* also return a message for a person: on failure, when error is not NULL,
 * *error is set to a newly allocated, translated sentence that the caller frees.
 */
#ifndef SALON_AUDIO_H
#define SALON_AUDIO_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* salon's one sample rate; backends without resampling require it. */
#define AUDIO_SAMPLE_RATE 48000

/* What read() returns once a capture stream has delivered everything it had. */
#define AUDIO_EOF (-ENODATA)

struct audio_params {
	unsigned sample_rate; /* frames per second */
	unsigned channels; /* 1 (salon's own streams) or 2 */
	unsigned frame_samples; /* frames per period (e.g. 960 for 20 ms at 48 kHz) */
};

struct audio_stream_info {
	struct audio_params params; /* as opened */
	/* True when a device's clock paces the stream (see above). */
	bool device_clock;
	/*
	 * A descriptor that poll(2) reports readable (capture) or writable (playback)
	 * when read() or write() can make progress, or -1 when there is none to wait for
	 * (files and null are always ready; a device-clocked stream is read on the
	 * media thread's clock).
	 */
	int poll_fd;
};

struct audio_device {
	const char *name; /* what open_* accept as device */
	const char *description; /* for a person, may be NULL */
	bool capture;
	bool playback;
};

struct audio_stream;

/* Called once per device by list_devices(); the strings live only during the call. */
typedef void (*audio_device_cb)(void *arg, const struct audio_device *device);

struct audio_backend {
	/* Short name, as given on the command line ("file", "pipe", "null"). */
	const char *name;

	/*
	 * Opens device (a backend-specific name; NULL for the default) for capture or
	 * playback with the given parameters. Returns 0 and sets *out (closed with
	 * close()), or a negative errno value and, when error is not NULL, a message
	 * in *error.
	 */
	int (*open_capture)(const char *device, const struct audio_params *params,
			    struct audio_stream **out, char **error);
	int (*open_playback)(const char *device, const struct audio_params *params,
			     struct audio_stream **out, char **error);

	/*
	 * Reads up to frames frames into pcm (frames * channels samples). Returns the
	 * number of frames read, which may be fewer than asked, 0 when none are ready
	 * yet, AUDIO_EOF when the input has ended and everything was delivered, or
	 * another negative errno value on error. Capture streams only.
	 */
	int (*read)(struct audio_stream *stream, int16_t *pcm, size_t frames);

	/*
	 * Writes frames frames from pcm. Returns the number of frames taken (fewer
	 * only for a device-clocked stream whose ring is full), -EPIPE when the reader
	 * went away, or another negative errno value. Playback streams only.
	 */
	int (*write)(struct audio_stream *stream, const int16_t *pcm, size_t frames);

	/* Fills *info for an open stream. */
	void (*info)(const struct audio_stream *stream, struct audio_stream_info *info);

	/*
	 * Stops and frees the stream (NULL is fine); a playback stream to a file is
	 * finalised here. Returns 0, or a negative errno value if finishing the output
	 * failed (the stream is freed anyway).
	 */
	int (*close)(struct audio_stream *stream);

	/* Calls cb for each device this backend offers. Returns the count or -errno. */
	int (*list_devices)(audio_device_cb cb, void *arg);
};

/*
 * For backends: sets *error, when error is not NULL, to a newly allocated message
 * built from a translated format, as open_* promise.
 */
#define AUDIO_ERROR(error, ...)                                                           \
	do {                                                                              \
		if ((error) != NULL)                                                      \
			*(error) = xasprintf(__VA_ARGS__);                                \
	} while (0)

/*
 * Sound files through libsndfile. Capture reads WAV, FLAC, Ogg (Vorbis, Opus) and the
 * other formats libsndfile knows, at 48 kHz only (no resampling), mixing down to mono
 * by averaging the channels. Playback writes (records) a file whose format follows the
 * name's extension: .wav (16-bit PCM), .flac (16-bit), .ogg / .opus (Ogg Opus).
 * device is the file's path.
 */
extern const struct audio_backend audio_file_backend;

/*
 * Raw PCM, signed 16-bit little-endian, 48 kHz mono, on a descriptor. device is "-"
 * (standard input for capture, standard output for playback; never closed),
 * "fd:N" (descriptor N, inherited, not closed either), or a path (a FIFO, say),
 * opened and closed by the stream. Playback blocks while the pipe is full; whoever
 * uses it must ignore SIGPIPE so that a reader going away gives -EPIPE.
 */
extern const struct audio_backend audio_pipe_backend;

/* Capture gives silence, forever; playback discards. Caller-clocked. */
extern const struct audio_backend audio_null_backend;

/*
 * For backends: checks what the null backend accepts and every backend requires (a
 * sample rate and a period above 0, one or two channels). Returns 0, or -EINVAL
 * and, when error is not NULL, a message in *error as open_* promise (the caller
 * frees it). Any thread.
 */
int audio_null_check_params(const struct audio_params *params, char **error);

/*
 * Sound cards and sound servers through PortAudio (ALSA, JACK, and PulseAudio or
 * PipeWire through ALSA's "pulse" device). Device-clocked. device is NULL for the
 * default device, a device number as listed ("3"), a device's exact name, or a part
 * of one name, in any case. list_devices() gives each device's name with its host
 * API and number in the description. An empty name is the default too.
 */
extern const struct audio_backend audio_portaudio_backend;

/* What a PortAudio stream's real-time callback has done so far (for tests, meters). */
struct audio_portaudio_counters {
	uint64_t callbacks; /* calls of the device's callback */
	uint64_t frames; /* frames the device moved (captured, or played incl. silence) */
	uint64_t xrun_frames; /* capture: frames dropped, ring full; playback: silence */
};

/*
 * Fills *counters for stream, which must be a stream of audio_portaudio_backend.
 * Media thread (any thread that owns the stream); the values may lag by a callback.
 */
void audio_portaudio_counters(const struct audio_stream *stream,
			      struct audio_portaudio_counters *counters);

#endif
