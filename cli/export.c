/* smolder export: interchange formats. */
#include <string.h>

#include "cli/cli.h"

static const struct cli_usage usage = {
	.cmd = "export",
	.synopsis = "--format pprof|speedscope|firefox|folded FILE -o OUT",
	.description = "Converts a profile (or folded text) to another tool's format: pprof\n"
		       "(gzip-compressed profile.proto, every value a sample type), speedscope's JSON\n"
		       "(one profile per value, and each thread's time order where the profile kept\n"
		       "times), the Firefox Profiler's Gecko profile JSON (threads, a sample per event\n"
		       "at its time; profiler.firefox.com and speedscope open it) or folded text.\n",
	.min_operands = 1,
	.max_operands = 1,
	.operands_error = "needs one input FILE and -o OUT",
};

int cmd_export(int argc, char **argv)
{
	const char *format = NULL, *output = NULL, *range = NULL;
	struct render_select sel = { 0 };
	const struct cli_option options[] = {
		OPT_STRING('f', "format", "FMT", &format, "pprof, speedscope, firefox or folded (default: from OUT's\nname: .pb.gz, .json, .firefox.json, .folded)"),
		OPT_REQUIRED_STRING('o', "output", "OUT", &output, "where to write ('-': standard output)"),
		OPT_STRING(0, "value", "NAME", &sel.value, "folded: which value; speedscope: which time value for\nthe threads' time order (cpu, offcpu, io_latency)"),
		OPT_BOOL(0, "per-process", &sel.per_process, "a 'name-pid' frame per process, below its name"),
		OPT_BOOL(0, "per-thread", &sel.per_thread, "folded, speedscope: a 'name-tid' frame"),
		OPT_TIME_RANGE(&range),
		OPT_END(),
	};
	struct cli_operands in;
	int parsed = cli_parse_options(&usage, options, argc, argv, &in);
	if (parsed != CLI_PARSED)
		return cli_exit_for(parsed);
	enum output_format f = cli_format_for_path(output);
	if (format) {
		if (strcmp(format, "pprof") == 0)
			f = OUTPUT_PPROF;
		else if (strcmp(format, "speedscope") == 0)
			f = OUTPUT_SPEEDSCOPE;
		else if (strcmp(format, "folded") == 0)
			f = OUTPUT_FOLDED;
		else if (strcmp(format, "firefox") == 0)
			f = OUTPUT_FIREFOX;
		else {
			cli_error("export", "unknown format '%s': use pprof, speedscope, firefox or folded", format);
			return EXIT_USAGE;
		}
	} else if (f == OUTPUT_SMOLDER || f == OUTPUT_SVG || f == OUTPUT_HTML) {
		cli_error("export", "cannot tell the format from '%s': give --format", output);
		return EXIT_USAGE;
	}
	struct profile p;
	profile_init(&p);
	int status = EXIT_FAIL;
	if (cli_load_profile("export", in.args[0], &p) == 0 && cli_keep_time_range("export", range, &p) == 0) {
		FILE *out = cli_open_output("export", output);
		int err = 0;
		if (out) {
			err = f == OUTPUT_PPROF ? render_pprof(&p, out)
			    : f == OUTPUT_SPEEDSCOPE ? render_speedscope(&p, &sel, out)
			    : f == OUTPUT_FIREFOX ? render_firefox(&p, out)
			    : render_folded(&p, &sel, out);
			if (err == -RENDER_E_NO_VALUE)
				cli_error("export", "the profile has no value '%s'", sel.value);
			else if (err)
				cli_error("export", "%s", render_strerror((enum render_error)-err));
			if (cli_close_output("export", output, out, !err) == 0 && !err)
				status = EXIT_OK;
		}
	}
	profile_release(&p);
	return status;
}
