/* The flame tree: stacks merged by frame name, the shape every renderer draws. */
#include <stdlib.h>
#include <string.h>

#include "render/render-internal.h"

const char *render_strerror(enum render_error err)
{
	static const char *const messages[] = {
#define RENDER_ERROR(name, msg) [RENDER_E_##name] = msg,
		RENDER_ERRORS
#undef RENDER_ERROR
	};
	if ((unsigned)err >= RENDER_E_COUNT)
		return "unknown error";
	return messages[err];
}

int flame_tree_init(struct flame_tree *t)
{
	memset(t, 0, sizeof(*t));
	string_table_init(&t->names);
	if (string_table_intern(&t->names, "all", 3) < 0)
		return -RENDER_E_NOMEM;
	struct flame_node *root = vec_push(&t->nodes, sizeof(*root));
	if (!root)
		return -RENDER_E_NOMEM;
	*root = (struct flame_node){ .name = 1, .parent = PROFILE_NONE,
				     .first_child = PROFILE_NONE, .next_sibling = PROFILE_NONE };
	return 0;
}

void flame_tree_release(struct flame_tree *t)
{
	string_table_release(&t->names);
	vec_release(&t->nodes);
	free(t->child_index.slots);
	memset(t, 0, sizeof(*t));
}

static uint64_t child_hash(uint32_t parent, uint32_t name)
{
	return hash_u64(((uint64_t)parent << 32) | name);
}

static int child_index_grow(struct flame_tree *t)
{
	uint32_t nslots = t->child_index.nslots ? t->child_index.nslots * 2 : 1024;
	uint32_t *slots = calloc(nslots, sizeof(*slots));
	if (!slots)
		return -RENDER_E_NOMEM;
	for (uint32_t id = 1; id < t->nodes.count; id++) {
		const struct flame_node *n = flame_node_at(t, id);
		uint32_t j = (uint32_t)child_hash(n->parent, n->name) & (nslots - 1);
		while (slots[j])
			j = (j + 1) & (nslots - 1);
		slots[j] = id;
	}
	free(t->child_index.slots);
	t->child_index.slots = slots;
	t->child_index.nslots = nslots;
	return 0;
}

/* The child of parent named name, created if new; returns its id or a
 * negative error. */
static int64_t flame_tree_child(struct flame_tree *t, uint32_t parent, uint32_t name)
{
	if ((uint64_t)(t->nodes.count + 1) * 4 >= (uint64_t)t->child_index.nslots * 3 &&
	    child_index_grow(t))
		return -RENDER_E_NOMEM;
	uint32_t mask = t->child_index.nslots - 1;
	uint32_t i = (uint32_t)child_hash(parent, name) & mask;
	for (; t->child_index.slots[i]; i = (i + 1) & mask) {
		const struct flame_node *n = flame_node_at(t, t->child_index.slots[i]);
		if (n->parent == parent && n->name == name)
			return t->child_index.slots[i];
	}
	struct flame_node *n = vec_push(&t->nodes, sizeof(*n));
	if (!n)
		return -RENDER_E_NOMEM;
	uint32_t id = t->nodes.count - 1;
	struct flame_node *p = flame_node_at(t, parent);
	*n = (struct flame_node){ .name = name, .parent = parent, .first_child = PROFILE_NONE,
				  .next_sibling = p->first_child, .depth = p->depth + 1 };
	p->first_child = id;
	if (n->depth > t->max_depth)
		t->max_depth = n->depth;
	t->child_index.slots[i] = id;
	return id;
}

static void flame_tree_credit(struct flame_tree *t, uint32_t leaf, int64_t value, int64_t base)
{
	struct flame_node *n = flame_node_at(t, leaf);
	n->self = sat_add_i64(n->self, value);
	n->base_self = sat_add_i64(n->base_self, base);
	for (uint32_t i = leaf; i != PROFILE_NONE; i = flame_node_at(t, i)->parent) {
		n = flame_node_at(t, i);
		n->total = sat_add_i64(n->total, value);
		n->base_total = sat_add_i64(n->base_total, base);
	}
}

int flame_tree_add(struct flame_tree *t, const char *const *names, const uint32_t *lens,
		   uint32_t n, int64_t value, int64_t base_value)
{
	uint32_t node = 0;
	for (uint32_t i = 0; i < n; i++) {
		int64_t name = string_table_intern(&t->names, names[i], lens[i]);
		if (name < 0)
			return -RENDER_E_NOMEM;
		int64_t child = flame_tree_child(t, node, (uint32_t)name);
		if (child < 0)
			return (int)child;
		node = (uint32_t)child;
	}
	flame_tree_credit(t, node, value, base_value);
	return 0;
}

