/* profile: smolder's data model and the .smolder file format.
 *
 * Also the readers of other tools' stacks: folded text and `perf script`
 * output (as stackcollapse-perf.pl reads it).
 *
 * The model is pprof's, trimmed: a string table, mappings, functions,
 * locations (an address in a mapping, plus the inline chain that symbolizes
 * it), a stack table (a trie of locations, each node naming its parent), and
 * samples (a stack, a thread, values).  Identical (stack, thread) samples are
 * aggregated as they are added, so memory grows with unique stacks, not time.
 *
 * Every module above base/ includes this header; it includes only base/.
 * All ids are dense indices from 0.  Pointers returned by the accessors stay
 * valid until the next call that adds to the same table, or profile_release().
 */
#ifndef SMOLDER_PROFILE_H
#define SMOLDER_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/base.h"

/* One list generates the error enum and its messages (as elfutils' DWFL_ERRORS). */
#define PROFILE_ERRORS                                                              \
	PROFILE_ERROR(OK, "success")                                                \
	PROFILE_ERROR(NOMEM, "out of memory")                                       \
	PROFILE_ERROR(IO, "input/output error")                                     \
	PROFILE_ERROR(NOT_PROFILE, "not a smolder profile (bad magic number)")      \
	PROFILE_ERROR(VERSION, "a profile format version this smolder does not read (a newer smolder wrote it: read it with that one)") \
	PROFILE_ERROR(TRUNCATED, "file is truncated")                               \
	PROFILE_ERROR(CHECKSUM, "chunk checksum mismatch (file is corrupted)")      \
	PROFILE_ERROR(TOO_LARGE, "declared size exceeds the limit (file is corrupted or hostile)") \
	PROFILE_ERROR(DECOMPRESS, "chunk payload does not decompress (file is corrupted)") \
	PROFILE_ERROR(BAD_CHUNK, "malformed chunk payload (file is corrupted)")     \
	PROFILE_ERROR(BAD_INDEX, "index out of range (file is corrupted)")          \
	PROFILE_ERROR(STACK_CYCLE, "stack table has a cycle (file is corrupted)")   \
	PROFILE_ERROR(VALUES, "profiles have different value types")                \
	PROFILE_ERROR(EMPTY, "no samples")                                          \
	PROFILE_ERROR(NO_FOLDED, "no valid folded stack lines")                     \
	PROFILE_ERROR(CHUNK_SIZE, "a chunk's size does not match its contents (file is corrupted, not cut short)") \
	PROFILE_ERROR(TRAILING, "data after the profile's end: two files joined? ('smolder merge' adds profiles up)") \
	PROFILE_ERROR(NOT_TEXT, "neither a smolder profile nor folded text (binary data)") \
	PROFILE_ERROR(NO_TIMES, "the profile holds no sample times (folded text, or recorded by a smolder before format version 2)")

enum profile_error {
#define PROFILE_ERROR(name, msg) PROFILE_E_##name,
	PROFILE_ERRORS
#undef PROFILE_ERROR
	PROFILE_E_COUNT
};

/* Static message for an error; for PROFILE_E_IO the caller adds strerror(errno). */
const char *profile_strerror(enum profile_error err);

/* ---- string table: interned byte strings (may hold any byte but NUL) ---- */

struct string_table {
	char *bytes;       /* all strings, each NUL-terminated */
	size_t used, cap;
	uint32_t *offset;  /* offset[id] into bytes */
	uint32_t *length;  /* length[id] */
	uint32_t count, cap_ids;
	uint32_t *slots;   /* open addressing: id + 1, 0 = empty */
	uint32_t nslots;
};

void string_table_init(struct string_table *t);
void string_table_release(struct string_table *t);
/* Interns s[0..len); returns its id, or -1 (out of memory).  Id 0 is always "". */
int64_t string_table_intern(struct string_table *t, const char *s, size_t len);
static inline const char *string_table_get(const struct string_table *t, uint32_t id)
{
	return t->bytes + t->offset[id];
}
static inline uint32_t string_table_len(const struct string_table *t, uint32_t id)
{
	return t->length[id];
}

/* ---- the model ---- */

#define PROFILE_MAX_VALUES 8
#define PROFILE_NONE UINT32_MAX /* "no parent", "no mapping" */

