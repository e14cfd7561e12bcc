/* Sorted symbol tables for what is not an ELF file: the kernel's
 * /proc/kallsyms and JIT compilers' /tmp/perf-PID.map files. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "symbolizer/symbolizer-internal.h"

#define MAX_SYMBOLS (1u << 24)
#define MAX_NAME 4096

int symbol_table_add(struct symbol_table *t, uint64_t addr, uint64_t size, const char *name, size_t len,
		     uint8_t rank)
{
	if (t->count >= MAX_SYMBOLS)
		return 0;
	if (len > MAX_NAME)
		len = MAX_NAME;
	if (t->names_len + len + 1 > t->names_cap) {
		size_t cap = t->names_cap ? t->names_cap * 2 : 1 << 16;
		while (cap < t->names_len + len + 1)
			cap *= 2;
		char *names = realloc(t->names, cap);
		if (!names)
			return -1;
		t->names = names;
		t->names_cap = cap;
	}
	if (t->count == t->cap) {
		uint32_t cap = t->cap ? t->cap * 2 : 1024;
		struct symbol *syms = realloc(t->syms, cap * sizeof(*syms));
		if (!syms)
			return -1;
		t->syms = syms;
		t->cap = cap;
	}
	memcpy(t->names + t->names_len, name, len);
	t->names[t->names_len + len] = '\0';
	/* An offset until the table is finished: names may still move. */
	t->syms[t->count++] = (struct symbol){ addr, size, (const char *)(uintptr_t)t->names_len, rank };
	t->names_len += len + 1;
	return 0;
}

/* By address; among aliases, the sized one, then global before weak before
 * local, then the shorter name (perf's choice), then by name, so that the
 * choice never depends on qsort's order. */
static int symbol_cmp(const void *a, const void *b)
{
	const struct symbol *x = a, *y = b;
	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	if ((x->size != 0) != (y->size != 0))
		return x->size ? -1 : 1;
	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	size_t lx = strlen(x->name), ly = strlen(y->name);
	if (lx != ly)
		return lx < ly ? -1 : 1;
	return strcmp(x->name, y->name);
}

void symbol_table_finish(struct symbol_table *t)
{
	for (uint32_t i = 0; i < t->count; i++)
		t->syms[i].name = t->names + (uintptr_t)t->syms[i].name;
	if (t->count > 1)
		qsort(t->syms, t->count, sizeof(*t->syms), symbol_cmp);
	uint32_t out = 0;
	for (uint32_t i = 0; i < t->count; i++)
		if (out == 0 || t->syms[out - 1].addr != t->syms[i].addr)
			t->syms[out++] = t->syms[i];
	t->count = out;
}

const struct symbol *symbol_table_find(const struct symbol_table *t, uint64_t addr)
{
	uint32_t lo = upper_bound_u64(t->syms, t->count, sizeof(*t->syms), offsetof(struct symbol, addr), addr);
	if (lo == 0)
		return NULL;
	const struct symbol *s = &t->syms[lo - 1];
	if (s->size ? addr < s->addr + s->size : (lo == t->count || addr < t->syms[lo].addr))
		return s;
	return NULL;
}

void symbol_table_release(struct symbol_table *t)
{
	free(t->syms);
	free(t->names);
	memset(t, 0, sizeof(*t));
}

int kallsyms_load(struct symbol_table *t, bool *restricted)
{
	FILE *f = fopen("/proc/kallsyms", "re");
	*restricted = true;
	if (!f)
		return 0;
	char line[512];
	while (fgets(line, sizeof(line), f)) {
		unsigned long long addr;
		char type, name[256];
		if (sscanf(line, "%llx %c %255s", &addr, &type, name) != 3)
			continue;
		if (type != 't' && type != 'T' && type != 'w' && type != 'W')
			continue;
		if (addr)
			*restricted = false;
		if (addr && symbol_table_add(t, addr, 0, name, strlen(name), type == 'T' || type == 't' ? 0 : 1)) {
			fclose(f);
			return -1;
		}
	}
	fclose(f);
	symbol_table_finish(t);
	return 0;
}

int jit_map_load(struct symbol_table *t, pid_t pid, uid_t uid, bool *ignored)
{
	char path[64];
	snprintf(path, sizeof(path), "/tmp/perf-%d.map", (int)pid);
	*ignored = false;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return 0;
	struct stat st;
	/* Another user's file could name any code anything: trust only the
	 * target's own files, and root's. */
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || (st.st_uid != uid && st.st_uid != 0)) {
		*ignored = true;
		close(fd);
		return 0;
	}
	FILE *f = fdopen(fd, "re");
	if (!f) {
		close(fd);
		return -1;
	}
	char line[MAX_NAME + 64];
	int err = 0;
	while (!err && fgets(line, sizeof(line), f)) {
		unsigned long long start, size;
		int name_at = 0;
		if (sscanf(line, "%llx %llx %n", &start, &size, &name_at) < 2 || !name_at)
			continue;
		char *name = line + name_at;
		size_t len = strcspn(name, "\n");
		if (len)
			err = symbol_table_add(t, start, size, name, len, 0);
	}
	fclose(f);
	symbol_table_finish(t);
	return err;
}
