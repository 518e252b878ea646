/*
 * relay.c - salond's UDP media relay: one thread, one socket, one poll() loop.
 *
 * State is owned by the relay thread alone. The API thread reaches it only through
 * a mutex-protected command queue and an eventfd that wakes the loop, so nothing
 * here is locked on the fast path except the queue check. Counters are updated with
 * relaxed atomics so that relay_get_stats() can read them from any thread.
 *
 * Choices this file makes (doc/PROTOCOL.md describes them for clients):
 * - A KEEPALIVE from a client is answered with a KEEPALIVE, so that a silent room
 *   still shows the client that the relay is alive.
 * - A speaker does not receive its own frames back.
 * - The DOWNLINK source is the member id given to relay_ticket_add() truncated to
 *   its low 32 bits (the API hands out small sequential ids).
 * - A member that handshakes again replaces its old session without a CLOSE on the
 *   old one: the client started the new handshake, so it knows.
 * - A HANDSHAKE_INIT identical to one accepted in the last RELAY_RETRANSMIT_MS, from
 *   the same address, is a retransmission (our HANDSHAKE_RESP was lost): it gets
 *   the same HANDSHAKE_RESP again, the key and the resume ticket, without a DH and
 *   without a new session. Any other reuse of a ticket is refused.
 * - A CLOSE from a client drops its session and its resume ticket; only the API's
 *   relay_member_remove() rotates the room's downlink key.
 * - Key rotation on removal is immediate (not batched): the removed member is out
 *   of the fan-out list before the next frame, and the next frame is sealed under
 *   the new key.
 * - A MEDIA body must start with an SFrame header whose KID names the sending
 *   session's own member (KID >> 8 == the DOWNLINK source): the relay cannot check
 *   the end-to-end tag, but it can refuse a member's attempt to pass its frames off
 *   as another's before receivers see them (they check the same, as a second line).
 *   The KID's epoch is not checked: the relay never learns which epochs exist.
 */
#include "config.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "hop.h"
#include "i18n.h"
#include "log.h"
#include "relay.h"
#include "sframe.h"
#include "util.h"
#include "wire.h"

/* Caps that keep malformed or hostile input from growing memory without bound. */
#define RELAY_MAX_SESSIONS 65536
#define RELAY_MAX_MEMBERS (2 * RELAY_MAX_SESSIONS)
#define RELAY_MAX_TICKETS 65536

#define RELAY_SESSION_BUCKETS 16384
#define RELAY_MEMBER_BUCKETS 16384
#define RELAY_TICKET_BUCKETS 16384
#define RELAY_ROOM_BUCKETS 1024
#define RELAY_RATE_SLOTS 4096

#define RELAY_RECV_BATCH 64
#define RELAY_RECV_ROUNDS 16 /* batches per loop turn, so commands and timers run */
#define RELAY_SEND_BATCH 1024
#define RELAY_SOCKET_BUFFER (4 * 1024 * 1024)
#define RELAY_SWEEP_MAX_MS 1000

#define RELAY_RETRANSMIT_SLOTS 1024
#define RELAY_RETRANSMIT_MS 5000

#define RELAY_DEFAULT_RATE_BURST 64
#define RELAY_DEFAULT_RATE_PER_SEC 32

/* A join ticket from the API, or a resume ticket the relay issued itself. */
struct relay_ticket {
	struct relay_ticket *next;
	uint8_t bytes[WIRE_TICKET_LEN];
	uint64_t room_id;
	uint64_t member_id;
	uint64_t expires_ms;
	bool may_speak;
	bool resume;
};

struct relay_room;

/* A member of a room, with its hop session when it has one. */
struct relay_member {
	struct relay_member *hash_next;    /* relay->members, by (room, member) */
	struct relay_member *session_next; /* relay->sessions, by local index */
	struct relay_room *room;
	size_t room_slot;                  /* index in room->members */
	uint64_t member_id;
	bool may_speak;
	bool has_session;
	struct hop_session hop;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	uint64_t last_rx_ms;
	struct relay_ticket *resume;       /* outstanding resume ticket, in the table */
};

struct relay_room {
	struct relay_room *next;
	uint64_t room_id;
	struct downlink_key downlink;
	struct relay_member **members;
	size_t member_count;
	size_t member_cap;
};

enum relay_cmd_type {
	RELAY_CMD_TICKET_ADD,
	RELAY_CMD_SET_SPEAKER,
	RELAY_CMD_REMOVE,
	RELAY_CMD_ROOM_END,
	RELAY_CMD_STOP,
};

struct relay_cmd {
	struct relay_cmd *next;
	enum relay_cmd_type type;
	uint8_t ticket[WIRE_TICKET_LEN];
	uint64_t room_id;
	uint64_t member_id;
	uint64_t expires_ms;
	bool may_speak;
	enum wire_close_reason reason;
};

/* One token bucket per source IP address, direct-mapped by a keyed hash. */
struct relay_rate_slot {
	bool used;
	sa_family_t family;
	uint8_t addr[16];
	uint64_t milli_tokens;
	uint64_t last_ms;
};

/* A recently accepted HANDSHAKE_INIT, to answer its retransmissions. */
struct relay_retransmit {
	uint8_t digest[crypto_generichash_BYTES];
	struct sockaddr_storage addr;
	socklen_t addr_len;
	uint32_t local_index;
	uint64_t room_id;
	uint64_t member_id;
	uint64_t expires_ms;
	uint8_t resp[WIRE_HANDSHAKE_RESP_LEN];
};

struct relay {
	int fd;
	int wake_fd;
	uint8_t static_secret[32];
	struct sockaddr_storage local;
	socklen_t local_len;
	pthread_t thread;
	bool running;

	/* Settings, fixed once the thread runs. */
	uint64_t timeout_ms;
	uint64_t reject_after_ms;
	uint64_t rate_burst;
	uint64_t rate_per_sec;

	/* Shared with the API thread. */
	pthread_mutex_t lock;
	struct relay_cmd *cmd_head;
	struct relay_cmd **cmd_tail;
	struct relay_stats stats; /* relaxed atomics */

