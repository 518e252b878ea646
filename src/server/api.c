/*
 * api.c - the HTTP daemon, its event loop, routing, request bodies, errors, and
 * the login, user and event-stream handlers. Room handlers live in rooms.c.
 */
#include "config.h"

#include <errno.h>
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "api_internal.h"
#include "encoding.h"
#include "field.h"
#include "i18n.h"
#include "log.h"
#include "util.h"

typedef enum MHD_Result (*api_handler_fn)(struct api_request *req);

struct api_route {
	const char *method;
	const char *pattern; /* '#' stands for one numeric id segment */
	bool auth;
	size_t body_limit;
	api_handler_fn fn;
};

static enum MHD_Result api_server_info(struct api_request *req);
static enum MHD_Result api_auth_challenge(struct api_request *req);
static enum MHD_Result api_auth_login(struct api_request *req);
static enum MHD_Result api_auth_logout(struct api_request *req);
static enum MHD_Result api_users_me(struct api_request *req);
static enum MHD_Result api_users_rename(struct api_request *req);
static enum MHD_Result api_users_get(struct api_request *req);
static enum MHD_Result api_users_find(struct api_request *req);

static const struct api_route api_routes[] = {
	{"GET", "/v1/server", false, 0, api_server_info},
	{"POST", "/v1/auth/challenge", false, API_BODY_MAX, api_auth_challenge},
	{"POST", "/v1/auth/login", false, API_BODY_MAX, api_auth_login},
	{"POST", "/v1/auth/logout", true, API_BODY_MAX, api_auth_logout},
	{"GET", "/v1/users/me", true, 0, api_users_me},
	{"PATCH", "/v1/users/me", true, API_BODY_MAX, api_users_rename},
	{"GET", "/v1/users/#", true, 0, api_users_get},
	{"GET", "/v1/users", true, 0, api_users_find},
	{"GET", "/v1/rooms", true, 0, rooms_list},
	{"POST", "/v1/rooms", true, API_BODY_MAX, rooms_create},
	{"GET", "/v1/rooms/#", true, 0, rooms_get},
	{"DELETE", "/v1/rooms/#", true, 0, rooms_end},
	{"POST", "/v1/rooms/#/join", true, API_BODY_MAX, rooms_join},
	{"POST", "/v1/rooms/#/leave", true, API_BODY_MAX, rooms_leave},
	{"GET", "/v1/rooms/#/members", true, 0, rooms_members},
	{"POST", "/v1/rooms/#/members/#/role", true, API_BODY_MAX, rooms_set_role},
	{"POST", "/v1/rooms/#/members/#/mute", true, API_BODY_MAX, rooms_set_mute},
	{"DELETE", "/v1/rooms/#/members/#", true, 0, rooms_remove},
	{"POST", "/v1/rooms/#/hand", true, API_BODY_MAX, rooms_hand},
	{"POST", "/v1/rooms/#/recording", true, API_BODY_MAX, rooms_recording},
	{"POST", "/v1/rooms/#/keys", true, API_KEYS_BODY_MAX, rooms_keys},
	{"POST", "/v1/rooms/#/chat", true, API_BODY_MAX, rooms_chat},
	{"GET", "/v1/events", true, 0, events_get},
};

/* Replies. */

enum MHD_Result api_reply(struct api_request *req, unsigned int status, json_t *body)
{
	struct MHD_Response *response;
	enum MHD_Result ret;
	char *text = NULL;
	size_t len = 0;

	if (body != NULL) {
		text = json_dumps(body, JSON_COMPACT);
		json_decref(body);
		if (text == NULL)
			fatal(_("out of memory"));
		len = strlen(text);
	}
	response = MHD_create_response_from_buffer(len, text ? text : (char *)"",
						   text ? MHD_RESPMEM_MUST_FREE :
							  MHD_RESPMEM_PERSISTENT);
	if (response == NULL) {
		free(text);
		return MHD_NO;
	}
	if (text != NULL)
		MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
					"application/json");
	MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED && req->route != NULL)
		MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, req->route->method);
	ret = MHD_queue_response(req->conn, status, response);
	MHD_destroy_response(response);
	return ret;
}

