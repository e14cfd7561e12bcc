/* The options that choose what to sample and how, which record and top
 * share: each parses its argument or reports why it cannot. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

int cli_parse_pids(const char *cmd, const char *name, const char *arg, void *value)
{
	(void)name;
	struct cli_pids *list = value;
	uint32_t cap = 1;
	for (const char *c = arg; *c; c++)
		cap += *c == ',';
	pid_t *pids = calloc(cap, sizeof(*pids));
	uint32_t n = 0;
	for (const char *tok = arg; pids && *tok;) {
		size_t len = strcspn(tok, ",");
		char buf[32], *end;
		snprintf(buf, sizeof(buf), "%.*s", (int)(len < sizeof(buf) - 1 ? len : sizeof(buf) - 1), tok);
		errno = 0;
		long v = strtol(buf, &end, 10);
		if (errno || *end || !*buf || v <= 0 || v > 0x3fffffff || len >= sizeof(buf)) {
			cli_error(cmd, "invalid pid '%.*s': expected a positive number", (int)len, tok);
			free(pids);
			return -1;
		}
		pids[n++] = (pid_t)v;
		tok += len + (tok[len] == ',');
	}
	if (!pids || !n) {
		free(pids);
		cli_error(cmd, "invalid pid list '%s'", arg);
		return -1;
	}
	free(list->pids);
	list->pids = pids;
	list->count = n;
	return 0;
}

int cli_parse_duration(const char *cmd, const char *name, const char *arg, void *value)
{
	double d;
	if (cli_parse_double(cmd, name, arg, &d) || d <= 0 || d > 1e7) {
		cli_error(cmd, "--duration must be a positive number of seconds");
		return -1;
	}
	*(double *)value = d;
	return 0;
}

/* An unsigned number from lo to hi, or the error message. */
static int parse_range(const char *cmd, const char *name, const char *arg, unsigned long long lo,
		       unsigned long long hi, const char *message, uint32_t *out)
{
	(void)name;
	char *end;
	errno = 0;
	unsigned long long n = strtoull(arg, &end, 10);
	/* One message, the range's, whatever is wrong with the number. */
	if (errno || end == arg || *end || arg[0] == '-' || n < lo || n > hi) {
		cli_error(cmd, "%s", message);
		return -1;
	}
	*out = (uint32_t)n;
	return 0;
}

int cli_parse_frequency(const char *cmd, const char *name, const char *arg, void *value)
{
	return parse_range(cmd, name, arg, 1, 100000, "--frequency must be 1 to 100000 Hz", value);
}

int cli_parse_stack_size(const char *cmd, const char *name, const char *arg, void *value)
{
	return parse_range(cmd, name, arg, 64, 65528, "--stack-size must be 64 to 65528 bytes (the kernel's limit)",
			   value);
}

int cli_parse_alloc_period(const char *cmd, const char *name, const char *arg, void *value)
{
	return parse_range(cmd, name, arg, 1, 1u << 30, "--alloc-period must be 1 to 1073741824 calls", value);
}

int cli_parse_views(const char *cmd, const char *name, const char *arg, void *value)
{
	(void)name;
	static const struct {
		const char *name;
		unsigned view;
	} views[] = { { "cpu", VIEW_CPU }, { "offcpu", VIEW_OFFCPU }, { "io", VIEW_IO }, { "alloc", VIEW_ALLOC } };
	unsigned *out = value;
	*out = 0;
	for (const char *v = arg; *v;) {
		size_t len = strcspn(v, ","), i = 0;
		while (i < sizeof(views) / sizeof(views[0]) &&
		       (strlen(views[i].name) != len || strncmp(v, views[i].name, len) != 0))
			i++;
		if (i == sizeof(views) / sizeof(views[0])) {
			cli_error(cmd, "unknown view '%.*s': use cpu, offcpu, io or alloc, or several separated by commas",
				  (int)len, v);
			return -1;
		}
		*out |= views[i].view;
		v += len + (v[len] == ',');
	}
	return 0;
}

int cli_parse_unwind(const char *cmd, const char *name, const char *arg, void *value)
{
	static const char *const modes[] = { [UNWIND_AUTO] = "auto", [UNWIND_FP] = "fp", [UNWIND_DWARF] = "dwarf" };
	int i = cli_choice(arg, modes, sizeof(modes) / sizeof(modes[0]));
	if (i < 0) {
		cli_error(cmd, "%s must be auto, fp or dwarf", name);
		return -1;
	}
	*(enum unwind_mode *)value = (enum unwind_mode)i;
	return 0;
}

int cli_parse_event(const char *cmd, const char *name, const char *arg, void *value)
{
	if (strcmp(arg, "cycles") && strcmp(arg, "cpu-clock")) {
		cli_error(cmd, "%s must be cycles or cpu-clock", name);
		return -1;
	}
	*(const char **)value = arg;
	return 0;
}
