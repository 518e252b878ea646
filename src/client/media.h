/*
 * media.h - the client's media thread: one poll() loop over the relay socket, the
 * audio streams and a 10/20 ms frame clock (doc/PROTOCOL.md sections 2-6).
 *
 *   capture:  audio backend -> DSP (speexdsp: noise suppression, AGC) -> Opus (CBR)
 *             -> SFrame (keys.h sender) -> hop session -> UDP
 *   playback: UDP -> DOWNLINK open -> SFrame open (keys.h keyring) -> per-speaker
 *             jitter buffer (FEC, PLC) -> Opus decode -> mixer with limiter -> audio
 *             backend (and the recording, when one is asked for)
 *
 * The media thread owns everything above, including the room's end-to-end keys
 * (keys.h): the control (signaling) thread never touches them; it sends messages
 * with the media_* functions below, which are thread-safe, never block and take
 * copies of what they are given. The media thread reports back through the events
 * queue given to media_new (struct media_event, see below).
 *
 * It owns the hop session: handshake with the join ticket, resume tickets, rekey
 * before HOP_REKEY_AFTER_MS, keepalives, and reconnection with the latest resume
 * ticket when the session is lost. When it cannot get a session back by itself
 * (the relay restarted and forgot the resume ticket), it reports
 * MEDIA_EVENT_NEED_TICKET and the control thread joins again through the API and
 * calls media_join with the new ticket.
 *
 * Errors as in util.h.
 */
#ifndef SALON_MEDIA_H
#define SALON_MEDIA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audio.h"
#include "identity.h"
#include "keys.h"
#include "queue.h"

struct media;

struct media_config {
	/* Where speech comes from; NULL backend: we never speak (listen-only). */
	const struct audio_backend *capture;
	const char *capture_device;
	/* Where the room is heard; NULL backend: nothing is played. */
	const struct audio_backend *playback;
	const char *playback_device;
	/* Also write the mixed room audio to this file (file backend), or NULL. */
	const char *record_path;
	unsigned frame_ms;  /* 10 or 20 */
	int bitrate;        /* Opus CBR, bits per second */
	int complexity;     /* Opus complexity, 0..10 */
	uint16_t suite;     /* SFrame cipher suite */
	bool dsp;           /* speexdsp noise suppression and AGC on capture */
	bool loop_capture;  /* start a capture file again at its end (demo bots) */
	const struct identity *identity; /* ours: copied */
	uint64_t user_id;   /* ours, from login */
	/*
	 * Test knob (additive): 0 or 1 runs in real time; N > 1 runs the frame clock and
	 * every media timer (jitter, key rotation and grace, speaking detection) N times
	 * faster, so tests with caller-clocked (file) backends finish sooner. The hop
	 * timers (keepalive, rekey, timeouts) stay in real time: the relay keeps them.
	 */
	unsigned clock_speed;
	/*
	 * Additive: recording needs the room's consent. When true, the recorder (record_path
	 * or media_record) and a playback that is itself a recording (the file and pipe
	 * backends) get silence instead of the room's audio until media_allow_recording()
	 * says the recording was announced (doc/API.md, POST /v1/rooms/ID/recording); the
	 * engine sets it. When false (the default), they get the room from the start.
	 */
	bool recording_consent;
	/*
	 * Test knob (additive): ignore this many DOWNLINK_KEY messages from the relay, as
	 * if their datagrams had been lost, to exercise the recovery. 0 in real use.
	 */
	unsigned drop_downlink_keys;
};

/* What the control thread hands over at (re)join. */
struct media_join {
	uint64_t room_id;
	uint64_t member_number;   /* ours in this room */
	char relay_host[64];      /* numeric address */
	char relay_port[8];
	uint8_t relay_public[32];
	uint8_t ticket[32];
	bool may_speak;
};

/* A member as the control thread learns it from the API. */
struct media_member {
	uint64_t user_id;
	uint64_t member_number;
	uint8_t public_key[IDENTITY_PUBLIC_LEN]; /* Ed25519 */
	bool blocked; /* pinned key changed and not accepted: no keys to or from it */
};

enum media_event_type {
	MEDIA_EVENT_CONNECTED,        /* a hop session with the relay is up */
	MEDIA_EVENT_DISCONNECTED,     /* lost; reconnecting by itself */
	MEDIA_EVENT_NEED_TICKET,      /* cannot resume: join again and call media_join */
	MEDIA_EVENT_CLOSED,           /* the relay closed us: reason in .reason */
	MEDIA_EVENT_KEYS_SEALED,      /* post .sealed (count .sealed_count) via the API */
	MEDIA_EVENT_SPEAKING_STARTED, /* .user_id (ours too) */
	MEDIA_EVENT_SPEAKING_STOPPED,
	MEDIA_EVENT_CAPTURE_ENDED,    /* the capture file or pipe reached its end */
	MEDIA_EVENT_ERROR,            /* .message */
	/* Additive, below: */
	MEDIA_EVENT_PLAY_ENDED,       /* the media_play number .serial ended (.message: path) */
	/*
	 * A recording output stopped by itself (it failed, or the pipe's reader went
	 * away): .reason is 0 for the recorder, 1 for a file or pipe playback.
	 */
	MEDIA_EVENT_RECORDING_ENDED,
};

