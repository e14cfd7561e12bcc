/* smolder diff: what changed between two profiles. */
#include <string.h>

#include "cli/cli.h"

static const struct cli_usage usage = {
	.cmd = "diff",
	.synopsis = "[options] BASE NEW -o diff.svg\n[options] BASE NEW -o diff.html\n--report [options] BASE NEW\n--folded [-n] BASE NEW",
	.description = "Compares two profiles (or folded stacks from any tool). By default draws a\n"
		       "differential flamegraph: widths from NEW, red where a frame's share grew, blue\n"
		       "where it shrank, stronger with the change; dashed outlines mark frames only in\n"
		       "NEW. Shares are of each profile's total, so recordings of different lengths\n"
		       "compare.\n",
	.min_operands = 2,
	.max_operands = 2,
	.operands_error = "needs two inputs: BASE and NEW",
};

static int parse_format(const char *cmd, const char *name, const char *arg, void *value)
{
	static const char *const names[] = { [DIFF_FORMAT_TEXT] = "text", [DIFF_FORMAT_TSV] = "tsv",
					     [DIFF_FORMAT_JSON] = "json" };
	int i = cli_choice(arg, names, sizeof(names) / sizeof(names[0]));
	if (i < 0) {
		cli_error(cmd, "%s must be text, tsv or json", name);
		return -1;
	}
	*(enum diff_format *)value = (enum diff_format)i;
	return 0;
}

/* Points of a share: a number, 0 or more. */
static int parse_points(const char *cmd, const char *name, const char *arg, void *value)
{
	double d;
	if (cli_parse_double(cmd, name, arg, &d))
		return -1;
	if (d < 0) {
		cli_error(cmd, "%s takes a number of percentage points, 0 or more", name);
		return -1;
	}
	*(double *)value = d;
	return 0;
}

struct diff_args {
	const char *output, *time_range;
	bool report, folded, normalize, absolute;
	struct diff_report_options ro;
	struct render_select sel;
	struct flame_options fo;
};

/* The options, parsed into a; CLI_PARSED or what to return. */
static int parse_diff_args(struct diff_args *a, int argc, char **argv, struct cli_operands *in)
{
	*a = (struct diff_args){ .output = "-", .ro = { .limit = 20, .fail_above = -1 } };
	flame_options_init(&a->fo);
	a->fo.differential = true;
	a->fo.title = "Differential Flame Graph";
	const struct cli_option options[] = {
		OPT_STRING('o', "output", "FILE", &a->output, "the SVG (default: standard output); FILE.html: the HTML\nreport, differential, with a heatmap of each profile"),
		OPT_STRING(0, "time-range", "START:END", &a->time_range, "the same range of both profiles: START:END s from each\nrecording's start (either may be empty)"),
		OPT_BOOL(0, "report", &a->report, "a table of the functions whose total and self shares moved most"),
		OPT_U32(0, "limit", "N", &a->ro.limit, 1000000, "report rows (20; 0 for all)"),
		OPT_CALLBACK(0, "format", "FMT", &a->ro.format, parse_format, "report as text, tsv or json"),
		OPT_CALLBACK(0, "fail-above", "PCT", &a->ro.fail_above, parse_points,
			     "exit 3 if any function's total share grew by more than\n"
			     "PCT points (a CI gate), naming them on stderr"),
		OPT_BOOL(0, "folded", &a->folded, "two-column folded text, as FlameGraph's difffolded.pl"),
		OPT_BOOL('n', "normalize", &a->normalize, "--folded: scale BASE's counts to NEW's total (difffolded -n)"),
		OPT_BOOL(0, "absolute", &a->absolute, "compare raw counts instead of shares"),
		OPT_BOOL(0, "negate", &a->fo.negate, "widths from BASE, to show what disappeared"),
		OPT_CALLBACK(0, "min-delta", "PCT", &a->fo.min_delta, parse_points,
			     "frames whose share moved less than PCT points are grey"),
		OPT_STRING(0, "value", "NAME", &a->sel.value, "which value to compare (samples, cpu, bytes, ns, ...)"),
		OPT_STRING(0, "title", "TEXT", &a->fo.title, "the SVG's title"),
		OPT_BOOL(0, "per-process", &a->sel.per_process, "a 'name-pid' frame per process, below its name"),
		OPT_BOOL(0, "per-thread", &a->sel.per_thread, "a 'name-tid' frame per thread"),
		OPT_END(),
	};
	int parsed = cli_parse_options(&usage, options, argc, argv, in);
	a->ro.value = a->sel.value;
	a->ro.absolute = a->fo.absolute = a->absolute;
	a->report = a->report || a->ro.fail_above >= 0;
	return parsed;
}

int cmd_diff(int argc, char **argv)
{
	struct diff_args a;
	struct cli_operands in;
	int parsed = parse_diff_args(&a, argc, argv, &in);
	if (parsed != CLI_PARSED)
		return cli_exit_for(parsed);
	struct diff_report_options ro = a.ro;
	struct render_select sel = a.sel;
	struct flame_options fo = a.fo;
	const char *output = a.output;
	bool report = a.report, folded = a.folded, normalize = a.normalize;
	struct profile base, new_p;
	profile_init(&base);
	profile_init(&new_p);
	int status = EXIT_FAIL;
	if (cli_load_profile("diff", in.args[0], &base) || cli_load_profile("diff", in.args[1], &new_p) ||
	    cli_keep_time_range("diff", a.time_range, &base) || cli_keep_time_range("diff", a.time_range, &new_p))
		goto out;
	FILE *f = cli_open_output("diff", output);
	if (!f)
		goto out;
	int err;
	struct diff_gate gate = { 0 };
	if (folded) {
		err = render_diff_folded(&base, &new_p, &sel, normalize, f);
	} else if (report) {
		err = render_diff_report(&base, &new_p, &ro, f, &gate);
	} else if (cli_format_for_path(output) == OUTPUT_HTML) {
		struct html_report_options ho = { .title = fo.title, .sel = sel };
		err = render_html_report(&new_p, &base, &ho, f);
	} else {
		struct flame_tree t;
		err = flame_tree_init(&t);
		if (!err)
			err = flame_tree_add_diff(&t, &base, &new_p, &sel, fo.negate);
		if (!err) {
			int v = render_value_index(&new_p, sel.value);
			fo.countname = string_table_get(&new_p.strings, new_p.value_types[v].type);
			err = render_flamegraph(&t, &fo, f);
		}
		flame_tree_release(&t);
	}
	if (err == -RENDER_E_NO_VALUE)
		cli_error("diff", "a profile has no value '%s'", sel.value ? sel.value : "(default)");
	else if (err == -RENDER_E_BAD_OPTION)
		cli_error("diff", "the two profiles have different values: compare recordings of the same views");
	else if (err)
		cli_error("diff", "%s", render_strerror((enum render_error)-err));
	if (cli_close_output("diff", output, f, !err) || err)
		goto out;
	status = EXIT_OK;
	if (gate.exceeded) {
		for (uint32_t i = 0; i < gate.exceeded && i < DIFF_GATE_MAX; i++)
			cli_error("diff", "%s grew by %.2f points (%.2f%% -> %.2f%%), above --fail-above %g",
				  gate.hits[i].name, gate.hits[i].after - gate.hits[i].before, gate.hits[i].before,
				  gate.hits[i].after, ro.fail_above);
		status = EXIT_GATE;
	}
out:
	profile_release(&base);
	profile_release(&new_p);
	return status;
}
