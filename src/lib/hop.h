/*
 * hop.h - the hop-by-hop encrypted transport between a client and the relay
 * (doc/PROTOCOL.md, "Hop layer").
 *
 * Handshake: Noise_NK_25519_ChaChaPoly_SHA512 with prologue "salon hop v1". The
 * client knows the relay's static public key (from the API) and sends its join or
 * resume ticket as the payload of message 1; the relay answers with message 2.
 * Afterwards each side encrypts with its split() key, using an explicit 64-bit
 * counter as the nonce (as WireGuard does, because UDP reorders), and the receiver
 * checks a sliding replay window only after the tag has been verified.
 *
 * Sessions expire: a client starts a new handshake (with the RESUME_TICKET the
 * relay gave it) after HOP_REKEY_AFTER_MS or HOP_REKEY_AFTER_MESSAGES, and the relay
 * refuses a session older than HOP_REJECT_AFTER_MS.
 *
 * Errors as in util.h: 0 or a negative errno. None of these functions allocates;
 * a struct hop_session may be used by one thread at a time.
 */
#ifndef SALON_HOP_H
#define SALON_HOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "noise.h"
#include "wire.h"

#define HOP_PROLOGUE "salon hop v1"
#define HOP_KEEPALIVE_MS 10000
#define HOP_TIMEOUT_MS 30000
#define HOP_REKEY_AFTER_MS 120000
#define HOP_REJECT_AFTER_MS 180000
#define HOP_REKEY_AFTER_MESSAGES (UINT64_C(1) << 60)
#define HOP_REJECT_AFTER_MESSAGES (UINT64_MAX - (UINT64_C(1) << 13))

/* Sliding anti-replay window over the last REPLAY_WINDOW_BITS counters (RFC 6479). */
#define REPLAY_WINDOW_BITS 2048
struct replay_window {
	uint64_t top;  /* highest counter accepted so far, plus one (0: none yet) */
	uint64_t bitmap[REPLAY_WINDOW_BITS / 64];
};

void replay_init(struct replay_window *w);
/* True when counter is new and inside the window; does not record it. */
bool replay_check(const struct replay_window *w, uint64_t counter);
/* Records counter as seen. Call only after the datagram authenticated. */
void replay_accept(struct replay_window *w, uint64_t counter);

/* One established session, either side. */
struct hop_session {
	uint32_t local_index;  /* what the peer puts in receiver_index to reach us */
	uint32_t remote_index; /* what we put in receiver_index to reach the peer */
	uint8_t send_key[WIRE_KEY_LEN];
	uint8_t recv_key[WIRE_KEY_LEN];
	uint64_t send_counter;
	struct replay_window replay;
	uint64_t created_ms; /* util_now_ms() when the handshake completed */
};

/*
 * Encrypts the inner message pt into a TRANSPORT datagram in out (out_cap at least
 * WIRE_TRANSPORT_HEADER_LEN + pt_len + WIRE_TAG_LEN). Returns 0, -EMSGSIZE when pt
 * is larger than WIRE_MAX_INNER (or out_cap too small), or -ERANGE when the counter
 * is exhausted. pt may sit at out + WIRE_TRANSPORT_HEADER_LEN (sealed in place);
 * otherwise it must not overlap out.
 */
int hop_seal(struct hop_session *s, const uint8_t *pt, size_t pt_len, uint8_t *out,
	     size_t out_cap, size_t *out_len);

/*
 * Decrypts a parsed TRANSPORT datagram addressed to s into pt (pt_cap at least the
 * ciphertext length minus the tag). Returns 0, -EBADMSG when authentication fails,
 * -EALREADY when the counter was seen before or fell out of the window, -EINVAL
 * when d is not a TRANSPORT for s->local_index, -EMSGSIZE when pt_cap is too small.
 * pt may alias d->payload (decrypted in place).
 */
int hop_open(struct hop_session *s, const struct wire_datagram *d, uint8_t *pt, size_t pt_cap,
	     size_t *pt_len);

/* Client side of the handshake. */
struct hop_initiator {
	struct noise_handshake hs;
	uint32_t local_index;
};

/*
 * Starts a handshake to the relay whose static public key is relay_public, carrying
 * ticket. Writes the HANDSHAKE_INIT datagram into out.
 */
int hop_initiator_start(struct hop_initiator *init, const uint8_t relay_public[32],
			const uint8_t ticket[WIRE_TICKET_LEN], uint32_t local_index,
			uint8_t out[WIRE_HANDSHAKE_INIT_LEN]);

/*
 * Completes the handshake with the relay's HANDSHAKE_RESP. Returns 0 and fills
 * session, -EINVAL when receiver_index is not ours, -EBADMSG when it fails. A
 * failed response leaves init untouched, so a forgery cannot cancel the handshake
 * that the genuine response will complete; on success init is wiped.
 */
int hop_initiator_finish(struct hop_initiator *init, const struct wire_datagram *resp,
			 struct hop_session *session);

/* Relay side of the handshake. */
struct hop_responder {
	struct noise_handshake hs;
	uint32_t remote_index;
};

/*
 * Reads a HANDSHAKE_INIT with the relay's static secret key and returns the ticket
 * it carries, for the caller to check. Returns 0, -EBADMSG, or -EINVAL when init is
 * not a HANDSHAKE_INIT.
 */
int hop_responder_read(struct hop_responder *resp, const uint8_t relay_secret[32],
		       const struct wire_datagram *init, uint8_t ticket[WIRE_TICKET_LEN]);

/*
 * Accepts the handshake (after the ticket checked out): writes HANDSHAKE_RESP into
 * out and fills session. local_index is the relay's random index for it.
 */
int hop_responder_accept(struct hop_responder *resp, uint32_t local_index,
			 struct hop_session *session, uint8_t out[WIRE_HANDSHAKE_RESP_LEN]);

/* The per-room downlink key: the relay seals each frame once, members open it. */
struct downlink_key {
	uint32_t key_index;
	uint8_t key[WIRE_KEY_LEN];
	uint64_t counter;             /* sender: next counter to use */
	struct replay_window replay;  /* receiver */
};

/*
 * Relay: seals (source || frame) into a DOWNLINK datagram in out. Returns 0,
 * -EMSGSIZE when frame is larger than WIRE_MAX_FRAME (or out_cap too small),
 * -ERANGE when exhausted. frame may lie anywhere, also inside out; placing it at
 * out + WIRE_DOWNLINK_HEADER_LEN + 4 saves a copy.
 */
int downlink_seal(struct downlink_key *k, uint32_t source, const uint8_t *frame,
		  size_t frame_len, uint8_t *out, size_t out_cap, size_t *out_len);

/*
 * Member: opens a parsed DOWNLINK whose key_index matches k. Returns 0 with the
 * source and frame, -EBADMSG when authentication fails, -EALREADY on a replay,
 * -EINVAL when the key index differs, -EMSGSIZE when frame_cap is too small.
 */
int downlink_open(struct downlink_key *k, const struct wire_datagram *d, uint32_t *source,
		  uint8_t *frame, size_t frame_cap, size_t *frame_len);

#endif
