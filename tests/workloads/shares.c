/* A known call tree with known CPU shares, for the profiler's tests:
 *   main -> run_a -> burn_a            20%
 *   main -> run_b -> middle_b -> burn_b 30%
 *   main -> run_c -> burn_c            50%
 * Usage: shares SECONDS (0: until killed).  Prints "ready" once running.
 *        shares -n ROUNDS: a fixed amount of work, then prints its wall and
 *        CPU seconds and the moment its work ended, in seconds since the
 *        epoch ("wall 1.234 cpu 1.230 end 1795319731.4986"), for the
 *        benchmarks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/* noipa: no inlining, cloning or identical-code folding, so every function
 * named below is a real frame; the empty asm after each call stops tail calls. */
#define FRAME __attribute__((noipa))
#define NO_TAIL_CALL __asm__ volatile("")

static volatile unsigned long sink;
/* The work of each timed round, in thousandths of the unit: 1 to 2 times
 * it, stepping by the golden ratio.  Rounds of one length (2.5 ms here)
 * against samples every 10.1 ms (99 Hz) lock in phase whenever the machine
 * runs at a speed that makes one a multiple of the other: a CI run saw 20
 * samples in a row in burn_a, and shares of 34/47/18 in a second.  Within
 * a round the shares are 20/30/50 at any scale. */
static unsigned long round_scale = 1000;

/* units of work: the same instructions every time, in the caller's frame;
 * x lives on the stack so that even these leaves set up a frame pointer
 * (gcc omits it in leaves that use no stack, whatever -f flags say) */
#define SPIN(units)                                                            \
	do {                                                                   \
		volatile unsigned long x = sink;                               \
		for (unsigned long i = 0; i < (units) * round_scale * 200ul; i++) \
			x = x * 6364136223846793005ul + 1442695040888963407ul; \
		sink = x;                                                      \
	} while (0)

FRAME void burn_a(void) { SPIN(2); }
#ifndef B_UNITS /* the "slower version" of the diff test builds with -DB_UNITS=9 */
#define B_UNITS 3
#endif
FRAME void burn_b(void) { SPIN(B_UNITS); }
FRAME void burn_c(void) { SPIN(5); }
FRAME void run_a(void) { burn_a(); NO_TAIL_CALL; }
FRAME void middle_b(void) { burn_b(); NO_TAIL_CALL; }
FRAME void run_b(void) { middle_b(); NO_TAIL_CALL; }
FRAME void run_c(void) { burn_c(); NO_TAIL_CALL; }

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int fixed_rounds(long rounds)
{
	double start = now();
	for (long r = 0; r < rounds; r++) {
		run_a();
		run_b();
		run_c();
	}
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	struct timespec end;
	clock_gettime(CLOCK_REALTIME, &end);
	printf("wall %.4f cpu %.4f end %.6f\n", now() - start,
	       ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6,
	       end.tv_sec + end.tv_nsec / 1e9);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 2 && strcmp(argv[1], "-n") == 0)
		return fixed_rounds(atol(argv[2]));
	double seconds = argc > 1 ? atof(argv[1]) : 5;
	double end = now() + seconds;
	printf("ready\n");
	fflush(stdout);
	double step = 0;
	while (seconds <= 0 || now() < end) {
		step += 0.6180339887498949;
		step -= (long)step;
		round_scale = 1000 + (unsigned long)(step * 1000);
		run_a();
		run_b();
		run_c();
	}
	return 0;
}