	/* Owned by the relay thread. */
	bool stopping;
	uint64_t next_sweep_ms;
	struct relay_ticket *tickets[RELAY_TICKET_BUCKETS];
	size_t ticket_count;
	struct relay_member *members[RELAY_MEMBER_BUCKETS];
	size_t member_count;
	struct relay_member *sessions[RELAY_SESSION_BUCKETS];
	size_t session_count;
	struct relay_room *rooms[RELAY_ROOM_BUCKETS];
	struct relay_rate_slot rate[RELAY_RATE_SLOTS];
	uint8_t rate_key[crypto_shorthash_KEYBYTES];
	struct relay_retransmit retransmit[RELAY_RETRANSMIT_SLOTS];

	uint8_t rx_bufs[RELAY_RECV_BATCH][WIRE_MAX_DATAGRAM + 1];
	struct sockaddr_storage rx_addrs[RELAY_RECV_BATCH];
	struct iovec rx_iov[RELAY_RECV_BATCH];
	struct mmsghdr rx_msgs[RELAY_RECV_BATCH];

	uint8_t tx_buf[WIRE_MAX_DATAGRAM];
	struct iovec tx_iov;
	struct mmsghdr tx_msgs[RELAY_SEND_BATCH];
};

#define STAT_ADD(r, field, n) __atomic_add_fetch(&(r)->stats.field, (n), __ATOMIC_RELAXED)
#define STAT_SUB(r, field, n) __atomic_sub_fetch(&(r)->stats.field, (n), __ATOMIC_RELAXED)

/* Hashing. Indices and tickets are random; ids come from the trusted API. */

static size_t relay_ticket_bucket(const uint8_t ticket[WIRE_TICKET_LEN])
{
	return (size_t)(get_u64le(ticket) % RELAY_TICKET_BUCKETS);
}

static size_t relay_member_bucket(uint64_t room_id, uint64_t member_id)
{
	uint64_t h = room_id * UINT64_C(0x9e3779b97f4a7c15);

	h ^= member_id * UINT64_C(0xc2b2ae3d27d4eb4f);

	return (size_t)((h ^ (h >> 29)) % RELAY_MEMBER_BUCKETS);
}

static size_t relay_room_bucket(uint64_t room_id)
{
	uint64_t h = room_id * UINT64_C(0x9e3779b97f4a7c15);

	return (size_t)((h >> 32) % RELAY_ROOM_BUCKETS);
}

static size_t relay_session_bucket(uint32_t index)
{
	return index % RELAY_SESSION_BUCKETS;
}

/* Tickets. */

static struct relay_ticket *relay_ticket_find(struct relay *r,
					      const uint8_t bytes[WIRE_TICKET_LEN])
{
	struct relay_ticket *t = r->tickets[relay_ticket_bucket(bytes)];

	for (; t != NULL; t = t->next) {
		if (sodium_memcmp(t->bytes, bytes, WIRE_TICKET_LEN) == 0)
			return t;
	}
	return NULL;
}

static void relay_ticket_insert(struct relay *r, struct relay_ticket *t)
{
	size_t b = relay_ticket_bucket(t->bytes);

	t->next = r->tickets[b];
	r->tickets[b] = t;
	r->ticket_count++;
}

/* Unlinks t from the table and frees it; the caller clears any pointer to it. */
static void relay_ticket_delete(struct relay *r, struct relay_ticket *t)
{
	struct relay_ticket **pp = &r->tickets[relay_ticket_bucket(t->bytes)];

	for (; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			r->ticket_count--;
			sodium_memzero(t, sizeof(*t));
			free(t);
			return;
		}
	}
}

/* Rooms and members. */

static struct relay_room *relay_room_find(struct relay *r, uint64_t room_id)
{
	struct relay_room *room = r->rooms[relay_room_bucket(room_id)];

	for (; room != NULL; room = room->next) {
		if (room->room_id == room_id)
			return room;
	}
	return NULL;
}

/* Gives room a fresh random downlink key whose index differs from the old one. */
static void relay_room_new_key(struct relay_room *room)
{
	uint32_t old = room->downlink.key_index;

	sodium_memzero(&room->downlink, sizeof(room->downlink));
	do {
		room->downlink.key_index = randombytes_random();
	} while (room->downlink.key_index == old);
	randombytes_buf(room->downlink.key, sizeof(room->downlink.key));
	room->downlink.counter = 0;
	replay_init(&room->downlink.replay);
}

static struct relay_room *relay_room_get(struct relay *r, uint64_t room_id)
{
	struct relay_room *room = relay_room_find(r, room_id);
	size_t b;

	if (room != NULL)
		return room;
	room = xcalloc(1, sizeof(*room));
	room->room_id = room_id;
	relay_room_new_key(room);
	b = relay_room_bucket(room_id);
	room->next = r->rooms[b];
	r->rooms[b] = room;
	log_debug("relay: room %llu opened", (unsigned long long)room_id);
	return room;
}

static void relay_room_free(struct relay *r, struct relay_room *room)
{
	struct relay_room **pp = &r->rooms[relay_room_bucket(room->room_id)];

	for (; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == room) {
			*pp = room->next;
			break;
		}
	}
	log_debug("relay: room %llu closed", (unsigned long long)room->room_id);
	free(room->members);
	sodium_memzero(room, sizeof(*room));
	free(room);
}

static struct relay_member *relay_member_find(struct relay *r, uint64_t room_id,
					      uint64_t member_id)
{
	struct relay_member *m = r->members[relay_member_bucket(room_id, member_id)];

	for (; m != NULL; m = m->hash_next) {
		if (m->room->room_id == room_id && m->member_id == member_id)
			return m;
	}
	return NULL;
}

static struct relay_member *relay_member_new(struct relay *r, struct relay_room *room,
					     uint64_t member_id)
{
	struct relay_member *m = xcalloc(1, sizeof(*m));
	size_t b = relay_member_bucket(room->room_id, member_id);

	m->room = room;
	m->member_id = member_id;
	if (room->member_count == room->member_cap) {
		room->member_cap = room->member_cap ? 2 * room->member_cap : 8;
		room->members = xreallocarray(room->members, room->member_cap,
					      sizeof(*room->members));
	}
	m->room_slot = room->member_count;
	room->members[room->member_count++] = m;
	m->hash_next = r->members[b];
	r->members[b] = m;
	r->member_count++;
	return m;
}

