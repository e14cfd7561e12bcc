/* Two threads handing a byte back and forth over two pipes, with a few
 * microseconds of work per round (so that wakeup latency, which a busy
 * machine shortens, does not decide the time alone): every round is a
 * write, a read and a context switch in each thread, a worst case for the
 * offcpu and io views' overhead.  Prints
 * "wall SECONDS cpu SECONDS rounds N".
 *   pingpong ROUNDS */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define FRAME __attribute__((noipa))

static int ping[2], pong[2];
static long rounds;
static volatile unsigned long sink;

FRAME static void work(void)
{
	unsigned long x = sink;
	for (int i = 0; i < 4000; i++)
		x = x * 6364136223846793005ul + 1442695040888963407ul;
	sink = x;
}

FRAME static void serve(void)
{
	char c;
	for (long i = 0; i < rounds; i++)
		if (read(ping[0], &c, 1) != 1 || (work(), write(pong[1], &c, 1)) != 1)
			exit(1);
}

static void *server(void *arg)
{
	(void)arg;
	serve();
	return NULL;
}

FRAME static void ask(void)
{
	char c = 'x';
	for (long i = 0; i < rounds; i++) {
		if (write(ping[1], &c, 1) != 1 || read(pong[0], &c, 1) != 1)
			exit(1);
		work();
	}
}

static double seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	rounds = argc > 1 ? atol(argv[1]) : 100000;
	if (pipe(ping) || pipe(pong))
		return 1;
	double t0 = seconds();
	pthread_t t;
	pthread_create(&t, NULL, server, NULL);
	ask();
	pthread_join(t, NULL);
	double wall = seconds() - t0;
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	printf("wall %.4f cpu %.4f rounds %ld\n", wall, cpu, rounds);
	return 0;
}
