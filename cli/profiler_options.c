/* The options that choose what to sample and how, which record and top
 * share: each parses its argument or reports why it cannot. */
#include <errno.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
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

int cli_parse_alloc_mode(const char *cmd, const char *name, const char *arg, void *value)
{
	(void)name;
	enum alloc_mode *mode = value;
	if (strcmp(arg, "sampled") == 0)
		*mode = ALLOC_SAMPLED;
	else if (strcmp(arg, "exact") == 0)
		*mode = ALLOC_EXACT;
	else {
		cli_error(cmd, "--alloc-mode must be sampled (the agent, by bytes) or exact (uprobes on every call)");
		return -1;
	}
	return 0;
}

/* The agent next to the binary (an uninstalled build), else where make
 * install put it. */
static void find_agent(char *path, size_t len)
{
	char exe[3072];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			snprintf(path, len, "%s/agent/" AGENT_FILE_NAME, exe);
			if (access(path, R_OK) == 0)
				return;
		}
	}
	snprintf(path, len, "%s/" AGENT_FILE_NAME, PKGLIBDIR);
}

static bool is_agent_setting(const char *var)
{
	return strncmp(var, AGENT_RATE_ENV "=", sizeof(AGENT_RATE_ENV)) == 0 ||
	       strncmp(var, AGENT_RING_ENV "=", sizeof(AGENT_RING_ENV)) == 0;
}

/* Our environment with the agent appended to LD_PRELOAD and its settings. */
static char **preloading_environment(const char *agent, uint64_t rate, uint32_t ring_stack)
{
	extern char **environ;
	size_t n = 0;
	while (environ[n])
		n++;
	char **env = calloc(n + 4, sizeof(*env));
	if (!env)
		return NULL;
	size_t k = 0;
	const char *preload = "";
	for (size_t i = 0; i < n; i++) {
		if (strncmp(environ[i], "LD_PRELOAD=", 11) == 0)
			preload = environ[i] + 11;
		else if (!is_agent_setting(environ[i]))
			env[k++] = environ[i];
	}
	char *ld = NULL, *r = NULL, *ring = NULL;
	if (asprintf(&ld, "LD_PRELOAD=%s%s%s", preload, *preload ? ":" : "", agent) < 0 ||
	    asprintf(&r, AGENT_RATE_ENV "=%llu", (unsigned long long)rate) < 0 ||
	    asprintf(&ring, AGENT_RING_ENV "=%u", ring_stack) < 0) {
		free(ld);
		free(r);
		free(env);
		return NULL;
	}
	env[k++] = ld;
	env[k++] = r;
	env[k++] = ring;
	env[k] = NULL;
	return env;
}

int cli_prepare_agent(const char *cmd, struct profiler_options *po, struct cli_agent *agent)
{
	memset(agent, 0, sizeof(*agent));
	if (!(po->views & VIEW_ALLOC) || po->alloc_mode != ALLOC_SAMPLED)
		return 0;
	find_agent(agent->path, sizeof(agent->path));
	po->agent_path = agent->path;
	if (!po->alloc_rate)
		po->alloc_rate = AGENT_DEFAULT_RATE; /* said by record's warnings, given to the agent */
	if (!po->argv)
		return 0;
	if (!(agent->envp = preloading_environment(agent->path, po->alloc_rate,
						   profiler_agent_ring_stack(po)))) {
		cli_error(cmd, "out of memory");
		return -1;
	}
	po->envp = agent->envp;
	return 0;
}

void cli_agent_release(struct cli_agent *agent)
{
	if (agent->envp) {
		/* The three strings it added are its last. */
		size_t n = 0;
		while (agent->envp[n])
			n++;
		for (size_t i = n - 3; i < n; i++)
			free(agent->envp[i]);
		free(agent->envp);
	}
	agent->envp = NULL;
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

/* The one flag the stop signals set: a handler has nowhere else to write. */
static volatile bool stop_requested;

static void on_stop_signal(int sig)
{
	(void)sig;
	stop_requested = true;
}

volatile bool *cli_catch_stop_signals(void)
{
	struct sigaction sa = { .sa_handler = on_stop_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	return &stop_requested;
}
