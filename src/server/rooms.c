/*
 * rooms.c - rooms and membership rules: who may join, speak, moderate, remove,
 * and who is told about what.
 *
 * Who is told (doc/API.md, "Events"): members on stage (host, moderators,
 * speakers) get every membership event, because they seal audio keys to every
 * member. Listeners get stage changes (roles, hands, mutes, recording, stage
 * joins and leaves) and a listener count coalesced to at most one event per room
 * per second, never one event per listener join: that would be O(n^2). The count
 * is not stored (events.c generates it when a stream is answered).
 *
 * Every change and the events that report it are written in one transaction.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "api_internal.h"
#include "encoding.h"
#include "field.h"
#include "i18n.h"
#include "log.h"
#include "util.h"

/*
 * A transaction failed: roll back and answer. Besides the store's errors,
 * -EACCES means the actor is not a member of the room and -ESRCH that the target
 * member is not in it.
 */
static enum MHD_Result rooms_fail(struct api_request *req, int err, const char *not_found)
{
	store_rollback(req->api->store);
	if (err == -EACCES)
		return api_error(req, MHD_HTTP_FORBIDDEN, "not_a_member",
				 _("You are not a member of this room."));
	if (err == -ESRCH)
		return api_error(req, MHD_HTTP_NOT_FOUND, "member_not_found",
				 _("No such member in this room."));
	return api_store_error(req, err, not_found);
}

static enum MHD_Result rooms_forbidden(struct api_request *req, const char *message)
{
	store_rollback(req->api->store);
	return api_error(req, MHD_HTTP_FORBIDDEN, "forbidden", message);
}

/* Loads a live room; -ENOENT for unknown and ended rooms alike (room->id is 0 then). */
static int rooms_load(struct api_request *req, uint64_t id, struct store_room *room)
{
	int ret = store_room_get(req->api->store, id, room);

	if (ret == 0 && room->ended != 0)
		ret = -ENOENT;
	if (ret < 0)
		room->id = 0;
	return ret;
}

/* The actor's own membership of the request's room; -EACCES when not a member. */
static int rooms_load_self(struct api_request *req, struct store_room *room,
			   struct store_member *self)
{
	int ret = rooms_load(req, req->ids[0], room);

	if (ret == 0)
		ret = store_member_get(req->api->store, room->id, req->user_id, self);
	return ret == -ENOENT && room->id != 0 ? -EACCES : ret;
}

/*
 * Opens the request's transaction and loads its room and the actor's membership;
 * returns what rooms_load_self returns, or store_begin's error.
 */
static int rooms_begin_self(struct api_request *req, struct store_room *room,
			    struct store_member *self)
{
	int ret = store_begin(req->api->store);

	return ret == 0 ? rooms_load_self(req, room, self) : ret;
}

/*
 * Commits the request's transaction when everything before succeeded (ret is 0).
 * Returns the first error; the caller answers it with rooms_fail, which rolls back.
 */
static int rooms_commit(struct api *api, int ret)
{
	return ret == 0 ? store_commit(api->store) : ret;
}

static json_t *rooms_event(const char *type, uint64_t room_id)
{
	return json_pack("{s:s, s:I}", "type", type, "room_id", (json_int_t)room_id);
}

/* Tells everyone about a changed member (roles, hands, mutes, recording are stage news). */
static int rooms_publish_member(struct api *api, const struct store_member *member)
{
	json_t *event = rooms_event("member_updated", member->room_id);
	int ret;

	json_object_set_new(event, "member", api_member_json(member));
	ret = api_publish_room(api, member->room_id, false, 0, event);
	json_decref(event);
	return ret;
}

/*
 * Writes a changed member back, tells everyone and commits: the common end of the
 * handlers that change a member. Returns 0 or the first error.
 */
static int rooms_save_member(struct api *api, const struct store_member *member)
{
	int ret = store_member_update(api->store, member);

	if (ret == 0)
		ret = rooms_publish_member(api, member);
	return rooms_commit(api, ret);
}

static bool rooms_may_speak(const struct store_member *member)
{
	return store_role_on_stage(member->role) && !member->muted;
}

static void rooms_relay_speaker(struct api *api, const struct store_member *member)
{
	if (api->relay != NULL)
		relay_member_set_speaker(api->relay, member->room_id, member->member_id,
					 rooms_may_speak(member));
}

