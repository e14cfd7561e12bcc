/* Names a profile's addresses: ELF files through libdwfl (inline chains and
 * lines from DWARF, else the symbol tables), the kernel from /proc/kallsyms,
 * JIT code from /tmp/perf-PID.map.  Every file is opened once, every
 * location looked up once; files and lookups noted while recording are done
 * then, off the path from the end of sampling to the output. */
#include <stdio.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "symbolizer/symbolizer-internal.h"

struct open_file {
	pid_t pid;
	char *path;
	char *build_id;            /* the mapping's, hex; "" if unknown */
	uint64_t start, end;       /* a mapping of it, for /proc/PID/map_files */
	bool opened;
	struct elf_file *f;        /* NULL: not opened yet, or could not be used */
	enum symbolizer_error why; /* why f is NULL, or it named nothing */
	bool unnamed;              /* a location in it stayed unnamed */
};

struct shown_name {
	const char *name; /* as the file has it */
	char *shown;
};

/* A location seen while recording, to look up before symbolizer_run asks. */
struct noted_address {
	uint32_t file;   /* in files */
	uint64_t offset; /* in the file */
};

/* The JIT symbols of a process (/tmp/perf-PID.map). */
struct jit_map {
	pid_t pid;
	struct symbol_table table;
};

struct symbolizer {
	struct symbolizer_options o;
	struct debuginfo debuginfo;
	struct symbolizer_stats stats;
	struct vec files;  /* struct open_file */
	struct vec noted;  /* struct noted_address */
	bool kernel_noted;
	struct symbol_table kernel;
	bool kernel_loaded;
	struct vec jits; /* struct jit_map */
	struct vec names; /* struct shown_name: shown_name_cached's */
	struct id_hash name_index;
	struct profile *p; /* during symbolizer_run */
};

const char *symbolizer_strerror(enum symbolizer_error e)
{
	static const char *const messages[] = {
#define SYMBOLIZER_ERROR(name, msg) [SYMBOLIZER_E_##name] = msg,
		SYMBOLIZER_ERRORS
#undef SYMBOLIZER_ERROR
	};
	return (unsigned)e < SYMBOLIZER_E_COUNT ? messages[e] : "unknown error";
}

struct symbolizer *symbolizer_new(const struct symbolizer_options *o)
{
	struct symbolizer *z = calloc(1, sizeof(*z));
	if (!z)
		return NULL;
	z->o = *o;
	if (debuginfo_init(&z->debuginfo, o->debuginfo_path, o->debuginfod, o->dwarf_cache_dir)) {
		free(z);
		return NULL;
	}
	z->o.debuginfo_path = z->o.dwarf_cache_dir = NULL; /* the copies are the debuginfo's */
	elf_version(EV_CURRENT);
	return z;
}

void symbolizer_free(struct symbolizer *z)
{
	if (!z)
		return;
	struct open_file *files = z->files.data;
	for (uint32_t i = 0; i < z->files.count; i++) {
		elf_file_close(files[i].f);
		free(files[i].path);
		free(files[i].build_id);
	}
	vec_release(&z->files);
	vec_release(&z->noted);
	struct jit_map *jits = z->jits.data;
	for (uint32_t i = 0; i < z->jits.count; i++)
		symbol_table_release(&jits[i].table);
	vec_release(&z->jits);
	symbol_table_release(&z->kernel);
	struct shown_name *names = z->names.data;
	for (uint32_t i = 0; i < z->names.count; i++)
		free(names[i].shown);
	vec_release(&z->names);
	id_hash_release(&z->name_index);
	debuginfo_release(&z->debuginfo);
	free(z);
}

/* The name to show for a symbol or DWARF name: without an ELF symbol version
 * ("@@GLIBC_2.34"), demangled unless asked not to; malloc'd. */
static char *show_name(const struct symbolizer *z, const char *name)
{
	const char *at = name[0] ? strchr(name + 1, '@') : NULL;
	char *plain = at ? strndup(name, (size_t)(at - name)) : NULL;
	if (plain)
		name = plain;
	char *demangled = z->o.demangle ? symbol_demangle(name) : NULL;
	if (demangled) {
		free(plain);
		return demangled;
	}
	return plain ? plain : strdup(name);
}

static bool shown_eq(const void *ctx, uint32_t id, const void *key)
{
	const struct shown_name *n = ((const struct symbolizer *)ctx)->names.data;
	return n[id].name == *(const char *const *)key;
}

static uint64_t shown_rehash(const void *ctx, uint32_t id)
{
	const struct shown_name *n = ((const struct symbolizer *)ctx)->names.data;
	return hash_u64((uintptr_t)n[id].name);
}

