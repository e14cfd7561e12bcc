/* The ring of samples: each sampled allocation's registers and a copy of
 * its stack, written with plain stores into the process's own memory and
 * read by the profiler from outside, so that a sample costs a copy of a
 * few KiB instead of a trap into the kernel (several microseconds on a
 * virtual machine, a syscall's worth at best).
 *
 * The copy must never fault: it reads only from the stack pointer up to
 * the top of a stack whose bounds the thread learned once, from
 * /proc/self/maps, and trusts only for the main thread's stack or the
 * mapping that holds the thread's own descriptor (glibc's threads).  Any
 * other stack (a coroutine's, a signal handler's alternate one) goes
 * through the marker, whose uprobe's copy the kernel makes safely. */
#include <fcntl.h>
#include <link.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/ring.h"

#define EXPORT __attribute__((visibility("default")))
#define HOT_TLS __attribute__((tls_model("initial-exec")))

static struct ring_state {
	_Atomic(struct agent_ring_header *) ring; /* this process's; NULL until its first sample */
	_Atomic uint32_t stack_size;               /* of the slots to come; 0: no ring */
	atomic_flag making;                        /* one thread makes the ring */
	_Atomic int fd;                            /* the ring's memfd; -1: none */
} rings = { .fd = -1 };

/* Per thread: the stack the copies may read, [stack_low, stack_top), and
 * whether it was looked up (1), or cannot be used (-1). */
static __thread uintptr_t stack_low HOT_TLS, stack_top HOT_TLS;
static __thread int8_t stack_state HOT_TLS;
static __thread uint32_t thread_tid HOT_TLS;

/* The marker that tells the profiler where a process's ring is. */
EXPORT __attribute__((noipa)) void smolder_agent_ring(uint64_t addr, uint64_t pid, uint64_t fd)
{
	__asm__ volatile("nop" : : "r"(addr), "r"(pid), "r"(fd) : "memory");
}

/* Fills regs with the caller's registers as they are when this returns:
 * its instruction pointer (the return address), stack pointer, and the
 * callee-saved registers, which are all that DWARF unwinding of the
 * caller and its callers reads. */
void capture_registers(uint64_t *regs);
__asm__(".text\n"
	".p2align 4\n"
	".type capture_registers, @function\n"
	"capture_registers:\n"
	"	mov (%rsp), %rax\n"
	"	mov %rax, 0(%rdi)\n"
	"	lea 8(%rsp), %rax\n"
	"	mov %rax, 8(%rdi)\n"
	"	mov %rbp, 16(%rdi)\n"
	"	mov %rbx, 24(%rdi)\n"
	"	mov %r12, 32(%rdi)\n"
	"	mov %r13, 40(%rdi)\n"
	"	mov %r14, 48(%rdi)\n"
	"	mov %r15, 56(%rdi)\n"
	"	ret\n"
	".size capture_registers, .-capture_registers\n");

/* The main thread's stack pointer at the program's start (ld.so's): above
 * it are only argv, the environment and the auxiliary vector, which the
 * unwinding never reads.  Weak: not every C library has it. */
extern void *__libc_stack_end __attribute__((weak));

/* "start-end ..." of a maps line: the rest after the range, or NULL. */
static const char *parse_range(const char *s, uintptr_t *lo, uintptr_t *hi)
{
	uintptr_t v[2] = { 0, 0 };
	for (int i = 0; i < 2; i++) {
		int digits = 0;
		for (;; s++, digits++) {
			int d = *s >= '0' && *s <= '9' ? *s - '0' : *s >= 'a' && *s <= 'f' ? *s - 'a' + 10 : -1;
			if (d < 0)
				break;
			v[i] = v[i] << 4 | (uintptr_t)d;
		}
		if (!digits || *s != (i ? ' ' : '-'))
			return NULL;
		s++;
	}
	*lo = v[0];
	*hi = v[1];
	return s;
}

