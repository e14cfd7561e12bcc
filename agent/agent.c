/* libsmolder-agent.so: samples a process's allocations from inside it.
 *
 * This code runs in other people's processes, on every malloc and free of
 * every thread, after the process was started and while other threads run.
 * It must never crash them, deadlock them, or change what their calls do:
 *   - the hot path takes no lock, allocates nothing, and touches only
 *     thread-local state and one fixed-size table;
 *   - the allocator is always called first, and the sampling after, outside
 *     it, so that no allocator lock is held while the agent works;
 *   - nothing is ever unloaded or freed: a hook reached through a stale
 *     pointer after stop still forwards the call.
 * Its state is process-wide by nature (a GOT entry has no context to pass),
 * so it lives in one static struct. */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/single_threaded.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/draws.h"
#include "agent/modules.h"
#include "agent/ring.h"

/* glibc's own, weak: a process on another C library (musl's: a launched
 * command's child, which inherits LD_PRELOAD) still loads the agent, which
 * then starts nothing, where a strong reference would stop it dead before
 * main ("symbol not found").  __register_atfork is what pthread_atfork
 * (libc_nonshared.a's) calls, and would bring in strong. */
#pragma weak __libc_single_threaded
#pragma weak __register_atfork
#pragma weak dladdr1
extern int __register_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void), void *dso);
extern void *__dso_handle;

static bool on_glibc(void)
{
	return &__libc_single_threaded && __register_atfork && dladdr1;
}

#define EXPORT __attribute__((visibility("default")))
#define HOT_TLS __attribute__((tls_model("initial-exec")))

/* Sampled blocks not yet freed: 2^16 slots (512 KiB) in buckets of a cache
 * line (8 slots), 0 an empty slot: none dropped up to 51,000 blocks (25 GiB
 * in use at the default rate), 0.3% at 57,000.  A block has two buckets
 * (from two parts of its hash) and is in the emptier when it is sampled: a
 * lookup reads two lines at most, and a removal leaves no tombstone behind
 * (open addressing's 64-slot probe runs filled with them within seconds,
 * though that alone cost no measurable time).  Two counts of them per bucket
 * stand before the table, so that the free of an unsampled block (nearly
 * all) reads neither: a hint of 2^12 buckets by the address's bits (8 KiB,
 * of which a thread's frees read 1 KiB, so that it stays in the L1 cache)
 * and a filter of 2^12 by its hash. */
#define LIVE_BITS 16
#define LIVE_SLOTS (1u << LIVE_BITS)
#define LIVE_BUCKET 8
#define LIVE_BUCKET_BITS (LIVE_BITS - 3)
#define LIVE_HINT_BITS 12
#define LIVE_FILTER_BITS 12
/* Both counts are kept per group of addresses 64 MiB apart (glibc's
 * arenas: a thread's blocks are in its own), so that a thread's frees read
 * and its samples write lines the others seldom touch.  Shared by all, the
 * lines passed between the threads at every sample and every free of one:
 * ~2 us a sample in alloc_heavy -t 2, most of the agent's cost per sample. */
#define LIVE_GROUP_SHIFT 26
#define LIVE_GROUP_BITS 3

#define MAX_PATCHES 4096

/* Frees of sampled blocks wait in a ring and are told FREED_BATCH at a time,
 * so that a free costs no uprobe trap of its own. */
#define FREED_SLOTS 4096
#define FREED_BATCH AGENT_FREED_BATCH_MAX

typedef void *(*malloc_fn)(size_t);
typedef void *(*calloc_fn)(size_t, size_t);
typedef void *(*realloc_fn)(void *, size_t);
typedef void (*free_fn)(void *);
typedef int (*posix_memalign_fn)(void **, size_t, size_t);
typedef void *(*aligned_fn)(size_t, size_t);
typedef int (*prctl_fn)(int, ...);
typedef long (*syscall_fn)(long, ...);
typedef void (*exit_fn)(int);
typedef void *(*dlopen_fn)(const char *, int);

struct patch {
	void **slot;
	void *old;
	const struct hook *hook; /* what it was changed to */
};

