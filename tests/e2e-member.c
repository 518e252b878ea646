/*
 * e2e-member.c - a bare room member and an SFrame analyst for the end-to-end tests
 * (tests/e2e-audio.sh, tests/e2e-room.sh). It looks at what the relay forwards the
 * way a member (or an attacker holding some keys) would, without the salon engine.
 *
 *   e2e-member listen RELAY_ADDR RELAY_PUBLIC TICKET FRAMES DLKEYS READY SECONDS
 *       Opens a hop session with the relay with a join ticket the API issued, writes
 *       READY once it holds the room's downlink key, and for SECONDS (or until the
 *       relay closes the session, or SIGTERM) records every DOWNLINK it can open as
 *       a frame record in FRAMES (u32 ms since start, u32 source, u16 length, the
 *       SFrame frame; little-endian; ms on the clock of "now") and every downlink key in DLKEYS (one line
 *       "INDEX HEX" each; these are test secrets, and the file is the test's).
 *   e2e-member open-box KEYFILE SENDER_PUBLIC BOX
 *       Opens a sealed key box (doc/PROTOCOL.md) addressed to the apitool key in
 *       KEYFILE from the sender whose Ed25519 public key is SENDER_PUBLIC; prints
 *       "GENERATION SUITE MEMBER KEYHEX".
 *   e2e-member from-capture CAPTURE DLKEYS FRAMES
 *       Opens the DOWNLINK datagrams the relay sent to clients in a tests/udp-proxy
 *       capture with the downlink keys in DLKEYS, and writes their frames to FRAMES
 *       (time: the capture's). Prints "OPENED DOWNLINKS".
 *   e2e-member open FRAMES SOURCE SUITE GENERATION KEYHEX [after|before MS] [PLAIN]
 *       Tries to open each frame of member SOURCE (optionally only those recorded
 *       after or before MS) with the key and every key it ratchets forward to (up to
 *       16 generations, as a receiver may), each under the frame's own KID. Prints
 *       "OPENED TOTAL SIZES": SIZES is how many plaintext lengths were seen. With
 *       PLAIN, writes each plaintext (an Opus packet) as u16 length + bytes; with
 *       "results FILE", one line per frame tried: its index in FRAMES and 1 or 0.
 *   e2e-member scan FRAMES FILE...
 *       Takes every 32-byte value in each FILE (at every byte offset, and the bytes
 *       of every base64url or hex run in it, at every offset) as an SFrame base key
 *       and tries it, with both suites, on one frame of each KID. Prints
 *       "CANDIDATES KIDS OPENED".
 *   e2e-member now
 *       Prints the monotonic clock in ms minus $E2E_BASE_MS: the clock of the
 *       frame records, so that a test can mark moments (a join, a leave) on it.
 *   e2e-member find PLAIN FILE...
 *       How many of the plaintexts in PLAIN occur in any FILE, each looked for by a
 *       distinctive 16-byte stretch of it (packets of silence, without one, are not
 *       searched). Prints "FOUND SEARCHED PACKETS".
 *   e2e-member sizes CAPTURE
 *       Sizes of the speech datagrams in a capture: per client, the TRANSPORT
 *       datagrams of 64 bytes or more (MEDIA; keepalives and closes are smaller), and
 *       the DOWNLINK datagrams per receiving client. Exits 1 unless each stream only
 *       grows, by at most two bytes (the SFrame counter's header field lengthens at
 *       CTR 8 and 256: that follows time, not words).
 * Every wait has a deadline; failures print a message and exit 1.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "encoding.h"
#include "hop.h"
#include "keys.h"
#include "sframe.h"
#include "util.h"
#include "wire.h"

#define MEMBER_MAX_DLKEYS 16
#define MEMBER_HANDSHAKE_MS 5000

struct frame_rec {
	uint32_t ms;
	uint32_t source;
	uint16_t len;
	uint8_t data[WIRE_MAX_DATAGRAM];
};

static volatile sig_atomic_t member_stop;

/* The frame records' clock: monotonic ms minus $E2E_BASE_MS (shared by processes). */
static uint32_t member_clock(void)
{
	const char *base = getenv("E2E_BASE_MS");

	return (uint32_t)(util_now_ms() - (base != NULL ? strtoull(base, NULL, 10) : 0));
}

