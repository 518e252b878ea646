/*
 * relaytool.c - a test client that drives a real salond's relay with tickets the
 * API issued, to show the whole path: API join -> ticket -> Noise NK handshake ->
 * MEDIA from a speaker -> one DOWNLINK to each listener. Its members are bare: they
 * speak the hop layer, and their MEDIA bodies are SFrame-shaped (a real SFrame
 * header, then a tag byte, a frame number and filler; no end-to-end encryption).
 *
 *   relaytool HOST PORT RELAY_PUBLIC_B64 FRAMES SPEAKER_TICKET LISTENER_TICKET...
 *       Every member completes a handshake and waits for its DOWNLINK_KEY. Then the
 *       first listener sends a MEDIA frame (which the relay must drop: listeners may
 *       not speak), and the speaker sends FRAMES frames. Each listener must receive
 *       every speaker frame exactly once, in a DOWNLINK it can open, and never the
 *       listener's frame. The speaker is the room's host, which is member 1 (the
 *       API numbers members from 1, the host first): its frames carry KID 1 << 8.
 *
 *   relaytool removed HOST PORT RELAY_PUBLIC M_MEMBER M_TICKET S_TICKET L_TICKET
 *                     READY GO
 *       A member M (on stage, member number M_MEMBER) that is about to be removed,
 *       the host S (member 1) and a listener L. M and S each send 20 frames, which L
 *       must all get (M is heard while it is a member). Then relaytool writes the
 *       file READY and waits up to 30 s for the file GO (the test removes M through
 *       the API meanwhile). M must get CLOSE (removed) and L a new downlink key.
 *       M then sends 50 frames on its old session, then S 20 more: L must get all
 *       of S's and none of M's, M nothing at all; M's resume ticket and its join
 *       ticket then get no handshake answer.
 *
 *   relaytool forge HOST PORT RELAY_PUBLIC M_MEMBER M_TICKET VICTIM L_TICKET
 *       A speaker M sends, in this order, 30 frames under the KID of member VICTIM,
 *       30 whose SFrame header is cut short, 30 under its own member number with an
 *       epoch nobody issued (0x77), and 30 under its own KID (epoch 0). The listener
 *       L must get none of the first two kinds, all of the last two (the relay can
 *       tell a member's number, not which epochs it issued: receivers drop those
 *       frames for want of a key), each with the source tag M. Frames with the
 *       source tag VICTIM (a real speaker's audio) are counted apart.
 *
 * Prints one line of results; exits 0 when all of that holds, 1 otherwise. Every
 * wait is bounded by a deadline.
 */
#include "config.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "encoding.h"
#include "hop.h"
#include "sframe.h"
#include "util.h"
#include "wire.h"

#define DEADLINE_MS 5000
#define GO_DEADLINE_MS 30000
#define QUIET_MS 500
#define FRAME_LEN 60
#define MAX_MEMBERS 64
#define MAX_FRAMES 4096
#define LISTENER_MARK 0xEE
#define HOST_MEMBER 1

struct member {
	int fd;
	uint32_t member_id;        /* for the frames it sends (KID) */
	struct hop_session session;
	struct downlink_key downlink;
	bool have_key;
	unsigned key_changes;
	bool closed;
	int close_reason;
	uint8_t resume[WIRE_TICKET_LEN];
	bool have_resume;
	uint64_t ctr;              /* SFrame counter of the frames it sends */
	/* Frames received: per tag, which numbers, and from which source. */
	unsigned received;
	unsigned duplicates;
	unsigned bad;
	unsigned downlinks;        /* DOWNLINK datagrams received at all */
	unsigned char *seen;       /* default mode: speaker frame numbers */
	unsigned by_tag[256];      /* scripted modes: frames per tag */
	uint32_t tag_source[256];  /* the source tag of the last frame per tag */
	bool tag_source_mixed[256];
	uint64_t tag_kid[256];     /* the KID of the last frame per tag */
	uint32_t foreign_source;   /* a real speaker's member number, or 0 */
	unsigned foreign;          /* frames from foreign_source, whatever they hold */
};

