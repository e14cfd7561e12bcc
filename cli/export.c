/* smolder export: interchange formats. */
#include <string.h>

#include "cli/cli.h"

static const char usage[] =
	"usage: smolder export --format pprof|speedscope|folded FILE -o OUT\n"
	"\n"
	"Converts a profile (or folded text) to another tool's format: pprof\n"
	"(gzip-compressed profile.proto, every value a sample type), speedscope's JSON\n"
	"(one profile per value) or folded text.\n"
	"\n"
	"  -f, --format FMT    pprof, speedscope or folded (default: from OUT's name)\n"
	"  -o, --output OUT    where to write ('-': standard output)\n"
	"  --value NAME        folded: which value\n"
	"  --per-thread        folded, speedscope: a 'name-tid' frame\n"
	"  -h, --help          this help\n";

int cmd_export(int argc, char **argv)
{
	static const struct option options[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' },
		{ "value", required_argument, NULL, 'v' },
		{ "per-thread", no_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *format = NULL, *output = NULL;
	struct render_select sel = { 0 };
	int c;
	while ((c = getopt_long(argc, argv, "f:o:h", options, NULL)) != -1) {
		switch (c) {
		case 'f': format = optarg; break;
		case 'o': output = optarg; break;
		case 'v': sel.value = optarg; break;
		case 't': sel.per_thread = true; break;
		case 'h': fputs(usage, stdout); return EXIT_OK;
		default: return cli_usage_error("export");
		}
	}
	if (argc - optind != 1 || !output) {
		cli_error("export", "needs one input FILE and -o OUT");
		return cli_usage_error("export");
	}
	enum output_format f = cli_format_for_path(output);
	if (format) {
		if (strcmp(format, "pprof") == 0)
			f = OUTPUT_PPROF;
		else if (strcmp(format, "speedscope") == 0)
			f = OUTPUT_SPEEDSCOPE;
		else if (strcmp(format, "folded") == 0)
			f = OUTPUT_FOLDED;
		else {
			cli_error("export", "unknown format '%s': use pprof, speedscope or folded", format);
			return EXIT_USAGE;
		}
	} else if (f == OUTPUT_SMOLDER || f == OUTPUT_SVG) {
		cli_error("export", "cannot tell the format from '%s': give --format", output);
		return EXIT_USAGE;
	}
	struct profile p;
	profile_init(&p);
	int status = EXIT_FAIL;
	if (cli_load_profile("export", argv[optind], &p) == 0) {
		FILE *out = cli_open_output("export", output);
		int err = 0;
		if (out) {
			err = f == OUTPUT_PPROF ? render_pprof(&p, out)
			    : f == OUTPUT_SPEEDSCOPE ? render_speedscope(&p, &sel, out)
			    : render_folded(&p, &sel, out);
			if (err == -RENDER_E_NO_VALUE)
				cli_error("export", "the profile has no value '%s'", sel.value);
			else if (err)
				cli_error("export", "%s", render_strerror((enum render_error)-err));
			if (cli_close_output("export", output, out) == 0 && !err)
				status = EXIT_OK;
		}
	}
	profile_release(&p);
	return status;
}