static int child_cmp(const void *a, const void *b, void *ctx)
{
	const struct flame_tree *t = ctx;
	uint32_t x = flame_node_at(t, *(const uint32_t *)a)->name;
	uint32_t y = flame_node_at(t, *(const uint32_t *)b)->name;
	uint32_t lx = string_table_len(&t->names, x), ly = string_table_len(&t->names, y);
	int c = memcmp(string_table_get(&t->names, x), string_table_get(&t->names, y),
		       lx < ly ? lx : ly);
	return c ? c : (lx > ly) - (lx < ly);
}

uint32_t *flame_tree_sorted_children(const struct flame_tree *t, uint32_t i, uint32_t *n)
{
	uint32_t count = 0;
	for (uint32_t c = flame_node_at(t, i)->first_child; c != PROFILE_NONE;
	     c = flame_node_at(t, c)->next_sibling)
		count++;
	uint32_t *v = malloc((count ? count : 1) * sizeof(*v));
	if (!v)
		return NULL;
	count = 0;
	for (uint32_t c = flame_node_at(t, i)->first_child; c != PROFILE_NONE;
	     c = flame_node_at(t, c)->next_sibling)
		v[count++] = c;
	if (count > 1)
		qsort_r(v, count, sizeof(*v), child_cmp, (void *)t);
	*n = count;
	return v;
}

/* ---- naming the frames of a profile ---- */

int frame_namer_init(struct frame_namer *fn, const struct profile *p, struct string_table *names,
		     bool with_lines)
{
	memset(fn, 0, sizeof(*fn));
	fn->p = p;
	fn->names = names;
	fn->with_lines = with_lines;
	fn->first = malloc(((size_t)p->locations.count + 1) * sizeof(*fn->first));
	fn->count = calloc((size_t)p->locations.count + 1, sizeof(*fn->count));
	if (!fn->first || !fn->count) {
		frame_namer_release(fn);
		return -RENDER_E_NOMEM;
	}
	return 0;
}

void frame_namer_release(struct frame_namer *fn)
{
	free(fn->first);
	free(fn->count);
	vec_release(&fn->ids);
	vec_release(&fn->wheres);
	memset(fn, 0, sizeof(*fn));
}

static int namer_push_where(struct frame_namer *fn, const char *s, size_t len, uint32_t where)
{
	int64_t id = string_table_intern(fn->names, s, len);
	uint32_t *slot = id < 0 ? NULL : vec_push(&fn->ids, sizeof(*slot));
	uint32_t *wslot = slot ? vec_push(&fn->wheres, sizeof(*wslot)) : NULL;
	if (!wslot)
		return -RENDER_E_NOMEM;
	*slot = (uint32_t)id;
	*wslot = where;
	return 0;
}

static int namer_push(struct frame_namer *fn, const char *s, size_t len)
{
	return namer_push_where(fn, s, len, 0);
}

/* "file.c:12": the base name, for hover text. */
static int64_t where_id(struct frame_namer *fn, const struct function *f, uint32_t line)
{
	if (!f->file || !line)
		return 0;
	const char *file = string_table_get(&fn->p->strings, f->file);
	const char *slash = strrchr(file, '/');
	char buf[300];
	int n = snprintf(buf, sizeof(buf), "%.256s:%u", slash ? slash + 1 : file, line);
	return string_table_intern(fn->names, buf, (size_t)n);
}

const char *mapping_basename(const struct profile *p, uint32_t mapping)
{
	const char *path = string_table_get(&p->strings, profile_mapping(p, mapping)->path);
	if (strcmp(path, "//anon") == 0)
		return "[anon]"; /* anonymous memory: JIT code without a map, say */
	const char *slash = strrchr(path, '/');
	return slash && slash[1] ? slash + 1 : path;
}

