/* Runs a command under a seccomp filter, as sandboxed services run (systemd's
 * SystemCallFilter=, browsers' renderers): the filter allows every call, but
 * the kernel reports the process as filtered (Seccomp: 2), which is all the
 * profiler can know of it from outside.
 *   seccomp_exec COMMAND [ARGS...] */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: seccomp_exec COMMAND [ARGS...]\n");
		return 2;
	}
	struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	struct sock_fprog prog = { .len = 1, .filter = &allow };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog)) {
		perror("seccomp_exec: prctl");
		return 1;
	}
	execvp(argv[1], argv + 1);
	perror("seccomp_exec: exec");
	return 127;
}
