/* 1,000 threads one after another, each burning 3 ms of CPU: less than a
 * sampling period at 99 Hz, so a per-thread sampler may see none of them. */
#include <pthread.h>
#include <time.h>

static volatile unsigned long sink;

static void *burn_3ms(void *arg)
{
	struct timespec start, now;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &start);
	do {
		for (int i = 0; i < 1000; i++)
			sink++;
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
	} while ((now.tv_sec - start.tv_sec) * 1e9 + (now.tv_nsec - start.tv_nsec) < 3e6);
	return arg;
}

int main(void)
{
	for (int i = 0; i < 1000; i++) {
		pthread_t t;
		pthread_create(&t, NULL, burn_3ms, NULL);
		pthread_join(t, NULL);
	}
	return 0;
}