enum MHD_Result api_error(struct api_request *req, unsigned int status, const char *code,
			  const char *message)
{
	return api_reply(req, status, json_pack("{s:s, s:s}", "error", code, "message", message));
}

enum MHD_Result api_bad_field(struct api_request *req, const char *field)
{
	char *message = xasprintf(_("Field \"%s\" is missing or invalid."), field);
	enum MHD_Result ret = api_error(req, MHD_HTTP_BAD_REQUEST, "invalid_field", message);

	free(message);
	return ret;
}

enum MHD_Result api_store_error(struct api_request *req, int err, const char *not_found_code)
{
	switch (err) {
	case -ENOENT:
		return api_error(req, MHD_HTTP_NOT_FOUND, not_found_code, _("Not found."));
	case -EEXIST:
		return api_error(req, MHD_HTTP_CONFLICT, "conflict",
				 _("This conflicts with existing data."));
	case -EBUSY:
	case -ENOSPC:
		return api_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
				 _("The server is busy; try again later."));
	default:
		return api_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
				 _("Internal server error."));
	}
}

/* JSON views of stored records. */

json_t *api_user_json(const struct store_user *user)
{
	char key[64];

	base64_encode(key, user->public_key, sizeof(user->public_key));
	return json_pack("{s:I, s:s, s:s, s:b, s:I}", "id", (json_int_t)user->id, "name",
			 user->name, "public_key", key, "bot", user->bot, "created",
			 (json_int_t)user->created);
}

json_t *api_room_json(const struct store_room *room)
{
	return json_pack("{s:I, s:s, s:s, s:s, s:I, s:I, s:b, s:i, s:i}", "id",
			 (json_int_t)room->id, "title", room->title, "topic", room->topic,
			 "visibility", room->is_public ? "public" : "private", "host_id",
			 (json_int_t)room->host_id, "created", (json_int_t)room->created,
			 "ended", room->ended != 0, "speakers", (int)room->speakers,
			 "listeners", (int)room->listeners);
}

json_t *api_member_json(const struct store_member *member)
{
	return json_pack("{s:I, s:I, s:I, s:s, s:b, s:s, s:b, s:b, s:b, s:I}", "room_id",
			 (json_int_t)member->room_id, "user_id", (json_int_t)member->user_id,
			 "member_id", (json_int_t)member->member_id, "name", member->name,
			 "bot", member->bot, "role", store_role_name(member->role),
			 "hand_raised", member->hand_raised, "muted", member->muted,
			 "recording", member->recording, "joined",
			 (json_int_t)member->joined);
}

/* Publishing. */

int api_publish_user(struct api *api, uint64_t user_id, json_t *event)
{
	char *text = json_dumps(event, JSON_COMPACT);
	int ret;

	if (text == NULL)
		fatal(_("out of memory"));
	ret = bus_publish(api->bus, user_id, text);
	free(text);
	return ret;
}

int api_publish_room(struct api *api, uint64_t room_id, bool stage_only, uint64_t except,
		     json_t *event)
{
	char *text = json_dumps(event, JSON_COMPACT);
	int ret;

	if (text == NULL)
		fatal(_("out of memory"));
	/* Stored once for the room, however many members it has (bus_publish_room). */
	ret = bus_publish_room(api->bus, room_id, stage_only, except, text);
	free(text);
	return ret;
}

void api_room_counts_changed(struct api *api, uint64_t room_id)
{
	for (size_t i = 0; i < api->dirty_count; i++)
		if (api->dirty_rooms[i] == room_id)
			return;
	if (api->dirty_count == api->dirty_cap) {
		api->dirty_cap = api->dirty_cap ? api->dirty_cap * 2 : 16;
		api->dirty_rooms = xreallocarray(api->dirty_rooms, api->dirty_cap,
						 sizeof(*api->dirty_rooms));
	}
	api->dirty_rooms[api->dirty_count++] = room_id;
}

