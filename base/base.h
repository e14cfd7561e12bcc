/* base: the primitives every module of smolder shares, and nothing else.
 *
 * Growable arrays and an open-addressing index over them, hashes, one byte
 * buffer that writes varints and one bounded cursor that reads them (and
 * DWARF's LEB128), whole-file and /proc reading with one policy for opening
 * the file a process mapped, and one place that runs work on threads.
 *
 * The lowest module: it includes nothing of smolder's.  Library code:
 * errors are returned (negative errno unless said otherwise), never printed.
 */
#ifndef SMOLDER_BASE_H
#define SMOLDER_BASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

/* ---- vec: a growable array with a bound on its growth ---- */

#define VEC_MAX_COUNT (1u << 30)

/* The element type is implied by the owner; data is owned by the vec. */
struct vec {
	void *data;
	uint32_t count, cap;
};

/* Appends one uninitialized slot of elsize bytes; NULL when out of memory or
 * past VEC_MAX_COUNT.  Earlier element pointers may move. */
void *vec_push(struct vec *v, size_t elsize);
/* Appends n slots at once; NULL as vec_push. */
void *vec_push_n(struct vec *v, size_t elsize, uint32_t n);
void vec_release(struct vec *v);

/* Sorts n elements of `size` bytes by cmp, as qsort, in linear time when
 * they are nearly in that order already (each a few places from where it
 * belongs: runs merged by time that overlap a little), by insertion: past
 * four moves an element on average, qsort takes it as it is.  Stable up
 * to that point only: a cmp that never returns 0 for two elements gives
 * one result either way. */
void sort_nearly_sorted(void *base, uint32_t n, size_t size, int (*cmp)(const void *, const void *));

/* In an array of n elements of `stride` bytes sorted by the uint64_t at
 * key_offset, how many have a key <= x: the last of them (index - 1) is the
 * candidate for "the range containing x". */
uint32_t upper_bound_u64(const void *base, uint32_t n, size_t stride, size_t key_offset, uint64_t x);
/* The same array: the first element whose key is x or above (n if none). */
uint32_t lower_bound_u64(const void *base, uint32_t n, size_t stride, size_t key_offset, uint64_t x);

/* ---- id_hash: open addressing over the indexes of the caller's array ---- */

struct id_hash {
	uint32_t *slots; /* id + 1, 0 = empty */
	uint32_t nslots;
};

typedef bool (*id_hash_eq)(const void *ctx, uint32_t id, const void *key);
typedef uint64_t (*id_hash_rehash)(const void *ctx, uint32_t id);

/* Grows h so that one more id fits under a 3/4 load; -ENOMEM. */
int id_hash_reserve(struct id_hash *h, uint32_t count, id_hash_rehash rehash, const void *ctx);
/* The slot holding the id equal to key, or the empty slot where it goes. */
uint32_t *id_hash_probe(struct id_hash *h, uint64_t hash, id_hash_eq eq, const void *ctx,
			const void *key);
void id_hash_release(struct id_hash *h);

/* ---- hashes and saturating arithmetic ---- */

static inline uint64_t hash_u64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

uint64_t hash_bytes(const void *data, size_t len);

static inline int64_t sat_add_i64(int64_t a, int64_t b)
{
	int64_t r;
	if (__builtin_add_overflow(a, b, &r))
		return b > 0 ? INT64_MAX : INT64_MIN;
	return r;
}

static inline int64_t sat_mul_i64(int64_t a, int64_t b)
{
	int64_t r;
	if (__builtin_mul_overflow(a, b, &r))
		return (a < 0) != (b < 0) ? INT64_MIN : INT64_MAX;
	return r;
}

/* n bytes as lowercase hex into out (2n+1 bytes, or cut to fit), e.g. a build-id. */
void hex_string(const uint8_t *bytes, size_t n, char *out, size_t out_len);

/* ---- byte_buf: an output buffer that remembers failing to grow ---- */

/* After a failed allocation every put is a no-op and failed stays set, so a
 * writer checks once at the end.  data is owned by the buffer. */
struct byte_buf {
	uint8_t *data;
	size_t len, cap;
	bool failed;
};

void byte_buf_reserve(struct byte_buf *b, size_t more);
void byte_buf_put(struct byte_buf *b, const void *data, size_t len);
/* Unsigned LEB128, which is also protobuf's varint. */
void byte_buf_put_uvarint(struct byte_buf *b, uint64_t v);
/* Zigzag-coded, as protobuf's sint64. */
void byte_buf_put_svarint(struct byte_buf *b, int64_t v);
void byte_buf_release(struct byte_buf *b);

