/* profiler: samples processes with perf_event_open(2) and aggregates their
 * stacks into a profile while they run.
 *
 * A session attaches to the threads of running processes (or launches a
 * command with the events enabled at exec), reads the kernel's ring buffers,
 * unwinds each sample at once (the kernel's frame-pointer callchain, or DWARF
 * CFI on a copy of the user stack), and adds it to the profile's stack table,
 * so memory grows with unique stacks, not with time.  It never stops, traces
 * or changes the target.  Library code: errors are returned, not printed. */
#ifndef SMOLDER_PROFILER_H
#define SMOLDER_PROFILER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "profile/profile.h"

#define PROFILER_ERRORS                                                                   \
	PROFILER_ERROR(OK, "success")                                                     \
	PROFILER_ERROR(NOMEM, "out of memory")                                            \
	PROFILER_ERROR(NO_SUCH_PROCESS, "no such process")                                \
	PROFILER_ERROR(PERMISSION, "not permitted to profile")                            \
	PROFILER_ERROR(NO_EVENT, "the event is not supported here")                       \
	PROFILER_ERROR(FD_LIMIT, "too many open files")                                   \
	PROFILER_ERROR(MMAP, "cannot map the perf ring buffer")                           \
	PROFILER_ERROR(LAUNCH, "cannot launch the command")                               \
	PROFILER_ERROR(OPEN, "perf_event_open failed")                                    \
	PROFILER_ERROR(NO_TRACEFS, "tracefs is not mounted")                              \
	PROFILER_ERROR(TRACEFS_DENIED, "tracefs is not readable")                         \
	PROFILER_ERROR(NO_LIBC, "the target has no C library mapped")                     \
	PROFILER_ERROR(UPROBE_DENIED, "not permitted to place uprobes")                   \
	PROFILER_ERROR(HOST_DENIED, "not permitted to profile the whole host")            \
	PROFILER_ERROR(HOST_VIEW, "the alloc view follows one program, not the host")     \
	PROFILER_ERROR(CGROUP, "cannot open the cgroup")                                  \
	PROFILER_ERROR(AGENT, "cannot use the allocation agent")                          \
	PROFILER_ERROR(PTRACE_DENIED, "not permitted to load the agent into the process") \
	PROFILER_ERROR(STATIC, "the program is statically linked")                        \
	PROFILER_ERROR(NO_SAFE_POINT, "no thread of the process came to a safe point")    \
	PROFILER_ERROR(PROFILE, "cannot write the profile")

enum profiler_errcode {
#define PROFILER_ERROR(name, msg) PROFILER_E_##name,
	PROFILER_ERRORS
#undef PROFILER_ERROR
	PROFILER_E_COUNT
};

/* What went wrong, with what is needed to explain it and suggest a fix. */
struct profiler_error {
	enum profiler_errcode code;
	int sys_errno;   /* errno of the failing call, 0 if none */
	pid_t pid;       /* the process concerned, 0 if none */
	bool own;        /* it runs as our user: a refusal is the kernel settings', not its owner's */
	char what[256];  /* the object: a command, a path, an event name */
};

/* One line: what failed and why, then the fix with the current value of the
 * setting that decides it (perf_event_paranoid, ulimit -n,
 * perf_event_mlock_kb), as perf's evsel__open_strerror() does. */
void profiler_explain(const struct profiler_error *e, char *buf, size_t len);

enum unwind_mode {
	UNWIND_AUTO, /* DWARF for user frames, the kernel's callchain for kernel frames */
	UNWIND_FP,   /* the kernel's frame-pointer callchain */
	UNWIND_DWARF,
};

enum alloc_mode {
	ALLOC_SAMPLED, /* the agent inside the process samples by bytes */
	ALLOC_EXACT,   /* uprobes on every call of the C library's functions */
};

enum profiler_view {
	VIEW_CPU = 1 << 0,
	VIEW_OFFCPU = 1 << 1,
	VIEW_IO = 1 << 2,
	VIEW_ALLOC = 1 << 3,
};

