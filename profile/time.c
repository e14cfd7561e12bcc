/* Time: a profile's events say when each sample happened, so that a
 * profile can be cut down to what happened between two moments. */
#include <stdlib.h>
#include <string.h>

#include "profile/profile-internal.h"

bool profile_time_span(const struct profile *p, uint64_t *start, uint64_t *end)
{
	if (!p->events.count)
		return false;
	uint64_t lo = UINT64_MAX, hi = 0;
	for (uint32_t i = 0; i < p->events.count; i++) {
		uint64_t t = profile_event(p, i)->time;
		lo = t < lo ? t : lo;
		hi = t > hi ? t : hi;
	}
	const char *origin = profile_get_meta(p, "start_monotonic_ns");
	const char *duration = profile_get_meta(p, "duration_ns");
	if (origin) {
		uint64_t t = strtoull(origin, NULL, 10);
		/* A recording's events follow its start: anything else is a file
		 * whose metadata does not belong to its events. */
		lo = t && t <= lo ? t : lo;
	}
	if (duration) {
		uint64_t d = strtoull(duration, NULL, 10);
		hi = lo + d > hi && lo + d >= lo ? lo + d : hi;
	}
	*start = lo;
	*end = hi;
	return true;
}

static bool any_value(const int64_t *v, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (v[i])
			return true;
	return false;
}

/* The events in [from, to), summed per sample into sum; the others go. */
static void keep_events(struct profile *p, uint64_t from, uint64_t to, int64_t (*sum)[PROFILE_MAX_VALUES])
{
	uint32_t nv = p->nvalues, kept = 0;
	int64_t *values = p->event_values.data;
	for (uint32_t i = 0; i < p->events.count; i++) {
		struct profile_event e = *profile_event(p, i);
		if (e.time < from || e.time >= to)
			continue;
		for (uint32_t v = 0; v < nv; v++)
			sum[e.sample][v] = sat_add_i64(sum[e.sample][v], values[(size_t)i * nv + v]);
		*profile_event(p, kept) = e;
		memmove(values + (size_t)kept * nv, values + (size_t)i * nv, nv * sizeof(int64_t));
		kept++;
	}
	p->events.count = kept;
	p->event_values.count = kept * nv;
}

/* Drops events whose sample is gone, and names the others' new samples. */
static void renumber_events(struct profile *p, const uint32_t *renumber)
{
	uint32_t kept = 0, nv = p->nvalues;
	int64_t *values = p->event_values.data;
	for (uint32_t i = 0; i < p->events.count; i++) {
		struct profile_event e = *profile_event(p, i);
		if (renumber[e.sample] == PROFILE_NONE)
			continue; /* an event of nothing but zeros */
		e.sample = renumber[e.sample];
		*profile_event(p, kept) = e;
		memmove(values + (size_t)kept * nv, values + (size_t)i * nv, nv * sizeof(int64_t));
		kept++;
	}
	p->events.count = kept;
	p->event_values.count = kept * nv;
}

/* On failure (out of memory) p holds part of the range. */
int profile_keep_time_range(struct profile *p, uint64_t from, uint64_t to)
{
	if (!p->events.count)
		return -PROFILE_E_NO_TIMES;
	uint32_t n = p->samples.count;
	int64_t (*sum)[PROFILE_MAX_VALUES] = calloc(n ? n : 1, sizeof(*sum));
	uint32_t *renumber = malloc((n ? n : 1) * sizeof(*renumber));
	if (!sum || !renumber) {
		free(sum);
		free(renumber);
		return -PROFILE_E_NOMEM;
	}
	keep_events(p, from, to, sum);
	/* The samples again, from nothing, with only what the range holds. */
	struct vec old = p->samples;
	p->samples = (struct vec){ 0 };
	id_hash_release(&p->sample_index);
	memset(&p->sample_index, 0, sizeof(p->sample_index));
	int err = 0;
	for (uint32_t i = 0; i < n; i++) {
		const struct sample *s = (const struct sample *)old.data + i;
		renumber[i] = !err && any_value(sum[i], p->nvalues) ? p->samples.count : PROFILE_NONE;
		if (renumber[i] != PROFILE_NONE && (err = profile_add_sample(p, s->stack, s->tid, s->time, sum[i])))
			renumber[i] = PROFILE_NONE;
	}
	renumber_events(p, renumber);
	vec_release(&old);
	free(sum);
	free(renumber);
	return err;
}
