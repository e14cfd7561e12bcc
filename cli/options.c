/* Each command's options as one table (as git's parse-options.h): the
 * table parses argv into the command's struct and writes the --help text,
 * so the two never drift. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"

/* The help text's options start here; longer ones put their text below. */
#define HELP_COLUMN 23

static bool takes_arg(const struct cli_option *o)
{
	return o->kind != CLI_OPT_BOOL;
}

static void print_option(const struct cli_option *o, FILE *out)
{
	char label[128];
	if (o->short_name)
		snprintf(label, sizeof(label), "  -%c%s%s%s%s", o->short_name, o->long_name ? ", --" : "",
			 o->long_name ? o->long_name : "", takes_arg(o) ? " " : "", takes_arg(o) ? o->arg_name : "");
	else
		snprintf(label, sizeof(label), "  --%s%s%s", o->long_name, takes_arg(o) ? " " : "",
			 takes_arg(o) ? o->arg_name : "");
	int width = (int)strlen(label);
	fputs(label, out);
	if (width + 2 > HELP_COLUMN)
		fprintf(out, "\n%*s", HELP_COLUMN, "");
	else
		fprintf(out, "%*s", HELP_COLUMN - width, "");
	/* Continuation lines of the help are indented under its first. */
	for (const char *line = o->help; *line;) {
		size_t n = strcspn(line, "\n");
		fprintf(out, "%.*s\n", (int)n, line);
		line += n;
		if (*line == '\n' && *++line)
			fprintf(out, "%*s", HELP_COLUMN, "");
	}
}

void cli_print_help(const struct cli_usage *u, const struct cli_option *opts, FILE *out)
{
	for (const char *line = u->synopsis; *line;) {
		size_t n = strcspn(line, "\n");
		fprintf(out, "%s smolder %s %.*s\n", line == u->synopsis ? "usage:" : "      ", u->cmd, (int)n, line);
		line += n + (line[n] == '\n');
	}
	fprintf(out, "\n%s\n", u->description);
	for (const struct cli_option *o = opts; o->kind != CLI_OPT_END; o++)
		if (!o->hidden)
			print_option(o, out);
	fprintf(out, "  -h, --help%*sthis help\n", HELP_COLUMN - 12, "");
	if (u->footer)
		fprintf(out, "\n%s", u->footer);
}

/* "--name" or "-c", as the user may have typed it, for messages. */
static void option_name(const struct cli_option *o, bool as_long, char *buf, size_t len)
{
	if (as_long || !o->short_name)
		snprintf(buf, len, "--%s", o->long_name);
	else
		snprintf(buf, len, "-%c", o->short_name);
}

/* Stores arg (NULL for flags) where the option says; -2 after reporting a
 * bad value. */
static int apply(const char *cmd, const struct cli_option *o, const char *name, const char *arg)
{
	unsigned long long u;
	switch (o->kind) {
	case CLI_OPT_BOOL:
		*(bool *)o->value = true;
		return 0;
	case CLI_OPT_STRING:
		*(const char **)o->value = arg;
		return 0;
	case CLI_OPT_U32:
		if (cli_parse_uint(cmd, name, arg, o->max ? o->max : UINT32_MAX, &u))
			return -2;
		*(uint32_t *)o->value = (uint32_t)u;
		return 0;
	case CLI_OPT_U64:
		if (cli_parse_uint(cmd, name, arg, o->max ? o->max : UINT64_MAX, &u))
			return -2;
		*(uint64_t *)o->value = u;
		return 0;
	case CLI_OPT_DOUBLE:
		return cli_parse_double(cmd, name, arg, (double *)o->value) ? -2 : 0;
	case CLI_OPT_CALLBACK:
		return o->callback(cmd, name, arg, o->value) ? -2 : 0;
	default:
		return -2;
	}
}

static const struct cli_option *find_long(const struct cli_option *opts, const char *name, size_t len)
{
	for (const struct cli_option *o = opts; o->kind != CLI_OPT_END; o++)
		if (o->long_name && strlen(o->long_name) == len && strncmp(o->long_name, name, len) == 0)
			return o;
	return NULL;
}

static const struct cli_option *find_short(const struct cli_option *opts, char c)
{
	for (const struct cli_option *o = opts; o->kind != CLI_OPT_END; o++)
		if (o->short_name == c)
			return o;
	return NULL;
}

