/*
 * wire.c - building and bounds-checking salon's media datagrams (see wire.h).
 *
 * Parsing is strict: every type has an exact length or a range, reserved bytes
 * must be zero, and anything else is -EINVAL. Nothing here allocates or copies a
 * payload: parsed structs point into the caller's buffer.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "util.h"
#include "wire.h"

static void wire_put_u32le(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t wire_get_u32le(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}

static void wire_put_header(uint8_t *out, enum wire_type type)
{
	out[0] = (uint8_t)type;
	out[1] = 0;
	out[2] = 0;
	out[3] = 0;
}

int wire_parse(const uint8_t *buf, size_t len, struct wire_datagram *out)
{
	if (len < WIRE_HEADER_LEN || len > WIRE_MAX_DATAGRAM)
		return -EINVAL;
	if (buf[1] != 0 || buf[2] != 0 || buf[3] != 0)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	switch (buf[0]) {
	case WIRE_HANDSHAKE_INIT:
		if (len != WIRE_HANDSHAKE_INIT_LEN)
			return -EINVAL;
		out->type = WIRE_HANDSHAKE_INIT;
		out->sender_index = wire_get_u32le(buf + 4);
		out->payload = buf + 8;
		out->payload_len = WIRE_NOISE_INIT_LEN;
		return 0;
	case WIRE_HANDSHAKE_RESP:
		if (len != WIRE_HANDSHAKE_RESP_LEN)
			return -EINVAL;
		out->type = WIRE_HANDSHAKE_RESP;
		out->sender_index = wire_get_u32le(buf + 4);
		out->receiver_index = wire_get_u32le(buf + 8);
		out->payload = buf + 12;
		out->payload_len = WIRE_NOISE_RESP_LEN;
		return 0;
	case WIRE_TRANSPORT:
		/* The smallest ciphertext is the tag of an empty message. */
		if (len < WIRE_TRANSPORT_HEADER_LEN + WIRE_TAG_LEN)
			return -EINVAL;
		out->type = WIRE_TRANSPORT;
		out->receiver_index = wire_get_u32le(buf + 4);
		out->counter = get_u64le(buf + 8);
		out->header = buf;
		out->payload = buf + WIRE_TRANSPORT_HEADER_LEN;
		out->payload_len = len - WIRE_TRANSPORT_HEADER_LEN;
		return 0;
	case WIRE_DOWNLINK:
		/* At least the 4-byte source and the tag. */
		if (len < WIRE_DOWNLINK_HEADER_LEN + 4 + WIRE_TAG_LEN)
			return -EINVAL;
		out->type = WIRE_DOWNLINK;
		out->key_index = wire_get_u32le(buf + 4);
		out->counter = get_u64le(buf + 8);
		out->header = buf;
		out->payload = buf + WIRE_DOWNLINK_HEADER_LEN;
		out->payload_len = len - WIRE_DOWNLINK_HEADER_LEN;
		return 0;
	default:
		return -EINVAL;
	}
}

size_t wire_write_handshake_init(uint8_t out[WIRE_HANDSHAKE_INIT_LEN], uint32_t sender_index,
				 const uint8_t noise_msg[WIRE_NOISE_INIT_LEN])
{
	wire_put_header(out, WIRE_HANDSHAKE_INIT);
	wire_put_u32le(out + 4, sender_index);
	memcpy(out + 8, noise_msg, WIRE_NOISE_INIT_LEN);
	return WIRE_HANDSHAKE_INIT_LEN;
}

size_t wire_write_handshake_resp(uint8_t out[WIRE_HANDSHAKE_RESP_LEN], uint32_t sender_index,
				 uint32_t receiver_index,
				 const uint8_t noise_msg[WIRE_NOISE_RESP_LEN])
{
	wire_put_header(out, WIRE_HANDSHAKE_RESP);
	wire_put_u32le(out + 4, sender_index);
	wire_put_u32le(out + 8, receiver_index);
	memcpy(out + 12, noise_msg, WIRE_NOISE_RESP_LEN);
	return WIRE_HANDSHAKE_RESP_LEN;
}

