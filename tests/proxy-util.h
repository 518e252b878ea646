/*
 * proxy-util.h - what the test proxies (tests/tcp-proxy, tests/udp-proxy) share:
 * files written atomically (port files, and the acknowledgements of a --cut),
 * and salond's port file awaited and read for the address to forward to.
 *
 * The proxies are test programs: every function here either succeeds or ends the
 * program through fatal (util.h) with a message that names it (prog, e.g.
 * "tcp-proxy"). They run on the proxy's one thread.
 */
#ifndef SALON_TESTS_PROXY_UTIL_H
#define SALON_TESTS_PROXY_UTIL_H

#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>

/*
 * Writes text to path atomically: to path.tmp first, then renamed over path, so
 * that a test polling path never reads half of it. Ends the program (fatal) when it
 * cannot.
 */
void proxy_util_write_file(const char *prog, const char *path, const char *text);

/* Parses the text after a port file's key into out; returns 0, or -EINVAL. */
typedef int proxy_util_parse_fn(const char *text, struct sockaddr_in *out);

/*
 * Waits, polling every 20 ms for at most 20 s, until salond's port file path holds
 * a line "KEY VALUE" whose VALUE parse accepts, and fills out from it. Ends the
 * program (fatal: "PROG: no KEY address in PATH") when the deadline passes or *stop
 * becomes nonzero (a signal handler's flag) first.
 */
void proxy_util_read_upstream(const char *prog, const char *path, const char *key,
			      proxy_util_parse_fn *parse, struct sockaddr_in *out,
			      volatile sig_atomic_t *stop);

/*
 * Acknowledges a change of the --cut control file cut_path: writes "on" or "off"
 * (a line) to cut_path followed by suffix (".state", ".tcp-state": one per proxy,
 * as two proxies may watch the same control file), atomically. Ends the program
 * (fatal) when it cannot.
 */
void proxy_util_cut_ack(const char *prog, const char *cut_path, const char *suffix, bool on);

#endif
