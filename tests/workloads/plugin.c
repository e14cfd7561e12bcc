/* The library dlopen_main loads: its time goes to plugin_hot_loop. */
#include <time.h>

static volatile unsigned long sink;

__attribute__((noipa)) void plugin_hot_loop(double end)
{
	struct timespec ts;
	do {
		for (int i = 0; i < 100000; i++)
			sink += (unsigned long)i;
		clock_gettime(CLOCK_MONOTONIC, &ts);
	} while (ts.tv_sec + ts.tv_nsec / 1e9 < end);
}

void plugin_work(double seconds)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	plugin_hot_loop(ts.tv_sec + ts.tv_nsec / 1e9 + seconds);
}
