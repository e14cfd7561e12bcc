/* Comparing two profiles: difffolded.pl's two-column folded text, the
 * differential flame tree, and the report of functions whose share moved. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "render/render-internal.h"

static int line_cmp(const struct folded_lines *a, size_t i, const struct folded_lines *b, size_t j)
{
	const struct folded_line *x = &a->lines[i], *y = &b->lines[j];
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(a->text + x->off, b->text + y->off, n);
	return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* difffolded.pl -n: the first count scaled to the second total, truncated. */
static int64_t normalized(int64_t c, int64_t total1, int64_t total2)
{
	if (total1 == 0 || total1 == total2)
		return c;
	__int128 q = (__int128)c * total2 / total1;
	return q > INT64_MAX ? INT64_MAX : q < INT64_MIN ? INT64_MIN : (int64_t)q;
}

int render_diff_folded(const struct profile *base, const struct profile *new_p,
		       const struct render_select *sel, bool normalize, FILE *out)
{
	struct folded_lines a, b;
	int err = folded_lines_build(base, sel, &a);
	if (err)
		return err;
	if ((err = folded_lines_build(new_p, sel, &b))) {
		folded_lines_release(&a);
		return err;
	}
	int64_t t1 = 0, t2 = 0;
	for (size_t i = 0; i < a.count; i++)
		t1 = sat_add_i64(t1, a.lines[i].value);
	for (size_t j = 0; j < b.count; j++)
		t2 = sat_add_i64(t2, b.lines[j].value);
	/* Both lists are sorted: a merge join visits every stack once. */
	size_t i = 0, j = 0;
	while (i < a.count || j < b.count) {
		int c = i == a.count ? 1 : j == b.count ? -1 : line_cmp(&a, i, &b, j);
		const struct folded_lines *src = c <= 0 ? &a : &b;
		size_t k = c <= 0 ? i : j;
		int64_t c1 = c <= 0 ? a.lines[i].value : 0;
		int64_t c2 = c >= 0 ? b.lines[j].value : 0;
		if (normalize)
			c1 = normalized(c1, t1, t2);
		fwrite(src->text + src->lines[k].off, 1, src->lines[k].len, out);
		fprintf(out, " %" PRId64 " %" PRId64 "\n", c1, c2);
		i += c <= 0;
		j += c >= 0;
	}
	folded_lines_release(&a);
	folded_lines_release(&b);
	return ferror(out) ? -RENDER_E_IO : 0;
}

int flame_tree_add_diff(struct flame_tree *t, const struct profile *base, const struct profile *new_p,
			const struct render_select *sel, bool negate)
{
	int vb = render_value_index(base, sel->value), vn = render_value_index(new_p, sel->value);
	if (vb < 0)
		return vb;
	if (vn < 0)
		return vn;
	/* Widths come from NEW, or from BASE with --negate. */
	const struct profile *drawn = negate ? base : new_p, *other = negate ? new_p : base;
	int err = flame_tree_add_profile(t, drawn, (uint32_t)(negate ? vb : vn), sel, false);
	if (!err)
		err = flame_tree_add_profile(t, other, (uint32_t)(negate ? vn : vb), sel, true);
	return err;
}

/* ---- the report ---- */

struct diff_row {
	const char *name;
	double base_total, new_total, base_self, new_self; /* percent of each profile's total */
	int64_t base_count, new_count;
};

/* Most changed first: by how much the function's total and self shares
 * moved together, so that a function whose own time changed comes before the
 * callers that only carry it (their totals move as much, their self not). */
static int row_cmp(const void *a, const void *b)
{
	const struct diff_row *x = a, *y = b;
	double tx = fabs(x->new_total - x->base_total), ty = fabs(y->new_total - y->base_total);
	double kx = tx + fabs(x->new_self - x->base_self), ky = ty + fabs(y->new_self - y->base_self);
	if (fabs(kx - ky) > 1e-9)
		return kx < ky ? 1 : -1;
	if (fabs(tx - ty) > 1e-9)
		return tx < ty ? 1 : -1;
	return strcmp(x->name, y->name);
}

static void json_str(FILE *out, const char *s)
{
	fputc('"', out);
	json_escape(out, s, strlen(s));
	fputc('"', out);
}

