/* Lookups done ahead: a file's noted addresses grouped by CU, each CU's
 * index and chains made on several threads at once (each with its own
 * reader of the DWARF), and the line tables read while the DWARF is
 * still being inflated. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "symbolizer/elf_file-internal.h"

/* The line tables of an image's .debug_line, read while its .debug_info
 * is still being inflated (by one thread, while the others have nothing
 * left to do), as many as there is time for: a CU's is taken from here,
 * not read again. */
struct early_lines {
	uint32_t count;
	struct early_table {
		uint64_t offset;
		struct line_table table;
		atomic_bool taken;
	} tables[];
};

void early_lines_free(struct early_lines *e)
{
	for (uint32_t i = 0; e && i < e->count; i++)
		if (!e->tables[i].taken)
			line_table_release(&e->tables[i].table);
	free(e);
}

void early_lines_read(void *arg, const struct dwarf_image_section *sections, uint32_t count,
			     const atomic_bool *info_in)
{
	struct line_sections ls = { 0 };
	for (uint32_t i = 0; i < count; i++) {
		if (strcmp(sections[i].name, ".debug_line") == 0)
			ls.line = sections[i].bytes, ls.line_size = sections[i].size;
		else if (strcmp(sections[i].name, ".debug_str") == 0)
			ls.str = sections[i].bytes, ls.str_size = sections[i].size;
		else if (strcmp(sections[i].name, ".debug_line_str") == 0)
			ls.line_str = sections[i].bytes, ls.line_str_size = sections[i].size;
	}
	struct elf_file *f = arg;
	uint32_t n = 0;
	for (uint64_t off = 0; ls.line && off < ls.line_size && (off = line_table_next(&ls, off));)
		n++;
	/* Worth it only when most programs will be used: not for the C
	 * library's 2,063 and the few hundred addresses a program has in it. */
	if (n > f->addresses_ahead)
		return;
	struct early_lines *e = n ? malloc(sizeof(*e) + (n + 1) * sizeof(e->tables[0])) : NULL;
	if (!e)
		return;
	e->count = 0;
	/* Until .debug_info is in (then a CU reads its own, when it needs it);
	 * 8-byte addresses: images are of 64-bit files. */
	for (uint64_t off = 0, next; e->count <= n && off < ls.line_size && !*info_in; off = next) {
		next = line_table_next(&ls, off);
		struct early_table *t = &e->tables[e->count];
		t->offset = off;
		atomic_init(&t->taken, false);
		if (line_table_read(&t->table, &ls, off, 8, NULL) == 0)
			e->count++;
		if (!next)
			break;
	}
	f->early = e;
}

/* The early table of the program at offset, now the caller's; false if
 * there is none (or another CU took it). */
bool early_lines_take(struct early_lines *e, uint64_t offset, struct line_table *out)
{
	if (!e)
		return false;
	uint32_t i = lower_bound_u64(e->tables, e->count, sizeof(e->tables[0]), offsetof(struct early_table, offset), offset);
	if (i == e->count || e->tables[i].offset != offset || atomic_exchange(&e->tables[i].taken, true))
		return false;
	*out = e->tables[i].table;
	return true;
}

/* One CU's share of elf_file_prepare: its index, and its addresses' chains
 * (frames[first[k]..] for address k, counts[k] of them). */
struct cu_job {
	struct cu_index ix;
	const struct cu_address *first; /* its addresses */
	uint32_t count;
	bool ok;
	struct vec frames; /* struct inline_frame */
	uint32_t *counts;
};

struct prepare_work {
	struct elf_file *f; /* read only while the work runs (symbols loaded first) */
	struct cu_job *jobs;
	uint32_t njobs;
	atomic_uint next;
};

static int cu_address_cmp(const void *a, const void *b)
{
	const struct cu_address *x = a, *y = b;
	if (x->cu != y->cu)
		return (x->cu > y->cu) - (x->cu < y->cu);
	return (x->addr > y->addr) - (x->addr < y->addr);
}

/* Looks up a CU's addresses through dbg, into the job. */
static bool cu_job_run(struct elf_file *f, struct cu_job *job, Dwarf *dbg)
{
	Dwarf_Die cudie;
	job->ix.cu = job->first->cu;
	job->counts = calloc(job->count, sizeof(*job->counts));
	if (!job->counts || !dwarf_offdie(dbg, job->ix.cu, &cudie))
		return false;
	Dwarf_Die unit = cu_unit_die(&cudie);
	if (cu_index_build(&job->ix, &unit, WALK_OUTSIDE))
		return false;
	/* The functions' scopes are walked only where these are. */
	job->ix.targets = job->first;
	job->ix.ntargets = job->count;
	bool ok = true;
	for (uint32_t k = 0; k < job->count && ok; k++) {
		struct inline_frame chain[INLINE_MAX_FRAMES];
		Dwarf_Addr addr = job->first[k].addr;
		int n = cu_chain(f, &job->ix, &cudie, addr, chain, INLINE_MAX_FRAMES);
		n = elf_file_named_chain(f, addr + f->dwarf_bias, chain, n);
		for (int i = 0; i < n && ok; i++) {
			struct inline_frame *fr = vec_push(&job->frames, sizeof(*fr));
			if ((ok = fr != NULL))
				*fr = chain[i];
		}
		job->counts[k] = (uint32_t)n;
	}
	job->ix.targets = NULL;
	return ok;
}

