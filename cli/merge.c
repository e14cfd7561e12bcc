/* smolder merge: one profile from many. */
#include <string.h>

#include "cli/cli.h"

static const char usage[] =
	"usage: smolder merge A B... -o OUT\n"
	"\n"
	"Adds up profiles (shards of a CI run, several hosts, repeated runs) or folded\n"
	"stacks into one; they must have the same values. OUT's extension picks the\n"
	"format (.smolder, .svg, .folded, .pb.gz, .speedscope.json). 'smolder info'\n"
	"lists the sources.\n"
	"\n"
	"  -o, --output OUT     where to write\n"
	"  -h, --help           this help\n";

int cmd_merge(int argc, char **argv)
{
	static const struct option options[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *output = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "o:h", options, NULL)) != -1) {
		switch (c) {
		case 'o': output = optarg; break;
		case 'h': fputs(usage, stdout); return EXIT_OK;
		default: return cli_usage_error("merge");
		}
	}
	if (!output || argc - optind < 1) {
		cli_error("merge", "needs inputs and -o OUT");
		return cli_usage_error("merge");
	}
	struct profile merged;
	profile_init(&merged);
	int status = EXIT_FAIL;
	char sources[4096] = "";
	size_t len = 0;
	for (int i = optind; i < argc; i++) {
		struct profile p;
		profile_init(&p);
		if (cli_load_profile("merge", argv[i], &p)) {
			profile_release(&p);
			goto out;
		}
		int err = profile_merge(&merged, &p);
		if (err == -PROFILE_E_VALUES) {
			cli_error("merge", "%s has other values than %s: merge profiles of the same view", argv[i],
				  argv[optind]);
		} else if (err) {
			cli_error("merge", "%s", profile_strerror((enum profile_error)-err));
		}
		if (!err && i == optind)
			for (uint32_t k = 0; k < p.meta.count; k++) {
				const struct meta_entry *e = profile_meta(&p, k);
				const char *key = string_table_get(&p.strings, e->key);
				if (strcmp(key, "view") == 0 || strcmp(key, "event") == 0 || strcmp(key, "frequency") == 0 ||
				    strcmp(key, "command") == 0)
					profile_set_meta(&merged, key, string_table_get(&p.strings, e->value));
			}
		profile_release(&p);
		if (err)
			goto out;
		if (len < sizeof(sources))
			len += (size_t)snprintf(sources + len, sizeof(sources) - len, "%s%s", len ? ", " : "", argv[i]);
	}
	if (profile_set_meta(&merged, "sources", sources)) {
		cli_error("merge", "out of memory");
		goto out;
	}
	if (cli_write_output("merge", &merged, output, NULL, NULL) == 0)
		status = EXIT_OK;
out:
	profile_release(&merged);
	return status;
}
