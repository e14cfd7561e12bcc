/* The processes a session records: a command it launches (held before exec
 * until its events are open), or running processes it attaches to; and
 * knowing when they have gone. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "profiler/profiler-internal.h"


void targets_init(struct targets *t)
{
	*t = (struct targets){ .go_fd = -1, .exec_status_fd = -1 };
}

static void close_pipe(int fds[2])
{
	close(fds[0]);
	close(fds[1]);
}

int targets_launch(struct targets *t, char *const *argv, char *const *envp, struct profiler_error *err)
{
	int go[2], status[2];
	if (pipe2(go, O_CLOEXEC)) {
		profiler_set_error(err, PROFILER_E_LAUNCH, errno, 0, argv[0]);
		return -1;
	}
	if (pipe2(status, O_CLOEXEC)) {
		profiler_set_error(err, PROFILER_E_LAUNCH, errno, 0, argv[0]);
		close_pipe(go);
		return -1;
	}
	pid_t child = fork();
	if (child < 0) {
		profiler_set_error(err, PROFILER_E_LAUNCH, errno, 0, argv[0]);
		close_pipe(go);
		close_pipe(status);
		return -1;
	}
	if (child == 0) {
		close(go[1]);
		close(status[0]);
		char c;
		/* EOF without a byte means the recorder gave up: do not run. */
		if (read(go[0], &c, 1) != 1)
			_exit(127);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		if (envp)
			execvpe(argv[0], argv, envp);
		else
			execvp(argv[0], argv);
		int e = errno;
		if (write(status[1], &e, sizeof(e)) < 0)
			_exit(127);
		_exit(127);
	}
	close(go[0]);
	close(status[1]);
	t->child = child;
	t->go_fd = go[1];
	t->exec_status_fd = status[0];
	return 0;
}

/* Opens events on the threads of /proc/PID/task not yet seen: how many were
 * opened, or -1. */
static int attach_threads(struct event_set *es, struct aggregate *a, pid_t pid, struct profiler_error *err)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	if (!d) {
		profiler_set_error(err, errno == ENOENT ? PROFILER_E_NO_SUCH_PROCESS : PROFILER_E_PERMISSION, errno, pid, NULL);
		return -1;
	}
	int opened = 0, threads = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		pid_t tid = (pid_t)atoi(de->d_name);
		struct profiler_error e = { 0 };
		int r = event_set_open_thread(es, tid, &e);
		/* The thread exited meanwhile; or the main thread did, and the
		 * others run on (it stays listed, a zombie, until they end). */
		if (r < 0 && e.code == PROFILER_E_NO_SUCH_PROCESS)
			continue;
		threads++;
		if (r < 0) {
			closedir(d);
			*err = e;
			err->pid = pid;
			return -1;
		}
		if (r > 0) {
			opened++;
			char comm[16] = "";
			read_comm(pid, tid, comm, sizeof(comm));
			if (!aggregate_thread_add(a, tid, pid, comm, 0)) {
				closedir(d);
				profiler_set_error(err, PROFILER_E_NOMEM, 0, 0, "the thread table");
				return -1;
			}
		}
	}
	closedir(d);
	if (threads == 0) {
		profiler_set_error(err, PROFILER_E_NO_SUCH_PROCESS, ESRCH, pid, NULL);
		return -1;
	}
	return opened;
}

int targets_attach(struct targets *t, struct event_set *es, struct aggregate *a, pid_t pid,
		   struct profiler_error *err)
{
	(void)t;
	/* Again until no new thread appears: threads started between listing
	 * and opening. */
	for (int round = 0; round < 8; round++) {
		int opened = attach_threads(es, a, pid, err);
		if (opened < 0)
			return -1;
		if (opened == 0)
			break;
	}
	struct process_maps *pm = aggregate_process(a, pid, true);
	if (!pm || aggregate_load_maps(a, pm)) {
		profiler_set_error(err, PROFILER_E_NOMEM, 0, 0, "the mappings of the target");
		return -1;
	}
	return 0;
}

