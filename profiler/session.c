/* A recording session: targets, events, the read loop, and aggregation of
 * each sample into the profile's stack table as it arrives. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <asm/perf_regs.h>

#include "profiler/profiler-internal.h"
#include "profiler/unwind.h"

#define MAX_CALLCHAIN 1024
#define MAX_STACK_FRAMES 1024
/* The root of the stacks of samples kept without their stack copy. */
#define SHED_FRAME "[stack not unwound]"

/* The syscalls the io view follows: the read, write, send, recv, fsync families. */
static const char io_filter[] =
	"id == 0 || id == 1 || id == 17 || id == 18 || id == 19 || id == 20 || id == 44 || id == 45 || "
	"id == 46 || id == 47 || id == 74 || id == 75 || id == 295 || id == 296 || id == 327 || id == 328";


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
	KIND_COUNT
};

static bool is_alloc_kind(int k)
{
	return k >= KIND_ALLOC && k <= KIND_FREE;
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
};

/* Spans of a thread's time with a start and an end seen in different
 * records: off-CPU (switch-out with its stack, switch-in) and system calls
 * (enter with its stack, exit).  Per thread they strictly alternate in time,
 * but come from different CPUs' buffers, so out of order: each start pairs
 * with the first end after it. */
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

struct thread_state {
	pid_t tid, pid;
	char comm[16];
	uint64_t comm_time; /* of the record that named it: an older one never renames it */
	uint64_t lost;
	struct span_pairs switches, syscalls, allocs;
};


struct profiler {
	struct profiler_options o;
	struct profile *p;
	struct perf_event_attr attr; /* the cpu event's */
	struct perf_event_attr kinds[KIND_COUNT];
	bool kind_on[KIND_COUNT];
	char event_name[32];
	struct event *events;
	uint32_t nevents, cap_events;
	struct cpu_buffer *cpus;
	uint32_t ncpus;
	uint8_t *scratch;
	size_t scratch_size;
	struct vec procs; /* struct process_maps */
	struct vec threads; /* struct thread_state */
	struct id_hash thread_index; /* tid -> index in threads */
	pid_t child;           /* launched command, 0 if attaching */
	int go_fd;             /* launch: written to let the child exec */
	int exec_status_fd;    /* launch: EOF once exec succeeded, else exec's errno */
	bool child_reaped;
	uint32_t kernel_mapping;
	struct vec mapping_pids; /* pid_t per profile mapping */
	struct unwinder *unwinder;
	struct profiler_stats stats;
	uint64_t start_ns, stop_ns;
	int v_samples, v_cpu, v_offcpu, v_switches; /* value indices, -1 if not recorded */
	int v_io_bytes, v_io_latency, v_io_calls;
	uint32_t raw_id_offset, raw_ret_offset; /* in raw_syscalls records: from tracefs */
	int v_alloc_bytes, v_alloc_count, v_inuse_bytes;
	struct alloc_probes probes; /* of the process being attached to or launched */
	uint32_t uprobe_type, retprobe_bit;
	struct live_allocs live;
	uint64_t sample_ns; /* cpu ns per sample for events whose period is not time */
	struct profiler_error *err; /* where a handler reports out of memory */
	int fatal;
	/* The reader (profiler_run's thread) queues records; the worker handles
	 * them, holding profile_lock while it changes the profile or stats. */
	struct record_queue queue;
	pthread_t worker;
	bool worker_running;
	pthread_mutex_t profile_lock;
	bool queue_lock_ready;
	uint32_t shed_marker;    /* the location SHED_FRAME */
	uint32_t unknown_marker; /* "[unknown]": the root of a DWARF stack that stops early */
	uint64_t frames[MAX_STACK_FRAMES];
	bool frame_is_kernel[MAX_STACK_FRAMES];
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void set_error(struct profiler_error *err, enum profiler_errcode code, int sys, pid_t pid,
		      const char *what)
{
	err->code = code;
	err->sys_errno = sys;
	err->pid = pid;
	snprintf(err->what, sizeof(err->what), "%s", what ? what : "");
}

/* ---- threads and processes ---- */

static bool thread_eq(const void *ctx, uint32_t i, const void *key)
{
	const struct thread_state *t = ((const struct profiler *)ctx)->threads.data;
	return t[i].tid == *(const pid_t *)key;
}

static uint64_t thread_rehash(const void *ctx, uint32_t i)
{
	const struct thread_state *t = ((const struct profiler *)ctx)->threads.data;
	return hash_u64((uint64_t)t[i].tid);
}

/* Every sample and most records look a thread up: a hash, not a scan. */
static struct thread_state *thread_get(struct profiler *s, pid_t tid)
{
	if (!s->thread_index.nslots)
		return NULL;
	uint32_t *slot = id_hash_probe(&s->thread_index, hash_u64((uint64_t)tid), thread_eq, s, &tid);
	return *slot ? (struct thread_state *)s->threads.data + (*slot - 1) : NULL;
}

/* Adds or updates a thread.  Records reach us out of order across CPUs, so
 * a name is taken only if it is newer than the one the thread has (time 0:
 * a name read from /proc, older than any record). */
static struct thread_state *thread_add(struct profiler *s, pid_t tid, pid_t pid, const char *comm,
				       uint64_t time)
{
	if (id_hash_reserve(&s->thread_index, s->threads.count, thread_rehash, s))
		return NULL;
	uint32_t *slot = id_hash_probe(&s->thread_index, hash_u64((uint64_t)tid), thread_eq, s, &tid);
	struct thread_state *t;
	if (*slot) {
		t = (struct thread_state *)s->threads.data + (*slot - 1);
	} else {
		if (!(t = vec_push(&s->threads, sizeof(*t))))
			return NULL;
		memset(t, 0, sizeof(*t));
		t->tid = tid;
		*slot = s->threads.count;
		s->stats.threads = s->threads.count;
	}
	t->pid = pid;
	if (!t->comm[0] || time >= t->comm_time) {
		snprintf(t->comm, sizeof(t->comm), "%s", comm);
		t->comm_time = time;
	}
	return t;
}

static struct process_maps *process_get(struct profiler *s, pid_t pid, bool create)
{
	struct process_maps *procs = s->procs.data;
	for (uint32_t i = 0; i < s->procs.count; i++)
		if (procs[i].pid == pid)
			return &procs[i];
	if (!create)
		return NULL;
	struct process_maps *m = vec_push(&s->procs, sizeof(*m));
	if (!m)
		return NULL;
	memset(m, 0, sizeof(*m));
	m->pid = pid;
	return m;
}

/* A new profile mapping for a file mapped by pid. */
static int64_t add_mapping(struct profiler *s, pid_t pid, uint64_t start, uint64_t end,
			   uint64_t pgoff, const char *path, const char *build_id)
{
	int64_t path_id = profile_string(s->p, path);
	int64_t build_id_id = profile_string(s->p, build_id ? build_id : "");
	if (path_id < 0 || build_id_id < 0)
		return -PROFILE_E_NOMEM;
	struct mapping m = { start, end, pgoff, (uint32_t)path_id, (uint32_t)build_id_id };
	int64_t id = profile_add_mapping(s->p, &m);
	pid_t *slot = id < 0 ? NULL : vec_push(&s->mapping_pids, sizeof(pid_t));
	if (!slot)
		return -PROFILE_E_NOMEM;
	*slot = pid;
	return id;
}

static int process_map(struct profiler *s, struct process_maps *pm, uint64_t start, uint64_t end,
		       uint64_t pgoff, const char *path, const char *build_id)
{
	int64_t id = add_mapping(s, pm->pid, start, end, pgoff, path, build_id);
	if (id < 0)
		return -1;
	struct map_entry e = { start, end, pgoff, (uint32_t)id };
	return process_maps_insert(pm, &e);
}

/* Reads /proc/PID/maps: the executable mappings present before we attached. */
static int process_load_maps(struct profiler *s, struct process_maps *pm)
{
	pm->loaded = true;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pm->pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return 0; /* gone: its samples keep raw addresses */
	char line[4096 + 128];
	int err = 0;
	while (!err && fgets(line, sizeof(line), f)) {
		unsigned long long start, end, pgoff;
		char perms[8];
		int name_at = 0;
		if (sscanf(line, "%llx-%llx %7s %llx %*s %*s %n", &start, &end, perms, &pgoff, &name_at) < 4)
			continue;
		if (perms[2] != 'x')
			continue;
		char *name = line + name_at;
		name[strcspn(name, "\n")] = '\0';
		/* The build-id of what is mapped (not of what the path names
		 * now), so that a replaced file is never read for it. */
		char build_id[2 * BUILD_ID_MAX + 1] = "";
		int fd = open_mapped_file(pm->pid, name, start, end, MAPPED_VIA_MAP_FILES, NULL, 0);
		if (fd >= 0) {
			read_build_id(fd, build_id, sizeof(build_id));
			close(fd);
		}
		err = process_map(s, pm, start, end, pgoff, *name ? name : "//anon", build_id);
	}
	fclose(f);
	return err;
}

/* ---- sample aggregation ---- */

static uint32_t user_location(struct profiler *s, struct process_maps *pm, uint64_t addr)
{
	if (pm && !pm->loaded && pm->count == 0)
		process_load_maps(s, pm);
	const struct map_entry *e = pm ? process_maps_find(pm, addr) : NULL;
	int64_t loc = profile_intern_location(s->p, addr, e ? e->mapping : PROFILE_NONE);
	if (loc < 0) {
		s->fatal = (int)loc;
		return 0;
	}
	return (uint32_t)loc;
}

static uint32_t kernel_location(struct profiler *s, uint64_t addr)
{
	if (s->kernel_mapping == PROFILE_NONE) {
		int64_t id = add_mapping(s, 0, 0, UINT64_MAX, 0, "[kernel.kallsyms]", NULL);
		if (id < 0) {
			s->fatal = (int)id;
			return 0;
		}
		s->kernel_mapping = (uint32_t)id;
	}
	int64_t loc = profile_intern_location(s->p, addr, s->kernel_mapping);
	if (loc < 0) {
		s->fatal = (int)loc;
		return 0;
	}
	return (uint32_t)loc;
}

/* The stack node of s->frames[0, n) (leaf first) in pid's address space,
 * under root (a location, or PROFILE_NONE); PROFILE_NONE for an empty stack. */
static uint32_t build_stack(struct profiler *s, pid_t pid, uint32_t root, uint32_t n)
{
	struct process_maps *pm = process_get(s, pid, true);
	uint32_t parent = PROFILE_NONE;
	if (root != PROFILE_NONE) {
		int64_t node = profile_intern_stack(s->p, PROFILE_NONE, root);
		if (node < 0) {
			s->fatal = (int)node;
			return PROFILE_NONE;
		}
		parent = (uint32_t)node;
	}
	for (uint32_t i = n; i-- > 0 && !s->fatal;) {
		uint32_t loc = s->frame_is_kernel[i] ? kernel_location(s, s->frames[i])
						     : user_location(s, pm, s->frames[i]);
		int64_t node = profile_intern_stack(s->p, parent, loc);
		if (node < 0) {
			s->fatal = (int)node;
			return PROFILE_NONE;
		}
		parent = (uint32_t)node;
	}
	return parent;
}

static void add_values(struct profiler *s, uint32_t stack, pid_t tid, uint64_t time, int v1, int64_t x1,
		       int v2, int64_t x2)
{
	int64_t values[PROFILE_MAX_VALUES] = { 0 };
	if (v1 >= 0)
		values[v1] = x1;
	if (v2 >= 0)
		values[v2] = x2;
	if (profile_add_sample(s->p, stack, (uint32_t)tid, time, values))
		s->fatal = -PROFILE_E_NOMEM;
}

struct profiler;
struct thread_state;
typedef void (*span_done)(struct profiler *s, struct thread_state *t, const struct span_start *a,
			  const struct span_end *b);

static void span_match(struct profiler *s, struct thread_state *t, struct span_pairs *sp, span_done done)
{
	for (;;) {
		if (!sp->nstarts || !sp->nends)
			return;
		uint8_t o = 0;
		for (uint8_t k = 1; k < sp->nstarts; k++)
			if (sp->starts[k].time < sp->starts[o].time)
				o = k;
		/* ends before the earliest start belong to starts we never saw */
		uint8_t best = UINT8_MAX;
		for (uint8_t k = 0; k < sp->nends;) {
			if (sp->ends[k].time < sp->starts[o].time) {
				sp->ends[k] = sp->ends[--sp->nends];
				continue;
			}
			if (best == UINT8_MAX || sp->ends[k].time < sp->ends[best].time)
				best = k;
			k++;
		}
		if (best == UINT8_MAX)
			return;
		/* Another start before that end means its end has not come yet. */
		for (uint8_t k = 0; k < sp->nstarts; k++)
			if (k != o && sp->starts[k].time < sp->ends[best].time)
				return;
		done(s, t, &sp->starts[o], &sp->ends[best]);
		sp->starts[o] = sp->starts[--sp->nstarts];
		sp->ends[best] = sp->ends[--sp->nends];
	}
}

static void span_start(struct profiler *s, struct thread_state *t, struct span_pairs *sp,
		       const struct span_start *start, span_done done)
{
	if (sp->nstarts == SPAN_PENDING)
		sp->starts[0] = sp->starts[--sp->nstarts]; /* never paired: let it go */
	sp->starts[sp->nstarts++] = *start;
	span_match(s, t, sp, done);
}

static void span_end(struct profiler *s, struct thread_state *t, struct span_pairs *sp,
		     const struct span_end *end, span_done done)
{
	if (sp->nends == SPAN_PENDING)
		sp->ends[0] = sp->ends[--sp->nends];
	sp->ends[sp->nends++] = *end;
	span_match(s, t, sp, done);
}

/* Off-CPU: the time between leaving the CPU and coming back. */
static void offcpu_done(struct profiler *s, struct thread_state *t, const struct span_start *a,
			const struct span_end *b)
{
	add_values(s, a->stack, t->tid, a->time, s->v_offcpu, (int64_t)(b->time - a->time), s->v_switches, 1);
}

/* System calls whose result is a byte count. */
static bool moves_bytes(uint64_t nr)
{
	switch (nr) {
	case 0: case 1: case 17: case 18: case 19: case 20: case 44: case 45:
	case 46: case 47: case 295: case 296: case 327: case 328:
		return true;
	default:
		return false; /* fsync, fdatasync: latency only */
	}
}

static void io_done(struct profiler *s, struct thread_state *t, const struct span_start *a,
		    const struct span_end *b)
{
	uint64_t latency = b->time - a->time;
	if (latency < s->o.io_min_latency)
		return;
	int64_t ret = (int64_t)b->arg;
	int64_t values[PROFILE_MAX_VALUES] = { 0 };
	values[s->v_io_bytes] = ret > 0 && moves_bytes(a->arg) ? ret : 0;
	values[s->v_io_latency] = (int64_t)latency;
	values[s->v_io_calls] = 1;
	if (profile_add_sample(s->p, a->stack, (uint32_t)t->tid, a->time, values))
		s->fatal = -PROFILE_E_NOMEM;
}

/* A sampled allocation and its return: the block is live until freed. */
static void alloc_done(struct profiler *s, struct thread_state *t, const struct span_start *a,
		       const struct span_end *b)
{
	uint64_t ptr = b->arg;
	struct live_alloc la = { ptr, a->arg, a->stack, (uint32_t)t->tid };
	if (ptr && live_allocs_put(&s->live, &la))
		s->fatal = -PROFILE_E_NOMEM;
}

/* The kernel's callchain to frames: context markers dropped, return
 * addresses moved into their call instruction (address - 1), so that they
 * symbolize to the caller's line. */
static uint32_t callchain_frames(struct profiler *s, const uint64_t *ips, uint64_t nr,
				 bool want_kernel, bool want_user)
{
	uint32_t n = 0;
	bool kernel = false, first_in_context = true, take = false;
	for (uint64_t i = 0; i < nr && n < MAX_STACK_FRAMES; i++) {
		uint64_t ip = ips[i];
		if (ip >= (uint64_t)PERF_CONTEXT_MAX) {
			kernel = ip == (uint64_t)PERF_CONTEXT_KERNEL;
			take = kernel ? want_kernel : ip == (uint64_t)PERF_CONTEXT_USER && want_user;
			first_in_context = true;
			continue;
		}
		if (!take)
			continue;
		s->frames[n] = first_in_context ? ip : ip - 1;
		s->frame_is_kernel[n] = kernel;
		first_in_context = false;
		n++;
	}
	return n;
}

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
};

