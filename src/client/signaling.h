/*
 * signaling.h - the client's HTTP JSON client for salond's API (doc/API.md), on
 * libcurl's multi interface, driven by the control thread's own loop.
 *
 * (Named signaling.h rather than signal.h: src/client is on the include path of
 * every client file, and a signal.h there would hide the system's <signal.h>.)
 *
 * One struct signaling holds a curl multi handle, the bearer token (in memory only,
 * never logged, wiped when replaced or freed), a list of timers and the event
 * stream. Nothing blocks: requests complete through callbacks that run inside
 * signaling_poll(), which the owning thread calls in its loop with its own extra
 * descriptors to wait on.
 *
 *   requests   method, path and an optional JSON body -> callback with the HTTP
 *              status, the parsed JSON answer and the transport error. Answers
 *              over SIGNALING_MAX_BODY bytes are refused. A request that gets 401
 *              "unauthorized" while we hold a token logs in again once (the token
 *              was revoked or expired) and is sent again.
 *   login      POST /v1/auth/challenge, Ed25519 signature of
 *              "salon-login-v1" 0x00 || nonce || public_key, POST /v1/auth/login.
 *   stream     a long-poll loop on GET /v1/events?after=SEQ&wait=N: each event is
 *              handed to a callback in order and SEQ advances only after it, so a
 *              reconnection resumes exactly where it stopped, with no event lost
 *              or repeated. Connection failures reconnect with exponential backoff
 *              and jitter (SIGNALING_BACKOFF_MIN_MS doubling up to _MAX_MS). A
 *              connection that dies under a stream request is always a failure,
 *              even when a new connection would succeed at once (libcurl would
 *              send the request again silently; the stream does not let it), so
 *              that the owner hears of a server that restarted in between.
 *
 * Errors as in util.h. Threads: everything here belongs to the one thread that
 * created the struct (the engine's control thread); callbacks run on it, inside
 * signaling_poll(), and may start or cancel requests and timers.
 */
#ifndef SALON_SIGNALING_H
#define SALON_SIGNALING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <jansson.h>

#include "identity.h"

/* Answers larger than this are refused (a sane bound: the largest is a 100-event page). */
#define SIGNALING_MAX_BODY (4u << 20)
/* Default time limit of one request, and of connecting. */
#define SIGNALING_TIMEOUT_MS 20000
#define SIGNALING_CONNECT_TIMEOUT_MS 5000
/* Reconnection backoff of the event stream. */
#define SIGNALING_BACKOFF_MIN_MS 250
#define SIGNALING_BACKOFF_MAX_MS 10000
/*
 * The stream's backoff stops growing at this while the server cannot be reached
 * at all (no HTTP answer): refused connections cost the server nothing, and a
 * restarted server is then noticed within a second of its return, so that rooms
 * get their audio back within seconds. HTTP errors (a busy server) back off up to
 * _MAX_MS.
 */
#define SIGNALING_UNREACHABLE_MAX_MS 1000
/* Connections to the server kept open once idle (the event stream's among them). */
#define SIGNALING_IDLE_CONNECTIONS 4
/* How long the server may hold one long-poll request (seconds, 0..60). */
#define SIGNALING_STREAM_WAIT_S 25

struct signaling;

/* What a request came back with; valid only during the callback. */
struct signaling_result {
	/* HTTP status, or 0 when there was no answer (see transport_error). */
	long status;
	/* The parsed JSON answer (borrowed: json_incref to keep it), or NULL. */
	json_t *body;
	/* The server's "error" code on a JSON error answer, else NULL. */
	const char *code;
	/* The server's "message" on a JSON error answer, else NULL. */
	const char *message;
	/* CURLE_OK, or why the request failed without an answer. */
	CURLcode curl_code;
	/* libcurl's explanation when curl_code is not CURLE_OK, else NULL. */
	const char *transport_error;
	/* True when the answer was refused for exceeding SIGNALING_MAX_BODY. */
	bool too_large;
};

/* Called once per request unless it is cancelled first. */
typedef void signaling_cb(void *arg, const struct signaling_result *result);

/* Called when a timer is due. */
typedef void signaling_timer_cb(void *arg);

/*
 * Creates a client for base_url ("http://127.0.0.1:7480", no trailing path; copied).
 * curl_global_init must have run. Returns 0 and *out, -EINVAL when base_url is not
 * http:// or https:// (the scheme in any case), or -ENOMEM when libcurl cannot make
 * a multi handle.
 */
int signaling_new(const char *base_url, struct signaling **out);

/* Cancels everything (no callbacks run), wipes the token and frees. NULL is fine. */
void signaling_free(struct signaling *signaling);

/* The base URL, as given. */
const char *signaling_url(const struct signaling *signaling);

/*
 * Trusts the certificate authorities of the PEM file path (copied) for https://
 * instead of the system's, for the requests started from now on; NULL goes back to
 * the system's. Control thread.
 */
void signaling_set_ca_file(struct signaling *signaling, const char *path);

