/*
 * fuzz-noise.c - the Noise NK handshake of the hop layer on hostile messages.
 *
 * The first input byte chooses what the rest is:
 *   0  a datagram read by the relay's side (wire_parse, then hop_responder_read with
 *      the fixed relay key); when it authenticates, the relay answers it.
 *   1  a datagram read by a client that sent a fixed message 1 (fixed ephemeral key)
 *      as its HANDSHAKE_RESP (hop_initiator_finish).
 *   2  a genuine handshake, with a ticket and a list of byte changes from the input
 *      applied to message 1 and message 2 in flight. Any change to a Noise message
 *      must make its reader refuse it; a refused message 2 must leave the client's
 *      handshake able to finish with the genuine one; and both sides must agree
 *      on the session keys.
 * Ephemeral keys are fixed so that every input runs the same way each time.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "common.h"
#include "hop.h"
#include "noise.h"
#include "wire.h"

static uint8_t relay_secret[32], relay_public[32];
static const uint8_t client_ephemeral[32] = {
	0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb,
	0xcc, 0xdd, 0xee, 0xf0, 0x01, 0x12, 0x23, 0x34, 0x45, 0x56, 0x67,
	0x78, 0x89, 0x9a, 0xab, 0xbc, 0xcd, 0xde, 0xef, 0xf1, 0x02,
};
static const uint8_t relay_ephemeral[32] = {
	0x21, 0x32, 0x43, 0x54, 0x65, 0x76, 0x87, 0x98, 0xa9, 0xba, 0xcb,
	0xdc, 0xed, 0xfe, 0x0f, 0x10, 0x21, 0x32, 0x43, 0x54, 0x65, 0x76,
	0x87, 0x98, 0xa9, 0xba, 0xcb, 0xdc, 0xed, 0xfe, 0x0f, 0x10,
};
#define CLIENT_INDEX 0x01020304u
#define RELAY_INDEX 0x0a0b0c0du

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	if (sodium_init() < 0)
		abort();
	memset(relay_secret, 0x5a, sizeof(relay_secret));
	crypto_scalarmult_base(relay_public, relay_secret);
	return 0;
}

/* hop_initiator_start() with a fixed ephemeral key. */
static void fuzz_noise_client_start(struct hop_initiator *init, const uint8_t *ticket,
				    uint8_t out[WIRE_HANDSHAKE_INIT_LEN])
{
	uint8_t msg[WIRE_NOISE_INIT_LEN];
	size_t msg_len = 0;

	FUZZ_ASSERT(noise_nk_init(&init->hs, NOISE_INITIATOR, (const uint8_t *)HOP_PROLOGUE,
				  strlen(HOP_PROLOGUE), NULL, relay_public) == 0);
	noise_handshake_set_ephemeral(&init->hs, client_ephemeral);
	init->local_index = CLIENT_INDEX;
	FUZZ_ASSERT(noise_handshake_write(&init->hs, ticket, WIRE_TICKET_LEN, msg, sizeof(msg),
					  &msg_len) == 0);
	FUZZ_ASSERT(msg_len == WIRE_NOISE_INIT_LEN);
	wire_write_handshake_init(out, CLIENT_INDEX, msg);
}

static void fuzz_noise_relay_reads(const uint8_t *data, size_t size)
{
	struct hop_responder resp;
	struct hop_session session;
	struct wire_datagram d;
	uint8_t ticket[WIRE_TICKET_LEN], out[WIRE_HANDSHAKE_RESP_LEN];
	int r;

	if (wire_parse(data, size, &d) < 0)
		return;
	memset(&resp, 0, sizeof(resp));
	r = hop_responder_read(&resp, relay_secret, &d, ticket);
	FUZZ_ASSERT(r == 0 || r == -EBADMSG || r == -EINVAL);
	if (r < 0)
		return;
	noise_handshake_set_ephemeral(&resp.hs, relay_ephemeral);
	FUZZ_ASSERT(hop_responder_accept(&resp, RELAY_INDEX, &session, out) == 0);
	FUZZ_ASSERT(session.local_index == RELAY_INDEX &&
		    session.remote_index == d.sender_index);
}

static void fuzz_noise_client_reads(const uint8_t *data, size_t size)
{
	static const uint8_t ticket[WIRE_TICKET_LEN] = {1, 2, 3};
	struct hop_initiator init;
	struct hop_session session;
	struct wire_datagram d;
	uint8_t msg1[WIRE_HANDSHAKE_INIT_LEN];
	int r;

	if (wire_parse(data, size, &d) < 0)
		return;
	fuzz_noise_client_start(&init, ticket, msg1);
	r = hop_initiator_finish(&init, &d, &session);
	FUZZ_ASSERT(r == 0 || r == -EBADMSG || r == -EINVAL || r == -EPROTO);
	noise_handshake_wipe(&init.hs);
}

/*
 * Applies up to three (offset, xor) pairs from r to msg. They may cancel out, so
 * callers compare the message with the original rather than trust a flag.
 */
