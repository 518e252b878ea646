/*
 * signaling.c - salond's API over libcurl's multi interface (see signaling.h).
 *
 * Every request is one easy handle in the multi handle, with a growing answer
 * buffer. signaling_poll() waits in curl_multi_poll() with the caller's extra
 * descriptors, performs, and completes finished transfers one message at a time,
 * so that a callback may cancel or start other requests safely. Requests that
 * meet a 401 while we hold a token park in a waiting list until a re-login ends.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <sodium.h>

#include "encoding.h"
#include "i18n.h"
#include "log.h"
#include "signaling.h"
#include "util.h"

#define SIGNALING_LOGIN_DOMAIN "salon-login-v1"

struct signaling_request {
	struct signaling_request *next;
	struct signaling *signaling;
	uint64_t id;
	CURL *easy;
	struct curl_slist *headers;
	char *method;
	char *path;
	char *body_text;
	char *answer;
	size_t answer_len;
	bool too_large;
	bool auth;    /* sent with the token; may trigger a re-login on 401 */
	bool retried; /* already sent again after a re-login */
	bool in_multi;
	/*
	 * An event-stream request: never sent a second time behind our back. libcurl
	 * silently sends a request again on a fresh connection when the reused one it
	 * went out on dies before any answer; for the stream that would hide a server
	 * restart (see signaling_prereq).
	 */
	bool no_resend;
	unsigned sends; /* times libcurl was about to send it, since the last submit */
	bool resend_refused;
	signaling_cb *cb;
	void *arg;
	char errbuf[CURL_ERROR_SIZE];
};

struct signaling_timer {
	struct signaling_timer *next;
	uint64_t id;
	uint64_t due_ms;
	signaling_timer_cb *cb;
	void *arg;
};

/* A login in progress: challenge, then login. */
struct signaling_login_op {
	uint64_t id;
	uint64_t request; /* the step in flight */
	signaling_cb *cb; /* NULL for an automatic re-login */
	void *arg;
};

struct signaling_stream {
	bool active;
	uint64_t generation; /* bumped by start and stop, to notice them in callbacks */
	uint64_t delivering; /* the generation of the page being handed over */
	uint64_t seq;
	unsigned wait_s;
	struct signaling_stream_ops ops;
	void *arg;
	uint64_t request;
	uint64_t timer;
	unsigned attempt;
	bool failing;
};

struct signaling {
	char *base_url;
	CURLM *multi;
	uint64_t next_id;
	struct signaling_request *requests; /* in flight */
	struct signaling_request *waiting;  /* waiting for a re-login */
	struct signaling_timer *timers;
	char *token;
	bool have_identity;
	struct identity identity;
	char *name;
	bool bot;
	struct signaling_login_op *login;
	struct signaling_stream stream;
	char *ca_file; /* NULL: the system's CAs */
};

int signaling_new(const char *base_url, struct signaling **out)
{
	struct signaling *signaling;
	size_t len;

	/* URL schemes are case-insensitive (RFC 3986, section 3.1). */
	if (strncasecmp(base_url, "http://", 7) != 0 && strncasecmp(base_url, "https://", 8) != 0)
		return -EINVAL;
	signaling = xcalloc(1, sizeof(*signaling));
	signaling->multi = curl_multi_init();
	if (signaling->multi == NULL) {
		free(signaling);
		return -ENOMEM;
	}
	/*
	 * Keep at most SIGNALING_IDLE_CONNECTIONS connections to the server once the
	 * requests are answered (libcurl closes the oldest idle one beyond that). A burst
	 * (a speaker fetching the keys of many members) still runs in parallel, but must
	 * not leave a connection per request open idle: a server with 10,000 listeners
	 * would hold every one of them.
	 */
	curl_multi_setopt(signaling->multi, CURLMOPT_MAXCONNECTS, (long)SIGNALING_IDLE_CONNECTIONS);
	signaling->base_url = xstrdup(base_url);
	len = strlen(signaling->base_url);
	while (len > 0 && signaling->base_url[len - 1] == '/')
		signaling->base_url[--len] = '\0';
	signaling->next_id = 1;
	*out = signaling;
	return 0;
}

