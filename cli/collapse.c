/* smolder collapse: `perf script` output to folded stacks, a drop-in for
 * stackcollapse-perf.pl. */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const char usage[] =
	"usage: smolder collapse [options] [FILE...]\n"
	"\n"
	"Reads `perf script` output (FILE, or standard input) and writes folded stacks,\n"
	"exactly as FlameGraph's stackcollapse-perf.pl does.\n"
	"\n"
	"  --pid               include the PID with the process name\n"
	"  --tid               include the PID and TID with the process name\n"
	"  --kernel            annotate kernel functions with _[k]\n"
	"  --jit               annotate JIT functions (/tmp/perf-PID.map) with _[j]\n"
	"  --all               all annotations (--kernel --jit)\n"
	"  --addrs             include raw addresses where symbols cannot be found\n"
	"  --event-filter=EV   keep only samples of event EV (default: the first event seen)\n"
	"  -o, --output FILE   write to FILE: folded text, or a profile if it ends in .smolder,\n"
	"                      or a flamegraph if it ends in .svg (default: standard output)\n"
	"  -h, --help          this help\n";

int cmd_collapse(int argc, char **argv)
{
	static const struct option options[] = {
		{ "pid", no_argument, NULL, 'p' },
		{ "tid", no_argument, NULL, 't' },
		{ "kernel", no_argument, NULL, 'k' },
		{ "jit", no_argument, NULL, 'j' },
		{ "all", no_argument, NULL, 'a' },
		{ "addrs", no_argument, NULL, 'A' },
		{ "event-filter", required_argument, NULL, 'e' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct collapse_options o = { 0 };
	const char *output = "-";
	int c;
	while ((c = getopt_long(argc, argv, "o:h", options, NULL)) != -1) {
		switch (c) {
		case 'p': o.pid = true; break;
		case 't': o.tid = true; break;
		case 'k': o.kernel = true; break;
		case 'j': o.jit = true; break;
		case 'a': o.kernel = o.jit = true; break;
		case 'A': o.addrs = true; break;
		case 'e': o.event_filter = optarg; break;
		case 'o': output = optarg; break;
		case 'h': fputs(usage, stdout); return EXIT_OK;
		default: return cli_usage_error("collapse");
		}
	}
	/* Several files are read as one stream, as Perl's <> does. */
	uint8_t *text = NULL;
	size_t len = 0;
	int nfiles = argc - optind;
	for (int i = 0; i < (nfiles ? nfiles : 1); i++) {
		const char *path = nfiles ? argv[optind + i] : "-";
		uint8_t *data;
		size_t n;
		int err = profile_slurp(path, &data, &n);
		if (err) {
			cli_profile_error("collapse", path, err);
			free(text);
			return EXIT_FAIL;
		}
		if (!text) {
			text = data;
			len = n;
			continue;
		}
		uint8_t *joined = realloc(text, len + n + 1);
		if (!joined) {
			free(data);
			free(text);
			cli_error("collapse", "out of memory");
			return EXIT_FAIL;
		}
		memcpy(joined + len, data, n + 1);
		text = joined;
		len += n;
		free(data);
	}
	struct collapse_result *r;
	struct collapse_stats stats;
	int err = collapse_perf((const char *)text, len, &o, &r, &stats);
	if (err) {
		free(text);
		cli_error("collapse", "%s", render_strerror((enum render_error)-err));
		return EXIT_FAIL;
	}
	if (stats.unrecognized_lines)
		cli_warn("collapse", "%llu unrecognized lines, the first: '%.*s'",
			 (unsigned long long)stats.unrecognized_lines, (int)stats.first_unrecognized_len,
			 stats.first_unrecognized);
	if (stats.filtered_events)
		cli_warn("collapse", "several event types: kept only '%s' (choose with --event-filter)",
			 stats.event);
	int status = EXIT_OK;
	if (cli_format_for_path(output) == OUTPUT_FOLDED) {
		FILE *f = cli_open_output("collapse", output);
		if (!f || collapse_result_write(r, f) || cli_close_output("collapse", output, f))
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
	free(text);
	return status;
}
