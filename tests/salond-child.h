/*
 * salond-child.h - starts a real salond for the client's C tests: loopback only,
 * ephemeral ports (or given ones, to restart on the same addresses), a database in
 * a directory of the test's, and its port file read back with a deadline.
 *
 * salond is $top_builddir/src/server/salond (top_builddir from the environment, as
 * make check sets it, else "."). Errors as in util.h; the functions print what went
 * wrong on stderr, for a test to fail loudly.
 */
#ifndef SALON_TESTS_SALOND_CHILD_H
#define SALON_TESTS_SALOND_CHILD_H

#include <sys/types.h>

struct salond_child {
	pid_t pid;
	char dir[256]; /* holds salond.db, ports, salond.err */
	char url[128]; /* "http://127.0.0.1:PORT" */
	char api_port[8];
	char relay[64]; /* "127.0.0.1:PORT" */
	char relay_port[8];
};

/*
 * Starts salond with its database in dir (which must exist). api_port and relay_port
 * are "0" for ephemeral ports, or the ports of an earlier run to restart on them.
 * Waits up to 10 s for the port file. Returns 0 with child filled in, or -errno.
 */
int salond_child_start(struct salond_child *child, const char *dir, const char *api_port,
		       const char *relay_port);

/* Sends sig to salond and reaps it. Returns its wait status, or -errno. */
int salond_child_stop(struct salond_child *child, int sig);

/* Makes a new temporary directory (mkdtemp) into out (capacity 256). Returns 0 or -errno. */
int salond_child_tmpdir(char out[256]);

/* Removes dir and what is in it (one level: the tests make no subdirectories). */
void salond_child_rmdir(const char *dir);

#endif
