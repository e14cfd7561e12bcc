/* THREADS threads allocate blocks and swap them through a shared table, so
 * that each frees blocks another allocated.  Runs SECONDS, then frees what
 * is left and prints "swap bytes N count N" (every allocation, all threads);
 * with "rate", prints "rate N" each second too (allocations in that second).
 *   swap_threads THREADS SECONDS [rate]  (prints "ready" first) */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SLOTS 4096

static _Atomic(void *) table[SLOTS];
static _Atomic unsigned long long bytes, count;
static double end;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noipa)) static void *swap_allocate(size_t n)
{
	void *p = malloc(n);
	memset(p, 0, n < 64 ? n : 64);
	return p;
}

static void *run(void *arg)
{
	unsigned r = (unsigned)(unsigned long)arg * 2654435761u + 1;
	unsigned long long b = 0, c = 0;
	while (now() < end) {
		for (int i = 0; i < 1000; i++) {
			r = r * 1103515245u + 12345u;
			size_t n = 16 + (r >> 8) % 2048;
			void *old = atomic_exchange(&table[(r >> 4) % SLOTS], swap_allocate(n));
			b += n;
			c++;
			free(old);
		}
		bytes += b;
		count += c;
		b = c = 0;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int threads = argc > 1 ? atoi(argv[1]) : 8;
	printf("ready\n");
	fflush(stdout);
	end = now() + (argc > 2 ? atof(argv[2]) : 2);
	pthread_t t[64];
	for (int i = 0; i < threads && i < 64; i++)
		pthread_create(&t[i], NULL, run, (void *)(long)i);
	if (argc > 3) {
		unsigned long long last = 0;
		for (double next = now() + 1; next < end; next += 1) {
			struct timespec ts = { 0, (long)((next - now()) * 1e9) };
			if (ts.tv_nsec > 0)
				nanosleep(&ts, NULL);
			unsigned long long c = count;
			printf("rate %llu\n", c - last);
			fflush(stdout);
			last = c;
		}
	}
	for (int i = 0; i < threads && i < 64; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < SLOTS; i++)
		free(table[i]);
	printf("swap bytes %llu count %llu\n", (unsigned long long)bytes, (unsigned long long)count);
	return 0;
}
