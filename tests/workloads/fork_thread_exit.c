/* A forked child that sandboxes itself (a filter allowing every call: the
 * agent then starts no thread of its own and sends its samples through
 * its markers), makes a thread that switches back and forth with its main
 * thread on one CPU and exits, then allocates and frees BLOCKS blocks of
 * 1 MiB.  Linux swaps the perf contexts of such threads at each switch:
 * the thread may exit holding the main thread's inherited events, whose
 * release took the uprobes (the agent's markers, or exact mode's on libc)
 * out of the child (the notes in profiler/keepers.c).  Prints "child
 * allocated N bytes"; exits with the child's status.
 *   fork_thread_exit */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "run_child.h"

#define BLOCK (1 << 20)
#define BLOCKS 1000

static volatile unsigned long sink;

static void *switch_often(void *arg)
{
	(void)arg;
	for (int i = 0; i < 2001; i++)
		sched_yield();
	return NULL;
}

static __attribute__((noipa)) unsigned long child_allocs(void)
{
	for (int i = 0; i < BLOCKS; i++) {
		char *p = malloc(BLOCK);
		if (!p)
			abort();
		p[i] = (char)i;
		sink += (unsigned char)p[i];
		free(p);
	}
	return (unsigned long)BLOCKS * BLOCK;
}

static int sandbox(void)
{
	struct sock_filter allow[] = { BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW) };
	struct sock_fprog prog = { .len = 1, .filter = allow };
	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

static void child_main(void)
{
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	pthread_t t;
	if (sandbox() || sched_setaffinity(0, sizeof(one), &one) || pthread_create(&t, NULL, switch_often, NULL))
		_exit(1);
	for (int i = 0; i < 2000; i++)
		sched_yield();
	pthread_join(t, NULL);
	printf("child allocated %lu bytes\n", child_allocs());
	fflush(stdout);
	_exit(0);
}

int main(void)
{
	return run_child("fork_thread_exit", child_main);
}
