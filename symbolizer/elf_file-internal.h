/* Private to symbolizer/'s files that read one ELF file: elf_file.c (open,
 * close, lookups and their cache), cu_index.c (a CU's functions and
 * scopes), inline_chain.c (an address's chain from them), prepare.c
 * (lookups done ahead on threads) and debuginfo.c (finding debug files). */
#ifndef SMOLDER_SYMBOLIZER_ELF_FILE_INTERNAL_H
#define SMOLDER_SYMBOLIZER_ELF_FILE_INTERNAL_H

#include <elfutils/libdw.h>
#include <gelf.h>

#include "symbolizer/die_reader.h"
#include "symbolizer/dwarf_image.h"
#include "symbolizer/line_table.h"
#include "symbolizer/symbolizer-internal.h"

/* A CU's functions, found by a walk that skips their bodies; a function's
 * inlined instances are walked the first time an address falls in it.
 * Walking every DIE of every CU touched cost more than inflating the DWARF. */
struct scope {
	uint64_t lo, hi;
	Dwarf_Off die;
	int32_t parent; /* the enclosing scope, -1 for the function itself */
	uint16_t depth;
	bool inlined;
};

/* A function's scopes in DFS order: [0] is the function, then its inlined
 * instances (a range each), each after the one it is inlined into. */
struct function_scopes {
	struct scope *scopes;
	uint32_t count;
	uint64_t *targets; /* walked only where these are (sorted); NULL: all of it */
	uint32_t ntargets;
};

struct top_range {
	uint64_t lo, hi;
	Dwarf_Off die;
	uint32_t function; /* index + 1 in cu_index.functions; 0 = not walked yet */
};

/* An address of elf_file_prepare, with the CU it is in. */
struct cu_address {
	Dwarf_Off cu;
	uint64_t addr; /* DWARF address */
};

/* A CU's functions with code are found in up to three walks, each done only
 * when an address matched none of the functions found so far: those
 * outside types and other functions (most of the code, in few of the DIEs:
 * the walk enters only namespaces); those within other functions' code (a
 * lambda); the rest, within types and declarations (gcc puts a GNU C nested
 * function in its parent's abstract DIE). */
enum cu_walk { WALK_OUTSIDE, WALK_IN_CODE, WALK_IN_TYPES };

struct early_lines;

struct cu_index {
	Dwarf_Off cu;
	struct vec tops;      /* struct top_range by lo */
	struct vec functions; /* struct function_scopes */
	enum cu_walk walked;  /* the last walk done: each adds functions */
	const struct cu_address *targets; /* the addresses being prepared (by address), or NULL */
	uint32_t ntargets;
	struct line_table lines;
	int lines_read;       /* 0: not yet; 1: in lines; -1: by libdw (see cu_lines) */
	struct die_unit unit;
	int unit_read;        /* 0: not yet; 1: in unit; -1: walked through libdw */
};

#define DIE_DEPTH_MAX 256 /* elfutils' own bound on DWARF recursion */

/* A CU's address range, from .debug_aranges or from the CU's own ranges. */
struct cu_range {
	uint64_t lo, hi;
	Dwarf_Off unit; /* its header's offset */
};

struct cached_chain {
	uint64_t vaddr;
	uint32_t first, count; /* in frames */
};

struct elf_file {
	struct debuginfo *debuginfo; /* the symbolizer's */
	Dwfl *dwfl;
	Dwfl_Module *mod;
	GElf_Addr bias;      /* module address = vaddr + bias */
	GElf_Phdr *loads;
	uint32_t nloads;
	char build_id[128];
	int fd;              /* the file, for finding its debug file apart from libdwfl */
	bool dwarf_looked;
	Dwarf *dwarf;
	Dwarf_Addr dwarf_bias; /* module address = DWARF address + dwarf_bias */
	bool dwarf_image;      /* dwarf is from dwarf_image_open (else libdwfl's) */
	Dwarf *readers[3];     /* more readers of its DWARF, for elf_file_prepare's threads */
	uint32_t nreaders;
	bool readers_opened;
	struct early_lines *early; /* line tables read while the DWARF was inflated */
	uint32_t addresses_ahead;  /* how many the first preparing is for (0: none) */
	struct vec aranges;    /* struct cu_range by lo, from .debug_aranges */
	int aranges_state;     /* 0: not read yet; 1: in aranges; -1: libdw's */
	struct vec cu_ranges;  /* struct cu_range by lo, built when aranges miss */
	bool cu_ranges_built;

