/*
 * earcon.c - earcons synthesized as sine notes with linear attack and release.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>

#include "earcon.h"
#include "util.h"

/* A fade this long at both ends of every note keeps the tone free of clicks. */
#define EARCON_FADE_MS 5
/* Full volume stays well below full scale: earcons sit under speech, not over it. */
#define EARCON_PEAK 0.4
#define EARCON_MAX_NOTES 3

struct earcon_note {
	double frequency; /* Hz; 0 is a rest */
	unsigned ms;
};

struct earcon_shape {
	const char *name;
	struct earcon_note notes[EARCON_MAX_NOTES];
};

/* Rising for arrivals and good news, falling for departures, low for muting. */
static const struct earcon_shape earcon_shapes[EARCON_COUNT] = {
	[EARCON_JOIN] = {"join", {{659.26, 90}, {987.77, 120}}},
	[EARCON_LEAVE] = {"leave", {{987.77, 90}, {659.26, 120}}},
	[EARCON_HAND] = {"hand", {{1318.51, 60}, {0, 40}, {1318.51, 60}}},
	[EARCON_INVITED] = {"invited", {{523.25, 100}, {659.26, 100}, {783.99, 160}}},
	[EARCON_MUTED] = {"muted", {{329.63, 180}}},
	[EARCON_MENTION] = {"mention", {{1567.98, 50}, {1174.66, 50}, {1567.98, 70}}},
};

const char *earcon_name(enum earcon_type type)
{
	if ((unsigned)type >= EARCON_COUNT)
		return "?";
	return earcon_shapes[type].name;
}

static size_t earcon_note_samples(const struct earcon_note *note)
{
	return (size_t)note->ms * EARCON_SAMPLE_RATE / 1000;
}

size_t earcon_length(enum earcon_type type)
{
	size_t total = 0;

	if ((unsigned)type >= EARCON_COUNT)
		return 0;
	for (size_t i = 0; i < EARCON_MAX_NOTES; i++)
		total += earcon_note_samples(&earcon_shapes[type].notes[i]);
	return total;
}

size_t earcon_synthesize(enum earcon_type type, int volume, int16_t **out)
{
	size_t total = earcon_length(type), at = 0;
	size_t fade = (size_t)EARCON_FADE_MS * EARCON_SAMPLE_RATE / 1000;
	double amplitude;
	int16_t *samples;

	*out = NULL;
	if (total == 0)
		return 0;
	if (volume < 0)
		volume = 0;
	if (volume > 100)
		volume = 100;
	amplitude = EARCON_PEAK * 32767.0 * volume / 100.0;
	samples = xcalloc(total, sizeof(*samples));
	for (size_t n = 0; n < EARCON_MAX_NOTES; n++) {
		const struct earcon_note *note = &earcon_shapes[type].notes[n];
		size_t count = earcon_note_samples(note);

		for (size_t i = 0; i < count && note->frequency > 0; i++) {
			double envelope = 1.0;
			double phase = 2.0 * M_PI * note->frequency * (double)i /
				       EARCON_SAMPLE_RATE;

			if (i < fade)
				envelope = (double)i / (double)fade;
			else if (count - i <= fade)
				envelope = (double)(count - 1 - i) / (double)fade;
			samples[at + i] = (int16_t)lrint(amplitude * envelope * sin(phase));
		}
		at += count;
	}
	*out = samples;
	return total;
}