struct profiler_options {
	const pid_t *pids; /* attach to these processes ... */
	uint32_t npids;
	char *const *argv; /* ... or launch this command (with all_cpus: for as long as it runs) */
	bool all_cpus;     /* every process on every CPU (perf's -a) ... */
	const char *cgroup; /* ... or only those of this cgroup v2 (a path in /sys/fs/cgroup, or under it) */
	double duration;   /* seconds; 0: until stopped or the targets exit */
	uint32_t frequency;
	enum unwind_mode unwind;
	uint32_t stack_size; /* bytes of user stack copied per cpu sample (DWARF); 0: 16384 */
	uint32_t event_stack_size; /* per offcpu, io or alloc event; 0: stack_size if given, else 8192 */
	bool kernel;         /* kernel frames too */
	unsigned views;      /* enum profiler_view bits */
	const char *force_event; /* "cpu-clock" or "cycles": skip the PMU probe (tests) */
	uint64_t io_min_latency; /* io view: keep only calls at least this slow (ns) */
	enum alloc_mode alloc_mode;
	uint64_t alloc_rate;     /* alloc view, sampled: a sample every this many bytes on average; 0: 512 KiB */
	const char *agent_path;  /* alloc view, sampled: libsmolder-agent.so */
	char *const *envp;       /* a launched command's environment; NULL: ours */
	uint32_t alloc_period;   /* alloc view, exact: one call in this many, with its stack */
	const char *search_path; /* where a command is looked for (PATH's syntax); NULL: the default */
	size_t queue_bytes;      /* the unwinding queue; 0: the default (tests shrink it) */
	uint32_t unwind_image_cap; /* DWARF: mapped files kept at most; 0: the default (tests shrink it) */
	bool times;              /* every sample's time, as the profile's events (the caller forgets
				  * them once written: they grow with time, not with stacks) */
};

/* Every call is probed whatever the period (a uprobe traps each time); the
 * period bounds the stacks copied and unwound.  A prime does not fall in
 * step with the loops of a program. */
#define PROFILER_DEFAULT_ALLOC_PERIOD 61

/* DWARF: mapped files the unwinder keeps at most (the least recently used
 * go, and are read again when a sample needs them). */
#define PROFILER_DEFAULT_UNWIND_FILES 512
/* How long a launched command told to end (SIGTERM: the recording was
 * stopped) has before it is killed, as timeout(1) -k and container runtimes do. */
#define PROFILER_TERM_GRACE_MS 5000

/* Live counters, for the status line and the summary. */
struct profiler_stats {
	uint64_t samples;
	uint64_t lost;          /* samples the kernel dropped (ring buffer full) */
	uint64_t throttled;     /* throttle events */
	uint64_t unwind_dropped;  /* samples dropped: not even their values fit the unwinding queue */
	uint64_t unwind_shed;     /* DWARF: samples kept without their stack, the queue being half full */
	uint64_t stack_truncated; /* DWARF: stack copy too small to reach the root */
	uint64_t unwind_evicted;  /* DWARF: mapped files let go to stay under the cap */
	uint32_t threads;       /* threads seen */
	double elapsed;         /* seconds since sampling began */
	bool targets_exited;
	bool has_exit_status;
	int exit_status;        /* launched command: as a shell reports it */
	bool command_killed;    /* launched command: SIGKILLed, having outlived SIGTERM's grace */
	bool command_running;   /* launched command: running on after the duration ended the recording */
	double target_cpu;      /* launched command: CPU seconds it and its waited-for children used */
	uint32_t agent_rings, agent_rings_shared; /* sampled alloc view: the agents' rings, those in shared memory */
	uint64_t agent_ring_samples;    /* ... samples read from them ... */
	uint64_t agent_ring_sparse;     /* ... of which only the words a hint named were copied ... */
	uint64_t agent_ring_known;      /* ... and of those, unwound from the hint's own unwind, not compared again ... */
	uint64_t agent_trapped_samples; /* ... and those that came through a uprobe instead */
	uint64_t agent_ring_waits;      /* ... samples whose thread waited for room in a full ring */
	int agent_hooks;        /* sampled alloc view, attached: GOT entries the agent changed */
	double agent_stop_ms;   /* ... the longest a thread was held to load or call it */
	uint32_t agent_detach_failed; /* ... processes whose agent could not be stopped */
	uint32_t agent_lost_to_exec;  /* ... attached processes that exec'd: the agent went with the old program */
	uint32_t agent_musl;          /* ... processes on musl's C library (a launched command's children), which
				       * the agent cannot load into: not recorded */
};

