/* A recording session: composes the events, the targets and the aggregate,
 * and runs the loop in which the reader's thread copies records into the
 * queue and the worker's thread aggregates them. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "profiler/profiler-internal.h"

/* ---- the reader ---- */

static uint64_t main_stack_start(void *ctx, uint32_t pid)
{
	return stack_tops_get(&((struct profiler *)ctx)->stack_tops, (pid_t)pid);
}

/* An exec gives a process another stack; its exit frees its pid, and
 * leaves its agent's ring to read a last time. */
static void note_exec_or_exit(struct profiler *s, const struct perf_event_header *h)
{
	struct comm_record c;
	struct fork_record e; /* an exit's fields are a fork's */
	if (h->type == PERF_RECORD_COMM && comm_parse(h, &c) && c.exec) {
		stack_tops_forget(&s->stack_tops, (pid_t)c.pid);
	} else if (h->type == PERF_RECORD_EXIT && fork_parse(h, &e) && e.pid == e.tid) {
		stack_tops_forget(&s->stack_tops, (pid_t)e.pid);
		agent_rings_exited(&s->rings, (pid_t)e.pid);
	}
}

/* The reader's handler: copy and move on (a crowded queue gets samples
 * without their stacks, so that waiting for room is short; the kernel's
 * buffers hold what comes meanwhile).  An agent's ring is learned. */
static void enqueue_record(const struct perf_event_header *h, void *ctx)
{
	struct profiler *s = ctx;
	if (agent_rings_take_marker(&s->rings, h))
		return;
	note_exec_or_exit(s, h);
	struct record_piece pieces[5];
	struct perf_event_header head;
	uint64_t stack_size;
	uint32_t n = record_pieces(&s->events, h, record_queue_crowded(&s->queue), main_stack_start, s, pieces, &head,
				   &stack_size);
	if (!record_queue_push(&s->queue, pieces, n))
		__atomic_add_fetch(&s->stats.unwind_dropped, 1, __ATOMIC_RELAXED);
}

/* The sampled alloc view alone queues a few hundred small records a pass
 * (the agents' slots, by reference): handling them on the reader is
 * cheaper than waking a thread to, and the slots then go back within the
 * pass. */
static bool drained_by_reader(const struct profiler_options *o)
{
	return o->views == VIEW_ALLOC && o->alloc_mode == ALLOC_SAMPLED;
}

/* One pass over every CPU's buffer.  A record is in its buffer within
 * microseconds of its time: all those older than the pass's start (with a
 * millisecond to spare) are then queued, and the worker may order them
 * without fear of an older one coming later from another CPU.  An agent's
 * ring may still hold older samples (a slot its thread has not finished
 * writing, or no room to read it into): the mark waits for them, or the
 * free of a block could be handled before its allocation. */
static void read_all(struct profiler *s)
{
	uint64_t start = monotonic_ns();
	event_set_read(&s->events, enqueue_record, s);
	agent_rings_read(&s->rings, &s->queue);
	s->stats.agent_ring_samples = s->rings.samples;
	s->stats.agent_ring_sparse = s->rings.sparse;
	s->stats.agent_rings = s->rings.rings_seen;
	s->stats.agent_rings_shared = s->rings.rings_mapped;
	s->stats.unwind_dropped += s->rings.dropped;
	s->rings.dropped = 0;
	s->stats.agent_trapped_samples = s->rings.trapped;
	s->stats.agent_ring_waits = s->rings.waits;
	uint64_t settled = s->rings.settled_ns < start ? s->rings.settled_ns : start;
	record_queue_mark(&s->queue, settled > 1000000ull ? settled - 1000000ull : 0);
	if (drained_by_reader(&s->o)) {
		record_queue_drain(&s->queue, &s->consumer, false);
		agent_rings_give_back_handled(&s->rings, &s->queue);
	}
}

/* ---- the worker ---- */

static void on_record(const struct perf_event_header *h, void *ctx)
{
	aggregate_record(&((struct profiler *)ctx)->agg, h);
}

static uint64_t time_of(const struct perf_event_header *h, void *ctx)
{
	return record_timestamp(&((const struct profiler *)ctx)->events, h);
}

static void *worker_main(void *arg)
{
	struct profiler *s = arg;
	while (record_queue_drain(&s->queue, &s->consumer, true))
		;
	return NULL;
}