struct value_type {
	uint32_t type; /* string id: "samples", "cpu", "offcpu", "bytes", ... */
	uint32_t unit; /* string id: "count", "nanoseconds", "bytes" */
};

struct mapping {
	uint64_t start, end, offset;
	uint32_t path;     /* string id */
	uint32_t build_id; /* string id of the hex build-id, 0 ("") if unknown */
};

struct function {
	uint32_t name; /* string id */
	uint32_t file; /* string id, 0 if unknown */
};

/* One frame of a location's inline chain. */
struct line {
	uint32_t function;
	uint32_t line;
};

struct location {
	uint64_t address;  /* absolute address in the process; 0 for named-only frames */
	uint32_t mapping;  /* PROFILE_NONE if none */
	uint32_t nlines;   /* 0 = not symbolized */
	uint32_t lines;    /* index of the first line in profile.lines; outermost first */
};

struct stack_node {
	uint32_t parent;   /* PROFILE_NONE for a root frame; always < own id */
	uint32_t location;
};

struct thread {
	uint32_t tid, pid;
	uint32_t comm; /* string id */
};

struct sample {
	uint32_t stack;  /* leaf node of the stack, PROFILE_NONE for an empty stack */
	uint32_t tid;
	uint64_t time;   /* ns of the first occurrence, 0 if unknown */
	int64_t value[PROFILE_MAX_VALUES];
};

struct meta_entry {
	uint32_t key, value; /* string ids */
};

/* One sample (or off-CPU span, io call, allocation) as it happened: the
 * aggregated sample it went into, when, and its values (in
 * profile.event_values, nvalues per event).  Times are what let a profile
 * answer "what happened during those two seconds". */
struct profile_event {
	uint64_t time;   /* ns, CLOCK_MONOTONIC as recorded (microsecond precision in files) */
	uint32_t sample; /* index in profile.samples */
};

struct profile {
	struct string_table strings;
	uint32_t nvalues;
	struct value_type value_types[PROFILE_MAX_VALUES];
	struct vec meta;      /* struct meta_entry; a later key overrides an earlier one */
	struct vec mappings;  /* struct mapping */
	struct vec functions; /* struct function */
	struct vec lines;     /* struct line */
	struct vec locations; /* struct location */
	struct vec stacks;    /* struct stack_node */
	struct vec threads;   /* struct thread; a later tid overrides an earlier one */
	struct vec samples;   /* struct sample */
	struct vec events;    /* struct profile_event, in the order added */
	struct vec event_values; /* int64_t[nvalues] per event */
	uint64_t events_forgotten; /* events dropped by profile_forget_events (written already) */
	struct id_hash function_index, location_index, stack_index, sample_index;
};

#define PROFILE_AT(p, table, type, i) (((type *)(p)->table.data)[i])
#define profile_mapping(p, i) (&PROFILE_AT(p, mappings, struct mapping, i))
#define profile_function(p, i) (&PROFILE_AT(p, functions, struct function, i))
#define profile_line(p, i) (&PROFILE_AT(p, lines, struct line, i))
#define profile_location(p, i) (&PROFILE_AT(p, locations, struct location, i))
#define profile_stack(p, i) (&PROFILE_AT(p, stacks, struct stack_node, i))
#define profile_thread(p, i) (&PROFILE_AT(p, threads, struct thread, i))
#define profile_sample(p, i) (&PROFILE_AT(p, samples, struct sample, i))
#define profile_meta(p, i) (&PROFILE_AT(p, meta, struct meta_entry, i))

void profile_init(struct profile *p);
void profile_release(struct profile *p);
struct profile *profile_new(void);
void profile_free(struct profile *p); /* accepts NULL */

/* Builders: each returns the new (or existing, where interned) id, or a
 * negative profile_error. */
