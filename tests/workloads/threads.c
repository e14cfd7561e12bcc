/* Four worker threads with known names, and a fifth started later.
 *   threads SECONDS LATE_AFTER
 * Workers are named work-0..work-3 and spin in worker_loop; after LATE_AFTER
 * seconds a thread named "late" starts spinning in late_loop.  Prints "ready"
 * when the first four run. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double seconds, late_after;
static volatile unsigned long sink;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double start;

__attribute__((noipa)) static void spin_until(double end)
{
	while (now() < end)
		for (int i = 0; i < 100000; i++)
			sink += (unsigned long)i;
}

__attribute__((noipa)) static void *worker_loop(void *arg)
{
	(void)arg;
	spin_until(start + seconds);
	return NULL;
}

__attribute__((noipa)) static void *late_loop(void *arg)
{
	(void)arg;
	spin_until(start + seconds);
	return NULL;
}

int main(int argc, char **argv)
{
	seconds = argc > 1 ? atof(argv[1]) : 4;
	late_after = argc > 2 ? atof(argv[2]) : 1;
	start = now();
	pthread_t t[5];
	for (int i = 0; i < 4; i++) {
		char name[16];
		pthread_create(&t[i], NULL, worker_loop, NULL);
		snprintf(name, sizeof(name), "work-%d", i);
		pthread_setname_np(t[i], name);
	}
	printf("ready\n");
	fflush(stdout);
	usleep((useconds_t)(late_after * 1e6));
	pthread_create(&t[4], NULL, late_loop, NULL);
	pthread_setname_np(t[4], "late");
	for (int i = 0; i < 5; i++)
		pthread_join(t[i], NULL);
	return 0;
}
