/* agent: libsmolder-agent.so, the alloc view's sampler inside the target.
 *
 * Loaded by LD_PRELOAD into a launched command, or by the profiler's
 * injection (a dlopen called on a stopped thread) into a running process.
 * It rewrites the GOT entries of the allocation functions in every loaded
 * module, samples allocations by bytes (a per-thread countdown with
 * exponentially distributed intervals, as jemalloc and tcmalloc do) and
 * calls a marker function for each sampled allocation, and for the free of
 * a sampled block; the profiler's uprobes on the markers see the stack and
 * the arguments.  An unsampled call costs a thread-local subtraction and a
 * branch.  This header is what the profiler and the agent agree on. */
#ifndef SMOLDER_AGENT_H
#define SMOLDER_AGENT_H

#include <stdint.h>

#define AGENT_FILE_NAME "libsmolder-agent.so"

/* The markers, uprobed by the profiler: arguments in registers, no body.
 *   allocated(ptr, size, bytes, calls << 8 | enum agent_func): bytes and
 *     calls are the sample's unbiased estimates (size/p and 1/p, rounded at
 *     random), p being the chance that an allocation of size was sampled;
 *   freed_batch(n, addrs): n (at most 64) sampled blocks were freed (or
 *     reallocated), their addresses in the caller's frame at addrs, told
 *     before the next sample's allocated() and at least every 20 ms;
 *   freed(ptr): one was, when the batch's ring was full. */
#define AGENT_ALLOCATED_MARKER "smolder_agent_allocated"
#define AGENT_FREED_MARKER "smolder_agent_freed"
#define AGENT_FREED_BATCH_MARKER "smolder_agent_freed_batch"
#define AGENT_FREED_BATCH_MAX 64

/* The control functions, called by the profiler's injection:
 *   int smolder_agent_start(uint64_t rate): hooks, then samples every rate
 *     bytes on average; the number of GOT entries changed, or a negative
 *     enum agent_status;
 *   int smolder_agent_stop(void): stops sampling and puts back every entry
 *     it changed; the number put back. */
#define AGENT_START "smolder_agent_start"
#define AGENT_STOP "smolder_agent_stop"

/* A launched command's agent starts at load with this rate (bytes). */
#define AGENT_RATE_ENV "SMOLDER_AGENT_RATE"

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
