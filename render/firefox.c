/* The Gecko profile JSON that the Firefox Profiler imports (the format its
 * importer upgrades and processes: src/profile-logic/process-profile.js),
 * wrapped as the Firefox DevTools performance panel saved it, { "profile":
 * GECKO }, which both the Firefox Profiler and speedscope's Firefox importer
 * read.  One thread per thread sampled, each with its own string, frame and
 * stack tables; one sample per event, at its time.  Frames are
 * "function (in module)", which the Firefox Profiler reads as native code
 * of that library. */
#include <stdlib.h>
#include <string.h>

#include "render/render-internal.h"

#define GECKO_VERSION 32 /* the Firefox Profiler's GECKO_PROFILE_VERSION this follows */

/* A thread's tables: stacks are a flame tree of frame strings (its names
 * are the string table, a frame per string). */
struct gecko_thread {
	struct flame_tree stacks;
	struct vec path; /* uint32_t name ids, root first */
};

/* The frame strings of location l, outermost first, onto g->path. */
static int push_location(struct gecko_thread *g, const struct profile *p, struct frame_namer *namer,
			 uint32_t l)
{
	const uint32_t *ids;
	uint32_t n;
	int err = frame_namer_get(namer, l, &ids, NULL, &n);
	if (err)
		return err;
	const struct location *loc = profile_location(p, l);
	const char *module = loc->mapping != PROFILE_NONE ? mapping_basename(p, loc->mapping) : "[unknown]";
	/* Leaf first, as the walk from the leaf goes; reversed by the caller. */
	for (uint32_t k = n; k-- > 0;) {
		const char *fn = string_table_get(namer->names, ids[k]);
		char *s = NULL;
		int len = asprintf(&s, "%s (in %s)", fn, module);
		if (len < 0)
			return -RENDER_E_NOMEM;
		int64_t id = string_table_intern(&g->stacks.names, s, (size_t)len);
		free(s);
		uint32_t *slot = id < 0 ? NULL : vec_push(&g->path, sizeof(*slot));
		if (!slot)
			return -RENDER_E_NOMEM;
		*slot = (uint32_t)id;
	}
	return 0;
}

/* The stack (flame tree node) of sample s in g. */
static int64_t sample_stack(struct gecko_thread *g, const struct profile *p, struct frame_namer *namer,
			    const struct sample *s)
{
	g->path.count = 0;
	for (uint32_t st = s->stack; st != PROFILE_NONE; st = profile_stack(p, st)->parent) {
		int err = push_location(g, p, namer, profile_stack(p, st)->location);
		if (err)
			return err;
	}
	uint32_t *ids = g->path.data;
	for (uint32_t a = 0, b = g->path.count; a + 1 < b; a++, b--) {
		uint32_t t = ids[a];
		ids[a] = ids[b - 1];
		ids[b - 1] = t;
	}
	return flame_tree_path(&g->stacks, ids, NULL, g->path.count);
}

/* Gecko tables are { schema, data } with one array a row. */
static void write_tables(FILE *out, const struct flame_tree *t)
{
	/* Stack i + 1 is tree node i (the root, "all", is no stack). */
	fputs("\"stackTable\":{\"schema\":{\"prefix\":0,\"frame\":1},\"data\":[", out);
	for (uint32_t i = 1; i < t->nodes.count; i++) {
		const struct flame_node *n = flame_node_at(t, i);
		if (n->parent == 0)
			fprintf(out, i > 1 ? ",[null,%u]" : "[null,%u]", n->name);
		else
			fprintf(out, i > 1 ? ",[%u,%u]" : "[%u,%u]", n->parent - 1, n->name);
	}
	fputs("]},\"frameTable\":{\"schema\":{\"location\":0,\"relevantForJS\":1,\"innerWindowID\":2,"
	      "\"implementation\":3,\"line\":4,\"column\":5,\"category\":6,\"subcategory\":7},\"data\":[", out);
	for (uint32_t i = 0; i < t->names.count; i++)
		fprintf(out, i ? ",[%u,false,0,null,null,null,0,0]" : "[%u,false,0,null,null,null,0,0]", i);
	fputs("]},\"stringTable\":", out);
	json_string_array(out, &t->names);
}

