/* smolder record: sample a process or a command, then write a profile or a
 * flamegraph. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/symbolize_ahead.h"
#include "profiler/profiler.h"
#include "symbolizer/symbolizer.h"

static const char usage[] =
	"usage: smolder record [options] -p PID[,PID...]\n"
	"       smolder record [options] [--] COMMAND [ARGS...]\n"
	"\n"
	"Samples the stacks of running processes (all their threads, including those\n"
	"started later) or of a command it launches, and writes a flamegraph or a\n"
	"profile. The target is never stopped or changed. Stops after -d seconds, on\n"
	"Ctrl-C or SIGTERM, or when the targets exit; the output is complete either way.\n"
	"With a command, exits with the command's exit status.\n"
	"\n"
	"  -p, --pid PID[,PID]  attach to these running processes\n"
	"  -d, --duration SECS  stop after SECS seconds (default: until Ctrl-C or exit)\n"
	"  -F, --frequency HZ   samples per second per thread (99)\n"
	"  --view VIEWS         cpu, offcpu (time blocked or waiting, by stack), io (bytes,\n"
	"                       latency and calls of reads, writes, sends, receives, fsyncs,\n"
	"                       by stack), alloc (bytes and calls of malloc, calloc,\n"
	"                       realloc, posix_memalign, aligned_alloc, and bytes still in\n"
	"                       use at the end), or several: cpu,alloc (default: cpu)\n"
	"  --io-min-latency NS  io: keep only calls at least this slow\n"
	"  --alloc-period N     alloc: the stack of one call in N, values scaled by N (61)\n"
	"  --unwind MODE        auto (DWARF for user frames), fp (frame pointers) or dwarf\n"
	"  --stack-size BYTES   user stack copied per sample for DWARF unwinding (16384)\n"
	"  --kernel             include kernel frames (root, or perf_event_paranoid <= 1)\n"
	"  --event EVENT        cycles or cpu-clock (default: cycles where a PMU exists)\n"
	"  -o, --output FILE    .smolder profile, .svg flamegraph, .folded/.txt folded,\n"
	"                       .pb.gz pprof, .speedscope.json (default: smolder.svg)\n"
	"  --per-thread         flamegraph and folded output: a 'name-tid' frame per thread\n"
	"  --no-demangle        keep C++ and Rust names as the binary has them\n"
	"  -q, --quiet          no status line or summary\n"
	"  -h, --help           this help\n"
	"\n"
	"Environment:\n"
	"  DEBUGINFOD_URLS          debuginfod servers asked for debug info not found\n"
	"                           here (when built with libdebuginfod)\n"
	"  SMOLDER_DEBUGINFO_PATH   where separate debug files are looked for\n"
	"                           (default :.debug:/usr/lib/debug)\n"
	"  SMOLDER_SYMBOLIZE_AHEAD  0: symbolize only once sampling ends, to measure the\n"
	"                           symbolizer (default: files are opened and addresses\n"
	"                           looked up while recording)\n";

static volatile bool stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = true;
}

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
static int warn_unnamed_files(const struct symbolizer *z)
{
	struct symbolizer_file_note notes[4];
	uint32_t n = symbolizer_file_notes(z, notes, 4);
	for (uint32_t i = 0; i < n && i < 4; i++)
		cli_warn("record", "%s: %s%s", notes[i].path, symbolizer_strerror(notes[i].why),
			 notes[i].why == SYMBOLIZER_E_NO_SYMBOLS
				 ? " under /usr/lib/debug (install its -dbg or -dbgsym package, or set "
				   "SMOLDER_DEBUGINFO_PATH or DEBUGINFOD_URLS)"
				 : "");
	if (n > 4)
		cli_warn("record", "and %u more files without names (smolder info lists them)", n - 4);
	return 0;
}

static int parse_pids(const char *arg, pid_t **pids, uint32_t *n)
{
	char *copy = strdup(arg);
	if (!copy)
		return -1;
	uint32_t cap = 1;
	for (const char *c = arg; *c; c++)
		cap += *c == ',';
	*pids = calloc(cap, sizeof(**pids));
	*n = 0;
	char *save = NULL;
	for (char *tok = strtok_r(copy, ",", &save); tok && *pids; tok = strtok_r(NULL, ",", &save)) {
		char *end;
		errno = 0;
		long v = strtol(tok, &end, 10);
		if (errno || *end || v <= 0 || v > 0x3fffffff) {
			cli_error("record", "invalid pid '%s': expected a positive number", tok);
			free(copy);
			free(*pids);
			*pids = NULL;
			return -1;
		}
		(*pids)[(*n)++] = (pid_t)v;
	}
	free(copy);
	return *pids && *n ? 0 : -1;
}

int cmd_record(int argc, char **argv)
{
	static const struct option options[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "duration", required_argument, NULL, 'd' },
		{ "frequency", required_argument, NULL, 'F' },
		{ "view", required_argument, NULL, 'V' },
		{ "unwind", required_argument, NULL, 'u' },
		{ "stack-size", required_argument, NULL, 's' },
		{ "kernel", no_argument, NULL, 'k' },
		{ "event", required_argument, NULL, 'e' },
		{ "output", required_argument, NULL, 'o' },
		{ "per-thread", no_argument, NULL, 't' },
		{ "no-demangle", no_argument, NULL, 'M' },
		{ "io-min-latency", required_argument, NULL, 'L' },
		{ "alloc-period", required_argument, NULL, 'A' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct profiler_options po = { .frequency = 99, .stack_size = 16384, .views = VIEW_CPU };
	struct render_select sel = { 0 };
	const char *output = "smolder.svg";
	bool quiet = false, demangle = true;
	pid_t *pids = NULL;
	unsigned long long n;
	double d;
	int c;
	/* '+': options end at the command's name, so its own options stay its own. */
	while ((c = getopt_long(argc, argv, "+p:d:F:o:qh", options, NULL)) != -1) {
		switch (c) {
		case 'p':
			free(pids);
			if (parse_pids(optarg, &pids, &po.npids))
				return EXIT_USAGE;
			po.pids = pids;
			break;
		case 'd':
			if (cli_parse_double("record", "--duration", optarg, &d) || d <= 0 || d > 1e7) {
				cli_error("record", "--duration must be a positive number of seconds");
				return EXIT_USAGE;
			}
			po.duration = d;
			break;
		case 'F':
			if (cli_parse_uint("record", "--frequency", optarg, 100000, &n) || n == 0) {
				cli_error("record", "--frequency must be 1 to 100000 Hz");
				return EXIT_USAGE;
			}
			po.frequency = (uint32_t)n;
			break;
		case 'V': {
			po.views = 0;
			char *list = strdup(optarg), *save = NULL;
			for (char *v = list ? strtok_r(list, ",", &save) : NULL; v; v = strtok_r(NULL, ",", &save)) {
				if (strcmp(v, "cpu") == 0) {
					po.views |= VIEW_CPU;
				} else if (strcmp(v, "offcpu") == 0) {
					po.views |= VIEW_OFFCPU;
				} else if (strcmp(v, "io") == 0) {
					po.views |= VIEW_IO;
				} else if (strcmp(v, "alloc") == 0) {
					po.views |= VIEW_ALLOC;
				} else {
					cli_error("record", "unknown view '%s': use cpu, offcpu, io or alloc, or several "
							    "separated by commas", v);
					free(list);
					free(pids);
					return EXIT_USAGE;
				}
			}
			free(list);
			break;
		}
		case 'u':
			if (strcmp(optarg, "auto") == 0)
				po.unwind = UNWIND_AUTO;
			else if (strcmp(optarg, "fp") == 0)
				po.unwind = UNWIND_FP;
			else if (strcmp(optarg, "dwarf") == 0)
				po.unwind = UNWIND_DWARF;
			else {
				cli_error("record", "--unwind must be auto, fp or dwarf");
				return EXIT_USAGE;
			}
			break;
		case 's':
			if (cli_parse_uint("record", "--stack-size", optarg, 65528, &n) || n < 64) {
				cli_error("record", "--stack-size must be 64 to 65528 bytes (the kernel's limit)");
				return EXIT_USAGE;
			}
			po.stack_size = (uint32_t)n;
			break;
		case 'k': po.kernel = true; break;
		case 'e':
			if (strcmp(optarg, "cycles") && strcmp(optarg, "cpu-clock")) {
				cli_error("record", "--event must be cycles or cpu-clock");
				return EXIT_USAGE;
			}
			po.force_event = optarg;
			break;
		case 'o': output = optarg; break;
		case 't': sel.per_thread = true; break;
		case 'M': demangle = false; break;
		case 'A':
			if (cli_parse_uint("record", "--alloc-period", optarg, 1u << 30, &n) || n == 0) {
				cli_error("record", "--alloc-period must be 1 to %u calls", 1u << 30);
				return EXIT_USAGE;
			}
			po.alloc_period = (uint32_t)n;
			break;
		case 'L':
			if (cli_parse_uint("record", "--io-min-latency", optarg, UINT64_MAX / 2, &n))
				return EXIT_USAGE;
			po.io_min_latency = n;
			break;
		case 'q': quiet = true; break;
		case 'h': fputs(usage, stdout); free(pids); return EXIT_OK;
		default: free(pids); return cli_usage_error("record");
		}
	}
	if (optind < argc)
		po.argv = argv + optind;
	po.search_path = getenv("PATH");
	/* The tests shrink the unwinding queue to see that what overflows is counted. */
	const char *queue_kb = getenv("SMOLDER_TEST_QUEUE_KB");
	if (queue_kb && atoi(queue_kb) > 0)
		po.queue_bytes = (size_t)atoi(queue_kb) << 10;
	if ((po.npids == 0) == (po.argv == NULL)) {
		cli_error("record", po.argv ? "give either -p PID or a command, not both"
					    : "nothing to record: give -p PID or a command (smolder record -- ./prog)");
		free(pids);
		return EXIT_USAGE;
	}

	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	struct profile p;
	profile_init(&p);
	struct profiler *s = NULL;
	struct profiler_error err;
	struct profile_writer *w = NULL;
	struct symbolizer *z = NULL;
	int status = EXIT_FAIL;
	char msg[1024];
	if (profiler_open(&s, &po, &p, &err)) {
		profiler_explain(&err, msg, sizeof(msg));
		cli_error("record", "%s", msg);
		goto out;
	}
	/* Only now, with the events open, does any file appear. */
	if (cli_format_for_path(output) == OUTPUT_SMOLDER) {
		int e = profile_writer_open(&w, output);
		if (e) {
			cli_error("record", "cannot write %s.partial: %s", output,
				  e == -PROFILE_E_IO ? strerror(errno) : profile_strerror((enum profile_error)-e));
			goto out;
		}
	}
	char target[64];
	if (po.argv)
		snprintf(target, sizeof(target), "%s", po.argv[0]);
	else
		snprintf(target, sizeof(target), "pid %d%s", (int)po.pids[0], po.npids > 1 ? ",..." : "");
	struct status st = { .tty = isatty(2), .quiet = quiet, .duration = po.duration,
			     .target = target, .p = &p, .w = w };
	const char *urls = getenv("DEBUGINFOD_URLS");
	struct symbolizer_options so = { .demangle = demangle,
					 .debuginfo_path = getenv("SMOLDER_DEBUGINFO_PATH"),
					 .debuginfod = urls && *urls };
	if (!(z = symbolizer_new(&so))) {
		cli_error("record", "out of memory");
		goto out;
	}
	struct symbolize_ahead ahead;
	const char *ahead_env = getenv("SMOLDER_SYMBOLIZE_AHEAD");
	bool ahead_running = !(ahead_env && strcmp(ahead_env, "0") == 0) && symbolize_ahead_start(&ahead, s, z);
	int run = profiler_run(s, &stop_requested, progress, &st, &err);
	if (ahead_running)
		symbolize_ahead_stop(&ahead);
	if (st.tty && !quiet)
		fputs("\r\033[K", stderr);
	const struct profiler_stats *ps = profiler_stats(s);
	if (run) {
		profiler_explain(&err, msg, sizeof(msg));
		cli_error("record", "%s", msg);
		if (err.code == PROFILER_E_LAUNCH)
			status = 127;
		goto out;
	}
	if (profiler_finish(s, &err)) {
		cli_error("record", "out of memory");
		goto out;
	}
	uint32_t npids;
	const pid_t *mpids = profiler_mapping_pids(s, &npids);
	struct symbolizer_stats sst;
	int serr = symbolizer_run(z, &p, mpids, npids, &sst);
	if (serr) {
		cli_error("record", "cannot symbolize: %s", symbolizer_strerror((enum symbolizer_error)-serr));
		goto out;
	}
	if (note_unnamed_files(z, &p) || (!quiet && warn_unnamed_files(z)))
		goto out;
	if (sst.kernel_restricted && po.kernel && !quiet)
		cli_warn("record", "kernel addresses are hidden (kernel.kptr_restrict): kernel frames stay "
				   "unnamed; as root: sysctl kernel.kptr_restrict=0");
	if (ps->samples == 0 && !quiet)
		cli_warn("record", "no samples were recorded: the target did not run on a CPU while "
				   "recording (idle, or exited at once)");
	if (ps->stack_truncated && !quiet)
		cli_warn("record", "%" PRIu64 " of %" PRIu64 " stacks were cut short by the stack copy: "
				   "raise --stack-size (now %u)", ps->stack_truncated, ps->samples, po.stack_size);
	if (w) {
		int e = profile_writer_finish(w, &p);
		if (e) {
			cli_error("record", "cannot write %s: %s", output,
				  e == -PROFILE_E_IO ? strerror(errno) : profile_strerror((enum profile_error)-e));
			goto out;
		}
	} else if (cli_write_output("record", &p, output, &sel, NULL)) {
		goto out;
	}
	if (!quiet) {
		fprintf(stderr, "smolder: record: %.2f s, %" PRIu64 " samples (%" PRIu64 " lost), %u threads%s -> %s\n",
			ps->elapsed, ps->samples, ps->lost + ps->unwind_dropped, ps->threads,
			ps->targets_exited && !po.argv ? ", target exited" : "", output);
		if (ps->lost || ps->unwind_dropped)
			cli_warn("record", "%" PRIu64 " samples lost: %" PRIu64 " by the kernel (ring buffer full), %"
					   PRIu64 " not unwound in time; %s", ps->lost + ps->unwind_dropped, ps->lost,
				 ps->unwind_dropped, profiler_keep_up_hint(s));
		if (ps->unwind_shed)
			cli_warn("record", "%" PRIu64 " of %" PRIu64 " samples kept without their stack (their values "
					   "under '[stack not unwound]'): unwinding fell behind; %s",
				 ps->unwind_shed, ps->samples, profiler_keep_up_hint(s));
	}
	status = po.argv && ps->has_exit_status ? ps->exit_status : EXIT_OK;
out:
	symbolizer_free(z);
	profile_writer_free(w);
	profiler_free(s);
	profile_release(&p);
	free(pids);
	return status;
}
