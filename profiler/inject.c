/* Loading the allocation agent into a running process, without gdb: one
 * thread is stopped with ptrace at a safe point, made to call dlopen (and
 * then the agent's start or stop) on its own stack, and put back exactly as
 * it was, registers and vector state included.  The other threads never
 * stop.  x86-64 only, like arch-x86_64.c. */
#include <dirent.h>
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "base/base.h"
#include "profiler/profiler-internal.h"

#define XSTATE_MAX 16384
#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U /* Linux 6.3 */
#endif
#define SAFE_POINT_WAIT_NS 2000000000ull

/* A file mapped by the target: where it starts (its offset-0 mapping). */
struct mapped {
	char path[4096];
	uint64_t base, end; /* of its offset-0 mapping */
	unsigned dev_major, dev_minor; /* of the file mapped, as maps gives them */
	uint64_t inode;
};

/* Address ranges a thread must not be stopped in: inside the C library or
 * the loader (which may hold their locks), libgcc's unwinder (which runs
 * inside the loader's lock), and the agent (which holds its own). */
struct unsafe_ranges {
	uint64_t start[64], end[64];
	uint32_t n;
};

struct stopped_thread {
	pid_t tid;
	struct user_regs_struct regs;
	uint8_t xstate[XSTATE_MAX];
	struct iovec xstate_iov;
	int pending_signal; /* one that arrived while it was ours: given back at detach */
};

static bool is_loader(const char *path)
{
	return strstr(path, "/ld-linux") || strstr(path, "/ld-musl") || strstr(path, "/ld64.so");
}

/* The C library and the agent in pid's maps, and the unsafe ranges. */
static int read_target_maps(pid_t pid, struct mapped *libc, struct mapped *agent, struct unsafe_ranges *unsafe)
{
	char line[4096 + 128];
	FILE *f = proc_maps_open(pid);
	if (!f)
		return errno == ENOENT ? -PROFILER_E_NO_SUCH_PROCESS : -PROFILER_E_PERMISSION;
	libc->path[0] = agent->path[0] = '\0';
	unsafe->n = 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long start, end, off, inode;
		unsigned major, minor;
		char *file = strchr(line, '/');
		if (!file || sscanf(line, "%llx-%llx %*s %llx %x:%x %llu", &start, &end, &off, &major, &minor, &inode) != 6)
			continue;
		file[strcspn(file, "\n")] = '\0';
		struct mapped *m = alloc_is_libc(file) ? libc : agent_file_named(file) ? agent : NULL;
		if (m && off == 0 && !m->path[0]) {
			snprintf(m->path, sizeof(m->path), "%s", file);
			m->base = start;
			m->end = end;
			m->dev_major = major;
			m->dev_minor = minor;
			m->inode = inode;
		}
		if ((m || is_loader(file) || strstr(file, "/libgcc_s")) && unsafe->n < 64) {
			unsafe->start[unsafe->n] = start;
			unsafe->end[unsafe->n++] = end;
		}
	}
	fclose(f);
	return 0;
}

/* A file the target maps: the mapping itself (root may open it), or else
 * its path inside the target's root; never its path here, which may name
 * another file (a container's C library is not the host's). */
static int open_mapped(pid_t pid, const struct mapped *m)
{
	int fd = open_mapped_file(pid, m->path, m->base, m->end, MAPPED_VIA_MAP_FILES, NULL, 0);
	return fd >= 0 ? fd : open_mapped_file(pid, m->path, m->base, m->end, MAPPED_IN_ROOT, NULL, 0);
}

/* A function's symbol value in m's file, relative to where the file is
 * mapped (shared objects are linked at 0); 0 if not found. */
static uint64_t mapped_function(pid_t pid, const struct mapped *m, const char *name)
{
	int fd = open_mapped(pid, m);
	if (fd < 0)
		return 0;
	uint64_t value = 0;
	elf_function_values(fd, &name, &value, 1);
	close(fd);
	return value;
}

/* ---- stopping one thread ---- */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Waits for tid's next stop: its signal (0 for a ptrace event stop), or -1
 * if it is gone. */
static int wait_stop(pid_t tid)
{
	int status;
	for (;;) {
		pid_t r = waitpid(tid, &status, __WALL);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || !WIFSTOPPED(status))
			return -1;
		return status >> 16 ? 0 : WSTOPSIG(status);
	}
}

