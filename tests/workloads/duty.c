/* Burns a share of one CPU: PERCENT of every 10 ms in burn_duty, the rest
 * asleep, for the record -a tests (a process at 100% against one at 50%).
 * Usage: duty PERCENT [SECONDS] (0 or none: until killed).  Prints "ready". */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static volatile unsigned long sink;

__attribute__((noipa)) void burn_duty(double until)
{
	while (now() < until)
		sink = sink * 6364136223846793005ul + 1;
}

int main(int argc, char **argv)
{
	double share = argc > 1 ? atof(argv[1]) / 100 : 1, seconds = argc > 2 ? atof(argv[2]) : 0;
	double end = seconds > 0 ? now() + seconds : 0;
	printf("ready\n");
	fflush(stdout);
	while (!end || now() < end) {
		double start = now();
		burn_duty(start + 0.01 * share);
		double rest = start + 0.01 - now();
		if (rest > 0)
			nanosleep(&(struct timespec){ 0, (long)(rest * 1e9) }, NULL);
	}
	return 0;
}