/* Twice per sample (its time, then its fields): a binary search over the
 * events, which push_event keeps sorted by id. */
static const struct event *event_of(const struct profiler *s, uint64_t id)
{
	uint32_t i = upper_bound_u64(s->events, s->nevents, sizeof(*s->events), offsetof(struct event, id), id);
	return i && s->events[i - 1].id == id ? &s->events[i - 1] : NULL;
}

static enum event_kind kind_of(const struct profiler *s, uint64_t id)
{
	const struct event *e = event_of(s, id);
	return e ? e->kind : KIND_CPU;
}

static bool parse_sample(const struct profiler *s, const struct perf_event_header *h,
			 struct sample_view *v)
{
	const uint8_t *p = (const uint8_t *)(h + 1), *end = (const uint8_t *)h + h->size;
	memset(v, 0, sizeof(*v));
	/* Every kind of event has PERF_SAMPLE_IDENTIFIER first: it names the
	 * event, whose own sample_type says what follows. */
	if ((size_t)(end - p) < 8)
		return false;
	memcpy(&v->id, p, 8);
	p += 8;
	const struct event *e = event_of(s, v->id);
	v->kind = e ? e->kind : KIND_CPU;
	v->func = e ? e->func : ALLOC_MALLOC;
	uint64_t t = s->kinds[v->kind].sample_type;
	uint64_t regs_mask = v->regs_mask = s->kinds[v->kind].sample_regs_user;
#define TAKE(dst, n)                                  \
	do {                                          \
		if ((size_t)(end - p) < (n))          \
			return false;                 \
		memcpy((dst), p, (n));                \
		p += (n);                             \
	} while (0)
	if (t & PERF_SAMPLE_IP)
		TAKE(&v->ip, 8);
	if (t & PERF_SAMPLE_TID) {
		TAKE(&v->pid, 4);
		TAKE(&v->tid, 4);
	}
	if (t & PERF_SAMPLE_TIME)
		TAKE(&v->time, 8);
	if (t & PERF_SAMPLE_PERIOD)
		TAKE(&v->period, 8);
	if (t & PERF_SAMPLE_CALLCHAIN) {
		TAKE(&v->nr, 8);
		if (v->nr > (uint64_t)(end - p) / 8)
			return false;
		v->ips = (const uint64_t *)p;
		p += v->nr * 8;
	}
	if (t & PERF_SAMPLE_RAW) {
		TAKE(&v->raw_size, 4);
		if (v->raw_size > (size_t)(end - p))
			return false;
		v->raw = p;
		p += v->raw_size;
	}
	if (t & PERF_SAMPLE_REGS_USER) {
		TAKE(&v->abi, 8);
		if (v->abi) {
			size_t n = (size_t)__builtin_popcountll(regs_mask) * 8;
			if ((size_t)(end - p) < n)
				return false;
			v->regs = (const uint64_t *)p;
			p += n;
		}
	}
	if (t & PERF_SAMPLE_STACK_USER) {
		TAKE(&v->stack_size, 8);
		if (v->stack_size) {
			if (v->stack_size > (uint64_t)(end - p))
				return false;
			v->stack = p;
			p += v->stack_size;
			TAKE(&v->stack_dyn, 8);
			/* What was really copied: never past the copy itself. */
			if (v->stack_dyn > v->stack_size)
				v->stack_dyn = v->stack_size;
		}
	}
#undef TAKE
	return true;
}

/* A user register of the sample (perf's number, asm/perf_regs.h), 0 if absent. */
static uint64_t sample_reg(const struct sample_view *v, int reg)
{
	if (!v->regs || !(v->regs_mask & (1ull << reg)))
		return 0;
	return v->regs[__builtin_popcountll(v->regs_mask & ((1ull << reg) - 1))];
}

static uint64_t raw_u64(const struct sample_view *v, uint32_t offset)
{
	uint64_t x = 0;
	if (v->raw && offset + 8 <= v->raw_size)
		memcpy(&x, v->raw + offset, 8);
	return x;
}

/* posix_memalign returns its block through memptr, which its entry gave:
 * read it in the stack copied at the return (where the caller's variable
 * usually is), else from the target's memory now, which is only right if
 * the caller has not moved on.  0 when it failed or cannot be read. */
