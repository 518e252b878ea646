/*
 * file.h - small, careful file writes shared by salon and salond: creating the
 * directories above a file, and replacing a file atomically and durably (a private
 * temporary file beside it, fsync, rename, fsync of the directory), so that a crash
 * or a full disk leaves either the old content or the new one, never a torn file.
 *
 * Errors as in util.h: allocation aborts on out-of-memory, the rest returns 0 or a
 * negative errno value. Every function may be called from any thread.
 */
#ifndef SALON_FILE_H
#define SALON_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/*
 * Creates every missing directory above path (not path itself) with mode 0700,
 * like mkdir -p on dirname(path). Returns 0 when they all exist at the end,
 * -ENOTDIR when one exists but is not a directory, or the negative errno of mkdir.
 */
int file_make_parents(const char *path);

/*
 * Writes all len bytes of buf to fd, retrying after interruptions and short writes.
 * Returns 0, or the negative errno of write(2) (-EIO if it wrote nothing).
 */
int file_write_all(int fd, const void *buf, size_t len);

/* How file_replace() treats an existing file at the destination. */
enum file_replace_mode {
	FILE_REPLACE,    /* an existing file is replaced */
	FILE_NO_REPLACE, /* an existing file (or link) is kept: -EEXIST */
};

/*
 * Stores len bytes of data at path, atomically: the parents are created (0700), the
 * bytes go to a new temporary file beside path, created with O_EXCL and O_NOFOLLOW
 * and given exactly the given mode whatever the umask, flushed with fsync, then
 * renamed over path, and the directory is synced. With FILE_NO_REPLACE, a file
 * already at path is never overwritten (the rename is refused, not raced).
 * On failure the temporary file is removed and path is untouched. Returns 0, or a
 * negative errno: -EEXIST (FILE_NO_REPLACE and path exists), -ENOSPC, -EACCES ...
 * If step is not NULL, it is set to a short untranslated word naming the step that
 * failed ("mkdir", "create", "write", "rename"), for the caller's message.
 */
int file_replace(const char *path, const void *data, size_t len, mode_t mode,
		 enum file_replace_mode replace, const char **step);

#endif