int64_t profile_string(struct profile *p, const char *s);
int64_t profile_string_n(struct profile *p, const char *s, size_t len);
int profile_add_value_type(struct profile *p, const char *type, const char *unit);
/* Index of the value type named `type`, or -1. */
int profile_find_value(const struct profile *p, const char *type);
int profile_set_meta(struct profile *p, const char *key, const char *value);
/* Latest value for key, or NULL. */
const char *profile_get_meta(const struct profile *p, const char *key);
int64_t profile_add_mapping(struct profile *p, const struct mapping *m);
/* Interned by (name, file). */
int64_t profile_intern_function(struct profile *p, uint32_t name, uint32_t file);
/* The location of (mapping, address), created unsymbolized if new. */
int64_t profile_intern_location(struct profile *p, uint64_t address, uint32_t mapping);
/* Interned by function: one location whose single line is that function;
 * used for named frames that have no address (folded text, kallsyms). */
int64_t profile_intern_named_location(struct profile *p, uint32_t function);
/* Sets a location's inline chain (outermost first); copies `lines`. */
int profile_set_location_lines(struct profile *p, uint32_t location, const struct line *lines,
			       uint32_t nlines);
/* Interned by (parent, location). */
int64_t profile_intern_stack(struct profile *p, uint32_t parent, uint32_t location);
int profile_set_thread(struct profile *p, uint32_t tid, uint32_t pid, uint32_t comm);
/* The latest entry for tid, or NULL. */
const struct thread *profile_find_thread(const struct profile *p, uint32_t tid);
/* Adds values[0..nvalues) to the sample of (stack, tid), creating it if new. */
int profile_add_sample(struct profile *p, uint32_t stack, uint32_t tid, uint64_t time,
		       const int64_t *values);

/* The same, and an event of it at `time` (see struct profile_event). */
int profile_add_event(struct profile *p, uint32_t stack, uint32_t tid, uint64_t time, const int64_t *values);
static inline const int64_t *profile_event_values(const struct profile *p, uint32_t i)
{
	return (const int64_t *)p->event_values.data + (size_t)i * p->nvalues;
}
#define profile_event(p, i) (&PROFILE_AT(p, events, struct profile_event, i))
/* Drops the events held (a recorder does once its writer has them):
 * memory then grows with unique stacks again, not with time. */
void profile_forget_events(struct profile *p);

/* Keeps only what happened in [from, to) (ns, the events' clock): every
 * sample's values become the sum of its events there, samples left with
 * nothing are dropped, and so are values that no event carries (in-use
 * bytes, a state at the end).  PROFILE_E_NO_TIMES if p has no events. */
int profile_keep_time_range(struct profile *p, uint64_t from, uint64_t to);
/* The recording's start on the events' clock (metadata start_monotonic_ns,
 * else the first event), and its end (the last event, or the start plus
 * duration_ns if later); false if p has no events. */
bool profile_time_span(const struct profile *p, uint64_t *start, uint64_t *end);

/* Sum of value v over all samples. */
int64_t profile_total(const struct profile *p, uint32_t v);
/* Depth of a stack node (1 for a root frame). */
uint32_t profile_stack_depth(const struct profile *p, uint32_t stack);

/* Adds every sample of src into dst (value types must match), re-interning
 * strings, mappings, functions, locations and stacks. */
int profile_merge(struct profile *dst, const struct profile *src);

/* Moves src's samples into dst (empty): dst gets src's value types and
 * metadata, and only the strings, mappings, functions, locations, stacks and
 * threads the samples use; src keeps its tables and has no samples left, so
 * that a recording can go on adding to it.  mapping_of (room for
 * src->mappings.count) gets, for each mapping of dst, the one of src it
 * copies.  On failure src is unchanged. */
int profile_take_samples(struct profile *dst, struct profile *src, uint32_t *mapping_of);

/* ---- folded text ("frame;frame;frame count") ---- */

struct folded_stats {
	uint64_t lines, bad_lines;
	uint64_t clamped; /* counts above 2^63-1 (the largest a profile holds), held at it */
};

/* Parses folded text into p (which must be empty or hold folded stacks) with
 * one value type, "samples"/"count".  Malformed lines are counted, not fatal.
 * Returns PROFILE_E_NO_FOLDED when no line was valid.  *stats (may be
 * NULL) is set to this text's counts. */
int profile_parse_folded(struct profile *p, const char *text, size_t len,
			 struct folded_stats *stats);

/* ---- `perf script` text -> folded stacks (stackcollapse-perf.pl) ---- */

struct collapse_options {
	bool pid, tid, kernel, jit, addrs;
	const char *event_filter; /* NULL: the first event seen */
};