static struct relay_member *relay_session_find(struct relay *r, uint32_t index)
{
	struct relay_member *m = r->sessions[relay_session_bucket(index)];

	for (; m != NULL; m = m->session_next) {
		if (m->hop.local_index == index)
			return m;
	}
	return NULL;
}

/* Sends one datagram to a member; a refusal is counted, never fatal. */
static void relay_send_to(struct relay *r, const uint8_t *buf, size_t len,
			  const struct sockaddr_storage *addr, socklen_t addr_len)
{
	ssize_t n;

	do {
		n = sendto(r->fd, buf, len, 0, (const struct sockaddr *)addr, addr_len);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		STAT_ADD(r, drop_send, 1);
}

/*
 * Seals an inner message over m's session and sends it. Returns 0, or a negative
 * errno when it could not be sealed (the counter is exhausted).
 */
static int relay_send_inner(struct relay *r, struct relay_member *m, const uint8_t *inner,
			    size_t inner_len)
{
	uint8_t out[WIRE_MAX_DATAGRAM];
	size_t out_len = 0;
	int rc;

	rc = hop_seal(&m->hop, inner, inner_len, out, sizeof(out), &out_len);
	if (rc < 0)
		return rc;
	relay_send_to(r, out, out_len, &m->addr, m->addr_len);
	return 0;
}

/*
 * Drops m's session: sends CLOSE with reason first when send_close, unlinks it from
 * the session table and wipes its keys. The member itself stays.
 */
static void relay_session_close(struct relay *r, struct relay_member *m, bool send_close,
				enum wire_close_reason reason)
{
	struct relay_member **pp;
	uint8_t inner[WIRE_MAX_INNER];

	if (!m->has_session)
		return;
	if (send_close)
		(void)relay_send_inner(r, m, inner, wire_inner_write_close(inner, reason));
	pp = &r->sessions[relay_session_bucket(m->hop.local_index)];
	for (; *pp != NULL; pp = &(*pp)->session_next) {
		if (*pp == m) {
			*pp = m->session_next;
			break;
		}
	}
	log_debug("relay: session %08x of member %llu in room %llu closed (%d)",
		  m->hop.local_index, (unsigned long long)m->member_id,
		  (unsigned long long)m->room->room_id, (int)reason);
	m->session_next = NULL;
	m->has_session = false;
	sodium_memzero(&m->hop, sizeof(m->hop));
	r->session_count--;
	STAT_SUB(r, sessions, 1);
}

static void relay_member_drop_resume(struct relay *r, struct relay_member *m)
{
	if (m->resume != NULL) {
		relay_ticket_delete(r, m->resume);
		m->resume = NULL;
	}
}

/*
 * Frees m (its session must already be closed, or is dropped silently) and its
 * resume ticket; frees the room too when it was the last member. Returns true
 * when the room was freed.
 */
static bool relay_member_free(struct relay *r, struct relay_member *m)
{
	struct relay_room *room = m->room;
	struct relay_member **pp = &r->members[relay_member_bucket(room->room_id, m->member_id)];
	struct relay_member *last;

	relay_session_close(r, m, false, WIRE_CLOSE_BYE);
	relay_member_drop_resume(r, m);
	for (; *pp != NULL; pp = &(*pp)->hash_next) {
		if (*pp == m) {
			*pp = m->hash_next;
			break;
		}
	}
	last = room->members[--room->member_count];
	room->members[m->room_slot] = last;
	last->room_slot = m->room_slot;
	r->member_count--;
	free(m);
	if (room->member_count == 0) {
		relay_room_free(r, room);
		return true;
	}
	return false;
}

/* Frees a member that has neither a session nor a way back in (a resume ticket). */
static bool relay_member_reap(struct relay *r, struct relay_member *m)
{
	if (m->has_session || m->resume != NULL)
		return false;
	return relay_member_free(r, m);
}

/* Sends the room's current downlink key to m over its own session. */
static void relay_send_downlink_key(struct relay *r, struct relay_member *m)
{
	uint8_t inner[WIRE_MAX_INNER];
	size_t len = wire_inner_write_downlink_key(inner, m->room->downlink.key_index,
						   m->room->downlink.key);

	if (relay_send_inner(r, m, inner, len) < 0)
		relay_session_close(r, m, false, WIRE_CLOSE_EXPIRED);
	sodium_memzero(inner, sizeof(inner));
}

/* Rotates the room's downlink key and hands the new one to every member online. */
static void relay_room_rotate(struct relay *r, struct relay_room *room)
{
	relay_room_new_key(room);
	log_debug("relay: room %llu downlink key rotated to %08x",
		  (unsigned long long)room->room_id, room->downlink.key_index);
	for (size_t i = 0; i < room->member_count; i++) {
		if (room->members[i]->has_session)
			relay_send_downlink_key(r, room->members[i]);
	}
}

/* Sends m its current resume ticket over its session. */
static void relay_send_resume(struct relay *r, struct relay_member *m)
{
	uint8_t inner[WIRE_MAX_INNER];
	size_t len = wire_inner_write_resume_ticket(inner, m->resume->bytes);

	if (relay_send_inner(r, m, inner, len) < 0)
		relay_session_close(r, m, false, WIRE_CLOSE_EXPIRED);
	sodium_memzero(inner, sizeof(inner));
}

/* Issues a fresh resume ticket to m (replacing the old one) and sends it. */
static void relay_issue_resume(struct relay *r, struct relay_member *m, uint64_t now)
{
	struct relay_ticket *t;

	relay_member_drop_resume(r, m);
	t = xcalloc(1, sizeof(*t));
	do {
		randombytes_buf(t->bytes, sizeof(t->bytes));
	} while (relay_ticket_find(r, t->bytes) != NULL);
	t->room_id = m->room->room_id;
	t->member_id = m->member_id;
	t->may_speak = m->may_speak;
	t->resume = true;
	/* Good for rekeying until the session is refused, and a while after a loss. */
	t->expires_ms = now + r->reject_after_ms + r->timeout_ms;
	relay_ticket_insert(r, t);
	m->resume = t;
	relay_send_resume(r, m);
}

/* Rate limiting of handshakes, per source IP address (port ignored). */

static bool relay_rate_allow(struct relay *r, const struct sockaddr_storage *addr,
			     uint64_t now)
{
	uint8_t key_addr[16] = {0};
	uint8_t hash[crypto_shorthash_BYTES];
	struct relay_rate_slot *slot;
	uint64_t cap = r->rate_burst * 1000;

	if (addr->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)addr;

		memcpy(key_addr, &in->sin_addr, 4);
	} else if (addr->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;

		memcpy(key_addr, &in6->sin6_addr, 16);
	} else {
		return false;
	}
	crypto_shorthash(hash, key_addr, sizeof(key_addr), r->rate_key);
	slot = &r->rate[get_u64le(hash) % RELAY_RATE_SLOTS];
	if (!slot->used || slot->family != addr->ss_family ||
	    memcmp(slot->addr, key_addr, sizeof(key_addr)) != 0) {
		/* A new address, or one that collided: it starts with a full bucket. */
		slot->used = true;
		slot->family = addr->ss_family;
		memcpy(slot->addr, key_addr, sizeof(key_addr));
		slot->milli_tokens = cap;
		slot->last_ms = now;
	} else if (now > slot->last_ms) {
		uint64_t elapsed = now - slot->last_ms;

		/* elapsed * rate can only overflow after millions of years of silence. */
		if (elapsed > cap)
			elapsed = cap;
		slot->milli_tokens += elapsed * r->rate_per_sec;
		if (slot->milli_tokens > cap)
			slot->milli_tokens = cap;
		slot->last_ms = now;
	}
	if (slot->milli_tokens < 1000)
		return false;
	slot->milli_tokens -= 1000;
	return true;
}

