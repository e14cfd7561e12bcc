/* The in-memory profile: interned strings and tables, and their builders. */
#include <stdlib.h>
#include <string.h>

#include "profile/profile-internal.h"

const char *profile_strerror(enum profile_error err)
{
	static const char *const messages[] = {
#define PROFILE_ERROR(name, msg) [PROFILE_E_##name] = msg,
		PROFILE_ERRORS
#undef PROFILE_ERROR
	};
	if ((unsigned)err >= PROFILE_E_COUNT)
		return "unknown error";
	return messages[err];
}

/* ---- string table ---- */

void string_table_init(struct string_table *t)
{
	memset(t, 0, sizeof(*t));
}

void string_table_release(struct string_table *t)
{
	free(t->bytes);
	free(t->offset);
	free(t->length);
	free(t->slots);
	memset(t, 0, sizeof(*t));
}

static int string_table_grow_slots(struct string_table *t)
{
	uint32_t nslots = t->nslots ? t->nslots * 2 : 256;
	uint32_t *slots = calloc(nslots, sizeof(*slots));
	if (!slots)
		return -1;
	for (uint32_t id = 0; id < t->count; id++) {
		uint32_t j = (uint32_t)hash_bytes(t->bytes + t->offset[id], t->length[id]) & (nslots - 1);
		while (slots[j])
			j = (j + 1) & (nslots - 1);
		slots[j] = id + 1;
	}
	free(t->slots);
	t->slots = slots;
	t->nslots = nslots;
	return 0;
}

int64_t string_table_intern(struct string_table *t, const char *s, size_t len)
{
	if (len > STRING_MAX_LEN)
		len = STRING_MAX_LEN;
	if (t->count == 0 && len != 0) {
		/* Id 0 is "" so that 0 can mean "unknown" in every table. */
		if (string_table_intern(t, "", 0) < 0)
			return -1;
	}
	if ((uint64_t)(t->count + 1) * 4 >= (uint64_t)t->nslots * 3 && string_table_grow_slots(t))
		return -1;
	uint64_t h = hash_bytes(s, len);
	uint32_t mask = t->nslots - 1;
	uint32_t i = (uint32_t)h & mask;
	for (; t->slots[i]; i = (i + 1) & mask) {
		uint32_t id = t->slots[i] - 1;
		if (t->length[id] == len && memcmp(t->bytes + t->offset[id], s, len) == 0)
			return id;
	}
	if (t->used + len + 1 > UINT32_MAX)
		return -1;
	if (t->used + len + 1 > t->cap) {
		size_t cap = t->cap ? t->cap : 4096;
		while (cap < t->used + len + 1)
			cap *= 2;
		char *bytes = realloc(t->bytes, cap);
		if (!bytes)
			return -1;
		t->bytes = bytes;
		t->cap = cap;
	}
	if (t->count == t->cap_ids) {
		uint32_t cap = t->cap_ids ? t->cap_ids * 2 : 256;
		uint32_t *offset = realloc(t->offset, cap * sizeof(*offset));
		if (!offset)
			return -1;
		t->offset = offset;
		uint32_t *length = realloc(t->length, cap * sizeof(*length));
		if (!length)
			return -1;
		t->length = length;
		t->cap_ids = cap;
	}
	uint32_t id = t->count++;
	t->offset[id] = (uint32_t)t->used;
	t->length[id] = (uint32_t)len;
	if (len)
		memcpy(t->bytes + t->used, s, len);
	t->bytes[t->used + len] = '\0';
	t->used += len + 1;
	t->slots[i] = id + 1;
	return id;
}

/* ---- profile ---- */

void profile_init(struct profile *p)
{
	memset(p, 0, sizeof(*p));
	string_table_init(&p->strings);
	string_table_intern(&p->strings, "", 0);
}

void profile_release(struct profile *p)
{
	string_table_release(&p->strings);
	vec_release(&p->meta);
	vec_release(&p->mappings);
	vec_release(&p->functions);
	vec_release(&p->lines);
	vec_release(&p->locations);
	vec_release(&p->stacks);
	vec_release(&p->threads);
	vec_release(&p->samples);
	vec_release(&p->events);
	vec_release(&p->event_values);
	id_hash_release(&p->function_index);
	id_hash_release(&p->location_index);
	id_hash_release(&p->stack_index);
	id_hash_release(&p->sample_index);
	memset(p, 0, sizeof(*p));
}