static bool waiting_syscall(long nr)
{
	static const long waits[] = { 0 /* read */,  7 /* poll */,     23 /* select */,  34 /* pause */,
				      35 /* nanosleep */, 43 /* accept */, 45 /* recvfrom */, 47 /* recvmsg */,
				      61 /* wait4 */,     128 /* rt_sigtimedwait */, 130 /* rt_sigsuspend */,
				      202 /* futex */,    230 /* clock_nanosleep */, 232 /* epoll_wait */,
				      270 /* pselect6 */, 271 /* ppoll */, 281 /* epoll_pwait */, 288 /* accept4 */,
				      441 /* epoll_pwait2 */ };
	for (size_t i = 0; i < sizeof(waits) / sizeof(*waits); i++)
		if (nr == waits[i])
			return true;
	return false;
}

/* A thread may call dlopen where it stands: blocked in a waiting system
 * call, or running its own code, outside the libraries whose locks the call
 * would take again. */
static bool at_safe_point(const struct user_regs_struct *r, const struct unsafe_ranges *u)
{
	if ((long)r->orig_rax >= 0)
		return waiting_syscall((long)r->orig_rax);
	for (uint32_t i = 0; i < u->n; i++)
		if (r->rip >= u->start[i] && r->rip < u->end[i])
			return false;
	return true;
}

static void release_thread(struct stopped_thread *t, bool restore)
{
	if (restore) {
		ptrace(PTRACE_SETREGSET, t->tid, (void *)NT_X86_XSTATE, &t->xstate_iov);
		ptrace(PTRACE_SETREGS, t->tid, NULL, &t->regs);
	}
	ptrace(PTRACE_DETACH, t->tid, NULL, (void *)(long)t->pending_signal);
}

/* Seizes and stops tid; true if it stopped at a safe point (then it stays
 * stopped, its state saved in t), else it is let go at once. */
static int try_thread(pid_t tid, const struct unsafe_ranges *u, struct stopped_thread *t)
{
	if (ptrace(PTRACE_SEIZE, tid, NULL, NULL))
		return -errno;
	t->tid = tid;
	t->pending_signal = 0;
	int sig;
	if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) || (sig = wait_stop(tid)) < 0) {
		ptrace(PTRACE_DETACH, tid, NULL, NULL);
		return -ESRCH;
	}
	t->pending_signal = sig == SIGTRAP ? 0 : sig;
	t->xstate_iov = (struct iovec){ t->xstate, sizeof(t->xstate) };
	if (ptrace(PTRACE_GETREGS, tid, NULL, &t->regs) ||
	    ptrace(PTRACE_GETREGSET, tid, (void *)NT_X86_XSTATE, &t->xstate_iov) || !at_safe_point(&t->regs, u)) {
		release_thread(t, false);
		return 0;
	}
	return 1;
}

/* A thread of pid stopped at a safe point, trying them all in turn for up
 * to two seconds.  0, or -errno of ptrace, or -EAGAIN. */
static int stop_some_thread(pid_t pid, const struct unsafe_ranges *u, struct stopped_thread *t)
{
	char dir[64];
	snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
	uint64_t deadline = now_ns() + SAFE_POINT_WAIT_NS;
	do {
		DIR *d = opendir(dir);
		if (!d)
			return -ESRCH;
		struct dirent *e;
		int r = 0;
		while (r == 0 && (e = readdir(d))) {
			pid_t tid = (pid_t)atoi(e->d_name);
			/* An exited main thread stays listed while the others run. */
			if (tid > 0 && !thread_exited(pid, tid))
				r = try_thread(tid, u, t);
		}
		closedir(d);
		if (r == 1)
			return 0;
		if (r == -EPERM || r == -EACCES)
			return r;
		usleep(1000);
	} while (now_ns() < deadline);
	return -EAGAIN;
}

/* ---- calling a function in it ---- */

static bool poke(pid_t tid, uint64_t addr, const void *data, size_t len)
{
	for (size_t i = 0; i < len; i += 8) {
		uint64_t word = 0;
		if (len - i < 8) {
			errno = 0;
			word = (uint64_t)ptrace(PTRACE_PEEKDATA, tid, (void *)(addr + i), NULL);
			if (errno)
				return false;
		}
		memcpy(&word, (const uint8_t *)data + i, len - i < 8 ? len - i : 8);
		if (ptrace(PTRACE_POKEDATA, tid, (void *)(addr + i), (void *)word))
			return false;
	}
	return true;
}

