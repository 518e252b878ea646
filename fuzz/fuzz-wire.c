/*
 * fuzz-wire.c - wire_parse() and wire_inner_parse() on arbitrary bytes.
 *
 * The whole input is parsed as a datagram and, independently, as an inner message.
 * Whatever parses must point inside the input, have the length its type promises,
 * and be written back byte for byte by the matching writer (the parsers accept
 * exactly what the writers produce, nothing more).
 */
#include "config.h"

#include <string.h>

#include "common.h"
#include "wire.h"

static void fuzz_wire_datagram(const uint8_t *data, size_t size)
{
	struct wire_datagram d;
	uint8_t out[WIRE_MAX_DATAGRAM];

	if (wire_parse(data, size, &d) < 0)
		return;
	FUZZ_ASSERT(size >= WIRE_HEADER_LEN && size <= WIRE_MAX_DATAGRAM);
	FUZZ_ASSERT(d.payload >= data && d.payload + d.payload_len == data + size);
	switch (d.type) {
	case WIRE_HANDSHAKE_INIT:
		FUZZ_ASSERT(d.payload_len == WIRE_NOISE_INIT_LEN);
		FUZZ_ASSERT(wire_write_handshake_init(out, d.sender_index, d.payload) == size);
		break;
	case WIRE_HANDSHAKE_RESP:
		FUZZ_ASSERT(d.payload_len == WIRE_NOISE_RESP_LEN);
		FUZZ_ASSERT(wire_write_handshake_resp(out, d.sender_index, d.receiver_index,
						      d.payload) == size);
		break;
	case WIRE_TRANSPORT:
		FUZZ_ASSERT(d.header == data && d.payload_len >= WIRE_TAG_LEN);
		FUZZ_ASSERT(wire_write_transport_header(out, d.receiver_index, d.counter) ==
			    WIRE_TRANSPORT_HEADER_LEN);
		memcpy(out + WIRE_TRANSPORT_HEADER_LEN, d.payload, d.payload_len);
		break;
	case WIRE_DOWNLINK:
		FUZZ_ASSERT(d.header == data && d.payload_len >= 4 + WIRE_TAG_LEN);
		FUZZ_ASSERT(wire_write_downlink_header(out, d.key_index, d.counter) ==
			    WIRE_DOWNLINK_HEADER_LEN);
		memcpy(out + WIRE_DOWNLINK_HEADER_LEN, d.payload, d.payload_len);
		break;
	default:
		FUZZ_ASSERT(!"wire_parse returned an unknown type");
	}
	FUZZ_ASSERT(memcmp(out, data, size) == 0);
}

static void fuzz_wire_inner(const uint8_t *data, size_t size)
{
	struct wire_inner in;
	uint8_t out[WIRE_MAX_INNER];
	size_t len = 0;

	if (wire_inner_parse(data, size, &in) < 0)
		return;
	FUZZ_ASSERT(size >= 1 && size <= WIRE_MAX_INNER);
	FUZZ_ASSERT(in.body == data + 1 && in.body_len == size - 1);
	switch (in.type) {
	case WIRE_INNER_MEDIA:
		FUZZ_ASSERT(in.body_len >= 1 && in.body_len <= WIRE_MAX_FRAME);
		len = wire_inner_write_media(out, in.body, in.body_len);
		break;
	case WIRE_INNER_KEEPALIVE:
		len = wire_inner_write_keepalive(out);
		break;
	case WIRE_INNER_DOWNLINK_KEY:
		FUZZ_ASSERT(in.key == data + 5);
		len = wire_inner_write_downlink_key(out, in.key_index, in.key);
		break;
	case WIRE_INNER_RESUME_TICKET:
		FUZZ_ASSERT(in.ticket == data + 1);
		len = wire_inner_write_resume_ticket(out, in.ticket);
		break;
	case WIRE_INNER_CLOSE:
		FUZZ_ASSERT(in.reason <= WIRE_CLOSE_EXPIRED);
		len = wire_inner_write_close(out, in.reason);
		break;
	default:
		FUZZ_ASSERT(!"wire_inner_parse returned an unknown type");
	}
	FUZZ_ASSERT(len == size && memcmp(out, data, size) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_wire_datagram(data, size);
	fuzz_wire_inner(data, size);
	return 0;
}
