/* Private to profiler/. */
#ifndef SMOLDER_PROFILER_INTERNAL_H
#define SMOLDER_PROFILER_INTERNAL_H

#include <libelf.h>
#include <linux/perf_event.h>
#include <pthread.h>

#include "profiler/profiler.h"

/* ---- perf.c: events and ring buffers ---- */

struct ring_buffer {
	struct perf_event_mmap_page *meta;
	uint8_t *data;
	size_t size;     /* data bytes, a power of two */
	size_t map_len;
};

int perf_event_open_fd(struct perf_event_attr *attr, pid_t pid, int cpu, int group, unsigned long flags);
/* Maps `pages` data pages (a power of two) of fd's buffer; -errno on failure. */
int ring_buffer_map(struct ring_buffer *rb, int fd, size_t pages);
void ring_buffer_unmap(struct ring_buffer *rb);
/* Calls handle() on each complete record, copying those that wrap into
 * scratch (at least rb->size bytes); returns the records read. */
typedef void (*record_handler)(const struct perf_event_header *h, void *ctx);
uint64_t ring_buffer_read(struct ring_buffer *rb, uint8_t *scratch, record_handler handle, void *ctx);

/* ---- record_queue.c: from the reader's thread to the unwinding thread ---- */

struct record_queue {
	pthread_mutex_t lock;
	pthread_cond_t nonempty, nonfull;
	uint8_t *buf;
	size_t cap;
	uint64_t read, write; /* positions, never wrapped; write is the producer's, read atomically */
	uint64_t scanned;     /* write when the consumer last looked */
	uint64_t safe_time, used_safe_time; /* the reader's mark, and the one last used */
	bool closed;
	bool pressure; /* the producer found it full: handle everything */
	struct vec sorted; /* struct timed_record: the consumer's batch, in time order */
};

/* A record's time (perf's clock), for putting a batch in order. */
typedef uint64_t (*record_time)(const struct perf_event_header *h, void *ctx);

int record_queue_init(struct record_queue *q, size_t cap);
void record_queue_release(struct record_queue *q);
/* One record given in pieces, copied one after another (a sample with the
 * unused part of its stack copy left out); the first starts with the
 * record's header, whose size must be the pieces' total. */
struct record_piece {
	const void *data;
	size_t len;
};
/* Copies the record in, without the queue's lock while there is room, else
 * once the consumer has made room.  False if it is larger than half the
 * queue, or the queue is closed. */
bool record_queue_push(struct record_queue *q, const struct record_piece *pieces, uint32_t npieces);
/* Bytes queued and not yet freed by the consumer (the producer's view). */
size_t record_queue_used(const struct record_queue *q);
/* The reader has read every buffer once since `time`: records older than
 * it are all queued, and may be handled. */
void record_queue_mark(struct record_queue *q, uint64_t time);
/* No more records: the consumer finishes what is queued. */
void record_queue_close(struct record_queue *q);
/* Waits for records, then hands those older than the reader's mark (all,
 * once closed) to handle() in time order (time_of tells), while holding
 * `hold`; false once closed and empty. */
bool record_queue_drain(struct record_queue *q, record_handler handle, record_time time_of, void *ctx,
			pthread_mutex_t *hold);

/* ---- maps.c: each process's executable mappings ---- */

struct map_entry {
	uint64_t start, end, pgoff;
	uint32_t mapping; /* profile mapping id */
};

struct process_maps {
	pid_t pid;
	struct map_entry *entries; /* sorted by start, not overlapping */
	uint32_t count, cap;
	bool loaded;               /* /proc/PID/maps was read */
	uint32_t generation;       /* bumped on every change, for caches of it */
	uint64_t reloaded_ns;      /* when /proc/PID/maps was last read again on a miss */
};

/* Inserts [start, end) replacing what it overlaps. */
int process_maps_insert(struct process_maps *m, const struct map_entry *e);
/* The entry containing addr, or NULL. */
const struct map_entry *process_maps_find(const struct process_maps *m, uint64_t addr);
void process_maps_clear(struct process_maps *m);

#define BUILD_ID_MAX 20 /* bytes; the kernel's limit too */
/* libelf's reader of an open file (the caller keeps fd open while it is
 * used, and closes it after elf_end); NULL if it is no ELF file. */
Elf *elf_open_fd(int fd);
/* The GNU build-id note of an open ELF file, in hex ("" if none or unreadable). */
void read_build_id(int fd, char *out, size_t len);

/* ---- alloc_probes.c: where the alloc view's uprobes go ---- */

enum alloc_func {
	ALLOC_MALLOC,
	ALLOC_CALLOC,
	ALLOC_REALLOC,
	ALLOC_POSIX_MEMALIGN,
	ALLOC_ALIGNED_ALLOC,
	ALLOC_FREE,
	ALLOC_FUNCS
};

struct alloc_probes {
	char path[4096];              /* the C library, as the target names it (messages) */
	int fd;                       /* the C library, opened as base/'s open_mapped_file does; -1: none */
	char probe_path[32];          /* "/proc/self/fd/N": the very file, for the uprobe PMU */
	uint64_t offset[ALLOC_FUNCS]; /* of each function in the file; 0: not exported */
};

const char *alloc_func_name(enum alloc_func f);
/* The C library pid has mapped.  0, or -PROFILER_E_NO_LIBC (none, or
 * without malloc and free), -PROFILER_E_NO_SUCH_PROCESS, -PROFILER_E_PERMISSION. */
int alloc_probes_for_process(struct alloc_probes *ap, pid_t pid);
/* The offsets of the functions in the file ap->fd (its .dynsym). */
int alloc_probes_read_offsets(struct alloc_probes *ap);
/* Closes the file; ap is empty again (fd -1). */
void alloc_probes_release(struct alloc_probes *ap);
/* The C library a command about to be run will map: -PROFILER_E_NO_LIBC
 * for a statically linked executable. */
int alloc_probes_for_command(struct alloc_probes *ap, const char *argv0, const char *search_path);
/* The uprobe PMU's type and the config bit that makes a probe a return
 * probe, from sysfs; -1 without the PMU. */
int uprobe_pmu(uint32_t *type, uint32_t *retprobe_bit);

/* ---- live_allocs.c: sampled allocations not yet freed ---- */

struct live_alloc {
	uint64_t ptr; /* 0 marks an empty slot */
	uint64_t bytes;  /* scaled by the sampling period */
	uint32_t stack, tid;
};

struct live_allocs {
	struct live_alloc *slots;
	uint32_t nslots, count;
};

/* Adds a (ptr != 0), replacing an entry with the same address; -1 when out of memory. */
int live_allocs_put(struct live_allocs *t, const struct live_alloc *a);
/* Removes ptr's entry into *out; false if there is none. */
bool live_allocs_take(struct live_allocs *t, uint64_t ptr, struct live_alloc *out);
void live_allocs_release(struct live_allocs *t);

#endif