static uint64_t memalign_result(const struct thread_state *t, const struct sample_view *v)
{
	if (sample_reg(v, PERF_REG_X86_AX) != 0)
		return 0;
	/* This return's entry: the latest sampled one before it. */
	const struct span_pairs *sp = &t->allocs;
	const struct span_start *entry = NULL;
	for (uint8_t k = 0; k < sp->nstarts; k++)
		if (sp->starts[k].time <= v->time && (!entry || sp->starts[k].time > entry->time))
			entry = &sp->starts[k];
	if (!entry || !entry->arg2)
		return 0;
	uint64_t memptr = entry->arg2, sp_reg = sample_reg(v, PERF_REG_X86_SP), ptr = 0;
	if (v->stack && memptr >= sp_reg && memptr - sp_reg + 8 <= v->stack_dyn) {
		memcpy(&ptr, v->stack + (memptr - sp_reg), 8);
		return ptr;
	}
	struct iovec local = { &ptr, sizeof(ptr) }, remote = { (void *)(uintptr_t)memptr, sizeof(ptr) };
	if (process_vm_readv(t->pid, &local, 1, &remote, 1, 0) != (ssize_t)sizeof(ptr))
		return 0;
	return ptr;
}

/* The size an allocation call asks for, from its argument registers (and
 * where posix_memalign will store the block).  False for calls that
 * allocate nothing themselves: realloc(NULL, n) calls malloc, which is
 * probed too, and realloc(p, 0) frees. */
static bool alloc_request(const struct sample_view *v, uint64_t *size, uint64_t *memptr)
{
	uint64_t a0 = sample_reg(v, PERF_REG_X86_DI), a1 = sample_reg(v, PERF_REG_X86_SI),
		 a2 = sample_reg(v, PERF_REG_X86_DX);
	*memptr = 0;
	switch (v->func) {
	case ALLOC_MALLOC: *size = a0; break;
	case ALLOC_CALLOC:
		if (__builtin_mul_overflow(a0, a1, size))
			return false; /* fails with ENOMEM */
		break;
	case ALLOC_REALLOC:
		if (!a0 || !a1)
			return false;
		*size = a1;
		break;
	case ALLOC_POSIX_MEMALIGN:
		*size = a2;
		*memptr = a0;
		break;
	case ALLOC_ALIGNED_ALLOC: *size = a1; break;
	default: return false;
	}
	return *size > 0 && *size < (1ull << 48);
}

/* A probe on a function's first instruction fires before the function
 * pushes a frame: the frame-pointer chain starts at the caller's caller.
 * The caller is the return address on top of the stack (8 bytes copied
 * with the sample); put it back unless the kernel already did. */
static uint32_t add_entry_caller(struct profiler *s, const struct sample_view *v, uint32_t n)
{
	uint64_t ret;
	if (n == 0 || n >= MAX_STACK_FRAMES || !v->stack || v->stack_dyn < 8)
		return n;
	memcpy(&ret, v->stack, 8);
	if (!ret || (n > 1 && s->frames[1] == ret - 1))
		return n;
	memmove(s->frames + 2, s->frames + 1, (n - 1) * sizeof(*s->frames));
	memmove(s->frame_is_kernel + 2, s->frame_is_kernel + 1, (n - 1) * sizeof(*s->frame_is_kernel));
	s->frames[1] = ret - 1;
	s->frame_is_kernel[1] = false;
	return n + 1;
}

static void on_sample(struct profiler *s, const struct perf_event_header *h)
{
	struct sample_view v;
	if (!parse_sample(s, h, &v))
		return;
	if (v.kind == KIND_IO_EXIT) {
		/* No stack: it ends the span its enter began. */
		struct thread_state *t = thread_get(s, (pid_t)v.tid);
		struct span_end e = { v.time, raw_u64(&v, s->raw_ret_offset) };
		if (t)
			span_end(s, t, &t->syscalls, &e, io_done);
		return;
	}
	if (v.kind == KIND_FREE) {
		struct live_alloc gone;
		live_allocs_take(&s->live, sample_reg(&v, PERF_REG_X86_DI), &gone);
		return;
	}
	if (v.kind == KIND_ALLOC_RET || v.kind == KIND_MEMALIGN_RET) {
		struct thread_state *t = thread_get(s, (pid_t)v.tid);
		if (!t)
			return;
		struct span_end e = { v.time, sample_reg(&v, PERF_REG_X86_AX) };
		if (v.kind == KIND_MEMALIGN_RET)
			e.arg = memalign_result(t, &v);
		span_end(s, t, &t->allocs, &e, alloc_done);
		return;
	}
	uint64_t alloc_size = 0, memptr = 0;
	if (v.kind == KIND_ALLOC && !alloc_request(&v, &alloc_size, &memptr))
		return;
	/* A sample in a mapping we have not heard of (its MMAP2 lost, or not yet
	 * seen): read the process's maps again, at most every 10 ms. */
	struct process_maps *pm_check = process_get(s, (pid_t)v.pid, true);
	if (pm_check && v.ip && v.ip < (1ull << 47) && !process_maps_find(pm_check, v.ip)) {
		uint64_t t = now_ns();
		if (t - pm_check->reloaded_ns > 10000000ull) {
			pm_check->reloaded_ns = t;
			process_maps_clear(pm_check);
			process_load_maps(s, pm_check);
		}
	}
	bool dwarf = s->unwinder != NULL && v.regs;
	uint32_t n = callchain_frames(s, v.ips, v.nr, s->o.kernel, !dwarf);
	uint32_t marker = PROFILE_NONE;
	if (dwarf && !v.stack) {
		/* Shed by the reader: the leaf alone, under a frame that says so. */
		s->stats.unwind_shed++;
		marker = s->shed_marker;
		uint64_t ip = sample_reg(&v, PERF_REG_X86_IP);
		if (ip && n < MAX_STACK_FRAMES) {
			s->frames[n] = ip;
			s->frame_is_kernel[n++] = false;
		}
	} else if (dwarf) {
		struct process_maps *pm = process_get(s, (pid_t)v.pid, true);
		if (pm && !pm->loaded && pm->count == 0)
			process_load_maps(s, pm);
		struct unwind_result r;
		uint32_t got = unwind_user_stack(s->unwinder, pm, s->p, v.regs, v.stack, v.stack_dyn,
						 s->frames + n, MAX_STACK_FRAMES - n, &r);
		for (uint32_t i = 0; i < got; i++)
			s->frame_is_kernel[n + i] = false;
		n += got;
		if (r.truncated)
			s->stats.stack_truncated++;
		if (r.truncated || r.broken)
			marker = s->unknown_marker; /* the stack above is not known */
	} else if (v.kind == KIND_ALLOC) {
		n = add_entry_caller(s, &v, n);
	}
	struct thread_state *t = thread_get(s, (pid_t)v.tid);
	if (!t) {
		char comm[16] = "";
		if (!read_comm((pid_t)v.pid, (pid_t)v.tid, comm, sizeof(comm)))
			snprintf(comm, sizeof(comm), "%s", "[unknown]");
		if (!(t = thread_add(s, (pid_t)v.tid, (pid_t)v.pid, comm, 0))) {
			s->fatal = -PROFILE_E_NOMEM;
			return;
		}
	}
	uint32_t stack = build_stack(s, (pid_t)v.pid, marker, n);
	if (s->fatal)
		return;
	s->stats.samples++;
	if (v.kind == KIND_OFFCPU) {
		struct span_start a = { v.time, 0, 0, stack };
		span_start(s, t, &t->switches, &a, offcpu_done);
		return;
	}
	if (v.kind == KIND_IO_ENTER) {
		struct span_start a = { v.time, raw_u64(&v, s->raw_id_offset), 0, stack };
		span_start(s, t, &t->syscalls, &a, io_done);
		return;
	}
	if (v.kind == KIND_ALLOC) {
		/* Counted now, so that a call whose return we never see still
		 * counts; the return only tells where the block is, for in-use. */
		int64_t period = s->o.alloc_period, bytes = sat_mul_i64((int64_t)alloc_size, period);
		add_values(s, stack, (pid_t)v.tid, v.time, s->v_alloc_bytes, bytes, s->v_alloc_count, period);
		struct span_start a = { v.time, (uint64_t)bytes, memptr, stack };
		span_start(s, t, &t->allocs, &a, alloc_done);
		return;
	}
	add_values(s, stack, (pid_t)v.tid, v.time, s->v_samples, 1, s->v_cpu,
		   (int64_t)(s->sample_ns ? s->sample_ns : v.period));
}

/* The sample_id trailer of a non-sample record: pid, tid (and time). */
static bool record_tid(const struct perf_event_header *h, uint32_t *tid)
{
	/* The trailer is TID (pid, tid), TIME, IDENTIFIER: tid 20 bytes from the end. */
	if (h->size < sizeof(*h) + 24)
		return false;
	memcpy(tid, (const uint8_t *)h + h->size - 20, 4);
	return true;
}

