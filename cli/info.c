/* smolder info: a profile's metadata. */
#include <string.h>

#include "cli/cli.h"

static const char usage[] =
	"usage: smolder info FILE\n"
	"\n"
	"Prints a profile's metadata: command, pid, host, kernel, start, duration, view,\n"
	"event, rate, samples, lost samples, threads, mappings and build-ids.  Reads what\n"
	"a recording that did not finish left (FILE.partial), with a warning.\n"
	"\n"
	"  --locations         list every address with its inline chain, innermost first\n"
	"                      (as addr2line -f -i), and file:line\n"
	"  -h, --help          this help\n";

int cmd_info(int argc, char **argv)
{
	static const struct option options[] = {
		{ "locations", no_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	bool locations = false;
	int c;
	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		if (c == 'l') {
			locations = true;
			continue;
		}
		if (c == 'h') {
			fputs(usage, stdout);
			return EXIT_OK;
		}
		return cli_usage_error("info");
	}
	if (argc - optind != 1)
		return cli_usage_error("info");
	const char *path = argv[optind];
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
		if (e == 0 && cli_close_output("info", "-", stdout) == 0)
			status = EXIT_OK;
	}
	profile_release(&p);
	return status;
}
