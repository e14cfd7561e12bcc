/* A CU's index: its functions with code, found by walks that skip their
 * bodies, and a function's scopes (inlined instances and blocks), walked
 * the first time an address falls in it. */
#include <dwarf.h>
#include <stdlib.h>
#include <string.h>

#include "symbolizer/elf_file-internal.h"

static void function_scopes_release(struct function_scopes *fs)
{
	free(fs->scopes);
	free(fs->targets);
}

void cu_index_release(struct cu_index *ix)
{
	struct function_scopes *fs = ix->functions.data;
	for (uint32_t i = 0; i < ix->functions.count; i++)
		function_scopes_release(&fs[i]);
	vec_release(&ix->functions);
	vec_release(&ix->tops);
	line_table_release(&ix->lines);
	die_unit_release(&ix->unit);
}

static int top_cmp(const void *a, const void *b)
{
	const struct top_range *x = a, *y = b;
	return (x->lo > y->lo) - (x->lo < y->lo);
}

void debug_sections_of(Dwarf *dbg, struct debug_sections *ds)
{
	Elf *elf = dwarf_getelf(dbg);
	GElf_Ehdr eh;
	size_t shstrndx;
	memset(ds, 0, sizeof(*ds));
	/* Read here little-endian: a big-endian file's are left to libdw. */
	if (!elf || !gelf_getehdr(elf, &eh) || eh.e_type == ET_REL || eh.e_ident[EI_DATA] != ELFDATA2LSB ||
	    elf_getshdrstrndx(elf, &shstrndx) != 0)
		return;
	static const char *const names[] = { ".debug_info", ".debug_abbrev", ".debug_line", ".debug_str",
					     ".debug_line_str", ".debug_aranges" };
	const uint8_t **bytes[] = { &ds->die.info, &ds->die.abbrev, &ds->line.line, &ds->line.str, &ds->line.line_str,
				    &ds->aranges };
	size_t *sizes[] = { &ds->die.info_size, &ds->die.abbrev_size, &ds->line.line_size, &ds->line.str_size,
			    &ds->line.line_str_size, &ds->aranges_size };
	for (Elf_Scn *scn = NULL; (scn = elf_nextscn(elf, scn));) {
		GElf_Shdr sh;
		const char *name = gelf_getshdr(scn, &sh) ? elf_strptr(elf, shstrndx, sh.sh_name) : NULL;
		if (!name || sh.sh_type == SHT_NOBITS || (sh.sh_flags & SHF_COMPRESSED))
			continue;
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			size_t n = strlen(names[i]);
			if (strncmp(name, names[i], n) != 0 || (name[n] && strcmp(name + n, ".dwo") != 0))
				continue;
			Elf_Data *d = elf_getdata(scn, NULL);
			if (d && d->d_buf) {
				*bytes[i] = d->d_buf;
				*sizes[i] = d->d_size;
			}
		}
	}
}

/* The walks' view of a unit's DIEs: read by die_reader.c where it reads
 * the unit, else by libdw. */
struct die_walker {
	Dwarf *dbg;
	const struct die_unit *unit; /* NULL: libdw */
};

struct walk_die {
	struct die own;
	Dwarf_Die dw;      /* libdw's, when unit is NULL or for ranges read by libdw */
	Dwarf_Addr base;   /* dwarf_ranges' state from one range to the next */
};

static int walk_tag(const struct die_walker *w, struct walk_die *d)
{
	return w->unit ? (int)d->own.abbrev->tag : dwarf_tag(&d->dw);
}

static Dwarf_Off walk_offset(const struct die_walker *w, struct walk_die *d)
{
	return w->unit ? d->own.offset : dwarf_dieoffset(&d->dw);
}

static bool walk_child(const struct die_walker *w, struct walk_die *d, struct walk_die *child)
{
	if (w->unit)
		return die_child(w->unit, &d->own, &child->own);
	return dwarf_haschildren(&d->dw) && dwarf_child(&d->dw, &child->dw) == 0;
}


/* Like dwarf_ranges: the range at off (0 first) in [*lo, *hi); the next off,
 * 0 after the last, -1 on error. */
static ptrdiff_t walk_ranges(const struct die_walker *w, struct walk_die *d, ptrdiff_t off, Dwarf_Addr *lo,
			     Dwarf_Addr *hi)
{
	if (w->unit && off == 0) {
		int own = die_pc_range(w->unit, &d->own, lo, hi);
		if (own >= 0)
			return own;
		if (!dwarf_offdie(w->dbg, d->own.offset, &d->dw))
			return -1;
	}
	return dwarf_ranges(&d->dw, off, &d->base, lo, hi);
}

/* Moves dies[*level] past its subtree to the next DIE of a depth-first
 * walk, climbing as needed; false when the walk is over.  Read here, the
 * climb starts where the children ended: no subtree is read twice. */
