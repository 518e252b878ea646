/*
 * http-client.h - a small non-blocking HTTP/1.1 client for salond's API, for the
 * test and benchmark tools that drive many connections from one epoll loop
 * (tests/churn-tool, bench/bench-crowd), without libcurl so that the client side
 * costs little on a machine shared with the server.
 *
 * One keep-alive connection to 127.0.0.1 carries one request at a time; answers
 * must have a Content-Length (salond always sends one; 204 and 304 may go without).
 * The caller owns the epoll set and its loop: it hands each event of a connection
 * to http_client_event. Errors as in util.h: 0 or a negative errno value;
 * allocation aborts on failure, and so does a failing epoll_ctl (a bug, not a
 * condition to recover from). Everything here runs on the caller's one thread.
 */
#ifndef SALON_TESTS_HTTP_CLIENT_H
#define SALON_TESTS_HTTP_CLIENT_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The largest request (head and body) that fits a connection's output buffer. */
#define HTTP_CLIENT_REQ_MAX 1024

struct http_conn {
	int fd;		/* -1: closed */
	bool connected; /* the TCP handshake has completed */
	bool busy;	/* a request is out and its answer is awaited */
	int epoll_fd;	/* the epoll set it is in */
	void *data;	/* its events' pointer (the caller's; not owned) */
	char out[HTTP_CLIENT_REQ_MAX];
	size_t out_len, out_off;
	char *in; /* received bytes not yet parsed (owned; freed on close) */
	size_t in_len, in_cap;
};

/*
 * Called by http_client_event for each whole answer on conn, after conn->busy went
 * false: status is the HTTP status, body (body_len bytes, NUL-terminated besides)
 * the body, owned by http_client_event and valid during the call only. arg is what
 * the caller gave http_client_event. The callback may send the next request on
 * conn, or close it.
 */
typedef void http_client_answer_fn(void *arg, struct http_conn *conn, int status,
				   const char *body, size_t body_len);

/*
 * Opens conn: a non-blocking TCP connection to addr (TCP_NODELAY), added to epoll_fd
 * for input and output with data as its event pointer. The connection completes
 * later, in http_client_event. conn's earlier state is dropped (it must be closed
 * or never opened). Returns 0, or -errno with conn->fd -1.
 */
int http_client_open(struct http_conn *conn, int epoll_fd, const struct sockaddr_in *addr,
		     void *data);

/*
 * Closes conn's socket (which also takes it out of the epoll set) and frees its
 * input buffer; conn->fd becomes -1 and conn is neither connected nor busy. Safe on
 * a closed conn.
 */
void http_client_close(struct http_conn *conn);

/*
 * Queues a request on open conn: METHOD PATH with a JSON body (body NULL: none, and
 * Content-Length 0) and, when token is not NULL, "Authorization: Bearer TOKEN".
 * Marks conn busy and, once connected, asks epoll for output. Returns 0, or
 * -EMSGSIZE when the request does not fit HTTP_CLIENT_REQ_MAX (nothing queued).
 */
int http_client_request(struct http_conn *conn, const char *method, const char *path,
			const char *token, const char *body);

/*
 * Looks for one whole response at the start of buf (len bytes). Returns its total
 * length and fills status, body (pointing into buf) and body_len; 0 when more bytes
 * are needed; -1 when it is not HTTP, has a head over 16 KiB or has no
 * Content-Length where one is needed.
 */
long http_client_parse(const char *buf, size_t len, int *status, const char **body,
		       size_t *body_len);

/*
 * Handles events (EPOLLIN, EPOLLOUT, ...) of conn: completes the connection, sends
 * what is queued, and reads and parses what came, calling answer(arg, ...) for every
 * whole answer. Returns 0 when all is well (or conn is, or got, closed); a negative
 * errno value when the connection failed, was closed by the server or sent what is
 * not HTTP (-EPROTO): the caller should then close conn.
 */
int http_client_event(struct http_conn *conn, uint32_t events, http_client_answer_fn *answer,
		      void *arg);

#endif