static struct agent_state {
	/* What every call reads first, together. */
	struct {
		malloc_fn malloc;
		calloc_fn calloc;
		realloc_fn realloc;
		free_fn free;
		posix_memalign_fn posix_memalign;
		aligned_fn aligned_alloc, memalign;
		prctl_fn prctl;
		syscall_fn syscall;
		exit_fn _exit;
	} real;
	_Atomic uint64_t rate; /* mean bytes between samples; 0: stopped */
	_Atomic uint16_t live_hint[1u << LIVE_HINT_BITS] __attribute__((aligned(64)));
	_Atomic uint16_t live_filter[1u << LIVE_FILTER_BITS];
	_Atomic uintptr_t live[LIVE_SLOTS] __attribute__((aligned(64)));
	_Atomic uint64_t live_dropped; /* sampled blocks the table had no room for */
	_Atomic uintptr_t freed[FREED_SLOTS]; /* 0: empty, or reserved and not yet written */
	_Atomic uint64_t freed_head, freed_tail;
	_Atomic bool draining; /* one drainer at a time */
	pthread_mutex_t patch_lock;
	struct patch patches[MAX_PATCHES];
	uint32_t npatches;
	_Atomic unsigned long long modules_seen; /* dlpi_adds at the last patching */
	_Atomic bool heard; /* a profiler's uprobe was seen on the marker since the start */
	/* The process filters its system calls (seccomp), and may be killed by
	 * one its filter does not list: the agent makes none of its own. */
	_Atomic bool sandboxed;
	_Atomic bool watching; /* the watcher thread runs (in this process) */
	bool fork_handled;     /* the child's handler is registered */
} agent = { .patch_lock = PTHREAD_MUTEX_INITIALIZER };

/* Per thread: bytes until the next sample. */
static __thread int64_t bytes_to_sample HOT_TLS;

/* ---- markers: what the profiler's uprobes see ---- */

/* noipa: never merged with another function, inlined or dropped, so that
 * the uprobe has one entry to hit and the arguments are in their registers. */
EXPORT __attribute__((noipa)) void smolder_agent_allocated(uint64_t ptr, uint64_t size, uint64_t bytes,
							    uint64_t calls_func)
{
	__asm__ volatile("nop" : : "r"(ptr), "r"(size), "r"(bytes), "r"(calls_func) : "memory");
}

EXPORT __attribute__((noipa)) void smolder_agent_freed(uint64_t ptr)
{
	__asm__ volatile("nop" : : "r"(ptr) : "memory");
}

/* n addresses at addrs, in the caller's frame: the uprobe's stack copy has them. */
EXPORT __attribute__((noipa)) void smolder_agent_freed_batch(uint64_t n, const uint64_t *addrs)
{
	__asm__ volatile("nop; nop" : : "r"(n), "r"(addrs) : "memory");
}

/* ---- the live set ---- */

static uint64_t live_hash(uintptr_t p)
{
	return ((uint64_t)p >> 4) * 0x9E3779B97F4A7C15ull;
}

/* A block's two buckets (maybe one and the same). */
static _Atomic uintptr_t *live_bucket(uint64_t h, int which)
{
	uint32_t b = (uint32_t)(h >> (64 - LIVE_BUCKET_BITS - which * LIVE_BUCKET_BITS)) & ((1u << LIVE_BUCKET_BITS) - 1);
	return &agent.live[b * LIVE_BUCKET];
}

static inline uint32_t live_group(uintptr_t p)
{
	return (uint32_t)(p >> LIVE_GROUP_SHIFT) & ((1u << LIVE_GROUP_BITS) - 1);
}

static _Atomic uint16_t *live_filter_of(uintptr_t p, uint64_t h)
{
	const int bits = LIVE_FILTER_BITS - LIVE_GROUP_BITS;
	return &agent.live_filter[live_group(p) << bits | (uint32_t)(h >> (64 - bits))];
}

/* The hint's bucket: the address's low bits as they are (blocks are 16
 * bytes apart at least), no multiply on the path of every free. */
static inline uint32_t hint_index(uintptr_t p)
{
	const int bits = LIVE_HINT_BITS - LIVE_GROUP_BITS;
	return live_group(p) << bits | ((uint32_t)(p >> 4) & ((1u << bits) - 1));
}

/* The slot holding p in its buckets, or NULL. */
static _Atomic uintptr_t *live_find(uintptr_t p, uint64_t h)
{
	for (int which = 0; which < 2; which++) {
		_Atomic uintptr_t *b = live_bucket(h, which);
		for (uint32_t i = 0; i < LIVE_BUCKET; i++)
			if (atomic_load_explicit(&b[i], memory_order_relaxed) == p)
				return &b[i];
	}
	return NULL;
}

static uint32_t live_free_slots(_Atomic uintptr_t *b)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < LIVE_BUCKET; i++)
		n += atomic_load_explicit(&b[i], memory_order_relaxed) == 0;
	return n;
}

