/* agent: libsmolder-agent.so, the alloc view's sampler inside the target.
 *
 * Loaded by LD_PRELOAD into a launched command, or by the profiler's
 * injection (a dlopen called on a stopped thread) into a running process.
 * It rewrites the GOT entries of the allocation functions in every loaded
 * module, samples allocations by bytes (a per-thread countdown with
 * exponentially distributed intervals, as jemalloc and tcmalloc do) and
 * writes each sampled allocation (its registers and a copy of its stack,
 * or of the words of it the profiler's hint names) into a ring in its own
 * memory, which the profiler reads from outside
 * (process_vm_readv) and unwinds as it unwinds a uprobe's sample: no trap
 * into the kernel per sample.  Where the ring cannot serve (full, a stack
 * the agent does not know the bounds of, frame-pointer recordings), it
 * calls a marker function instead, which the profiler's uprobes see.  The
 * frees of sampled blocks are told in batches through a marker.  An
 * unsampled call costs a thread-local subtraction and a branch.  dlopen is
 * hooked too (a trampoline: dlopen knows its caller by its return address),
 * so that a library loaded later is hooked at once.
 *
 * A process that sandboxes itself with seccomp (sshd's pre-auth child, a
 * browser's renderer) may be killed by any system call its filter does not
 * list: prctl and syscall are hooked too, and once either installs a
 * filter the agent makes no system call of its own (every sample through
 * the marker; no RELRO page opened: a module loaded later is hooked only
 * where its GOT is writable, and RELRO entries stay hooked at stop,
 * forwarding).  A filter installed by a raw system call is
 * not seen, nor one synced to every thread that forbids the agent's
 * thread its 20 ms sleep.  _exit is hooked for the frees still waiting to
 * be told: a process ending by it (a forked child) runs no destructor.
 * This header is what the profiler and the agent agree on. */
#ifndef SMOLDER_AGENT_H
#define SMOLDER_AGENT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define AGENT_FILE_NAME "libsmolder-agent.so"
/* How maps names the agent that smolder handed a process in another mount
 * namespace (a container's), which cannot see its file: a memfd of that
 * name, loaded from /proc/thread-self/fd. */
#define AGENT_MEMFD_PATH "/memfd:" AGENT_FILE_NAME " (deleted)"

/* Whether a mapped file's path (as maps gives it) is an agent. */
static inline bool agent_file_named(const char *path)
{
	const char *base = strrchr(path, '/');
	return base && (strcmp(base + 1, AGENT_FILE_NAME) == 0 || strcmp(path, AGENT_MEMFD_PATH) == 0);
}

/* The markers, uprobed by the profiler: arguments in registers, no body.
 *   allocated(ptr, size, bytes, calls << 8 | enum agent_func): bytes and
 *     calls are the sample's unbiased estimates (size/p and 1/p, rounded at
 *     random), p being the chance that an allocation of size was sampled;
 *   freed_batch(n, addrs): n (at most 64) sampled blocks were freed (or
 *     reallocated), their addresses in the caller's frame at addrs, told
 *     before the next sample's allocated(), and at least every 20 ms
 *     where the agent has its thread (a process with threads of its own);
 *   freed(ptr): one was, when the batch's ring was full. */
#define AGENT_ALLOCATED_MARKER "smolder_agent_allocated"
#define AGENT_FREED_MARKER "smolder_agent_freed"
#define AGENT_FREED_BATCH_MARKER "smolder_agent_freed_batch"
#define AGENT_FREED_BATCH_MAX 64
/*   ring(addr, pid, fd): the process pid's ring is at addr, and is the
 *     memfd fd (-1: anonymous memory) which the profiler maps too; called
 *     when it is made, at each start, and when it is full. */
#define AGENT_RING_MARKER "smolder_agent_ring"

