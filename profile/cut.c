/* Cutting a recording that goes on into intervals: the samples move out,
 * with only the strings, mappings, functions, locations, stacks and threads
 * they use; the tables stay, so that the ids the recorder holds stay valid
 * and what it has learned (names included) is not learned again. */
#include <stdlib.h>
#include <string.h>

#include "profile/profile-internal.h"

/* src's ids as dst's, PROFILE_NONE until needed. */
struct cut {
	struct profile *dst;
	const struct profile *src;
	uint32_t *str, *map, *fn, *loc, *stk;
	uint32_t *mapping_of; /* dst mapping -> src mapping, for the caller */
	struct vec chain;     /* uint32_t: a stack's nodes not yet in dst, leaf first */
	struct line *lines;
	uint32_t lines_cap;
};

static uint32_t *memo_new(uint32_t n)
{
	uint32_t *m = malloc(((size_t)n + 1) * sizeof(*m));
	if (m)
		memset(m, 0xff, ((size_t)n + 1) * sizeof(*m)); /* PROFILE_NONE */
	return m;
}

static int64_t cut_string(struct cut *c, uint32_t id)
{
	if (c->str[id] == PROFILE_NONE) {
		int64_t n = profile_string_n(c->dst, string_table_get(&c->src->strings, id),
					     string_table_len(&c->src->strings, id));
		if (n < 0)
			return n;
		c->str[id] = (uint32_t)n;
	}
	return c->str[id];
}

static int64_t cut_mapping(struct cut *c, uint32_t id)
{
	if (c->map[id] == PROFILE_NONE) {
		struct mapping m = *profile_mapping(c->src, id);
		int64_t path = cut_string(c, m.path), build_id = cut_string(c, m.build_id);
		if (path < 0 || build_id < 0)
			return -PROFILE_E_NOMEM;
		m.path = (uint32_t)path;
		m.build_id = (uint32_t)build_id;
		int64_t n = profile_add_mapping(c->dst, &m);
		if (n < 0)
			return n;
		c->map[id] = (uint32_t)n;
		c->mapping_of[n] = id;
	}
	return c->map[id];
}

static int64_t cut_function(struct cut *c, uint32_t id)
{
	if (c->fn[id] == PROFILE_NONE) {
		const struct function *f = profile_function(c->src, id);
		int64_t name = cut_string(c, f->name), file = cut_string(c, f->file);
		int64_t n = name < 0 || file < 0 ? -PROFILE_E_NOMEM
						 : profile_intern_function(c->dst, (uint32_t)name, (uint32_t)file);
		if (n < 0)
			return n;
		c->fn[id] = (uint32_t)n;
	}
	return c->fn[id];
}

/* A location's inline chain, its functions in dst's ids. */
static int cut_lines(struct cut *c, uint32_t dst_loc, const struct location *l)
{
	if (l->nlines > c->lines_cap) {
		struct line *grown = realloc(c->lines, l->nlines * sizeof(*grown));
		if (!grown)
			return -PROFILE_E_NOMEM;
		c->lines = grown;
		c->lines_cap = l->nlines;
	}
	for (uint32_t k = 0; k < l->nlines; k++) {
		c->lines[k] = *profile_line(c->src, l->lines + k);
		int64_t f = cut_function(c, c->lines[k].function);
		if (f < 0)
			return (int)f;
		c->lines[k].function = (uint32_t)f;
	}
	return profile_set_location_lines(c->dst, dst_loc, c->lines, l->nlines);
}

static int64_t cut_location(struct cut *c, uint32_t id)
{
	if (c->loc[id] != PROFILE_NONE)
		return c->loc[id];
	const struct location *l = profile_location(c->src, id);
	int64_t n;
	if (l->mapping == PROFILE_NONE && l->address == 0 && l->nlines == 1) {
		int64_t f = cut_function(c, profile_line(c->src, l->lines)->function);
		n = f < 0 ? f : profile_intern_named_location(c->dst, (uint32_t)f);
	} else {
		int64_t m = l->mapping == PROFILE_NONE ? PROFILE_NONE : cut_mapping(c, l->mapping);
		n = m < 0 ? m : profile_intern_location(c->dst, l->address, (uint32_t)m);
		if (n >= 0 && l->nlines) {
			int err = cut_lines(c, (uint32_t)n, l);
			if (err)
				return err;
		}
	}
	if (n >= 0)
		c->loc[id] = (uint32_t)n;
	return n;
}

