/* smolder merge: one profile from many. */
#include <string.h>

#include "cli/cli.h"

static const struct cli_usage usage = {
	.cmd = "merge",
	.synopsis = "A B... -o OUT",
	.description = "Adds up profiles (shards of a CI run, several hosts, repeated runs) or folded\n"
		       "stacks into one; they must have the same values. OUT's extension picks the\n"
		       "format (.smolder, .svg, .folded, .pb.gz, .speedscope.json). 'smolder info'\n"
		       "lists the sources.\n",
	.min_operands = 1,
	.max_operands = -1,
	.operands_error = "needs inputs and -o OUT",
};

int cmd_merge(int argc, char **argv)
{
	const char *output = NULL;
	const struct cli_option options[] = {
		OPT_REQUIRED_STRING('o', "output", "OUT", &output, "where to write"),
		OPT_END(),
	};
	struct cli_operands in;
	int parsed = cli_parse_options(&usage, options, argc, argv, &in);
	if (parsed != CLI_PARSED)
		return cli_exit_for(parsed);
	struct profile merged;
	profile_init(&merged);
	int status = EXIT_FAIL;
	char sources[4096] = "";
	size_t len = 0;
	for (int i = 0; i < in.count; i++) {
		struct profile p;
		profile_init(&p);
		if (cli_load_profile("merge", in.args[i], &p)) {
			profile_release(&p);
			goto out;
		}
		int err = profile_merge(&merged, &p);
		if (err == -PROFILE_E_VALUES) {
			cli_error("merge", "%s has other values than %s: merge profiles of the same view", in.args[i],
				  in.args[0]);
		} else if (err) {
			cli_error("merge", "%s", profile_strerror((enum profile_error)-err));
		}
		if (!err && i == 0)
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
			len += (size_t)snprintf(sources + len, sizeof(sources) - len, "%s%s", len ? ", " : "", in.args[i]);
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