/* Takes an empty slot of b for p (another thread may take one first). */
static bool live_take_slot(_Atomic uintptr_t *b, uintptr_t p)
{
	for (uint32_t i = 0; i < LIVE_BUCKET; i++) {
		uintptr_t seen = 0;
		if (atomic_compare_exchange_strong_explicit(&b[i], &seen, p, memory_order_relaxed, memory_order_relaxed))
			return true;
	}
	return false;
}

static bool live_insert(uintptr_t p)
{
	uint64_t h = live_hash(p);
	/* Already there: a sampled block freed where the agent could not see
	 * it (libc frees some of its own blocks without going through its
	 * GOT), whose address came back.  One entry stands for it. */
	if (live_find(p, h))
		return true;
	_Atomic uintptr_t *first = live_bucket(h, 0), *second = live_bucket(h, 1);
	if (live_free_slots(second) > live_free_slots(first)) {
		_Atomic uintptr_t *t = first;
		first = second;
		second = t;
	}
	if (live_take_slot(first, p) || live_take_slot(second, p)) {
		atomic_fetch_add_explicit(live_filter_of(p, h), 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&agent.live_hint[hint_index(p)], 1, memory_order_relaxed);
		return true;
	}
	atomic_fetch_add_explicit(&agent.live_dropped, 1, memory_order_relaxed);
	return false;
}

/* Whether p may be a sampled block: false for nearly every free, from one
 * hot cache line. */
static inline bool live_may_contain(uintptr_t p)
{
	return atomic_load_explicit(&agent.live_hint[hint_index(p)],
				    memory_order_relaxed) != 0;
}

/* Whether p was a sampled block (and is no longer). */
static bool live_remove(uintptr_t p)
{
	uint64_t h = live_hash(p);
	_Atomic uint16_t *filter = live_filter_of(p, h);
	if (!atomic_load_explicit(filter, memory_order_relaxed))
		return false;
	_Atomic uintptr_t *slot = live_find(p, h);
	uintptr_t seen = p;
	if (!slot || !atomic_compare_exchange_strong_explicit(slot, &seen, 0, memory_order_relaxed, memory_order_relaxed))
		return false;
	atomic_fetch_sub_explicit(filter, 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&agent.live_hint[hint_index(p)], 1, memory_order_relaxed);
	return true;
}

/* ---- sampling ---- */

static void patch_new_modules(void);
static void stop_if_profiler_gone(void);
static bool must_drain_before(uintptr_t p);
static void drain_frees(bool wait);
static void watch_from_hook(void);

/* The slow path of an allocation whose bytes ran the countdown out. */
static __attribute__((noinline)) void sample(void *p, size_t size, enum agent_func func)
{
	stop_if_profiler_gone();
	uint64_t rate = atomic_load_explicit(&agent.rate, memory_order_relaxed);
	if (!rate) {
		bytes_to_sample = 1 << 20; /* stopped: look again a MiB later */
		return;
	}
	bool first = !draw_seeded();
	int64_t next = next_interval(rate);
	if (first) {
		/* A new thread: its countdown starts now, not at zero. */
		bytes_to_sample += next;
		if (bytes_to_sample > 0)
			return;
		next = next_interval(rate);
	}
	bytes_to_sample = next;
	/* The watcher looks for new modules: a sample need not (dl_iterate_phdr
	 * takes the loader's lock, a line that threads sampling at once pass
	 * between them). */
	if (!atomic_load_explicit(&agent.watching, memory_order_relaxed))
		patch_new_modules();
	if (!__libc_single_threaded)
		watch_from_hook(); /* the process has made threads since the start */
	if (!p || !size)
		return;
	double chance = one_minus_exp_neg((double)size / (double)rate);
	uint64_t bytes = round_at_random((double)size / chance), calls = round_at_random(1 / chance);
	if (!live_insert((uintptr_t)p))
		p = NULL; /* counted, but its free could not be told */
	if (must_drain_before((uintptr_t)p))
		drain_frees(true);
	const uint64_t args[4] = { (uint64_t)(uintptr_t)p, size, bytes, calls << 8 | func };
	/* The ring may need a system call (its memfd, a new thread's stack
	 * bounds, a wait for room); the marker's uprobe is a breakpoint. */
	if (atomic_load_explicit(&agent.sandboxed, memory_order_relaxed) || !ring_write_sample(args))
		smolder_agent_allocated(args[0], args[1], args[2], args[3]);
}

/* Takes size off the thread's countdown: true when it ran out, and the
 * allocation is to be sampled. */
static inline bool countdown(size_t size)
{
	return __builtin_expect((bytes_to_sample -= (int64_t)size) <= 0, 0);
}

