/* A process that sandboxes itself after it started, as sshd's pre-auth
 * child and browsers' renderers do: it allocates, forks, and the child
 * installs a seccomp filter that kills it for any of the calls an agent
 * inside it could make on its own (memfd_create, open, openat, gettid,
 * nanosleep, clock_nanosleep), then allocates on two threads.  Prints the
 * child's bytes ("child allocated N bytes") and exits with the child's
 * status (128 + the signal if it was killed).
 *   seccomp_late */
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "run_child.h"

#define BLOCK (64 << 10)
#define BLOCKS 8192 /* 512 MiB a thread */

static volatile unsigned long sink;

/* Each block is used a while (~50 us), as a program would: the samples
 * (one in 8.5 at the default rate) come at a pace the profiler's uprobe
 * path keeps up with, not in one burst it sheds the stacks of. */
static __attribute__((noipa)) unsigned long sandboxed_allocs(void)
{
	for (int i = 0; i < BLOCKS; i++) {
		char *p = malloc(BLOCK);
		if (!p)
			abort();
		p[i % BLOCK] = (char)i;
		for (int k = 0; k < 100000; k++)
			sink += (unsigned char)p[(i + k) % BLOCK];
		free(p);
	}
	return (unsigned long)BLOCKS * BLOCK;
}

static atomic_int thread_done;

static void *thread_main(void *arg)
{
	(void)arg;
	sandboxed_allocs();
	atomic_store(&thread_done, 1);
	return NULL;
}

static __attribute__((noipa)) void parent_allocs(void)
{
	for (int i = 0; i < 256; i++) {
		char *p = malloc(BLOCK);
		if (!p)
			abort();
		p[i] = (char)i;
		sink += (unsigned char)p[i];
		free(p);
	}
}

static int sandbox(void)
{
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_memfd_create, 6, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_open, 5, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_openat, 4, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_gettid, 3, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_nanosleep, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clock_nanosleep, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
	};
	struct sock_fprog prog = { .len = sizeof(filter) / sizeof(filter[0]), .filter = filter };
	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

static void child_main(void)
{
	if (sandbox()) {
		perror("seccomp_late: prctl");
		_exit(1);
	}
	pthread_t t;
	if (pthread_create(&t, NULL, thread_main, NULL))
		_exit(1);
	unsigned long bytes = sandboxed_allocs();
	while (!atomic_load(&thread_done))
		sched_yield();
	printf("child allocated %lu bytes\n", 2 * bytes);
	fflush(stdout);
	_exit(0);
}

int main(void)
{
	parent_allocs();
	return run_child("seccomp_late", child_main);
}
