/* Merging profiles: every table of src re-interned into dst. */
#include <stdlib.h>
#include <string.h>

#include "profile/profile-internal.h"

int profile_merge(struct profile *dst, const struct profile *src)
{
	if (dst->nvalues == 0) {
		for (uint32_t v = 0; v < src->nvalues; v++)
			if (profile_add_value_type(dst, string_table_get(&src->strings, src->value_types[v].type),
						   string_table_get(&src->strings, src->value_types[v].unit)) < 0)
				return -PROFILE_E_NOMEM;
	}
	if (dst->nvalues != src->nvalues)
		return -PROFILE_E_VALUES;
	for (uint32_t v = 0; v < src->nvalues; v++)
		if (strcmp(string_table_get(&dst->strings, dst->value_types[v].type),
			   string_table_get(&src->strings, src->value_types[v].type)) != 0)
			return -PROFILE_E_VALUES;

	int err = -PROFILE_E_NOMEM;
	uint32_t *str = malloc(((size_t)src->strings.count + 1) * sizeof(*str));
	uint32_t *map = malloc(((size_t)src->mappings.count + 1) * sizeof(*map));
	uint32_t *fn = malloc(((size_t)src->functions.count + 1) * sizeof(*fn));
	uint32_t *loc = malloc(((size_t)src->locations.count + 1) * sizeof(*loc));
	uint32_t *stk = malloc(((size_t)src->stacks.count + 1) * sizeof(*stk));
	struct line *lines = NULL;
	if (!str || !map || !fn || !loc || !stk)
		goto out;
	for (uint32_t i = 0; i < src->strings.count; i++) {
		int64_t id = profile_string_n(dst, string_table_get(&src->strings, i),
					      string_table_len(&src->strings, i));
		if (id < 0)
			goto out;
		str[i] = (uint32_t)id;
	}
	for (uint32_t i = 0; i < src->mappings.count; i++) {
		struct mapping m = *profile_mapping(src, i);
		m.path = str[m.path];
		m.build_id = str[m.build_id];
		/* The same mapping from two shards is one mapping. */
		int64_t id = -1;
		for (uint32_t k = 0; k < dst->mappings.count && id < 0; k++)
			if (memcmp(profile_mapping(dst, k), &m, sizeof(m)) == 0)
				id = k;
		if (id < 0)
			id = profile_add_mapping(dst, &m);
		if (id < 0)
			goto out;
		map[i] = (uint32_t)id;
	}
	for (uint32_t i = 0; i < src->functions.count; i++) {
		const struct function *f = profile_function(src, i);
		int64_t id = profile_intern_function(dst, str[f->name], str[f->file]);
		if (id < 0)
			goto out;
		fn[i] = (uint32_t)id;
	}
	for (uint32_t i = 0; i < src->locations.count; i++) {
		const struct location *l = profile_location(src, i);
		int64_t id;
		if (l->mapping == PROFILE_NONE && l->address == 0 && l->nlines == 1) {
			id = profile_intern_named_location(dst, fn[profile_line(src, l->lines)->function]);
		} else {
			id = profile_intern_location(dst, l->address,
						  l->mapping == PROFILE_NONE ? PROFILE_NONE : map[l->mapping]);
			if (id >= 0 && l->nlines && profile_location(dst, (uint32_t)id)->nlines == 0) {
				free(lines);
				lines = malloc(l->nlines * sizeof(*lines));
				if (!lines)
					goto out;
				for (uint32_t k = 0; k < l->nlines; k++) {
					lines[k] = *profile_line(src, l->lines + k);
					lines[k].function = fn[lines[k].function];
				}
				if (profile_set_location_lines(dst, (uint32_t)id, lines, l->nlines))
					goto out;
			}
		}
		if (id < 0)
			goto out;
		loc[i] = (uint32_t)id;
	}
	for (uint32_t i = 0; i < src->stacks.count; i++) {
		const struct stack_node *s = profile_stack(src, i);
		int64_t id = profile_intern_stack(dst, s->parent == PROFILE_NONE ? PROFILE_NONE : stk[s->parent],
						  loc[s->location]);
		if (id < 0)
			goto out;
		stk[i] = (uint32_t)id;
	}
	for (uint32_t i = 0; i < src->threads.count; i++) {
		const struct thread *t = profile_thread(src, i);
		if (profile_set_thread(dst, t->tid, t->pid, str[t->comm]))
			goto out;
	}
	for (uint32_t i = 0; i < src->samples.count; i++) {
		const struct sample *s = profile_sample(src, i);
		if (profile_add_sample(dst, s->stack == PROFILE_NONE ? PROFILE_NONE : stk[s->stack], s->tid,
				       s->time, s->value))
			goto out;
	}
	err = 0;
out:
	free(str);
	free(map);
	free(fn);
	free(loc);
	free(stk);
	free(lines);
	return err;
}
