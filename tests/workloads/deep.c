/* Stacks DWARF unwinding must get right, built -O2 -fomit-frame-pointer:
 *   main -> recurse (60 frames) -> leaf_burn                 in this binary
 *   main -> recurse (60 frames) -> lib_burn                  in libdeepwork.so
 *   main -> sort_round -> qsort (libc) -> compare_slow        a libc callback
 * Usage: deep SECONDS.  Prints "ready" once running. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define FRAME __attribute__((noipa))

void lib_burn(unsigned units); /* libdeepwork.so */

static volatile unsigned long sink;

FRAME void leaf_burn(unsigned units)
{
	unsigned long x = sink;
	for (unsigned long i = 0; i < units * 100000ul; i++)
		x = x * 2862933555777941757ul + 3037000493ul;
	sink = x;
}

FRAME int recurse(int depth, int which)
{
	if (depth == 0) {
		if (which)
			lib_burn(2);
		else
			leaf_burn(2);
		return 1;
	}
	/* the addition after the call keeps it from being a tail call */
	return recurse(depth - 1, which) + (int)(sink & 1);
}

FRAME int compare_slow(const void *a, const void *b)
{
	unsigned long x = sink;
	for (int i = 0; i < 400; i++)
		x = x * 6364136223846793005ul + 1;
	sink = x;
	return *(const int *)a - *(const int *)b;
}

FRAME void sort_round(void)
{
	int v[256];
	for (int i = 0; i < 256; i++)
		v[i] = (int)((i * 7919u) % 256u);
	qsort(v, 256, sizeof(v[0]), compare_slow);
	sink += (unsigned long)v[3];
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double end = now() + (argc > 1 ? atof(argv[1]) : 3);
	printf("ready\n");
	fflush(stdout);
	while (now() < end) {
		recurse(60, 0);
		recurse(60, 1);
		sort_round();
	}
	return 0;
}
