/*
 * pcap-scan.c - looks at what crossed loopback during a test, for the wire privacy
 * and log tests (tests/privacy.sh, tests/log-secrets.sh).
 *
 *   pcap-scan convert PCAP RELAY_PORT API_PORT UDP_OUT TCP_OUT
 *       Reads a tcpdump capture (pcap, microsecond or nanosecond, either byte order;
 *       link types Ethernet, Linux cooked v1 and v2, BSD loopback, raw IP) and
 *       writes every UDP datagram to or from RELAY_PORT to UDP_OUT in the record
 *       format of tests/udp-proxy --capture (direction 'C' to the relay or 'R' from
 *       it, client number by address and port in order of appearance, u16 length,
 *       u32 ms since the first packet, the datagram), and the payload of every TCP
 *       segment to or from API_PORT, one after the other, to TCP_OUT. Prints
 *       "UDP_DATAGRAMS CLIENTS TCP_SEGMENTS TCP_BYTES OTHER_PACKETS".
 *   pcap-scan search NEEDLES FILE...
 *       NEEDLES holds one needle a line: "LABEL text SOME TEXT", "LABEL hex HEX" or
 *       "LABEL b64 BASE64URL" (bytes). Each needle is looked for in every FILE as
 *       its raw bytes, in hex (lower and upper case), and in base64 and base64url
 *       (the characters that do not depend on the bytes around it, for each of the
 *       three alignments; only where that is at least 8 characters). Prints each
 *       hit as "hit LABEL FORM FILE OFFSET" and a last line "HITS NEEDLES FORMS".
 *       Exits 0 either way (the caller decides what a hit means).
 *   pcap-scan random capture UDP_CAPTURE | random packets PACKETS
 *       Whether bytes look random: for capture, the encrypted parts (after the
 *       16-byte header) of the distinct TRANSPORT datagrams of 64 bytes or more to
 *       the relay (MEDIA) and of the distinct DOWNLINK datagrams; for packets, the
 *       packets of a tests/e2e-member plaintext file (u16 length + bytes). Two
 *       tests: the chi-square statistic of the byte histogram (255 degrees of
 *       freedom: mean 255, standard deviation 22.6; the limit is 400, more than six
 *       deviations), and 8-byte runs that occur in two different datagrams (for
 *       random bytes, about n^2 / 2^65 for n runs: none). Prints "random: ..." and
 *       exits 0 when both pass, 1 otherwise.
 *   pcap-scan ratchet KEYHEX N
 *       Prints the next N sender keys of the ratchet from KEYHEX, in hex, one a line:
 *       HKDF-SHA-512 with the salt and info of doc/PROTOCOL.md ("Sender key ratchet"),
 *       written here from the specification rather than taken from the client.
 * Failures to read print a message and exit 2.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "hkdf.h"
#include "util.h"

#define SCAN_MAX_CLIENTS 255
#define SCAN_CHI2_LIMIT 400.0
#define SCAN_MIN_CORE 8

static uint8_t *scan_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 65536, n = 0, got;
	uint8_t *buf;

	if (f == NULL) {
		fprintf(stderr, "pcap-scan: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	buf = xmalloc(cap);
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

static uint32_t scan_u32(const uint8_t *p, bool swap)
{
	uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
		     (uint32_t)p[3] << 24;

	return swap ? __builtin_bswap32(v) : v;
}

static uint16_t scan_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

struct scan_client {
	uint8_t addr[16];
	uint16_t port;
};

struct scan_convert {
	FILE *udp, *tcp;
	unsigned relay_port, api_port;
	struct scan_client clients[SCAN_MAX_CLIENTS];
	unsigned client_count;
	unsigned long udp_count, tcp_segments, tcp_bytes, other;
};

static unsigned scan_client_number(struct scan_convert *c, const uint8_t *addr, size_t addr_len,
				   uint16_t port)
{
	struct scan_client key = {.port = port};

	memcpy(key.addr, addr, addr_len);
	for (unsigned i = 0; i < c->client_count; i++)
		if (memcmp(&c->clients[i], &key, sizeof(key)) == 0)
			return i + 1;
	if (c->client_count == SCAN_MAX_CLIENTS)
		return SCAN_MAX_CLIENTS;
	c->clients[c->client_count++] = key;
	return c->client_count;
}

/* One IP packet (v4 or v6) of len bytes, captured at ms. */
static void scan_ip(struct scan_convert *c, const uint8_t *p, size_t len, uint32_t ms)
{
	const uint8_t *src, *dst, *l4;
	size_t addr_len, l4_len;
	unsigned proto;

	if (len >= 20 && p[0] >> 4 == 4) {
		size_t ihl = (size_t)(p[0] & 0x0f) * 4, total = scan_be16(p + 2);

		if (ihl < 20 || total < ihl || total > len) {
			c->other++;
			return;
		}
		proto = p[9];
		src = p + 12;
		dst = p + 16;
		addr_len = 4;
		l4 = p + ihl;
		l4_len = total - ihl;
	} else if (len >= 40 && p[0] >> 4 == 6) {
		size_t payload = scan_be16(p + 4);

		if (40 + payload > len) {
			c->other++;
			return;
		}
		proto = p[6];
		src = p + 8;
		dst = p + 24;
		addr_len = 16;
		l4 = p + 40;
		l4_len = payload;
	} else {
		c->other++;
		return;
	}
	if (proto == 17 && l4_len >= 8) {
		uint16_t sport = scan_be16(l4), dport = scan_be16(l4 + 2);
		size_t ulen = scan_be16(l4 + 4);
		uint8_t head[8];
		unsigned client;

		if (ulen < 8 || ulen > l4_len ||
		    (dport != c->relay_port && sport != c->relay_port)) {
			c->other++;
			return;
		}
		ulen -= 8;
		if (dport == c->relay_port) {
			head[0] = 'C';
			client = scan_client_number(c, src, addr_len, sport);
		} else {
			head[0] = 'R';
			client = scan_client_number(c, dst, addr_len, dport);
		}
		head[1] = (uint8_t)client;
		head[2] = (uint8_t)(ulen & 0xff);
		head[3] = (uint8_t)(ulen >> 8);
		for (int i = 0; i < 4; i++)
			head[4 + i] = (uint8_t)(ms >> (8 * i));
		if (fwrite(head, 1, 8, c->udp) != 8 || fwrite(l4 + 8, 1, ulen, c->udp) != ulen) {
			fprintf(stderr, "pcap-scan: cannot write: %s\n", strerror(errno));
			exit(2);
		}
		c->udp_count++;
		return;
	}
	if (proto == 6 && l4_len >= 20) {
		uint16_t sport = scan_be16(l4), dport = scan_be16(l4 + 2);
		size_t off = (size_t)(l4[12] >> 4) * 4;

		if (off < 20 || off > l4_len || (dport != c->api_port && sport != c->api_port)) {
			c->other++;
			return;
		}
		c->tcp_segments++;
		if (l4_len > off) {
			if (fwrite(l4 + off, 1, l4_len - off, c->tcp) != l4_len - off) {
				fprintf(stderr, "pcap-scan: cannot write: %s\n", strerror(errno));
				exit(2);
			}
			c->tcp_bytes += l4_len - off;
		}
		return;
	}
	c->other++;
}