struct profile *profile_new(void)
{
	struct profile *p = malloc(sizeof(*p));
	if (p)
		profile_init(p);
	return p;
}

void profile_free(struct profile *p)
{
	if (!p)
		return;
	profile_release(p);
	free(p);
}

int64_t profile_string_n(struct profile *p, const char *s, size_t len)
{
	int64_t id = string_table_intern(&p->strings, s, len);
	return id < 0 ? -PROFILE_E_NOMEM : id;
}

int64_t profile_string(struct profile *p, const char *s)
{
	return profile_string_n(p, s, strlen(s));
}

int profile_add_value_type(struct profile *p, const char *type, const char *unit)
{
	if (p->nvalues == PROFILE_MAX_VALUES)
		return -PROFILE_E_TOO_LARGE;
	int64_t t = profile_string(p, type), u = profile_string(p, unit);
	if (t < 0 || u < 0)
		return -PROFILE_E_NOMEM;
	p->value_types[p->nvalues] = (struct value_type){ (uint32_t)t, (uint32_t)u };
	return (int)p->nvalues++;
}

int profile_find_value(const struct profile *p, const char *type)
{
	for (uint32_t i = 0; i < p->nvalues; i++)
		if (strcmp(string_table_get(&p->strings, p->value_types[i].type), type) == 0)
			return (int)i;
	return -1;
}

int profile_set_meta(struct profile *p, const char *key, const char *value)
{
	int64_t k = profile_string(p, key), v = profile_string(p, value);
	if (k < 0 || v < 0)
		return -PROFILE_E_NOMEM;
	struct meta_entry *e = vec_push(&p->meta, sizeof(*e));
	if (!e)
		return -PROFILE_E_NOMEM;
	*e = (struct meta_entry){ (uint32_t)k, (uint32_t)v };
	return 0;
}

const char *profile_get_meta(const struct profile *p, const char *key)
{
	for (uint32_t i = p->meta.count; i-- > 0;) {
		const struct meta_entry *e = profile_meta(p, i);
		if (strcmp(string_table_get(&p->strings, e->key), key) == 0)
			return string_table_get(&p->strings, e->value);
	}
	return NULL;
}

int64_t profile_add_mapping(struct profile *p, const struct mapping *m)
{
	struct mapping *slot = vec_push(&p->mappings, sizeof(*slot));
	if (!slot)
		return -PROFILE_E_NOMEM;
	*slot = *m;
	return p->mappings.count - 1;
}

/* Keys of the interning hashes. */
struct pair_key {
	uint32_t a, b;
};

static uint64_t pair_hash(uint32_t a, uint32_t b)
{
	return hash_u64(((uint64_t)a << 32) ^ b ^ 0x9e3779b97f4a7c15ULL);
}

static bool function_eq(const void *ctx, uint32_t id, const void *key)
{
	const struct function *f = profile_function((const struct profile *)ctx, id);
	const struct pair_key *k = key;
	return f->name == k->a && f->file == k->b;
}

static uint64_t function_rehash(const void *ctx, uint32_t id)
{
	const struct function *f = profile_function((const struct profile *)ctx, id);
	return pair_hash(f->name, f->file);
}

int64_t profile_intern_function(struct profile *p, uint32_t name, uint32_t file)
{
	if (id_hash_reserve(&p->function_index, p->functions.count, function_rehash, p))
		return -PROFILE_E_NOMEM;
	struct pair_key key = { name, file };
	uint32_t *slot = id_hash_probe(&p->function_index, pair_hash(name, file), function_eq, p, &key);
	if (*slot)
		return *slot - 1;
	struct function *f = vec_push(&p->functions, sizeof(*f));
	if (!f)
		return -PROFILE_E_NOMEM;
	*f = (struct function){ name, file };
	*slot = p->functions.count;
	return p->functions.count - 1;
}

int profile_set_location_lines(struct profile *p, uint32_t location, const struct line *lines,
			       uint32_t nlines)
{
	uint32_t first = p->lines.count;
	for (uint32_t i = 0; i < nlines; i++) {
		struct line *l = vec_push(&p->lines, sizeof(*l));
		if (!l)
			return -PROFILE_E_NOMEM;
		*l = lines[i];
	}
	struct location *loc = profile_location(p, location);
	loc->lines = first;
	loc->nlines = nlines;
	return 0;
}

