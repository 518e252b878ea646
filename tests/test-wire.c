/*
 * test-wire.c - salon's datagram and inner-message formats: exact bytes of each
 * writer, round trips, and strict rejection of every malformed length, reserved
 * byte, type and field value.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "wire.h"

static void fill(uint8_t *buf, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(seed + i * 7);
}

static void test_sizes(void **state)
{
	(void)state;
	assert_int_equal(WIRE_HANDSHAKE_INIT_LEN, 88);
	assert_int_equal(WIRE_HANDSHAKE_RESP_LEN, 60);
	assert_int_equal(WIRE_MAX_INNER, 1248);
	assert_int_equal(WIRE_MAX_FRAME, 1244);
}

static void test_handshake_init(void **state)
{
	uint8_t noise[WIRE_NOISE_INIT_LEN], buf[WIRE_MAX_DATAGRAM + 1];
	struct wire_datagram d;

	(void)state;
	fill(noise, sizeof(noise), 3);
	assert_int_equal(wire_write_handshake_init(buf, 0x04030201, noise),
			 WIRE_HANDSHAKE_INIT_LEN);
	/* Little-endian index after type 1 and three zero bytes. */
	assert_memory_equal(buf, "\x01\x00\x00\x00\x01\x02\x03\x04", 8);
	assert_memory_equal(buf + 8, noise, sizeof(noise));
	assert_int_equal(wire_parse(buf, WIRE_HANDSHAKE_INIT_LEN, &d), 0);
	assert_int_equal(d.type, WIRE_HANDSHAKE_INIT);
	assert_int_equal(d.sender_index, 0x04030201);
	assert_ptr_equal(d.payload, buf + 8);
	assert_int_equal(d.payload_len, WIRE_NOISE_INIT_LEN);
	/* Every other length is wrong for a handshake. */
	for (size_t len = 0; len <= WIRE_MAX_DATAGRAM + 1; len++)
		if (len != WIRE_HANDSHAKE_INIT_LEN)
			assert_int_equal(wire_parse(buf, len, &d), -EINVAL);
}

static void test_handshake_resp(void **state)
{
	uint8_t noise[WIRE_NOISE_RESP_LEN], buf[WIRE_MAX_DATAGRAM + 1];
	struct wire_datagram d;

	(void)state;
	fill(noise, sizeof(noise), 9);
	assert_int_equal(wire_write_handshake_resp(buf, 0xdeadbeef, 0x01020304, noise),
			 WIRE_HANDSHAKE_RESP_LEN);
	assert_memory_equal(buf, "\x02\x00\x00\x00\xef\xbe\xad\xde\x04\x03\x02\x01", 12);
	assert_int_equal(wire_parse(buf, WIRE_HANDSHAKE_RESP_LEN, &d), 0);
	assert_int_equal(d.type, WIRE_HANDSHAKE_RESP);
	assert_int_equal(d.sender_index, 0xdeadbeef);
	assert_int_equal(d.receiver_index, 0x01020304);
	assert_ptr_equal(d.payload, buf + 12);
	assert_int_equal(d.payload_len, WIRE_NOISE_RESP_LEN);
	assert_memory_equal(d.payload, noise, sizeof(noise));
	for (size_t len = 0; len <= WIRE_MAX_DATAGRAM + 1; len++)
		if (len != WIRE_HANDSHAKE_RESP_LEN)
			assert_int_equal(wire_parse(buf, len, &d), -EINVAL);
}

static void test_transport(void **state)
{
	uint8_t buf[WIRE_MAX_DATAGRAM + 1];
	struct wire_datagram d;
	const size_t min = WIRE_TRANSPORT_HEADER_LEN + WIRE_TAG_LEN;

	(void)state;
	fill(buf, sizeof(buf), 1);
	assert_int_equal(wire_write_transport_header(buf, 0x11223344,
						     UINT64_C(0x0102030405060708)),
			 WIRE_TRANSPORT_HEADER_LEN);
	assert_memory_equal(buf, "\x03\x00\x00\x00\x44\x33\x22\x11"
			    "\x08\x07\x06\x05\x04\x03\x02\x01", 16);
	for (size_t len = 0; len <= WIRE_MAX_DATAGRAM + 1; len++) {
		if (len < min || len > WIRE_MAX_DATAGRAM) {
			assert_int_equal(wire_parse(buf, len, &d), -EINVAL);
			continue;
		}
		assert_int_equal(wire_parse(buf, len, &d), 0);
		assert_int_equal(d.type, WIRE_TRANSPORT);
		assert_int_equal(d.receiver_index, 0x11223344);
		assert_true(d.counter == UINT64_C(0x0102030405060708));
		assert_ptr_equal(d.header, buf);
		assert_ptr_equal(d.payload, buf + 16);
		assert_int_equal(d.payload_len, len - 16);
	}
}

