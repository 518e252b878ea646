/*
 * config-file.c - read the client's config file into a struct config_file.
 *
 * Each line is cut out of the buffer, checked (length, control characters), split
 * into key and value, and only then applied through a table of known settings.
 * Every problem becomes a diagnostic and the reading goes on with the next line.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config-file.h"
#include "i18n.h"
#include "util.h"
#include "xdg.h"

/* Where the parser is: the name for diagnostics, the line and the section. */
struct config_file_ctx {
	struct config_file *cfg;
	const char *name;
	unsigned line;
	enum {
		CONFIG_FILE_SECTION_MAIN,
		CONFIG_FILE_SECTION_KEYS,
		CONFIG_FILE_SECTION_SKIP, /* an unknown or malformed section */
	} section;
	unsigned diag_count; /* added during this parse */
};

enum config_file_type {
	CONFIG_FILE_STRING,
	CONFIG_FILE_URL,
	CONFIG_FILE_INT,
	CONFIG_FILE_FRAME_MS,
	CONFIG_FILE_BOOL,
	CONFIG_FILE_TRISTATE,
	CONFIG_FILE_VERBOSITY,
};

static const struct config_file_setting {
	const char *key;
	enum config_file_type type;
	size_t offset;
	int min, max; /* for CONFIG_FILE_INT */
} config_file_settings[] = {
	{"server", CONFIG_FILE_URL, offsetof(struct config_file, server), 0, 0},
	{"ca_file", CONFIG_FILE_STRING, offsetof(struct config_file, ca_file), 0, 0},
	{"name", CONFIG_FILE_STRING, offsetof(struct config_file, name), 0, 0},
	{"input_device", CONFIG_FILE_STRING, offsetof(struct config_file, input_device), 0, 0},
	{"output_device", CONFIG_FILE_STRING, offsetof(struct config_file, output_device), 0, 0},
	{"bitrate", CONFIG_FILE_INT, offsetof(struct config_file, bitrate),
	 CONFIG_FILE_BITRATE_MIN, CONFIG_FILE_BITRATE_MAX},
	{"frame_ms", CONFIG_FILE_FRAME_MS, offsetof(struct config_file, frame_ms), 0, 0},
	{"complexity", CONFIG_FILE_INT, offsetof(struct config_file, complexity), 0, 10},
	{"verbosity", CONFIG_FILE_VERBOSITY, offsetof(struct config_file, verbosity), 0, 0},
	{"earcons", CONFIG_FILE_BOOL, offsetof(struct config_file, earcons), 0, 0},
	{"earcon_volume", CONFIG_FILE_INT, offsetof(struct config_file, earcon_volume), 0, 100},
	{"ascii", CONFIG_FILE_TRISTATE, offsetof(struct config_file, ascii), 0, 0},
	{"meters", CONFIG_FILE_BOOL, offsetof(struct config_file, meters), 0, 0},
};

void config_file_init(struct config_file *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->bitrate = 24000;
	cfg->frame_ms = 20;
	cfg->complexity = 5;
	cfg->verbosity = LOG_LEVEL_WARN;
	cfg->earcons = true;
	cfg->earcon_volume = 50;
	cfg->ascii = -1;
	cfg->meters = false;
}

void config_file_free(struct config_file *cfg)
{
	free(cfg->server);
	free(cfg->ca_file);
	free(cfg->name);
	free(cfg->input_device);
	free(cfg->output_device);
	for (size_t i = 0; i < cfg->binding_count; i++) {
		free(cfg->bindings[i].key);
		free(cfg->bindings[i].action);
	}
	free(cfg->bindings);
	for (size_t i = 0; i < cfg->diag_count; i++)
		free(cfg->diags[i].message);
	free(cfg->diags);
	memset(cfg, 0, sizeof(*cfg));
}

/* Appends "NAME:LINE: message" (or "NAME: message" for line 0) to the diagnostics. */
static void config_file_diag(struct config_file *cfg, const char *name, unsigned line,
			     const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void config_file_diag(struct config_file *cfg, const char *name, unsigned line,
			     const char *fmt, ...)
{
	struct config_file_diag *diag;
	char *text;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) < 0)
		fatal("out of memory");
	va_end(ap);
	cfg->diags = xreallocarray(cfg->diags, cfg->diag_count + 1, sizeof(*cfg->diags));
	diag = &cfg->diags[cfg->diag_count++];
	diag->line = line;
	if (line > 0)
		diag->message = xasprintf("%s:%u: %s", name, line, text);
	else
		diag->message = xasprintf("%s: %s", name, text);
	free(text);
}

