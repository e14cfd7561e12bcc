#include "symbolizer/line_table.h"

#include "base/base.h"

#include <dwarf.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* The NUL-terminated string at offset of a string section; NULL if none. */
static const char *section_string(const uint8_t *bytes, size_t size, uint64_t offset)
{
	if (!bytes || offset >= size || !memchr(bytes + offset, 0, size - offset))
		return NULL;
	return (const char *)bytes + offset;
}

/* One value of a DWARF 5 directory or file entry: a string (*s) or a
 * number (*u); false for a form not read here. */
static bool read_form(struct byte_cursor *c, unsigned form, unsigned offset_size, const struct line_sections *sec,
		      const char **s, uint64_t *u)
{
	*s = NULL;
	*u = 0;
	switch (form) {
	case DW_FORM_string:
		*s = cursor_cstring(c);
		return *s != NULL;
	case DW_FORM_strp:
		*s = section_string(sec->str, sec->str_size, cursor_le(c, offset_size));
		return *s != NULL && !c->failed;
	case DW_FORM_line_strp:
		*s = section_string(sec->line_str, sec->line_str_size, cursor_le(c, offset_size));
		return *s != NULL && !c->failed;
	case DW_FORM_data1:
		*u = cursor_le(c, 1);
		break;
	case DW_FORM_data2:
		*u = cursor_le(c, 2);
		break;
	case DW_FORM_data4:
		*u = cursor_le(c, 4);
		break;
	case DW_FORM_data8:
		*u = cursor_le(c, 8);
		break;
	case DW_FORM_data16:
		if (cursor_has(c, 16))
			c->p += 16;
		break;
	case DW_FORM_udata:
		*u = cursor_uleb(c);
		break;
	case DW_FORM_block: {
		uint64_t n = cursor_uleb(c);
		if (cursor_has(c, n))
			c->p += n;
		break;
	}
	default:
		return false;
	}
	return !c->failed;
}

struct entry_format {
	uint64_t content[32], form[32];
	unsigned count;
};

static bool read_entry_format(struct byte_cursor *c, struct entry_format *ef)
{
	ef->count = (unsigned)cursor_le(c, 1);
	if (ef->count > 32)
		return false;
	for (unsigned i = 0; i < ef->count; i++) {
		ef->content[i] = cursor_uleb(c);
		ef->form[i] = cursor_uleb(c);
	}
	return !c->failed;
}

/* One DWARF 5 entry: its path and directory index (dir stays as given if the
 * format has none). */
static bool read_entry(struct byte_cursor *c, const struct entry_format *ef, unsigned offset_size,
		       const struct line_sections *sec, const char **path, uint64_t *dir)
{
	*path = NULL;
	for (unsigned i = 0; i < ef->count; i++) {
		const char *s;
		uint64_t u;
		if (!read_form(c, (unsigned)ef->form[i], offset_size, sec, &s, &u))
			return false;
		if (ef->content[i] == DW_LNCT_path)
			*path = s;
		else if (ef->content[i] == DW_LNCT_directory_index)
			*dir = u;
	}
	return *path != NULL;
}

/* dir: an index into t->dirs, or NO_DIR for a name kept as it is. */
#define NO_DIR UINT32_MAX

static bool push_file(struct line_table *t, const char *name, uint64_t dir)
{
	struct line_file *lf = dir < t->dirs.count || dir == NO_DIR ? vec_push(&t->files, sizeof(*lf)) : NULL;
	if (lf)
		*lf = (struct line_file){ name, (uint32_t)dir, NULL };
	return lf != NULL;
}

static bool push_dir(struct line_table *t, const char *dir)
{
	const char **d = vec_push(&t->dirs, sizeof(*d));
	if (d)
		*d = dir;
	return d != NULL;
}

/* The directories and files of the header (c just past the standard opcode
 * lengths). */
