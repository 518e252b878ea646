/*
 * api_internal.h - what the request handlers (api.c, rooms.c) share. Not an
 * interface for anything outside the API. Event-loop thread only.
 */
#ifndef SALON_API_INTERNAL_H
#define SALON_API_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <microhttpd.h>

#include "api.h"
#include "auth.h"
#include "bus.h"
#include "idmap.h"
#include "store.h"

/* Body limits in bytes: every request body, and the key-batch endpoint. */
#define API_BODY_MAX 8192
#define API_KEYS_BODY_MAX (512 * 1024)
/* Chat text in code points; key batches in entries and decoded box bytes. */
#define API_CHAT_MAX 1000
#define API_KEYS_MAX_BOXES 1000
#define API_BOX_MAX 512
/* Long-poll: longest wait in seconds and most events per answer. */
#define API_WAIT_MAX 60
#define API_EVENTS_MAX 100
/* Join tickets stay valid this long. */
#define API_TICKET_TTL_MS 60000
/* Listener counts are sent at most this often per room. */
#define API_COUNT_INTERVAL_MS 1000
/* Acknowledged events are deleted in batches: this often, or this many users at once. */
#define API_ACK_INTERVAL_MS 200
#define API_ACK_BATCH_MAX 4096
/*
 * Each connection's memory pool in MHD: request line, headers and the read buffer
 * through which bodies stream in chunks (a body is never held in it whole). MHD
 * clears the pool for every request on a kept-alive connection, so its size is
 * paid at every long-poll: 16 KiB is ample for salond's small headers.
 */
#define API_CONNECTION_MEMORY (16 * 1024)
/* File descriptors kept out of MHD's connection limit, and the limit's ceiling. */
#define API_FD_RESERVE 64
#define API_CONNECTIONS_MAX 65536

struct api {
	struct MHD_Daemon *daemon;
	struct store *store;
	struct bus *bus;
	struct auth *auth;
	struct relay *relay;
	char *relay_address;
	char *relay_public_key; /* base64url */
	unsigned int max_rooms;
	uint16_t port;
	bool tls;
	bool stopping;
	/*
	 * A long-poll was resumed during this turn of the loop: MHD answers it only
	 * in its next MHD_run(), so the loop must not sleep before that.
	 */
	bool resumed;
	/* Rooms whose listener count changed since the last flush. */
	uint64_t *dirty_rooms;
	size_t dirty_count, dirty_cap;
	uint64_t next_count_flush_ms;
	/* The event streams (events.c): user id -> struct events_user. */
	struct idmap event_users;
	/* Current listener counts: room id -> struct events_room. */
	struct idmap event_rooms;
	/* Users whose acknowledgement waits for the next batch. */
	uint64_t *ack_users;
	size_t ack_len, ack_cap;
	uint64_t next_ack_flush_ms;
};

struct api_route;

/* One HTTP request, from its headers to its completion. */
struct api_request {
	struct api *api;
	struct MHD_Connection *conn;
	const struct api_route *route;
	const char *method;
	uint64_t ids[2];          /* numeric path segments, in order */
	char *body;               /* the raw body (NUL-terminated) */
	size_t body_len, body_limit;
	bool body_too_large;
	json_t *json;             /* the parsed body object, or NULL when empty */
	uint64_t user_id;         /* the authenticated user, 0 before auth */
	struct bus_waiter *waiter; /* set while a long-poll is suspended */
	uint64_t wait_deadline_ms; /* 0 until the long-poll starts waiting */
};

/* Queues a JSON answer (steals body, which may be NULL for an empty 204). */
enum MHD_Result api_reply(struct api_request *req, unsigned int status, json_t *body);
/* Queues {"error": code, "message": message}. */
enum MHD_Result api_error(struct api_request *req, unsigned int status, const char *code,
			  const char *message);
/* 400 naming a missing or invalid field. */
enum MHD_Result api_bad_field(struct api_request *req, const char *field);
/* Maps a store error to 404/409/500/503 (not_found_code for -ENOENT). */
enum MHD_Result api_store_error(struct api_request *req, int err, const char *not_found_code);

json_t *api_user_json(const struct store_user *user);
json_t *api_room_json(const struct store_room *room);
json_t *api_member_json(const struct store_member *member);

/*
 * Publishes event (a JSON object; the caller keeps its reference) to one user or
 * to the members of a room (all, or stage only), except the user `except` (0 for
 * nobody). Call inside a transaction. Returns 0 or a store error.
 */
int api_publish_user(struct api *api, uint64_t user_id, json_t *event);
int api_publish_room(struct api *api, uint64_t room_id, bool stage_only, uint64_t except,
		     json_t *event);
/* Notes that the room's counts changed; a listener_count event follows (coalesced). */
void api_room_counts_changed(struct api *api, uint64_t room_id);

/* Room handlers (rooms.c). The route gives req->ids[0] = room id, ids[1] = user id. */
enum MHD_Result rooms_create(struct api_request *req);
enum MHD_Result rooms_list(struct api_request *req);
enum MHD_Result rooms_get(struct api_request *req);
enum MHD_Result rooms_end(struct api_request *req);
enum MHD_Result rooms_join(struct api_request *req);
enum MHD_Result rooms_leave(struct api_request *req);
enum MHD_Result rooms_members(struct api_request *req);
enum MHD_Result rooms_set_role(struct api_request *req);
enum MHD_Result rooms_set_mute(struct api_request *req);
enum MHD_Result rooms_remove(struct api_request *req);
enum MHD_Result rooms_hand(struct api_request *req);
enum MHD_Result rooms_recording(struct api_request *req);
enum MHD_Result rooms_keys(struct api_request *req);
enum MHD_Result rooms_chat(struct api_request *req);
/* Sends the coalesced listener counts of one room to its members. */
int rooms_send_counts(struct api *api, uint64_t room_id);

/* The event stream (events.c). GET /v1/events. */
enum MHD_Result events_get(struct api_request *req);
/*
 * Makes speakers and listeners the room's current counts and, when they changed,
 * marks every member's stream so that its next answer carries a listener_count
 * event, and wakes the members' long-polls. Writes nothing to the store.
 */
void events_counts_publish(struct api *api, uint64_t room_id, uint32_t speakers,
			   uint32_t listeners);
/* Forgets the counts of an ended room. */
void events_counts_forget(struct api *api, uint64_t room_id);
/*
 * Deletes the acknowledged events in one transaction when the batch is due (every
 * API_ACK_INTERVAL_MS or API_ACK_BATCH_MAX users) or when force is set. A failure
 * is logged; the rows are deleted by a later acknowledgement.
 */
void events_ack_flush(struct api *api, uint64_t now_ms, bool force);
/* Frees the streams' state (not the store's rows). */
void events_free(struct api *api);

#endif