/* Stops the worker once it has handled everything queued. */
static void worker_stop(struct profiler *s)
{
	if (!s->worker_running)
		return;
	record_queue_close(&s->queue);
	if (drained_by_reader(&s->o))
		while (record_queue_drain(&s->queue, &s->consumer, false))
			;
	else
		pthread_join(s->worker, NULL);
	s->worker_running = false;
}

/* ---- opening ---- */

/* Events come in bursts a sampling rate never makes: each copies less. */
static uint32_t event_stack_size(const struct profiler_options *o)
{
	return o->event_stack_size ? o->event_stack_size : o->stack_size ? o->stack_size : 8192;
}

uint32_t profiler_agent_ring_stack(const struct profiler_options *o)
{
	return o->unwind == UNWIND_FP ? 0 : event_stack_size(o) & ~7u;
}

static void apply_defaults(struct profiler_options *o)
{
	if (!o->frequency)
		o->frequency = 99;
	o->event_stack_size = event_stack_size(o);
	if (!o->stack_size)
		o->stack_size = 16384;
	o->stack_size &= ~7u;
	o->event_stack_size &= ~7u;
	if (!o->views)
		o->views = VIEW_CPU;
	if (!o->alloc_period)
		o->alloc_period = PROFILER_DEFAULT_ALLOC_PERIOD;
	if (!o->alloc_rate)
		o->alloc_rate = AGENT_DEFAULT_RATE;
	if (!o->unwind_image_cap)
		o->unwind_image_cap = PROFILER_DEFAULT_UNWIND_FILES;
	/* About half a second of DWARF samples at 999 Hz on two CPUs, on top of
	 * the kernel's buffers: a larger queue only shows in peak RSS (64 MiB
	 * lost more events in bench/views.sh, not fewer, and doubled the RSS).
	 * Drained by the reader, it holds a pass's records: 2 MiB (a pass of
	 * a full 512-slot ring takes 0.3 MiB; a full queue is drained at once),
	 * which took 15 MiB off the peak RSS of a 4.5 s attached recording (39
	 * MiB against 54; its CPU the same, 0.29 s, medians of 4 pairs). */
	if (!o->queue_bytes)
		o->queue_bytes = (size_t)(drained_by_reader(o) ? 2 : o->unwind == UNWIND_FP ? 8 : 16) << 20;
}

/* Launch mode: the command forked and held, its events opened on it. */
static int open_launch(struct profiler *s, struct profiler_error *err)
{
	if (targets_launch(&s->targets, s->o.argv, s->o.envp, err))
		return -1;
	s->events.child = s->targets.child;
	if (event_set_choose_cpu_event(&s->events, s->targets.child, err) ||
	    ((s->o.views & VIEW_ALLOC) && event_set_find_probes(&s->events, 0, err)) ||
	    event_set_setup_views(&s->events, err) || event_set_open_thread(&s->events, s->targets.child, err) < 0)
		return -1;
	char comm[16];
	const char *base = strrchr(s->o.argv[0], '/');
	snprintf(comm, sizeof(comm), "%s", base ? base + 1 : s->o.argv[0]);
	struct process_maps *pm;
	if (!aggregate_thread_add(&s->agg, s->targets.child, s->targets.child, comm, 0) ||
	    !(pm = aggregate_process(&s->agg, s->targets.child, true))) {
		profiler_set_error(err, PROFILER_E_NOMEM, 0, 0, "the thread table");
		return -1;
	}
	pm->loaded = true; /* its maps come with exec */
	return 0;
}

static bool agent_sampled(const struct profiler *s)
{
	return (s->o.views & VIEW_ALLOC) && s->o.alloc_mode == ALLOC_SAMPLED;
}

static bool attaches_agent(const struct profiler *s)
{
	return agent_sampled(s) && !s->targets.child && !s->o.all_cpus;
}

/* The agent's file as each process sees it; its uprobes go on that file,
 * which must then be one for them all. */
