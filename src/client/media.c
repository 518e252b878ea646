/*
 * media.c - the media thread: one poll() loop over the relay socket, the command
 * queue and (when waiting for a pipe) the capture descriptor, with the frame clock as
 * its timeout. Once the hop session is up, the socket is drained on each frame tick
 * instead of being polled (media_receive), with the kernel's arrival time of every
 * datagram.
 *
 * Everything below the public functions runs on the media thread only, so nothing
 * is locked: the control thread's calls become messages on a queue (copies of their
 * arguments), and the results go back as events on the caller's queue. Counters are
 * updated with relaxed atomics so that media_get_stats() may read them anywhere.
 *
 * Choices this file makes:
 * - The frame clock is the poll's timeout to each tick's absolute time, so it does
 *   not drift; when the thread falls behind, it processes up to MEDIA_MAX_CATCHUP
 *   missed ticks at once and drops the rest. Each tick has a scheduled time on the
 *   "media clock" (the monotonic clock, sped up by clock_speed in tests); jitter
 *   buffers, keys and speaking detection run on that clock, the hop session on the
 *   real one.
 * - Our SFrame counter keeps growing across key changes (each generation has a new
 *   KID, so no (key, CTR) pair repeats), so that a listener's jitter buffer, keyed
 *   by the CTR, sees one continuous stream per speaker.
 * - A caller-clocked capture (file, pipe) is read only while we are sending (joined,
 *   allowed to speak, unmuted), so a bot's file starts when it can be heard; a
 *   device-clocked one is drained and discarded meanwhile, so no stale audio waits.
 * - A handshake that gets no answer for MEDIA_HANDSHAKE_GIVEUP_MS (inside the relay's
 *   5 s window for answering retransmissions) is given up: MEDIA_EVENT_NEED_TICKET.
 * - Key boxes that arrive before the room or their sender is known are kept (up to
 *   MEDIA_MAX_PENDING_BOXES) and tried again when members are added.
 * - In a new room we speak only once the engine has handed over the room's member
 *   list, member by member, and no member came for MEDIA_MEMBERS_SETTLE_MS (or
 *   after MEDIA_MEMBERS_WAIT_MS, for a room with nobody else), and on
 *   stepping on stage only after MEDIA_STAGE_WAIT_MS, so that every member present
 *   holds the key of our very first frame (keys.h: no ratchet before anything was
 *   said). A capture file just starts later; a device's audio meanwhile is dropped.
 * - Frames that arrive before their speaker's key box (the box travels through the
 *   API and the event stream, the frames straight through the relay, so a new
 *   speaker's first frames usually win the race) are held, up to
 *   MEDIA_MAX_HELD_FRAMES for MEDIA_HELD_MAX_MS, and opened when a box opens, so
 *   the first words of a speaker are heard rather than lost.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "codec.h"
#include "dsp.h"
#include "hop.h"
#include "i18n.h"
#include "jitter.h"
#include "log.h"
#include "media.h"
#include "mixer.h"
#include "util.h"
#include "wire.h"

#define MEDIA_MAX_CATCHUP 10
#define MEDIA_HANDSHAKE_FIRST_RESEND_MS 250
#define MEDIA_HANDSHAKE_MAX_RESEND_MS 2000
#define MEDIA_HANDSHAKE_GIVEUP_MS 4500
/*
 * After a handshake, the relay's DOWNLINK_KEY and resume ticket may be lost: we ask
 * again by sending the same HANDSHAKE_INIT, which the relay answers (for 5 s) as a
 * retransmission, with both. First after this long, then backing off.
 */
#define MEDIA_ASK_FIRST_MS 150
#define MEDIA_ASK_WINDOW_MS 4000
/* Opus concealment is used only this long after a speaker's last packet. */
#define MEDIA_PLC_MAX_MS 120
/* Speaking detection: RMS levels (int16 units) to start and to keep speaking. */
#define MEDIA_SPEAK_START_RMS 500.0
#define MEDIA_SPEAK_KEEP_RMS 250.0
#define MEDIA_SPEAK_HANGOVER_MS 300
/* A device-clocked capture ring holding more than this many frames is trimmed. */
#define MEDIA_CAPTURE_MAX_BACKLOG 4
#define MEDIA_MAX_PENDING_BOXES 256
/* How long a new room waits for its member list before we speak anyway (nobody else). */
#define MEDIA_MEMBERS_WAIT_MS 3000
/*
 * The engine hands the member list over one member at a time: before our first
 * frame, wait until none has come for this long, so that the whole list, not its
 * first member, gets the key of that frame.
 */
#define MEDIA_MEMBERS_SETTLE_MS 100
/*
 * After stepping on stage, how long we let the audience we were not told of (the
 * engine fetches the member list again) reach our keys before our first frame.
 */
#define MEDIA_STAGE_WAIT_MS 300
/* Frames under a key we do not hold yet, kept for the box on its way (media clock). */
#define MEDIA_MAX_HELD_FRAMES 128
#define MEDIA_HELD_MAX_MS 3000
/*
 * Datagrams per recvmmsg() call, and calls per drain: a drain takes at most
 * MEDIA_RECV_BATCH * MEDIA_RECV_CALLS datagrams, and if the socket still holds more
 * it is polled (a wake-up per datagram again) until a drain empties it.
 */
#define MEDIA_RECV_BATCH 16
#define MEDIA_RECV_CALLS 8
/* Frames under an unknown downlink key before we redo the handshake (either bound). */
#define MEDIA_DOWNLINK_MISS_MS 200
#define MEDIA_DOWNLINK_MISS_FRAMES 20
#define MEDIA_DOWNLINK_RECOVER_MS 1000
#define MEDIA_MAX_EARCONS 8
#define MEDIA_EARCON_MAX_SAMPLES (2 * AUDIO_SAMPLE_RATE)

enum media_cmd_type {
	MEDIA_CMD_STOP,
	MEDIA_CMD_JOIN,
	MEDIA_CMD_LEAVE,
	MEDIA_CMD_SET_SPEAKER,
	MEDIA_CMD_SET_MUTED,
	MEDIA_CMD_MEMBERS_ADD,
	MEDIA_CMD_MEMBER_REMOVE,
	MEDIA_CMD_MEMBER_BLOCK,
	MEDIA_CMD_KEY_BOX,
	MEDIA_CMD_SET_GAIN,
	MEDIA_CMD_PLAY,
	MEDIA_CMD_STOP_PLAY,
	MEDIA_CMD_RECORD,
	MEDIA_CMD_ALLOW_RECORDING,
	MEDIA_CMD_EARCON,
};

/* A message from the control thread; it owns what it points to. */
struct media_cmd {
	enum media_cmd_type type;
	struct media_join join;
	bool flag;
	uint64_t user_id;
	uint64_t member_number;
	float gain;
	struct media_member *members;
	size_t count;
	char *text;
	/* PLAY, RECORD: a stream opened by the caller, closed with backend if unused. */
	const struct audio_backend *backend;
	struct audio_stream *stream;
	uint64_t serial;
	int16_t *pcm; /* EARCON */
};

enum media_conn {
	MEDIA_CONN_IDLE,        /* not joined */
	MEDIA_CONN_HANDSHAKE,   /* first handshake of a join, or after a loss */
	MEDIA_CONN_UP,          /* session up (perhaps rekeying) */
	MEDIA_CONN_NEED_TICKET, /* gave up: waiting for media_join */
	MEDIA_CONN_CLOSED,      /* the relay closed us for good */
};

/* A remote speaker's playback state, created at its first frame. */
struct media_speaker {
	uint64_t member_number;
	struct jitter *jitter;
	struct codec_decoder *decoder;
	uint64_t last_packet_ms; /* media clock */
	bool speaking;
	uint64_t last_voice_ms;
	bool has_pcm; /* pcm holds a frame for this tick */
	int16_t *pcm;
};

struct media_gain {
	uint64_t user_id;
	float gain;
};

/* An earcon being played out. */
struct media_earcon {
	int16_t *pcm;
	size_t len, pos;
};

struct media_pending_box {
	uint64_t sender_user_id;
	uint64_t sender_member;
	uint8_t box[KEYS_BOX_LEN];
};

/* An SFrame frame that came under a key we lacked (its box may be on its way). */
struct media_held_frame {
	uint64_t arrival_ms; /* media clock */
	uint32_t source;     /* the relay's source tag */
	size_t len;
	uint8_t data[WIRE_MAX_DATAGRAM];
};

/* What one recvmmsg() call fills: datagrams and their kernel arrival times. */
struct media_rx {
	struct mmsghdr msgs[MEDIA_RECV_BATCH];
	struct iovec iov[MEDIA_RECV_BATCH];
	uint8_t buf[MEDIA_RECV_BATCH][WIRE_MAX_DATAGRAM + 1];
	union {
		struct cmsghdr align;
		char space[CMSG_SPACE(sizeof(struct timespec))];
	} control[MEDIA_RECV_BATCH];
};

struct media {
	struct media_config config;
	struct identity identity;
	struct queue *events;
	struct queue *commands;
	pthread_t thread;
	bool started;
	unsigned speed;
	size_t frame_samples;

	/* Stats, updated with relaxed atomics. */
	struct media_stats stats;

	/* Clocks: the media clock is 1000 + (now - base_ns) * speed, in ms. */
	uint64_t base_ns;
	uint64_t period_ns;
	uint64_t tick_index;

	/* Audio. */
	struct audio_stream *capture;
	struct audio_stream_info capture_info;
	bool capture_ended;
	bool capture_waiting; /* a pipe had nothing at the tick: poll its descriptor */
	uint64_t capture_tick; /* tick_index of the last frame captured */
	struct audio_stream *playback;
	struct audio_stream_info playback_info;
	struct audio_stream *recorder;
	const struct audio_backend *recorder_backend;
	struct audio_stream_info recorder_info;
	char *recorder_path;
	bool playback_records; /* the playback is a file or a pipe: a recording too */
	bool recording_allowed; /* recording_consent given (media_allow_recording) */
	/* media_play: a file or pipe spoken instead of the capture source. */
	struct audio_stream *play;
	const struct audio_backend *play_backend;
	struct audio_stream_info play_info;
	uint64_t play_serial;
	char *play_path;
	uint64_t next_play; /* serials handed out by media_play (atomic) */
	struct media_earcon earcons[MEDIA_MAX_EARCONS];
	size_t earcon_count;
	int16_t *out_pcm; /* what the playback gets: the mix (or silence) plus earcons */
	struct codec_encoder *encoder;
	struct dsp *dsp;
	struct mixer *mixer;
	int16_t *capture_pcm;
	int16_t *fifo; /* device-clocked capture: what the ring gave beyond a frame */
	size_t fifo_fill;
	int16_t *mix_pcm;
	int16_t *decode_pcm; /* CODEC_MAX_DECODE_SAMPLES */
	bool self_speaking;
	uint64_t self_last_voice_ms;

	/* Room and keys. */
	struct keys_peers *peers;
	struct keys_room *room;
	struct media_join join;
	bool joined;
	bool may_speak;
	bool muted;
	uint64_t next_ctr; /* our SFrame counter, kept across generations */
	/* The room's member list has come (or members_wait_ms, real clock, passed). */
	bool members_ready;
	uint64_t members_wait_ms;
	uint64_t members_settle_ms; /* real clock: the last member came before this */
	uint64_t stage_wait_ms; /* real clock: we stepped on stage; speak from then on */
	bool spoke; /* a frame went out since the room's keys began or we stepped on stage */
	struct media_member *members;
	size_t member_count;
	struct media_speaker **speakers;
	size_t speaker_count;
	struct media_gain *gains;
	size_t gain_count;
	struct media_pending_box *pending;
	size_t pending_count;
	/* A ring of MEDIA_MAX_HELD_FRAMES: held_count frames from held_first, oldest first. */
	struct media_held_frame *held;
	size_t held_first, held_count;