static bool next_die(const struct die_walker *w, struct walk_die *dies, int *level)
{
	if (w->unit) {
		uint64_t after;
		struct die next;
		if (!die_sibling(w->unit, &dies[*level].own, &next, &after) &&
		    !(after && die_after(w->unit, after, level, &next)))
			return false;
		dies[*level].own = next;
		return true;
	}
	for (;;) {
		Dwarf_Die next;
		if (dwarf_siblingof(&dies[*level].dw, &next) == 0) {
			dies[*level].dw = next;
			return true;
		}
		if (*level == 0)
			return false;
		--*level;
	}
}

/* The walker of a CU's unit (its DIE: unitdie), reading the unit here
 * from the first walk on if it can. */
static struct die_walker cu_walker(struct cu_index *ix, Dwarf_Die *unitdie)
{
	Dwarf *dbg = dwarf_cu_getdwarf(unitdie->cu);
	if (!ix->unit_read) {
		struct debug_sections ds;
		debug_sections_of(dbg, &ds);
		ix->unit_read = die_unit_open(&ix->unit, &ds.die, dwarf_dieoffset(unitdie) - dwarf_cuoffset(unitdie)) == 0 ? 1 : -1;
	}
	return (struct die_walker){ dbg, ix->unit_read > 0 ? &ix->unit : NULL };
}

static bool walk_die_at(const struct die_walker *w, Dwarf_Off offset, struct walk_die *d)
{
	if (w->unit)
		return die_at(w->unit, offset, &d->own);
	return dwarf_offdie(w->dbg, offset, &d->dw) != NULL;
}

/* DIEs whose subtrees hold no function's code: an inlined instance's
 * lambdas are its abstract origin's, call sites hold their parameters. */
static bool no_functions_within(int tag)
{
	return tag == DW_TAG_inlined_subroutine || tag == DW_TAG_call_site || tag == DW_TAG_GNU_call_site ||
	       tag == DW_TAG_formal_parameter || tag == DW_TAG_variable;
}

/* Adds the functions with code that the walk finds (see enum cu_walk).
 * Only the last walk enters types and declarations outside code; the first
 * skips every function's body (most of a CU's DIEs) through its
 * DW_AT_sibling. */
int cu_index_build(struct cu_index *ix, Dwarf_Die *unitdie, enum cu_walk walk)
{
	struct walk_die dies[DIE_DEPTH_MAX], root;
	bool in_code[DIE_DEPTH_MAX], in_type[DIE_DEPTH_MAX];
	int level = 0, err = 0;
	struct die_walker w = cu_walker(ix, unitdie);
	if (!walk_die_at(&w, dwarf_dieoffset(unitdie), &root) || !walk_child(&w, &root, &dies[0]))
		return 0;
	in_code[0] = in_type[0] = false;
	for (;;) {
		struct walk_die *d = &dies[level];
		int tag = walk_tag(&w, d);
		bool has_code = false;
		if (tag == DW_TAG_subprogram) {
			bool wanted = in_type[level] ? walk == WALK_IN_TYPES : walk == (in_code[level] ? WALK_IN_CODE : WALK_OUTSIDE);
			Dwarf_Addr lo, hi;
			ptrdiff_t off = 0;
			while ((off = walk_ranges(&w, d, off, &lo, &hi)) > 0) {
				has_code = true;
				if (hi <= lo || !wanted)
					continue;
				struct top_range *t = vec_push(&ix->tops, sizeof(*t));
				if (!t) {
					err = -1;
					goto walked;
				}
				*t = (struct top_range){ lo, hi, walk_offset(&w, d), 0 };
			}
		}
		bool type = !in_code[level] && !has_code && tag != DW_TAG_namespace;
		bool descend = walk == WALK_OUTSIDE ? tag == DW_TAG_namespace :
			       !no_functions_within(tag) && (walk == WALK_IN_TYPES || !type);
		if (descend && level + 1 < DIE_DEPTH_MAX && walk_child(&w, d, &dies[level + 1])) {
			level++;
			in_code[level] = in_code[level - 1] || has_code;
			in_type[level] = in_type[level - 1] || type;
			continue;
		}
		if (!next_die(&w, dies, &level))
			break;
	}
walked:
	if (ix->tops.count > 1)
		qsort(ix->tops.data, ix->tops.count, sizeof(struct top_range), top_cmp);
	return err;
}

static int scope_push(struct vec *scopes, const struct scope *sc)
{
	struct scope *slot = vec_push(scopes, sizeof(*slot));
	if (!slot)
		return -1;
	*slot = *sc;
	return 0;
}