int rooms_send_counts(struct api *api, uint64_t room_id)
{
	struct store_room room;
	int ret = store_room_get(api->store, room_id, &room);

	if (ret == -ENOENT || (ret == 0 && room.ended != 0)) {
		events_counts_forget(api, room_id);
		return 0;
	}
	if (ret == 0)
		events_counts_publish(api, room_id, room.speakers, room.listeners);
	return ret;
}

/* Room checks the account policy: at most max_rooms rooms at once. */
static int rooms_check_limit(struct api_request *req, bool *over)
{
	unsigned int count;
	int ret = store_member_room_count(req->api->store, req->user_id, &count);

	*over = ret == 0 && count >= req->api->max_rooms;
	return ret;
}

static enum MHD_Result rooms_too_many(struct api_request *req)
{
	char *message = xasprintf(P_("An account may be in at most %u room at once.",
				     "An account may be in at most %u rooms at once.",
				     req->api->max_rooms),
				  req->api->max_rooms);
	enum MHD_Result ret;

	store_rollback(req->api->store);
	ret = api_error(req, MHD_HTTP_FORBIDDEN, "too_many_rooms", message);
	free(message);
	return ret;
}

enum MHD_Result rooms_create(struct api_request *req)
{
	struct api *api = req->api;
	struct store_room room;
	struct store_member host;
	const char *title, *topic = "", *visibility = "public";
	bool over;
	int ret;

	memset(&room, 0, sizeof(room));
	if (field_text(req->json, "title", 1, STORE_TITLE_MAX, &title) < 0)
		return api_bad_field(req, "title");
	ret = field_text(req->json, "topic", 0, STORE_TOPIC_MAX, &topic);
	if (ret == -EINVAL)
		return api_bad_field(req, "topic");
	ret = field_string(req->json, "visibility", 16, &visibility);
	if (ret == -EINVAL || (strcmp(visibility, "public") != 0 &&
			       strcmp(visibility, "private") != 0))
		return api_bad_field(req, "visibility");
	snprintf(room.title, sizeof(room.title), "%s", title);
	snprintf(room.topic, sizeof(room.topic), "%s", topic);
	room.is_public = strcmp(visibility, "public") == 0;
	room.host_id = req->user_id;

	ret = store_begin(api->store);
	if (ret == 0)
		ret = rooms_check_limit(req, &over);
	if (ret < 0)
		return rooms_fail(req, ret, "room_not_found");
	if (over)
		return rooms_too_many(req);
	ret = store_room_create(api->store, &room);
	if (ret == 0)
		ret = store_member_add(api->store, room.id, req->user_id, STORE_ROLE_HOST,
				       room.created, &host);
	if (ret == 0)
		ret = store_room_get(api->store, room.id, &room);
	ret = rooms_commit(api, ret);
	if (ret < 0)
		return rooms_fail(req, ret, "room_not_found");
	log_info(_("room %" PRIu64 " created by user %" PRIu64), room.id, req->user_id);
	return api_reply(req, MHD_HTTP_CREATED, api_room_json(&room));
}

static int rooms_list_one(const struct store_room *room, void *arg)
{
	json_array_append_new(arg, api_room_json(room));
	return 0;
}

enum MHD_Result rooms_list(struct api_request *req)
{
	json_t *rooms = json_array();
	int ret = store_room_list(req->api->store, req->user_id, 200, rooms_list_one, rooms);

	if (ret < 0) {
		json_decref(rooms);
		return api_store_error(req, ret, "room_not_found");
	}
	return api_reply(req, MHD_HTTP_OK, json_pack("{s:o}", "rooms", rooms));
}

/*
 * Private rooms are unlisted rather than secret: they never appear in another
 * account's list, but whoever was given the (random, 53-bit) id may look it up
 * and join, as with an invitation link.
 */
enum MHD_Result rooms_get(struct api_request *req)
{
	struct store_room room;
	int ret = rooms_load(req, req->ids[0], &room);

	if (ret < 0)
		return api_store_error(req, ret, "room_not_found");
	return api_reply(req, MHD_HTTP_OK, api_room_json(&room));
}

