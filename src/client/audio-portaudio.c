/*
 * audio-portaudio.c - the PortAudio backend: sound cards and sound servers.
 *
 * Device-clocked. Each stream has one PortAudio callback stream and one ring (ring.h):
 * the callback (PortAudio's real-time thread) copies PCM between the device and the
 * ring and does nothing else - no lock, no allocation, no system call, no logging -
 * while read() and write() on the media thread only copy from and to the ring. A
 * capture ring that is full drops the newest frames; a playback ring that is empty
 * gives silence; both are counted in atomics that the media thread may read.
 *
 * PortAudio itself is not thread-safe and enumerates devices once per Pa_Initialize(),
 * so one mutex serialises every call into it, and a reference count keeps it
 * initialised while any stream is open (or a listing runs). When the count drops to
 * zero it is terminated, so that the next open sees devices added since.
 *
 * salon does not link PortAudio: the backend loads it with dlopen() when it is first
 * used, so that a process that never opens a sound device (a bot on files, pipes or
 * null) does not map PortAudio, ALSA, JACK and the C++ runtime that JACK brings, about
 * 3 MiB of resident pages touched by the dynamic linker at start-up.
 */
#include "config.h"

#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <portaudio.h>

#include "audio.h"
#include "i18n.h"
#include "log.h"
#include "ring.h"
#include "util.h"

/* How much a ring holds, in periods: slack for a media thread that runs late. */
#define AUDIO_PORTAUDIO_RING_PERIODS 8

/* The latency asked of the device, in periods, at least: fewer risks glitches. */
#define AUDIO_PORTAUDIO_MIN_LATENCY_PERIODS 2

struct audio_stream {
	PaStream *pa;
	struct ring *ring;
	bool capture;
	struct audio_params params;
	size_t frame_bytes; /* bytes per frame: channels * 2 */
	/* Written by the callback only, read by anyone. */
	atomic_uint_least64_t callbacks;
	atomic_uint_least64_t frames;
	atomic_uint_least64_t xrun_frames;
};

static pthread_mutex_t audio_portaudio_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned audio_portaudio_refs; /* under audio_portaudio_lock */

/* PortAudio v19's soname, the one library this backend loads. */
#define AUDIO_PORTAUDIO_LIBRARY "libportaudio.so.2"

/* A pointer to PortAudio's function Pa_NAME, of its own type (from portaudio.h). */
#define AUDIO_PORTAUDIO_FUNCTION(name) __typeof__(Pa_##name) *name

/*
 * PortAudio's functions, once loaded (under audio_portaudio_lock; read without it only
 * by code that holds a reference, which loaded them first). The library is never
 * unloaded: ALSA and JACK leave threads and exit handlers behind.
 */
static struct {
	void *handle;
	AUDIO_PORTAUDIO_FUNCTION(Initialize);
	AUDIO_PORTAUDIO_FUNCTION(Terminate);
	AUDIO_PORTAUDIO_FUNCTION(GetErrorText);
	AUDIO_PORTAUDIO_FUNCTION(GetLastHostErrorInfo);
	AUDIO_PORTAUDIO_FUNCTION(GetHostApiInfo);
	AUDIO_PORTAUDIO_FUNCTION(GetDeviceCount);
	AUDIO_PORTAUDIO_FUNCTION(GetDeviceInfo);
	AUDIO_PORTAUDIO_FUNCTION(GetDefaultInputDevice);
	AUDIO_PORTAUDIO_FUNCTION(GetDefaultOutputDevice);
	AUDIO_PORTAUDIO_FUNCTION(IsFormatSupported);
	AUDIO_PORTAUDIO_FUNCTION(OpenStream);
	AUDIO_PORTAUDIO_FUNCTION(StartStream);
	AUDIO_PORTAUDIO_FUNCTION(StopStream);
	AUDIO_PORTAUDIO_FUNCTION(AbortStream);
	AUDIO_PORTAUDIO_FUNCTION(CloseStream);
} pa;