	/* Hop session. */
	enum media_conn conn;
	struct media_rx rx;
	/* The last drain stopped before the socket was empty: poll it until it is. */
	bool rx_backlog;
	uint64_t rx_floor_ns; /* monotonic: when the last drain began */
	int fd;
	struct hop_initiator init;
	uint8_t init_msg[WIRE_HANDSHAKE_INIT_LEN];
	bool handshaking; /* init and init_msg are live */
	uint64_t hs_first_ms, hs_next_ms, hs_backoff_ms;
	/* The last handshake was answered; init_msg still asks for its key and ticket. */
	bool hs_asking;
	bool hs_got_key, hs_got_resume;
	uint64_t hs_ask_next_ms, hs_ask_backoff_ms;
	struct hop_session session;
	bool has_session;
	bool ever_connected; /* since the last media_join */
	struct downlink_key downlink;
	bool has_downlink;
	uint8_t resume[WIRE_TICKET_LEN];
	bool has_resume;
	uint64_t last_rx_ms, last_tx_ms;
	/* DOWNLINK frames under a key index we lack (its DOWNLINK_KEY was lost?). */
	uint64_t dl_miss_first_ms; /* 0: none since the last good frame or key */
	unsigned dl_miss_count;
	uint64_t dl_recover_ms;    /* the last recovery handshake, rate-limiting them */
	unsigned drop_keys_left;   /* config.drop_downlink_keys still to ignore */
};

#define STAT_ADD(m, field, n) __atomic_fetch_add(&(m)->stats.field, (n), __ATOMIC_RELAXED)

/* ---- events ---- */

void media_event_free(struct media_event *event)
{
	if (event == NULL)
		return;
	free(event->sealed);
	free(event->message);
	free(event);
}

static struct media_event *media_event_new(struct media *m, enum media_event_type type)
{
	struct media_event *ev = xcalloc(1, sizeof(*ev));

	ev->type = type;
	ev->room_id = m->join.room_id;
	return ev;
}

static void media_emit(struct media *m, enum media_event_type type)
{
	queue_push(m->events, media_event_new(m, type));
}

static void media_emit_user(struct media *m, enum media_event_type type, uint64_t user_id)
{
	struct media_event *ev = media_event_new(m, type);

	ev->user_id = user_id;
	queue_push(m->events, ev);
}

/* Hands sealed boxes to the control thread, or drops them when we may not speak. */
static void media_emit_sealed(struct media *m, struct keys_sealed *sealed, size_t count)
{
	struct media_event *ev;

	if (!m->may_speak || count == 0) {
		if (sealed != NULL)
			sodium_memzero(sealed, count * sizeof(*sealed));
		free(sealed);
		return;
	}
	ev = media_event_new(m, MEDIA_EVENT_KEYS_SEALED);
	ev->user_id = m->config.user_id;
	ev->generation = keys_room_generation(m->room);
	ev->sealed = sealed;
	ev->sealed_count = count;
	queue_push(m->events, ev);
}

/* ---- clocks ---- */

/* The media clock in ms at monotonic time ns (not before base_ns). */
static uint64_t media_clock_at_ms(const struct media *m, uint64_t ns)
{
	return 1000 + (ns - m->base_ns) * m->speed / 1000000u;
}

/* The media clock in ms: the monotonic clock, clock_speed times faster. */
static uint64_t media_clock_ms(const struct media *m)
{
	return media_clock_at_ms(m, util_now_ns());
}

/* The media-clock time at which tick index was due. */
static uint64_t media_tick_ms(const struct media *m, uint64_t index)
{
	return 1000 + index * m->config.frame_ms;
}

/* The monotonic time at which the next tick (tick_index + 1) is due. */
static uint64_t media_next_tick_ns(const struct media *m)
{
	return m->base_ns + (m->tick_index + 1) * m->period_ns;
}

/* ---- members, gains, speakers ---- */

static struct media_member *media_member_find(struct media *m, uint64_t user_id)
{
	for (size_t i = 0; i < m->member_count; i++)
		if (m->members[i].user_id == user_id)
			return &m->members[i];
	return NULL;
}

static uint64_t media_user_of(const struct media *m, uint64_t member_number)
{
	for (size_t i = 0; i < m->member_count; i++)
		if (m->members[i].member_number == member_number)
			return m->members[i].user_id;
	return 0;
}

static float media_gain_of(const struct media *m, uint64_t user_id)
{
	for (size_t i = 0; i < m->gain_count; i++)
		if (m->gains[i].user_id == user_id)
			return m->gains[i].gain;
	return 1.0f;
}

static void media_speaker_free(struct media_speaker *s)
{
	if (s == NULL)
		return;
	jitter_free(s->jitter);
	codec_decoder_free(s->decoder);
	free(s->pcm);
	free(s);
}

static struct media_speaker *media_speaker_get(struct media *m, uint64_t member_number)
{
	struct media_speaker *s;

	for (size_t i = 0; i < m->speaker_count; i++)
		if (m->speakers[i]->member_number == member_number)
			return m->speakers[i];
	s = xcalloc(1, sizeof(*s));
	if (codec_decoder_new(&s->decoder) < 0) {
		free(s);
		return NULL;
	}
	s->member_number = member_number;
	s->jitter = jitter_new(m->config.frame_ms);
	s->pcm = xcalloc(m->frame_samples, sizeof(int16_t));
	m->speakers = xreallocarray(m->speakers, m->speaker_count + 1, sizeof(*m->speakers));
	m->speakers[m->speaker_count++] = s;
	return s;
}

/* Forgets a speaker's playback state, telling the control thread it went quiet. */
static void media_speaker_drop(struct media *m, uint64_t member_number)
{
	for (size_t i = 0; i < m->speaker_count; i++) {
		struct media_speaker *s = m->speakers[i];

		if (s->member_number != member_number)
			continue;
		if (s->speaking) {
			uint64_t user = media_user_of(m, member_number);

			if (user != 0)
				media_emit_user(m, MEDIA_EVENT_SPEAKING_STOPPED, user);
		}
		media_speaker_free(s);
		m->speakers[i] = m->speakers[--m->speaker_count];
		return;
	}
}

/* ---- the hop session ---- */

static void media_send(struct media *m, const uint8_t *buf, size_t len)
{
	if (m->fd < 0)
		return;
	if (send(m->fd, buf, len, MSG_DONTWAIT) < 0)
		log_debug("media: send: %s", strerror(errno));
	else
		m->last_tx_ms = util_now_ms();
}

/* Seals an inner message into our session and sends it. */
static void media_send_inner(struct media *m, const uint8_t *inner, size_t len)
{
	uint8_t out[WIRE_MAX_DATAGRAM];
	size_t out_len;
	int ret;

	if (!m->has_session || len == 0)
		return;
	ret = hop_seal(&m->session, inner, len, out, sizeof(out), &out_len);
	if (ret < 0) {
		log_debug("media: hop_seal: %s", strerror(-ret));
		return;
	}
	media_send(m, out, out_len);
}

static int media_socket_open(struct media *m, char **error)
{
	struct addrinfo hints = {.ai_socktype = SOCK_DGRAM,
				 .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	int fd, ret;

	ret = getaddrinfo(m->join.relay_host, m->join.relay_port, &hints, &ai);
	if (ret != 0 || ai == NULL) {
		*error = xasprintf(_("bad relay address %s port %s"), m->join.relay_host,
				   m->join.relay_port);
		return -EINVAL;
	}
	fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		ret = -errno;
		*error = xasprintf(_("cannot reach the media relay %s port %s: %s"),
				   m->join.relay_host, m->join.relay_port, strerror(-ret));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return ret;
	}
	freeaddrinfo(ai);
	/*
	 * The kernel's arrival time of each datagram: the socket is read once per frame
	 * tick (media_receive), and the jitter estimate wants when a frame came, not
	 * when we read it. Without it (it never fails on Linux) we use the read time.
	 */
	if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &(int){1}, sizeof(int)) < 0)
		log_debug("media: SO_TIMESTAMPNS: %s", strerror(errno));
	m->fd = fd;
	m->rx_backlog = false;
	m->rx_floor_ns = util_now_ns();
	return 0;
}

static void media_socket_close(struct media *m)
{
	if (m->fd >= 0)
		close(m->fd);
	m->fd = -1;
}

/* Starts a handshake with ticket (a join or resume ticket) and sends message 1. */
static void media_handshake_start(struct media *m, const uint8_t ticket[WIRE_TICKET_LEN])
{
	uint64_t now = util_now_ms();
	int ret;

	ret = hop_initiator_start(&m->init, m->join.relay_public, ticket, randombytes_random(),
				  m->init_msg);
	if (ret < 0) {
		log_warn(_("media: cannot start a handshake: %s"), strerror(-ret));
		return;
	}
	m->handshaking = true;
	m->hs_asking = false;
	m->hs_first_ms = now;
	m->hs_backoff_ms = MEDIA_HANDSHAKE_FIRST_RESEND_MS;
	m->hs_next_ms = now + m->hs_backoff_ms;
	media_send(m, m->init_msg, sizeof(m->init_msg));
}

static void media_handshake_cancel(struct media *m)
{
	if (m->handshaking)
		sodium_memzero(&m->init, sizeof(m->init));
	m->handshaking = false;
}

/*
 * Our hop session broke (or a new join ticket replaces it): every speaker's stream
 * has a hole from our side. Forget their playback state, so that each starts
 * afresh at its next frame. (A kept jitter buffer would mostly cope too, taking the
 * hole for a sender pause, but its clock and measures date from before the hole.)
 */
static void media_speakers_restart(struct media *m)
{
	while (m->speaker_count > 0)
		media_speaker_drop(m, m->speakers[0]->member_number);
}

/* The session is lost: try the resume ticket, or ask for a new join ticket. */
static void media_session_lost(struct media *m)
{
	bool was_up = m->conn == MEDIA_CONN_UP;

	if (m->has_session)
		sodium_memzero(&m->session, sizeof(m->session));
	m->has_session = false;
	media_handshake_cancel(m);
	if (was_up)
		media_emit(m, MEDIA_EVENT_DISCONNECTED);
	media_speakers_restart(m);
	if (m->has_resume) {
		m->conn = MEDIA_CONN_HANDSHAKE;
		STAT_ADD(m, reconnects, 1);
		media_handshake_start(m, m->resume);
		/* A resume ticket is good for one handshake. */
		sodium_memzero(m->resume, sizeof(m->resume));
		m->has_resume = false;
	} else {
		m->conn = MEDIA_CONN_NEED_TICKET;
		media_emit(m, MEDIA_EVENT_NEED_TICKET);
	}
}

/*
 * The last handshake's DOWNLINK_KEY or resume ticket has not come: ask again with
 * the same HANDSHAKE_INIT (a retransmission to the relay, which sends both again,
 * without a new session), backing off, while the relay still knows it.
 */
