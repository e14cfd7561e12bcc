/* record --every and --push: the recording cut into intervals, each
 * symbolized, written into a directory and pushed to a profile server. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"

/* ---- the options ---- */

static int parse_every(const char *cmd, const char *name, const char *arg, void *value)
{
	double d;
	if (cli_parse_double(cmd, name, arg, &d) || d < 0.1 || d > 86400) {
		cli_error(cmd, "--every must be 0.1 to 86400 seconds");
		return -1;
	}
	*(double *)value = d;
	return 0;
}

static int parse_push_format(const char *cmd, const char *name, const char *arg, void *value)
{
	static const char *const formats[] = { [PUSH_PYROSCOPE] = "pyroscope", [PUSH_PARCA] = "parca" };
	int i = cli_choice(arg, formats, sizeof(formats) / sizeof(formats[0]));
	if (i < 0) {
		cli_error(cmd, "%s must be pyroscope or parca", name);
		return -1;
	}
	*(enum push_format *)value = (enum push_format)i;
	return 0;
}

static int parse_push_header(const char *cmd, const char *name, const char *arg, void *value)
{
	struct continuous_args *c = value;
	const char *colon = strchr(arg, ':');
	bool ok = colon && colon > arg;
	for (const char *p = arg; ok && *p; p++)
		ok = (unsigned char)*p >= 0x20 && *p != 0x7f;
	if (!ok) {
		cli_error(cmd, "%s '%s': expected 'Name: value' on one line", name, arg);
		return -1;
	}
	const char **slot = vec_push(&c->headers, sizeof(*slot));
	if (!slot) {
		cli_error(cmd, "out of memory");
		return -1;
	}
	*slot = arg;
	return 0;
}

static int parse_tag(const char *cmd, const char *name, const char *arg, void *value)
{
	struct continuous_args *c = value;
	const char *eq = strchr(arg, '=');
	char *key = eq ? strndup(arg, (size_t)(eq - arg)) : NULL;
	if (!eq || !key || !push_label_ok(key, eq + 1) || !strcmp(key, "hostname") || !strcmp(key, "pid") ||
	    !strcmp(key, "view") || !strcmp(key, "__name__")) {
		free(key);
		cli_error(cmd, "%s '%s': expected key=value, the key letters, digits and _ (not hostname, pid "
			       "or view, which smolder adds), the value without , { } = \" \\ or controls",
			  name, arg);
		return -1;
	}
	struct push_label *slot = vec_push(&c->tags, sizeof(*slot));
	if (!slot) {
		free(key);
		cli_error(cmd, "out of memory");
		return -1;
	}
	*slot = (struct push_label){ .key = key, .value = eq + 1 };
	return 0;
}

static int parse_spool_max(const char *cmd, const char *name, const char *arg, void *value)
{
	double mb;
	if (cli_parse_double(cmd, name, arg, &mb) || mb < 0.001 || mb > 1e6) {
		cli_error(cmd, "%s must be 0.001 to 1000000 MB", name);
		return -1;
	}
	*(double *)value = mb;
	return 0;
}

static int parse_app_name(const char *cmd, const char *name, const char *arg, void *value)
{
	if (!push_name_ok(arg)) {
		cli_error(cmd, "%s '%s': use letters, digits, '_', '.' and '-' (200 at most)", name, arg);
		return -1;
	}
	*(const char **)value = arg;
	return 0;
}

