/*
 * hop.c - the hop-by-hop transport: Noise NK handshakes wrapped in salon's
 * datagrams, explicit-counter ChaCha20-Poly1305 sessions with an anti-replay
 * window, and the per-room downlink key (see hop.h).
 *
 * The per-datagram paths (hop_seal, hop_open, downlink_seal, downlink_open) do not
 * allocate and encrypt in place where the caller's buffers allow it, because the
 * relay runs them for every listener of a room.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "hop.h"
#include "util.h"

#define REPLAY_WORDS (REPLAY_WINDOW_BITS / 64)

_Static_assert(REPLAY_WINDOW_BITS % 64 == 0, "the window is a whole number of words");

void replay_init(struct replay_window *w)
{
	memset(w, 0, sizeof(*w));
}

bool replay_check(const struct replay_window *w, uint64_t counter)
{
	uint64_t highest, index;

	/* top is highest + 1, so the largest counter cannot be represented. */
	if (counter == UINT64_MAX)
		return false;
	if (w->top == 0 || counter >= w->top)
		return true;
	highest = w->top - 1;
	if (highest - counter >= REPLAY_WINDOW_BITS)
		return false;
	index = counter % REPLAY_WINDOW_BITS;
	return (w->bitmap[index / 64] & (UINT64_C(1) << (index % 64))) == 0;
}

/*
 * Forgets the counters that share slots with first .. first + count - 1, which are
 * about to enter the window. The bitmap is a ring indexed by counter modulo its
 * size, so a slot is reused exactly when its old counter falls out of the window.
 */
static void replay_clear(struct replay_window *w, uint64_t first, uint64_t count)
{
	uint64_t index = first % REPLAY_WINDOW_BITS;

	if (count >= REPLAY_WINDOW_BITS) {
		memset(w->bitmap, 0, sizeof(w->bitmap));
		return;
	}
	while (count > 0) {
		unsigned bit = (unsigned)(index % 64);
		uint64_t n = 64 - bit;
		uint64_t mask;

		if (n > count)
			n = count;
		mask = n == 64 ? UINT64_MAX : ((UINT64_C(1) << n) - 1) << bit;
		w->bitmap[index / 64] &= ~mask;
		count -= n;
		index = (index + n) % REPLAY_WINDOW_BITS;
	}
}

void replay_accept(struct replay_window *w, uint64_t counter)
{
	uint64_t index;

	if (!replay_check(w, counter))
		return;
	if (counter >= w->top) {
		/* counter - top + 1 cannot overflow: counter < UINT64_MAX here. */
		replay_clear(w, w->top, counter - w->top + 1);
		w->top = counter + 1;
	}
	index = counter % REPLAY_WINDOW_BITS;
	w->bitmap[index / 64] |= UINT64_C(1) << (index % 64);
}

int hop_seal(struct hop_session *s, const uint8_t *pt, size_t pt_len, uint8_t *out,
	     size_t out_cap, size_t *out_len)
{
	if (pt_len > WIRE_MAX_INNER)
		return -EMSGSIZE;
	if (s->send_counter >= HOP_REJECT_AFTER_MESSAGES)
		return -ERANGE;
	if (out_cap < WIRE_TRANSPORT_HEADER_LEN + pt_len + WIRE_TAG_LEN)
		return -EMSGSIZE;
	wire_write_transport_header(out, s->remote_index, s->send_counter);
	/* pt may already sit at out + 16: libsodium encrypts in place. */
	noise_encrypt(s->send_key, s->send_counter, out, WIRE_TRANSPORT_HEADER_LEN, pt, pt_len,
		      out + WIRE_TRANSPORT_HEADER_LEN);
	s->send_counter++;
	*out_len = WIRE_TRANSPORT_HEADER_LEN + pt_len + WIRE_TAG_LEN;
	return 0;
}

