/* Work on threads: how many, and running them side by side. */
#include <pthread.h>
#include <unistd.h>

#include "base/base.h"

unsigned parallel_threads(void)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	return (unsigned)(cores > PARALLEL_MAX ? PARALLEL_MAX : cores > 1 ? cores : 1);
}

struct parallel_share {
	pthread_t thread;
	void (*work)(void *arg, unsigned i);
	void *arg;
	unsigned i;
};

static void *parallel_main(void *p)
{
	struct parallel_share *s = p;
	s->work(s->arg, s->i);
	return NULL;
}

unsigned parallel_run(unsigned n, void (*work)(void *arg, unsigned i), void *arg)
{
	if (n == 0)
		return 0;
	if (n > PARALLEL_MAX)
		n = PARALLEL_MAX;
	struct parallel_share shares[PARALLEL_MAX];
	unsigned started = 0;
	for (unsigned i = 1; i < n; i++) {
		struct parallel_share *s = &shares[started];
		*s = (struct parallel_share){ .work = work, .arg = arg, .i = i };
		if (pthread_create(&s->thread, NULL, parallel_main, s) != 0)
			break;
		started++;
	}
	work(arg, 0);
	for (unsigned i = 0; i < started; i++)
		pthread_join(shares[i].thread, NULL);
	return started + 1;
}
