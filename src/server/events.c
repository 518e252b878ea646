/*
 * events.c - the event stream (GET /v1/events): long-polls, acknowledgements
 * applied in batches, and listener counts as soft events.
 *
 * Listener counts are a snapshot that the next one replaces, and in a room of
 * 10,000 one count per member per second would be 10,000 rows a second written
 * on the thread that answers everyone. So they are not stored: each room's
 * current counts live here, a change marks the room's members (in memory) and
 * wakes their long-polls, at most once per room per API_COUNT_INTERVAL_MS, and the
 * listener_count event is generated when a marked member's stream is answered.
 * It takes a place in the member's sequence (bus_soft_seq) like any event; while
 * the client has not acknowledged it, a newer count replaces its numbers under
 * the same seq, so a client never gets a stale count after a newer one.
 *
 * Acknowledgements (after=SEQ) only delete rows that will never be read again, so
 * they are collected and applied in one transaction every API_ACK_INTERVAL_MS
 * instead of one DELETE per answer. The same transaction deletes the shared rows
 * of room events (store_event_add_room) whose last place has just gone.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "i18n.h"
#include "idmap.h"
#include "log.h"
#include "util.h"

/* A room's current counts. */
struct events_room {
	uint32_t speakers;
	uint32_t listeners;
};

/* A member's listener_count for one room. */
struct events_count {
	uint64_t room_id;
	uint64_t seq; /* its place in the sequence; 0 until it is first answered */
	bool pending; /* the counts changed since the client acknowledged the last one */
};

/* What the stream of one user holds besides stored events. */
struct events_user {
	uint64_t acked;       /* the greatest after=SEQ seen */
	bool ack_queued;      /* acked is waiting for the next batch */
	struct events_count *counts;
	size_t count_len, count_cap;
};

static struct events_user *events_user_get(struct api *api, uint64_t user_id, bool create)
{
	struct events_user *user = idmap_get(&api->event_users, user_id);

	if (user == NULL && create) {
		user = xcalloc(1, sizeof(*user));
		idmap_put(&api->event_users, user_id, user);
	}
	return user;
}

/* Forgets a user whose stream holds nothing any more. */
static void events_user_release(struct api *api, uint64_t user_id, struct events_user *user)
{
	if (user->ack_queued || user->count_len > 0)
		return;
	idmap_remove(&api->event_users, user_id);
	free(user->counts);
	free(user);
}

/* Acknowledgements. */

/* Notes that the user acknowledged every event up to upto. */
static void events_ack(struct api *api, uint64_t user_id, uint64_t upto)
{
	struct events_user *user = events_user_get(api, user_id, upto > 0);

	if (user == NULL || upto <= user->acked)
		return;
	user->acked = upto;
	if (!user->ack_queued) {
		user->ack_queued = true;
		if (api->ack_len == api->ack_cap) {
			api->ack_cap = api->ack_cap ? api->ack_cap * 2 : 64;
			api->ack_users = xreallocarray(api->ack_users, api->ack_cap,
						       sizeof(*api->ack_users));
		}
		api->ack_users[api->ack_len++] = user_id;
	}
}

void events_ack_flush(struct api *api, uint64_t now_ms, bool force)
{
	int ret;

	if (api->ack_len == 0 ||
	    (!force && now_ms < api->next_ack_flush_ms && api->ack_len < API_ACK_BATCH_MAX))
		return;
	ret = store_begin(api->store);
	for (size_t i = 0; ret == 0 && i < api->ack_len; i++) {
		struct events_user *user = events_user_get(api, api->ack_users[i], false);

		if (user != NULL)
			ret = store_event_ack(api->store, api->ack_users[i], user->acked);
	}
	/* A room event's shared row goes with the last place that refers to it. */
	if (ret == 0)
		ret = store_room_events_prune(api->store);
	if (ret == 0)
		ret = store_commit(api->store);
	if (ret < 0) {
		/* The rows stay; the next acknowledgement of each user deletes them. */
		store_rollback(api->store);
		log_warn(_("acknowledged events not deleted (%d); retried later"), ret);
	}
	for (size_t i = 0; i < api->ack_len; i++) {
		struct events_user *user = events_user_get(api, api->ack_users[i], false);

		if (user != NULL) {
			user->ack_queued = false;
			events_user_release(api, api->ack_users[i], user);
		}
	}
	api->ack_len = 0;
	api->next_ack_flush_ms = now_ms + API_ACK_INTERVAL_MS;
}

