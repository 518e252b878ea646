/*
 * encoding.c - thin, strict wrappers over libsodium's constant-time codecs.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "encoding.h"
#include "util.h"

#define B64_VARIANT sodium_base64_VARIANT_URLSAFE_NO_PADDING

size_t base64_encoded_len(size_t len)
{
	return sodium_base64_ENCODED_LEN(len, B64_VARIANT);
}

void hex_encode(char *out, const uint8_t *bin, size_t len)
{
	sodium_bin2hex(out, HEX_LEN(len), bin, len);
}

void base64_encode(char *out, const uint8_t *bin, size_t len)
{
	sodium_bin2base64(out, base64_encoded_len(len), bin, len, B64_VARIANT);
}

char *base64_encode_new(const uint8_t *bin, size_t len)
{
	char *out = xmalloc(base64_encoded_len(len));

	base64_encode(out, bin, len);
	return out;
}

int hex_decode(uint8_t *out, size_t want, const char *text)
{
	size_t got;
	const char *end;

	if (strlen(text) != want * 2)
		return -EINVAL;
	if (sodium_hex2bin(out, want, text, want * 2, NULL, &got, &end) != 0 || got != want ||
	    *end != '\0')
		return -EINVAL;
	return 0;
}

int base64_decode_any(uint8_t *out, size_t cap, const char *text, size_t *len)
{
	size_t text_len = strlen(text);
	const char *end;

	/*
	 * libsodium 1.0.18 decodes every byte from 0x80 to 0xff as '_' (its URL-safe
	 * decoder compares signed chars), so several texts would give the same bytes:
	 * refuse anything outside the alphabet first. Found by fuzz/fuzz-keys.
	 */
	if (strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") !=
	    text_len)
		return -EINVAL;
	/* Four characters carry three bytes; reject early what cannot fit. */
	if (text_len / 4 * 3 + (text_len % 4 ? text_len % 4 - 1 : 0) > cap)
		return -EMSGSIZE;
	if (sodium_base642bin(out, cap, text, text_len, NULL, len, &end, B64_VARIANT) != 0 ||
	    *end != '\0')
		return -EINVAL;
	return 0;
}

int base64_decode(uint8_t *out, size_t want, const char *text)
{
	size_t got;
	int rc = base64_decode_any(out, want, text, &got);

	if (rc == -EMSGSIZE)
		return -EINVAL;
	if (rc != 0 || got != want)
		return -EINVAL;
	return 0;
}
