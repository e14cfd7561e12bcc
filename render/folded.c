/* Folded stacks out of a profile, sorted bytewise as stackcollapse prints them. */
#include <stdlib.h>
#include <string.h>

#include "render/render-internal.h"

static int line_cmp(const void *a, const void *b, void *ctx)
{
	const char *text = ctx;
	const struct folded_line *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(text + x->off, text + y->off, n);
	return c ? c : (x->len > y->len) - (x->len < y->len);
}

struct folded_walk {
	const struct flame_tree *t;
	char *text;
	size_t len, cap;
	struct folded_line *lines;
	size_t nlines, cap_lines;
	int err;
};

static int walk_reserve(struct folded_walk *w, size_t more)
{
	if (w->len + more <= w->cap)
		return 0;
	size_t cap = w->cap ? w->cap : 1 << 16;
	while (cap < w->len + more)
		cap *= 2;
	char *text = realloc(w->text, cap);
	if (!text)
		return -RENDER_E_NOMEM;
	w->text = text;
	w->cap = cap;
	return 0;
}

/* One line per node with self value: its path from the root's child down. */
static int walk_node(struct folded_walk *w, uint32_t id, uint32_t *path)
{
	const struct flame_node *n = flame_node_at(w->t, id);
	if (n->self == 0)
		return 0;
	uint32_t depth = 0;
	for (uint32_t i = id; i != 0; i = flame_node_at(w->t, i)->parent)
		path[depth++] = i;
	size_t need = 0;
	for (uint32_t k = 0; k < depth; k++)
		need += string_table_len(&w->t->names, flame_node_at(w->t, path[k])->name) + 1;
	if (walk_reserve(w, need))
		return -RENDER_E_NOMEM;
	size_t start = w->len;
	for (uint32_t k = depth; k-- > 0;) {
		uint32_t name = flame_node_at(w->t, path[k])->name;
		uint32_t len = string_table_len(&w->t->names, name);
		folded_frame_copy(w->text + w->len, string_table_get(&w->t->names, name), len);
		w->len += len;
		if (k)
			w->text[w->len++] = ';';
	}
	if (w->nlines == w->cap_lines) {
		size_t cap = w->cap_lines ? w->cap_lines * 2 : 1024;
		struct folded_line *lines = realloc(w->lines, cap * sizeof(*lines));
		if (!lines)
			return -RENDER_E_NOMEM;
		w->lines = lines;
		w->cap_lines = cap;
	}
	w->lines[w->nlines++] = (struct folded_line){ start, w->len - start, n->self };
	return 0;
}

int folded_lines_build(const struct profile *p, const struct render_select *sel, struct folded_lines *out)
{
	memset(out, 0, sizeof(*out));
	int v = render_value_index(p, sel->value);
	if (v < 0)
		return v;
	struct flame_tree t;
	int err = flame_tree_init(&t);
	if (!err)
		err = flame_tree_add_profile(&t, p, (uint32_t)v, sel, false);
	struct folded_walk w = { .t = &t };
	uint32_t *path = err ? NULL : malloc(((size_t)t.max_depth + 1) * sizeof(*path));
	if (!err && !path)
		err = -RENDER_E_NOMEM;
	for (uint32_t i = 1; i < t.nodes.count && !err; i++)
		err = walk_node(&w, i, path);
	if (!err && w.nlines > 1) {
		qsort_r(w.lines, w.nlines, sizeof(*w.lines), line_cmp, w.text);
	}
	free(path);
	flame_tree_release(&t);
	if (err) {
		free(w.text);
		free(w.lines);
		return err;
	}
	*out = (struct folded_lines){ w.text, w.lines, w.nlines };
	return 0;
}

void folded_lines_release(struct folded_lines *f)
{
	free(f->text);
	free(f->lines);
	memset(f, 0, sizeof(*f));
}

int render_folded(const struct profile *p, const struct render_select *sel, FILE *out)
{
	struct folded_lines f;
	int err = folded_lines_build(p, sel, &f);
	if (err)
		return err;
	for (size_t i = 0; i < f.count; i++) {
		fwrite(f.text + f.lines[i].off, 1, f.lines[i].len, out);
		fprintf(out, " %lld\n", (long long)f.lines[i].value);
	}
	folded_lines_release(&f);
	return ferror(out) ? -RENDER_E_IO : 0;
}