/* Publishes the coalesced counts when they are due: at most once per room per interval. */
static void api_flush_counts(struct api *api, uint64_t now_ms)
{
	if (api->dirty_count == 0 || now_ms < api->next_count_flush_ms)
		return;
	for (size_t i = 0; i < api->dirty_count; i++)
		rooms_send_counts(api, api->dirty_rooms[i]);
	api->dirty_count = 0;
	api->next_count_flush_ms = now_ms + API_COUNT_INTERVAL_MS;
}

/* Login and users. */

static enum MHD_Result api_server_info(struct api_request *req)
{
	struct api *api = req->api;

	return api_reply(req, MHD_HTTP_OK,
			 json_pack("{s:s, s:s, s:{s:s, s:s}, s:i, s:s}", "server", "salond",
				   "version", PACKAGE_VERSION, "relay", "address",
				   api->relay_address, "public_key", api->relay_public_key,
				   "max_rooms", (int)api->max_rooms, "login_domain",
				   AUTH_DOMAIN));
}

/* Reads a base64url field of exactly len bytes. */
static int api_field_bytes(json_t *obj, const char *key, uint8_t *out, size_t len)
{
	const char *text;

	if (field_string(obj, key, 4 * len, &text) < 0 || base64_decode(out, len, text) < 0)
		return -EINVAL;
	return 0;
}

static const struct sockaddr *api_client_addr(struct api_request *req)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

	return info != NULL ? info->client_addr : NULL;
}

static enum MHD_Result api_auth_challenge(struct api_request *req)
{
	struct auth_challenge challenge;
	const char *name;
	char nonce[64];
	int ret;

	memset(&challenge, 0, sizeof(challenge));
	if (api_field_bytes(req->json, "public_key", challenge.public_key, 32) < 0)
		return api_bad_field(req, "public_key");
	ret = field_text(req->json, "name", 1, STORE_NAME_MAX, &name);
	if (ret < 0 || name[0] == ' ' || name[strlen(name) - 1] == ' ')
		return api_bad_field(req, "name");
	snprintf(challenge.name, sizeof(challenge.name), "%s", name);
	ret = field_bool(req->json, "bot", &challenge.bot);
	if (ret == -EINVAL)
		return api_bad_field(req, "bot");
	if (auth_rate_take(req->api->auth, api_client_addr(req), challenge.public_key,
			   util_now_ms()) < 0)
		return api_error(req, MHD_HTTP_TOO_MANY_REQUESTS, "rate_limited",
				 _("Too many login attempts; wait a minute."));
	if (auth_challenge_new(req->api->auth, &challenge, util_now_ms()) < 0)
		return api_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
				 _("Too many logins in progress; try again later."));
	base64_encode(nonce, challenge.nonce, sizeof(challenge.nonce));
	sodium_memzero(&challenge, sizeof(challenge));
	return api_reply(req, MHD_HTTP_OK,
			 json_pack("{s:s, s:i}", "nonce", nonce, "expires_in",
				   AUTH_CHALLENGE_TTL_MS / 1000));
}

static enum MHD_Result api_auth_login(struct api_request *req)
{
	struct api *api = req->api;
	struct auth_challenge challenge;
	struct store_user user;
	uint8_t nonce[32], key[32], signature[64], hash[32];
	int64_t now = (int64_t)time(NULL);
	char *token;
	int ret;

	if (api_field_bytes(req->json, "nonce", nonce, sizeof(nonce)) < 0)
		return api_bad_field(req, "nonce");
	if (api_field_bytes(req->json, "public_key", key, sizeof(key)) < 0)
		return api_bad_field(req, "public_key");
	if (api_field_bytes(req->json, "signature", signature, sizeof(signature)) < 0)
		return api_bad_field(req, "signature");
	/* The challenge is spent whatever happens next, so a signature gets one try. */
	ret = auth_challenge_take(api->auth, nonce, util_now_ms(), &challenge);
	if (ret == -ETIMEDOUT)
		return api_error(req, MHD_HTTP_UNAUTHORIZED, "challenge_expired",
				 _("The login challenge expired; ask for a new one."));
	if (ret < 0 || sodium_memcmp(challenge.public_key, key, 32) != 0)
		return api_error(req, MHD_HTTP_UNAUTHORIZED, "bad_challenge",
				 _("Unknown or already used login challenge."));
	if (auth_verify(nonce, key, signature) < 0)
		return api_error(req, MHD_HTTP_UNAUTHORIZED, "bad_signature",
				 _("The signature does not match the key."));

