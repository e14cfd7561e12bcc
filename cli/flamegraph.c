/* smolder flamegraph: an SVG from a profile or folded text; takes
 * flamegraph.pl's options. */
#include <string.h>

#include "cli/cli.h"

static const char usage[] =
	"usage: smolder flamegraph [options] [FILE] > graph.svg\n"
	"\n"
	"Draws an interactive SVG flamegraph of a profile or of folded stacks (FILE, or\n"
	"standard input). Takes the options of FlameGraph's flamegraph.pl.\n"
	"\n"
	"  --title TEXT        title (default: by view, 'Flame Graph' for folded text)\n"
	"  --subtitle TEXT     second line of the title\n"
	"  --notes TEXT        a note under the title\n"
	"  --width PX          image width (1200)\n"
	"  --height PX         frame height (16)\n"
	"  --minwidth PX       omit frames narrower than this (0.1)\n"
	"  --fonttype FONT     font family (Verdana)\n"
	"  --fontsize PX       font size (12)\n"
	"  --countname NAME    what the counts are (default: the value's name)\n"
	"  --nametype TEXT     what the names are ('Function:')\n"
	"  --colors PALETTE    hot, mem, io, wakeup, red, green, blue, aqua, yellow, purple,\n"
	"                      orange, java, js, perl, chain (default: by view)\n"
	"  --hash              colour by function name, similar names alike\n"
	"  --reverse           merge stacks by leaf\n"
	"  --inverted          icicle graph: root at the top\n"
	"  --value NAME        which value to draw (samples, cpu, offcpu, bytes, ns, ...)\n"
	"  --per-thread        a 'name-tid' frame below the process name\n"
	"  --lines             add ' (file:line)' to frames where known\n"
	"  -o, --output FILE   write to FILE (default: standard output)\n"
	"  -h, --help          this help\n";

int cmd_flamegraph(int argc, char **argv)
{
	enum { O_TITLE = 256, O_SUBTITLE, O_NOTES, O_WIDTH, O_HEIGHT, O_MINWIDTH, O_FONTTYPE,
	       O_FONTSIZE, O_COUNTNAME, O_NAMETYPE, O_COLORS, O_HASH, O_REVERSE, O_INVERTED,
	       O_VALUE, O_PER_THREAD, O_LINES, O_FONTWIDTH, O_IGNORED };
	static const struct option options[] = {
		{ "title", required_argument, NULL, O_TITLE },
		{ "subtitle", required_argument, NULL, O_SUBTITLE },
		{ "notes", required_argument, NULL, O_NOTES },
		{ "width", required_argument, NULL, O_WIDTH },
		{ "height", required_argument, NULL, O_HEIGHT },
		{ "minwidth", required_argument, NULL, O_MINWIDTH },
		{ "fonttype", required_argument, NULL, O_FONTTYPE },
		{ "fontsize", required_argument, NULL, O_FONTSIZE },
		{ "fontwidth", required_argument, NULL, O_FONTWIDTH },
		{ "countname", required_argument, NULL, O_COUNTNAME },
		{ "nametype", required_argument, NULL, O_NAMETYPE },
		{ "colors", required_argument, NULL, O_COLORS },
		{ "color", required_argument, NULL, O_COLORS },
		{ "hash", no_argument, NULL, O_HASH },
		{ "reverse", no_argument, NULL, O_REVERSE },
		{ "inverted", no_argument, NULL, O_INVERTED },
		{ "value", required_argument, NULL, O_VALUE },
		{ "per-thread", no_argument, NULL, O_PER_THREAD },
		{ "lines", no_argument, NULL, O_LINES },
		{ "cp", no_argument, NULL, O_IGNORED },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	/* Options are parsed twice: once to find the input (whose view sets the
	 * defaults), then again over those defaults. */
	struct render_select sel = { 0 };
	const char *output = "-";
	int c;
	while ((c = getopt_long(argc, argv, "o:h", options, NULL)) != -1) {
		if (c == 'h') {
			fputs(usage, stdout);
			return EXIT_OK;
		}
		if (c == '?')
			return cli_usage_error("flamegraph");
		if (c == O_VALUE)
			sel.value = optarg;
	}
	if (argc - optind > 1)
		return cli_usage_error("flamegraph");
	const char *input = optind < argc ? argv[optind] : "-";
	struct profile p;
	profile_init(&p);
	int status = EXIT_FAIL;
	struct flame_tree t = { 0 };
	if (cli_load_profile("flamegraph", input, &p))
		goto out;
	int v = render_value_index(&p, sel.value);
	if (v < 0) {
		cli_error("flamegraph", "the profile has no value '%s'", sel.value);
		goto out;
	}
	struct flame_options o;
	flame_options_for_value(&o, &p, (uint32_t)v);
	optind = 1;
	double d;
	while ((c = getopt_long(argc, argv, "o:h", options, NULL)) != -1) {
		switch (c) {
		case O_TITLE: o.title = optarg; break;
		case O_SUBTITLE: o.subtitle = optarg; break;
		case O_NOTES: o.notes = optarg; break;
		case O_WIDTH:
		case O_HEIGHT:
		case O_MINWIDTH:
		case O_FONTSIZE:
			if (cli_parse_double("flamegraph", argv[optind - 1], optarg, &d))
				goto out;
			*(c == O_WIDTH ? &o.width : c == O_HEIGHT ? &o.frame_height
				  : c == O_MINWIDTH ? &o.min_width : &o.font_size) = d;
			break;
		case O_FONTTYPE: o.font_type = optarg; break;
		case O_COUNTNAME: o.countname = optarg; break;
		case O_NAMETYPE: o.nametype = optarg; break;
		case O_COLORS:
			if ((o.palette = flame_palette_parse(optarg)) < 0) {
				cli_error("flamegraph", "unknown palette '%s': use hot, mem, io, wakeup, red, "
						        "green, blue, aqua, yellow, purple, orange, java, js, perl or chain",
					  optarg);
				goto out;
			}
			break;
		case O_HASH: o.hash = true; break;
		case O_REVERSE: sel.reverse = true; break;
		case O_INVERTED: o.inverted = true; break;
		case O_PER_THREAD: sel.per_thread = true; break;
		case O_LINES: sel.with_lines = true; break;
		case 'o': output = optarg; break;
		default: break;
		}
	}
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
	int err = render_flamegraph(&t, &o, f);
	if (err)
		cli_error("flamegraph", "%s", render_strerror((enum render_error)-err));
	if (cli_close_output("flamegraph", output, f) == 0 && !err)
		status = EXIT_OK;
out:
	if (t.nodes.data)
		flame_tree_release(&t);
	profile_release(&p);
	return status;
}