static int find_agent_targets(struct profiler *s, struct profiler_error *err)
{
	s->agent_targets = calloc(s->o.npids, sizeof(*s->agent_targets));
	if (!s->agent_targets) {
		profiler_set_error(err, PROFILER_E_NOMEM, 0, 0, "the agent's targets");
		return -1;
	}
	for (uint32_t i = 0; i < s->o.npids; i++)
		s->agent_targets[i] = (struct agent_target){ .fd = -1, .target_fd = -1 };
	for (uint32_t i = 0; i < s->o.npids; i++) {
		if (agent_target_find(s->o.pids[i], s->o.agent_path, &s->agent_targets[i], err))
			return -1;
		if (i && !same_inode(s->agent_targets[i].fd, s->agent_targets[0].fd)) {
			char what[128];
			snprintf(what, sizeof(what), "it sees another agent file than pid %d does (another container?), "
				 "and one recording probes one: record them apart", (int)s->o.pids[0]);
			profiler_set_error(err, PROFILER_E_AGENT, 0, s->o.pids[i], what);
			return -1;
		}
	}
	if (agent_probes_adopt(&s->events.agent, fcntl(s->agent_targets[0].fd, F_DUPFD_CLOEXEC, 0))) {
		profiler_set_error(err, PROFILER_E_AGENT, errno, 0, s->o.agent_path);
		return -1;
	}
	return 0;
}

/* Attach mode: every thread of every process. */
static int open_attach(struct profiler *s, struct profiler_error *err)
{
	for (uint32_t i = 0; i < s->o.npids; i++) {
		if (kill(s->o.pids[i], 0) && errno == ESRCH) {
			profiler_set_error(err, PROFILER_E_NO_SUCH_PROCESS, ESRCH, s->o.pids[i], NULL);
			return -1;
		}
	}
	if (event_set_choose_cpu_event(&s->events, s->o.pids[0], err) || event_set_setup_views(&s->events, err) ||
	    (attaches_agent(s) && find_agent_targets(s, err)))
		return -1;
	for (uint32_t i = 0; i < s->o.npids; i++)
		if (((s->o.views & VIEW_ALLOC) && event_set_find_probes(&s->events, s->o.pids[i], err)) ||
		    targets_attach(&s->targets, &s->events, &s->agg, s->o.pids[i], err))
			return -1;
	return 0;
}

/* The whole host (or a cgroup): CPU-wide events; with a command, launched
 * and held before exec, for as long as it runs. */
static int open_host(struct profiler *s, struct profiler_error *err)
{
	if (s->o.views & VIEW_ALLOC) {
		profiler_set_error(err, PROFILER_E_HOST_VIEW, 0, 0, NULL);
		return -1;
	}
	if (s->o.argv && targets_launch(&s->targets, s->o.argv, s->o.envp, err))
		return -1;
	s->events.child = s->targets.child;
	return (s->o.cgroup && event_set_open_cgroup(&s->events, s->o.cgroup, err)) ||
			       event_set_choose_cpu_event(&s->events, -1, err) || event_set_setup_views(&s->events, err) ||
			       event_set_open_thread(&s->events, -1, err) < 0
		       ? -1
		       : 0;
}

int profiler_open(struct profiler **out, const struct profiler_options *o, struct profile *p,
		  struct profiler_error *err)
{
	memset(err, 0, sizeof(*err));
	struct profiler *s = calloc(1, sizeof(*s));
	if (!s) {
		profiler_set_error(err, PROFILER_E_NOMEM, 0, 0, "the session");
		return -1;
	}
	s->o = *o;
	s->p = p;
	apply_defaults(&s->o);
	targets_init(&s->targets);
	pthread_mutex_init(&s->profile_lock, NULL);
	s->lock_ready = true;
	if (event_set_init(&s->events, &s->o, err))
		goto fail;
	agent_rings_init(&s->rings, &s->events, monotonic_ns());
	if (aggregate_init(&s->agg, p, &s->o, &s->events, &s->stats)) {
		profiler_set_error(err, PROFILER_E_NOMEM, 0, 0, "the profile's value types and the unwinder");
		goto fail;
	}
	s->consumer = (struct record_consumer){ on_record, time_of, s, &s->profile_lock };
	if (record_queue_init(&s->queue, s->o.queue_bytes)) {
		profiler_set_error(err, PROFILER_E_NOMEM, 0, 0, "the unwinding queue");
		goto fail;
	}
	if (drained_by_reader(&s->o)) {
		record_queue_consume_inline(&s->queue, &s->consumer);
		agent_rings_drained_in_pass(&s->rings, s->agg.unwinder);
	}
	if (s->o.all_cpus ? open_host(s, err) : s->o.argv ? open_launch(s, err) : open_attach(s, err))
		goto fail;
	event_set_keep_markers(&s->events);
	/* A hardware counter's period is cycles: charge the time it stands for. */
	s->agg.sample_ns = s->events.attr.type == PERF_TYPE_HARDWARE ? 1000000000ull / s->o.frequency : 0;
	*out = s;
	return 0;
fail:
	profiler_free(s);
	return -1;
}