int hop_open(struct hop_session *s, const struct wire_datagram *d, uint8_t *pt, size_t pt_cap,
	     size_t *pt_len)
{
	size_t len;
	int r;

	if (d->type != WIRE_TRANSPORT || d->receiver_index != s->local_index ||
	    d->payload_len < WIRE_TAG_LEN)
		return -EINVAL;
	len = d->payload_len - WIRE_TAG_LEN;
	if (pt_cap < len)
		return -EMSGSIZE;
	/*
	 * Authenticate first: the window moves only for genuine datagrams, so a forged
	 * counter can neither advance it nor make us drop the real one later.
	 */
	r = noise_decrypt(s->recv_key, d->counter, d->header, WIRE_TRANSPORT_HEADER_LEN,
			  d->payload, d->payload_len, pt);
	if (r < 0)
		return -EBADMSG;
	if (!replay_check(&s->replay, d->counter))
		return -EALREADY;
	replay_accept(&s->replay, d->counter);
	*pt_len = len;
	return 0;
}

/* Fills a fresh session from a finished handshake; wipes the temporaries. */
static int hop_session_from(const struct noise_handshake *hs, uint32_t local_index,
			    uint32_t remote_index, struct hop_session *session)
{
	struct noise_cipher send, recv;
	int r;

	r = noise_handshake_split(hs, &send, &recv, NULL);
	if (r < 0)
		return r;
	memset(session, 0, sizeof(*session));
	session->local_index = local_index;
	session->remote_index = remote_index;
	memcpy(session->send_key, send.key, WIRE_KEY_LEN);
	memcpy(session->recv_key, recv.key, WIRE_KEY_LEN);
	session->send_counter = 0;
	replay_init(&session->replay);
	session->created_ms = util_now_ms();
	sodium_memzero(&send, sizeof(send));
	sodium_memzero(&recv, sizeof(recv));
	return 0;
}

int hop_initiator_start(struct hop_initiator *init, const uint8_t relay_public[32],
			const uint8_t ticket[WIRE_TICKET_LEN], uint32_t local_index,
			uint8_t out[WIRE_HANDSHAKE_INIT_LEN])
{
	uint8_t msg[WIRE_NOISE_INIT_LEN];
	size_t msg_len = 0;
	int r;

	r = noise_nk_init(&init->hs, NOISE_INITIATOR, (const uint8_t *)HOP_PROLOGUE,
			  strlen(HOP_PROLOGUE), NULL, relay_public);
	if (r < 0)
		return r;
	init->local_index = local_index;
	r = noise_handshake_write(&init->hs, ticket, WIRE_TICKET_LEN, msg, sizeof(msg), &msg_len);
	if (r == 0 && msg_len != WIRE_NOISE_INIT_LEN)
		r = -EPROTO;
	if (r < 0) {
		noise_handshake_wipe(&init->hs);
		return r;
	}
	wire_write_handshake_init(out, local_index, msg);
	return 0;
}

int hop_initiator_finish(struct hop_initiator *init, const struct wire_datagram *resp,
			 struct hop_session *session)
{
	struct noise_handshake attempt;
	uint8_t empty[1];
	size_t empty_len = 0;
	int r;

	if (resp->type != WIRE_HANDSHAKE_RESP || resp->receiver_index != init->local_index ||
	    resp->payload_len != WIRE_NOISE_RESP_LEN)
		return -EINVAL;
	/*
	 * Read into a copy, so that a forged response (the receiver index travels in
	 * clear) does not destroy the handshake the genuine response will complete.
	 */
	attempt = init->hs;
	r = noise_handshake_read(&attempt, resp->payload, resp->payload_len, empty, 0,
				 &empty_len);
	if (r == 0 && empty_len != 0)
		r = -EBADMSG;
	if (r == 0)
		r = hop_session_from(&attempt, init->local_index, resp->sender_index, session);
	if (r == 0)
		noise_handshake_wipe(&init->hs);
	noise_handshake_wipe(&attempt);
	return r == 0 ? 0 : (r == -EPROTO ? -EPROTO : -EBADMSG);
}