/* Ends the room: every member is told, memberships go, the relay closes sessions. */
static int rooms_end_locked(struct api *api, uint64_t room_id)
{
	json_t *event = rooms_event("room_ended", room_id);
	int ret = api_publish_room(api, room_id, false, 0, event);

	json_decref(event);
	if (ret == 0)
		ret = store_room_end(api->store, room_id, (int64_t)time(NULL));
	return ret;
}

enum MHD_Result rooms_end(struct api_request *req)
{
	struct api *api = req->api;
	struct store_room room;
	int ret = store_begin(api->store);

	if (ret == 0)
		ret = rooms_load(req, req->ids[0], &room);
	if (ret < 0)
		return rooms_fail(req, ret, "room_not_found");
	if (room.host_id != req->user_id)
		return rooms_forbidden(req, _("Only the host can end the room."));
	ret = rooms_end_locked(api, room.id);
	ret = rooms_commit(api, ret);
	if (ret < 0)
		return rooms_fail(req, ret, "room_not_found");
	if (api->relay != NULL)
		relay_room_end(api->relay, room.id);
	events_counts_forget(api, room.id);
	log_info(_("room %" PRIu64 " ended"), room.id);
	return api_reply(req, MHD_HTTP_NO_CONTENT, NULL);
}

/*
 * Joining is idempotent: a member who joins again (after a restart or a lost
 * session) keeps its record and gets a fresh ticket, and nobody is told twice.
 */
enum MHD_Result rooms_join(struct api_request *req)
{
	struct api *api = req->api;
	struct store_room room;
	struct store_member member;
	uint8_t ticket[WIRE_TICKET_LEN];
	char ticket_text[64];
	bool is_new = false, over;
	json_t *reply;
	int ret = store_begin(api->store);

	if (ret == 0)
		ret = rooms_load(req, req->ids[0], &room);
	if (ret == 0) {
		ret = store_member_get(api->store, room.id, req->user_id, &member);
		if (ret == -ENOENT)
			ret = -EACCES;
	}
	if (ret == -EACCES) {
		is_new = true;
		ret = rooms_check_limit(req, &over);
		if (ret == 0 && over)
			return rooms_too_many(req);
		if (ret == 0)
			ret = store_member_add(api->store, room.id, req->user_id,
					       STORE_ROLE_LISTENER, (int64_t)time(NULL), &member);
		if (ret == 0) {
			json_t *event = rooms_event("member_joined", room.id);

			json_object_set_new(event, "member", api_member_json(&member));
			/* A listener's arrival is news only for the stage. */
			ret = api_publish_room(api, room.id, true, req->user_id, event);
			json_decref(event);
		}
	}
	ret = rooms_commit(api, ret);
	if (ret < 0)
		return rooms_fail(req, ret, "room_not_found");
	if (is_new)
		api_room_counts_changed(api, room.id);

	randombytes_buf(ticket, sizeof(ticket));
	if (api->relay != NULL)
		relay_ticket_add(api->relay, ticket, room.id, member.member_id,
				 rooms_may_speak(&member), util_now_ms() + API_TICKET_TTL_MS);
	base64_encode(ticket_text, ticket, sizeof(ticket));
	sodium_memzero(ticket, sizeof(ticket));
	reply = json_pack("{s:o, s:o, s:{s:s, s:s}, s:s, s:i}", "room", api_room_json(&room),
			  "member", api_member_json(&member), "relay", "address",
			  api->relay_address, "public_key", api->relay_public_key, "ticket",
			  ticket_text, "ticket_expires_in", API_TICKET_TTL_MS / 1000);
	sodium_memzero(ticket_text, sizeof(ticket_text));
	return api_reply(req, is_new ? MHD_HTTP_CREATED : MHD_HTTP_OK, reply);
}

/*
 * Takes a member out of the room (left or removed) and tells who needs to know:
 * everyone for a member on stage, the stage for a listener; a removed member is
 * told too.
 */
static int rooms_drop_member(struct api *api, const struct store_member *member,
			     const char *reason, bool tell_member)
{
	json_t *event = rooms_event("member_left", member->room_id);
	int ret;

	json_object_set_new(event, "user_id", json_integer((json_int_t)member->user_id));
	json_object_set_new(event, "member_id", json_integer((json_int_t)member->member_id));
	json_object_set_new(event, "role", json_string(store_role_name(member->role)));
	json_object_set_new(event, "reason", json_string(reason));
	ret = store_member_delete(api->store, member->room_id, member->user_id);
	if (ret == 0)
		ret = api_publish_room(api, member->room_id,
				       !store_role_on_stage(member->role), 0, event);
	if (ret == 0 && tell_member)
		ret = api_publish_user(api, member->user_id, event);
	json_decref(event);
	return ret;
}

