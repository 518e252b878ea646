/*
 * bench-rekey.c - how long a speaker takes to re-key a 10,000-member room.
 *
 * Targets (the project's benchmark issue), in CPU time of this process
 * (CLOCK_PROCESS_CPUTIME_ID), median of 5 runs:
 *   - rekey cached: a rotation sealing a new sender key to 10,000 members whose
 *     crypto_box shared keys are already cached: at most 50 ms.
 *   - first contact: the same for 10,000 members never sealed to before, so each
 *     needs its crypto_box_beforenm: at most 1 s.
 * Also printed, from the same run: the raw cost of 10,000 crypto_box_beforenm and
 * of 10,000 crypto_secretbox_easy of the same plaintext size (the floors the two
 * cases cannot beat), the ratio of each measurement to its floor, and the cost of
 * learning the 10,000 peers (Ed25519 to X25519 conversion), which happens when the
 * member list arrives, before any sealing.
 *
 * Usage: bench/bench-rekey [MEMBERS]   (default 10000). Exit status 0 when every
 * target is met, 1 otherwise.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "identity.h"
#include "keys.h"
#include "util.h"

#define RUNS 5
#define ROOM_ID 42
#define CACHED_TARGET_MS 50.0
#define FIRST_TARGET_MS 1000.0

static double bench_cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int bench_compare(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double bench_median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), bench_compare);
	return v[n / 2];
}

struct bench_room {
	struct identity self;
	struct keys_peers *peers;
	struct keys_room *room;
	double learn_ms;
};

/*
 * Builds a speaker whose room has n members (distinct random identities), all
 * learnt (converted to X25519) but none sealed to yet. Member public keys come
 * from pub (n keys).
 */
static void bench_room_make(struct bench_room *b, const uint8_t (*pub)[IDENTITY_PUBLIC_LEN],
			    size_t n)
{
	uint64_t *ids = xcalloc(n, sizeof(*ids));
	struct keys_sealed *sealed;
	size_t count;
	double t0;

	if (identity_generate(&b->self) < 0)
		fatal("cannot generate an identity");
	b->peers = keys_peers_new(&b->self, 1);
	if (b->peers == NULL || keys_room_new(&b->room, b->peers, ROOM_ID, 1,
					      SFRAME_SUITE_CHACHA20_POLY1305_SHA512) < 0)
		fatal("cannot create the key manager");
	t0 = bench_cpu_ms();
	for (size_t i = 0; i < n; i++) {
		ids[i] = 100 + i;
		if (keys_peers_set(b->peers, ids[i], pub[i]) != 0)
			fatal("bad member key");
	}
	b->learn_ms = bench_cpu_ms() - t0;
	/*
	 * Join everyone with the members blocked, so no box is sealed yet (and no
	 * shared key computed): the cold case stays cold.
	 */
	for (size_t i = 0; i < n; i++)
		(void)keys_peers_set_blocked(b->peers, ids[i], true);
	if (keys_room_members_add(b->room, ids, ids, n, &sealed, &count) < 0 || count != 0)
		fatal("cannot add members");
	free(sealed);
	for (size_t i = 0; i < n; i++)
		(void)keys_peers_set_blocked(b->peers, ids[i], false);
	free(ids);
}

static void bench_room_free(struct bench_room *b)
{
	keys_room_free(b->room);
	keys_peers_free(b->peers);
	identity_wipe(&b->self);
}

/* One rotation; returns its CPU time in ms and checks every member got a box. */
static double bench_rotate(struct bench_room *b, size_t n)
{
	struct keys_sealed *sealed;
	size_t count;
	double t0, t;

	t0 = bench_cpu_ms();
	if (keys_room_rotate(b->room, 0, &sealed, &count) < 0)
		fatal("rotation failed");
	t = bench_cpu_ms() - t0;
	if (count != n)
		fatal("sealed %zu boxes for %zu members", count, n);
	free(sealed);
	return t;
}

