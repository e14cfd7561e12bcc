/* smolder record: sample a process or a command, then write a profile or a
 * flamegraph. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "profiler/profiler.h"
#include "symbolizer/symbolizer.h"

static const struct cli_usage usage = {
	.cmd = "record",
	.synopsis = "[options] -p PID[,PID...]\n[options] [--] COMMAND [ARGS...]\n[options] -a [--cgroup PATH] [[--] COMMAND [ARGS...]]",
	.description = "Samples the stacks of running processes (all their threads, including those\n"
		       "started later) or of a command it launches, and writes a flamegraph or a\n"
		       "profile. The target is never stopped or changed. Stops after -d seconds, on\n"
		       "Ctrl-C or SIGTERM, or when the targets exit; the output is complete either way.\n"
		       "With a command, exits with the command's exit status: after -d the profile is\n"
		       "written and the command waited for; stopped by Ctrl-C or SIGTERM (then or\n"
		       "before), smolder sends it SIGTERM, and SIGKILL 5 s later if it has not ended.\n",
	.footer = "Environment:\n"
		  "  DEBUGINFOD_URLS          debuginfod servers asked for debug info not found\n"
		  "                           here (when built with libdebuginfod)\n"
		  "  SMOLDER_CACHE_DIR        where compressed DWARF (Debian's -dbg files, -gz\n"
		  "                           builds), once inflated, is kept by build-id for the\n"
		  "                           next run, 2 GiB at most (default\n"
		  "                           $XDG_CACHE_HOME/smolder or ~/.cache/smolder, if yours;\n"
		  "                           empty: nothing kept)\n"
		  "  SMOLDER_DEBUGINFO_PATH   where separate debug files are looked for\n"
		  "                           (default :.debug:/usr/lib/debug)\n"
		  "  SMOLDER_SYMBOLIZE_AHEAD  0: symbolize only once sampling ends, to measure the\n"
		  "                           symbolizer (default: files are opened and addresses\n"
		  "                           looked up while recording, at nice 10 where smolder\n"
		  "                           may take its priority back: as root)\n",
	.min_operands = 0,
	.max_operands = -1,
	.stop_at_operand = true,
};

struct status {
	bool tty, quiet;
	double duration;
	const char *target;
	struct profile *p;
	struct profile_writer *w;
	double last_flush;
	bool write_failed; /* reported once, when it happened */
};

static void progress(const struct profiler_stats *st, void *arg)
{
	struct status *s = arg;
	/* Keep the on-disk prefix fresh, so a killed recorder leaves most of it. */
	if (s->w && !s->write_failed && st->elapsed - s->last_flush >= 1.0) {
		int err = profile_writer_flush(s->w, s->p);
		s->last_flush = st->elapsed;
		if (!err) /* on disk now: memory grows with stacks, not with time */
			profile_forget_events(s->p);
		if (err) {
			/* Said now, not when the target exits: the recording goes on
			 * in memory, and the end tries to write it all again. */
			s->write_failed = true;
			if (s->tty && !s->quiet)
				fputs("\r\033[K", stderr);
			cli_warn("record", "cannot write %s: %s: recording goes on in memory; free some space "
					   "before it ends", profile_writer_temp_path(s->w),
				 err == -PROFILE_E_IO ? strerror(errno) : profile_strerror((enum profile_error)-err));
		}
	}
	if (!s->tty || s->quiet)
		return;
	char dur[32] = "";
	if (s->duration > 0)
		snprintf(dur, sizeof(dur), " / %g s", s->duration);
	char stackless[48] = "";
	if (st->unwind_shed)
		snprintf(stackless, sizeof(stackless), " (%" PRIu64 " without stack)", st->unwind_shed);
	fprintf(stderr, "\r\033[Ksmolder: recording %s: %.1f s%s, %" PRIu64 " samples%s, %" PRIu64
			" lost, %u threads",
		s->target, st->elapsed, dur, st->samples, stackless, st->lost + st->unwind_dropped, st->threads);
	fflush(stderr);
}

/* The files that left addresses unnamed, and why, kept in the profile
 * for 'smolder info' ("path: reason" per line). */