static uint32_t relay_new_index(struct relay *r)
{
	uint32_t index;

	do {
		index = randombytes_random();
	} while (index == 0 || relay_session_find(r, index) != NULL);
	return index;
}

/* Datagram handling. */

/* buf is the whole HANDSHAKE_INIT that parsed into d. */
static void relay_handle_handshake(struct relay *r, const uint8_t *buf, size_t len,
				   const struct wire_datagram *d,
				   const struct sockaddr_storage *from, socklen_t from_len,
				   uint64_t now)
{
	struct hop_responder resp;
	uint8_t ticket_bytes[WIRE_TICKET_LEN];
	uint8_t out[WIRE_HANDSHAKE_RESP_LEN];
	struct relay_ticket *t;
	struct relay_member *m;
	struct relay_room *room;
	struct relay_retransmit *cached;
	uint8_t digest[crypto_generichash_BYTES];
	bool replace;

	if (!relay_rate_allow(r, from, now)) {
		STAT_ADD(r, drop_rate, 1);
		return;
	}
	/* Hashing the datagram costs far less than the DH it may save. */
	crypto_generichash(digest, sizeof(digest), buf, len, NULL, 0);
	cached = &r->retransmit[get_u64le(digest) % RELAY_RETRANSMIT_SLOTS];
	if (cached->expires_ms > now &&
	    sodium_memcmp(cached->digest, digest, sizeof(digest)) == 0 &&
	    cached->addr_len == from_len && memcmp(&cached->addr, from, from_len) == 0) {
		m = relay_session_find(r, cached->local_index);
		if (m != NULL && m->member_id == cached->member_id &&
		    m->room->room_id == cached->room_id) {
			log_debug("relay: handshake for session %08x retransmitted",
				  m->hop.local_index);
			relay_send_to(r, cached->resp, sizeof(cached->resp), &m->addr,
				      m->addr_len);
			relay_send_downlink_key(r, m);
			if (m->has_session && m->resume != NULL)
				relay_send_resume(r, m);
			return;
		}
	}
	if (r->session_count >= RELAY_MAX_SESSIONS) {
		STAT_ADD(r, drop_rate, 1);
		return;
	}
	memset(&resp, 0, sizeof(resp));
	if (hop_responder_read(&resp, r->static_secret, d, ticket_bytes) < 0) {
		STAT_ADD(r, drop_forged, 1);
		goto out;
	}
	t = relay_ticket_find(r, ticket_bytes);
	if (t == NULL || t->expires_ms <= now) {
		STAT_ADD(r, drop_ticket, 1);
		goto out;
	}
	if (t->resume) {
		m = relay_member_find(r, t->room_id, t->member_id);
		if (m == NULL || m->resume != t) {
			STAT_ADD(r, drop_ticket, 1);
			goto out;
		}
		relay_member_drop_resume(r, m);
	} else {
		m = relay_member_find(r, t->room_id, t->member_id);
		if (m == NULL) {
			if (r->member_count >= RELAY_MAX_MEMBERS) {
				STAT_ADD(r, drop_rate, 1);
				goto out;
			}
			room = relay_room_get(r, t->room_id);
			m = relay_member_new(r, room, t->member_id);
		}
		m->may_speak = t->may_speak;
		relay_ticket_delete(r, t);
	}
	/* The client started this handshake, so its old session needs no CLOSE. */
	replace = m->has_session;
	relay_session_close(r, m, false, WIRE_CLOSE_EXPIRED);
	if (hop_responder_accept(&resp, relay_new_index(r), &m->hop, out) < 0) {
		STAT_ADD(r, drop_forged, 1);
		sodium_memzero(&m->hop, sizeof(m->hop));
		relay_member_reap(r, m);
		goto out;
	}
	m->hop.created_ms = now;
	memcpy(&m->addr, from, from_len);
	m->addr_len = from_len;
	m->last_rx_ms = now;
	m->has_session = true;
	m->session_next = r->sessions[relay_session_bucket(m->hop.local_index)];
	r->sessions[relay_session_bucket(m->hop.local_index)] = m;
	r->session_count++;
	STAT_ADD(r, sessions, 1);
	STAT_ADD(r, handshakes, 1);
	log_debug("relay: session %08x for member %llu in room %llu%s",
		  m->hop.local_index, (unsigned long long)m->member_id,
		  (unsigned long long)m->room->room_id, replace ? " (replaces)" : "");
	memcpy(cached->digest, digest, sizeof(digest));
	memcpy(&cached->addr, from, from_len);
	cached->addr_len = from_len;
	cached->local_index = m->hop.local_index;
	cached->room_id = m->room->room_id;
	cached->member_id = m->member_id;
	cached->expires_ms = now + RELAY_RETRANSMIT_MS;
	memcpy(cached->resp, out, sizeof(out));
	relay_send_to(r, out, sizeof(out), &m->addr, m->addr_len);
	relay_send_downlink_key(r, m);
	if (m->has_session)
		relay_issue_resume(r, m, now);
out:
	noise_handshake_wipe(&resp.hs);
	sodium_memzero(ticket_bytes, sizeof(ticket_bytes));
}