/* The nodes from leaf up to the first one dst has, then down again. */
static int64_t cut_stack(struct cut *c, uint32_t leaf)
{
	c->chain.count = 0;
	uint32_t at = leaf;
	while (at != PROFILE_NONE && c->stk[at] == PROFILE_NONE) {
		uint32_t *slot = vec_push(&c->chain, sizeof(*slot));
		if (!slot)
			return -PROFILE_E_NOMEM;
		*slot = at;
		at = profile_stack(c->src, at)->parent;
	}
	uint32_t parent = at == PROFILE_NONE ? PROFILE_NONE : c->stk[at];
	const uint32_t *nodes = c->chain.data;
	for (uint32_t i = c->chain.count; i-- > 0;) {
		int64_t loc = cut_location(c, profile_stack(c->src, nodes[i])->location);
		int64_t n = loc < 0 ? loc : profile_intern_stack(c->dst, parent, (uint32_t)loc);
		if (n < 0)
			return n;
		parent = c->stk[nodes[i]] = (uint32_t)n;
	}
	return parent;
}

static int cut_thread(struct cut *c, uint32_t tid)
{
	if (profile_find_thread(c->dst, tid))
		return 0;
	const struct thread *t = profile_find_thread(c->src, tid);
	if (!t)
		return 0;
	uint32_t pid = t->pid;
	int64_t comm = cut_string(c, t->comm);
	return comm < 0 ? (int)comm : profile_set_thread(c->dst, tid, pid, (uint32_t)comm);
}

static int cut_header(struct cut *c)
{
	const struct profile *src = c->src;
	for (uint32_t v = 0; v < src->nvalues; v++)
		if (profile_add_value_type(c->dst, string_table_get(&src->strings, src->value_types[v].type),
					   string_table_get(&src->strings, src->value_types[v].unit)) < 0)
			return -PROFILE_E_NOMEM;
	for (uint32_t i = 0; i < src->meta.count; i++) {
		const struct meta_entry *m = profile_meta(src, i);
		const char *key = string_table_get(&src->strings, m->key);
		const char *value = string_table_get(&src->strings, m->value);
		/* The latest value of each key only: the others are overridden. */
		if (profile_get_meta(src, key) == value && profile_set_meta(c->dst, key, value))
			return -PROFILE_E_NOMEM;
	}
	return 0;
}

static int cut_samples(struct cut *c)
{
	for (uint32_t i = 0; i < c->src->samples.count; i++) {
		const struct sample *s = profile_sample(c->src, i);
		int64_t stack = s->stack == PROFILE_NONE ? PROFILE_NONE : cut_stack(c, s->stack);
		if (stack < 0)
			return (int)stack;
		int err = cut_thread(c, s->tid);
		if (err || (err = profile_add_sample(c->dst, (uint32_t)stack, s->tid, s->time, s->value)))
			return err;
	}
	return 0;
}

/* dst's samples are src's, in the same order (dst was empty and src's
 * (stack, thread) pairs are distinct): the events keep their indexes. */
static int cut_events(struct cut *c)
{
	struct profile *dst = c->dst;
	const struct profile *src = c->src;
	if (!src->events.count)
		return 0;
	struct profile_event *e = vec_push_n(&dst->events, sizeof(*e), src->events.count);
	int64_t *v = src->nvalues ? vec_push_n(&dst->event_values, sizeof(*v), src->event_values.count) : NULL;
	if (!e || (src->nvalues && !v))
		return -PROFILE_E_NOMEM;
	memcpy(e, src->events.data, src->events.count * sizeof(*e));
	if (v)
		memcpy(v, src->event_values.data, src->event_values.count * sizeof(*v));
	return 0;
}

int profile_take_samples(struct profile *dst, struct profile *src, uint32_t *mapping_of)
{
	struct cut c = { .dst = dst, .src = src, .mapping_of = mapping_of };
	int err = -PROFILE_E_NOMEM;
	c.str = memo_new(src->strings.count);
	c.map = memo_new(src->mappings.count);
	c.fn = memo_new(src->functions.count);
	c.loc = memo_new(src->locations.count);
	c.stk = memo_new(src->stacks.count);
	if (c.str && c.map && c.fn && c.loc && c.stk && (err = cut_header(&c)) == 0 && (err = cut_samples(&c)) == 0 &&
	    (err = cut_events(&c)) == 0) {
		src->samples.count = 0;
		src->events.count = src->event_values.count = 0;
		id_hash_release(&src->sample_index);
		memset(&src->sample_index, 0, sizeof(src->sample_index));
	}
	free(c.str);
	free(c.map);
	free(c.fn);
	free(c.loc);
	free(c.stk);
	free(c.lines);
	vec_release(&c.chain);
	return err;
}