/* Listener counts. */

void events_counts_publish(struct api *api, uint64_t room_id, uint32_t speakers,
			   uint32_t listeners)
{
	struct events_room *room = idmap_get(&api->event_rooms, room_id);
	uint64_t *ids = NULL;
	size_t count = 0;

	if (room != NULL && room->speakers == speakers && room->listeners == listeners)
		return;
	if (room == NULL) {
		room = xcalloc(1, sizeof(*room));
		idmap_put(&api->event_rooms, room_id, room);
	}
	room->speakers = speakers;
	room->listeners = listeners;
	if (store_member_user_ids(api->store, room_id, false, &ids, &count) < 0)
		return;
	for (size_t i = 0; i < count; i++) {
		struct events_user *user = events_user_get(api, ids[i], true);
		struct events_count *slot = NULL;

		for (size_t k = 0; k < user->count_len && slot == NULL; k++)
			if (user->counts[k].room_id == room_id)
				slot = &user->counts[k];
		if (slot == NULL) {
			if (user->count_len == user->count_cap) {
				user->count_cap = user->count_cap ? user->count_cap * 2 : 2;
				user->counts = xreallocarray(user->counts, user->count_cap,
							     sizeof(*user->counts));
			}
			slot = &user->counts[user->count_len++];
			memset(slot, 0, sizeof(*slot));
			slot->room_id = room_id;
		}
		slot->pending = true;
		bus_wake(api->bus, ids[i]);
	}
	free(ids);
}

void events_counts_forget(struct api *api, uint64_t room_id)
{
	free(idmap_remove(&api->event_rooms, room_id));
}

/* The stream. */

struct events_list {
	json_t *events;
	uint64_t last_seq;
};

static int events_collect(uint64_t seq, const char *body, void *arg)
{
	struct events_list *list = arg;
	json_t *event = json_loads(body, 0, NULL);

	/* Bodies were written by this server; a damaged one still keeps its place. */
	if (!json_is_object(event)) {
		json_decref(event);
		event = json_pack("{s:s}", "type", "invalid");
	}
	json_object_set_new(event, "seq", json_integer((json_int_t)seq));
	json_array_append_new(list->events, event);
	list->last_seq = seq;
	return 0;
}

/* Inserts event (stolen) into the list, which stays ordered by seq. */
static void events_insert(struct events_list *list, json_t *event, uint64_t seq)
{
	size_t at = json_array_size(list->events);

	while (at > 0 && (uint64_t)json_integer_value(json_object_get(
				 json_array_get(list->events, at - 1), "seq")) > seq)
		at--;
	json_array_insert_new(list->events, at, event);
	if (seq > list->last_seq)
		list->last_seq = seq;
}

/*
 * Adds the user's listener counts that the client has not acknowledged, in seq
 * order. complete says whether the stored events listed reach the end of the
 * stream; if not, only counts placed before the last one listed may go in, and
 * no new place is taken (it would come before stored events not yet listed).
 */
static void events_add_counts(struct api *api, uint64_t user_id, uint64_t after,
			      struct events_list *list, bool complete)
{
	struct events_user *user = events_user_get(api, user_id, false);
	uint64_t limit = complete ? UINT64_MAX : list->last_seq;
	size_t kept = 0;