static int write_thread(FILE *out, const struct profile *p, struct frame_namer *namer, const struct timeline *tl,
			const struct timeline_thread *th, bool main_thread, int64_t *stack_of)
{
	struct gecko_thread g = { 0 };
	int err = flame_tree_init(&g.stacks);
	const struct thread *t = profile_find_thread(p, th->tid);
	const struct thread *proc = t && t->pid ? profile_find_thread(p, t->pid) : NULL;
	const char *comm = t ? string_table_get(&p->strings, t->comm) : "thread";
	const char *pname = proc ? string_table_get(&p->strings, proc->comm) : comm;
	/* A process's main thread is what the Firefox Profiler calls GeckoMain:
	 * its track is the process's. */
	fputs("{\"name\":\"", out);
	json_escape(out, main_thread ? "GeckoMain" : comm, strlen(main_thread ? "GeckoMain" : comm));
	fputs("\",\"processName\":\"", out);
	json_escape(out, pname, strlen(pname));
	fprintf(out, "\",\"processType\":\"default\",\"pid\":%u,\"tid\":%u,\"registerTime\":0,\"unregisterTime\":null,"
		     "\"markers\":{\"schema\":{\"name\":0,\"startTime\":1,\"endTime\":2,\"phase\":3,\"category\":4,"
		     "\"data\":5},\"data\":[]},\"samples\":{\"schema\":{\"stack\":0,\"time\":1,\"eventDelay\":2},"
		     "\"data\":[",
		t && t->pid ? t->pid : th->tid, th->tid);
	for (uint32_t k = th->first; k < th->first + th->count && !err; k++) {
		const struct profile_event *ev = profile_event(p, tl->order[k]);
		int64_t stack = stack_of[ev->sample];
		if (stack < 0) {
			/* The first event of a sample places its stack. */
			stack = sample_stack(&g, p, namer, profile_sample(p, ev->sample));
			if (stack < 0) {
				err = (int)stack;
				break;
			}
			stack_of[ev->sample] = stack;
		}
		double ms = (double)(ev->time > tl->start ? ev->time - tl->start : 0) / 1e6;
		if (stack == 0)
			fprintf(out, k > th->first ? ",[null,%.3f,0]" : "[null,%.3f,0]", ms);
		else
			fprintf(out, k > th->first ? ",[%lld,%.3f,0]" : "[%lld,%.3f,0]", (long long)stack - 1, ms);
	}
	/* A last sample without a stack ends the thread: speedscope's importer
	 * closes what is open only at a sample that left it. */
	if (th->count)
		fprintf(out, ",[null,%.3f,0]", (double)(tl->end - tl->start) / 1e6 + 0.001);
	fputs("]},", out);
	write_tables(out, &g.stacks);
	fputc('}', out);
	flame_tree_release(&g.stacks);
	vec_release(&g.path);
	return err;
}

static void write_meta(FILE *out, const struct profile *p, const struct timeline *tl)
{
	const char *start = profile_get_meta(p, "start_ns"), *freq = profile_get_meta(p, "frequency");
	const char *command = profile_get_meta(p, "command"), *kernel = profile_get_meta(p, "kernel");
	double hz = freq ? atof(freq) : 0, span_ms = (double)(tl->end - tl->start) / 1e6;
	fprintf(out, "\"meta\":{\"version\":%d,\"startTime\":%.3f,\"interval\":%.3f,\"shutdownTime\":null,"
		     "\"processType\":0,\"stackwalk\":1,\"debug\":0,\"gcpoison\":0,\"asyncstack\":0,"
		     "\"presymbolicated\":true,\"platform\":\"Linux\",\"abi\":\"\",\"toolkit\":\"\",\"misc\":\"\","
		     "\"profilingStartTime\":0,\"profilingEndTime\":%.3f,\"oscpu\":\"",
		GECKO_VERSION, start ? (double)strtoull(start, NULL, 10) / 1e6 : 0, hz > 0 ? 1000 / hz : 1, span_ms);
	if (kernel)
		json_escape(out, kernel, strlen(kernel));
	fputs("\",\"product\":\"smolder", out);
	if (command) {
		fputs(": ", out);
		json_escape(out, command, strlen(command));
	}
	fputs("\",\"categories\":[{\"name\":\"Other\",\"color\":\"grey\",\"subcategories\":[\"Other\"]}],"
	      "\"markerSchema\":[]}", out);
}

int render_firefox(const struct profile *p, FILE *out)
{
	struct timeline tl;
	int err = timeline_build(&tl, p);
	if (err)
		return err;
	if (tl.nthreads == 0)
		return -RENDER_E_NO_TIMES;
	struct string_table names;
	string_table_init(&names);
	struct frame_namer namer;
	int64_t *stack_of = malloc((p->samples.count + 1) * sizeof(*stack_of));
	err = stack_of ? frame_namer_init(&namer, p, &names, false) : -RENDER_E_NOMEM;
	if (!err) {
		for (uint32_t i = 0; i < p->samples.count; i++)
			stack_of[i] = -1;
		fprintf(out, "{\"systemHost\":{\"name\":\"Firefox\"},\"duration\":%.3f,\"profile\":{",
			(double)(tl.end - tl.start) / 1e6);
		write_meta(out, p, &tl);
		fputs(",\"libs\":[],\"pausedRanges\":[],\"processes\":[],\"threads\":[", out);
		/* speedscope's importer shows the GeckoMain thread of several:
		 * without a main thread, the busiest one is named so. */
		bool any_main = false;
		for (uint32_t i = 0; i < tl.nthreads; i++) {
			const struct thread *t = profile_find_thread(p, tl.threads[i].tid);
			any_main |= t && t->pid == t->tid;
		}
		for (uint32_t i = 0; i < tl.nthreads && !err; i++) {
			const struct thread *t = profile_find_thread(p, tl.threads[i].tid);
			bool main_thread = any_main ? t && t->pid == t->tid : i == 0;
			fputs(i ? "," : "", out);
			err = write_thread(out, p, &namer, &tl, &tl.threads[i], main_thread, stack_of);
		}
		fputs("]}}\n", out);
		frame_namer_release(&namer);
	}
	free(stack_of);
	string_table_release(&names);
	timeline_release(&tl);
	if (err)
		return err;
	return ferror(out) ? -RENDER_E_IO : 0;
}
