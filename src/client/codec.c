/*
 * codec.c - Opus encoder and decoder settings for salon's speech.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include <opus.h>

#include "codec.h"
#include "util.h"

struct codec_encoder {
	OpusEncoder *opus;
	size_t frame_samples;
	size_t packet_size;
};

struct codec_decoder {
	OpusDecoder *opus;
	/* Length of the last frame decoded, which a concealed frame repeats. */
	size_t last_frame_samples;
};

/* Maps Opus's error codes onto errno values. */
static int codec_errno(int opus_error)
{
	switch (opus_error) {
	case OPUS_BAD_ARG:
		return -EINVAL;
	case OPUS_BUFFER_TOO_SMALL:
		return -ENOBUFS;
	case OPUS_INVALID_PACKET:
	case OPUS_INTERNAL_ERROR:
		return -EBADMSG;
	default:
		return -EIO;
	}
}

void codec_encoder_config_default(struct codec_encoder_config *config)
{
	config->frame_ms = CODEC_DEFAULT_FRAME_MS;
	config->bitrate = CODEC_DEFAULT_BITRATE;
	config->complexity = CODEC_DEFAULT_COMPLEXITY;
}

int codec_encoder_new(const struct codec_encoder_config *config, struct codec_encoder **out)
{
	struct codec_encoder_config defaults;
	struct codec_encoder *enc;
	int err;

	if (config == NULL) {
		codec_encoder_config_default(&defaults);
		config = &defaults;
	}
	if ((config->frame_ms != 10 && config->frame_ms != 20) || config->bitrate < 6000 ||
	    config->bitrate > 510000 || config->complexity > 10)
		return -EINVAL;

	enc = xcalloc(1, sizeof(*enc));
	enc->opus = opus_encoder_create(CODEC_SAMPLE_RATE, CODEC_CHANNELS,
					OPUS_APPLICATION_VOIP, &err);
	if (enc->opus == NULL) {
		free(enc);
		return codec_errno(err);
	}
	enc->frame_samples = CODEC_SAMPLE_RATE / 1000 * config->frame_ms;
	enc->packet_size = (size_t)config->bitrate * config->frame_ms / 8000;
	/*
	 * Constant bitrate, so that packet sizes say nothing about the speech; and FEC,
	 * which Opus only adds when it expects some loss.
	 */
	if (opus_encoder_ctl(enc->opus, OPUS_SET_BITRATE((opus_int32)config->bitrate)) !=
		    OPUS_OK ||
	    opus_encoder_ctl(enc->opus, OPUS_SET_VBR(0)) != OPUS_OK ||
	    opus_encoder_ctl(enc->opus, OPUS_SET_INBAND_FEC(1)) != OPUS_OK ||
	    opus_encoder_ctl(enc->opus, OPUS_SET_PACKET_LOSS_PERC(CODEC_PACKET_LOSS_PERC)) !=
		    OPUS_OK ||
	    opus_encoder_ctl(enc->opus, OPUS_SET_COMPLEXITY((opus_int32)config->complexity)) !=
		    OPUS_OK ||
	    opus_encoder_ctl(enc->opus, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE)) != OPUS_OK ||
	    opus_encoder_ctl(enc->opus, OPUS_SET_DTX(0)) != OPUS_OK) {
		codec_encoder_free(enc);
		return -EIO;
	}
	*out = enc;
	return 0;
}

void codec_encoder_free(struct codec_encoder *enc)
{
	if (enc == NULL)
		return;
	opus_encoder_destroy(enc->opus);
	free(enc);
}

size_t codec_encoder_frame_samples(const struct codec_encoder *enc)
{
	return enc->frame_samples;
}

size_t codec_encoder_packet_size(const struct codec_encoder *enc)
{
	return enc->packet_size;
}

int codec_encoder_lookahead(const struct codec_encoder *enc)
{
	opus_int32 lookahead = 0;

	if (opus_encoder_ctl(enc->opus, OPUS_GET_LOOKAHEAD(&lookahead)) != OPUS_OK)
		return 0;
	return lookahead;
}

int codec_encode(struct codec_encoder *enc, const int16_t *pcm, uint8_t *out, size_t cap)
{
	opus_int32 len;
	int ret;

	if (cap < enc->packet_size)
		return -ENOBUFS;
	/*
	 * Capping the output at the packet size and padding anything shorter makes the
	 * constant size a promise of this module, not only of Opus's CBR mode.
	 */
	len = opus_encode(enc->opus, pcm, (int)enc->frame_samples, out,
			  (opus_int32)enc->packet_size);
	if (len < 0)
		return codec_errno(len);
	if ((size_t)len < enc->packet_size) {
		ret = opus_packet_pad(out, len, (opus_int32)enc->packet_size);
		if (ret != OPUS_OK)
			return codec_errno(ret);
	}
	return (int)enc->packet_size;
}

int codec_decoder_new(struct codec_decoder **out)
{
	struct codec_decoder *dec = xcalloc(1, sizeof(*dec));
	int err;

	dec->opus = opus_decoder_create(CODEC_SAMPLE_RATE, CODEC_CHANNELS, &err);
	if (dec->opus == NULL) {
		free(dec);
		return codec_errno(err);
	}
	dec->last_frame_samples = CODEC_SAMPLE_RATE / 1000 * CODEC_DEFAULT_FRAME_MS;
	*out = dec;
	return 0;
}

void codec_decoder_free(struct codec_decoder *dec)
{
	if (dec == NULL)
		return;
	opus_decoder_destroy(dec->opus);
	free(dec);
}

/* Clamps a buffer size to what Opus's int arguments can say. */
static int codec_cap(size_t max_samples)
{
	return max_samples > CODEC_MAX_DECODE_SAMPLES ? CODEC_MAX_DECODE_SAMPLES
						      : (int)max_samples;
}

int codec_decode(struct codec_decoder *dec, const uint8_t *packet, size_t len, int16_t *pcm,
		 size_t max_samples)
{
	int n;

	if (len == 0 || len > CODEC_MAX_PACKET)
		return len == 0 ? -EINVAL : -EBADMSG;
	n = opus_decode(dec->opus, packet, (opus_int32)len, pcm, codec_cap(max_samples), 0);
	if (n < 0)
		return codec_errno(n);
	dec->last_frame_samples = (size_t)n;
	return n;
}

int codec_decode_fec(struct codec_decoder *dec, const uint8_t *next_packet, size_t len,
		     int16_t *pcm, size_t max_samples)
{
	int samples;
	int n;

	if (len == 0 || len > CODEC_MAX_PACKET)
		return len == 0 ? -EINVAL : -EBADMSG;
	/* The lost frame is taken to be as long as the one that follows it. */
	samples = opus_packet_get_nb_samples(next_packet, (opus_int32)len, CODEC_SAMPLE_RATE);
	if (samples < 0)
		return codec_errno(samples);
	if ((size_t)samples > max_samples)
		return -ENOBUFS;
	n = opus_decode(dec->opus, next_packet, (opus_int32)len, pcm, samples, 1);
	if (n < 0)
		return codec_errno(n);
	dec->last_frame_samples = (size_t)n;
	return n;
}

int codec_decode_plc(struct codec_decoder *dec, int16_t *pcm, size_t max_samples)
{
	int n;

	if (dec->last_frame_samples > max_samples)
		return -ENOBUFS;
	n = opus_decode(dec->opus, NULL, 0, pcm, (int)dec->last_frame_samples, 0);
	if (n < 0)
		return codec_errno(n);
	return n;
}
