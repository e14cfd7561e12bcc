#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"

#include "symbolizer/dwarf_cache.h"

/* The images' layout is dwarf_image.c's: a new layout takes a new name. */
#define SUBDIR "dwarf-1"
#define SUFFIX ".dwarf"

/* A build-id in hex, with ".debug" perhaps: nothing that walks out of the
 * directory. */
static bool key_is_safe(const char *key)
{
	size_t n = strlen(key);
	if (n == 0 || n > 2 * 64 + 8)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((key[i] >= '0' && key[i] <= '9') || (key[i] >= 'a' && key[i] <= 'z') || key[i] == '.'))
			return false;
	return key[0] != '.';
}

static bool path_of(const struct dwarf_cache_entry *e, char *out, size_t len)
{
	if (!e || !e->dir || !*e->dir || !e->key || !key_is_safe(e->key))
		return false;
	int n = snprintf(out, len, "%s/" SUBDIR "/%s" SUFFIX, e->dir, e->key);
	return n > 0 && (size_t)n < len;
}

/* Whether an image of size bytes ends with its section headers, as
 * dwarf_image.c lays them out: a file cut short (a full disk, a crash
 * before the data reached it) fails this. */
static bool image_is_whole(const unsigned char *image, uint64_t size)
{
	if (size < sizeof(Elf64_Ehdr))
		return false;
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)image;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_ident[EI_DATA] != ELFDATA2LSB || eh->e_shentsize != sizeof(Elf64_Shdr) || eh->e_shnum < 2 ||
	    eh->e_shstrndx >= eh->e_shnum)
		return false;
	return eh->e_shoff <= size && (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr) == size - eh->e_shoff;
}

unsigned char *dwarf_cache_load(const struct dwarf_cache_entry *e, uint64_t *size)
{
	char path[4096];
	if (!path_of(e, path, sizeof(path)))
		return NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return NULL;
	struct stat st;
	void *image = MAP_FAILED;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
		image = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (image != MAP_FAILED && !image_is_whole(image, (uint64_t)st.st_size)) {
		munmap(image, (size_t)st.st_size);
		image = MAP_FAILED;
	}
	if (image != MAP_FAILED)
		futimens(fd, NULL); /* used: the last to be taken out */
	close(fd);
	if (image == MAP_FAILED)
		return NULL;
	*size = (uint64_t)st.st_size;
	return image;
}

struct kept {
	char name[256];
	uint64_t size;
	struct timespec used;
};

static int least_recent_first(const void *a, const void *b)
{
	const struct kept *x = a, *y = b;
	if (x->used.tv_sec != y->used.tv_sec)
		return x->used.tv_sec < y->used.tv_sec ? -1 : 1;
	return (x->used.tv_nsec > y->used.tv_nsec) - (x->used.tv_nsec < y->used.tv_nsec);
}

/* A store's temporary file (output_file's NAME.partial[.N]) older than
 * this was left by a recorder that died writing it. */
#define PARTIAL_STALE_S 3600

/* Takes the least recently used images out of dir while it holds more
 * than the limit, and the temporary files of stores that never ended. */
static void trim(const char *dir, uint64_t max_bytes)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct vec files = { 0 };
	uint64_t total = 0;
	time_t now = time(NULL);
	for (struct dirent *ent; (ent = readdir(d));) {
		size_t n = strlen(ent->d_name);
		struct stat st;
		if (fstatat(dirfd(d), ent->d_name, &st, AT_SYMLINK_NOFOLLOW) || !S_ISREG(st.st_mode))
			continue;
		if (strstr(ent->d_name, SUFFIX ".partial") && now - st.st_mtime > PARTIAL_STALE_S) {
			unlinkat(dirfd(d), ent->d_name, 0);
			continue;
		}
		if (n <= strlen(SUFFIX) || n >= sizeof(((struct kept *)0)->name) ||
		    strcmp(ent->d_name + n - strlen(SUFFIX), SUFFIX) != 0)
			continue;
		struct kept *k = vec_push(&files, sizeof(*k));
		if (!k)
			break;
		memcpy(k->name, ent->d_name, n + 1);
		k->size = (uint64_t)st.st_size;
		k->used = st.st_mtim;
		total += k->size;
	}
	struct kept *k = files.data;
	qsort(k, files.count, sizeof(*k), least_recent_first);
	for (uint32_t i = 0; i < files.count && total > max_bytes; i++)
		if (unlinkat(dirfd(d), k[i].name, 0) == 0)
			total -= k[i].size;
	vec_release(&files);
	closedir(d);
}

/* dir and those above it that are missing (~/.cache may not be there yet). */
static bool make_directories(char *dir)
{
	for (char *slash = strchr(dir + 1, '/');; slash = strchr(slash + 1, '/')) {
		if (slash)
			*slash = '\0';
		bool made = mkdir(dir, 0700) == 0 || errno == EEXIST;
		if (!slash)
			return made;
		*slash = '/';
	}
}

void dwarf_cache_store(const struct dwarf_cache_entry *e, const unsigned char *image, uint64_t size)
{
	char path[4096], dir[4096];
	uint64_t max_bytes = e && e->max_bytes ? e->max_bytes : DWARF_CACHE_MAX_BYTES;
	if (!path_of(e, path, sizeof(path)) || size > max_bytes / 2 || !image_is_whole(image, size))
		return;
	snprintf(dir, sizeof(dir), "%s/" SUBDIR, e->dir);
	if (!make_directories(dir))
		return;
	struct output_file out;
	if (output_file_open(&out, path))
		return;
	bool written = true;
	for (uint64_t at = 0; written && at < size;) {
		ssize_t n = write(out.fd, image + at, size - at);
		if (n > 0)
			at += (uint64_t)n;
		else
			written = n < 0 && errno == EINTR;
	}
	written = written && output_file_commit(&out) == 0;
	output_file_release(&out, false);
	if (written)
		trim(dir, max_bytes);
}