/* Queues one destination for the fan-out, flushing the batch when it is full. */
static void relay_flush(struct relay *r, unsigned count)
{
	unsigned done = 0;

	while (done < count) {
		int n = sendmmsg(r->fd, r->tx_msgs + done, count - done, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* sendmmsg fails only on the first message: skip that one. */
			STAT_ADD(r, drop_send, 1);
			done++;
			continue;
		}
		STAT_ADD(r, delivered, (uint64_t)n);
		done += (unsigned)n;
	}
}

/* Seals frame once under the room's downlink key and sends it to everyone else. */
static void relay_fan_out(struct relay *r, struct relay_member *speaker, const uint8_t *frame,
			  size_t frame_len)
{
	struct relay_room *room = speaker->room;
	size_t len = 0;
	unsigned count = 0;
	int rc;

	rc = downlink_seal(&room->downlink, (uint32_t)speaker->member_id, frame, frame_len,
			   r->tx_buf, sizeof(r->tx_buf), &len);
	if (rc == -ERANGE) {
		relay_room_rotate(r, room);
		rc = downlink_seal(&room->downlink, (uint32_t)speaker->member_id, frame,
				   frame_len, r->tx_buf, sizeof(r->tx_buf), &len);
	}
	if (rc < 0) {
		STAT_ADD(r, drop_malformed, 1);
		return;
	}
	r->tx_iov.iov_base = r->tx_buf;
	r->tx_iov.iov_len = len;
	for (size_t i = 0; i < room->member_count; i++) {
		struct relay_member *m = room->members[i];
		struct msghdr *h;

		if (m == speaker || !m->has_session)
			continue;
		h = &r->tx_msgs[count].msg_hdr;
		memset(h, 0, sizeof(*h));
		h->msg_name = &m->addr;
		h->msg_namelen = m->addr_len;
		h->msg_iov = &r->tx_iov;
		h->msg_iovlen = 1;
		if (++count == RELAY_SEND_BATCH) {
			relay_flush(r, count);
			count = 0;
		}
	}
	if (count > 0)
		relay_flush(r, count);
	/* Counted after the sends, so a reader of the stats sees them done. */
	STAT_ADD(r, forwarded, 1);
}

static void relay_handle_transport(struct relay *r, const struct wire_datagram *d,
				   const struct sockaddr_storage *from, socklen_t from_len,
				   uint64_t now)
{
	struct relay_member *m = relay_session_find(r, d->receiver_index);
	uint8_t pt[WIRE_MAX_INNER];
	size_t pt_len = 0;
	struct wire_inner inner;
	int rc;

	if (m == NULL) {
		STAT_ADD(r, drop_unknown, 1);
		return;
	}
	rc = hop_open(&m->hop, d, pt, sizeof(pt), &pt_len);
	if (rc == -EBADMSG) {
		STAT_ADD(r, drop_forged, 1);
		return;
	}
	if (rc == -EALREADY) {
		STAT_ADD(r, drop_replayed, 1);
		return;
	}
	if (rc < 0) {
		STAT_ADD(r, drop_malformed, 1);
		return;
	}
	if (now - m->hop.created_ms >= r->reject_after_ms) {
		relay_session_close(r, m, true, WIRE_CLOSE_EXPIRED);
		relay_member_reap(r, m);
		return;
	}
	/* Only an authenticated datagram may move the session (roaming). */
	if (from_len != m->addr_len || memcmp(from, &m->addr, from_len) != 0) {
		memcpy(&m->addr, from, from_len);
		m->addr_len = from_len;
		log_debug("relay: session %08x roamed", m->hop.local_index);
	}
	m->last_rx_ms = now;
	if (wire_inner_parse(pt, pt_len, &inner) < 0) {
		STAT_ADD(r, drop_malformed, 1);
		return;
	}
	switch (inner.type) {
	case WIRE_INNER_MEDIA: {
		struct sframe_header hdr;

		if (!m->may_speak) {
			STAT_ADD(r, drop_unauthorised, 1);
			return;
		}
		if (sframe_header_decode(&hdr, inner.body, inner.body_len) < 0 ||
		    sframe_kid_sender(hdr.kid) != (uint32_t)m->member_id) {
			STAT_ADD(r, drop_kid, 1);
			return;
		}
		relay_fan_out(r, m, inner.body, inner.body_len);
		return;
	}
	case WIRE_INNER_KEEPALIVE:
		if (relay_send_inner(r, m, pt, wire_inner_write_keepalive(pt)) < 0) {
			relay_session_close(r, m, false, WIRE_CLOSE_EXPIRED);
			relay_member_reap(r, m);
		}
		return;
	case WIRE_INNER_CLOSE:
		relay_session_close(r, m, false, inner.reason);
		relay_member_drop_resume(r, m);
		relay_member_reap(r, m);
		return;
	case WIRE_INNER_DOWNLINK_KEY:
	case WIRE_INNER_RESUME_TICKET:
	default:
		/* Only the relay sends these. */
		STAT_ADD(r, drop_malformed, 1);
		return;
	}
}

static void relay_handle_datagram(struct relay *r, const uint8_t *buf, size_t len,
				  const struct sockaddr_storage *from, socklen_t from_len,
				  uint64_t now)
{
	struct wire_datagram d;

	if (from_len > sizeof(*from) ||
	    (from->ss_family != AF_INET && from->ss_family != AF_INET6) ||
	    wire_parse(buf, len, &d) < 0) {
		STAT_ADD(r, drop_malformed, 1);
		return;
	}
	switch (d.type) {
	case WIRE_HANDSHAKE_INIT:
		relay_handle_handshake(r, buf, len, &d, from, from_len, now);
		return;
	case WIRE_TRANSPORT:
		relay_handle_transport(r, &d, from, from_len, now);
		return;
	case WIRE_HANDSHAKE_RESP:
	case WIRE_DOWNLINK:
	default:
		/* Clients never send these to the relay. */
		STAT_ADD(r, drop_malformed, 1);
		return;
	}
}