static bool read_files(struct line_table *t, struct byte_cursor *c, unsigned version, unsigned offset_size,
		       const struct line_sections *sec, const char *comp_dir)
{
	if (version < 5) {
		/* Before DWARF 5, directory 0 is the CU's and file 0 does not
		 * exist: libdw names it "???". */
		if (!push_dir(t, comp_dir))
			return false;
		while (cursor_has(c, 1) && *c->p)
			if (!push_dir(t, cursor_cstring(c)) || c->failed)
				return false;
		if (!cursor_has(c, 1))
			return false;
		c->p++;
		if (!push_file(t, "???", NO_DIR))
			return false;
		while (cursor_has(c, 1) && *c->p) {
			const char *name = cursor_cstring(c);
			uint64_t dir = cursor_uleb(c);
			cursor_uleb(c); /* modification time */
			cursor_uleb(c); /* length */
			if (c->failed || !push_file(t, name, dir))
				return false;
		}
		if (!cursor_has(c, 1))
			return false;
		c->p++;
		return !c->failed;
	}
	struct entry_format ef;
	if (!read_entry_format(c, &ef))
		return false;
	uint64_t n = cursor_uleb(c);
	if (n > (uint64_t)(c->end - c->p))
		return false;
	for (uint64_t i = 0; i < n; i++) {
		const char *path;
		uint64_t ignored;
		if (!read_entry(c, &ef, offset_size, sec, &path, &ignored) || !push_dir(t, path))
			return false;
	}
	if (!read_entry_format(c, &ef))
		return false;
	n = cursor_uleb(c);
	if (n > (uint64_t)(c->end - c->p))
		return false;
	for (uint64_t i = 0; i < n; i++) {
		const char *path;
		uint64_t dir = UINT64_MAX;
		if (!read_entry(c, &ef, offset_size, sec, &path, &dir) || !push_file(t, path, dir))
			return false;
	}
	return !c->failed;
}

/* Called for every row of every program: inline but for growing. */
static inline bool push_row(struct vec *rows, uint64_t addr, uint64_t line, uint64_t file, bool end)
{
	struct line_row *r = rows->count < rows->cap ? (struct line_row *)rows->data + rows->count++ :
						       vec_push(rows, sizeof(*r));
	if (r)
		*r = (struct line_row){ addr, line <= UINT32_MAX ? (uint32_t)line : 0,
					(file < LINE_ROW_END ? (uint32_t)file : LINE_ROW_END - 1) | (end ? LINE_ROW_END : 0) };
	return r != NULL;
}

struct program_header {
	uint8_t min_insn_length, max_ops, default_is_stmt, line_range, opcode_base;
	int8_t line_base;
	const uint8_t *opcode_lengths; /* [opcode - 1] */
	uint8_t address_size;
};

