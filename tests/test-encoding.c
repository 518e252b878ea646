/*
 * test-encoding.c - hex and base64url: round trips and strict rejection.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "encoding.h"

static void test_hex_round_trip(void **state)
{
	const uint8_t bin[] = {0x00, 0x01, 0xab, 0xff};
	char text[HEX_LEN(sizeof(bin))];
	uint8_t back[sizeof(bin)];

	(void)state;
	hex_encode(text, bin, sizeof(bin));
	assert_string_equal(text, "0001abff");
	assert_int_equal(hex_decode(back, sizeof(back), text), 0);
	assert_memory_equal(back, bin, sizeof(bin));
	assert_int_equal(hex_decode(back, sizeof(back), "0001abf"), -EINVAL);
	assert_int_equal(hex_decode(back, sizeof(back), "0001abfg"), -EINVAL);
	assert_int_equal(hex_decode(back, sizeof(back), "0001abff00"), -EINVAL);
}

static void test_base64_round_trip(void **state)
{
	const uint8_t bin[] = {0xfb, 0xff, 0x00, 0x10, 0x20};
	char text[16];
	uint8_t back[sizeof(bin)];
	uint8_t small[2];
	size_t len = 0;

	(void)state;
	assert_true(base64_encoded_len(sizeof(bin)) <= sizeof(text));
	base64_encode(text, bin, sizeof(bin));
	/* URL-safe alphabet, no padding. */
	assert_string_equal(text, "-_8AECA");
	assert_int_equal(base64_decode(back, sizeof(back), text), 0);
	assert_memory_equal(back, bin, sizeof(bin));
	assert_int_equal(base64_decode(back, sizeof(back), "-_8AECA="), -EINVAL);
	assert_int_equal(base64_decode(back, sizeof(back), "+/8AECA"), -EINVAL);
	assert_int_equal(base64_decode(back, sizeof(back), "-_8AEC"), -EINVAL);
	assert_int_equal(base64_decode_any(small, sizeof(small), text, &len), -EMSGSIZE);
	assert_int_equal(base64_decode_any(back, sizeof(back), "", &len), 0);
	assert_int_equal(len, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hex_round_trip),
		cmocka_unit_test(test_base64_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