static int scan_convert(char **argv)
{
	size_t len, pos = 24;
	uint8_t *cap = scan_slurp(argv[0], &len);
	struct scan_convert *c = xcalloc(1, sizeof(*c));
	uint32_t magic, linktype;
	bool swap, nano;
	uint64_t first_us = 0;
	bool have_first = false;

	c->relay_port = (unsigned)strtoul(argv[1], NULL, 10);
	c->api_port = (unsigned)strtoul(argv[2], NULL, 10);
	if (len < 24) {
		fprintf(stderr, "pcap-scan: %s is not a pcap file\n", argv[0]);
		return 2;
	}
	magic = scan_u32(cap, false);
	if (magic == 0xa1b2c3d4 || magic == 0xa1b23c4d) {
		swap = false;
	} else if (magic == 0xd4c3b2a1 || magic == 0x4d3cb2a1) {
		swap = true;
	} else {
		fprintf(stderr, "pcap-scan: %s: not a pcap file (magic %08x)\n", argv[0], magic);
		return 2;
	}
	nano = scan_u32(cap, swap) == 0xa1b23c4d;
	linktype = scan_u32(cap + 20, swap);
	c->udp = fopen(argv[3], "wb");
	c->tcp = fopen(argv[4], "wb");
	if (c->udp == NULL || c->tcp == NULL) {
		fprintf(stderr, "pcap-scan: cannot create the output files\n");
		return 2;
	}
	while (pos + 16 <= len) {
		uint64_t sec = scan_u32(cap + pos, swap), frac = scan_u32(cap + pos + 4, swap);
		size_t incl = scan_u32(cap + pos + 8, swap), orig = scan_u32(cap + pos + 12, swap);
		const uint8_t *p = cap + pos + 16;
		uint64_t us = sec * 1000000 + (nano ? frac / 1000 : frac);
		size_t hdr;

		if (pos + 16 + incl > len) {
			fprintf(stderr, "pcap-scan: truncated capture\n");
			return 2;
		}
		pos += 16 + incl;
		if (incl != orig) {
			fprintf(stderr, "pcap-scan: a packet was cut to %zu of %zu bytes\n", incl,
				orig);
			return 2;
		}
		if (!have_first) {
			first_us = us;
			have_first = true;
		}
		switch (linktype) {
		case 1: /* Ethernet: the type at 12 (IPv4 or IPv6; anything else: other) */
			hdr = 14;
			break;
		case 113: /* Linux cooked v1 */
			hdr = 16;
			break;
		case 276: /* Linux cooked v2 */
			hdr = 20;
			break;
		case 0: /* BSD loopback: a 4-byte family */
			hdr = 4;
			break;
		case 12:
		case 101: /* raw IP */
			hdr = 0;
			break;
		default:
			fprintf(stderr, "pcap-scan: link type %u not handled\n", linktype);
			return 2;
		}
		if (incl < hdr) {
			c->other++;
			continue;
		}
		scan_ip(c, p + hdr, incl - hdr, (uint32_t)((us - first_us) / 1000));
	}
	if (fclose(c->udp) != 0 || fclose(c->tcp) != 0) {
		fprintf(stderr, "pcap-scan: cannot write the output files\n");
		return 2;
	}
	printf("%lu %u %lu %lu %lu\n", c->udp_count, c->client_count, c->tcp_segments,
	       c->tcp_bytes, c->other);
	free(c);
	free(cap);
	return 0;
}