/* show_name, once per name: a function met in many inline chains is
 * demangled once.  Keyed by the name's address, which stays valid while its
 * file is open (libdw's strings, the symbol tables'). */
static const char *shown_name_cached(struct symbolizer *z, const char *name)
{
	if (id_hash_reserve(&z->name_index, z->names.count, shown_rehash, z))
		return NULL;
	uint32_t *slot = id_hash_probe(&z->name_index, hash_u64((uintptr_t)name), shown_eq, z, &name);
	if (*slot)
		return ((struct shown_name *)z->names.data)[*slot - 1].shown;
	char *shown = show_name(z, name);
	struct shown_name *n = shown ? vec_push(&z->names, sizeof(*n)) : NULL;
	if (!n) {
		free(shown);
		return NULL;
	}
	*n = (struct shown_name){ name, shown };
	*slot = z->names.count;
	return shown;
}

/* Whether files[i] is mapping m's file as pid sees it.  A build-id names
 * the bytes, wherever and by whoever they are mapped: one libc for every
 * process of a host (-a), opened once; one that some other process could
 * not open is tried again for this one.  Without a build-id, a file is
 * pid's path. */
static bool same_file(const struct open_file *of, pid_t pid, const char *path, const char *build_id)
{
	if (*build_id)
		return (strcmp(of->build_id, build_id) == 0 ||
			(of->f && strcmp(elf_file_build_id(of->f), build_id) == 0)) && /* learned from the file */
		       (of->f || !of->opened || of->pid == pid);
	return of->pid == pid && strcmp(of->path, path) == 0 && !*of->build_id;
}

/* The index in z->files of mapping m's file as pid sees it (added, not yet
 * opened, if new); -1 when out of memory. */
static int64_t file_index(struct symbolizer *z, const struct profile *p, pid_t pid, const struct mapping *m)
{
	const char *path = string_table_get(&p->strings, m->path);
	const char *build_id = string_table_get(&p->strings, m->build_id);
	struct open_file *files = z->files.data;
	for (uint32_t i = 0; i < z->files.count; i++)
		if (same_file(&files[i], pid, path, build_id))
			return i;
	char *path_copy = strdup(path), *build_id_copy = strdup(build_id);
	struct open_file *of = path_copy && build_id_copy ? vec_push(&z->files, sizeof(*of)) : NULL;
	if (!of) {
		free(path_copy);
		free(build_id_copy);
		return -1;
	}
	*of = (struct open_file){ pid, path_copy, build_id_copy, m->start, m->end, false, NULL, SYMBOLIZER_E_OK, false };
	return z->files.count - 1;
}

static struct elf_file *file_opened(struct symbolizer *z, uint32_t i)
{
	struct open_file *of = (struct open_file *)z->files.data + i;
	if (!of->opened) {
		of->opened = true;
		of->f = elf_file_open(&z->debuginfo, of->pid, of->path, of->build_id, of->start, of->end, &of->why);
		if (of->f)
			z->stats.files++;
		else
			z->stats.files_missing++;
	}
	return of->f;
}

static bool is_anonymous(const char *path)
{
	return !*path || strcmp(path, "//anon") == 0 || strncmp(path, "[anon", 5) == 0 ||
	       strncmp(path, "/memfd:", 7) == 0;
}

static bool is_kernel(const char *path)
{
	return strcmp(path, SYMBOLIZER_KERNEL_PATH) == 0;
}

int symbolizer_note_locations(struct symbolizer *z, const struct profile *p, const pid_t *mapping_pids,
			      uint32_t npids, uint32_t *cursor)
{
	for (; *cursor < p->locations.count; ++*cursor) {
		const struct location *l = (const struct location *)p->locations.data + *cursor;
		if (l->nlines || l->mapping == PROFILE_NONE)
			continue;
		const struct mapping *m = (const struct mapping *)p->mappings.data + l->mapping;
		const char *path = string_table_get(&p->strings, m->path);
		if (is_kernel(path)) {
			z->kernel_noted = true;
			continue;
		}
		if (is_anonymous(path))
			continue;
		int64_t fi = file_index(z, p, l->mapping < npids ? mapping_pids[l->mapping] : 0, m);
		struct noted_address *a = fi < 0 ? NULL : vec_push(&z->noted, sizeof(*a));
		if (!a)
			return -SYMBOLIZER_E_NOMEM;
		*a = (struct noted_address){ (uint32_t)fi, l->address - m->start + m->offset };
	}
	return 0;
}

static int load_kernel(struct symbolizer *z)
{
	if (z->kernel_loaded)
		return 0;
	z->kernel_loaded = true;
	return kallsyms_load(&z->kernel, &z->stats.kernel_restricted) ? -SYMBOLIZER_E_NOMEM : 0;
}