/* Calls fn(a0, a1) on the stopped thread, with data (if any) copied below
 * its stack's red zone and its address as a0.  The call returns to address
 * 0, whose fault hands the thread back.  0 with *ret, or -1. */
static int call_in_thread(struct stopped_thread *t, uint64_t fn, uint64_t a0, uint64_t a1, const void *data,
			  size_t len, uint64_t *ret)
{
	struct user_regs_struct r = t->regs;
	uint64_t sp = (r.rsp - 256 - len) & ~15ull;
	if (data) {
		if (!poke(t->tid, sp, data, len))
			return -1;
		a0 = sp;
	}
	sp -= 8; /* the return address: 0; a function's entry sees sp % 16 == 8 */
	uint64_t zero = 0;
	if (!poke(t->tid, sp, &zero, 8))
		return -1;
	r.rsp = sp;
	r.rip = fn;
	r.rdi = a0;
	r.rsi = a1;
	r.rax = 0;
	r.orig_rax = (unsigned long long)-1; /* no system call to restart under the call */
	if (ptrace(PTRACE_SETREGS, t->tid, NULL, &r) || ptrace(PTRACE_CONT, t->tid, NULL, NULL))
		return -1;
	for (;;) {
		int sig = wait_stop(t->tid);
		if (sig < 0)
			return -1;
		struct user_regs_struct now;
		if (ptrace(PTRACE_GETREGS, t->tid, NULL, &now))
			return -1;
		if (sig == SIGSEGV && now.rip == 0) {
			*ret = now.rax;
			return 0;
		}
		if (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL)
			return -1; /* the call itself faulted: put the thread back as it was */
		if (sig && sig != SIGTRAP && !t->pending_signal)
			t->pending_signal = sig; /* delivered after, on its own stack */
		if (ptrace(PTRACE_CONT, t->tid, NULL, NULL))
			return -1;
	}
}

/* ---- the agent's life in a process ---- */

static int fail(struct profiler_error *err, enum profiler_errcode code, int e, pid_t pid, const char *what)
{
	profiler_set_error(err, code, e, pid, what);
	return -1;
}

/* The target's maps (read_target_maps), or -1 with *err. */
static int read_maps_or_fail(pid_t pid, struct mapped *libc, struct mapped *agent, struct unsafe_ranges *u,
			     struct profiler_error *err)
{
	int r = read_target_maps(pid, libc, agent, u);
	return r ? fail(err, (enum profiler_errcode)-r, r == -PROFILER_E_PERMISSION ? EACCES : ESRCH, pid, NULL) : 0;
}

static int other_build(struct profiler_error *err, pid_t pid, const char *agent_path)
{
	char what[sizeof(err->what)];
	snprintf(what, sizeof(what), "it holds another build's agent (%.120s), whose markers this smolder does not "
		 "probe: record it with the smolder that loaded it, or restart it", agent_path);
	return fail(err, PROFILER_E_AGENT, 0, pid, what);
}

static int stop_thread_or_fail(pid_t pid, const struct unsafe_ranges *u, struct stopped_thread *t,
			       struct profiler_error *err, uint64_t *stopped_at)
{
	int r = stop_some_thread(pid, u, t);
	*stopped_at = now_ns();
	if (r == -EPERM || r == -EACCES) {
		/* Already traced (a debugger, strace): ptrace takes one tracer. */
		char what[32] = "";
		int tracer = process_status_field(pid, "TracerPid: %d");
		if (tracer > 0)
			snprintf(what, sizeof(what), "%d", tracer);
		return fail(err, PROFILER_E_PTRACE_DENIED, -r, pid, what);
	}
	if (r == -EAGAIN)
		return fail(err, PROFILER_E_NO_SAFE_POINT, 0, pid, NULL);
	if (r)
		return fail(err, PROFILER_E_NO_SUCH_PROCESS, -r, pid, NULL);
	return 0;
}

/* Whether the agent mapped is the file fd (the uprobes are on its inode):
 * not when another build's was loaded.  (A mapped file since deleted, as
 * an install that replaces ours leaves it, is named "... (deleted)" in
 * maps, is not taken for an agent, and ours is loaded beside it.) */
