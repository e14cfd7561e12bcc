/* smolder diff: what changed between two profiles. */
#include <string.h>

#include "cli/cli.h"

static const char usage[] =
	"usage: smolder diff [options] BASE NEW -o diff.svg\n"
	"       smolder diff --report [options] BASE NEW\n"
	"       smolder diff --folded [-n] BASE NEW\n"
	"\n"
	"Compares two profiles (or folded stacks from any tool). By default draws a\n"
	"differential flamegraph: widths from NEW, red where a frame's share grew, blue\n"
	"where it shrank, stronger with the change; dashed outlines mark frames only in\n"
	"NEW. Shares are of each profile's total, so recordings of different lengths\n"
	"compare.\n"
	"\n"
	"  -o, --output FILE    the SVG (default: standard output)\n"
	"  --report             a table of the functions whose total and self shares moved most\n"
	"  --limit N            report rows (20; 0 for all)\n"
	"  --format FMT         report as text, tsv or json\n"
	"  --fail-above PCT     exit 3 if any function's total share grew by more than\n"
	"                       PCT points (a CI gate), naming them on stderr\n"
	"  --folded             two-column folded text, as FlameGraph's difffolded.pl\n"
	"  -n, --normalize      --folded: scale BASE's counts to NEW's total (difffolded -n)\n"
	"  --absolute           compare raw counts instead of shares\n"
	"  --negate             widths from BASE, to show what disappeared\n"
	"  --min-delta PCT      frames whose share moved less than PCT points are grey\n"
	"  --value NAME         which value to compare (samples, cpu, bytes, ns, ...)\n"
	"  --title TEXT         the SVG's title\n"
	"  --per-thread         a 'name-tid' frame per thread\n"
	"  -h, --help           this help\n";

int cmd_diff(int argc, char **argv)
{
	enum { O_REPORT = 256, O_LIMIT, O_FORMAT, O_FAIL, O_FOLDED, O_ABSOLUTE, O_NEGATE, O_MIN_DELTA,
	       O_VALUE, O_TITLE, O_PER_THREAD };
	static const struct option options[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "report", no_argument, NULL, O_REPORT },
		{ "limit", required_argument, NULL, O_LIMIT },
		{ "format", required_argument, NULL, O_FORMAT },
		{ "fail-above", required_argument, NULL, O_FAIL },
		{ "folded", no_argument, NULL, O_FOLDED },
		{ "normalize", no_argument, NULL, 'n' },
		{ "absolute", no_argument, NULL, O_ABSOLUTE },
		{ "negate", no_argument, NULL, O_NEGATE },
		{ "min-delta", required_argument, NULL, O_MIN_DELTA },
		{ "value", required_argument, NULL, O_VALUE },
		{ "title", required_argument, NULL, O_TITLE },
		{ "per-thread", no_argument, NULL, O_PER_THREAD },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct diff_report_options ro = { .limit = 20, .fail_above = -1 };
	struct render_select sel = { 0 };
	struct flame_options fo;
	flame_options_init(&fo);
	fo.differential = true;
	fo.title = "Differential Flame Graph";
	const char *output = "-";
	bool report = false, folded = false, normalize = false;
	unsigned long long n;
	double d;
	int c;
	while ((c = getopt_long(argc, argv, "o:nh", options, NULL)) != -1) {
		switch (c) {
		case 'o': output = optarg; break;
		case O_REPORT: report = true; break;
		case O_LIMIT:
			if (cli_parse_uint("diff", "--limit", optarg, 1000000, &n))
				return EXIT_USAGE;
			ro.limit = (uint32_t)n;
			break;
		case O_FORMAT:
			if (strcmp(optarg, "text") == 0)
				ro.format = DIFF_FORMAT_TEXT;
			else if (strcmp(optarg, "tsv") == 0)
				ro.format = DIFF_FORMAT_TSV;
			else if (strcmp(optarg, "json") == 0)
				ro.format = DIFF_FORMAT_JSON;
			else {
				cli_error("diff", "--format must be text, tsv or json");
				return EXIT_USAGE;
			}
			break;
		case O_FAIL:
			if (cli_parse_double("diff", "--fail-above", optarg, &d) || d < 0) {
				cli_error("diff", "--fail-above takes a number of percentage points, 0 or more");
				return EXIT_USAGE;
			}
			ro.fail_above = d;
			report = true;
			break;
		case O_FOLDED: folded = true; break;
		case 'n': normalize = true; break;
		case O_ABSOLUTE: ro.absolute = fo.absolute = true; break;
		case O_NEGATE: fo.negate = true; break;
		case O_MIN_DELTA:
			if (cli_parse_double("diff", "--min-delta", optarg, &d) || d < 0)
				return EXIT_USAGE;
			fo.min_delta = d;
			break;
		case O_VALUE: ro.value = sel.value = optarg; break;
		case O_TITLE: fo.title = optarg; break;
		case O_PER_THREAD: sel.per_thread = true; break;
		case 'h': fputs(usage, stdout); return EXIT_OK;
		default: return cli_usage_error("diff");
		}
	}
	if (argc - optind != 2) {
		cli_error("diff", "needs two inputs: BASE and NEW");
		return EXIT_USAGE;
	}
	struct profile base, new_p;
	profile_init(&base);
	profile_init(&new_p);
	int status = EXIT_FAIL;
	if (cli_load_profile("diff", argv[optind], &base) || cli_load_profile("diff", argv[optind + 1], &new_p))
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
	else if (err)
		cli_error("diff", "%s", render_strerror((enum render_error)-err));
	if (cli_close_output("diff", output, f) || err)
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
