/*
 * xdg.c - salon's directories under the XDG Base Directory specification.
 */
#include "config.h"

#include <errno.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"
#include "xdg.h"

/* Returns value when it is a usable (non-empty, absolute) base directory, or NULL. */
static const char *xdg_usable(const char *value)
{
	if (value == NULL || value[0] != '/')
		return NULL;
	return value;
}

/* Returns the home directory, or NULL when none can be found. */
static const char *xdg_home(void)
{
	const char *home = xdg_usable(getenv("HOME"));
	struct passwd *pw;

	if (home != NULL)
		return home;
	/* Called from the main thread only (see xdg.h), so getpwuid() is safe. */
	pw = getpwuid(getuid());
	if (pw != NULL)
		return xdg_usable(pw->pw_dir);
	return NULL;
}

/* Joins base and suffix with one slash, dropping trailing slashes from base. */
static char *xdg_join(const char *base, const char *suffix)
{
	size_t len = strlen(base);

	while (len > 0 && base[len - 1] == '/')
		len--;
	return xasprintf("%.*s/%s", (int)len, base, suffix);
}

int xdg_dir(enum xdg_kind kind, char **out)
{
	static const struct {
		const char *variable;
		const char *fallback; /* under $HOME, or NULL when there is none */
	} table[] = {
		[XDG_CONFIG] = {"XDG_CONFIG_HOME", ".config"},
		[XDG_DATA] = {"XDG_DATA_HOME", ".local/share"},
		[XDG_STATE] = {"XDG_STATE_HOME", ".local/state"},
		[XDG_CACHE] = {"XDG_CACHE_HOME", ".cache"},
		[XDG_RUNTIME] = {"XDG_RUNTIME_DIR", NULL},
	};
	const char *base, *home;
	char *parent;

	*out = NULL;
	if ((unsigned)kind >= ARRAY_SIZE(table))
		return -EINVAL;
	base = xdg_usable(getenv(table[kind].variable));
	if (base != NULL) {
		*out = xdg_join(base, "salon");
		return 0;
	}
	if (table[kind].fallback == NULL)
		return -ENOENT;
	home = xdg_home();
	if (home == NULL)
		return -ENOENT;
	parent = xdg_join(home, table[kind].fallback);
	*out = xdg_join(parent, "salon");
	free(parent);
	return 0;
}

int xdg_path(enum xdg_kind kind, const char *name, char **out)
{
	char *dir;
	int err = xdg_dir(kind, &dir);

	*out = NULL;
	if (err < 0)
		return err;
	*out = xdg_join(dir, name);
	free(dir);
	return 0;
}

/* Creates one directory; an existing directory is success. */
static int xdg_mkdir_one(const char *path, mode_t mode)
{
	struct stat st;

	if (mkdir(path, mode) == 0)
		return 0;
	if (errno != EEXIST)
		return -errno;
	if (stat(path, &st) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int xdg_mkdirs(const char *path, mode_t mode)
{
	char *copy;
	int err = 0;

	if (path == NULL || path[0] == '\0')
		return -EINVAL;
	copy = xstrdup(path);
	/* Create each parent in turn, cutting the path at each slash after the first. */
	for (char *p = copy + 1; *p != '\0'; p++) {
		if (*p != '/' || p[-1] == '/')
			continue;
		*p = '\0';
		err = xdg_mkdir_one(copy, mode);
		*p = '/';
		if (err < 0)
			goto out;
	}
	err = xdg_mkdir_one(copy, mode);
out:
	free(copy);
	return err;
}

int xdg_dir_create(enum xdg_kind kind, char **out)
{
	int err = xdg_dir(kind, out);

	if (err < 0)
		return err;
	err = xdg_mkdirs(*out, 0700);
	if (err < 0) {
		free(*out);
		*out = NULL;
	}
	return err;
}