void signaling_set_ca_file(struct signaling *signaling, const char *path)
{
	free(signaling->ca_file);
	signaling->ca_file = path != NULL ? xstrdup(path) : NULL;
}

const char *signaling_url(const struct signaling *signaling)
{
	return signaling->base_url;
}

static void signaling_token_clear(struct signaling *signaling)
{
	if (signaling->token != NULL) {
		sodium_memzero(signaling->token, strlen(signaling->token));
		free(signaling->token);
		signaling->token = NULL;
	}
}

static void signaling_request_free(struct signaling_request *request)
{
	if (request->easy != NULL) {
		if (request->in_multi)
			curl_multi_remove_handle(request->signaling->multi, request->easy);
		curl_easy_cleanup(request->easy);
	}
	/* The header list holds the token: wipe it before freeing. */
	for (struct curl_slist *h = request->headers; h != NULL; h = h->next)
		sodium_memzero(h->data, strlen(h->data));
	curl_slist_free_all(request->headers);
	free(request->method);
	free(request->path);
	free(request->body_text);
	free(request->answer);
	free(request);
}

void signaling_free(struct signaling *signaling)
{
	if (signaling == NULL)
		return;
	while (signaling->requests != NULL) {
		struct signaling_request *request = signaling->requests;
		signaling->requests = request->next;
		signaling_request_free(request);
	}
	while (signaling->waiting != NULL) {
		struct signaling_request *request = signaling->waiting;
		signaling->waiting = request->next;
		signaling_request_free(request);
	}
	while (signaling->timers != NULL) {
		struct signaling_timer *timer = signaling->timers;
		signaling->timers = timer->next;
		free(timer);
	}
	free(signaling->login);
	signaling_token_clear(signaling);
	identity_wipe(&signaling->identity);
	curl_multi_cleanup(signaling->multi);
	free(signaling->name);
	free(signaling->ca_file);
	free(signaling->base_url);
	free(signaling);
}

static size_t signaling_write(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct signaling_request *request = userdata;
	size_t n = size * nmemb;

	if (n > SIGNALING_MAX_BODY || request->answer_len > SIGNALING_MAX_BODY - n) {
		request->too_large = true;
		return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
	}
	request->answer = xrealloc(request->answer, request->answer_len + n + 1);
	memcpy(request->answer + request->answer_len, data, n);
	request->answer_len += n;
	request->answer[request->answer_len] = '\0';
	return n;
}

/* (Re)builds the header list, with the current token when the request carries one. */
static void signaling_request_headers(struct signaling_request *request)
{
	struct signaling *signaling = request->signaling;

	for (struct curl_slist *h = request->headers; h != NULL; h = h->next)
		sodium_memzero(h->data, strlen(h->data));
	curl_slist_free_all(request->headers);
	request->headers = NULL;
	request->headers = curl_slist_append(request->headers, "Accept: application/json");
	/* No "Expect: 100-continue" round trip for large key batches. */
	request->headers = curl_slist_append(request->headers, "Expect:");
	if (request->body_text != NULL)
		request->headers =
		    curl_slist_append(request->headers, "Content-Type: application/json");
	if (request->auth && signaling->token != NULL) {
		char *line = xasprintf("Authorization: Bearer %s", signaling->token);
		request->headers = curl_slist_append(request->headers, line);
		sodium_memzero(line, strlen(line));
		free(line);
	}
	if (request->headers == NULL)
		fatal(_("out of memory"));
	curl_easy_setopt(request->easy, CURLOPT_HTTPHEADER, request->headers);
}

/*
 * TLS trust: one CA bundle file rather than a CA directory. Debian's libcurl (GnuTLS
 * flavour) has only a directory built in, /etc/ssl/certs, and reads every one of its
 * files again for each new connection: several MiB of memory and the parsing of
 * some 150 certificates per connection. The same certificates are in the bundle
 * that update-ca-certificates writes beside them, ca-certificates.crt (the name
 * Debian, its derivatives, Arch and Alpine share): where it exists, it is used
 * instead. A built-in bundle is kept, and so is a directory without one; a file
 * given with signaling_set_ca_file() replaces them all.
 */