/* A sampled block is freed: into the ring, or told at once when it is full. */
static void queue_free(uintptr_t p)
{
	uint64_t h = atomic_load_explicit(&agent.freed_head, memory_order_relaxed);
	do {
		if (h - atomic_load_explicit(&agent.freed_tail, memory_order_acquire) >= FREED_SLOTS) {
			smolder_agent_freed(p);
			return;
		}
	} while (!atomic_compare_exchange_weak_explicit(&agent.freed_head, &h, h + 1, memory_order_relaxed,
							memory_order_relaxed));
	atomic_store_explicit(&agent.freed[h % FREED_SLOTS], p, memory_order_release);
}

/* Whether the frees waiting must be told before a sample of a block at p:
 * a full batch of them, or the free of an earlier block at p (the
 * allocator hands a block just freed out again), which the profiler must
 * see first.  Otherwise they wait for a full batch, or the watcher.  A
 * drain under way may have taken p's free out of the ring and not told it
 * yet: it is waited for (the flag is read after the tail it moves). */
static bool must_drain_before(uintptr_t p)
{
	uint64_t t = atomic_load_explicit(&agent.freed_tail, memory_order_acquire),
		 h = atomic_load_explicit(&agent.freed_head, memory_order_acquire);
	if (h - t >= FREED_BATCH || atomic_load_explicit(&agent.draining, memory_order_acquire))
		return true;
	for (; t != h; t++) {
		uintptr_t q = atomic_load_explicit(&agent.freed[t % FREED_SLOTS], memory_order_acquire);
		if (q == p || q == 0) /* 0: reserved, not yet written: it may be p */
			return true;
	}
	return false;
}

/* Tells the frees waiting in the ring.  Before a sample's marker, so that a
 * block's free is always told before a new block at its address: wait
 * (briefly) for another thread draining, whose batch may hold it. */
static __attribute__((noinline)) void drain_frees(bool wait)
{
	for (int spins = 0; atomic_exchange_explicit(&agent.draining, true, memory_order_acquire); spins++) {
		if (!wait || spins > 100000)
			return;
		__builtin_ia32_pause();
	}
	uint64_t batch[FREED_BATCH];
	uint32_t n = 0;
	uint64_t t = atomic_load_explicit(&agent.freed_tail, memory_order_relaxed);
	for (;;) {
		_Atomic uintptr_t *slot = &agent.freed[t % FREED_SLOTS];
		uintptr_t p = atomic_load_explicit(slot, memory_order_acquire);
		if (!p)
			break;
		atomic_store_explicit(slot, 0, memory_order_relaxed);
		atomic_store_explicit(&agent.freed_tail, ++t, memory_order_release);
		batch[n++] = p;
		if (n == FREED_BATCH) {
			smolder_agent_freed_batch(n, batch);
			n = 0;
		}
	}
	if (n)
		smolder_agent_freed_batch(n, batch);
	atomic_store_explicit(&agent.draining, false, memory_order_release);
}

static inline void forget_block(void *p)
{
	if (__builtin_expect(live_may_contain((uintptr_t)p), 0) && p && live_remove((uintptr_t)p))
		queue_free((uintptr_t)p);
}

/* ---- the hooks ---- */

/* An unsampled call is the countdown, a branch and a jump to the allocator
 * (a tail call: no frame of ours); a sampled one calls the allocator first
 * and samples after it returned, so that no allocator lock is held. */

static void *hook_malloc(size_t n)
{
	if (!countdown(n))
		return agent.real.malloc(n);
	void *p = agent.real.malloc(n);
	sample(p, n, AGENT_MALLOC);
	return p;
}

static void *hook_calloc(size_t count, size_t n)
{
	size_t total;
	if (__builtin_mul_overflow(count, n, &total) || !countdown(total))
		return agent.real.calloc(count, n);
	void *p = agent.real.calloc(count, n);
	sample(p, total, AGENT_CALLOC);
	return p;
}

static void *hook_realloc(void *old, size_t n)
{
	forget_block(old);
	if (!n || !countdown(n))
		return agent.real.realloc(old, n);
	void *p = agent.real.realloc(old, n);
	sample(p, n, AGENT_REALLOC);
	return p;
}

static void hook_free(void *p)
{
	forget_block(p);
	agent.real.free(p);
}

static int hook_posix_memalign(void **out, size_t align, size_t n)
{
	if (!countdown(n))
		return agent.real.posix_memalign(out, align, n);
	int r = agent.real.posix_memalign(out, align, n);
	sample(r ? NULL : *out, n, AGENT_POSIX_MEMALIGN);
	return r;
}

