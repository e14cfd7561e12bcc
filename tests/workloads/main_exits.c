/* A process whose main thread exits (pthread_exit) while another runs on,
 * and which leaves a child it never reaps (a zombie).  The worker
 * allocates, frees and computes in keep_allocating for SECONDS, then the
 * process exits.  Prints "pid P zombie C ready" once both are so.
 *   main_exits [SECONDS] */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double seconds = 20;
static volatile unsigned long sink;

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static __attribute__((noinline)) void keep_allocating(void)
{
	void *keep[64] = { 0 };
	double end = now() + seconds;
	for (unsigned long i = 0; now() < end; i++)
		for (int j = 0; j < 1000; j++) {
			int k = (int)((i + (unsigned long)j) & 63);
			free(keep[k]);
			keep[k] = malloc(64 + (size_t)(j & 1023));
			sink += (unsigned long)keep[k] >> 4;
		}
	for (int k = 0; k < 64; k++)
		free(keep[k]);
}

static void *work(void *arg)
{
	(void)arg;
	keep_allocating();
	exit(0);
}

int main(int argc, char **argv)
{
	if (argc > 1)
		seconds = atof(argv[1]);
	pid_t child = fork();
	if (child == 0)
		_exit(0);
	if (child < 0)
		return 1;
	siginfo_t si = { 0 };
	/* Until the child has exited, left unreaped (WNOWAIT). */
	while (waitid(P_PID, (id_t)child, &si, WEXITED | WNOWAIT | WNOHANG) == 0 && si.si_pid != child)
		usleep(1000);
	pthread_t t;
	if (pthread_create(&t, NULL, work, NULL))
		return 1;
	printf("pid %d zombie %d ready\n", (int)getpid(), (int)child);
	fflush(stdout);
	pthread_exit(NULL);
}