#define config_file_ctx_diag(ctx, ...)                                                     \
	do {                                                                               \
		(ctx)->diag_count++;                                                       \
		config_file_diag((ctx)->cfg, (ctx)->name, (ctx)->line, __VA_ARGS__);       \
	} while (0)

static bool config_file_is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static char *config_file_skip_blank(char *p)
{
	while (config_file_is_blank(*p))
		p++;
	return p;
}

/* True when the rest of the line at p is blank or a comment. */
static bool config_file_rest_is_empty(const char *p)
{
	while (config_file_is_blank(*p))
		p++;
	return *p == '\0' || *p == '#';
}

/* Characters of a setting or section name. */
static bool config_file_is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-' || c == '.';
}

/* Handles a "[section]" line, p at the '['. */
static void config_file_section(struct config_file_ctx *ctx, char *p)
{
	char *name = p + 1;
	char *end = name;

	while (config_file_is_name_char(*end))
		end++;
	if (end == name || *end != ']' || !config_file_rest_is_empty(end + 1)) {
		config_file_ctx_diag(ctx, _("malformed section header"));
		ctx->section = CONFIG_FILE_SECTION_SKIP;
		return;
	}
	*end = '\0';
	if (strcmp(name, "keys") == 0) {
		ctx->section = CONFIG_FILE_SECTION_KEYS;
	} else {
		config_file_ctx_diag(ctx, _("unknown section '[%s]'"), name);
		ctx->section = CONFIG_FILE_SECTION_SKIP;
	}
}

/*
 * Parses the value starting at p (blanks already skipped) in place. Returns the
 * NUL-terminated value inside the line, or NULL after adding a diagnostic.
 */
static char *config_file_value(struct config_file_ctx *ctx, char *p)
{
	char *out, *start;

	if (*p != '"') {
		/* Unquoted: up to a '#' that follows a blank, without trailing blanks. */
		char *end = p;

		while (*end != '\0' && !(*end == '#' && end > p && config_file_is_blank(end[-1])))
			end++;
		while (end > p && config_file_is_blank(end[-1]))
			end--;
		*end = '\0';
		return p;
	}
	start = out = ++p;
	for (;;) {
		if (*p == '\0') {
			config_file_ctx_diag(ctx, _("unterminated quoted value"));
			return NULL;
		}
		if (*p == '"')
			break;
		if (*p == '\\') {
			p++;
			if (*p != '"' && *p != '\\') {
				config_file_ctx_diag(ctx, _("unknown escape in quoted value "
							    "(only \\\" and \\\\ are allowed)"));
				return NULL;
			}
		}
		*out++ = *p++;
	}
	if (!config_file_rest_is_empty(p + 1)) {
		config_file_ctx_diag(ctx, _("unexpected text after the quoted value"));
		return NULL;
	}
	*out = '\0';
	return start;
}