struct collapse_stats {
	uint64_t unrecognized_lines;
	uint64_t clamped; /* stack totals above 2^63-1 (the largest a profile holds), held at it */
	char first_unrecognized[200];
	bool filtered_events;
	char event[64];
};

struct collapse_result;
struct collapse_state;

/* Streaming: feed blocks of input; complete lines are used at once (memory
 * grows with unique stacks, not with the input), *consumed says how much, and
 * the caller passes the rest again with more input.  o must outlive the state. */
struct collapse_state *collapse_new(const struct collapse_options *o);
int collapse_feed(struct collapse_state *c, const char *text, size_t len, size_t *consumed);
/* Takes a last line without a newline, returns the stacks, frees the state. */
int collapse_finish(struct collapse_state *c, const char *tail, size_t len,
		    struct collapse_result **out, struct collapse_stats *stats);
void collapse_abort(struct collapse_state *c);
/* All of it at once. */
int collapse_perf(const char *text, size_t len, const struct collapse_options *o,
		  struct collapse_result **out, struct collapse_stats *stats);
/* Writes the stacks sorted bytewise, "stack count" per line. */
int collapse_result_write(const struct collapse_result *r, FILE *out);
/* Adds the stacks to p as folded text would. */
int collapse_result_to_profile(const struct collapse_result *r, struct profile *p);
void collapse_result_free(struct collapse_result *r);

/* ---- the .smolder file ---- */

#define PROFILE_MAGIC "SMOLDER\x1a"
#define PROFILE_VERSION 2 /* written; 1 is read too */

struct profile_read_info {
	bool truncated;      /* the file ended before its END chunk */
	uint32_t chunks;     /* complete chunks read */
	uint64_t file_bytes;
	uint64_t raw_bytes;  /* what the chunks read hold, uncompressed */
};

/* Reads a whole .smolder file into p (initialized, empty).  A file cut after a
 * complete chunk loads what it holds, sets info->truncated and returns OK. */
int profile_read_file(struct profile *p, const char *path, struct profile_read_info *info);
int profile_read_buffer(struct profile *p, const uint8_t *buf, size_t len,
			struct profile_read_info *info);
/* True if buf starts with the magic number. */
bool profile_is_smolder(const uint8_t *buf, size_t len);

/* Loads a profile or folded text (detected by content) from path, or from
 * stdin when path is NULL or "-".  stats may be NULL. */
int profile_load(struct profile *p, const char *path, struct profile_read_info *info,
		 struct folded_stats *stats);

/* Incremental writer: profile_writer_flush() appends whatever was added to p
 * since the last flush as new chunks, so a recorder killed at any moment
 * leaves a readable prefix.  The file is written as base's output_file does
 * (a temporary name beside `path`, created exclusively, renamed by
 * profile_writer_finish(); a device or fifo straight through). */
struct profile_writer;

int profile_writer_open(struct profile_writer **w, const char *path);
/* The same with a zstd level (1-19; 1 by default: cheap while recording). */
int profile_writer_open_level(struct profile_writer **w, const char *path, int level);
int profile_writer_flush(struct profile_writer *w, const struct profile *p);
int profile_writer_finish(struct profile_writer *w, const struct profile *p);
/* Closes, removing the temporary file unless finished.  Accepts NULL. */
void profile_writer_free(struct profile_writer *w);
/* Temporary path being written (for messages). */
const char *profile_writer_temp_path(const struct profile_writer *w);
/* Whether profile_writer_free will leave the temporary file: it was not
 * finished and holds complete chunks (a full disk: every byte written
 * stays readable). */
bool profile_writer_kept(const struct profile_writer *w);

/* Whole profile in one go. */
int profile_write_file(const struct profile *p, const char *path);
/* Writes the finished file at path again as one batch at zstd level 12 (a
 * recording's file restarts no compression, but holds a batch a second and
 * their headers) when its raw data is under 64 KiB; a larger one would come
 * out no smaller, and is left as it is.  Replaced only once the new one is
 * complete. */
int profile_compact_file(const char *path);
/* Whether compacting what w finished would make it much smaller. */
bool profile_writer_compacts(const struct profile_writer *w);

#endif