/* A maps line: whether it holds sp, and then the bounds it gives. */
static bool stack_of_line(const char *line, uintptr_t sp, uintptr_t tp, bool *found)
{
	uintptr_t lo, hi;
	const char *rest = parse_range(line, &lo, &hi);
	if (!rest || sp < lo || sp >= hi)
		return false;
	if (strstr(rest, "[stack]")) { /* the main thread's: grows down, its top fixed */
		uintptr_t start = &__libc_stack_end ? (uintptr_t)__libc_stack_end + 64 : hi;
		stack_low = 0;
		stack_top = start > sp && start < hi ? start : hi;
		*found = true;
	} else if (tp >= lo && tp < hi && sp < tp) { /* glibc's thread: the stack is below its descriptor */
		stack_low = lo;
		stack_top = tp;
		*found = true;
	}
	return true;
}

struct tls_floor {
	uintptr_t low, floor;
};

static int lower_tls_floor(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct tls_floor *f = arg;
	if (size >= offsetof(struct dl_phdr_info, dlpi_tls_data) + sizeof(info->dlpi_tls_data)) {
		uintptr_t block = (uintptr_t)info->dlpi_tls_data;
		if (block >= f->low && block < f->floor)
			f->floor = block;
	}
	return 0;
}

/* The top of a glibc thread's frames: its static TLS blocks (the modules'
 * __thread variables, 32 KiB of them in alloc_heavy) lie between its stack
 * and its descriptor at tp, and copying them with every sample would be
 * most of the copy.  dl_iterate_phdr takes only the loader's (recursive)
 * list lock, held briefly by dlopen and never around an allocation. */
static uintptr_t thread_frames_top(uintptr_t sp, uintptr_t tp)
{
	struct tls_floor f = { sp, tp };
	dl_iterate_phdr(lower_tls_floor, &f);
	return f.floor;
}

/* Looks up the mapping holding sp in the thread's maps, with a buffer on
 * the stack: no allocation.  A line longer than the buffer is judged by
 * its start (the range; a stack's line is short).  Not /proc/self: once
 * the main thread has exited (pthread_exit) while others run on, its maps
 * are empty. */
static void learn_stack(uintptr_t sp)
{
	uintptr_t tp;
	__asm__("mov %%fs:0, %0" : "=r"(tp));
	stack_state = -1;
	int fd = open("/proc/thread-self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC); /* before Linux 3.17 */
	if (fd < 0)
		return;
	char buf[2048];
	size_t len = 0;
	bool found = false, done = false, skipping = false;
	while (!done) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		char *line = buf, *nl;
		while (!done && (nl = memchr(line, '\n', (size_t)(buf + len - line)))) {
			*nl = '\0';
			if (!skipping)
				done = stack_of_line(line, sp, tp, &found);
			skipping = false;
			line = nl + 1;
		}
		len -= (size_t)(line - buf);
		memmove(buf, line, len);
		if (!done && len == sizeof(buf) - 1) {
			done = !skipping && stack_of_line(buf, sp, tp, &found);
			skipping = true;
			len = 0;
		}
	}
	close(fd);
	if (found && stack_low)
		stack_top = thread_frames_top(sp, stack_top);
	if (found)
		stack_state = 1;
}

/* The stack's bytes (n a multiple of 8; to 16-byte aligned), whole frames
 * of other functions, copied in asm, which no sanitizer instruments (their
 * redzones are part of what is copied, and are read, not used).  The
 * stores are non-temporal: a copy (5.7 KiB a sample on alloc_heavy, whose
 * main has a 4 KiB frame) is read next by the profiler, from another
 * core, and would otherwise evict as much of the program's own data from
 * its caches (throughput with smolder 0.937 against 0.930 with rep movsb,
 * medians of 21). */