/* Commands from the API thread. */

/* Deletes every ticket of member_id in room_id (every member when all). */
static void relay_tickets_purge(struct relay *r, uint64_t room_id, uint64_t member_id, bool all)
{
	for (size_t b = 0; b < RELAY_TICKET_BUCKETS && r->ticket_count > 0; b++) {
		struct relay_ticket **pp = &r->tickets[b];

		while (*pp != NULL) {
			struct relay_ticket *t = *pp;

			if (t->room_id != room_id || (!all && t->member_id != member_id)) {
				pp = &t->next;
				continue;
			}
			if (t->resume) {
				struct relay_member *m = relay_member_find(r, room_id,
									   t->member_id);

				if (m != NULL && m->resume == t)
					m->resume = NULL;
			}
			*pp = t->next;
			r->ticket_count--;
			sodium_memzero(t, sizeof(*t));
			free(t);
		}
	}
}

static void relay_cmd_ticket_add(struct relay *r, const struct relay_cmd *c)
{
	struct relay_ticket *t;

	if (relay_ticket_find(r, c->ticket) != NULL)
		return;
	if (r->ticket_count >= RELAY_MAX_TICKETS) {
		log_warn(_("relay: too many pending tickets, refusing one for room %llu"),
			 (unsigned long long)c->room_id);
		return;
	}
	t = xcalloc(1, sizeof(*t));
	memcpy(t->bytes, c->ticket, sizeof(t->bytes));
	t->room_id = c->room_id;
	t->member_id = c->member_id;
	t->may_speak = c->may_speak;
	t->expires_ms = c->expires_ms;
	relay_ticket_insert(r, t);
}

static void relay_cmd_set_speaker(struct relay *r, const struct relay_cmd *c)
{
	struct relay_member *m = relay_member_find(r, c->room_id, c->member_id);

	if (m != NULL)
		m->may_speak = c->may_speak;
	/* A member promoted before it connected must join with its new role. */
	for (size_t b = 0; b < RELAY_TICKET_BUCKETS && r->ticket_count > 0; b++) {
		for (struct relay_ticket *t = r->tickets[b]; t != NULL; t = t->next) {
			if (t->room_id == c->room_id && t->member_id == c->member_id)
				t->may_speak = c->may_speak;
		}
	}
}

static void relay_cmd_remove(struct relay *r, const struct relay_cmd *c)
{
	struct relay_member *m;
	struct relay_room *room;

	relay_tickets_purge(r, c->room_id, c->member_id, false);
	m = relay_member_find(r, c->room_id, c->member_id);
	if (m == NULL)
		return;
	room = m->room;
	relay_session_close(r, m, true, c->reason);
	log_debug("relay: member %llu removed from room %llu", (unsigned long long)c->member_id,
		  (unsigned long long)c->room_id);
	/* It knew the room's key: everyone left gets a new one before the next frame. */
	if (!relay_member_free(r, m))
		relay_room_rotate(r, room);
}

static void relay_cmd_room_end(struct relay *r, uint64_t room_id)
{
	struct relay_room *room = relay_room_find(r, room_id);

	relay_tickets_purge(r, room_id, 0, true);
	if (room == NULL)
		return;
	for (size_t i = 0; i < room->member_count; i++)
		relay_session_close(r, room->members[i], true, WIRE_CLOSE_ROOM_ENDED);
	/* Freeing the last member frees the room. */
	while (!relay_member_free(r, room->members[room->member_count - 1]))
		;
	log_debug("relay: room %llu ended", (unsigned long long)room_id);
}

/* Closes every session with reason (the relay is going away). */
static void relay_close_all(struct relay *r, enum wire_close_reason reason)
{
	for (size_t b = 0; b < RELAY_SESSION_BUCKETS && r->session_count > 0; b++) {
		while (r->sessions[b] != NULL)
			relay_session_close(r, r->sessions[b], true, reason);
	}
}

static void relay_run_commands(struct relay *r)
{
	struct relay_cmd *c, *next;

	pthread_mutex_lock(&r->lock);
	c = r->cmd_head;
	r->cmd_head = NULL;
	r->cmd_tail = &r->cmd_head;
	pthread_mutex_unlock(&r->lock);
	for (; c != NULL; c = next) {
		next = c->next;
		switch (c->type) {
		case RELAY_CMD_TICKET_ADD:
			relay_cmd_ticket_add(r, c);
			break;
		case RELAY_CMD_SET_SPEAKER:
			relay_cmd_set_speaker(r, c);
			break;
		case RELAY_CMD_REMOVE:
			relay_cmd_remove(r, c);
			break;
		case RELAY_CMD_ROOM_END:
			relay_cmd_room_end(r, c->room_id);
			break;
		case RELAY_CMD_STOP:
			if (!r->stopping)
				relay_close_all(r, WIRE_CLOSE_SHUTDOWN);
			r->stopping = true;
			break;
		}
		sodium_memzero(c, sizeof(*c));
		free(c);
	}
}

/* Expires tickets and closes sessions that are too old or silent. */
static void relay_sweep(struct relay *r, uint64_t now)
{
	for (size_t b = 0; b < RELAY_TICKET_BUCKETS && r->ticket_count > 0; b++) {
		struct relay_ticket **pp = &r->tickets[b];

		while (*pp != NULL) {
			struct relay_ticket *t = *pp;
			struct relay_member *m = NULL;

			if (t->expires_ms > now) {
				pp = &t->next;
				continue;
			}
			if (t->resume) {
				m = relay_member_find(r, t->room_id, t->member_id);
				if (m != NULL && m->resume == t)
					m->resume = NULL;
				else
					m = NULL;
			}
			*pp = t->next;
			r->ticket_count--;
			sodium_memzero(t, sizeof(*t));
			free(t);
			if (m != NULL)
				relay_member_reap(r, m);
		}
	}
	for (size_t b = 0; b < RELAY_SESSION_BUCKETS && r->session_count > 0; b++) {
		struct relay_member *m, *next;

		for (m = r->sessions[b]; m != NULL; m = next) {
			next = m->session_next;
			if (now - m->hop.created_ms < r->reject_after_ms &&
			    now - m->last_rx_ms < r->timeout_ms)
				continue;
			relay_session_close(r, m, true, WIRE_CLOSE_EXPIRED);
			relay_member_reap(r, m);
		}
	}
}