/* The ring: a header, then nslots slots' fields (struct agent_ring_slot),
 * one after another, then as many stack copies, stack_stride bytes apart,
 * then the hints.  The fields apart from the copies: a reader of a pass's
 * slots, or a writer's next slot, finds them in a few pages (their seqs,
 * mostly, for a copy in part is a few words the reader seldom reads), not
 * a page each, where each page first touched or missed in the TLB costs
 * most on a virtual machine.  Threads claim
 * a slot by taking a ticket (head); the slot's seq becomes ticket + 1 once
 * it is written whole.  The profiler reads the written slots from tail on
 * and then writes tail: a slot is reused only after that.  A sample that
 * finds no free slot goes through the allocated marker (counted in full).
 * At exit, the agent waits up to half a second while a profiler that read
 * in the last 200 ms has slots left to read. */
#define AGENT_RING_MAGIC 0x33676e6972646c6dull /* "mldring3" */
/* Slots: as many as 8 MiB of stack copies hold, from 128 to 1024 (at the
 * default 8 KiB copy).  1024, not 512: the reader wakes (a quarter full)
 * half as often, which on this VM cut its CPU attached to alloc_heavy -t 2
 * from 2.03% to 1.68% of a core; 2048 cut nothing more, and cost a short
 * recording 5 ms to populate. */
#define AGENT_RING_SLOTS_MAX 1024
#define AGENT_RING_SLOTS_MIN 128
#define AGENT_RING_COPIES_BYTES (8u << 20)
#define AGENT_RING_STACK_MAX 65536

struct agent_ring_header {
	uint64_t magic;
	uint32_t nslots, stack_stride; /* stack_stride: from one slot's stack copy to the next's */
	uint32_t stack_size, pid; /* stack bytes a slot holds; the process writing */
	uint64_t head;
	uint64_t tail, read_ns; /* written by the profiler, together; read_ns: CLOCK_MONOTONIC of its last read */
	uint64_t full;
	uint64_t self; /* addr: a file mapped from fd that says otherwise is another */
	uint32_t nhints, reserved; /* the hints after the slots */
	uint64_t waits; /* samples that found the ring full and waited for room (full: then gave up) */
	uint64_t spare[6];
};

/* The registers a slot holds: those DWARF unwinding starts from (the
 * callee-saved ones, as they are in the frame that took the sample). */
enum agent_ring_reg {
	AGENT_REG_IP,
	AGENT_REG_SP,
	AGENT_REG_BP,
	AGENT_REG_BX,
	AGENT_REG_R12,
	AGENT_REG_R13,
	AGENT_REG_R14,
	AGENT_REG_R15,
	AGENT_RING_REGS
};

struct agent_ring_slot {
	uint64_t seq;  /* ticket + 1 once written */
	uint64_t time; /* CLOCK_MONOTONIC, ns */
	uint32_t tid;
	uint32_t sparse; /* 0, or of the stack copy only a hint's words were written: agent_ring_sparse() */
	uint64_t args[4]; /* as the allocated marker's: ptr, size, bytes, calls << 8 | func */
	uint64_t regs[AGENT_RING_REGS];
	uint64_t stack_len; /* bytes of stack copied from regs[AGENT_REG_SP], into the slot's copy */
};

/* Where a ring's parts are, in bytes from its start (the layout above):
 * slot i's fields, slot i's stack copy, and the hints. */
static inline uint64_t agent_ring_fields_at(uint64_t i)
{
	return sizeof(struct agent_ring_header) + i * sizeof(struct agent_ring_slot);
}

static inline uint64_t agent_ring_copy_at(uint32_t nslots, uint32_t stack_stride, uint64_t i)
{
	return agent_ring_fields_at(nslots) + i * stack_stride;
}

static inline uint32_t agent_ring_slots(uint32_t stack_stride)
{
	uint32_t n = AGENT_RING_COPIES_BYTES / (stack_stride ? stack_stride : 1);
	return n > AGENT_RING_SLOTS_MAX ? AGENT_RING_SLOTS_MAX : n < AGENT_RING_SLOTS_MIN ? AGENT_RING_SLOTS_MIN : n;
}

static inline uint64_t agent_ring_hints_at(uint32_t nslots, uint32_t stack_stride)
{
	return agent_ring_copy_at(nslots, stack_stride, nslots);
}