static void on_record(const struct perf_event_header *h, void *ctx)
{
	struct profiler *s = ctx;
	if (s->fatal)
		return;
	switch (h->type) {
	case PERF_RECORD_SAMPLE:
		on_sample(s, h);
		break;
	case PERF_RECORD_MMAP2: {
		struct {
			uint32_t pid, tid;
			uint64_t addr, len, pgoff;
			union {
				struct {
					uint32_t maj, min;
					uint64_t ino, ino_generation;
				};
				struct { /* with PERF_RECORD_MISC_MMAP_BUILD_ID */
					uint8_t build_id_size, reserved1;
					uint16_t reserved2;
					uint8_t build_id[BUILD_ID_MAX];
				};
			};
			uint32_t prot, flags;
		} m;
		if (h->size < sizeof(*h) + sizeof(m) + 1)
			break;
		memcpy(&m, h + 1, sizeof(m));
		const char *name = (const char *)(h + 1) + sizeof(m);
		size_t max = h->size - sizeof(*h) - sizeof(m);
		char path[4096];
		size_t len = strnlen(name, max < sizeof(path) - 1 ? max : sizeof(path) - 1);
		memcpy(path, name, len);
		path[len] = '\0';
		if (!(m.prot & 4 /* PROT_EXEC */))
			break;
		char build_id[2 * BUILD_ID_MAX + 1] = "";
		if (h->misc & PERF_RECORD_MISC_MMAP_BUILD_ID)
			hex_string(m.build_id, m.build_id_size < BUILD_ID_MAX ? m.build_id_size : BUILD_ID_MAX,
				   build_id, sizeof(build_id));
		struct process_maps *pm = process_get(s, (pid_t)m.pid, true);
		if (!pm || process_map(s, pm, m.addr, m.addr + m.len, m.pgoff, path, build_id))
			s->fatal = -PROFILE_E_NOMEM;
		break;
	}
	case PERF_RECORD_COMM: {
		uint32_t ids[2];
		if (h->size < sizeof(*h) + 9)
			break;
		memcpy(ids, h + 1, 8);
		const char *comm = (const char *)(h + 1) + 8;
		char name[16];
		size_t len = strnlen(comm, h->size - sizeof(*h) - 8);
		snprintf(name, sizeof(name), "%.*s", (int)(len < 15 ? len : 15), comm);
		if (h->misc & PERF_RECORD_MISC_COMM_EXEC) {
			/* A new program: what we knew of the old image's mappings is void. */
			struct process_maps *pm = process_get(s, (pid_t)ids[0], false);
			if (pm)
				process_maps_clear(pm);
			if (s->unwinder)
				unwind_forget_process(s->unwinder, (pid_t)ids[0]);
		}
		uint64_t time = 0;
		if (h->size >= sizeof(*h) + 24)
			memcpy(&time, (const uint8_t *)h + h->size - 16, 8);
		if (!thread_add(s, (pid_t)ids[1], (pid_t)ids[0], name, time))
			s->fatal = -PROFILE_E_NOMEM;
		break;
	}
	case PERF_RECORD_FORK: {
		uint32_t f[4]; /* pid, ppid, tid, ptid; then the time */
		if (h->size < sizeof(*h) + 24)
			break;
		memcpy(f, h + 1, 16);
		struct thread_state *parent = thread_get(s, (pid_t)f[3]);
		char comm[16];
		snprintf(comm, sizeof(comm), "%s", parent ? parent->comm : "[unknown]");
		uint64_t fork_time;
		memcpy(&fork_time, (const uint8_t *)(h + 1) + 16, 8);
		if (!thread_add(s, (pid_t)f[2], (pid_t)f[0], comm, fork_time))
			s->fatal = -PROFILE_E_NOMEM;
		if (f[0] != f[1]) {
			/* A new process starts with a copy of its parent's mappings. */
			struct process_maps *pp = process_get(s, (pid_t)f[1], false);
			struct process_maps *pc = process_get(s, (pid_t)f[0], true);
			pp = process_get(s, (pid_t)f[1], false); /* process_get may move the array */
			if (pc && pp && pc->count == 0)
				for (uint32_t i = 0; i < pp->count; i++)
					process_maps_insert(pc, &pp->entries[i]);
			if (pc)
				pc->loaded = true;
		}
		break;
	}
	case PERF_RECORD_LOST: {
		uint64_t lost[2];
		if (h->size < sizeof(*h) + 16)
			break;
		memcpy(lost, h + 1, 16);
		s->stats.lost += lost[1];
		uint32_t tid;
		struct thread_state *t = record_tid(h, &tid) ? thread_get(s, (pid_t)tid) : NULL;
		if (t)
			t->lost += lost[1];
		break;
	}
	case PERF_RECORD_LOST_SAMPLES: {
		uint64_t lost;
		if (h->size < sizeof(*h) + 8)
			break;
		memcpy(&lost, h + 1, 8);
		s->stats.lost += lost;
		uint32_t tid;
		struct thread_state *t = record_tid(h, &tid) ? thread_get(s, (pid_t)tid) : NULL;
		if (t)
			t->lost += lost;
		break;
	}
	case PERF_RECORD_SWITCH: {
		uint32_t tid;
		uint64_t time;
		if ((h->misc & PERF_RECORD_MISC_SWITCH_OUT) || !record_tid(h, &tid))
			break;
		memcpy(&time, (const uint8_t *)h + h->size - 16, 8);
		struct thread_state *t = thread_get(s, (pid_t)tid);
		if (!t) {
			/* A thread whose FORK record is still in another CPU's buffer. */
			uint32_t pid;
			char comm[16] = "";
			memcpy(&pid, (const uint8_t *)h + h->size - 24, 4);
			read_comm((pid_t)pid, (pid_t)tid, comm, sizeof(comm));
			t = thread_add(s, (pid_t)tid, (pid_t)pid, comm, 0);
		}
		struct span_end e = { time, 0 };
		if (t)
			span_end(s, t, &t->switches, &e, offcpu_done);
		else
			s->fatal = -PROFILE_E_NOMEM;
		break;
	}
	case PERF_RECORD_THROTTLE:
		s->stats.throttled++;
		break;
	default:
		break;
	}
}

/* ---- events ---- */

/* Pages per ring buffer: enough for a few hundred milliseconds of samples
 * (much more with stack copies), within perf_event_mlock_kb for non-root. */
static size_t buffer_pages(const struct profiler *s)
{
	size_t pages = s->o.unwind == UNWIND_FP ? 64 : 512;
	/* Event-driven views come in bursts (a loop of write(2)s, each with a
	 * stack copy) that a sampling rate never makes: give them room. */
	if (s->o.views & (VIEW_OFFCPU | VIEW_IO | VIEW_ALLOC))
		pages *= 8;
	if (geteuid() != 0) {
		long mlock_kb = 516;
		read_proc_int("/proc/sys/kernel/perf_event_mlock_kb", &mlock_kb);
		size_t budget = (size_t)(mlock_kb > 8 ? mlock_kb : 8) / 4 / (s->ncpus ? s->ncpus : 1);
		while (pages > 1 && pages + 1 > budget)
			pages /= 2;
	}
	return pages;
}

/* Whether MMAP2 records can carry build-ids (Linux 5.12): older kernels
 * refuse the attribute bit. */