/* ---- running ---- */

/* The targets' pidfds join the poll, so that their exit wakes us at once
 * (the timeout is only for the status line and the duration). */
static int *open_pidfds(const struct profiler *s, uint32_t *n)
{
	*n = s->targets.child ? 1 : s->o.npids;
	int *pidfds = calloc(*n ? *n : 1, sizeof(*pidfds));
	for (uint32_t i = 0; pidfds && i < *n; i++)
		pidfds[i] = process_pidfd(s->targets.child ? s->targets.child : s->o.pids[i]);
	if (!pidfds)
		*n = 0;
	return pidfds;
}

static void close_pidfds(int *pidfds, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (pidfds[i] >= 0)
			close(pidfds[i]);
	free(pidfds);
}

/* How soon to read again: when the fastest-filling agent's ring is due
 * (agent_rings.c), between 2 and 50 ms. */
static int ring_read_interval_ms(const struct agent_rings *r)
{
	uint64_t ms = r->read_due_ns / 1000000;
	return ms < 2 ? 2 : ms > 50 ? 50 : (int)ms;
}

/* Reads until the duration ends, *stop, every target exits, or the worker
 * fails. */
static void read_loop(struct profiler *s, struct pollfd *pfd, const int *pidfds, uint32_t npidfds,
		      volatile bool *stop, void (*progress)(const struct profiler_stats *, void *), void *arg)
{
	uint64_t deadline = s->o.duration > 0 ? s->start_ns + (uint64_t)(s->o.duration * 1e9) : 0;
	uint64_t next_progress = 0, next_exit_check = 0;
	while (!*stop) {
		nfds_t n = 0;
		for (uint32_t i = 0; i < s->events.ncpus; i++)
			pfd[n++] = (struct pollfd){ .fd = s->events.cpus[i].fd, .events = POLLIN };
		for (uint32_t i = 0; i < npidfds; i++)
			pfd[n++] = (struct pollfd){ .fd = pidfds[i], .events = POLLIN };
		/* The watermark wakes us when a buffer is a quarter full; otherwise
		 * read every 50 ms to keep the status line and the checks below
		 * live, or sooner while an agent's ring fills fast. */
		if (poll(pfd, n, ring_read_interval_ms(&s->rings)) < 0 && errno != EINTR)
			break;
		read_all(s);
		uint64_t t = monotonic_ns();
		s->stats.elapsed = (double)(t - s->start_ns) / 1e9;
		if (deadline && t >= deadline) {
			s->duration_ended = true;
			break;
		}
		/* A target's exit wakes its pidfd; the look at /proc (which costs
		 * the target its locks) is otherwise only every 100 ms. */
		bool woken = false;
		for (uint32_t i = 0; i < npidfds; i++)
			woken |= pfd[s->events.ncpus + i].revents != 0;
		if ((woken || t >= next_exit_check) && targets_exited(&s->targets, &s->o, &s->stats)) {
			s->stats.targets_exited = true;
			break;
		}
		if (t >= next_exit_check)
			next_exit_check = t + 100000000ull;
		if (progress && t >= next_progress) {
			/* The worker is between batches while we hold this: the
			 * profile and the stats are consistent. */
			pthread_mutex_lock(&s->profile_lock);
			int published = aggregate_publish_threads(&s->agg);
			progress(&s->stats, arg);
			pthread_mutex_unlock(&s->profile_lock);
			if (published) {
				__atomic_store_n(&s->agg.fatal, published, __ATOMIC_RELAXED);
				break;
			}
			next_progress = t + 100000000ull;
		}
		if (__atomic_load_n(&s->agg.fatal, __ATOMIC_RELAXED))
			break;
	}
}

/* The sampled alloc view of running processes: the agent loaded and
 * started in each, once its markers' uprobes are on. */
