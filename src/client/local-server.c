/*
 * local-server.c - a private salond (and a demo bot) as child processes.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "frontend.h"
#include "i18n.h"
#include "local-server.h"
#include "log.h"
#include "util.h"
#include "xdg.h"

#ifndef SBINDIR
#define SBINDIR "/usr/local/sbin"
#endif
#ifndef PKGDATADIR
#define PKGDATADIR "/usr/local/share/salon"
#endif

#define LOCAL_SERVER_START_TIMEOUT_MS 10000
#define LOCAL_SERVER_DEMO_TIMEOUT_MS 20000
#define LOCAL_SERVER_STOP_TIMEOUT_MS 5000
/* The longest line read from the demo bot while setting it up. */
#define LOCAL_SERVER_LINE_MAX 65536

struct local_server {
	pid_t salond_pid;
	char *run_dir;      /* private, removed at stop */
	char *port_file;
	char *url;
	int lock_fd;

	pid_t bot_pid;
	int bot_in;         /* the bot's standard input (write end), or -1 */
	int bot_out;        /* the bot's standard output (read end), or -1 */
	pthread_t drain;    /* reads the bot's output once it is set up */
	bool drain_started;
};

/* The path of the running salon binary, or NULL. */
static char *local_server_self(void)
{
	char path[PATH_MAX];
	ssize_t len = readlink("/proc/self/exe", path, sizeof(path) - 1);

	if (len <= 0)
		return NULL;
	path[len] = '\0';
	return xstrdup(path);
}

/* Where to find salond (see local-server.h); "salond" means: search $PATH. */
static char *local_server_find_salond(void)
{
	const char *env = getenv("SALOND");
	char *self, *slash, *candidate;

	if (env != NULL && env[0] != '\0')
		return xstrdup(env);
	self = local_server_self();
	if (self != NULL && (slash = strrchr(self, '/')) != NULL) {
		*slash = '\0';
		candidate = xasprintf("%s/../server/salond", self);
		free(self);
		if (access(candidate, X_OK) == 0)
			return candidate;
		free(candidate);
	} else {
		free(self);
	}
	candidate = xstrdup(SBINDIR "/salond");
	if (access(candidate, X_OK) == 0)
		return candidate;
	free(candidate);
	return xstrdup("salond");
}

/* Sleeps a little: the waits below poll a child or a file with a deadline. */
static void local_server_nap(void)
{
	struct timespec nap = {.tv_sec = 0, .tv_nsec = 10 * 1000 * 1000};

	nanosleep(&nap, NULL);
}

/*
 * Waits up to timeout_ms for pid to exit. Returns true when it did (and was reaped),
 * with its status in *status when not NULL.
 */
static bool local_server_wait(pid_t pid, unsigned timeout_ms, int *status)
{
	uint64_t deadline = util_now_ms() + timeout_ms;
	int wstatus;

	for (;;) {
		pid_t ret = waitpid(pid, &wstatus, WNOHANG);

		if (ret == pid || (ret < 0 && errno == ECHILD)) {
			if (status != NULL)
				*status = ret == pid ? wstatus : 0;
			return true;
		}
		if (util_now_ms() >= deadline)
			return false;
		local_server_nap();
	}
}

/* Stops a child: SIGTERM, a wait, then SIGKILL if it would not go. */
static void local_server_end(pid_t pid, const char *what)
{
	int status = 0;

	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	if (!local_server_wait(pid, LOCAL_SERVER_STOP_TIMEOUT_MS, &status)) {
		log_warn(_("%s did not stop after SIGTERM; killing it"), what);
		kill(pid, SIGKILL);
		local_server_wait(pid, LOCAL_SERVER_STOP_TIMEOUT_MS, &status);
	} else if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
		log_warn(_("%s exited with status %d"), what, WEXITSTATUS(status));
	}
}

/*
 * In a child, after fork: own process group, killed with its parent, default
 * signals, standard input from in_fd (or /dev/null), output to out_fd, errors to
 * err_fd. Never returns on failure.
 */