void continuous_options(struct continuous_args *c, struct cli_option *out)
{
	const struct cli_option options[CONTINUOUS_OPTIONS] = {
		OPT_CALLBACK(0, "every", "SECS", &c->every, parse_every,
			     "cut the recording into intervals of SECS seconds, each a\n"
			     "profile of its own (with -o DIR/ or --push); memory stays flat"),
		OPT_U32(0, "keep", "N", &c->keep, 0, "with --every and -o DIR/: keep the last N interval files"),
		OPT_STRING(0, "push", "URL", &c->push_url,
			   "send each interval (or the recording) to a profile server:\n"
			   "http(s)://[user:password@]host[:port][/prefix]"),
		OPT_CALLBACK(0, "push-format", "FMT", &c->push_format, parse_push_format,
			     "pyroscope (POST /ingest, the default) or parca\n"
			     "(POST /profiles/writeraw)"),
		OPT_CALLBACK(0, "push-header", "'NAME: VALUE'", c, parse_push_header,
			     "an HTTP header for every push (repeatable):\n"
			     "'Authorization: Bearer ...', 'X-Scope-OrgID: tenant'"),
		OPT_CALLBACK(0, "app-name", "NAME", &c->app_name, parse_app_name,
			     "the application pushed (default: the process name)"),
		OPT_CALLBACK(0, "tag", "KEY=VALUE", c, parse_tag,
			     "a label of every push (repeatable); hostname, pid (-p)\n"
			     "and view are added by themselves"),
		OPT_STRING(0, "spool", "DIR", &c->spool_dir,
			   "intervals wait here until delivered, across restarts\n"
			   "(default: in memory, lost at exit)"),
		OPT_CALLBACK(0, "spool-max", "MB", &c->spool_max_mb, parse_spool_max,
			     "what may wait for the server, the oldest dropped first (100)"),
		OPT_DOUBLE(0, "push-timeout", "SECS", &c->push_timeout,
			   "at exit, wait this long for the last pushes (10)"),
	};
	memcpy(out, options, sizeof(options));
}

void continuous_args_release(struct continuous_args *c)
{
	struct push_label *tags = c->tags.data;
	for (uint32_t i = 0; i < c->tags.count; i++)
		free((char *)tags[i].key);
	vec_release(&c->tags);
	vec_release(&c->headers);
}

/* ---- while recording ---- */

/* An application name from a process name: what push_name_ok takes. */
static void default_app_name(const struct profiler_options *po, char *buf, size_t len)
{
	char comm[80] = "";
	struct utsname u;
	if (po->all_cpus && uname(&u) == 0) {
		snprintf(comm, sizeof(comm), "%s", u.nodename);
	} else if (po->argv) {
		const char *base = strrchr(po->argv[0], '/');
		snprintf(comm, sizeof(comm), "%s", base ? base + 1 : po->argv[0]);
	} else if (!read_comm(po->pids[0], po->pids[0], comm, sizeof(comm))) {
		snprintf(comm, sizeof(comm), "pid-%d", (int)po->pids[0]);
	}
	size_t n = 0;
	for (const char *c = comm; *c && n + 1 < len; c++)
		buf[n++] = push_name_ok((char[]){ *c, '\0' }) ? *c : '_';
	buf[n] = '\0';
	if (!n)
		snprintf(buf, len, "smolder");
}

static int open_pusher(struct continuous *c, const struct profiler_options *po)
{
	const struct continuous_args *a = c->a;
	struct utsname u;
	if (uname(&u) == 0)
		snprintf(c->hostname, sizeof(c->hostname), "%s", u.nodename);
	if (po->npids == 1)
		snprintf(c->pid, sizeof(c->pid), "%d", (int)po->pids[0]);
	if (a->app_name)
		snprintf(c->app_name, sizeof(c->app_name), "%s", a->app_name);
	else
		default_app_name(po, c->app_name, sizeof(c->app_name));
	uint32_t n = 0;
	if (c->hostname[0] && push_label_ok("hostname", c->hostname))
		c->labels[n++] = (struct push_label){ "hostname", c->hostname };
	if (c->pid[0])
		c->labels[n++] = (struct push_label){ "pid", c->pid };
	const struct push_label *tags = a->tags.data;
	for (uint32_t i = 0; i < a->tags.count && n < CONTINUOUS_MAX_LABELS; i++)
		c->labels[n++] = tags[i];
	struct push_options o = { .url = a->push_url, .format = a->push_format, .headers = a->headers.data,
				  .nheaders = a->headers.count, .app_name = c->app_name, .labels = c->labels,
				  .nlabels = n, .spool_dir = a->spool_dir,
				  .spool_max = (uint64_t)((a->spool_max_mb > 0 ? a->spool_max_mb : 100) * 1048576),
				  .request_timeout = 10, .max_backoff = 30 };
	struct push_error err;
	if (pusher_new(&c->pu, &o, &err)) {
		char msg[768];
		push_explain(&err, msg, sizeof(msg));
		cli_error("record", "--push: %s", msg);
		return -1;
	}
	struct push_stats st;
	push_stats_get(c->pu, &st);
	if (st.from_spool && !a->quiet)
		cli_warn("record", "%" PRIu64 " pushes an earlier run could not deliver are in %s: they go first",
			 st.from_spool, a->spool_dir);
	return 0;
}

