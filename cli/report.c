/* smolder report: top functions by self and total, for every value. */
#include "cli/cli.h"

static const char usage[] =
	"usage: smolder report [options] FILE\n"
	"\n"
	"Prints the functions with the most self and total value, for every value of\n"
	"every view in the profile (or folded text).\n"
	"\n"
	"  --value NAME        only this value (samples, cpu, offcpu, bytes, ns, ...)\n"
	"  --limit N           rows per table (20)\n"
	"  -h, --help          this help\n";

int cmd_report(int argc, char **argv)
{
	static const struct option options[] = {
		{ "value", required_argument, NULL, 'v' },
		{ "limit", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct report_options o = { .limit = 20 };
	unsigned long long n;
	int c;
	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case 'v': o.value = optarg; break;
		case 'n':
			if (cli_parse_uint("report", "--limit", optarg, 1000000, &n))
				return EXIT_USAGE;
			o.limit = (uint32_t)n;
			break;
		case 'h': fputs(usage, stdout); return EXIT_OK;
		default: return cli_usage_error("report");
		}
	}
	if (argc - optind != 1)
		return cli_usage_error("report");
	struct profile p;
	profile_init(&p);
	int status = EXIT_FAIL;
	if (cli_load_profile("report", argv[optind], &p) == 0) {
		int err = render_report(&p, &o, stdout);
		if (err == -RENDER_E_NO_VALUE)
			cli_error("report", "the profile has no value '%s'", o.value);
		else if (err)
			cli_error("report", "%s", render_strerror((enum render_error)-err));
		if (cli_close_output("report", "-", stdout) == 0 && !err)
			status = EXIT_OK;
	}
	profile_release(&p);
	return status;
}
