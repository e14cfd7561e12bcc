/* Reading a whole input into memory, within a bound. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"

int read_whole_file(const char *path, size_t max, uint8_t **out, size_t *out_len)
{
	int fd = (!path || strcmp(path, "-") == 0) ? 0 : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	bool known = fstat(fd, &st) == 0;
	if (known && S_ISDIR(st.st_mode)) {
		if (fd)
			close(fd);
		return -EISDIR;
	}
	size_t cap = (known && S_ISREG(st.st_mode) && st.st_size > 0) ? (size_t)st.st_size + 1 : 65536;
	uint8_t *data = NULL;
	size_t len = 0;
	int err = 0;
	for (;;) {
		if (cap > max) {
			err = -EFBIG;
			break;
		}
		uint8_t *next = realloc(data, cap + 1);
		if (!next) {
			err = -ENOMEM;
			break;
		}
		data = next;
		ssize_t n = read(fd, data + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == cap)
			cap *= 2;
	}
	if (fd)
		close(fd);
	if (err) {
		free(data);
		return err;
	}
	data[len] = '\0';
	*out = data;
	*out_len = len;
	return 0;
}

bool same_inode(int a, int b)
{
	struct stat sa, sb;
	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}
