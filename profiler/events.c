/* The perf events of a session: which kinds each view needs and their
 * attributes, opening them on every thread and CPU, and their buffers. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "profiler/profiler-internal.h"


/* Whether pid runs as this process's user: then a refusal is the kernel's
 * settings' doing (perf_event_paranoid), not the other user's. */
static bool process_owned(pid_t pid)
{
	uid_t uid;
	return process_owner(pid, &uid) && uid == geteuid();
}

/* Root's pages for all the CPUs' buffers together (the kernel pins them,
 * unswappable): an event view's 16 MiB a CPU up to 16 CPUs, less each
 * beyond (a 96-CPU server would otherwise pin 1.5 GiB for one process). */
#define ROOT_BUFFER_BUDGET_PAGES ((256u << 20) / 4096)

size_t event_buffer_pages(const struct profiler_options *o, uint32_t ncpus, bool root, long mlock_kb)
{
	size_t pages = o->unwind == UNWIND_FP ? 64 : 512;
	/* Event-driven views come in bursts (a loop of write(2)s, each with a
	 * stack copy) that a sampling rate never makes: give them room.  The
	 * sampled alloc view too: what the agent's ring cannot take comes in
	 * bursts through this one, with stack copies (a process with no ring,
	 * one under seccomp: tests/workloads/fork_thread_exit sends 7 MB in 30
	 * ms), and the frees of sampled blocks, whose loss leaves a block in
	 * use for ever.  At twice the room, not eight times, a sanitized run of
	 * it lost a third of its samples in one run of six; the zeroing of the
	 * larger buffers costs ~4 ms of every start on two CPUs. */
	if (o->views & (VIEW_OFFCPU | VIEW_IO | VIEW_ALLOC))
		pages *= 8;
	if (!ncpus)
		ncpus = 1;
	/* A user's limit counts the header page too. */
	size_t budget = root ? ROOT_BUFFER_BUDGET_PAGES / ncpus : (size_t)(mlock_kb > 8 ? mlock_kb : 8) / 4 / ncpus,
	       header = root ? 0 : 1, least = root ? 64 : 1;
	while (pages > least && pages + header > budget)
		pages /= 2;
	return pages;
}

static size_t buffer_pages(const struct event_set *es)
{
	long mlock_kb = 516;
	bool root = geteuid() == 0;
	if (!root)
		read_proc_int("/proc/sys/kernel/perf_event_mlock_kb", &mlock_kb);
	return event_buffer_pages(es->o, es->ncpus, root, mlock_kb);
}