static void member_on_signal(int sig)
{
	(void)sig;
	member_stop = 1;
}

static void member_write_frame(FILE *f, uint32_t ms, uint32_t source, const uint8_t *frame,
			       size_t len)
{
	uint8_t head[10];

	for (int i = 0; i < 4; i++) {
		head[i] = (uint8_t)(ms >> (8 * i));
		head[4 + i] = (uint8_t)(source >> (8 * i));
	}
	head[8] = (uint8_t)(len & 0xff);
	head[9] = (uint8_t)(len >> 8);
	if (fwrite(head, 1, sizeof(head), f) != sizeof(head) || fwrite(frame, 1, len, f) != len ||
	    fflush(f) != 0)
		fatal("e2e-member: cannot write frames: %s", strerror(errno));
}

/* Reads the next frame record; returns false at the end of the file. */
static bool member_read_frame(FILE *f, struct frame_rec *r)
{
	uint8_t head[10];

	if (fread(head, 1, sizeof(head), f) != sizeof(head))
		return false;
	r->ms = (uint32_t)head[0] | (uint32_t)head[1] << 8 | (uint32_t)head[2] << 16 |
		(uint32_t)head[3] << 24;
	r->source = (uint32_t)head[4] | (uint32_t)head[5] << 8 | (uint32_t)head[6] << 16 |
		    (uint32_t)head[7] << 24;
	r->len = (uint16_t)(head[8] | head[9] << 8);
	if (r->len > sizeof(r->data) || fread(r->data, 1, r->len, f) != r->len)
		fatal("e2e-member: truncated frame record");
	return true;
}

static FILE *member_open(const char *path, const char *mode)
{
	FILE *f = fopen(path, mode);

	if (f == NULL)
		fatal("e2e-member: %s: %s", path, strerror(errno));
	return f;
}

static uint8_t *member_slurp(const char *path, size_t *len)
{
	FILE *f = member_open(path, "rb");
	size_t cap = 65536, n = 0, got;
	uint8_t *buf = xmalloc(cap);

	while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap) {
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
	}
	fclose(f);
	*len = n;
	return buf;
}

static void member_send_inner(int fd, struct hop_session *s, const uint8_t *inner, size_t len)
{
	uint8_t out[WIRE_MAX_DATAGRAM];
	size_t out_len;

	if (hop_seal(s, inner, len, out, sizeof(out), &out_len) == 0)
		(void)send(fd, out, out_len, 0);
}