static int note_unnamed_files(const struct symbolizer *z, struct profile *p)
{
	struct symbolizer_file_note notes[32];
	uint32_t n = symbolizer_file_notes(z, notes, 32);
	char buf[8192];
	size_t len = 0;
	buf[0] = '\0';
	for (uint32_t i = 0; i < n && i < 32 && len < sizeof(buf); i++) {
		size_t at = len + (i ? 1 : 0);
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s: %s", i ? "\n" : "", notes[i].path,
					symbolizer_strerror(notes[i].why));
		/* A path is the profiled process's to choose: one line each, whatever it holds. */
		for (size_t k = at; k < len && k < sizeof(buf) && k - at < strlen(notes[i].path); k++)
			if ((unsigned char)buf[k] < 0x20)
				buf[k] = '?';
	}
	if (!n || profile_set_meta(p, "unsymbolized", buf) == 0)
		return 0;
	cli_error("record", "out of memory");
	return -1;
}

/* A warning per file (a few at most) whose addresses stayed unnamed, with
 * what would name them. */
static void warn_unnamed_files(const struct symbolizer *z)
{
	struct symbolizer_file_note notes[4];
	uint32_t n = symbolizer_file_notes(z, notes, 4);
	for (uint32_t i = 0; i < n && i < 4; i++)
		cli_warn("record", "%s: %s%s", notes[i].path, symbolizer_strerror(notes[i].why),
			 notes[i].why == SYMBOLIZER_E_NO_SYMBOLS
				 ? " under /usr/lib/debug: its functions are named by their .eh_frame entries "
				   "('file+0x... (inferred)'); install its -dbg or -dbgsym package, or set "
				   "SMOLDER_DEBUGINFO_PATH or DEBUGINFOD_URLS"
				 : "");
	if (n > 4)
		cli_warn("record", "and %u more files without names (smolder info lists them)", n - 4);
}

/* What the command line asked for. */
struct record_args {
	struct profiler_options po;
	struct render_select sel;
	const char *output;
	bool quiet, no_demangle, no_times;
	struct cli_pids pids; /* owned: free with record_args_release */
	struct continuous_args c;
	bool continuous; /* --every or --push */
	char *dir_buf;   /* owned: the directory of -o DIR/ */
	struct cli_agent agent; /* owned: the sampled alloc view's */
	volatile bool *stop;    /* set by a stop signal */
};

static void record_args_release(struct record_args *a)
{
	free(a->pids.pids);
	a->pids.pids = NULL;
	free(a->dir_buf);
	cli_agent_release(&a->agent);
	a->dir_buf = NULL;
	continuous_args_release(&a->c);
}

/* -o, --every and --push together: intervals go into a directory, to a
 * server, or both; 0, or -1 after reporting. */
static int check_continuous(struct record_args *a)
{
	struct continuous_args *c = &a->c;
	a->continuous = c->every > 0 || c->push_url;
	c->quiet = a->quiet;
	if (!a->continuous) {
		const char *alone = c->keep ? "--keep" : c->spool_dir ? "--spool" : c->spool_max_mb ? "--spool-max"
				  : c->headers.count ? "--push-header" : c->tags.count ? "--tag"
				  : c->push_timeout > 0 ? "--push-timeout" : NULL;
		if (alone)
			cli_error("record", "%s goes with --every or --push", alone);
		if (!a->output)
			a->output = "smolder.svg";
		return alone ? -1 : 0;
	}
	struct stat st;
	size_t n = a->output ? strlen(a->output) : 0;
	if (a->output && ((n && a->output[n - 1] == '/') || (stat(a->output, &st) == 0 && S_ISDIR(st.st_mode)))) {
		while (n > 1 && a->output[n - 1] == '/')
			n--;
		if (!(a->dir_buf = strndup(a->output, n))) {
			cli_error("record", "out of memory");
			return -1;
		}
		c->dir = a->dir_buf;
	} else if (a->output) {
		cli_error("record", "with --every or --push, -o names a directory for the intervals: -o %s/", a->output);
		return -1;
	} else if (!c->push_url) {
		cli_error("record", "--every needs somewhere to put the intervals: -o DIR/ or --push URL");
		return -1;
	}
	if (c->keep && !c->dir) {
		cli_error("record", "--keep goes with -o DIR/");
		return -1;
	}
	if ((c->spool_dir || c->headers.count || c->tags.count) && !c->push_url) {
		cli_error("record", "%s goes with --push", c->spool_dir ? "--spool" : c->headers.count ? "--push-header" : "--tag");
		return -1;
	}
	a->output = c->dir ? c->dir : c->push_url;
	return 0;
}