static uint64_t relay_sweep_interval(const struct relay *r)
{
	uint64_t interval = r->timeout_ms / 4;

	if (r->reject_after_ms / 4 < interval)
		interval = r->reject_after_ms / 4;
	if (interval > RELAY_SWEEP_MAX_MS)
		interval = RELAY_SWEEP_MAX_MS;
	return interval ? interval : 1;
}

static void relay_receive(struct relay *r)
{
	for (int round = 0; round < RELAY_RECV_ROUNDS && !r->stopping; round++) {
		uint64_t now;
		int n;

		for (int i = 0; i < RELAY_RECV_BATCH; i++) {
			struct msghdr *h = &r->rx_msgs[i].msg_hdr;

			r->rx_iov[i].iov_base = r->rx_bufs[i];
			r->rx_iov[i].iov_len = sizeof(r->rx_bufs[i]);
			memset(h, 0, sizeof(*h));
			h->msg_name = &r->rx_addrs[i];
			h->msg_namelen = sizeof(r->rx_addrs[i]);
			h->msg_iov = &r->rx_iov[i];
			h->msg_iovlen = 1;
		}
		n = recvmmsg(r->fd, r->rx_msgs, RELAY_RECV_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			return;
		STAT_ADD(r, received, (uint64_t)n);
		/*
		 * A command issued before one of these datagrams was sent (a ticket
		 * before its handshake) is in the queue by now: run it first.
		 */
		relay_run_commands(r);
		now = util_now_ms();
		for (int i = 0; i < n && !r->stopping; i++) {
			const struct msghdr *h = &r->rx_msgs[i].msg_hdr;
			size_t len = r->rx_msgs[i].msg_len;

			if ((h->msg_flags & MSG_TRUNC) || len > WIRE_MAX_DATAGRAM) {
				STAT_ADD(r, drop_malformed, 1);
				continue;
			}
			relay_handle_datagram(r, r->rx_bufs[i], len, &r->rx_addrs[i],
					      h->msg_namelen, now);
		}
		if (n < RELAY_RECV_BATCH)
			return;
	}
}

static void *relay_thread(void *arg)
{
	struct relay *r = arg;
	uint64_t interval = relay_sweep_interval(r);

	r->next_sweep_ms = util_now_ms() + interval;
	while (!r->stopping) {
		struct pollfd fds[2] = {
			{.fd = r->fd, .events = POLLIN},
			{.fd = r->wake_fd, .events = POLLIN},
		};
		uint64_t now = util_now_ms();
		int wait_ms = now >= r->next_sweep_ms ? 0 : (int)(r->next_sweep_ms - now);

		if (poll(fds, 2, wait_ms) < 0 && errno != EINTR) {
			log_error(_("relay: poll failed: %s"), strerror(errno));
			break;
		}
		if (fds[1].revents & POLLIN) {
			uint64_t value;

			if (read(r->wake_fd, &value, sizeof(value)) < 0 && errno != EAGAIN)
				log_debug("relay: eventfd read failed");
		}
		relay_run_commands(r);
		if (!r->stopping && (fds[0].revents & POLLIN))
			relay_receive(r);
		now = util_now_ms();
		if (!r->stopping && now >= r->next_sweep_ms) {
			relay_sweep(r, now);
			r->next_sweep_ms = now + interval;
		}
	}
	return NULL;
}

/* Public interface. */

struct relay *relay_new(const char *host, const char *port, const uint8_t static_secret[32])
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_DGRAM,
		.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
	};
	struct addrinfo *res = NULL;
	struct relay *r;
	int size = RELAY_SOCKET_BUFFER;
	int rc, saved;

	if (sodium_init() < 0) {
		errno = EIO;
		return NULL;
	}
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		errno = rc == EAI_SYSTEM ? errno : EINVAL;
		return NULL;
	}
	r = xcalloc(1, sizeof(*r));
	r->fd = -1;
	r->wake_fd = -1;
	r->fd = socket(res->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (r->fd < 0)
		goto fail;
	/* Best effort: a bigger buffer absorbs bursts of handshakes and fan-out. */
	(void)setsockopt(r->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	(void)setsockopt(r->fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	if (bind(r->fd, res->ai_addr, res->ai_addrlen) < 0)
		goto fail;
	r->local_len = sizeof(r->local);
	if (getsockname(r->fd, (struct sockaddr *)&r->local, &r->local_len) < 0)
		goto fail;
	r->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (r->wake_fd < 0)
		goto fail;
	freeaddrinfo(res);
	memcpy(r->static_secret, static_secret, sizeof(r->static_secret));
	r->timeout_ms = HOP_TIMEOUT_MS;
	r->reject_after_ms = HOP_REJECT_AFTER_MS;
	r->rate_burst = RELAY_DEFAULT_RATE_BURST;
	r->rate_per_sec = RELAY_DEFAULT_RATE_PER_SEC;
	randombytes_buf(r->rate_key, sizeof(r->rate_key));
	pthread_mutex_init(&r->lock, NULL);
	r->cmd_tail = &r->cmd_head;
	return r;
fail:
	saved = errno;
	freeaddrinfo(res);
	if (r->fd >= 0)
		close(r->fd);
	free(r);
	errno = saved;
	return NULL;
}

int relay_local_address(const struct relay *relay, struct sockaddr_storage *addr,
			socklen_t *len)
{
	memcpy(addr, &relay->local, relay->local_len);
	*len = relay->local_len;
	return 0;
}

void relay_set_timeouts(struct relay *relay, uint64_t timeout_ms, uint64_t reject_after_ms)
{
	if (timeout_ms != 0)
		relay->timeout_ms = timeout_ms;
	if (reject_after_ms != 0)
		relay->reject_after_ms = reject_after_ms;
}

void relay_set_handshake_rate(struct relay *relay, unsigned burst, unsigned per_second)
{
	if (burst != 0)
		relay->rate_burst = burst;
	if (per_second != 0)
		relay->rate_per_sec = per_second;
}

int relay_start(struct relay *relay)
{
	sigset_t all, old;
	int rc;

	if (relay->running)
		return -EALREADY;
	relay->stopping = false;
	/* Signals belong to the main thread; the relay thread never handles them. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&relay->thread, NULL, relay_thread, relay);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		return -rc;
	relay->running = true;
	log_debug("relay: started");
	return 0;
}

static void relay_enqueue(struct relay *relay, struct relay_cmd *c)
{
	uint64_t one = 1;

	pthread_mutex_lock(&relay->lock);
	*relay->cmd_tail = c;
	relay->cmd_tail = &c->next;
	pthread_mutex_unlock(&relay->lock);
	/* A full eventfd counter still wakes the loop, so a failed write is harmless. */
	if (write(relay->wake_fd, &one, sizeof(one)) < 0)
		log_debug("relay: eventfd write failed");
}

/* One line of counters (no secrets: numbers only), for operators and tests. */
static void relay_log_stats(struct relay *relay)
{
	struct relay_stats s;

	relay_get_stats(relay, &s);
	log_info(_("relay: stopped: received %llu, forwarded %llu, delivered %llu,"
		   " handshakes %llu; dropped: malformed %llu, unknown %llu, forged %llu,"
		   " replayed %llu, ticket %llu, unauthorised %llu, kid %llu, rate %llu,"
		   " send %llu"),
		 (unsigned long long)s.received, (unsigned long long)s.forwarded,
		 (unsigned long long)s.delivered, (unsigned long long)s.handshakes,
		 (unsigned long long)s.drop_malformed, (unsigned long long)s.drop_unknown,
		 (unsigned long long)s.drop_forged, (unsigned long long)s.drop_replayed,
		 (unsigned long long)s.drop_ticket, (unsigned long long)s.drop_unauthorised,
		 (unsigned long long)s.drop_kid, (unsigned long long)s.drop_rate,
		 (unsigned long long)s.drop_send);
}

void relay_stop(struct relay *relay)
{
	struct relay_cmd *c;

	if (!relay->running)
		return;
	c = xcalloc(1, sizeof(*c));
	c->type = RELAY_CMD_STOP;
	relay_enqueue(relay, c);
	pthread_join(relay->thread, NULL);
	relay->running = false;
	relay_log_stats(relay);
}

void relay_free(struct relay *relay)
{
	struct relay_cmd *c, *next;

	if (relay == NULL)
		return;
	relay_stop(relay);
	for (c = relay->cmd_head; c != NULL; c = next) {
		next = c->next;
		sodium_memzero(c, sizeof(*c));
		free(c);
	}
	for (size_t b = 0; b < RELAY_ROOM_BUCKETS; b++) {
		while (relay->rooms[b] != NULL) {
			struct relay_room *room = relay->rooms[b];

			while (!relay_member_free(relay, room->members[room->member_count - 1]))
				;
		}
	}
	for (size_t b = 0; b < RELAY_TICKET_BUCKETS; b++) {
		while (relay->tickets[b] != NULL)
			relay_ticket_delete(relay, relay->tickets[b]);
	}
	close(relay->fd);
	close(relay->wake_fd);
	pthread_mutex_destroy(&relay->lock);
	sodium_memzero(relay->static_secret, sizeof(relay->static_secret));
	free(relay);
}

int relay_ticket_add(struct relay *relay, const uint8_t ticket[WIRE_TICKET_LEN],
		     uint64_t room_id, uint64_t member_id, bool may_speak, uint64_t expires_ms)
{
	struct relay_cmd *c = xcalloc(1, sizeof(*c));

	c->type = RELAY_CMD_TICKET_ADD;
	memcpy(c->ticket, ticket, WIRE_TICKET_LEN);
	c->room_id = room_id;
	c->member_id = member_id;
	c->may_speak = may_speak;
	c->expires_ms = expires_ms;
	relay_enqueue(relay, c);
	return 0;
}

void relay_member_set_speaker(struct relay *relay, uint64_t room_id, uint64_t member_id,
			      bool may_speak)
{
	struct relay_cmd *c = xcalloc(1, sizeof(*c));

	c->type = RELAY_CMD_SET_SPEAKER;
	c->room_id = room_id;
	c->member_id = member_id;
	c->may_speak = may_speak;
	relay_enqueue(relay, c);
}

void relay_member_remove(struct relay *relay, uint64_t room_id, uint64_t member_id,
			 enum wire_close_reason reason)
{
	struct relay_cmd *c = xcalloc(1, sizeof(*c));

	c->type = RELAY_CMD_REMOVE;
	c->room_id = room_id;
	c->member_id = member_id;
	c->reason = reason;
	relay_enqueue(relay, c);
}

void relay_room_end(struct relay *relay, uint64_t room_id)
{
	struct relay_cmd *c = xcalloc(1, sizeof(*c));

	c->type = RELAY_CMD_ROOM_END;
	c->room_id = room_id;
	relay_enqueue(relay, c);
}

void relay_get_stats(struct relay *relay, struct relay_stats *stats)
{
	const uint64_t *src = (const uint64_t *)&relay->stats;
	uint64_t *dst = (uint64_t *)stats;

	for (size_t i = 0; i < sizeof(*stats) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

int relay_thread_cpu_ns(struct relay *relay, uint64_t *ns)
{
	clockid_t clock;
	struct timespec ts;
	int rc;

	if (!relay->running)
		return -ESRCH;
	rc = pthread_getcpuclockid(relay->thread, &clock);
	if (rc != 0)
		return -rc;
	if (clock_gettime(clock, &ts) < 0)
		return -errno;
	*ns = (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
	return 0;
}

/* TEST HOOK: see relay.h. The same path as relay_receive(), one datagram at a time. */
void relay_handle_datagram_for_test(struct relay *relay, const uint8_t *buf, size_t len,
				    const struct sockaddr_storage *from, socklen_t from_len)
{
	if (relay->running)
		fatal("relay_handle_datagram_for_test: the relay thread is running");
	relay_run_commands(relay);
	STAT_ADD(relay, received, 1);
	if (len > WIRE_MAX_DATAGRAM) {
		STAT_ADD(relay, drop_malformed, 1);
		return;
	}
	relay_handle_datagram(relay, buf, len, from, from_len, util_now_ms());
}
