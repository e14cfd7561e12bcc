/* Time spent in the vDSO: in_clock() reads the clock in a loop (each call
 * runs clock_gettime's code in the vDSO), in_burn() computes, half the
 * time each. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define FRAME __attribute__((noipa))

static volatile unsigned long sink;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

FRAME void in_clock(double seconds)
{
	struct timespec ts;
	double end = now() + seconds;
	do {
		for (int i = 0; i < 100; i++)
			clock_gettime(CLOCK_MONOTONIC, &ts);
	} while ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9 < end);
}

FRAME void in_burn(double seconds)
{
	double end = now() + seconds;
	do {
		for (int i = 0; i < 100000; i++)
			sink = sink * 6364136223846793005ul + 1;
	} while (now() < end);
}

int main(int argc, char **argv)
{
	double total = argc > 1 ? atof(argv[1]) : 2, done = 0;
	while (done < total) {
		in_clock(0.1);
		in_burn(0.1);
		done += 0.2;
	}
	printf("done\n");
	return 0;
}
