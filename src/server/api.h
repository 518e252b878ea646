/*
 * api.h - salond's HTTP JSON API (doc/API.md) on libmicrohttpd.
 *
 * Threading: salond runs one event loop (api_run) on its main thread. MHD is
 * driven from that loop in external-epoll mode with suspend/resume, so every
 * request handler, the event bus, the long-poll timers and the store all run on
 * that one thread: one SQLite connection suffices and nothing in the API locks.
 * Only the relay (relay.h) has a thread of its own, and its interface is
 * thread-safe.
 *
 * Errors as in util.h.
 */
#ifndef SALON_API_H
#define SALON_API_H

#include <stdint.h>
#include <sys/socket.h>

#include "relay.h"
#include "store.h"

struct api;

struct api_config {
	const struct sockaddr *listen_addr; /* numeric address to bind (port 0 picks one) */
	socklen_t listen_len;
	const char *tls_cert_pem; /* PEM text, or NULL for plain HTTP */
	const char *tls_key_pem;
	struct store *store;      /* borrowed; outlives the api */
	struct relay *relay;      /* borrowed; may be NULL in unit tests */
	const char *relay_address; /* "host:port" told to clients */
	uint8_t relay_public_key[32];
	unsigned int max_rooms;   /* rooms an account may be in at once */
	unsigned int login_burst; /* login challenges per address per minute */
};

/* Starts the HTTP daemon (listening, not yet serving). *out is freed with api_free. */
int api_new(const struct api_config *config, struct api **out);
/* The TCP port actually bound. */
uint16_t api_port(const struct api *api);
/*
 * Serves requests until stop_fd becomes readable; then stops accepting, answers
 * every waiting long-poll and returns 0 (or a negative errno on a loop failure).
 */
int api_run(struct api *api, int stop_fd);
/* Stops the daemon and frees everything. NULL is allowed. */
void api_free(struct api *api);

#endif
