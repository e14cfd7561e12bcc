/* perf_event_open(2), its ring buffer, and reading the kernel's settings. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "profiler/profiler-internal.h"

int perf_event_open_fd(struct perf_event_attr *attr, pid_t pid, int cpu, int group, unsigned long flags)
{
	return (int)syscall(SYS_perf_event_open, attr, pid, cpu, group, flags);
}

int ring_buffer_map(struct ring_buffer *rb, int fd, size_t pages)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t len = (pages + 1) * (size_t)page;
	void *base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED)
		return -errno;
	rb->meta = base;
	rb->data = (uint8_t *)base + page;
	rb->size = pages * (size_t)page;
	rb->map_len = len;
	return 0;
}

void ring_buffer_unmap(struct ring_buffer *rb)
{
	if (rb->meta)
		munmap(rb->meta, rb->map_len);
	memset(rb, 0, sizeof(*rb));
}

void ring_cursor_begin(const struct ring_buffer *rb, struct ring_cursor *c)
{
	c->head = __atomic_load_n(&rb->meta->data_head, __ATOMIC_ACQUIRE);
	c->tail = rb->meta->data_tail;
}

const struct perf_event_header *ring_cursor_peek(const struct ring_buffer *rb, struct ring_cursor *c,
						 uint8_t *scratch)
{
	if (c->tail >= c->head)
		return NULL;
	size_t off = (size_t)(c->tail & (rb->size - 1));
	struct perf_event_header h;
	if (off + sizeof(h) <= rb->size) {
		memcpy(&h, rb->data + off, sizeof(h));
	} else {
		size_t first = rb->size - off;
		memcpy(&h, rb->data + off, first);
		memcpy((uint8_t *)&h + first, rb->data, sizeof(h) - first);
	}
	/* The kernel never writes these; if it did, resynchronize by dropping
	 * what is buffered rather than read garbage. */
	if (h.size < sizeof(h) || h.size > c->head - c->tail || h.size > rb->size) {
		c->tail = c->head;
		__atomic_store_n(&rb->meta->data_tail, c->tail, __ATOMIC_RELEASE);
		return NULL;
	}
	if (off + h.size <= rb->size)
		return (const struct perf_event_header *)(rb->data + off);
	size_t first = rb->size - off;
	memcpy(scratch, rb->data + off, first);
	memcpy(scratch + first, rb->data, h.size - first);
	return (const struct perf_event_header *)scratch;
}

void ring_cursor_next(const struct ring_buffer *rb, struct ring_cursor *c, const struct perf_event_header *h)
{
	c->tail += h->size;
	__atomic_store_n(&rb->meta->data_tail, c->tail, __ATOMIC_RELEASE);
}

void profiler_set_error(struct profiler_error *err, enum profiler_errcode code, int sys_errno, pid_t pid,
			const char *what)
{
	err->code = code;
	err->sys_errno = sys_errno;
	err->pid = pid;
	snprintf(err->what, sizeof(err->what), "%s", what ? what : "");
}

static const char *const profiler_messages[] = {
#define PROFILER_ERROR(name, msg) [PROFILER_E_##name] = msg,
	PROFILER_ERRORS
#undef PROFILER_ERROR
};

