/* The DWARF readers of symbolizer/ (die_reader.c, line_table.c) on hostile
 * sections, as a target's debug file can hold them.  An input is five
 * little-endian 32-bit sizes, then .debug_info, .debug_abbrev, .debug_line,
 * .debug_str and .debug_line_str's bytes: every unit's DIE tree is walked depth first, as
 * the symbolizer walks it, and the line table at each of the first offsets
 * read, looked up and its files joined. */
#include <string.h>

#include "fuzz/fuzz.h"
#include "symbolizer/die_reader.h"
#include "symbolizer/line_table.h"

/* Enough for any walk of a real unit, bounded for hostile ones. */
#define STEPS_MAX 100000
#define DEPTH_MAX 256

static void walk_unit(const struct die_unit *u)
{
	struct die dies[DEPTH_MAX], root;
	int level = 0;
	if (!die_at(u, u->first_die, &root) || !die_child(u, &root, &dies[0]))
		return;
	for (int steps = 0; steps < STEPS_MAX; steps++) {
		uint64_t lo, hi, after;
		(void)die_pc_range(u, &dies[level], &lo, &hi);
		struct die next;
		if (level + 1 < DEPTH_MAX && die_child(u, &dies[level], &dies[level + 1])) {
			level++;
			continue;
		}
		if (!die_sibling(u, &dies[level], &next, &after) && !(after && die_after(u, after, &level, &next)))
			return;
		dies[level] = next;
	}
}

static void read_lines(const struct line_sections *ls, uint64_t offset)
{
	struct line_table t;
	if (line_table_read(&t, ls, offset, 8, "/comp/dir") != 0)
		return;
	const struct line_row *rows = t.rows.data;
	for (uint32_t i = 0; i < t.rows.count && i < 64; i++) {
		const struct line_row *r = line_table_find(&t, rows[i].addr);
		if (r)
			(void)line_table_path(&t, r->file & ~LINE_ROW_END);
	}
	for (uint32_t f = 0; f < t.files.count + 2; f++)
		(void)line_table_path(&t, f);
	line_table_release(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t sizes[5];
	if (size < sizeof(sizes))
		return 0;
	memcpy(sizes, data, sizeof(sizes));
	const uint8_t *bytes[5], *p = data + sizeof(sizes), *end = data + size;
	for (int i = 0; i < 5; i++) {
		if (sizes[i] > (size_t)(end - p))
			sizes[i] = (uint32_t)(end - p);
		bytes[i] = sizes[i] ? p : NULL;
		p += sizes[i];
	}
	struct die_sections ds = { bytes[0], bytes[1], sizes[0], sizes[1] };
	struct line_sections ls = { bytes[2], bytes[3], bytes[4], sizes[2], sizes[3], sizes[4] };
	uint64_t offset = 0;
	for (int units = 0; units < 16 && offset < sizes[0]; units++) {
		struct die_unit u;
		if (die_unit_open(&u, &ds, offset) != 0)
			break;
		walk_unit(&u);
		offset = (uint64_t)(u.end - u.info);
		die_unit_release(&u);
	}
	read_lines(&ls, 0);
	return 0;
}