static void test_downlink(void **state)
{
	uint8_t buf[WIRE_MAX_DATAGRAM + 1];
	struct wire_datagram d;
	const size_t min = WIRE_DOWNLINK_HEADER_LEN + 4 + WIRE_TAG_LEN;

	(void)state;
	fill(buf, sizeof(buf), 2);
	assert_int_equal(wire_write_downlink_header(buf, 0xa1b2c3d4, UINT64_MAX - 1),
			 WIRE_DOWNLINK_HEADER_LEN);
	assert_memory_equal(buf, "\x04\x00\x00\x00\xd4\xc3\xb2\xa1"
			    "\xfe\xff\xff\xff\xff\xff\xff\xff", 16);
	for (size_t len = 0; len <= WIRE_MAX_DATAGRAM + 1; len++) {
		if (len < min || len > WIRE_MAX_DATAGRAM) {
			assert_int_equal(wire_parse(buf, len, &d), -EINVAL);
			continue;
		}
		assert_int_equal(wire_parse(buf, len, &d), 0);
		assert_int_equal(d.type, WIRE_DOWNLINK);
		assert_int_equal(d.key_index, 0xa1b2c3d4);
		assert_true(d.counter == UINT64_MAX - 1);
		assert_ptr_equal(d.header, buf);
		assert_ptr_equal(d.payload, buf + 16);
		assert_int_equal(d.payload_len, len - 16);
	}
}

static void test_bad_headers(void **state)
{
	uint8_t noise[WIRE_NOISE_INIT_LEN] = {0};
	uint8_t buf[WIRE_MAX_DATAGRAM];
	struct wire_datagram d;
	size_t lens[5] = {0, WIRE_HANDSHAKE_INIT_LEN, WIRE_HANDSHAKE_RESP_LEN, 100, 100};

	(void)state;
	/* Each valid datagram becomes invalid when any reserved byte is set. */
	for (int type = WIRE_HANDSHAKE_INIT; type <= WIRE_DOWNLINK; type++) {
		memset(buf, 0, sizeof(buf));
		switch (type) {
		case WIRE_HANDSHAKE_INIT:
			wire_write_handshake_init(buf, 1, noise);
			break;
		case WIRE_HANDSHAKE_RESP:
			wire_write_handshake_resp(buf, 1, 2, noise);
			break;
		case WIRE_TRANSPORT:
			wire_write_transport_header(buf, 1, 2);
			break;
		default:
			wire_write_downlink_header(buf, 1, 2);
			break;
		}
		assert_int_equal(wire_parse(buf, lens[type], &d), 0);
		for (int i = 1; i < WIRE_HEADER_LEN; i++) {
			for (int bit = 0; bit < 8; bit++) {
				buf[i] = (uint8_t)(1u << bit);
				assert_int_equal(wire_parse(buf, lens[type], &d), -EINVAL);
				buf[i] = 0;
			}
		}
		assert_int_equal(wire_parse(buf, lens[type], &d), 0);
	}
	/* Lengths far over the maximum are refused before anything is read. */
	assert_int_equal(wire_parse(buf, WIRE_MAX_DATAGRAM + 1, &d), -EINVAL);
	assert_int_equal(wire_parse(buf, 65536, &d), -EINVAL);
	assert_int_equal(wire_parse(buf, SIZE_MAX, &d), -EINVAL);
	/* Unknown types, at every length that some known type would accept. */
	for (int type = 0; type < 256; type++) {
		if (type >= WIRE_HANDSHAKE_INIT && type <= WIRE_DOWNLINK)
			continue;
		memset(buf, 0, sizeof(buf));
		buf[0] = (uint8_t)type;
		for (size_t len = 0; len <= sizeof(buf); len += 1)
			assert_int_equal(wire_parse(buf, len, &d), -EINVAL);
	}
}

static void test_inner_media(void **state)
{
	uint8_t frame[WIRE_MAX_FRAME + 1], buf[WIRE_MAX_INNER + 1];
	struct wire_inner in;
	size_t len;

	(void)state;
	fill(frame, sizeof(frame), 5);
	for (size_t n = 1; n <= WIRE_MAX_FRAME; n++) {
		len = wire_inner_write_media(buf, frame, n);
		assert_int_equal(len, 1 + n);
		assert_int_equal(buf[0], WIRE_INNER_MEDIA);
		assert_int_equal(wire_inner_parse(buf, len, &in), 0);
		assert_int_equal(in.type, WIRE_INNER_MEDIA);
		assert_ptr_equal(in.body, buf + 1);
		assert_int_equal(in.body_len, n);
		assert_memory_equal(in.body, frame, n);
	}
	/* Empty and oversized frames are neither written nor accepted. */
	assert_int_equal(wire_inner_write_media(buf, frame, 0), 0);
	assert_int_equal(wire_inner_write_media(buf, frame, WIRE_MAX_FRAME + 1), 0);
	buf[0] = WIRE_INNER_MEDIA;
	assert_int_equal(wire_inner_parse(buf, 1, &in), -EINVAL);
	memcpy(buf + 1, frame, WIRE_MAX_FRAME + 1);
	assert_int_equal(wire_inner_parse(buf, 1 + WIRE_MAX_FRAME + 1, &in), -EINVAL);
	assert_int_equal(wire_inner_parse(buf, 0, &in), -EINVAL);
	/* Whatever the type, an inner message longer than WIRE_MAX_INNER is refused. */
	assert_int_equal(wire_inner_parse(buf, WIRE_MAX_INNER + 1, &in), -EINVAL);
	assert_int_equal(wire_inner_parse(buf, SIZE_MAX, &in), -EINVAL);
}