/* The sampled alloc view's failures: loading the agent into a process. */
static bool explain_agent(const struct profiler_error *e, char *buf, size_t len)
{
	const char *sys = e->sys_errno ? strerror(e->sys_errno) : "";
	long yama = -1;
	switch (e->code) {
	case PROFILER_E_PTRACE_DENIED:
		if (e->what[0])
			snprintf(buf, len, "cannot load the allocation agent into pid %d: it is being traced by pid %s "
					   "(a debugger or strace?), and ptrace takes one tracer at a time: detach it, or "
					   "use --alloc-mode exact", (int)e->pid, e->what);
		else if (read_proc_int("/proc/sys/kernel/yama/ptrace_scope", &yama))
			snprintf(buf, len, "cannot load the allocation agent into pid %d: ptrace: %s: "
					   "kernel.yama.ptrace_scope is %ld; run as root (CAP_SYS_PTRACE)%s, or use "
					   "--alloc-mode exact", (int)e->pid, sys, yama,
				 yama >= 3 ? " cannot help at 3: attaching is off until reboot" : "");
		else
			snprintf(buf, len, "cannot load the allocation agent into pid %d: ptrace: %s: another "
					   "user's process needs root (CAP_SYS_PTRACE); or use --alloc-mode exact",
				 (int)e->pid, sys);
		return true;
	case PROFILER_E_STATIC:
		snprintf(buf, len, "pid %d is statically linked (no libc.so mapped): the allocation agent "
				   "needs a dynamic C library to load into, and so do uprobes on malloc", (int)e->pid);
		return true;
	case PROFILER_E_NO_SAFE_POINT:
		snprintf(buf, len, "no thread of pid %d stopped outside the allocator and the dynamic loader within "
				   "2 s, so the agent was not loaded (the process is as it was); try again, or use "
				   "--alloc-mode exact", (int)e->pid);
		return true;
	case PROFILER_E_AGENT:
		if (e->pid)
			snprintf(buf, len, "the allocation agent in pid %d: %s%s%s; or use --alloc-mode exact", (int)e->pid,
				 e->what, sys[0] ? ": " : "", sys);
		else
			snprintf(buf, len, "cannot use the allocation agent %s: %s: reinstall smolder (make install), "
					   "or use --alloc-mode exact", e->what, sys[0] ? sys : "not an agent library");
		return true;
	default:
		return false;
	}
}

/* A process found without threads or maps may be a zombie: one that has
 * exited, whose parent has not reaped it. */
static bool explain_exited(const struct profiler_error *e, char *buf, size_t len)
{
	pid_t parent;
	if (e->pid <= 0 ||
	    (e->code != PROFILER_E_NO_SUCH_PROCESS && e->code != PROFILER_E_NO_LIBC && e->code != PROFILER_E_STATIC) ||
	    !process_exited_unreaped(e->pid, &parent))
		return false;
	snprintf(buf, len, "pid %d has exited (a zombie, which its parent, pid %d, has not reaped): there is "
			   "nothing left to record; give a running process", (int)e->pid, (int)parent);
	return true;
}

