/* A library dlopen_main loads after the recording began: its allocations
 * (plugin_allocates, 4 KiB each, freed at once) must be seen.  Prints
 * "plugin bytes N" at the end. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static unsigned long long total;
static void *volatile keep; /* so that the compiler keeps the allocation */

__attribute__((noipa)) void plugin_allocates(void)
{
	char *p = malloc(4096);
	memset(p, 1, 64);
	keep = p;
	total += 4096;
	free(keep);
}

void plugin_work(double seconds)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	double end = ts.tv_sec + ts.tv_nsec / 1e9 + seconds, now;
	do {
		for (int i = 0; i < 1000; i++)
			plugin_allocates();
		clock_gettime(CLOCK_MONOTONIC, &ts);
		now = ts.tv_sec + ts.tv_nsec / 1e9;
	} while (now < end);
	printf("plugin bytes %llu\n", total);
}