/* The inline chain at a file offset of file fi, which is opened if it was
 * not; the number of frames (0: nothing known). */
static int file_chain(struct symbolizer *z, uint32_t fi, uint64_t offset, struct inline_frame *frames)
{
	struct elf_file *f = file_opened(z, fi);
	uint64_t vaddr;
	return f && elf_file_vaddr(f, offset, &vaddr) ? elf_file_lookup(f, vaddr, frames, INLINE_MAX_FRAMES) : 0;
}

static int noted_cmp(const void *a, const void *b)
{
	const struct noted_address *x = a, *y = b;
	if (x->file != y->file)
		return (x->file > y->file) - (x->file < y->file);
	return (x->offset > y->offset) - (x->offset < y->offset);
}

/* Each file's noted addresses readied at once, on several threads. */
struct file_work {
	struct elf_file *f;
	const uint64_t *vaddrs;
	uint32_t n;
};

struct files_work {
	struct file_work *files; /* most addresses first */
	uint32_t count;
	atomic_uint next;
};

static void prepare_some_files(void *arg, unsigned share)
{
	(void)share;
	struct files_work *w = arg;
	for (uint32_t i; (i = atomic_fetch_add(&w->next, 1)) < w->count;)
		elf_file_prepare(w->files[i].f, w->files[i].vaddrs, w->files[i].n);
}

static int most_addresses_first(const void *a, const void *b)
{
	const struct file_work *x = a, *y = b;
	return (x->n < y->n) - (x->n > y->n);
}

/* Each file's noted addresses looked up ahead, files side by side: the small
 * ones (the C library, the loader) while the large one waits for its DWARF
 * to be inflated. */
static void prepare_files(struct symbolizer *z)
{
	struct noted_address *a = z->noted.data;
	uint64_t *vaddrs = z->noted.count ? malloc(z->noted.count * sizeof(*vaddrs)) : NULL;
	struct files_work w = { vaddrs ? calloc(z->noted.count, sizeof(*w.files)) : NULL, 0, 0 };
	if (!w.files) {
		free(vaddrs);
		return;
	}
	qsort(a, z->noted.count, sizeof(*a), noted_cmp);
	for (uint32_t i = 0, end, at = 0; i < z->noted.count; i = end) {
		struct elf_file *f = file_opened(z, a[i].file);
		uint32_t n = 0;
		for (end = i; end < z->noted.count && a[end].file == a[i].file; end++)
			if (f && elf_file_vaddr(f, a[end].offset, &vaddrs[at + n]))
				n++;
		if (f && n)
			w.files[w.count++] = (struct file_work){ f, vaddrs + at, n };
		at += n;
	}
	qsort(w.files, w.count, sizeof(*w.files), most_addresses_first);
	/* Two files at a time: each spreads its own work over the cores. */
	parallel_run(w.count > 1 ? 2 : 1, prepare_some_files, &w);
	free(w.files);
	free(vaddrs);
}

void symbolizer_prepare_noted(struct symbolizer *z)
{
	if (z->kernel_noted)
		load_kernel(z);
	prepare_files(z);
	const struct noted_address *a = z->noted.data;
	for (uint32_t i = 0; i < z->noted.count; i++) {
		struct inline_frame frames[INLINE_MAX_FRAMES];
		/* The answer and its names are cached for symbolizer_run. */
		int n = file_chain(z, a[i].file, a[i].offset, frames);
		for (int k = 0; k < n; k++)
			shown_name_cached(z, frames[k].name);
	}
	z->noted.count = 0;
}

static int64_t intern_name(struct symbolizer *z, const char *name)
{
	const char *shown = shown_name_cached(z, name);
	return shown ? profile_string(z->p, shown) : -SYMBOLIZER_E_NOMEM;
}

/* Sets location l's inline chain from frames given innermost first. */
static int set_chain(struct symbolizer *z, uint32_t l, const struct inline_frame *frames, int n)
{
	struct line lines[INLINE_MAX_FRAMES];
	for (int i = 0; i < n; i++) {
		const struct inline_frame *fr = &frames[n - 1 - i];
		int64_t name = intern_name(z, fr->name);
		int64_t file = fr->file ? profile_string(z->p, fr->file) : 0;
		if (name < 0 || file < 0)
			return -SYMBOLIZER_E_NOMEM;
		int64_t fn = profile_intern_function(z->p, (uint32_t)name, (uint32_t)file);
		if (fn < 0)
			return (int)fn;
		lines[i] = (struct line){ (uint32_t)fn, fr->line };
	}
	int err = profile_set_location_lines(z->p, l, lines, (uint32_t)n);
	if (!err)
		z->stats.named++;
	return err;
}