static void media_ask_again(struct media *m, uint64_t now)
{
	if (!m->hs_asking || m->handshaking || now < m->hs_ask_next_ms)
		return;
	if ((m->hs_got_key && m->hs_got_resume) || now - m->hs_first_ms >= MEDIA_ASK_WINDOW_MS) {
		m->hs_asking = false;
		return;
	}
	log_debug("media: no %s yet; asking the relay again",
		  m->hs_got_key ? "resume ticket" : "downlink key");
	STAT_ADD(m, key_asks, 1);
	media_send(m, m->init_msg, sizeof(m->init_msg));
	m->hs_ask_backoff_ms *= 2;
	m->hs_ask_next_ms = now + m->hs_ask_backoff_ms;
}

/* Hop housekeeping on each tick: resends, keepalives, rekeys and timeouts. */
static void media_hop_tick(struct media *m)
{
	uint64_t now = util_now_ms();
	uint8_t inner[8];

	if (m->conn == MEDIA_CONN_IDLE || m->conn == MEDIA_CONN_CLOSED ||
	    m->conn == MEDIA_CONN_NEED_TICKET)
		return;
	if (m->handshaking && now >= m->hs_next_ms) {
		if (now - m->hs_first_ms >= MEDIA_HANDSHAKE_GIVEUP_MS) {
			media_handshake_cancel(m);
			if (m->conn == MEDIA_CONN_UP) {
				/* A rekey failed: the session still works until it expires. */
				log_debug("media: rekey got no answer");
			} else {
				m->conn = MEDIA_CONN_NEED_TICKET;
				media_emit(m, MEDIA_EVENT_NEED_TICKET);
				return;
			}
		} else {
			/* Identical, so the relay answers it as a retransmission. */
			media_send(m, m->init_msg, sizeof(m->init_msg));
			m->hs_backoff_ms *= 2;
			if (m->hs_backoff_ms > MEDIA_HANDSHAKE_MAX_RESEND_MS)
				m->hs_backoff_ms = MEDIA_HANDSHAKE_MAX_RESEND_MS;
			m->hs_next_ms = now + m->hs_backoff_ms;
		}
	}
	if (m->conn != MEDIA_CONN_UP || !m->has_session)
		return;
	media_ask_again(m, now);
	if (now - m->last_rx_ms > HOP_TIMEOUT_MS) {
		log_info(_("media: the relay has been silent for %d s"), HOP_TIMEOUT_MS / 1000);
		media_session_lost(m);
		return;
	}
	if (!m->handshaking && now - m->session.created_ms >= HOP_REKEY_AFTER_MS) {
		if (m->has_resume) {
			media_handshake_start(m, m->resume);
			sodium_memzero(m->resume, sizeof(m->resume));
			m->has_resume = false;
		} else if (now - m->session.created_ms >= HOP_REJECT_AFTER_MS) {
			media_session_lost(m);
			return;
		}
	}
	if (now - m->last_tx_ms >= HOP_KEEPALIVE_MS)
		media_send_inner(m, inner, wire_inner_write_keepalive(inner));
}

static void media_handle_resp(struct media *m, const struct wire_datagram *d)
{
	struct hop_session session;

	if (!m->handshaking && m->hs_asking)
		return; /* the answer to asking again: the key and ticket follow it */
	if (!m->handshaking || hop_initiator_finish(&m->init, d, &session) < 0) {
		STAT_ADD(m, datagrams_dropped, 1);
		return;
	}
	m->handshaking = false;
	m->session = session;
	sodium_memzero(&session, sizeof(session));
	m->has_session = true;
	m->last_rx_ms = util_now_ms();
	m->hs_asking = true;
	m->hs_got_key = m->hs_got_resume = false;
	m->hs_ask_backoff_ms = MEDIA_ASK_FIRST_MS;
	m->hs_ask_next_ms = m->last_rx_ms + m->hs_ask_backoff_ms;
	if (m->conn != MEDIA_CONN_UP) {
		m->conn = MEDIA_CONN_UP;
		m->ever_connected = true;
		media_emit(m, MEDIA_EVENT_CONNECTED);
	}
}

static void media_handle_close(struct media *m, enum wire_close_reason reason)
{
	struct media_event *ev;

	switch (reason) {
	case WIRE_CLOSE_REMOVED:
	case WIRE_CLOSE_ROOM_ENDED:
		sodium_memzero(&m->session, sizeof(m->session));
		m->has_session = false;
		media_handshake_cancel(m);
		m->has_resume = false;
		m->conn = MEDIA_CONN_CLOSED;
		ev = media_event_new(m, MEDIA_EVENT_CLOSED);
		ev->reason = (int)reason;
		queue_push(m->events, ev);
		return;
	case WIRE_CLOSE_EXPIRED:
	case WIRE_CLOSE_SHUTDOWN:
	case WIRE_CLOSE_BYE:
	default:
		log_debug("media: the relay closed the session (%d)", (int)reason);
		media_session_lost(m);
		return;
	}
}

static void media_handle_transport(struct media *m, const struct wire_datagram *d)
{
	uint8_t pt[WIRE_MAX_DATAGRAM];
	size_t pt_len;
	struct wire_inner inner;

	if (!m->has_session || d->receiver_index != m->session.local_index ||
	    hop_open(&m->session, d, pt, sizeof(pt), &pt_len) < 0 ||
	    wire_inner_parse(pt, pt_len, &inner) < 0) {
		STAT_ADD(m, datagrams_dropped, 1);
		return;
	}
	m->last_rx_ms = util_now_ms();
	switch (inner.type) {
	case WIRE_INNER_DOWNLINK_KEY:
		if (m->drop_keys_left > 0) {
			m->drop_keys_left--;
			break;
		}
		m->dl_miss_first_ms = 0;
		m->dl_miss_count = 0;
		m->hs_got_key = true;
		sodium_memzero(&m->downlink, sizeof(m->downlink));
		m->downlink.key_index = inner.key_index;
		memcpy(m->downlink.key, inner.key, WIRE_KEY_LEN);
		replay_init(&m->downlink.replay);
		m->has_downlink = true;
		break;
	case WIRE_INNER_RESUME_TICKET:
		memcpy(m->resume, inner.ticket, WIRE_TICKET_LEN);
		m->has_resume = true;
		m->hs_got_resume = true;
		break;
	case WIRE_INNER_KEEPALIVE:
		break;
	case WIRE_INNER_CLOSE:
		media_handle_close(m, inner.reason);
		break;
	case WIRE_INNER_MEDIA:
	default:
		/* Only clients send MEDIA. */
		STAT_ADD(m, datagrams_dropped, 1);
		break;
	}
	sodium_memzero(pt, sizeof(pt));
}

/*
 * A DOWNLINK frame came under a key index we do not have. The relay sends
 * DOWNLINK_KEY once per handshake; if that datagram was lost, every frame would be
 * dropped until the next rekey (minutes). When such frames keep coming (for a while,
 * or many of them), redo the handshake with the resume ticket: the relay answers
 * every handshake with a fresh DOWNLINK_KEY. Without a resume ticket, the session is
 * given up and NEED_TICKET asks for a join ticket. At most one recovery a second.
 */
static void media_downlink_unknown_key(struct media *m)
{
	uint64_t now = util_now_ms();

	if (m->conn != MEDIA_CONN_UP || !m->has_session || m->handshaking)
		return;
	if (m->dl_miss_first_ms == 0) {
		m->dl_miss_first_ms = now;
		m->dl_miss_count = 0;
	}
	m->dl_miss_count++;
	if (now - m->dl_miss_first_ms < MEDIA_DOWNLINK_MISS_MS &&
	    m->dl_miss_count < MEDIA_DOWNLINK_MISS_FRAMES)
		return;
	if (m->dl_recover_ms != 0 && now - m->dl_recover_ms < MEDIA_DOWNLINK_RECOVER_MS)
		return;
	m->dl_recover_ms = now;
	m->dl_miss_first_ms = 0;
	m->dl_miss_count = 0;
	STAT_ADD(m, downlink_recoveries, 1);
	log_info(_("media: frames under an unknown downlink key; handshaking again"));
	if (m->has_resume) {
		media_handshake_start(m, m->resume);
		sodium_memzero(m->resume, sizeof(m->resume));
		m->has_resume = false;
	} else {
		media_session_lost(m);
	}
}

/*
 * Opens an SFrame frame that the relay tagged with source and queues its Opus packet
 * for its speaker, as arrived at now (media clock). Returns 0 when queued, the
 * error of keys_room_unprotect (-ENOKEY: no key yet; *hdr is then set), or -EPROTO
 * when the frame authenticates but its KID disagrees with the relay's source tag or
 * it is empty.
 */
static int media_open_frame(struct media *m, const uint8_t *frame, size_t frame_len,
			    uint32_t source, uint64_t now, struct sframe_header *hdr)
{
	uint8_t packet[WIRE_MAX_DATAGRAM];
	struct media_speaker *s;
	size_t packet_len;
	int ret;

	ret = keys_room_unprotect(m->room, frame, frame_len, packet, sizeof(packet), &packet_len,
				  hdr, now);
	if (ret < 0)
		return ret;
	/*
	 * The KID names the speaker end to end; the relay's source tag must agree, or
	 * the relay mixed something up.
	 */
	if ((uint32_t)sframe_kid_sender(hdr->kid) != source || packet_len == 0) {
		sodium_memzero(packet, sizeof(packet));
		return -EPROTO;
	}
	STAT_ADD(m, frames_received, 1);
	s = media_speaker_get(m, sframe_kid_sender(hdr->kid));
	if (s != NULL) {
		s->last_packet_ms = now;
		(void)jitter_push(s->jitter, hdr->ctr, packet, packet_len, now);
	}
	sodium_memzero(packet, sizeof(packet));
	return 0;
}

/* Keeps a frame that came under a key we lack, dropping the oldest when full. */
static void media_held_add(struct media *m, const uint8_t *frame, size_t frame_len,
			   uint32_t source, uint64_t now)
{
	struct media_held_frame *h;

	if (frame_len > sizeof(m->held[0].data))
		return;
	if (m->held == NULL)
		m->held = xcalloc(MEDIA_MAX_HELD_FRAMES, sizeof(*m->held));
	if (m->held_count == MEDIA_MAX_HELD_FRAMES) {
		m->held_first = (m->held_first + 1) % MEDIA_MAX_HELD_FRAMES;
		m->held_count--;
	}
	h = &m->held[(m->held_first + m->held_count++) % MEDIA_MAX_HELD_FRAMES];
	h->arrival_ms = now;
	h->source = source;
	h->len = frame_len;
	memcpy(h->data, frame, frame_len);
}

/*
 * A key box opened: tries the held frames again, oldest first, so that what a
 * speaker said before its box reached us is played rather than lost. Frames
 * that no key opens yet stay (another box may open them) until MEDIA_HELD_MAX_MS
 * old; a forged one costs a few failed decryptions, no more.
 */
static void media_held_retry(struct media *m)
{
	struct sframe_header hdr;
	size_t kept = 0, opened = 0;
	uint64_t now;

	if (m->held_count == 0 || m->room == NULL)
		return;
	now = media_clock_ms(m);
	for (size_t i = 0; i < m->held_count; i++) {
		struct media_held_frame *h = &m->held[(m->held_first + i) % MEDIA_MAX_HELD_FRAMES];
		int ret = now - h->arrival_ms <= MEDIA_HELD_MAX_MS
			      ? media_open_frame(m, h->data, h->len, h->source, now, &hdr)
			      : -ETIME;

		if (ret == -ENOKEY || ret == -EBADMSG) {
			/* Kept ones close ranks from held_first on, in order. */
			if (kept != i)
				m->held[(m->held_first + kept) % MEDIA_MAX_HELD_FRAMES] = *h;
			kept++;
		} else if (ret == 0) {
			opened++;
		}
	}
	if (opened > 0)
		log_debug("media: %zu frames held for their key opened", opened);
	m->held_count = kept;
}

