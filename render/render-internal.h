/* Private to render/: pieces shared by its renderers. */
#ifndef SMOLDER_RENDER_INTERNAL_H
#define SMOLDER_RENDER_INTERNAL_H

#include "render/render.h"

/* Names each location's frames once (its inline chain, or "module+0xoff"),
 * interning them into `names`. */
struct frame_namer {
	const struct profile *p;
	struct string_table *names;
	bool with_lines;
	uint32_t *first, *count; /* per location: a run of ids, count 0 = not yet named */
	struct vec ids;          /* uint32_t */
	struct vec wheres;       /* uint32_t, beside ids: "file:line" string ids, 0 if unknown */
};

int frame_namer_init(struct frame_namer *fn, const struct profile *p, struct string_table *names,
		     bool with_lines);
void frame_namer_release(struct frame_namer *fn);
/* The name ids of location l's frames, outermost first, and beside them
 * their "file:line" ids (0: unknown); valid until the next call. */
int frame_namer_get(struct frame_namer *fn, uint32_t l, const uint32_t **ids, const uint32_t **wheres,
		    uint32_t *n);

/* tid -> thread, as a small open-addressing map built once. */
struct thread_map {
	const struct thread **slots;
	uint32_t nslots;
};

/* Walks samples to their frame names, root first: the process name, the
 * process (with per_process), thread (with per_thread), then each location's inline chain. */
struct sample_walker {
	const struct render_select *sel;
	struct frame_namer namer;
	struct thread_map threads;
	struct vec path;   /* uint32_t name ids of the last sample walked */
	struct vec wheres; /* uint32_t "file:line" ids beside path */
};

int sample_walker_init(struct sample_walker *w, const struct profile *p,
		       struct string_table *names, const struct render_select *sel);
void sample_walker_release(struct sample_walker *w);
/* Fills w->path for s. */
int sample_walker_path(struct sample_walker *w, const struct sample *s);

/* The node at the end of a path of name ids (in t->names) from the root,
 * created as needed, with wheres ("file:line" ids beside, or NULL); or a
 * negative render_error. */
int64_t flame_tree_path(struct flame_tree *t, const uint32_t *ids, const uint32_t *wheres, uint32_t n);

/* A profile's events per thread (timeline.c): order holds event indexes by
 * thread, then time; threads, busiest first, say where each one's run is. */
struct timeline {
	uint32_t *order;
	struct timeline_thread {
		uint32_t tid, first, count;
	} *threads;
	uint32_t nthreads; /* 0: the profile has no times */
	uint64_t start, end; /* the recording's span, on the events' clock */
};
int timeline_build(struct timeline *tl, const struct profile *p);
void timeline_release(struct timeline *tl);
/* The value whose events carry time spent (nanoseconds): `wanted`'s if it is
 * one, else the first that any event carries; -1 if none. */
int timeline_time_value(const struct profile *p, const char *wanted);

/* Folded stacks of a profile, sorted bytewise. */
struct folded_line {
	size_t off, len; /* in text */
	int64_t value;
};
struct folded_lines {
	char *text;
	struct folded_line *lines;
	size_t count;
};
int folded_lines_build(const struct profile *p, const struct render_select *sel, struct folded_lines *out);
void folded_lines_release(struct folded_lines *f);

/* Per function name: self (as leaf) and total (anywhere in a stack, once per
 * stack), of value v; names interned in `names`.  The caller frees *out. */
struct fn_total {
	uint32_t name;
	int64_t self, total;
};
int function_totals(const struct profile *p, uint32_t v, struct string_table *names, bool with_lines,
		    struct fn_total **out, uint32_t *count);

/* The base name of a mapping's path. */
const char *mapping_basename(const struct profile *p, uint32_t mapping);

/* Writes s[0..len) escaped for XML text and attribute values: & < > " ' are
 * entities, bytes that XML forbids (controls, NUL) and invalid UTF-8 become
 * U+FFFD. */
void xml_escape(FILE *out, const char *s, size_t len);
/* Writes s escaped as the body of a JSON string (without quotes). */
void json_escape(FILE *out, const char *s, size_t len);
/* Writes every string of t, in id order, as a JSON array. */
void json_string_array(FILE *out, const struct string_table *t);

/* A frame's name into folded text (len bytes, as many as it had): a name
 * may hold neither ';' nor a line break, which would change the stacks
 * and counts a reader sees. */
void folded_frame_copy(char *dst, const char *s, size_t len);
/* A name for a line of text (a report row): controls written as '?'. */
void text_name(FILE *out, const char *s);

/* Bytes of the first max_chars UTF-8 characters of s (an invalid byte counts
 * as one character). */
size_t utf8_truncate(const char *s, size_t len, size_t max_chars);
/* Characters in s, counted the same way. */
size_t utf8_count(const char *s, size_t len);

#endif
