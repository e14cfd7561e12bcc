/* render: everything smolder draws or prints from a profile.
 *
 * Folded stacks, SVG flamegraphs (plain and differential), pprof, speedscope
 * and text reports.  Depends on profile/ only.  Functions write to a FILE and
 * return 0 or a negative render_error; they never print diagnostics. */
#ifndef SMOLDER_RENDER_H
#define SMOLDER_RENDER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "profile/profile.h"

#define RENDER_ERRORS                                                              \
	RENDER_ERROR(OK, "success")                                                \
	RENDER_ERROR(NOMEM, "out of memory")                                       \
	RENDER_ERROR(IO, "write error")                                            \
	RENDER_ERROR(NO_VALUE, "the profile has no value of that name")            \
	RENDER_ERROR(EMPTY, "no samples to draw (every value is zero)")            \
	RENDER_ERROR(BAD_OPTION, "invalid option value")                           \
	RENDER_ERROR(NO_TIMES, "the profile has no sample times (recorded with --no-times, or by an older smolder)")

enum render_error {
#define RENDER_ERROR(name, msg) RENDER_E_##name,
	RENDER_ERRORS
#undef RENDER_ERROR
	RENDER_E_COUNT
};

const char *render_strerror(enum render_error err);

/* ---- choosing what to draw ---- */

struct render_select {
	const char *value; /* value type name ("samples", "bytes", ...); NULL: the view's default */
	bool per_process;  /* a "name-pid" frame below the process name */
	bool per_thread;   /* a "comm-tid" frame below the process name (and pid) */
	bool reverse;      /* merge by leaf: stacks are drawn leaf first */
	bool with_lines;   /* frame names carry " (file:line)" where known */
};

/* Index of the value to draw, or -RENDER_E_NO_VALUE. */
int render_value_index(const struct profile *p, const char *value);

/* ---- the flame tree: stacks merged by frame name ---- */

struct flame_node {
	uint32_t name;         /* string id in flame_tree.names */
	uint32_t parent;       /* PROFILE_NONE for the root */
	uint32_t first_child;  /* PROFILE_NONE if none */
	uint32_t next_sibling; /* PROFILE_NONE if none */
	uint32_t depth;        /* 0 for the root */
	uint32_t where;        /* name id of "file:line" (of the first address merged), 0 if unknown */
	int64_t total;         /* this frame and everything above it, in the drawn profile */
	int64_t self;
	int64_t base_total;    /* differential: the same frame in the base profile */
	int64_t base_self;
};

struct flame_tree {
	struct string_table names;
	struct vec nodes; /* struct flame_node; node 0 is the root ("all") */
	struct id_hash child_index;
	uint32_t max_depth;
};

int flame_tree_init(struct flame_tree *t);
void flame_tree_release(struct flame_tree *t);
#define flame_node_at(t, i) (&((struct flame_node *)(t)->nodes.data)[i])
static inline const char *flame_node_name(const struct flame_tree *t, uint32_t i)
{
	return string_table_get(&t->names, flame_node_at(t, i)->name);
}
/* Adds one stack (names root first) with its value in the drawn profile and
 * in the base profile (0 when not differential). */
int flame_tree_add(struct flame_tree *t, const char *const *names, const uint32_t *lens,
		   uint32_t n, int64_t value, int64_t base_value);
/* Adds every sample of p, value v, as selected.  `base` says which side. */
int flame_tree_add_profile(struct flame_tree *t, const struct profile *p, uint32_t v,
			   const struct render_select *sel, bool base);
/* Node ids of i's children sorted by name, in a malloc'd array the caller frees. */
uint32_t *flame_tree_sorted_children(const struct flame_tree *t, uint32_t i, uint32_t *n);

/* ---- folded text ---- */

/* Writes "frame;frame count" lines sorted bytewise, as stackcollapse does. */
int render_folded(const struct profile *p, const struct render_select *sel, FILE *out);

/* ---- SVG flamegraph ---- */

enum flame_palette {
	PALETTE_HOT, PALETTE_MEM, PALETTE_IO, PALETTE_WAKEUP, PALETTE_RED, PALETTE_GREEN,
	PALETTE_BLUE, PALETTE_AQUA, PALETTE_YELLOW, PALETTE_PURPLE, PALETTE_ORANGE,
	PALETTE_JAVA, PALETTE_JS, PALETTE_PERL, PALETTE_CHAIN,
};

/* Palette by name ("hot", "java", ...), or -1. */
int flame_palette_parse(const char *name);

