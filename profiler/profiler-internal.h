/* Private to profiler/. */
#ifndef SMOLDER_PROFILER_INTERNAL_H
#define SMOLDER_PROFILER_INTERNAL_H

#include <libelf.h>
#include <linux/perf_event.h>
#include <pthread.h>
#include <sys/uio.h>

#include "agent/agent.h"
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
typedef void (*record_handler)(const struct perf_event_header *h, void *ctx);
/* A pass over a buffer: the records written before it began. */
struct ring_cursor {
	uint64_t head, tail;
};
void ring_cursor_begin(const struct ring_buffer *rb, struct ring_cursor *c);
/* The next record, whole (copied into scratch, of at least rb->size bytes,
 * when it wraps around the buffer's end), or NULL when the pass is over. */
const struct perf_event_header *ring_cursor_peek(const struct ring_buffer *rb, struct ring_cursor *c,
						 uint8_t *scratch);
/* Past h, the record peeked, whose room the kernel may then reuse. */
void ring_cursor_next(const struct ring_buffer *rb, struct ring_cursor *c, const struct perf_event_header *h);

/* Fills *err (perf.c, beside profiler_explain, which reads it). */
void profiler_set_error(struct profiler_error *err, enum profiler_errcode code, int sys_errno, pid_t pid,
			const char *what);

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
	const struct record_consumer *inline_consumer; /* set: the producer is the consumer too */
};

/* A record's time (perf's clock), for putting a batch in order. */
typedef uint64_t (*record_time)(const struct perf_event_header *h, void *ctx);
/* Who handles the records: handle(), in time order (time_of tells), while
 * holding `hold`. */
struct record_consumer {
	record_handler handle;
	record_time time_of;
	void *ctx;
	pthread_mutex_t *hold;
};

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
 * once the consumer has made room (a queue consumed inline: drained here).
 * False if it is larger than half the queue, or the queue is closed (or,
 * consumed inline, still full). */
bool record_queue_push(struct record_queue *q, const struct record_piece *pieces, uint32_t npieces);
/* Bytes queued and not yet freed by the consumer (the producer's view). */
size_t record_queue_used(const struct record_queue *q);
/* Where the next record will be queued, and how far the consumer has
 * handled every record (both count bytes from the start, never wrapping):
 * a record queued below the second is handled, and its memory unused. */
uint64_t record_queue_written(const struct record_queue *q);
uint64_t record_queue_consumed(const struct record_queue *q);
/* Past half full: the producer queues samples without their stacks, which
 * the consumer handles in no time, so that every event keeps its values. */
bool record_queue_crowded(const struct record_queue *q);
/* The reader has read every buffer once since `time`: records older than
 * it are all queued, and may be handled. */
void record_queue_mark(struct record_queue *q, uint64_t time);
/* No more records: the consumer finishes what is queued. */
void record_queue_close(struct record_queue *q);
/* Waits for records (unless !wait), then hands those older than the
 * reader's mark (all, once closed) to the consumer; false once closed and
 * empty. */
bool record_queue_drain(struct record_queue *q, const struct record_consumer *c, bool wait);
/* No consumer thread: the producer drains the queue itself, between its
 * passes (record_queue_drain without waiting), and when a push finds it
 * full.  c must outlive the queue's use. */
void record_queue_consume_inline(struct record_queue *q, const struct record_consumer *c);

/* ---- maps.c: each process's executable mappings ---- */

struct map_entry {
	uint64_t start, end, pgoff;
	uint32_t mapping; /* profile mapping id */
};

/* A map entry of a process as its maps were (the generation): a cache of a
 * lookup.  Zeroed, it holds nothing. */
struct known_range {
	pid_t pid;
	uint32_t generation;
	uint64_t start, end;
};

