/* smolder collapse: `perf script` output to folded stacks, a drop-in for
 * stackcollapse-perf.pl. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

static const struct cli_usage usage = {
	.cmd = "collapse",
	.synopsis = "[options] [FILE...]",
	.description = "Reads `perf script` output (FILE, or standard input) and writes folded stacks,\n"
		       "exactly as FlameGraph's stackcollapse-perf.pl does.\n",
	.min_operands = 0,
	.max_operands = -1,
};

int cmd_collapse(int argc, char **argv)
{
	struct collapse_options o = { 0 };
	const char *output = "-";
	bool all = false;
	const struct cli_option options[] = {
		OPT_BOOL(0, "pid", &o.pid, "include the PID with the process name"),
		OPT_BOOL(0, "tid", &o.tid, "include the PID and TID with the process name"),
		OPT_BOOL(0, "kernel", &o.kernel, "annotate kernel functions with _[k]"),
		OPT_BOOL(0, "jit", &o.jit, "annotate JIT functions (/tmp/perf-PID.map) with _[j]"),
		OPT_BOOL(0, "all", &all, "all annotations (--kernel --jit)"),
		OPT_BOOL(0, "addrs", &o.addrs, "include raw addresses where symbols cannot be found"),
		OPT_STRING(0, "event-filter", "EV", &o.event_filter,
			   "keep only samples of event EV (default: the first event seen)"),
		OPT_STRING('o', "output", "FILE", &output,
			   "write to FILE: folded text, or a profile if it ends in .smolder,\n"
			   "or a flamegraph if it ends in .svg (default: standard output)"),
		OPT_END(),
	};
	struct cli_operands in;
	int parsed = cli_parse_options(&usage, options, argc, argv, &in);
	if (parsed != CLI_PARSED)
		return cli_exit_for(parsed);
	if (all)
		o.kernel = o.jit = true;
	/* Several files are read as one stream, as Perl's <> does, a block at a
	 * time: memory grows with the unique stacks, not with the input. */
	struct collapse_state *state = collapse_new(&o);
	size_t cap = 1 << 20, held = 0;
	char *buf = malloc(cap);
	if (!state || !buf) {
		collapse_abort(state);
		free(buf);
		cli_error("collapse", "out of memory");
		return EXIT_FAIL;
	}
	int err = 0, nfiles = in.count;
	for (int i = 0; i < (nfiles ? nfiles : 1) && !err; i++) {
		const char *path = nfiles ? in.args[i] : "-";
		int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : 0;
		if (fd < 0) {
			cli_error("collapse", "cannot read %s: %s", path, strerror(errno));
			err = -1;
			break;
		}
		for (;;) {
			if (held == cap) {
				/* one line longer than the buffer: grow, within reason */
				char *bigger = cap < (256u << 20) ? realloc(buf, cap * 2) : NULL;
				if (!bigger) {
					cli_error("collapse", "%s: a line longer than 256 MiB", path);
					err = -1;
					break;
				}
				buf = bigger;
				cap *= 2;
			}
			ssize_t n = read(fd, buf + held, cap - held);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				cli_error("collapse", "cannot read %s: %s", path, strerror(errno));
				err = -1;
				break;
			}
			if (n == 0)
				break;
			held += (size_t)n;
			size_t used;
			if ((err = collapse_feed(state, buf, held, &used))) {
				cli_error("collapse", "%s", profile_strerror((enum profile_error)-err));
				break;
			}
			memmove(buf, buf + used, held - used);
			held -= used;
		}
		if (fd > 0)
			close(fd);
	}
	struct collapse_result *r = NULL;
	struct collapse_stats stats;
	if (err) {
		collapse_abort(state);
		free(buf);
		return EXIT_FAIL;
	}
	err = collapse_finish(state, buf, held, &r, &stats);
	free(buf);
	if (err) {
		cli_error("collapse", "%s", profile_strerror((enum profile_error)-err));
		return EXIT_FAIL;
	}
	if (stats.unrecognized_lines)
		cli_warn("collapse", "%llu unrecognized lines, the first: '%s'",
			 (unsigned long long)stats.unrecognized_lines, stats.first_unrecognized);
	if (stats.clamped)
		cli_warn("collapse", "%llu counts above 9223372036854775807 (the largest a profile holds) were held "
				     "at it", (unsigned long long)stats.clamped);
	if (stats.filtered_events)
		cli_warn("collapse", "several event types: kept only '%s' (choose with --event-filter)",
			 stats.event);
	int status = EXIT_OK;
	if (cli_format_for_path(output) == OUTPUT_FOLDED) {
		FILE *f = cli_open_output("collapse", output);
		bool written = f && collapse_result_write(r, f) == 0;
		if (!f || cli_close_output("collapse", output, f, written) || !written)
			status = EXIT_FAIL;
	} else {
		struct profile p;
		profile_init(&p);
		if (collapse_result_to_profile(r, &p)) {
			cli_error("collapse", "out of memory");
			status = EXIT_FAIL;
		} else if (p.samples.count == 0) {
			cli_error("collapse", "no stacks found in the input: is it `perf script` output of a "
					      "recording made with -g?");
			status = EXIT_FAIL;
		} else if (cli_write_output("collapse", &p, output, NULL, NULL)) {
			status = EXIT_FAIL;
		}
		profile_release(&p);
	}
	collapse_result_free(r);
	return status;
}