static int relaytool_connect(const char *host, const char *port)
{
	struct addrinfo hints = {.ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICHOST};
	struct addrinfo *ai;
	int fd;

	if (getaddrinfo(host, port, &hints, &ai) != 0)
		fatal("relaytool: bad relay address %s %s", host, port);
	fd = socket(ai->ai_family, SOCK_DGRAM, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0)
		fatal("relaytool: cannot reach %s %s: %s", host, port, strerror(errno));
	freeaddrinfo(ai);
	return fd;
}

/* Waits up to the deadline for one datagram; returns its length or -1. */
static ssize_t relaytool_recv(int fd, uint8_t *buf, size_t cap, uint64_t deadline)
{
	for (;;) {
		uint64_t now = util_now_ms();
		struct pollfd pfd = {.fd = fd, .events = POLLIN};

		if (now >= deadline)
			return -1;
		if (poll(&pfd, 1, (int)(deadline - now)) > 0)
			return recv(fd, buf, cap, 0);
	}
}

static void relaytool_send_inner(struct member *m, const uint8_t *inner, size_t len)
{
	uint8_t out[WIRE_MAX_DATAGRAM];
	size_t out_len;

	if (hop_seal(&m->session, inner, len, out, sizeof(out), &out_len) != 0)
		fatal("relaytool: hop_seal failed");
	if (send(m->fd, out, out_len, 0) < 0 && errno != ECONNREFUSED)
		fatal("relaytool: send: %s", strerror(errno));
}

/*
 * Writes a FRAME_LEN-byte frame: an SFrame header for kid (CTR: the member's next
 * counter), the tag, the frame number, filler. Returns the header's length.
 */
static size_t relaytool_frame(struct member *m, uint64_t kid, uint8_t tag, uint32_t number,
			      uint8_t frame[FRAME_LEN])
{
	struct sframe_header hdr = {.kid = kid, .ctr = m->ctr++};
	int n;

	memset(frame, 0x5A, FRAME_LEN);
	n = sframe_header_encode(frame, FRAME_LEN, &hdr);
	if (n <= 0 || n + 5 > FRAME_LEN)
		fatal("relaytool: cannot encode an SFrame header");
	frame[n] = tag;
	put_u32be(frame + n + 1, number);
	return (size_t)n;
}

/* Sends frame number under kid with tag from m. */
static void relaytool_send_frame(struct member *m, uint64_t kid, uint8_t tag, uint32_t number)
{
	uint8_t frame[FRAME_LEN], inner[WIRE_MAX_INNER];

	(void)relaytool_frame(m, kid, tag, number, frame);
	relaytool_send_inner(m, inner, wire_inner_write_media(inner, frame, FRAME_LEN));
}

/* Handles one datagram from the relay: keys, tickets, closes and frames. */
static void relaytool_handle(struct member *m, const uint8_t *buf, size_t len, unsigned frames)
{
	struct wire_datagram d;
	struct wire_inner inner;
	struct sframe_header hdr;
	uint8_t pt[WIRE_MAX_DATAGRAM];
	size_t pt_len;
	uint32_t source;
	int n;

	if (wire_parse(buf, len, &d) != 0) {
		m->bad++;
		return;
	}
	if (d.type == WIRE_TRANSPORT) {
		if (hop_open(&m->session, &d, pt, sizeof(pt), &pt_len) != 0 ||
		    wire_inner_parse(pt, pt_len, &inner) != 0) {
			m->bad++;
			return;
		}
		if (inner.type == WIRE_INNER_DOWNLINK_KEY) {
			memset(&m->downlink, 0, sizeof(m->downlink));
			m->downlink.key_index = inner.key_index;
			memcpy(m->downlink.key, inner.key, WIRE_KEY_LEN);
			replay_init(&m->downlink.replay);
			m->have_key = true;
			m->key_changes++;
		} else if (inner.type == WIRE_INNER_RESUME_TICKET) {
			memcpy(m->resume, inner.ticket, WIRE_TICKET_LEN);
			m->have_resume = true;
		} else if (inner.type == WIRE_INNER_CLOSE) {
			m->closed = true;
			m->close_reason = (int)inner.reason;
		}
		return;
	}
	if (d.type == WIRE_DOWNLINK)
		m->downlinks++;
	if (d.type != WIRE_DOWNLINK || !m->have_key || d.key_index != m->downlink.key_index ||
	    downlink_open(&m->downlink, &d, &source, pt, sizeof(pt), &pt_len) != 0) {
		m->bad++;
		return;
	}
	/* A real client's frames (end-to-end encrypted audio): only counted. */
	if (m->foreign_source != 0 && source == m->foreign_source) {
		m->foreign++;
		return;
	}
	if (pt_len != FRAME_LEN || (n = sframe_header_decode(&hdr, pt, pt_len)) < 0 ||
	    (size_t)n + 5 > pt_len) {
		m->bad++;
		return;
	}
	uint8_t tag = pt[n];
	unsigned index = get_u32be(pt + n + 1);

	if (m->seen == NULL) {
		/* The scripted modes: count per tag, remember the source and KID. */
		if (m->by_tag[tag] > 0 && m->tag_source[tag] != source)
			m->tag_source_mixed[tag] = true;
		m->by_tag[tag]++;
		m->tag_source[tag] = source;
		m->tag_kid[tag] = hdr.kid;
		m->received++;
		return;
	}
	if (tag == LISTENER_MARK || index >= frames || source != HOST_MEMBER ||
	    hdr.kid != (uint64_t)HOST_MEMBER << 8) {
		m->bad++;
	} else if (m->seen[index]) {
		m->duplicates++;
	} else {
		m->seen[index] = 1;
		m->received++;
	}
}