	ret = store_begin(api->store);
	if (ret < 0)
		return api_store_error(req, ret, "not_found");
	ret = store_user_by_key(api->store, key, &user);
	if (ret == -ENOENT) {
		memset(&user, 0, sizeof(user));
		snprintf(user.name, sizeof(user.name), "%s", challenge.name);
		memcpy(user.public_key, key, 32);
		user.bot = challenge.bot;
		ret = store_user_create(api->store, &user);
		if (ret == -EEXIST) {
			store_rollback(api->store);
			return api_error(req, MHD_HTTP_CONFLICT, "name_taken",
					 _("That name is taken; choose another."));
		}
		if (ret == 0)
			log_info(_("new user %" PRIu64), user.id);
	}
	token = auth_token_new(hash);
	if (ret == 0)
		ret = store_token_add(api->store, hash, user.id, now, now + AUTH_TOKEN_TTL_S);
	if (ret == 0)
		ret = store_commit(api->store);
	if (ret < 0) {
		store_rollback(api->store);
		free(token);
		return api_store_error(req, ret, "not_found");
	}
	ret = api_reply(req, MHD_HTTP_OK,
			json_pack("{s:s, s:i, s:o}", "token", token, "expires_in",
				  AUTH_TOKEN_TTL_S, "user", api_user_json(&user)));
	sodium_memzero(token, strlen(token));
	free(token);
	return ret;
}

/* The hash of the bearer token in the request, or -EINVAL. */
static int api_bearer_hash(struct api_request *req, uint8_t hash[32])
{
	const char *value = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
							MHD_HTTP_HEADER_AUTHORIZATION);

	if (value == NULL || strncmp(value, "Bearer ", 7) != 0)
		return -EINVAL;
	return auth_token_hash(value + 7, hash);
}

static enum MHD_Result api_auth_logout(struct api_request *req)
{
	uint8_t hash[32];
	int ret;

	if (api_bearer_hash(req, hash) < 0)
		return api_error(req, MHD_HTTP_UNAUTHORIZED, "unauthorized", _("Log in first."));
	ret = store_token_delete(req->api->store, hash);
	if (ret < 0)
		return api_store_error(req, ret, "not_found");
	return api_reply(req, MHD_HTTP_NO_CONTENT, NULL);
}

static enum MHD_Result api_user_reply(struct api_request *req, uint64_t id)
{
	struct store_user user;
	int ret = store_user_by_id(req->api->store, id, &user);

	if (ret < 0)
		return api_store_error(req, ret, "user_not_found");
	return api_reply(req, MHD_HTTP_OK, api_user_json(&user));
}

static enum MHD_Result api_users_me(struct api_request *req)
{
	return api_user_reply(req, req->user_id);
}

static enum MHD_Result api_users_get(struct api_request *req)
{
	return api_user_reply(req, req->ids[0]);
}

static enum MHD_Result api_users_find(struct api_request *req)
{
	const char *name = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, "name");
	struct store_user user;
	int ret;

	if (name == NULL || field_text_check(name, 1, STORE_NAME_MAX) < 0)
		return api_bad_field(req, "name");
	ret = store_user_by_name(req->api->store, name, &user);
	if (ret < 0)
		return api_store_error(req, ret, "user_not_found");
	return api_reply(req, MHD_HTTP_OK, api_user_json(&user));
}

static enum MHD_Result api_users_rename(struct api_request *req)
{
	const char *name;
	int ret;

