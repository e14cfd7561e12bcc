/* Allocations on both sides of a fork: the parent's site before and after,
 * the child's own site, so that each process's samples (its own ring, in
 * the agent) are counted once.  Prints "parent bytes N count N" and
 * "child bytes N count N".
 *   fork_allocs CALLS */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define FRAME __attribute__((noipa))

static volatile uintptr_t sink;

FRAME static uint64_t allocate(long calls, uint64_t *count, uint32_t seed)
{
	uint64_t bytes = 0;
	for (long i = 0; i < calls; i++) {
		seed = seed * 1103515245u + 12345u;
		size_t n = 16 + (seed >> 8) % 2000;
		char *p = malloc(n);
		p[0] = 1;
		sink += (uintptr_t)p;
		free(p);
		bytes += n;
	}
	*count += (uint64_t)calls;
	return bytes;
}

/* Not tail calls: each keeps its frame above allocate's. */
FRAME static uint64_t parent_allocates(long calls, uint64_t *count)
{
	uint64_t b = allocate(calls, count, 1);
	sink += b;
	return b;
}

FRAME static uint64_t child_allocates(long calls, uint64_t *count)
{
	uint64_t b = allocate(calls, count, 2);
	sink += b;
	return b;
}

int main(int argc, char **argv)
{
	long calls = argc > 1 ? atol(argv[1]) : 100000;
	uint64_t count = 0, bytes = parent_allocates(calls / 2, &count);
	fflush(stdout);
	pid_t child = fork();
	if (child == 0) {
		uint64_t c = 0, b = child_allocates(calls, &c);
		printf("child bytes %llu count %llu\n", (unsigned long long)b, (unsigned long long)c);
		return 0;
	}
	bytes += parent_allocates(calls / 2, &count);
	int status;
	waitpid(child, &status, 0);
	printf("parent bytes %llu count %llu\n", (unsigned long long)bytes, (unsigned long long)count);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
