/*
 * earcon.h - short generated tones that mark events in a room (earcons): someone
 * joined or left, a hand went up, you were invited to speak, you were muted, your
 * name was mentioned in chat.
 *
 * Each earcon is a few sine notes with a soft attack and release (no clicks),
 * synthesized in code as 16-bit mono PCM at EARCON_SAMPLE_RATE, so that they need
 * no sound files and sound the same everywhere. Front ends play them with
 * ENGINE_CMD_EARCON (engine.h), which mixes them into what we hear only: never into
 * what we send nor into a recording.
 *
 * Errors as in util.h: allocation aborts on out-of-memory. Pure functions: any
 * thread but the real-time audio callback (they allocate).
 */
#ifndef SALON_EARCON_H
#define SALON_EARCON_H

#include <stddef.h>
#include <stdint.h>

#define EARCON_SAMPLE_RATE 48000
/* The longest earcon, in milliseconds: they must never talk over a speaker for long. */
#define EARCON_MAX_MS 400

enum earcon_type {
	EARCON_JOIN,      /* a member arrived: two rising notes */
	EARCON_LEAVE,     /* a member left: two falling notes */
	EARCON_HAND,      /* a hand went up: two short high pips */
	EARCON_INVITED,   /* you were invited to speak: a rising major arpeggio */
	EARCON_MUTED,     /* you were muted: one low note */
	EARCON_MENTION,   /* your name in chat: three quick pips */
	EARCON_COUNT,
};

/* The earcon's name ("join", "leave", ...), or "?" for a value out of range. */
const char *earcon_name(enum earcon_type type);

/*
 * Returns the number of samples earcon type has at EARCON_SAMPLE_RATE, or 0 for a
 * type out of range.
 */
size_t earcon_length(enum earcon_type type);

/*
 * Synthesizes earcon type at volume (0..100, clamped; 0 is silence) into a new
 * buffer of 16-bit mono samples at EARCON_SAMPLE_RATE that the caller frees with
 * free(). Returns the number of samples and sets *out, or returns 0 and sets *out
 * to NULL for a type out of range.
 */
size_t earcon_synthesize(enum earcon_type type, int volume, int16_t **out);

#endif