struct flame_options {
	const char *title, *subtitle, *countname, *nametype, *notes;
	double width;          /* image width, px (1200) */
	double frame_height;   /* px (16) */
	double min_width;      /* px (0.1): narrower frames are not drawn */
	double font_size;      /* px (12) */
	const char *font_type; /* "Verdana" */
	int palette;           /* enum flame_palette */
	bool hash;             /* colour by name hash, not at random */
	bool inverted;         /* icicle: root at the top */
	bool differential;     /* colour by base_total vs total (see diff) */
	bool negate;           /* differential: widths came from the base */
	bool absolute;         /* differential: compare raw counts, not shares */
	double min_delta;      /* differential: changes under this many points are grey */
	uint64_t seed;         /* colour seed when !hash */
};

void flame_options_init(struct flame_options *o);
/* Defaults for drawing value v of p: palette, count name and notes (lost
 * samples) follow the value's view.  Strings point into p. */
void flame_options_for_value(struct flame_options *o, const struct profile *p, uint32_t v);
/* Renders the tree as a self-contained interactive SVG. */
int render_flamegraph(const struct flame_tree *t, const struct flame_options *o, FILE *out);

/* ---- the HTML report ---- */

struct html_report_options {
	const char *title;         /* NULL: "smolder" */
	struct render_select sel;  /* sel.value: the value shown first */
};
/* One self-contained page: a heatmap of the samples over time (a dragged
 * range becomes the flamegraph), a selector of the profile's values, the
 * flamegraph (zoom, search, icicle) and a sortable table of top functions.
 * With base, a differential page of p against base (same value types, else
 * RENDER_E_BAD_OPTION). */
int render_html_report(const struct profile *p, const struct profile *base, const struct html_report_options *o,
		       FILE *out);

/* ---- interchange formats ---- */

/* gzip-compressed pprof profile.proto with every value type. */
int render_pprof(const struct profile *p, FILE *out);
/* The same with the value types whose bits are set in `values` (bit v for
 * value v), for servers that take a few types a request. */
int render_pprof_values(const struct profile *p, uint32_t values, FILE *out);
/* speedscope's JSON file format: one sampled profile per value type, and
 * per thread an evented one (its time order) of the value that carries time
 * spent (sel->value's if that is one) when the profile kept times. */
int render_speedscope(const struct profile *p, const struct render_select *sel, FILE *out);
/* The Firefox Profiler's Gecko profile JSON: per thread, a sample per event
 * at its time; RENDER_E_NO_TIMES without times. */
int render_firefox(const struct profile *p, FILE *out);

/* ---- text ---- */

struct report_options {
	uint32_t limit; /* rows per table (20) */
	const char *value; /* NULL: every value */
};
/* Top functions by self and total, for each value. */
int render_report(const struct profile *p, const struct report_options *o, FILE *out);
struct top_options {
	const char *value; /* NULL: the view's default */
	uint32_t limit;    /* rows */
	bool by_process;   /* "function  [process]": the same function in two processes is two rows */
};
/* `smolder top`'s table: the functions with the most self value over the
 * last interval, with their self and total shares there and since the start. */
int render_top(const struct profile *last, const struct profile *all, const struct top_options *o, FILE *out);

/* The metadata of `smolder info`. */
int render_info(const struct profile *p, const struct profile_read_info *ri, FILE *out);
/* Every location: "MODULE 0xFILE_OFFSET" then its frames innermost first as
 * "\tFUNCTION FILE:LINE" (addr2line -f -i's order), for checking symbols. */
int render_locations(const struct profile *p, FILE *out);

/* ---- differences between two profiles ---- */

/* difffolded.pl's output: "stack count_base count_new" for every stack of
 * either, sorted; normalize scales BASE's counts to NEW's total (-n). */
int render_diff_folded(const struct profile *base, const struct profile *new_p,
		       const struct render_select *sel, bool normalize, FILE *out);
/* A differential tree: widths from NEW (BASE with negate), the other side in
 * base_total; draw it with flame_options.differential. */
int flame_tree_add_diff(struct flame_tree *t, const struct profile *base, const struct profile *new_p,
			const struct render_select *sel, bool negate);

enum diff_format { DIFF_FORMAT_TEXT, DIFF_FORMAT_TSV, DIFF_FORMAT_JSON };

struct diff_report_options {
	const char *value;
	uint32_t limit;       /* rows (0: all) */
	enum diff_format format;
	bool absolute;        /* raw counts instead of shares of each total */
	double fail_above;    /* points; negative: no gate */
};

#define DIFF_GATE_MAX 16
struct diff_gate {
	uint32_t exceeded; /* functions whose total share grew by more than fail_above */
	struct diff_gate_hit {
		char name[256]; /* controls written as '?' */
		double before, after;
	} hits[DIFF_GATE_MAX];
};

/* The functions whose total (then self) share moved most, both ways. */
int render_diff_report(const struct profile *base, const struct profile *new_p,
		       const struct diff_report_options *o, FILE *out, struct diff_gate *gate);

#endif