/* Older kernels refuse the attribute bit. */
static bool kernel_has_mmap_build_id(void)
{
	struct perf_event_attr a = { .size = sizeof(a), .type = PERF_TYPE_SOFTWARE, .config = PERF_COUNT_SW_DUMMY,
				     .disabled = 1, .mmap2 = 1, .build_id = 1, .exclude_kernel = 1, .exclude_hv = 1 };
	int fd = perf_event_open_fd(&a, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static void attr_for_cpu(struct event_set *es, bool cycles)
{
	const struct profiler_options *o = es->o;
	struct perf_event_attr *a = &es->attr;
	memset(a, 0, sizeof(*a));
	a->size = sizeof(*a);
	a->type = cycles ? PERF_TYPE_HARDWARE : PERF_TYPE_SOFTWARE;
	a->config = cycles ? PERF_COUNT_HW_CPU_CYCLES : PERF_COUNT_SW_CPU_CLOCK;
	a->freq = 1;
	a->sample_freq = o->frequency;
	a->sample_type = PERF_SAMPLE_IDENTIFIER | PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME |
			 PERF_SAMPLE_PERIOD | PERF_SAMPLE_CALLCHAIN;
	if (o->unwind != UNWIND_FP) {
		a->sample_type |= PERF_SAMPLE_REGS_USER | PERF_SAMPLE_STACK_USER;
		a->sample_regs_user = arch_unwind_regs_mask();
		a->sample_stack_user = o->stack_size;
	}
	a->disabled = 1;
	a->inherit = !o->all_cpus; /* CPU-wide events see every task anyway */
	a->mmap = 1;
	a->mmap2 = 1;
	a->build_id = es->mmap_build_id; /* MMAP2 names the build-id of what is mapped */
	a->comm = 1;
	a->comm_exec = 1;
	a->task = 1;
	a->sample_id_all = 1;
	a->exclude_kernel = !o->kernel;
	a->exclude_callchain_kernel = !o->kernel;
	/* With a stack copy, user frames come from unwinding it: the kernel's
	 * own walk of them would cost every event and be thrown away. */
	a->exclude_callchain_user = o->unwind != UNWIND_FP;
	a->exclude_hv = 1;
	a->exclude_guest = 1;
	a->use_clockid = 1;
	a->clockid = CLOCK_MONOTONIC;
	a->watermark = 1;
	a->wakeup_watermark = (uint32_t)(buffer_pages(es) * (size_t)sysconf(_SC_PAGESIZE) / 4);
	a->enable_on_exec = o->argv != NULL && !o->all_cpus;
	snprintf(es->event_name, sizeof(es->event_name), "%s", cycles ? "cycles" : "cpu-clock");
}

static enum profiler_errcode classify_open_errno(int e)
{
	switch (e) {
	case ESRCH: return PROFILER_E_NO_SUCH_PROCESS;
	case EACCES:
	case EPERM: return PROFILER_E_PERMISSION;
	case EMFILE:
	case ENFILE: return PROFILER_E_FD_LIMIT;
	case ENOENT:
	case ENODEV:
	case EOPNOTSUPP: return PROFILER_E_NO_EVENT;
	default: return PROFILER_E_OPEN;
	}
}

const struct event *event_set_find(const struct event_set *es, uint64_t id)
{
	const struct event *events = es->events.data;
	uint32_t i = upper_bound_u64(events, es->events.count, sizeof(*events), offsetof(struct event, id), id);
	return i && events[i - 1].id == id ? &events[i - 1] : NULL;
}

/* Inserts e in id order (the kernel hands ids out increasing, so this is
 * an append but for the rare race). */
static int push_event(struct event_set *es, struct event e)
{
	struct event *slot = vec_push(&es->events, sizeof(e));
	if (!slot)
		return -1;
	struct event *events = es->events.data;
	uint32_t i = es->events.count - 1;
	for (; i > 0 && events[i - 1].id > e.id; i--)
		events[i] = events[i - 1];
	events[i] = e;
	return 0;
}

/* Maps the CPU's buffer on its first event; later events write into it. */
static int attach_to_buffer(struct event_set *es, struct cpu_buffer *b, int fd, pid_t tid,
			    struct profiler_error *err)
{
	if (b->fd >= 0) {
		if (ioctl(fd, PERF_EVENT_IOC_SET_OUTPUT, b->fd) == 0)
			return 0;
		profiler_set_error(err, PROFILER_E_OPEN, errno, tid, "PERF_EVENT_IOC_SET_OUTPUT");
		return -1;
	}
	for (size_t pages = buffer_pages(es);; pages /= 2) {
		int r = ring_buffer_map(&b->rb, fd, pages);
		if (r == 0)
			break;
		if (pages == 1 || (r != -EPERM && r != -ENOMEM)) {
			profiler_set_error(err, r == -EPERM || r == -ENOMEM ? PROFILER_E_MMAP : PROFILER_E_OPEN, -r, tid,
				  "mmap of the perf ring buffer");
			return -1;
		}
	}
	if (b->rb.size > es->scratch_size) {
		uint8_t *scratch = realloc(es->scratch, b->rb.size);
		if (!scratch) {
			profiler_set_error(err, PROFILER_E_NOMEM, 0, 0, "the ring buffers' scratch space");
			return -1;
		}
		es->scratch = scratch;
		es->scratch_size = b->rb.size;
	}
	b->fd = fd;
	return 0;
}

/* Where tracefs may be mounted. */
static const char *const tracefs_mounts[] = { "/sys/kernel/tracing", "/sys/kernel/debug/tracing" };
#define TRACEFS_MOUNTS (sizeof(tracefs_mounts) / sizeof(tracefs_mounts[0]))

/* Which functions each alloc kind probes: realloc is both an allocation
 * and a free (of its old block, seen at every call). */
static bool probes_function(enum event_kind k, enum alloc_func f)
{
	if (k == KIND_FREE)
		return f == ALLOC_FREE || f == ALLOC_REALLOC;
	if (k == KIND_ALLOC_RET)
		return f != ALLOC_FREE && f != ALLOC_POSIX_MEMALIGN;
	if (k == KIND_MEMALIGN_RET)
		return f == ALLOC_POSIX_MEMALIGN;
	return f != ALLOC_FREE;
}

/* What an event of kind k is called in errors. */
static void describe_kind(const struct event_set *es, int k, enum alloc_func f, char *buf, size_t len)
{
	if (k == KIND_CPU)
		snprintf(buf, len, "%s", es->event_name);
	else if (k == KIND_OFFCPU)
		snprintf(buf, len, "context-switches (the offcpu view)");
	else if (is_alloc_kind(k))
		snprintf(buf, len, "a uprobe on %s in %.160s (the alloc view)", alloc_func_name(f), es->probes.path);
	else if (is_agent_kind(k))
		snprintf(buf, len, "a uprobe on %s in %.160s (the alloc view)", agent_marker_name(k), es->o->agent_path);
	else
		snprintf(buf, len, "raw_syscalls tracepoints (the io view)");
}

/* Takes the uprobe smolder_PID/kKfF out of uprobe_events (fd): false if
 * the kernel refused (in use, EBUSY; or gone). */
static bool remove_uprobe(int fd, int pid, int k, int f)
{
	char def[96];
	snprintf(def, sizeof(def), "-:smolder_%d/k%df%d\n", pid, k, f);
	return write(fd, def, strlen(def)) >= 0;
}

/* Whether pid runs smolder now (its name, as the kernel keeps it). */
static bool runs_smolder(int pid)
{
	char comm[32];
	return read_comm(pid, pid, comm, sizeof(comm)) && strcmp(comm, "smolder") == 0;
}

/* A smolder killed before it removed its uprobes left their definitions
 * in uprobe_events (the kernel took out only their breakpoints): each
 * stays until a reboot, and a later smolder given the same pid (pid_max
 * may be 32768) would append its own to them, the kernel taking a
 * definition of an existing name as a second probe of that event: the
 * marker probed twice (each hit recorded twice), or an older build's file
 * probed at its offsets.  Those of a pid that no longer runs smolder, and
 * any under our own pid (we have defined none yet), are removed, once per
 * session. */
static void remove_stale_uprobes(const char *tracefs, int fd)
{
	char path[128], line[512];
	snprintf(path, sizeof(path), "%s/uprobe_events", tracefs);
	/* All read before any is removed: a removal moves the lines after it
	 * under a reader's offset. */
	FILE *in = fopen(path, "re");
	struct vec stale = { 0 };
	while (in && fgets(line, sizeof(line), in)) {
		int pid, k, f;
		int *entry;
		if (sscanf(line, "%*c:smolder_%d/k%df%d ", &pid, &k, &f) == 3 && pid > 0 &&
		    (pid == (int)getpid() || !runs_smolder(pid)) && (entry = vec_push(&stale, 3 * sizeof(int))))
			memcpy(entry, (int[3]){ pid, k, f }, 3 * sizeof(int));
	}
	if (in)
		fclose(in);
	/* Each on its own: one in use or gone meanwhile stays as it is. */
	const int *entries = stale.data;
	for (uint32_t i = 0; i < stale.count; i++)
		remove_uprobe(fd, entries[3 * i], entries[3 * i + 1], entries[3 * i + 2]);
	vec_release(&stale);
}

/* A uprobe defined in tracefs's uprobe_events, as perf probe does, and
 * opened as a tracepoint: the uprobe PMU would read its path from user
 * memory again each time the event is inherited, in the context of the
 * thread that forks, where that address means nothing (clone fails with
 * EFAULT in every multi-threaded target).  Defined once per kind and
 * function; removed by event_set_release. */
static int define_uprobe(struct event_set *es, int k, enum alloc_func f, uint64_t *id, struct profiler_error *err)
{
	uint64_t *known = &es->uprobe_ids[k][f];
	if (*known) {
		*id = *known;
		return 0;
	}
	bool agent = is_agent_kind(k);
	const char *path = agent ? es->agent.probe_path : es->probes.probe_path;
	uint64_t offset = agent ? es->agent.offset[k - KIND_AGENT_ALLOC] : es->probes.offset[f];
	bool ret = k == KIND_ALLOC_RET || k == KIND_MEMALIGN_RET;
	char def[256], dir[192];
	snprintf(def, sizeof(def), "%c:smolder_%d/k%df%d %s:0x%llx\n", ret ? 'r' : 'p', (int)getpid(), k, (int)f, path,
		 (unsigned long long)offset);
	for (size_t i = 0; i < TRACEFS_MOUNTS; i++) {
		snprintf(dir, sizeof(dir), "%s/uprobe_events", tracefs_mounts[i]);
		int fd = open(dir, O_WRONLY | O_APPEND | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (!es->uprobe_tracefs)
			remove_stale_uprobes(tracefs_mounts[i], fd);
		ssize_t n = write(fd, def, strlen(def));
		int e = errno;
		close(fd);
		long v;
		snprintf(dir, sizeof(dir), "%s/events/smolder_%d/k%df%d/id", tracefs_mounts[i], (int)getpid(), k, (int)f);
		if (n < 0 || !read_proc_int(dir, &v)) {
			profiler_set_error(err, PROFILER_E_OPEN, n < 0 ? e : ENOENT, 0, "defining a uprobe in uprobe_events");
			return -1;
		}
		es->uprobe_tracefs = tracefs_mounts[i];
		*id = *known = (uint64_t)v;
		return 0;
	}
	profiler_set_error(err, errno == EACCES ? PROFILER_E_UPROBE_DENIED : PROFILER_E_NO_TRACEFS, errno, 0,
			   errno == EACCES ? "uprobes in tracefs's uprobe_events (the alloc view)"
					   : "the alloc view defines its uprobes in tracefs's uprobe_events");
	return -1;
}

/* Removes the uprobes define_uprobe made, once their events are closed. */
static void remove_uprobes(struct event_set *es)
{
	if (!es->uprobe_tracefs)
		return;
	char path[128];
	snprintf(path, sizeof(path), "%s/uprobe_events", es->uprobe_tracefs);
	int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	for (int k = 0; fd >= 0 && k < KIND_COUNT; k++)
		for (int f = 0; f < ALLOC_FUNCS; f++)
			if (es->uprobe_ids[k][f]) {
				if (!remove_uprobe(fd, (int)getpid(), k, f))
					break;
				es->uprobe_ids[k][f] = 0;
			}
	if (fd >= 0)
		close(fd);
}

/* Opens one kind of event on tid, one per CPU (alloc kinds: on function f). */
static int open_kind(struct event_set *es, int k, enum alloc_func f, pid_t tid, bool side_records,
		     struct profiler_error *err)
{
	struct perf_event_attr attr = es->kinds[k];
	if (!side_records)
		attr.mmap = attr.mmap2 = attr.comm = attr.comm_exec = attr.task = 0;
	uint64_t tracepoint;
	if (is_alloc_kind(k) || is_agent_kind(k)) {
		if (define_uprobe(es, k, f, &tracepoint, err))
			return -1;
		attr.config = tracepoint;
	}
	char filter[512];
	arch_io_filter(filter, sizeof(filter));
	/* The whole host, or one cgroup's processes, on each CPU. */
	bool cgroup = tid == -1 && es->cgroup_fd >= 0;
	pid_t target = cgroup ? es->cgroup_fd : tid;
	unsigned long flags = PERF_FLAG_FD_CLOEXEC | (cgroup ? PERF_FLAG_PID_CGROUP : 0);
	for (uint32_t c = 0; c < es->ncpus; c++) {
		int fd = perf_event_open_fd(&attr, target, es->cpus[c].cpu, -1, flags);
		if (fd < 0) {
			int e = errno;
			char what[sizeof(err->what)];
			describe_kind(es, k, f, what, sizeof(what));
			enum profiler_errcode code = classify_open_errno(e);
			if (code == PROFILER_E_PERMISSION && (is_alloc_kind(k) || is_agent_kind(k)))
				code = PROFILER_E_UPROBE_DENIED;
			if (code == PROFILER_E_PERMISSION && tid == -1)
				code = PROFILER_E_HOST_DENIED;
			profiler_set_error(err, code, e, tid, what);
			err->own = tid == es->child || process_owned(tid);
			return -1;
		}
		if ((k == KIND_IO_ENTER || k == KIND_IO_EXIT) && ioctl(fd, PERF_EVENT_IOC_SET_FILTER, filter)) {
			profiler_set_error(err, PROFILER_E_OPEN, errno, tid, "PERF_EVENT_IOC_SET_FILTER");
			close(fd);
			return -1;
		}
		uint64_t id;
		if (ioctl(fd, PERF_EVENT_IOC_ID, &id)) {
			profiler_set_error(err, PROFILER_E_OPEN, errno, tid, "PERF_EVENT_IOC_ID");
			close(fd);
			return -1;
		}
		if (push_event(es, (struct event){ .fd = fd, .tid = tid, .id = id, .kind = (enum event_kind)k,
						   .func = f })) {
			close(fd);
			profiler_set_error(err, PROFILER_E_NOMEM, 0, 0, "the list of events");
			return -1;
		}
		if (attach_to_buffer(es, &es->cpus[c], fd, tid, err))
			return -1;
	}
	return 0;
}

int event_set_open_thread(struct event_set *es, pid_t tid, struct profiler_error *err)
{
	const struct event *events = es->events.data;
	for (uint32_t i = 0; i < es->events.count; i++)
		if (events[i].tid == tid)
			return 0;
	/* Mapping, name and fork records are asked of the first event only,
	 * so that each comes once. */
	bool side_records = true;
	for (int k = 0; k < KIND_COUNT; k++) {
		if (!es->kind_on[k])
			continue;
		for (int f = 0; f < ALLOC_FUNCS; f++) {
			/* Alloc kinds: one event per function probed; others: one. */
			if (is_alloc_kind(k) ? !probes_function((enum event_kind)k, (enum alloc_func)f) ||
						       !es->probes.offset[f]
					     : f > 0)
				continue;
			if (open_kind(es, k, (enum alloc_func)f, tid, side_records, err))
				return -1;
			side_records = false;
		}
	}
	if (es->kind_on[KIND_ALLOC] && tid > 0)
		event_set_hold_contexts(es, tid);
	return 1;
}

/* The online CPUs, from /sys/devices/system/cpu/online ("0-3,5"). */
static int read_online_cpus(struct event_set *es)
{
	char buf[4096] = "";
	FILE *f = fopen("/sys/devices/system/cpu/online", "re");
	if (f) {
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = '\0';
		fclose(f);
	}
	if (!buf[0])
		snprintf(buf, sizeof(buf), "0-%ld", sysconf(_SC_NPROCESSORS_ONLN) - 1);
	struct vec cpus = { 0 };
	for (char *p = buf; *p && *p != '\n';) {
		char *end;
		long a = strtol(p, &end, 10), b = a;
		if (end == p)
			break;
		if (*end == '-')
			b = strtol(end + 1, &end, 10);
		for (long c = a; c <= b && c < 65536; c++) {
			struct cpu_buffer *cb = vec_push(&cpus, sizeof(*cb));
			if (!cb) {
				vec_release(&cpus);
				return -1;
			}
			*cb = (struct cpu_buffer){ .cpu = (int)c, .fd = -1 };
		}
		p = *end == ',' ? end + 1 : end;
	}
	es->cpus = cpus.data;
	es->ncpus = cpus.count;
	return es->ncpus ? 0 : -1;
}

/* Where the cgroup v2 tree is mounted: /sys/fs/cgroup, or
 * /sys/fs/cgroup/unified on a hybrid system. */
static void cgroup2_root(char *buf, size_t len)
{
	snprintf(buf, len, "/sys/fs/cgroup");
	FILE *f = fopen("/proc/self/mounts", "re");
	char line[4096], dir[4096], type[64];
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%*s %4095s %63s", dir, type) == 2 && strcmp(type, "cgroup2") == 0) {
			snprintf(buf, len, "%s", dir);
			break;
		}
	if (f)
		fclose(f);
}

int event_set_open_cgroup(struct event_set *es, const char *path, struct profiler_error *err)
{
	/* A path of the tree as /proc/PID/cgroup shows it ("/system.slice/x.service"
	 * or without the slash), or the directory itself. */
	char root[4096], full[8200];
	cgroup2_root(root, sizeof(root));
	struct stat st;
	if (path[0] == '/' && strncmp(path, root, strlen(root)) == 0 && stat(path, &st) == 0)
		snprintf(full, sizeof(full), "%s", path);
	else
		snprintf(full, sizeof(full), "%s%s%s", root, path[0] == '/' ? "" : "/", path);
	es->cgroup_fd = open(full, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (es->cgroup_fd < 0) {
		profiler_set_error(err, PROFILER_E_CGROUP, errno, 0, full);
		return -1;
	}
	return 0;
}

int event_set_init(struct event_set *es, const struct profiler_options *o, struct profiler_error *err)
{
	memset(es, 0, sizeof(*es));
	es->o = o;
	es->cgroup_fd = -1;
	es->probes.fd = -1;
	es->agent.fd = -1;
	es->raw_id_offset = es->raw_ret_offset = UINT32_MAX;
	es->mmap_build_id = kernel_has_mmap_build_id();
	if (read_online_cpus(es)) {
		profiler_set_error(err, PROFILER_E_NOMEM, 0, 0, "the list of online CPUs");
		return -1;
	}
	return 0;
}

/* ---- the views' kinds of event ---- */


/* The raw_syscalls events directory of the first readable mount, in buf;
 * NULL if there is none. */
static const char *tracefs_dir(char *buf, size_t len)
{
	for (size_t i = 0; i < TRACEFS_MOUNTS; i++) {
		snprintf(buf, len, "%s/events/raw_syscalls", tracefs_mounts[i]);
		if (access(buf, R_OK) == 0)
			return buf;
	}
	return NULL;
}

/* A tracepoint's id, and the offset of one field of its records. */
static bool tracepoint_info(const char *dir, const char *event, const char *field, uint64_t *id,
			    uint32_t *offset)
{
	char path[256];
	long v;
	snprintf(path, sizeof(path), "%s/%s/id", dir, event);
	if (!read_proc_int(path, &v))
		return false;
	*id = (uint64_t)v;
	snprintf(path, sizeof(path), "%s/%s/format", dir, event);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	char line[256], want[64];
	snprintf(want, sizeof(want), " %s;", field);
	bool found = false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *at = strstr(line, want), *off = strstr(line, "offset:");
		if (at && off && strstr(line, "field:"))
			found = sscanf(off, "offset:%u", offset) == 1;
	}
	fclose(f);
	return found;
}

/* Where tracefs is mounted but this user may not read it. */
static const char *tracefs_denied(void)
{
	struct stat st;
	for (size_t i = 0; i < TRACEFS_MOUNTS; i++) {
		char events[64];
		snprintf(events, sizeof(events), "%s/events", tracefs_mounts[i]);
		if ((stat(events, &st) == 0 || errno == EACCES) && access(events, R_OK | X_OK) != 0)
			return tracefs_mounts[i];
	}
	return NULL;
}

static int setup_io(struct event_set *es, struct profiler_error *err)
{
	char dir_buf[96];
	const char *dir = tracefs_dir(dir_buf, sizeof(dir_buf));
	uint64_t enter_id, exit_id;
	const char *denied = dir ? NULL : tracefs_denied();
	if (denied) {
		profiler_set_error(err, PROFILER_E_TRACEFS_DENIED, EACCES, 0, denied);
		return -1;
	}
	if (!dir) {
		profiler_set_error(err, PROFILER_E_NO_TRACEFS, ENOENT, 0, "the io view needs the raw_syscalls tracepoints");
		return -1;
	}
	if (!tracepoint_info(dir, "sys_enter", "id", &enter_id, &es->raw_id_offset) ||
	    !tracepoint_info(dir, "sys_exit", "ret", &exit_id, &es->raw_ret_offset)) {
		profiler_set_error(err, PROFILER_E_NO_TRACEFS, errno ? errno : EACCES, 0,
			  "the io view cannot read raw_syscalls' id and format in tracefs");
		return -1;
	}
	struct perf_event_attr *in = &es->kinds[KIND_IO_ENTER], *out = &es->kinds[KIND_IO_EXIT];
	*in = es->attr;
	in->type = PERF_TYPE_TRACEPOINT;
	in->config = enter_id;
	in->freq = 0;
	in->sample_period = 1;
	in->sample_type |= PERF_SAMPLE_RAW;
	in->exclude_kernel = 0; /* tracepoints fire in the kernel */
	in->context_switch = 0;
	if (in->sample_stack_user)
		in->sample_stack_user = es->o->event_stack_size;
	*out = *in;
	out->config = exit_id;
	/* The exit only ends the span: no stack to copy. */
	out->sample_type = PERF_SAMPLE_IDENTIFIER | PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_RAW;
	out->sample_regs_user = 0;
	out->sample_stack_user = 0;
	es->kind_on[KIND_IO_ENTER] = es->kind_on[KIND_IO_EXIT] = true;
	return 0;
}

/* The sampled alloc view: uprobes on the agent's markers, every hit; the
 * allocation's with the stack and its four argument registers, a free's
 * with the address alone, a batch's with the stack bytes holding them, a
 * ring's with its address, process and memfd. */
static void setup_agent(struct event_set *es)
{
	struct perf_event_attr *entry = &es->kinds[KIND_AGENT_ALLOC], *freed = &es->kinds[KIND_AGENT_FREE];
	*entry = es->attr;
	entry->type = PERF_TYPE_TRACEPOINT;
	entry->config = 0;
	entry->freq = 0;
	entry->sample_period = 1;
	entry->context_switch = 0;
	entry->sample_type |= PERF_SAMPLE_REGS_USER | PERF_SAMPLE_STACK_USER;
	entry->sample_type &= ~(uint64_t)PERF_SAMPLE_PERIOD;
	entry->sample_regs_user = arch_unwind_regs_mask() | 1ull << arch_perf_reg(ARCH_REG_ARG3);
	entry->sample_stack_user = es->o->unwind == UNWIND_FP ? 8 : es->o->event_stack_size;
	*freed = *entry;
	freed->sample_type = PERF_SAMPLE_IDENTIFIER | PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_REGS_USER;
	freed->sample_regs_user = 1ull << arch_perf_reg(ARCH_REG_ARG0);
	freed->sample_stack_user = 0;
	/* A batch's addresses are in its caller's frame, within 2 KiB of the
	 * marker's stack pointer. */
	struct perf_event_attr *batch = &es->kinds[KIND_AGENT_FREE_BATCH];
	*batch = *freed;
	batch->sample_type |= PERF_SAMPLE_STACK_USER;
	batch->sample_regs_user = 1ull << arch_perf_reg(ARCH_REG_ARG0) | 1ull << arch_perf_reg(ARCH_REG_ARG1) |
				  1ull << arch_perf_reg(ARCH_REG_SP);
	batch->sample_stack_user = 2048;
	/* The ring's address and its process. */
	struct perf_event_attr *ring = &es->kinds[KIND_AGENT_RING];
	*ring = *freed;
	ring->sample_regs_user = 1ull << arch_perf_reg(ARCH_REG_ARG0) | 1ull << arch_perf_reg(ARCH_REG_ARG1) |
				 1ull << arch_perf_reg(ARCH_REG_ARG2);
	/* A full ring's agent calls it to wake the reader: at once. */
	ring->watermark = 0;
	ring->wakeup_events = 1;
	for (int k = KIND_AGENT_ALLOC; k <= KIND_AGENT_RING; k++)
		es->kind_on[k] = true;
}

/* The alloc view: uprobes on the agent's markers, or (exact) on the C
 * library's allocation functions. */
static int setup_alloc(struct event_set *es, struct profiler_error *err)
{
	if (uprobe_pmu(&es->uprobe_type, &es->retprobe_bit)) {
		profiler_set_error(err, PROFILER_E_NO_EVENT, ENOENT, 0,
			  "uprobe (the alloc view needs the uprobe PMU: a kernel with CONFIG_UPROBE_EVENTS)");
		return -1;
	}
	if (es->o->alloc_mode == ALLOC_SAMPLED) {
		setup_agent(es);
		return 0;
	}
	struct perf_event_attr *entry = &es->kinds[KIND_ALLOC], *ret = &es->kinds[KIND_ALLOC_RET],
			       *freed = &es->kinds[KIND_FREE];
	*entry = es->attr;
	entry->type = PERF_TYPE_TRACEPOINT;
	entry->config = 0;
	entry->freq = 0;
	entry->sample_period = es->o->alloc_period;
	entry->context_switch = 0;
	/* Registers for the arguments (and DWARF); at least the return
	 * address on top of the stack for frame pointers. */
	entry->sample_type |= PERF_SAMPLE_REGS_USER | PERF_SAMPLE_STACK_USER;
	/* With PERIOD in the sample, the kernel samples every hit of a
	 * tracepoint-like event whatever the period (perf_swevent_event). */
	entry->sample_type &= ~(uint64_t)PERF_SAMPLE_PERIOD;
	entry->sample_regs_user = arch_unwind_regs_mask();
	entry->sample_stack_user = es->o->unwind == UNWIND_FP ? 8 : es->o->event_stack_size;
	/* Returns and frees: every one, each only a register. */
	*ret = *entry;
	ret->config = 0; /* a return probe by its definition in uprobe_events */
	ret->sample_period = 1;
	ret->sample_type = PERF_SAMPLE_IDENTIFIER | PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_REGS_USER;
	ret->sample_regs_user = 1ull << arch_perf_reg(ARCH_REG_RET);
	ret->sample_stack_user = 0;
	/* posix_memalign's block is in the caller's variable: copy the stack
	 * around it. */
	struct perf_event_attr *memalign_ret = &es->kinds[KIND_MEMALIGN_RET];
	*memalign_ret = *ret;
	memalign_ret->sample_type |= PERF_SAMPLE_STACK_USER;
	memalign_ret->sample_regs_user |= 1ull << arch_perf_reg(ARCH_REG_SP);
	memalign_ret->sample_stack_user = 512;
	*freed = *ret;
	freed->config = 0;
	freed->sample_regs_user = 1ull << arch_perf_reg(ARCH_REG_ARG0);
	es->kind_on[KIND_ALLOC] = es->kind_on[KIND_ALLOC_RET] = es->kind_on[KIND_MEMALIGN_RET] = true;
	es->kind_on[KIND_FREE] = true;
	return 0;
}

/* The cpu event as chosen, and for the offcpu view context switches (each
 * one a sample of the stack leaving the CPU, and PERF_RECORD_SWITCH
 * records for the way back). */
static void setup_cpu_and_offcpu(struct event_set *es)
{
	es->kind_on[KIND_CPU] = es->o->views & VIEW_CPU;
	es->kind_on[KIND_OFFCPU] = es->o->views & VIEW_OFFCPU;
	es->kinds[KIND_CPU] = es->attr;
	struct perf_event_attr *a = &es->kinds[KIND_OFFCPU];
	*a = es->attr;
	a->type = PERF_TYPE_SOFTWARE;
	a->config = PERF_COUNT_SW_CONTEXT_SWITCHES;
	a->freq = 0;
	a->sample_period = 1;
	a->context_switch = 1;
	/* The switch happens in the kernel: excluding it would exclude them all. */
	a->exclude_kernel = 0;
	if (a->sample_stack_user)
		a->sample_stack_user = es->o->event_stack_size;
}

int event_set_setup_views(struct event_set *es, struct profiler_error *err)
{
	setup_cpu_and_offcpu(es);
	if ((es->o->views & VIEW_IO) && setup_io(es, err))
		return -1;
	if ((es->o->views & VIEW_ALLOC) && setup_alloc(es, err))
		return -1;
	return 0;
}

int event_set_choose_cpu_event(struct event_set *es, pid_t probe_pid, struct profiler_error *err)
{
	const struct profiler_options *o = es->o;
	if (!(o->views & VIEW_CPU)) {
		attr_for_cpu(es, false); /* the common settings the other kinds start from */
		return 0;
	}
	bool want_cycles = !o->force_event || strcmp(o->force_event, "cycles") == 0;
	if (o->force_event && strcmp(o->force_event, "cpu-clock") == 0)
		want_cycles = false;
	if (want_cycles) {
		attr_for_cpu(es, true);
		int fd = perf_event_open_fd(&es->attr, probe_pid, es->cpus[0].cpu, -1, PERF_FLAG_FD_CLOEXEC);
		if (fd >= 0) {
			close(fd);
			return 0;
		}
		int e = errno;
		if (classify_open_errno(e) != PROFILER_E_NO_EVENT || (o->force_event && want_cycles)) {
			profiler_set_error(err, classify_open_errno(e), e, probe_pid,
					   o->kernel ? "cycles with kernel frames (--kernel)" : "cycles");
			err->own = probe_pid == es->child || process_owned(probe_pid);
			return -1;
		}
	}
	attr_for_cpu(es, false);
	return 0;
}

int event_set_find_probes(struct event_set *es, pid_t pid, struct profiler_error *err)
{
	const struct profiler_options *o = es->o;
	/* The sampled view too needs a shared C library: the agent is loaded
	 * by it, and takes its malloc. */
	int r = pid ? alloc_probes_for_process(&es->probes, pid)
		    : alloc_probes_for_command(&es->probes, o->argv[0], o->search_path);
	if (r == 0 && o->alloc_mode == ALLOC_SAMPLED && agent_refuse_musl(es->probes.path, pid ? pid : es->child, err))
		return -1;
	if (r == 0 && o->alloc_mode == ALLOC_SAMPLED && es->agent.fd < 0 &&
	    agent_probes_open(&es->agent, o->agent_path)) {
		profiler_set_error(err, PROFILER_E_AGENT, errno, 0, o->agent_path);
		return -1;
	}
	if (r == 0)
		return 0;
	profiler_set_error(err, (enum profiler_errcode)-r, r == -PROFILER_E_PERMISSION ? EACCES : 0, pid ? pid : es->child,
		  o->argv ? o->argv[0] : NULL);
	return -1;
}

void event_set_enable(struct event_set *es, bool on)
{
	const struct event *events = es->events.data;
	for (uint32_t i = 0; i < es->events.count; i++)
		ioctl(events[i].fd, on ? PERF_EVENT_IOC_ENABLE : PERF_EVENT_IOC_DISABLE, 0);
}

/* Looks at cpu's next record: its time, or UINT64_MAX at its pass's end. */
static void peek_next(struct event_set *es, struct cpu_buffer *cpu)
{
	cpu->next = ring_cursor_peek(&cpu->rb, &cpu->cursor, es->scratch);
	uint64_t t = cpu->next ? record_timestamp(es, cpu->next) : UINT64_MAX;
	cpu->next_time = cpu->next && t == UINT64_MAX ? t - 1 : t;
}

/* The buffers are merged by time, not read one after the other: when the
 * queue behind handle() is full, the records handled meanwhile are then
 * older than any still in a buffer, and a thread that moved between CPUs
 * keeps its system call's enter before its exit. */
void event_set_read(struct event_set *es, record_handler handle, void *ctx)
{
	for (uint32_t i = 0; i < es->ncpus; i++) {
		struct cpu_buffer *cpu = &es->cpus[i];
		cpu->next_time = UINT64_MAX;
		if (cpu->fd < 0)
			continue;
		ring_cursor_begin(&cpu->rb, &cpu->cursor);
		peek_next(es, cpu);
	}
	/* The oldest is found by scanning every CPU, a compare each: little
	 * beside the copy a record costs, even with hundreds of CPUs. */
	for (;;) {
		struct cpu_buffer *oldest = NULL;
		for (uint32_t i = 0; i < es->ncpus; i++)
			if (es->cpus[i].next_time != UINT64_MAX &&
			    (!oldest || es->cpus[i].next_time < oldest->next_time))
				oldest = &es->cpus[i];
		if (!oldest)
			return;
		/* A record that wraps is copied again: another buffer's may have
		 * taken scratch since. */
		const struct perf_event_header *h = oldest->next;
		if ((const uint8_t *)h == es->scratch)
			h = ring_cursor_peek(&oldest->rb, &oldest->cursor, es->scratch);
		handle(h, ctx);
		ring_cursor_next(&oldest->rb, &oldest->cursor, h);
		peek_next(es, oldest);
	}
}

static bool probes_hot_function(const struct event *e)
{
	return is_alloc_kind(e->kind) && (e->func == ALLOC_MALLOC || e->func == ALLOC_FREE);
}

void event_set_close(struct event_set *es)
{
	/* Unmapped first: a mapping holds its event open. */
	for (uint32_t i = 0; i < es->ncpus; i++) {
		ring_buffer_unmap(&es->cpus[i].rb);
		es->cpus[i].fd = -1;
	}
	/* The last close of a uprobe's events takes it out of the targets,
	 * after an RCU grace period under a global lock: 56 ms each here,
	 * closes on other threads waited in turn.  malloc's and free's go
	 * first, the calls a program makes most. */
	struct event *events = es->events.data;
	for (int pass = 0; pass < 2; pass++)
		for (uint32_t i = 0; i < es->events.count; i++)
			if (events[i].fd >= 0 && (pass == 1 || probes_hot_function(&events[i]))) {
				close(events[i].fd);
				events[i].fd = -1;
			}
	event_set_close_keepers(es);
	remove_uprobes(es);
}

void event_set_release(struct event_set *es)
{
	event_set_close(es);
	vec_release(&es->events);
	vec_release(&es->keepers);
	free(es->cpus);
	free(es->scratch);
	alloc_probes_release(&es->probes);
	agent_probes_release(&es->agent);
	if (es->cgroup_fd >= 0)
		close(es->cgroup_fd);
	es->cgroup_fd = -1;
	es->cpus = NULL;
	es->ncpus = 0;
	es->scratch = NULL;
}
