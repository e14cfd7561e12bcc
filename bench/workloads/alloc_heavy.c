/* An allocation-heavy program for the alloc view's benchmark: builds and
 * tears down linked records of varied sizes, about a malloc and a free per
 * microsecond of work, from three call sites.  Waits for SIGUSR1 when given
 * -w (so that a profiler can attach first), then prints
 * "wall SECONDS cpu SECONDS calls N bytes N"; with -s, a "SITE bytes N calls N"
 * line per call site after it (the truth the estimates are checked against).
 * With -t THREADS, that many threads each make CALLS calls, each with its
 * own blocks (no sharing: the multi-threaded variant measures the cost per
 * thread, not contention).  With -i, an idle thread besides (what a
 * second thread alone costs glibc's malloc, which then takes its locked
 * paths).  With -d DEPTH, each thread works under DEPTH more frames of 96
 * bytes (a deeper program's stacks: up to ~20 fit the alloc view's default
 * 8 KiB copy).
 *   alloc_heavy [-w] [-s] [-i] [-t THREADS] [-d DEPTH] CALLS */
#include <pthread.h>
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

static __thread void *live[LIVE];
static __thread uint64_t bytes, calls;
enum { SMALL, MEDIUM, ARRAY, SITES };
static __thread uint64_t site_bytes[SITES], site_calls[SITES];
static __thread uint32_t rng = 1;

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

struct totals {
	uint64_t bytes, calls, site_bytes[SITES], site_calls[SITES];
};

struct work {
	long calls;
	int depth;
	struct totals *out;
};

static void work_here(const struct work *w)
{
	long n = w->calls;
	struct totals *out = w->out;
	rng = (uint32_t)(uintptr_t)out | 1;
	for (long i = 0; i < n; i++) {
		uint32_t k = next_random() % LIVE, which = next_random() % 8;
		free(live[k]);
		live[k] = which < 5 ? make_small() : which < 7 ? make_medium() : make_array();
	}
	for (int k = 0; k < LIVE; k++) {
		free(live[k]);
		live[k] = NULL;
	}
	out->bytes = bytes;
	out->calls = calls;
	memcpy(out->site_bytes, site_bytes, sizeof(site_bytes));
	memcpy(out->site_calls, site_calls, sizeof(site_calls));
}

FRAME static void descend(const struct work *w, int depth)
{
	volatile char frame[96];
	frame[0] = (char)depth;
	if (depth > 0)
		descend(w, depth - 1);
	else
		work_here(w);
	frame[1] = frame[0];
}

static void *run(void *arg)
{
	const struct work *w = arg;
	if (w->depth > 0)
		descend(w, w->depth - 1);
	else
		work_here(w);
	return NULL;
}

static void on_go(int sig) { (void)sig; }

static void *sleep_on(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

static double seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	int wait_go = 0, sites = 0, idle = 0, threads = 1, depth = 0;
	for (int i = 1; i < argc - 1; i++) {
		wait_go |= strcmp(argv[i], "-w") == 0;
		sites |= strcmp(argv[i], "-s") == 0;
		idle |= strcmp(argv[i], "-i") == 0;
		if (strcmp(argv[i], "-t") == 0 && i + 1 < argc - 1)
			threads = atoi(argv[++i]);
		else if (strcmp(argv[i], "-d") == 0 && i + 1 < argc - 1)
			depth = atoi(argv[++i]);
	}
	if (threads < 1 || threads > 64)
		threads = 1;
	uint64_t bytes_all = 0, calls_all = 0, site_bytes_all[SITES] = { 0 }, site_calls_all[SITES] = { 0 };
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
	pthread_t idler;
	if (idle)
		pthread_create(&idler, NULL, sleep_on, NULL);
	double t0 = seconds();
	pthread_t t[64];
	struct totals each[64];
	for (int i = 1; i < threads; i++)
		pthread_create(&t[i], NULL, run, &(struct work){ n, depth, &each[i] });
	run(&(struct work){ n, depth, &each[0] });
	for (int i = 1; i < threads; i++)
		pthread_join(t[i], NULL);
	double wall = seconds() - t0;
	for (int i = 0; i < threads; i++) {
		bytes_all += each[i].bytes;
		calls_all += each[i].calls;
		for (int s = 0; s < SITES; s++) {
			site_bytes_all[s] += each[i].site_bytes[s];
			site_calls_all[s] += each[i].site_calls[s];
		}
	}
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	printf("wall %.4f cpu %.4f calls %llu bytes %llu\n", wall, cpu, (unsigned long long)calls_all,
	       (unsigned long long)bytes_all);
	static const char *const names[SITES] = { "make_small", "make_medium", "make_array" };
	for (int i = 0; sites && i < SITES; i++)
		printf("%s bytes %llu calls %llu\n", names[i], (unsigned long long)site_bytes_all[i],
		       (unsigned long long)site_calls_all[i]);
	return 0;
}