static int member_listen(char **argv)
{
	const char *relay = argv[0], *frames_path = argv[3], *dlkeys_path = argv[4];
	const char *ready_path = argv[5];
	uint64_t start = util_now_ms(), end = start + (uint64_t)(atof(argv[6]) * 1000);
	uint64_t handshake_deadline = start + MEMBER_HANDSHAKE_MS, next_keepalive;
	uint8_t relay_public[32], ticket[WIRE_TICKET_LEN], init_msg[WIRE_HANDSHAKE_INIT_LEN];
	uint8_t buf[WIRE_MAX_DATAGRAM], pt[WIRE_MAX_DATAGRAM], inner[WIRE_MAX_INNER];
	struct downlink_key keys[MEMBER_MAX_DLKEYS];
	struct sockaddr_in addr = {.sin_family = AF_INET};
	struct hop_initiator init;
	struct hop_session session;
	unsigned key_count = 0, opened = 0, unopened = 0;
	bool up = false;
	char host[64];
	const char *colon = strrchr(relay, ':');
	FILE *frames, *dlkeys;
	int fd;

	if (colon == NULL || (size_t)(colon - relay) >= sizeof(host))
		fatal("e2e-member: bad relay address %s", relay);
	memcpy(host, relay, (size_t)(colon - relay));
	host[colon - relay] = '\0';
	addr.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &addr.sin_addr) != 1)
		fatal("e2e-member: bad relay address %s", relay);
	if (base64_decode(relay_public, sizeof(relay_public), argv[1]) != 0 ||
	    base64_decode(ticket, sizeof(ticket), argv[2]) != 0)
		fatal("e2e-member: bad relay key or ticket");
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (const struct sockaddr *)&addr, sizeof(addr)) < 0)
		fatal("e2e-member: cannot reach %s: %s", relay, strerror(errno));
	frames = member_open(frames_path, "wb");
	dlkeys = member_open(dlkeys_path, "w");
	signal(SIGTERM, member_on_signal);
	signal(SIGINT, member_on_signal);

	if (hop_initiator_start(&init, relay_public, ticket, randombytes_random(), init_msg) != 0)
		fatal("e2e-member: handshake start failed");
	(void)send(fd, init_msg, sizeof(init_msg), 0);
	next_keepalive = util_now_ms() + 250; /* until up: the handshake's resend time */
	while (!member_stop && util_now_ms() < end) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		struct wire_datagram d;
		struct wire_inner in;
		uint32_t source;
		size_t pt_len;
		ssize_t n;

		if (!up && util_now_ms() > handshake_deadline)
			fatal("e2e-member: no handshake response within %d ms",
			      MEMBER_HANDSHAKE_MS);
		if (util_now_ms() >= next_keepalive) {
			if (up) {
				member_send_inner(fd, &session, inner,
						  wire_inner_write_keepalive(inner));
				next_keepalive = util_now_ms() + 5000;
			} else {
				(void)send(fd, init_msg, sizeof(init_msg), 0);
				next_keepalive = util_now_ms() + 250;
			}
		}
		if (poll(&pfd, 1, 50) <= 0)
			continue;
		n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0 || wire_parse(buf, (size_t)n, &d) != 0)
			continue;
		if (d.type == WIRE_HANDSHAKE_RESP && !up) {
			if (hop_initiator_finish(&init, &d, &session) == 0) {
				up = true;
				next_keepalive = util_now_ms() + 5000;
			}
			continue;
		}
		if (d.type == WIRE_TRANSPORT && up) {
			if (hop_open(&session, &d, pt, sizeof(pt), &pt_len) != 0 ||
			    wire_inner_parse(pt, pt_len, &in) != 0)
				continue;
			if (in.type == WIRE_INNER_CLOSE)
				break;
			if (in.type == WIRE_INNER_DOWNLINK_KEY && key_count < MEMBER_MAX_DLKEYS) {
				char hex[2 * WIRE_KEY_LEN + 1];

				memset(&keys[key_count], 0, sizeof(keys[key_count]));
				keys[key_count].key_index = in.key_index;
				memcpy(keys[key_count].key, in.key, WIRE_KEY_LEN);
				replay_init(&keys[key_count].replay);
				key_count++;
				hex_encode(hex, in.key, WIRE_KEY_LEN);
				fprintf(dlkeys, "%u %s\n", in.key_index, hex);
				fflush(dlkeys);
				if (key_count == 1) {
					FILE *ready = member_open(ready_path, "w");

					fclose(ready);
				}
			}
			continue;
		}
		if (d.type != WIRE_DOWNLINK)
			continue;
		bool done = false;

		for (unsigned i = 0; i < key_count && !done; i++) {
			if (keys[i].key_index == d.key_index &&
			    downlink_open(&keys[i], &d, &source, pt, sizeof(pt), &pt_len) == 0) {
				member_write_frame(frames, member_clock(), source,
						   pt, pt_len);
				done = true;
			}
		}
		if (done)
			opened++;
		else
			unopened++;
	}
	if (up)
		member_send_inner(fd, &session, inner, wire_inner_write_close(inner, 0));
	printf("e2e-member: %u downlink keys, %u frames recorded, %u downlinks unopened\n",
	       key_count, opened, unopened);
	fclose(frames);
	fclose(dlkeys);
	close(fd);
	sodium_memzero(keys, sizeof(keys));
	return up ? 0 : 1;
}

