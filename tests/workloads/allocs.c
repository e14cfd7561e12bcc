/* Known allocations from known call sites, in varied sizes, each round:
 *   alloc_malloc(): malloc, all freed        alloc_calloc(): calloc, all freed
 *   alloc_realloc(): a block grown by realloc, then freed
 *   alloc_aligned(): posix_memalign and aligned_alloc, all freed
 *   alloc_leak(): malloc, never freed
 * The call sites come in a scrambled order, so that no sampling period
 * falls in step with them.  Prints the truth per site at the end:
 * "SITE bytes N count N" lines and "leak inuse N".
 *   allocs ROUNDS [PAUSE_MS [DEPTH]]   (ROUNDS 0: until killed; prints "ready"
 *                               first; PAUSE_MS between rounds of 400 calls: 2;
 *                               DEPTH more frames of main above the sites: 0)
 * On SIGUSR1, between rounds, prints "malloc hooked yes in PID" or "no":
 * whether this program's GOT sends malloc elsewhere than where the loader
 * finds it (an agent's hook).  On SIGUSR2 it forks, and the child goes on
 * with the rounds (its own SIGUSR1 answered in its own line). */
#include <dlfcn.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FRAME __attribute__((noipa))

enum { MALLOC, CALLOC, REALLOC, ALIGNED, LEAK, SITES };
static const char *const names[SITES] = { "malloc", "calloc", "realloc", "aligned", "leak" };
static uint64_t bytes[SITES], counts[SITES];
static volatile uintptr_t sink;

static uint32_t rng = 12345;
static uint32_t next_random(void)
{
	rng = rng * 1103515245u + 12345u;
	return rng >> 8;
}

static size_t some_size(void)
{
	return 100 + next_random() % 2000;
}

FRAME static void alloc_malloc(void)
{
	size_t n = some_size();
	char *p = malloc(n);
	p[0] = 1;
	sink += (uintptr_t)p;
	free(p);
	bytes[MALLOC] += n;
	counts[MALLOC]++;
}

FRAME static void alloc_calloc(void)
{
	size_t n = 1 + next_random() % 40, size = 8 + next_random() % 64;
	char *p = calloc(n, size);
	sink += (uintptr_t)p;
	free(p);
	bytes[CALLOC] += n * size;
	counts[CALLOC]++;
}

/* realloc(NULL, n) is a malloc (glibc's realloc calls it), then two growths. */
FRAME static void alloc_realloc(void)
{
	size_t n = some_size();
	char *p = realloc(NULL, n);
	p = realloc(p, 2 * n);
	p = realloc(p, 3 * n);
	sink += (uintptr_t)p;
	free(p);
	bytes[REALLOC] += 6 * n;
	counts[REALLOC] += 3;
}

FRAME static void alloc_aligned(void)
{
	size_t n = 64 * (1 + next_random() % 20);
	void *p = NULL;
	if (posix_memalign(&p, 64, n))
		exit(1);
	void *q = aligned_alloc(64, n);
	sink += (uintptr_t)p + (uintptr_t)q;
	free(p);
	free(q);
	bytes[ALIGNED] += 2 * n;
	counts[ALIGNED] += 2;
}

FRAME static void alloc_leak(void)
{
	size_t n = some_size();
	char *p = malloc(n);
	memset(p, 1, n < 8 ? n : 8);
	sink += (uintptr_t)p;
	bytes[LEAK] += n;
	counts[LEAK]++;
}

static volatile sig_atomic_t asked, fork_asked;

static void ask(int sig)
{
	if (sig == SIGUSR2)
		fork_asked = 1;
	else
		asked = 1;
}

/* The address of malloc is read from this program's GOT (it is PIE). */
static void say_if_hooked(void)
{
	void *(*volatile mine)(size_t) = malloc;
	printf("malloc hooked %s in %d\n", (void *)mine != dlsym(RTLD_DEFAULT, "malloc") ? "yes" : "no",
	       (int)getpid());
	fflush(stdout);
}

static void (*const sites[SITES])(void) = { alloc_malloc, alloc_calloc, alloc_realloc, alloc_aligned,
					    alloc_leak };

int main(int argc, char **argv)
{
	static int depth = -1;
	if (argc < 2)
		return 2;
	if (depth < 0)
		depth = argc > 3 ? atoi(argv[3]) : 0;
	if (depth > 0) { /* a frame of its own each, with something in it, as a program's are */
		volatile char frame[64];
		frame[0] = (char)depth--;
		int status = main(argc, argv);
		sink += (uintptr_t)frame[0];
		return status;
	}
	int rounds = atoi(argv[1]);
	signal(SIGUSR1, ask);
	signal(SIGUSR2, ask);
	printf("ready\n");
	fflush(stdout);
	long pause_ms = argc > 2 ? atol(argv[2]) : 2;
	struct timespec pause = { pause_ms / 1000, pause_ms % 1000 * 1000000 };
	for (int r = 0; rounds == 0 || r < rounds; r++) {
		for (int i = 0; i < 400; i++)
			sites[next_random() % SITES]();
		nanosleep(&pause, NULL);
		if (asked) {
			asked = 0;
			say_if_hooked();
		}
		if (fork_asked) {
			fork_asked = 0;
			if (fork() == 0)
				printf("child %d ready\n", (int)getpid());
			fflush(stdout);
		}
	}
	for (int i = 0; i < SITES; i++)
		printf("%s bytes %llu count %llu\n", names[i], (unsigned long long)bytes[i],
		       (unsigned long long)counts[i]);
	printf("leak inuse %llu\n", (unsigned long long)bytes[LEAK]);
	return 0;
}