size_t wire_write_transport_header(uint8_t out[WIRE_TRANSPORT_HEADER_LEN],
				   uint32_t receiver_index, uint64_t counter)
{
	wire_put_header(out, WIRE_TRANSPORT);
	wire_put_u32le(out + 4, receiver_index);
	put_u64le(out + 8, counter);
	return WIRE_TRANSPORT_HEADER_LEN;
}

size_t wire_write_downlink_header(uint8_t out[WIRE_DOWNLINK_HEADER_LEN], uint32_t key_index,
				  uint64_t counter)
{
	wire_put_header(out, WIRE_DOWNLINK);
	wire_put_u32le(out + 4, key_index);
	put_u64le(out + 8, counter);
	return WIRE_DOWNLINK_HEADER_LEN;
}

int wire_inner_parse(const uint8_t *buf, size_t len, struct wire_inner *out)
{
	const uint8_t *body;
	size_t body_len;

	if (len < 1 || len > WIRE_MAX_INNER)
		return -EINVAL;
	body = buf + 1;
	body_len = len - 1;
	memset(out, 0, sizeof(*out));
	out->body = body;
	out->body_len = body_len;
	switch (buf[0]) {
	case WIRE_INNER_MEDIA:
		if (body_len < 1 || body_len > WIRE_MAX_FRAME)
			return -EINVAL;
		out->type = WIRE_INNER_MEDIA;
		return 0;
	case WIRE_INNER_KEEPALIVE:
		if (body_len != 0)
			return -EINVAL;
		out->type = WIRE_INNER_KEEPALIVE;
		return 0;
	case WIRE_INNER_DOWNLINK_KEY:
		if (body_len != 4 + WIRE_KEY_LEN)
			return -EINVAL;
		out->type = WIRE_INNER_DOWNLINK_KEY;
		out->key_index = wire_get_u32le(body);
		out->key = body + 4;
		return 0;
	case WIRE_INNER_RESUME_TICKET:
		if (body_len != WIRE_TICKET_LEN)
			return -EINVAL;
		out->type = WIRE_INNER_RESUME_TICKET;
		out->ticket = body;
		return 0;
	case WIRE_INNER_CLOSE:
		if (body_len != 1 || body[0] > WIRE_CLOSE_EXPIRED)
			return -EINVAL;
		out->type = WIRE_INNER_CLOSE;
		out->reason = (enum wire_close_reason)body[0];
		return 0;
	default:
		return -EINVAL;
	}
}

size_t wire_inner_write_media(uint8_t *out, const uint8_t *frame, size_t frame_len)
{
	/* A frame the receiver would reject is not written at all. */
	if (frame_len < 1 || frame_len > WIRE_MAX_FRAME)
		return 0;
	out[0] = WIRE_INNER_MEDIA;
	memmove(out + 1, frame, frame_len);
	return 1 + frame_len;
}

size_t wire_inner_write_keepalive(uint8_t *out)
{
	out[0] = WIRE_INNER_KEEPALIVE;
	return 1;
}

size_t wire_inner_write_downlink_key(uint8_t *out, uint32_t key_index,
				     const uint8_t key[WIRE_KEY_LEN])
{
	out[0] = WIRE_INNER_DOWNLINK_KEY;
	wire_put_u32le(out + 1, key_index);
	memcpy(out + 5, key, WIRE_KEY_LEN);
	return 1 + 4 + WIRE_KEY_LEN;
}

size_t wire_inner_write_resume_ticket(uint8_t *out, const uint8_t ticket[WIRE_TICKET_LEN])
{
	out[0] = WIRE_INNER_RESUME_TICKET;
	memcpy(out + 1, ticket, WIRE_TICKET_LEN);
	return 1 + WIRE_TICKET_LEN;
}

size_t wire_inner_write_close(uint8_t *out, enum wire_close_reason reason)
{
	out[0] = WIRE_INNER_CLOSE;
	out[1] = (uint8_t)reason;
	return 2;
}
