/* `smolder top`'s table: the top functions by self and total share over
 * the last interval and since the start, side by side. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "render/render-internal.h"

struct top_row {
	int64_t self[2], total[2]; /* [0] the last interval, [1] since the start */
	uint32_t seen;             /* the last sample that credited total, + 1 */
	uint32_t name;
};

struct top_count {
	struct string_table *names;
	struct vec rows; /* struct top_row, indexed by name id */
	bool by_process;
};

static struct top_row *row_of(struct top_count *c, uint32_t name)
{
	while (c->rows.count <= name) {
		struct top_row *r = vec_push(&c->rows, sizeof(*r));
		if (!r)
			return NULL;
		*r = (struct top_row){ .name = c->rows.count - 1 };
	}
	return (struct top_row *)c->rows.data + name;
}

/* "function  [process]" when the table is by process. */
static int64_t row_name(struct top_count *c, uint32_t frame, const char *process)
{
	if (!c->by_process || !process)
		return frame;
	char buf[640];
	int n = snprintf(buf, sizeof(buf), "%.480s  [%.100s]", string_table_get(c->names, frame), process);
	return string_table_intern(c->names, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* Adds value v of every sample of p to side (0: last, 1: since the start). */
static int count_profile(struct top_count *c, const struct profile *p, int v, int side)
{
	if (v < 0)
		return 0;
	struct render_select sel = { 0 };
	struct sample_walker w;
	int err = sample_walker_init(&w, p, c->names, &sel);
	for (uint32_t i = 0; i < p->samples.count && !err; i++) {
		const struct sample *s = profile_sample(p, i);
		int64_t value = s->value[v];
		if (!value || (err = sample_walker_path(&w, s)))
			continue;
		/* The walk starts with the process's name when the thread is known. */
		uint32_t first = profile_find_thread(p, s->tid) ? 1 : 0, n = w.path.count;
		const uint32_t *path = w.path.data;
		const char *process = first && n ? string_table_get(c->names, path[0]) : NULL;
		for (uint32_t k = first; k < n && !err; k++) {
			int64_t name = row_name(c, path[k], process);
			struct top_row *r = name < 0 ? NULL : row_of(c, (uint32_t)name);
			if (!r) {
				err = -RENDER_E_NOMEM;
				break;
			}
			if (k + 1 == n)
				r->self[side] = sat_add_i64(r->self[side], value);
			if (r->seen != i + 1 + side * p->samples.count) {
				r->total[side] = sat_add_i64(r->total[side], value);
				r->seen = i + 1 + side * p->samples.count;
			}
		}
	}
	sample_walker_release(&w);
	return err;
}

static int by_last_then_all(const void *a, const void *b)
{
	const struct top_row *x = a, *y = b;
	if (x->self[0] != y->self[0])
		return (y->self[0] > x->self[0]) - (y->self[0] < x->self[0]);
	if (x->total[0] != y->total[0])
		return (y->total[0] > x->total[0]) - (y->total[0] < x->total[0]);
	return (y->self[1] > x->self[1]) - (y->self[1] < x->self[1]);
}

static double share(int64_t v, int64_t total)
{
	return total ? 100.0 * (double)v / (double)total : 0.0;
}

int render_top(const struct profile *last, const struct profile *all, const struct top_options *o, FILE *out)
{
	const struct profile *typed = all->nvalues ? all : last;
	int v = render_value_index(typed, o->value);
	if (v < 0)
		return v;
	struct string_table names;
	string_table_init(&names);
	struct top_count c = { .names = &names, .by_process = o->by_process };
	int vl = last->nvalues > (uint32_t)v ? v : -1, va = all->nvalues > (uint32_t)v ? v : -1;
	int err = count_profile(&c, last, vl, 0);
	if (!err)
		err = count_profile(&c, all, va, 1);
	if (!err) {
		int64_t total_last = vl >= 0 ? profile_total(last, (uint32_t)vl) : 0;
		int64_t total_all = va >= 0 ? profile_total(all, (uint32_t)va) : 0;
		struct top_row *rows = c.rows.data;
		if (c.rows.count > 1)
			qsort(rows, c.rows.count, sizeof(*rows), by_last_then_all);
		fprintf(out, "%-17s  %-17s\n", "  last interval", "  since the start");
		fprintf(out, "%8s %8s  %8s %8s  %s\n", "self%", "total%", "self%", "total%",
			o->by_process ? "function  [process]" : "function");
		for (uint32_t i = 0, shown = 0; i < c.rows.count && shown < o->limit; i++) {
			const struct top_row *r = &rows[i];
			if (!r->self[0] && !r->total[0] && !r->self[1])
				continue;
			if (!r->self[0] && !r->self[1])
				continue; /* only callers: the table is of where time is spent */
			fprintf(out, "%7.2f%% %7.2f%%  %7.2f%% %7.2f%%  ", share(r->self[0], total_last),
				share(r->total[0], total_last), share(r->self[1], total_all), share(r->total[1], total_all));
			text_name(out, string_table_get(&names, r->name));
			fputc('\n', out);
			shown++;
		}
	}
	vec_release(&c.rows);
	string_table_release(&names);
	return err ? err : ferror(out) ? -RENDER_E_IO : 0;
}