static int start_agents(struct profiler *s, struct profiler_error *err)
{
	for (uint32_t i = 0; i < s->o.npids; i++) {
		struct agent_call_result res;
		if (agent_inject_call(s->o.pids[i], &s->agent_targets[i], true, s->o.alloc_rate, profiler_agent_ring_stack(&s->o),
				      &res, err))
			return -1;
		if (res.stopped_ns / 1e6 > s->stats.agent_stop_ms)
			s->stats.agent_stop_ms = (double)res.stopped_ns / 1e6;
		if (res.value < 0) {
			profiler_set_error(err, PROFILER_E_AGENT, 0, s->o.pids[i],
					   res.value == -AGENT_NO_MALLOC ? "the process has no malloc the agent can call"
									 : "no module of the process imports malloc or free "
									   "(its own allocator?)");
			return -1;
		}
		s->stats.agent_hooks += res.value;
	}
	return 0;
}

/* Puts every GOT entry back, in the processes still there. */
static void stop_agents(struct profiler *s)
{
	for (uint32_t i = 0; i < s->o.npids; i++) {
		struct agent_call_result res;
		struct profiler_error ignored;
		if (kill(s->o.pids[i], 0) == 0 &&
		    agent_inject_call(s->o.pids[i], &s->agent_targets[i], false, 0, 0, &res, &ignored))
			s->stats.agent_detach_failed++;
		else if (res.stopped_ns / 1e6 > s->stats.agent_stop_ms)
			s->stats.agent_stop_ms = (double)res.stopped_ns / 1e6;
	}
}

int profiler_run(struct profiler *s, volatile bool *stop, void (*progress)(const struct profiler_stats *, void *),
		 void *arg, struct profiler_error *err)
{
	memset(err, 0, sizeof(*err));
	s->cut_ns = monotonic_ns();
	__atomic_store_n(&s->start_ns, s->cut_ns, __ATOMIC_RELEASE);
	if (s->o.all_cpus) {
		event_set_enable(&s->events, true); /* CPU-wide events do not enable at a command's exec */
		/* After the enable: a process started later has its records. */
		pthread_mutex_lock(&s->profile_lock);
		int noted = aggregate_note_process_names(&s->agg);
		pthread_mutex_unlock(&s->profile_lock);
		if (noted) {
			event_set_enable(&s->events, false);
			profiler_set_error(err, PROFILER_E_NOMEM, 0, 0, "the processes' names");
			return -1;
		}
	}
	if (targets_start(&s->targets, &s->events, s->o.argv, err))
		return -1;
	if (attaches_agent(s) && start_agents(s, err)) {
		event_set_enable(&s->events, false);
		stop_agents(s);
		return -1;
	}
	/* Another thread may be reading the profile (profiler_with_profile). */
	pthread_mutex_lock(&s->profile_lock);
	int meta = metadata_write_start(s);
	pthread_mutex_unlock(&s->profile_lock);
	if (meta) {
		profiler_set_error(err, PROFILER_E_NOMEM, 0, 0, "the profile's metadata");
		return -1;
	}
	uint32_t npidfds;
	int *pidfds = open_pidfds(s, &npidfds);
	struct pollfd *pfd = calloc(s->events.ncpus + npidfds, sizeof(*pfd));
	if (!pidfds || !pfd || (!drained_by_reader(&s->o) && pthread_create(&s->worker, NULL, worker_main, s))) {
		free(pfd);
		close_pidfds(pidfds, npidfds);
		profiler_set_error(err, PROFILER_E_NOMEM, 0, 0, "the unwinding thread");
		return -1;
	}
	s->worker_running = true;
	read_loop(s, pfd, pidfds, npidfds, stop, progress, arg);
	free(pfd);
	close_pidfds(pidfds, npidfds);
	s->stop_ns = monotonic_ns();
	/* The agents first, so that the frees they still hold are seen. */
	if (attaches_agent(s))
		stop_agents(s);
	event_set_enable(&s->events, false);
	read_all(s); /* drain what is left: every record is in the queue now */
	/* Closed now, not once the queue is unwound and the profile written: a
	 * uprobe traps, enabled or not, while its event is open, and the exact
	 * alloc view's would slow the targets all that time. */
	event_set_close(&s->events);
	worker_stop(s);
	agent_rings_give_back_all(&s->rings);
	s->stats.elapsed = (double)(s->stop_ns - s->start_ns) / 1e9;
	/* Ended by its duration, the recording leaves a launched command to
	 * run on: profiler_wait_command waits for it, once the profile is out. */
	if (!s->duration_ended || *stop)
		targets_finish(&s->targets, *stop, &s->stats);
	s->stats.command_running = s->targets.child && !s->targets.child_reaped;
	if (progress)
		progress(&s->stats, arg);
	if (s->agg.fatal) {
		profiler_set_error(err, PROFILER_E_PROFILE, 0, 0, profile_strerror((enum profile_error)-s->agg.fatal));
		return -1;
	}
	return 0;
}

