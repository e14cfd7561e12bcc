/* smolder flamegraph: an SVG from a profile or folded text; takes
 * flamegraph.pl's options. */
#include <math.h>
#include <string.h>

#include "cli/cli.h"

static const struct cli_usage usage = {
	.cmd = "flamegraph",
	.synopsis = "[options] [FILE] > graph.svg\n[options] [FILE] -o report.html",
	.description = "Draws an interactive SVG flamegraph of a profile or of folded stacks (FILE, or\n"
		       "standard input). Takes the options of FlameGraph's flamegraph.pl. With -o\n"
		       "NAME.html, writes the HTML report instead: a heatmap of the samples over time\n"
		       "where a dragged range becomes the flamegraph, every value of the profile, and a\n"
		       "sortable table of top functions, in one self-contained page.\n",
	.min_operands = 0,
	.max_operands = 1,
};

/* What was given; NULL and NaN: the view's default. */
struct flamegraph_args {
	const char *title, *subtitle, *notes, *font_type, *countname, *nametype, *colors, *output, *ignored;
	const char *time_range;
	double width, height, min_width, font_size;
	bool hash, inverted, no_op;
	struct render_select sel;
};

static int parse_flamegraph_args(struct flamegraph_args *a, int argc, char **argv, struct cli_operands *in)
{
	*a = (struct flamegraph_args){ .output = "-", .width = NAN, .height = NAN, .min_width = NAN,
				       .font_size = NAN };
	const struct cli_option options[] = {
		OPT_STRING(0, "title", "TEXT", &a->title, "title (default: by view, 'Flame Graph' for folded text)"),
		OPT_STRING(0, "subtitle", "TEXT", &a->subtitle, "second line of the title"),
		OPT_STRING(0, "notes", "TEXT", &a->notes, "a note under the title"),
		OPT_DOUBLE(0, "width", "PX", &a->width, "image width (1200)"),
		OPT_DOUBLE(0, "height", "PX", &a->height, "frame height (16)"),
		OPT_DOUBLE(0, "minwidth", "PX", &a->min_width, "omit frames narrower than this (0.1)"),
		OPT_STRING(0, "fonttype", "FONT", &a->font_type, "font family (Verdana)"),
		OPT_DOUBLE(0, "fontsize", "PX", &a->font_size, "font size (12)"),
		OPT_STRING(0, "countname", "NAME", &a->countname, "what the counts are (default: the value's name)"),
		OPT_STRING(0, "nametype", "TEXT", &a->nametype, "what the names are ('Function:')"),
		OPT_STRING(0, "colors", "PALETTE", &a->colors,
			   "hot, mem, io, wakeup, red, green, blue, aqua, yellow, purple,\n"
			   "orange, java, js, perl, chain (default: by view)"),
		OPT_HIDDEN_STRING("color", &a->colors),
		OPT_BOOL(0, "hash", &a->hash, "colour by function name, similar names alike"),
		OPT_BOOL(0, "reverse", &a->sel.reverse, "merge stacks by leaf"),
		OPT_BOOL(0, "inverted", &a->inverted, "icicle graph: root at the top"),
		OPT_STRING(0, "value", "NAME", &a->sel.value, "which value to draw (samples, cpu, offcpu, bytes, ns, ...)"),
		OPT_BOOL(0, "per-process", &a->sel.per_process, "a 'name-pid' frame per process, below its name"),
		OPT_BOOL(0, "per-thread", &a->sel.per_thread, "a 'name-tid' frame below the process name"),
		OPT_BOOL(0, "lines", &a->sel.with_lines, "add ' (file:line)' to frames where known"),
		OPT_TIME_RANGE(&a->time_range),
		OPT_STRING('o', "output", "FILE", &a->output, "write to FILE (default: standard output); FILE.html: the\nHTML report"),
		/* flamegraph.pl's, which change nothing here. */
		OPT_HIDDEN_STRING("fontwidth", &a->ignored),
		OPT_HIDDEN_BOOL("cp", &a->no_op),
		OPT_END(),
	};
	return cli_parse_options(&usage, options, argc, argv, in);
}