static bool kernel_has_mmap_build_id(void)
{
	static int known = -1;
	if (known < 0) {
		struct perf_event_attr a = { .size = sizeof(a), .type = PERF_TYPE_SOFTWARE,
					     .config = PERF_COUNT_SW_DUMMY, .disabled = 1, .mmap2 = 1,
					     .build_id = 1, .exclude_kernel = 1, .exclude_hv = 1 };
		int fd = perf_event_open_fd(&a, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
		known = fd >= 0;
		if (fd >= 0)
			close(fd);
	}
	return known;
}

static void attr_for_cpu(struct profiler *s, bool cycles)
{
	struct perf_event_attr *a = &s->attr;
	memset(a, 0, sizeof(*a));
	a->size = sizeof(*a);
	a->type = cycles ? PERF_TYPE_HARDWARE : PERF_TYPE_SOFTWARE;
	a->config = cycles ? PERF_COUNT_HW_CPU_CYCLES : PERF_COUNT_SW_CPU_CLOCK;
	a->freq = 1;
	a->sample_freq = s->o.frequency;
	a->sample_type = PERF_SAMPLE_IDENTIFIER | PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME |
			 PERF_SAMPLE_PERIOD | PERF_SAMPLE_CALLCHAIN;
	if (s->o.unwind != UNWIND_FP) {
		a->sample_type |= PERF_SAMPLE_REGS_USER | PERF_SAMPLE_STACK_USER;
		a->sample_regs_user = unwind_regs_mask();
		a->sample_stack_user = s->o.stack_size;
	}
	a->disabled = 1;
	a->inherit = 1;
	a->mmap = 1;
	a->mmap2 = 1;
	a->build_id = kernel_has_mmap_build_id(); /* MMAP2 names the build-id of what is mapped */
	a->comm = 1;
	a->comm_exec = 1;
	a->task = 1;
	a->sample_id_all = 1;
	a->exclude_kernel = !s->o.kernel;
	a->exclude_callchain_kernel = !s->o.kernel;
	a->exclude_hv = 1;
	a->exclude_guest = 1;
	a->use_clockid = 1;
	a->clockid = CLOCK_MONOTONIC;
	a->watermark = 1;
	a->wakeup_watermark = (uint32_t)(buffer_pages(s) * (size_t)sysconf(_SC_PAGESIZE) / 4);
	a->enable_on_exec = s->o.argv != NULL;
	snprintf(s->event_name, sizeof(s->event_name), "%s", cycles ? "cycles" : "cpu-clock");
}

static int classify_open_errno(int e)
{
	switch (e) {
	case ESRCH: return PROFILER_E_NO_SUCH_PROCESS;
	case EACCES:
	case EPERM: return PROFILER_E_PERMISSION;
	case EMFILE:
	case ENFILE: return PROFILER_E_FD_LIMIT;
	case ENOENT:
	case ENODEV:
	case EOPNOTSUPP: return PROFILER_E_NO_EVENT;
	default: return PROFILER_E_OPEN;
	}
}

/* Inserts e in id order (the kernel hands ids out increasing, so this is
 * an append but for the rare race). */
static int push_event(struct profiler *s, struct event e)
{
	if (s->nevents == s->cap_events) {
		uint32_t cap = s->cap_events ? s->cap_events * 2 : 16;
		struct event *v = realloc(s->events, cap * sizeof(*v));
		if (!v)
			return -1;
		s->events = v;
		s->cap_events = cap;
	}
	uint32_t i = s->nevents++;
	for (; i > 0 && s->events[i - 1].id > e.id; i--)
		s->events[i] = s->events[i - 1];
	s->events[i] = e;
	return 0;
}

/* Maps the CPU's buffer on its first event; later events write into it. */
static int attach_to_buffer(struct profiler *s, struct cpu_buffer *b, int fd, pid_t tid,
			    struct profiler_error *err)
{
	if (b->fd >= 0) {
		if (ioctl(fd, PERF_EVENT_IOC_SET_OUTPUT, b->fd) == 0)
			return 0;
		set_error(err, PROFILER_E_OPEN, errno, tid, "PERF_EVENT_IOC_SET_OUTPUT");
		return -1;
	}
	for (size_t pages = buffer_pages(s);; pages /= 2) {
		int r = ring_buffer_map(&b->rb, fd, pages);
		if (r == 0)
			break;
		if (pages == 1 || (r != -EPERM && r != -ENOMEM)) {
			set_error(err, r == -EPERM || r == -ENOMEM ? PROFILER_E_MMAP : PROFILER_E_OPEN, -r, tid,
				  "mmap of the perf ring buffer");
			return -1;
		}
	}
	if (b->rb.size > s->scratch_size) {
		uint8_t *scratch = realloc(s->scratch, b->rb.size);
		if (!scratch) {
			set_error(err, PROFILER_E_NOMEM, 0, 0, NULL);
			return -1;
		}
		s->scratch = scratch;
		s->scratch_size = b->rb.size;
	}
	b->fd = fd;
	return 0;
}

/* Which functions each alloc kind probes: realloc is both an allocation
 * and a free (of its old block, seen at every call). */
static bool probes_function(enum event_kind k, enum alloc_func f)
{
	if (k == KIND_FREE)
		return f == ALLOC_FREE || f == ALLOC_REALLOC;
	if (k == KIND_ALLOC_RET)
		return f != ALLOC_FREE && f != ALLOC_POSIX_MEMALIGN;
	if (k == KIND_MEMALIGN_RET)
		return f == ALLOC_POSIX_MEMALIGN;
	return f != ALLOC_FREE;
}

/* What an event of kind k is called in errors. */
static void describe_kind(const struct profiler *s, int k, enum alloc_func f, char *buf, size_t len)
{
	if (k == KIND_CPU)
		snprintf(buf, len, "%s", s->event_name);
	else if (k == KIND_OFFCPU)
		snprintf(buf, len, "context-switches (the offcpu view)");
	else if (is_alloc_kind(k))
		snprintf(buf, len, "a uprobe on %s in %.160s (the alloc view)", alloc_func_name(f), s->probes.path);
	else
		snprintf(buf, len, "raw_syscalls tracepoints (the io view)");
}

/* Opens one kind of event on tid, one per CPU (alloc kinds: on function f). */
static int open_kind(struct profiler *s, int k, enum alloc_func f, pid_t tid, bool side_records,
		     struct profiler_error *err)
{
	struct perf_event_attr attr = s->kinds[k];
	if (!side_records)
		attr.mmap = attr.mmap2 = attr.comm = attr.comm_exec = attr.task = 0;
	if (is_alloc_kind(k)) {
		attr.config1 = (uint64_t)(uintptr_t)s->probes.probe_path; /* uprobe_path */
		attr.config2 = s->probes.offset[f];                  /* probe_offset */
	}
	for (uint32_t c = 0; c < s->ncpus; c++) {
		int fd = perf_event_open_fd(&attr, tid, s->cpus[c].cpu, -1, PERF_FLAG_FD_CLOEXEC);
		if (fd < 0) {
			int e = errno;
			char what[sizeof(err->what)];
			describe_kind(s, k, f, what, sizeof(what));
			int code = classify_open_errno(e);
			if (code == PROFILER_E_PERMISSION && is_alloc_kind(k))
				code = PROFILER_E_UPROBE_DENIED;
			set_error(err, (enum profiler_errcode)code, e, tid, what);
			return -1;
		}
		if ((k == KIND_IO_ENTER || k == KIND_IO_EXIT) && ioctl(fd, PERF_EVENT_IOC_SET_FILTER, io_filter)) {
			set_error(err, PROFILER_E_OPEN, errno, tid, "PERF_EVENT_IOC_SET_FILTER");
			close(fd);
			return -1;
		}
		uint64_t id;
		if (ioctl(fd, PERF_EVENT_IOC_ID, &id)) {
			set_error(err, PROFILER_E_OPEN, errno, tid, "PERF_EVENT_IOC_ID");
			close(fd);
			return -1;
		}
		if (push_event(s, (struct event){ .fd = fd, .tid = tid, .id = id, .kind = (enum event_kind)k,
						  .func = f })) {
			close(fd);
			set_error(err, PROFILER_E_NOMEM, 0, 0, NULL);
			return -1;
		}
		if (attach_to_buffer(s, &s->cpus[c], fd, tid, err))
			return -1;
	}
	return 0;
}

/* Opens tid's events, one per CPU.  Returns 1 if opened, 0 if tid already
 * has them, -1 on error. */
static int open_event(struct profiler *s, pid_t tid, struct profiler_error *err)
{
	for (uint32_t i = 0; i < s->nevents; i++)
		if (s->events[i].tid == tid)
			return 0;
	/* Mapping, name and fork records are asked of the first event only,
	 * so that each comes once. */
	bool side_records = true;
	for (int k = 0; k < KIND_COUNT; k++) {
		if (!s->kind_on[k])
			continue;
		for (int f = 0; f < ALLOC_FUNCS; f++) {
			/* Alloc kinds: one event per function probed; others: one. */
			if (is_alloc_kind(k) ? !probes_function((enum event_kind)k, (enum alloc_func)f) ||
						       !s->probes.offset[f]
					     : f > 0)
				continue;
			if (open_kind(s, k, (enum alloc_func)f, tid, side_records, err))
				return -1;
			side_records = false;
		}
	}
	return 1;
}

/* The online CPUs, from /sys/devices/system/cpu/online ("0-3,5"). */
static int read_online_cpus(struct profiler *s)
{
	char buf[4096] = "";
	FILE *f = fopen("/sys/devices/system/cpu/online", "re");
	if (f) {
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = '\0';
		fclose(f);
	}
	if (!buf[0])
		snprintf(buf, sizeof(buf), "0-%ld", sysconf(_SC_NPROCESSORS_ONLN) - 1);
	uint32_t cap = 0;
	for (char *p = buf; *p && *p != '\n';) {
		char *end;
		long a = strtol(p, &end, 10), b = a;
		if (end == p)
			break;
		if (*end == '-')
			b = strtol(end + 1, &end, 10);
		for (long c = a; c <= b && c < 65536; c++) {
			if (s->ncpus == cap) {
				cap = cap ? cap * 2 : 8;
				struct cpu_buffer *v = realloc(s->cpus, cap * sizeof(*v));
				if (!v)
					return -1;
				s->cpus = v;
			}
			s->cpus[s->ncpus++] = (struct cpu_buffer){ .cpu = (int)c, .fd = -1 };
		}
		p = *end == ',' ? end + 1 : end;
	}
	return s->ncpus ? 0 : -1;
}

/* The tracefs directory of raw_syscalls (tracefs may be mounted in either place). */
static const char *tracefs_dir(void)
{
	static const char *const dirs[] = { "/sys/kernel/tracing/events/raw_syscalls",
					    "/sys/kernel/debug/tracing/events/raw_syscalls" };
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		if (access(dirs[i], R_OK) == 0)
			return dirs[i];
	return NULL;
}

/* A tracepoint's id, and the offset of one field of its records. */
static bool tracepoint_info(const char *dir, const char *event, const char *field, uint64_t *id,
			    uint32_t *offset)
{
	char path[256];
	long v;
	snprintf(path, sizeof(path), "%s/%s/id", dir, event);
	if (!read_proc_int(path, &v))
		return false;
	*id = (uint64_t)v;
	snprintf(path, sizeof(path), "%s/%s/format", dir, event);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	char line[256], want[64];
	snprintf(want, sizeof(want), " %s;", field);
	bool found = false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *at = strstr(line, want), *off = strstr(line, "offset:");
		if (at && off && strstr(line, "field:"))
			found = sscanf(off, "offset:%u", offset) == 1;
	}
	fclose(f);
	return found;
}

static int setup_io(struct profiler *s, struct profiler_error *err)
{
	const char *dir = tracefs_dir();
	uint64_t enter_id, exit_id;
	if (!dir) {
		set_error(err, PROFILER_E_NO_TRACEFS, ENOENT, 0, "the io view needs the raw_syscalls tracepoints");
		return -1;
	}
	if (!tracepoint_info(dir, "sys_enter", "id", &enter_id, &s->raw_id_offset) ||
	    !tracepoint_info(dir, "sys_exit", "ret", &exit_id, &s->raw_ret_offset)) {
		set_error(err, PROFILER_E_NO_TRACEFS, errno ? errno : EACCES, 0,
			  "the io view cannot read raw_syscalls' id and format in tracefs");
		return -1;
	}
	struct perf_event_attr *in = &s->kinds[KIND_IO_ENTER], *out = &s->kinds[KIND_IO_EXIT];
	*in = s->attr;
	in->type = PERF_TYPE_TRACEPOINT;
	in->config = enter_id;
	in->freq = 0;
	in->sample_period = 1;
	in->sample_type |= PERF_SAMPLE_RAW;
	in->exclude_kernel = 0; /* tracepoints fire in the kernel */
	in->context_switch = 0;
	*out = *in;
	out->config = exit_id;
	/* The exit only ends the span: no stack to copy. */
	out->sample_type = PERF_SAMPLE_IDENTIFIER | PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_RAW;
	out->sample_regs_user = 0;
	out->sample_stack_user = 0;
	return 0;
}

/* The alloc view: uprobes on the C library's allocation functions. */
static int setup_alloc(struct profiler *s, struct profiler_error *err)
{
	if (uprobe_pmu(&s->uprobe_type, &s->retprobe_bit)) {
		set_error(err, PROFILER_E_NO_EVENT, ENOENT, 0,
			  "uprobe (the alloc view needs the uprobe PMU: a kernel with CONFIG_UPROBE_EVENTS)");
		return -1;
	}
	struct perf_event_attr *entry = &s->kinds[KIND_ALLOC], *ret = &s->kinds[KIND_ALLOC_RET],
			       *freed = &s->kinds[KIND_FREE];
	*entry = s->attr;
	entry->type = s->uprobe_type;
	entry->config = 0;
	entry->freq = 0;
	entry->sample_period = s->o.alloc_period;
	entry->context_switch = 0;
	/* Registers for the arguments (and DWARF); at least the return
	 * address on top of the stack for frame pointers. */
	entry->sample_type |= PERF_SAMPLE_REGS_USER | PERF_SAMPLE_STACK_USER;
	/* With PERIOD in the sample, the kernel samples every hit of a
	 * tracepoint-like event whatever the period (perf_swevent_event). */
	entry->sample_type &= ~(uint64_t)PERF_SAMPLE_PERIOD;
	entry->sample_regs_user = unwind_regs_mask();
	entry->sample_stack_user = s->o.unwind == UNWIND_FP ? 8 : s->o.stack_size;
	/* Returns and frees: every one, each only a register. */
	*ret = *entry;
	ret->config = 1ull << s->retprobe_bit;
	ret->sample_period = 1;
	ret->sample_type = PERF_SAMPLE_IDENTIFIER | PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_REGS_USER;
	ret->sample_regs_user = 1ull << PERF_REG_X86_AX;
	ret->sample_stack_user = 0;
	/* posix_memalign's block is in the caller's variable: copy the stack
	 * around it. */
	struct perf_event_attr *memalign_ret = &s->kinds[KIND_MEMALIGN_RET];
	*memalign_ret = *ret;
	memalign_ret->sample_type |= PERF_SAMPLE_STACK_USER;
	memalign_ret->sample_regs_user |= 1ull << PERF_REG_X86_SP;
	memalign_ret->sample_stack_user = 512;
	*freed = *ret;
	freed->config = 0;
	freed->sample_regs_user = 1ull << PERF_REG_X86_DI;
	s->kind_on[KIND_ALLOC] = s->kind_on[KIND_ALLOC_RET] = s->kind_on[KIND_MEMALIGN_RET] = true;
	s->kind_on[KIND_FREE] = true;
	return 0;
}


