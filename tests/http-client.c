/*
 * http-client.c - a small non-blocking HTTP/1.1 client for salond's API, shared by
 * tests/churn-tool and bench/bench-crowd (http-client.h).
 */
#include "config.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http-client.h"
#include "util.h"

/* Asks epoll for input, and for output too while a request waits to be sent. */
static void http_client_watch(struct http_conn *conn, int op, bool want_out)
{
	struct epoll_event ev = {.events = EPOLLIN | (want_out ? EPOLLOUT : 0),
				 .data.ptr = conn->data};

	if (epoll_ctl(conn->epoll_fd, op, conn->fd, &ev) < 0)
		fatal("http-client: epoll_ctl: %s", strerror(errno));
}

int http_client_open(struct http_conn *conn, int epoll_fd, const struct sockaddr_in *addr,
		     void *data)
{
	int one = 1;

	conn->connected = false;
	conn->busy = false;
	conn->epoll_fd = epoll_fd;
	conn->data = data;
	conn->in = NULL;
	conn->in_len = conn->in_cap = 0;
	conn->out_len = conn->out_off = 0;
	conn->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (conn->fd < 0)
		return -errno;
	(void)setsockopt(conn->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(conn->fd, (const struct sockaddr *)addr, sizeof(*addr)) < 0 &&
	    errno != EINPROGRESS) {
		int err = -errno;

		close(conn->fd);
		conn->fd = -1;
		return err;
	}
	http_client_watch(conn, EPOLL_CTL_ADD, true);
	return 0;
}

void http_client_close(struct http_conn *conn)
{
	if (conn->fd >= 0)
		close(conn->fd); /* which also takes it out of the epoll set */
	conn->fd = -1;
	conn->connected = false;
	conn->busy = false;
	free(conn->in);
	conn->in = NULL;
	conn->in_len = conn->in_cap = 0;
	conn->out_len = conn->out_off = 0;
}

int http_client_request(struct http_conn *conn, const char *method, const char *path,
			const char *token, const char *body)
{
	int n = snprintf(conn->out, sizeof(conn->out),
			 "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s%s%s"
			 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
			 method, path, token ? "Authorization: Bearer " : "", token ? token : "",
			 token ? "\r\n" : "", body ? strlen(body) : 0, body ? body : "");

	if (n < 0 || (size_t)n >= sizeof(conn->out)) {
		conn->out_len = conn->out_off = 0;
		return -EMSGSIZE;
	}
	conn->out_len = (size_t)n;
	conn->out_off = 0;
	conn->busy = true;
	/* Before the connection completes, epoll already watches for output. */
	if (conn->connected)
		http_client_watch(conn, EPOLL_CTL_MOD, true);
	return 0;
}

long http_client_parse(const char *buf, size_t len, int *status, const char **body,
		       size_t *body_len)
{
	const char *end = memmem(buf, len, "\r\n\r\n", 4);
	const char *line;
	long content_length = -1;

	if (end == NULL)
		return len > 16384 ? -1 : 0;
	if (len < 12 || strncmp(buf, "HTTP/1.", 7) != 0)
		return -1;
	*status = atoi(buf + 9);
	for (line = memchr(buf, '\n', (size_t)(end - buf)); line != NULL && line < end;
	     line = memchr(line + 1, '\n', (size_t)(end - line))) {
		if (strncasecmp(line + 1, "Content-Length:", 15) == 0)
			content_length = atol(line + 16);
	}
	if (content_length < 0) {
		if (*status != 204 && *status != 304)
			return -1;
		content_length = 0;
	}
	if ((size_t)(end + 4 - buf) + (size_t)content_length > len)
		return 0;
	*body = end + 4;
	*body_len = (size_t)content_length;
	return (long)(end + 4 - buf) + content_length;
}

int http_client_event(struct http_conn *conn, uint32_t events, http_client_answer_fn *answer,
		      void *arg)
{
	if (conn->fd < 0)
		return 0;
	if (!conn->connected && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (getsockopt(conn->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			return -errno;
		if (err != 0)
			return -err;
		conn->connected = true;
	}
	if (conn->connected && conn->out_off < conn->out_len) {
		ssize_t n = send(conn->fd, conn->out + conn->out_off,
				 conn->out_len - conn->out_off, MSG_NOSIGNAL);

		if (n < 0 && errno != EAGAIN)
			return -errno;
		if (n > 0)
			conn->out_off += (size_t)n;
	}
	if (conn->connected)
		http_client_watch(conn, EPOLL_CTL_MOD, conn->out_off < conn->out_len);
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return 0;
	for (;;) {
		int status = 0;
		const char *body = NULL;
		size_t body_len = 0;
		ssize_t n;
		long used;

		if (conn->in_cap - conn->in_len < 8192) {
			conn->in_cap = conn->in_cap ? 2 * conn->in_cap : 16384;
			conn->in = xrealloc(conn->in, conn->in_cap);
		}
		n = recv(conn->fd, conn->in + conn->in_len, conn->in_cap - conn->in_len, 0);
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n == 0)
			return -ECONNRESET;
		if (n < 0)
			return -errno;
		conn->in_len += (size_t)n;
		/* Every whole answer that came; the callback may close conn. */
		while ((used = http_client_parse(conn->in, conn->in_len, &status, &body,
						 &body_len)) != 0) {
			char *text;

			if (used < 0)
				return -EPROTO;
			text = xmalloc(body_len + 1);
			memcpy(text, body, body_len);
			text[body_len] = '\0';
			memmove(conn->in, conn->in + used, conn->in_len - (size_t)used);
			conn->in_len -= (size_t)used;
			conn->busy = false;
			answer(arg, conn, status, text, body_len);
			free(text);
			if (conn->fd < 0)
				return 0;
		}
	}
}