struct process_maps {
	pid_t pid;
	struct map_entry *entries; /* sorted by start, not overlapping */
	uint32_t count, cap;
	bool loaded;               /* /proc/PID/maps was read */
	uint32_t generation;       /* bumped on every change, for caches of it */
	uint64_t reloaded_ns;      /* when /proc/PID/maps was last read again on a miss */
	struct agent_hint_origin *hint_origins; /* its agent ring's hints' (AGENT_RING_HINTS); NULL: none yet */
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

/* The agent's markers, for the sampled alloc view's uprobes. */
#define AGENT_MARKERS 4 /* allocated, freed, freed_batch, ring: enum event_kind's agent kinds */
struct agent_probes {
	int fd;                 /* libsmolder-agent.so; -1: none */
	char probe_path[32];    /* "/proc/self/fd/N" */
	uint64_t offset[AGENT_MARKERS]; /* of the marker of kind KIND_AGENT_ALLOC + i in the file */
};

/* The function an agent kind's uprobe is on. */
const char *agent_marker_name(int kind);

/* Opens the agent at path and finds its markers: 0, or -PROFILER_E_AGENT. */
int agent_probes_open(struct agent_probes *ap, const char *path);
/* The same from an open file (ap owns fd, even on failure; -1: none). */
int agent_probes_adopt(struct agent_probes *ap, int fd);
void agent_probes_release(struct agent_probes *ap);

/* The values (addresses in the file's own numbering) of the functions
 * named in an open ELF file's .dynsym (0 for those it does not define). */
void elf_function_values(int fd, const char *const *names, uint64_t *values, size_t n);
/* glibc's libc.so.6 (or an old libc-2.x.so), or musl's loader, which is its libc. */
bool alloc_is_libc(const char *path);
/* musl's C library (its loader, or Debian's libc.so of it). */
bool alloc_is_musl(const char *path);
/* -1 with *err for a C library the agent cannot load into (musl's), else 0. */
int agent_refuse_musl(const char *libc, pid_t pid, struct profiler_error *err);

/* ---- inject.c: the agent loaded into a running process, and called ---- */

struct agent_call_result {
	int value;           /* what the agent's start or stop returned */
	uint64_t stopped_ns; /* how long the one thread stopped was held */
};

/* The agent's file as a process sees it: ours where it can open our path,
 * else a copy handed to it in a memfd (another mount namespace: a
 * container's), or the one it has loaded already. */
struct agent_target {
	int fd;          /* ours, of the very file (inode) it maps or will: its uprobes go on it; -1: none */
	char path[4200]; /* what its dlopen is to open */
	int target_fd;   /* its fd of the memfd handed over, closed once loaded; -1: none */
};

/* Finds (or hands over) pid's agent file from ours at path.  0, or -1 with
 * *err (STATIC, AGENT: another build's agent loaded, no way to hand it over). */
int agent_target_find(pid_t pid, const char *path, struct agent_target *at, struct profiler_error *err);
/* Closes ours; and pid's memfd if it was handed one never loaded. */
void agent_target_release(pid_t pid, struct agent_target *at);

/* start: loads the agent into pid from at unless it is there, and calls
 * its start(rate, ring_stack); !start: calls its stop, if it is there.  One thread is
 * stopped at a safe point for the while, and put back as it was.  0, or -1
 * with *err (PTRACE_DENIED, NO_SAFE_POINT, STATIC, AGENT...). */
int agent_inject_call(pid_t pid, struct agent_target *at, bool start, uint64_t rate, uint64_t ring_stack,
		      struct agent_call_result *res, struct profiler_error *err);

/* ---- stack_tops.c: where each process's main stack starts ---- */

struct stack_tops {
	struct vec tops; /* struct stack_top */
	struct id_hash index;
};

/* pid's main stack's start (its arguments above it), 0 if not known; read
 * from /proc once a process. */
uint64_t stack_tops_get(struct stack_tops *t, pid_t pid);
/* pid exec'd or exited: read again when asked. */
void stack_tops_forget(struct stack_tops *t, pid_t pid);
void stack_tops_release(struct stack_tops *t);

/* ---- agent_rings.c: the agents' rings of samples, read from outside ---- */

#define RING_READ_SLOTS 512 /* of a ring in one pass, at most */
struct unwinder;

struct agent_rings {
	const struct event_set *es;
	struct vec rings;  /* struct agent_ring: a pid and where its ring is */
	struct agent_ring_slot *slots; /* a pass's slots, read: RING_READ_SLOTS ... */
	uint8_t *buf;      /* ... and their stacks, one after another */
	size_t buf_size;
	struct iovec *local, *remote; /* RING_READ_SLOTS each */
	uint8_t *record;   /* the sample made of a slot, but its stack copy */
	uint64_t dyn_size; /* ... and the field after it */
	uint8_t zeros[8];
	struct vec retired; /* struct retired_ring: mappings of rings let go, which queued samples still read */
	uint64_t alloc_id; /* the allocated marker's event, which the samples name */
	int8_t reg_words[64]; /* ... where a slot holds each register of its samples (arch_agent_ring_word) */
	uint32_t nreg_words;
	uint32_t rings_seen, rings_mapped; /* rings learned, and those we map (the others: process_vm_readv) */
	uint64_t since_ns; /* slots older are an earlier recording's */
	uint64_t samples;  /* read from the rings */
	uint64_t sparse;   /* ... of which only a hint's words were copied */
	uint64_t stale;    /* slots skipped as an earlier recording's */
	uint64_t trapped;  /* that came through the marker's uprobe instead */
	uint64_t waits;    /* samples whose thread found its ring full and waited for room (agent.h) */
	uint64_t dropped;  /* read, but not even their values fit the queue */
	uint64_t read_due_ns; /* the soonest a ring is due to be read, at its last pace */
	uint32_t read_fill; /* a ring is read when 1/read_fill of it is written */
	const struct unwinder *prefetch_for; /* the unwinder of this thread's drains (NULL: none) */
	uint64_t settled_ns; /* no slot still unread is older (CLOCK_MONOTONIC); UINT64_MAX: no ring */
};

/* Slots written before since_ns (CLOCK_MONOTONIC; 0: none) are an earlier
 * recording's, one that ended without giving them back (killed): skipped. */
void agent_rings_init(struct agent_rings *r, const struct event_set *es, uint64_t since_ns);
/* The queue's consumer drains it between reads, on the reader's thread,
 * unwinding with u (NULL: none), and the reader then calls
 * agent_rings_give_back_handled: rings are read at a smaller fill, and the
 * stack words the unwinder will check are fetched as slots are read. */
void agent_rings_drained_in_pass(struct agent_rings *r, const struct unwinder *u);
/* Called with each record the reader reads: true if it was a ring's
 * marker (learned, and not to be queued); counts the trapped samples. */
bool agent_rings_take_marker(struct agent_rings *r, const struct perf_event_header *h);
/* pid exited: its ring is read once more (our mapping outlives it), then
 * let go. */
void agent_rings_exited(struct agent_rings *r, pid_t pid);
/* Queues every ring's written slots as samples (as many as the queue has
 * room for), gives back those the queue's consumer has handled, and sets
 * settled_ns; a ring whose process is gone is forgotten.  A mapped ring's
 * samples name their stacks in the mapping (SAMPLE_MISC_STACK_AT), which
 * stays until they are handled. */
void agent_rings_read(struct agent_rings *r, struct record_queue *q);
/* The slots lent whose records the queue's consumer has handled go back
 * now, not at the next read (a consumer that drains between reads). */
void agent_rings_give_back_handled(struct agent_rings *r, const struct record_queue *q);
/* Once the queue's consumer has handled every record: the slots lent to
 * it go back, so that a ring outliving the recording is empty (a later
 * recording reads it from its tail). */
void agent_rings_give_back_all(struct agent_rings *r);
/* Once the queue's consumer has stopped: the slots go back, and every
 * mapping is let go. */
void agent_rings_release(struct agent_rings *r);

/* After unwinding a ring's sample (v->agent_hints): what the unwind read
 * (r->reads) becomes the hint for its stack, which the agent's threads
 * compare with theirs before copying a stack (agent/agent.h).  Only from
 * the thread that unwinds, while the sample's ring is lent to it. */
struct sample_view;
struct unwind_result;
struct unwind_known;
/* What the profiler published each hint of a ring from: the hint's seq,
 * and the unwind's memo. */
struct agent_hint_origin {
	uint64_t seq;
	uint32_t memo, memo_stamp;
};
void agent_hint_publish(const struct sample_view *v, const struct unwind_result *r, struct agent_hint_origin *origins);
/* The memo a sample copied in part matches, when its slot names the hint
 * it matched and that hint is still the one published (origins); else
 * none (stamp 0). */
void agent_hint_known(const struct sample_view *v, const struct agent_hint_origin *origins, struct unwind_known *k);

/* ---- live_allocs.c: sampled allocations not yet freed ---- */

/* By process and address: a forked child has its parent's addresses, and
 * its blocks are its own from the fork on. */
struct live_alloc {
	uint64_t ptr; /* 0 marks an empty slot */
	uint64_t bytes;  /* scaled by the sampling period */
	uint32_t stack, tid;
	uint32_t pid;
};

struct live_allocs {
	struct live_alloc *slots;
	uint32_t nslots, count;
};

/* Adds a (ptr != 0), replacing an entry of the same process and address; -1 when out of memory. */
int live_allocs_put(struct live_allocs *t, const struct live_alloc *a);
/* Removes process pid's entry at ptr into *out; false if there is none. */
bool live_allocs_take(struct live_allocs *t, uint32_t pid, uint64_t ptr, struct live_alloc *out);
void live_allocs_release(struct live_allocs *t);

/* ---- arch-x86_64.c: the machine's registers and system calls, one table each ---- */

enum arch_reg {
	ARCH_REG_IP,
	ARCH_REG_SP,
	ARCH_REG_RET,  /* a function's return value */
	ARCH_REG_ARG0, /* its first four integer arguments */
	ARCH_REG_ARG1,
	ARCH_REG_ARG2,
	ARCH_REG_ARG3,
	ARCH_REGS
};

/* perf's number of a register (asm/perf_regs.h): its bit in sample_regs_user. */
unsigned arch_perf_reg(enum arch_reg r);
/* Every register DWARF CFI may name: the sample_regs_user of unwinding samples. */
uint64_t arch_unwind_regs_mask(void);
/* Where a slot holds perf's register reg: an index into its registers,
 * then past them into the marker's arguments; -1 for none (always 0). */
int arch_agent_ring_word(unsigned reg);
/* perf's number of libunwind's register unw_reg, or -1. */
int arch_perf_reg_of_unwind(int unw_reg);
/* Whether addr can be a user-space code address (below the kernel's half). */
bool arch_user_address(uint64_t addr);

/* A system call the io view follows. */
struct io_syscall {
	uint32_t nr;
	const char *name;
	bool moves_bytes; /* its result is a byte count (fsync's is not) */
};

/* The io view's entry for syscall nr, or NULL if it is not followed. */
const struct io_syscall *arch_io_syscall(uint64_t nr);
/* The raw_syscalls tracepoints' filter that selects them ("id == 0 || ..."). */
void arch_io_filter(char *buf, size_t len);

/* Index of perf register reg in a sample's register array, taken with mask
 * (ascending bits); -1 if the mask has not got it. */
static inline int regs_index(uint64_t mask, unsigned reg)
{
	if (reg >= 64 || !(mask & (1ull << reg)))
		return -1;
	return __builtin_popcountll(mask & ((1ull << reg) - 1));
}

/* ---- events.c: the perf events of a session, per view, thread and CPU ---- */

/* The kinds of event a session opens on every thread and CPU.  The alloc
 * view's are uprobes: entries to the allocation functions (sampled, with
 * the stack), their returns (the address), and every free (also realloc's
 * freeing of its old block). */
enum event_kind {
	KIND_CPU,
	KIND_OFFCPU,
	KIND_IO_ENTER,
	KIND_IO_EXIT,
	KIND_ALLOC,
	KIND_ALLOC_RET,
	KIND_MEMALIGN_RET,
	KIND_FREE,
	KIND_AGENT_ALLOC, /* the agent's markers: a sampled allocation, with its stack ... */
	KIND_AGENT_FREE,  /* ... the free of a sampled block (the agent's ring full) ... */
	KIND_AGENT_FREE_BATCH, /* ... or of up to 64, their addresses in the stack copy ... */
	KIND_AGENT_RING,  /* ... or where a process's ring of samples is (agent_rings.c reads it) */
	KIND_COUNT
};

/* The exact alloc view's uprobes, on the C library's functions. */
static inline bool is_alloc_kind(int k)
{
	return k >= KIND_ALLOC && k <= KIND_FREE;
}

_Static_assert(KIND_AGENT_RING - KIND_AGENT_ALLOC + 1 == AGENT_MARKERS, "one marker an agent kind");

/* The sampled alloc view's uprobes, on the agent's markers. */
static inline bool is_agent_kind(int k)
{
	return k >= KIND_AGENT_ALLOC && k <= KIND_AGENT_RING;
}

/* One perf event per (thread we attached to, CPU), inherited by the threads
 * and processes it starts; all events of a CPU write into that CPU's buffer
 * (the kernel maps inherited events only per CPU). */
struct event {
	int fd;
	pid_t tid;
	uint64_t id;          /* the kernel's id: samples name their event by it */
	enum event_kind kind;
	enum alloc_func func; /* alloc kinds: the function probed */
};

struct cpu_buffer {
	int cpu;
	int fd; /* the event whose buffer it is; -1 until the first event */
	struct ring_buffer rb;
	struct ring_cursor cursor;           /* event_set_read's */
	const struct perf_event_header *next; /* the cursor's next record (in scratch if it wraps) */
	uint64_t next_time;                   /* its time; UINT64_MAX: none */
};

/* Pages per CPU's ring buffer (a power of two): enough for a few hundred
 * milliseconds of samples (much more with stack copies), within
 * perf_event_mlock_kb for non-root, and within a budget for all the CPUs
 * together for root. */
size_t event_buffer_pages(const struct profiler_options *o, uint32_t ncpus, bool root, long mlock_kb);

struct event_set {
	const struct profiler_options *o; /* the session's, defaults applied */
	struct perf_event_attr attr;      /* the cpu event's: the other kinds start from it */
	struct perf_event_attr kinds[KIND_COUNT];
	bool kind_on[KIND_COUNT];
	char event_name[32];
	struct vec events; /* struct event, sorted by id */
	struct cpu_buffer *cpus;
	uint32_t ncpus;
	uint8_t *scratch; /* for records that wrap around a buffer's end */
	size_t scratch_size;
	uint32_t raw_id_offset, raw_ret_offset; /* in raw_syscalls records: from tracefs */
	struct alloc_probes probes; /* of the process being attached to or launched */
	struct agent_probes agent;  /* the sampled alloc view's */
	uint64_t uprobe_ids[KIND_COUNT][ALLOC_FUNCS]; /* tracepoint ids of the uprobes defined; 0: none */
	const char *uprobe_tracefs; /* where they were defined */
	uint32_t uprobe_type, retprobe_bit;
	bool mmap_build_id; /* MMAP2 records can carry build-ids (Linux 5.12) */
	pid_t child;        /* a command being launched, for messages */
	int cgroup_fd;      /* -a --cgroup: the cgroup's directory; -1: none */
	struct vec keepers; /* fds of events that never sample: keep_markers, hold_contexts */
};

/* The online CPUs, nothing opened yet. */
int event_set_init(struct event_set *es, const struct profiler_options *o, struct profiler_error *err);
/* The cpu event: cycles where a PMU counts them on probe_pid, else cpu-clock. */
int event_set_choose_cpu_event(struct event_set *es, pid_t probe_pid, struct profiler_error *err);
/* Every view's kinds of event, from the cpu event's settings. */
int event_set_setup_views(struct event_set *es, struct profiler_error *err);
/* The alloc view's probe points in pid's C library (0: the command's, to be launched). */
int event_set_find_probes(struct event_set *es, pid_t pid, struct profiler_error *err);
/* Opens the cgroup (a path under /sys/fs/cgroup, or absolute) whose
 * processes -a --cgroup follows. */
int event_set_open_cgroup(struct event_set *es, const char *path, struct profiler_error *err);
/* Opens tid's events, one per kind and CPU (tid -1: every process, or the
 * cgroup's, on each CPU), and for the exact alloc view one that holds its
 * threads' contexts (event_set_hold_contexts): 1 if opened, 0 if tid
 * already has them, -1 on error. */
int event_set_open_thread(struct event_set *es, pid_t tid, struct profiler_error *err);
/* Keepers: events that never sample and hold the agent's markers in
 * place in a forked child, whose inherited events the kernel may take them
 * out with when one of its threads exits (the note in keepers.c).  Once
 * the events are open; best effort (without the permission: as before). */
void event_set_keep_markers(struct event_set *es);
/* The exact alloc view's: an inherited event on tid that forbids the swap
 * of its threads' contexts (Linux 6.12 on; best effort). */
void event_set_hold_contexts(struct event_set *es, pid_t tid);
/* Closes every keeper (with the events, at the end). */
void event_set_close_keepers(struct event_set *es);
/* The event whose id a sample names, or NULL. */
const struct event *event_set_find(const struct event_set *es, uint64_t id);
/* PERF_EVENT_IOC_ENABLE or _DISABLE on every event. */
void event_set_enable(struct event_set *es, bool on);
/* Every CPU's buffer read once, each record handed to handle(), all in
 * time order. */
void event_set_read(struct event_set *es, record_handler handle, void *ctx);
/* The recording is over and its records read: the kernel's side goes (rings,
 * events, uprobes: a uprobe traps in the target, enabled or not, while its
 * event is open); what records are decoded by (ids, kinds, probes) stays. */
void event_set_close(struct event_set *es);
void event_set_release(struct event_set *es);

/* ---- sample.c: decoding perf records, pure functions of their bytes ---- */

#define MAX_STACK_FRAMES 1024

/* A sample of ours whose stack copy is not in the record: its 32 bytes are
 * the copy's address in our memory and its length, and where its ring's
 * hints are and how many (an agent's ring, read in place: agent_rings.c
 * keeps it there until the record is handled).
 * The kernel leaves this bit of misc unused; records are never read from
 * a file. */
#define SAMPLE_MISC_STACK_AT (1u << 10)

/* A PERF_RECORD_SAMPLE's fields, pointing into the record (the stack
 * copy: where SAMPLE_MISC_STACK_AT says). */
struct sample_view {
	enum event_kind kind;
	enum alloc_func func; /* alloc kinds */
	uint64_t id;
	uint64_t ip;
	uint32_t raw_size;
	const uint8_t *raw;
	uint32_t pid, tid;
	uint64_t time, period;
	uint64_t nr;
	const uint64_t *ips;
	uint64_t abi;
	uint64_t regs_mask;
	const uint64_t *regs;
	uint64_t stack_size, stack_dyn;
	const uint8_t *stack;
	struct agent_ring_hint *agent_hints; /* a ring's sample: its hints, for the unwind's reads */
	uint32_t agent_nhints;
	uint32_t agent_sparse; /* its stack copied in part: a hint matched it (agent_ring_sparse()) */
};

/* Decodes a sample by the sample_type of the event it names; false if the
 * record is shorter than its fields say. */
bool sample_parse(const struct event_set *es, const struct perf_event_header *h, struct sample_view *v);
/* A user register of the sample, 0 if absent. */
uint64_t sample_reg(const struct sample_view *v, enum arch_reg r);
/* 8 bytes of a tracepoint's raw data at offset, 0 past its end. */
uint64_t sample_raw_u64(const struct sample_view *v, uint32_t offset);
/* Every record's time (perf's clock): a sample's field, others' sample_id trailer. */
uint64_t record_timestamp(const struct event_set *es, const struct perf_event_header *h);
/* The pid and tid of a non-sample record's sample_id trailer. */
bool record_pid_tid(const struct perf_event_header *h, uint32_t *pid, uint32_t *tid);

/* A stack being built, leaf first. */
struct frames {
	uint64_t ip[MAX_STACK_FRAMES];
	bool is_kernel[MAX_STACK_FRAMES];
	uint32_t n;
};

/* ---- stack_memo.c: the nodes of stacks built before, by their frames ---- */

#define STACK_MEMO_FRAMES 32 /* deeper stacks are built each time */
struct stack_memo;
/* NULL when out of memory (then every stack is built). */
struct stack_memo *stack_memo_new(void);
void stack_memo_free(struct stack_memo *m);
/* The node kept for frames f of pid, whose mappings are at generation,
 * under root; PROFILE_NONE if none.  *hash is for stack_memo_keep. */
uint32_t stack_memo_find(struct stack_memo *m, pid_t pid, uint32_t generation, uint32_t root, const struct frames *f,
			 uint64_t *hash);
void stack_memo_keep(struct stack_memo *m, pid_t pid, uint32_t generation, uint32_t root, const struct frames *f,
		     uint64_t hash, uint32_t node);
/* pid exited: its nodes go (a new process may come with its pid and generations). */
void stack_memo_drop_process(struct stack_memo *m, pid_t pid);

/* The kernel's callchain into f: context markers dropped, return addresses
 * moved into their call instruction (address - 1), so that they symbolize
 * to the caller's line. */
void callchain_frames(const uint64_t *ips, uint64_t nr, bool want_kernel, bool want_user, struct frames *f);

/* Where a process's main stack starts (0: not known), for record_pieces. */
typedef uint64_t (*stack_start_of)(void *ctx, uint32_t pid);

/* The pieces of record h to queue, with its stack copy cut to the bytes
 * that were stack, and not past where the process's main stack starts
 * (start_of tells) or, when shed, left out; head and stack_size hold the
 * rewritten fields.  Returns the number of pieces (at most 5). */
uint32_t record_pieces(const struct event_set *es, const struct perf_event_header *h, bool shed,
		       stack_start_of start_of, void *ctx, struct record_piece *pieces, struct perf_event_header *head,
		       uint64_t *stack_size);

/* The side records, decoded. */
struct mmap2_record {
	uint32_t pid, tid;
	uint64_t addr, len, pgoff;
	uint32_t prot;
	char path[4096];
	char build_id[2 * BUILD_ID_MAX + 1]; /* hex, "" unless the record carries one */
};
struct comm_record {
	uint32_t pid, tid;
	char comm[16];
	bool exec; /* the process called exec */
	uint64_t time;
};
struct fork_record {
	uint32_t pid, ppid, tid, ptid;
	uint64_t time;
};

bool mmap2_parse(const struct perf_event_header *h, struct mmap2_record *m);
bool comm_parse(const struct perf_event_header *h, struct comm_record *c);
bool fork_parse(const struct perf_event_header *h, struct fork_record *f);
/* PERF_RECORD_LOST's or PERF_RECORD_LOST_SAMPLES' count. */
bool lost_parse(const struct perf_event_header *h, uint64_t *lost);

/* ---- spans.c: a thread's spans whose start and end come in different records ---- */

/* Off-CPU (switch-out with its stack, switch-in), system calls (enter with
 * its stack, exit) and sampled allocations (entry, return).  Per thread
 * they strictly alternate in time, but come from different CPUs' buffers,
 * so out of order: each start pairs with the first end after it. */
#define SPAN_PENDING 16
struct span_start {
	uint64_t time, arg;
	uint64_t arg2; /* allocations: posix_memalign's memptr, else 0 */
	uint32_t stack;
};
struct span_end {
	uint64_t time, arg;
};
struct span_pairs {
	struct span_start starts[SPAN_PENDING];
	struct span_end ends[SPAN_PENDING];
	uint8_t nstarts, nends;
};

/* Called for each pair, in the order they are matched. */
typedef void (*span_done)(void *ctx, const struct span_start *a, const struct span_end *b);

/* Adds a start or an end and reports every pair that is now certain.  A
 * start or an end never paired is let go once SPAN_PENDING wait. */
void span_add_start(struct span_pairs *sp, const struct span_start *start, span_done done, void *ctx);
void span_add_end(struct span_pairs *sp, const struct span_end *end, span_done done, void *ctx);
/* The latest start at or before time, or NULL. */
const struct span_start *span_latest_start(const struct span_pairs *sp, uint64_t time);

/* ---- aggregate.c: threads, processes, stacks and values into the profile ---- */

struct thread_state {
	pid_t tid, pid;
	char comm[16];
	uint64_t comm_time; /* of the record that named it: an older one never renames it */
	uint64_t lost;
	bool published; /* its name is in the profile as it is now */
	struct span_pairs switches, syscalls, allocs;
};

/* A process's name as /proc had it. */
struct process_name {
	uint64_t pid; /* a u64, for upper_bound_u64 */
	char comm[16];
};

/* The worker's state: everything a record changes. */
struct aggregate {
	struct profile *p;
	const struct profiler_options *o;
	const struct event_set *events;
	struct profiler_stats *stats;
	struct vec procs;   /* struct process_maps */
	struct vec threads; /* struct thread_state */
	struct id_hash thread_index; /* tid -> index in threads */
	struct vec names_at_start;   /* struct process_name by pid: -a's processes as it began */
	uint32_t kernel_mapping;
	struct vec mapping_pids; /* pid_t per profile mapping */
	struct unwinder *unwinder; /* NULL for frame pointers */
	struct live_allocs live;
	int v_samples, v_cpu, v_offcpu, v_switches; /* value indices, -1 if not recorded */
	int v_io_bytes, v_io_latency, v_io_calls;
	int v_alloc_bytes, v_alloc_count, v_inuse_bytes;
	uint64_t sample_ns; /* cpu ns per sample for events whose period is not time */
	uint32_t shed_marker;    /* the location SHED_FRAME */
	uint32_t unknown_marker; /* "[unknown]": the root of a DWARF stack that stops early */
	uint32_t agent_leaf[AGENT_FUNCS]; /* sampled alloc view: a named location per enum agent_func */
	/* The profile mappings last found to be the agent's file and not to
	 * be (PROFILE_NONE: none yet), asked of a sample's first frames; and
	 * the map entries they were found in, which those frames nearly
	 * always fall in again. */
	uint32_t agent_mapping, other_mapping;
	struct known_range agent_range, other_range;
	int fatal;               /* a negative profile_error: stop */
	struct frames frames;
	struct stack_memo *stacks; /* NULL: every stack built */
};

/* The root of the stacks of samples kept without their stack copy. */
#define SHED_FRAME "[stack not unwound]"

/* The views' value types added to p, the unwinder made for DWARF. */
int aggregate_init(struct aggregate *a, struct profile *p, const struct profiler_options *o,
		   const struct event_set *events, struct profiler_stats *stats);
/* Handles one record, in time order. */
void aggregate_record(struct aggregate *a, const struct perf_event_header *h);
/* threads.c, the threads and processes' names: */
/* Adds or renames a thread (a name older than the one it has is ignored). */
struct thread_state *aggregate_thread_add(struct aggregate *a, pid_t tid, pid_t pid, const char *comm,
					  uint64_t time);
/* A known thread, or NULL. */
struct thread_state *aggregate_thread_get(struct aggregate *a, pid_t tid);
/* A thread seen in a sample: known, or added with its name (and its
 * process's) from /proc; NULL (a->fatal set) when out of memory. */
struct thread_state *aggregate_thread_found(struct aggregate *a, pid_t tid, pid_t pid);
/* What /proc called process pid when -a began, into name: false if unknown. */
bool aggregate_name_at_start(const struct aggregate *a, pid_t pid, char name[16]);
/* Keeps the name of every process there is now (-a, its events enabled):
 * what a process gone before its first sample is handled is named after.
 * 0, or -PROFILE_E_NOMEM. */
int aggregate_note_process_names(struct aggregate *a);
/* Puts the threads that are new or renamed since the last call into the
 * profile, so that a file flushed while recording names them. */
int aggregate_publish_threads(struct aggregate *a);
/* A process's mappings, made if create; NULL when out of memory. */
struct process_maps *aggregate_process(struct aggregate *a, pid_t pid, bool create);
/* Reads /proc/PID/maps: the executable mappings present before we attached. */
int aggregate_load_maps(struct aggregate *a, struct process_maps *pm);
/* What is still allocated at the end, at the stacks that allocated it. */
int aggregate_add_in_use(struct aggregate *a);
void aggregate_release(struct aggregate *a);

/* ---- targets.c: the processes recorded, launched or attached to ---- */

struct targets {
	pid_t child;        /* launched command, 0 if attaching */
	int go_fd;          /* launch: written to let the child exec */
	int exec_status_fd; /* launch: EOF once exec succeeded, else exec's errno */
	bool child_reaped;
};

void targets_init(struct targets *t);
/* Forks the command, held before exec until the events are open. */
int targets_launch(struct targets *t, char *const *argv, char *const *envp, struct profiler_error *err);
/* Opens events on every thread of pid (again until no new thread appears)
 * and reads its mappings. */
int targets_attach(struct targets *t, struct event_set *es, struct aggregate *a, pid_t pid,
		   struct profiler_error *err);
/* Lets the launched command exec (its events enable at exec), or enables the
 * attached threads' events. */
int targets_start(struct targets *t, struct event_set *es, char *const *argv, struct profiler_error *err);
/* Have all targets exited (or become zombies)?  Reaps a launched command
 * and notes its exit status in stats. */
bool targets_exited(struct targets *t, const struct profiler_options *o, struct profiler_stats *stats);
/* Sampling is over: a launched command is reaped, told to end first if
 * stopped (by a signal to us), and killed after the grace. */
void targets_finish(struct targets *t, bool stopped, struct profiler_stats *stats);
/* Waits for a launched command to end on its own, or until *stop: then as
 * targets_finish(stopped). */
void targets_wait(struct targets *t, volatile bool *stop, struct profiler_stats *stats);
/* Closes everything; a launched command still running is killed and reaped. */
void targets_release(struct targets *t);

/* ---- pid_ns.c: the numbers a process in another pid namespace knows
 * itself and its threads by ---- */

struct ns_ids {
	pid_t pid, own_pid; /* ours, and its own (the same where it shares our namespace) */
	bool other;         /* it is in a namespace below ours */
	struct vec tids;    /* struct tid_pair, learned as its threads come */
};

void ns_ids_init(struct ns_ids *n, pid_t pid);
pid_t ns_ids_translate(struct ns_ids *n, pid_t own);
/* Our number of the thread it numbers own (the process's when that thread
 * is gone): a branch for a process in our namespace, as every slot asks. */
static inline pid_t ns_ids_our_tid(struct ns_ids *n, pid_t own)
{
	return n->other ? ns_ids_translate(n, own) : own;
}
void ns_ids_release(struct ns_ids *n);

/* ---- session.c: a recording, composed of the parts above ---- */

/* Two threads: the reader (profiler_run's) copies records from the ring
 * buffers into the queue; the worker hands them to the aggregate in time
 * order, holding profile_lock while it changes the profile or stats. */
struct profiler {
	struct profiler_options o; /* defaults applied */
	struct profile *p;
	struct event_set events;
	struct aggregate agg; /* the worker's */
	struct targets targets;
	struct profiler_stats stats;
	uint64_t start_ns, stop_ns;
	struct record_queue queue;
	struct agent_target *agent_targets; /* o.npids: the sampled alloc view of running processes */
	struct agent_rings rings; /* the reader's ... */
	struct stack_tops stack_tops; /* ... too */
	struct record_consumer consumer; /* the aggregate, for the queue */
	pthread_t worker;
	bool worker_running;
	bool duration_ended;    /* profiler_run's loop ended at the duration */
	pthread_mutex_t profile_lock;
	bool lock_ready;
	uint64_t cut_ns;                /* the end of the last interval cut (start_ns before the first) */
	struct profiler_stats cut_stats; /* the counters then */
};

/* ---- metadata.c: what the recording was, for the profile ---- */

/* Adds the recording's metadata and threads to s->p. */
int metadata_write(struct profiler *s);
/* What is known before sampling (command, host, event, rate), so that a
 * file flushed while recording says it; metadata_write overrides it. */
int metadata_write_start(const struct profiler *s);
/* An interval's start, duration and counts (the counters' change since
 * `before`) into dst; from and to on the monotonic clock. */
int metadata_write_interval(const struct profiler *s, struct profile *dst, uint64_t from_ns, uint64_t to_ns,
			    const struct profiler_stats *before);

#endif