void profiler_explain(const struct profiler_error *e, char *buf, size_t len)
{
	if (explain_exited(e, buf, len) || explain_agent(e, buf, len))
		return;
	long paranoid = -99, mlock_kb = -1;
	bool have_paranoid = read_proc_int("/proc/sys/kernel/perf_event_paranoid", &paranoid);
	read_proc_int("/proc/sys/kernel/perf_event_mlock_kb", &mlock_kb);
	const char *sys = e->sys_errno ? strerror(e->sys_errno) : "";
	switch (e->code) {
	case PROFILER_E_NO_SUCH_PROCESS:
		snprintf(buf, len, "no process with pid %d: check the pid (ps -p %d)", (int)e->pid, (int)e->pid);
		break;
	case PROFILER_E_PERMISSION:
		if (e->pid && e->own)
			/* One's own process: not whose it is, but what the event needs. */
			snprintf(buf, len,
				 "cannot open %s on pid %d: %s: kernel.perf_event_paranoid is %ld, and kernel "
				 "frames, context switches and tracepoints need it at 1 or less (as root: sysctl "
				 "kernel.perf_event_paranoid=1), or root or CAP_PERFMON",
				 e->what[0] ? e->what : "perf events", (int)e->pid, sys, paranoid);
		else if (e->pid)
			snprintf(buf, len,
				 "cannot attach to pid %d: %s: only root (or CAP_PERFMON) may profile other "
				 "users' processes; kernel.perf_event_paranoid is %ld%s",
				 (int)e->pid, sys, paranoid,
				 paranoid > 1 ? " (2 or more: own user-space only; as root: sysctl "
						"kernel.perf_event_paranoid=1)" : "");
		else
			snprintf(buf, len,
				 "cannot open %s: %s: kernel.perf_event_paranoid is %ld; run as root, give "
				 "smolder CAP_PERFMON, or lower it (sysctl kernel.perf_event_paranoid=1)%s",
				 e->what[0] ? e->what : "perf events", sys, paranoid,
				 have_paranoid ? "" : " (perf events may be disabled in this kernel)");
		break;
	case PROFILER_E_HOST_DENIED:
		snprintf(buf, len,
			 "cannot open %s on every CPU (-a): %s: profiling the whole host needs root or CAP_PERFMON, "
			 "or kernel.perf_event_paranoid at 0 or less; it is %ld (as root: sysctl "
			 "kernel.perf_event_paranoid=0)", e->what[0] ? e->what : "perf events", sys, paranoid);
		break;
	case PROFILER_E_HOST_VIEW:
		snprintf(buf, len, "the alloc view places uprobes in one program's C library: give -p PID or a "
				   "command instead of -a, or choose --view cpu, offcpu or io");
		break;
	case PROFILER_E_CGROUP:
		snprintf(buf, len, "cannot open the cgroup %s: %s: give a cgroup v2 directory, as "
				   "/proc/PID/cgroup names it (system.slice/ssh.service) or under /sys/fs/cgroup",
			 e->what, sys);
		break;
	case PROFILER_E_NO_EVENT:
		snprintf(buf, len, "event %s is not supported here: %s", e->what, sys);
		break;
	case PROFILER_E_FD_LIMIT: {
		long limit = sysconf(_SC_OPEN_MAX);
		snprintf(buf, len, "too many open files (one per thread and event): ulimit -n is %ld; "
				   "raise it (ulimit -n 65536)", limit);
		break;
	}
	case PROFILER_E_MMAP:
		snprintf(buf, len, "cannot map the perf ring buffer: %s: kernel.perf_event_mlock_kb is %ld "
				   "per user; raise it (sysctl kernel.perf_event_mlock_kb=2048) or run as root",
			 sys, mlock_kb);
		break;
	case PROFILER_E_LAUNCH:
		snprintf(buf, len, "cannot run '%s': %s", e->what, sys);
		break;
	case PROFILER_E_TRACEFS_DENIED:
		snprintf(buf, len, "the io view reads the raw_syscalls tracepoints in tracefs, which is mounted at "
				   "%s but readable by root only: run as root (or mount it with -o mode=755)",
			 e->what);
		break;
	case PROFILER_E_NO_TRACEFS:
		snprintf(buf, len, "%s: tracefs is not mounted: mount it (mount -t tracefs nodev "
				   "/sys/kernel/tracing) and run as root", e->what);
		break;
	case PROFILER_E_NO_LIBC:
		if (e->what[0])
			snprintf(buf, len, "'%s' is statically linked: the alloc view probes the malloc and free "
					   "of a shared C library, and it maps none; link it dynamically", e->what);
		else
			snprintf(buf, len, "pid %d has no shared C library mapped (statically linked?): the alloc "
					   "view probes the malloc and free of libc.so", (int)e->pid);
		break;
	case PROFILER_E_UPROBE_DENIED:
		snprintf(buf, len, "cannot place %s: %s: uprobes need root or CAP_PERFMON, "
				   "whatever kernel.perf_event_paranoid (%ld) says; run smolder as root",
			 e->what, sys, paranoid);
		break;
	default:
		/* "out of memory for the thread table: ..." */
		snprintf(buf, len, "%s%s%s%s%s", profiler_messages[e->code < PROFILER_E_COUNT ? e->code : 0],
			 e->what[0] ? (e->code == PROFILER_E_NOMEM ? " for " : ": ") : "", e->what, sys[0] ? ": " : "",
			 sys);
		break;
	}
}