int continuous_open(struct continuous *c, const struct continuous_args *a, const struct profiler_options *po,
		    struct profiler *s, struct symbolizer *z)
{
	*c = (struct continuous){ .a = a, .s = s, .z = z, .tty = isatty(2) };
	getrusage(RUSAGE_SELF, &c->usage);
	c->duration_ns = po->duration > 0 ? (uint64_t)(po->duration * 1e9) : 0;
	if (a->dir && mkdir(a->dir, 0777) && errno != EEXIST) {
		cli_error("record", "cannot make the directory %s: %s", a->dir, strerror(errno));
		return -1;
	}
	if (!a->push_url) {
		if (!a->app_name)
			default_app_name(po, c->app_name, sizeof(c->app_name));
		else
			snprintf(c->app_name, sizeof(c->app_name), "%s", a->app_name);
		return 0;
	}
	return open_pusher(c, po);
}

/* Says each new trouble of the pusher once. */
static void report_push(struct continuous *c)
{
	struct push_stats st;
	push_stats_get(c->pu, &st);
	if (st.rejection[0] && !c->rejection_said) {
		c->rejection_said = true;
		cli_error("record", "%s refused the profile: %s: check --push, --push-format and --push-header "
				    "(later refusals are counted, not shown)", c->a->push_url, st.rejection);
	}
	if (st.failing && st.failure_seq != c->failure_said && !c->a->quiet) {
		c->failure_said = st.failure_seq;
		cli_warn("record", "cannot push to %s: %s: retrying; %" PRIu64 " waiting %s", c->a->push_url,
			 st.failure, st.waiting, c->a->spool_dir ? "in the spool" : "in memory (no --spool)");
	}
	if (st.dropped > c->dropped_said && !c->a->quiet) {
		cli_warn("record", "%" PRIu64 " pushes dropped so far, the oldest first: more than --spool-max (%g MB) "
				   "waited for the server", st.dropped, c->a->spool_max_mb > 0 ? c->a->spool_max_mb : 100);
		c->dropped_said = st.dropped;
	}
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Removes the oldest interval files beyond --keep. */
static void keep_last(const struct continuous *c)
{
	DIR *d = opendir(c->a->dir);
	if (!d)
		return;
	struct vec names = { 0 };
	size_t prefix = strlen(c->app_name);
	for (struct dirent *e; (e = readdir(d));) {
		size_t n = strlen(e->d_name);
		char **slot;
		if (n > prefix + 9 && !strncmp(e->d_name, c->app_name, prefix) && e->d_name[prefix] == '-' &&
		    !strcmp(e->d_name + n - 8, ".smolder") && (slot = vec_push(&names, sizeof(*slot))))
			*slot = strdup(e->d_name);
	}
	closedir(d);
	char **all = names.data;
	qsort(all, names.count, sizeof(*all), by_name);
	for (uint32_t i = 0; i < names.count; i++) {
		if (all[i] && i + c->a->keep < names.count) {
			char path[4096];
			snprintf(path, sizeof(path), "%s/%s", c->a->dir, all[i]);
			unlink(path);
		}
		free(all[i]);
	}
	vec_release(&names);
}

/* NAME-20261203T102530.123Z.smolder: sorted by name, sorted by time. */
static int write_interval(struct continuous *c, const struct profile *p)
{
	const char *start = profile_get_meta(p, "start_ns");
	uint64_t ns = start ? strtoull(start, NULL, 10) : 0;
	time_t secs = (time_t)(ns / 1000000000ull);
	struct tm tm;
	gmtime_r(&secs, &tm);
	char when[32], path[4096];
	strftime(when, sizeof(when), "%Y%m%dT%H%M%S", &tm);
	snprintf(path, sizeof(path), "%s/%s-%s.%03uZ.smolder", c->a->dir, c->app_name, when,
		 (unsigned)(ns / 1000000u % 1000));
	int e = profile_write_file(p, path);
	if (e) {
		cli_warn("record", "cannot write %s: %s: the interval is %s", path,
			 e == -PROFILE_E_IO ? strerror(errno) : profile_strerror((enum profile_error)-e),
			 c->pu ? "still pushed" : "lost");
		return -1;
	}
	snprintf(c->last_path, sizeof(c->last_path), "%s", path);
	if (c->a->keep)
		keep_last(c);
	return 0;
}

/* The profiler's own CPU seconds since the last interval. */
static double cpu_since(struct rusage *last)
{
	struct rusage now;
	getrusage(RUSAGE_SELF, &now);
	double s = (double)(now.ru_utime.tv_sec - last->ru_utime.tv_sec + now.ru_stime.tv_sec - last->ru_stime.tv_sec) +
		   (double)(now.ru_utime.tv_usec - last->ru_utime.tv_usec + now.ru_stime.tv_usec - last->ru_stime.tv_usec) / 1e6;
	*last = now;
	return s;
}

/* One interval: cut, named, written, queued for the server. */
static void emit(struct continuous *c)
{
	struct profile p;
	profile_init(&p);
	pid_t *pids = NULL;
	struct profiler_error err;
	struct symbolizer_stats sst;
	char buf[64];
	if (profiler_cut(c->s, &p, &pids, &err) ||
	    symbolizer_run(c->z, &p, pids, p.mappings.count, &sst)) {
		cli_warn("record", "interval %u lost: out of memory", c->count + 1);
		goto out;
	}
	c->count++;
	snprintf(buf, sizeof(buf), "%u", c->count);
	double cpu = cpu_since(&c->usage);
	char cpu_text[32];
	snprintf(cpu_text, sizeof(cpu_text), "%.3f s", cpu);
	if (profile_set_meta(&p, "interval", buf) || profile_set_meta(&p, "profiler_cpu", cpu_text))
		goto out;
	if (c->a->dir)
		write_interval(c, &p);
	struct push_error perr;
	if (c->pu && pusher_submit(c->pu, &p, &perr)) {
		char msg[768];
		push_explain(&perr, msg, sizeof(msg));
		cli_warn("record", "interval %u not pushed: %s", c->count, msg);
	}
	if (!c->a->quiet) {
		const char *samples = profile_get_meta(&p, "samples"), *duration = profile_get_meta(&p, "duration");
		if (c->tty)
			fputs("\r\033[K", stderr); /* the status line */
		fprintf(stderr, "smolder: record: interval %u: %s, %s samples, profiler CPU %.3f s%s%s\n", c->count,
			duration ? duration : "?", samples ? samples : "0", cpu, c->a->dir ? " -> " : "",
			c->a->dir ? c->last_path : "");
	}
out:
	free(pids);
	profile_release(&p);
}

/* Whether a cut at `at` falls on the duration's end (within a twentieth
 * of an interval), where continuous_finish cuts: two cuts there made the
 * last interval a sliver of a few milliseconds, and `--keep 2` kept it. */
static bool at_the_end(const struct continuous *c, uint64_t start, uint64_t at)
{
	uint64_t end = start + c->duration_ns, slack = (uint64_t)(c->a->every * 1e9 / 20);
	return c->duration_ns && at + slack >= end;
}

void continuous_tick(void *arg)
{
	struct continuous *c = arg;
	uint64_t start = profiler_started_ns(c->s), every = (uint64_t)(c->a->every * 1e9);
	/* Intervals count from when sampling began, as the duration does:
	 * not from the setup before it. */
	if (start && every && !c->next_cut_ns)
		c->next_cut_ns = start + every;
	if (c->next_cut_ns && monotonic_ns() >= c->next_cut_ns) {
		uint64_t at = c->next_cut_ns;
		c->next_cut_ns += every;
		if (!at_the_end(c, start, at))
			emit(c);
	}
	if (c->pu)
		report_push(c);
}

int continuous_finish(struct continuous *c)
{
	emit(c);
	if (!c->pu)
		return 0;
	double timeout = c->a->push_timeout > 0 ? c->a->push_timeout : 10;
	bool all = pusher_drain(c->pu, timeout);
	report_push(c);
	struct push_stats st;
	push_stats_get(c->pu, &st);
	if (!c->a->quiet)
		fprintf(stderr, "smolder: record: %u intervals, %" PRIu64 " pushes delivered to %s\n", c->count,
			st.delivered, c->a->push_url);
	if (!all)
		cli_warn("record", "%" PRIu64 " pushes not delivered within --push-timeout (%g s): %s", st.waiting,
			 timeout, c->a->spool_dir ? "they stay in the spool for the next run" : "lost (no --spool)");
	if (st.dropped)
		cli_warn("record", "%" PRIu64 " pushes dropped, the oldest first, to keep within --spool-max",
			 st.dropped);
	return st.rejected ? -1 : 0;
}

void continuous_release(struct continuous *c)
{
	pusher_free(c->pu);
	c->pu = NULL;
}