int targets_start(struct targets *t, struct event_set *es, char *const *argv, struct profiler_error *err)
{
	if (!t->child) {
		event_set_enable(es, true);
		return 0;
	}
	/* Let it exec; EOF on the pipe then means exec succeeded. */
	if (write(t->go_fd, "g", 1) != 1) {
		profiler_set_error(err, PROFILER_E_LAUNCH, errno, 0, argv[0]);
		return -1;
	}
	close(t->go_fd);
	t->go_fd = -1;
	int e = 0;
	ssize_t n;
	while ((n = read(t->exec_status_fd, &e, sizeof(e))) < 0 && errno == EINTR)
		;
	close(t->exec_status_fd);
	t->exec_status_fd = -1;
	if (n == sizeof(e)) {
		profiler_set_error(err, PROFILER_E_LAUNCH, e, 0, argv[0]);
		return -1;
	}
	return 0;
}

/* The exit status as a shell reports it, and the CPU the command used. */
static void note_exit(struct targets *t, int status, const struct rusage *ru, struct profiler_stats *stats)
{
	t->child_reaped = true;
	stats->target_cpu = (double)(ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) +
			    (double)(ru->ru_utime.tv_usec + ru->ru_stime.tv_usec) / 1e6;
	stats->has_exit_status = true;
	stats->exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 1;
}

bool targets_exited(struct targets *t, const struct profiler_options *o, struct profiler_stats *stats)
{
	if (!t->child && o->all_cpus)
		return false; /* the host does not exit */
	if (!t->child) {
		for (uint32_t i = 0; i < o->npids; i++)
			if (process_alive(o->pids[i]))
				return false;
		return true;
	}
	if (t->child_reaped)
		return true;
	int status;
	struct rusage ru;
	if (wait4(t->child, &status, WNOHANG, &ru) != t->child)
		return false;
	note_exit(t, status, &ru, stats);
	return true;
}

/* Waits up to ms for the process of pidfd to end; true if it did.  Without
 * a pidfd (kernels before 5.3) true at once: the wait4 after it is unbounded.
 * A signal does not cut the wait short: a terminal's Ctrl-C reaches us twice
 * when a wrapper such as timeout(1) passes it on to its process group. */
static bool wait_ended(int pidfd, int ms)
{
	if (pidfd < 0)
		return true;
	uint64_t deadline = monotonic_ns() + (uint64_t)ms * 1000000;
	for (;;) {
		struct pollfd p = { .fd = pidfd, .events = POLLIN };
		uint64_t now = monotonic_ns();
		int left = now < deadline ? (int)((deadline - now + 999999) / 1000000) : 0;
		int n = poll(&p, 1, left);
		if (n >= 0)
			return n == 1;
		if (errno != EINTR)
			return false;
	}
}

static void reap(struct targets *t, struct profiler_stats *stats)
{
	int status;
	struct rusage ru;
	if (wait4(t->child, &status, 0, &ru) == t->child)
		note_exit(t, status, &ru, stats);
}

void targets_finish(struct targets *t, bool stopped, struct profiler_stats *stats)
{
	if (!t->child || t->child_reaped)
		return;
	/* Stopped by a signal (Ctrl-C, SIGTERM): the command is told to end,
	 * and killed if it has not within the grace. */
	if (stopped) {
		int pidfd = process_pidfd(t->child);
		kill(t->child, SIGTERM);
		if (!wait_ended(pidfd, PROFILER_TERM_GRACE_MS)) {
			kill(t->child, SIGKILL);
			stats->command_killed = true;
		}
		if (pidfd >= 0)
			close(pidfd);
	}
	reap(t, stats);
}

void targets_wait(struct targets *t, volatile bool *stop, struct profiler_stats *stats)
{
	if (!t->child || t->child_reaped)
		return;
	/* Polled, not a wait4 a signal would cut short: the signal may go to
	 * another of our threads. */
	int pidfd = process_pidfd(t->child);
	while (!wait_ended(pidfd, 100) && !*stop)
		;
	if (pidfd >= 0)
		close(pidfd);
	targets_finish(t, *stop, stats);
}

void targets_release(struct targets *t)
{
	if (t->go_fd >= 0)
		close(t->go_fd); /* the held child sees EOF and exits */
	if (t->exec_status_fd >= 0)
		close(t->exec_status_fd);
	if (t->child && !t->child_reaped) {
		kill(t->child, SIGKILL);
		waitpid(t->child, NULL, 0);
	}
	targets_init(t);
}