/* The command line into a; CLI_PARSED, or what cli_parse_options returned. */
static int parse_record_args(struct record_args *a, int argc, char **argv)
{
	*a = (struct record_args){ .po = { .frequency = 99, .views = VIEW_CPU } };
	struct profiler_options *po = &a->po;
	const struct cli_option own[] = {
		OPT_CALLBACK('p', "pid", "PID[,PID]", &a->pids, cli_parse_pids, "attach to these running processes"),
		OPT_BOOL('a', "all-cpus", &po->all_cpus,
			 "every process on every CPU (with a command: while it runs);\n"
			 "root, CAP_PERFMON or kernel.perf_event_paranoid <= 0"),
		OPT_STRING(0, "cgroup", "PATH", &po->cgroup,
			   "-a for the processes of one cgroup v2 only, as /proc/PID/cgroup\n"
			   "names it (system.slice/nginx.service)"),
		OPT_CALLBACK('d', "duration", "SECS", &po->duration, cli_parse_duration,
			     "stop after SECS seconds (default: until Ctrl-C or exit)"),
		OPT_CALLBACK('F', "frequency", "HZ", &po->frequency, cli_parse_frequency,
			     "samples per second per thread (99)"),
		OPT_CALLBACK(0, "view", "VIEWS", &po->views, cli_parse_views,
			     "cpu, offcpu (time blocked or waiting, by stack), io (bytes,\n"
			     "latency and calls of reads, writes, sends, receives, fsyncs,\n"
			     "sendfile, splice, copy_file_range, by stack; io_uring\n"
			     "requests are not seen), alloc (bytes and calls of malloc, calloc,\n"
			     "realloc, posix_memalign, aligned_alloc, and bytes still in\n"
			     "use at the end), or several: cpu,alloc (default: cpu)"),
		OPT_U64(0, "io-min-latency", "NS", &po->io_min_latency, UINT64_MAX / 2,
			"io: keep only calls at least this slow"),
		OPT_CALLBACK(0, "alloc-mode", "MODE", &po->alloc_mode, cli_parse_alloc_mode,
			     "alloc: sampled (default: an agent inside the process samples\n"
			     "by bytes, at little cost) or exact (uprobes on every call: slow)"),
		OPT_U64(0, "alloc-rate", "BYTES", &po->alloc_rate, 1ull << 40,
			"alloc, sampled: a sample every BYTES allocated on average (524288)"),
		OPT_CALLBACK(0, "alloc-period", "N", &po->alloc_period, cli_parse_alloc_period,
			     "alloc, exact: the stack of one call in N, values scaled by N (61)"),
		OPT_CALLBACK(0, "unwind", "MODE", &po->unwind, cli_parse_unwind,
			     "auto (DWARF for user frames), fp (frame pointers) or dwarf"),
		OPT_CALLBACK(0, "stack-size", "BYTES", &po->stack_size, cli_parse_stack_size,
			     "user stack copied per sample for DWARF unwinding (16384;\n"
			     "8192 for each event of the offcpu, io and alloc views)"),
		OPT_BOOL(0, "kernel", &po->kernel, "include kernel frames (root, or perf_event_paranoid <= 1)"),
		OPT_CALLBACK(0, "event", "EVENT", &po->force_event, cli_parse_event,
			     "cycles or cpu-clock (default: cycles where a PMU exists)"),
		OPT_STRING('o', "output", "FILE", &a->output,
			   ".smolder profile, .svg flamegraph, .folded/.txt folded,\n"
			   ".pb.gz pprof, .speedscope.json, .html report (heatmap over\ntime, every view; default: smolder.svg)"),
		OPT_BOOL(0, "per-process", &a->sel.per_process, "a 'name-pid' frame per process, below its name"),
		OPT_BOOL(0, "per-thread", &a->sel.per_thread, "flamegraph and folded output: a 'name-tid' frame per thread"),
		OPT_BOOL(0, "no-demangle", &a->no_demangle, "keep C++ and Rust names as the binary has them"),
		OPT_BOOL(0, "no-times", &a->no_times, "keep no sample times (a smaller file; then no\n"
			 "--time-range, heatmap or timeline)"),
		OPT_BOOL('q', "quiet", &a->quiet, "no status line or summary"),
	};
	/* Record's own options, then continuous profiling's. */
	enum { OWN = sizeof(own) / sizeof(own[0]) };
	struct cli_option options[OWN + CONTINUOUS_OPTIONS + 1];
	memcpy(options, own, sizeof(own));
	continuous_options(&a->c, options + OWN);
	options[OWN + CONTINUOUS_OPTIONS] = (struct cli_option)OPT_END();
	struct cli_operands in;
	int parsed = cli_parse_options(&usage, options, argc, argv, &in);
	if (parsed != CLI_PARSED)
		return parsed;
	if (in.count) {
		in.args[in.count] = NULL; /* argv's own terminator, moved up */
		po->argv = in.args;
	}
	po->search_path = getenv("PATH");
	/* The tests shrink the unwinding queue to see that what overflows is counted. */
	const char *queue_kb = getenv("SMOLDER_TEST_QUEUE_KB");
	if (queue_kb && atoi(queue_kb) > 0)
		po->queue_bytes = (size_t)atoi(queue_kb) << 10;
	/* ... and the unwinder's cap on mapped files, to see it evict. */
	const char *image_cap = getenv("SMOLDER_TEST_UNWIND_FILES");
	if (image_cap && atoi(image_cap) > 0)
		po->unwind_image_cap = (uint32_t)atoi(image_cap);
	po->pids = a->pids.pids;
	po->npids = a->pids.count;
	po->times = !a->no_times;
	po->all_cpus |= po->cgroup != NULL;
	if (po->all_cpus && po->npids) {
		cli_error("record", "give -a or -p PID, not both (-a already takes every process)");
		return CLI_USAGE_ERROR;
	}
	if (!po->all_cpus && (po->npids == 0) == (po->argv == NULL)) {
		cli_error("record", po->argv ? "give either -p PID or a command, not both"
					     : "nothing to record: give -p PID, -a or a command (smolder record -- ./prog)");
		return CLI_USAGE_ERROR;
	}
	if (check_continuous(a))
		return CLI_USAGE_ERROR;
	return cli_prepare_agent("record", po, &a->agent) ? CLI_USAGE_ERROR : CLI_PARSED;
}