	ret = field_text(req->json, "name", 1, STORE_NAME_MAX, &name);
	if (ret < 0 || name[0] == ' ' || name[strlen(name) - 1] == ' ')
		return api_bad_field(req, "name");
	ret = store_user_rename(req->api->store, req->user_id, name);
	if (ret == -EEXIST)
		return api_error(req, MHD_HTTP_CONFLICT, "name_taken",
				 _("That name is taken; choose another."));
	if (ret < 0)
		return api_store_error(req, ret, "user_not_found");
	return api_user_reply(req, req->user_id);
}

/* Routing and request bodies. */

/*
 * Matches url against pattern, collecting '#' segments into ids. Returns true on a
 * match. Query strings were already split off by MHD.
 */
static bool api_route_match(const char *pattern, const char *url, uint64_t ids[2])
{
	size_t nids = 0;

	while (*pattern != '\0' && *url != '\0') {
		if (*pattern == '#') {
			char segment[24];
			size_t len = strcspn(url, "/");

			if (len == 0 || len >= sizeof(segment) || nids == 2)
				return false;
			memcpy(segment, url, len);
			segment[len] = '\0';
			if (field_parse_id(segment, &ids[nids++]) < 0)
				return false;
			url += len;
			pattern++;
		} else if (*pattern++ != *url++) {
			return false;
		}
	}
	return *pattern == '\0' && *url == '\0';
}

/* Finds the route; *path_known says whether another method would have matched. */
static const struct api_route *api_route_find(const char *method, const char *url,
					      uint64_t ids[2], const struct api_route **other)
{
	*other = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(api_routes); i++) {
		if (!api_route_match(api_routes[i].pattern, url, ids))
			continue;
		if (strcmp(api_routes[i].method, method) == 0)
			return &api_routes[i];
		if (*other == NULL)
			*other = &api_routes[i];
	}
	return NULL;
}

static enum MHD_Result api_authenticate(struct api_request *req)
{
	uint8_t hash[32];
	int ret;

	if (api_bearer_hash(req, hash) < 0)
		return api_error(req, MHD_HTTP_UNAUTHORIZED, "unauthorized",
				 _("A valid bearer token is required."));
	ret = store_token_lookup(req->api->store, hash, (int64_t)time(NULL), &req->user_id);
	if (ret == -ENOENT)
		return api_error(req, MHD_HTTP_UNAUTHORIZED, "unauthorized",
				 _("The token is unknown or expired; log in again."));
	if (ret < 0)
		return api_store_error(req, ret, "not_found");
	return MHD_YES;
}

/* Runs once the whole body is in. */
static enum MHD_Result api_dispatch(struct api_request *req)
{
	enum MHD_Result ret;

	if (req->body_too_large)
		return api_error(req, MHD_HTTP_CONTENT_TOO_LARGE, "too_large",
				 _("The request body is too large."));
	if (req->route->auth && req->user_id == 0) {
		ret = api_authenticate(req);
		if (req->user_id == 0)
			return ret;
	}
	if (req->json == NULL && req->route->body_limit > 0) {
		json_error_t error;

		/* An empty body reads as {}; anything else must be one JSON object. */
		if (req->body_len == 0)
			req->json = json_object();
		else
			req->json = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES,
					       &error);
		if (req->json == NULL)
			return api_error(req, MHD_HTTP_BAD_REQUEST, "malformed_json",
					 _("The request body is not valid JSON."));
		if (!json_is_object(req->json))
			return api_error(req, MHD_HTTP_BAD_REQUEST, "malformed_json",
					 _("The request body must be a JSON object."));
	}
	return req->route->fn(req);
}

static enum MHD_Result api_start_request(struct api_request *req, const char *url)
{
	const struct api_route *other;
	const char *length;

	req->route = api_route_find(req->method, url, req->ids, &other);
	if (req->route == NULL && other != NULL) {
		req->route = other; /* for the Allow header */
		return api_error(req, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed",
				 _("This method is not allowed here."));
	}
	if (req->route == NULL)
		return api_error(req, MHD_HTTP_NOT_FOUND, "not_found", _("No such endpoint."));
	req->body_limit = req->route->body_limit;
	/* Refuse an announced oversized body before reading any of it. */
	length = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
					     MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (length != NULL && strtoull(length, NULL, 10) > req->body_limit)
		return api_error(req, MHD_HTTP_CONTENT_TOO_LARGE, "too_large",
				 _("The request body is too large."));
	return MHD_YES;
}

