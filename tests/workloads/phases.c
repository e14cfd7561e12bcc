/* Time in two halves, for the tests of time: phase_one burns the CPU for
 * the first SECONDS, then phase_two for as long again.
 * Usage: phases SECONDS.  Prints "ready" once running, then the monotonic
 * times (ns) each phase began and ended: "phase_one BEGIN END". */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define FRAME __attribute__((noipa))
#define NO_TAIL_CALL __asm__ volatile("")

static volatile unsigned long sink;

static unsigned long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

/* Spins until `until`; x on the stack gives the leaf a frame pointer. */
#define SPIN_UNTIL(until)                                                              \
	do {                                                                           \
		volatile unsigned long x = sink;                                       \
		while (now_ns() < (until))                                             \
			for (int i = 0; i < 20000; i++)                                \
				x = x * 6364136223846793005ul + 1442695040888963407ul; \
		sink = x;                                                              \
	} while (0)

FRAME void phase_one(unsigned long long until) { SPIN_UNTIL(until); }
FRAME void phase_two(unsigned long long until) { SPIN_UNTIL(until); }

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 1.0;
	unsigned long long half = (unsigned long long)(seconds * 1e9);
	printf("ready\n");
	fflush(stdout);
	unsigned long long t0 = now_ns();
	phase_one(t0 + half);
	NO_TAIL_CALL;
	unsigned long long t1 = now_ns();
	phase_two(t1 + half);
	NO_TAIL_CALL;
	unsigned long long t2 = now_ns();
	printf("phase_one %llu %llu\nphase_two %llu %llu\n", t0, t1, t1, t2);
	return 0;
}