/* Takes CUs until none is left, through dbg (this thread's own reader). */
static void prepare_cus(struct prepare_work *w, Dwarf *dbg)
{
	for (uint32_t i; (i = atomic_fetch_add(&w->next, 1)) < w->njobs;)
		w->jobs[i].ok = cu_job_run(w->f, &w->jobs[i], dbg);
}

/* Share 0 reads with the file's own handle, the others each with a reader of their own. */
static void prepare_share(void *arg, unsigned share)
{
	struct prepare_work *w = arg;
	prepare_cus(w, share ? w->f->readers[share - 1] : w->f->dwarf);
}

/* The addresses' CUs not indexed yet, one job each (addrs sorted by CU). */
static uint32_t cu_jobs(struct elf_file *f, struct cu_address *addrs, uint32_t n, struct cu_job **jobs)
{
	uint32_t kept = 0, njobs = 0;
	for (uint32_t i = 0; i < n; i++) {
		Dwarf_Die cudie;
		if (!elf_file_cu_die(f, addrs[i].addr, &cudie))
			continue;
		Dwarf_Off cu = dwarf_dieoffset(&cudie);
		if (!cu_index_built(f, cu))
			addrs[kept++] = (struct cu_address){ cu, addrs[i].addr };
	}
	qsort(addrs, kept, sizeof(*addrs), cu_address_cmp);
	for (uint32_t i = 0; i < kept; i++)
		njobs += i == 0 || addrs[i].cu != addrs[i - 1].cu;
	*jobs = njobs ? calloc(njobs, sizeof(**jobs)) : NULL;
	if (!*jobs)
		return 0;
	for (uint32_t i = 0, j = 0; i < kept; i++) {
		if (i > 0 && addrs[i].cu == addrs[i - 1].cu) {
			(*jobs)[j - 1].count++;
			continue;
		}
		(*jobs)[j++] = (struct cu_job){ .first = &addrs[i], .count = 1 };
	}
	return njobs;
}

/* The jobs' indices and chains, kept for the lookups to come. */
static void prepare_keep(struct elf_file *f, struct cu_job *job)
{
	struct cu_index *kept = job->ok ? vec_push(&f->cus, sizeof(*kept)) : NULL;
	if (!kept) {
		cu_index_release(&job->ix);
		return;
	}
	*kept = job->ix;
	const struct inline_frame *frames = job->frames.data;
	for (uint32_t k = 0, at = 0; k < job->count; at += job->counts[k++]) {
		uint64_t vaddr = job->first[k].addr + f->dwarf_bias - f->bias;
		uint32_t *slot = chain_cache_slot(f, vaddr);
		if (slot && !*slot)
			chain_cache_put(f, slot, vaddr, frames + at, (int)job->counts[k]);
	}
}

/* A helper's reader first reads every unit's header up to its first CU's
 * (libdw finds a unit by offset no other way): 2,000 of them in libc's
 * DWARF, 5-10 ms, more than indexing a few CUs takes.  So a helper only
 * for this many CUs to index, or more. */
#define JOBS_PER_HELPER 8

/* A reader of f's DWARF for each helper thread, opened on the first call
 * (none if its DWARF cannot be shared) and kept with f: the file names of
 * the chains they look up live in them. */
static uint32_t prepare_readers(struct elf_file *f, uint32_t wanted)
{
	if (!f->readers_opened) {
		f->readers_opened = true;
		while (f->nreaders < wanted && f->nreaders < sizeof(f->readers) / sizeof(f->readers[0]) &&
		       (f->readers[f->nreaders] = dwarf_image_reader(f->dwarf)))
			f->nreaders++;
	}
	return f->nreaders < wanted ? f->nreaders : wanted;
}

void elf_file_prepare(struct elf_file *f, const uint64_t *vaddrs, uint32_t n)
{
	if (!f->dwarf_looked)
		f->addresses_ahead = n;
	if (n < 2 || !elf_file_has_dwarf(f))
		return;
	struct cu_address *addrs = malloc(n * sizeof(*addrs));
	if (!addrs)
		return;
	for (uint32_t i = 0; i < n; i++)
		addrs[i] = (struct cu_address){ 0, vaddrs[i] + f->bias - f->dwarf_bias };
	elf_file_symbol_at(f, 0); /* loaded now: the threads only read the symbol table */
	struct prepare_work w = { f, NULL, 0, 0 };
	w.njobs = cu_jobs(f, addrs, n, &w.jobs);
	if (w.njobs) {
		uint32_t wanted = w.njobs / JOBS_PER_HELPER, most = parallel_threads() - 1;
		uint32_t helpers = wanted ? prepare_readers(f, wanted < most ? wanted : most) : 0;
		parallel_run(1 + helpers, prepare_share, &w); /* helpers < njobs / 8: a job each at least */
		for (uint32_t i = 0; i < w.njobs; i++)
			prepare_keep(f, &w.jobs[i]);
	}
	for (uint32_t i = 0; i < w.njobs; i++) {
		vec_release(&w.jobs[i].frames);
		free(w.jobs[i].counts);
	}
	free(w.jobs);
	free(addrs);
}