enum MHD_Result rooms_leave(struct api_request *req)
{
	struct api *api = req->api;
	struct store_room room;
	struct store_member self;
	int ret = rooms_begin_self(req, &room, &self);

	if (ret < 0)
		return rooms_fail(req, ret, "room_not_found");
	/* The room does not outlive its host's presence: the host leaving ends it. */
	if (self.role == STORE_ROLE_HOST)
		ret = rooms_end_locked(api, room.id);
	else
		ret = rooms_drop_member(api, &self, "left", false);
	ret = rooms_commit(api, ret);
	if (ret < 0)
		return rooms_fail(req, ret, "room_not_found");
	if (self.role == STORE_ROLE_HOST) {
		if (api->relay != NULL)
			relay_room_end(api->relay, room.id);
		events_counts_forget(api, room.id);
	} else {
		if (api->relay != NULL)
			relay_member_remove(api->relay, room.id, self.member_id, WIRE_CLOSE_BYE);
		if (self.role == STORE_ROLE_LISTENER)
			api_room_counts_changed(api, room.id);
	}
	return api_reply(req, MHD_HTTP_NO_CONTENT, NULL);
}

static int rooms_members_one(const struct store_member *member, void *arg)
{
	json_array_append_new(arg, api_member_json(member));
	return 0;
}

/* Stage members see everyone; listeners see the stage and their own record. */
enum MHD_Result rooms_members(struct api_request *req)
{
	struct store_room room;
	struct store_member self;
	json_t *members;
	bool full;
	int ret = rooms_load_self(req, &room, &self);

	if (ret < 0)
		return rooms_fail(req, ret, "room_not_found");
	full = store_role_on_stage(self.role);
	members = json_array();
	ret = store_member_list(req->api->store, room.id, !full, rooms_members_one, members);
	if (ret < 0) {
		json_decref(members);
		return api_store_error(req, ret, "room_not_found");
	}
	if (!full)
		json_array_append_new(members, api_member_json(&self));
	return api_reply(req, MHD_HTTP_OK,
			 json_pack("{s:o, s:b, s:i, s:i}", "members", members, "complete", full,
				   "speakers", (int)room.speakers, "listeners",
				   (int)room.listeners));
}

static bool rooms_is_moderator(const struct store_member *member)
{
	return member->role == STORE_ROLE_HOST || member->role == STORE_ROLE_MODERATOR;
}

/*
 * Opens the request's transaction and loads the acting member and the target member
 * (ids[1]) of the request's room; -ESRCH when the target is not a member.
 */
static int rooms_begin_pair(struct api_request *req, struct store_room *room,
			    struct store_member *self, struct store_member *target)
{
	int ret = rooms_begin_self(req, room, self);

	if (ret == 0)
		ret = store_member_get(req->api->store, room->id, req->ids[1], target);
	return ret == -ENOENT && room->id != 0 ? -ESRCH : ret;
}

enum MHD_Result rooms_set_role(struct api_request *req)
{
	struct api *api = req->api;
	struct store_room room;
	struct store_member self, target;
	enum store_role role;
	const char *role_name;
	bool was_listener;
	int ret;