static void media_held_clear(struct media *m)
{
	free(m->held);
	m->held = NULL;
	m->held_first = m->held_count = 0;
}

/* A DOWNLINK frame: open both layers and queue the Opus packet for its speaker. */
static void media_handle_downlink(struct media *m, const struct wire_datagram *d, uint64_t now)
{
	uint8_t frame[WIRE_MAX_DATAGRAM];
	size_t frame_len;
	struct sframe_header hdr;
	uint32_t source;
	int ret;

	if (!m->has_downlink || d->key_index != m->downlink.key_index) {
		STAT_ADD(m, datagrams_dropped, 1);
		media_downlink_unknown_key(m);
		return;
	}
	if (downlink_open(&m->downlink, d, &source, frame, sizeof(frame), &frame_len) < 0) {
		STAT_ADD(m, datagrams_dropped, 1);
		return;
	}
	m->dl_miss_first_ms = 0;
	if (m->room == NULL) {
		STAT_ADD(m, frames_undecryptable, 1);
		return;
	}
	memset(&hdr, 0, sizeof(hdr));
	ret = media_open_frame(m, frame, frame_len, source, now, &hdr);
	if (ret == -ENOKEY || ret == -EBADMSG) {
		/*
		 * No key yet, or (-EBADMSG with the header known) the speaker's key moved
		 * on to a new chain whose box has not come yet: hold it for the box.
		 */
		STAT_ADD(m, frames_undecryptable, 1);
		if (hdr.kid != 0 && (uint32_t)sframe_kid_sender(hdr.kid) == source)
			media_held_add(m, frame, frame_len, source, now);
	} else if (ret == -ENOTSUP) {
		STAT_ADD(m, frames_undecryptable, 1);
	} else if (ret < 0) {
		STAT_ADD(m, datagrams_dropped, 1);
	}
}

/*
 * When msg's datagram arrived, in media-clock ms: its kernel timestamp (realtime),
 * carried over to the monotonic clock through the pair of readings (mono_ns,
 * real_ns) taken after it was read. It is kept between the start of the previous
 * drain (it was not there yet, or that drain would have read it) and now, so a step
 * of the realtime clock cannot move it further.
 */
static uint64_t media_arrival_ms(const struct media *m, const struct msghdr *msg,
				 uint64_t mono_ns, uint64_t real_ns, uint64_t floor_ns)
{
	uint64_t ns = mono_ns;

	for (const struct cmsghdr *c = CMSG_FIRSTHDR(msg); c != NULL;
	     c = CMSG_NXTHDR((struct msghdr *)msg, (struct cmsghdr *)c)) {
		struct timespec ts;
		uint64_t stamp;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_TIMESTAMPNS ||
		    c->cmsg_len < CMSG_LEN(sizeof(ts)))
			continue;
		memcpy(&ts, CMSG_DATA(c), sizeof(ts));
		stamp = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
		if (stamp <= real_ns)
			ns = real_ns - stamp < mono_ns - floor_ns ? mono_ns - (real_ns - stamp)
								  : floor_ns;
		break;
	}
	return media_clock_at_ms(m, ns);
}

/* One datagram read off the relay socket, which arrived at media-clock time now. */
static void media_handle_datagram(struct media *m, const uint8_t *buf, size_t len, uint64_t now)
{
	struct wire_datagram d;

	if (m->conn == MEDIA_CONN_CLOSED || m->conn == MEDIA_CONN_IDLE ||
	    wire_parse(buf, len, &d) < 0) {
		STAT_ADD(m, datagrams_dropped, 1);
		return;
	}
	switch (d.type) {
	case WIRE_HANDSHAKE_RESP:
		media_handle_resp(m, &d);
		break;
	case WIRE_TRANSPORT:
		media_handle_transport(m, &d);
		break;
	case WIRE_DOWNLINK:
		m->last_rx_ms = util_now_ms();
		media_handle_downlink(m, &d, now);
		break;
	case WIRE_HANDSHAKE_INIT:
	default:
		STAT_ADD(m, datagrams_dropped, 1);
		break;
	}
}

/*
 * Reads what the relay socket holds, MEDIA_RECV_BATCH datagrams per recvmmsg().
 * Once the session is up this runs once per frame tick rather than on every
 * datagram's arrival: one wake-up per tick whatever the number of speakers, the
 * jitter buffers playing only on ticks anyway (the arrival times are the kernel's).
 * A drain that leaves datagrams behind sets rx_backlog, and the socket is polled.
 */
static void media_receive(struct media *m)
{
	struct media_rx *rx = &m->rx;
	uint64_t floor_ns = m->rx_floor_ns;
	int fd = m->fd;

	m->rx_floor_ns = util_now_ns();
	m->rx_backlog = false;
	for (int calls = 0; m->fd >= 0 && m->fd == fd; calls++) {
		struct timespec real;
		uint64_t mono_ns, real_ns;
		int n;

		if (calls == MEDIA_RECV_CALLS) {
			m->rx_backlog = true;
			return;
		}
		for (int i = 0; i < MEDIA_RECV_BATCH; i++) {
			rx->iov[i] = (struct iovec){.iov_base = rx->buf[i],
						    .iov_len = sizeof(rx->buf[i])};
			rx->msgs[i].msg_hdr = (struct msghdr){
				.msg_iov = &rx->iov[i],
				.msg_iovlen = 1,
				.msg_control = rx->control[i].space,
				.msg_controllen = sizeof(rx->control[i].space),
			};
			rx->msgs[i].msg_len = 0;
		}
		n = recvmmsg(fd, rx->msgs, MEDIA_RECV_BATCH, MSG_DONTWAIT, NULL);
		if (n < 0) {
			/* ECONNREFUSED: an ICMP error from a relay that is not (yet) there. */
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNREFUSED)
				log_debug("media: recv: %s", strerror(errno));
			/*
			 * Refused while the session is up: the relay is gone (it crashed or
			 * restarted, and a new one would not know our session). Waiting for the
			 * hop timeout would cost 30 s of silence; start over now.
			 */
			if (errno == ECONNREFUSED && m->conn == MEDIA_CONN_UP && m->has_session) {
				log_info(_("media: the relay refused our datagrams"));
				media_session_lost(m);
				continue;
			}
			if (errno == EINTR || errno == ECONNREFUSED)
				continue;
			return;
		}
		mono_ns = util_now_ns();
		clock_gettime(CLOCK_REALTIME, &real);
		real_ns = (uint64_t)real.tv_sec * 1000000000u + (uint64_t)real.tv_nsec;
		for (int i = 0; i < n; i++) {
			const struct msghdr *msg = &rx->msgs[i].msg_hdr;

			/* A datagram handled before may have closed the socket. */
			if (m->fd != fd || (msg->msg_flags & MSG_TRUNC)) {
				STAT_ADD(m, datagrams_dropped, 1);
				continue;
			}
			media_handle_datagram(
				m, rx->buf[i], rx->msgs[i].msg_len,
				media_arrival_ms(m, msg, mono_ns, real_ns, floor_ns));
		}
		if (n < MEDIA_RECV_BATCH)
			return;
	}
}

/* ---- keys ---- */

/*
 * Runs a key step (members joined, or a rotation) keeping our SFrame counter
 * running: the new generation has a new KID, so carrying on from where the old
 * one stopped never reuses a (key, CTR) pair and keeps listeners' buffers steady.
 */
static void media_keep_counter(struct media *m)
{
	(void)keys_room_set_counter(m->room, m->next_ctr);
}

static void media_rotate(struct media *m)
{
	struct keys_sealed *sealed = NULL;
	size_t count = 0;
	int ret;

	ret = keys_room_rotate(m->room, media_clock_ms(m), &sealed, &count);
	if (ret < 0) {
		log_warn(_("media: cannot rotate our key: %s"), strerror(-ret));
		return;
	}
	media_keep_counter(m);
	media_emit_sealed(m, sealed, count);
}

/* Tries a key box; returns keys_room_open's result (or -ENOENT with no room). */
static int media_open_box(struct media *m, uint64_t sender_user_id, uint64_t sender_member,
			  const uint8_t box[KEYS_BOX_LEN])
{
	if (m->room == NULL)
		return -ENOENT;
	return keys_room_open(m->room, sender_user_id, sender_member, box, KEYS_BOX_LEN,
			      media_clock_ms(m));
}

static void media_pending_add(struct media *m, uint64_t sender_user_id, uint64_t sender_member,
			      const uint8_t box[KEYS_BOX_LEN])
{
	struct media_pending_box *p;

	if (m->pending_count == MEDIA_MAX_PENDING_BOXES) {
		sodium_memzero(&m->pending[0], sizeof(m->pending[0]));
		memmove(&m->pending[0], &m->pending[1],
			(m->pending_count - 1) * sizeof(m->pending[0]));
		m->pending_count--;
	}
	m->pending = xreallocarray(m->pending, m->pending_count + 1, sizeof(*m->pending));
	p = &m->pending[m->pending_count++];
	p->sender_user_id = sender_user_id;
	p->sender_member = sender_member;
	memcpy(p->box, box, KEYS_BOX_LEN);
}

/* Tries the boxes that waited for their sender or the room again. */
static void media_pending_retry(struct media *m)
{
	size_t kept = 0;

	bool opened = false;

	for (size_t i = 0; i < m->pending_count; i++) {
		struct media_pending_box *p = &m->pending[i];
		int ret = media_open_box(m, p->sender_user_id, p->sender_member, p->box);

		if (ret == -ENOENT) {
			m->pending[kept++] = *p;
		} else {
			opened = opened || ret == 0;
			sodium_memzero(p, sizeof(*p));
		}
	}
	m->pending_count = kept;
	if (opened)
		media_held_retry(m);
}

static void media_pending_clear(struct media *m)
{
	if (m->pending != NULL)
		sodium_memzero(m->pending, m->pending_count * sizeof(*m->pending));
	free(m->pending);
	m->pending = NULL;
	m->pending_count = 0;
}

/* Adds members that the room's keys do not know yet, sealing our key to them. */
static void media_room_add(struct media *m, const struct media_member *members, size_t count)
{
	uint64_t *user_ids = xcalloc(count + 1, sizeof(*user_ids));
	uint64_t *numbers = xcalloc(count + 1, sizeof(*numbers));
	struct keys_sealed *sealed = NULL;
	size_t n = 0, sealed_count = 0;
	int ret;

	for (size_t i = 0; i < count; i++) {
		const struct media_member *mm = &members[i];

		if (mm->user_id == m->config.user_id || !keys_peers_has(m->peers, mm->user_id) ||
		    keys_room_is_member(m->room, mm->user_id) || mm->member_number == 0 ||
		    mm->member_number > KEYS_MEMBER_MAX)
			continue;
		user_ids[n] = mm->user_id;
		numbers[n] = mm->member_number;
		n++;
	}
	if (n > 0) {
		ret = keys_room_members_add(m->room, user_ids, numbers, n, &sealed, &sealed_count);
		if (ret < 0) {
			log_warn(_("media: cannot add %zu members to the room's keys: %s"), n,
				 strerror(-ret));
		} else {
			media_keep_counter(m);
			media_emit_sealed(m, sealed, sealed_count);
		}
	}
	free(user_ids);
	free(numbers);
}

/* ---- commands ---- */

