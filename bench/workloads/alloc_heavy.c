/* An allocation-heavy program for the alloc view's benchmark: builds and
 * tears down linked records of varied sizes, about a malloc and a free per
 * microsecond of work, from three call sites.  Waits for SIGUSR1 when given
 * -w (so that a profiler can attach first), then prints
 * "wall SECONDS cpu SECONDS calls N bytes N"; with -s, a "SITE bytes N calls N"
 * line per call site after it (the truth the estimates are checked against).
 *   alloc_heavy [-w] [-s] CALLS */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define FRAME __attribute__((noipa))
#define LIVE 4096

static void *live[LIVE];
static uint64_t bytes, calls;
enum { SMALL, MEDIUM, ARRAY, SITES };
static uint64_t site_bytes[SITES], site_calls[SITES];
static uint32_t rng = 1;

static uint32_t next_random(void)
{
	rng = rng * 1103515245u + 12345u;
	return rng >> 8;
}

/* Touches the block, as a program would fill it. */
static void *use(void *p, size_t n)
{
	memset(p, (int)n, n < 256 ? n : 256);
	bytes += n;
	calls++;
	return p;
}

static void *count_site(int site, void *p, size_t n)
{
	site_bytes[site] += n;
	site_calls[site]++;
	return use(p, n);
}

FRAME static void *make_small(void) { size_t n = 16 + next_random() % 112; return count_site(SMALL, malloc(n), n); }
FRAME static void *make_medium(void) { size_t n = 128 + next_random() % 896; return count_site(MEDIUM, malloc(n), n); }
FRAME static void *make_array(void)
{
	size_t n = 1 + next_random() % 64;
	return count_site(ARRAY, calloc(n, 16), n * 16);
}

static void on_go(int sig) { (void)sig; }

static double seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	int wait_go = 0, sites = 0;
	for (int i = 1; i < argc - 1; i++) {
		wait_go |= strcmp(argv[i], "-w") == 0;
		sites |= strcmp(argv[i], "-s") == 0;
	}
	long n = atol(argv[argc - 1]);
	if (wait_go) {
		sigset_t set;
		sigemptyset(&set);
		sigaddset(&set, SIGUSR1);
		sigprocmask(SIG_BLOCK, &set, NULL);
		signal(SIGUSR1, on_go);
		printf("ready %d\n", (int)getpid());
		fflush(stdout);
		int sig;
		sigwait(&set, &sig);
	}
	double t0 = seconds();
	for (long i = 0; i < n; i++) {
		uint32_t k = next_random() % LIVE, which = next_random() % 8;
		free(live[k]);
		live[k] = which < 5 ? make_small() : which < 7 ? make_medium() : make_array();
	}
	double wall = seconds() - t0;
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	printf("wall %.4f cpu %.4f calls %llu bytes %llu\n", wall, cpu, (unsigned long long)calls,
	       (unsigned long long)bytes);
	static const char *const names[SITES] = { "make_small", "make_medium", "make_array" };
	for (int i = 0; sites && i < SITES; i++)
		printf("%s bytes %llu calls %llu\n", names[i], (unsigned long long)site_bytes[i],
		       (unsigned long long)site_calls[i]);
	return 0;
}
