/* Private to profiler/. */
#ifndef SMOLDER_PROFILER_INTERNAL_H
#define SMOLDER_PROFILER_INTERNAL_H

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

/* Reads a small integer setting such as /proc/sys/kernel/perf_event_paranoid. */
bool read_proc_int(const char *path, long *out);

/* ---- record_queue.c: from the reader's thread to the unwinding thread ---- */

struct record_queue {
	pthread_mutex_t lock;
	pthread_cond_t nonempty, nonfull;
	uint8_t *buf;
	size_t cap;
	uint64_t read, write; /* positions, never wrapped */
	bool closed;
	struct timed_record *sorted; /* the consumer's: a batch in time order */
	uint32_t cap_sorted;
};

/* A record's time (perf's clock), for putting a batch in order. */
typedef uint64_t (*record_time)(const struct perf_event_header *h, void *ctx);

int record_queue_init(struct record_queue *q, size_t cap);
void record_queue_release(struct record_queue *q);
/* Copies rec in.  When full: a droppable record is refused (false); any other
 * waits for room. */
bool record_queue_push(struct record_queue *q, const struct perf_event_header *rec, bool droppable);
/* No more records: the consumer finishes what is queued. */
void record_queue_close(struct record_queue *q);
/* Waits for records, then hands everything queued to handle() in time order
 * (time_of tells), while holding `hold`; false once closed and empty. */
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

#endif
