/* Runs a command as a ptrace tracee of this process, as a debugger would,
 * passing its signals on: for the test of an agent that cannot be loaded
 * into a process that is traced already.
 *   traced COMMAND [ARGS...] */
#include <signal.h>
#include <stdio.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	pid_t child = fork();
	if (child == 0) {
		ptrace(PTRACE_TRACEME, 0, NULL, NULL);
		execvp(argv[1], argv + 1);
		_exit(127);
	}
	int status;
	while (waitpid(child, &status, 0) == child && WIFSTOPPED(status)) {
		int sig = WSTOPSIG(status);
		ptrace(PTRACE_CONT, child, NULL, (void *)(long)(sig == SIGTRAP ? 0 : sig));
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