/* Hints: what the profiler's unwinding of a stack read, which the agent
 * compares with its own before it copies it.  The profiler keeps the
 * unwind of every stack it saw (by IP, SP and copy length) with the stack
 * words and registers it read; an unwind that reads the same values reads
 * nothing else and gives the same frames.  It writes them here after
 * unwinding a copy; a sample whose IP, SP, length and every word and
 * register a hint names are equal writes only those words into its slot's
 * copy (sparse), at their offsets, rather than the whole stack: 5.7 KiB a
 * sample on alloc_heavy against 13 words (and 3 registers compared).  The other bytes of the copy are
 * an earlier sample's, which the unwind never reads.  A hint is written by
 * the profiler alone, under seq (odd while it writes; 0: none), and read
 * by the agent's threads. */
#define AGENT_RING_HINTS 128
#define AGENT_HINT_WAYS 4 /* the hints a stack's SP may be in, one after another */
#define AGENT_HINT_WORDS 126
#define AGENT_HINT_REG (1ull << 63) /* where: a register, its index in regs, then args */

struct agent_ring_hint {
	uint64_t seq;
	uint64_t ip, sp;
	uint32_t stack_len, nwords;
	struct agent_hint_word {
		uint64_t where; /* an offset from sp, or AGENT_HINT_REG | index */
		uint64_t value;
	} words[AGENT_HINT_WORDS];
};

/* A slot's sparse: which hint its copy matched, so that the profiler, which
 * knows what unwind it published that hint from, need not compare the
 * words again: the way of the stack's set, and bits 1-28 of the hint's seq
 * (a hint written again since, 2^28 times over, would be taken for it).
 * Any value but 0 is a copy in part (bit 0 alone: which hint, not said). */
#define AGENT_SPARSE 1u
#define AGENT_SPARSE_NAMED 2u
static inline uint32_t agent_ring_sparse(uint32_t way, uint64_t seq)
{
	return AGENT_SPARSE | AGENT_SPARSE_NAMED | way << 2 | (uint32_t)(seq >> 1) << 4;
}

/* The first of the AGENT_HINT_WAYS hints a stack may be in, by its stack
 * pointer (the IP is the agent's own): stacks at one SP (calls from
 * sibling functions whose frames are of one size) take one each. */
static inline uint32_t agent_ring_hint_index(uint64_t sp)
{
	return (uint32_t)((sp >> 4) * 0x9E3779B97F4A7C15ull >> 32) % (AGENT_RING_HINTS / AGENT_HINT_WAYS) *
	       AGENT_HINT_WAYS;
}

/* The control functions, called by the profiler's injection:
 *   int smolder_agent_start(uint64_t rate, uint64_t ring_stack): hooks, then
 *     samples every rate bytes on average, into a ring whose slots copy
 *     ring_stack bytes of stack (0: no ring, markers only); the number of
 *     GOT entries changed, or a negative enum agent_status;
 *   int smolder_agent_stop(void): stops sampling and puts back every entry
 *     it changed; the number put back. */
#define AGENT_START "smolder_agent_start"
#define AGENT_STOP "smolder_agent_stop"

/* A launched command's agent starts at load with this rate (bytes), and
 * this ring_stack (bytes; absent: 0). */
#define AGENT_RATE_ENV "SMOLDER_AGENT_RATE"
#define AGENT_RING_ENV "SMOLDER_AGENT_RING"

#define AGENT_DEFAULT_RATE 524288

enum agent_func {
	AGENT_MALLOC,
	AGENT_CALLOC,
	AGENT_REALLOC,
	AGENT_POSIX_MEMALIGN,
	AGENT_ALIGNED_ALLOC,
	AGENT_MEMALIGN,
	AGENT_FUNCS
};

enum agent_status {
	AGENT_NO_MALLOC = 1,  /* the process has no malloc the agent can call */
	AGENT_NO_IMPORTS = 2, /* no module imports an allocation function */
};

#endif
