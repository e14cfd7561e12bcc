/* Names a profile's addresses from ELF symbol tables and /proc/kallsyms. */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "symbolizer/symbolizer.h"

#define MAX_SYMBOLS (1u << 24)

struct symbol {
	uint64_t addr, size;
	const char *name; /* into the owner's name arena */
};

/* The function symbols of one file (or of the kernel), sorted by address. */
struct symbol_table {
	struct symbol *syms;
	uint32_t count, cap;
	char *names;
	size_t names_len, names_cap;
};

struct elf_file {
	dev_t dev;
	ino_t ino;
	bool ok;
	struct symbol_table symbols;
	GElf_Phdr *loads; /* PT_LOAD program headers */
	uint32_t nloads;
	char build_id[128];
};

static int symbol_push(struct symbol_table *t, uint64_t addr, uint64_t size, const char *name)
{
	if (t->count >= MAX_SYMBOLS)
		return 0;
	size_t len = strlen(name);
	if (t->names_len + len + 1 > t->names_cap) {
		size_t cap = t->names_cap ? t->names_cap * 2 : 1 << 16;
		while (cap < t->names_len + len + 1)
			cap *= 2;
		char *names = realloc(t->names, cap);
		if (!names)
			return -1;
		/* Names are stored as offsets until the table is sorted. */
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
	memcpy(t->names + t->names_len, name, len + 1);
	t->syms[t->count++] = (struct symbol){ addr, size, (const char *)(uintptr_t)t->names_len };
	t->names_len += len + 1;
	return 0;
}

static int symbol_cmp(const void *a, const void *b)
{
	const struct symbol *x = a, *y = b;
	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	/* Prefer the sized symbol, then the shorter (less decorated) name. */
	return (x->size < y->size) - (x->size > y->size);
}

/* Sorts, turns offsets into pointers, and drops duplicates of an address. */
static void symbol_table_finish(struct symbol_table *t)
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

static void symbol_table_release(struct symbol_table *t)
{
	free(t->syms);
	free(t->names);
	memset(t, 0, sizeof(*t));
}

/* The symbol containing addr: sized symbols by their size, unsized ones up
 * to the next symbol. */
static const struct symbol *symbol_find(const struct symbol_table *t, uint64_t addr)
{
	uint32_t lo = 0, hi = t->count;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (t->syms[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	const struct symbol *s = &t->syms[lo - 1];
	if (s->size ? addr < s->addr + s->size : (lo == t->count || addr < t->syms[lo].addr))
		return s;
	return NULL;
}

static void read_symbols(Elf *elf, struct elf_file *f)
{
	Elf_Scn *scn = NULL;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		if (!gelf_getshdr(scn, &sh))
			continue;
		if (sh.sh_type == SHT_NOTE && !f->build_id[0]) {
			Elf_Data *d = elf_getdata(scn, NULL);
			size_t off = 0, name_off, desc_off;
			GElf_Nhdr nh;
			while (d && off < d->d_size && (off = gelf_getnote(d, off, &nh, &name_off, &desc_off)) > 0) {
				if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
				    memcmp((char *)d->d_buf + name_off, "GNU", 4) == 0 && nh.n_descsz <= 60) {
					for (size_t i = 0; i < nh.n_descsz; i++)
						snprintf(f->build_id + 2 * i, 3, "%02x",
							 ((unsigned char *)d->d_buf)[desc_off + i]);
				}
			}
			continue;
		}
		if (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM)
			continue;
		Elf_Data *d = elf_getdata(scn, NULL);
		if (!d || !sh.sh_entsize)
			continue;
		size_t n = sh.sh_size / sh.sh_entsize;
		for (size_t i = 0; i < n; i++) {
			GElf_Sym sym;
			if (!gelf_getsym(d, (int)i, &sym))
				break;
			int type = GELF_ST_TYPE(sym.st_info);
			if ((type != STT_FUNC && type != STT_GNU_IFUNC) || sym.st_shndx == SHN_UNDEF ||
			    sym.st_value == 0)
				continue;
			const char *name = elf_strptr(elf, sh.sh_link, sym.st_name);
			if (!name || !*name)
				continue;
			if (symbol_push(&f->symbols, sym.st_value, sym.st_size, name))
				return;
		}
	}
}

static void elf_file_load(struct elf_file *f, int fd)
{
	Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF) {
		if (elf)
			elf_end(elf);
		return;
	}
	size_t phnum;
	if (elf_getphdrnum(elf, &phnum) == 0 && phnum < 4096) {
		f->loads = calloc(phnum ? phnum : 1, sizeof(*f->loads));
		for (size_t i = 0; f->loads && i < phnum; i++) {
			GElf_Phdr ph;
			if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_LOAD)
				f->loads[f->nloads++] = ph;
		}
	}
	read_symbols(elf, f);
	symbol_table_finish(&f->symbols);
	f->ok = f->nloads > 0;
	elf_end(elf);
}

bool elf_build_id(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	struct elf_file f = { 0 };
	elf_version(EV_CURRENT);
	elf_file_load(&f, fd);
	close(fd);
	bool ok = f.build_id[0] != '\0';
	if (ok)
		snprintf(buf, len, "%s", f.build_id);
	symbol_table_release(&f.symbols);
	free(f.loads);
	return ok;
}