/* "--name", "--name=value" or "--name value" at argv[*i]. */
static int parse_long(const struct cli_usage *u, const struct cli_option *opts, int argc, char **argv, int *i)
{
	const char *name = argv[*i] + 2, *eq = strchr(name, '=');
	size_t len = eq ? (size_t)(eq - name) : strlen(name);
	if (len == 4 && strncmp(name, "help", 4) == 0)
		return 1;
	const struct cli_option *o = find_long(opts, name, len);
	if (!o) {
		cli_error(u->cmd, "unknown option '--%.*s'", (int)len, name);
		return -1;
	}
	char shown[64];
	option_name(o, true, shown, sizeof(shown));
	if (!takes_arg(o)) {
		if (eq) {
			cli_error(u->cmd, "%s takes no value", shown);
			return -1;
		}
		return apply(u->cmd, o, shown, NULL);
	}
	const char *arg = eq ? eq + 1 : *i + 1 < argc ? argv[++*i] : NULL;
	if (!arg) {
		cli_error(u->cmd, "%s needs a value (%s)", shown, o->arg_name);
		return -1;
	}
	return apply(u->cmd, o, shown, arg);
}

/* "-c", "-cVALUE", "-c VALUE" or flags together ("-nq") at argv[*i]. */
static int parse_short(const struct cli_usage *u, const struct cli_option *opts, int argc, char **argv, int *i)
{
	for (const char *c = argv[*i] + 1; *c; c++) {
		if (*c == 'h')
			return 1;
		const struct cli_option *o = find_short(opts, *c);
		if (!o) {
			cli_error(u->cmd, "unknown option '-%c'", *c);
			return -1;
		}
		char shown[64];
		option_name(o, false, shown, sizeof(shown));
		if (!takes_arg(o)) {
			apply(u->cmd, o, shown, NULL); /* a flag cannot fail */
			continue;
		}
		const char *arg = c[1] ? c + 1 : *i + 1 < argc ? argv[++*i] : NULL;
		if (!arg) {
			cli_error(u->cmd, "%s needs a value (%s)", shown, o->arg_name);
			return -1;
		}
		return apply(u->cmd, o, shown, arg);
	}
	return 0;
}

static bool required_given(const struct cli_option *opts)
{
	for (const struct cli_option *o = opts; o->kind != CLI_OPT_END; o++)
		if (o->required && !*(const char **)o->value)
			return false;
	return true;
}

int cli_parse_options(const struct cli_usage *u, const struct cli_option *opts, int argc, char **argv,
		      struct cli_operands *operands)
{
	operands->count = 0;
	operands->args = NULL;
	/* Operands are moved to the front of argv + 1, in order, as GNU getopt
	 * permutes them; with stop_at_operand, the first one ends the options
	 * (a command to run keeps its own). */
	char **kept = argv + 1;
	int n = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int r = 0;
		if (strcmp(a, "--") == 0) {
			for (int k = i + 1; k < argc; k++)
				kept[n++] = argv[k];
			break;
		}
		if (a[0] != '-' || !a[1]) {
			if (u->stop_at_operand) {
				for (int k = i; k < argc; k++)
					kept[n++] = argv[k];
				break;
			}
			kept[n++] = argv[i];
			continue;
		}
		r = a[1] == '-' ? parse_long(u, opts, argc, argv, &i) : parse_short(u, opts, argc, argv, &i);
		if (r > 0) {
			cli_print_help(u, opts, stdout);
			return CLI_HELP_SHOWN;
		}
		if (r < 0) {
			/* A bad value's message says all; an unknown option gets the way to the list. */
			if (r == -1)
				cli_usage_error(u->cmd);
			return CLI_USAGE_ERROR;
		}
	}
	operands->args = kept;
	operands->count = n;
	if (n < u->min_operands || (u->max_operands >= 0 && n > u->max_operands) || !required_given(opts)) {
		if (u->operands_error)
			cli_error(u->cmd, "%s", u->operands_error);
		cli_usage_error(u->cmd);
		return CLI_USAGE_ERROR;
	}
	return CLI_PARSED;
}

int cli_choice(const char *arg, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (names[i] && strcmp(arg, names[i]) == 0)
			return (int)i;
	return -1;
}

int cli_exit_for(int parsed)
{
	return parsed == CLI_HELP_SHOWN ? EXIT_OK : EXIT_USAGE;
}

/* Whether path is a directory of this user's: root under sudo keeps the
 * user's HOME, where it is not to leave files the user cannot remove. */
static bool owned_dir(const char *path)
{
	struct stat st;
	return path && *path && stat(path, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid();
}

const char *cli_dwarf_cache_dir(char *buf, size_t len)
{
	const char *dir = getenv("SMOLDER_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	if (dir)
		return *dir ? dir : NULL; /* set empty: no cache */
	int n = owned_dir(xdg) ? snprintf(buf, len, "%s/smolder", xdg)
	      : owned_dir(home) ? snprintf(buf, len, "%s/.cache/smolder", home)
				: -1;
	return n > 0 && (size_t)n < len ? buf : NULL;
}
