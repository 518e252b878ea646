/*
 * test-identity.c - identity keys: file round trip and permissions, refusal of
 * loose permissions and damaged files, signatures, X25519 conversion usable with
 * crypto_box, and safety numbers (format, determinism, a known answer computed
 * independently from the documented algorithm, pairs).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "identity.h"
#include "util.h"

struct fixture {
	char dir[64];
	char path[128];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test-identity-XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s/data/salon/identity", f->dir);
	*state = f;
	return 0;
}

/* Removes the fixture's tree (at most a few levels, files and directories). */
static void remove_tree(const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *e;

	if (lstat(path, &st) < 0)
		return;
	if (!S_ISDIR(st.st_mode)) {
		unlink(path);
		return;
	}
	chmod(path, 0700);
	d = opendir(path);
	if (d != NULL) {
		while ((e = readdir(d)) != NULL) {
			char child[512];

			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			snprintf(child, sizeof(child), "%s/%s", path, e->d_name);
			remove_tree(child);
		}
		closedir(d);
	}
	rmdir(path);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	remove_tree(f->dir);
	free(f);
	return 0;
}

static void write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static size_t read_file(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, cap);
	assert_true(n >= 0);
	close(fd);
	return (size_t)n;
}

static size_t count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	}
	closedir(d);
	return n;
}

