/* Symbolizing while recording (cli.h says why). */
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"

#define AHEAD_INTERVAL_NS 200000000L

/* Opening debug files (libdw inflates them whole) and indexing their DWARF
 * is most of smolder's CPU in a recording's first second, on every core
 * (parallel_run's threads), while the target needs them: at 2 threads on 2
 * cores it cost the target 3% of a 1.6 s run.  It runs at this nice value
 * (the threads it starts inherit it) and only when this process may take
 * its priority back: the noting, under the profile's lock, and the tick
 * must run at the recording's own, or the worker could wait on a thread the
 * scheduler holds back. */
#define AHEAD_NICE 10

static bool may_renice(void)
{
	struct rlimit r;
	return geteuid() == 0 || (getrlimit(RLIMIT_NICE, &r) == 0 && r.rlim_cur >= 20);
}

/* False if the thread could not be given its priority back: then it notes
 * no more (symbolizer_run does the rest). */
static bool prepare_lowered(struct symbolize_ahead *a, pid_t tid)
{
	bool lowered = a->lowered && setpriority(PRIO_PROCESS, (id_t)tid, AHEAD_NICE) == 0;
	symbolizer_prepare_noted(a->z);
	return !lowered || setpriority(PRIO_PROCESS, (id_t)tid, 0) == 0;
}

static void note_new_locations(const struct profile *p, const pid_t *mapping_pids, uint32_t npids, void *arg)
{
	struct symbolize_ahead *a = arg;
	/* Out of memory: symbolizer_run does after sampling what is left. */
	(void)symbolizer_note_locations(a->z, p, mapping_pids, npids, &a->cursor);
}

static void *ahead_main(void *arg)
{
	struct symbolize_ahead *a = arg;
	pid_t tid = gettid();
	bool noting = true;
	pthread_mutex_lock(&a->lock);
	a->tid = tid;
	while (!a->stop) {
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += AHEAD_INTERVAL_NS;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&a->wake, &a->lock, &until);
		if (a->stop)
			break;
		pthread_mutex_unlock(&a->lock);
		if (noting) {
			profiler_with_profile(a->s, note_new_locations, a);
			noting = prepare_lowered(a, tid);
		}
		if (a->tick)
			a->tick(a->tick_arg);
		pthread_mutex_lock(&a->lock);
	}
	pthread_mutex_unlock(&a->lock);
	return NULL;
}

bool symbolize_ahead_start(struct symbolize_ahead *a, struct profiler *s, struct symbolizer *z,
			   void (*tick)(void *arg), void *tick_arg)
{
	*a = (struct symbolize_ahead){ .s = s, .z = z, .tick = tick, .tick_arg = tick_arg,
				     /* The tick cuts --every's intervals: never behind a lowered round. */
				     .lowered = !tick && may_renice() };
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->wake, &attr);
	pthread_condattr_destroy(&attr);
	if (pthread_create(&a->thread, NULL, ahead_main, a) == 0)
		return true;
	pthread_cond_destroy(&a->wake);
	pthread_mutex_destroy(&a->lock);
	return false;
}

void symbolize_ahead_stop(struct symbolize_ahead *a)
{
	pthread_mutex_lock(&a->lock);
	a->stop = true;
	/* The recording's end waits for its last round: at full speed. */
	if (a->lowered && a->tid)
		setpriority(PRIO_PROCESS, (id_t)a->tid, 0);
	pthread_cond_signal(&a->wake);
	pthread_mutex_unlock(&a->lock);
	pthread_join(a->thread, NULL);
	pthread_cond_destroy(&a->wake);
	pthread_mutex_destroy(&a->lock);
}
