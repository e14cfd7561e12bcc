/* smolder: the command table and dispatch (as perf.c and git.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const struct cli_command commands[] = {
	{ "record", cmd_record, "sample a process or command and write a profile or flamegraph" },
	{ "flamegraph", cmd_flamegraph, "SVG flamegraph from a profile or folded stacks" },
	{ "fold", cmd_fold, "folded stacks from a profile" },
	{ "collapse", cmd_collapse, "folded stacks from `perf script` output" },
	{ "diff", cmd_diff, "differential flamegraph or report of two profiles" },
	{ "report", cmd_report, "top functions by self and total" },
	{ "export", cmd_export, "pprof, speedscope or folded from a profile" },
	{ "merge", cmd_merge, "one profile from many" },
	{ "info", cmd_info, "a profile's metadata" },
	{ "top", cmd_top, "a live table of the hottest functions, refreshed" },
};

static void usage(FILE *out)
{
	fputs("usage: smolder [--version] [--help] <command> [<args>]\n\n"
	      "A sampling profiler and flamegraph generator for Linux.\n\n"
	      "commands:\n", out);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-11s %s\n", commands[i].name, commands[i].summary);
	fputs("\nRun 'smolder <command> --help' for a command's options; 'man smolder-<command>'.\n", out);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *name = argv[1];
	if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
		usage(stdout);
		return EXIT_OK;
	}
	if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
		printf("smolder %s\n", PACKAGE_VERSION);
#ifdef HAVE_LIBDEBUGINFOD
		puts("debuginfod: yes (debug files fetched by build-id when DEBUGINFOD_URLS is set,\n"
		     "            through libdebuginfod.so.1, loaded then)");
#else
		puts("debuginfod: no (built without libdebuginfod: local debug files only)");
#endif
		return EXIT_OK;
	}
#ifndef HAVE_LIBDEBUGINFOD
	/* libdw would load libdebuginfod by itself when this is set: a build
	 * without it promises local files only. */
	unsetenv("DEBUGINFOD_URLS");
#endif
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(name, commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "smolder: '%s' is not a smolder command: see 'smolder --help'\n", name);
	return EXIT_USAGE;
}