static int member_open_box(char **argv)
{
	uint8_t seed[32], ed_pk[32], ed_sk[64], x_sk[32], sender_ed[32], sender_x[32];
	uint8_t box[KEYS_BOX_LEN], plain[KEYS_BOX_PLAIN_LEN];
	char text[128], hex[2 * KEYS_KEY_LEN + 1];
	FILE *f = member_open(argv[0], "r");

	if (fgets(text, sizeof(text), f) == NULL)
		fatal("e2e-member: %s is empty", argv[0]);
	fclose(f);
	text[strcspn(text, "\r\n")] = '\0';
	if (base64_decode(seed, sizeof(seed), text) != 0 ||
	    base64_decode(sender_ed, sizeof(sender_ed), argv[1]) != 0 ||
	    base64_decode(box, sizeof(box), argv[2]) != 0)
		fatal("e2e-member: bad key file, sender key or box");
	crypto_sign_seed_keypair(ed_pk, ed_sk, seed);
	if (crypto_sign_ed25519_sk_to_curve25519(x_sk, ed_sk) != 0 ||
	    crypto_sign_ed25519_pk_to_curve25519(sender_x, sender_ed) != 0)
		fatal("e2e-member: cannot convert the keys to X25519");
	if (crypto_box_open_easy(plain, box + KEYS_BOX_NONCE_LEN,
				 KEYS_BOX_LEN - KEYS_BOX_NONCE_LEN, box, sender_x, x_sk) != 0)
		fatal("e2e-member: the box does not open");
	if (plain[0] != KEYS_BOX_VERSION)
		fatal("e2e-member: box version %u", plain[0]);
	hex_encode(hex, plain + 39, KEYS_KEY_LEN);
	printf("%u %u %llu %s\n", get_u32be(plain + 33), (unsigned)(plain[37] << 8 | plain[38]),
	       (unsigned long long)get_u64be(plain + 17), hex);
	sodium_memzero(plain, sizeof(plain));
	sodium_memzero(ed_sk, sizeof(ed_sk));
	sodium_memzero(x_sk, sizeof(x_sk));
	return 0;
}

static int member_from_capture(char **argv)
{
	size_t cap_len, pos = 0;
	uint8_t *cap = member_slurp(argv[0], &cap_len);
	struct downlink_key keys[MEMBER_MAX_DLKEYS];
	unsigned key_count = 0, opened = 0, total = 0;
	FILE *dl = member_open(argv[1], "r"), *out = member_open(argv[2], "wb");
	char hex[2 * WIRE_KEY_LEN + 2];
	unsigned index;

	while (key_count < MEMBER_MAX_DLKEYS && fscanf(dl, "%u %65s", &index, hex) == 2) {
		memset(&keys[key_count], 0, sizeof(keys[key_count]));
		keys[key_count].key_index = index;
		if (hex_decode(keys[key_count].key, WIRE_KEY_LEN, hex) != 0)
			fatal("e2e-member: bad downlink key line");
		key_count++;
	}
	fclose(dl);
	while (pos + 8 <= cap_len) {
		size_t len = (size_t)cap[pos + 2] | (size_t)cap[pos + 3] << 8;
		uint32_t ms = (uint32_t)cap[pos + 4] | (uint32_t)cap[pos + 5] << 8 |
			      (uint32_t)cap[pos + 6] << 16 | (uint32_t)cap[pos + 7] << 24;
		const uint8_t *data = cap + pos + 8;
		struct wire_datagram d;
		uint8_t pt[WIRE_MAX_DATAGRAM];
		size_t pt_len;
		uint32_t source;

		if (pos + 8 + len > cap_len)
			fatal("e2e-member: truncated capture");
		pos += 8 + len;
		if (cap[pos - len - 8] != 'R' || wire_parse(data, len, &d) != 0 ||
		    d.type != WIRE_DOWNLINK)
			continue;
		total++;
		for (unsigned i = 0; i < key_count; i++) {
			/* A fresh window per datagram: the same frame goes to each member. */
			replay_init(&keys[i].replay);
			if (keys[i].key_index == d.key_index &&
			    downlink_open(&keys[i], &d, &source, pt, sizeof(pt), &pt_len) == 0) {
				member_write_frame(out, ms, source, pt, pt_len);
				opened++;
				break;
			}
		}
	}
	fclose(out);
	free(cap);
	printf("%u %u\n", opened, total);
	return 0;
}

/* Tries one frame with one base key under the frame's KID; true when it opens. */
static bool member_try(const struct frame_rec *r, uint16_t suite, const uint8_t key[32],
		       uint8_t *pt, size_t *pt_len)
{
	struct sframe_header hdr;
	struct sframe_keyring ring;
	bool ok;

	if (sframe_header_decode(&hdr, r->data, r->len) < 0)
		return false;
	sframe_keyring_init(&ring);
	ok = sframe_keyring_add(&ring, suite, hdr.kid, key, 32) == 0 &&
	     sframe_unprotect(&ring, NULL, 0, r->data, r->len, pt, WIRE_MAX_DATAGRAM, pt_len,
			      NULL) == 0;
	sframe_keyring_free(&ring);
	return ok;
}

