/*
 * wire.h - the datagram formats of salon's media transport (doc/PROTOCOL.md,
 * "Datagrams"). Parsing and building only: no crypto here (see hop.h).
 *
 * Every datagram starts with a 4-byte header: a type byte and three zero bytes.
 * Multi-byte integers are little-endian. The only values in clear are random
 * session indices and counters; nothing names a room or a user.
 *
 *   HANDSHAKE_INIT  client -> relay, 88 bytes
 *     0  type=1, 0, 0, 0
 *     4  sender_index  u32   client's random index for this session
 *     8  noise_msg     80    Noise NK message 1: e (32) || enc(ticket (32)) (48)
 *
 *   HANDSHAKE_RESP  relay -> client, 60 bytes
 *     0  type=2, 0, 0, 0
 *     4  sender_index    u32  relay's random index for this session
 *     8  receiver_index  u32  the client's sender_index
 *    12  noise_msg       48   Noise NK message 2: e (32) || enc(empty) (16)
 *
 *   TRANSPORT  either way, 32 .. WIRE_MAX_DATAGRAM bytes
 *     0  type=3, 0, 0, 0
 *     4  receiver_index  u32  the index the receiver chose for this session
 *     8  counter         u64  explicit nonce (UDP reorders), never reused
 *    16  ciphertext      n+16 ChaCha20-Poly1305 of an inner message, AD = bytes 0..15
 *
 *   DOWNLINK  relay -> every member of a room, 36 .. WIRE_MAX_DATAGRAM bytes
 *     0  type=4, 0, 0, 0
 *     4  key_index  u32  random index of the room's current downlink key
 *     8  counter    u64  explicit nonce under that key
 *    16  ciphertext n+16 ChaCha20-Poly1305 of (source u32 || SFrame frame), AD = bytes 0..15
 *
 * Inner messages (the plaintext of a TRANSPORT) start with a type byte:
 *   MEDIA          1  client -> relay: an SFrame frame (1 .. WIRE_MAX_FRAME bytes)
 *   KEEPALIVE      2  either way: empty
 *   DOWNLINK_KEY   3  relay -> client: key_index u32 || key (32)
 *   RESUME_TICKET  4  relay -> client: ticket (32), good for one later handshake
 *   CLOSE          5  either way: reason u8 (enum wire_close_reason)
 */
#ifndef SALON_WIRE_H
#define SALON_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define WIRE_MAX_DATAGRAM 1280 /* fits the IPv6 minimum MTU with UDP/IP headers */
#define WIRE_HEADER_LEN 4
#define WIRE_TAG_LEN 16
#define WIRE_KEY_LEN 32
#define WIRE_TICKET_LEN 32
#define WIRE_NOISE_INIT_LEN (32 + WIRE_TICKET_LEN + WIRE_TAG_LEN)
#define WIRE_NOISE_RESP_LEN (32 + WIRE_TAG_LEN)
#define WIRE_HANDSHAKE_INIT_LEN (8 + WIRE_NOISE_INIT_LEN)
#define WIRE_HANDSHAKE_RESP_LEN (12 + WIRE_NOISE_RESP_LEN)
#define WIRE_TRANSPORT_HEADER_LEN 16
#define WIRE_DOWNLINK_HEADER_LEN 16
/* Largest inner message a TRANSPORT can carry. */
#define WIRE_MAX_INNER (WIRE_MAX_DATAGRAM - WIRE_TRANSPORT_HEADER_LEN - WIRE_TAG_LEN)
/* Largest SFrame frame: it must fit in a DOWNLINK behind the 4-byte source. */
#define WIRE_MAX_FRAME (WIRE_MAX_DATAGRAM - WIRE_DOWNLINK_HEADER_LEN - WIRE_TAG_LEN - 4)

enum wire_type {
	WIRE_HANDSHAKE_INIT = 1,
	WIRE_HANDSHAKE_RESP = 2,
	WIRE_TRANSPORT = 3,
	WIRE_DOWNLINK = 4,
};

enum wire_inner_type {
	WIRE_INNER_MEDIA = 1,
	WIRE_INNER_KEEPALIVE = 2,
	WIRE_INNER_DOWNLINK_KEY = 3,
	WIRE_INNER_RESUME_TICKET = 4,
	WIRE_INNER_CLOSE = 5,
};