/* What one recording holds, from opening the events to the output. */
struct recording {
	const struct record_args *a;
	struct profile p;
	struct profiler *s;
	struct profile_writer *w; /* a .smolder output, flushed while recording */
	struct output_file out;   /* any other output, rendered at the end */
	struct symbolizer *z;
	struct continuous c;      /* --every or --push */
};

/* The events, then (only now that they are open) the profile's file. */
static int recording_open(struct recording *r)
{
	struct profiler_error err;
	char msg[1024];
	if (profiler_open(&r->s, &r->a->po, &r->p, &err)) {
		profiler_explain(&err, msg, sizeof(msg));
		cli_error("record", "%s", msg);
		return -1;
	}
	/* Every output is made now, before the first sample: one that cannot
	 * be written is said at once, not after the recording. */
	if (r->a->continuous) {
		/* continuous_open, once the symbolizer is there */
	} else if (cli_format_for_path(r->a->output) == OUTPUT_SMOLDER) {
		int e = profile_writer_open(&r->w, r->a->output);
		if (e) {
			cli_error("record", "cannot write %s: %s", r->a->output,
				  e == -PROFILE_E_IO ? strerror(errno) : profile_strerror((enum profile_error)-e));
			return -1;
		}
	} else if (cli_output_open("record", r->a->output, &r->out)) {
		return -1;
	}
	const char *urls = getenv("DEBUGINFOD_URLS");
	char cache[4096];
	struct symbolizer_options so = { .demangle = !r->a->no_demangle,
					 .debuginfo_path = getenv("SMOLDER_DEBUGINFO_PATH"),
					 .debuginfod = urls && *urls,
					 .dwarf_cache_dir = cli_dwarf_cache_dir(cache, sizeof(cache)) };
	if (!(r->z = symbolizer_new(&so))) {
		cli_error("record", "out of memory");
		return -1;
	}
	return r->a->continuous ? continuous_open(&r->c, &r->a->c, &r->a->po, r->s, r->z) : 0;
}

