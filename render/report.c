/* Text: `smolder report` (top functions by self and total) and `smolder info`. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "render/render-internal.h"

static int by_self(const void *a, const void *b)
{
	const struct fn_total *x = a, *y = b;
	return (y->self > x->self) - (y->self < x->self);
}
static int by_total(const void *a, const void *b)
{
	const struct fn_total *x = a, *y = b;
	return (y->total > x->total) - (y->total < x->total);
}

/* Per function name: self (leaf frame) and total (anywhere in the stack,
 * counted once per stack even under recursion). */
int function_totals(const struct profile *p, uint32_t v, struct string_table *names, bool with_lines,
		    struct fn_total **out, uint32_t *count)
{
	struct frame_namer fn;
	int err = frame_namer_init(&fn, p, names, with_lines);
	if (err)
		return err;
	struct vec totals = { 0 };   /* struct fn_total, indexed by name id */
	struct vec seen = { 0 };     /* uint32_t: last sample index that credited total */
	for (uint32_t i = 0; i < p->samples.count && !err; i++) {
		const struct sample *s = profile_sample(p, i);
		int64_t value = s->value[v];
		if (!value)
			continue;
		bool leaf = true;
		for (uint32_t st = s->stack; st != PROFILE_NONE && !err; st = profile_stack(p, st)->parent) {
			const uint32_t *ids;
			uint32_t n;
			if ((err = frame_namer_get(&fn, profile_stack(p, st)->location, &ids, NULL, &n)))
				break;
			for (uint32_t k = n; k-- > 0;) {
				uint32_t id = ids[k];
				while (totals.count <= id) {
					struct fn_total *t = vec_push(&totals, sizeof(*t));
					uint32_t *mark = vec_push(&seen, sizeof(*mark));
					if (!t || !mark) {
						err = -RENDER_E_NOMEM;
						break;
					}
					*t = (struct fn_total){ totals.count - 1, 0, 0 };
					*mark = UINT32_MAX;
				}
				if (err)
					break;
				struct fn_total *t = &((struct fn_total *)totals.data)[id];
				uint32_t *mark = &((uint32_t *)seen.data)[id];
				if (leaf)
					t->self = sat_add_i64(t->self, value);
				leaf = false;
				if (*mark != i) {
					t->total = sat_add_i64(t->total, value);
					*mark = i;
				}
			}
		}
	}
	vec_release(&seen);
	frame_namer_release(&fn);
	if (err) {
		vec_release(&totals);
		return err;
	}
	*out = totals.data;
	*count = totals.count;
	return 0;
}

static void print_table(FILE *out, const struct string_table *names, struct fn_total *t,
			uint32_t n, uint32_t limit, int64_t total, bool self, const char *unit)
{
	if (n > 1)
		qsort(t, n, sizeof(*t), self ? by_self : by_total);
	fprintf(out, "  %-8s %16s  %s\n", self ? "self%" : "total%", unit, "function");
	for (uint32_t i = 0; i < n && i < limit; i++) {
		int64_t v = self ? t[i].self : t[i].total;
		if (v == 0)
			break;
		fprintf(out, "  %7.2f%% %16" PRId64 "  ", total ? 100.0 * v / total : 0.0, v);
		text_name(out, string_table_get(names, t[i].name));
		fputc('\n', out);
	}
}

int render_report(const struct profile *p, const struct report_options *o, FILE *out)
{
	int only = -1;
	if (o->value) {
		only = render_value_index(p, o->value);
		if (only < 0)
			return only;
	}
	for (uint32_t v = 0; v < p->nvalues; v++) {
		if (only >= 0 && (int)v != only)
			continue;
		const char *type = string_table_get(&p->strings, p->value_types[v].type);
		const char *unit = string_table_get(&p->strings, p->value_types[v].unit);
		int64_t total = profile_total(p, v);
		fprintf(out, "%s%s (%s): total %" PRId64 "\n", v && only < 0 ? "\n" : "", type, unit, total);
		struct string_table names;
		string_table_init(&names);
		struct fn_total *t;
		uint32_t n;
		int err = function_totals(p, v, &names, false, &t, &n);
		if (err) {
			string_table_release(&names);
			return err;
		}
		fputs(" by self:\n", out);
		print_table(out, &names, t, n, o->limit, total, true, unit);
		fputs(" by total:\n", out);
		print_table(out, &names, t, n, o->limit, total, false, unit);
		free(t);
		string_table_release(&names);
		/* Hot lines: self value by function and source line, where known. */
		string_table_init(&names);
		err = function_totals(p, v, &names, true, &t, &n);
		if (err) {
			string_table_release(&names);
			return err;
		}
		bool with_lines = false;
		for (uint32_t i = 0; i < p->functions.count && !with_lines; i++)
			with_lines = profile_function(p, i)->file != 0;
		if (with_lines) {
			fputs(" by line (self):\n", out);
			print_table(out, &names, t, n, o->limit, total, true, unit);
		}
		free(t);
		string_table_release(&names);
	}
	return ferror(out) ? -RENDER_E_IO : 0;
}