static const struct symbol_table *jit_table(struct symbolizer *z, pid_t pid)
{
	struct jit_map *jits = z->jits.data;
	for (uint32_t i = 0; i < z->jits.count; i++)
		if (jits[i].pid == pid)
			return &jits[i].table;
	struct jit_map *j = vec_push(&z->jits, sizeof(*j));
	if (!j)
		return NULL;
	memset(j, 0, sizeof(*j));
	j->pid = pid;
	/* The target's user, from its /proc entry; root only if it is gone. */
	uid_t uid = 0;
	process_owner(pid, &uid);
	bool ignored;
	if (jit_map_load(&j->table, pid, uid, &ignored))
		return NULL;
	if (ignored)
		z->stats.jit_maps_ignored++;
	return &j->table;
}

static int symbolize_location(struct symbolizer *z, uint32_t i, const pid_t *mapping_pids, uint32_t npids)
{
	const struct location *l = profile_location(z->p, i);
	if (l->nlines || l->mapping == PROFILE_NONE)
		return 0;
	z->stats.locations++;
	uint64_t address = l->address;
	uint32_t mi = l->mapping;
	const struct mapping *m = profile_mapping(z->p, mi);
	const char *path = string_table_get(&z->p->strings, m->path);
	pid_t pid = mi < npids ? mapping_pids[mi] : 0;
	struct inline_frame frames[INLINE_MAX_FRAMES];
	if (is_kernel(path)) {
		if (load_kernel(z))
			return -SYMBOLIZER_E_NOMEM;
		const struct symbol *s = symbol_table_find(&z->kernel, address);
		if (!s)
			return 0;
		frames[0] = (struct inline_frame){ s->name, NULL, 0 };
		return set_chain(z, i, frames, 1);
	}
	if (is_anonymous(path)) {
		const struct symbol_table *t = pid > 0 ? jit_table(z, pid) : NULL;
		const struct symbol *s = t ? symbol_table_find(t, address) : NULL;
		if (!s)
			return 0;
		frames[0] = (struct inline_frame){ s->name, NULL, 0 };
		return set_chain(z, i, frames, 1);
	}
	int64_t fi = file_index(z, z->p, pid, m);
	if (fi < 0)
		return -SYMBOLIZER_E_NOMEM;
	int n = file_chain(z, (uint32_t)fi, address - m->start + m->offset, frames);
	struct elf_file *f = ((struct open_file *)z->files.data)[fi].f;
	if (f && !m->build_id && *elf_file_build_id(f)) {
		int64_t bid = profile_string(z->p, elf_file_build_id(f));
		if (bid < 0)
			return (int)bid;
		profile_mapping(z->p, mi)->build_id = (uint32_t)bid;
	}
	struct open_file *of = (struct open_file *)z->files.data + fi;
	/* No symbols: named at best by inference, which the notes say too. */
	if (n <= 0 || (of->f && !elf_file_has_symbols(of->f)))
		of->unnamed = true;
	return n > 0 ? set_chain(z, i, frames, n) : 0;
}

/* Why each file that left addresses unnamed did. */
static void explain_unnamed(struct symbolizer *z)
{
	struct open_file *files = z->files.data;
	for (uint32_t i = 0; i < z->files.count; i++)
		if (files[i].unnamed && files[i].f)
			files[i].why = elf_file_has_symbols(files[i].f) ? SYMBOLIZER_E_OK : SYMBOLIZER_E_NO_SYMBOLS;
}

uint32_t symbolizer_file_notes(const struct symbolizer *z, struct symbolizer_file_note *out, uint32_t max)
{
	const struct open_file *files = z->files.data;
	uint32_t n = 0;
	for (uint32_t i = 0; i < z->files.count; i++) {
		if (!files[i].unnamed || files[i].why == SYMBOLIZER_E_OK)
			continue;
		if (n < max)
			out[n] = (struct symbolizer_file_note){ files[i].path, files[i].why };
		n++;
	}
	return n;
}

int symbolizer_run(struct symbolizer *z, struct profile *p, const pid_t *mapping_pids, uint32_t npids,
		   struct symbolizer_stats *stats)
{
	z->p = p;
	z->stats.locations = z->stats.named = 0;
	/* What is left to look up, readied file by file on several threads. */
	uint32_t cursor = 0;
	int err = symbolizer_note_locations(z, p, mapping_pids, npids, &cursor);
	if (!err)
		prepare_files(z);
	z->noted.count = 0;
	for (uint32_t i = 0; i < p->locations.count && !err; i++)
		err = symbolize_location(z, i, mapping_pids, npids);
	z->p = NULL;
	explain_unnamed(z);
	if (stats)
		*stats = z->stats;
	return err ? -SYMBOLIZER_E_NOMEM : 0;
}