/* Runs the line number program in c, each row it emits into v. */
static bool run_program(struct byte_cursor *c, const struct program_header *h, struct vec *v)
{
	/* line wraps as libdw's does not: a table that overflows it is nonsense
	 * either way, and signed overflow would be undefined. */
	uint64_t addr = 0, file = 1, op_index = 0, line = 1;
	while (c->p < c->end) {
		unsigned op = *c->p++;
		if (op >= h->opcode_base) {
			if (!h->line_range)
				return false;
			unsigned adjusted = op - h->opcode_base;
			line += (uint64_t)(int64_t)(h->line_base + (int)(adjusted % h->line_range));
			uint64_t advance = op_index + adjusted / h->line_range;
			addr += h->min_insn_length * (advance / h->max_ops);
			op_index = advance % h->max_ops;
			if (!push_row(v, addr, line, file, false))
				return false;
			continue;
		}
		if (op == 0) {
			uint64_t len = cursor_uleb(c);
			if (!len || !cursor_has(c, len))
				return false;
			const uint8_t *next = c->p + len;
			unsigned sub = *c->p++;
			switch (sub) {
			case DW_LNE_define_file:
				return false; /* gone in DWARF 5, written by no compiler in use: libdw reads it */
			case DW_LNE_end_sequence:
				if (!push_row(v, addr, line, file, true))
					return false;
				addr = op_index = 0;
				file = 1;
				line = 1;
				break;
			case DW_LNE_set_address:
				if (len - 1 != h->address_size)
					return false;
				addr = cursor_le(c, h->address_size);
				op_index = 0;
				break;
			default: /* discriminators, vendors' */
				break;
			}
			c->p = next;
			continue;
		}
		switch (op) {
		case DW_LNS_copy:
			if (!push_row(v, addr, line, file, false))
				return false;
			break;
		case DW_LNS_advance_pc: {
			uint64_t advance = op_index + cursor_uleb(c);
			addr += h->min_insn_length * (advance / h->max_ops);
			op_index = advance % h->max_ops;
			break;
		}
		case DW_LNS_advance_line:
			line += (uint64_t)cursor_sleb(c);
			break;
		case DW_LNS_set_file:
			file = cursor_uleb(c);
			break;
		case DW_LNS_const_add_pc: {
			if (!h->line_range)
				return false;
			uint64_t advance = op_index + (255u - h->opcode_base) / h->line_range;
			addr += h->min_insn_length * (advance / h->max_ops);
			op_index = advance % h->max_ops;
			break;
		}
		case DW_LNS_fixed_advance_pc:
			addr += cursor_le(c, 2);
			op_index = 0;
			break;
		default:
			/* set_column, set_isa and opcodes unknown here: skipped by
			 * their argument counts; the flags change no row we keep. */
			for (unsigned i = h->opcode_lengths[op - 1]; i > 0; i--)
				cursor_uleb(c);
			break;
		}
		if (c->failed)
			return false;
	}
	return true;
}

/* libdw's order: by address, an end of sequence before a row at the same
 * address, else in the program's order (the merge is stable). */
static bool row_before(const struct line_row *a, const struct line_row *b)
{
	if (a->addr != b->addr)
		return a->addr < b->addr;
	return (a->file & LINE_ROW_END) && !(b->file & LINE_ROW_END);
}

/* A stable natural merge sort, for rows in any order. */
static bool merge_sort_rows(struct line_row *rows, uint32_t n)
{
	struct line_row *tmp = malloc((size_t)n * sizeof(*tmp));
	if (!tmp)
		return false;
	struct line_row *src = rows, *dst = tmp;
	for (;;) {
		uint32_t runs = 0;
		for (uint32_t lo = 0; lo < n;) {
			uint32_t mid = lo + 1;
			while (mid < n && !row_before(&src[mid], &src[mid - 1]))
				mid++;
			uint32_t hi = mid < n ? mid + 1 : n;
			while (hi < n && !row_before(&src[hi], &src[hi - 1]))
				hi++;
			uint32_t a = lo, b = mid, o = lo;
			while (a < mid && b < hi)
				dst[o++] = row_before(&src[b], &src[a]) ? src[b++] : src[a++];
			while (a < mid)
				dst[o++] = src[a++];
			while (b < hi)
				dst[o++] = src[b++];
			lo = hi;
			runs++;
		}
		struct line_row *t = src;
		src = dst;
		dst = t;
		if (runs <= 1)
			break;
	}
	if (src != rows)
		memcpy(rows, src, (size_t)n * sizeof(*rows));
	free(tmp);
	return true;
}

struct sequence {
	uint32_t first, count;
};

static int sequence_cmp(const void *a, const void *b, void *rows)
{
	const struct sequence *x = a, *y = b;
	const struct line_row *p = (const struct line_row *)rows + x->first, *q = (const struct line_row *)rows + y->first;
	if (row_before(p, q))
		return -1;
	if (row_before(q, p))
		return 1;
	return (x->first > y->first) - (x->first < y->first);
}

static int sequence_first_cmp(const void *a, const void *b)
{
	const struct sequence *x = a, *y = b;
	return (x->first > y->first) - (x->first < y->first);
}

