/* smolder top: a live table of where the time goes, refreshed every
 * --delay seconds, in the manner of perf top and py-spy top.  Each refresh
 * is an interval cut from the recording (profiler_cut), symbolized, added
 * to the total since the start, and drawn; on a pipe, one table per
 * interval is printed instead, for scripts. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "cli/cli.h"

static const struct cli_usage usage = {
	.cmd = "top",
	.synopsis = "[options] -a [--cgroup PATH]\n[options] -p PID[,PID...]\n[options] [--] COMMAND [ARGS...]",
	.description = "Shows the functions the most time is spent in, over the last --delay seconds\n"
		       "and since the start, refreshed until q, Ctrl-C, -d or the targets' exit.\n"
		       "With -a each row names its process. On a pipe it prints one table per\n"
		       "interval instead.\n",
	.min_operands = 0,
	.max_operands = -1,
	.stop_at_operand = true,
};

struct top_args {
	struct profiler_options po;
	struct cli_pids pids;
	double delay;
	uint32_t limit;
	const char *value;
};

struct top {
	const struct top_args *a;
	struct profiler *s;
	struct symbolizer *z;
	struct profile all; /* since the start */
	uint64_t next_ns;
	double elapsed;
	bool tty;
	struct termios saved; /* the terminal's settings, given back at the end */
	bool raw;
	int failed; /* a render error, said at the end */
	volatile bool *stop; /* set by a stop signal, or by q */
};

static int parse_delay(const char *cmd, const char *name, const char *arg, void *value)
{
	double d;
	if (cli_parse_double(cmd, name, arg, &d) || d < 0.1 || d > 3600) {
		cli_error(cmd, "%s must be 0.1 to 3600 seconds", name);
		return -1;
	}
	*(double *)value = d;
	return 0;
}

static int parse_top_args(struct top_args *a, int argc, char **argv)
{
	*a = (struct top_args){ .po = { .frequency = 99, .views = VIEW_CPU }, .delay = 1 };
	struct profiler_options *po = &a->po;
	const struct cli_option options[] = {
		OPT_BOOL('a', "all-cpus", &po->all_cpus, "every process on every CPU"),
		OPT_STRING(0, "cgroup", "PATH", &po->cgroup, "-a for the processes of one cgroup v2 only"),
		OPT_CALLBACK('p', "pid", "PID[,PID]", &a->pids, cli_parse_pids, "these running processes"),
		OPT_CALLBACK('F', "frequency", "HZ", &po->frequency, cli_parse_frequency,
			     "samples per second per thread (99)"),
		OPT_CALLBACK('d', "duration", "SECS", &po->duration, cli_parse_duration,
			     "stop after SECS seconds (default: q or Ctrl-C)"),
		OPT_CALLBACK(0, "delay", "SECS", &a->delay, parse_delay, "seconds between refreshes (1)"),
		OPT_CALLBACK(0, "view", "VIEW", &po->views, cli_parse_views, "cpu, offcpu or io (cpu)"),
		OPT_STRING(0, "value", "NAME", &a->value, "the value to rank by (the view's first)"),
		OPT_U32(0, "limit", "N", &a->limit, 10000, "rows (default: what the terminal holds, or 20)"),
		OPT_CALLBACK(0, "unwind", "MODE", &po->unwind, cli_parse_unwind, "auto, fp or dwarf"),
		OPT_BOOL(0, "kernel", &po->kernel, "include kernel frames (and, with -a, idle and kernel threads)"),
		OPT_CALLBACK(0, "event", "EVENT", &po->force_event, cli_parse_event, "cycles or cpu-clock"),
		OPT_END(),
	};
	struct cli_operands in;
	int parsed = cli_parse_options(&usage, options, argc, argv, &in);
	if (parsed != CLI_PARSED)
		return parsed;
	if (in.count) {
		in.args[in.count] = NULL;
		po->argv = in.args;
	}
	po->pids = a->pids.pids;
	po->npids = a->pids.count;
	po->all_cpus |= po->cgroup != NULL;
	po->search_path = getenv("PATH");
	if ((po->views & (po->views - 1)) || (po->views & VIEW_ALLOC)) {
		cli_error("top", "--view takes one of cpu, offcpu or io");
		return CLI_USAGE_ERROR;
	}
	int given = (po->npids > 0) + (po->all_cpus && !po->argv) + (po->argv != NULL && !po->all_cpus);
	if (given != 1) {
		cli_error("top", given ? "give one of -a, -p PID or a command" : "nothing to watch: give -a, -p PID or a command");
		return CLI_USAGE_ERROR;
	}
	return CLI_PARSED;
}

/* Rows the terminal holds below the header. */
static uint32_t table_rows(const struct top *t)
{
	if (t->a->limit)
		return t->a->limit;
	struct winsize ws;
	if (t->tty && ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 8)
		return ws.ws_row - 5u;
	return 20;
}

/* q (or Q) typed on the terminal. */
static bool quit_typed(const struct top *t)
{
	if (!t->raw)
		return false;
	struct pollfd p = { .fd = 0, .events = POLLIN };
	char c;
	while (poll(&p, 1, 0) == 1 && read(0, &c, 1) == 1)
		if (c == 'q' || c == 'Q')
			return true;
	return false;
}