static bool same_file(const struct mapped *m, int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 && major(st.st_dev) == m->dev_major && minor(st.st_dev) == m->dev_minor &&
	       st.st_ino == m->inode;
}

/* Where a function of the target's C library is, or 0. */
static uint64_t libc_function(pid_t pid, const struct mapped *libc, const char *name)
{
	uint64_t at = mapped_function(pid, libc, name);
	return at ? libc->base + at : 0;
}

/* Where the target's dlopen is, or 0. */
static uint64_t target_dlopen(pid_t pid, const struct mapped *libc)
{
	uint64_t at = libc_function(pid, libc, "dlopen");
	return at ? at : libc_function(pid, libc, "__libc_dlopen_mode"); /* before glibc 2.34 */
}

/* dlopen(path) on the stopped thread: where it put the agent. */
static int load_agent(struct stopped_thread *t, pid_t pid, uint64_t dlopen_at, const char *path,
		      struct mapped *agent, struct profiler_error *err)
{
	uint64_t handle = 0;
	if (call_in_thread(t, dlopen_at, 0, RTLD_NOW, path, strlen(path) + 1, &handle))
		return fail(err, PROFILER_E_AGENT, errno, pid, "calling dlopen in the process failed");
	if (!handle)
		return fail(err, PROFILER_E_AGENT, 0, pid, strncmp(path, "/proc/thread-self/fd/", 21) == 0
			    ? "dlopen of the agent failed in the process, which smolder handed it as /proc/thread-self/fd "
			      "(its mount namespace does not see the file): is /proc mounted there?"
			    : "dlopen of the agent failed in the process (can it read the file, inside its mount "
			      "namespace?)");
	/* The handle is the library's link map (glibc; musl's dso alike), whose
	 * first word is where it is loaded: one read, not the maps again while
	 * the thread waits. */
	errno = 0;
	long base = ptrace(PTRACE_PEEKDATA, t->tid, (void *)handle, NULL);
	if (errno)
		return fail(err, PROFILER_E_AGENT, errno, pid, "reading where dlopen put the agent failed");
	agent->base = (uint64_t)base;
	return 0;
}

/* Calls fn(a0) in the stopped thread, a C library function looked up
 * before (close, to undo what a failure leaves). */
static void call_quietly(struct stopped_thread *t, uint64_t fn, uint64_t a0)
{
	uint64_t ignored;
	if (fn)
		call_in_thread(t, fn, a0, 0, NULL, 0, &ignored);
}

int agent_inject_call(pid_t pid, struct agent_target *at, bool start, uint64_t rate, uint64_t ring_stack,
		      struct agent_call_result *res, struct profiler_error *err)
{
	struct mapped libc, agent;
	struct unsafe_ranges u;
	memset(res, 0, sizeof(*res));
	if (read_maps_or_fail(pid, &libc, &agent, &u, err))
		return -1;
	bool loaded = agent.path[0] != '\0';
	if (!start && !loaded)
		return 0; /* never loaded: nothing to stop */
	if (loaded && !same_file(&agent, at->fd))
		return other_build(err, pid, agent.path);
	if (!libc.path[0])
		return fail(err, PROFILER_E_STATIC, 0, pid, NULL);
	/* A seccomp filter may answer a call it does not expect with SIGSYS,
	 * killing the process: the injected dlopen and the agent make calls
	 * the process never did (memfd_create, mprotect, a thread's). */
	int seccomp = start ? process_status_field(pid, "Seccomp: %d") : 0;
	if (seccomp > 0)
		return fail(err, PROFILER_E_AGENT, 0, pid, seccomp == 1 ? "it runs in seccomp's strict mode, "
			    "where any call but read, write and exit kills it, so the agent is not loaded"
			    : "it runs under a seccomp filter, which may kill it for the calls the agent would "
			    "make (memfd_create, mprotect, a thread's), so the agent is not loaded");
	/* Looked up before a thread is stopped, not while it waits: reading a
	 * symbol table took up to 15 ms on a busy machine.  The agent's own
	 * functions from the very file it maps, or will. */
	const char *name = start ? AGENT_START : AGENT_STOP;
	uint64_t fn = 0;
	elf_function_values(at->fd, &name, &fn, 1);
	uint64_t dlopen_at = loaded ? 0 : target_dlopen(pid, &libc),
		 close_at = at->target_fd >= 0 ? libc_function(pid, &libc, "close") : 0;
	if (!fn)
		return fail(err, PROFILER_E_AGENT, 0, pid, "the agent has no start or stop function (a damaged "
			    "install: install smolder again)");
	if (!loaded && !dlopen_at)
		return fail(err, PROFILER_E_AGENT, 0, pid, "the process's C library exports no dlopen");
	struct stopped_thread *t = malloc(sizeof(*t));
	if (!t)
		return fail(err, PROFILER_E_NOMEM, 0, 0, "the injection");
	uint64_t stopped_at, value = 0;
	int r = stop_thread_or_fail(pid, &u, t, err, &stopped_at);
	bool held = r == 0;
	if (!r && !loaded)
		r = load_agent(t, pid, dlopen_at, at->path, &agent, err);
	if (held && at->target_fd >= 0) {
		/* Loaded (its mapping holds the memfd) or not: the fd goes. */
		call_quietly(t, close_at, (uint64_t)at->target_fd);
		at->target_fd = -1;
	}
	if (!r) {
		if (call_in_thread(t, agent.base + fn, rate, ring_stack, NULL, 0, &value))
			r = fail(err, PROFILER_E_AGENT, errno, pid, "calling the agent in the process failed");
		res->value = (int)value;
	}
	if (held) {
		release_thread(t, true);
		res->stopped_ns = now_ns() - stopped_at;
	}
	free(t);
	return r;
}