static int member_open_frames(int argc, char **argv)
{
	uint32_t source = (uint32_t)strtoul(argv[1], NULL, 10);
	uint16_t suite = (uint16_t)strtoul(argv[2], NULL, 10);
	uint8_t chain[KEYS_MAX_AHEAD + 1][KEYS_KEY_LEN], pt[WIRE_MAX_DATAGRAM];
	unsigned opened = 0, total = 0, sizes = 0;
	size_t seen_sizes[8] = {0};
	long after = -1, before = -1;
	const char *plain_path = NULL;
	FILE *in = member_open(argv[0], "rb"), *plain = NULL, *results = NULL;
	struct frame_rec r;
	unsigned index = 0;

	(void)argv[3]; /* the generation is for the reader: the chain starts at the key */
	if (hex_decode(chain[0], KEYS_KEY_LEN, argv[4]) != 0)
		fatal("e2e-member: bad key");
	for (int i = 5; i < argc; i++) {
		if (strcmp(argv[i], "after") == 0 && i + 1 < argc)
			after = atol(argv[++i]);
		else if (strcmp(argv[i], "before") == 0 && i + 1 < argc)
			before = atol(argv[++i]);
		else if (strcmp(argv[i], "results") == 0 && i + 1 < argc)
			results = member_open(argv[++i], "w");
		else
			plain_path = argv[i];
	}
	if (plain_path != NULL)
		plain = member_open(plain_path, "wb");
	for (int j = 1; j <= KEYS_MAX_AHEAD; j++)
		keys_ratchet(chain[j], chain[j - 1]);
	while (member_read_frame(in, &r)) {
		size_t pt_len = 0;
		bool ok = false;

		index++;
		if (r.source != source || (after >= 0 && r.ms <= after) ||
		    (before >= 0 && r.ms >= before))
			continue;
		total++;
		for (int j = 0; j <= KEYS_MAX_AHEAD && !ok; j++)
			ok = member_try(&r, suite, chain[j], pt, &pt_len);
		if (results != NULL)
			fprintf(results, "%u %d\n", index, ok ? 1 : 0);
		if (!ok)
			continue;
		opened++;
		bool known = false;

		for (unsigned k = 0; k < sizes && k < 8; k++)
			known = known || seen_sizes[k] == pt_len;
		if (!known && sizes++ < 8)
			seen_sizes[sizes - 1] = pt_len;
		if (plain != NULL) {
			uint8_t head[2] = {(uint8_t)(pt_len & 0xff), (uint8_t)(pt_len >> 8)};

			if (fwrite(head, 1, 2, plain) != 2 || fwrite(pt, 1, pt_len, plain) != pt_len)
				fatal("e2e-member: cannot write plaintexts");
		}
	}
	fclose(in);
	if (plain != NULL)
		fclose(plain);
	if (results != NULL)
		fclose(results);
	sodium_memzero(chain, sizeof(chain));
	printf("%u %u %u\n", opened, total, sizes);
	return 0;
}

static bool member_is_b64(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '+' || c == '/';
}

static int member_b64_value(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '-' || c == '+' ? 62 : 63;
}

