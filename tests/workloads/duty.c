/* Burns a share of one CPU: PERCENT of every cycle in burn_duty, the rest
 * asleep, for the record -a tests (a process at 100% against one at 50%).
 * A cycle lasts 2 to 20 ms, drawn afresh each time: a fixed 10 ms cycle runs
 * in step with a 99 Hz sampler and lands its samples on the sleeps or on
 * the work, whichever the phase favours (12:1 instead of 2:1 once on CI).
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
	unsigned long draw = (unsigned long)(now() * 1e9);
	while (!end || now() < end) {
		draw = draw * 6364136223846793005ul + 1442695040888963407ul;
		double cycle = 0.002 + 0.018 * (double)(draw >> 11) / (double)(1ul << 53);
		double start = now();
		burn_duty(start + cycle * share);
		double rest = start + cycle - now();
		if (rest > 0)
			nanosleep(&(struct timespec){ 0, (long)(rest * 1e9) }, NULL);
	}
	return 0;
}