static void copy_stack(void *to, const void *from, size_t n)
{
	size_t blocks = n / 16;
	__asm__ volatile("	test %2, %2\n"
			 "	jz 2f\n"
			 "1:	movdqu (%1), %%xmm0\n"
			 "	movntdq %%xmm0, (%0)\n"
			 "	add $16, %1\n"
			 "	add $16, %0\n"
			 "	dec %2\n"
			 "	jnz 1b\n"
			 "2:\n"
			 : "+r"(to), "+r"(from), "+r"(blocks)
			 :
			 : "xmm0", "memory", "cc");
	if (n & 8)
		__asm__ volatile("	mov (%1), %%rax\n"
				 "	movnti %%rax, (%0)\n"
				 :
				 : "r"(to), "r"(from)
				 : "rax", "memory");
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

_Static_assert(sizeof(struct agent_ring_header) % 64 == 0 && sizeof(struct agent_ring_slot) % 64 == 0,
	       "slots' fields are whole cache lines, and the stack copies after them 64-byte aligned");
_Static_assert(sizeof(struct agent_ring_hint) % 64 == 0, "hints are whole cache lines");

static struct agent_ring_slot *slot_at(struct agent_ring_header *r, uint64_t ticket)
{
	return (struct agent_ring_slot *)((char *)r + agent_ring_fields_at(ticket % r->nslots));
}

static uint8_t *stack_at(struct agent_ring_header *r, uint64_t ticket)
{
	return (uint8_t *)r + agent_ring_copy_at(r->nslots, r->stack_stride, ticket % r->nslots);
}

static void announce(struct agent_ring_header *r)
{
	smolder_agent_ring((uint64_t)(uintptr_t)r, r->pid, (uint64_t)(int64_t)atomic_load(&rings.fd));
}

/* Shared memory the profiler maps too (reading it then costs no system
 * call), or else private memory it reads with process_vm_readv.  The fd
 * stays open for the profiler to open through /proc; it closes at exec.
 * It is sealed at its size: the profiler maps only a file that can never
 * shrink under its mapping (reading past a file's end is a SIGBUS). */
static void *map_ring(size_t size)
{
	int fd = memfd_create("smolder-agent-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	void *m = MAP_FAILED;
	if (fd >= 0 && ftruncate(fd, (off_t)size) == 0 &&
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) == 0)
		m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		if (fd >= 0)
			close(fd);
		fd = -1;
		m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	}
	int old = atomic_exchange(&rings.fd, fd); /* an earlier session's ring of another size */
	if (old >= 0)
		close(old);
	return m;
}

static struct agent_ring_header *make_ring(uint32_t stack_size)
{
	size_t stride = (stack_size + 63) & ~(size_t)63;
	uint32_t nslots = agent_ring_slots((uint32_t)stride);
	void *m = map_ring(agent_ring_hints_at(nslots, (uint32_t)stride) + AGENT_RING_HINTS * sizeof(struct agent_ring_hint));
	if (m == MAP_FAILED)
		return NULL;
	struct agent_ring_header *r = m;
	r->self = (uint64_t)(uintptr_t)m;
	r->nslots = nslots;
	r->nhints = AGENT_RING_HINTS;
	r->stack_stride = (uint32_t)stride;
	r->stack_size = stack_size;
	r->pid = (uint32_t)getpid();
	__atomic_store_n(&r->magic, AGENT_RING_MAGIC, __ATOMIC_RELEASE);
	return r;
}

/* This process's ring, made at its first sample (so that a child that
 * only execs makes none). */
static struct agent_ring_header *current_ring(void)
{
	uint32_t stack_size = atomic_load_explicit(&rings.stack_size, memory_order_relaxed);
	if (!stack_size)
		return NULL;
	struct agent_ring_header *r = atomic_load_explicit(&rings.ring, memory_order_acquire);
	if (r && r->stack_size == stack_size)
		return r;
	if (atomic_flag_test_and_set_explicit(&rings.making, memory_order_acquire))
		return NULL; /* another thread is making it: this sample takes the marker */
	/* A ring of another size (an earlier session's) stays mapped: a
	 * thread may still be writing into it. */
	r = make_ring(stack_size);
	if (r) {
		atomic_store_explicit(&rings.ring, r, memory_order_release);
		announce(r);
	} else {
		atomic_store_explicit(&rings.stack_size, 0, memory_order_relaxed);
	}
	atomic_flag_clear_explicit(&rings.making, memory_order_release);
	return r;
}

