/* A workload whose work happens in a forked child: the child's status as
 * the workload's own, so that a test sees a child killed (by a seccomp
 * filter, say) as a failure. */
#ifndef SMOLDER_TESTS_RUN_CHILD_H
#define SMOLDER_TESTS_RUN_CHILD_H

#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs child_main (which ends with _exit) in a forked child and returns
 * its exit status, or 128 + the signal that killed it ("child killed by
 * signal N" printed); 1 if the fork or the wait failed (named). */
static int run_child(const char *name, void (*child_main)(void))
{
	fflush(stdout);
	pid_t child = fork();
	if (child < 0) {
		fprintf(stderr, "%s: fork: %m\n", name);
		return 1;
	}
	if (child == 0)
		child_main();
	int status;
	if (waitpid(child, &status, 0) != child) {
		fprintf(stderr, "%s: waitpid: %m\n", name);
		return 1;
	}
	if (WIFSIGNALED(status)) {
		printf("child killed by signal %d\n", WTERMSIG(status));
		return 128 + WTERMSIG(status);
	}
	return WEXITSTATUS(status);
}

#endif