static void print_meta(const struct profile *p, FILE *out, const char *label, const char *key)
{
	const char *v = profile_get_meta(p, key);
	if (v && *v)
		fprintf(out, "%-14s %s\n", label, v);
}

int render_info(const struct profile *p, const struct profile_read_info *ri, FILE *out)
{
	print_meta(p, out, "command:", "command");
	print_meta(p, out, "pid:", "pid");
	print_meta(p, out, "host:", "host");
	print_meta(p, out, "kernel:", "kernel");
	print_meta(p, out, "start:", "start");
	print_meta(p, out, "duration:", "duration");
	print_meta(p, out, "view:", "view");
	print_meta(p, out, "event:", "event");
	print_meta(p, out, "frequency:", "frequency");
	print_meta(p, out, "alloc:", "alloc");
	print_meta(p, out, "unwind:", "unwind");
	print_meta(p, out, "sources:", "sources");
	fputs("values:       ", out);
	for (uint32_t v = 0; v < p->nvalues; v++)
		fprintf(out, "%s%s/%s", v ? ", " : "", string_table_get(&p->strings, p->value_types[v].type),
			string_table_get(&p->strings, p->value_types[v].unit));
	fputc('\n', out);
	for (uint32_t v = 0; v < p->nvalues; v++)
		fprintf(out, "total %-8s %" PRId64 "\n", string_table_get(&p->strings, p->value_types[v].type),
			profile_total(p, v));
	print_meta(p, out, "samples:", "samples");
	print_meta(p, out, "lost samples:", "lost");
	print_meta(p, out, "not unwound:", "unwind_dropped");
	print_meta(p, out, "no stack:", "unwind_shed");
	print_meta(p, out, "notes:", "notes");
	print_meta(p, out, "exit:", "exit");
	print_meta(p, out, "truncated:", "stack_truncated");
	const char *unnamed = profile_get_meta(p, "unsymbolized");
	if (unnamed && *unnamed) {
		fputs("unsymbolized: files whose addresses have no names, and why\n", out);
		for (const char *line = unnamed; *line;) {
			size_t n = strcspn(line, "\n");
			fprintf(out, "  %.*s\n", (int)n, line);
			line += n + (line[n] == '\n');
		}
	}
	/* Distinct threads that have samples. */
	uint32_t threads = 0;
	for (uint32_t i = 0; i < p->threads.count; i++) {
		const struct thread *t = profile_thread(p, i);
		if (profile_find_thread(p, t->tid) == t)
			threads++;
	}
	fprintf(out, "threads:       %u\n", threads);
	fprintf(out, "unique stacks: %u (%u stack nodes, %u locations, %u functions)\n",
		p->samples.count, p->stacks.count, p->locations.count, p->functions.count);
	if (ri)
		fprintf(out, "file:          %" PRIu64 " bytes, %u chunks%s\n", ri->file_bytes, ri->chunks,
			ri->truncated ? " (truncated)" : "");
	fprintf(out, "mappings:      %u\n", p->mappings.count);
	for (uint32_t i = 0; i < p->mappings.count; i++) {
		const struct mapping *m = profile_mapping(p, i);
		const char *bid = string_table_get(&p->strings, m->build_id);
		fprintf(out, "  %016" PRIx64 "-%016" PRIx64 " %8" PRIx64 " %s%s%s\n", m->start, m->end,
			m->offset, string_table_get(&p->strings, m->path), *bid ? " build-id " : "", bid);
	}
	return ferror(out) ? -RENDER_E_IO : 0;
}

int render_locations(const struct profile *p, FILE *out)
{
	for (uint32_t i = 0; i < p->locations.count; i++) {
		const struct location *l = profile_location(p, i);
		if (l->mapping == PROFILE_NONE)
			continue;
		const struct mapping *m = profile_mapping(p, l->mapping);
		fprintf(out, "%s 0x%" PRIx64 "\n", string_table_get(&p->strings, m->path),
			l->address - m->start + m->offset);
		for (uint32_t k = l->nlines; k-- > 0;) {
			const struct line *line = profile_line(p, l->lines + k);
			const struct function *f = profile_function(p, line->function);
			fprintf(out, "\t%s %s:%u\n", string_table_get(&p->strings, f->name),
				f->file ? string_table_get(&p->strings, f->file) : "??", line->line);
		}
	}
	return ferror(out) ? -RENDER_E_IO : 0;
}
