/*
 * file.c - careful file writes: see file.h.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "file.h"
#include "util.h"
#include "xdg.h"

int file_make_parents(const char *path)
{
	char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	int r = 0;

	/* Nothing to create for "name" or "/name". */
	if (slash != NULL && slash != dir) {
		*slash = '\0';
		r = xdg_mkdirs(dir, 0700);
	}
	free(dir);
	return r;
}

int file_write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Makes a completed rename durable; a failure here is not worth failing the write. */
static void file_sync_parent(const char *path)
{
	char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	int fd;

	if (slash == dir)
		slash[1] = '\0';
	else if (slash != NULL)
		*slash = '\0';
	else
		strcpy(dir, ".");
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
	free(dir);
}

/* Writes data into the new file tmp with the given mode. Returns 0 or -errno. */
static int file_write_new(const char *tmp, const void *data, size_t len, mode_t mode,
			  const char **step)
{
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	int r;

	if (fd < 0) {
		*step = "create";
		return -errno;
	}
	*step = "write";
	/* The umask may have removed bits the caller asked for: set the mode exactly. */
	if (fchmod(fd, mode) < 0)
		r = -errno;
	else if ((r = file_write_all(fd, data, len)) == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	return r;
}

/*
 * Gives tmp the name path unless path exists. link(2) fails with EEXIST instead of
 * replacing, so there is no window to race; on a file system without hard links
 * (EPERM, EOPNOTSUPP), a check just before rename(2) is the best there is.
 */
static int file_link_new(const char *tmp, const char *path)
{
	struct stat st;

	if (link(tmp, path) == 0)
		return 0;
	if (errno != EPERM && errno != EOPNOTSUPP)
		return -errno;
	if (lstat(path, &st) == 0)
		return -EEXIST;
	return rename(tmp, path) < 0 ? -errno : 0;
}

int file_replace(const char *path, const void *data, size_t len, mode_t mode,
		 enum file_replace_mode replace, const char **step)
{
	const char *ignored;
	char *tmp;
	int r;

	if (step == NULL)
		step = &ignored;
	if (path == NULL || *path == '\0') {
		*step = "create";
		return -EINVAL;
	}
	r = file_make_parents(path);
	if (r < 0) {
		*step = "mkdir";
		return r;
	}
	if (sodium_init() < 0) {
		*step = "create";
		return -EIO;
	}
	/* A random name: two writers of the same file never share a temporary file. */
	tmp = xasprintf("%s.tmp-%ld-%08x", path, (long)getpid(),
			(unsigned)randombytes_random());
	r = file_write_new(tmp, data, len, mode, step);
	if (r == 0) {
		*step = "rename";
		if (replace == FILE_NO_REPLACE) {
			r = file_link_new(tmp, path);
		} else if (rename(tmp, path) < 0) {
			r = -errno;
		}
	}
	/* After link() (or a failure) the temporary name still exists: remove it. */
	if (r < 0 || replace == FILE_NO_REPLACE)
		(void)unlink(tmp);
	if (r == 0)
		file_sync_parent(path);
	free(tmp);
	return r;
}