/* ---- search ---- */

struct scan_form {
	const char *label;
	char form[16];
	uint8_t *bytes;
	size_t len;
};

static void scan_add_form(struct scan_form **forms, size_t *n, const char *label,
			  const char *form, const void *bytes, size_t len)
{
	struct scan_form *f;

	*forms = xrealloc(*forms, (*n + 1) * sizeof(**forms));
	f = &(*forms)[(*n)++];
	f->label = label;
	snprintf(f->form, sizeof(f->form), "%s", form);
	f->bytes = xmalloc(len ? len : 1);
	memcpy(f->bytes, bytes, len);
	f->len = len;
}

/*
 * The base64 characters of bytes that depend only on them: from a shift of 0, 1 or
 * 2 bytes, whole groups of 3 bytes give 4 characters each.
 */
static void scan_add_base64(struct scan_form **forms, size_t *n, const char *label,
			    const uint8_t *bytes, size_t len)
{
	for (size_t shift = 0; shift < 3 && shift < len; shift++) {
		size_t groups = (len - shift) / 3;
		char *std, *url;

		if (groups * 4 < SCAN_MIN_CORE)
			continue;
		std = xmalloc(sodium_base64_ENCODED_LEN(groups * 3,
							sodium_base64_VARIANT_ORIGINAL));
		url = xmalloc(sodium_base64_ENCODED_LEN(groups * 3,
							sodium_base64_VARIANT_URLSAFE));
		sodium_bin2base64(std, sodium_base64_ENCODED_LEN(groups * 3,
								 sodium_base64_VARIANT_ORIGINAL),
				  bytes + shift, groups * 3, sodium_base64_VARIANT_ORIGINAL);
		sodium_bin2base64(url, sodium_base64_ENCODED_LEN(groups * 3,
								 sodium_base64_VARIANT_URLSAFE),
				  bytes + shift, groups * 3, sodium_base64_VARIANT_URLSAFE);
		scan_add_form(forms, n, label, shift == 0 ? "base64" : "base64+", std,
			      groups * 4);
		if (strcmp(std, url) != 0)
			scan_add_form(forms, n, label, shift == 0 ? "base64url" : "base64url+",
				      url, groups * 4);
		free(std);
		free(url);
	}
}

static void scan_add_needle(struct scan_form **forms, size_t *n, const char *label,
			    const uint8_t *bytes, size_t len)
{
	char *hex = xmalloc(2 * len + 1);

	scan_add_form(forms, n, label, "raw", bytes, len);
	sodium_bin2hex(hex, 2 * len + 1, bytes, len);
	scan_add_form(forms, n, label, "hex", hex, 2 * len);
	for (size_t i = 0; i < 2 * len; i++)
		if (hex[i] >= 'a' && hex[i] <= 'f')
			hex[i] = (char)(hex[i] - 'a' + 'A');
	scan_add_form(forms, n, label, "HEX", hex, 2 * len);
	free(hex);
	scan_add_base64(forms, n, label, bytes, len);
}