static enum MHD_Result api_handle(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	struct api_request *req = *con_cls;

	(void)version;
	if (req == NULL) {
		req = xcalloc(1, sizeof(*req));
		req->api = cls;
		req->conn = conn;
		req->method = method;
		*con_cls = req;
		return api_start_request(req, url);
	}
	if (*upload_data_size > 0) {
		/* Past the limit (a chunked body), keep reading but drop the bytes. */
		if (req->body_len + *upload_data_size > req->body_limit) {
			req->body_too_large = true;
		} else {
			req->body = xrealloc(req->body, req->body_len + *upload_data_size + 1);
			memcpy(req->body + req->body_len, upload_data, *upload_data_size);
			req->body_len += *upload_data_size;
			req->body[req->body_len] = '\0';
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	return api_dispatch(req);
}

static void api_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			  enum MHD_RequestTerminationCode code)
{
	struct api *api = cls;
	struct api_request *req = *con_cls;

	(void)conn;
	(void)code;
	if (req == NULL)
		return;
	if (req->waiter != NULL)
		bus_cancel(api->bus, req->waiter);
	json_decref(req->json);
	free(req->body);
	free(req);
	*con_cls = NULL;
}

/* Daemon and loop. */

/*
 * How many connections MHD may hold: every client with an event stream holds one,
 * so the limit follows the file descriptors the process may open, less a reserve
 * for the database, the relay and the listening socket.
 */
static unsigned int api_connection_limit(void)
{
	struct rlimit limit;

	if (getrlimit(RLIMIT_NOFILE, &limit) < 0 || limit.rlim_cur <= 2 * API_FD_RESERVE)
		return API_FD_RESERVE;
	if (limit.rlim_cur > API_CONNECTIONS_MAX)
		return API_CONNECTIONS_MAX;
	return (unsigned int)(limit.rlim_cur - API_FD_RESERVE);
}

int api_new(const struct api_config *config, struct api **out)
{
	struct api *api = xcalloc(1, sizeof(*api));
	unsigned int flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	const union MHD_DaemonInfo *info;
	struct sockaddr_storage bound;
	socklen_t bound_len = sizeof(bound);

	api->store = config->store;
	api->relay = config->relay;
	if (bus_new(config->store, &api->bus) < 0) {
		api_free(api);
		return -EIO;
	}
	api->auth = auth_new(config->login_burst);
	api->max_rooms = config->max_rooms;
	api->relay_address = xstrdup(config->relay_address);
	api->relay_public_key = base64_encode_new(config->relay_public_key, 32);
	api->tls = config->tls_cert_pem != NULL;
	if (config->listen_addr->sa_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (api->tls)
		flags |= MHD_USE_TLS;
	struct MHD_OptionItem options[] = {
		{MHD_OPTION_SOCK_ADDR, 0, (void *)config->listen_addr},
		{MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)api_completed, api},
		{MHD_OPTION_CONNECTION_TIMEOUT, API_WAIT_MAX + 30, NULL},
		{MHD_OPTION_CONNECTION_LIMIT, api_connection_limit(), NULL},
		{MHD_OPTION_CONNECTION_MEMORY_LIMIT, API_CONNECTION_MEMORY, NULL},
		/* TLS options last, so that a plain daemon can cut the list short. */
		{MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)config->tls_key_pem},
		{MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)config->tls_cert_pem},
		{MHD_OPTION_END, 0, NULL},
	};

	if (!api->tls)
		options[5].option = MHD_OPTION_END;
	api->daemon = MHD_start_daemon(flags, 0, NULL, NULL, api_handle, api, MHD_OPTION_ARRAY,
				       options, MHD_OPTION_END);
	if (api->daemon == NULL) {
		api_free(api);
		return -EADDRNOTAVAIL;
	}
	info = MHD_get_daemon_info(api->daemon, MHD_DAEMON_INFO_LISTEN_FD);
	if (info == NULL || getsockname(info->listen_fd, (struct sockaddr *)&bound,
					&bound_len) < 0) {
		api_free(api);
		return -EIO;
	}
	if (bound.ss_family == AF_INET6)
		api->port = ntohs(((struct sockaddr_in6 *)(void *)&bound)->sin6_port);
	else
		api->port = ntohs(((struct sockaddr_in *)(void *)&bound)->sin_port);
	*out = api;
	return 0;
}

