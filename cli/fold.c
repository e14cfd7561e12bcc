/* smolder fold: a profile's folded stacks. */
#include "cli/cli.h"

static const char usage[] =
	"usage: smolder fold [options] [FILE]\n"
	"\n"
	"Writes the folded stacks ('frame;frame;frame count', sorted) of a profile or of\n"
	"folded text (FILE, or standard input).\n"
	"\n"
	"  --value NAME        which value to count (samples, cpu, offcpu, bytes, ns, ...)\n"
	"  --per-thread        a 'name-tid' frame below the process name\n"
	"  --reverse           stacks leaf first\n"
	"  --lines             add ' (file:line)' to frames where known\n"
	"  -o, --output FILE   write to FILE (default: standard output)\n"
	"  -h, --help          this help\n";

int cmd_fold(int argc, char **argv)
{
	static const struct option options[] = {
		{ "value", required_argument, NULL, 'v' },
		{ "per-thread", no_argument, NULL, 't' },
		{ "reverse", no_argument, NULL, 'r' },
		{ "lines", no_argument, NULL, 'l' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct render_select sel = { 0 };
	const char *output = "-";
	int c;
	while ((c = getopt_long(argc, argv, "o:h", options, NULL)) != -1) {
		switch (c) {
		case 'v': sel.value = optarg; break;
		case 't': sel.per_thread = true; break;
		case 'r': sel.reverse = true; break;
		case 'l': sel.with_lines = true; break;
		case 'o': output = optarg; break;
		case 'h': fputs(usage, stdout); return EXIT_OK;
		default: return cli_usage_error("fold");
		}
	}
	if (argc - optind > 1)
		return cli_usage_error("fold");
	struct profile p;
	profile_init(&p);
	int status = EXIT_FAIL;
	if (cli_load_profile("fold", optind < argc ? argv[optind] : "-", &p) == 0) {
		FILE *f = cli_open_output("fold", output);
		int err = f ? render_folded(&p, &sel, f) : 0;
		if (err == -RENDER_E_NO_VALUE)
			cli_error("fold", "the profile has no value '%s'", sel.value);
		else if (err)
			cli_error("fold", "%s", render_strerror((enum render_error)-err));
		if (f && cli_close_output("fold", output, f) == 0 && !err)
			status = EXIT_OK;
	}
	profile_release(&p);
	return status;
}