static void *hook_aligned_alloc(size_t align, size_t n)
{
	if (!countdown(n))
		return agent.real.aligned_alloc(align, n);
	void *p = agent.real.aligned_alloc(align, n);
	sample(p, n, AGENT_ALIGNED_ALLOC);
	return p;
}

static void *hook_memalign(size_t align, size_t n)
{
	if (!countdown(n))
		return agent.real.memalign(align, n);
	void *p = agent.real.memalign(align, n);
	sample(p, n, AGENT_MEMALIGN);
	return p;
}

/* A process that installs a seccomp filter (sshd's pre-auth child, a
 * browser's renderer) is told apart before the filter holds: prctl's and
 * syscall's callers reach them through their GOTs too.  One installed by a
 * raw system call is not seen (the note in agent.h). */
static int hook_prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5)
{
	if (option == PR_SET_SECCOMP)
		atomic_store(&agent.sandboxed, true);
	return agent.real.prctl(option, a2, a3, a4, a5);
}

/* The seventh argument is read from the caller's frame, as syscall reads
 * it: unused by calls with fewer. */
static long hook_syscall(long n, long a1, long a2, long a3, long a4, long a5, long a6)
{
	if (n == SYS_seccomp || (n == SYS_prctl && a1 == PR_SET_SECCOMP))
		atomic_store(&agent.sandboxed, true);
	return agent.real.syscall(n, a1, a2, a3, a4, a5, a6);
}

static void finish_at_exit(void);

/* A process ending by _exit (a forked child, as servers end theirs) runs
 * no destructor: it is finished here, as exit's is. */
static void hook__exit(int status)
{
	finish_at_exit();
	agent.real._exit(status);
	__builtin_unreachable();
}

/* dlopen searches the library path of its caller, which it knows by its
 * return address: its hook must leave that address to it, so it is a
 * trampoline that calls watch_from_hook and then jumps to dlopen, with the
 * caller's return address on the stack as it found it.  A library about to
 * be loaded may be the only one to allocate (a plugin): a process without
 * the watcher (one with a single thread, watch_from_hook) gets it now,
 * which hooks the library once it is loaded. */
static dlopen_fn real_dlopen __attribute__((used)); /* read by name below */

void hook_dlopen(void);
__asm__(".text\n"
	".p2align 4\n"
	".type hook_dlopen, @function\n"
	"hook_dlopen:\n"
	"	.cfi_startproc\n"
	"	push %rdi\n"
	"	.cfi_adjust_cfa_offset 8\n"
	"	push %rsi\n"
	"	.cfi_adjust_cfa_offset 8\n"
	"	sub $8, %rsp\n" /* to 16 bytes, as a call wants */
	"	.cfi_adjust_cfa_offset 8\n"
	"	call watch_from_hook\n"
	"	add $8, %rsp\n"
	"	.cfi_adjust_cfa_offset -8\n"
	"	pop %rsi\n"
	"	.cfi_adjust_cfa_offset -8\n"
	"	pop %rdi\n"
	"	.cfi_adjust_cfa_offset -8\n"
	"	jmp *real_dlopen(%rip)\n"
	"	.cfi_endproc\n"
	".size hook_dlopen, .-hook_dlopen\n");

/* C++'s operator new and delete are not hooked: libstdc++'s reach malloc
 * and free through its own imports, which are, and hooking both would count
 * every new twice.  A hook is put in only once its function is known. */
static const struct hook {
	const char *name;
	void *hook;
	void *const *real;
	bool alloc;
} hooks[] = {
	{ "malloc", (void *)hook_malloc, (void *const *)&agent.real.malloc, true },
	{ "calloc", (void *)hook_calloc, (void *const *)&agent.real.calloc, true },
	{ "realloc", (void *)hook_realloc, (void *const *)&agent.real.realloc, true },
	{ "free", (void *)hook_free, (void *const *)&agent.real.free, true },
	{ "posix_memalign", (void *)hook_posix_memalign, (void *const *)&agent.real.posix_memalign, true },
	{ "aligned_alloc", (void *)hook_aligned_alloc, (void *const *)&agent.real.aligned_alloc, true },
	{ "memalign", (void *)hook_memalign, (void *const *)&agent.real.memalign, true },
	{ "prctl", (void *)hook_prctl, (void *const *)&agent.real.prctl, false },
	{ "syscall", (void *)hook_syscall, (void *const *)&agent.real.syscall, false },
	{ "_exit", (void *)hook__exit, (void *const *)&agent.real._exit, false },
	{ "dlopen", (void *)hook_dlopen, (void *const *)&real_dlopen, false },
};