/* Locations are interned by (mapping, address), or by function for named
 * frames that have neither. */
struct location_key {
	uint64_t address;
	uint32_t mapping, function;
};

static struct location_key location_key_of(const struct profile *p, const struct location *l)
{
	bool named = l->mapping == PROFILE_NONE && l->address == 0 && l->nlines == 1;
	return (struct location_key){ l->address, l->mapping,
				      named ? profile_line(p, l->lines)->function : PROFILE_NONE };
}

static uint64_t location_key_hash(const struct location_key *k)
{
	return hash_u64(k->address ^ hash_u64(((uint64_t)k->mapping << 32) | k->function));
}

static bool location_eq(const void *ctx, uint32_t id, const void *key)
{
	const struct profile *p = ctx;
	struct location_key a = location_key_of(p, profile_location(p, id));
	const struct location_key *b = key;
	return a.address == b->address && a.mapping == b->mapping && a.function == b->function;
}

static uint64_t location_rehash(const void *ctx, uint32_t id)
{
	const struct profile *p = ctx;
	struct location_key k = location_key_of(p, profile_location(p, id));
	return location_key_hash(&k);
}

static int64_t intern_location(struct profile *p, const struct location_key *key)
{
	if (id_hash_reserve(&p->location_index, p->locations.count, location_rehash, p))
		return -PROFILE_E_NOMEM;
	uint32_t *slot = id_hash_probe(&p->location_index, location_key_hash(key), location_eq, p, key);
	if (*slot)
		return *slot - 1;
	struct location *l = vec_push(&p->locations, sizeof(*l));
	if (!l)
		return -PROFILE_E_NOMEM;
	uint32_t id = p->locations.count - 1;
	*l = (struct location){ .address = key->address, .mapping = key->mapping };
	if (key->function != PROFILE_NONE) {
		struct line line = { key->function, 0 };
		if (profile_set_location_lines(p, id, &line, 1))
			return -PROFILE_E_NOMEM;
	}
	*slot = id + 1;
	return id;
}

int64_t profile_append_location(struct profile *p, uint64_t address, uint32_t mapping)
{
	struct location *l = vec_push(&p->locations, sizeof(*l));
	if (!l)
		return -PROFILE_E_NOMEM;
	*l = (struct location){ .address = address, .mapping = mapping };
	return p->locations.count - 1;
}

int profile_reindex_locations(struct profile *p)
{
	id_hash_release(&p->location_index);
	for (uint32_t id = 0; id < p->locations.count; id++) {
		if (id_hash_reserve(&p->location_index, id, location_rehash, p))
			return -PROFILE_E_NOMEM;
		struct location_key key = location_key_of(p, profile_location(p, id));
		uint32_t *slot = id_hash_probe(&p->location_index, location_key_hash(&key), location_eq, p, &key);
		if (!*slot)
			*slot = id + 1;
	}
	return 0;
}

int64_t profile_intern_location(struct profile *p, uint64_t address, uint32_t mapping)
{
	struct location_key key = { address, mapping, PROFILE_NONE };
	return intern_location(p, &key);
}

int64_t profile_intern_named_location(struct profile *p, uint32_t function)
{
	struct location_key key = { 0, PROFILE_NONE, function };
	return intern_location(p, &key);
}

static bool stack_eq(const void *ctx, uint32_t id, const void *key)
{
	const struct stack_node *s = profile_stack((const struct profile *)ctx, id);
	const struct pair_key *k = key;
	return s->parent == k->a && s->location == k->b;
}

static uint64_t stack_rehash(const void *ctx, uint32_t id)
{
	const struct stack_node *s = profile_stack((const struct profile *)ctx, id);
	return pair_hash(s->parent, s->location);
}

int64_t profile_intern_stack(struct profile *p, uint32_t parent, uint32_t location)
{
	if (id_hash_reserve(&p->stack_index, p->stacks.count, stack_rehash, p))
		return -PROFILE_E_NOMEM;
	struct pair_key key = { parent, location };
	uint32_t *slot = id_hash_probe(&p->stack_index, pair_hash(parent, location), stack_eq, p, &key);
	if (*slot)
		return *slot - 1;
	struct stack_node *s = vec_push(&p->stacks, sizeof(*s));
	if (!s)
		return -PROFILE_E_NOMEM;
	*s = (struct stack_node){ parent, location };
	*slot = p->stacks.count;
	return p->stacks.count - 1;
}

