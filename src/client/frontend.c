/*
 * frontend.c - helpers shared by salon's front ends: signals, exit codes, room ids,
 * event fields and commands.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "frontend.h"
#include "i18n.h"
#include "log.h"
#include "sanitize.h"
#include "util.h"

int frontend_signals_open(void)
{
	sigset_t set;
	int fd;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (fd < 0)
		return -errno;
	return fd;
}

void frontend_signals_reset_child(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigprocmask(SIG_SETMASK, &set, NULL);
	signal(SIGPIPE, SIG_DFL);
}

int frontend_signals_read(int fd)
{
	struct signalfd_siginfo info;

	if (fd < 0 || read(fd, &info, sizeof(info)) != (ssize_t)sizeof(info))
		return 0;
	return (int)info.ssi_signo;
}

enum frontend_exit frontend_exit_for_error(const char *code)
{
	static const struct {
		const char *code;
		enum frontend_exit status;
	} table[] = {
		{"room_not_found", FRONTEND_EXIT_NOT_FOUND},
		{"user_not_found", FRONTEND_EXIT_NOT_FOUND},
		{"member_not_found", FRONTEND_EXIT_NOT_FOUND},
		{"not_found", FRONTEND_EXIT_NOT_FOUND},
		{"unreachable", FRONTEND_EXIT_UNREACHABLE},
		{"network", FRONTEND_EXIT_UNREACHABLE},
		{"connect", FRONTEND_EXIT_UNREACHABLE},
		{"server_unreachable", FRONTEND_EXIT_UNREACHABLE},
		{"no_audio", FRONTEND_EXIT_NO_AUDIO},
		{"audio", FRONTEND_EXIT_NO_AUDIO},
		{"key_changed", FRONTEND_EXIT_KEY_CHANGED},
	};

	if (code == NULL)
		return FRONTEND_EXIT_ERROR;
	for (size_t i = 0; i < ARRAY_SIZE(table); i++)
		if (strcmp(code, table[i].code) == 0)
			return table[i].status;
	return FRONTEND_EXIT_ERROR;
}

void frontend_verror(const char *format, va_list ap)
{
	va_list copy;
	char *message;
	int len;

	va_copy(copy, ap);
	len = vsnprintf(NULL, 0, format, copy);
	va_end(copy);
	if (len < 0)
		fatal("frontend_verror: bad format");
	message = xmalloc((size_t)len + 1);
	vsnprintf(message, (size_t)len + 1, format, ap);
	/* TRANSLATORS: the prefix of salon's error messages; %s is the message. */
	fprintf(stderr, _("salon: %s\n"), message);
	free(message);
}

void frontend_error(const char *format, ...)
{
	va_list ap;

	va_start(ap, format);
	frontend_verror(format, ap);
	va_end(ap);
}

const char *frontend_audio_hint(void)
{
	return _("salon: no usable sound device. Speak from or record to files with --play FILE "
		 "and --record FILE, listen to nothing with --listen-only --output null, or pick "
		 "devices from 'salon devices' with --input and --output.\n");
}

int frontend_parse_room(const char *text, uint64_t *room)
{
	char *end;
	unsigned long long value;

	if (text == NULL || text[0] < '0' || text[0] > '9')
		return -EINVAL;
	errno = 0;
	value = strtoull(text, &end, 10);
	if (errno != 0 || *end != '\0' || value == 0 || value >= (1ULL << 53))
		return -EINVAL;
	*room = value;
	return 0;
}

int frontend_find_room(const json_t *rooms_data, const char *title, uint64_t *room)
{
	const json_t *rooms = json_object_get(rooms_data, "rooms");
	size_t i;
	json_t *item;

	json_array_foreach(rooms, i, item) {
		const char *t = frontend_str(item, "title", NULL);

		if (t != NULL && strcmp(t, title) == 0 && frontend_u64(item, "id") != 0) {
			*room = frontend_u64(item, "id");
			return 0;
		}
	}
	return -ENOENT;
}

const char *frontend_str(const json_t *object, const char *key, const char *fallback)
{
	const char *value = json_string_value(json_object_get(object, key));

	return value != NULL ? value : fallback;
}

uint64_t frontend_u64(const json_t *object, const char *key)
{
	const json_t *value = json_object_get(object, key);

	if (!json_is_integer(value) || json_integer_value(value) < 0)
		return 0;
	return (uint64_t)json_integer_value(value);
}

