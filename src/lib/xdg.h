/*
 * xdg.h - salon's directories under the XDG Base Directory specification.
 *
 *   config   $XDG_CONFIG_HOME/salon  (default ~/.config/salon)      the config file
 *   data     $XDG_DATA_HOME/salon    (default ~/.local/share/salon) identity keys
 *   state    $XDG_STATE_HOME/salon   (default ~/.local/state/salon) history, logs
 *   cache    $XDG_CACHE_HOME/salon   (default ~/.cache/salon)       disposable data
 *   runtime  $XDG_RUNTIME_DIR/salon  (no default)                   sockets
 *
 * As the specification requires, a variable that is unset, empty or not an absolute
 * path is ignored and the default under $HOME is used. When HOME itself is unset,
 * empty or relative, the home directory from the password database is used.
 *
 * Errors as in util.h: allocation aborts on out-of-memory, the rest returns 0 or a
 * negative errno value. These functions read the environment, so call them from the
 * main thread (getenv() races with setenv() in other threads).
 */
#ifndef SALON_XDG_H
#define SALON_XDG_H

#include <sys/types.h>

enum xdg_kind {
	XDG_CONFIG,
	XDG_DATA,
	XDG_STATE,
	XDG_CACHE,
	XDG_RUNTIME,
};

/*
 * Stores in *out the path of salon's directory of the given kind (without a
 * trailing slash). The directory is not created. Returns 0 and a new string the
 * caller frees, or -ENOENT (and *out = NULL) when no home directory can be found,
 * or for XDG_RUNTIME when XDG_RUNTIME_DIR is unset, empty or relative.
 */
int xdg_dir(enum xdg_kind kind, char **out);

/*
 * Stores in *out the path of file name inside salon's directory of the given kind,
 * e.g. xdg_path(XDG_CONFIG, "config", &p) gives "~/.config/salon/config". Returns as
 * xdg_dir() (with *out = NULL on failure); the caller frees *out.
 */
int xdg_path(enum xdg_kind kind, const char *name, char **out);

/*
 * Creates directory path and every missing parent with the given mode (salon uses
 * 0700, as the specification asks), like mkdir -p. Directories that already exist
 * are left as they are, permissions included. Returns 0 when path exists as a
 * directory at the end, -ENOTDIR when it or a parent exists but is not a
 * directory, -EINVAL for an empty path, or the negative errno of mkdir(2).
 */
int xdg_mkdirs(const char *path, mode_t mode);

/*
 * xdg_dir() and then xdg_mkdirs(*out, 0700). Returns 0 with *out set (the caller
 * frees it), or a negative errno with *out = NULL.
 */
int xdg_dir_create(enum xdg_kind kind, char **out);

#endif
