/* Names a profile's addresses: ELF files through libdwfl (inline chains and
 * lines from DWARF, else the symbol tables), the kernel from /proc/kallsyms,
 * JIT code from /tmp/perf-PID.map.  Every file is opened once, every
 * location looked up once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "symbolizer/symbolizer-internal.h"

struct open_file {
	pid_t pid;
	char *path;
	uint32_t build_id; /* the mapping's, a string id of the profile */
	struct elf_file *f; /* NULL: could not be used */
};

struct symbolizer {
	struct profile *p;
	const struct symbolizer_options *o;
	struct symbolizer_stats *stats;
	struct vec files; /* struct open_file */
	struct symbol_table kernel;
	bool kernel_loaded;
	struct jit_map {
		pid_t pid;
		struct symbol_table table;
	} *jits;
	uint32_t njits;
};

static struct elf_file *file_for(struct symbolizer *z, pid_t pid, const struct mapping *m)
{
	const char *path = string_table_get(&z->p->strings, m->path);
	struct open_file *files = z->files.data;
	for (uint32_t i = 0; i < z->files.count; i++)
		if (files[i].pid == pid && files[i].build_id == m->build_id && strcmp(files[i].path, path) == 0)
			return files[i].f;
	char *copy = strdup(path);
	struct open_file *of = copy ? vec_push(&z->files, sizeof(*of)) : NULL;
	if (!of) {
		free(copy);
		return NULL;
	}
	of->pid = pid;
	of->path = copy;
	of->build_id = m->build_id;
	of->f = elf_file_open(pid, path, string_table_get(&z->p->strings, m->build_id), m->start, m->end);
	if (of->f)
		z->stats->files++;
	else
		z->stats->files_missing++;
	return of->f;
}

/* The name to store: without an ELF symbol version ("@@GLIBC_2.34"),
 * demangled unless asked not to. */
static int64_t intern_name(struct symbolizer *z, const char *name)
{
	char plain[1024];
	const char *at = name[0] ? strchr(name + 1, '@') : NULL;
	if (at && (size_t)(at - name) < sizeof(plain)) {
		memcpy(plain, name, (size_t)(at - name));
		plain[at - name] = '\0';
		name = plain;
	}
	char *demangled = z->o->demangle ? symbol_demangle(name) : NULL;
	int64_t id = profile_string(z->p, demangled ? demangled : name);
	free(demangled);
	return id;
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
			return -PROFILE_E_NOMEM;
		int64_t fn = profile_intern_function(z->p, (uint32_t)name, (uint32_t)file);
		if (fn < 0)
			return (int)fn;
		lines[i] = (struct line){ (uint32_t)fn, fr->line };
	}
	int err = profile_set_location_lines(z->p, l, lines, (uint32_t)n);
	if (!err)
		z->stats->named++;
	return err;
}

static const struct symbol_table *jit_table(struct symbolizer *z, pid_t pid)
{
	for (uint32_t i = 0; i < z->njits; i++)
		if (z->jits[i].pid == pid)
			return &z->jits[i].table;
	struct jit_map *v = realloc(z->jits, (z->njits + 1) * sizeof(*v));
	if (!v)
		return NULL;
	z->jits = v;
	struct jit_map *j = &z->jits[z->njits++];
	memset(j, 0, sizeof(*j));
	j->pid = pid;
	/* The target's user, from its /proc entry; root only if it is gone. */
	char proc[32];
	struct stat st;
	snprintf(proc, sizeof(proc), "/proc/%d", (int)pid);
	uid_t uid = stat(proc, &st) == 0 ? st.st_uid : 0;
	bool ignored;
	if (jit_map_load(&j->table, pid, uid, &ignored))
		return NULL;
	if (ignored)
		z->stats->jit_maps_ignored++;
	return &j->table;
}

static bool is_anonymous(const char *path)
{
	return !*path || strcmp(path, "//anon") == 0 || strncmp(path, "[anon", 5) == 0 ||
	       strncmp(path, "/memfd:", 7) == 0;
}

static int symbolize_location(struct symbolizer *z, uint32_t i, const pid_t *mapping_pids, uint32_t npids)
{
	const struct location *l = profile_location(z->p, i);
	if (l->nlines || l->mapping == PROFILE_NONE)
		return 0;
	z->stats->locations++;
	uint64_t address = l->address;
	uint32_t mi = l->mapping;
	const struct mapping *m = profile_mapping(z->p, mi);
	const char *path = string_table_get(&z->p->strings, m->path);
	pid_t pid = mi < npids ? mapping_pids[mi] : 0;
	struct inline_frame frames[INLINE_MAX_FRAMES];
	if (strcmp(path, SYMBOLIZER_KERNEL_PATH) == 0) {
		if (!z->kernel_loaded) {
			z->kernel_loaded = true;
			if (kallsyms_load(&z->kernel, &z->stats->kernel_restricted))
				return -PROFILE_E_NOMEM;
		}
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
	struct elf_file *f = file_for(z, pid, m);
	if (!f)
		return 0;
	m = profile_mapping(z->p, mi);
	if (!m->build_id && *elf_file_build_id(f)) {
		int64_t bid = profile_string(z->p, elf_file_build_id(f));
		if (bid < 0)
			return (int)bid;
		profile_mapping(z->p, mi)->build_id = (uint32_t)bid;
	}
	uint64_t vaddr;
	if (!elf_file_vaddr(f, address - m->start + m->offset, &vaddr))
		return 0;
	int n = elf_file_lookup(f, vaddr, frames, INLINE_MAX_FRAMES);
	return n > 0 ? set_chain(z, i, frames, n) : 0;
}

int symbolize_profile(struct profile *p, const pid_t *mapping_pids, uint32_t npids,
		      const struct symbolizer_options *o, struct symbolizer_stats *stats)
{
	struct symbolizer_stats local;
	if (!stats)
		stats = &local;
	memset(stats, 0, sizeof(*stats));
	elf_version(EV_CURRENT);
	struct symbolizer z = { .p = p, .o = o, .stats = stats };
	int err = 0;

	for (uint32_t i = 0; i < p->locations.count && !err; i++)
		err = symbolize_location(&z, i, mapping_pids, npids);
	struct open_file *files = z.files.data;
	for (uint32_t i = 0; i < z.files.count; i++) {
		elf_file_close(files[i].f);
		free(files[i].path);
	}
	vec_release(&z.files);
	for (uint32_t i = 0; i < z.njits; i++)
		symbol_table_release(&z.jits[i].table);
	free(z.jits);
	symbol_table_release(&z.kernel);
	return err;
}