/* A stopped process is never on a CPU: said at the start, rather than as
 * "no samples" at the end. */
static void warn_stopped_targets(const struct profiler_options *po)
{
	for (uint32_t i = 0; i < po->npids; i++)
		if (process_stopped(po->pids[i]))
			cli_warn("record", "process %d is stopped (SIGSTOP, Ctrl-Z, or a debugger holds it): it is "
					   "sampled only once it continues (kill -CONT %d)",
				 (int)po->pids[i], (int)po->pids[i]);
}

/* Samples until the end, symbolizing ahead on another thread; the exit
 * status for a failure (127: the command could not be run), or 0. */
static int recording_sample(struct recording *r)
{
	const struct profiler_options *po = &r->a->po;
	char target[64];
	if (po->all_cpus)
		snprintf(target, sizeof(target), "%s", po->cgroup ? "the cgroup" : "all CPUs");
	else if (po->argv)
		snprintf(target, sizeof(target), "%s", po->argv[0]);
	else
		snprintf(target, sizeof(target), "pid %d%s", (int)po->pids[0], po->npids > 1 ? ",..." : "");
	struct status st = { .tty = isatty(2), .quiet = r->a->quiet, .duration = po->duration, .target = target,
			     .p = &r->p, .w = r->w };
	struct symbolize_ahead ahead;
	const char *ahead_env = getenv("SMOLDER_SYMBOLIZE_AHEAD");
	/* Intervals are cut on that thread, which owns the symbolizer meanwhile. */
	bool ahead_running = (r->a->continuous || !(ahead_env && strcmp(ahead_env, "0") == 0)) &&
			     symbolize_ahead_start(&ahead, r->s, r->z, r->a->continuous ? continuous_tick : NULL, &r->c);
	if (r->a->continuous && !ahead_running) {
		cli_error("record", "cannot start the thread that cuts the intervals");
		return EXIT_FAIL;
	}
	warn_stopped_targets(po);
	struct profiler_error err;
	int run = profiler_run(r->s, r->a->stop, progress, &st, &err);
	if (ahead_running)
		symbolize_ahead_stop(&ahead);
	if (st.tty && !r->a->quiet)
		fputs("\r\033[K", stderr);
	if (run) {
		char msg[1024];
		profiler_explain(&err, msg, sizeof(msg));
		cli_error("record", "%s", msg);
		return err.code == PROFILER_E_LAUNCH ? 127 : EXIT_FAIL;
	}
	if (r->a->continuous) /* the last interval is cut by continuous_finish */
		return 0;
	if (profiler_finish(r->s, &err)) {
		cli_error("record", "out of memory");
		return EXIT_FAIL;
	}
	return 0;
}

/* Names the addresses, and says what could not be named. */
static int recording_symbolize(struct recording *r)
{
	uint32_t npids;
	const pid_t *mpids = profiler_mapping_pids(r->s, &npids);
	struct symbolizer_stats sst;
	int err = symbolizer_run(r->z, &r->p, mpids, npids, &sst);
	if (err) {
		cli_error("record", "cannot symbolize: %s", symbolizer_strerror((enum symbolizer_error)-err));
		return -1;
	}
	if (note_unnamed_files(r->z, &r->p))
		return -1;
	if (r->a->quiet)
		return 0;
	warn_unnamed_files(r->z);
	if (sst.kernel_restricted && r->a->po.kernel)
		cli_warn("record", "kernel addresses are hidden (kernel.kptr_restrict): kernel frames stay "
				   "unnamed; as root: sysctl kernel.kptr_restrict=0");
	return 0;
}

