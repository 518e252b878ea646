/*
 * log.h - leveled logging to stderr (or a file), for both programs.
 *
 * Secrets never go through here: tokens, keys and join tickets are not logged at
 * any level. Callers log identifiers (room and user ids), never credentials.
 * Thread-safe (one write(2) per line); not for the real-time audio callback.
 */
#ifndef SALON_LOG_H
#define SALON_LOG_H

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

/* Sets the program name printed before each line and the most verbose level shown. */
void log_init(const char *progname, enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Sends log lines to fd instead of stderr (the caller keeps ownership of fd). */
void log_set_fd(int fd);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