/* Parses a whole decimal number in [min, max]. Returns 0 or -EINVAL. */
static int config_file_int(const char *value, int min, int max, int *out)
{
	char *end;
	long v;

	if (!((value[0] >= '0' && value[0] <= '9') || value[0] == '-'))
		return -EINVAL;
	errno = 0;
	v = strtol(value, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

/* Parses on/off (and true/false, yes/no, 1/0). Returns 0 or -EINVAL. */
static int config_file_bool(const char *value, bool *out)
{
	static const char *const yes[] = {"on", "true", "yes", "1"};
	static const char *const no[] = {"off", "false", "no", "0"};

	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (strcasecmp(value, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(value, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

static int config_file_verbosity(const char *value, enum log_level *out)
{
	static const char *const names[] = {"error", "warn", "info", "debug"};
	int level;

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		if (strcasecmp(value, names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	if (strcasecmp(value, "warning") == 0) {
		*out = LOG_LEVEL_WARN;
		return 0;
	}
	if (config_file_int(value, LOG_LEVEL_ERROR, LOG_LEVEL_DEBUG, &level) < 0)
		return -EINVAL;
	*out = (enum log_level)level;
	return 0;
}

static bool config_file_is_url(const char *value)
{
	const char *rest;

	if (strncasecmp(value, "https://", 8) == 0)
		rest = value + 8;
	else if (strncasecmp(value, "http://", 7) == 0)
		rest = value + 7;
	else
		return false;
	if (*rest == '\0' || *rest == '/')
		return false;
	for (const char *p = rest; *p != '\0'; p++)
		if (config_file_is_blank(*p))
			return false;
	return true;
}

/* Applies one known setting; a bad value leaves the field as it was. */
static void config_file_apply(struct config_file_ctx *ctx, const struct config_file_setting *s,
			      const char *value)
{
	char *field = (char *)ctx->cfg + s->offset;
	bool flag;

	if (s->type != CONFIG_FILE_STRING && s->type != CONFIG_FILE_URL && value[0] == '\0') {
		config_file_ctx_diag(ctx, _("'%s' needs a value"), s->key);
		return;
	}
	switch (s->type) {
	case CONFIG_FILE_URL:
		if (value[0] != '\0' && !config_file_is_url(value)) {
			config_file_ctx_diag(ctx, _("'%s' must be an http:// or https:// URL"),
					     s->key);
			return;
		}
		/* fall through */
	case CONFIG_FILE_STRING: {
		char **str = (char **)(void *)field;

		/* TAB is the one control character a line may hold (as blank space). */
		if (strchr(value, '\t') != NULL) {
			config_file_ctx_diag(ctx, _("control character in line"));
			return;
		}
		free(*str);
		*str = value[0] != '\0' ? xstrdup(value) : NULL;
		return;
	}
	case CONFIG_FILE_INT:
		if (config_file_int(value, s->min, s->max, (int *)(void *)field) < 0)
			config_file_ctx_diag(ctx, _("'%s' must be a whole number from %d to %d"),
					     s->key, s->min, s->max);
		return;
	case CONFIG_FILE_FRAME_MS: {
		int ms;

		if (config_file_int(value, 10, 20, &ms) < 0 || (ms != 10 && ms != 20))
			config_file_ctx_diag(ctx, _("'%s' must be 10 or 20"), s->key);
		else
			*(int *)(void *)field = ms;
		return;
	}
	case CONFIG_FILE_BOOL:
	case CONFIG_FILE_TRISTATE:
		if (config_file_bool(value, &flag) < 0) {
			config_file_ctx_diag(ctx, _("'%s' must be on or off"), s->key);
			return;
		}
		if (s->type == CONFIG_FILE_BOOL)
			*(bool *)(void *)field = flag;
		else
			*(int *)(void *)field = flag;
		return;
	case CONFIG_FILE_VERBOSITY:
		if (config_file_verbosity(value, (enum log_level *)(void *)field) < 0)
			config_file_ctx_diag(ctx, _("'%s' must be 0 to 3, or error, warn, "
						    "info or debug"),
					     s->key);
		return;
	}
}

static void config_file_add_binding(struct config_file_ctx *ctx, const char *key,
				    const char *action)
{
	struct config_file *cfg = ctx->cfg;
	struct config_file_binding *b;

	cfg->bindings = xreallocarray(cfg->bindings, cfg->binding_count + 1,
				      sizeof(*cfg->bindings));
	b = &cfg->bindings[cfg->binding_count++];
	b->key = xstrdup(key);
	b->action = xstrdup(action);
	b->line = ctx->line;
}

/* Parses one line (NUL-terminated, no line ending, no control characters but TAB). */
static void config_file_line(struct config_file_ctx *ctx, char *line)
{
	char *p = config_file_skip_blank(line);
	char *key, *key_end, *value;

	if (*p == '\0' || *p == '#')
		return;
	if (*p == '[') {
		config_file_section(ctx, p);
		return;
	}
	if (ctx->section == CONFIG_FILE_SECTION_SKIP)
		return;
	key = p;
	if (ctx->section == CONFIG_FILE_SECTION_KEYS) {
		/* A key binding names a key: any printable ASCII but '=' and '"'. */
		while (*p > ' ' && *p < 0x7f && *p != '=' && *p != '"')
			p++;
	} else {
		while (config_file_is_name_char(*p))
			p++;
	}
	key_end = p;
	p = config_file_skip_blank(p);
	if (key_end == key || *p != '=') {
		config_file_ctx_diag(ctx, _("expected 'key = value'"));
		return;
	}
	*key_end = '\0';
	value = config_file_value(ctx, config_file_skip_blank(p + 1));
	if (value == NULL)
		return;
	if (ctx->section == CONFIG_FILE_SECTION_KEYS) {
		config_file_add_binding(ctx, key, value);
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(config_file_settings); i++) {
		if (strcmp(key, config_file_settings[i].key) == 0) {
			config_file_apply(ctx, &config_file_settings[i], value);
			return;
		}
	}
	config_file_ctx_diag(ctx, _("unknown key '%s'"), key);
}

int config_file_parse_buffer(struct config_file *cfg, const char *name, const char *buf,
			     size_t len)
{
	struct config_file_ctx ctx = {.cfg = cfg, .name = name};
	char *line = xmalloc(CONFIG_FILE_LINE_MAX + 1);
	size_t pos = 0;

	while (pos < len) {
		const char *start = buf + pos;
		const char *newline = memchr(start, '\n', len - pos);
		size_t line_len = newline ? (size_t)(newline - start) : len - pos;
		bool control = false;

		pos += line_len + (newline ? 1 : 0);
		ctx.line++;
		if (line_len > 0 && start[line_len - 1] == '\r')
			line_len--;
		if (line_len > CONFIG_FILE_LINE_MAX) {
			config_file_ctx_diag(&ctx, _("line too long (more than %d bytes)"),
					     CONFIG_FILE_LINE_MAX);
			continue;
		}
		for (size_t i = 0; i < line_len; i++) {
			unsigned char c = (unsigned char)start[i];

			if ((c < 0x20 && c != '\t') || c == 0x7f)
				control = true;
		}
		if (control) {
			config_file_ctx_diag(&ctx, _("control character in line"));
			continue;
		}
		memcpy(line, start, line_len);
		line[line_len] = '\0';
		config_file_line(&ctx, line);
	}
	free(line);
	return ctx.diag_count > 0 ? -EINVAL : 0;
}

/* Reads at most CONFIG_FILE_SIZE_MAX bytes of fd into *out. Returns 0 or -errno. */
static int config_file_read_fd(int fd, char **out, size_t *len)
{
	size_t cap = 4096, used = 0;
	char *buf = xmalloc(cap);

	for (;;) {
		ssize_t n;

		if (used == cap) {
			if (cap > CONFIG_FILE_SIZE_MAX) {
				free(buf);
				return -EFBIG;
			}
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		n = read(fd, buf + used, cap - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = -errno;

			free(buf);
			return err;
		}
		if (n == 0)
			break;
		used += (size_t)n;
	}
	if (used > CONFIG_FILE_SIZE_MAX) {
		free(buf);
		return -EFBIG;
	}
	*out = buf;
	*len = used;
	return 0;
}

int config_file_load(struct config_file *cfg, const char *path)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int fd, err;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		err = -errno;
		config_file_diag(cfg, path, 0, _("cannot open: %s"), strerror(-err));
		return err;
	}
	if (fstat(fd, &st) < 0) {
		err = -errno;
		config_file_diag(cfg, path, 0, _("cannot read: %s"), strerror(-err));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		err = -EISDIR;
		config_file_diag(cfg, path, 0, _("is a directory, not a config file"));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		err = -EINVAL;
		config_file_diag(cfg, path, 0, _("not a regular file"));
		goto out;
	}
	err = config_file_read_fd(fd, &buf, &len);
	if (err == -EFBIG) {
		config_file_diag(cfg, path, 0, _("file too large (more than %d bytes)"),
				 CONFIG_FILE_SIZE_MAX);
		goto out;
	}
	if (err < 0) {
		config_file_diag(cfg, path, 0, _("cannot read: %s"), strerror(-err));
		goto out;
	}
	err = config_file_parse_buffer(cfg, path, buf, len);
	free(buf);
out:
	close(fd);
	return err;
}

int config_file_default_path(char **out)
{
	return xdg_path(XDG_CONFIG, "config", out);
}