/* DIEs in a function's subtree whose own subtrees hold none of its inlined
 * instances: call sites, parameters, variables, types, and functions of
 * their own (a lambda's code, indexed as its own function). */
static bool no_inlines_within(int tag)
{
	switch (tag) {
	case DW_TAG_call_site:
	case DW_TAG_GNU_call_site:
	case DW_TAG_formal_parameter:
	case DW_TAG_variable:
	case DW_TAG_subprogram:
	case DW_TAG_structure_type:
	case DW_TAG_class_type:
	case DW_TAG_union_type:
	case DW_TAG_enumeration_type:
		return true;
	default:
		return false;
	}
}

static bool has_target(const struct function_scopes *fs, uint64_t lo, uint64_t hi)
{
	uint32_t i = lower_bound_u64(fs->targets, fs->ntargets, sizeof(*fs->targets), 0, lo);
	return i < fs->ntargets && fs->targets[i] < hi;
}

/* Whether a lexical block's subtree can hold a target: its code does (a
 * block without code of its own, of declarations only, may). */
static bool block_holds_target(const struct function_scopes *fs, const struct die_walker *w, struct walk_die *d)
{
	Dwarf_Addr lo, hi;
	ptrdiff_t off = 0;
	bool ranges = false;
	while ((off = walk_ranges(w, d, off, &lo, &hi)) > 0) {
		ranges = true;
		if (hi > lo && has_target(fs, lo, hi))
			return true;
	}
	return !ranges;
}

/* One iterative, depth-bounded walk of a function's DIE subtree for its
 * inlined instances (lexical blocks and other scopes hold them too), into
 * scopes. */
static int walk_scopes(const struct function_scopes *fs, struct vec *scopes, const struct die_walker *w,
		       struct walk_die *fn)
{
	if (scope_push(scopes, &(struct scope){ 0, 0, walk_offset(w, fn), -1, 0, false }))
		return -1;
	struct walk_die dies[DIE_DEPTH_MAX];
	int32_t parent[DIE_DEPTH_MAX];
	uint16_t depth[DIE_DEPTH_MAX];
	int level = 0;
	if (!walk_child(w, fn, &dies[0]))
		return 0;
	parent[0] = 0;
	depth[0] = 1;
	for (;;) {
		struct walk_die *d = &dies[level];
		int tag = walk_tag(w, d);
		int32_t me = parent[level];
		uint16_t my_depth = depth[level];
		/* Where targets are given, only the scopes whose code holds one
		 * are entered. */
		bool enter = !no_inlines_within(tag);
		if (tag == DW_TAG_inlined_subroutine) {
			Dwarf_Addr lo, hi;
			ptrdiff_t off = 0;
			int32_t first = -1;
			bool holds = !fs->targets;
			while ((off = walk_ranges(w, d, off, &lo, &hi)) > 0) {
				if (hi <= lo)
					continue;
				if (scope_push(scopes, &(struct scope){ lo, hi, walk_offset(w, d), parent[level], depth[level], true }))
					return -1;
				if (first < 0)
					first = (int32_t)scopes->count - 1;
				holds = holds || has_target(fs, lo, hi);
			}
			if (first >= 0) {
				me = first;
				my_depth = (uint16_t)(depth[level] + 1);
			}
			enter = holds || first < 0;
		} else if (tag == DW_TAG_lexical_block && fs->targets) {
			enter = block_holds_target(fs, w, d);
		}
		if (enter && level + 1 < DIE_DEPTH_MAX && walk_child(w, d, &dies[level + 1])) {
			level++;
			parent[level] = me;
			depth[level] = my_depth;
			continue;
		}
		if (!next_die(w, dies, &level))
			return 0;
	}
}

static int function_scopes_build(struct function_scopes *fs, const struct die_walker *w, struct walk_die *fn)
{
	struct vec scopes = { 0 };
	int err = walk_scopes(fs, &scopes, w, fn);
	fs->scopes = scopes.data; /* freed by function_scopes_release, whatever err */
	fs->count = scopes.count;
	return err;
}

/* The DIE whose children are a CU's functions: a skeleton CU's split unit
 * (-gsplit-dwarf: the functions are in its .dwo file), else the CU's own. */
Dwarf_Die cu_unit_die(Dwarf_Die *cudie)
{
	uint8_t type;
	Dwarf_Die split;
	if (dwarf_cu_info(cudie->cu, NULL, &type, NULL, &split, NULL, NULL, NULL) == 0 && type == DW_UT_skeleton &&
	    split.addr)
		return split;
	return *cudie;
}

/* The index of a CU (cudie: as found by address, a skeleton for split
 * DWARF), built on first use. */
struct cu_index *cu_index_built(struct elf_file *f, Dwarf_Off cu)
{
	struct cu_index *cus = f->cus.data;
	for (uint32_t i = 0; i < f->cus.count; i++)
		if (cus[i].cu == cu)
			return &cus[i];
	return NULL;
}

