/* The command-line front end: one entry function per subcommand (as git's
 * builtin/), and the one place that prints errors. */
#ifndef SMOLDER_CLI_H
#define SMOLDER_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "profile/profile.h"
#include "render/render.h"

/* Exit statuses shared by every command. */
enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,
	EXIT_USAGE = 2,
	EXIT_GATE = 3, /* diff --fail-above tripped */
};

struct cli_command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

int cmd_record(int argc, char **argv);
int cmd_flamegraph(int argc, char **argv);
int cmd_fold(int argc, char **argv);
int cmd_collapse(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_info(int argc, char **argv);

/* "smolder: <cmd>: <message>" on stderr. */
void cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cli_warn(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints usage for an unknown option and returns EXIT_USAGE. */
int cli_usage_error(const char *cmd);

/* Loads a profile or folded text, reporting any error once.  Returns 0 or -1. */
int cli_load_profile(const char *cmd, const char *path, struct profile *p);
/* Reports a profile error about path, with errno for I/O errors. */
void cli_profile_error(const char *cmd, const char *path, int err);

/* Output formats chosen by file extension. */
enum output_format {
	OUTPUT_SMOLDER,
	OUTPUT_SVG,
	OUTPUT_FOLDED,
	OUTPUT_PPROF,
	OUTPUT_SPEEDSCOPE,
};
enum output_format cli_format_for_path(const char *path);
/* Writes p to path in the format its extension names.  sel and fo may be NULL
 * for defaults.  Returns 0 or -1 after reporting. */
int cli_write_output(const char *cmd, const struct profile *p, const char *path,
		     const struct render_select *sel, const struct flame_options *fo);

/* Opens path for writing ("-" or NULL: stdout).  Reports and returns NULL on error. */
FILE *cli_open_output(const char *cmd, const char *path);
/* Closes what cli_open_output opened, reporting write errors; returns 0 or -1. */
int cli_close_output(const char *cmd, const char *path, FILE *f);

/* Parses a double/unsigned option argument or reports and returns -1. */
int cli_parse_double(const char *cmd, const char *opt, const char *arg, double *out);
int cli_parse_uint(const char *cmd, const char *opt, const char *arg, unsigned long long max,
		   unsigned long long *out);

#endif