/* Drains whatever m has received within wait_ms. */
static void relaytool_drain(struct member *m, unsigned frames, int wait_ms)
{
	uint8_t buf[WIRE_MAX_DATAGRAM];
	uint64_t deadline = util_now_ms() + (uint64_t)wait_ms;
	ssize_t n;

	while ((n = relaytool_recv(m->fd, buf, sizeof(buf), deadline)) > 0)
		relaytool_handle(m, buf, (size_t)n, frames);
}

/*
 * Waits until cond(m, arg) holds, handling m's datagrams; false at the deadline.
 */
static bool relaytool_wait(struct member *m, bool (*cond)(const struct member *, unsigned),
			   unsigned arg, int wait_ms)
{
	uint8_t buf[WIRE_MAX_DATAGRAM];
	uint64_t deadline = util_now_ms() + (uint64_t)wait_ms;
	ssize_t n;

	while (!cond(m, arg)) {
		n = relaytool_recv(m->fd, buf, sizeof(buf), deadline);
		if (n < 0)
			return false;
		if (n > 0)
			relaytool_handle(m, buf, (size_t)n, 0);
	}
	return true;
}

/* Sends a HANDSHAKE_INIT with ticket; true when the relay answers with a session. */
static bool relaytool_try_handshake(struct member *m, const uint8_t relay_public[32],
				    const uint8_t ticket[WIRE_TICKET_LEN], int wait_ms)
{
	uint8_t out[WIRE_HANDSHAKE_INIT_LEN];
	uint8_t buf[WIRE_MAX_DATAGRAM];
	struct hop_initiator init;
	struct wire_datagram d;
	uint64_t deadline = util_now_ms() + (uint64_t)wait_ms;
	ssize_t n;

	if (hop_initiator_start(&init, relay_public, ticket, randombytes_random(), out) != 0)
		fatal("relaytool: handshake start failed");
	if (send(m->fd, out, sizeof(out), 0) < 0 && errno != ECONNREFUSED)
		fatal("relaytool: send: %s", strerror(errno));
	while ((n = relaytool_recv(m->fd, buf, sizeof(buf), deadline)) >= 0) {
		if (n > 0 && wire_parse(buf, (size_t)n, &d) == 0 &&
		    d.type == WIRE_HANDSHAKE_RESP &&
		    hop_initiator_finish(&init, &d, &m->session) == 0)
			return true;
	}
	sodium_memzero(&init, sizeof(init));
	return false;
}

static void relaytool_handshake(struct member *m, const uint8_t relay_public[32],
				const char *ticket_text)
{
	uint8_t ticket[WIRE_TICKET_LEN];
	uint8_t buf[WIRE_MAX_DATAGRAM];
	uint64_t deadline = util_now_ms() + DEADLINE_MS;
	ssize_t n;

	if (base64_decode(ticket, sizeof(ticket), ticket_text) != 0)
		fatal("relaytool: bad ticket");
	if (!relaytool_try_handshake(m, relay_public, ticket, DEADLINE_MS))
		fatal("relaytool: no valid handshake response within %d ms", DEADLINE_MS);
	while (!m->have_key) {
		n = relaytool_recv(m->fd, buf, sizeof(buf), deadline);
		if (n < 0)
			fatal("relaytool: no downlink key within %d ms", DEADLINE_MS);
		relaytool_handle(m, buf, (size_t)n, 0);
	}
}

