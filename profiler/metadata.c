/* What a recording was (its command, host, event, rate, duration, losses)
 * and its threads, written into the profile once sampling is over. */
#include <inttypes.h>
#include <stdio.h>
#include <sys/utsname.h>
#include <time.h>

#include "profiler/profiler-internal.h"

static int meta_u64(struct profile *p, const char *key, uint64_t v)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return profile_set_meta(p, key, buf);
}

/* Every event of the event views copies its stack, whatever -F says. */
const char *profiler_keep_up_hint(const struct profiler *s)
{
	bool events = s->o.views & (VIEW_OFFCPU | VIEW_IO | VIEW_ALLOC);
	if (!events)
		return "lower -F to keep up";
	if (s->o.unwind == UNWIND_FP)
		return (s->o.views & VIEW_ALLOC) ? "raise --alloc-period to keep up"
						 : "the events came faster than they could be read";
	return "use --unwind fp, a smaller --stack-size or a larger --alloc-period to keep up";
}

/* The command and pid(s): the launched command's, or the command line of
 * the first process attached to, as ps shows it. */
static int write_target(const struct profiler *s, struct profile *p)
{
	char buf[4096];
	size_t len = 0;
	int rc = 0;
	buf[0] = '\0';
	if (s->o.all_cpus) {
		snprintf(buf, sizeof(buf), "%s%s", s->o.cgroup ? "the processes of cgroup " : "every process (-a)",
			 s->o.cgroup ? s->o.cgroup : "");
		rc |= profile_set_meta(p, "target", buf);
		if (!s->o.argv)
			return rc;
	}
	if (s->o.argv) {
		for (char *const *a = s->o.argv; *a && len < sizeof(buf) - 1; a++)
			len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s", a == s->o.argv ? "" : " ", *a);
		rc |= profile_set_meta(p, "command", buf);
		return rc | meta_u64(p, "pid", (uint64_t)s->targets.child);
	}
	for (uint32_t i = 0; i < s->o.npids && len < sizeof(buf) - 1; i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%d", i ? "," : "", (int)s->o.pids[i]);
	rc |= profile_set_meta(p, "pid", buf);
	char dir[64];
	proc_dir(s->o.pids[0], dir, sizeof(dir));
	snprintf(buf, sizeof(buf), "%s/cmdline", dir);
	FILE *f = fopen(buf, "re");
	if (f) {
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		for (size_t i = 0; i + 1 < n; i++)
			if (!buf[i])
				buf[i] = ' ';
		buf[n] = '\0';
		if (n)
			rc |= profile_set_meta(p, "command", buf);
	}
	return rc;
}

/* Host, kernel, start and (once known) duration. */
static int write_when_where(const struct profiler *s, struct profile *p, bool ended)
{
	char buf[512];
	int rc = 0;
	struct utsname u;
	if (uname(&u) == 0) {
		rc |= profile_set_meta(p, "host", u.nodename);
		snprintf(buf, sizeof(buf), "%s %s %s", u.sysname, u.release, u.machine);
		rc |= profile_set_meta(p, "kernel", buf);
	}
	time_t wall = time(NULL) - (time_t)s->stats.elapsed;
	struct tm tm;
	gmtime_r(&wall, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	rc |= profile_set_meta(p, "start", buf);
	rc |= meta_u64(p, "start_ns", (uint64_t)wall * 1000000000ull);
	rc |= meta_u64(p, "start_monotonic_ns", s->start_ns); /* the events' clock */
	if (!ended)
		return rc;
	snprintf(buf, sizeof(buf), "%.3f s", s->stats.elapsed);
	rc |= profile_set_meta(p, "duration", buf);
	return rc | meta_u64(p, "duration_ns", s->stop_ns - s->start_ns);
}

/* Views, event, rate and unwinding. */
static int write_settings(const struct profiler *s, struct profile *p)
{
	char buf[256];
	int rc = 0;
	unsigned views = s->o.views;
	snprintf(buf, sizeof(buf), "%s%s%s%s", (views & VIEW_CPU) ? ",cpu" : "", (views & VIEW_OFFCPU) ? ",offcpu" : "",
		 (views & VIEW_IO) ? ",io" : "", (views & VIEW_ALLOC) ? ",alloc" : "");
	rc |= profile_set_meta(p, "view", buf + 1);
	if (views & VIEW_ALLOC) {
		if (s->o.alloc_mode == ALLOC_SAMPLED)
			snprintf(buf, sizeof(buf), "sampled by the agent, every %" PRIu64 " bytes on average",
				 s->o.alloc_rate);
		else
			snprintf(buf, sizeof(buf), "exact (uprobes), the stack of 1 call in %u", s->o.alloc_period);
		rc |= profile_set_meta(p, "alloc", buf);
	}
	/* The clock and its rate are the cpu view's: the others are events. */
	if (views & VIEW_CPU) {
		snprintf(buf, sizeof(buf), "%s%s", s->events.event_name,
			 s->events.attr.type == PERF_TYPE_SOFTWARE ? " (no hardware PMU: software clock)"
								   : " (hardware PMU)");
		rc |= profile_set_meta(p, "event", buf);
		snprintf(buf, sizeof(buf), "%u Hz", s->o.frequency);
		rc |= profile_set_meta(p, "frequency", buf);
	}
	return rc | profile_set_meta(p, "unwind", s->o.unwind == UNWIND_FP      ? "fp"
						   : s->o.unwind == UNWIND_DWARF ? "dwarf"
										 : "auto (dwarf)");
}

/* Samples, and what was lost or cut, with what would help. */
static int write_counts(const struct profiler *s, struct profile *p)
{
	const struct profiler_stats *st = &s->stats;
	char buf[512];
	int rc = 0;
	rc |= meta_u64(p, "samples", st->samples);
	rc |= meta_u64(p, "lost", st->lost);
	rc |= meta_u64(p, "unwind_dropped", st->unwind_dropped);
	if (st->unwind_shed)
		rc |= meta_u64(p, "unwind_shed", st->unwind_shed);
	if (st->lost || st->unwind_dropped || st->unwind_shed) {
		char lost[160] = "", shed[96] = "";
		if (st->lost || st->unwind_dropped)
			snprintf(lost, sizeof(lost),
				 "%" PRIu64 " samples lost (%" PRIu64 " by the kernel, ring buffer full; %" PRIu64
				 " not unwound in time); ",
				 st->lost + st->unwind_dropped, st->lost, st->unwind_dropped);
		if (st->unwind_shed)
			snprintf(shed, sizeof(shed), "%" PRIu64 " kept without their stack (under " SHED_FRAME "); ",
				 st->unwind_shed);
		snprintf(buf, sizeof(buf), "%s%s%s", lost, shed, profiler_keep_up_hint(s));
		rc |= profile_set_meta(p, "notes", buf);
	}
	if (st->targets_exited)
		rc |= profile_set_meta(p, "exit", "the target exited during the recording");
	if (st->stack_truncated)
		rc |= meta_u64(p, "stack_truncated", st->stack_truncated);
	if (st->unwind_evicted)
		rc |= meta_u64(p, "unwind_files_evicted", st->unwind_evicted);
	return rc;
}

/* An interval's own start, length and counts: the recording's metadata,
 * which dst has, says when the recording began. */
int metadata_write_interval(const struct profiler *s, struct profile *dst, uint64_t from_ns, uint64_t to_ns,
			    const struct profiler_stats *before)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	uint64_t wall_to = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec - (monotonic_ns() - to_ns);
	uint64_t wall_from = wall_to - (to_ns - from_ns);
	char buf[64];
	time_t secs = (time_t)(wall_from / 1000000000ull);
	struct tm tm;
	gmtime_r(&secs, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	int rc = profile_set_meta(dst, "start", buf) | meta_u64(dst, "start_ns", wall_from) |
		 meta_u64(dst, "start_monotonic_ns", from_ns);
	snprintf(buf, sizeof(buf), "%.3f s", (double)(to_ns - from_ns) / 1e9);
	rc |= profile_set_meta(dst, "duration", buf) | meta_u64(dst, "duration_ns", to_ns - from_ns);
	const struct profiler_stats *st = &s->stats;
	rc |= meta_u64(dst, "samples", st->samples - before->samples);
	rc |= meta_u64(dst, "lost", st->lost - before->lost);
	rc |= meta_u64(dst, "unwind_dropped", st->unwind_dropped - before->unwind_dropped);
	if (st->targets_exited)
		rc |= profile_set_meta(dst, "exit", "the target exited during the recording");
	return rc ? -PROFILE_E_NOMEM : 0;
}

int metadata_write_start(const struct profiler *s)
{
	return write_target(s, s->p) | write_when_where(s, s->p, false) | write_settings(s, s->p) ? -PROFILE_E_NOMEM : 0;
}

int metadata_write(struct profiler *s)
{
	struct profile *p = s->p;
	int rc = write_target(s, p) | write_when_where(s, p, true) | write_settings(s, p) | write_counts(s, p);
	return rc || aggregate_publish_threads(&s->agg) ? -PROFILE_E_NOMEM : 0;
}