/*
 * The option that gives a child (salond or the demo bot, both at warnings by
 * default) salon's own log level, so that `salon --local -v` logs as much in their
 * log files as on its own; "-q" when salon is quiet.
 */
static const char *local_server_verbosity(void)
{
	switch (log_get_level()) {
	case LOG_LEVEL_ERROR: return "-q";
	case LOG_LEVEL_INFO: return "-v";
	case LOG_LEVEL_DEBUG: return "-vv";
	case LOG_LEVEL_WARN:
	default: return NULL;
	}
}

static void local_server_child_setup(pid_t parent, int in_fd, int out_fd, int err_fd)
{
	int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	frontend_signals_reset_child();
	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(127);
	if (in_fd < 0)
		in_fd = null_fd;
	if (out_fd < 0)
		out_fd = null_fd;
	if (err_fd < 0)
		err_fd = null_fd;
	if (dup2(in_fd, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0 ||
	    dup2(err_fd, STDERR_FILENO) < 0)
		_exit(127);
}

/* Opens (truncating) a log file in salon's state directory; -1 if that fails. */
static int local_server_log(const char *name, char **path)
{
	char *dir = NULL;
	int fd = -1;

	*path = NULL;
	if (xdg_dir_create(XDG_STATE, &dir) == 0) {
		*path = xasprintf("%s/%s", dir, name);
		fd = open(*path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_APPEND, 0600);
	}
	free(dir);
	return fd;
}

/* Makes the private directory for the port file. */
static int local_server_make_run_dir(struct local_server *server)
{
	char *base = NULL, *template;
	const char *tmp = getenv("TMPDIR");

	if (xdg_dir(XDG_RUNTIME, &base) == 0 && xdg_mkdirs(base, 0700) == 0) {
		template = xasprintf("%s/local-XXXXXX", base);
	} else {
		template = xasprintf("%s/salon-local-XXXXXX",
				     tmp != NULL && tmp[0] == '/' ? tmp : "/tmp");
	}
	free(base);
	if (mkdtemp(template) == NULL) {
		int ret = -errno;

		free(template);
		return ret;
	}
	server->run_dir = template;
	return 0;
}

/* Reads the "api URL" line of salond's port file once it is complete. */
static int local_server_read_ports(struct local_server *server)
{
	char line[512];
	FILE *file = fopen(server->port_file, "re");
	int ret = -EAGAIN;

	if (file == NULL)
		return -errno;
	while (fgets(line, sizeof(line), file) != NULL) {
		size_t len = strcspn(line, "\r\n");

		line[len] = '\0';
		if (strncmp(line, "api http://127.0.0.1:", 21) == 0 && len > 21) {
			server->url = xstrdup(line + 4);
			ret = 0;
		}
	}
	fclose(file);
	return ret;
}

int local_server_start(struct local_server **out, char **error)
{
	struct local_server *server = xcalloc(1, sizeof(*server));
	char *data_dir = NULL, *db = NULL, *lock = NULL, *salond = NULL, *log_path = NULL;
	int log_fd = -1, ret, status;
	uint64_t deadline;
	pid_t parent = getpid();

	server->lock_fd = -1;
	server->bot_in = server->bot_out = -1;
	*out = NULL;
	*error = NULL;
	ret = xdg_dir_create(XDG_DATA, &data_dir);
	if (ret < 0) {
		*error = xasprintf(_("cannot create salon's data directory: %s"), strerror(-ret));
		goto fail;
	}
	lock = xasprintf("%s/local.lock", data_dir);
	server->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (server->lock_fd < 0 || flock(server->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		ret = -errno;
		*error = ret == -EWOULDBLOCK ?
				 xasprintf(_("another salon --local is running (lock %s)"), lock) :
				 xasprintf(_("cannot lock %s: %s"), lock, strerror(-ret));
		goto fail;
	}
	db = xasprintf("%s/local.db", data_dir);
	ret = local_server_make_run_dir(server);
	if (ret < 0) {
		*error = xasprintf(_("cannot make a private directory: %s"), strerror(-ret));
		goto fail;
	}
	server->port_file = xasprintf("%s/ports", server->run_dir);
	salond = local_server_find_salond();
	log_fd = local_server_log("local-salond.log", &log_path);
	log_info("starting %s (database %s)", salond, db);

	server->salond_pid = fork();
	if (server->salond_pid < 0) {
		ret = -errno;
		*error = xasprintf(_("cannot start salond: %s"), strerror(errno));
		goto fail;
	}
	if (server->salond_pid == 0) {
		const char *argv[] = {
			salond, "--listen", "127.0.0.1:0", "--relay", "127.0.0.1:0", "--db", db,
			"--port-file", server->port_file, local_server_verbosity(), NULL,
		};

		local_server_child_setup(parent, -1, log_fd, log_fd);
		execvp(salond, (char *const *)argv);
		/* salon has no other thread yet (main.c): gettext is safe after fork. */
		dprintf(STDERR_FILENO, _("salon: cannot run %s: %s\n"), salond, strerror(errno));
		_exit(127);
	}

	deadline = util_now_ms() + LOCAL_SERVER_START_TIMEOUT_MS;
	for (;;) {
		if (local_server_read_ports(server) == 0)
			break;
		if (local_server_wait(server->salond_pid, 0, &status)) {
			server->salond_pid = 0;
			ret = -ECHILD;
			*error = xasprintf(_("salond (%s) stopped at start-up; see %s"), salond,
					   log_path != NULL ? log_path : "its log");
			goto fail;
		}
		if (util_now_ms() >= deadline) {
			ret = -ETIMEDOUT;
			*error = xasprintf(_("salond did not start within %d seconds; see %s"),
					   LOCAL_SERVER_START_TIMEOUT_MS / 1000,
					   log_path != NULL ? log_path : "its log");
			goto fail;
		}
		local_server_nap();
	}
	log_info("local salond %d serves %s", (int)server->salond_pid, server->url);
	*out = server;
	ret = 0;
	goto out;
fail:
	local_server_stop(server);
out:
	if (log_fd >= 0)
		close(log_fd);
	free(log_path);
	free(salond);
	free(db);
	free(lock);
	free(data_dir);
	return ret;
}

const char *local_server_url(const struct local_server *server)
{
	return server->url;
}

/* Writes a whole line to the bot. */
static int local_server_tell(struct local_server *server, const char *line)
{
	size_t len = strlen(line), done = 0;

	while (done < len) {
		ssize_t n = write(server->bot_in, line + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EPIPE;
		done += (size_t)n;
	}
	return 0;
}

/* What the set-up conversation with the bot reads: lines with a deadline. */
struct local_server_reader {
	char buf[LOCAL_SERVER_LINE_MAX];
	size_t len;
};

/*
 * Reads the bot's next output line as JSON before deadline. Returns 0 and *out,
 * -ETIMEDOUT, or -EPIPE when the bot has gone.
 */
static int local_server_next(struct local_server *server, struct local_server_reader *reader,
			     uint64_t deadline, json_t **out)
{
	for (;;) {
		char *newline = memchr(reader->buf, '\n', reader->len);
		struct pollfd pfd = {.fd = server->bot_out, .events = POLLIN};
		uint64_t now;
		ssize_t got;

		if (newline != NULL) {
			size_t line_len = (size_t)(newline - reader->buf);

			*out = json_loadb(reader->buf, line_len, 0, NULL);
			memmove(reader->buf, newline + 1, reader->len - line_len - 1);
			reader->len -= line_len + 1;
			if (*out != NULL)
				return 0;
			continue;
		}
		if (reader->len == sizeof(reader->buf))
			reader->len = 0; /* an absurd line: drop it */
		now = util_now_ms();
		if (now >= deadline)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, (int)(deadline - now)) < 0 && errno != EINTR)
			return -errno;
		if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		got = read(server->bot_out, reader->buf + reader->len,
			   sizeof(reader->buf) - reader->len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return -EPIPE;
		reader->len += (size_t)got;
	}
}

/*
 * Waits for the bot's event want tagged "demo" (or untagged for "connected").
 * Returns 0 and *out, or a negative errno value with *error set.
 */
static int local_server_expect(struct local_server *server, struct local_server_reader *reader,
			       uint64_t deadline, const char *want, json_t **out, char **error)
{
	for (;;) {
		json_t *line;
		const char *event, *tag;
		int ret = local_server_next(server, reader, deadline, &line);

		if (ret < 0) {
			if (ret == -ETIMEDOUT)
				*error = xasprintf(_("the demo bot did not answer in time (%s)"),
						   want);
			else
				*error = xstrdup(_("the demo bot stopped"));
			return ret;
		}
		event = frontend_str(line, "event", "");
		tag = frontend_str(line, "tag", NULL);
		if (strcmp(event, want) == 0 &&
		    (tag == NULL || strcmp(tag, "demo") == 0)) {
			*out = line;
			return 0;
		}
		if (strcmp(event, "error") == 0 || strcmp(event, "quit") == 0) {
			*error = xasprintf(_("the demo bot failed: %s"),
					   frontend_str(line, "message", event));
			json_decref(line);
			return -EIO;
		}
		json_decref(line);
	}
}

/* Keeps reading the bot's output after the set-up, so that its pipe never fills. */
static void *local_server_drain(void *arg)
{
	struct local_server *server = arg;
	char buf[4096];

	while (read(server->bot_out, buf, sizeof(buf)) > 0)
		continue;
	return NULL;
}

/* The demo clip, or NULL when it is not installed. */
static char *local_server_clip(void)
{
	const char *dir = getenv("SALON_DATADIR");
	char *path;

	if (dir != NULL && dir[0] != '\0') {
		path = xasprintf("%s/demo.opus", dir);
		if (access(path, R_OK) == 0)
			return path;
		free(path);
	}
	path = xstrdup(PKGDATADIR "/demo.opus");
	if (access(path, R_OK) == 0)
		return path;
	free(path);
#ifdef SRCDATADIR
	/* Not installed: a salon run from its build tree finds the source tree's copy. */
	path = xstrdup(SRCDATADIR "/demo.opus");
	if (access(path, R_OK) == 0)
		return path;
	free(path);
#endif
	return NULL;
}

static int local_server_spawn_bot(struct local_server *server, char **error)
{
	char *self = local_server_self(), *data_dir = NULL, *identity, *clip, *log_path;
	int in_pipe[2], out_pipe[2], log_fd, ret;
	pid_t parent = getpid();

	if (self == NULL) {
		*error = xstrdup(_("cannot find the salon program itself"));
		return -ENOENT;
	}
	ret = xdg_dir_create(XDG_DATA, &data_dir);
	if (ret < 0) {
		free(self);
		*error = xasprintf(_("cannot create salon's data directory: %s"), strerror(-ret));
		return ret;
	}
	identity = xasprintf("%s/demo-bot.identity", data_dir);
	free(data_dir);
	clip = local_server_clip();
	if (clip == NULL)
		log_warn(_("the demo clip demo.opus is not installed: the demo bot stays silent"));
	if (pipe2(in_pipe, O_CLOEXEC) < 0) {
		ret = -errno;
		goto out;
	}
	if (pipe2(out_pipe, O_CLOEXEC) < 0) {
		ret = -errno;
		close(in_pipe[0]);
		close(in_pipe[1]);
		goto out;
	}
	log_fd = local_server_log("demo-bot.log", &log_path);
	server->bot_pid = fork();
	if (server->bot_pid == 0) {
		local_server_child_setup(parent, in_pipe[0], out_pipe[1], log_fd);
		const char *argv[20] = {
			self, "--bot", "--config", "/dev/null", "--server", server->url,
			"--identity", identity, "--name", "demo-bot", "--input", "null",
			"--output", "null", "--loop",
		};
		size_t argc = 15;

		if (local_server_verbosity() != NULL)
			argv[argc++] = local_server_verbosity();
		if (clip != NULL) {
			argv[argc++] = "--play";
			argv[argc++] = clip;
		} else {
			argv[argc++] = "--listen-only";
		}

		execv(self, (char *const *)argv);
		dprintf(STDERR_FILENO, _("salon: cannot run %s: %s\n"), self, strerror(errno));
		_exit(127);
	}
	ret = server->bot_pid < 0 ? -errno : 0;
	if (ret < 0)
		server->bot_pid = 0;
	close(in_pipe[0]);
	close(out_pipe[1]);
	if (log_fd >= 0)
		close(log_fd);
	free(log_path);
	server->bot_in = in_pipe[1];
	server->bot_out = out_pipe[0];
out:
	if (ret < 0)
		*error = xasprintf(_("cannot start the demo bot: %s"), strerror(-ret));
	free(clip);
	free(identity);
	free(self);
	return ret;
}

int local_server_start_demo(struct local_server *server, uint64_t *room, char **error)
{
	struct local_server_reader *reader = NULL;
	uint64_t deadline = util_now_ms() + LOCAL_SERVER_DEMO_TIMEOUT_MS;
	json_t *line = NULL;
	char *command;
	int ret;

	*error = NULL;
	ret = local_server_spawn_bot(server, error);
	if (ret < 0)
		return ret;
	reader = xmalloc(sizeof(*reader));
	reader->len = 0;
	ret = local_server_expect(server, reader, deadline, "connected", &line, error);
	if (ret < 0)
		goto out;
	json_decref(line);
	ret = local_server_tell(server, "{\"cmd\":\"list_rooms\",\"id\":\"demo\"}\n");
	if (ret == 0)
		ret = local_server_expect(server, reader, deadline, "rooms", &line, error);
	if (ret < 0)
		goto out;
	ret = frontend_find_room(line, LOCAL_SERVER_DEMO_TITLE, room);
	json_decref(line);
	if (ret < 0) {
		ret = local_server_tell(server,
					"{\"cmd\":\"create\",\"title\":\"" LOCAL_SERVER_DEMO_TITLE
					"\",\"topic\":\"salon's demo room: a bot reads a "
					"welcome\",\"id\":\"demo\"}\n");
		if (ret == 0)
			ret = local_server_expect(server, reader, deadline, "room_created", &line,
						  error);
		if (ret < 0)
			goto out;
		*room = frontend_u64(json_object_get(line, "room"), "id");
		json_decref(line);
	}
	command = xasprintf("{\"cmd\":\"join\",\"room\":%" PRIu64 ",\"id\":\"demo\"}\n", *room);
	ret = local_server_tell(server, command);
	free(command);
	if (ret == 0)
		ret = local_server_expect(server, reader, deadline, "joined", &line, error);
	if (ret < 0)
		goto out;
	json_decref(line);
	ret = pthread_create(&server->drain, NULL, local_server_drain, server);
	if (ret != 0) {
		*error = xasprintf(_("cannot start a thread: %s"), strerror(ret));
		ret = -ret;
		goto out;
	}
	server->drain_started = true;
	log_info("demo bot %d is in room %" PRIu64, (int)server->bot_pid, *room);
out:
	if (ret < 0 && *error == NULL)
		*error = xasprintf(_("the demo bot failed: %s"), strerror(-ret));
	free(reader);
	return ret;
}

void local_server_stop(struct local_server *server)
{
	if (server == NULL)
		return;
	if (server->bot_in >= 0) {
		/* End of its input: the bot leaves the room and quits by itself. */
		close(server->bot_in);
		server->bot_in = -1;
	}
	if (server->bot_pid > 0) {
		if (!local_server_wait(server->bot_pid, LOCAL_SERVER_STOP_TIMEOUT_MS, NULL))
			local_server_end(server->bot_pid, "the demo bot");
		server->bot_pid = 0;
	}
	if (server->drain_started)
		pthread_join(server->drain, NULL);
	if (server->bot_out >= 0)
		close(server->bot_out);
	if (server->salond_pid > 0)
		local_server_end(server->salond_pid, "salond");
	if (server->port_file != NULL)
		unlink(server->port_file);
	if (server->run_dir != NULL)
		rmdir(server->run_dir);
	if (server->lock_fd >= 0)
		close(server->lock_fd);
	free(server->port_file);
	free(server->run_dir);
	free(server->url);
	free(server);
}