/* The event kinds to open: the cpu event as chosen, and for the offcpu view
 * context switches (each one a sample of the stack leaving the CPU, and
 * PERF_RECORD_SWITCH records for the way back). */
static void setup_kinds(struct profiler *s)
{
	s->raw_id_offset = s->raw_ret_offset = UINT32_MAX;
	s->kind_on[KIND_CPU] = s->o.views & VIEW_CPU;
	s->kind_on[KIND_OFFCPU] = s->o.views & VIEW_OFFCPU;
	s->kinds[KIND_CPU] = s->attr;
	struct perf_event_attr *a = &s->kinds[KIND_OFFCPU];
	*a = s->attr;
	a->type = PERF_TYPE_SOFTWARE;
	a->config = PERF_COUNT_SW_CONTEXT_SWITCHES;
	a->freq = 0;
	a->sample_period = 1;
	a->context_switch = 1;
	/* The switch happens in the kernel: excluding it would exclude them all. */
	a->exclude_kernel = 0;
	s->kind_on[KIND_IO_ENTER] = s->kind_on[KIND_IO_EXIT] = s->o.views & VIEW_IO;
}

/* The kinds of every view asked for. */
static int setup_views(struct profiler *s, struct profiler_error *err)
{
	setup_kinds(s);
	if ((s->o.views & VIEW_IO) && setup_io(s, err))
		return -1;
	if ((s->o.views & VIEW_ALLOC) && setup_alloc(s, err))
		return -1;
	return 0;
}

/* Chooses the cpu event: cycles where a PMU counts them, cpu-clock otherwise. */
static int choose_cpu_event(struct profiler *s, pid_t probe_pid, struct profiler_error *err)
{
	if (!(s->o.views & VIEW_CPU)) {
		attr_for_cpu(s, false); /* the common settings the other kinds start from */
		return 0;
	}
	bool want_cycles = !s->o.force_event || strcmp(s->o.force_event, "cycles") == 0;
	if (s->o.force_event && strcmp(s->o.force_event, "cpu-clock") == 0)
		want_cycles = false;
	if (want_cycles) {
		attr_for_cpu(s, true);
		int fd = perf_event_open_fd(&s->attr, probe_pid, s->cpus[0].cpu, -1, PERF_FLAG_FD_CLOEXEC);
		if (fd >= 0) {
			close(fd);
			return 0;
		}
		int e = errno;
		if (classify_open_errno(e) != PROFILER_E_NO_EVENT || (s->o.force_event && want_cycles)) {
			set_error(err, classify_open_errno(e), e, probe_pid, "cycles");
			return -1;
		}
	}
	attr_for_cpu(s, false);
	return 0;
}

/* The alloc view's probe points in the C library of pid (0: of the command
 * about to run). */
static int find_probes(struct profiler *s, pid_t pid, struct profiler_error *err)
{
	int r = pid ? alloc_probes_for_process(&s->probes, pid)
		    : alloc_probes_for_command(&s->probes, s->o.argv[0], s->o.search_path);
	if (r == 0)
		return 0;
	set_error(err, (enum profiler_errcode)-r, r == -PROFILER_E_PERMISSION ? EACCES : 0, pid ? pid : s->child,
		  s->o.argv ? s->o.argv[0] : NULL);
	return -1;
}

/* Opens events on every thread of pid, again until no new thread appears
 * (threads started between listing and opening). */
static int attach_process(struct profiler *s, pid_t pid, struct profiler_error *err)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	for (int round = 0; round < 8; round++) {
		DIR *d = opendir(path);
		if (!d) {
			set_error(err, errno == ENOENT ? PROFILER_E_NO_SUCH_PROCESS : PROFILER_E_PERMISSION,
				  errno, pid, NULL);
			return -1;
		}
		int opened = 0, threads = 0;
		struct dirent *de;
		while ((de = readdir(d))) {
			if (de->d_name[0] < '0' || de->d_name[0] > '9')
				continue;
			pid_t tid = (pid_t)atoi(de->d_name);
			threads++;
			struct profiler_error e = { 0 };
			int r = open_event(s, tid, &e);
			if (r < 0 && e.code == PROFILER_E_NO_SUCH_PROCESS && tid != pid)
				continue; /* the thread exited meanwhile */
			if (r < 0) {
				closedir(d);
				*err = e;
				err->pid = pid;
				return -1;
			}
			if (r > 0) {
				opened++;
				char comm[16] = "";
				read_comm(pid, tid, comm, sizeof(comm));
				if (!thread_add(s, tid, pid, comm, 0)) {
					closedir(d);
					set_error(err, PROFILER_E_NOMEM, 0, 0, NULL);
					return -1;
				}
			}
		}
		closedir(d);
		if (threads == 0) {
			set_error(err, PROFILER_E_NO_SUCH_PROCESS, ESRCH, pid, NULL);
			return -1;
		}
		if (opened == 0)
			break;
	}
	struct process_maps *pm = process_get(s, pid, true);
	if (!pm || process_load_maps(s, pm)) {
		set_error(err, PROFILER_E_NOMEM, 0, 0, NULL);
		return -1;
	}
	return 0;
}

/* Forks the command, held before exec until the events are open. */
static int launch(struct profiler *s, struct profiler_error *err)
{
	int go[2], status[2];
	if (pipe2(go, O_CLOEXEC)) {
		set_error(err, PROFILER_E_LAUNCH, errno, 0, s->o.argv[0]);
		return -1;
	}
	if (pipe2(status, O_CLOEXEC)) {
		set_error(err, PROFILER_E_LAUNCH, errno, 0, s->o.argv[0]);
		close(go[0]);
		close(go[1]);
		return -1;
	}
	pid_t child = fork();
	if (child < 0) {
		set_error(err, PROFILER_E_LAUNCH, errno, 0, s->o.argv[0]);
		close(go[0]);
		close(go[1]);
		close(status[0]);
		close(status[1]);
		return -1;
	}
	if (child == 0) {
		close(go[1]);
		close(status[0]);
		char c;
		/* EOF without a byte means the recorder gave up: do not run. */
		if (read(go[0], &c, 1) != 1)
			_exit(127);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		execvp(s->o.argv[0], s->o.argv);
		int e = errno;
		if (write(status[1], &e, sizeof(e)) < 0)
			_exit(127);
		_exit(127);
	}
	close(go[0]);
	close(status[1]);
	s->child = child;
	s->go_fd = go[1];
	s->exec_status_fd = status[0];
	return 0;
}

/* A frame with a name and no address, for build_stack's root. */
static int64_t named_location(struct profiler *s, const char *name)
{
	int64_t str = profile_string(s->p, name), fn;
	if (str < 0 || (fn = profile_intern_function(s->p, (uint32_t)str, 0)) < 0)
		return -1;
	return profile_intern_named_location(s->p, (uint32_t)fn);
}

static int markers_init(struct profiler *s)
{
	int64_t shed = named_location(s, SHED_FRAME), unknown = named_location(s, "[unknown]");
	if (shed < 0 || unknown < 0)
		return -1;
	s->shed_marker = (uint32_t)shed;
	s->unknown_marker = (uint32_t)unknown;
	return 0;
}

int profiler_open(struct profiler **out, const struct profiler_options *o, struct profile *p,
		  struct profiler_error *err)
{
	memset(err, 0, sizeof(*err));
	struct profiler *s = calloc(1, sizeof(*s));
	if (!s) {
		set_error(err, PROFILER_E_NOMEM, 0, 0, NULL);
		return -1;
	}
	s->o = *o;
	s->p = p;
	s->go_fd = -1;
	s->exec_status_fd = -1;
	s->kernel_mapping = PROFILE_NONE;
	s->probes.fd = -1;
	if (!s->o.frequency)
		s->o.frequency = 99;
	if (!s->o.stack_size)
		s->o.stack_size = 16384;
	s->o.stack_size &= ~7u;
	if (s->o.unwind != UNWIND_FP && (!(s->unwinder = unwinder_new()) || markers_init(s))) {
		set_error(err, PROFILER_E_NOMEM, 0, 0, NULL);
		goto fail;
	}
	pthread_mutex_init(&s->profile_lock, NULL);
	s->queue_lock_ready = true;
	/* About half a second of DWARF samples at 999 Hz on two CPUs, on top of
	 * the kernel's buffers: a larger queue only shows in peak RSS (64 MiB
	 * lost more events in bench/views.sh, not fewer, and doubled the RSS). */
	size_t queue_bytes = s->o.queue_bytes ? s->o.queue_bytes : (size_t)(s->o.unwind == UNWIND_FP ? 8 : 16) << 20;
	if (record_queue_init(&s->queue, queue_bytes)) {
		set_error(err, PROFILER_E_NOMEM, 0, 0, NULL);
		goto fail;
	}
	if (read_online_cpus(s)) {
		set_error(err, PROFILER_E_NOMEM, 0, 0, "the list of online CPUs");
		goto fail;
	}
	if (!s->o.views)
		s->o.views = VIEW_CPU;
	s->v_samples = s->v_cpu = s->v_offcpu = s->v_switches = -1;
	s->v_io_bytes = s->v_io_latency = s->v_io_calls = -1;
	if (!s->o.alloc_period)
		s->o.alloc_period = PROFILER_DEFAULT_ALLOC_PERIOD;
	s->v_alloc_bytes = s->v_alloc_count = s->v_inuse_bytes = -1;
	if (((s->o.views & VIEW_CPU) &&
	     ((s->v_samples = profile_add_value_type(p, "samples", "count")) < 0 ||
	      (s->v_cpu = profile_add_value_type(p, "cpu", "nanoseconds")) < 0)) ||
	    ((s->o.views & VIEW_OFFCPU) &&
	     ((s->v_offcpu = profile_add_value_type(p, "offcpu", "nanoseconds")) < 0 ||
	      (s->v_switches = profile_add_value_type(p, "switches", "count")) < 0)) ||
	    ((s->o.views & VIEW_IO) &&
	     ((s->v_io_bytes = profile_add_value_type(p, "io_bytes", "bytes")) < 0 ||
	      (s->v_io_latency = profile_add_value_type(p, "io_latency", "nanoseconds")) < 0 ||
	      (s->v_io_calls = profile_add_value_type(p, "io_calls", "count")) < 0)) ||
	    ((s->o.views & VIEW_ALLOC) &&
	     ((s->v_alloc_bytes = profile_add_value_type(p, "alloc_bytes", "bytes")) < 0 ||
	      (s->v_alloc_count = profile_add_value_type(p, "alloc_count", "count")) < 0 ||
	      (s->v_inuse_bytes = profile_add_value_type(p, "inuse_bytes", "bytes")) < 0))) {
		set_error(err, PROFILER_E_NOMEM, 0, 0, NULL);
		goto fail;
	}
	if (o->argv) {
		if (launch(s, err))
			goto fail;
		if (choose_cpu_event(s, s->child, err))
			goto fail;
		if ((s->o.views & VIEW_ALLOC) && find_probes(s, 0, err))
			goto fail;
		if (setup_views(s, err) || open_event(s, s->child, err) < 0)
			goto fail;
		char comm[16];
		const char *base = strrchr(o->argv[0], '/');
		snprintf(comm, sizeof(comm), "%s", base ? base + 1 : o->argv[0]);
		if (!thread_add(s, s->child, s->child, comm, 0) || !process_get(s, s->child, true)) {
			set_error(err, PROFILER_E_NOMEM, 0, 0, NULL);
			goto fail;
		}
		process_get(s, s->child, false)->loaded = true; /* its maps come with exec */
	} else {
		for (uint32_t i = 0; i < o->npids; i++) {
			if (kill(o->pids[i], 0) && errno == ESRCH) {
				set_error(err, PROFILER_E_NO_SUCH_PROCESS, ESRCH, o->pids[i], NULL);
				goto fail;
			}
		}
		if (choose_cpu_event(s, o->pids[0], err) || setup_views(s, err))
			goto fail;
		for (uint32_t i = 0; i < o->npids; i++)
			if (((s->o.views & VIEW_ALLOC) && find_probes(s, o->pids[i], err)) ||
			    attach_process(s, o->pids[i], err))
				goto fail;
	}
	/* A hardware counter's period is cycles: charge the time it stands for. */
	s->sample_ns = s->attr.type == PERF_TYPE_HARDWARE ? 1000000000ull / s->o.frequency : 0;
	*out = s;
	return 0;
fail:
	profiler_free(s);
	return -1;
}

