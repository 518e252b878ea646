/*
 * proxy-util.c - what tests/tcp-proxy and tests/udp-proxy share (proxy-util.h).
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "proxy-util.h"
#include "util.h"

void proxy_util_write_file(const char *prog, const char *path, const char *text)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0 || rename(tmp, path) != 0)
		fatal("%s: cannot write %s: %s", prog, path, strerror(errno));
}

void proxy_util_read_upstream(const char *prog, const char *path, const char *key,
			      proxy_util_parse_fn *parse, struct sockaddr_in *out,
			      volatile sig_atomic_t *stop)
{
	uint64_t deadline = util_now_ms() + 20000;
	size_t key_len = strlen(key);
	char line[256];

	for (;;) {
		FILE *f = fopen(path, "r");

		if (f != NULL) {
			while (fgets(line, sizeof(line), f) != NULL) {
				line[strcspn(line, "\r\n")] = '\0';
				if (strncmp(line, key, key_len) == 0 && line[key_len] == ' ' &&
				    parse(line + key_len + 1, out) == 0) {
					fclose(f);
					return;
				}
			}
			fclose(f);
		}
		if (util_now_ms() > deadline || *stop)
			fatal("%s: no %s address in %s", prog, key, path);
		poll(NULL, 0, 20);
	}
}

void proxy_util_cut_ack(const char *prog, const char *cut_path, const char *suffix, bool on)
{
	char state[4096];

	snprintf(state, sizeof(state), "%s%s", cut_path, suffix);
	proxy_util_write_file(prog, state, on ? "on\n" : "off\n");
}