/* ---- rewriting the GOTs ---- */

static const struct hook *hook_named(const char *name)
{
	for (size_t i = 0; i < sizeof(hooks) / sizeof(*hooks); i++)
		if (strcmp(name, hooks[i].name) == 0)
			return *hooks[i].real ? &hooks[i] : NULL;
	return NULL;
}

/* Writes a GOT entry, opening a RELRO page for the moment (its other
 * entries are read by other threads meanwhile: the page stays readable).
 * Not in a sandboxed process, where mprotect may be what kills it. */
static bool write_slot(const struct dl_phdr_info *info, void **slot, void *value)
{
	bool relro = segment_holds(info, PT_GNU_RELRO, (uintptr_t)slot);
	if (relro && atomic_load(&agent.sandboxed))
		return false;
	long page = sysconf(_SC_PAGESIZE);
	void *start = (void *)((uintptr_t)slot & ~(uintptr_t)(page - 1));
	size_t len = ((uintptr_t)slot + sizeof(void *) > (uintptr_t)start + page) ? 2 * (size_t)page : (size_t)page;
	if (relro && mprotect(start, len, PROT_READ | PROT_WRITE))
		return false;
	__atomic_store_n(slot, value, __ATOMIC_RELEASE);
	if (relro)
		mprotect(start, len, PROT_READ);
	return true;
}

static void patch_relocations(struct dl_phdr_info *info, const struct module_tables *t, int which)
{
	for (size_t i = 0; t->rel[which] && i < t->rel_size[which] / sizeof(ElfW(Rela)); i++) {
		const ElfW(Rela) *r = &t->rel[which][i];
		const ElfW(Sym) *sym = got_symbol(t, r);
		const struct hook *h = sym ? hook_named(t->strtab + sym->st_name) : NULL;
		void **slot = (void **)(info->dlpi_addr + r->r_offset);
		if (!h || *slot == h->hook || agent.npatches == MAX_PATCHES)
			continue;
		void *old = *slot;
		if (write_slot(info, slot, h->hook))
			agent.patches[agent.npatches++] = (struct patch){ slot, old, h };
	}
}

static bool is_own_or_loader(const struct dl_phdr_info *info)
{
	Dl_info self;
	if (dladdr((void *)smolder_agent_freed, &self) && (uintptr_t)self.dli_fbase == info->dlpi_addr)
		return true;
	const char *name = info->dlpi_name ? info->dlpi_name : "";
	return strstr(name, "/ld-linux") || strstr(name, "linux-vdso") || strstr(name, "/ld-musl");
}

static int patch_module(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	(void)arg;
	struct module_tables t;
	if (is_own_or_loader(info) || !module_tables(info, &t))
		return 0;
	patch_relocations(info, &t, 0);
	patch_relocations(info, &t, 1);
	return 0;
}

static int count_loads(struct dl_phdr_info *info, size_t size, void *arg)
{
	if (size >= offsetof(struct dl_phdr_info, dlpi_adds) + sizeof(info->dlpi_adds))
		*(unsigned long long *)arg = info->dlpi_adds;
	return 1; /* the first module says it for all */
}

static void patch_all(void)
{
	unsigned long long adds = 0;
	dl_iterate_phdr(count_loads, &adds);
	atomic_store(&agent.modules_seen, adds);
	dl_iterate_phdr(patch_module, NULL);
}

/* Modules loaded since the last look (a dlopen), from a sample's slow path
 * and from the watcher thread: dlopen's hook runs before the library is
 * loaded, not after (hook_dlopen), and libc's own dlopens (NSS modules,
 * iconv's) do not go through a GOT. */
static void patch_new_modules(void)
{
	unsigned long long adds = 0;
	dl_iterate_phdr(count_loads, &adds);
	if (adds == atomic_load_explicit(&agent.modules_seen, memory_order_relaxed) ||
	    pthread_mutex_trylock(&agent.patch_lock))
		return;
	if (atomic_load(&agent.rate))
		patch_all();
	pthread_mutex_unlock(&agent.patch_lock);
}