static int recording_write(struct recording *r)
{
	if (!r->w)
		return cli_output_render("record", &r->p, &r->out, r->a->output, &r->a->sel, NULL);
	int e = profile_writer_finish(r->w, &r->p);
	if (!e) {
		/* The recording's file is complete: a failure here leaves it as it is. */
		int ce = profile_writer_compacts(r->w) ? profile_compact_file(r->a->output) : 0;
		if (ce && !r->a->quiet)
			cli_warn("record", "%s is complete but not compacted (%s): it reads as it is", r->a->output,
				 ce == -PROFILE_E_IO ? strerror(errno) : profile_strerror((enum profile_error)-ce));
		return 0;
	}
	const char *why = e == -PROFILE_E_IO ? strerror(errno) : profile_strerror((enum profile_error)-e);
	if (profile_writer_kept(r->w))
		cli_error("record", "cannot write %s: %s: what was written until then is in %s (smolder info "
				    "and fold read it)", r->a->output, why, profile_writer_temp_path(r->w));
	else
		cli_error("record", "cannot write %s: %s", r->a->output, why);
	return -1;
}

/* The warnings about what was recorded, and the one-line summary. */
static void recording_summary(const struct recording *r)
{
	const struct profiler_stats *ps = profiler_stats(r->s);
	const struct record_args *a = r->a;
	uint32_t hz = a->po.frequency ? a->po.frequency : 99;
	bool alloc_only = a->po.views == VIEW_ALLOC;
	if (ps->samples == 0 && alloc_only && ps->agent_musl)
		; /* the warning about musl, below, says why */
	else if (ps->samples == 0 && alloc_only && a->po.alloc_mode == ALLOC_SAMPLED)
		cli_warn("record", "no allocations were sampled: the target allocated less than --alloc-rate (%" PRIu64
				   " bytes) through malloc and its kin while recording (idle, stopped, exited at once, "
				   "or with an allocator of its own); a lower --alloc-rate samples more",
			 a->po.alloc_rate);
	else if (ps->samples == 0 && alloc_only)
		cli_warn("record", "no allocations were recorded: the target called none of libc's allocation "
				   "functions while recording (idle, stopped, exited at once, or with an allocator of "
				   "its own)");
	else if (ps->samples == 0 && ps->target_cpu * hz >= 2)
		cli_warn("record", "no samples were recorded, though the command used %.2f s of CPU: each of "
				   "its threads ran for less than a sampling period (1/%u s); raise -F (now %u, "
				   "up to 100000)", ps->target_cpu, hz, hz);
	else if (ps->samples == 0)
		cli_warn("record", "no samples were recorded: the target did not run on a CPU while "
				   "recording (idle, stopped, or exited at once)");
	if (ps->stack_truncated && a->po.stack_size >= 65528)
		cli_warn("record", "%" PRIu64 " of %" PRIu64 " stacks were deeper than the largest stack copy the "
				   "kernel makes (65528 bytes): their outer frames are [unknown]; --unwind fp reaches "
				   "further where the code keeps frame pointers", ps->stack_truncated, ps->samples);
	else if (ps->stack_truncated && a->po.stack_size)
		cli_warn("record", "%" PRIu64 " of %" PRIu64 " stacks were cut short by the stack copy: "
				   "raise --stack-size (now %u)", ps->stack_truncated, ps->samples, a->po.stack_size);
	else if (ps->stack_truncated)
		cli_warn("record", "%" PRIu64 " of %" PRIu64 " stacks were cut short by the stack copy: "
				   "raise --stack-size (now 16384 for cpu samples, 8192 for events)",
			 ps->stack_truncated, ps->samples);
	fprintf(stderr, "smolder: record: %.2f s, %" PRIu64 " samples (%" PRIu64 " lost), %u threads%s -> %s\n",
		ps->elapsed, ps->samples, ps->lost + ps->unwind_dropped, ps->threads,
		ps->targets_exited && !a->po.argv ? ", target exited" : "", a->output);
	if (ps->unwind_evicted)
		fprintf(stderr, "smolder: record: unwinding: %" PRIu64 " mapped files let go to stay under the cap of "
				"%u (read again when a sample needs them)\n",
			ps->unwind_evicted, a->po.unwind_image_cap ? a->po.unwind_image_cap : PROFILER_DEFAULT_UNWIND_FILES);
	if (ps->agent_ring_samples || ps->agent_trapped_samples)
		fprintf(stderr, "smolder: record: agent: %" PRIu64 " samples through its ring (%u, %u in shared memory), %" PRIu64
				" through a uprobe; %" PRIu64 " stacks copied in part (the words their unwinding reads),"
				" %" PRIu64 " of them not compared again\n",
			ps->agent_ring_samples, ps->agent_rings, ps->agent_rings_shared, ps->agent_trapped_samples,
			ps->agent_ring_sparse, ps->agent_ring_known);
	if (ps->agent_ring_waits)
		fprintf(stderr, "smolder: record: agent: %" PRIu64 " samples found their ring full and waited for smolder "
				"to read it (up to 2 ms each, in the program's thread)\n", ps->agent_ring_waits);
	if (ps->agent_hooks)
		fprintf(stderr, "smolder: record: agent: %d GOT entries hooked, a thread held at most %.1f ms to load, "
				"start or stop it\n", ps->agent_hooks, ps->agent_stop_ms);
	if (ps->agent_lost_to_exec)
		cli_warn("record", "%u attached process(es) ran a new program (exec) while recording: the agent went "
				   "with the old one, and the new program's allocations are not recorded; record it "
				   "again to load the agent into it", ps->agent_lost_to_exec);
	if (ps->agent_musl)
		cli_warn("record", "%u process(es) ran on musl's C library, which the agent (built for glibc's) cannot "
				   "load into: their allocations are not recorded; --alloc-mode exact probes musl's "
				   "malloc", ps->agent_musl);
	if (ps->agent_detach_failed)
		cli_warn("record", "the agent could not be stopped in %u process(es): it keeps sampling into markers "
				   "nobody reads, at the cost of a branch per call", ps->agent_detach_failed);
	if (ps->lost || ps->unwind_dropped)
		cli_warn("record", "%" PRIu64 " samples lost: %" PRIu64 " by the kernel (ring buffer full), %" PRIu64
				   " not unwound in time; %s", ps->lost + ps->unwind_dropped, ps->lost,
			 ps->unwind_dropped, profiler_keep_up_hint(r->s));
	if (ps->unwind_shed)
		cli_warn("record", "%" PRIu64 " of %" PRIu64 " samples kept without their stack (their values "
				   "under '[stack not unwound]'): unwinding fell behind; %s",
			 ps->unwind_shed, ps->samples, profiler_keep_up_hint(r->s));
}