/* Generate, save (creating 0700 parents and a 0600 file), load back identical. */
static void test_save_load(void **state)
{
	struct fixture *f = *state;
	struct identity id, back, other;
	char reason[256] = "", parent[160], text[128], again[128];
	struct stat st;
	size_t len;

	assert_int_equal(identity_generate(&id), 0);
	assert_int_equal(identity_save(&id, f->path, reason, sizeof(reason)), 0);

	assert_int_equal(stat(f->path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	snprintf(parent, sizeof(parent), "%s/data/salon", f->dir);
	assert_int_equal(stat(parent, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	snprintf(parent, sizeof(parent), "%s/data", f->dir);
	assert_int_equal(stat(parent, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	/* No temporary file left behind. */
	snprintf(parent, sizeof(parent), "%s/data/salon", f->dir);
	assert_int_equal(count_entries(parent), 1);

	/* The documented format: magic line, 43 base64url characters, newline. */
	len = read_file(f->path, text, sizeof(text));
	assert_int_equal(len, strlen(IDENTITY_FILE_MAGIC) + 1 + 43 + 1);
	assert_memory_equal(text, IDENTITY_FILE_MAGIC "\n", strlen(IDENTITY_FILE_MAGIC) + 1);
	assert_int_equal(text[len - 1], '\n');
	for (size_t i = strlen(IDENTITY_FILE_MAGIC) + 1; i < len - 1; i++)
		assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				       "0123456789-_", text[i]));

	memset(&back, 0, sizeof(back));
	assert_int_equal(identity_load(&back, f->path, reason, sizeof(reason)), 0);
	assert_memory_equal(back.public_key, id.public_key, IDENTITY_PUBLIC_LEN);
	assert_memory_equal(back.secret_key, id.secret_key, IDENTITY_SECRET_LEN);

	/* Saving over an existing identity is refused and leaves it intact. */
	assert_int_equal(identity_generate(&other), 0);
	assert_int_equal(identity_save(&other, f->path, reason, sizeof(reason)), -EEXIST);
	assert_non_null(strstr(reason, f->path));
	assert_int_equal(read_file(f->path, again, sizeof(again)), len);
	assert_memory_equal(again, text, len);
	assert_int_equal(count_entries(parent), 1);

	identity_wipe(&id);
	identity_wipe(&back);
	identity_wipe(&other);
}

/* Any access by group or others is refused with -EPERM and an explanation. */
static void test_load_refuses_loose_mode(void **state)
{
	static const mode_t modes[] = {0644, 0640, 0604, 0660, 0602, 0620, 0601};
	struct fixture *f = *state;
	struct identity id, back;
	char reason[256];

	assert_int_equal(identity_generate(&id), 0);
	assert_int_equal(identity_save(&id, f->path, NULL, 0), 0);
	for (size_t i = 0; i < ARRAY_SIZE(modes); i++) {
		char mode_text[16];

		assert_int_equal(chmod(f->path, modes[i]), 0);
		reason[0] = '\0';
		assert_int_equal(identity_load(&back, f->path, reason, sizeof(reason)), -EPERM);
		snprintf(mode_text, sizeof(mode_text), "%04o", (unsigned)modes[i]);
		assert_non_null(strstr(reason, mode_text));
		assert_non_null(strstr(reason, "chmod 600"));
		assert_non_null(strstr(reason, f->path));
	}
	/* 0400 (read-only for the owner) is fine. */
	assert_int_equal(chmod(f->path, 0400), 0);
	assert_int_equal(identity_load(&back, f->path, NULL, 0), 0);
	assert_memory_equal(back.public_key, id.public_key, IDENTITY_PUBLIC_LEN);
	identity_wipe(&id);
	identity_wipe(&back);
}

/* Every truncation and several corruptions are refused; a missing file is -ENOENT. */
static void test_load_refuses_damage(void **state)
{
	struct fixture *f = *state;
	struct identity id, back;
	char reason[256], good[128], bad[300];
	size_t len, body;

	assert_int_equal(identity_generate(&id), 0);
	assert_int_equal(identity_load(&back, f->path, reason, sizeof(reason)), -ENOENT);
	assert_non_null(strstr(reason, f->path));
	assert_int_equal(identity_save(&id, f->path, NULL, 0), 0);
	len = read_file(f->path, good, sizeof(good));
	body = strlen(IDENTITY_FILE_MAGIC) + 1;

	for (size_t cut = 0; cut < len; cut++) {
		write_file(f->path, good, cut, 0600);
		reason[0] = '\0';
		/* Only the final newline is optional. */
		if (cut == len - 1) {
			assert_int_equal(identity_load(&back, f->path, NULL, 0), 0);
			assert_memory_equal(back.public_key, id.public_key, IDENTITY_PUBLIC_LEN);
		} else {
			assert_int_equal(identity_load(&back, f->path, reason, sizeof(reason)),
					 -EINVAL);
			assert_non_null(strstr(reason, "not a valid"));
		}
	}

	/* A wrong magic line. */
	memcpy(bad, good, len);
	bad[6] = 'X';
	write_file(f->path, bad, len, 0600);
	assert_int_equal(identity_load(&back, f->path, NULL, 0), -EINVAL);
	/* A character outside base64url, then a NUL inside the key text. */
	memcpy(bad, good, len);
	bad[body + 5] = '+';
	write_file(f->path, bad, len, 0600);
	assert_int_equal(identity_load(&back, f->path, NULL, 0), -EINVAL);
	bad[body + 5] = '\0';
	write_file(f->path, bad, len, 0600);
	assert_int_equal(identity_load(&back, f->path, NULL, 0), -EINVAL);
	/* Trailing garbage after the key line, and a much larger file. */
	memcpy(bad, good, len);
	memcpy(bad + len, "extra\n", 6);
	write_file(f->path, bad, len + 6, 0600);
	assert_int_equal(identity_load(&back, f->path, NULL, 0), -EINVAL);
	memset(bad + len, 'A', sizeof(bad) - len);
	write_file(f->path, bad, sizeof(bad), 0600);
	assert_int_equal(identity_load(&back, f->path, NULL, 0), -EINVAL);
	/* A directory is not an identity file. */
	assert_int_equal(identity_load(&back, f->dir, NULL, 0), -EINVAL);

	/* The undamaged text loads again. */
	write_file(f->path, good, len, 0600);
	assert_int_equal(identity_load(&back, f->path, NULL, 0), 0);
	assert_memory_equal(back.secret_key, id.secret_key, IDENTITY_SECRET_LEN);
	identity_wipe(&id);
	identity_wipe(&back);
}

static void test_sign_verify(void **state)
{
	struct identity alice, bob;
	uint8_t msg[] = "salon login challenge 0123456789";
	uint8_t sig[IDENTITY_SIGNATURE_LEN];

	(void)state;
	assert_int_equal(identity_generate(&alice), 0);
	assert_int_equal(identity_generate(&bob), 0);
	identity_sign(sig, &alice, msg, sizeof(msg));
	assert_int_equal(identity_verify(alice.public_key, sig, msg, sizeof(msg)), 0);
	assert_int_equal(identity_verify(bob.public_key, sig, msg, sizeof(msg)), -EBADMSG);
	msg[3] ^= 1;
	assert_int_equal(identity_verify(alice.public_key, sig, msg, sizeof(msg)), -EBADMSG);
	msg[3] ^= 1;
	assert_int_equal(identity_verify(alice.public_key, sig, msg, sizeof(msg) - 1),
			 -EBADMSG);
	sig[10] ^= 0x40;
	assert_int_equal(identity_verify(alice.public_key, sig, msg, sizeof(msg)), -EBADMSG);
	identity_wipe(&alice);
	identity_wipe(&bob);
}

/* Keys converted to X25519 work with crypto_box in both directions. */
static void test_x25519_box(void **state)
{
	struct identity alice, bob;
	uint8_t a_pk[32], a_sk[32], b_pk[32], b_sk[32], derived[32];
	uint8_t nonce[crypto_box_NONCEBYTES], key[32];
	uint8_t boxed[32 + crypto_box_MACBYTES], opened[32];
	uint8_t bad_point[32];

	(void)state;
	assert_int_equal(identity_generate(&alice), 0);
	assert_int_equal(identity_generate(&bob), 0);
	assert_int_equal(identity_x25519_public(a_pk, alice.public_key), 0);
	assert_int_equal(identity_x25519_secret(a_sk, &alice), 0);
	assert_int_equal(identity_x25519_public(b_pk, bob.public_key), 0);
	assert_int_equal(identity_x25519_secret(b_sk, &bob), 0);
	/* The public half matches the secret half. */
	assert_int_equal(crypto_scalarmult_base(derived, a_sk), 0);
	assert_memory_equal(derived, a_pk, 32);

	randombytes_buf(nonce, sizeof(nonce));
	randombytes_buf(key, sizeof(key));
	assert_int_equal(crypto_box_easy(boxed, key, sizeof(key), nonce, b_pk, a_sk), 0);
	assert_int_equal(crypto_box_open_easy(opened, boxed, sizeof(boxed), nonce, a_pk, b_sk),
			 0);
	assert_memory_equal(opened, key, sizeof(key));
	/* Someone else's key cannot open it. */
	assert_int_not_equal(crypto_box_open_easy(opened, boxed, sizeof(boxed), nonce, b_pk,
						  b_sk), 0);

	/* A small-order point is not a usable identity key. */
	memset(bad_point, 0, sizeof(bad_point));
	bad_point[0] = 1;
	assert_int_equal(identity_x25519_public(derived, bad_point), -EINVAL);
	identity_wipe(&alice);
	identity_wipe(&bob);
	sodium_memzero(a_sk, sizeof(a_sk));
	sodium_memzero(b_sk, sizeof(b_sk));
}

static void assert_grouped(const char *text, size_t digits)
{
	size_t len = strlen(text);

	assert_int_equal(len, digits + digits / 5 - 1);
	for (size_t i = 0; i < len; i++) {
		if (i % 6 == 5)
			assert_int_equal(text[i], ' ');
		else
			assert_true(text[i] >= '0' && text[i] <= '9');
	}
}

/* Removes the spaces of a grouped number. */
static void strip_spaces(char *out, const char *text)
{
	for (; *text != '\0'; text++) {
		if (*text != ' ')
			*out++ = *text;
	}
	*out = '\0';
}

static void test_safety_numbers(void **state)
{
	uint8_t a[32], b[32];
	char sa[IDENTITY_SAFETY_TEXT_LEN], sa2[IDENTITY_SAFETY_TEXT_LEN];
	char sb[IDENTITY_SAFETY_TEXT_LEN];
	char pab[IDENTITY_PAIR_SAFETY_TEXT_LEN], pba[IDENTITY_PAIR_SAFETY_TEXT_LEN];
	char da[32], db[32], dpair[64], want[64];
	struct identity x, y;

	(void)state;
	/* Known answers, computed with Python's hashlib from the documented algorithm. */
	for (int i = 0; i < 32; i++)
		a[i] = (uint8_t)i;
	memset(b, 0xff, sizeof(b));
	identity_safety_number(sa, a);
	identity_safety_number(sb, b);
	assert_string_equal(sa, "91930 65672 44840 35910 21117 40468");
	assert_string_equal(sb, "62653 64450 52540 70167 39298 97228");
	assert_int_equal(strlen(sa) + 1, IDENTITY_SAFETY_TEXT_LEN);

	/* Deterministic, well formed, and different for different keys. */
	assert_int_equal(identity_generate(&x), 0);
	assert_int_equal(identity_generate(&y), 0);
	identity_safety_number(sa, x.public_key);
	identity_safety_number(sa2, x.public_key);
	identity_safety_number(sb, y.public_key);
	assert_string_equal(sa, sa2);
	assert_string_not_equal(sa, sb);
	assert_grouped(sa, IDENTITY_SAFETY_DIGITS);
	assert_grouped(sb, IDENTITY_SAFETY_DIGITS);
	/* One flipped bit of the key changes the number. */
	x.public_key[31] ^= 1;
	identity_safety_number(sa2, x.public_key);
	assert_string_not_equal(sa, sa2);
	x.public_key[31] ^= 1;

	/* The pair number is the same for both users: both numbers, smaller first. */
	identity_pair_safety_number(pab, x.public_key, y.public_key);
	identity_pair_safety_number(pba, y.public_key, x.public_key);
	assert_string_equal(pab, pba);
	assert_int_equal(strlen(pab) + 1, IDENTITY_PAIR_SAFETY_TEXT_LEN);
	assert_grouped(pab, 2 * IDENTITY_SAFETY_DIGITS);
	strip_spaces(da, sa);
	strip_spaces(db, sb);
	strip_spaces(dpair, pab);
	snprintf(want, sizeof(want), "%s%s", strcmp(da, db) < 0 ? da : db,
		 strcmp(da, db) < 0 ? db : da);
	assert_string_equal(dpair, want);
	identity_wipe(&x);
	identity_wipe(&y);
}

/* The same seed always gives the same key pair. */
static void test_from_seed(void **state)
{
	uint8_t seed[IDENTITY_SEED_LEN];
	struct identity a, b;

	(void)state;
	randombytes_buf(seed, sizeof(seed));
	assert_int_equal(identity_from_seed(&a, seed), 0);
	assert_int_equal(identity_from_seed(&b, seed), 0);
	assert_memory_equal(&a, &b, sizeof(a));
	seed[0] ^= 1;
	assert_int_equal(identity_from_seed(&b, seed), 0);
	assert_memory_not_equal(a.public_key, b.public_key, IDENTITY_PUBLIC_LEN);
	identity_wipe(&a);
	identity_wipe(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_save_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_refuses_loose_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_refuses_damage, setup, teardown),
		cmocka_unit_test(test_sign_verify),
		cmocka_unit_test(test_x25519_box),
		cmocka_unit_test(test_safety_numbers),
		cmocka_unit_test(test_from_seed),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