static void media_cmd_free(struct media_cmd *cmd)
{
	if (cmd == NULL)
		return;
	free(cmd->members);
	free(cmd->pcm);
	if (cmd->stream != NULL)
		cmd->backend->close(cmd->stream);
	if (cmd->text != NULL) {
		sodium_memzero(cmd->text, strlen(cmd->text));
		free(cmd->text);
	}
	sodium_memzero(&cmd->join, sizeof(cmd->join));
	free(cmd);
}

static void media_cmd_free_message(void *message)
{
	media_cmd_free(message);
}

static void media_leave_room(struct media *m)
{
	uint8_t inner[8];

	if (m->has_session)
		media_send_inner(m, inner, wire_inner_write_close(inner, WIRE_CLOSE_BYE));
	sodium_memzero(&m->session, sizeof(m->session));
	m->has_session = false;
	media_handshake_cancel(m);
	sodium_memzero(m->resume, sizeof(m->resume));
	m->has_resume = false;
	sodium_memzero(&m->downlink, sizeof(m->downlink));
	m->has_downlink = false;
	media_socket_close(m);
	while (m->speaker_count > 0)
		media_speaker_drop(m, m->speakers[0]->member_number);
	if (m->self_speaking) {
		m->self_speaking = false;
		media_emit_user(m, MEDIA_EVENT_SPEAKING_STOPPED, m->config.user_id);
	}
	keys_room_free(m->room);
	m->room = NULL;
	free(m->members);
	m->members = NULL;
	m->member_count = 0;
	media_pending_clear(m);
	media_held_clear(m);
	m->joined = false;
	m->conn = MEDIA_CONN_IDLE;
}

static void media_do_join(struct media *m, const struct media_join *join)
{
	char *error = NULL;
	int ret;

	if (m->joined &&
	    (join->room_id != m->join.room_id || join->member_number != m->join.member_number))
		media_leave_room(m);
	/* A new join ticket replaces whatever session we had. */
	media_speakers_restart(m);
	if (m->has_session)
		sodium_memzero(&m->session, sizeof(m->session));
	m->has_session = false;
	media_handshake_cancel(m);
	sodium_memzero(m->resume, sizeof(m->resume));
	m->has_resume = false;
	m->has_downlink = false;
	media_socket_close(m);
	m->join = *join;
	m->may_speak = join->may_speak;
	if (m->room == NULL) {
		ret = keys_room_new(&m->room, m->peers, join->room_id, join->member_number,
				    m->config.suite);
		if (ret < 0) {
			struct media_event *ev = media_event_new(m, MEDIA_EVENT_ERROR);

			ev->message = xasprintf(_("cannot set up the room's keys: %s"),
						strerror(-ret));
			queue_push(m->events, ev);
			m->conn = MEDIA_CONN_IDLE;
			return;
		}
		m->next_ctr = 0;
		m->spoke = false;
		m->members_ready = m->member_count > 0;
		m->members_wait_ms = util_now_ms() + MEDIA_MEMBERS_WAIT_MS;
		media_room_add(m, m->members, m->member_count);
	}
	m->joined = true;
	media_pending_retry(m);
	ret = media_socket_open(m, &error);
	if (ret < 0) {
		struct media_event *ev = media_event_new(m, MEDIA_EVENT_ERROR);

		ev->message = error;
		queue_push(m->events, ev);
		m->conn = MEDIA_CONN_NEED_TICKET;
		media_emit(m, MEDIA_EVENT_NEED_TICKET);
		return;
	}
	m->conn = MEDIA_CONN_HANDSHAKE;
	m->last_rx_ms = m->last_tx_ms = util_now_ms();
	media_handshake_start(m, join->ticket);
}

static void media_do_members_add(struct media *m, const struct media_member *members,
				 size_t count)
{
	for (size_t i = 0; i < count; i++) {
		const struct media_member *mm = &members[i];
		struct media_member *known;
		int ret;

		if (mm->user_id == m->config.user_id)
			continue;
		ret = keys_peers_set(m->peers, mm->user_id, mm->public_key);
		if (ret < 0) {
			log_warn(_("media: member %llu has an unusable key (%s)"),
				 (unsigned long long)mm->user_id, strerror(-ret));
			continue;
		}
		/* A key that changed under us is blocked until the user accepts it. */
		(void)keys_peers_set_blocked(m->peers, mm->user_id, mm->blocked || ret == 1);
		known = media_member_find(m, mm->user_id);
		if (known == NULL) {
			m->members = xreallocarray(m->members, m->member_count + 1,
						   sizeof(*m->members));
			known = &m->members[m->member_count++];
		}
		*known = *mm;
		known->blocked = mm->blocked || ret == 1;
	}
	if (m->room != NULL)
		media_room_add(m, members, count);
	/* The engine hands the join's member list over after the join itself. */
	m->members_ready = true;
	if (!m->spoke)
		m->members_settle_ms = util_now_ms() + MEDIA_MEMBERS_SETTLE_MS;
	media_pending_retry(m);
}

static void media_do_member_remove(struct media *m, uint64_t user_id)
{
	struct media_member *known = media_member_find(m, user_id);

	if (known != NULL) {
		media_speaker_drop(m, known->member_number);
		*known = m->members[--m->member_count];
	}
	if (m->room != NULL)
		(void)keys_room_member_remove(m->room, user_id);
}

static void media_do_member_block(struct media *m, uint64_t user_id, bool blocked)
{
	struct media_member *known = media_member_find(m, user_id);
	struct keys_sealed *sealed;

	if (known != NULL)
		known->blocked = blocked;
	if (keys_peers_set_blocked(m->peers, user_id, blocked) < 0)
		return;
	/* Unblocked (its new key accepted): it gets our current key now. */
	if (!blocked && m->room != NULL && m->may_speak &&
	    keys_room_is_member(m->room, user_id)) {
		sealed = xcalloc(1, sizeof(*sealed));
		if (keys_room_seal_to(m->room, user_id, sealed) == 0) {
			media_emit_sealed(m, sealed, 1);
		} else {
			free(sealed);
		}
	}
}

static void media_do_key_box(struct media *m, uint64_t sender_user_id, uint64_t sender_member,
			     const char *text)
{
	uint8_t box[KEYS_BOX_LEN];
	int ret;

	if (keys_box_from_text(box, text) < 0) {
		log_warn(_("media: a key box from user %llu is not valid text"),
			 (unsigned long long)sender_user_id);
		return;
	}
	ret = media_open_box(m, sender_user_id, sender_member, box);
	if (ret == 0)
		media_held_retry(m);
	else if (ret == -ENOENT)
		media_pending_add(m, sender_user_id, sender_member, box);
	else if (ret < 0)
		log_warn(_("media: refused a key box from user %llu: %s"),
			 (unsigned long long)sender_user_id, strerror(-ret));
	sodium_memzero(box, sizeof(box));
}

static void media_do_set_gain(struct media *m, uint64_t user_id, float gain)
{
	if (!isfinite(gain) || gain < 0)
		gain = 0;
	for (size_t i = 0; i < m->gain_count; i++) {
		if (m->gains[i].user_id == user_id) {
			m->gains[i].gain = gain;
			return;
		}
	}
	m->gains = xreallocarray(m->gains, m->gain_count + 1, sizeof(*m->gains));
	m->gains[m->gain_count++] = (struct media_gain){.user_id = user_id, .gain = gain};
}

/* Creates the Opus encoder (at start with a capture source, else at the first play). */
static int media_encoder_new(struct media *m, char **error)
{
	struct codec_encoder_config enc_config;
	int ret;

	codec_encoder_config_default(&enc_config);
	enc_config.frame_ms = m->config.frame_ms;
	enc_config.bitrate = (unsigned)m->config.bitrate;
	enc_config.complexity = (unsigned)m->config.complexity;
	ret = codec_encoder_new(&enc_config, &m->encoder);
	if (ret < 0)
		*error = xasprintf(_("cannot set up the Opus encoder (%d bit/s): %s"),
				   m->config.bitrate, strerror(-ret));
	return ret;
}

static void media_self_quiet(struct media *m)
{
	if (m->self_speaking) {
		m->self_speaking = false;
		media_emit_user(m, MEDIA_EVENT_SPEAKING_STOPPED, m->config.user_id);
	}
}

static void media_play_close(struct media *m)
{
	if (m->play != NULL)
		m->play_backend->close(m->play);
	m->play = NULL;
	free(m->play_path);
	m->play_path = NULL;
	m->capture_waiting = false;
}

/* The play reached its end (or failed): say so, and give the capture back. */
static void media_play_ended(struct media *m)
{
	struct media_event *ev = media_event_new(m, MEDIA_EVENT_PLAY_ENDED);

	ev->serial = m->play_serial;
	ev->message = m->play_path != NULL ? xstrdup(m->play_path) : NULL;
	queue_push(m->events, ev);
	media_play_close(m);
	media_self_quiet(m);
}

static void media_do_play(struct media *m, struct media_cmd *cmd)
{
	char *error = NULL;

	media_play_close(m);
	if (m->encoder == NULL && media_encoder_new(m, &error) < 0) {
		struct media_event *ev = media_event_new(m, MEDIA_EVENT_ERROR);

		ev->message = error;
		queue_push(m->events, ev);
		m->play_serial = cmd->serial;
		media_play_ended(m);
		return;
	}
	m->play = cmd->stream;
	m->play_backend = cmd->backend;
	cmd->stream = NULL;
	m->play_backend->info(m->play, &m->play_info);
	m->play_serial = cmd->serial;
	m->play_path = cmd->text;
	cmd->text = NULL;
	/* The next tick reads from it, even if the capture already sent this tick's. */
	m->capture_tick = m->tick_index - 1;
}

static void media_recorder_close(struct media *m)
{
	if (m->recorder != NULL && m->recorder_backend->close(m->recorder) < 0)
		log_warn(_("media: finishing the recording %s failed"), m->recorder_path);
	m->recorder = NULL;
	free(m->recorder_path);
	m->recorder_path = NULL;
}

static void media_do_record(struct media *m, struct media_cmd *cmd)
{
	media_recorder_close(m);
	if (cmd->stream == NULL)
		return;
	m->recorder = cmd->stream;
	m->recorder_backend = cmd->backend;
	cmd->stream = NULL;
	m->recorder_backend->info(m->recorder, &m->recorder_info);
	m->recorder_path = cmd->text;
	cmd->text = NULL;
}

static void media_do_earcon(struct media *m, struct media_cmd *cmd)
{
	struct media_earcon *e;

	if (m->playback == NULL || m->earcon_count == MEDIA_MAX_EARCONS || cmd->count == 0)
		return;
	e = &m->earcons[m->earcon_count++];
	e->pcm = cmd->pcm;
	e->len = cmd->count;
	e->pos = 0;
	cmd->pcm = NULL;
}

/* Adds the earcons' next frame to pcm, saturating, and retires those that ended. */
static void media_earcons_mix(struct media *m, int16_t *pcm)
{
	size_t kept = 0;

	for (size_t i = 0; i < m->earcon_count; i++) {
		struct media_earcon *e = &m->earcons[i];

		for (size_t k = 0; k < m->frame_samples && e->pos < e->len; k++) {
			int32_t v = (int32_t)pcm[k] + e->pcm[e->pos++];

			v = v > INT16_MAX ? INT16_MAX : v;
			pcm[k] = (int16_t)(v < INT16_MIN ? INT16_MIN : v);
		}
		if (e->pos < e->len)
			m->earcons[kept++] = *e;
		else
			free(e->pcm);
	}
	m->earcon_count = kept;
}

