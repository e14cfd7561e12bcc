/* The HTML report: one self-contained page where a recording's heatmap over
 * time, its views and values, a flamegraph and a table of top functions
 * meet.  This file writes the page's data as JSON; the script in
 * html_report_page.h draws everything from it in the browser, so that a
 * dragged time range or another value costs no round trip. */
#include <stdlib.h>
#include <string.h>

#include "render/html_report_page.h"
#include "render/render-internal.h"

/* A profile's samples as leaves of the page's shared tree. */
struct page_profile {
	const struct profile *p;
	uint32_t *leaf; /* per sample */
};

static int place_samples(struct flame_tree *t, struct page_profile *pp, const struct render_select *sel)
{
	const struct profile *p = pp->p;
	pp->leaf = calloc(p->samples.count ? p->samples.count : 1, sizeof(*pp->leaf));
	if (!pp->leaf)
		return -RENDER_E_NOMEM;
	struct sample_walker w;
	int err = sample_walker_init(&w, p, &t->names, sel);
	for (uint32_t i = 0; i < p->samples.count && !err; i++) {
		if ((err = sample_walker_path(&w, profile_sample(p, i))))
			break;
		int64_t node = flame_tree_path(t, w.path.data, NULL, w.path.count);
		if (node < 0)
			err = (int)node;
		else
			pp->leaf[i] = (uint32_t)node;
	}
	sample_walker_release(&w);
	return err;
}

static void write_json_string(FILE *out, const char *s)
{
	fputc('"', out);
	json_escape(out, s, strlen(s));
	fputc('"', out);
}

static void write_tree(FILE *out, const struct flame_tree *t)
{
	fputs("\"names\":", out);
	json_string_array(out, &t->names);
	/* Parent and name of each node; a parent always comes before its
	 * children, which lets the page sum totals in one backward pass. */
	fputs(",\"tree\":[", out);
	for (uint32_t i = 0; i < t->nodes.count; i++) {
		const struct flame_node *n = flame_node_at(t, i);
		fprintf(out, i ? ",%d,%u" : "%d,%u", n->parent == PROFILE_NONE ? -1 : (int)n->parent, n->name);
	}
	fputc(']', out);
}

static int time_cmp(const void *a, const void *b, void *ctx)
{
	const struct profile *p = ctx;
	uint64_t x = profile_event(p, *(const uint32_t *)a)->time, y = profile_event(p, *(const uint32_t *)b)->time;
	return (x > y) - (x < y);
}

/* Events in time order: milliseconds since the start as deltas, their
 * samples, and per value either the one value every event has (a CPU
 * sample's count and period) or each event's. */
static int write_events(FILE *out, const struct profile *p)
{
	uint64_t start, end;
	if (!profile_time_span(p, &start, &end) || p->events.count == 0) {
		fputs("\"events\":null", out);
		return 0;
	}
	uint32_t n = p->events.count, *order = malloc((size_t)n * sizeof(*order));
	if (!order)
		return -RENDER_E_NOMEM;
	for (uint32_t i = 0; i < n; i++)
		order[i] = i;
	qsort_r(order, n, sizeof(*order), time_cmp, (void *)p);
	fprintf(out, "\"events\":{\"span\":%.3f,\"dt\":[", (double)(end - start) / 1e6);
	int64_t last = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t t = profile_event(p, order[i])->time;
		int64_t ms = t > start ? (int64_t)((t - start + 500000) / 1000000) : 0;
		fprintf(out, i ? ",%lld" : "%lld", (long long)(ms - last));
		last = ms;
	}
	fputs("],\"s\":[", out);
	for (uint32_t i = 0; i < n; i++)
		fprintf(out, i ? ",%u" : "%u", profile_event(p, order[i])->sample);
	fputs("],\"v\":[", out);
	for (uint32_t v = 0; v < p->nvalues; v++) {
		int64_t first = profile_event_values(p, order[0])[v];
		bool same = true;
		for (uint32_t i = 1; i < n && same; i++)
			same = profile_event_values(p, order[i])[v] == first;
		fputs(v ? "," : "", out);
		if (same) {
			fprintf(out, "%lld", (long long)first);
			continue;
		}
		for (uint32_t i = 0; i < n; i++)
			fprintf(out, i ? ",%lld" : "[%lld", (long long)profile_event_values(p, order[i])[v]);
		fputc(']', out);
	}
	fputs("]}", out);
	free(order);
	return 0;
}