enum wire_close_reason {
	WIRE_CLOSE_BYE = 0,          /* the client left */
	WIRE_CLOSE_REMOVED = 1,      /* the member was removed from the room */
	WIRE_CLOSE_ROOM_ENDED = 2,   /* the room was ended */
	WIRE_CLOSE_SHUTDOWN = 3,     /* the relay is shutting down */
	WIRE_CLOSE_EXPIRED = 4,      /* the session is too old: handshake again */
};

/*
 * A parsed datagram. Pointers point into the buffer given to wire_parse(), which
 * must outlive this struct. Only the fields of the parsed type are set.
 */
struct wire_datagram {
	enum wire_type type;
	uint32_t sender_index;   /* HANDSHAKE_INIT, HANDSHAKE_RESP */
	uint32_t receiver_index; /* HANDSHAKE_RESP, TRANSPORT */
	uint32_t key_index;      /* DOWNLINK */
	uint64_t counter;        /* TRANSPORT, DOWNLINK */
	const uint8_t *header;   /* TRANSPORT, DOWNLINK: the 16 bytes used as AD */
	const uint8_t *payload;  /* noise message or ciphertext (with its tag) */
	size_t payload_len;
};

/*
 * Parses and bounds-checks one datagram. Returns 0, or -EINVAL when the length
 * is wrong for the type, a reserved byte is not zero, the type is unknown or the
 * datagram is longer than WIRE_MAX_DATAGRAM.
 */
int wire_parse(const uint8_t *buf, size_t len, struct wire_datagram *out);

/*
 * Writers. Each writes the header (and, for handshakes, copies the noise message)
 * into out, which must hold at least the header length (or the whole datagram for
 * handshakes), and returns the number of bytes written. For TRANSPORT and DOWNLINK
 * the caller appends the ciphertext after the 16 header bytes.
 */
size_t wire_write_handshake_init(uint8_t out[WIRE_HANDSHAKE_INIT_LEN], uint32_t sender_index,
				 const uint8_t noise_msg[WIRE_NOISE_INIT_LEN]);
size_t wire_write_handshake_resp(uint8_t out[WIRE_HANDSHAKE_RESP_LEN], uint32_t sender_index,
				 uint32_t receiver_index,
				 const uint8_t noise_msg[WIRE_NOISE_RESP_LEN]);
size_t wire_write_transport_header(uint8_t out[WIRE_TRANSPORT_HEADER_LEN],
				   uint32_t receiver_index, uint64_t counter);
size_t wire_write_downlink_header(uint8_t out[WIRE_DOWNLINK_HEADER_LEN], uint32_t key_index,
				  uint64_t counter);

/* A parsed inner message; body points into the plaintext buffer. */
struct wire_inner {
	enum wire_inner_type type;
	const uint8_t *body;
	size_t body_len;
	uint32_t key_index;        /* DOWNLINK_KEY */
	const uint8_t *key;        /* DOWNLINK_KEY: WIRE_KEY_LEN bytes */
	const uint8_t *ticket;     /* RESUME_TICKET: WIRE_TICKET_LEN bytes */
	enum wire_close_reason reason; /* CLOSE */
};

/*
 * Parses an inner message, checking each type's exact length (MEDIA: 1 ..
 * WIRE_MAX_FRAME bytes of body). Returns 0 or -EINVAL.
 */
int wire_inner_parse(const uint8_t *buf, size_t len, struct wire_inner *out);

/*
 * Inner writers: return the length written into out (at most WIRE_MAX_INNER).
 * wire_inner_write_media writes nothing and returns 0 when frame_len is 0 or larger
 * than WIRE_MAX_FRAME; frame may already sit at out + 1.
 */
size_t wire_inner_write_media(uint8_t *out, const uint8_t *frame, size_t frame_len);
size_t wire_inner_write_keepalive(uint8_t *out);
size_t wire_inner_write_downlink_key(uint8_t *out, uint32_t key_index,
				     const uint8_t key[WIRE_KEY_LEN]);
size_t wire_inner_write_resume_ticket(uint8_t *out, const uint8_t ticket[WIRE_TICKET_LEN]);
size_t wire_inner_write_close(uint8_t *out, enum wire_close_reason reason);

#endif
