/*
 * encoding.h - hex and base64url (no padding) as used in the API and config files.
 * Errors as in util.h.
 */
#ifndef SALON_ENCODING_H
#define SALON_ENCODING_H

#include <stddef.h>
#include <stdint.h>

/* Length of the NUL-terminated text for len bytes. */
#define HEX_LEN(len) ((len) * 2 + 1)
size_t base64_encoded_len(size_t len); /* including the NUL */

/* Encode bin into out (of at least HEX_LEN / base64_encoded_len bytes). */
void hex_encode(char *out, const uint8_t *bin, size_t len);
void base64_encode(char *out, const uint8_t *bin, size_t len);
/* Newly allocated base64url text. */
char *base64_encode_new(const uint8_t *bin, size_t len);

/*
 * Decode exactly: the text must decode to exactly want bytes, with no padding,
 * whitespace or trailing garbage. Returns 0 or -EINVAL.
 */
int hex_decode(uint8_t *out, size_t want, const char *text);
int base64_decode(uint8_t *out, size_t want, const char *text);
/*
 * Decode text of any length into out (capacity cap); *len gets the decoded length.
 * Returns 0, -EINVAL for bad text, -EMSGSIZE when it does not fit.
 */
int base64_decode_any(uint8_t *out, size_t cap, const char *text, size_t *len);

#endif