/* ---- the agent's file, as the target sees it ---- */

static bool same_bytes(int a, int b)
{
	struct stat sa, sb;
	if (fstat(a, &sa) || fstat(b, &sb) || sa.st_size != sb.st_size)
		return false;
	char x[8192], y[8192];
	for (off_t at = 0; at < sa.st_size;) {
		ssize_t n = pread(a, x, sizeof(x), at);
		if (n <= 0 || pread(b, y, (size_t)n, at) != n || memcmp(x, y, (size_t)n))
			return false;
		at += n;
	}
	return true;
}

static bool copy_bytes(int from, int to)
{
	char buf[65536];
	for (off_t at = 0;;) {
		ssize_t n = pread(from, buf, sizeof(buf), at);
		if (n == 0)
			return true;
		if (n < 0 || pwrite(to, buf, (size_t)n, at) != n)
			return false;
		at += n;
	}
}

/* Undoes a memfd made in the target: closes it there. */
static void close_in_target(pid_t pid, const struct mapped *libc, const struct unsafe_ranges *u, int fd)
{
	uint64_t close_at = libc_function(pid, libc, "close"), stopped_at;
	struct stopped_thread *t = malloc(sizeof(*t));
	struct profiler_error ignored;
	if (t && close_at && stop_thread_or_fail(pid, u, t, &ignored, &stopped_at) == 0) {
		call_quietly(t, close_at, (uint64_t)fd);
		release_thread(t, true);
	}
	free(t);
}

/* A process in another mount namespace (a container's) cannot open our
 * file: it is handed a copy in a memfd, made in it by a call on a stopped
 * thread, filled and sealed by us through /proc (it can neither change nor
 * shrink under the uprobes), which its dlopen opens as /proc/thread-self/fd/N
 * (not /proc/self, the main thread's, which lists no fd once it has exited).
 * No file is left in its filesystem, and none is needed there. */