void ring_configure(uint32_t stack_size)
{
	atomic_store_explicit(&rings.stack_size, stack_size, memory_order_relaxed);
	struct agent_ring_header *r = atomic_load_explicit(&rings.ring, memory_order_acquire);
	if (stack_size && r && r->stack_size == stack_size)
		announce(r); /* a later session's profiler learns of it */
}

/* Whether the profiler read the ring lately: it is there, and will make
 * room. */
static bool reader_alive(const struct agent_ring_header *r)
{
	uint64_t read_ns = __atomic_load_n(&r->read_ns, __ATOMIC_ACQUIRE);
	return read_ns && now_ns() - read_ns < 200000000ull;
}

/* A slot's ticket.  A full ring means a burst of samples, or the
 * profiler's unwinding behind: the thread calls the ring's marker, whose
 * uprobe wakes the profiler to read at once, and waits for room (up to
 * 2 ms, while the profiler lives), which slows an allocation-bound program
 * down to what the profiler keeps up with rather than taking samples whose
 * stacks it would not unwind. */
static bool take_ticket(struct agent_ring_header *r, uint64_t *ticket)
{
	uint64_t t = __atomic_load_n(&r->head, __ATOMIC_RELAXED);
	for (int waits = 0;;) {
		if (t - __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE) < r->nslots) {
			if (__atomic_compare_exchange_n(&r->head, &t, t + 1, true, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
				*ticket = t;
				return true;
			}
			continue;
		}
		if (waits++ == 40 || !reader_alive(r))
			return false;
		if (waits == 1) {
			announce(r);
			__atomic_fetch_add(&r->waits, 1, __ATOMIC_RELAXED);
		}
		struct timespec pause = { 0, 50000 };
		nanosleep(&pause, NULL);
		t = __atomic_load_n(&r->head, __ATOMIC_RELAXED);
	}
}

static const struct agent_ring_hint *hints_of(const struct agent_ring_header *r)
{
	return (const struct agent_ring_hint *)((const char *)r + agent_ring_hints_at(r->nslots, r->stack_stride));
}

/* A register word's value in the sample; false for an index past them. */
static bool hint_register(const uint64_t *regs, const uint64_t args[4], uint64_t index, uint64_t *value)
{
	if (index < AGENT_RING_REGS)
		*value = regs[index];
	else if (index - AGENT_RING_REGS < 4)
		*value = args[index - AGENT_RING_REGS];
	else
		return false;
	return true;
}

/* A word of the stack: read in asm, as copy_stack reads, which no
 * sanitizer instruments (it may be another frame's redzone). */
static inline uint64_t stack_word(uintptr_t at)
{
	uint64_t v;
	__asm__ volatile("mov (%1), %0" : "=r"(v) : "r"(at) : "memory");
	return v;
}

/* Writes the sample's stack words that hint h names into the slot's copy
 * at to, at their offsets, if h holds this sample's IP, SP and copy length
 * and every register and stack word it names is equal: the seq h was read
 * at; 0 otherwise (and what was written is another hint's, or the whole
 * copy's, to write).
 * The profiler writes a hint while threads read it: read between two
 * equal, even seqs.  Its offsets are checked against the copy's length,
 * within the stack's known bounds. */