/* ---- byte_cursor: bounded little-endian reading of untrusted bytes ---- */

/* Past the end (or on a malformed varint) every read gives 0 and sets
 * failed, so a caller checks once. */
struct byte_cursor {
	const uint8_t *p, *end;
	bool failed;
};

static inline bool cursor_has(struct byte_cursor *c, size_t n)
{
	if (c->failed || c->p > c->end || (size_t)(c->end - c->p) < n) {
		c->failed = true;
		c->p = c->end;
		return false;
	}
	return true;
}

/* n: 1 to 8. */
static inline uint64_t cursor_le(struct byte_cursor *c, unsigned n)
{
	if (!cursor_has(c, n))
		return 0;
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)c->p[i] << (8 * i);
	c->p += n;
	return v;
}

/* DWARF's ULEB128: padding bytes past 64 bits are allowed and ignored. */
static inline uint64_t cursor_uleb(struct byte_cursor *c)
{
	uint64_t v = 0;
	for (unsigned shift = 0; cursor_has(c, 1); shift += 7) {
		uint8_t b = *c->p++;
		if (shift < 64)
			v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return v;
	}
	return 0;
}

static inline int64_t cursor_sleb(struct byte_cursor *c)
{
	uint64_t v = 0;
	unsigned shift = 0;
	uint8_t b = 0;
	do {
		if (!cursor_has(c, 1))
			return 0;
		b = *c->p++;
		if (shift < 64)
			v |= (uint64_t)(b & 0x7f) << shift;
		shift += 7;
	} while (b & 0x80);
	if (shift < 64 && (b & 0x40))
		v |= ~(uint64_t)0 << shift;
	return (int64_t)v;
}

/* A varint as byte_buf_put_uvarint writes it: at most 10 bytes, else failed. */
static inline uint64_t cursor_uvarint(struct byte_cursor *c)
{
	uint64_t v = 0;
	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (!cursor_has(c, 1))
			return 0;
		uint8_t b = *c->p++;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return v;
	}
	c->failed = true;
	return 0;
}

