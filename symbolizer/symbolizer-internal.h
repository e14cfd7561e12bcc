/* Private to symbolizer/. */
#ifndef SMOLDER_SYMBOLIZER_INTERNAL_H
#define SMOLDER_SYMBOLIZER_INTERNAL_H

#include <elfutils/libdwfl.h>
#include <pthread.h>

#include "symbolizer/symbolizer.h"

#define INLINE_MAX_FRAMES 64 /* deeper inline nests keep their outermost frames */

/* ---- symbol_table.c: sorted (address, size, name) tables: kallsyms, JIT maps ---- */

struct symbol {
	uint64_t addr, size;
	const char *name;
	uint8_t rank; /* among aliases of one address, the lowest wins */
};

struct symbol_table {
	struct symbol *syms;
	uint32_t count, cap;
	char *names;
	size_t names_len, names_cap;
};

/* rank: 0 global, 1 weak, 2 local: which alias of an address names it. */
int symbol_table_add(struct symbol_table *t, uint64_t addr, uint64_t size, const char *name, size_t len,
		     uint8_t rank);
/* Sorts and drops duplicate addresses; call once after adding. */
void symbol_table_finish(struct symbol_table *t);
/* The symbol containing addr (sized: by size; unsized: up to the next one). */
const struct symbol *symbol_table_find(const struct symbol_table *t, uint64_t addr);
void symbol_table_release(struct symbol_table *t);

/* /proc/kallsyms; *restricted when kptr_restrict hides the addresses. */
int kallsyms_load(struct symbol_table *t, bool *restricted);
/* /tmp/perf-PID.map ("START SIZE name" in hex), if owned by uid or root. */
int jit_map_load(struct symbol_table *t, pid_t pid, uid_t uid, bool *ignored);

/* ---- debuginfo.c: where debug files are looked for (the symbolizer's) ---- */

struct debuginfo {
	char *path;   /* libdwfl's search path; NULL: its default */
	bool servers; /* ask debuginfod servers */
	Dwfl_Callbacks callbacks;
	Dwfl_Callbacks taking_callbacks; /* debuginfo_open's: the file found is the caller's */
	pthread_mutex_t lock;          /* one debuginfod question at a time */
	bool debuginfod_tried;
	struct debuginfod_lib *debuginfod; /* dlopened on the first question */
	char *cache_dir; /* where inflated DWARF is kept (dwarf_cache.h); NULL: not kept */
};

int debuginfo_init(struct debuginfo *d, const char *path, bool servers, const char *cache_dir);
void debuginfo_release(struct debuginfo *d);

/* ---- elf_file.c: one mapped file, its debug info, and lookups ---- */

/* One frame of an inline chain, innermost first as addr2line -i prints. */
struct inline_frame {
	const char *name; /* mangled or plain; owned by libdw, valid while the file is open */
	const char *file; /* may be NULL */
	uint32_t line;
};

struct elf_file;

/* Opens path as process pid sees it (0: as we do), the ways base's
 * open_mapped_file tries.  If build_id is non-empty, a file whose build-id
 * differs is refused.  NULL if it cannot be used, *why saying why.  d must
 * outlive the file. */
struct elf_file *elf_file_open(struct debuginfo *d, pid_t pid, const char *path, const char *build_id,
			       uint64_t start, uint64_t end, enum symbolizer_error *why);
void elf_file_close(struct elf_file *f);
/* The file's build-id in hex ("" if none). */
const char *elf_file_build_id(const struct elf_file *f);
bool elf_file_has_dwarf(struct elf_file *f);
/* Whether anything can name its addresses: DWARF or an ELF symbol table. */
bool elf_file_has_symbols(struct elf_file *f);
/* The virtual address of a file offset (through the load segments). */
bool elf_file_vaddr(const struct elf_file *f, uint64_t offset, uint64_t *vaddr);
/* The inline chain at vaddr, innermost first; from DWARF where there is
 * some (always: a name must not depend on which samples a recording got),
 * else one frame from the symbol tables.  Returns the number of frames (0:
 * nothing known). */
int elf_file_lookup(struct elf_file *f, uint64_t vaddr, struct inline_frame *out, int max);
/* Readies what looking up these addresses will read (their CUs' indices,
 * the functions they fall in) on several threads at once; lookups then
 * find it done.  Nothing is required of it: on any failure, lookups do it. */
void elf_file_prepare(struct elf_file *f, const uint64_t *vaddrs, uint32_t n);

#endif
