/* Walking a unit's DIE tree straight from .debug_info's bytes: libdw 0.188
 * looks each DIE's abbreviation up under a lock and skips a DIE's attributes
 * one libdw call at a time, which took a third of symbolizing a large C++
 * program.  Read here: tags, children, DW_AT_sibling, and low_pc/high_pc
 * when they are plain (DW_FORM_addr, a constant); what is not (DW_AT_ranges,
 * indexed addresses) is left to libdw, by offset. */
#ifndef SMOLDER_SYMBOLIZER_DIE_READER_H
#define SMOLDER_SYMBOLIZER_DIE_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "profile/profile.h"

struct die_sections {
	const uint8_t *info, *abbrev;
	size_t info_size, abbrev_size;
};

struct attr_spec {
	uint32_t name, form;
	int64_t implicit; /* DW_FORM_implicit_const's value */
	int32_t at;       /* its offset in a DIE's attributes when the ones before
			     it are of fixed size; else -1 */
};

struct abbrev {
	uint32_t tag;
	bool children;
	int32_t sibling, low_pc, high_pc, ranges; /* index in specs, -1: none */
	uint32_t first_spec, nspecs;
	int32_t fixed_size; /* of its attributes when every form has one; else -1 */
};

struct die_unit {
	const uint8_t *info, *end; /* .debug_info, and the unit's end in it */
	uint64_t start;            /* offset of the unit's header */
	uint64_t first_die;        /* offset of the unit's DIE */
	uint8_t version, address_size, offset_size;
	struct abbrev *abbrevs;    /* by code - 1 */
	uint32_t nabbrevs;
	struct vec specs;          /* struct attr_spec, the abbreviations' in turn */
};

struct die {
	uint64_t offset;
	const struct abbrev *abbrev;
	const uint8_t *attrs; /* its attributes' bytes */
};

/* The unit whose header is at unit_offset (and its abbreviations).
 * 0, or -1 if malformed, out of memory, or using a form read here not. */
int die_unit_open(struct die_unit *u, const struct die_sections *s, uint64_t unit_offset);
void die_unit_release(struct die_unit *u);

/* The DIE at offset (false: none there, or malformed). */
bool die_at(const struct die_unit *u, uint64_t offset, struct die *d);
/* Its first child (false: none, or malformed). */
bool die_child(const struct die_unit *u, const struct die *d, struct die *child);
/* Its next sibling.  False at the end of its parent's children, with *after
 * the offset past them (where the parent's next sibling starts, when that
 * is not the end of the grandparent's: a NUL byte), or 0 if malformed. */
bool die_sibling(const struct die_unit *u, const struct die *d, struct die *next, uint64_t *after);
/* The next DIE of a depth-first walk whose DIE at depth *level (0: a child
 * of the walk's root) has no next sibling, from die_sibling's after: the
 * next sibling of its parent or of the nearest ancestor that has one, its
 * depth in *level; false when there is none (the walk is over). */
bool die_after(const struct die_unit *u, uint64_t after, int *level, struct die *next);

/* A DIE's code range from low_pc and high_pc, when it has them in forms read
 * here: 1 and [*lo, *hi); 0 if it has neither those nor DW_AT_ranges; -1
 * if libdw is to read them. */
int die_pc_range(const struct die_unit *u, const struct die *d, uint64_t *lo, uint64_t *hi);

#endif