/* Kinds whose stack copy is only for unwinding (posix_memalign's return
 * reads its result from the copy). */
static bool stack_only_unwinds(enum event_kind k)
{
	return k == KIND_CPU || k == KIND_OFFCPU || k == KIND_IO_ENTER || k == KIND_ALLOC;
}

/* The pieces of record h to queue.  A sample's stack copy is cut to the
 * bytes that were stack (the kernel's dyn_size: the 16 KiB copied reach past
 * the top of a process's main stack), and, to shed load when unwinding falls
 * behind, left out: its values and registers are kept, and a stack size of
 * 0 beside registers tells on_sample (the kernel writes that only when a
 * record has no room left for any stack, which is as stackless).  head and
 * stack_size hold the rewritten fields. */
static uint32_t record_pieces(const struct profiler *s, const struct perf_event_header *h, bool shed,
			      struct record_piece *pieces, struct perf_event_header *head, uint64_t *stack_size)
{
	struct sample_view v;
	uint64_t id;
	pieces[0] = (struct record_piece){ h, h->size };
	/* Most samples of most recordings copy no stack: no parsing for them. */
	if (h->type != PERF_RECORD_SAMPLE || h->size < sizeof(*h) + 8)
		return 1;
	memcpy(&id, h + 1, 8);
	if (!(s->kinds[kind_of(s, id)].sample_type & PERF_SAMPLE_STACK_USER) || !parse_sample(s, h, &v) || !v.stack)
		return 1;
	/* At least 8 kept: a zero size also drops the dyn_size field. */
	uint64_t keep = v.stack_dyn ? (v.stack_dyn + 7) & ~7ull : 8;
	shed = shed && v.regs && stack_only_unwinds(v.kind);
	if (shed)
		keep = 0;
	else if (keep >= v.stack_size)
		return 1;
	const uint8_t *base = (const uint8_t *)h;
	size_t stack_at = (size_t)(v.stack - base), tail_at = stack_at + v.stack_size + (shed ? 8 : 0);
	*head = *h;
	head->size = (uint16_t)(stack_at + keep + (h->size - tail_at));
	*stack_size = keep;
	pieces[0] = (struct record_piece){ head, sizeof(*head) };
	pieces[1] = (struct record_piece){ base + sizeof(*h), stack_at - 8 - sizeof(*h) };
	pieces[2] = (struct record_piece){ stack_size, 8 };
	pieces[3] = (struct record_piece){ v.stack, keep };
	pieces[4] = (struct record_piece){ base + tail_at, h->size - tail_at };
	return 5;
}

/* The reader's handler: copy and move on.  Past half full, the queue gets
 * samples without their stacks, which the worker handles in no time, so that
 * waiting for room is short and every event keeps its values (the kernel's
 * buffers hold what comes meanwhile). */
static void enqueue_record(const struct perf_event_header *h, void *ctx)
{
	struct profiler *s = ctx;
	struct record_piece pieces[5];
	struct perf_event_header head;
	uint64_t stack_size;
	bool shed = record_queue_used(&s->queue) > s->queue.cap / 2;
	uint32_t n = record_pieces(s, h, shed, pieces, &head, &stack_size);
	if (!record_queue_push(&s->queue, pieces, n))
		__atomic_add_fetch(&s->stats.unwind_dropped, 1, __ATOMIC_RELAXED);
}

/* One pass over every CPU's buffer.  A record is in its buffer within
 * microseconds of its time: all those older than the pass's start (with a
 * millisecond to spare) are then queued, and the worker may order them
 * without fear of an older one coming later from another CPU. */
static void read_all(struct profiler *s)
{
	uint64_t start = now_ns();
	for (uint32_t i = 0; i < s->ncpus; i++)
		if (s->cpus[i].fd >= 0)
			ring_buffer_read(&s->cpus[i].rb, s->scratch, enqueue_record, s);
	record_queue_mark(&s->queue, start - 1000000ull);
}

/* Every record's time: samples carry it after IDENTIFIER (and IP, for
 * the kinds that sample it), others in the sample_id trailer. */
static uint64_t record_time_of(const struct perf_event_header *h, void *ctx)
{
	const struct profiler *s = ctx;
	uint64_t t = 0, id;
	if (h->type == PERF_RECORD_SAMPLE) {
		if (h->size < sizeof(*h) + 8)
			return 0;
		memcpy(&id, h + 1, 8);
		size_t off = 8 + ((s->kinds[kind_of(s, id)].sample_type & PERF_SAMPLE_IP) ? 8 : 0) + 8;
		if (h->size >= sizeof(*h) + off + 8)
			memcpy(&t, (const uint8_t *)(h + 1) + off, 8);
		return t;
	}
	if (h->size >= sizeof(*h) + 24)
		memcpy(&t, (const uint8_t *)h + h->size - 16, 8);
	return t;
}

static void *worker_main(void *arg)
{
	struct profiler *s = arg;
	while (record_queue_drain(&s->queue, on_record, record_time_of, s, &s->profile_lock))
		;
	return NULL;
}

/* Stops the worker once it has handled everything queued. */
static void worker_stop(struct profiler *s)
{
	if (!s->worker_running)
		return;
	record_queue_close(&s->queue);
	pthread_join(s->worker, NULL);
	s->worker_running = false;
}

/* Launch mode: has the command exited?  Sets the exit status as a shell does. */
static bool child_exited(struct profiler *s)
{
	if (!s->child || s->child_reaped)
		return s->child_reaped;
	int status;
	pid_t r = waitpid(s->child, &status, WNOHANG);
	if (r != s->child)
		return false;
	s->child_reaped = true;
	s->stats.has_exit_status = true;
	s->stats.exit_status = WIFEXITED(status) ? WEXITSTATUS(status)
			     : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 1;
	return true;
}

/* Attach mode: are all target processes gone (or zombies)? */
static bool targets_gone(const struct profiler *s)
{
	for (uint32_t i = 0; i < s->o.npids; i++)
		if (process_alive(s->o.pids[i]))
			return false;
	return true;
}

int profiler_run(struct profiler *s, volatile bool *stop,
		 void (*progress)(const struct profiler_stats *, void *), void *arg,
		 struct profiler_error *err)
{
	memset(err, 0, sizeof(*err));
	s->start_ns = now_ns();
	if (s->child) {
		/* Let it exec; EOF on the pipe then means exec succeeded. */
		if (write(s->go_fd, "g", 1) != 1) {
			set_error(err, PROFILER_E_LAUNCH, errno, 0, s->o.argv[0]);
			return -1;
		}
		close(s->go_fd);
		s->go_fd = -1;
		int e = 0;
		ssize_t n;
		while ((n = read(s->exec_status_fd, &e, sizeof(e))) < 0 && errno == EINTR)
			;
		close(s->exec_status_fd);
		s->exec_status_fd = -1;
		if (n == sizeof(e)) {
			set_error(err, PROFILER_E_LAUNCH, e, 0, s->o.argv[0]);
			return -1;
		}
	} else {
		for (uint32_t i = 0; i < s->nevents; i++)
			ioctl(s->events[i].fd, PERF_EVENT_IOC_ENABLE, 0);
	}
	/* The targets' pidfds join the poll, so that their exit wakes us at once
	 * (the timeout is only for the status line and the duration). */
	uint32_t ntargets = s->child ? 1 : s->o.npids;
	struct pollfd *pfd = calloc(s->ncpus + ntargets, sizeof(*pfd));
	if (!pfd || pthread_create(&s->worker, NULL, worker_main, s)) {
		free(pfd);
		set_error(err, PROFILER_E_NOMEM, 0, 0, "the unwinding thread");
		return -1;
	}
	s->worker_running = true;
	int *pidfds = calloc(ntargets ? ntargets : 1, sizeof(*pidfds));
	for (uint32_t i = 0; pidfds && i < ntargets; i++)
		pidfds[i] = (int)syscall(SYS_pidfd_open, s->child ? s->child : s->o.pids[i], 0);
	uint64_t deadline = s->o.duration > 0 ? s->start_ns + (uint64_t)(s->o.duration * 1e9) : 0;
	uint64_t next_progress = 0;
	while (!*stop) {
		nfds_t n = 0;
		for (uint32_t i = 0; i < s->ncpus; i++)
			pfd[n++] = (struct pollfd){ .fd = s->cpus[i].fd, .events = POLLIN };
		for (uint32_t i = 0; pidfds && i < ntargets; i++)
			pfd[n++] = (struct pollfd){ .fd = pidfds[i], .events = POLLIN };
		/* The watermark wakes us when a buffer is a quarter full; otherwise
		 * read every 50 ms to keep the status line and the checks below live. */
		if (poll(pfd, n, 50) < 0 && errno != EINTR)
			break;
		read_all(s);
		uint64_t t = now_ns();
		s->stats.elapsed = (double)(t - s->start_ns) / 1e9;
		if (deadline && t >= deadline)
			break;
		if (s->child ? child_exited(s) : targets_gone(s)) {
			s->stats.targets_exited = true;
			break;
		}
		if (progress && t >= next_progress) {
			/* The worker is between batches while we hold this: the
			 * profile and the stats are consistent. */
			pthread_mutex_lock(&s->profile_lock);
			progress(&s->stats, arg);
			pthread_mutex_unlock(&s->profile_lock);
			next_progress = t + 100000000ull;
		}
		if (__atomic_load_n(&s->fatal, __ATOMIC_RELAXED))
			break;
	}
	free(pfd);
	for (uint32_t i = 0; pidfds && i < ntargets; i++)
		if (pidfds[i] >= 0)
			close(pidfds[i]);
	free(pidfds);
	s->stop_ns = now_ns();
	for (uint32_t i = 0; i < s->nevents; i++)
		ioctl(s->events[i].fd, PERF_EVENT_IOC_DISABLE, 0);
	read_all(s); /* drain what is left */
	worker_stop(s);
	s->stats.elapsed = (double)(s->stop_ns - s->start_ns) / 1e9;
	if (s->child && !s->child_reaped) {
		/* Stopped early (signal or duration): the command goes on until it
		 * ends on its own or is told to. */
		if (*stop)
			kill(s->child, SIGTERM);
		int status;
		if (waitpid(s->child, &status, 0) == s->child) {
			s->child_reaped = true;
			s->stats.has_exit_status = true;
			s->stats.exit_status = WIFEXITED(status) ? WEXITSTATUS(status)
					     : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 1;
		}
	}
	if (progress)
		progress(&s->stats, arg);
	if (s->fatal) {
		set_error(err, PROFILER_E_NOMEM, 0, 0, NULL);
		return -1;
	}
	return 0;
}