	if (field_string(req->json, "role", 16, &role_name) < 0 ||
	    store_role_parse(role_name, &role) < 0 || role == STORE_ROLE_HOST)
		return api_bad_field(req, "role");
	ret = rooms_begin_pair(req, &room, &self, &target);
	if (ret < 0)
		return rooms_fail(req, ret, "room_not_found");
	if (target.role == STORE_ROLE_HOST)
		return rooms_forbidden(req, _("The host's role cannot change."));
	/*
	 * Anyone may step down to the audience. Otherwise the host and moderators
	 * invite to speak, move back to the audience and promote moderators; only the
	 * host demotes a moderator.
	 */
	if (!(self.user_id == target.user_id && role == STORE_ROLE_LISTENER)) {
		if (!rooms_is_moderator(&self))
			return rooms_forbidden(req, _("Only the host and moderators can do this."));
		if (target.role == STORE_ROLE_MODERATOR && self.role != STORE_ROLE_HOST &&
		    self.user_id != target.user_id)
			return rooms_forbidden(req, _("Only the host can demote a moderator."));
	}
	if (target.role == role) {
		store_rollback(api->store);
		return api_reply(req, MHD_HTTP_OK, api_member_json(&target));
	}
	was_listener = target.role == STORE_ROLE_LISTENER;
	target.role = role;
	if (store_role_on_stage(role))
		target.hand_raised = false;
	else
		target.muted = false;
	ret = rooms_save_member(api, &target);
	if (ret < 0)
		return rooms_fail(req, ret, "room_not_found");
	rooms_relay_speaker(api, &target);
	if (was_listener != (role == STORE_ROLE_LISTENER))
		api_room_counts_changed(api, room.id);
	return api_reply(req, MHD_HTTP_OK, api_member_json(&target));
}

enum MHD_Result rooms_set_mute(struct api_request *req)
{
	struct api *api = req->api;
	struct store_room room;
	struct store_member self, target;
	bool muted;
	int ret;

	if (field_bool(req->json, "muted", &muted) < 0)
		return api_bad_field(req, "muted");
	ret = rooms_begin_pair(req, &room, &self, &target);
	if (ret < 0)
		return rooms_fail(req, ret, "room_not_found");
	if (!rooms_is_moderator(&self))
		return rooms_forbidden(req, _("Only the host and moderators can mute."));
	if (target.role == STORE_ROLE_HOST && self.role != STORE_ROLE_HOST)
		return rooms_forbidden(req, _("Nobody can mute the host."));
	if (!store_role_on_stage(target.role)) {
		store_rollback(api->store);
		return api_error(req, MHD_HTTP_CONFLICT, "not_on_stage",
				 _("Only members on stage can be muted."));
	}
	target.muted = muted;
	ret = rooms_save_member(api, &target);
	if (ret < 0)
		return rooms_fail(req, ret, "room_not_found");
	rooms_relay_speaker(api, &target);
	return api_reply(req, MHD_HTTP_OK, api_member_json(&target));
}

enum MHD_Result rooms_remove(struct api_request *req)
{
	struct api *api = req->api;
	struct store_room room;
	struct store_member self, target;
	int ret = rooms_begin_pair(req, &room, &self, &target);

	if (ret < 0)
		return rooms_fail(req, ret, "room_not_found");
	if (!rooms_is_moderator(&self))
		return rooms_forbidden(req, _("Only the host and moderators can remove members."));
	if (target.role == STORE_ROLE_HOST ||
	    (target.role == STORE_ROLE_MODERATOR && self.role != STORE_ROLE_HOST))
		return rooms_forbidden(req, _("You cannot remove this member."));
	ret = rooms_drop_member(api, &target, "removed", true);
	ret = rooms_commit(api, ret);
	if (ret < 0)
		return rooms_fail(req, ret, "room_not_found");
	if (api->relay != NULL)
		relay_member_remove(api->relay, room.id, target.member_id, WIRE_CLOSE_REMOVED);
	if (target.role == STORE_ROLE_LISTENER)
		api_room_counts_changed(api, room.id);
	log_info(_("user %" PRIu64 " removed from room %" PRIu64), target.user_id, room.id);
	return api_reply(req, MHD_HTTP_NO_CONTENT, NULL);
}

/* Sets one of the member's own flags (hand, recording) and tells everyone. */
static enum MHD_Result rooms_set_own_flag(struct api_request *req, const char *field,
					  bool is_hand)
{
	struct api *api = req->api;
	struct store_room room;
	struct store_member self;
	bool value, *flag;
	int ret;

	if (field_bool(req->json, field, &value) < 0)
		return api_bad_field(req, field);
	ret = rooms_begin_self(req, &room, &self);
	if (ret < 0)
		return rooms_fail(req, ret, "room_not_found");
	flag = is_hand ? &self.hand_raised : &self.recording;
	if (*flag == value) {
		store_rollback(api->store);
		return api_reply(req, MHD_HTTP_OK, api_member_json(&self));
	}
	*flag = value;
	ret = rooms_save_member(api, &self);
	if (ret < 0)
		return rooms_fail(req, ret, "room_not_found");
	return api_reply(req, MHD_HTTP_OK, api_member_json(&self));
}

