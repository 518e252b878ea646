/*
 * dsp.c - speexdsp's preprocessor (noise suppression and AGC) behind dsp.h.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include <speex/speex_preprocess.h>

#include "dsp.h"
#include "util.h"

struct dsp {
	SpeexPreprocessState *state;
	size_t frame_samples;
};

/* Sets one integer option; speexdsp answers 0 when it knows the request. */
static int dsp_ctl_int(SpeexPreprocessState *state, int request, int value)
{
	return speex_preprocess_ctl(state, request, &value) == 0 ? 0 : -ENOTSUP;
}

int dsp_new(unsigned sample_rate, size_t frame_samples, struct dsp **out)
{
	struct dsp *dsp;
	float level = DSP_AGC_LEVEL;
	int ret = 0;

	if (sample_rate == 0 || frame_samples == 0 || frame_samples > sample_rate / 10 ||
	    sample_rate > 192000)
		return -EINVAL;
	dsp = xcalloc(1, sizeof(*dsp));
	dsp->frame_samples = frame_samples;
	dsp->state = speex_preprocess_state_init((int)frame_samples, (int)sample_rate);
	if (dsp->state == NULL) {
		free(dsp);
		return -ENOTSUP;
	}
	if (dsp_ctl_int(dsp->state, SPEEX_PREPROCESS_SET_DENOISE, 1) < 0 ||
	    dsp_ctl_int(dsp->state, SPEEX_PREPROCESS_SET_NOISE_SUPPRESS, DSP_NOISE_SUPPRESS_DB) <
		    0 ||
	    dsp_ctl_int(dsp->state, SPEEX_PREPROCESS_SET_DEREVERB, 0) < 0)
		ret = -ENOTSUP;
	/* AGC exists only in speexdsp's floating-point builds, hence the checks. */
	if (ret == 0 && (dsp_ctl_int(dsp->state, SPEEX_PREPROCESS_SET_AGC, 1) < 0 ||
			 speex_preprocess_ctl(dsp->state, SPEEX_PREPROCESS_SET_AGC_LEVEL,
					      &level) != 0 ||
			 dsp_ctl_int(dsp->state, SPEEX_PREPROCESS_SET_AGC_MAX_GAIN,
				     DSP_AGC_MAX_GAIN_DB) < 0))
		ret = -ENOTSUP;
	if (ret < 0) {
		speex_preprocess_state_destroy(dsp->state);
		free(dsp);
		return ret;
	}
	*out = dsp;
	return 0;
}

void dsp_free(struct dsp *dsp)
{
	if (dsp == NULL)
		return;
	speex_preprocess_state_destroy(dsp->state);
	free(dsp);
}

size_t dsp_frame_samples(const struct dsp *dsp)
{
	return dsp->frame_samples;
}

int dsp_process(struct dsp *dsp, int16_t *pcm, size_t samples)
{
	if (samples != dsp->frame_samples)
		return -EINVAL;
	/* The return value is the VAD decision, which is off here: nothing to check. */
	(void)speex_preprocess_run(dsp->state, pcm);
	return 0;
}

int dsp_set_agc(struct dsp *dsp, bool enabled)
{
	return dsp_ctl_int(dsp->state, SPEEX_PREPROCESS_SET_AGC, enabled ? 1 : 0);
}
