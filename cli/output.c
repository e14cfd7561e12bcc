/* What every command shares: reporting errors once, loading inputs, and
 * writing outputs in the format their file name asks for. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

static void vreport(const char *cmd, const char *kind, const char *fmt, va_list ap)
{
	fprintf(stderr, "smolder: %s: %s", cmd, kind);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void cli_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(cmd, "", fmt, ap);
	va_end(ap);
}

void cli_warn(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(cmd, "warning: ", fmt, ap);
	va_end(ap);
}

int cli_usage_error(const char *cmd)
{
	fprintf(stderr, "smolder: %s: see 'smolder %s --help'\n", cmd, cmd);
	return EXIT_USAGE;
}

void cli_profile_error(const char *cmd, const char *path, int err)
{
	const char *name = path && strcmp(path, "-") ? path : "standard input";
	if (err == -PROFILE_E_IO)
		cli_error(cmd, "cannot read %s: %s", name, strerror(errno));
	else
		cli_error(cmd, "%s: %s", name, profile_strerror((enum profile_error)-err));
}

int cli_load_profile(const char *cmd, const char *path, struct profile *p)
{
	struct profile_read_info info;
	struct folded_stats stats;
	int err = profile_load(p, path, &info, &stats);
	const char *name = path && strcmp(path, "-") ? path : "standard input";
	if (err == -PROFILE_E_NO_FOLDED) {
		cli_error(cmd, "%s: no valid folded stack lines (%llu lines read): expected "
			       "'frame;frame count' or a .smolder profile", name,
			  (unsigned long long)stats.lines);
		return -1;
	}
	if (err) {
		cli_profile_error(cmd, path, err);
		return -1;
	}
	if (info.truncated)
		cli_warn(cmd, "%s is truncated after %u chunks (the recorder did not finish): "
			      "showing the %u samples it holds", name, info.chunks, p->samples.count);
	if (stats.bad_lines)
		cli_warn(cmd, "ignored %llu of %llu lines of %s with invalid format",
			 (unsigned long long)stats.bad_lines, (unsigned long long)stats.lines, name);
	return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && strcmp(s + n - k, suffix) == 0;
}

enum output_format cli_format_for_path(const char *path)
{
	if (!path || strcmp(path, "-") == 0)
		return OUTPUT_FOLDED;
	if (ends_with(path, ".svg"))
		return OUTPUT_SVG;
	if (ends_with(path, ".pb.gz") || ends_with(path, ".pprof"))
		return OUTPUT_PPROF;
	if (ends_with(path, ".speedscope.json") || ends_with(path, ".json"))
		return OUTPUT_SPEEDSCOPE;
	if (ends_with(path, ".folded") || ends_with(path, ".txt"))
		return OUTPUT_FOLDED;
	return OUTPUT_SMOLDER;
}

FILE *cli_open_output(const char *cmd, const char *path)
{
	if (!path || strcmp(path, "-") == 0)
		return stdout;
	FILE *f = fopen(path, "w");
	if (!f)
		cli_error(cmd, "cannot write %s: %s", path, strerror(errno));
	return f;
}

int cli_close_output(const char *cmd, const char *path, FILE *f)
{
	bool failed = ferror(f) != 0;
	if (f == stdout)
		failed |= fflush(f) != 0;
	else
		failed |= fclose(f) != 0;
	if (failed) {
		cli_error(cmd, "cannot write %s: %s", path && strcmp(path, "-") ? path : "standard output",
			  strerror(errno ? errno : EIO));
		if (path && strcmp(path, "-"))
			unlink(path);
		return -1;
	}
	return 0;
}

int cli_write_output(const char *cmd, const struct profile *p, const char *path,
		     const struct render_select *sel, const struct flame_options *fo)
{
	struct render_select default_sel = { 0 };
	if (!sel)
		sel = &default_sel;
	enum output_format format = cli_format_for_path(path);
	if (format == OUTPUT_SMOLDER) {
		int err = profile_write_file(p, path);
		if (err == -PROFILE_E_IO) {
			cli_error(cmd, "cannot write %s: %s", path, strerror(errno));
			return -1;
		}
		if (err) {
			cli_error(cmd, "cannot write %s: %s", path, profile_strerror((enum profile_error)-err));
			return -1;
		}
		return 0;
	}
	/* Everything else is rendered to a temporary file and renamed, so that
	 * a failure never leaves a half-written output under the real name. */
	char *tmp = NULL;
	bool to_stdout = strcmp(path, "-") == 0;
	if (!to_stdout && asprintf(&tmp, "%s.partial", path) < 0) {
		cli_error(cmd, "out of memory");
		return -1;
	}
	FILE *f = cli_open_output(cmd, to_stdout ? "-" : tmp);
	if (!f) {
		free(tmp);
		return -1;
	}
	int err = 0;
	int v = render_value_index(p, sel->value);
	switch (format) {
	case OUTPUT_SVG: {
		if (v < 0) {
			err = v;
			break;
		}
		struct flame_options o;
		if (fo)
			o = *fo;
		else
			flame_options_for_value(&o, p, (uint32_t)v);
		struct flame_tree t;
		err = flame_tree_init(&t);
		if (!err)
			err = flame_tree_add_profile(&t, p, (uint32_t)v, sel, false);
		if (!err)
			err = render_flamegraph(&t, &o, f);
		flame_tree_release(&t);
		break;
	}
	case OUTPUT_FOLDED: err = render_folded(p, sel, f); break;
	case OUTPUT_PPROF: err = render_pprof(p, f); break;
	case OUTPUT_SPEEDSCOPE: err = render_speedscope(p, sel, f); break;
	case OUTPUT_SMOLDER: break;
	}
	if (err) {
		if (f != stdout)
			fclose(f);
		if (tmp)
			unlink(tmp);
		free(tmp);
		if (err == -RENDER_E_NO_VALUE)
			cli_error(cmd, "the profile has no value '%s'", sel->value);
		else
			cli_error(cmd, "cannot render %s: %s", path, render_strerror((enum render_error)-err));
		return -1;
	}
	if (cli_close_output(cmd, to_stdout ? "-" : tmp, f)) {
		free(tmp);
		return -1;
	}
	if (tmp && rename(tmp, path)) {
		cli_error(cmd, "cannot write %s: %s", path, strerror(errno));
		unlink(tmp);
		free(tmp);
		return -1;
	}
	free(tmp);
	return 0;
}

int cli_parse_double(const char *cmd, const char *opt, const char *arg, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(arg, &end);
	if (errno || end == arg || *end || v != v) {
		cli_error(cmd, "invalid number for %s: '%s'", opt, arg);
		return -1;
	}
	*out = v;
	return 0;
}

int cli_parse_uint(const char *cmd, const char *opt, const char *arg, unsigned long long max,
		   unsigned long long *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(arg, &end, 10);
	if (errno || end == arg || *end || arg[0] == '-' || v > max) {
		cli_error(cmd, "invalid value for %s: '%s' (expected 0 to %llu)", opt, arg, max);
		return -1;
	}
	*out = v;
	return 0;
}