/* Looks up Pa_NAME in the loaded library into pa.NAME; false when it is missing. */
#define AUDIO_PORTAUDIO_RESOLVE(name)                                                    \
	((pa.name = (__typeof__(pa.name))dlsym(pa.handle, "Pa_" #name)) != NULL)

/*
 * Loads PortAudio and looks up its functions, once. Called with audio_portaudio_lock
 * held. Returns 0, or -ENOENT with a message in *error (when error is not NULL) if the
 * library or one of its functions is missing; a later call tries again.
 */
static int audio_portaudio_load(char **error)
{
	if (pa.handle != NULL)
		return 0;
	/* RTLD_LOCAL: PortAudio's symbols, and ALSA's and JACK's, stay out of salon's. */
	pa.handle = dlopen(AUDIO_PORTAUDIO_LIBRARY, RTLD_NOW | RTLD_LOCAL);
	if (pa.handle == NULL) {
		AUDIO_ERROR(error, _("cannot load PortAudio (%s): %s"), AUDIO_PORTAUDIO_LIBRARY,
			    dlerror());
		return -ENOENT;
	}
	if (!AUDIO_PORTAUDIO_RESOLVE(Initialize) || !AUDIO_PORTAUDIO_RESOLVE(Terminate) ||
	    !AUDIO_PORTAUDIO_RESOLVE(GetErrorText) ||
	    !AUDIO_PORTAUDIO_RESOLVE(GetLastHostErrorInfo) ||
	    !AUDIO_PORTAUDIO_RESOLVE(GetHostApiInfo) || !AUDIO_PORTAUDIO_RESOLVE(GetDeviceCount) ||
	    !AUDIO_PORTAUDIO_RESOLVE(GetDeviceInfo) ||
	    !AUDIO_PORTAUDIO_RESOLVE(GetDefaultInputDevice) ||
	    !AUDIO_PORTAUDIO_RESOLVE(GetDefaultOutputDevice) ||
	    !AUDIO_PORTAUDIO_RESOLVE(IsFormatSupported) || !AUDIO_PORTAUDIO_RESOLVE(OpenStream) ||
	    !AUDIO_PORTAUDIO_RESOLVE(StartStream) || !AUDIO_PORTAUDIO_RESOLVE(StopStream) ||
	    !AUDIO_PORTAUDIO_RESOLVE(AbortStream) || !AUDIO_PORTAUDIO_RESOLVE(CloseStream)) {
		AUDIO_ERROR(error, _("cannot load PortAudio (%s): %s"), AUDIO_PORTAUDIO_LIBRARY,
			    dlerror());
		dlclose(pa.handle);
		pa.handle = NULL;
		return -ENOENT;
	}
	return 0;
}

/* ALSA's and JACK's error hooks, looked up at run time: see audio_portaudio_quiet(). */
typedef void (*audio_portaudio_alsa_handler)(const char *file, int line, const char *function,
					     int err, const char *fmt, ...);
typedef int (*audio_portaudio_alsa_set_handler)(audio_portaudio_alsa_handler handler);
typedef void (*audio_portaudio_jack_set_function)(void (*handler)(const char *msg));

/* Swallows one ALSA library message (see audio_portaudio_quiet()). */
static void audio_portaudio_alsa_silent(const char *file, int line, const char *function, int err,
					const char *fmt, ...)
{
	(void)file;
	(void)line;
	(void)function;
	(void)err;
	(void)fmt;
}

/* Swallows one JACK library message (see audio_portaudio_quiet()). */
static void audio_portaudio_jack_silent(const char *msg)
{
	(void)msg;
}

/*
 * Silences ALSA and JACK, which print dozens of lines on stderr while PortAudio probes
 * devices that do not exist ("Unknown PCM cards.pcm.rear", "jack server is not
 * running") and would garble the terminal. salon reports what matters itself, from
 * PortAudio's error codes. The hooks are looked up in the libraries that PortAudio
 * loaded (dlsym() on its handle searches its dependencies too), so salon needs neither
 * library's headers; a library that is not there is simply not silenced. The handlers
 * may run on PortAudio's real-time thread, so they do nothing at all. Called with
 * audio_portaudio_lock held, PortAudio loaded.
 */
static void audio_portaudio_quiet(void)
{
	static bool done;
	audio_portaudio_alsa_set_handler alsa_set;
	audio_portaudio_jack_set_function jack_set;

	if (done)
		return;
	done = true;
	alsa_set =
	    (audio_portaudio_alsa_set_handler)dlsym(pa.handle, "snd_lib_error_set_handler");
	if (alsa_set != NULL)
		alsa_set(audio_portaudio_alsa_silent);
	jack_set =
	    (audio_portaudio_jack_set_function)dlsym(pa.handle, "jack_set_error_function");
	if (jack_set != NULL)
		jack_set(audio_portaudio_jack_silent);
	jack_set = (audio_portaudio_jack_set_function)dlsym(pa.handle, "jack_set_info_function");
	if (jack_set != NULL)
		jack_set(audio_portaudio_jack_silent);
}

/*
 * Takes a reference on PortAudio, loading and initialising it on the first. Called
 * with audio_portaudio_lock held. Returns 0, or -ENOENT (no library) or -EIO with a
 * message in *error.
 */
static int audio_portaudio_ref(char **error)
{
	PaError err;

	if (audio_portaudio_refs > 0) {
		audio_portaudio_refs++;
		return 0;
	}
	if (audio_portaudio_load(error) < 0)
		return -ENOENT;
	audio_portaudio_quiet();
	err = pa.Initialize();
	if (err != paNoError) {
		AUDIO_ERROR(error, _("cannot start PortAudio: %s"), pa.GetErrorText(err));
		return -EIO;
	}
	audio_portaudio_refs = 1;
	return 0;
}

/* Drops a reference on PortAudio, terminating it on the last. Lock held. */
static void audio_portaudio_unref(void)
{
	if (--audio_portaudio_refs == 0)
		pa.Terminate();
}

/* The name of the host API (ALSA, JACK...) of a device, for a person. */
static const char *audio_portaudio_host_name(const PaDeviceInfo *info)
{
	const PaHostApiInfo *host = pa.GetHostApiInfo(info->hostApi);

	return host != NULL && host->name != NULL ? host->name : "?";
}

/* Whether a device can capture (or play) channels channels. */
static bool audio_portaudio_fits(const PaDeviceInfo *info, bool capture, unsigned channels)
{
	int have = capture ? info->maxInputChannels : info->maxOutputChannels;

	return have > 0 && (unsigned)have >= channels;
}

/* Case-insensitive strstr() for ASCII device names. */
static bool audio_portaudio_contains(const char *haystack, const char *needle)
{
	size_t len = strlen(needle);

	for (; *haystack != '\0'; haystack++) {
		size_t i;

		for (i = 0; i < len; i++)
			if (tolower((unsigned char)haystack[i]) !=
			    tolower((unsigned char)needle[i]))
				break;
		if (i == len)
			return true;
	}
	return len == 0;
}

/*
 * Builds a list of the devices that fit (capture or playback, channels), one per line
 * as "  N: name (host API)", for error messages. The caller frees it.
 */
static char *audio_portaudio_describe(bool capture, unsigned channels, const char *filter)
{
	char *list = xstrdup("");
	int count = pa.GetDeviceCount();

	for (int i = 0; i < count; i++) {
		const PaDeviceInfo *info = pa.GetDeviceInfo(i);
		char *longer;

		if (info == NULL || !audio_portaudio_fits(info, capture, channels))
			continue;
		if (filter != NULL && !audio_portaudio_contains(info->name, filter))
			continue;
		longer = xasprintf("%s\n  %d: %s (%s)", list, i, info->name,
				   audio_portaudio_host_name(info));
		free(list);
		list = longer;
	}
	return list;
}

/* The message for a machine where PortAudio finds no device at all. */
static void audio_portaudio_no_device(char **error)
{
	AUDIO_ERROR(error, _("no audio device found; use --play/--record with a file, or the "
			     "null device"));
}

/* Whether s is a non-empty string of decimal digits. */
static bool audio_portaudio_is_number(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

/*
 * Finds the device that name designates for capture or playback of channels channels:
 * NULL or "" for the default, a number, an exact name, or a unique case-insensitive part of
 * a name. Lock held, PortAudio initialised. Returns the device index, or a negative
 * errno value with a message in *error: -ENODEV when nothing fits, -EINVAL when a
 * part of a name fits several devices.
 */
static int audio_portaudio_find(const char *name, bool capture, unsigned channels, char **error)
{
	int count = pa.GetDeviceCount();
	int found = -1, matches = 0;
	char *list;

	if (count <= 0) {
		audio_portaudio_no_device(error);
		return -ENODEV;
	}
	/* An empty name (say, from a config file's "device =") means the default too. */
	if (name == NULL || name[0] == '\0') {
		PaDeviceIndex index =
		    capture ? pa.GetDefaultInputDevice() : pa.GetDefaultOutputDevice();
		const PaDeviceInfo *info = pa.GetDeviceInfo(index);

		if (index == paNoDevice || info == NULL) {
			audio_portaudio_no_device(error);
			return -ENODEV;
		}
		if (!audio_portaudio_fits(info, capture, channels)) {
			AUDIO_ERROR(error,
				    capture ? _("the default audio device \"%s\" cannot capture "
						"%u channel(s)")
					    : _("the default audio device \"%s\" cannot play %u "
						"channel(s)"),
				    info->name, channels);
			return -ENODEV;
		}
		return index;
	}
	if (audio_portaudio_is_number(name)) {
		unsigned long index = strtoul(name, NULL, 10);
		const PaDeviceInfo *info =
		    index < (unsigned long)count ? pa.GetDeviceInfo((int)index) : NULL;

		if (info != NULL && audio_portaudio_fits(info, capture, channels))
			return (int)index;
		list = audio_portaudio_describe(capture, channels, NULL);
		AUDIO_ERROR(error,
			    capture ? _("there is no capture audio device number %s; the capture "
					"devices are:%s")
				    : _("there is no playback audio device number %s; the playback "
					"devices are:%s"),
			    name, list);
		free(list);
		return -ENODEV;
	}
	for (int i = 0; i < count; i++) {
		const PaDeviceInfo *info = pa.GetDeviceInfo(i);

		if (info != NULL && audio_portaudio_fits(info, capture, channels) &&
		    strcmp(info->name, name) == 0)
			return i;
	}
	for (int i = 0; i < count; i++) {
		const PaDeviceInfo *info = pa.GetDeviceInfo(i);

		if (info != NULL && audio_portaudio_fits(info, capture, channels) &&
		    audio_portaudio_contains(info->name, name)) {
			found = i;
			matches++;
		}
	}
	if (matches == 1)
		return found;
	if (matches > 1) {
		list = audio_portaudio_describe(capture, channels, name);
		AUDIO_ERROR(error,
			    _("audio device \"%s\" is ambiguous; give a number or an exact "
			      "name among:%s"),
			    name, list);
		free(list);
		return -EINVAL;
	}
	list = audio_portaudio_describe(capture, channels, NULL);
	if (list[0] == '\0')
		AUDIO_ERROR(error,
			    capture ? _("unknown audio device \"%s\": there is no capture device")
				    : _("unknown audio device \"%s\": there is no playback device"),
			    name);
	else
		AUDIO_ERROR(error,
			    capture ? _("unknown audio device \"%s\"; the capture devices are:%s")
				    : _("unknown audio device \"%s\"; the playback devices "
					"are:%s"),
			    name, list);
	free(list);
	return -ENODEV;
}

/*
 * The device's real-time callback: copies whole frames between the device and the
 * ring and counts. Nothing else may happen here: no lock, no allocation, no system
 * call, no logging (DESIGN.md, "Client threads").
 */
static int audio_portaudio_callback(const void *input, void *output, unsigned long frames,
				    const PaStreamCallbackTimeInfo *time,
				    PaStreamCallbackFlags flags, void *arg)
{
	struct audio_stream *stream = arg;
	size_t bytes = frames * stream->frame_bytes;
	size_t room, moved = 0;

	(void)time;
	(void)flags;
	if (stream->capture) {
		room = ring_writable(stream->ring);
		room -= room % stream->frame_bytes;
		if (input != NULL)
			moved = ring_write(stream->ring, input, bytes < room ? bytes : room);
	} else {
		room = ring_readable(stream->ring);
		room -= room % stream->frame_bytes;
		moved = ring_read(stream->ring, output, bytes < room ? bytes : room);
		if (moved < bytes)
			memset((uint8_t *)output + moved, 0, bytes - moved);
	}
	if (moved < bytes)
		atomic_fetch_add_explicit(&stream->xrun_frames,
					  (bytes - moved) / stream->frame_bytes,
					  memory_order_relaxed);
	atomic_fetch_add_explicit(&stream->frames, frames, memory_order_relaxed);
	atomic_fetch_add_explicit(&stream->callbacks, 1, memory_order_relaxed);
	return paContinue;
}

/* Translates a PortAudio error into a negative errno value. */
static int audio_portaudio_errno(PaError err)
{
	switch (err) {
	case paInvalidSampleRate:
	case paInvalidChannelCount:
	case paSampleFormatNotSupported:
	case paBadIODeviceCombination:
		return -ENOTSUP;
	case paDeviceUnavailable:
		return -EBUSY;
	case paInsufficientMemory:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

/* PortAudio's text for err, with the host API's own when it has one. Caller frees. */
static char *audio_portaudio_error_text(PaError err)
{
	const PaHostErrorInfo *host;

	if (err != paUnanticipatedHostError)
		return xstrdup(pa.GetErrorText(err));
	host = pa.GetLastHostErrorInfo();
	if (host != NULL && host->errorText != NULL && host->errorText[0] != '\0')
		return xasprintf("%s (%s)", pa.GetErrorText(err), host->errorText);
	return xstrdup(pa.GetErrorText(err));
}

/* Opens a stream for capture or playback; the lock is held. See audio.h. */
static int audio_portaudio_open_locked(const char *device, bool capture,
				       const struct audio_params *params, struct audio_stream **out,
				       char **error)
{
	struct audio_stream *stream;
	const PaDeviceInfo *info;
	PaStreamParameters pa_params;
	PaTime latency;
	PaError err;
	char *text;
	int index;

	index = audio_portaudio_find(device, capture, params->channels, error);
	if (index < 0)
		return index;
	info = pa.GetDeviceInfo(index);
	latency = capture ? info->defaultLowInputLatency : info->defaultLowOutputLatency;
	if (latency < (PaTime)AUDIO_PORTAUDIO_MIN_LATENCY_PERIODS * params->frame_samples /
			  params->sample_rate)
		latency = (PaTime)AUDIO_PORTAUDIO_MIN_LATENCY_PERIODS * params->frame_samples /
			  params->sample_rate;
	pa_params = (PaStreamParameters){
	    .device = index,
	    .channelCount = (int)params->channels,
	    .sampleFormat = paInt16,
	    .suggestedLatency = latency,
	    .hostApiSpecificStreamInfo = NULL,
	};
	err = pa.IsFormatSupported(capture ? &pa_params : NULL, capture ? NULL : &pa_params,
				   params->sample_rate);
	if (err != paFormatIsSupported) {
		text = audio_portaudio_error_text(err);
		AUDIO_ERROR(error,
			    capture ? _("audio device \"%s\" (%s) cannot capture at %u Hz, %u "
					"channel(s), 16-bit: %s")
				    : _("audio device \"%s\" (%s) cannot play at %u Hz, %u "
					"channel(s), 16-bit: %s"),
			    info->name, audio_portaudio_host_name(info), params->sample_rate,
			    params->channels, text);
		free(text);
		return audio_portaudio_errno(err);
	}

	stream = xcalloc(1, sizeof(*stream));
	stream->capture = capture;
	stream->params = *params;
	stream->frame_bytes = params->channels * sizeof(int16_t);
	stream->ring =
	    ring_new(AUDIO_PORTAUDIO_RING_PERIODS * params->frame_samples * stream->frame_bytes);
	atomic_init(&stream->callbacks, 0);
	atomic_init(&stream->frames, 0);
	atomic_init(&stream->xrun_frames, 0);
	err = pa.OpenStream(&stream->pa, capture ? &pa_params : NULL, capture ? NULL : &pa_params,
			    params->sample_rate, params->frame_samples, paNoFlag,
			    audio_portaudio_callback, stream);
	if (err == paNoError) {
		err = pa.StartStream(stream->pa);
		if (err != paNoError)
			pa.CloseStream(stream->pa);
	}
	if (err != paNoError) {
		text = audio_portaudio_error_text(err);
		AUDIO_ERROR(error,
			    capture ? _("cannot open audio device \"%s\" (%s) for capture: %s")
				    : _("cannot open audio device \"%s\" (%s) for playback: %s"),
			    info->name, audio_portaudio_host_name(info), text);
		free(text);
		ring_free(stream->ring);
		free(stream);
		return audio_portaudio_errno(err);
	}
	log_debug("portaudio: %s on \"%s\" (%s), %u Hz, %u channel(s), %u frames per period",
		  capture ? "capture" : "playback", info->name, audio_portaudio_host_name(info),
		  params->sample_rate, params->channels, params->frame_samples);
	*out = stream;
	return 0;
}

/* Checks parameters, takes a PortAudio reference and opens. See audio.h. */
static int audio_portaudio_open(const char *device, bool capture, const struct audio_params *params,
				struct audio_stream **out, char **error)
{
	int ret;

	if (params->sample_rate == 0 || params->frame_samples == 0 || params->channels < 1 ||
	    params->channels > 2 || params->frame_samples > AUDIO_SAMPLE_RATE) {
		AUDIO_ERROR(error,
			    _("unsupported audio parameters: %u Hz, %u channels, "
			      "%u frames per period"),
			    params->sample_rate, params->channels, params->frame_samples);
		return -EINVAL;
	}
	pthread_mutex_lock(&audio_portaudio_lock);
	ret = audio_portaudio_ref(error);
	if (ret == 0) {
		ret = audio_portaudio_open_locked(device, capture, params, out, error);
		if (ret < 0)
			audio_portaudio_unref();
	}
	pthread_mutex_unlock(&audio_portaudio_lock);
	return ret;
}

static int audio_portaudio_open_capture(const char *device, const struct audio_params *params,
					struct audio_stream **out, char **error)
{
	return audio_portaudio_open(device, true, params, out, error);
}

static int audio_portaudio_open_playback(const char *device, const struct audio_params *params,
					 struct audio_stream **out, char **error)
{
	return audio_portaudio_open(device, false, params, out, error);
}

static int audio_portaudio_read(struct audio_stream *stream, int16_t *pcm, size_t frames)
{
	size_t bytes, ready;

	if (!stream->capture)
		return -EBADF;
	if (frames > INT_MAX / stream->params.channels)
		frames = INT_MAX / stream->params.channels;
	bytes = frames * stream->frame_bytes;
	ready = ring_readable(stream->ring);
	ready -= ready % stream->frame_bytes;
	return (int)(ring_read(stream->ring, pcm, bytes < ready ? bytes : ready) /
		     stream->frame_bytes);
}

static int audio_portaudio_write(struct audio_stream *stream, const int16_t *pcm, size_t frames)
{
	size_t bytes, room;

	if (stream->capture)
		return -EBADF;
	if (frames > INT_MAX / stream->params.channels)
		return -EINVAL;
	bytes = frames * stream->frame_bytes;
	room = ring_writable(stream->ring);
	room -= room % stream->frame_bytes;
	return (int)(ring_write(stream->ring, pcm, bytes < room ? bytes : room) /
		     stream->frame_bytes);
}

static void audio_portaudio_info(const struct audio_stream *stream, struct audio_stream_info *info)
{
	info->params = stream->params;
	info->device_clock = true;
	info->poll_fd = -1;
}

void audio_portaudio_counters(const struct audio_stream *stream,
			      struct audio_portaudio_counters *counters)
{
	/* The atomics are only read, but C11's atomic_load takes a non-const pointer. */
	struct audio_stream *s = (struct audio_stream *)stream;

	counters->callbacks = atomic_load_explicit(&s->callbacks, memory_order_relaxed);
	counters->frames = atomic_load_explicit(&s->frames, memory_order_relaxed);
	counters->xrun_frames = atomic_load_explicit(&s->xrun_frames, memory_order_relaxed);
}

static int audio_portaudio_close(struct audio_stream *stream)
{
	PaError err;
	int ret = 0;

	if (stream == NULL)
		return 0;
	pthread_mutex_lock(&audio_portaudio_lock);
	/* Playback lets what the device already holds play out; capture just stops. */
	err = stream->capture ? pa.AbortStream(stream->pa) : pa.StopStream(stream->pa);
	if (err != paNoError && err != paStreamIsStopped) {
		log_warn(_("portaudio: stopping a stream: %s"), pa.GetErrorText(err));
		ret = audio_portaudio_errno(err);
	}
	err = pa.CloseStream(stream->pa);
	if (err != paNoError) {
		log_warn(_("portaudio: closing a stream: %s"), pa.GetErrorText(err));
		ret = audio_portaudio_errno(err);
	}
	audio_portaudio_unref();
	pthread_mutex_unlock(&audio_portaudio_lock);
	/* The callback has stopped for good, so the ring has no producer or consumer left. */
	ring_free(stream->ring);
	free(stream);
	return ret;
}

/*
 * Copies the device list under the lock and calls cb after releasing it, so that cb
 * may itself call into this backend (open a stream, say) without deadlocking.
 */
static int audio_portaudio_list_devices(audio_device_cb cb, void *arg)
{
	struct audio_device *devs;
	int count, listed = 0;
	char *error = NULL;

	pthread_mutex_lock(&audio_portaudio_lock);
	if (audio_portaudio_ref(&error) < 0) {
		pthread_mutex_unlock(&audio_portaudio_lock);
		log_error("%s", error);
		free(error);
		return -EIO;
	}
	count = pa.GetDeviceCount();
	devs = xcalloc(count > 0 ? (size_t)count : 1, sizeof(*devs));
	for (int i = 0; i < count; i++) {
		const PaDeviceInfo *info = pa.GetDeviceInfo(i);

		if (info == NULL || (info->maxInputChannels <= 0 && info->maxOutputChannels <= 0))
			continue;
		devs[listed++] = (struct audio_device){
		    .name = xstrdup(info->name),
		    .description =
			xasprintf(_("%s, number %d"), audio_portaudio_host_name(info), i),
		    .capture = info->maxInputChannels > 0,
		    .playback = info->maxOutputChannels > 0,
		};
	}
	audio_portaudio_unref();
	pthread_mutex_unlock(&audio_portaudio_lock);

	for (int i = 0; i < listed; i++) {
		cb(arg, &devs[i]);
		free((char *)devs[i].name);
		free((char *)devs[i].description);
	}
	free(devs);
	return listed;
}

const struct audio_backend audio_portaudio_backend = {
    .name = "portaudio",
    .open_capture = audio_portaudio_open_capture,
    .open_playback = audio_portaudio_open_playback,
    .read = audio_portaudio_read,
    .write = audio_portaudio_write,
    .info = audio_portaudio_info,
    .close = audio_portaudio_close,
    .list_devices = audio_portaudio_list_devices,
};