static bool bench_report(const char *what, size_t n, double ms, double target)
{
	bool pass = ms <= target;

	printf("%s %zu members: %.1f ms (target <= %.0f ms) %s\n", what, n, ms, target,
	       pass ? "PASS" : "FAIL");
	return pass;
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 10000;
	uint8_t(*pub)[IDENTITY_PUBLIC_LEN];
	uint8_t(*xpub)[IDENTITY_X25519_LEN];
	double cached[RUNS], first[RUNS], raw_beforenm[RUNS], raw_secretbox[RUNS], learn[RUNS];
	double cached_ms, first_ms, beforenm_ms, secretbox_ms, learn_ms;
	uint8_t x_secret[IDENTITY_X25519_LEN], shared[crypto_box_BEFORENMBYTES];
	uint8_t pt[KEYS_BOX_PLAIN_LEN], *boxes, *nonces;
	struct bench_room b;
	bool ok = true;

	if (n == 0 || sodium_init() < 0)
		return 2;
	pub = xcalloc(n, sizeof(*pub));
	xpub = xcalloc(n, sizeof(*xpub));
	boxes = xcalloc(n, KEYS_BOX_LEN);
	nonces = xcalloc(n, crypto_secretbox_NONCEBYTES);
	for (size_t i = 0; i < n; i++) {
		struct identity id;

		identity_generate(&id);
		memcpy(pub[i], id.public_key, IDENTITY_PUBLIC_LEN);
		if (identity_x25519_public(xpub[i], pub[i]) < 0)
			fatal("bad generated key");
		identity_wipe(&id);
	}
	randombytes_buf(x_secret, sizeof(x_secret));
	memset(pt, 0x11, sizeof(pt));

	for (int run = 0; run < RUNS; run++) {
		double t0;

		/* First contact: a fresh speaker, so every shared key is computed. */
		bench_room_make(&b, (const uint8_t(*)[IDENTITY_PUBLIC_LEN])pub, n);
		learn[run] = b.learn_ms;
		first[run] = bench_rotate(&b, n);
		if (keys_peers_beforenm_count(b.peers) != n)
			fatal("expected %zu shared keys computed", n);
		/* Cached: the same speaker rotates again. */
		cached[run] = bench_rotate(&b, n);
		if (keys_peers_beforenm_count(b.peers) != n)
			fatal("a cached rotation computed shared keys");
		bench_room_free(&b);

		/* The floors: the bare primitives, for the same count and size. */
		t0 = bench_cpu_ms();
		for (size_t i = 0; i < n; i++) {
			if (crypto_box_beforenm(shared, xpub[i], x_secret) != 0)
				fatal("beforenm failed");
		}
		raw_beforenm[run] = bench_cpu_ms() - t0;
		/* Nonces drawn in bulk, as the key manager does. */
		t0 = bench_cpu_ms();
		randombytes_buf(nonces, n * crypto_secretbox_NONCEBYTES);
		for (size_t i = 0; i < n; i++) {
			uint8_t *box = boxes + i * KEYS_BOX_LEN;

			memcpy(box, nonces + i * crypto_secretbox_NONCEBYTES,
			       crypto_secretbox_NONCEBYTES);
			crypto_secretbox_easy(box + crypto_secretbox_NONCEBYTES, pt, sizeof(pt),
					      box, shared);
		}
		raw_secretbox[run] = bench_cpu_ms() - t0;
	}
	sodium_memzero(shared, sizeof(shared));
	sodium_memzero(x_secret, sizeof(x_secret));

	cached_ms = bench_median(cached, RUNS);
	first_ms = bench_median(first, RUNS);
	beforenm_ms = bench_median(raw_beforenm, RUNS);
	secretbox_ms = bench_median(raw_secretbox, RUNS);
	learn_ms = bench_median(learn, RUNS);

	printf("# CPU time (CLOCK_PROCESS_CPUTIME_ID), median of %d runs, box %d bytes\n", RUNS,
	       KEYS_BOX_LEN);
	ok &= bench_report("rekey cached", n, cached_ms, CACHED_TARGET_MS);
	ok &= bench_report("rekey first contact", n, first_ms, FIRST_TARGET_MS);
	printf("first contact incl. learning keys %zu members: %.1f ms (informational: the "
	       "member list and its keys arrive before any sealing)\n",
	       n, learn_ms + first_ms);
	printf("baseline %zu crypto_secretbox_easy (%d-byte plaintext): %.1f ms; "
	       "rekey cached / baseline = %.2f\n",
	       n, KEYS_BOX_PLAIN_LEN, secretbox_ms, cached_ms / secretbox_ms);
	printf("baseline %zu crypto_box_beforenm: %.1f ms; "
	       "first contact / (beforenm + secretbox) = %.2f\n",
	       n, beforenm_ms, first_ms / (beforenm_ms + secretbox_ms));
	printf("learning %zu member keys (Ed25519 to X25519): %.1f ms\n", n, learn_ms);
	free(pub);
	free(xpub);
	free(boxes);
	free(nonces);
	return ok ? 0 : 1;
}