static bool resolve_real(void)
{
	if (agent.real.malloc)
		return true;
	agent.real.calloc = (calloc_fn)real_function("calloc");
	agent.real.realloc = (realloc_fn)real_function("realloc");
	agent.real.free = (free_fn)real_function("free");
	agent.real.posix_memalign = (posix_memalign_fn)real_function("posix_memalign");
	agent.real.aligned_alloc = (aligned_fn)real_function("aligned_alloc");
	agent.real.memalign = (aligned_fn)real_function("memalign");
	agent.real.prctl = (prctl_fn)real_function("prctl");
	agent.real.syscall = (syscall_fn)real_function("syscall");
	agent.real._exit = (exit_fn)real_function("_exit");
	real_dlopen = (dlopen_fn)real_function("dlopen");
	malloc_fn m = (malloc_fn)real_function("malloc");
	if (!m || !agent.real.calloc || !agent.real.realloc || !agent.real.free || !agent.real.posix_memalign ||
	    !agent.real.aligned_alloc || !agent.real.memalign)
		return false;
	__atomic_store_n(&agent.real.malloc, m, __ATOMIC_RELEASE);
	return true;
}

/* Whether a profiler listens: its uprobe on the allocated marker is a
 * breakpoint the kernel writes into this process's copy of the page, and
 * takes out when the profiler's events close, however it ended (killed
 * included).  A profiler merely stopped (Ctrl-Z) still listens. */
static bool profiler_listens(void)
{
	return *(volatile const uint8_t *)(uintptr_t)smolder_agent_allocated == 0xcc;
}

static int stop_locked(void);

/* Once a profiler was heard, an unprobed marker means it went without
 * stopping the agent, which then stops itself: a killed smolder leaves the
 * process as it found it.  Looked at by the watcher, and by samples (a
 * forked child has no watcher).  Never heard (the agent's own tests, a
 * hand-made LD_PRELOAD): sampling goes on, for whoever reads the markers. */
static void stop_if_profiler_gone(void)
{
	if (!atomic_load_explicit(&agent.rate, memory_order_relaxed))
		return;
	if (profiler_listens()) {
		/* Written once: the line is read by every sample of every thread. */
		if (!atomic_load_explicit(&agent.heard, memory_order_relaxed))
			atomic_store_explicit(&agent.heard, true, memory_order_relaxed);
		return;
	}
	if (!atomic_load_explicit(&agent.heard, memory_order_relaxed) || pthread_mutex_trylock(&agent.patch_lock))
		return;
	/* Again under the lock: a profiler starting meanwhile clears heard. */
	if (atomic_load(&agent.rate) && atomic_load(&agent.heard) && !profiler_listens())
		stop_locked();
	pthread_mutex_unlock(&agent.patch_lock);
}

/* A library loaded later may be the only one allocating (a plugin), so
 * that no sample comes to notice it: a thread of ours looks fifty times a
 * second, with every signal blocked, and sleeps while sampling is off.  It
 * also tells the frees waiting, and stops the agent when its profiler has
 * gone. */
static void *watch_modules(void *arg)
{
	(void)arg;
	for (;;) {
		struct timespec pause = { 0, 20000000 };
		nanosleep(&pause, NULL);
		if (atomic_load_explicit(&agent.rate, memory_order_relaxed)) {
			patch_new_modules();
			drain_frees(false);
			stop_if_profiler_gone();
		}
	}
	return NULL;
}

/* The watcher, under the patch lock: once per process, never in a sandbox
 * (clone may be what kills it). */
static void start_watcher(void)
{
	if (atomic_load(&agent.watching) || atomic_load(&agent.sandboxed))
		return;
	pthread_attr_t attr;
	sigset_t all, old;
	sigfillset(&all);
	if (pthread_attr_init(&attr))
		return;
	pthread_attr_setstacksize(&attr, 65536);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_t t;
	if (pthread_create(&t, &attr, watch_modules, NULL) == 0) {
		atomic_store(&agent.watching, true);
		pthread_setname_np(t, "smolder-agent");
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
}

/* A process's first thread besides its main one moves glibc's allocator
 * onto its atomic, locked paths for good (malloc and free a third slower;
 * most of the agent's cost to a single-threaded alloc_heavy was that): one
 * with a single thread gets no watcher at start, only once it has more
 * threads (seen at a sample) or calls dlopen (hook_dlopen).  Meanwhile its
 * modules loaded otherwise are hooked at its next sample, its frees wait
 * for the next sample (or the stop, or the exit), and a profiler gone is
 * noticed at the next sample.  From a hook: the lock is only tried (and
 * not at all in a sandbox, which gets no watcher: a threaded one would
 * otherwise take it at every sample). */
__attribute__((used, noipa)) static void watch_from_hook(void)
{
	if (!atomic_load_explicit(&agent.rate, memory_order_relaxed) ||
	    atomic_load_explicit(&agent.watching, memory_order_relaxed) ||
	    atomic_load_explicit(&agent.sandboxed, memory_order_relaxed) || pthread_mutex_trylock(&agent.patch_lock))
		return;
	start_watcher();
	pthread_mutex_unlock(&agent.patch_lock);
}

/* ---- control ---- */

static uint32_t alloc_patches(void)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < agent.npatches; i++)
		n += agent.patches[i].hook->alloc;
	return n;
}

