/* The CU holding a DWARF address: from .debug_aranges, read here, else from
 * the CUs' own ranges. */
#include <stdlib.h>

#include "symbolizer/elf_file-internal.h"

static int cu_range_cmp(const void *a, const void *b)
{
	const struct cu_range *x = a, *y = b;
	return (x->lo > y->lo) - (x->lo < y->lo);
}

static void cu_ranges_sort(struct vec *v)
{
	if (v->count > 1)
		qsort(v->data, v->count, sizeof(struct cu_range), cu_range_cmp);
}

/* One address range set of .debug_aranges (DWARF 2 to 5: version 2, its
 * tuples aligned to their size from the set's start); false if it is not as
 * that says. */
static bool cu_ranges_read_set(struct vec *out, const uint8_t *set, size_t size, unsigned offset_size)
{
	struct byte_cursor c = { set + (offset_size == 8 ? 12 : 4), set + size, false };
	uint64_t version = cursor_le(&c, 2), unit = cursor_le(&c, offset_size);
	unsigned address_size = (unsigned)cursor_le(&c, 1), segment_size = (unsigned)cursor_le(&c, 1);
	if (c.failed || version != 2 || (address_size != 4 && address_size != 8) || segment_size != 0)
		return false;
	size_t tuple = 2 * address_size, at = (size_t)(c.p - set), first = at + (tuple - at % tuple) % tuple;
	c.p = set + (first < size ? first : size);
	while (cursor_has(&c, tuple)) {
		uint64_t lo = cursor_le(&c, address_size), length = cursor_le(&c, address_size);
		if (!lo && !length)
			break;
		struct cu_range *r = length && lo + length > lo ? vec_push(out, sizeof(*r)) : NULL;
		if (r)
			*r = (struct cu_range){ lo, lo + length, unit };
	}
	return true;
}

/* Every set's ranges; false if one is malformed. */
static bool cu_ranges_read(struct vec *out, const uint8_t *bytes, size_t size)
{
	struct byte_cursor c = { bytes, bytes + size, false };
	while (!c.failed && c.p < c.end) {
		const uint8_t *set = c.p;
		uint64_t length = cursor_le(&c, 4);
		unsigned offset_size = 4;
		if (length == 0xffffffff) {
			length = cursor_le(&c, 8);
			offset_size = 8;
		} else if (length >= 0xfffffff0) {
			return false;
		}
		if (!cursor_has(&c, length) || !cu_ranges_read_set(out, set, (size_t)(c.p - set) + length, offset_size))
			return false;
		c.p += length;
	}
	return !c.failed;
}

/* libdw 0.188's dwarf_getaranges took 10 ms on libc's 2,083 ranges (an
 * allocation and a unit header read each) at every recording; this, 0.5 ms. */
bool cu_ranges_from_aranges(struct vec *out, const uint8_t *bytes, size_t size)
{
	if (!cu_ranges_read(out, bytes, size) || !out->count) {
		vec_release(out);
		return false;
	}
	cu_ranges_sort(out);
	return true;
}

static void aranges_build(struct elf_file *f)
{
	struct debug_sections ds;
	debug_sections_of(f->dwarf, &ds);
	f->aranges_state = ds.aranges && cu_ranges_from_aranges(&f->aranges, ds.aranges, ds.aranges_size) ? 1 : -1;
}

/* For files without .debug_aranges (clang's, rustc's). */
static void cu_ranges_build(struct elf_file *f)
{
	f->cu_ranges_built = true;
	Dwarf_Off off = 0, next;
	size_t header;
	while (dwarf_nextcu(f->dwarf, off, &next, &header, NULL, NULL, NULL) == 0) {
		Dwarf_Die cu;
		Dwarf_Addr base, lo, hi;
		ptrdiff_t at = 0;
		if (dwarf_offdie(f->dwarf, off + header, &cu))
			while ((at = dwarf_ranges(&cu, at, &base, &lo, &hi)) > 0) {
				struct cu_range *r = hi > lo ? vec_push(&f->cu_ranges, sizeof(*r)) : NULL;
				if (r)
					*r = (struct cu_range){ lo, hi, off };
			}
		off = next;
	}
	cu_ranges_sort(&f->cu_ranges);
}

/* The DIE of the unit holding addr in ranges (by lo). */
static bool unit_die_at(Dwarf *dbg, const struct vec *ranges, Dwarf_Addr addr, Dwarf_Die *cudie)
{
	const struct cu_range *r = ranges->data;
	uint32_t i = upper_bound_u64(r, ranges->count, sizeof(*r), offsetof(struct cu_range, lo), addr);
	Dwarf_Off next;
	size_t header;
	return i > 0 && addr < r[i - 1].hi &&
	       dwarf_next_unit(dbg, r[i - 1].unit, &next, &header, NULL, NULL, NULL, NULL, NULL, NULL) == 0 &&
	       dwarf_offdie(dbg, r[i - 1].unit + header, cudie);
}

bool elf_file_cu_die(struct elf_file *f, Dwarf_Addr addr, Dwarf_Die *cudie)
{
	if (!f->aranges_state)
		aranges_build(f);
	if (f->aranges_state > 0 ? unit_die_at(f->dwarf, &f->aranges, addr, cudie) : dwarf_addrdie(f->dwarf, addr, cudie) != NULL)
		return true;
	if (!f->cu_ranges_built)
		cu_ranges_build(f);
	return unit_die_at(f->dwarf, &f->cu_ranges, addr, cudie);
}