/*
 * Sends a request: method ("GET", "POST", "DELETE", "PATCH"), path ("/v1/rooms"),
 * body (a JSON object, or NULL for none; borrowed and serialised at once).
 * timeout_ms 0 means SIGNALING_TIMEOUT_MS. The bearer token goes with it when we
 * hold one. Returns a request id (> 0) for signaling_cancel; the callback always
 * runs later, from signaling_poll(), never from inside this call.
 */
uint64_t signaling_request(struct signaling *signaling, const char *method, const char *path,
			   json_t *body, long timeout_ms, signaling_cb *cb, void *arg);

/*
 * Cancels a request that has not completed: its callback will not run. Unknown or
 * finished ids are ignored.
 */
void signaling_cancel(struct signaling *signaling, uint64_t request_id);

/* Number of requests in flight (including those waiting for a re-login). */
unsigned signaling_pending(const struct signaling *signaling);

/*
 * Logs in with identity (copied; wiped on free) under name and the bot flag (used
 * by the server only at the first login of this key). On success the token is
 * kept and the callback gets status 200 and the login answer's "user" object as
 * body; on failure the callback gets the failing step's result. The identity is
 * also remembered for automatic re-login. Returns a request id as above.
 */
uint64_t signaling_login(struct signaling *signaling, const struct identity *identity,
			 const char *name, bool bot, signaling_cb *cb, void *arg);

/* Whether we hold a token. */
bool signaling_logged_in(const struct signaling *signaling);

/*
 * Runs cb(arg) once after delay_ms (from signaling_poll). Returns a timer id (> 0)
 * for signaling_timer_cancel.
 */
uint64_t signaling_timer(struct signaling *signaling, uint64_t delay_ms, signaling_timer_cb *cb,
			 void *arg);
void signaling_timer_cancel(struct signaling *signaling, uint64_t timer_id);

/* What the event stream tells its owner. */
struct signaling_stream_ops {
	/*
	 * One event (a JSON object with "seq" and "type"; borrowed), in order. The
	 * stream counts it as delivered when this returns.
	 */
	void (*event)(void *arg, json_t *event);
	/*
	 * The stream failed (result says how: no answer, or an HTTP error) and will try
	 * again in in_ms milliseconds.
	 */
	void (*reconnecting)(void *arg, unsigned in_ms, const struct signaling_result *result);
	/*
	 * The stream got an answer again after having failed (may be NULL): the server
	 * may have restarted meanwhile, however briefly.
	 */
	void (*resumed)(void *arg);
};

/*
 * Starts the event stream after sequence number after (events up to it count as
 * delivered), holding each request wait_s seconds (0 means SIGNALING_STREAM_WAIT_S).
 * ops is copied. Starting a running stream restarts it from after.
 */
void signaling_stream_start(struct signaling *signaling, uint64_t after, unsigned wait_s,
			    const struct signaling_stream_ops *ops, void *arg);

/* Stops the stream (no more callbacks). */
void signaling_stream_stop(struct signaling *signaling);

/* The sequence number of the last event handed over. */
uint64_t signaling_stream_seq(const struct signaling *signaling);

/*
 * Waits until a request makes progress, a timer is due, one of the extra
 * descriptors is ready (their revents are filled in, as curl_multi_poll does) or
 * max_ms passes (-1: no limit beyond the timers and transfers), then completes
 * transfers (running their callbacks) and due timers. Returns 0, or -EIO when
 * libcurl fails (a bug or out of memory).
 */
int signaling_poll(struct signaling *signaling, struct curl_waitfd *extra, unsigned n_extra,
		   int max_ms);

/*
 * Called by signaling_parse_events for each event handed over (a JSON object with an
 * integer "seq" above the last one and a string "type"; borrowed, valid during the
 * call). Returns 0 to go on, non-zero to stop before the event counts as delivered.
 */
typedef int signaling_event_fn(void *arg, json_t *event);

/*
 * Parses one page of the event stream (the body of GET /v1/events, len bytes, not
 * necessarily NUL-terminated) exactly as the stream does: JSON with duplicate keys
 * refused, then each element of "events" in order; elements that are not objects
 * with an integer "seq" and a string "type" are skipped, as are those whose seq is
 * not above *seq (never an event twice). fn gets each other event, after which *seq
 * becomes its seq. Returns the number of events handed over; -ECANCELED when fn
 * asked to stop (*seq then stays at the last event delivered); -EBADMSG when the
 * body is not a JSON object with an "events" array; -EMSGSIZE when len is over
 * SIGNALING_MAX_BODY. Pure: any thread (the fuzz target calls it).
 */
int signaling_parse_events(const char *body, size_t len, uint64_t *seq, signaling_event_fn *fn,
			   void *arg);

/* A random jittered backoff: attempt 0 gives about min_ms, doubling up to max_ms. */
unsigned signaling_backoff_ms(unsigned attempt, unsigned min_ms, unsigned max_ms);

#endif