struct profiler;

/* Opens the events on the targets (and forks the command, held before exec).
 * On failure returns -1 and fills *err; nothing is left running. */
int profiler_open(struct profiler **out, const struct profiler_options *o, struct profile *p,
		  struct profiler_error *err);

/* Samples until the duration ends, *stop becomes true (a signal handler sets
 * it), or every target has exited.  Calls progress about ten times a second
 * (may be NULL).  Aggregates into the profile given to profiler_open. */
int profiler_run(struct profiler *s, volatile bool *stop,
		 void (*progress)(const struct profiler_stats *, void *), void *arg,
		 struct profiler_error *err);

/* Adds the recording's metadata (event, rate, lost counts, duration...) and
 * threads to the profile; call once sampling is over. */
int profiler_finish(struct profiler *s, struct profiler_error *err);

const struct profiler_stats *profiler_stats(const struct profiler *s);

/* When sampling began (CLOCK_MONOTONIC, ns; the duration counts from it),
 * or 0 before profiler_run: for another thread's intervals. */
uint64_t profiler_started_ns(const struct profiler *s);

/* The stack bytes each sample of the agent's ring copies (its
 * AGENT_RING_ENV for a launched command): the events' copy with DWARF
 * unwinding; 0 (no ring: every sample through the marker's uprobe, whose
 * kernel walks the frame pointers) with frame pointers. */
uint32_t profiler_agent_ring_stack(const struct profiler_options *o);

/* What would lose fewer samples, for a warning: "lower -F to keep up"... */
const char *profiler_keep_up_hint(const struct profiler *s);

/* The process each mapping of the profile belongs to (0 for the kernel), so
 * that the symbolizer can open files through /proc/PID/root. */
const pid_t *profiler_mapping_pids(const struct profiler *s, uint32_t *count);

/* Calls fn with the profile held still (the recording goes on; its records
 * wait meanwhile) and the process of each of its mappings: for another thread
 * reading the profile during profiler_run.  fn must be quick. */
void profiler_with_profile(struct profiler *s,
			   void (*fn)(const struct profile *p, const pid_t *mapping_pids, uint32_t npids,
				      void *arg),
			   void *arg);

/* Continuous profiling: moves what was recorded since the last cut (or the
 * start) into dst (initialized, empty) as a profile of its own, with its
 * start, duration and counts, while the recording goes on; its names are
 * not lost to the next interval, and the recording's memory no longer
 * grows with time (only with stacks never seen before).  The alloc view
 * adds what is in use at the cut.  *mapping_pids (malloc'd, one per mapping
 * of dst) is for symbolizer_run.  Call it during profiler_run from another
 * thread, or after it (the last interval), never with profiler_finish.
 * 0, or -1 with *err filled (out of memory: nothing was moved). */
int profiler_cut(struct profiler *s, struct profile *dst, pid_t **mapping_pids, struct profiler_error *err);

/* After profiler_run ended by the duration, a launched command may still
 * run (stats: command_running): waits for it to end, for its exit status;
 * if *stop becomes true meanwhile, tells it to end (SIGTERM, SIGKILL after
 * PROFILER_TERM_GRACE_MS). */
void profiler_wait_command(struct profiler *s, volatile bool *stop);

/* Closes everything; a launched command still running is killed and reaped. */
void profiler_free(struct profiler *s);

#endif
