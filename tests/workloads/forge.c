/* A program that names itself and a thread to forge folded lines: a name
 * with ';' would add frames, one with a newline and a count would add a
 * whole stack with the count it chose. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <time.h>

static volatile unsigned long sink;

__attribute__((noinline)) static void burn_forged(double seconds)
{
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	do {
		for (int i = 0; i < 100000; i++)
			sink = sink * 6364136223846793005ul + 1;
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while ((double)(now.tv_sec - start.tv_sec) + (double)(now.tv_nsec - start.tv_nsec) / 1e9 < seconds);
}

static void *thread_main(void *arg)
{
	prctl(PR_SET_NAME, "t;x\nfake 99999", 0, 0, 0);
	burn_forged(*(double *)arg);
	return NULL;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 1;
	prctl(PR_SET_NAME, "p\nmain 99999999", 0, 0, 0);
	pthread_t t;
	pthread_create(&t, NULL, thread_main, &seconds);
	burn_forged(seconds);
	pthread_join(t, NULL);
	printf("done\n");
	return 0;
}
