/* smolder report: top functions by self and total, for every value. */
#include "cli/cli.h"

static const struct cli_usage usage = {
	.cmd = "report",
	.synopsis = "[options] FILE",
	.description = "Prints the functions with the most self and total value, for every value of\n"
		       "every view in the profile (or folded text).\n",
	.min_operands = 1,
	.max_operands = 1,
};

int cmd_report(int argc, char **argv)
{
	struct report_options o = { .limit = 20 };
	const char *range = NULL;
	const struct cli_option options[] = {
		OPT_STRING(0, "value", "NAME", &o.value, "only this value (samples, cpu, offcpu, bytes, ns, ...)"),
		OPT_U32(0, "limit", "N", &o.limit, 1000000, "rows per table (20)"),
		OPT_TIME_RANGE(&range),
		OPT_END(),
	};
	struct cli_operands in;
	int parsed = cli_parse_options(&usage, options, argc, argv, &in);
	if (parsed != CLI_PARSED)
		return cli_exit_for(parsed);
	struct profile p;
	profile_init(&p);
	int status = EXIT_FAIL;
	if (cli_load_profile("report", in.args[0], &p) == 0 && cli_keep_time_range("report", range, &p) == 0) {
		int err = render_report(&p, &o, stdout);
		if (err == -RENDER_E_NO_VALUE)
			cli_error("report", "the profile has no value '%s'", o.value);
		else if (err)
			cli_error("report", "%s", render_strerror((enum render_error)-err));
		if (cli_close_output("report", "-", stdout, !err) == 0 && !err)
			status = EXIT_OK;
	}
	profile_release(&p);
	return status;
}