int render_diff_report(const struct profile *base, const struct profile *new_p,
		       const struct diff_report_options *o, FILE *out, struct diff_gate *gate)
{
	int vb = render_value_index(base, o->value), vn = render_value_index(new_p, o->value);
	if (vb < 0)
		return vb;
	if (vn < 0)
		return vn;
	struct string_table names;
	string_table_init(&names);
	struct fn_total *tb = NULL, *tn = NULL;
	uint32_t nb = 0, nn = 0;
	int err = function_totals(base, (uint32_t)vb, &names, false, &tb, &nb);
	if (!err)
		err = function_totals(new_p, (uint32_t)vn, &names, false, &tn, &nn);
	/* Both are indexed by name id in the shared table. */
	uint32_t n = names.count;
	struct diff_row *rows = err ? NULL : calloc(n ? n : 1, sizeof(*rows));
	if (!err && !rows)
		err = -RENDER_E_NOMEM;
	int64_t total_b = profile_total(base, (uint32_t)vb), total_n = profile_total(new_p, (uint32_t)vn);
	double scale_b = total_b ? 100.0 / (double)total_b : 0, scale_n = total_n ? 100.0 / (double)total_n : 0;
	if (o->absolute)
		scale_b = scale_n; /* raw counts, both in points of NEW's total */
	uint32_t count = 0;
	for (uint32_t id = 0; id < n && !err; id++) {
		const struct fn_total *b = id < nb ? &tb[id] : NULL, *w = id < nn ? &tn[id] : NULL;
		if ((!b || !b->total) && (!w || !w->total))
			continue;
		struct diff_row *r = &rows[count++];
		r->name = string_table_get(&names, id);
		r->base_total = b ? b->total * scale_b : 0;
		r->base_self = b ? b->self * scale_b : 0;
		r->new_total = w ? w->total * scale_n : 0;
		r->new_self = w ? w->self * scale_n : 0;
		r->base_count = b ? b->total : 0;
		r->new_count = w ? w->total : 0;
	}
	if (!err && count > 1)
		qsort(rows, count, sizeof(*rows), row_cmp);
	if (gate) {
		gate->exceeded = 0;
		for (uint32_t i = 0; i < count && !err; i++)
			if (o->fail_above >= 0 && rows[i].new_total - rows[i].base_total > o->fail_above) {
				if (gate->exceeded < DIFF_GATE_MAX) {
					struct diff_gate_hit *h = &gate->hits[gate->exceeded];
					snprintf(h->name, sizeof(h->name), "%s", rows[i].name);
					/* One line on stderr, whatever the name holds. */
					for (char *c = h->name; *c; c++)
						if ((unsigned char)*c < 0x20 || *c == 0x7f)
							*c = '?';
					h->before = rows[i].base_total;
					h->after = rows[i].new_total;
				}
				gate->exceeded++;
			}
	}
	uint32_t limit = o->limit && o->limit < count ? o->limit : count;
	if (!err) {
		const char *type = string_table_get(&new_p->strings, new_p->value_types[vn].type);
		if (o->format == DIFF_FORMAT_JSON) {
			fprintf(out, "{\"value\":");
			json_str(out, type);
			fprintf(out, ",\"base_total\":%" PRId64 ",\"new_total\":%" PRId64 ",\"functions\":[", total_b, total_n);
			for (uint32_t i = 0; i < limit; i++) {
				const struct diff_row *r = &rows[i];
				fputs(i ? ",{\"function\":" : "{\"function\":", out);
				json_str(out, r->name);
				fprintf(out, ",\"base_total_pct\":%.4f,\"new_total_pct\":%.4f,\"delta_total_pts\":%.4f,"
					     "\"base_self_pct\":%.4f,\"new_self_pct\":%.4f,\"delta_self_pts\":%.4f}",
					r->base_total, r->new_total, r->new_total - r->base_total, r->base_self, r->new_self,
					r->new_self - r->base_self);
			}
			fputs("]}\n", out);
		} else if (o->format == DIFF_FORMAT_TSV) {
			fputs("function\tbase_total_pct\tnew_total_pct\tdelta_total_pts\tbase_self_pct\tnew_self_pct\tdelta_self_pts\n", out);
			for (uint32_t i = 0; i < limit; i++) {
				const struct diff_row *r = &rows[i];
				text_name(out, r->name); /* no tab or newline to break the row */
				fprintf(out, "\t%.4f\t%.4f\t%+.4f\t%.4f\t%.4f\t%+.4f\n", r->base_total, r->new_total,
					r->new_total - r->base_total, r->base_self, r->new_self, r->new_self - r->base_self);
			}
		} else {
			fprintf(out, "%s: base total %" PRId64 ", new total %" PRId64 "%s\n", type, total_b, total_n,
				o->absolute ? " (absolute)" : " (shares of each total)");
			fprintf(out, "%9s %9s %9s  %9s %9s %9s  %s\n", "total:old", "new", "delta", "self:old", "new",
				"delta", "function");
			for (uint32_t i = 0; i < limit; i++) {
				const struct diff_row *r = &rows[i];
				fprintf(out, "%8.2f%% %8.2f%% %+8.2f  %8.2f%% %8.2f%% %+8.2f  ", r->base_total,
					r->new_total, r->new_total - r->base_total, r->base_self, r->new_self,
					r->new_self - r->base_self);
				text_name(out, r->name);
				fputc('\n', out);
			}
		}
	}
	free(rows);
	free(tb);
	free(tn);
	string_table_release(&names);
	if (err)
		return err;
	return ferror(out) ? -RENDER_E_IO : 0;
}