char *frontend_field_text(const json_t *object, const char *key, unsigned sanitize_flags,
			  size_t width, const char *fallback)
{
	const json_t *value = json_object_get(object, key);

	if (!json_is_string(value))
		return sanitize_text_width(fallback, strlen(fallback), sanitize_flags, width);
	return sanitize_text_width(json_string_value(value), json_string_length(value),
				   sanitize_flags, width);
}

char *frontend_user_text(uint64_t user_id, unsigned sanitize_flags)
{
	char *text = xasprintf(_("user %" PRIu64), user_id);
	char *safe = sanitize_text(text, strlen(text), sanitize_flags);

	free(text);
	return safe;
}

enum frontend_role frontend_role_rank(const char *role)
{
	/* In the order of enum frontend_role. */
	static const char *const names[] = {"host", "moderator", "speaker", "listener"};

	for (size_t i = 0; role != NULL && i < ARRAY_SIZE(names); i++)
		if (strcmp(role, names[i]) == 0)
			return (enum frontend_role)i;
	return FRONTEND_ROLE_OTHER;
}

const char *frontend_role_phrase(const char *role, const char *other)
{
	/* In the order of enum frontend_role. */
	const char *phrases[] = {_("the host"), _("a moderator"), _("a speaker"), _("a listener")};
	enum frontend_role rank = frontend_role_rank(role);

	return rank < ARRAY_SIZE(phrases) ? phrases[rank] : other;
}

void frontend_send(struct engine *engine, enum engine_command_type type, const char *user,
		   const char *text)
{
	struct engine_command *command = engine_command_new(type);

	if (user != NULL)
		command->user = xstrdup(user);
	if (text != NULL)
		command->text = xstrdup(text);
	engine_send(engine, command);
}

int frontend_parse_volume(char *args, double *gain)
{
	char *gain_text = strrchr(args, ' '), *end;
	double value;

	if (gain_text == NULL)
		return -EINVAL;
	*gain_text++ = '\0';
	value = strtod(gain_text, &end);
	if (*end != '\0' || end == gain_text || !(value >= 0.0 && value <= FRONTEND_GAIN_MAX))
		return -ERANGE;
	*gain = value;
	return 0;
}

void frontend_send_volume(struct engine *engine, const char *user, double gain)
{
	struct engine_command *command = engine_command_new(ENGINE_CMD_SET_VOLUME);

	command->user = xstrdup(user);
	command->number = gain;
	engine_send(engine, command);
}

int frontend_wait(const struct engine *engine, int signal_fd, int timeout_ms)
{
	struct pollfd fds[2] = {
		{.fd = engine_fd(engine), .events = POLLIN},
		{.fd = signal_fd, .events = POLLIN},
	};
	int ret;

	do
		ret = poll(fds, signal_fd >= 0 ? 2 : 1, timeout_ms);
	while (ret < 0 && errno == EINTR);
	if (ret < 0)
		return -errno;
	if (ret == 0)
		return 0;
	if (signal_fd >= 0 && (fds[1].revents & POLLIN))
		return 2;
	return 1;
}

int frontend_poll(const struct engine *engine, int signal_fd, bool read_input,
		  uint64_t deadline)
{
	struct pollfd fds[3] = {
		{.fd = engine_fd(engine), .events = POLLIN},
		{.fd = signal_fd, .events = POLLIN},
		{.fd = read_input ? STDIN_FILENO : -1, .events = POLLIN},
	};
	int timeout = -1, ret, ready = 0;

	if (deadline != UINT64_MAX) {
		uint64_t now = util_now_ms();

		timeout = now >= deadline ? 0 : (int)(deadline - now);
	}
	ret = poll(fds, 3, timeout);
	if (ret < 0 && errno != EINTR) {
		ret = -errno;
		log_error(_("poll failed: %s"), strerror(-ret));
		return ret;
	}
	if (ret == 0 && deadline != UINT64_MAX) {
		log_warn(_("the engine did not stop in time"));
		return -ETIMEDOUT;
	}
	if (ret <= 0)
		return 0;
	if (fds[0].revents & POLLIN)
		ready |= FRONTEND_READY_ENGINE;
	if (fds[1].revents & POLLIN)
		ready |= FRONTEND_READY_SIGNAL;
	/* The end of input (or a broken one) must be read too, to be noticed. */
	if (fds[2].revents & (POLLIN | POLLHUP | POLLERR))
		ready |= FRONTEND_READY_INPUT;
	return ready;
}