	if (user == NULL)
		return;
	for (size_t k = 0; k < user->count_len; k++) {
		struct events_count slot = user->counts[k];
		struct events_room *room = idmap_get(&api->event_rooms, slot.room_id);

		if (slot.seq != 0 && slot.seq <= after)
			slot.seq = 0; /* the client has it */
		if (room == NULL)
			continue; /* the room ended */
		if (slot.pending && slot.seq == 0 && complete &&
		    bus_soft_seq(api->bus, user_id, &slot.seq) < 0)
			slot.seq = 0;
		/* An unacknowledged count carries the newest numbers. */
		if (slot.seq != 0)
			slot.pending = false;
		if (slot.seq > after && slot.seq < limit) {
			json_t *event = json_pack("{s:s, s:I, s:i, s:i, s:I}", "type",
						  "listener_count", "room_id",
						  (json_int_t)slot.room_id, "speakers",
						  (int)room->speakers, "listeners",
						  (int)room->listeners, "seq",
						  (json_int_t)slot.seq);

			events_insert(list, event, slot.seq);
		}
		if (slot.seq != 0 || slot.pending)
			user->counts[kept++] = slot;
	}
	user->count_len = kept;
	events_user_release(api, user_id, user);
}

/* Resumes a suspended long-poll; its handler then runs again and answers. */
static void events_wake(void *arg)
{
	struct api_request *req = arg;

	req->waiter = NULL;
	req->api->resumed = true;
	MHD_resume_connection(req->conn);
}

static int events_query_uint(struct api_request *req, const char *key, uint64_t max,
			     uint64_t *out)
{
	const char *text = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
	char *end;
	unsigned long long value;

	if (text == NULL)
		return -ENOENT;
	if (text[0] < '0' || text[0] > '9' || strlen(text) > 19)
		return -EINVAL;
	errno = 0;
	value = strtoull(text, &end, 10);
	if (errno != 0 || *end != '\0' || value > max)
		return -EINVAL;
	*out = value;
	return 0;
}

enum MHD_Result events_get(struct api_request *req)
{
	struct api *api = req->api;
	struct events_list list;
	struct events_user *user;
	uint64_t after = 0, from, wait = 0, now = util_now_ms();
	int ret;

	if (events_query_uint(req, "after", INT64_MAX, &after) == -EINVAL)
		return api_bad_field(req, "after");
	if (events_query_uint(req, "wait", API_WAIT_MAX, &wait) == -EINVAL)
		return api_bad_field(req, "wait");
	/*
	 * Asking for what follows SEQ acknowledges everything up to SEQ. The rows go
	 * in the next batch, but from now on they are as good as deleted: a request
	 * from further back gets only what follows the greatest acknowledgement.
	 */
	events_ack(api, req->user_id, after);
	user = events_user_get(api, req->user_id, false);
	from = user != NULL && user->acked > after ? user->acked : after;
	list.events = json_array();
	list.last_seq = after;
	ret = store_event_list(api->store, req->user_id, from, API_EVENTS_MAX, events_collect,
			       &list);
	if (ret < 0) {
		json_decref(list.events);
		return api_store_error(req, ret, "not_found");
	}
	events_add_counts(api, req->user_id, from, &list,
			  json_array_size(list.events) < API_EVENTS_MAX);
	if (req->wait_deadline_ms == 0)
		req->wait_deadline_ms = now + wait * 1000;
	if (json_array_size(list.events) == 0 && now < req->wait_deadline_ms && !api->stopping) {
		json_decref(list.events);
		req->waiter = bus_wait(api->bus, req->user_id, req->wait_deadline_ms, events_wake,
				       req);
		log_debug("user %" PRIu64 " waits for events after %" PRIu64, req->user_id, after);
		MHD_suspend_connection(req->conn);
		return MHD_YES;
	}
	return api_reply(req, MHD_HTTP_OK,
			 json_pack("{s:o, s:I}", "events", list.events, "last_seq",
				   (json_int_t)list.last_seq));
}

void events_free(struct api *api)
{
	struct events_user *user;
	struct events_room *room;
	size_t pos = 0;
	uint64_t id;

	while ((user = idmap_next(&api->event_users, &pos, &id)) != NULL) {
		free(user->counts);
		free(user);
	}
	idmap_clear(&api->event_users);
	pos = 0;
	while ((room = idmap_next(&api->event_rooms, &pos, &id)) != NULL)
		free(room);
	idmap_clear(&api->event_rooms);
	free(api->ack_users);
	api->ack_users = NULL;
	api->ack_len = api->ack_cap = 0;
}
