/* smolder fold: a profile's folded stacks. */
#include "cli/cli.h"

static const struct cli_usage usage = {
	.cmd = "fold",
	.synopsis = "[options] [FILE]",
	.description = "Writes the folded stacks ('frame;frame;frame count', sorted) of a profile or of\n"
		       "folded text (FILE, or standard input).\n",
	.min_operands = 0,
	.max_operands = 1,
};

int cmd_fold(int argc, char **argv)
{
	struct render_select sel = { 0 };
	const char *output = "-", *range = NULL;
	const struct cli_option options[] = {
		OPT_STRING(0, "value", "NAME", &sel.value, "which value to count (samples, cpu, offcpu, bytes, ns, ...)"),
		OPT_BOOL(0, "per-process", &sel.per_process, "a 'name-pid' frame per process, below its name"),
		OPT_BOOL(0, "per-thread", &sel.per_thread, "a 'name-tid' frame below the process name"),
		OPT_BOOL(0, "reverse", &sel.reverse, "stacks leaf first"),
		OPT_BOOL(0, "lines", &sel.with_lines, "add ' (file:line)' to frames where known"),
		OPT_TIME_RANGE(&range),
		OPT_STRING('o', "output", "FILE", &output, "write to FILE (default: standard output)"),
		OPT_END(),
	};
	struct cli_operands in;
	int parsed = cli_parse_options(&usage, options, argc, argv, &in);
	if (parsed != CLI_PARSED)
		return cli_exit_for(parsed);
	struct profile p;
	profile_init(&p);
	int status = EXIT_FAIL;
	if (cli_load_profile("fold", in.count ? in.args[0] : "-", &p) == 0 && cli_keep_time_range("fold", range, &p) == 0) {
		FILE *f = cli_open_output("fold", output);
		int err = f ? render_folded(&p, &sel, f) : 0;
		if (err == -RENDER_E_NO_VALUE)
			cli_error("fold", "the profile has no value '%s'", sel.value);
		else if (err)
			cli_error("fold", "%s", render_strerror((enum render_error)-err));
		if (f && cli_close_output("fold", output, f, !err) == 0 && !err)
			status = EXIT_OK;
	}
	profile_release(&p);
	return status;
}