/* Runs every queued command; returns false when asked to stop. */
static bool media_run_commands(struct media *m)
{
	struct media_cmd *cmd;
	bool running = true;

	while ((cmd = queue_pop(m->commands)) != NULL) {
		switch (cmd->type) {
		case MEDIA_CMD_STOP:
			running = false;
			break;
		case MEDIA_CMD_JOIN:
			media_do_join(m, &cmd->join);
			break;
		case MEDIA_CMD_LEAVE:
			if (m->joined)
				media_leave_room(m);
			break;
		case MEDIA_CMD_SET_SPEAKER:
			if (cmd->flag && !m->may_speak && m->room != NULL) {
				/*
				 * Nobody holds a key of ours we could use: start afresh. The
				 * engine now fetches the members we were not told of in the
				 * audience; those that come before our first frame get this
				 * key itself rather than a ratchet of it.
				 */
				m->may_speak = true;
				media_rotate(m);
				m->stage_wait_ms = util_now_ms() + MEDIA_STAGE_WAIT_MS;
				m->spoke = false;
			}
			m->may_speak = cmd->flag;
			break;
		case MEDIA_CMD_SET_MUTED:
			m->muted = cmd->flag;
			break;
		case MEDIA_CMD_MEMBERS_ADD:
			media_do_members_add(m, cmd->members, cmd->count);
			break;
		case MEDIA_CMD_MEMBER_REMOVE:
			media_do_member_remove(m, cmd->user_id);
			break;
		case MEDIA_CMD_MEMBER_BLOCK:
			media_do_member_block(m, cmd->user_id, cmd->flag);
			break;
		case MEDIA_CMD_KEY_BOX:
			media_do_key_box(m, cmd->user_id, cmd->member_number, cmd->text);
			break;
		case MEDIA_CMD_SET_GAIN:
			media_do_set_gain(m, cmd->user_id, cmd->gain);
			break;
		case MEDIA_CMD_PLAY:
			media_do_play(m, cmd);
			break;
		case MEDIA_CMD_STOP_PLAY:
			if (m->play != NULL) {
				media_play_close(m);
				media_self_quiet(m);
			}
			break;
		case MEDIA_CMD_RECORD:
			media_do_record(m, cmd);
			break;
		case MEDIA_CMD_ALLOW_RECORDING:
			m->recording_allowed = cmd->flag;
			break;
		case MEDIA_CMD_EARCON:
			media_do_earcon(m, cmd);
			break;
		}
		media_cmd_free(cmd);
	}
	return running;
}

/* ---- capture ---- */

static double media_rms(const int16_t *pcm, size_t n)
{
	/* Exact in integers (each square is below 2^31), and vectorised. */
	uint64_t sum = 0;

	for (size_t i = 0; i < n; i++)
		sum += (uint64_t)((int32_t)pcm[i] * pcm[i]);
	return n > 0 ? sqrt((double)sum / (double)n) : 0;
}

/*
 * Speaking detection with hysteresis: a frame above the start level starts it, and
 * it stops once no frame above the lower level has come for the hangover time.
 * Returns 1 when it started, -1 when it stopped, 0 otherwise.
 */
static int media_detect(bool *speaking, uint64_t *last_voice_ms, const int16_t *pcm, size_t n,
			uint64_t now)
{
	double rms = pcm != NULL ? media_rms(pcm, n) : 0;

	if (rms >= (*speaking ? MEDIA_SPEAK_KEEP_RMS : MEDIA_SPEAK_START_RMS))
		*last_voice_ms = now;
	if (!*speaking && rms >= MEDIA_SPEAK_START_RMS) {
		*speaking = true;
		return 1;
	}
	if (*speaking && now - *last_voice_ms >= MEDIA_SPEAK_HANGOVER_MS) {
		*speaking = false;
		return -1;
	}
	return 0;
}

/*
 * Whether what we speak can be heard: joined, up, on stage, not muted; and before
 * our first frame, the room's member list has come and settled (or we waited
 * MEDIA_MEMBERS_WAIT_MS for it, for a room where nobody else is), and
 * MEDIA_STAGE_WAIT_MS have passed since we stepped on stage, so that every member
 * present gets our key before our first frame rather than a ratchet of it after.
 */
static bool media_can_send(const struct media *m)
{
	return m->encoder != NULL && m->may_speak && !m->muted && m->room != NULL &&
	       m->conn == MEDIA_CONN_UP && m->has_session &&
	       (m->spoke || ((m->members_ready || util_now_ms() >= m->members_wait_ms) &&
			     util_now_ms() >= m->members_settle_ms &&
			     util_now_ms() >= m->stage_wait_ms));
}

static bool media_sending(const struct media *m)
{
	return m->capture != NULL && !m->capture_ended && media_can_send(m);
}

/* Reads the capture file again from the start (loop_capture). */
static int media_capture_reopen(struct media *m)
{
	struct audio_params params = m->capture_info.params;
	int ret;

	m->config.capture->close(m->capture);
	m->capture = NULL;
	ret = m->config.capture->open_capture(m->config.capture_device, &params, &m->capture,
					      NULL);
	if (ret < 0)
		m->capture = NULL;
	return ret;
}

/* Reads one frame into capture_pcm: 1 when there is one, 0 when none, < 0 at the end. */
static int media_capture_read(struct media *m)
{
	const struct audio_backend *b = m->config.capture;
	size_t want = m->frame_samples;
	int n;

	if (m->capture_info.device_clock) {
		/*
		 * Take everything the ring holds into our own FIFO, keep at most
		 * MEDIA_CAPTURE_MAX_BACKLOG frames of it (latency stays bounded when the
		 * device runs fast), and hand out one frame, padded with silence when the
		 * device delivered less (underrun).
		 */
		size_t cap = (MEDIA_CAPTURE_MAX_BACKLOG + 1) * want;
		size_t got;

		while (m->fifo_fill < cap) {
			n = b->read(m->capture, m->fifo + m->fifo_fill, cap - m->fifo_fill);
			if (n == 0 || n == AUDIO_EOF)
				break;
			if (n < 0)
				return n;
			m->fifo_fill += (size_t)n;
		}
		if (m->fifo_fill == cap) {
			/* Still more waiting: the oldest audio goes. */
			int16_t drop[CODEC_MAX_FRAME_SAMPLES];

			while (b->read(m->capture, drop, want) > 0)
				;
			memmove(m->fifo, m->fifo + want, (cap - want) * sizeof(int16_t));
			m->fifo_fill -= want;
		}
		got = m->fifo_fill < want ? m->fifo_fill : want;
		memcpy(m->capture_pcm, m->fifo, got * sizeof(int16_t));
		memset(m->capture_pcm + got, 0, (want - got) * sizeof(int16_t));
		memmove(m->fifo, m->fifo + got, (m->fifo_fill - got) * sizeof(int16_t));
		m->fifo_fill -= got;
		return 1;
	}
	for (int attempt = 0; attempt < 2; attempt++) {
		n = b->read(m->capture, m->capture_pcm, want);
		if (n > 0) {
			if ((size_t)n < want)
				memset(m->capture_pcm + n, 0, (want - (size_t)n) * sizeof(int16_t));
			return 1;
		}
		if (n == 0)
			return 0;
		if (n != AUDIO_EOF || !m->config.loop_capture || media_capture_reopen(m) < 0)
			return n;
	}
	return AUDIO_EOF;
}

/* Encodes, protects and sends the frame in capture_pcm. */
static void media_send_frame(struct media *m)
{
	uint8_t packet[CODEC_MAX_PACKET];
	uint8_t inner[WIRE_MAX_INNER];
	size_t frame_len;
	int len, ret;

	len = codec_encode(m->encoder, m->capture_pcm, packet, sizeof(packet));
	if (len < 0) {
		log_warn(_("media: encoding failed: %s"), strerror(-len));
		return;
	}
	ret = keys_room_protect(m->room, packet, (size_t)len, inner + 1, sizeof(inner) - 1,
				&frame_len);
	if (ret == -ERANGE) {
		media_rotate(m);
		ret = keys_room_protect(m->room, packet, (size_t)len, inner + 1, sizeof(inner) - 1,
					&frame_len);
	}
	if (ret < 0) {
		log_warn(_("media: cannot protect a frame: %s"), strerror(-ret));
		return;
	}
	m->next_ctr = keys_room_sender(m->room)->next_ctr;
	m->spoke = true;
	media_send_inner(m, inner, wire_inner_write_media(inner, inner + 1, frame_len));
	STAT_ADD(m, frames_sent, 1);
}

/* The capture half of a tick while media_play's stream speaks instead. */
static void media_play_tick(struct media *m, uint64_t tick_ms)
{
	int n, change;

	/* A device keeps running meanwhile: drain it, so that no stale audio waits. */
	if (m->capture != NULL && !m->capture_ended && m->capture_info.device_clock)
		(void)media_capture_read(m);
	if (!media_can_send(m)) {
		change = media_detect(&m->self_speaking, &m->self_last_voice_ms, NULL, 0, tick_ms);
		if (change < 0)
			media_emit_user(m, MEDIA_EVENT_SPEAKING_STOPPED, m->config.user_id);
		return;
	}
	if (m->capture_tick == m->tick_index)
		return; /* one frame per tick */
	n = m->play_backend->read(m->play, m->capture_pcm, m->frame_samples);
	if (n == 0) {
		m->capture_waiting = m->play_info.poll_fd >= 0;
		return;
	}
	if (n < 0) {
		if (n != AUDIO_EOF)
			log_warn(_("media: playing %s failed: %s"), m->play_path, strerror(-n));
		media_play_ended(m);
		return;
	}
	if ((size_t)n < m->frame_samples)
		memset(m->capture_pcm + n, 0, (m->frame_samples - (size_t)n) * sizeof(int16_t));
	m->capture_tick = m->tick_index;
	change = media_detect(&m->self_speaking, &m->self_last_voice_ms, m->capture_pcm,
			      m->frame_samples, tick_ms);
	if (change > 0)
		media_emit_user(m, MEDIA_EVENT_SPEAKING_STARTED, m->config.user_id);
	else if (change < 0)
		media_emit_user(m, MEDIA_EVENT_SPEAKING_STOPPED, m->config.user_id);
	media_send_frame(m);
}

/* The capture half of a tick (or of a late pipe wake-up). */
static void media_capture_tick(struct media *m, uint64_t tick_ms)
{
	int ret, change;

	m->capture_waiting = false;
	if (m->play != NULL) {
		media_play_tick(m, tick_ms);
		return;
	}
	if (m->capture == NULL || m->capture_ended)
		return;
	if (!media_sending(m)) {
		/* Keep a device's ring from filling with what nobody will hear. */
		if (m->capture_info.device_clock)
			(void)media_capture_read(m);
		change = media_detect(&m->self_speaking, &m->self_last_voice_ms, NULL, 0, tick_ms);
		if (change < 0)
			media_emit_user(m, MEDIA_EVENT_SPEAKING_STOPPED, m->config.user_id);
		return;
	}
	if (m->capture_tick == m->tick_index)
		return; /* one frame per tick */
	ret = media_capture_read(m);
	if (ret == 0) {
		m->capture_waiting = m->capture_info.poll_fd >= 0;
		return;
	}
	if (ret < 0) {
		if (ret != AUDIO_EOF)
			log_warn(_("media: capture failed: %s"), strerror(-ret));
		m->capture_ended = true;
		media_emit(m, MEDIA_EVENT_CAPTURE_ENDED);
		if (m->self_speaking) {
			m->self_speaking = false;
			media_emit_user(m, MEDIA_EVENT_SPEAKING_STOPPED, m->config.user_id);
		}
		return;
	}
	m->capture_tick = m->tick_index;
	if (m->dsp != NULL)
		(void)dsp_process(m->dsp, m->capture_pcm, m->frame_samples);
	change = media_detect(&m->self_speaking, &m->self_last_voice_ms, m->capture_pcm,
			      m->frame_samples, tick_ms);
	if (change > 0)
		media_emit_user(m, MEDIA_EVENT_SPEAKING_STARTED, m->config.user_id);
	else if (change < 0)
		media_emit_user(m, MEDIA_EVENT_SPEAKING_STOPPED, m->config.user_id);
	media_send_frame(m);
}

