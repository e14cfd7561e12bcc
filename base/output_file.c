/* Creating outputs safely: a root recorder writing into a directory others
 * can write must not follow a symlink planted at its temporary name, nor
 * replace a device node it was asked to write into. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"

/* Temporary names tried before giving up: PATH.partial, PATH.partial.2... */
#define TEMP_TRIES 100

static int open_temp(struct output_file *o)
{
	size_t len = strlen(o->path) + 32;
	if (!(o->temp = malloc(len)))
		return -ENOMEM;
	for (int n = 1; n <= TEMP_TRIES; n++) {
		if (n == 1)
			snprintf(o->temp, len, "%s.partial", o->path);
		else
			snprintf(o->temp, len, "%s.partial.%d", o->path, n);
		o->fd = open(o->temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (o->fd >= 0)
			return 0;
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

int output_file_open(struct output_file *o, const char *path)
{
	*o = (struct output_file){ .fd = -1 };
	if (!(o->path = strdup(path)))
		return -ENOMEM;
	struct stat st;
	int err = 0;
	/* What path names, through a symlink too (/dev/stdout is one): a device,
	 * fifo or socket is written into; a regular file (or nothing yet) is
	 * replaced by a rename, which replaces a symlink itself, never its
	 * target. */
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		if (S_ISDIR(st.st_mode))
			err = -EISDIR;
		else if ((o->fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC)) < 0)
			err = -errno;
	} else {
		err = open_temp(o);
	}
	if (err)
		output_file_release(o, false);
	return err;
}

const char *output_file_name(const struct output_file *o)
{
	return o->temp ? o->temp : o->path;
}

int output_file_commit(struct output_file *o)
{
	if (o->fd >= 0) {
		/* A device or a pipe cannot sync: only a lost write is an error. */
		int synced = fsync(o->fd) == 0 || errno == EINVAL || errno == EROFS ? 0 : -errno;
		int closed = close(o->fd) == 0 ? 0 : -errno;
		o->fd = -1;
		if (synced || closed)
			return synced ? synced : closed;
	}
	if (o->temp) {
		if (rename(o->temp, o->path))
			return -errno;
		free(o->temp);
		o->temp = NULL;
	}
	return 0;
}

void output_file_release(struct output_file *o, bool keep)
{
	if (o->fd >= 0)
		close(o->fd);
	if (o->temp && !keep)
		unlink(o->temp);
	free(o->temp);
	free(o->path);
	*o = (struct output_file){ .fd = -1 };
}
