/* Symbolizing while recording (cli.h says why). */
#include <time.h>

#include "cli/cli.h"

#define AHEAD_INTERVAL_NS 200000000L

static void note_new_locations(const struct profile *p, const pid_t *mapping_pids, uint32_t npids, void *arg)
{
	struct symbolize_ahead *a = arg;
	/* Out of memory: symbolizer_run does after sampling what is left. */
	(void)symbolizer_note_locations(a->z, p, mapping_pids, npids, &a->cursor);
}

static void *ahead_main(void *arg)
{
	struct symbolize_ahead *a = arg;
	pthread_mutex_lock(&a->lock);
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
		profiler_with_profile(a->s, note_new_locations, a);
		symbolizer_prepare_noted(a->z);
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
	*a = (struct symbolize_ahead){ .s = s, .z = z, .tick = tick, .tick_arg = tick_arg };
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
	pthread_cond_signal(&a->wake);
	pthread_mutex_unlock(&a->lock);
	pthread_join(a->thread, NULL);
	pthread_cond_destroy(&a->wake);
	pthread_mutex_destroy(&a->lock);
}