static void test_inner_keepalive(void **state)
{
	uint8_t buf[8] = {0};
	struct wire_inner in;

	(void)state;
	assert_int_equal(wire_inner_write_keepalive(buf), 1);
	assert_int_equal(wire_inner_parse(buf, 1, &in), 0);
	assert_int_equal(in.type, WIRE_INNER_KEEPALIVE);
	assert_int_equal(in.body_len, 0);
	for (size_t len = 2; len < sizeof(buf); len++)
		assert_int_equal(wire_inner_parse(buf, len, &in), -EINVAL);
}

static void test_inner_downlink_key(void **state)
{
	uint8_t key[WIRE_KEY_LEN], buf[64] = {0};
	struct wire_inner in;
	size_t len;

	(void)state;
	fill(key, sizeof(key), 11);
	len = wire_inner_write_downlink_key(buf, 0x0a0b0c0d, key);
	assert_int_equal(len, 1 + 4 + WIRE_KEY_LEN);
	assert_memory_equal(buf, "\x03\x0d\x0c\x0b\x0a", 5);
	assert_int_equal(wire_inner_parse(buf, len, &in), 0);
	assert_int_equal(in.type, WIRE_INNER_DOWNLINK_KEY);
	assert_int_equal(in.key_index, 0x0a0b0c0d);
	assert_ptr_equal(in.key, buf + 5);
	assert_memory_equal(in.key, key, WIRE_KEY_LEN);
	for (size_t n = 0; n < sizeof(buf); n++)
		if (n != len)
			assert_int_equal(wire_inner_parse(buf, n, &in), -EINVAL);
}

static void test_inner_resume_ticket(void **state)
{
	uint8_t ticket[WIRE_TICKET_LEN], buf[64] = {0};
	struct wire_inner in;
	size_t len;

	(void)state;
	fill(ticket, sizeof(ticket), 13);
	len = wire_inner_write_resume_ticket(buf, ticket);
	assert_int_equal(len, 1 + WIRE_TICKET_LEN);
	assert_int_equal(buf[0], WIRE_INNER_RESUME_TICKET);
	assert_int_equal(wire_inner_parse(buf, len, &in), 0);
	assert_int_equal(in.type, WIRE_INNER_RESUME_TICKET);
	assert_ptr_equal(in.ticket, buf + 1);
	assert_memory_equal(in.ticket, ticket, WIRE_TICKET_LEN);
	for (size_t n = 0; n < sizeof(buf); n++)
		if (n != len)
			assert_int_equal(wire_inner_parse(buf, n, &in), -EINVAL);
}

static void test_inner_close(void **state)
{
	uint8_t buf[8] = {0};
	struct wire_inner in;

	(void)state;
	for (int reason = WIRE_CLOSE_BYE; reason <= WIRE_CLOSE_EXPIRED; reason++) {
		assert_int_equal(wire_inner_write_close(buf, (enum wire_close_reason)reason), 2);
		assert_int_equal(buf[0], WIRE_INNER_CLOSE);
		assert_int_equal(wire_inner_parse(buf, 2, &in), 0);
		assert_int_equal(in.type, WIRE_INNER_CLOSE);
		assert_int_equal(in.reason, reason);
		for (size_t n = 0; n < sizeof(buf); n++)
			if (n != 2)
				assert_int_equal(wire_inner_parse(buf, n, &in), -EINVAL);
	}
	for (int reason = WIRE_CLOSE_EXPIRED + 1; reason < 256; reason++) {
		buf[1] = (uint8_t)reason;
		assert_int_equal(wire_inner_parse(buf, 2, &in), -EINVAL);
	}
}

static void test_inner_unknown(void **state)
{
	uint8_t buf[64] = {0};
	struct wire_inner in;

	(void)state;
	for (int type = 0; type < 256; type++) {
		if (type >= WIRE_INNER_MEDIA && type <= WIRE_INNER_CLOSE)
			continue;
		buf[0] = (uint8_t)type;
		for (size_t n = 0; n < sizeof(buf); n++)
			assert_int_equal(wire_inner_parse(buf, n, &in), -EINVAL);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_handshake_init),
		cmocka_unit_test(test_handshake_resp),
		cmocka_unit_test(test_transport),
		cmocka_unit_test(test_downlink),
		cmocka_unit_test(test_bad_headers),
		cmocka_unit_test(test_inner_media),
		cmocka_unit_test(test_inner_keepalive),
		cmocka_unit_test(test_inner_downlink_key),
		cmocka_unit_test(test_inner_resume_ticket),
		cmocka_unit_test(test_inner_close),
		cmocka_unit_test(test_inner_unknown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