int profile_set_thread(struct profile *p, uint32_t tid, uint32_t pid, uint32_t comm)
{
	for (uint32_t i = p->threads.count; i-- > 0;) {
		struct thread *t = profile_thread(p, i);
		if (t->tid == tid) {
			if (t->pid == pid && t->comm == comm)
				return 0;
			break;
		}
	}
	struct thread *t = vec_push(&p->threads, sizeof(*t));
	if (!t)
		return -PROFILE_E_NOMEM;
	*t = (struct thread){ tid, pid, comm };
	return 0;
}

const struct thread *profile_find_thread(const struct profile *p, uint32_t tid)
{
	for (uint32_t i = p->threads.count; i-- > 0;) {
		const struct thread *t = profile_thread(p, i);
		if (t->tid == tid)
			return t;
	}
	return NULL;
}

static bool sample_eq(const void *ctx, uint32_t id, const void *key)
{
	const struct sample *s = profile_sample((const struct profile *)ctx, id);
	const struct pair_key *k = key;
	return s->stack == k->a && s->tid == k->b;
}

static uint64_t sample_rehash(const void *ctx, uint32_t id)
{
	const struct sample *s = profile_sample((const struct profile *)ctx, id);
	return pair_hash(s->stack, s->tid);
}

/* The sample of (stack, tid), created if new: its index, or -1. */
static int64_t sample_of(struct profile *p, uint32_t stack, uint32_t tid, uint64_t time)
{
	if (id_hash_reserve(&p->sample_index, p->samples.count, sample_rehash, p))
		return -1;
	struct pair_key key = { stack, tid };
	uint32_t *slot = id_hash_probe(&p->sample_index, pair_hash(stack, tid), sample_eq, p, &key);
	if (*slot)
		return *slot - 1;
	struct sample *s = vec_push(&p->samples, sizeof(*s));
	if (!s)
		return -1;
	memset(s, 0, sizeof(*s));
	s->stack = stack;
	s->tid = tid;
	s->time = time;
	*slot = p->samples.count;
	return p->samples.count - 1;
}

static void add_to_sample(struct profile *p, uint32_t i, const int64_t *values)
{
	struct sample *s = profile_sample(p, i);
	for (uint32_t v = 0; v < p->nvalues; v++)
		s->value[v] = sat_add_i64(s->value[v], values[v]);
}

int profile_add_sample(struct profile *p, uint32_t stack, uint32_t tid, uint64_t time,
		       const int64_t *values)
{
	int64_t i = sample_of(p, stack, tid, time);
	if (i < 0)
		return -PROFILE_E_NOMEM;
	add_to_sample(p, (uint32_t)i, values);
	return 0;
}

int profile_add_event(struct profile *p, uint32_t stack, uint32_t tid, uint64_t time, const int64_t *values)
{
	int64_t i = sample_of(p, stack, tid, time);
	struct profile_event *e = i < 0 ? NULL : vec_push(&p->events, sizeof(*e));
	if (!e)
		return -PROFILE_E_NOMEM;
	*e = (struct profile_event){ time, (uint32_t)i };
	int64_t *ev = p->nvalues ? vec_push_n(&p->event_values, sizeof(int64_t), p->nvalues) : NULL;
	if (p->nvalues && !ev) {
		p->events.count--;
		return -PROFILE_E_NOMEM;
	}
	if (ev)
		memcpy(ev, values, p->nvalues * sizeof(int64_t));
	add_to_sample(p, (uint32_t)i, values);
	return 0;
}

void profile_forget_events(struct profile *p)
{
	p->events_forgotten += p->events.count;
	p->events.count = 0;
	p->event_values.count = 0;
}

int64_t profile_total(const struct profile *p, uint32_t v)
{
	int64_t total = 0;
	for (uint32_t i = 0; i < p->samples.count; i++)
		total = sat_add_i64(total, profile_sample(p, i)->value[v]);
	return total;
}

uint32_t profile_stack_depth(const struct profile *p, uint32_t stack)
{
	uint32_t depth = 0;
	for (; stack != PROFILE_NONE; stack = profile_stack(p, stack)->parent)
		depth++;
	return depth;
}
