/* smolder info: a profile's metadata. */
#include <string.h>

#include "cli/cli.h"

static const struct cli_usage usage = {
	.cmd = "info",
	.synopsis = "FILE",
	.description = "Prints a profile's metadata: command, pid, host, kernel, start, duration, view,\n"
		       "event, rate, samples, lost samples, threads, mappings and build-ids.  Reads what\n"
		       "a recording that did not finish left (FILE.partial), with a warning.\n",
	.min_operands = 1,
	.max_operands = 1,
};

int cmd_info(int argc, char **argv)
{
	bool locations = false;
	const struct cli_option options[] = {
		OPT_BOOL(0, "locations", &locations, "list every address with its inline chain, innermost first\n"
						     "(as addr2line -f -i), and file:line"),
		OPT_END(),
	};
	struct cli_operands in;
	int parsed = cli_parse_options(&usage, options, argc, argv, &in);
	if (parsed != CLI_PARSED)
		return cli_exit_for(parsed);
	const char *path = in.args[0];
	struct profile p;
	profile_init(&p);
	struct profile_read_info ri;
	int status = EXIT_FAIL;
	int err = profile_read_file(&p, path, &ri);
	if (err) {
		cli_profile_error("info", path, err);
	} else {
		if (ri.truncated)
			cli_warn("info", "%s is truncated after %u chunks (the recorder did not finish)",
				 path, ri.chunks);
		int e = locations ? render_locations(&p, stdout) : render_info(&p, &ri, stdout);
		if (cli_close_output("info", "-", stdout, e == 0) == 0 && e == 0)
			status = EXIT_OK;
	}
	profile_release(&p);
	return status;
}