static int meta_u64(struct profile *p, const char *key, uint64_t v)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return profile_set_meta(p, key, buf);
}

/* Every event of the event views copies its stack, whatever -F says. */
const char *profiler_keep_up_hint(const struct profiler *s)
{
	bool events = s->o.views & (VIEW_OFFCPU | VIEW_IO | VIEW_ALLOC);
	if (!events)
		return "lower -F to keep up";
	if (s->o.unwind == UNWIND_FP)
		return (s->o.views & VIEW_ALLOC) ? "raise --alloc-period to keep up" : "the events came faster than "
											 "they could be read";
	return "use --unwind fp, a smaller --stack-size or a larger --alloc-period to keep up";
}

/* What is still allocated at the end, at the stacks that allocated it. */
static int add_in_use(struct profiler *s)
{
	for (uint32_t i = 0; i < s->live.nslots; i++) {
		const struct live_alloc *a = &s->live.slots[i];
		if (!a->ptr)
			continue;
		int64_t values[PROFILE_MAX_VALUES] = { 0 };
		values[s->v_inuse_bytes] = (int64_t)a->bytes;
		if (profile_add_sample(s->p, a->stack, a->tid, 0, values))
			return -1;
	}
	return 0;
}

int profiler_finish(struct profiler *s, struct profiler_error *err)
{
	struct profile *p = s->p;
	char buf[4096];
	int rc = 0;
	if (s->o.argv) {
		size_t len = 0;
		buf[0] = '\0';
		for (char *const *a = s->o.argv; *a && len < sizeof(buf) - 1; a++)
			len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s", a == s->o.argv ? "" : " ", *a);
		rc |= profile_set_meta(p, "command", buf);
		rc |= meta_u64(p, "pid", (uint64_t)s->child);
	} else {
		size_t len = 0;
		buf[0] = '\0';
		for (uint32_t i = 0; i < s->o.npids && len < sizeof(buf) - 1; i++)
			len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%d", i ? "," : "", (int)s->o.pids[i]);
		rc |= profile_set_meta(p, "pid", buf);
		/* The command line of the first target, as ps shows it. */
		snprintf(buf, sizeof(buf), "/proc/%d/cmdline", (int)s->o.pids[0]);
		FILE *f = fopen(buf, "re");
		if (f) {
			size_t n = fread(buf, 1, sizeof(buf) - 1, f);
			fclose(f);
			for (size_t i = 0; i + 1 < n; i++)
				if (!buf[i])
					buf[i] = ' ';
			buf[n] = '\0';
			if (n)
				rc |= profile_set_meta(p, "command", buf);
		}
	}
	struct utsname u;
	if (uname(&u) == 0) {
		rc |= profile_set_meta(p, "host", u.nodename);
		snprintf(buf, sizeof(buf), "%s %s %s", u.sysname, u.release, u.machine);
		rc |= profile_set_meta(p, "kernel", buf);
	}
	time_t wall = time(NULL) - (time_t)s->stats.elapsed;
	struct tm tm;
	gmtime_r(&wall, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	rc |= profile_set_meta(p, "start", buf);
	rc |= meta_u64(p, "start_ns", (uint64_t)wall * 1000000000ull);
	snprintf(buf, sizeof(buf), "%.3f s", s->stats.elapsed);
	rc |= profile_set_meta(p, "duration", buf);
	rc |= meta_u64(p, "duration_ns", s->stop_ns - s->start_ns);
	snprintf(buf, sizeof(buf), "%s%s%s%s", (s->o.views & VIEW_CPU) ? ",cpu" : "",
		 (s->o.views & VIEW_OFFCPU) ? ",offcpu" : "", (s->o.views & VIEW_IO) ? ",io" : "",
		 (s->o.views & VIEW_ALLOC) ? ",alloc" : "");
	rc |= profile_set_meta(p, "view", buf + 1);
	if (s->o.views & VIEW_ALLOC) {
		rc |= meta_u64(p, "alloc_period", s->o.alloc_period);
		rc |= add_in_use(s);
	}
	snprintf(buf, sizeof(buf), "%s%s", s->event_name,
		 s->attr.type == PERF_TYPE_SOFTWARE ? " (no hardware PMU: software clock)" : " (hardware PMU)");
	rc |= profile_set_meta(p, "event", buf);
	snprintf(buf, sizeof(buf), "%u Hz", s->o.frequency);
	rc |= profile_set_meta(p, "frequency", buf);
	rc |= profile_set_meta(p, "unwind", s->o.unwind == UNWIND_FP ? "fp" : s->o.unwind == UNWIND_DWARF ? "dwarf" : "auto (dwarf)");
	rc |= meta_u64(p, "samples", s->stats.samples);
	rc |= meta_u64(p, "lost", s->stats.lost);
	rc |= meta_u64(p, "unwind_dropped", s->stats.unwind_dropped);
	if (s->stats.unwind_shed)
		rc |= meta_u64(p, "unwind_shed", s->stats.unwind_shed);
	if (s->stats.lost || s->stats.unwind_dropped || s->stats.unwind_shed) {
		char lost[160] = "", shed[96] = "";
		if (s->stats.lost || s->stats.unwind_dropped)
			snprintf(lost, sizeof(lost), "%" PRIu64 " samples lost (%" PRIu64 " by the kernel, ring buffer full; %"
				 PRIu64 " not unwound in time); ", s->stats.lost + s->stats.unwind_dropped, s->stats.lost,
				 s->stats.unwind_dropped);
		if (s->stats.unwind_shed)
			snprintf(shed, sizeof(shed), "%" PRIu64 " kept without their stack (under " SHED_FRAME "); ",
				 s->stats.unwind_shed);
		snprintf(buf, sizeof(buf), "%s%s%s", lost, shed, profiler_keep_up_hint(s));
		rc |= profile_set_meta(p, "notes", buf);
	}
	if (s->stats.targets_exited)
		rc |= profile_set_meta(p, "exit", "the target exited during the recording");
	if (s->stats.stack_truncated)
		rc |= meta_u64(p, "stack_truncated", s->stats.stack_truncated);
	const struct thread_state *threads = s->threads.data;
	for (uint32_t i = 0; i < s->threads.count && !rc; i++) {
		int64_t comm = profile_string(p, threads[i].comm);
		rc |= comm < 0 || profile_set_thread(p, (uint32_t)threads[i].tid, (uint32_t)threads[i].pid,
						     (uint32_t)comm);
	}
	if (rc) {
		set_error(err, PROFILER_E_NOMEM, 0, 0, NULL);
		return -1;
	}
	return 0;
}

const struct profiler_stats *profiler_stats(const struct profiler *s)
{
	return &s->stats;
}

void profiler_with_profile(struct profiler *s,
			   void (*fn)(const struct profile *p, const pid_t *mapping_pids, uint32_t npids,
				      void *arg),
			   void *arg)
{
	pthread_mutex_lock(&s->profile_lock);
	fn(s->p, s->mapping_pids.data, s->mapping_pids.count, arg);
	pthread_mutex_unlock(&s->profile_lock);
}

const pid_t *profiler_mapping_pids(const struct profiler *s, uint32_t *count)
{
	*count = s->mapping_pids.count;
	return s->mapping_pids.data;
}

void profiler_free(struct profiler *s)
{
	if (!s)
		return;
	worker_stop(s);
	record_queue_release(&s->queue);
	if (s->queue_lock_ready)
		pthread_mutex_destroy(&s->profile_lock);
	for (uint32_t i = 0; i < s->ncpus; i++)
		ring_buffer_unmap(&s->cpus[i].rb);
	for (uint32_t i = 0; i < s->nevents; i++)
		close(s->events[i].fd);
	free(s->cpus);
	if (s->go_fd >= 0)
		close(s->go_fd); /* the held child sees EOF and exits */
	if (s->exec_status_fd >= 0)
		close(s->exec_status_fd);
	if (s->child && !s->child_reaped) {
		kill(s->child, SIGKILL);
		waitpid(s->child, NULL, 0);
	}
	struct process_maps *procs = s->procs.data;
	for (uint32_t i = 0; i < s->procs.count; i++)
		free(procs[i].entries);
	vec_release(&s->procs);
	vec_release(&s->threads);
	id_hash_release(&s->thread_index);
	free(s->events);
	free(s->scratch);
	vec_release(&s->mapping_pids);
	unwinder_free(s->unwinder);
	live_allocs_release(&s->live);
	alloc_probes_release(&s->probes);
	free(s);
}