/* Rows sorted as whole sequences (each ends with an end of sequence), as
 * compilers write them: in order within, and a C++ CU has one for each
 * function template instance, in its own section, in no order of address.
 * Sequences that overlap (those of code the linker dropped, all at 0) are
 * merged row by row, in the program's order.  False if out of memory. */
static bool sort_sequences(struct line_row *rows, uint32_t n)
{
	uint32_t nseq = 0;
	for (uint32_t i = 0; i < n; i++)
		if ((rows[i].file & LINE_ROW_END) || i + 1 == n)
			nseq++;
	struct sequence *seq = malloc(nseq * sizeof(*seq));
	struct line_row *sorted = malloc((size_t)n * sizeof(*sorted));
	if (!seq || !sorted) {
		free(seq);
		free(sorted);
		return false;
	}
	nseq = 0;
	for (uint32_t i = 0, first = 0; i < n; i++)
		if ((rows[i].file & LINE_ROW_END) || i + 1 == n) {
			seq[nseq++] = (struct sequence){ first, i + 1 - first };
			first = i + 1;
		}
	qsort_r(seq, nseq, sizeof(*seq), sequence_cmp, rows);
	bool ok = true;
	for (uint32_t k = 0, o = 0; k < nseq && ok;) {
		/* A group: the sequences that overlap the first's, and so on. */
		const struct line_row *last = &rows[seq[k].first + seq[k].count - 1];
		uint32_t end = k + 1, count = seq[k].count;
		bool ordered = true;
		for (uint32_t i = seq[k].first + 1; i < seq[k].first + seq[k].count; i++)
			ordered &= !row_before(&rows[i], &rows[i - 1]);
		while (end < nseq && !row_before(last, &rows[seq[end].first])) {
			const struct line_row *l = &rows[seq[end].first + seq[end].count - 1];
			if (row_before(last, l))
				last = l;
			count += seq[end++].count;
		}
		if (end - k > 1)
			qsort(seq + k, end - k, sizeof(*seq), sequence_first_cmp);
		for (uint32_t j = k, at = o; j < end; at += seq[j++].count)
			memcpy(sorted + at, rows + seq[j].first, seq[j].count * sizeof(*rows));
		if (end - k > 1 || !ordered)
			ok = merge_sort_rows(sorted + o, count);
		o += count;
		k = end;
	}
	if (ok)
		memcpy(rows, sorted, (size_t)n * sizeof(*rows));
	free(sorted);
	free(seq);
	return ok;
}

/* Rows in libdw's order. */
static bool sort_rows(struct line_row *rows, uint32_t n)
{
	uint32_t i = 1;
	while (i < n && !row_before(&rows[i], &rows[i - 1]))
		i++;
	if (i >= n)
		return true;
	return sort_sequences(rows, n);
}

