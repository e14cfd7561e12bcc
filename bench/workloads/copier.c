/* A file copier at a steady pace, for the io view's like-for-like benchmark:
 * one thread reads /dev/zero in 4 KiB blocks, works on each block (a
 * checksum, WORK passes over it) and writes it to /dev/null.  The pace is
 * low enough (tens of thousands of calls a second) for perf's DWARF mode to
 * keep every event, unlike pingpong.c's.  Prints
 * "wall SECONDS cpu SECONDS calls N bytes N".
 *   copier BLOCKS [WORK] */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define FRAME __attribute__((noipa))
#define BLOCK 4096

static volatile unsigned long sink;

FRAME static void checksum(const unsigned char *block, int passes)
{
	unsigned long x = sink;
	for (int p = 0; p < passes; p++)
		for (int i = 0; i < BLOCK; i++)
			x = (x ^ block[i]) * 1099511628211ul;
	sink = x;
}

FRAME static ssize_t fill(int from, unsigned char *block)
{
	return read(from, block, BLOCK);
}

FRAME static ssize_t drain(int to, const unsigned char *block)
{
	return write(to, block, BLOCK);
}

FRAME static long copy(long blocks, int passes, long *calls)
{
	static unsigned char block[BLOCK];
	int from = open("/dev/zero", O_RDONLY), to = open("/dev/null", O_WRONLY);
	long bytes = 0;
	if (from < 0 || to < 0)
		exit(1);
	for (long i = 0; i < blocks; i++) {
		ssize_t in = fill(from, block);
		checksum(block, passes);
		ssize_t out = drain(to, block);
		if (in != BLOCK || out != BLOCK)
			exit(1);
		bytes += in + out;
	}
	*calls = 2 * blocks;
	close(from);
	close(to);
	return bytes;
}

static double seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	long blocks = argc > 1 ? atol(argv[1]) : 20000;
	int passes = argc > 2 ? atoi(argv[2]) : 4;
	long calls;
	double t0 = seconds();
	long bytes = copy(blocks, passes, &calls);
	double wall = seconds() - t0;
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	printf("wall %.4f cpu %.4f calls %ld bytes %ld\n", wall, cpu, calls, bytes);
	return 0;
}