static int record(const struct record_args *a)
{
	struct recording r = { .a = a, .out = { .fd = -1 } };
	profile_init(&r.p);
	int status = EXIT_FAIL;
	if (recording_open(&r) || (status = recording_sample(&r)) != 0) {
		status = status ? status : EXIT_FAIL;
		goto out;
	}
	status = EXIT_FAIL;
	bool written = !(a->continuous ? continuous_finish(&r.c) : recording_symbolize(&r) || recording_write(&r));
	if (written && !a->quiet)
		recording_summary(&r);
	const struct profiler_stats *ps = profiler_stats(r.s);
	/* The profile is out before the wait: a long command's user has it at -d. */
	if (ps->command_running && !a->quiet)
		fprintf(stderr, "smolder: record: waiting for %s to end, for its exit status (-d ended the "
				"sampling, not the command; Ctrl-C ends it)\n", a->po.argv[0]);
	profiler_wait_command(r.s, a->stop);
	if (!written)
		goto out;
	if (ps->command_killed)
		cli_warn("record", "%s was still running %d s after SIGTERM: killed (SIGKILL); the profile is complete",
			 a->po.argv[0], PROFILER_TERM_GRACE_MS / 1000);
	status = a->po.argv && ps->has_exit_status ? ps->exit_status : EXIT_OK;
out:
	continuous_release(&r.c);
	symbolizer_free(r.z);
	profile_writer_free(r.w);
	output_file_release(&r.out, false);
	profiler_free(r.s);
	profile_release(&r.p);
	return status;
}

int cmd_record(int argc, char **argv)
{
	struct record_args a;
	int parsed = parse_record_args(&a, argc, argv);
	if (parsed != CLI_PARSED) {
		record_args_release(&a);
		return cli_exit_for(parsed);
	}
	a.stop = cli_catch_stop_signals();
	int status = record(&a);
	record_args_release(&a);
	return status;
}
