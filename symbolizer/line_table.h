/* A CU's line table (a DWARF 2-5 .debug_line program), decoded here rather
 * than by libdw: libdw 0.188 mallocs every row and sorts pointers to them,
 * which took a quarter of symbolizing a large C++ program.  The answers are
 * libdw's: rows ordered as dwarf_getsrclines orders them, found as
 * dwarf_getsrc_die finds them, file paths joined as dwarf_linesrc and
 * dwarf_filesrc give them. */
#ifndef SMOLDER_SYMBOLIZER_LINE_TABLE_H
#define SMOLDER_SYMBOLIZER_LINE_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "profile/profile.h"

/* The sections a line program reads (a missing one: NULL, 0). */
struct line_sections {
	const uint8_t *line, *str, *line_str;
	size_t line_size, str_size, line_str_size;
};

struct line_row {
	uint64_t addr;
	uint32_t line;
	uint32_t file; /* LINE_ROW_END set: the end of a sequence */
};
#define LINE_ROW_END 0x80000000u

struct line_file {
	const char *name; /* in the sections' bytes */
	uint32_t dir;
	char *path;       /* joined on first use; NULL until then */
};

struct line_table {
	struct vec rows;  /* struct line_row, sorted by address */
	struct vec files; /* struct line_file */
	struct vec dirs;  /* const char *; [0]: the CU's comp_dir before DWARF 5 (may be NULL) */
	uint16_t version;
};

/* Decodes the program at offset of s->line for a CU with addresses of
 * address_size bytes and comp_dir (may be NULL).  0, or -1 if the program
 * is malformed or uses a form read here not (libdw may read it). */
int line_table_read(struct line_table *t, const struct line_sections *s, uint64_t offset, uint8_t address_size,
		    const char *comp_dir);
void line_table_release(struct line_table *t);

/* The CU's comp_dir, for a table read without it (before any path of it is
 * joined): directory 0 before DWARF 5. */
void line_table_set_comp_dir(struct line_table *t, const char *comp_dir);

/* The offset of the program after the one at offset of s->line; 0 at the
 * end, or if malformed. */
uint64_t line_table_next(const struct line_sections *s, uint64_t offset);

/* The row covering addr; NULL if none does. */
const struct line_row *line_table_find(const struct line_table *t, uint64_t addr);

/* The path of file index file (a row's, or a DW_AT_call_file); NULL if there
 * is no such file or no memory.  Owned by the table. */
const char *line_table_path(struct line_table *t, uint32_t file);

#endif