static void fuzz_noise_tamper(struct fuzz_reader *r, uint8_t *msg, size_t len)
{
	unsigned count = fuzz_u8(r) % 4;

	for (unsigned i = 0; i < count; i++) {
		size_t at = fuzz_u8(r) % len;

		msg[at] ^= fuzz_u8(r);
	}
}

static void fuzz_noise_genuine(const uint8_t *data, size_t size)
{
	struct fuzz_reader r = {data, size, 0};
	struct hop_initiator init;
	struct hop_responder resp;
	struct hop_session client, relay;
	struct wire_datagram d;
	uint8_t ticket[WIRE_TICKET_LEN] = {0}, got[WIRE_TICKET_LEN];
	uint8_t msg1[WIRE_HANDSHAKE_INIT_LEN], copy1[WIRE_HANDSHAKE_INIT_LEN];
	uint8_t msg2[WIRE_HANDSHAKE_RESP_LEN], copy2[WIRE_HANDSHAKE_RESP_LEN];
	const uint8_t *p;
	size_t n = fuzz_take(&r, WIRE_TICKET_LEN, &p);
	int ret;

	memcpy(ticket, p, n);
	fuzz_noise_client_start(&init, ticket, msg1);

	/* Message 1, possibly changed on the way. */
	memcpy(copy1, msg1, sizeof(msg1));
	fuzz_noise_tamper(&r, copy1, sizeof(copy1));
	FUZZ_ASSERT(wire_parse(copy1, sizeof(copy1), &d) == 0 || copy1[0] != msg1[0] ||
		    memcmp(copy1 + 1, msg1 + 1, 3) != 0);
	memset(&resp, 0, sizeof(resp));
	ret = wire_parse(copy1, sizeof(copy1), &d);
	if (ret == 0)
		ret = hop_responder_read(&resp, relay_secret, &d, got);
	if (memcmp(copy1 + 8, msg1 + 8, WIRE_NOISE_INIT_LEN) != 0) {
		/* Only the header and the sender index travel without protection. */
		FUZZ_ASSERT(ret < 0);
	} else if (ret == 0) {
		FUZZ_ASSERT(memcmp(got, ticket, sizeof(ticket)) == 0);
	}
	if (ret < 0) {
		/* The genuine message 1 still gets through after a forged one. */
		FUZZ_ASSERT(wire_parse(msg1, sizeof(msg1), &d) == 0);
		FUZZ_ASSERT(hop_responder_read(&resp, relay_secret, &d, got) == 0);
		FUZZ_ASSERT(memcmp(got, ticket, sizeof(ticket)) == 0);
	}
	noise_handshake_set_ephemeral(&resp.hs, relay_ephemeral);
	FUZZ_ASSERT(hop_responder_accept(&resp, RELAY_INDEX, &relay, msg2) == 0);
	if (relay.remote_index != CLIENT_INDEX) {
		/* The sender index (in clear) was changed: the answer goes astray. */
		FUZZ_ASSERT(wire_parse(msg2, sizeof(msg2), &d) == 0);
		FUZZ_ASSERT(hop_initiator_finish(&init, &d, &client) == -EINVAL);
		noise_handshake_wipe(&init.hs);
		return;
	}

	/* Message 2, possibly changed on the way. */
	memcpy(copy2, msg2, sizeof(msg2));
	fuzz_noise_tamper(&r, copy2, sizeof(copy2));
	ret = wire_parse(copy2, sizeof(copy2), &d);
	if (ret == 0)
		ret = hop_initiator_finish(&init, &d, &client);
	if (memcmp(copy2 + 12, msg2 + 12, WIRE_NOISE_RESP_LEN) != 0 ||
	    memcmp(copy2 + 8, msg2 + 8, 4) != 0)
		FUZZ_ASSERT(ret < 0);
	if (ret < 0) {
		/* A forged answer must not have cancelled the handshake. */
		FUZZ_ASSERT(wire_parse(msg2, sizeof(msg2), &d) == 0);
		FUZZ_ASSERT(hop_initiator_finish(&init, &d, &client) == 0);
		FUZZ_ASSERT(client.remote_index == RELAY_INDEX);
	}
	FUZZ_ASSERT(client.local_index == CLIENT_INDEX);
	FUZZ_ASSERT(memcmp(client.send_key, relay.recv_key, WIRE_KEY_LEN) == 0);
	FUZZ_ASSERT(memcmp(client.recv_key, relay.send_key, WIRE_KEY_LEN) == 0);
	FUZZ_ASSERT(memcmp(client.send_key, client.recv_key, WIRE_KEY_LEN) != 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0:
		fuzz_noise_relay_reads(data + 1, size - 1);
		break;
	case 1:
		fuzz_noise_client_reads(data + 1, size - 1);
		break;
	default:
		fuzz_noise_genuine(data + 1, size - 1);
		break;
	}
	return 0;
}
