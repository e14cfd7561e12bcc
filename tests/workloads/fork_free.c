/* A parent's block, inherited by a forked child that frees its copy: the
 * parent's stays allocated (it never frees it), the child's is gone.
 * Prints "leak bytes N" (the parent's block still in use at exit).
 *   fork_free */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SIZE (1 << 20)

static __attribute__((noipa)) char *parent_leak(void)
{
	char *p = malloc(SIZE);
	if (p)
		memset(p, 1, SIZE);
	return p;
}

int main(void)
{
	char *p = parent_leak();
	if (!p)
		return 1;
	fflush(stdout);
	pid_t child = fork();
	if (child < 0)
		return 1;
	if (child == 0) {
		free(p);
		exit(0);
	}
	int status;
	waitpid(child, &status, 0);
	/* After the child's free was seen: a slower parent than the child. */
	usleep(100000);
	printf("leak bytes %d\n", SIZE);
	return p[SIZE - 1] == 1 ? 0 : 1;
}