static bool member_is_hex(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/*
 * Appends to *bytes the decodings of every base64 (any alphabet) and hex run of
 * at least 43 characters in buf, from each starting offset modulo 4 (or 2).
 */
static void member_decode_runs(const uint8_t *buf, size_t len, uint8_t **bytes, size_t *n,
			       size_t *cap)
{
	for (size_t i = 0; i < len;) {
		size_t j = i;

		while (j < len && member_is_b64(buf[j]))
			j++;
		if (j - i >= 43) {
			for (size_t shift = 0; shift < 4; shift++) {
				uint32_t acc = 0;
				int bits = 0;

				for (size_t k = i + shift; k < j; k++) {
					acc = (acc << 6) | (uint32_t)member_b64_value(buf[k]);
					bits += 6;
					if (bits >= 8) {
						bits -= 8;
						if (*n == *cap)
							*bytes = xrealloc(*bytes, *cap *= 2);
						(*bytes)[(*n)++] = (uint8_t)(acc >> bits);
					}
				}
				/* A separator, so no window spans two decodings. */
				for (int pad = 0; pad < 32; pad++) {
					if (*n == *cap)
						*bytes = xrealloc(*bytes, *cap *= 2);
					(*bytes)[(*n)++] = 0;
				}
			}
			/* The same run read as hex, where it is hex. */
			size_t h = i;

			while (h < j && member_is_hex(buf[h]))
				h++;
			if (h - i >= 64) {
				for (size_t shift = 0; shift < 2; shift++) {
					for (size_t k = i + shift; k + 1 < h; k += 2) {
						char pair[3] = {(char)buf[k], (char)buf[k + 1], 0};

						if (*n == *cap)
							*bytes = xrealloc(*bytes, *cap *= 2);
						(*bytes)[(*n)++] = (uint8_t)strtoul(pair, NULL, 16);
					}
				}
			}
		}
		i = j > i ? j : i + 1;
	}
}

static int member_scan(int argc, char **argv)
{
	static const uint16_t suites[] = {SFRAME_SUITE_AES_256_GCM_SHA512_128,
					  SFRAME_SUITE_CHACHA20_POLY1305_SHA512};
	struct frame_rec *probes = xcalloc(64, sizeof(*probes));
	unsigned probe_count = 0, opened = 0;
	unsigned long candidates = 0;
	FILE *in = member_open(argv[0], "rb");
	struct frame_rec r;
	uint8_t pt[WIRE_MAX_DATAGRAM];

	/* One frame per KID: a base key opens all of a KID's frames or none. */
	while (member_read_frame(in, &r) && probe_count < 64) {
		struct sframe_header hdr, other;
		bool known = false;

		if (sframe_header_decode(&hdr, r.data, r.len) < 0)
			continue;
		for (unsigned i = 0; i < probe_count; i++) {
			(void)sframe_header_decode(&other, probes[i].data, probes[i].len);
			known = known || other.kid == hdr.kid;
		}
		if (!known)
			probes[probe_count++] = r;
	}
	fclose(in);
	for (int f = 1; f < argc; f++) {
		size_t len, n = 0, cap = 4096;
		uint8_t *raw = member_slurp(argv[f], &len), *bytes = xmalloc(cap);

		/* The raw bytes first, then the decodings of the text runs. */
		while (cap < len + 1)
			cap *= 2;
		bytes = xrealloc(bytes, cap);
		memcpy(bytes, raw, len);
		n = len;
		member_decode_runs(raw, len, &bytes, &n, &cap);
		for (size_t off = 0; off + 32 <= n; off++) {
			candidates++;
			for (unsigned p = 0; p < probe_count; p++) {
				for (size_t s = 0; s < sizeof(suites) / sizeof(suites[0]); s++) {
					size_t pt_len;

					if (!sframe_suite_available(suites[s]))
						continue;
					if (member_try(&probes[p], suites[s], bytes + off, pt,
						       &pt_len)) {
						opened++;
						fprintf(stderr, "e2e-member: %s at %zu opens a frame\n",
							argv[f], off);
					}
				}
			}
		}
		free(raw);
		free(bytes);
	}
	free(probes);
	printf("%lu %u %u\n", candidates, probe_count, opened);
	return 0;
}

/*
 * The needle for a plaintext: its first 16-byte stretch with at least 12 different
 * byte values, so that padding or silence (runs of equal bytes, found anywhere)
 * does not count as a hit. NULL when the packet has none.
 */
static const uint8_t *member_needle(const uint8_t *p, size_t len)
{
	for (size_t off = 0; off + 16 <= len; off++) {
		bool seen[256] = {false};
		unsigned distinct = 0;

		for (size_t i = 0; i < 16; i++) {
			distinct += !seen[p[off + i]];
			seen[p[off + i]] = true;
		}
		if (distinct >= 12)
			return p + off;
	}
	return NULL;
}

static int member_find(int argc, char **argv)
{
	size_t plain_len, pos = 0;
	uint8_t *plain = member_slurp(argv[0], &plain_len);
	unsigned found = 0, total = 0, plain_count = 0;
	struct {
		uint8_t *data;
		size_t len;
		unsigned hits;
	} hay[16];
	int hay_count = 0;

	for (int f = 1; f < argc && hay_count < 16; f++) {
		hay[hay_count].data = member_slurp(argv[f], &hay[hay_count].len);
		hay[hay_count].hits = 0;
		hay_count++;
	}
	while (pos + 2 <= plain_len) {
		size_t len = (size_t)plain[pos] | (size_t)plain[pos + 1] << 8;
		const uint8_t *p = plain + pos + 2, *needle;
		bool hit = false;

		if (pos + 2 + len > plain_len)
			fatal("e2e-member: truncated plaintext file");
		pos += 2 + len;
		plain_count++;
		needle = member_needle(p, len);
		if (needle == NULL)
			continue;
		total++;
		for (int h = 0; h < hay_count; h++) {
			if (memmem(hay[h].data, hay[h].len, needle, 16) != NULL) {
				hay[h].hits++;
				hit = true;
			}
		}
		found += hit;
	}
	for (int h = 0; h < hay_count; h++) {
		if (hay[h].hits > 0)
			fprintf(stderr, "e2e-member: %u packets found in %s\n", hay[h].hits,
				argv[1 + h]);
		free(hay[h].data);
	}
	free(plain);
	/* Packets without a distinctive stretch (silence) are not searched for. */
	printf("%u %u %u\n", found, total, plain_count);
	return 0;
}

struct size_stream {
	char direction;
	unsigned client;
	unsigned count;
	size_t first, last;
	bool shrank;
};

static int member_sizes(char **argv)
{
	size_t cap_len, pos = 0;
	uint8_t *cap = member_slurp(argv[0], &cap_len);
	struct size_stream streams[512];
	unsigned stream_count = 0;
	int status = 0;

	while (pos + 8 <= cap_len) {
		char direction = (char)cap[pos];
		unsigned client = cap[pos + 1];
		size_t len = (size_t)cap[pos + 2] | (size_t)cap[pos + 3] << 8;
		const uint8_t *data = cap + pos + 8;
		struct size_stream *s = NULL;

		if (pos + 8 + len > cap_len)
			fatal("e2e-member: truncated capture");
		pos += 8 + len;
		if (len < 4)
			continue;
		if (!((direction == 'C' && data[0] == WIRE_TRANSPORT && len >= 64) ||
		      (direction == 'R' && data[0] == WIRE_DOWNLINK)))
			continue;
		for (unsigned i = 0; i < stream_count; i++)
			if (streams[i].direction == direction && streams[i].client == client)
				s = &streams[i];
		if (s == NULL) {
			if (stream_count == 512)
				continue;
			s = &streams[stream_count++];
			*s = (struct size_stream){.direction = direction, .client = client,
						  .first = len, .last = len};
		}
		s->count++;
		if (len < s->last)
			s->shrank = true;
		s->last = len;
	}
	for (unsigned i = 0; i < stream_count; i++) {
		struct size_stream *s = &streams[i];
		bool ok = !s->shrank && s->last - s->first <= 2;

		printf("  %s client %u: %u speech datagrams, %zu to %zu bytes, %s\n",
		       s->direction == 'C' ? "MEDIA from" : "DOWNLINK to", s->client, s->count,
		       s->first, s->last, ok ? "constant but for the counter" : "VARYING");
		if (!ok)
			status = 1;
	}
	printf("sizes: %u streams: %s\n", stream_count, status == 0 ? "pass" : "FAIL");
	free(cap);
	return status;
}

int main(int argc, char **argv)
{
	if (sodium_init() < 0)
		fatal("e2e-member: libsodium failed to start");
	if (argc == 9 && strcmp(argv[1], "listen") == 0)
		return member_listen(argv + 2);
	if (argc == 5 && strcmp(argv[1], "open-box") == 0)
		return member_open_box(argv + 2);
	if (argc == 5 && strcmp(argv[1], "from-capture") == 0)
		return member_from_capture(argv + 2);
	if (argc >= 7 && strcmp(argv[1], "open") == 0)
		return member_open_frames(argc - 2, argv + 2);
	if (argc >= 4 && strcmp(argv[1], "scan") == 0)
		return member_scan(argc - 2, argv + 2);
	if (argc == 2 && strcmp(argv[1], "now") == 0) {
		printf("%u\n", member_clock());
		return 0;
	}
	if (argc >= 4 && strcmp(argv[1], "find") == 0)
		return member_find(argc - 2, argv + 2);
	if (argc == 3 && strcmp(argv[1], "sizes") == 0)
		return member_sizes(argv + 2);
	fprintf(stderr, "usage: see the comment at the top of tests/e2e-member.c\n");
	return 2;
}