static inline int64_t cursor_svarint(struct byte_cursor *c)
{
	uint64_t u = cursor_uvarint(c);
	return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

/* A NUL-terminated string within the bytes, or NULL (failed). */
static inline const char *cursor_cstring(struct byte_cursor *c)
{
	const uint8_t *nul = c->failed || c->p >= c->end ? NULL : memchr(c->p, 0, (size_t)(c->end - c->p));
	if (!nul) {
		c->failed = true;
		return NULL;
	}
	const char *s = (const char *)c->p;
	c->p = nul + 1;
	return s;
}

/* ---- eh_frame: the search table of an .eh_frame whose file has no
 * .eh_frame_hdr (static binaries), for the unwinder and the symbolizer ---- */

/* As .eh_frame_hdr's table: each FDE's initial location and its address,
 * less base (the section's address), sorted by location. */
struct eh_frame_index {
	int32_t (*pairs)[2];
	uint32_t count;
	uint64_t base;
};

/* Indexes the .eh_frame of the ELF file of size bytes at data (a target's:
 * untrusted); false, and ix empty, if it has none or none of its FDEs can
 * be read. */
bool eh_frame_index_build(struct eh_frame_index *ix, const uint8_t *data, size_t size);
void eh_frame_index_release(struct eh_frame_index *ix);

/* ---- files ---- */

/* Reads all of path (standard input for NULL or "-") into a NUL-terminated
 * buffer the caller frees.  -EFBIG past max bytes, -EISDIR, -ENOMEM, or the
 * errno of open/read. */
int read_whole_file(const char *path, size_t max, uint8_t **out, size_t *out_len);

/* A small decimal setting such as /proc/sys/kernel/perf_event_paranoid. */
bool read_proc_int(const char *path, long *out);

/* Whether two open files are one and the same (device and inode). */
bool same_inode(int a, int b);

/* ---- output files ---- */

/* An output being written.  A regular file (or a name not taken yet) is
 * written to a temporary file beside it, created exclusively and never
 * through a symlink, as PATH.partial (PATH.partial.2, .3... when that is
 * taken: another recording's, or one a killed recorder left), and renamed
 * over PATH at the end; a device, a fifo or any other non-regular file is
 * written straight through and never replaced.  Strings are owned. */
struct output_file {
	int fd;     /* -1 once handed over or closed */
	char *path; /* the name asked for */
	char *temp; /* where it is being written; NULL: straight through */
};

/* 0, or -errno (-EISDIR for a directory). */
int output_file_open(struct output_file *o, const char *path);
/* Where the bytes go now: the temporary name, or path itself. */
const char *output_file_name(const struct output_file *o);
/* Puts the output in place: syncs and closes fd (if still ours), renames
 * the temporary file over path.  0 or -errno; on failure the temporary file
 * is left for output_file_release to remove or keep. */
int output_file_commit(struct output_file *o);
/* Closes what is open and frees the names; the temporary file is removed
 * unless keep (a readable prefix worth more than nothing). */
void output_file_release(struct output_file *o, bool keep);

/* ---- procfs: what a process is and what it mapped ---- */

/* A thread's name (comm) from /proc; false if it is gone. */
bool read_comm(pid_t pid, pid_t tid, char *buf, size_t len);

/* True while pid exists and has a thread that has not exited (its main
 * thread may have, and others run on). */
bool process_alive(pid_t pid);
/* Whether pid has exited, every thread, and waits for its parent (*parent)
 * to reap it: a zombie. */
bool process_exited_unreaped(pid_t pid, pid_t *parent);
/* Whether thread tid of pid has exited (or is gone). */
bool thread_exited(pid_t pid, pid_t tid);
/* pid's directory in /proc for what its threads share (maps, root, mem,
 * map_files): /proc/PID, or a live thread's /proc/PID/task/TID once the
 * main thread has exited, whose own entries the kernel then empties. */
void proc_dir(pid_t pid, char *buf, size_t len);
/* pid's /proc maps (through proc_dir), or NULL with errno. */
FILE *proc_maps_open(pid_t pid);
/* Whether pid is stopped (SIGSTOP, Ctrl-Z) or held by a tracer: off every CPU. */
bool process_stopped(pid_t pid);

/* Where pid's main stack started at exec (/proc/PID/stat's startstack):
 * above it are only its arguments, environment and auxiliary vector.  0 if
 * it is gone or does not say. */
uint64_t process_start_stack(pid_t pid);

/* The user pid runs as (its /proc entry's owner); false if it is gone. */
bool process_owner(pid_t pid, uid_t *uid);

/* A number from /proc/PID/status, format naming its field ("Seccomp: %d");
 * -1 if the process is gone or the field is not there. */
int process_status_field(pid_t pid, const char *format);

/* A pidfd of pid (readable once it has exited); -1 where the kernel has none
 * (before 5.3) or pid is gone. */
int process_pidfd(pid_t pid);

/* The ways to reach the file that a process mapped from `path` at
 * [start, end), in the order to try them: the path resolved inside the
 * process's root as if it were "/" (RESOLVE_IN_ROOT: no absolute symlink or
 * ".." leads out of a container); the very inode through
 * /proc/PID/map_files (deleted or replaced files; needs CAP_SYS_ADMIN or
 * CAP_CHECKPOINT_RESTORE); the path as this process sees it (a chroot
 * without a mount namespace shows host paths, and a process that has exited
 * has no root left).  A caller that knows the mapping's build-id checks it
 * and moves on to the next way when it differs (a replaced file, or the
 * host's rather than a container's).  "[vdso]", which has no file, opens
 * (the first way) as a copy of this process's vDSO: the kernel maps the
 * same image into every process. */
enum mapped_file_way {
	MAPPED_IN_ROOT,
	MAPPED_VIA_MAP_FILES,
	MAPPED_HOST_PATH,
	MAPPED_FILE_WAYS
};

/* Opens (O_RDONLY | O_CLOEXEC) the mapped file one way; the fd, or -errno
 * (-ENOENT where that way does not apply: an anonymous path, pid 0 for the
 * first two, a path maps shows as " (deleted)" for all but map_files).  name, if not NULL, receives a path that names the same
 * file for messages and for tools that take paths. */
int open_mapped_file(pid_t pid, const char *path, uint64_t start, uint64_t end, enum mapped_file_way way,
		     char *name, size_t name_len);

/* ---- clock ---- */

/* CLOCK_MONOTONIC in nanoseconds (the clock perf's events are told to use). */
uint64_t monotonic_ns(void);

/* ---- parallel: the one place that decides how many threads work ---- */

#define PARALLEL_MAX 4

/* Threads worth running side by side here: the online CPUs, 1 to PARALLEL_MAX. */
unsigned parallel_threads(void);

/* Runs work(arg, i) for i in [0, n) at once, i = 0 on the calling thread and
 * the others on threads of their own (n is cut to PARALLEL_MAX); returns
 * when all have returned.  Where a thread cannot be started its share is
 * simply not run: work must pull its items from a shared counter, so that
 * the others take them.  Returns how many ran. */
unsigned parallel_run(unsigned n, void (*work)(void *arg, unsigned i), void *arg);

#endif
