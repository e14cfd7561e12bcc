/* A profile's events as threads' timelines, for the formats that show
 * time per thread (speedscope's evented profiles, the Firefox Profiler). */
#include <stdlib.h>
#include <string.h>

#include "render/render-internal.h"

static uint32_t event_tid(const struct profile *p, uint32_t e)
{
	return profile_sample(p, profile_event(p, e)->sample)->tid;
}

static int by_thread_then_time(const void *a, const void *b, void *ctx)
{
	const struct profile *p = ctx;
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b, tx = event_tid(p, x), ty = event_tid(p, y);
	if (tx != ty)
		return tx < ty ? -1 : 1;
	uint64_t u = profile_event(p, x)->time, v = profile_event(p, y)->time;
	return (u > v) - (u < v);
}

static int busiest_first(const void *a, const void *b)
{
	const struct timeline_thread *x = a, *y = b;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return (x->tid > y->tid) - (x->tid < y->tid);
}

int timeline_build(struct timeline *tl, const struct profile *p)
{
	memset(tl, 0, sizeof(*tl));
	uint32_t n = p->events.count;
	if (n == 0 || !profile_time_span(p, &tl->start, &tl->end))
		return 0;
	tl->order = malloc((size_t)n * sizeof(*tl->order));
	tl->threads = malloc((size_t)n * sizeof(*tl->threads));
	if (!tl->order || !tl->threads) {
		timeline_release(tl);
		return -RENDER_E_NOMEM;
	}
	for (uint32_t i = 0; i < n; i++)
		tl->order[i] = i;
	qsort_r(tl->order, n, sizeof(*tl->order), by_thread_then_time, (void *)p);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t tid = event_tid(p, tl->order[i]);
		if (i == 0 || tl->threads[tl->nthreads - 1].tid != tid)
			tl->threads[tl->nthreads++] = (struct timeline_thread){ tid, i, 0 };
		tl->threads[tl->nthreads - 1].count++;
	}
	qsort(tl->threads, tl->nthreads, sizeof(*tl->threads), busiest_first);
	return 0;
}

void timeline_release(struct timeline *tl)
{
	free(tl->order);
	free(tl->threads);
	memset(tl, 0, sizeof(*tl));
}

int timeline_time_value(const struct profile *p, const char *wanted)
{
	if (wanted) {
		int v = render_value_index(p, wanted);
		return v >= 0 && strcmp(string_table_get(&p->strings, p->value_types[v].unit), "nanoseconds") == 0 ? v : -1;
	}
	for (uint32_t v = 0; v < p->nvalues; v++) {
		if (strcmp(string_table_get(&p->strings, p->value_types[v].unit), "nanoseconds") != 0)
			continue;
		for (uint32_t e = 0; e < p->events.count; e++)
			if (profile_event_values(p, e)[v] > 0)
				return (int)v;
	}
	return -1;
}
