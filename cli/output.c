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
			      "showing the %u distinct stacks it holds", name, info.chunks, p->samples.count);
	if (stats.clamped)
		cli_warn(cmd, "%llu counts in %s above 9223372036854775807 (the largest a profile holds) were "
			      "held at it", (unsigned long long)stats.clamped, name);
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
	if (ends_with(path, ".html") || ends_with(path, ".htm"))
		return OUTPUT_HTML;
	if (ends_with(path, ".pb.gz") || ends_with(path, ".pprof"))
		return OUTPUT_PPROF;
	if (ends_with(path, ".firefox.json") || ends_with(path, ".gecko.json"))
		return OUTPUT_FIREFOX;
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

int cli_close_output(const char *cmd, const char *path, FILE *f, bool rendered)
{
	bool failed = ferror(f) != 0, to_file = path && strcmp(path, "-") != 0;
	if (f == stdout)
		failed |= fflush(f) != 0;
	else
		failed |= fclose(f) != 0;
	if (failed)
		cli_error(cmd, "cannot write %s: %s", to_file ? path : "standard output", strerror(errno ? errno : EIO));
	if ((failed || !rendered) && to_file)
		unlink(path);
	return failed ? -1 : 0;
}

int cli_output_open(const char *cmd, const char *path, struct output_file *o)
{
	int err;
	if (strcmp(path, "-") == 0) {
		*o = (struct output_file){ .fd = dup(STDOUT_FILENO), .path = strdup("standard output") };
		err = o->fd < 0 ? -errno : !o->path ? -ENOMEM : 0;
		if (err)
			output_file_release(o, false);
	} else {
		err = output_file_open(o, path);
	}
	if (err)
		cli_error(cmd, "cannot write %s: %s", path, strerror(-err));
	return err ? -1 : 0;
}

/* Renders p in the format path's extension names into f. */
static int render_by_format(enum output_format format, const struct profile *p, const struct render_select *sel,
			    const struct flame_options *fo, FILE *f)
{
	int v = render_value_index(p, sel->value);
	if (format == OUTPUT_FOLDED)
		return render_folded(p, sel, f);
	if (format == OUTPUT_PPROF)
		return render_pprof(p, f);
	if (format == OUTPUT_SPEEDSCOPE)
		return render_speedscope(p, sel, f);
	if (format == OUTPUT_FIREFOX)
		return render_firefox(p, f);
	if (format == OUTPUT_HTML) {
		struct html_report_options ho = { .title = fo ? fo->title : NULL, .sel = *sel };
		return render_html_report(p, NULL, &ho, f);
	}
	if (v < 0)
		return v;
	struct flame_options o;
	if (fo)
		o = *fo;
	else
		flame_options_for_value(&o, p, (uint32_t)v);
	struct flame_tree t;
	int err = flame_tree_init(&t);
	if (!err)
		err = flame_tree_add_profile(&t, p, (uint32_t)v, sel, false);
	if (!err)
		err = render_flamegraph(&t, &o, f);
	flame_tree_release(&t);
	return err;
}

int cli_output_render(const char *cmd, const struct profile *p, struct output_file *o, const char *path,
		      const struct render_select *sel, const struct flame_options *fo)
{
	struct render_select default_sel = { 0 };
	FILE *f = fdopen(o->fd, "w");
	if (!f) {
		cli_error(cmd, "cannot write %s: %s", path, strerror(errno));
		output_file_release(o, false);
		return -1;
	}
	int fd = o->fd;
	o->fd = -1; /* f's now */
	int err = render_by_format(cli_format_for_path(path), p, sel ? sel : &default_sel, fo, f);
	bool write_failed = !err && (fflush(f) || ferror(f) || (fsync(fd) && errno != EINVAL && errno != EROFS));
	int saved = errno;
	write_failed |= fclose(f) != 0 && !err;
	if (err == -RENDER_E_NO_VALUE)
		cli_error(cmd, "the profile has no value '%s'", sel && sel->value ? sel->value : "(default)");
	else if (err)
		cli_error(cmd, "cannot render %s: %s", path, render_strerror((enum render_error)-err));
	else if (write_failed)
		cli_error(cmd, "cannot write %s: %s", path, strerror(saved ? saved : EIO));
	int commit = err || write_failed ? 0 : output_file_commit(o);
	if (commit)
		cli_error(cmd, "cannot write %s: %s", path, strerror(-commit));
	output_file_release(o, false);
	return err || write_failed || commit ? -1 : 0;
}

int cli_write_output(const char *cmd, const struct profile *p, const char *path,
		     const struct render_select *sel, const struct flame_options *fo)
{
	if (cli_format_for_path(path) == OUTPUT_SMOLDER) {
		int err = profile_write_file(p, path);
		if (err)
			cli_error(cmd, "cannot write %s: %s", path,
				  err == -PROFILE_E_IO ? strerror(errno) : profile_strerror((enum profile_error)-err));
		return err ? -1 : 0;
	}
	/* Rendered under a temporary name and renamed: a failure never leaves
	 * a half-written output under the real name. */
	struct output_file o;
	if (cli_output_open(cmd, path, &o))
		return -1;
	return cli_output_render(cmd, p, &o, path, sel, fo);
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

int cli_keep_time_range(const char *cmd, const char *range, struct profile *p)
{
	if (!range)
		return 0;
	const char *colon = strchr(range, ':');
	double from = 0, to = -1;
	char *end;
	if (!colon) {
		cli_error(cmd, "invalid --time-range '%s': expected START:END in seconds from the start "
			       "(either may be empty, as in 2: or :1.5)", range);
		return -1;
	}
	if (colon != range && ((from = strtod(range, &end)), end != colon || from < 0 || from != from)) {
		cli_error(cmd, "invalid --time-range start in '%s': expected seconds, as in 2.5:4", range);
		return -1;
	}
	if (colon[1] && ((to = strtod(colon + 1, &end)), *end || to < 0 || to != to)) {
		cli_error(cmd, "invalid --time-range end in '%s': expected seconds, as in 2.5:4", range);
		return -1;
	}
	uint64_t start, last;
	if (!profile_time_span(p, &start, &last)) {
		cli_error(cmd, "--time-range: %s: record with a smolder that keeps times (and without --no-times)",
			  profile_strerror(PROFILE_E_NO_TIMES));
		return -1;
	}
	double length = (double)(last - start) / 1e9;
	if (to < 0)
		to = length + 1;
	if (from >= to || from > length) {
		cli_error(cmd, "--time-range %s is outside the recording, which lasts %.3f s: give a range within "
			       "0:%.3f", range, length, length);
		return -1;
	}
	int err = profile_keep_time_range(p, start + (uint64_t)(from * 1e9), start + (uint64_t)(to * 1e9));
	if (err) {
		cli_error(cmd, "--time-range: %s", profile_strerror((enum profile_error)-err));
		return -1;
	}
	return 0;
}