struct media_event {
	enum media_event_type type;
	uint64_t room_id;
	uint64_t user_id;
	int reason;                   /* CLOSED: enum wire_close_reason */
	uint32_t generation;          /* KEYS_SEALED: our sender key generation */
	struct keys_sealed *sealed;   /* KEYS_SEALED: owned by the event */
	size_t sealed_count;
	char *message;                /* ERROR: translated, owned by the event */
	uint64_t serial;              /* PLAY_ENDED: what media_play returned */
};

/* Frees an event popped from the events queue (and what it owns). */
void media_event_free(struct media_event *event);

/*
 * Creates the media engine; events are pushed to events (owned by the caller, who
 * must outlive the media). Opens the audio streams. Returns 0 and *out, or a
 * negative errno value with a translated message in *error (caller frees).
 */
int media_new(const struct media_config *config, struct queue *events, struct media **out,
	      char **error);

/* Starts and stops the media thread. media_free stops it if needed. */
int media_start(struct media *media);
void media_free(struct media *media);

/* Control-thread messages (any thread, non-blocking, arguments copied). */
void media_join(struct media *media, const struct media_join *join);
void media_leave(struct media *media);
void media_set_speaker(struct media *media, bool may_speak);
void media_set_muted(struct media *media, bool muted);
void media_members_add(struct media *media, const struct media_member *members, size_t count);
void media_member_remove(struct media *media, uint64_t user_id);
void media_member_block(struct media *media, uint64_t user_id, bool blocked);
/* A sealed key box for us from sender_user_id (member sender_member), as API text. */
void media_key_box(struct media *media, uint64_t sender_user_id, uint64_t sender_member,
		   const char *box_text);
/* Per-speaker playback gain (1.0 is unchanged). */
void media_set_gain(struct media *media, uint64_t user_id, float gain);

/*
 * Speaks from path instead of the capture source until it ends: "-" is raw PCM on
 * standard input (audio_pipe_backend), anything else a sound file read with the file
 * backend (48 kHz, mixed down to mono). The stream is opened here, on the caller's
 * thread, so that a bad path or format is told at once; the media thread then reads
 * it as it reads a capture file: only while we may be heard (joined, on stage, not
 * muted), so it starts when someone can hear it. No noise suppression is applied to
 * it. A play replaces the one before (which ends without a PLAY_ENDED event). When
 * it ends (or fails) the media thread sends MEDIA_EVENT_PLAY_ENDED with its number,
 * and the capture source takes over again. Returns the play's number (> 0), or a
 * negative errno value with a translated message in *error (caller frees). Any
 * thread, does not block on the media thread.
 */
int media_play(struct media *media, const char *path, char **error);

/* Stops what media_play started, without a PLAY_ENDED event. Any thread. */
void media_stop_play(struct media *media);

/*
 * Records the room's mix to path from now on, replacing the recorder of before (the
 * old file is finished): "-" is raw PCM on standard output (audio_pipe_backend),
 * anything else a file whose format follows its extension (.wav, .flac, .ogg,
 * .opus; see audio_file_backend). The file is created here, on the caller's thread.
 * path NULL stops and finishes the recording. Under recording_consent nothing but
 * silence is written until media_allow_recording(true). Returns 0, or a negative
 * errno value with a translated message in *error (caller frees). Any thread.
 */
int media_record(struct media *media, const char *path, char **error);

/*
 * Under recording_consent: whether the room was told that we record, so that the
 * recorder and a file or pipe playback may get its audio. Any thread.
 */
void media_allow_recording(struct media *media, bool allowed);

/*
 * Mixes samples of 16-bit mono PCM at AUDIO_SAMPLE_RATE (copied; at most 2 s are
 * kept) into what we hear, starting at the next frame: into the playback output
 * only, never into what we send nor into the recorder. Overlapping earcons add up
 * (with saturation); at most 8 play at once, more are dropped. Ignored without a
 * playback backend. Any thread.
 */
void media_earcon(struct media *media, const int16_t *pcm, size_t samples);

/* Counters for tests and benchmarks (a snapshot; any thread). */
struct media_stats {
	uint64_t frames_sent;
	uint64_t frames_received;    /* DOWNLINK frames that decrypted end to end */
	uint64_t frames_undecryptable; /* no key (yet), or failed SFrame */
	uint64_t frames_concealed;   /* PLC */
	uint64_t frames_fec;         /* recovered with in-band FEC */
	uint64_t datagrams_dropped;  /* malformed, forged, replayed */
	uint64_t reconnects;
	/* Additive: handshakes redone because DOWNLINK frames came under an unknown key. */
	uint64_t downlink_recoveries;
	/*
	 * Additive: a handshake's HANDSHAKE_INIT sent again after it was answered, because
	 * its DOWNLINK_KEY or resume ticket did not come (lost).
	 */
	uint64_t key_asks;
};
void media_get_stats(struct media *media, struct media_stats *stats);

#endif
