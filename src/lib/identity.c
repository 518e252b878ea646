/*
 * identity.c - Ed25519 identity keys: files, signatures, X25519, safety numbers.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "encoding.h"
#include "file.h"
#include "i18n.h"
#include "identity.h"
#include "util.h"

/* base64url of 32 bytes without padding. */
#define IDENTITY_SEED_TEXT_LEN 43
#define IDENTITY_HEADER IDENTITY_FILE_MAGIC "\n"
/* Anything longer than the format allows is refused without reading it all. */
#define IDENTITY_FILE_MAX 128

static const char identity_safety_label[] = "salon safety number v1";

static void identity_reason(char *reason, size_t reason_len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void identity_reason(char *reason, size_t reason_len, const char *fmt, ...)
{
	va_list ap;

	if (reason == NULL || reason_len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(reason, reason_len, fmt, ap);
	va_end(ap);
}

int identity_generate(struct identity *id)
{
	if (sodium_init() < 0)
		return -EIO;
	crypto_sign_keypair(id->public_key, id->secret_key);
	return 0;
}

int identity_from_seed(struct identity *id, const uint8_t seed[IDENTITY_SEED_LEN])
{
	if (sodium_init() < 0)
		return -EIO;
	crypto_sign_seed_keypair(id->public_key, id->secret_key, seed);
	return 0;
}

void identity_wipe(struct identity *id)
{
	sodium_memzero(id, sizeof(*id));
}

int identity_save(const struct identity *id, const char *path, char *reason,
		  size_t reason_len)
{
	char text[sizeof(IDENTITY_HEADER) + IDENTITY_SEED_TEXT_LEN + 2];
	uint8_t seed[IDENTITY_SEED_LEN];
	const char *step = "";
	struct stat st;
	size_t len;
	int r;

	if (*path == '\0') {
		identity_reason(reason, reason_len, _("empty identity file name"));
		return -EINVAL;
	}
	if (lstat(path, &st) == 0) {
		identity_reason(reason, reason_len,
				_("%s already exists; refusing to replace an identity key"), path);
		return -EEXIST;
	}

	crypto_sign_ed25519_sk_to_seed(seed, id->secret_key);
	memcpy(text, IDENTITY_HEADER, sizeof(IDENTITY_HEADER) - 1);
	len = sizeof(IDENTITY_HEADER) - 1;
	base64_encode(text + len, seed, sizeof(seed));
	len += IDENTITY_SEED_TEXT_LEN;
	text[len++] = '\n';
	sodium_memzero(seed, sizeof(seed));

	/* Never replaces a key that appeared meanwhile: losing one loses an identity. */
	r = file_replace(path, text, len, 0600, FILE_NO_REPLACE, &step);
	sodium_memzero(text, sizeof(text));
	if (r == -EEXIST)
		identity_reason(reason, reason_len,
				_("%s already exists; refusing to replace an identity key"), path);
	else if (r < 0 && strcmp(step, "mkdir") == 0)
		identity_reason(reason, reason_len, _("cannot create the directory of %s: %s"),
				path, strerror(-r));
	else if (r < 0)
		identity_reason(reason, reason_len, _("cannot write %s: %s"), path,
				strerror(-r));
	return r;
}

/* Parses the file's bytes (not NUL-terminated) into id. */
static int identity_parse(struct identity *id, const char *buf, size_t len)
{
	size_t header_len = sizeof(IDENTITY_HEADER) - 1;
	char seed_text[IDENTITY_SEED_TEXT_LEN + 1];
	uint8_t seed[IDENTITY_SEED_LEN];
	int r;

	if (len < header_len || memcmp(buf, IDENTITY_HEADER, header_len) != 0)
		return -EINVAL;
	buf += header_len;
	len -= header_len;
	if (len == IDENTITY_SEED_TEXT_LEN + 1 && buf[IDENTITY_SEED_TEXT_LEN] == '\n')
		len--;
	if (len != IDENTITY_SEED_TEXT_LEN)
		return -EINVAL;
	memcpy(seed_text, buf, IDENTITY_SEED_TEXT_LEN);
	seed_text[IDENTITY_SEED_TEXT_LEN] = '\0';
	/* A NUL byte inside the text makes it too short for base64_decode. */
	r = base64_decode(seed, sizeof(seed), seed_text);
	if (r == 0)
		r = identity_from_seed(id, seed);
	sodium_memzero(seed_text, sizeof(seed_text));
	sodium_memzero(seed, sizeof(seed));
	return r;
}

int identity_load(struct identity *id, const char *path, char *reason, size_t reason_len)
{
	char buf[IDENTITY_FILE_MAX];
	size_t len = 0;
	struct stat st;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		identity_reason(reason, reason_len, _("cannot open %s: %s"), path,
				strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		identity_reason(reason, reason_len, _("cannot read %s: %s"), path,
				strerror(-r));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		identity_reason(reason, reason_len, _("%s is not a regular file"), path);
		goto out;
	}
	if (st.st_uid != geteuid()) {
		r = -EPERM;
		identity_reason(reason, reason_len,
				_("%s belongs to another user (uid %ld); refusing to use it as "
				  "your identity key"), path, (long)st.st_uid);
		goto out;
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		r = -EPERM;
		identity_reason(reason, reason_len,
				_("%s can be accessed by group or others (mode %04o), so the "
				  "key may have leaked; if you are sure it did not, run: "
				  "chmod 600 %s"), path, (unsigned)(st.st_mode & 07777), path);
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			identity_reason(reason, reason_len, _("cannot read %s: %s"), path,
					strerror(-r));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == sizeof(buf))
			break;
	}
	r = len < sizeof(buf) ? identity_parse(id, buf, len) : -EINVAL;
	if (r < 0)
		identity_reason(reason, reason_len,
				_("%s is not a valid salon identity file (truncated or "
				  "corrupted)"), path);
out:
	sodium_memzero(buf, sizeof(buf));
	close(fd);
	return r;
}

int identity_x25519_public(uint8_t out[IDENTITY_X25519_LEN],
			   const uint8_t ed_public[IDENTITY_PUBLIC_LEN])
{
	if (crypto_sign_ed25519_pk_to_curve25519(out, ed_public) != 0)
		return -EINVAL;
	return 0;
}

int identity_x25519_secret(uint8_t out[IDENTITY_X25519_LEN], const struct identity *id)
{
	crypto_sign_ed25519_sk_to_curve25519(out, id->secret_key);
	return 0;
}

void identity_sign(uint8_t sig[IDENTITY_SIGNATURE_LEN], const struct identity *id,
		   const uint8_t *msg, size_t len)
{
	crypto_sign_detached(sig, NULL, msg, len, id->secret_key);
}

int identity_verify(const uint8_t public_key[IDENTITY_PUBLIC_LEN],
		    const uint8_t sig[IDENTITY_SIGNATURE_LEN], const uint8_t *msg, size_t len)
{
	if (crypto_sign_verify_detached(sig, msg, len, public_key) != 0)
		return -EBADMSG;
	return 0;
}

/* The 30 digits of a key's safety number, without spaces, NUL-terminated. */
static void identity_safety_digits(char digits[IDENTITY_SAFETY_DIGITS + 1],
				   const uint8_t public_key[IDENTITY_PUBLIC_LEN])
{
	uint8_t buf[crypto_hash_sha512_BYTES + IDENTITY_PUBLIC_LEN];
	uint8_t digest[crypto_hash_sha512_BYTES];
	size_t n = sizeof(identity_safety_label);

	/* The label with its NUL separates it from the key. */
	memcpy(buf, identity_safety_label, n);
	memcpy(buf + n, public_key, IDENTITY_PUBLIC_LEN);
	crypto_hash_sha512(digest, buf, n + IDENTITY_PUBLIC_LEN);
	for (int i = 0; i < IDENTITY_SAFETY_ITERATIONS; i++) {
		memcpy(buf, digest, sizeof(digest));
		memcpy(buf + sizeof(digest), public_key, IDENTITY_PUBLIC_LEN);
		crypto_hash_sha512(digest, buf, sizeof(buf));
	}
	for (int group = 0; group < IDENTITY_SAFETY_DIGITS / 5; group++) {
		uint64_t v = 0;

		for (int i = 0; i < 5; i++)
			v = (v << 8) | digest[group * 5 + i];
		snprintf(digits + group * 5, 6, "%05u", (unsigned)(v % 100000));
	}
}

/* Copies ndigits digits into out in groups of five separated by spaces. */
static void identity_format_groups(char *out, const char *digits, size_t ndigits)
{
	size_t o = 0;

	for (size_t i = 0; i < ndigits; i++) {
		if (i > 0 && i % 5 == 0)
			out[o++] = ' ';
		out[o++] = digits[i];
	}
	out[o] = '\0';
}

void identity_safety_number(char out[IDENTITY_SAFETY_TEXT_LEN],
			    const uint8_t public_key[IDENTITY_PUBLIC_LEN])
{
	char digits[IDENTITY_SAFETY_DIGITS + 1];

	identity_safety_digits(digits, public_key);
	identity_format_groups(out, digits, IDENTITY_SAFETY_DIGITS);
}

void identity_pair_safety_number(char out[IDENTITY_PAIR_SAFETY_TEXT_LEN],
				 const uint8_t public_a[IDENTITY_PUBLIC_LEN],
				 const uint8_t public_b[IDENTITY_PUBLIC_LEN])
{
	char a[IDENTITY_SAFETY_DIGITS + 1], b[IDENTITY_SAFETY_DIGITS + 1];
	char both[2 * IDENTITY_SAFETY_DIGITS + 1];
	bool a_first;

	identity_safety_digits(a, public_a);
	identity_safety_digits(b, public_b);
	a_first = strcmp(a, b) <= 0;
	memcpy(both, a_first ? a : b, IDENTITY_SAFETY_DIGITS);
	memcpy(both + IDENTITY_SAFETY_DIGITS, a_first ? b : a, IDENTITY_SAFETY_DIGITS);
	identity_format_groups(out, both, 2 * IDENTITY_SAFETY_DIGITS);
}