static int relaytool_fan_out(int argc, char **argv)
{
	struct member members[MAX_MEMBERS];
	uint8_t relay_public[32];
	uint8_t frame[FRAME_LEN];
	uint8_t inner[WIRE_MAX_INNER];
	uint8_t buf[WIRE_MAX_DATAGRAM];
	unsigned frames, count, i, done = 0, total_bad = 0, total_dup = 0;
	uint64_t deadline;

	if (argc < 7 || argc - 5 > MAX_MEMBERS) {
		fprintf(stderr, "usage: relaytool HOST PORT RELAY_PUBLIC FRAMES SPEAKER_TICKET "
				"LISTENER_TICKET... (see tests/relaytool.c)\n");
		return 2;
	}
	if (base64_decode(relay_public, sizeof(relay_public), argv[3]) != 0)
		fatal("relaytool: bad relay public key");
	frames = (unsigned)strtoul(argv[4], NULL, 10);
	count = (unsigned)argc - 5;
	memset(members, 0, sizeof(members));
	for (i = 0; i < count; i++) {
		members[i].fd = relaytool_connect(argv[1], argv[2]);
		members[i].seen = xcalloc(frames ? frames : 1, 1);
		relaytool_handshake(&members[i], relay_public, argv[5 + i]);
	}

	/* A listener's frame first: the relay must drop it. */
	(void)relaytool_frame(&members[1], 0, LISTENER_MARK, 0, frame);
	relaytool_send_inner(&members[1], inner, wire_inner_write_media(inner, frame, FRAME_LEN));
	for (i = 0; i < frames; i++)
		relaytool_send_frame(&members[0], (uint64_t)HOST_MEMBER << 8, 'S', i);

	deadline = util_now_ms() + DEADLINE_MS;
	while (done < count - 1 && util_now_ms() < deadline) {
		struct pollfd pfds[MAX_MEMBERS];

		for (i = 1; i < count; i++)
			pfds[i - 1] = (struct pollfd){.fd = members[i].fd, .events = POLLIN};
		if (poll(pfds, count - 1, 100) <= 0)
			continue;
		done = 0;
		for (i = 1; i < count; i++) {
			ssize_t n;

			if (pfds[i - 1].revents & POLLIN) {
				n = recv(members[i].fd, buf, sizeof(buf), 0);
				if (n > 0)
					relaytool_handle(&members[i], buf, (size_t)n, frames);
			}
			if (members[i].received == frames)
				done++;
		}
	}
	/* The speaker must not hear itself, and nothing else may be queued. */
	for (i = 0; i < count; i++) {
		ssize_t n;

		while ((n = recv(members[i].fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
			relaytool_handle(&members[i], buf, (size_t)n, frames);
		total_bad += members[i].bad;
		total_dup += members[i].duplicates;
	}
	printf("relaytool: %u listeners, %u of them got all %u frames, speaker got %u, "
	       "%u duplicates, %u bad or unexpected\n",
	       count - 1, done, frames, members[0].received, total_dup, total_bad);
	for (i = 0; i < count; i++) {
		free(members[i].seen);
		close(members[i].fd);
	}
	return done == count - 1 && members[0].received == 0 && total_dup == 0 && total_bad == 0
		       ? 0
		       : 1;
}

static bool relaytool_has_tag_count(const struct member *m, unsigned tag_and_count)
{
	return m->by_tag[tag_and_count & 0xff] >= tag_and_count >> 8;
}

static bool relaytool_is_closed(const struct member *m, unsigned unused)
{
	(void)unused;
	return m->closed;
}

static bool relaytool_has_key_changes(const struct member *m, unsigned changes)
{
	return m->key_changes >= changes;
}

/* tag_and_count for relaytool_has_tag_count. */
static unsigned relaytool_tc(uint8_t tag, unsigned count)
{
	return count << 8 | tag;
}

static bool relaytool_file_exists(const char *path)
{
	return access(path, F_OK) == 0;
}

static int relaytool_removed(char **argv)
{
	struct member mm = {0}, s = {0}, l = {0};
	uint8_t relay_public[32], join_ticket[WIRE_TICKET_LEN];
	uint64_t deadline;
	bool ok = true, resume_refused, join_refused;
	unsigned to_m_before, i;
	FILE *f;

	if (base64_decode(relay_public, sizeof(relay_public), argv[2]) != 0 ||
	    base64_decode(join_ticket, sizeof(join_ticket), argv[4]) != 0)
		fatal("relaytool: bad relay public key or ticket");
	mm.member_id = (uint32_t)strtoul(argv[3], NULL, 10);
	s.member_id = HOST_MEMBER;
	mm.fd = relaytool_connect(argv[0], argv[1]);
	s.fd = relaytool_connect(argv[0], argv[1]);
	l.fd = relaytool_connect(argv[0], argv[1]);
	relaytool_handshake(&mm, relay_public, argv[4]);
	relaytool_handshake(&s, relay_public, argv[5]);
	relaytool_handshake(&l, relay_public, argv[6]);

	/* While a member, M is heard. */
	for (i = 0; i < 20; i++) {
		relaytool_send_frame(&mm, (uint64_t)mm.member_id << 8, 'M', i);
		relaytool_send_frame(&s, (uint64_t)HOST_MEMBER << 8, 'S', i);
	}
	if (!relaytool_wait(&l, relaytool_has_tag_count, relaytool_tc('M', 20), DEADLINE_MS) ||
	    !relaytool_wait(&l, relaytool_has_tag_count, relaytool_tc('S', 20), DEADLINE_MS) ||
	    l.tag_source_mixed['M'] || l.tag_source['M'] != mm.member_id ||
	    l.tag_source['S'] != HOST_MEMBER) {
		printf("relaytool removed: before the removal L got %u of M's and %u of S's "
		       "20 frames (sources %u, %u)\n", l.by_tag['M'], l.by_tag['S'],
		       l.tag_source['M'], l.tag_source['S']);
		return 1;
	}
	relaytool_drain(&mm, 0, 50);
	relaytool_drain(&s, 0, 0);

	f = fopen(argv[7], "w");
	if (f == NULL || fclose(f) != 0)
		fatal("relaytool: cannot write %s", argv[7]);
	deadline = util_now_ms() + GO_DEADLINE_MS;
	while (!relaytool_file_exists(argv[8])) {
		if (util_now_ms() >= deadline)
			fatal("relaytool: no %s within %d ms", argv[8], GO_DEADLINE_MS);
		relaytool_drain(&l, 0, 20);
		relaytool_drain(&s, 0, 0);
		relaytool_drain(&mm, 0, 0);
	}
	/* The relay closed M's session (removed) and rotated the room's downlink key. */
	if (!relaytool_wait(&mm, relaytool_is_closed, 0, DEADLINE_MS) ||
	    mm.close_reason != WIRE_CLOSE_REMOVED) {
		printf("relaytool removed: M got no CLOSE (removed) from the relay (%d)\n",
		       mm.closed ? mm.close_reason : -1);
		return 1;
	}
	if (!relaytool_wait(&l, relaytool_has_key_changes, 2, DEADLINE_MS)) {
		printf("relaytool removed: L got no new downlink key after the removal\n");
		return 1;
	}
	to_m_before = mm.downlinks;

	/* M keeps talking on its old session; then S, whom L must still hear. */
	for (i = 0; i < 50; i++)
		relaytool_send_frame(&mm, (uint64_t)mm.member_id << 8, 'm', i);
	for (i = 0; i < 20; i++)
		relaytool_send_frame(&s, (uint64_t)HOST_MEMBER << 8, 'T', i);
	if (!relaytool_wait(&l, relaytool_has_tag_count, relaytool_tc('T', 20), DEADLINE_MS))
		ok = false;
	relaytool_drain(&l, 0, QUIET_MS);
	relaytool_drain(&mm, 0, 0);
	if (l.by_tag['m'] != 0 || l.bad != 0 || mm.downlinks != to_m_before)
		ok = false;

	/* No way back in: neither its resume ticket nor its join ticket opens a session. */
	resume_refused = !mm.have_resume ||
			 !relaytool_try_handshake(&mm, relay_public, mm.resume, 1000);
	join_refused = !relaytool_try_handshake(&mm, relay_public, join_ticket, 1000);
	ok = ok && mm.have_resume && resume_refused && join_refused;

	printf("relaytool removed: before: L got M's 20 and S's 20 frames; M closed (removed), "
	       "L rekeyed; after: L got %u of M's 50 frames and %u of S's 20, %u bad; M got %u "
	       "downlinks; M's resume ticket %s, its join ticket %s\n",
	       l.by_tag['m'], l.by_tag['T'], l.bad, mm.downlinks - to_m_before,
	       !mm.have_resume ? "MISSING" : resume_refused ? "refused" : "ACCEPTED",
	       join_refused ? "refused" : "ACCEPTED");
	close(mm.fd);
	close(s.fd);
	close(l.fd);
	return ok ? 0 : 1;
}

static int relaytool_forge(char **argv)
{
	struct member mm = {0}, l = {0};
	uint8_t relay_public[32], frame[FRAME_LEN], inner[WIRE_MAX_INNER];
	uint32_t victim = (uint32_t)strtoul(argv[5], NULL, 10);
	uint64_t own;
	bool ok;
	unsigned i;

	if (base64_decode(relay_public, sizeof(relay_public), argv[2]) != 0)
		fatal("relaytool: bad relay public key");
	mm.member_id = (uint32_t)strtoul(argv[3], NULL, 10);
	if (victim == mm.member_id)
		fatal("relaytool: the victim must be another member");
	own = (uint64_t)mm.member_id << 8;
	mm.fd = relaytool_connect(argv[0], argv[1]);
	l.fd = relaytool_connect(argv[0], argv[1]);
	/* The victim may be a real speaker: its genuine frames are counted apart. */
	l.foreign_source = victim;
	relaytool_handshake(&mm, relay_public, argv[4]);
	relaytool_handshake(&l, relay_public, argv[6]);

	for (i = 0; i < 30; i++)
		relaytool_send_frame(&mm, (uint64_t)victim << 8, 'V', i);
	for (i = 0; i < 30; i++) {
		/* X=1, K=7: an 8-byte KID, of which the body holds 2 bytes. */
		memset(frame, 0xFF, 3);
		frame[1] = 'C';
		relaytool_send_inner(&mm, inner, wire_inner_write_media(inner, frame, 3));
	}
	for (i = 0; i < 30; i++)
		relaytool_send_frame(&mm, own | 0x77, 'E', i);
	for (i = 0; i < 30; i++)
		relaytool_send_frame(&mm, own, 'O', i);
	/* The last kind sent arrives last: once all of it is in, so is anything else. */
	(void)relaytool_wait(&l, relaytool_has_tag_count, relaytool_tc('O', 30), DEADLINE_MS);
	relaytool_drain(&l, 0, QUIET_MS);
	ok = l.by_tag['V'] == 0 && l.by_tag['C'] == 0 && l.by_tag['E'] == 30 &&
	     l.by_tag['O'] == 30 && !l.tag_source_mixed['E'] && !l.tag_source_mixed['O'] &&
	     l.tag_source['E'] == mm.member_id && l.tag_source['O'] == mm.member_id &&
	     l.tag_kid['E'] == (own | 0x77) && l.tag_kid['O'] == own && l.bad == 0 &&
	     l.received == 60;
	printf("relaytool forge: L got %u of 30 frames under member %u's KID, %u of 30 with a "
	       "cut header, %u of 30 under an unissued epoch (source %u), %u of 30 genuine "
	       "(source %u), %u other, %u bad; and %u of member %u's own frames\n",
	       l.by_tag['V'], victim, l.by_tag['C'], l.by_tag['E'], l.tag_source['E'],
	       l.by_tag['O'], l.tag_source['O'], l.received - l.by_tag['E'] - l.by_tag['O'],
	       l.bad, l.foreign, victim);
	close(mm.fd);
	close(l.fd);
	return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (sodium_init() < 0)
		fatal("relaytool: libsodium failed to start");
	if (argc == 11 && strcmp(argv[1], "removed") == 0)
		return relaytool_removed(argv + 2);
	if (argc == 9 && strcmp(argv[1], "forge") == 0)
		return relaytool_forge(argv + 2);
	return relaytool_fan_out(argc, argv);
}