static void after_fork_in_child(void)
{
	ring_after_fork();
	/* Only this thread came along: a drain another was making never ends,
	 * and the watcher is the parent's. */
	atomic_store(&agent.draining, false);
	atomic_store(&agent.watching, false);
}

EXPORT int smolder_agent_start(uint64_t rate, uint64_t ring_stack)
{
	if (!rate)
		rate = AGENT_DEFAULT_RATE;
	if (!on_glibc())
		return -AGENT_NO_MALLOC;
	pthread_mutex_lock(&agent.patch_lock);
	atomic_store(&agent.heard, false);
	if (!agent.fork_handled)
		agent.fork_handled = __register_atfork(NULL, NULL, after_fork_in_child, __dso_handle) == 0;
	ring_configure(ring_stack > AGENT_RING_STACK_MAX ? AGENT_RING_STACK_MAX : (uint32_t)ring_stack & ~7u);
	int r = -AGENT_NO_MALLOC;
	if (resolve_real()) {
		atomic_store(&agent.rate, rate);
		patch_all();
		r = alloc_patches() ? (int)agent.npatches : -AGENT_NO_IMPORTS;
		if (r < 0)
			stop_locked(); /* prctl's or syscall's alone are of no use */
		else if (!__libc_single_threaded) /* else watch_from_hook, later */
			start_watcher();
	}
	pthread_mutex_unlock(&agent.patch_lock);
	return r;
}

/* Stops sampling and puts the GOT entries back: how many.  Under the lock. */
static int stop_locked(void)
{
	atomic_store(&agent.rate, 0);
	drain_frees(true);
	int n = (int)agent.npatches;
	/* Back in reverse order, so that a slot patched twice gets its first value. */
	while (agent.npatches) {
		struct patch *pt = &agent.patches[--agent.npatches];
		Dl_info where;
		struct dl_phdr_info info = { 0 };
		void *extra = NULL;
		if (!dladdr1(pt->slot, &where, &extra, RTLD_DL_LINKMAP) || !extra) {
			__atomic_store_n(pt->slot, pt->old, __ATOMIC_RELEASE);
			continue;
		}
		/* Its module's program headers, for the RELRO range. */
		struct link_map *lm = extra;
		info.dlpi_addr = lm->l_addr;
		const ElfW(Ehdr) *eh = where.dli_fbase;
		info.dlpi_phdr = (const ElfW(Phdr) *)((const char *)eh + eh->e_phoff);
		info.dlpi_phnum = eh->e_phnum;
		write_slot(&info, pt->slot, pt->old);
	}
	/* Blocks sampled before: their frees are no longer seen, nor wanted. */
	for (uint32_t i = 0; i < LIVE_SLOTS; i++)
		atomic_store_explicit(&agent.live[i], 0, memory_order_relaxed);
	for (uint32_t i = 0; i < 1u << LIVE_FILTER_BITS; i++)
		atomic_store_explicit(&agent.live_filter[i], 0, memory_order_relaxed);
	for (uint32_t i = 0; i < 1u << LIVE_HINT_BITS; i++)
		atomic_store_explicit(&agent.live_hint[i], 0, memory_order_relaxed);
	return n;
}

EXPORT int smolder_agent_stop(void)
{
	pthread_mutex_lock(&agent.patch_lock);
	int n = stop_locked();
	pthread_mutex_unlock(&agent.patch_lock);
	return n;
}

/* At exit, the frees still waiting are told: what stays in use is what
 * the program never freed; and the samples still in the ring are read
 * (waiting sleeps: not in a sandbox). */
__attribute__((destructor)) static void finish_at_exit(void)
{
	drain_frees(true);
	if (!atomic_load(&agent.sandboxed))
		ring_wait_read();
}

/* A launched command: started at load, before main. */
__attribute__((constructor)) static void start_from_environment(void)
{
	const char *rate = getenv(AGENT_RATE_ENV), *ring = getenv(AGENT_RING_ENV);
	if (rate && *rate)
		smolder_agent_start(strtoull(rate, NULL, 10), ring ? strtoull(ring, NULL, 10) : 0);
}