static int scan_search(int argc, char **argv)
{
	FILE *f = fopen(argv[0], "r");
	struct scan_form *forms = NULL;
	size_t form_count = 0;
	unsigned needles = 0;
	unsigned long hits = 0;
	char line[4096];

	if (f == NULL) {
		fprintf(stderr, "pcap-scan: %s: %s\n", argv[0], strerror(errno));
		return 2;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char *label, *kind, *value, *save = NULL;
		uint8_t bytes[2048];
		size_t len;

		line[strcspn(line, "\r\n")] = '\0';
		label = strtok_r(line, " ", &save);
		kind = strtok_r(NULL, " ", &save);
		value = save;
		if (label == NULL || kind == NULL || value == NULL || *value == '\0')
			continue;
		label = xstrdup(label);
		if (strcmp(kind, "text") == 0) {
			len = strlen(value);
			if (len > sizeof(bytes))
				len = sizeof(bytes);
			memcpy(bytes, value, len);
		} else if (strcmp(kind, "hex") == 0) {
			if (sodium_hex2bin(bytes, sizeof(bytes), value, strlen(value), NULL, &len,
					   NULL) != 0)
				fatal("pcap-scan: bad hex needle %s", label);
		} else if (strcmp(kind, "b64") == 0) {
			if (sodium_base642bin(bytes, sizeof(bytes), value, strlen(value), NULL,
					      &len, NULL,
					      sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
				fatal("pcap-scan: bad base64url needle %s", label);
		} else {
			fatal("pcap-scan: needle kind %s (text, hex or b64)", kind);
		}
		if (len == 0)
			continue;
		scan_add_needle(&forms, &form_count, label, bytes, len);
		needles++;
	}
	fclose(f);
	for (int i = 1; i < argc; i++) {
		size_t len;
		uint8_t *hay = scan_slurp(argv[i], &len);

		for (size_t k = 0; k < form_count; k++) {
			const struct scan_form *form = &forms[k];
			const uint8_t *at = hay, *end = hay + len;
			const uint8_t *hit;

			while (at < end && (hit = memmem(at, (size_t)(end - at), form->bytes,
							 form->len)) != NULL) {
				printf("hit %s %s %s %zu\n", form->label, form->form, argv[i],
				       (size_t)(hit - hay));
				hits++;
				at = hit + 1;
			}
		}
		free(hay);
	}
	printf("%lu %u %zu\n", hits, needles, form_count);
	for (size_t k = 0; k < form_count; k++) {
		/* The forms of one needle share its label, and come one after the other. */
		if (k + 1 == form_count || forms[k + 1].label != forms[k].label)
			free((char *)forms[k].label);
		sodium_memzero(forms[k].bytes, forms[k].len);
		free(forms[k].bytes);
	}
	free(forms);
	return 0;
}

/* ---- random ---- */

struct scan_span {
	const uint8_t *p;
	size_t len;
};

static int scan_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int scan_random(char **argv)
{
	bool capture = strcmp(argv[0], "capture") == 0;
	size_t len, pos = 0, span_count = 0, span_cap = 1024, total = 0, run_count = 0;
	uint8_t *buf = scan_slurp(argv[1], &len);
	struct scan_span *spans = xmalloc(span_cap * sizeof(*spans));
	uint64_t *digests, *runs;
	unsigned long hist[256] = {0};
	size_t distinct = 0, repeated = 0;
	double chi2 = 0;

	if (!capture && strcmp(argv[0], "packets") != 0) {
		fprintf(stderr, "pcap-scan: random capture FILE | random packets FILE\n");
		return 2;
	}
	while (pos < len) {
		const uint8_t *p;
		size_t n;

		if (capture) {
			if (pos + 8 > len)
				break;
			n = (size_t)buf[pos + 2] | (size_t)buf[pos + 3] << 8;
			p = buf + pos + 8;
			if (pos + 8 + n > len)
				fatal("pcap-scan: truncated capture");
			pos += 8 + n;
			if (n < 32 || !((buf[pos - n - 8] == 'C' && p[0] == 3 && n >= 64) ||
					(buf[pos - n - 8] == 'R' && p[0] == 4)))
				continue;
			p += 16;
			n -= 16;
		} else {
			if (pos + 2 > len)
				break;
			n = (size_t)buf[pos] | (size_t)buf[pos + 1] << 8;
			p = buf + pos + 2;
			if (pos + 2 + n > len)
				fatal("pcap-scan: truncated packet file");
			pos += 2 + n;
		}
		if (span_count == span_cap)
			spans = xrealloc(spans, (span_cap *= 2) * sizeof(*spans));
		spans[span_count++] = (struct scan_span){p, n};
	}
	/* The relay sends the same DOWNLINK to every member: count each once. */
	digests = xcalloc(span_count ? span_count : 1, sizeof(*digests));
	for (size_t i = 0; i < span_count; i++) {
		uint8_t h[8];

		crypto_generichash(h, sizeof(h), spans[i].p, spans[i].len, NULL, 0);
		memcpy(&digests[i], h, 8);
	}
	for (size_t i = 0; i < span_count; i++) {
		bool seen = false;

		/* Duplicates of a fan-out are close together; a window keeps this linear. */
		for (size_t j = i > 256 ? i - 256 : 0; j < i && !seen; j++)
			seen = digests[j] == digests[i] && spans[j].len == spans[i].len &&
			       memcmp(spans[j].p, spans[i].p, spans[i].len) == 0;
		if (seen) {
			spans[i].len = 0;
			continue;
		}
		distinct++;
		total += spans[i].len;
		for (size_t k = 0; k < spans[i].len; k++)
			hist[spans[i].p[k]]++;
	}
	/* Every 8-byte run, tagged with its datagram, sorted: equal runs are neighbours. */
	runs = xmalloc((total ? total : 1) * 2 * sizeof(*runs));
	for (size_t i = 0; i < span_count; i++) {
		for (size_t k = 0; k + 8 <= spans[i].len; k++) {
			uint64_t v;

			memcpy(&v, spans[i].p + k, 8);
			runs[2 * run_count] = v;
			runs[2 * run_count + 1] = i;
			run_count++;
		}
	}
	qsort(runs, run_count, 2 * sizeof(*runs), scan_cmp_u64);
	for (size_t i = 1; i < run_count; i++)
		if (runs[2 * i] == runs[2 * (i - 1)] && runs[2 * i + 1] != runs[2 * (i - 1) + 1])
			repeated++;
	if (total > 0) {
		double expected = (double)total / 256.0;

		for (int b = 0; b < 256; b++)
			chi2 += ((double)hist[b] - expected) * ((double)hist[b] - expected) /
				expected;
	}
	bool ok = total >= 4096 && chi2 <= SCAN_CHI2_LIMIT && repeated == 0;

	printf("random: %zu distinct %s (of %zu), %zu bytes: chi-square %.1f (limit %.0f), "
	       "%zu 8-byte runs repeated across them: %s\n",
	       distinct, capture ? "datagrams" : "packets", span_count, total, chi2,
	       SCAN_CHI2_LIMIT, repeated, ok ? "random-looking" : "NOT random-looking");
	free(runs);
	free(digests);
	free(spans);
	free(buf);
	return ok ? 0 : 1;
}

static int scan_ratchet(char **argv)
{
	static const char salt[] = "salon ratchet v1", info[] = "salon sender key ratchet";
	uint8_t key[32], prk[HKDF_SHA512_HASH_LEN];
	char hex[65];
	size_t len;
	long n = strtol(argv[1], NULL, 10);

	if (sodium_hex2bin(key, sizeof(key), argv[0], strlen(argv[0]), NULL, &len, NULL) != 0 ||
	    len != sizeof(key) || n < 1 || n > 1000)
		fatal("pcap-scan: ratchet KEYHEX (32 bytes) N (1 to 1000)");
	for (long i = 0; i < n; i++) {
		hkdf_sha512_extract(prk, (const uint8_t *)salt, sizeof(salt) - 1, key,
				    sizeof(key));
		if (hkdf_sha512_expand(key, sizeof(key), prk, sizeof(prk), (const uint8_t *)info,
				       sizeof(info) - 1) != 0)
			fatal("pcap-scan: HKDF failed");
		sodium_bin2hex(hex, sizeof(hex), key, sizeof(key));
		printf("%s\n", hex);
	}
	sodium_memzero(key, sizeof(key));
	sodium_memzero(prk, sizeof(prk));
	return 0;
}

int main(int argc, char **argv)
{
	if (sodium_init() < 0)
		fatal("pcap-scan: libsodium failed to start");
	if (argc == 7 && strcmp(argv[1], "convert") == 0)
		return scan_convert(argv + 2);
	if (argc >= 4 && strcmp(argv[1], "search") == 0)
		return scan_search(argc - 2, argv + 2);
	if (argc == 4 && strcmp(argv[1], "random") == 0)
		return scan_random(argv + 2);
	if (argc == 4 && strcmp(argv[1], "ratchet") == 0)
		return scan_ratchet(argv + 2);
	fprintf(stderr, "usage: see the comment at the top of tests/pcap-scan.c\n");
	return 2;
}