int profiler_finish(struct profiler *s, struct profiler_error *err)
{
	if (((s->o.views & VIEW_ALLOC) && aggregate_add_in_use(&s->agg)) || metadata_write(s)) {
		profiler_set_error(err, PROFILER_E_NOMEM, 0, 0, "the profile's metadata");
		return -1;
	}
	return 0;
}

/* profiler_cut's work, with the profile held still. */
static int cut_locked(struct profiler *s, struct profile *dst, pid_t **mapping_pids)
{
	uint64_t now = s->worker_running ? monotonic_ns() : s->stop_ns;
	uint32_t *mapping_of = malloc(((size_t)s->p->mappings.count + 1) * sizeof(*mapping_of));
	if (!mapping_of || aggregate_publish_threads(&s->agg) ||
	    ((s->o.views & VIEW_ALLOC) && aggregate_add_in_use(&s->agg)) || profile_take_samples(dst, s->p, mapping_of)) {
		free(mapping_of);
		return -1;
	}
	int rc = metadata_write_interval(s, dst, s->cut_ns, now, &s->cut_stats);
	pid_t *pids = calloc((size_t)dst->mappings.count + 1, sizeof(*pids));
	const pid_t *all = s->agg.mapping_pids.data;
	for (uint32_t i = 0; pids && i < dst->mappings.count; i++)
		pids[i] = mapping_of[i] < s->agg.mapping_pids.count ? all[mapping_of[i]] : 0;
	free(mapping_of);
	/* The interval is cut whatever else fails: its samples are in dst. */
	s->cut_ns = now;
	s->cut_stats = s->stats;
	*mapping_pids = pids;
	return rc || !pids ? -1 : 0;
}

int profiler_cut(struct profiler *s, struct profile *dst, pid_t **mapping_pids, struct profiler_error *err)
{
	memset(err, 0, sizeof(*err));
	*mapping_pids = NULL;
	pthread_mutex_lock(&s->profile_lock);
	int rc = cut_locked(s, dst, mapping_pids);
	pthread_mutex_unlock(&s->profile_lock);
	if (rc)
		profiler_set_error(err, PROFILER_E_NOMEM, 0, 0, "an interval of the recording");
	return rc;
}

const struct profiler_stats *profiler_stats(const struct profiler *s)
{
	return &s->stats;
}

uint64_t profiler_started_ns(const struct profiler *s)
{
	return __atomic_load_n(&s->start_ns, __ATOMIC_ACQUIRE);
}

void profiler_with_profile(struct profiler *s,
			   void (*fn)(const struct profile *p, const pid_t *mapping_pids, uint32_t npids, void *arg),
			   void *arg)
{
	pthread_mutex_lock(&s->profile_lock);
	fn(s->p, s->agg.mapping_pids.data, s->agg.mapping_pids.count, arg);
	pthread_mutex_unlock(&s->profile_lock);
}

const pid_t *profiler_mapping_pids(const struct profiler *s, uint32_t *count)
{
	*count = s->agg.mapping_pids.count;
	return s->agg.mapping_pids.data;
}

void profiler_wait_command(struct profiler *s, volatile bool *stop)
{
	targets_wait(&s->targets, stop, &s->stats);
	s->stats.command_running = false;
}

void profiler_free(struct profiler *s)
{
	if (!s)
		return;
	worker_stop(s);
	record_queue_release(&s->queue);
	agent_rings_release(&s->rings);
	stack_tops_release(&s->stack_tops);
	event_set_release(&s->events);
	for (uint32_t i = 0; s->agent_targets && i < s->o.npids; i++)
		agent_target_release(s->o.pids[i], &s->agent_targets[i]);
	free(s->agent_targets);
	targets_release(&s->targets);
	aggregate_release(&s->agg);
	if (s->lock_ready)
		pthread_mutex_destroy(&s->profile_lock);
	free(s);
}