/* ---- playback ---- */

/* Decodes what the jitter buffer says for this tick into s->pcm. */
static void media_speaker_tick(struct media *m, struct media_speaker *s, uint64_t tick_ms)
{
	struct jitter_frame f;
	int n = 0;

	s->has_pcm = false;
	jitter_pop(s->jitter, tick_ms, &f);
	switch (f.action) {
	case JITTER_PACKET:
		n = codec_decode(s->decoder, f.data, f.len, m->decode_pcm,
				 CODEC_MAX_DECODE_SAMPLES);
		break;
	case JITTER_FEC:
		n = codec_decode_fec(s->decoder, f.data, f.len, m->decode_pcm,
				     CODEC_MAX_DECODE_SAMPLES);
		if (n > 0)
			STAT_ADD(m, frames_fec, 1);
		break;
	case JITTER_CONCEAL:
		if (tick_ms > s->last_packet_ms + MEDIA_PLC_MAX_MS)
			break;
		n = codec_decode_plc(s->decoder, m->decode_pcm, CODEC_MAX_DECODE_SAMPLES);
		if (n > 0)
			STAT_ADD(m, frames_concealed, 1);
		break;
	case JITTER_NOTHING:
	default:
		break;
	}
	if (n > 0) {
		size_t got = (size_t)n < m->frame_samples ? (size_t)n : m->frame_samples;

		memcpy(s->pcm, m->decode_pcm, got * sizeof(int16_t));
		memset(s->pcm + got, 0, (m->frame_samples - got) * sizeof(int16_t));
		s->has_pcm = true;
	}
}

/*
 * Writes a frame to an output. A caller-clocked pipe that is full would block the
 * loop: the frame is dropped instead (returns 0). Returns the backend's result.
 */
static int media_output(const struct audio_backend *b, struct audio_stream *stream,
			const struct audio_stream_info *info, const int16_t *pcm, size_t n)
{
	if (!info->device_clock && info->poll_fd >= 0) {
		struct pollfd pfd = {.fd = info->poll_fd, .events = POLLOUT};

		if (poll(&pfd, 1, 0) <= 0 || !(pfd.revents & POLLOUT))
			return 0;
	}
	return b->write(stream, pcm, n);
}

static void media_playback_tick(struct media *m, uint64_t tick_ms)
{
	const int16_t *sources[64];
	float gains[64];
	size_t n = 0;
	bool gated;
	int ret;

	for (size_t i = 0; i < m->speaker_count; i++) {
		struct media_speaker *s = m->speakers[i];
		uint64_t user = media_user_of(m, s->member_number);
		int change;

		media_speaker_tick(m, s, tick_ms);
		change = media_detect(&s->speaking, &s->last_voice_ms, s->has_pcm ? s->pcm : NULL,
				      m->frame_samples, tick_ms);
		if (change != 0 && user != 0)
			media_emit_user(m,
					change > 0 ? MEDIA_EVENT_SPEAKING_STARTED
						   : MEDIA_EVENT_SPEAKING_STOPPED,
					user);
		if (s->has_pcm && n < ARRAY_SIZE(sources)) {
			sources[n] = s->pcm;
			gains[n] = media_gain_of(m, user);
			n++;
		}
	}
	if (m->playback == NULL && m->recorder == NULL)
		return;
	mixer_mix_s16(m->mixer, sources, gains, n, m->mix_pcm, m->frame_samples);
	gated = m->config.recording_consent && !m->recording_allowed;
	if (m->playback != NULL) {
		if (gated && m->playback_records)
			memset(m->out_pcm, 0, m->frame_samples * sizeof(int16_t));
		else
			memcpy(m->out_pcm, m->mix_pcm, m->frame_samples * sizeof(int16_t));
		media_earcons_mix(m, m->out_pcm);
		ret = media_output(m->config.playback, m->playback, &m->playback_info, m->out_pcm,
				   m->frame_samples);
		if (ret < 0) {
			log_warn(_("media: playback failed: %s"), strerror(-ret));
			m->config.playback->close(m->playback);
			m->playback = NULL;
			if (m->playback_records) {
				struct media_event *ev =
				    media_event_new(m, MEDIA_EVENT_RECORDING_ENDED);

				ev->reason = 1;
				queue_push(m->events, ev);
			}
		}
	}
	if (m->recorder != NULL) {
		if (gated)
			memset(m->out_pcm, 0, m->frame_samples * sizeof(int16_t));
		ret = media_output(m->recorder_backend, m->recorder, &m->recorder_info,
				   gated ? m->out_pcm : m->mix_pcm, m->frame_samples);
		if (ret < 0) {
			struct media_event *ev = media_event_new(m, MEDIA_EVENT_ERROR);

			ev->message = xasprintf(_("recording to %s failed: %s"), m->recorder_path,
						strerror(-ret));
			queue_push(m->events, ev);
			media_recorder_close(m);
			ev = media_event_new(m, MEDIA_EVENT_RECORDING_ENDED);
			ev->reason = 0;
			queue_push(m->events, ev);
		}
	}
}

/* ---- the loop ---- */

static void media_tick(struct media *m)
{
	uint64_t tick_ms = media_tick_ms(m, m->tick_index);

	media_hop_tick(m);
	media_capture_tick(m, tick_ms);
	media_playback_tick(m, tick_ms);
	if (m->room != NULL) {
		uint64_t now = media_clock_ms(m);

		if (keys_room_rotate_needed(m->room, now))
			media_rotate(m);
		keys_room_expire(m->room, now);
	}
}

/* Runs the ticks that are due by now, if any, after draining the relay socket. */
static void media_ticks_due(struct media *m)
{
	uint64_t now = util_now_ns(), expirations;

	if (now < media_next_tick_ns(m))
		return;
	expirations = (now - m->base_ns) / m->period_ns - m->tick_index;
	if (m->fd >= 0)
		media_receive(m);
	if (expirations > MEDIA_MAX_CATCHUP) {
		log_debug("media: %llu frame ticks late, skipping",
			  (unsigned long long)(expirations - MEDIA_MAX_CATCHUP));
		m->tick_index += expirations - MEDIA_MAX_CATCHUP;
		expirations = MEDIA_MAX_CATCHUP;
	}
	while (expirations-- > 0) {
		m->tick_index++;
		media_tick(m);
	}
}

static void *media_thread(void *arg)
{
	struct media *m = arg;
	bool running = true;

	while (running) {
		struct pollfd pfds[3];
		nfds_t n = 0;
		int sock = -1, capture = -1;
		uint64_t now = util_now_ns(), next = media_next_tick_ns(m);
		uint64_t wait_ns = next > now ? next - now : 0;
		struct timespec timeout = {.tv_sec = (time_t)(wait_ns / 1000000000u),
					   .tv_nsec = (long)(wait_ns % 1000000000u)};

		pfds[n++] = (struct pollfd){.fd = queue_fd(m->commands), .events = POLLIN};
		/*
		 * Once the session is up, the socket is read on each tick (media_ticks_due)
		 * rather than woken for: a datagram waits at most a tick, which is when the
		 * jitter buffers would play it anyway, and hop control can wait that long.
		 */
		if (m->fd >= 0 && (m->conn != MEDIA_CONN_UP || m->rx_backlog)) {
			sock = (int)n;
			pfds[n++] = (struct pollfd){.fd = m->fd, .events = POLLIN};
		}
		if (m->capture_waiting && (m->play != NULL || m->capture != NULL)) {
			capture = (int)n;
			pfds[n++] = (struct pollfd){.fd = m->play != NULL ? m->play_info.poll_fd
									  : m->capture_info.poll_fd,
						    .events = POLLIN};
		}
		/*
		 * The frame clock is this timeout to the next tick's absolute time (a
		 * timerfd would cost a read() per tick): ticks do not drift, and a late
		 * wake-up runs the ticks it missed.
		 */
		if (ppoll(pfds, n, &timeout, NULL) < 0) {
			if (errno != EINTR)
				log_error(_("media: poll: %s"), strerror(errno));
			continue;
		}
		if (sock >= 0 && pfds[sock].revents != 0)
			media_receive(m);
		if (pfds[0].revents != 0)
			running = media_run_commands(m);
		if (running)
			media_ticks_due(m);
		if (capture >= 0 && pfds[capture].revents != 0)
			media_capture_tick(m, media_tick_ms(m, m->tick_index));
	}
	if (m->joined)
		media_leave_room(m);
	return NULL;
}

/* ---- public ---- */

static uint16_t media_default_suite(void)
{
	if (sodium_init() >= 0 && crypto_aead_aes256gcm_is_available())
		return SFRAME_SUITE_AES_256_GCM_SHA512_128;
	return SFRAME_SUITE_CHACHA20_POLY1305_SHA512;
}

static void media_free_resources(struct media *m)
{
	if (m->capture != NULL)
		m->config.capture->close(m->capture);
	if (m->playback != NULL)
		m->config.playback->close(m->playback);
	media_recorder_close(m);
	media_play_close(m);
	for (size_t i = 0; i < m->earcon_count; i++)
		free(m->earcons[i].pcm);
	free(m->out_pcm);
	codec_encoder_free(m->encoder);
	dsp_free(m->dsp);
	if (m->mixer != NULL)
		mixer_free(m->mixer);
	for (size_t i = 0; i < m->speaker_count; i++)
		media_speaker_free(m->speakers[i]);
	free(m->speakers);
	keys_room_free(m->room);
	if (m->peers != NULL)
		keys_peers_free(m->peers);
	media_pending_clear(m);
	media_held_clear(m);
	free(m->members);
	free(m->gains);
	free(m->capture_pcm);
	free(m->fifo);
	free(m->mix_pcm);
	free(m->decode_pcm);
	media_socket_close(m);
	if (m->commands != NULL)
		queue_free(m->commands, media_cmd_free_message);
	free((char *)m->config.capture_device);
	free((char *)m->config.playback_device);
	free((char *)m->config.record_path);
	sodium_memzero(&m->session, sizeof(m->session));
	sodium_memzero(&m->identity, sizeof(m->identity));
	free(m);
}