/* Names location l's frames (outermost first) once, and caches them. */
static int namer_fill(struct frame_namer *fn, uint32_t l)
{
	const struct profile *p = fn->p;
	const struct location *loc = profile_location(p, l);
	fn->first[l] = fn->ids.count;
	int err = 0;
	char buf[512];
	if (loc->nlines) {
		for (uint32_t k = 0; k < loc->nlines && !err; k++) {
			const struct line *line = profile_line(p, loc->lines + k);
			const struct function *f = profile_function(p, line->function);
			const char *name = string_table_get(&p->strings, f->name);
			size_t len = string_table_len(&p->strings, f->name);
			if (fn->with_lines && f->file && line->line) {
				char *full = NULL;
				int n = asprintf(&full, "%s (%s:%u)", name,
						 string_table_get(&p->strings, f->file), line->line);
				if (n < 0)
					return -RENDER_E_NOMEM;
				err = namer_push(fn, full, (size_t)n);
				free(full);
			} else {
				int64_t where = where_id(fn, f, line->line);
				err = where < 0 ? -RENDER_E_NOMEM : namer_push_where(fn, name, len, (uint32_t)where);
			}
		}
	} else if (loc->mapping != PROFILE_NONE) {
		const struct mapping *m = profile_mapping(p, loc->mapping);
		int n = snprintf(buf, sizeof(buf), "%s+0x%llx", mapping_basename(p, loc->mapping),
				 (unsigned long long)(loc->address - m->start + m->offset));
		err = namer_push(fn, buf, (size_t)(n < (int)sizeof(buf) ? n : (int)sizeof(buf) - 1));
	} else if (loc->address) {
		int n = snprintf(buf, sizeof(buf), "[unknown] 0x%llx", (unsigned long long)loc->address);
		err = namer_push(fn, buf, (size_t)n);
	} else {
		err = namer_push(fn, "[unknown]", 9);
	}
	fn->count[l] = fn->ids.count - fn->first[l];
	return err;
}

int frame_namer_get(struct frame_namer *fn, uint32_t l, const uint32_t **ids, const uint32_t **wheres,
		    uint32_t *n)
{
	if (!fn->count[l]) {
		int err = namer_fill(fn, l);
		if (err)
			return err;
	}
	*ids = (const uint32_t *)fn->ids.data + fn->first[l];
	if (wheres)
		*wheres = (const uint32_t *)fn->wheres.data + fn->first[l];
	*n = fn->count[l];
	return 0;
}

static int thread_map_build(struct thread_map *m, const struct profile *p)
{
	m->nslots = 16;
	while (m->nslots < p->threads.count * 2 + 2)
		m->nslots *= 2;
	m->slots = calloc(m->nslots, sizeof(*m->slots));
	if (!m->slots)
		return -RENDER_E_NOMEM;
	/* Later entries override earlier ones (a thread renamed by exec). */
	for (uint32_t i = 0; i < p->threads.count; i++) {
		const struct thread *th = profile_thread(p, i);
		uint32_t j = (uint32_t)hash_u64(th->tid) & (m->nslots - 1);
		while (m->slots[j] && m->slots[j]->tid != th->tid)
			j = (j + 1) & (m->nslots - 1);
		m->slots[j] = th;
	}
	return 0;
}

static const struct thread *thread_map_find(const struct thread_map *m, uint32_t tid)
{
	uint32_t j = (uint32_t)hash_u64(tid) & (m->nslots - 1);
	for (; m->slots[j]; j = (j + 1) & (m->nslots - 1))
		if (m->slots[j]->tid == tid)
			return m->slots[j];
	return NULL;
}

int render_value_index(const struct profile *p, const char *value)
{
	if (p->nvalues == 0)
		return -RENDER_E_NO_VALUE;
	if (!value)
		return 0;
	int v = profile_find_value(p, value);
	if (v >= 0)
		return v;
	/* Short names pick the first value of that unit: "ns", "bytes", "count". */
	const char *unit = value;
	if (strcmp(value, "ns") == 0)
		unit = "nanoseconds";
	else if (strcmp(value, "samples") == 0)
		unit = "count";
	for (uint32_t i = 0; i < p->nvalues; i++)
		if (strcmp(string_table_get(&p->strings, p->value_types[i].unit), unit) == 0)
			return (int)i;
	return -RENDER_E_NO_VALUE;
}

int sample_walker_init(struct sample_walker *w, const struct profile *p,
		       struct string_table *names, const struct render_select *sel)
{
	memset(w, 0, sizeof(*w));
	w->sel = sel;
	int err = frame_namer_init(&w->namer, p, names, sel->with_lines);
	if (!err && (err = thread_map_build(&w->threads, p)))
		frame_namer_release(&w->namer);
	return err;
}

void sample_walker_release(struct sample_walker *w)
{
	frame_namer_release(&w->namer);
	free(w->threads.slots);
	vec_release(&w->path);
	vec_release(&w->wheres);
	memset(w, 0, sizeof(*w));
}