int line_table_read(struct line_table *t, const struct line_sections *s, uint64_t offset, uint8_t address_size,
		    const char *comp_dir)
{
	memset(t, 0, sizeof(*t));
	if (!s->line || offset >= s->line_size || (address_size != 4 && address_size != 8))
		return -1;
	struct byte_cursor c = { s->line + offset, s->line + s->line_size, false };
	uint64_t length = cursor_le(&c, 4);
	unsigned offset_size = 4;
	if (length == 0xffffffff) {
		length = cursor_le(&c, 8);
		offset_size = 8;
	}
	if (c.failed || length > (uint64_t)(c.end - c.p))
		return -1;
	c.end = c.p + length;
	unsigned version = (unsigned)cursor_le(&c, 2);
	if (version < 2 || version > 5)
		return -1;
	if (version >= 5 && (cursor_le(&c, 1) != address_size || cursor_le(&c, 1) != 0))
		return -1;
	uint64_t header_length = cursor_le(&c, offset_size);
	if (c.failed || header_length > (uint64_t)(c.end - c.p))
		return -1;
	struct byte_cursor program = { c.p + header_length, c.end, false };
	struct program_header h = { .address_size = address_size, .max_ops = 1 };
	h.min_insn_length = (uint8_t)cursor_le(&c, 1);
	if (version >= 4)
		h.max_ops = (uint8_t)cursor_le(&c, 1);
	h.default_is_stmt = (uint8_t)cursor_le(&c, 1);
	h.line_base = (int8_t)cursor_le(&c, 1);
	h.line_range = (uint8_t)cursor_le(&c, 1);
	h.opcode_base = (uint8_t)cursor_le(&c, 1);
	if (c.failed || !h.max_ops || !h.opcode_base || !cursor_has(&c, h.opcode_base - 1u))
		return -1;
	h.opcode_lengths = c.p;
	c.p += h.opcode_base - 1;
	/* The standard opcodes read here take the arguments the standard gives
	 * them: libdw rejects a table that says otherwise. */
	static const uint8_t standard_lengths[] = { 0, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 1 };
	for (unsigned op = 1; op < h.opcode_base && op <= sizeof(standard_lengths); op++)
		if (h.opcode_lengths[op - 1] != standard_lengths[op - 1])
			return -1;
	c.end = program.p;
	if (!read_files(t, &c, version, offset_size, s, comp_dir) || c.p != program.p ||
	    !run_program(&program, &h, &t->rows) || !sort_rows(t->rows.data, t->rows.count)) {
		line_table_release(t);
		return -1;
	}
	if (t->rows.count) /* as libdw marks the last */
		((struct line_row *)t->rows.data)[t->rows.count - 1].file |= LINE_ROW_END;
	t->version = (uint16_t)version;
	return 0;
}

void line_table_set_comp_dir(struct line_table *t, const char *comp_dir)
{
	if (t->version < 5 && t->dirs.count)
		((const char **)t->dirs.data)[0] = comp_dir;
}

uint64_t line_table_next(const struct line_sections *s, uint64_t offset)
{
	if (!s->line || offset >= s->line_size)
		return 0;
	struct byte_cursor c = { s->line + offset, s->line + s->line_size, false };
	uint64_t length = cursor_le(&c, 4);
	if (length == 0xffffffff)
		length = cursor_le(&c, 8);
	if (c.failed || length > (uint64_t)(c.end - c.p))
		return 0;
	return (uint64_t)(c.p + length - s->line);
}

void line_table_release(struct line_table *t)
{
	struct line_file *files = t->files.data;
	for (uint32_t i = 0; i < t->files.count; i++)
		free(files[i].path);
	vec_release(&t->files);
	vec_release(&t->dirs);
	vec_release(&t->rows);
	memset(t, 0, sizeof(*t));
}

const struct line_row *line_table_find(const struct line_table *t, uint64_t addr)
{
	const struct line_row *rows = t->rows.data;
	uint32_t past = upper_bound_u64(rows, t->rows.count, sizeof(*rows), offsetof(struct line_row, addr), addr);
	if (past == 0 || (rows[past - 1].file & LINE_ROW_END))
		return NULL;
	return &rows[past - 1];
}

const char *line_table_path(struct line_table *t, uint32_t file)
{
	if (file >= t->files.count)
		return NULL;
	struct line_file *lf = (struct line_file *)t->files.data + file;
	const char *dir = lf->dir == NO_DIR ? NULL : ((const char **)t->dirs.data)[lf->dir];
	if (lf->name[0] == '/' || !dir)
		return lf->name;
	if (!lf->path) {
		size_t dl = strlen(dir), nl = strlen(lf->name);
		if (!(lf->path = malloc(dl + nl + 2)))
			return NULL;
		memcpy(lf->path, dir, dl);
		lf->path[dl] = '/';
		memcpy(lf->path + dl + 1, lf->name, nl + 1);
	}
	return lf->path;
}