	struct vec chains; /* struct cached_chain: every address looked up */
	struct id_hash chain_index;
	struct vec frames; /* struct inline_frame: the cached chains' */
	struct vec cus; /* struct cu_index: the CUs indexed so far */
	struct symbol_table symbols; /* function symbols by address, built on first use */
	struct symbol_table inferred; /* .eh_frame's function starts, for what has no symbol */
	bool inferred_built;
	char display_name[256];      /* the mapped file's base name, for inferred names */
	bool symbols_loaded;
};

/* The debug sections read here rather than by libdw, as libdw has them
 * (inflated); .dwo files' too.  A section not there as it is read here
 * (.zdebug, still compressed) is left out; none for a relocatable file. */
struct debug_sections {
	struct die_sections die;
	struct line_sections line;
	const uint8_t *aranges;
	size_t aranges_size;
};

/* ---- cu_index.c ---- */

void cu_index_release(struct cu_index *ix);
/* Adds the functions one walk finds to ix (the unit's DIE given). */
int cu_index_build(struct cu_index *ix, Dwarf_Die *unitdie, enum cu_walk walk);
/* The index of cudie's CU, made on first use and kept with f; NULL if it cannot be. */
struct cu_index *cu_index_for(struct elf_file *f, Dwarf_Die *cudie);
/* The index of the CU at that offset, if built; NULL if not. */
struct cu_index *cu_index_built(struct elf_file *f, Dwarf_Off cu);
/* The scopes of the function holding addr, *at the innermost scope holding it. */
const struct function_scopes *cu_index_find(struct cu_index *ix, Dwarf_Die *cudie, uint64_t addr, int32_t *at);
/* The unit DIE of a CU (the skeleton's split unit, for split DWARF). */
Dwarf_Die cu_unit_die(Dwarf_Die *cudie);
void debug_sections_of(Dwarf *dbg, struct debug_sections *ds);

/* ---- cu_lookup.c ---- */

/* The CU DIE holding a DWARF address. */
bool elf_file_cu_die(struct elf_file *f, Dwarf_Addr addr, Dwarf_Die *cudie);
/* The ranges of a .debug_aranges section's bytes, sorted by lo, into an
 * empty out; false (out empty) if it holds none or is not as DWARF says.  A
 * file's is read where the section is as read here (see debug_sections),
 * little-endian; libdw reads the others. */
bool cu_ranges_from_aranges(struct vec *out, const uint8_t *bytes, size_t size);

/* ---- inline_chain.c ---- */

/* The ELF symbol at a module address, or NULL (loads the symbol tables on first use). */
const char *elf_file_symbol_at(struct elf_file *f, Dwarf_Addr addr);
/* The inline chain at addr in a CU (ix may be NULL: libdw's walks). */
int cu_chain(struct elf_file *f, struct cu_index *ix, Dwarf_Die *cudie, Dwarf_Addr addr, struct inline_frame *out,
	     int max);
/* The inline chain at a module address from DWARF. */
int elf_file_dwarf_chain(struct elf_file *f, Dwarf_Addr module_addr, struct inline_frame *out, int max);

/* ---- inferred_names.c ---- */

/* "file+0xOFFSET (inferred)": the start of the .eh_frame entry holding a
 * module address, for code without symbols; NULL if none. */
const char *elf_file_inferred_name(struct elf_file *f, Dwarf_Addr addr);

/* ---- elf_file.c ---- */

/* The chain of n DWARF frames, or of the symbol at module_addr if there are none. */
int elf_file_named_chain(struct elf_file *f, Dwarf_Addr module_addr, struct inline_frame *out, int n);
/* The cache's slot for vaddr (0 inside: not looked up yet), NULL when out of memory. */
uint32_t *chain_cache_slot(struct elf_file *f, uint64_t vaddr);
void chain_cache_put(struct elf_file *f, uint32_t *slot, uint64_t vaddr, const struct inline_frame *frames, int n);

/* ---- prepare.c: line tables read while DWARF is inflated ---- */

void early_lines_free(struct early_lines *e);
/* dwarf_image's hook: reads .debug_line's programs while .debug_info inflates. */
void early_lines_read(void *arg, const struct dwarf_image_section *sections, uint32_t count, const atomic_bool *info_in);
/* The early table of the program at offset, now the caller's; false if none. */
bool early_lines_take(struct early_lines *e, uint64_t offset, struct line_table *out);

/* ---- debuginfo.c ---- */

/* libdwfl's callbacks for a file's module (their state is d's). */
const Dwfl_Callbacks *debuginfo_callbacks(const struct debuginfo *d);
/* Points a module's libdwfl userdata at d, for debuginfo_callbacks. */
void debuginfo_attach(struct debuginfo *d, Dwfl_Module *mod);
/* The debug file of the ELF file main_fd (named file_name), found as
 * libdwfl finds it, in a module of its own; an fd, or -1. */
int debuginfo_open(struct debuginfo *d, int main_fd, const char *file_name);

#endif
