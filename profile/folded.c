/* Folded stacks ("root;child;leaf 42"), the format of stackcollapse-*.pl. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "profile/profile-internal.h"

#define FOLDED_MAX_DEPTH 4096 /* deeper lines are cut at the root side */

/* Parses the trailing count of a line: digits, optionally a fraction, as
 * flamegraph.pl's /\s+(\d+(?:\.\d*)?)$/.  Returns the count's start, or NULL. */
static const char *parse_count(const char *line, const char *end, int64_t *count, bool *clamped)
{
	const char *p = end;
	while (p > line && (p[-1] >= '0' && p[-1] <= '9'))
		p--;
	const char *digits_end = end;
	if (p > line && p[-1] == '.') {
		/* a fraction: the integer part must precede the dot */
		const char *dot = p - 1;
		const char *q = dot;
		while (q > line && q[-1] >= '0' && q[-1] <= '9')
			q--;
		if (q == dot)
			return NULL;
		digits_end = dot;
		p = q;
	}
	if (p == end || p == line || !(p[-1] == ' ' || p[-1] == '\t'))
		return NULL;
	int64_t v = 0;
	*clamped = false;
	for (const char *d = p; d < digits_end; d++) {
		if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, *d - '0', &v)) {
			v = INT64_MAX;
			*clamped = true;
			break;
		}
	}
	if (digits_end != end) {
		/* Fractional counts are rounded: values are integers. */
		double frac = strtod(digits_end, NULL);
		if (!isnan(frac) && frac >= 0.5 && v < INT64_MAX)
			v++;
	}
	*count = v;
	return p;
}

/* A frame name's location (a function of that name, no file): the same for
 * every occurrence, so found through the string id alone. */
static int64_t location_of_name(struct profile *p, struct vec *cache, uint32_t name)
{
	while (cache->count <= name) {
		uint32_t *slot = vec_push(cache, sizeof(uint32_t));
		if (!slot)
			return -PROFILE_E_NOMEM;
		*slot = 0;
	}
	uint32_t *known = &((uint32_t *)cache->data)[name];
	if (*known)
		return *known - 1;
	int64_t fn = profile_intern_function(p, name, 0);
	if (fn < 0)
		return fn;
	int64_t loc = profile_intern_named_location(p, (uint32_t)fn);
	if (loc >= 0)
		((uint32_t *)cache->data)[name] = (uint32_t)loc + 1;
	return loc;
}

int profile_parse_folded(struct profile *p, const char *text, size_t len,
			 struct folded_stats *stats)
{
	struct folded_stats local;
	if (!stats)
		stats = &local;
	memset(stats, 0, sizeof(*stats));
	if (p->nvalues == 0 && profile_add_value_type(p, "samples", "count") < 0)
		return -PROFILE_E_NOMEM;
	const char *end = text + len;
	uint64_t valid = 0;
	int err = 0;
	struct vec loc_of_name = { 0 }; /* uint32_t per string id: its location + 1, 0 if none yet */
	int64_t values[PROFILE_MAX_VALUES] = { 0 };
	for (const char *line = text; line < end;) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		const char *line_end = nl ? nl : end;
		const char *next = nl ? nl + 1 : end;
		if (line_end > line && line_end[-1] == '\r')
			line_end--;
		if (line_end == line) {
			line = next;
			continue;
		}
		stats->lines++;
		int64_t count;
		bool clamped;
		const char *count_start = parse_count(line, line_end, &count, &clamped);
		if (!count_start) {
			stats->bad_lines++;
			line = next;
			continue;
		}
		/* One blank goes with the count: flamegraph.pl's greedy (.*)\s+ keeps
		 * the others, so a frame may be " ". */
		const char *stack_end = count_start - 1;
		uint32_t parent = PROFILE_NONE;
		uint32_t depth = 0;
		/* An empty stack still counts toward the total, as in flamegraph.pl. */
		for (const char *f = line; f < stack_end && depth < FOLDED_MAX_DEPTH; depth++) {
			const char *semi = memchr(f, ';', (size_t)(stack_end - f));
			const char *f_end = semi ? semi : stack_end;
			int64_t name = profile_string_n(p, f, (size_t)(f_end - f));
			if (name < 0) {
				err = (int)name;
				goto out;
			}
			int64_t loc = location_of_name(p, &loc_of_name, (uint32_t)name);
			if (loc < 0) {
				err = (int)loc;
				goto out;
			}
			int64_t s = profile_intern_stack(p, parent, (uint32_t)loc);
			if (s < 0) {
				err = (int)s;
				goto out;
			}
			parent = (uint32_t)s;
			if (!semi)
				break;
			f = semi + 1; /* a trailing ';' adds no frame, as Perl's split */
		}
		stats->clamped += clamped;
		values[0] = count;
		if ((err = profile_add_sample(p, parent, 0, 0, values)))
			goto out;
		valid++;
		line = next;
	}
	err = valid ? 0 : -PROFILE_E_NO_FOLDED;
out:
	vec_release(&loc_of_name);
	return err;
}