static int write_profile(FILE *out, const struct page_profile *pp)
{
	const struct profile *p = pp->p;
	fputs("{\"leaf\":[", out);
	for (uint32_t i = 0; i < p->samples.count; i++)
		fprintf(out, i ? ",%u" : "%u", pp->leaf[i]);
	fputs("],\"totals\":[", out);
	for (uint32_t v = 0; v < p->nvalues; v++) {
		fputs(v ? ",[" : "[", out);
		for (uint32_t i = 0; i < p->samples.count; i++)
			fprintf(out, i ? ",%lld" : "%lld", (long long)profile_sample(p, i)->value[v]);
		fputc(']', out);
	}
	fputs("],", out);
	int err = write_events(out, p);
	fputc('}', out);
	return err;
}

static void write_values(FILE *out, const struct profile *p)
{
	fputs("\"values\":[", out);
	for (uint32_t v = 0; v < p->nvalues; v++) {
		fputs(v ? ",{\"type\":" : "{\"type\":", out);
		write_json_string(out, string_table_get(&p->strings, p->value_types[v].type));
		fputs(",\"unit\":", out);
		write_json_string(out, string_table_get(&p->strings, p->value_types[v].unit));
		fputc('}', out);
	}
	fputc(']', out);
}

static int write_data(FILE *out, const struct flame_tree *t, const struct page_profile *pp, uint32_t nprofiles,
		      const struct html_report_options *o)
{
	const struct profile *p = pp[nprofiles - 1].p;
	fputs("{\"title\":", out);
	write_json_string(out, o->title ? o->title : "smolder");
	const char *command = profile_get_meta(p, "command");
	fputs(",\"subtitle\":", out);
	write_json_string(out, command ? command : "");
	int v = render_value_index(p, o->sel.value);
	fprintf(out, ",\"value\":%d,\"diff\":%s,", v > 0 ? v : 0, nprofiles > 1 ? "true" : "false");
	write_values(out, p);
	fputc(',', out);
	write_tree(out, t);
	fputs(",\"profiles\":[", out);
	int err = 0;
	for (uint32_t i = 0; i < nprofiles && !err; i++) {
		fputs(i ? "," : "", out);
		err = write_profile(out, &pp[i]);
	}
	fputs("]}", out);
	return err;
}

/* The base's value types must be the new profile's, in the same order: the
 * page picks one value for both. */
static bool same_values(const struct profile *a, const struct profile *b)
{
	if (a->nvalues != b->nvalues)
		return false;
	for (uint32_t v = 0; v < a->nvalues; v++)
		if (strcmp(string_table_get(&a->strings, a->value_types[v].type),
			   string_table_get(&b->strings, b->value_types[v].type)) != 0)
			return false;
	return true;
}

int render_html_report(const struct profile *p, const struct profile *base, const struct html_report_options *o,
		       FILE *out)
{
	if (p->nvalues == 0)
		return -RENDER_E_NO_VALUE;
	if (render_value_index(p, o->sel.value) < 0)
		return -RENDER_E_NO_VALUE;
	if (base && !same_values(base, p))
		return -RENDER_E_BAD_OPTION;
	struct flame_tree t;
	struct page_profile pp[2] = { { base ? base : p, NULL }, { p, NULL } };
	uint32_t n = base ? 2 : 1;
	int err = flame_tree_init(&t);
	for (uint32_t i = 0; i < n && !err; i++)
		err = place_samples(&t, &pp[i], &o->sel);
	if (!err) {
		fputs(html_report_head, out);
		err = write_data(out, &t, pp, n, o);
		fputc('\n', out);
		fputs(html_report_tail, out);
	}
	for (uint32_t i = 0; i < n; i++)
		free(pp[i].leaf);
	flame_tree_release(&t);
	if (err)
		return err;
	return ferror(out) ? -RENDER_E_IO : 0;
}