static uint64_t copy_hinted_words(const struct agent_ring_hint *h, const uint64_t *regs, const uint64_t args[4],
				  uintptr_t sp, size_t len, void *to)
{
	uint64_t seq = __atomic_load_n(&h->seq, __ATOMIC_ACQUIRE);
	if (!seq || (seq & 1) || __atomic_load_n(&h->sp, __ATOMIC_RELAXED) != sp ||
	    __atomic_load_n(&h->ip, __ATOMIC_RELAXED) != regs[AGENT_REG_IP] ||
	    __atomic_load_n(&h->stack_len, __ATOMIC_RELAXED) != len)
		return 0;
	uint32_t n = __atomic_load_n(&h->nwords, __ATOMIC_RELAXED);
	if (!n || n > AGENT_HINT_WORDS)
		return 0;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t where = __atomic_load_n(&h->words[i].where, __ATOMIC_RELAXED), v;
		bool stack = !(where & AGENT_HINT_REG);
		if (!stack) {
			if (!hint_register(regs, args, where & ~AGENT_HINT_REG, &v))
				return 0;
		} else if (where % 8 || where >= len || len - where < 8) {
			return 0;
		} else {
			v = stack_word(sp + where);
		}
		if (v != __atomic_load_n(&h->words[i].value, __ATOMIC_RELAXED))
			return 0;
		if (stack) /* past the caches, as the whole copy */
			__asm__ volatile("movnti %1, (%0)" : : "r"((char *)to + where), "r"(v) : "memory");
	}
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	return __atomic_load_n(&h->seq, __ATOMIC_RELAXED) == seq ? seq : 0;
}

/* noinline: the registers captured are this function's, in the frame the
 * profiler unwinds from (and drops, with its callers in the agent). */
__attribute__((noinline)) bool ring_write_sample(const uint64_t args[4])
{
	struct agent_ring_header *r = current_ring();
	if (!r)
		return false;
	uint64_t regs[AGENT_RING_REGS];
	capture_registers(regs);
	uintptr_t sp = (uintptr_t)regs[AGENT_REG_SP];
	if (!stack_state)
		learn_stack(sp);
	if (stack_state < 0 || sp < stack_low || sp >= stack_top)
		return false;
	uint64_t ticket;
	if (!take_ticket(r, &ticket)) {
		__atomic_fetch_add(&r->full, 1, __ATOMIC_RELAXED);
		return false;
	}
	if (!thread_tid)
		thread_tid = (uint32_t)syscall(SYS_gettid);
	/* Side by side, before the slot's stores: one load of nslots, one division. */
	struct agent_ring_slot *s = slot_at(r, ticket);
	uint8_t *copy = stack_at(r, ticket);
	s->time = now_ns();
	s->tid = thread_tid;
	memcpy(s->args, args, sizeof(s->args));
	memcpy(s->regs, regs, sizeof(s->regs));
	size_t len = (stack_top - sp < r->stack_size ? stack_top - sp : r->stack_size) & ~(size_t)7;
	s->stack_len = len;
	const struct agent_ring_hint *hints = &hints_of(r)[agent_ring_hint_index(sp)];
	uint32_t sparse = 0;
	for (uint32_t w = 0; w < AGENT_HINT_WAYS && !sparse; w++) {
		uint64_t seq = copy_hinted_words(&hints[w], regs, args, sp, len, copy);
		sparse = seq ? agent_ring_sparse(w, seq) : 0;
	}
	if (!sparse)
		copy_stack(copy, (const void *)sp, len);
	s->sparse = sparse;
	__asm__ volatile("sfence" ::: "memory"); /* the copy's stores before the seq that publishes them */
	__atomic_store_n(&s->seq, ticket + 1, __ATOMIC_RELEASE);
	return true;
}

void ring_after_fork(void)
{
	/* The parent's ring (shared memory, or a copy) and its fd are left as
	 * they are: this process writes into a ring of its own. */
	atomic_store_explicit(&rings.ring, NULL, memory_order_relaxed);
	int fd = atomic_exchange(&rings.fd, -1);
	if (fd >= 0)
		close(fd);
	atomic_flag_clear_explicit(&rings.making, memory_order_relaxed);
	thread_tid = 0;
}

void ring_wait_read(void)
{
	struct agent_ring_header *r = atomic_load_explicit(&rings.ring, memory_order_acquire);
	for (int i = 0; r && i < 500; i++) {
		if (__atomic_load_n(&r->head, __ATOMIC_ACQUIRE) == __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE) ||
		    !reader_alive(r))
			return;
		struct timespec pause = { 0, 1000000 };
		nanosleep(&pause, NULL);
	}
}