int media_new(const struct media_config *config, struct queue *events, struct media **out,
	      char **error)
{
	struct media *m;
	struct audio_params params;
	int ret;

	*error = NULL;
	if (config->identity == NULL || events == NULL) {
		*error = xasprintf(_("the media engine needs an identity and an event queue"));
		return -EINVAL;
	}
	if (config->frame_ms != 0 && config->frame_ms != 10 && config->frame_ms != 20) {
		*error = xasprintf(_("frames of %u ms are not supported (10 or 20)"),
				   config->frame_ms);
		return -EINVAL;
	}
	m = xcalloc(1, sizeof(*m));
	m->fd = -1;
	m->config = *config;
	m->config.capture_device = config->capture_device ? xstrdup(config->capture_device) : NULL;
	m->config.playback_device =
		config->playback_device ? xstrdup(config->playback_device) : NULL;
	m->config.record_path = config->record_path ? xstrdup(config->record_path) : NULL;
	m->identity = *config->identity;
	m->config.identity = &m->identity;
	if (m->config.frame_ms == 0)
		m->config.frame_ms = CODEC_DEFAULT_FRAME_MS;
	if (m->config.bitrate <= 0)
		m->config.bitrate = CODEC_DEFAULT_BITRATE;
	if (m->config.complexity < 0 || m->config.complexity > 10)
		m->config.complexity = CODEC_DEFAULT_COMPLEXITY;
	if (m->config.suite == 0)
		m->config.suite = media_default_suite();
	m->speed = config->clock_speed > 1 ? config->clock_speed : 1;
	m->drop_keys_left = config->drop_downlink_keys;
	m->events = events;
	m->frame_samples = AUDIO_SAMPLE_RATE / 1000 * m->config.frame_ms;
	m->capture_pcm = xcalloc(m->frame_samples, sizeof(int16_t));
	m->fifo = xcalloc((MEDIA_CAPTURE_MAX_BACKLOG + 1) * m->frame_samples, sizeof(int16_t));
	m->mix_pcm = xcalloc(m->frame_samples, sizeof(int16_t));
	m->out_pcm = xcalloc(m->frame_samples, sizeof(int16_t));
	m->decode_pcm = xcalloc(CODEC_MAX_DECODE_SAMPLES, sizeof(int16_t));
	m->mixer = mixer_new(AUDIO_SAMPLE_RATE);

	if (!sframe_suite_available(m->config.suite)) {
		*error = xasprintf(_("the SFrame cipher suite 0x%04x cannot run here"),
				   (unsigned)m->config.suite);
		ret = -ENOTSUP;
		goto fail;
	}
	m->peers = keys_peers_new(&m->identity, m->config.user_id);
	m->commands = queue_new();
	if (m->peers == NULL || m->commands == NULL) {
		ret = m->peers == NULL ? -EIO : -errno;
		*error = xasprintf(_("cannot start the media engine: %s"), strerror(-ret));
		goto fail;
	}
	params = (struct audio_params){.sample_rate = AUDIO_SAMPLE_RATE,
				       .channels = 1,
				       .frame_samples = (unsigned)m->frame_samples};
	if (config->capture != NULL) {
		ret = config->capture->open_capture(m->config.capture_device, &params,
						    &m->capture, error);
		if (ret < 0)
			goto fail_quiet;
		config->capture->info(m->capture, &m->capture_info);
		ret = media_encoder_new(m, error);
		if (ret < 0)
			goto fail;
		if (m->config.dsp) {
			ret = dsp_new(AUDIO_SAMPLE_RATE, m->frame_samples, &m->dsp);
			if (ret < 0) {
				*error = xasprintf(_("cannot set up noise suppression: %s"),
						   strerror(-ret));
				goto fail;
			}
		}
	}
	if (config->playback != NULL) {
		ret = config->playback->open_playback(m->config.playback_device, &params,
						      &m->playback, error);
		if (ret < 0)
			goto fail_quiet;
		config->playback->info(m->playback, &m->playback_info);
		m->playback_records = config->playback == &audio_file_backend ||
				      config->playback == &audio_pipe_backend;
	}
	if (m->config.record_path != NULL) {
		ret = audio_file_backend.open_playback(m->config.record_path, &params,
						       &m->recorder, error);
		if (ret < 0)
			goto fail_quiet;
		m->recorder_backend = &audio_file_backend;
		m->recorder_backend->info(m->recorder, &m->recorder_info);
		m->recorder_path = xstrdup(m->config.record_path);
	}
	*out = m;
	return 0;
fail:
fail_quiet:
	if (*error == NULL)
		*error = xasprintf(_("cannot start the media engine: %s"), strerror(-ret));
	media_free_resources(m);
	return ret;
}

int media_start(struct media *m)
{
	int ret;

	if (m->started)
		return -EALREADY;
	m->base_ns = util_now_ns();
	m->period_ns = (uint64_t)m->config.frame_ms * 1000000u / m->speed;
	ret = pthread_create(&m->thread, NULL, media_thread, m);
	if (ret != 0)
		return -ret;
	m->started = true;
	return 0;
}

static void media_push(struct media *m, struct media_cmd *cmd)
{
	queue_push(m->commands, cmd);
}

static struct media_cmd *media_cmd_new(enum media_cmd_type type)
{
	struct media_cmd *cmd = xcalloc(1, sizeof(*cmd));

	cmd->type = type;
	return cmd;
}

void media_free(struct media *m)
{
	if (m == NULL)
		return;
	if (m->started) {
		media_push(m, media_cmd_new(MEDIA_CMD_STOP));
		pthread_join(m->thread, NULL);
	}
	media_free_resources(m);
}

void media_join(struct media *m, const struct media_join *join)
{
	struct media_cmd *cmd = media_cmd_new(MEDIA_CMD_JOIN);

	cmd->join = *join;
	cmd->join.relay_host[sizeof(cmd->join.relay_host) - 1] = '\0';
	cmd->join.relay_port[sizeof(cmd->join.relay_port) - 1] = '\0';
	media_push(m, cmd);
}

void media_leave(struct media *m)
{
	media_push(m, media_cmd_new(MEDIA_CMD_LEAVE));
}

void media_set_speaker(struct media *m, bool may_speak)
{
	struct media_cmd *cmd = media_cmd_new(MEDIA_CMD_SET_SPEAKER);

	cmd->flag = may_speak;
	media_push(m, cmd);
}

void media_set_muted(struct media *m, bool muted)
{
	struct media_cmd *cmd = media_cmd_new(MEDIA_CMD_SET_MUTED);

	cmd->flag = muted;
	media_push(m, cmd);
}

void media_members_add(struct media *m, const struct media_member *members, size_t count)
{
	struct media_cmd *cmd = media_cmd_new(MEDIA_CMD_MEMBERS_ADD);

	cmd->members = xreallocarray(NULL, count + 1, sizeof(*members));
	if (count > 0)
		memcpy(cmd->members, members, count * sizeof(*members));
	cmd->count = count;
	media_push(m, cmd);
}

void media_member_remove(struct media *m, uint64_t user_id)
{
	struct media_cmd *cmd = media_cmd_new(MEDIA_CMD_MEMBER_REMOVE);

	cmd->user_id = user_id;
	media_push(m, cmd);
}

void media_member_block(struct media *m, uint64_t user_id, bool blocked)
{
	struct media_cmd *cmd = media_cmd_new(MEDIA_CMD_MEMBER_BLOCK);

	cmd->user_id = user_id;
	cmd->flag = blocked;
	media_push(m, cmd);
}

void media_key_box(struct media *m, uint64_t sender_user_id, uint64_t sender_member,
		   const char *box_text)
{
	struct media_cmd *cmd = media_cmd_new(MEDIA_CMD_KEY_BOX);

	cmd->user_id = sender_user_id;
	cmd->member_number = sender_member;
	cmd->text = xstrdup(box_text != NULL ? box_text : "");
	media_push(m, cmd);
}

void media_set_gain(struct media *m, uint64_t user_id, float gain)
{
	struct media_cmd *cmd = media_cmd_new(MEDIA_CMD_SET_GAIN);

	cmd->user_id = user_id;
	cmd->gain = gain;
	media_push(m, cmd);
}

/* Opens path for media_play or media_record: "-" through the pipe, else a file. */
static int media_open_stream(struct media *m, const char *path, bool playback,
			     const struct audio_backend **backend, struct audio_stream **stream,
			     char **error)
{
	struct audio_params params = {.sample_rate = AUDIO_SAMPLE_RATE,
				      .channels = 1,
				      .frame_samples = (unsigned)m->frame_samples};

	*error = NULL;
	if (path == NULL || path[0] == '\0') {
		*error = xstrdup(_("No file given."));
		return -EINVAL;
	}
	*backend = strcmp(path, "-") == 0 ? &audio_pipe_backend : &audio_file_backend;
	if (playback)
		return (*backend)->open_playback(path, &params, stream, error);
	return (*backend)->open_capture(path, &params, stream, error);
}

int media_play(struct media *m, const char *path, char **error)
{
	struct media_cmd *cmd = media_cmd_new(MEDIA_CMD_PLAY);
	int ret;

	ret = media_open_stream(m, path, false, &cmd->backend, &cmd->stream, error);
	if (ret < 0) {
		if (*error == NULL)
			*error = xasprintf(_("Cannot play %s: %s"), path ? path : "",
					   strerror(-ret));
		media_cmd_free(cmd);
		return ret;
	}
	cmd->serial = __atomic_add_fetch(&m->next_play, 1, __ATOMIC_RELAXED);
	cmd->text = xstrdup(path);
	ret = (int)(cmd->serial & 0x7fffffff);
	media_push(m, cmd);
	return ret > 0 ? ret : 1;
}

void media_stop_play(struct media *m)
{
	media_push(m, media_cmd_new(MEDIA_CMD_STOP_PLAY));
}

int media_record(struct media *m, const char *path, char **error)
{
	struct media_cmd *cmd = media_cmd_new(MEDIA_CMD_RECORD);
	int ret;

	*error = NULL;
	if (path != NULL) {
		ret = media_open_stream(m, path, true, &cmd->backend, &cmd->stream, error);
		if (ret < 0) {
			if (*error == NULL)
				*error = xasprintf(_("Cannot record to %s: %s"), path,
						   strerror(-ret));
			media_cmd_free(cmd);
			return ret;
		}
		cmd->text = xstrdup(path);
	}
	media_push(m, cmd);
	return 0;
}

void media_allow_recording(struct media *m, bool allowed)
{
	struct media_cmd *cmd = media_cmd_new(MEDIA_CMD_ALLOW_RECORDING);

	cmd->flag = allowed;
	media_push(m, cmd);
}

void media_earcon(struct media *m, const int16_t *pcm, size_t samples)
{
	struct media_cmd *cmd;

	if (pcm == NULL || samples == 0)
		return;
	if (samples > MEDIA_EARCON_MAX_SAMPLES)
		samples = MEDIA_EARCON_MAX_SAMPLES;
	cmd = media_cmd_new(MEDIA_CMD_EARCON);
	cmd->pcm = xreallocarray(NULL, samples, sizeof(int16_t));
	memcpy(cmd->pcm, pcm, samples * sizeof(int16_t));
	cmd->count = samples;
	media_push(m, cmd);
}

void media_get_stats(struct media *m, struct media_stats *stats)
{
	stats->frames_sent = __atomic_load_n(&m->stats.frames_sent, __ATOMIC_RELAXED);
	stats->frames_received = __atomic_load_n(&m->stats.frames_received, __ATOMIC_RELAXED);
	stats->frames_undecryptable =
		__atomic_load_n(&m->stats.frames_undecryptable, __ATOMIC_RELAXED);
	stats->frames_concealed = __atomic_load_n(&m->stats.frames_concealed, __ATOMIC_RELAXED);
	stats->frames_fec = __atomic_load_n(&m->stats.frames_fec, __ATOMIC_RELAXED);
	stats->datagrams_dropped =
		__atomic_load_n(&m->stats.datagrams_dropped, __ATOMIC_RELAXED);
	stats->reconnects = __atomic_load_n(&m->stats.reconnects, __ATOMIC_RELAXED);
	stats->downlink_recoveries =
		__atomic_load_n(&m->stats.downlink_recoveries, __ATOMIC_RELAXED);
	stats->key_asks = __atomic_load_n(&m->stats.key_asks, __ATOMIC_RELAXED);
}
