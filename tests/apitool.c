/*
 * apitool.c - a small helper for the API shell tests: Ed25519 keys and login
 * signatures, and random base64url blobs.
 *
 *   apitool keygen FILE        write a new secret seed to FILE (0600), print the public key
 *   apitool pubkey FILE        print the public key of the seed in FILE
 *   apitool sign FILE NONCE    print the login signature for NONCE (base64url)
 *   apitool random N           print N random bytes in base64url
 *
 * Keys and signatures are base64url without padding, as in the API. Exit 0 on
 * success, 1 on any error (with a message on stderr), 2 for a usage error.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "encoding.h"

#define APITOOL_DOMAIN "salon-login-v1"

static int apitool_load(const char *path, uint8_t pk[32], uint8_t sk[64])
{
	uint8_t seed[32];
	char text[128];
	FILE *file = fopen(path, "r");

	if (file == NULL || fgets(text, sizeof(text), file) == NULL) {
		fprintf(stderr, "apitool: cannot read %s\n", path);
		if (file != NULL)
			fclose(file);
		return -1;
	}
	fclose(file);
	text[strcspn(text, "\r\n")] = '\0';
	if (base64_decode(seed, sizeof(seed), text) < 0) {
		fprintf(stderr, "apitool: %s: not a key\n", path);
		return -1;
	}
	crypto_sign_seed_keypair(pk, sk, seed);
	return 0;
}

static void apitool_print(const uint8_t *bin, size_t len)
{
	char *text = base64_encode_new(bin, len);

	puts(text);
	free(text);
}

int main(int argc, char **argv)
{
	uint8_t pk[32], sk[64];

	if (sodium_init() < 0)
		return 1;
	if (argc == 3 && strcmp(argv[1], "keygen") == 0) {
		uint8_t seed[32];
		char *text;
		int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (fd < 0) {
			fprintf(stderr, "apitool: %s: %s\n", argv[2], strerror(errno));
			return 1;
		}
		randombytes_buf(seed, sizeof(seed));
		text = base64_encode_new(seed, sizeof(seed));
		if (dprintf(fd, "%s\n", text) < 0 || close(fd) < 0) {
			fprintf(stderr, "apitool: %s: %s\n", argv[2], strerror(errno));
			return 1;
		}
		free(text);
		crypto_sign_seed_keypair(pk, sk, seed);
		apitool_print(pk, sizeof(pk));
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "pubkey") == 0) {
		if (apitool_load(argv[2], pk, sk) < 0)
			return 1;
		apitool_print(pk, sizeof(pk));
		return 0;
	}
	if (argc == 4 && strcmp(argv[1], "sign") == 0) {
		uint8_t nonce[32], message[sizeof(APITOOL_DOMAIN) + 64], sig[64];

		if (apitool_load(argv[2], pk, sk) < 0)
			return 1;
		if (base64_decode(nonce, sizeof(nonce), argv[3]) < 0) {
			fprintf(stderr, "apitool: bad nonce\n");
			return 1;
		}
		memcpy(message, APITOOL_DOMAIN, sizeof(APITOOL_DOMAIN));
		memcpy(message + sizeof(APITOOL_DOMAIN), nonce, 32);
		memcpy(message + sizeof(APITOOL_DOMAIN) + 32, pk, 32);
		crypto_sign_detached(sig, NULL, message, sizeof(message), sk);
		apitool_print(sig, sizeof(sig));
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "random") == 0) {
		long n = strtol(argv[2], NULL, 10);
		uint8_t *buf;

		if (n <= 0 || n > 1 << 20)
			return 2;
		buf = malloc((size_t)n);
		if (buf == NULL)
			return 1;
		randombytes_buf(buf, (size_t)n);
		apitool_print(buf, (size_t)n);
		free(buf);
		return 0;
	}
	fprintf(stderr, "usage: apitool keygen FILE | pubkey FILE | sign FILE NONCE | random N\n");
	return 2;
}
