/* speedscope's file format (https://www.speedscope.app/file-format-schema.json):
 * shared frames, one "sampled" profile per value type, and, where the
 * profile kept times, one "evented" profile per thread: its time order. */
#include <stdlib.h>
#include <string.h>

#include "render/render-internal.h"

static const char *speedscope_unit(const char *unit)
{
	if (strcmp(unit, "nanoseconds") == 0 || strcmp(unit, "bytes") == 0)
		return unit;
	return "none";
}

/* Frames closed down to the first `keep` of the path open, at `at`. */
static void close_frames(FILE *out, struct vec *open, uint32_t keep, uint64_t at, bool *first)
{
	const uint32_t *ids = open->data;
	while (open->count > keep) {
		fprintf(out, "%s{\"type\":\"C\",\"frame\":%u,\"at\":%llu}", *first ? "" : ",", ids[open->count - 1],
			(unsigned long long)at);
		*first = false;
		open->count--;
	}
}

/* One thread's events as frames opened and closed: each event spans its
 * time value up to its time (a CPU sample the period before it), cut where
 * the previous one ended. */
static int write_thread_events(FILE *out, const struct profile *p, struct sample_walker *w, uint32_t v,
			       const struct timeline *tl, const struct timeline_thread *th, uint64_t *end)
{
	struct vec open = { 0 };
	uint64_t last = 0;
	bool first = true;
	int err = 0;
	for (uint32_t k = th->first; k < th->first + th->count && !err; k++) {
		uint32_t e = tl->order[k];
		const struct profile_event *ev = profile_event(p, e);
		int64_t d = profile_event_values(p, e)[v];
		uint64_t t = ev->time > tl->start ? ev->time - tl->start : 0;
		uint64_t begin = d > 0 && (uint64_t)d < t ? t - (uint64_t)d : 0;
		if (d <= 0 || t <= last || (err = sample_walker_path(w, profile_sample(p, ev->sample))))
			continue;
		if (begin < last)
			begin = last;
		else if (begin > last)
			close_frames(out, &open, 0, last, &first);
		const uint32_t *path = w->path.data, *ids = open.data;
		uint32_t same = 0;
		while (same < open.count && same < w->path.count && ids[same] == path[same])
			same++;
		close_frames(out, &open, same, begin, &first);
		for (uint32_t i = same; i < w->path.count; i++) {
			uint32_t *slot = vec_push(&open, sizeof(*slot));
			if (!slot) {
				err = -RENDER_E_NOMEM;
				break;
			}
			*slot = path[i];
			fprintf(out, "%s{\"type\":\"O\",\"frame\":%u,\"at\":%llu}", first ? "" : ",", path[i],
				(unsigned long long)begin);
			first = false;
		}
		last = t;
	}
	close_frames(out, &open, 0, last, &first);
	vec_release(&open);
	*end = last;
	return err;
}

static int write_evented(FILE *out, const struct profile *p, struct sample_walker *w, const struct render_select *sel)
{
	int v = timeline_time_value(p, sel->value);
	struct timeline tl;
	int err = v < 0 ? 0 : timeline_build(&tl, p);
	if (v < 0 || err)
		return err;
	const char *type = string_table_get(&p->strings, p->value_types[v].type);
	for (uint32_t i = 0; i < tl.nthreads && !err; i++) {
		const struct timeline_thread *th = &tl.threads[i];
		const struct thread *t = profile_find_thread(p, th->tid);
		const char *comm = t ? string_table_get(&p->strings, t->comm) : "thread";
		fputs(",{\"type\":\"evented\",\"name\":\"", out);
		json_escape(out, comm, strlen(comm));
		fprintf(out, " (tid %u): %s over time\",\"unit\":\"nanoseconds\",\"startValue\":0,\"events\":[", th->tid,
			type);
		uint64_t end;
		err = write_thread_events(out, p, w, (uint32_t)v, &tl, th, &end);
		fprintf(out, "],\"endValue\":%llu}", (unsigned long long)end);
	}
	timeline_release(&tl);
	return err;
}

int render_speedscope(const struct profile *p, const struct render_select *sel, FILE *out)
{
	struct string_table names;
	string_table_init(&names);
	struct sample_walker w;
	int err = sample_walker_init(&w, p, &names, sel);
	if (err) {
		string_table_release(&names);
		return err;
	}
	/* Walk every sample once to name all frames before listing them. */
	for (uint32_t i = 0; i < p->samples.count && !err; i++)
		err = sample_walker_path(&w, profile_sample(p, i));
	const char *command = profile_get_meta(p, "command");
	fputs("{\"$schema\":\"https://www.speedscope.app/file-format-schema.json\",\"shared\":{\"frames\":[", out);
	/* Name id 0 is "" and never a frame name unless a frame is empty: list
	 * every id so that indices match. */
	for (uint32_t i = 0; i < names.count && !err; i++) {
		fputs(i ? ",{\"name\":\"" : "{\"name\":\"", out);
		json_escape(out, string_table_get(&names, i), string_table_len(&names, i));
		fputs("\"}", out);
	}
	fputs("]},\"profiles\":[", out);
	for (uint32_t v = 0; v < p->nvalues && !err; v++) {
		const char *type = string_table_get(&p->strings, p->value_types[v].type);
		const char *unit = string_table_get(&p->strings, p->value_types[v].unit);
		fprintf(out, "%s{\"type\":\"sampled\",\"name\":\"", v ? "," : "");
		json_escape(out, type, strlen(type));
		fprintf(out, "\",\"unit\":\"%s\",\"startValue\":0,\"endValue\":%lld,\"samples\":[",
			speedscope_unit(unit), (long long)profile_total(p, v));
		bool first = true;
		for (uint32_t i = 0; i < p->samples.count && !err; i++) {
			const struct sample *s = profile_sample(p, i);
			if (s->value[v] == 0 || (err = sample_walker_path(&w, s)))
				continue;
			fputs(first ? "[" : ",[", out);
			first = false;
			const uint32_t *ids = w.path.data;
			for (uint32_t k = 0; k < w.path.count; k++)
				fprintf(out, k ? ",%u" : "%u", ids[k]);
			fputc(']', out);
		}
		fputs("],\"weights\":[", out);
		first = true;
		for (uint32_t i = 0; i < p->samples.count; i++) {
			const struct sample *s = profile_sample(p, i);
			if (s->value[v] == 0)
				continue;
			fprintf(out, first ? "%lld" : ",%lld", (long long)s->value[v]);
			first = false;
		}
		fputs("]}", out);
	}
	if (!err)
		err = write_evented(out, p, &w, sel);
	fputs("],\"name\":\"", out);
	if (command)
		json_escape(out, command, strlen(command));
	else
		fputs("smolder profile", out);
	fputs("\",\"activeProfileIndex\":0,\"exporter\":\"smolder " PACKAGE_VERSION "\"}\n", out);
	sample_walker_release(&w);
	string_table_release(&names);
	if (err)
		return err;
	return ferror(out) ? -RENDER_E_IO : 0;
}