static int path_push(struct sample_walker *w, uint32_t id, uint32_t where)
{
	uint32_t *slot = vec_push(&w->path, sizeof(*slot));
	uint32_t *wslot = slot ? vec_push(&w->wheres, sizeof(*wslot)) : NULL;
	if (!wslot)
		return -RENDER_E_NOMEM;
	*slot = id;
	*wslot = where;
	return 0;
}

int sample_walker_path(struct sample_walker *w, const struct sample *s)
{
	const struct profile *p = w->namer.p;
	struct string_table *names = w->namer.names;
	struct vec *path = &w->path;
	path->count = 0;
	w->wheres.count = 0;
	int err = 0;
	const struct thread *th = p->threads.count ? thread_map_find(&w->threads, s->tid) : NULL;
	if (th) {
		/* The root is the process's name (its main thread's); the thread's
		 * own name goes in the per-thread frame. */
		const struct thread *main_thread = th->pid ? thread_map_find(&w->threads, th->pid) : NULL;
		const char *process = string_table_get(&p->strings, (main_thread ? main_thread : th)->comm);
		const char *comm = string_table_get(&p->strings, th->comm);
		int64_t id = string_table_intern(names, process, strlen(process));
		if (id < 0 || (err = path_push(w, (uint32_t)id, 0)))
			return -RENDER_E_NOMEM;
		if (w->sel->per_process) {
			char buf[300];
			int n = snprintf(buf, sizeof(buf), "%.256s-%u", process, th->pid ? th->pid : s->tid);
			id = string_table_intern(names, buf, (size_t)n);
			if (id < 0 || (err = path_push(w, (uint32_t)id, 0)))
				return -RENDER_E_NOMEM;
		}
		if (w->sel->per_thread) {
			char buf[300];
			int n = snprintf(buf, sizeof(buf), "%.256s-%u", comm, s->tid);
			id = string_table_intern(names, buf, (size_t)n);
			if (id < 0 || (err = path_push(w, (uint32_t)id, 0)))
				return -RENDER_E_NOMEM;
		}
	}
	uint32_t prefix = path->count;
	/* Leaf to root, each location's chain reversed; then the stack part is
	 * reversed to read root first (unless drawing by leaf). */
	for (uint32_t st = s->stack; st != PROFILE_NONE; st = profile_stack(p, st)->parent) {
		const uint32_t *ids, *wheres;
		uint32_t n;
		if ((err = frame_namer_get(&w->namer, profile_stack(p, st)->location, &ids, &wheres, &n)))
			return err;
		for (uint32_t k = n; k-- > 0;)
			if ((err = path_push(w, ids[k], wheres[k])))
				return err;
	}
	uint32_t *ids = path->data, *wh = w->wheres.data;
	if (!w->sel->reverse)
		for (uint32_t a = prefix, b = path->count; a + 1 < b; a++, b--) {
			uint32_t tmp = ids[a];
			ids[a] = ids[b - 1];
			ids[b - 1] = tmp;
			tmp = wh[a];
			wh[a] = wh[b - 1];
			wh[b - 1] = tmp;
		}
	return 0;
}

int64_t flame_tree_path(struct flame_tree *t, const uint32_t *ids, const uint32_t *wheres, uint32_t n)
{
	uint32_t node = 0;
	for (uint32_t k = 0; k < n; k++) {
		int64_t child = flame_tree_child(t, node, ids[k]);
		if (child < 0)
			return child;
		node = (uint32_t)child;
		/* The first address merged in names the frame's source line. */
		if (wheres && !flame_node_at(t, node)->where)
			flame_node_at(t, node)->where = wheres[k];
	}
	return node;
}

int flame_tree_add_profile(struct flame_tree *t, const struct profile *p, uint32_t v,
			   const struct render_select *sel, bool base)
{
	struct sample_walker w;
	int err = sample_walker_init(&w, p, &t->names, sel);
	for (uint32_t i = 0; i < p->samples.count && !err; i++) {
		const struct sample *s = profile_sample(p, i);
		int64_t value = s->value[v];
		if (value == 0 || (err = sample_walker_path(&w, s)))
			continue;
		int64_t node = flame_tree_path(t, w.path.data, w.wheres.data, w.path.count);
		if (node < 0)
			err = (int)node;
		else
			flame_tree_credit(t, (uint32_t)node, base ? 0 : value, base ? value : 0);
	}
	sample_walker_release(&w);
	return err;
}
