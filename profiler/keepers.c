/* Events that never sample and keep the alloc view's uprobes where they
 * are: the kernel may otherwise take them out of a forked child when one
 * of its threads exits. */
#include <unistd.h>

#include "profiler/profiler-internal.h"

/* An event that never samples, kept with the keepers. */
static void keep(struct event_set *es, struct perf_event_attr *attr, pid_t pid, int cpu)
{
	int fd = perf_event_open_fd(attr, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC);
	if (fd < 0)
		return;
	int *keeper = vec_push(&es->keepers, sizeof(*keeper));
	if (keeper)
		*keeper = fd;
	else
		close(fd);
}

/* Linux swaps the perf contexts of two threads of one process as it
 * switches between them when both are copies of one parent's (a forked
 * child's threads), so that a thread may exit holding its sibling's
 * inherited events.  Freeing them, the uprobe's filter
 * (trace_uprobe_filter_remove, as of 6.18) looks for another event whose
 * task still has the process's mm, finds none where the only other one is
 * the exiting thread's own (whose mm is already gone), and takes the
 * breakpoints out of a process that still runs: its allocations vanish
 * from the profile, and its agent, its marker no longer probed, stops as
 * if smolder had gone.  The markers' keepers are system-wide events (on
 * one CPU, a period too long to ever sample), which the filter always
 * finds: it then wants every process that maps the agent, and never takes
 * one out.  Only processes with the agent loaded trap on them, and they
 * sample only while a profiler listens. */
void event_set_keep_markers(struct event_set *es)
{
	for (int k = KIND_AGENT_ALLOC; k <= KIND_AGENT_RING; k++)
		if (es->kind_on[k] && es->uprobe_ids[k][0]) {
			struct perf_event_attr attr = { .type = PERF_TYPE_TRACEPOINT, .size = sizeof(attr),
							.config = es->uprobe_ids[k][0], .sample_period = 1ull << 62 };
			keep(es, &attr, -1, es->cpus[0].cpu);
		}
}

/* The exact alloc view's uprobes, on libc, cannot have system-wide keepers
 * (every process on the host would trap on every malloc; the note at
 * event_set_keep_markers): its events stay where they are instead.  An
 * inherited event that reads its count with each sample forbids Linux
 * (6.12 on) the swap of its threads' contexts; this one never samples.
 * Older kernels refuse it, and a forked child may lose its uprobes there
 * when a thread exits.  Not for the other views: every switch between a
 * process's threads then moves their events out and in. */
void event_set_hold_contexts(struct event_set *es, pid_t tid)
{
	struct perf_event_attr attr = { .type = PERF_TYPE_SOFTWARE, .size = sizeof(attr),
					.config = PERF_COUNT_SW_DUMMY, .inherit = 1,
					.sample_type = PERF_SAMPLE_READ | PERF_SAMPLE_TID, .sample_period = 1ull << 62 };
	keep(es, &attr, tid, -1);
}

void event_set_close_keepers(struct event_set *es)
{
	const int *kept = es->keepers.data;
	for (uint32_t i = 0; i < es->keepers.count; i++)
		close(kept[i]);
	es->keepers.count = 0;
}