static void signaling_trust_setup(const struct signaling *signaling, CURL *easy)
{
	char *bundle = NULL, *dir = NULL, *file;

	if (signaling->ca_file != NULL) {
		curl_easy_setopt(easy, CURLOPT_CAINFO, signaling->ca_file);
		curl_easy_setopt(easy, CURLOPT_CAPATH, NULL);
		return;
	}
	if (curl_easy_getinfo(easy, CURLINFO_CAINFO, &bundle) != CURLE_OK || bundle != NULL ||
	    curl_easy_getinfo(easy, CURLINFO_CAPATH, &dir) != CURLE_OK || dir == NULL)
		return;
	file = xasprintf("%s/ca-certificates.crt", dir);
	/* libcurl copies the strings it is given. */
	if (access(file, R_OK) == 0 && curl_easy_setopt(easy, CURLOPT_CAINFO, file) == CURLE_OK)
		curl_easy_setopt(easy, CURLOPT_CAPATH, NULL);
	free(file);
}

/*
 * libcurl's CURLOPT_PREREQFUNCTION: called each time a connection is ready and the
 * request is about to go out on it. A second call for the same submission means
 * the connection the request first went out on died without an answer, and
 * libcurl is sending it again on a new one. For the event stream that is news the
 * owner must get: the server may have restarted (and its relay with it, which no
 * longer knows our media session), so fail the request instead, and the stream's
 * usual failure path reports RECONNECTING and then RESUMED.
 */
static int signaling_prereq(void *arg, char *conn_primary_ip, char *conn_local_ip,
			    int conn_primary_port, int conn_local_port)
{
	struct signaling_request *request = arg;

	(void)conn_primary_ip;
	(void)conn_local_ip;
	(void)conn_primary_port;
	(void)conn_local_port;
	request->sends++;
	if (request->no_resend && request->sends > 1) {
		request->resend_refused = true;
		return CURL_PREREQFUNC_ABORT;
	}
	return CURL_PREREQFUNC_OK;
}

/* Starts (or restarts after a re-login) the transfer of request. */
static void signaling_request_submit(struct signaling_request *request)
{
	struct signaling *signaling = request->signaling;

	free(request->answer);
	request->answer = NULL;
	request->answer_len = 0;
	request->too_large = false;
	request->sends = 0;
	request->resend_refused = false;
	request->errbuf[0] = '\0';
	signaling_request_headers(request);
	request->next = signaling->requests;
	signaling->requests = request;
	if (curl_multi_add_handle(signaling->multi, request->easy) == CURLM_OK)
		request->in_multi = true;
	else
		log_error(_("curl_multi_add_handle failed"));
}

