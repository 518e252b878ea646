/*
 * codec.h - Opus for 48 kHz mono speech, at constant bitrate.
 *
 * Every packet that one encoder produces has exactly the same size
 * (codec_encoder_packet_size()), so that packet sizes on the wire do not reveal what
 * is said (RFC 6562): the encoder runs in CBR mode, and any packet that would come out
 * shorter is padded with Opus's own padding. In-band FEC is on, so a lost packet can
 * be partly rebuilt from the one after it.
 *
 * Error convention as in util.h: 0 (or a count) on success, a negative errno value on
 * failure; allocation aborts on out-of-memory. An encoder or decoder is used by one
 * thread at a time (the media thread); none of this is for the real-time callback.
 */
#ifndef SALON_CODEC_H
#define SALON_CODEC_H

#include <stddef.h>
#include <stdint.h>

#define CODEC_SAMPLE_RATE 48000
#define CODEC_CHANNELS 1
#define CODEC_DEFAULT_FRAME_MS 20
#define CODEC_DEFAULT_BITRATE 24000
#define CODEC_DEFAULT_COMPLEXITY 9
#define CODEC_PACKET_LOSS_PERC 10
/* Samples in the longest frame the encoder makes (20 ms at 48 kHz). */
#define CODEC_MAX_FRAME_SAMPLES 960
/* Samples in the longest frame an Opus packet can carry (120 ms at 48 kHz). */
#define CODEC_MAX_DECODE_SAMPLES 5760
/* The largest Opus packet (RFC 6716, 3.2.1). */
#define CODEC_MAX_PACKET 1275

struct codec_encoder_config {
	unsigned frame_ms; /* 10 or 20 */
	unsigned bitrate; /* bits per second, 6000 to 510000 */
	unsigned complexity; /* 0 (cheapest) to 10 (best) */
};

struct codec_encoder;
struct codec_decoder;

/* Fills config with the defaults above. */
void codec_encoder_config_default(struct codec_encoder_config *config);

/*
 * Creates an encoder (OPUS_APPLICATION_VOIP, CBR, in-band FEC, 10 % expected loss).
 * config may be NULL for the defaults. Returns 0 and sets *out (owned by the caller,
 * freed with codec_encoder_free()), or -EINVAL for a frame length other than 10 or 20
 * ms, a bitrate out of range or a complexity above 10, or -EIO if Opus refuses.
 */
int codec_encoder_new(const struct codec_encoder_config *config, struct codec_encoder **out);
void codec_encoder_free(struct codec_encoder *enc);

/* Samples per frame (480 or 960) that codec_encode() takes. */
size_t codec_encoder_frame_samples(const struct codec_encoder *enc);

/* The size in bytes of every packet this encoder produces (bitrate * frame / 8). */
size_t codec_encoder_packet_size(const struct codec_encoder *enc);

/* Samples of delay the encoder adds (Opus's look-ahead). */
int codec_encoder_lookahead(const struct codec_encoder *enc);

/*
 * Encodes one frame of codec_encoder_frame_samples() mono samples into out (capacity
 * cap). Returns the packet length, always codec_encoder_packet_size(), or -ENOBUFS if
 * cap is smaller than that, or -EIO if Opus fails.
 */
int codec_encode(struct codec_encoder *enc, const int16_t *pcm, uint8_t *out, size_t cap);

/*
 * Creates a decoder for 48 kHz mono. Returns 0 and sets *out (owned by the caller,
 * freed with codec_decoder_free()), or -EIO if Opus refuses.
 */
int codec_decoder_new(struct codec_decoder **out);
void codec_decoder_free(struct codec_decoder *dec);

/*
 * Decodes one packet into pcm (room for max_samples samples; CODEC_MAX_DECODE_SAMPLES
 * always suffices). Returns the number of samples written, -EBADMSG for a corrupt
 * packet, -ENOBUFS if max_samples is too small for it, or -EINVAL for len 0.
 */
int codec_decode(struct codec_decoder *dec, const uint8_t *packet, size_t len, int16_t *pcm,
		 size_t max_samples);

/*
 * Rebuilds the frame just before next_packet from the FEC data that next_packet
 * carries (call it when the frame before next_packet was lost, then decode next_packet
 * itself normally). When next_packet has no FEC data, Opus conceals instead. Writes
 * as many samples as next_packet's frame holds and returns that count, or an error as
 * codec_decode().
 */
int codec_decode_fec(struct codec_decoder *dec, const uint8_t *next_packet, size_t len,
		     int16_t *pcm, size_t max_samples);

/*
 * Conceals one lost frame (packet loss concealment) of the same length as the last
 * decoded frame (20 ms before any), writing it to pcm. Returns the number of samples
 * written or -ENOBUFS if max_samples is too small.
 */
int codec_decode_plc(struct codec_decoder *dec, int16_t *pcm, size_t max_samples);

#endif