int hop_responder_read(struct hop_responder *resp, const uint8_t relay_secret[32],
		       const struct wire_datagram *init, uint8_t ticket[WIRE_TICKET_LEN])
{
	size_t ticket_len = 0;
	int r;

	if (init->type != WIRE_HANDSHAKE_INIT || init->payload_len != WIRE_NOISE_INIT_LEN)
		return -EINVAL;
	r = noise_nk_init(&resp->hs, NOISE_RESPONDER, (const uint8_t *)HOP_PROLOGUE,
			  strlen(HOP_PROLOGUE), relay_secret, NULL);
	if (r < 0)
		return r;
	resp->remote_index = init->sender_index;
	r = noise_handshake_read(&resp->hs, init->payload, init->payload_len, ticket,
				 WIRE_TICKET_LEN, &ticket_len);
	if (r == 0 && ticket_len != WIRE_TICKET_LEN)
		r = -EBADMSG;
	if (r < 0) {
		noise_handshake_wipe(&resp->hs);
		return -EBADMSG;
	}
	return 0;
}

int hop_responder_accept(struct hop_responder *resp, uint32_t local_index,
			 struct hop_session *session, uint8_t out[WIRE_HANDSHAKE_RESP_LEN])
{
	uint8_t msg[WIRE_NOISE_RESP_LEN];
	size_t msg_len = 0;
	int r;

	r = noise_handshake_write(&resp->hs, NULL, 0, msg, sizeof(msg), &msg_len);
	if (r == 0 && msg_len != WIRE_NOISE_RESP_LEN)
		r = -EPROTO;
	if (r == 0)
		r = hop_session_from(&resp->hs, local_index, resp->remote_index, session);
	noise_handshake_wipe(&resp->hs);
	if (r < 0)
		return r;
	wire_write_handshake_resp(out, local_index, resp->remote_index, msg);
	return 0;
}

int downlink_seal(struct downlink_key *k, uint32_t source, const uint8_t *frame,
		  size_t frame_len, uint8_t *out, size_t out_cap, size_t *out_len)
{
	uint8_t *body = out + WIRE_DOWNLINK_HEADER_LEN;
	size_t body_len = 4 + frame_len;

	if (frame_len > WIRE_MAX_FRAME)
		return -EMSGSIZE;
	if (k->counter >= HOP_REJECT_AFTER_MESSAGES)
		return -ERANGE;
	if (out_cap < WIRE_DOWNLINK_HEADER_LEN + body_len + WIRE_TAG_LEN)
		return -EMSGSIZE;
	/*
	 * Assemble source || frame in out and encrypt it there, once for every member.
	 * The frame moves first, so it may sit anywhere in out (ideally already at
	 * out + 20, where the move costs nothing).
	 */
	if (frame_len > 0 && frame != body + 4)
		memmove(body + 4, frame, frame_len);
	body[0] = (uint8_t)source;
	body[1] = (uint8_t)(source >> 8);
	body[2] = (uint8_t)(source >> 16);
	body[3] = (uint8_t)(source >> 24);
	wire_write_downlink_header(out, k->key_index, k->counter);
	noise_encrypt(k->key, k->counter, out, WIRE_DOWNLINK_HEADER_LEN, body, body_len, body);
	k->counter++;
	*out_len = WIRE_DOWNLINK_HEADER_LEN + body_len + WIRE_TAG_LEN;
	return 0;
}

int downlink_open(struct downlink_key *k, const struct wire_datagram *d, uint32_t *source,
		  uint8_t *frame, size_t frame_cap, size_t *frame_len)
{
	uint8_t body[WIRE_MAX_DATAGRAM];
	size_t body_len;

	if (d->type != WIRE_DOWNLINK || d->key_index != k->key_index ||
	    d->payload_len < 4 + WIRE_TAG_LEN || d->payload_len > sizeof(body) + WIRE_TAG_LEN)
		return -EINVAL;
	body_len = d->payload_len - WIRE_TAG_LEN;
	if (frame_cap < body_len - 4)
		return -EMSGSIZE;
	if (noise_decrypt(k->key, d->counter, d->header, WIRE_DOWNLINK_HEADER_LEN, d->payload,
			  d->payload_len, body) < 0)
		return -EBADMSG;
	if (!replay_check(&k->replay, d->counter))
		return -EALREADY;
	replay_accept(&k->replay, d->counter);
	*source = (uint32_t)body[0] | ((uint32_t)body[1] << 8) | ((uint32_t)body[2] << 16) |
		  ((uint32_t)body[3] << 24);
	memcpy(frame, body + 4, body_len - 4);
	*frame_len = body_len - 4;
	return 0;
}