/* A file's virtual address for an offset in the file, through its loads. */
static bool file_offset_to_vaddr(const struct elf_file *f, uint64_t off, uint64_t *vaddr)
{
	for (uint32_t i = 0; i < f->nloads; i++) {
		const GElf_Phdr *ph = &f->loads[i];
		if (off >= ph->p_offset && off < ph->p_offset + ph->p_filesz) {
			*vaddr = off - ph->p_offset + ph->p_vaddr;
			return true;
		}
	}
	return false;
}

struct file_cache {
	struct elf_file **files;
	uint32_t count, cap;
};

/* Opens path as process pid sees it (its root: containers), and returns the
 * parsed file, shared by every process that maps the same inode. */
static struct elf_file *file_cache_get(struct file_cache *c, pid_t pid, const char *path,
				       struct symbolizer_stats *st)
{
	if (path[0] != '/')
		return NULL;
	char buf[4200];
	int fd = -1;
	if (pid > 0) {
		snprintf(buf, sizeof(buf), "/proc/%d/root%s", (int)pid, path);
		fd = open(buf, O_RDONLY | O_CLOEXEC);
	}
	if (fd < 0)
		fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	if (fd < 0 || fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
		if (fd >= 0)
			close(fd);
		st->files_missing++;
		return NULL;
	}
	for (uint32_t i = 0; i < c->count; i++)
		if (c->files[i]->dev == sb.st_dev && c->files[i]->ino == sb.st_ino) {
			close(fd);
			return c->files[i];
		}
	struct elf_file *f = calloc(1, sizeof(*f));
	if (!f || (c->count == c->cap && !(c->files = realloc(c->files, (c->cap = c->cap ? c->cap * 2 : 16) *
									      sizeof(*c->files))))) {
		free(f);
		close(fd);
		return NULL;
	}
	f->dev = sb.st_dev;
	f->ino = sb.st_ino;
	elf_file_load(f, fd);
	close(fd);
	c->files[c->count++] = f;
	st->files++;
	return f;
}

static void file_cache_release(struct file_cache *c)
{
	for (uint32_t i = 0; i < c->count; i++) {
		symbol_table_release(&c->files[i]->symbols);
		free(c->files[i]->loads);
		free(c->files[i]);
	}
	free(c->files);
}

static int load_kallsyms(struct symbol_table *t, bool *restricted)
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
		if (addr && symbol_push(t, addr, 0, name)) {
			fclose(f);
			return -1;
		}
	}
	fclose(f);
	symbol_table_finish(t);
	return 0;
}

static int name_location(struct profile *p, uint32_t loc, const char *name)
{
	int64_t s = profile_string(p, name);
	if (s < 0)
		return (int)s;
	int64_t fn = profile_intern_function(p, (uint32_t)s, 0);
	if (fn < 0)
		return (int)fn;
	struct line line = { (uint32_t)fn, 0 };
	return profile_set_location_lines(p, loc, &line, 1);
}

int symbolize_profile(struct profile *p, const pid_t *mapping_pids, uint32_t npids,
		      const struct symbolizer_options *o, struct symbolizer_stats *stats)
{
	(void)o;
	struct symbolizer_stats local;
	if (!stats)
		stats = &local;
	memset(stats, 0, sizeof(*stats));
	elf_version(EV_CURRENT);
	struct file_cache cache = { 0 };
	struct symbol_table kernel = { 0 };
	bool kernel_loaded = false;
	struct elf_file **by_mapping = calloc(p->mappings.count + 1, sizeof(*by_mapping));
	bool *looked = calloc(p->mappings.count + 1, sizeof(*looked));
	int err = by_mapping && looked ? 0 : -PROFILE_E_NOMEM;
	for (uint32_t i = 0; i < p->locations.count && !err; i++) {
		struct location *l = profile_location(p, i);
		if (l->nlines || l->mapping == PROFILE_NONE)
			continue;
		stats->locations++;
		const struct mapping *m = profile_mapping(p, l->mapping);
		const char *path = string_table_get(&p->strings, m->path);
		if (strcmp(path, SYMBOLIZER_KERNEL_PATH) == 0) {
			if (!kernel_loaded) {
				kernel_loaded = true;
				if (load_kallsyms(&kernel, &stats->kernel_restricted))
					err = -PROFILE_E_NOMEM;
			}
			const struct symbol *s = symbol_find(&kernel, l->address);
			if (s && !(err = name_location(p, i, s->name)))
				stats->named++;
			continue;
		}
		if (!looked[l->mapping]) {
			looked[l->mapping] = true;
			pid_t pid = l->mapping < npids ? mapping_pids[l->mapping] : 0;
			by_mapping[l->mapping] = file_cache_get(&cache, pid, path, stats);
			struct elf_file *f = by_mapping[l->mapping];
			if (f && f->build_id[0] && !m->build_id) {
				int64_t bid = profile_string(p, f->build_id);
				if (bid < 0)
					err = (int)bid;
				else
					profile_mapping(p, l->mapping)->build_id = (uint32_t)bid;
			}
		}
		struct elf_file *f = by_mapping[l->mapping];
		uint64_t vaddr;
		m = profile_mapping(p, l->mapping);
		if (!f || !f->ok || !file_offset_to_vaddr(f, l->address - m->start + m->offset, &vaddr))
			continue;
		const struct symbol *s = symbol_find(&f->symbols, vaddr);
		/* l may have moved if the location table grew: take it again */
		if (s && !(err = name_location(p, i, s->name)))
			stats->named++;
	}
	free(by_mapping);
	free(looked);
	symbol_table_release(&kernel);
	file_cache_release(&cache);
	return err;
}