enum MHD_Result rooms_hand(struct api_request *req)
{
	return rooms_set_own_flag(req, "raised", true);
}

/* Recording is never silent: the flag is announced to every member. */
enum MHD_Result rooms_recording(struct api_request *req)
{
	return rooms_set_own_flag(req, "recording", false);
}

/*
 * A speaker's sealed sender keys for an epoch. Each box goes to its recipient
 * only. Recipients who are not (or no longer) members are skipped and listed, as
 * membership can change while a client seals.
 */
enum MHD_Result rooms_keys(struct api_request *req)
{
	struct api *api = req->api;
	struct store_room room;
	struct store_member self, recipient;
	json_t *boxes = json_object_get(req->json, "boxes"), *entry, *skipped;
	uint64_t epoch;
	size_t index;
	unsigned int delivered = 0;
	uint8_t box[API_BOX_MAX];
	size_t box_len;
	int ret;

	if (field_uint(req->json, "epoch", UINT32_MAX, &epoch) < 0)
		return api_bad_field(req, "epoch");
	if (!json_is_array(boxes) || json_array_size(boxes) == 0 ||
	    json_array_size(boxes) > API_KEYS_MAX_BOXES)
		return api_bad_field(req, "boxes");
	/* Parse the whole batch before acting on any of it. */
	json_array_foreach(boxes, index, entry) {
		const char *text;
		uint64_t to;

		if (!json_is_object(entry) || field_uint(entry, "to", INT64_MAX, &to) < 0 ||
		    field_string(entry, "box", API_BOX_MAX * 2, &text) < 0 ||
		    base64_decode_any(box, sizeof(box), text, &box_len) < 0 || box_len == 0)
			return api_bad_field(req, "boxes");
	}
	ret = rooms_begin_self(req, &room, &self);
	if (ret < 0)
		return rooms_fail(req, ret, "room_not_found");
	if (!store_role_on_stage(self.role))
		return rooms_forbidden(req, _("Only members on stage send audio keys."));
	skipped = json_array();
	json_array_foreach(boxes, index, entry) {
		uint64_t to = (uint64_t)json_integer_value(json_object_get(entry, "to"));
		json_t *event;

		ret = store_member_get(api->store, room.id, to, &recipient);
		if (ret == -ENOENT) {
			json_array_append_new(skipped, json_integer((json_int_t)to));
			ret = 0;
			continue;
		}
		if (ret < 0)
			break;
		event = json_pack("{s:s, s:I, s:I, s:I, s:I, s:O}", "type", "key", "room_id",
				  (json_int_t)room.id, "from", (json_int_t)self.user_id,
				  "from_member", (json_int_t)self.member_id, "epoch",
				  (json_int_t)epoch, "box", json_object_get(entry, "box"));
		ret = api_publish_user(api, to, event);
		json_decref(event);
		if (ret < 0)
			break;
		delivered++;
	}
	ret = rooms_commit(api, ret);
	if (ret < 0) {
		json_decref(skipped);
		return rooms_fail(req, ret, "room_not_found");
	}
	return api_reply(req, MHD_HTTP_OK,
			 json_pack("{s:i, s:o}", "delivered", (int)delivered, "skipped", skipped));
}

enum MHD_Result rooms_chat(struct api_request *req)
{
	struct api *api = req->api;
	struct store_room room;
	struct store_member self;
	const char *text;
	json_t *event;
	int ret;

	if (field_text(req->json, "text", 1, API_CHAT_MAX, &text) < 0)
		return api_bad_field(req, "text");
	ret = rooms_begin_self(req, &room, &self);
	if (ret < 0)
		return rooms_fail(req, ret, "room_not_found");
	event = json_pack("{s:s, s:I, s:I, s:I, s:s, s:s, s:I}", "type", "chat", "room_id",
			  (json_int_t)room.id, "from", (json_int_t)self.user_id, "from_member",
			  (json_int_t)self.member_id, "name", self.name, "text", text, "sent",
			  (json_int_t)time(NULL));
	ret = api_publish_room(api, room.id, false, 0, event);
	json_decref(event);
	ret = rooms_commit(api, ret);
	if (ret < 0)
		return rooms_fail(req, ret, "room_not_found");
	return api_reply(req, MHD_HTTP_NO_CONTENT, NULL);
}