static int hand_over(pid_t pid, const struct mapped *libc, const struct unsafe_ranges *u, int ours,
		     struct agent_target *at, struct profiler_error *err)
{
	uint64_t create = libc_function(pid, libc, "memfd_create"), stopped_at, fd = (uint64_t)-1;
	if (!create)
		return fail(err, PROFILER_E_AGENT, 0, pid, "it does not see the agent's file where smolder does (another "
			    "mount namespace, as a container's?), and its C library has no memfd_create to take a copy");
	struct stopped_thread *t = malloc(sizeof(*t));
	if (!t)
		return fail(err, PROFILER_E_NOMEM, 0, 0, "the injection");
	int r = stop_thread_or_fail(pid, u, t, err, &stopped_at);
	if (!r) {
		/* Executable, said so where vm.memfd_noexec would seal it against
		 * exec; kernels before 6.3 know no such flag, and refuse it. */
		static const char name[] = AGENT_FILE_NAME;
		const uint64_t flags = MFD_CLOEXEC | MFD_ALLOW_SEALING;
		if (call_in_thread(t, create, 0, flags | MFD_EXEC, name, sizeof(name), &fd) ||
		    ((int)fd < 0 && call_in_thread(t, create, 0, flags, name, sizeof(name), &fd)))
			r = fail(err, PROFILER_E_AGENT, errno, pid, "calling memfd_create in the process failed");
		release_thread(t, true);
	}
	free(t);
	if (r)
		return r;
	if ((int)fd < 0)
		return fail(err, PROFILER_E_AGENT, 0, pid, "memfd_create failed in the process, so it cannot be handed "
			    "the agent that its mount namespace (a container's?) does not see");
	char dir[64], path[96];
	proc_dir(pid, dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/fd/%d", dir, (int)fd);
	int copy = open(path, O_RDWR | O_CLOEXEC);
	struct stat st;
	/* vm.memfd_noexec at 2 in its pid namespace makes every memfd
	 * non-executable (mode without x, sealed so). */
	bool exec = copy >= 0 && fstat(copy, &st) == 0 && (st.st_mode & S_IXUSR);
	if (copy < 0 || !exec || !copy_bytes(ours, copy) ||
	    fcntl(copy, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL)) {
		int e = errno;
		if (copy >= 0)
			close(copy);
		close_in_target(pid, libc, u, (int)fd);
		return fail(err, PROFILER_E_AGENT, copy >= 0 && !exec ? 0 : e, pid,
			    copy >= 0 && !exec ? "its mount namespace does not see the agent's file, and its pid namespace "
						 "makes no executable memfd to hand it a copy in (vm.memfd_noexec is 2 there)"
					       : "handing the process a copy of the agent (its mount namespace does not see "
						 "the file) failed");
	}
	at->fd = copy;
	at->target_fd = (int)fd;
	snprintf(at->path, sizeof(at->path), "/proc/thread-self/fd/%d", (int)fd);
	return 0;
}

int agent_target_find(pid_t pid, const char *path, struct agent_target *at, struct profiler_error *err)
{
	*at = (struct agent_target){ .fd = -1, .target_fd = -1 };
	struct mapped libc, agent;
	struct unsafe_ranges u;
	if (read_maps_or_fail(pid, &libc, &agent, &u, err))
		return -1;
	if (!libc.path[0])
		return fail(err, PROFILER_E_STATIC, 0, pid, NULL);
	if (agent_refuse_musl(libc.path, pid, err))
		return -1;
	int ours = open(path, O_RDONLY | O_CLOEXEC);
	if (ours < 0)
		return fail(err, PROFILER_E_AGENT, errno, 0, path);
	if (agent.path[0]) {
		/* Loaded already (an earlier recording): the file it maps, if it is
		 * ours byte for byte. */
		int fd = open_mapped(pid, &agent);
		if (fd >= 0 && same_bytes(fd, ours)) {
			close(ours);
			at->fd = fd;
			return 0;
		}
		close(ours);
		if (fd >= 0) {
			close(fd);
			return other_build(err, pid, agent.path);
		}
		char what[sizeof(err->what)];
		snprintf(what, sizeof(what), "the agent it holds (%.80s) cannot be opened from here to be probed "
			 "(map_files: root's only, and gone once the main thread has exited): restart it", agent.path);
		return fail(err, PROFILER_E_AGENT, 0, pid, what);
	}
	/* Our file, if the process sees it at our path (in a container,
	 * another file may have it, or none). */
	int seen = open_mapped_file(pid, path, 0, 0, MAPPED_IN_ROOT, NULL, 0);
	bool same = seen >= 0 && same_inode(seen, ours);
	if (seen >= 0)
		close(seen);
	if (same) {
		at->fd = ours;
		snprintf(at->path, sizeof(at->path), "%s", path);
		return 0;
	}
	int r = hand_over(pid, &libc, &u, ours, at, err);
	close(ours);
	return r;
}

void agent_target_release(pid_t pid, struct agent_target *at)
{
	struct mapped libc, agent;
	struct unsafe_ranges u;
	/* Handed over and never loaded (the recording failed first): the
	 * process is left as it was. */
	if (at->target_fd >= 0 && read_target_maps(pid, &libc, &agent, &u) == 0 && libc.path[0])
		close_in_target(pid, &libc, &u, at->target_fd);
	at->target_fd = -1;
	if (at->fd >= 0)
		close(at->fd);
	at->fd = -1;
}