uint16_t api_port(const struct api *api)
{
	return api->port;
}

/* Timers: long-poll deadlines, challenge expiry, coalesced counts. */
static void api_tick(struct api *api)
{
	uint64_t now = util_now_ms();

	bus_expire(api->bus, now);
	auth_expire(api->auth, now);
	api_flush_counts(api, now);
	events_ack_flush(api, now, false);
}

/* How long the loop may sleep, in milliseconds. */
static int api_poll_timeout(struct api *api)
{
	uint64_t now = util_now_ms(), next = now + 1000, deadline;
	MHD_UNSIGNED_LONG_LONG mhd_timeout;

	deadline = bus_next_deadline(api->bus);
	if (deadline < next)
		next = deadline;
	if (api->dirty_count > 0 && api->next_count_flush_ms < next)
		next = api->next_count_flush_ms;
	if (api->ack_len > 0 && api->next_ack_flush_ms < next)
		next = api->next_ack_flush_ms;
	if (MHD_get_timeout(api->daemon, &mhd_timeout) == MHD_YES && now + mhd_timeout < next)
		next = now + mhd_timeout;
	return next > now ? (int)(next - now) : 0;
}

int api_run(struct api *api, int stop_fd)
{
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(api->daemon,
								MHD_DAEMON_INFO_EPOLL_FD);
	struct pollfd fds[2];
	uint64_t drain_deadline = 0;

	if (info == NULL)
		return -EIO;
	fds[0].fd = info->epoll_fd;
	fds[0].events = POLLIN;
	fds[1].fd = stop_fd;
	fds[1].events = POLLIN;
	for (;;) {
		int timeout = api->stopping ? 20 : api->resumed ? 0 : api_poll_timeout(api);
		int n = poll(fds, api->stopping ? 1 : 2, timeout);

		if (n < 0 && errno != EINTR)
			return -errno;
		if (!api->stopping && n > 0 && (fds[1].revents & POLLIN)) {
			MHD_socket listen_fd = MHD_quiesce_daemon(api->daemon);

			/* Stop accepting, then answer every long-poll before stopping. */
			if (listen_fd != MHD_INVALID_SOCKET)
				close(listen_fd);
			api->stopping = true;
			bus_wake_all(api->bus);
			drain_deadline = util_now_ms() + 1000;
		}
		api->resumed = false;
		MHD_run(api->daemon);
		api_tick(api);
		if (api->stopping) {
			const union MHD_DaemonInfo *conns = MHD_get_daemon_info(
				api->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);

			bus_wake_all(api->bus);
			if ((conns != NULL && conns->num_connections == 0) ||
			    util_now_ms() >= drain_deadline)
				break;
		}
	}
	/*
	 * Listener counts are soft state (events.c): nothing of them is kept. The
	 * acknowledgements still waiting for their batch are applied now.
	 */
	api->dirty_count = 0;
	events_ack_flush(api, util_now_ms(), true);
	return 0;
}

void api_free(struct api *api)
{
	if (api == NULL)
		return;
	if (api->bus != NULL)
		bus_wake_all(api->bus);
	if (api->daemon != NULL)
		MHD_stop_daemon(api->daemon);
	bus_free(api->bus);
	auth_free(api->auth);
	free(api->relay_address);
	free(api->relay_public_key);
	free(api->dirty_rooms);
	events_free(api);
	free(api);
}