/* The view's defaults, with what was given over them; -1 after reporting. */
static int flame_options_from_args(struct flame_options *o, const struct flamegraph_args *a,
				   const struct profile *p, uint32_t v)
{
	flame_options_for_value(o, p, v);
	const char **texts[] = { &o->title, &o->subtitle, &o->notes, &o->font_type, &o->countname, &o->nametype };
	const char *given[] = { a->title, a->subtitle, a->notes, a->font_type, a->countname, a->nametype };
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		if (given[i])
			*texts[i] = given[i];
	double *numbers[] = { &o->width, &o->frame_height, &o->min_width, &o->font_size };
	const double given_numbers[] = { a->width, a->height, a->min_width, a->font_size };
	for (size_t i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++)
		if (!isnan(given_numbers[i]))
			*numbers[i] = given_numbers[i];
	o->hash |= a->hash;
	o->inverted |= a->inverted;
	if (a->colors && (o->palette = flame_palette_parse(a->colors)) < 0) {
		cli_error("flamegraph", "unknown palette '%s': use hot, mem, io, wakeup, red, green, blue, aqua, "
					"yellow, purple, orange, java, js, perl or chain",
			  a->colors);
		return -1;
	}
	return 0;
}

int cmd_flamegraph(int argc, char **argv)
{
	struct flamegraph_args a;
	struct cli_operands in;
	int parsed = parse_flamegraph_args(&a, argc, argv, &in);
	if (parsed != CLI_PARSED)
		return cli_exit_for(parsed);
	const char *input = in.count ? in.args[0] : "-";
	struct render_select sel = a.sel;
	struct profile p;
	profile_init(&p);
	int status = EXIT_FAIL;
	struct flame_tree t = { 0 };
	if (cli_load_profile("flamegraph", input, &p) || cli_keep_time_range("flamegraph", a.time_range, &p))
		goto out;
	int v = render_value_index(&p, sel.value);
	if (v < 0) {
		cli_error("flamegraph", "the profile has no value '%s'", sel.value);
		goto out;
	}
	struct flame_options o;
	if (flame_options_from_args(&o, &a, &p, (uint32_t)v))
		goto out;
	const char *output = a.output;
	if (!(o.width >= 100 && o.width <= 1e6) || !(o.frame_height >= 1 && o.frame_height <= 1000) ||
	    !(o.font_size >= 1 && o.font_size <= 200) || !(o.min_width >= 0)) {
		cli_error("flamegraph", "--width must be 100 to 1000000, --height 1 to 1000, "
				        "--fontsize 1 to 200 and --minwidth at least 0");
		goto out;
	}
	if (flame_tree_init(&t) || flame_tree_add_profile(&t, &p, (uint32_t)v, &sel, false)) {
		cli_error("flamegraph", "out of memory");
		goto out;
	}
	if (flame_node_at(&t, 0)->total <= 0) {
		cli_error("flamegraph", "no stack counts found in %s", strcmp(input, "-") ? input : "standard input");
		goto out;
	}
	FILE *f = cli_open_output("flamegraph", output);
	if (!f)
		goto out;
	struct html_report_options ho = { .title = a.title ? a.title : o.title, .sel = sel };
	int err = cli_format_for_path(output) == OUTPUT_HTML ? render_html_report(&p, NULL, &ho, f)
							      : render_flamegraph(&t, &o, f);
	if (err)
		cli_error("flamegraph", "%s", render_strerror((enum render_error)-err));
	if (cli_close_output("flamegraph", output, f, !err) == 0 && !err)
		status = EXIT_OK;
out:
	if (t.nodes.data)
		flame_tree_release(&t);
	profile_release(&p);
	return status;
}