static void draw(struct top *t, const struct profile *last)
{
	const struct profiler_stats *st = profiler_stats(t->s);
	const struct profiler_options *po = &t->a->po;
	if (t->tty)
		fputs("\033[H\033[2J", stdout);
	char target[64];
	if (po->all_cpus)
		snprintf(target, sizeof(target), "%s", po->cgroup ? po->cgroup : "all CPUs");
	else if (po->argv)
		snprintf(target, sizeof(target), "%s", po->argv[0]);
	else
		snprintf(target, sizeof(target), "pid %d%s", (int)po->pids[0], po->npids > 1 ? ",..." : "");
	printf("smolder top: %s, %u Hz, %.1f s, %llu samples (%llu lost)%s\n", target, po->frequency, st->elapsed,
	       (unsigned long long)st->samples, (unsigned long long)(st->lost + st->unwind_dropped),
	       t->raw ? "; q quits" : "");
	struct top_options o = { .value = t->a->value, .limit = table_rows(t), .by_process = po->all_cpus };
	int err = render_top(last, &t->all, &o, stdout);
	if (err && !t->failed)
		t->failed = err;
	if (!t->tty)
		putchar('\n');
	fflush(stdout);
}

/* One refresh: the interval cut, named, added up and drawn. */
static void refresh(struct top *t)
{
	struct profile last;
	profile_init(&last);
	pid_t *pids = NULL;
	struct profiler_error err;
	struct symbolizer_stats sst;
	if (profiler_cut(t->s, &last, &pids, &err) || symbolizer_run(t->z, &last, pids, last.mappings.count, &sst) ||
	    profile_merge(&t->all, &last))
		t->failed = -RENDER_E_NOMEM;
	else
		draw(t, &last);
	free(pids);
	profile_release(&last);
}

static void top_tick(void *arg)
{
	struct top *t = arg;
	if (quit_typed(t))
		*t->stop = true;
	if (monotonic_ns() >= t->next_ns) {
		t->next_ns += (uint64_t)(t->a->delay * 1e9);
		refresh(t);
	}
}

/* Keys are read one at a time, without echo, while top runs. */
static void terminal_raw(struct top *t)
{
	if (!t->tty || !isatty(0) || tcgetattr(0, &t->saved))
		return;
	struct termios raw = t->saved;
	raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
	raw.c_cc[VMIN] = 0;
	raw.c_cc[VTIME] = 0;
	t->raw = tcsetattr(0, TCSANOW, &raw) == 0;
}

static int top_run(struct top *t)
{
	struct profiler_error err;
	char msg[1024];
	struct symbolize_ahead ahead;
	t->next_ns = monotonic_ns() + (uint64_t)(t->a->delay * 1e9);
	terminal_raw(t);
	bool ahead_running = symbolize_ahead_start(&ahead, t->s, t->z, top_tick, t);
	int run = ahead_running ? profiler_run(t->s, t->stop, NULL, NULL, &err) : -1;
	if (ahead_running)
		symbolize_ahead_stop(&ahead);
	if (t->raw)
		tcsetattr(0, TCSANOW, &t->saved);
	if (!ahead_running) {
		cli_error("top", "cannot start the thread that draws the table");
		return EXIT_FAIL;
	}
	if (run) {
		profiler_explain(&err, msg, sizeof(msg));
		cli_error("top", "%s", msg);
		return EXIT_FAIL;
	}
	if (!t->tty)
		refresh(t); /* what came since the last table */
	profiler_wait_command(t->s, t->stop); /* a command -d left running */
	if (t->failed) {
		cli_error("top", "cannot draw the table: %s", render_strerror((enum render_error)-t->failed));
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

int cmd_top(int argc, char **argv)
{
	struct top_args a;
	int parsed = parse_top_args(&a, argc, argv);
	if (parsed != CLI_PARSED) {
		free(a.pids.pids);
		return cli_exit_for(parsed);
	}
	struct top t = { .a = &a, .tty = isatty(1) };
	profile_init(&t.all);
	struct profile p;
	profile_init(&p);
	struct profiler_error err;
	char cache[4096];
	struct symbolizer_options so = { .demangle = true,
					 .debuginfo_path = getenv("SMOLDER_DEBUGINFO_PATH"),
					 .dwarf_cache_dir = cli_dwarf_cache_dir(cache, sizeof(cache)) };
	int status = EXIT_FAIL;
	if (profiler_open(&t.s, &a.po, &p, &err)) {
		char msg[1024];
		profiler_explain(&err, msg, sizeof(msg));
		cli_error("top", "%s", msg);
	} else if (!(t.z = symbolizer_new(&so))) {
		cli_error("top", "out of memory");
	} else {
		t.stop = cli_catch_stop_signals();
		status = top_run(&t);
	}
	symbolizer_free(t.z);
	profiler_free(t.s);
	profile_release(&p);
	profile_release(&t.all);
	free(a.pids.pids);
	return status;
}
