/*
 * salond-child.c - a real salond for the client's C tests (see salond-child.h).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "salond-child.h"
#include "util.h"

int salond_child_tmpdir(char out[256])
{
	const char *base = getenv("TMPDIR");

	snprintf(out, 256, "%s/salon-test.XXXXXX", base != NULL && base[0] == '/' ? base : "/tmp");
	return mkdtemp(out) != NULL ? 0 : -errno;
}

void salond_child_rmdir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *entry;

	if (d == NULL)
		return;
	while ((entry = readdir(d)) != NULL) {
		char path[512];

		if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, entry->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

/* Reads the port file if complete: "api URL" and "relay HOST:PORT" lines. */
static int salond_child_read_ports(struct salond_child *child, const char *path)
{
	FILE *f = fopen(path, "r");
	char line[256];
	bool have_api = false, have_relay = false;

	if (f == NULL)
		return -errno;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *colon;

		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "api ", 4) == 0 && strlen(line + 4) < sizeof(child->url)) {
			strcpy(child->url, line + 4);
			colon = strrchr(child->url, ':');
			if (colon != NULL && strlen(colon + 1) < sizeof(child->api_port)) {
				strcpy(child->api_port, colon + 1);
				have_api = true;
			}
		} else if (strncmp(line, "relay ", 6) == 0 &&
			   strlen(line + 6) < sizeof(child->relay)) {
			strcpy(child->relay, line + 6);
			colon = strrchr(child->relay, ':');
			if (colon != NULL && strlen(colon + 1) < sizeof(child->relay_port)) {
				strcpy(child->relay_port, colon + 1);
				have_relay = true;
			}
		}
	}
	fclose(f);
	return have_api && have_relay ? 0 : -EAGAIN;
}

int salond_child_start(struct salond_child *child, const char *dir, const char *api_port,
		       const char *relay_port)
{
	const char *top = getenv("top_builddir");
	char salond[512], ports[512], db[512], err[512], listen[64], relay[64];
	uint64_t deadline;
	int status;

	snprintf(salond, sizeof(salond), "%s/src/server/salond",
		 top != NULL && top[0] != '\0' ? top : ".");
	if (access(salond, X_OK) != 0) {
		fprintf(stderr, "FAIL: %s is not built\n", salond);
		return -ENOENT;
	}
	if (strlen(dir) >= sizeof(child->dir))
		return -ENAMETOOLONG;
	strcpy(child->dir, dir);
	snprintf(ports, sizeof(ports), "%s/ports", dir);
	snprintf(db, sizeof(db), "%s/salond.db", dir);
	snprintf(err, sizeof(err), "%s/salond.err", dir);
	snprintf(listen, sizeof(listen), "127.0.0.1:%s", api_port);
	snprintf(relay, sizeof(relay), "127.0.0.1:%s", relay_port);
	unlink(ports);

	child->pid = fork();
	if (child->pid < 0)
		return -errno;
	if (child->pid == 0) {
		int fd = open(err, O_WRONLY | O_CREAT | O_APPEND, 0600);

		if (fd >= 0) {
			dup2(fd, 2);
			dup2(fd, 1);
			close(fd);
		}
		execl(salond, salond, "--listen", listen, "--relay", relay, "--db", db,
		      "--port-file", ports, "-v", (char *)NULL);
		_exit(127);
	}
	/* Poll for the port file with a deadline (salond writes it atomically). */
	deadline = util_now_ms() + 10000;
	while (salond_child_read_ports(child, ports) != 0) {
		struct timespec pause = {0, 10 * 1000 * 1000};

		if (waitpid(child->pid, &status, WNOHANG) == child->pid) {
			fprintf(stderr, "FAIL: salond exited early (status %d); see %s\n", status,
				err);
			child->pid = 0;
			return -ECHILD;
		}
		if (util_now_ms() > deadline) {
			fprintf(stderr, "FAIL: salond wrote no port file in 10 s\n");
			salond_child_stop(child, SIGKILL);
			return -ETIMEDOUT;
		}
		nanosleep(&pause, NULL);
	}
	return 0;
}

int salond_child_stop(struct salond_child *child, int sig)
{
	int status;

	if (child->pid <= 0)
		return -ECHILD;
	kill(child->pid, sig);
	if (waitpid(child->pid, &status, 0) < 0)
		return -errno;
	child->pid = 0;
	return status;
}