struct cu_index *cu_index_for(struct elf_file *f, Dwarf_Die *cudie)
{
	Dwarf_Off cu = dwarf_dieoffset(cudie);
	struct cu_index *ix = cu_index_built(f, cu);
	if (ix || !(ix = vec_push(&f->cus, sizeof(*ix))))
		return ix;
	memset(ix, 0, sizeof(*ix));
	ix->cu = cu;
	Dwarf_Die unit = cu_unit_die(cudie);
	if (cu_index_build(ix, &unit, WALK_OUTSIDE)) {
		cu_index_release(ix);
		f->cus.count--;
		return NULL;
	}
	return ix;
}

/* The top range containing addr, after walking the CU's nested functions
 * if none of the others does; NULL if none. */
static struct top_range *top_at(struct cu_index *ix, Dwarf_Die *cudie, uint64_t addr)
{
	for (;;) {
		struct top_range *tops = ix->tops.data;
		uint32_t i = upper_bound_u64(tops, ix->tops.count, sizeof(*tops), offsetof(struct top_range, lo), addr);
		if (i > 0 && addr < tops[i - 1].hi)
			return &tops[i - 1];
		if (ix->walked == WALK_IN_TYPES)
			return NULL;
		if (cu_index_build(ix, cudie, ++ix->walked))
			return NULL;
	}
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* The scopes of the function whose DIE is at die: only where the addresses
 * being prepared are (the ones in its code), when some are. */
static int function_scopes_for(struct cu_index *ix, Dwarf_Die *cudie, Dwarf_Off die, struct function_scopes *fs)
{
	*fs = (struct function_scopes){ 0 };
	const struct top_range *tops = ix->tops.data;
	const struct cu_address *t = ix->targets;
	/* Twice over the function's ranges: count, then copy. */
	for (int copy = 0; t && copy < 2; copy++) {
		if (copy && !(fs->targets = malloc((fs->ntargets ? fs->ntargets : 1) * sizeof(*fs->targets))))
			return -1;
		uint32_t n = 0;
		for (uint32_t k = 0; k < ix->tops.count; k++)
			for (uint32_t i = tops[k].die != die ? ix->ntargets :
				     lower_bound_u64(t, ix->ntargets, sizeof(*t), offsetof(struct cu_address, addr), tops[k].lo);
			     i < ix->ntargets && t[i].addr < tops[k].hi; i++, n++)
				if (copy)
					fs->targets[n] = t[i].addr;
		fs->ntargets = n;
	}
	if (fs->ntargets > 1)
		qsort(fs->targets, fs->ntargets, sizeof(*fs->targets), u64_cmp);
	struct walk_die fn;
	struct die_walker w = cu_walker(ix, cudie);
	if (!walk_die_at(&w, die, &fn) || function_scopes_build(fs, &w, &fn)) {
		function_scopes_release(fs);
		return -1;
	}
	return 0;
}

/* The scopes of the function containing addr, walked on first use (for
 * each of the function's ranges), and in *at the innermost one containing
 * addr; NULL if no function does. */
const struct function_scopes *cu_index_find(struct cu_index *ix, Dwarf_Die *cudie, uint64_t addr, int32_t *at)
{
	struct top_range *t = top_at(ix, cudie, addr);
	if (!t)
		return NULL;
	if (!t->function) {
		struct function_scopes *fs = vec_push(&ix->functions, sizeof(*fs));
		if (!fs || function_scopes_for(ix, cudie, t->die, fs)) {
			if (fs)
				ix->functions.count--;
			return NULL;
		}
		struct top_range *tops = ix->tops.data;
		for (uint32_t k = 0; k < ix->tops.count; k++)
			if (tops[k].die == t->die)
				tops[k].function = ix->functions.count;
	}
	struct function_scopes *fs = (struct function_scopes *)ix->functions.data + (t->function - 1);
	if (fs->targets && !bsearch(&addr, fs->targets, fs->ntargets, sizeof(addr), u64_cmp)) {
		/* walked for other addresses: walked again, whole */
		struct function_scopes whole;
		const struct cu_address *targets = ix->targets;
		ix->targets = NULL;
		int err = function_scopes_for(ix, cudie, t->die, &whole);
		ix->targets = targets;
		if (err)
			return NULL;
		function_scopes_release(fs);
		*fs = whole;
	}
	int32_t best = 0;
	for (uint32_t k = 1; k < fs->count; k++) {
		const struct scope *sc = &fs->scopes[k];
		if (sc->lo <= addr && addr < sc->hi && sc->depth > fs->scopes[best].depth)
			best = (int32_t)k;
	}
	*at = best;
	return fs;
}
