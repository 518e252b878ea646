/*
 * dsp.h - clean-up of captured speech before it is encoded: speexdsp's preprocessor
 * with noise suppression and automatic gain control (AGC), dereverberation off.
 *
 * One dsp object processes one continuous mono stream of 16-bit samples, one frame
 * of a fixed size at a time (the media thread's frame, 10 or 20 ms). It adapts to
 * the stream as it goes (noise estimate, loudness), so it must see every frame in
 * order and must not be shared between streams.
 *
 * Errors as in util.h; allocation aborts on out-of-memory. A dsp object belongs to
 * one thread at a time (the media thread); it is not for the real-time callback.
 */
#ifndef SALON_DSP_H
#define SALON_DSP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The loudness the AGC aims for, as a level of int16 samples (speexdsp's unit). */
#define DSP_AGC_LEVEL 8000.0f
/* The most the AGC may amplify, and how much noise is taken off, in dB. */
#define DSP_AGC_MAX_GAIN_DB 30
#define DSP_NOISE_SUPPRESS_DB (-25)

struct dsp;

/*
 * Creates a preprocessor for frames of frame_samples samples of mono audio at
 * sample_rate Hz, with denoise and AGC on and dereverberation off. Returns 0 and
 * *out (freed with dsp_free), -EINVAL for a zero rate or frame size, a frame longer
 * than 100 ms, or -ENOTSUP when speexdsp refuses the settings (a fixed-point build
 * without AGC, say).
 */
int dsp_new(unsigned sample_rate, size_t frame_samples, struct dsp **out);

/* Frees the preprocessor (NULL is fine). */
void dsp_free(struct dsp *dsp);

/* The frame size dsp_process() takes, as given to dsp_new(). */
size_t dsp_frame_samples(const struct dsp *dsp);

/*
 * Processes one frame of pcm in place; samples is the number of samples in pcm.
 * Returns 0, or -EINVAL (pcm untouched) when samples is not the frame size given to
 * dsp_new().
 */
int dsp_process(struct dsp *dsp, int16_t *pcm, size_t samples);

/* Enables or disables AGC on the fly (denoise stays on). Returns 0 or -ENOTSUP. */
int dsp_set_agc(struct dsp *dsp, bool enabled);

#endif