static uint64_t signaling_request_full(struct signaling *signaling, const char *method,
				       const char *path, json_t *body, long timeout_ms, bool auth,
				       bool no_resend, signaling_cb *cb, void *arg)
{
	struct signaling_request *request = xcalloc(1, sizeof(*request));
	char *url;

	request->signaling = signaling;
	request->no_resend = no_resend;
	request->id = signaling->next_id++;
	request->method = xstrdup(method);
	request->path = xstrdup(path);
	request->auth = auth;
	request->cb = cb;
	request->arg = arg;
	if (body != NULL) {
		request->body_text = json_dumps(body, JSON_COMPACT);
		if (request->body_text == NULL)
			fatal(_("out of memory"));
	}
	request->easy = curl_easy_init();
	if (request->easy == NULL)
		fatal(_("out of memory"));
	if (timeout_ms <= 0)
		timeout_ms = SIGNALING_TIMEOUT_MS;

	url = xasprintf("%s%s", signaling->base_url, path);
	signaling_trust_setup(signaling, request->easy);
	curl_easy_setopt(request->easy, CURLOPT_URL, url);
	free(url);
	curl_easy_setopt(request->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(request->easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(request->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(request->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(request->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(request->easy, CURLOPT_CONNECTTIMEOUT_MS,
			 (long)SIGNALING_CONNECT_TIMEOUT_MS);
	curl_easy_setopt(request->easy, CURLOPT_USERAGENT, PACKAGE_NAME "/" PACKAGE_VERSION);
	curl_easy_setopt(request->easy, CURLOPT_WRITEFUNCTION, signaling_write);
	curl_easy_setopt(request->easy, CURLOPT_WRITEDATA, request);
	curl_easy_setopt(request->easy, CURLOPT_PRIVATE, request);
	curl_easy_setopt(request->easy, CURLOPT_ERRORBUFFER, request->errbuf);
	curl_easy_setopt(request->easy, CURLOPT_PREREQFUNCTION, signaling_prereq);
	curl_easy_setopt(request->easy, CURLOPT_PREREQDATA, request);
	if (strcmp(method, "GET") == 0) {
		curl_easy_setopt(request->easy, CURLOPT_HTTPGET, 1L);
	} else {
		if (strcmp(method, "POST") != 0)
			curl_easy_setopt(request->easy, CURLOPT_CUSTOMREQUEST, request->method);
		if (request->body_text != NULL || strcmp(method, "POST") == 0) {
			const char *text = request->body_text != NULL ? request->body_text : "";
			curl_easy_setopt(request->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(text));
			curl_easy_setopt(request->easy, CURLOPT_POSTFIELDS, text);
		}
	}
	signaling_request_submit(request);
	return request->id;
}

uint64_t signaling_request(struct signaling *signaling, const char *method, const char *path,
			   json_t *body, long timeout_ms, signaling_cb *cb, void *arg)
{
	return signaling_request_full(signaling, method, path, body, timeout_ms, true, false, cb,
				      arg);
}

/* Unlinks request from list; returns whether it was there. */
static bool signaling_unlink(struct signaling_request **list, struct signaling_request *request)
{
	for (struct signaling_request **p = list; *p != NULL; p = &(*p)->next) {
		if (*p == request) {
			*p = request->next;
			request->next = NULL;
			return true;
		}
	}
	return false;
}

static struct signaling_request *signaling_find(struct signaling_request *list, uint64_t id)
{
	for (; list != NULL; list = list->next)
		if (list->id == id)
			return list;
	return NULL;
}

static void signaling_fail_waiting(struct signaling *signaling,
				   const struct signaling_result *result);

void signaling_cancel(struct signaling *signaling, uint64_t request_id)
{
	struct signaling_request *request;

	if (request_id == 0)
		return;
	if (signaling->login != NULL && signaling->login->id == request_id) {
		struct signaling_login_op *op = signaling->login;
		struct signaling_result result = {
		    .transport_error = _("cancelled"),
		    .curl_code = CURLE_ABORTED_BY_CALLBACK,
		};

		signaling->login = NULL;
		signaling_cancel(signaling, op->request);
		free(op);
		signaling_fail_waiting(signaling, &result);
		return;
	}
	request = signaling_find(signaling->requests, request_id);
	if (request != NULL) {
		signaling_unlink(&signaling->requests, request);
		signaling_request_free(request);
		return;
	}
	request = signaling_find(signaling->waiting, request_id);
	if (request != NULL) {
		signaling_unlink(&signaling->waiting, request);
		signaling_request_free(request);
	}
}

unsigned signaling_pending(const struct signaling *signaling)
{
	unsigned n = 0;

	for (const struct signaling_request *r = signaling->requests; r != NULL; r = r->next)
		n++;
	for (const struct signaling_request *r = signaling->waiting; r != NULL; r = r->next)
		n++;
	return n;
}

bool signaling_logged_in(const struct signaling *signaling)
{
	return signaling->token != NULL;
}

/* Completes the requests that waited for a failed re-login with its result. */
static void signaling_fail_waiting(struct signaling *signaling,
				   const struct signaling_result *result)
{
	while (signaling->waiting != NULL) {
		struct signaling_request *request = signaling->waiting;

		signaling->waiting = request->next;
		if (request->cb != NULL)
			request->cb(request->arg, result);
		signaling_request_free(request);
	}
}

static void signaling_login_finish(struct signaling *signaling, bool ok,
				   const struct signaling_result *result)
{
	struct signaling_login_op *op = signaling->login;

	signaling->login = NULL;
	if (ok) {
		/* Send again, in their original order, what waited for the new token. */
		struct signaling_request *list = NULL;

		while (signaling->waiting != NULL) {
			struct signaling_request *request = signaling->waiting;
			signaling->waiting = request->next;
			request->next = list;
			list = request;
		}
		while (list != NULL) {
			struct signaling_request *request = list;
			list = request->next;
			signaling_request_submit(request);
		}
	} else {
		signaling_fail_waiting(signaling, result);
	}
	if (op != NULL && op->cb != NULL)
		op->cb(op->arg, result);
	free(op);
}

static void signaling_login_answer(void *arg, const struct signaling_result *result)
{
	struct signaling *signaling = arg;
	json_t *token, *user;

	if (signaling->login == NULL)
		return;
	signaling->login->request = 0;
	token = json_object_get(result->body, "token");
	user = json_object_get(result->body, "user");
	if (result->status != 200 || !json_is_string(token) || !json_is_object(user) ||
	    json_string_length(token) == 0 || json_string_length(token) > 256 ||
	    strpbrk(json_string_value(token), "\r\n") != NULL) {
		signaling_login_finish(signaling, false, result);
		return;
	}
	signaling_token_clear(signaling);
	signaling->token = xstrdup(json_string_value(token));
	{
		struct signaling_result ok = *result;
		ok.body = user;
		log_debug("logged in as user %" PRId64,
			  (int64_t)json_integer_value(json_object_get(user, "id")));
		signaling_login_finish(signaling, true, &ok);
	}
}

static void signaling_login_challenge(void *arg, const struct signaling_result *result)
{
	struct signaling *signaling = arg;
	uint8_t nonce[32];
	uint8_t message[sizeof(SIGNALING_LOGIN_DOMAIN) + 32 + IDENTITY_PUBLIC_LEN];
	uint8_t signature[IDENTITY_SIGNATURE_LEN];
	json_t *nonce_text = json_object_get(result->body, "nonce");
	char *text;
	json_t *body;

	if (signaling->login == NULL)
		return;
	signaling->login->request = 0;
	if (result->status != 200 || !json_is_string(nonce_text) ||
	    base64_decode(nonce, sizeof(nonce), json_string_value(nonce_text)) != 0) {
		signaling_login_finish(signaling, false, result);
		return;
	}
	/* "salon-login-v1" 0x00 || nonce || public_key: sizeof counts the NUL. */
	memcpy(message, SIGNALING_LOGIN_DOMAIN, sizeof(SIGNALING_LOGIN_DOMAIN));
	memcpy(message + sizeof(SIGNALING_LOGIN_DOMAIN), nonce, sizeof(nonce));
	memcpy(message + sizeof(SIGNALING_LOGIN_DOMAIN) + sizeof(nonce),
	       signaling->identity.public_key, IDENTITY_PUBLIC_LEN);
	identity_sign(signature, &signaling->identity, message, sizeof(message));

	body = json_object();
	json_object_set_new(body, "nonce", json_string(json_string_value(nonce_text)));
	text = base64_encode_new(signaling->identity.public_key, IDENTITY_PUBLIC_LEN);
	json_object_set_new(body, "public_key", json_string(text));
	free(text);
	text = base64_encode_new(signature, sizeof(signature));
	json_object_set_new(body, "signature", json_string(text));
	free(text);
	signaling->login->request =
	    signaling_request_full(signaling, "POST", "/v1/auth/login", body, 0, false, false,
				   signaling_login_answer, signaling);
	json_decref(body);
	sodium_memzero(nonce, sizeof(nonce));
	sodium_memzero(message, sizeof(message));
}

/* Starts a login with the remembered identity; cb NULL for an automatic re-login. */
static uint64_t signaling_login_start(struct signaling *signaling, signaling_cb *cb, void *arg)
{
	struct signaling_login_op *op = xcalloc(1, sizeof(*op));
	json_t *body = json_object();
	char *key = base64_encode_new(signaling->identity.public_key, IDENTITY_PUBLIC_LEN);

	if (signaling->login != NULL) {
		/* A newer login replaces one in progress; waiting requests follow the new one. */
		signaling_cancel(signaling, signaling->login->request);
		free(signaling->login);
		signaling->login = NULL;
	}
	op->id = signaling->next_id++;
	op->cb = cb;
	op->arg = arg;
	signaling->login = op;
	json_object_set_new(body, "public_key", json_string(key));
	json_object_set_new(body, "name", json_string(signaling->name));
	json_object_set_new(body, "bot", json_boolean(signaling->bot));
	free(key);
	op->request = signaling_request_full(signaling, "POST", "/v1/auth/challenge", body, 0,
					     false, false, signaling_login_challenge, signaling);
	json_decref(body);
	return op->id;
}

uint64_t signaling_login(struct signaling *signaling, const struct identity *identity,
			 const char *name, bool bot, signaling_cb *cb, void *arg)
{
	identity_wipe(&signaling->identity);
	signaling->identity = *identity;
	signaling->have_identity = true;
	free(signaling->name);
	signaling->name = xstrdup(name != NULL ? name : "");
	signaling->bot = bot;
	return signaling_login_start(signaling, cb, arg);
}

/* Completes one finished transfer. */
static void signaling_complete(struct signaling *signaling, struct signaling_request *request,
			       CURLcode code)
{
	struct signaling_result result = {0};
	json_t *body = NULL;

	signaling_unlink(&signaling->requests, request);
	curl_multi_remove_handle(signaling->multi, request->easy);
	request->in_multi = false;

	result.curl_code = code;
	result.too_large = request->too_large;
	if (code == CURLE_OK) {
		curl_easy_getinfo(request->easy, CURLINFO_RESPONSE_CODE, &result.status);
		if (request->answer_len > 0) {
			json_error_t error;
			body = json_loadb(request->answer, request->answer_len,
					  JSON_REJECT_DUPLICATES, &error);
			if (body == NULL)
				log_warn(_("%s %s: answer is not JSON (%s)"), request->method,
					 request->path, error.text);
		}
	} else {
		result.transport_error =
		    request->errbuf[0] != '\0' ? request->errbuf : curl_easy_strerror(code);
		if (request->too_large)
			result.transport_error = _("the answer is too large");
		/*
		 * A transport detail in libcurl's own style, since it stands in for
		 * libcurl's message in the same place (translated, unlike libcurl's).
		 */
		if (request->resend_refused)
			result.transport_error = _("connection to the server lost");
	}
	result.body = body;
	if (json_is_object(body) && json_is_string(json_object_get(body, "error"))) {
		result.code = json_string_value(json_object_get(body, "error"));
		if (json_is_string(json_object_get(body, "message")))
			result.message = json_string_value(json_object_get(body, "message"));
	}

	if (result.status == 401 && request->auth && !request->retried &&
	    signaling->have_identity && result.code != NULL &&
	    strcmp(result.code, "unauthorized") == 0) {
		/* The token is gone (revoked or expired): log in again, then resend. */
		log_info(_("the server refused our token; logging in again"));
		request->retried = true;
		request->next = signaling->waiting;
		signaling->waiting = request;
		signaling_token_clear(signaling);
		if (signaling->login == NULL)
			signaling_login_start(signaling, NULL, NULL);
		json_decref(body);
		return;
	}
	if (request->cb != NULL)
		request->cb(request->arg, &result);
	json_decref(body);
	signaling_request_free(request);
}

uint64_t signaling_timer(struct signaling *signaling, uint64_t delay_ms, signaling_timer_cb *cb,
			 void *arg)
{
	struct signaling_timer *timer = xcalloc(1, sizeof(*timer));
	struct signaling_timer **p;

	timer->id = signaling->next_id++;
	timer->due_ms = util_now_ms() + delay_ms;
	timer->cb = cb;
	timer->arg = arg;
	/* Sorted by due time; equal times keep their order. */
	for (p = &signaling->timers; *p != NULL && (*p)->due_ms <= timer->due_ms; p = &(*p)->next)
		;
	timer->next = *p;
	*p = timer;
	return timer->id;
}

void signaling_timer_cancel(struct signaling *signaling, uint64_t timer_id)
{
	for (struct signaling_timer **p = &signaling->timers; *p != NULL; p = &(*p)->next) {
		if ((*p)->id == timer_id) {
			struct signaling_timer *timer = *p;
			*p = timer->next;
			free(timer);
			return;
		}
	}
}

unsigned signaling_backoff_ms(unsigned attempt, unsigned min_ms, unsigned max_ms)
{
	uint64_t base = min_ms;

	for (unsigned i = 0; i < attempt && base < max_ms; i++)
		base *= 2;
	if (base > max_ms)
		base = max_ms;
	/* Full range would allow near-zero delays; half-jitter keeps the doubling. */
	return (unsigned)(base / 2 + randombytes_uniform((uint32_t)(base / 2 + 1)));
}

static void signaling_stream_issue(struct signaling *signaling);

static void signaling_stream_timer(void *arg)
{
	struct signaling *signaling = arg;

	signaling->stream.timer = 0;
	if (signaling->stream.active)
		signaling_stream_issue(signaling);
}

/*
 * Hands each acceptable event of a page's "events" array to fn in order (see
 * signaling_parse_events). Returns the number handed over, or -ECANCELED when fn
 * asked to stop.
 */
static int signaling_deliver_events(json_t *events, uint64_t *seq, signaling_event_fn *fn,
				    void *arg)
{
	size_t i;
	json_t *event;
	int count = 0;

	json_array_foreach(events, i, event)
	{
		json_t *value = json_object_get(event, "seq");
		json_int_t n;

		if (!json_is_object(event) || !json_is_integer(value) ||
		    !json_is_string(json_object_get(event, "type"))) {
			log_warn(_("event stream: malformed event skipped"));
			continue;
		}
		n = json_integer_value(value);
		/* Never hand over an event twice. */
		if (n <= 0 || (uint64_t)n <= *seq)
			continue;
		if ((uint64_t)n != *seq + 1)
			log_warn(_("event stream: gap from %" PRIu64 " to %" PRId64), *seq,
				 (int64_t)n);
		if (fn(arg, event) != 0)
			return -ECANCELED;
		*seq = (uint64_t)n;
		if (count < INT_MAX)
			count++;
	}
	return count;
}

int signaling_parse_events(const char *body, size_t len, uint64_t *seq, signaling_event_fn *fn,
			   void *arg)
{
	json_error_t error;
	json_t *page, *events;
	int ret;

	if (len > SIGNALING_MAX_BODY)
		return -EMSGSIZE;
	page = json_loadb(body, len, JSON_REJECT_DUPLICATES, &error);
	events = json_object_get(page, "events");
	if (!json_is_object(page) || !json_is_array(events)) {
		json_decref(page);
		return -EBADMSG;
	}
	ret = signaling_deliver_events(events, seq, fn, arg);
	json_decref(page);
	return ret;
}

/*
 * The stream's signaling_event_fn: hands the event to the owner, and stops when the
 * owner stopped or restarted the stream from inside its callback.
 */
static int signaling_stream_event(void *arg, json_t *event)
{
	struct signaling *signaling = arg;
	struct signaling_stream *stream = &signaling->stream;

	stream->ops.event(stream->arg, event);
	return !stream->active || stream->generation != stream->delivering;
}

static void signaling_stream_answer(void *arg, const struct signaling_result *result)
{
	struct signaling *signaling = arg;
	struct signaling_stream *stream = &signaling->stream;
	uint64_t generation = stream->generation;
	json_t *events = json_object_get(result->body, "events");
	unsigned delay;

	stream->request = 0;
	if (result->status == 200 && json_is_array(events)) {
		if (stream->failing) {
			stream->failing = false;
			stream->attempt = 0;
			if (stream->ops.resumed != NULL)
				stream->ops.resumed(stream->arg);
			if (!stream->active || stream->generation != generation)
				return;
		}
		stream->attempt = 0;
		stream->delivering = generation;
		if (signaling_deliver_events(events, &stream->seq, signaling_stream_event,
					     signaling) < 0)
			return;
		signaling_stream_issue(signaling);
		return;
	}
	delay = signaling_backoff_ms(stream->attempt, SIGNALING_BACKOFF_MIN_MS,
				     result->status == 0 ? SIGNALING_UNREACHABLE_MAX_MS
							 : SIGNALING_BACKOFF_MAX_MS);
	if (stream->attempt < 16)
		stream->attempt++;
	stream->failing = true;
	if (result->status != 0)
		log_warn(_("event stream: HTTP %ld (%s); again in %u ms"), result->status,
			 result->code != NULL ? result->code : "?", delay);
	else
		log_info(_("event stream: %s; again in %u ms"),
			 result->transport_error != NULL ? result->transport_error : "?", delay);
	stream->timer = signaling_timer(signaling, delay, signaling_stream_timer, signaling);
	if (stream->ops.reconnecting != NULL)
		stream->ops.reconnecting(stream->arg, delay, result);
}

static void signaling_stream_issue(struct signaling *signaling)
{
	struct signaling_stream *stream = &signaling->stream;
	char path[96];

	/*
	 * After a failure, ask without waiting first: the answer then tells at once that
	 * the server is back, rather than after a long-poll's whole wait.
	 */
	snprintf(path, sizeof(path), "/v1/events?after=%" PRIu64 "&wait=%u", stream->seq,
		 stream->failing ? 0 : stream->wait_s);
	stream->request =
	    signaling_request_full(signaling, "GET", path, NULL, (long)(stream->wait_s + 15) * 1000,
				   true, true, signaling_stream_answer, signaling);
}

void signaling_stream_stop(struct signaling *signaling)
{
	struct signaling_stream *stream = &signaling->stream;

	stream->active = false;
	stream->generation++;
	signaling_cancel(signaling, stream->request);
	stream->request = 0;
	signaling_timer_cancel(signaling, stream->timer);
	stream->timer = 0;
}

void signaling_stream_start(struct signaling *signaling, uint64_t after, unsigned wait_s,
			    const struct signaling_stream_ops *ops, void *arg)
{
	struct signaling_stream *stream = &signaling->stream;

	signaling_stream_stop(signaling);
	stream->active = true;
	stream->seq = after;
	stream->wait_s = wait_s == 0 ? SIGNALING_STREAM_WAIT_S : (wait_s > 60 ? 60 : wait_s);
	stream->ops = *ops;
	stream->arg = arg;
	stream->attempt = 0;
	stream->failing = false;
	signaling_stream_issue(signaling);
}

uint64_t signaling_stream_seq(const struct signaling *signaling)
{
	return signaling->stream.seq;
}

/* Runs the timers that were due when called (not those they add). */
static void signaling_run_timers(struct signaling *signaling)
{
	uint64_t now = util_now_ms();
	uint64_t limit = signaling->next_id;

	for (;;) {
		struct signaling_timer **p, *timer;

		for (p = &signaling->timers; *p != NULL; p = &(*p)->next)
			if ((*p)->due_ms <= now && (*p)->id < limit)
				break;
		if (*p == NULL || (*p)->due_ms > now)
			return;
		timer = *p;
		*p = timer->next;
		timer->cb(timer->arg);
		free(timer);
	}
}

int signaling_poll(struct signaling *signaling, struct curl_waitfd *extra, unsigned n_extra,
		   int max_ms)
{
	int timeout = max_ms < 0 ? 60000 : max_ms;
	int running;
	CURLMcode mcode;
	CURLMsg *message;
	int left;

	if (signaling->timers != NULL) {
		uint64_t now = util_now_ms();
		uint64_t due = signaling->timers->due_ms;
		uint64_t wait = due > now ? due - now : 0;

		if (wait < (uint64_t)timeout)
			timeout = (int)wait;
	}
	mcode = curl_multi_poll(signaling->multi, extra, n_extra, timeout, NULL);
	if (mcode != CURLM_OK) {
		log_error(_("curl_multi_poll: %s"), curl_multi_strerror(mcode));
		return -EIO;
	}
	mcode = curl_multi_perform(signaling->multi, &running);
	if (mcode != CURLM_OK) {
		log_error(_("curl_multi_perform: %s"), curl_multi_strerror(mcode));
		return -EIO;
	}
	while ((message = curl_multi_info_read(signaling->multi, &left)) != NULL) {
		void *request = NULL;
		CURLcode code = message->data.result;

		if (message->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, &request);
		if (request != NULL)
			signaling_complete(signaling, request, code);
	}
	signaling_run_timers(signaling);
	return 0;
}
