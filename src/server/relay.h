/*
 * relay.h - salond's UDP media relay (doc/PROTOCOL.md, "Relay").
 *
 * The relay runs on its own thread with its own socket. It accepts Noise NK
 * handshakes whose payload is a join ticket issued by the API (or a resume ticket
 * it issued itself), keeps one hop session per member, forwards MEDIA only from
 * members allowed to speak, seals each forwarded frame once under the room's
 * downlink key and sends the same bytes to every member of the room with sendmmsg.
 * It never holds an end-to-end (SFrame) key: it forwards ciphertext it cannot open.
 *
 * The API thread talks to it only through the functions below, which are
 * thread-safe and never block on the network. Errors as in util.h.
 */
#ifndef SALON_RELAY_H
#define SALON_RELAY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "wire.h"

struct relay;

/* Why datagrams were dropped; each is counted. */
struct relay_stats {
	uint64_t received;       /* datagrams read from the socket */
	uint64_t forwarded;      /* MEDIA frames accepted and fanned out */
	uint64_t delivered;      /* DOWNLINK datagrams handed to the kernel */
	uint64_t handshakes;     /* sessions established */
	uint64_t drop_malformed; /* failed wire_parse or inner parse */
	uint64_t drop_unknown;   /* no session for receiver_index */
	uint64_t drop_forged;    /* failed authentication (handshake or transport) */
	uint64_t drop_replayed;  /* counter already seen or too old */
	uint64_t drop_ticket;    /* unknown, expired or reused ticket */
	uint64_t drop_unauthorised; /* MEDIA from a member who may not speak */
	uint64_t drop_rate;      /* over the per-address rate limit */
	uint64_t drop_send;      /* the kernel refused a send */
	uint64_t sessions;       /* sessions alive now */
	/*
	 * Additive: MEDIA whose SFrame header does not parse, or whose KID names another
	 * member than the sending session's (a member forging another's frames).
	 */
	uint64_t drop_kid;
};

/*
 * Creates a relay bound to addr (numeric host and port; port 0 picks one) with the
 * relay's static X25519 secret key. Returns NULL with errno set on failure.
 */
struct relay *relay_new(const char *host, const char *port, const uint8_t static_secret[32]);

/* The address actually bound (for port 0). */
int relay_local_address(const struct relay *relay, struct sockaddr_storage *addr,
			socklen_t *len);

/*
 * Test and tuning knobs (additive; call before relay_start(), from the thread that
 * owns the relay). timeout_ms: a session silent that long is closed (default
 * HOP_TIMEOUT_MS); reject_after_ms: a session that old is closed with
 * WIRE_CLOSE_EXPIRED (default HOP_REJECT_AFTER_MS). 0 leaves a value unchanged.
 */
void relay_set_timeouts(struct relay *relay, uint64_t timeout_ms, uint64_t reject_after_ms);

/*
 * Per source IP address token bucket applied to HANDSHAKE_INIT before any DH is
 * computed: burst handshakes at once, refilled at per_second (defaults 64 and 32).
 * 0 leaves a value unchanged. Call before relay_start().
 */
void relay_set_handshake_rate(struct relay *relay, unsigned burst, unsigned per_second);

/*
 * Starts and stops the relay thread. relay_stop() closes every session and logs the
 * counters (struct relay_stats) once, at the info level.
 */
int relay_start(struct relay *relay);
void relay_stop(struct relay *relay);
void relay_free(struct relay *relay);

/*
 * Registers a one-time join ticket for member_id in room_id, valid until
 * expires_ms (util_now_ms() clock). may_speak says whether the member's MEDIA is
 * forwarded. A second handshake with the same ticket is dropped.
 */
int relay_ticket_add(struct relay *relay, const uint8_t ticket[WIRE_TICKET_LEN],
		     uint64_t room_id, uint64_t member_id, bool may_speak, uint64_t expires_ms);

/* The member's role changed (invited to speak, moved back to the audience, muted). */
void relay_member_set_speaker(struct relay *relay, uint64_t room_id, uint64_t member_id,
			      bool may_speak);

/*
 * The member left or was removed: its session is closed (CLOSE sent) and the room's
 * downlink key is rotated so that it cannot read what follows.
 */
void relay_member_remove(struct relay *relay, uint64_t room_id, uint64_t member_id,
			 enum wire_close_reason reason);

/* The room ended: every session in it is closed. */
void relay_room_end(struct relay *relay, uint64_t room_id);

/* A snapshot of the counters. */
void relay_get_stats(struct relay *relay, struct relay_stats *stats);

/*
 * TEST HOOK (for fuzz/fuzz-relay.c; not for salond). Handles one datagram of len
 * bytes from address from synchronously on the calling thread, through the same
 * code the relay thread runs for a datagram it received (after running the queued
 * commands, such as relay_ticket_add(), as the thread does before each batch).
 * Replies go out on the relay's socket as usual. Only while the relay thread is not
 * started: aborts through fatal() otherwise.
 */
void relay_handle_datagram_for_test(struct relay *relay, const uint8_t *buf, size_t len,
				    const struct sockaddr_storage *from, socklen_t from_len);

/*
 * CPU time the relay thread has used so far, in nanoseconds, read from the
 * thread's CPU clock (for benchmarks). Returns 0 and fills *ns, -ESRCH when the
 * relay is not running, or another negative errno from the clock. Call from the
 * thread that owns the relay (the one that called relay_start()).
 */
int relay_thread_cpu_ns(struct relay *relay, uint64_t *ns);

#endif
