/* The worker's side of a recording: each record, in time order, changes the
 * threads and processes known, and each sample is unwound and added to the
 * profile's stack table at once, with its values. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "agent/agent.h"
#include "profiler/profiler-internal.h"
#include "profiler/unwind.h"

/* ---- processes and their mappings ---- */

struct process_maps *aggregate_process(struct aggregate *a, pid_t pid, bool create)
{
	struct process_maps *procs = a->procs.data;
	for (uint32_t i = 0; i < a->procs.count; i++)
		if (procs[i].pid == pid)
			return &procs[i];
	if (!create)
		return NULL;
	struct process_maps *m = vec_push(&a->procs, sizeof(*m));
	if (!m)
		return NULL;
	memset(m, 0, sizeof(*m));
	m->pid = pid;
	return m;
}

/* A new profile mapping for a file mapped by pid. */
static int64_t add_mapping(struct aggregate *a, pid_t pid, uint64_t start, uint64_t end, uint64_t pgoff,
			   const char *path, const char *build_id)
{
	int64_t path_id = profile_string(a->p, path);
	int64_t build_id_id = profile_string(a->p, build_id ? build_id : "");
	if (path_id < 0 || build_id_id < 0)
		return -PROFILE_E_NOMEM;
	struct mapping m = { start, end, pgoff, (uint32_t)path_id, (uint32_t)build_id_id };
	int64_t id = profile_add_mapping(a->p, &m);
	pid_t *slot = id < 0 ? NULL : vec_push(&a->mapping_pids, sizeof(pid_t));
	if (!slot)
		return -PROFILE_E_NOMEM;
	*slot = pid;
	return id;
}

static int process_map(struct aggregate *a, struct process_maps *pm, uint64_t start, uint64_t end,
		       uint64_t pgoff, const char *path, const char *build_id)
{
	int64_t id = add_mapping(a, pm->pid, start, end, pgoff, path, build_id);
	if (id < 0)
		return -1;
	struct map_entry e = { start, end, pgoff, (uint32_t)id };
	return process_maps_insert(pm, &e);
}

int aggregate_load_maps(struct aggregate *a, struct process_maps *pm)
{
	pm->loaded = true;
	FILE *f = proc_maps_open(pm->pid);
	if (!f)
		return 0; /* gone: its samples keep raw addresses */
	char line[4096 + 128];
	int err = 0;
	while (!err && fgets(line, sizeof(line), f)) {
		unsigned long long start, end, pgoff;
		char perms[8];
		int name_at = 0;
		if (sscanf(line, "%llx-%llx %7s %llx %*s %*s %n", &start, &end, perms, &pgoff, &name_at) < 4)
			continue;
		if (perms[2] != 'x')
			continue;
		char *name = line + name_at;
		name[strcspn(name, "\n")] = '\0';
		/* The build-id of what is mapped (not of what the path names
		 * now), so that a replaced file is never read for it. */
		char build_id[2 * BUILD_ID_MAX + 1] = "";
		int fd = open_mapped_file(pm->pid, name, start, end, MAPPED_VIA_MAP_FILES, NULL, 0);
		if (fd >= 0) {
			read_build_id(fd, build_id, sizeof(build_id));
			close(fd);
		}
		err = process_map(a, pm, start, end, pgoff, *name ? name : "//anon", build_id);
	}
	fclose(f);
	return err;
}

/* A sample in a mapping we have not heard of (its MMAP2 lost, or not yet
 * seen): read the process's maps again, at most every 10 ms. */
static void reload_maps_on_miss(struct aggregate *a, pid_t pid, uint64_t ip)
{
	struct process_maps *pm = aggregate_process(a, pid, true);
	if (!pm || !arch_user_address(ip) || process_maps_find(pm, ip))
		return;
	uint64_t t = monotonic_ns();
	if (t - pm->reloaded_ns > 10000000ull) {
		pm->reloaded_ns = t;
		process_maps_clear(pm);
		aggregate_load_maps(a, pm);
	}
}

/* ---- stacks and values ---- */

static uint32_t user_location(struct aggregate *a, const struct process_maps *pm, uint64_t addr)
{
	const struct map_entry *e = pm ? process_maps_find(pm, addr) : NULL;
	int64_t loc = profile_intern_location(a->p, addr, e ? e->mapping : PROFILE_NONE);
	if (loc < 0) {
		a->fatal = (int)loc;
		return 0;
	}
	return (uint32_t)loc;
}

static uint32_t kernel_location(struct aggregate *a, uint64_t addr)
{
	if (a->kernel_mapping == PROFILE_NONE) {
		int64_t id = add_mapping(a, 0, 0, UINT64_MAX, 0, "[kernel.kallsyms]", NULL);
		if (id < 0) {
			a->fatal = (int)id;
			return 0;
		}
		a->kernel_mapping = (uint32_t)id;
	}
	int64_t loc = profile_intern_location(a->p, addr, a->kernel_mapping);
	if (loc < 0) {
		a->fatal = (int)loc;
		return 0;
	}
	return (uint32_t)loc;
}

/* The stack node of a->frames (leaf first) in pid's address space, under
 * root (a location, or PROFILE_NONE); PROFILE_NONE for an empty stack. */
static uint32_t build_stack(struct aggregate *a, pid_t pid, uint32_t root)
{
	struct process_maps *pm = aggregate_process(a, pid, true);
	if (pm && !pm->loaded && pm->count == 0)
		aggregate_load_maps(a, pm);
	uint32_t generation = pm ? pm->generation : 0;
	uint64_t hash;
	uint32_t kept = stack_memo_find(a->stacks, pid, generation, root, &a->frames, &hash);
	if (kept != PROFILE_NONE)
		return kept;
	uint32_t parent = PROFILE_NONE;
	if (root != PROFILE_NONE) {
		int64_t node = profile_intern_stack(a->p, PROFILE_NONE, root);
		if (node < 0) {
			a->fatal = (int)node;
			return PROFILE_NONE;
		}
		parent = (uint32_t)node;
	}
	const struct frames *f = &a->frames;
	for (uint32_t i = f->n; i-- > 0 && !a->fatal;) {
		uint32_t loc = f->is_kernel[i] ? kernel_location(a, f->ip[i]) : user_location(a, pm, f->ip[i]);
		int64_t node = profile_intern_stack(a->p, parent, loc);
		if (node < 0) {
			a->fatal = (int)node;
			return PROFILE_NONE;
		}
		parent = (uint32_t)node;
	}
	if (!a->fatal && pm && pm->generation == generation)
		stack_memo_keep(a->stacks, pid, generation, root, &a->frames, hash, parent);
	return parent;
}

/* A sample's values, and its time when the profile keeps times. */
static int add_event(struct aggregate *a, uint32_t stack, uint32_t tid, uint64_t time, const int64_t *values)
{
	return a->o->times ? profile_add_event(a->p, stack, tid, time, values)
			   : profile_add_sample(a->p, stack, tid, time, values);
}

static void add_values(struct aggregate *a, uint32_t stack, pid_t tid, uint64_t time, int v1, int64_t x1, int v2,
		       int64_t x2)
{
	int64_t values[PROFILE_MAX_VALUES] = { 0 };
	if (v1 >= 0)
		values[v1] = x1;
	if (v2 >= 0)
		values[v2] = x2;
	if (add_event(a, stack, (uint32_t)tid, time, values))
		a->fatal = -PROFILE_E_NOMEM;
}

static void push_frame(struct frames *f, uint64_t ip, bool kernel)
{
	if (f->n < MAX_STACK_FRAMES) {
		f->ip[f->n] = ip;
		f->is_kernel[f->n++] = kernel;
	}
}

/* ---- spans: what a span's end does ---- */

/* A span's end names its thread: the pair is reported with both. */
struct span_ctx {
	struct aggregate *a;
	const struct thread_state *t;
};

/* Off-CPU: the time between leaving the CPU and coming back. */
static void offcpu_done(void *ctx, const struct span_start *s, const struct span_end *e)
{
	struct span_ctx *c = ctx;
	add_values(c->a, s->stack, c->t->tid, s->time, c->a->v_offcpu, (int64_t)(e->time - s->time),
		   c->a->v_switches, 1);
}

static void io_done(void *ctx, const struct span_start *s, const struct span_end *e)
{
	struct span_ctx *c = ctx;
	struct aggregate *a = c->a;
	uint64_t latency = e->time - s->time;
	if (latency < a->o->io_min_latency)
		return;
	const struct io_syscall *call = arch_io_syscall(s->arg);
	int64_t ret = (int64_t)e->arg;
	int64_t values[PROFILE_MAX_VALUES] = { 0 };
	values[a->v_io_bytes] = ret > 0 && call && call->moves_bytes ? ret : 0;
	values[a->v_io_latency] = (int64_t)latency;
	values[a->v_io_calls] = 1;
	if (add_event(a, s->stack, (uint32_t)c->t->tid, s->time, values))
		a->fatal = -PROFILE_E_NOMEM;
}

/* A sampled allocation and its return: the block is live until freed. */
static void alloc_done(void *ctx, const struct span_start *s, const struct span_end *e)
{
	struct span_ctx *c = ctx;
	uint64_t ptr = e->arg;
	struct live_alloc la = { ptr, s->arg, s->stack, (uint32_t)c->t->tid, (uint32_t)c->t->pid };
	if (ptr && live_allocs_put(&c->a->live, &la))
		c->a->fatal = -PROFILE_E_NOMEM;
}

/* ---- the alloc view's samples ---- */

/* posix_memalign returns its block through memptr, which its entry gave:
 * read it in the stack copied at the return (where the caller's variable
 * usually is), else from the target's memory now, which is only right if
 * the caller has not moved on.  0 when it failed or cannot be read. */
static uint64_t memalign_result(const struct thread_state *t, const struct sample_view *v)
{
	if (sample_reg(v, ARCH_REG_RET) != 0)
		return 0;
	/* This return's entry: the latest sampled one before it. */
	const struct span_start *entry = span_latest_start(&t->allocs, v->time);
	if (!entry || !entry->arg2)
		return 0;
	uint64_t memptr = entry->arg2, sp_reg = sample_reg(v, ARCH_REG_SP), ptr = 0;
	if (v->stack && memptr >= sp_reg && memptr - sp_reg + 8 <= v->stack_dyn) {
		memcpy(&ptr, v->stack + (memptr - sp_reg), 8);
		return ptr;
	}
	struct iovec local = { &ptr, sizeof(ptr) }, remote = { (void *)(uintptr_t)memptr, sizeof(ptr) };
	/* Through the thread that called (its process's main thread may have exited). */
	if (process_vm_readv(t->tid, &local, 1, &remote, 1, 0) != (ssize_t)sizeof(ptr))
		return 0;
	return ptr;
}

/* The size an allocation call asks for, from its argument registers (and
 * where posix_memalign will store the block).  False for calls that
 * allocate nothing themselves: realloc(NULL, n) calls malloc, which is
 * probed too, and realloc(p, 0) frees. */
static bool alloc_request(const struct sample_view *v, uint64_t *size, uint64_t *memptr)
{
	uint64_t a0 = sample_reg(v, ARCH_REG_ARG0), a1 = sample_reg(v, ARCH_REG_ARG1),
		 a2 = sample_reg(v, ARCH_REG_ARG2);
	*memptr = 0;
	switch (v->func) {
	case ALLOC_MALLOC: *size = a0; break;
	case ALLOC_CALLOC:
		if (__builtin_mul_overflow(a0, a1, size))
			return false; /* fails with ENOMEM */
		break;
	case ALLOC_REALLOC:
		if (!a0 || !a1)
			return false;
		*size = a1;
		break;
	case ALLOC_POSIX_MEMALIGN:
		*size = a2;
		*memptr = a0;
		break;
	case ALLOC_ALIGNED_ALLOC: *size = a1; break;
	default: return false;
	}
	return *size > 0 && *size < (1ull << 48);
}

/* A probe on a function's first instruction fires before the function
 * pushes a frame: the frame-pointer chain starts at the caller's caller.
 * The caller is the return address on top of the stack (8 bytes copied
 * with the sample); put it back unless the kernel already did. */
static void add_entry_caller(struct frames *f, const struct sample_view *v)
{
	uint64_t ret;
	if (f->n == 0 || f->n >= MAX_STACK_FRAMES || !v->stack || v->stack_dyn < 8)
		return;
	memcpy(&ret, v->stack, 8);
	if (!ret || (f->n > 1 && f->ip[1] == ret - 1))
		return;
	memmove(f->ip + 2, f->ip + 1, (f->n - 1) * sizeof(*f->ip));
	memmove(f->is_kernel + 2, f->is_kernel + 1, (f->n - 1) * sizeof(*f->is_kernel));
	f->ip[1] = ret - 1;
	f->is_kernel[1] = false;
	f->n++;
}

/* The agent's batch of frees: n addresses at addrs, read in the stack copy. */
static void agent_frees(struct aggregate *a, const struct sample_view *v)
{
	uint64_t n = sample_reg(v, ARCH_REG_ARG0), addrs = sample_reg(v, ARCH_REG_ARG1), sp = sample_reg(v, ARCH_REG_SP);
	for (uint64_t i = 0; v->stack && i < n && i < AGENT_FREED_BATCH_MAX; i++) {
		uint64_t at = addrs + 8 * i, ptr;
		if (at < sp || at - sp + 8 > v->stack_dyn)
			break;
		memcpy(&ptr, v->stack + (at - sp), 8);
		struct live_alloc gone;
		live_allocs_take(&a->live, v->pid, ptr, &gone);
	}
}

/* Samples that only end a span or free a block: no stack to unwind. */
static bool on_stackless_sample(struct aggregate *a, const struct sample_view *v)
{
	struct thread_state *t;
	struct span_ctx ctx = { a, NULL };
	switch (v->kind) {
	case KIND_IO_EXIT:
		if ((ctx.t = t = aggregate_thread_get(a, (pid_t)v->tid))) {
			struct span_end e = { v->time, sample_raw_u64(v, a->events->raw_ret_offset) };
			span_add_end(&t->syscalls, &e, io_done, &ctx);
		}
		return true;
	case KIND_FREE:
	case KIND_AGENT_FREE: {
		struct live_alloc gone;
		live_allocs_take(&a->live, v->pid, sample_reg(v, ARCH_REG_ARG0), &gone);
		return true;
	}
	case KIND_AGENT_FREE_BATCH:
		agent_frees(a, v);
		return true;
	case KIND_ALLOC_RET:
	case KIND_MEMALIGN_RET:
		if ((ctx.t = t = aggregate_thread_get(a, (pid_t)v->tid))) {
			struct span_end e = { v->time, sample_reg(v, ARCH_REG_RET) };
			if (v->kind == KIND_MEMALIGN_RET)
				e.arg = memalign_result(t, v);
			span_add_end(&t->allocs, &e, alloc_done, &ctx);
		}
		return true;
	default:
		return false;
	}
}

/* The sample's frames into a->frames; returns the root marker to put
 * above them (PROFILE_NONE for none). */
static uint32_t sample_frames(struct aggregate *a, const struct sample_view *v)
{
	struct frames *f = &a->frames;
	bool dwarf = a->unwinder != NULL && v->regs;
	callchain_frames(v->ips, v->nr, a->o->kernel, !dwarf, f);
	if (dwarf && !v->stack) {
		/* Shed by the reader: the leaf alone, under a frame that says so. */
		a->stats->unwind_shed++;
		uint64_t ip = sample_reg(v, ARCH_REG_IP);
		if (ip)
			push_frame(f, ip, false);
		return a->shed_marker;
	}
	if (dwarf) {
		struct process_maps *pm = aggregate_process(a, (pid_t)v->pid, true);
		if (pm && !pm->loaded && pm->count == 0)
			aggregate_load_maps(a, pm);
		if (pm && v->agent_hints && !pm->hint_origins)
			pm->hint_origins = calloc(AGENT_RING_HINTS, sizeof(*pm->hint_origins));
		struct agent_hint_origin *origins = pm ? pm->hint_origins : NULL;
		struct unwind_known known;
		agent_hint_known(v, origins, &known);
		struct unwind_result r;
		uint32_t got = unwind_user_stack(a->unwinder, pm, a->p, v->regs, v->stack, v->stack_dyn, &known,
						 f->ip + f->n, MAX_STACK_FRAMES - f->n, &r);
		agent_hint_publish(v, &r, origins);
		a->stats->agent_ring_known += r.known;
		memset(f->is_kernel + f->n, 0, got * sizeof(*f->is_kernel));
		f->n += got;
		if (r.truncated)
			a->stats->stack_truncated++;
		a->stats->unwind_evicted = unwind_evicted(a->unwinder);
		/* The stack above is not known. */
		return r.truncated || r.broken ? a->unknown_marker : PROFILE_NONE;
	}
	if (v->kind == KIND_ALLOC || v->kind == KIND_AGENT_ALLOC)
		add_entry_caller(f, v);
	return PROFILE_NONE;
}

static bool in_range(const struct known_range *k, const struct process_maps *pm, uint64_t ip)
{
	return k->pid == pm->pid && k->generation == pm->generation && ip - k->start < k->end - k->start;
}

static bool in_agent(struct aggregate *a, struct process_maps *pm, uint64_t ip)
{
	if (!pm)
		return false;
	if (in_range(&a->agent_range, pm, ip))
		return true;
	if (in_range(&a->other_range, pm, ip))
		return false;
	const struct map_entry *e = process_maps_find(pm, ip);
	if (!e || e->mapping == PROFILE_NONE)
		return false;
	bool agent = e->mapping == a->agent_mapping;
	if (!agent && e->mapping != a->other_mapping) {
		const char *path = string_table_get(&a->p->strings, profile_mapping(a->p, e->mapping)->path);
		agent = agent_file_named(path);
		*(agent ? &a->agent_mapping : &a->other_mapping) = e->mapping;
	}
	*(agent ? &a->agent_range : &a->other_range) = (struct known_range){ pm->pid, pm->generation, e->start, e->end };
	return agent;
}

/* A sampled allocation's stack starts in the agent (its marker under its
 * hook): those frames go, and the function the program called takes
 * their place, as the exact view's probe on it shows it. */
static void replace_agent_frames(struct aggregate *a, pid_t pid)
{
	struct frames *f = &a->frames;
	struct process_maps *pm = aggregate_process(a, pid, true);
	uint32_t drop = 0;
	while (drop < f->n && !f->is_kernel[drop] && in_agent(a, pm, f->ip[drop]))
		drop++;
	f->n -= drop;
	memmove(f->ip, f->ip + drop, f->n * sizeof(*f->ip));
	memmove(f->is_kernel, f->is_kernel + drop, f->n * sizeof(*f->is_kernel));
}

/* The estimated values of a sampled allocation (the agent's arguments). */
static void on_agent_alloc(struct aggregate *a, const struct sample_view *v, uint32_t stack, struct thread_state *t)
{
	uint64_t ptr = sample_reg(v, ARCH_REG_ARG0), bytes = sample_reg(v, ARCH_REG_ARG2),
		 calls_func = sample_reg(v, ARCH_REG_ARG3);
	uint32_t func = (uint32_t)(calls_func & 0xff);
	if (func < AGENT_FUNCS && a->agent_leaf[func] != PROFILE_NONE) {
		int64_t node = profile_intern_stack(a->p, stack, a->agent_leaf[func]);
		if (node < 0) {
			a->fatal = (int)node;
			return;
		}
		stack = (uint32_t)node;
	}
	int64_t b = bytes > INT64_MAX ? INT64_MAX : (int64_t)bytes, calls = (int64_t)(calls_func >> 8);
	add_values(a, stack, t->tid, v->time, a->v_alloc_bytes, b, a->v_alloc_count, calls);
	struct live_alloc la = { ptr, (uint64_t)b, stack, (uint32_t)t->tid, (uint32_t)t->pid };
	if (ptr && live_allocs_put(&a->live, &la))
		a->fatal = -PROFILE_E_NOMEM;
}

static void on_sample(struct aggregate *a, const struct perf_event_header *h)
{
	struct sample_view v;
	if (!sample_parse(a->events, h, &v) || on_stackless_sample(a, &v))
		return;
	uint64_t alloc_size = 0, memptr = 0;
	if (v.kind == KIND_ALLOC && !alloc_request(&v, &alloc_size, &memptr))
		return;
	reload_maps_on_miss(a, (pid_t)v.pid, v.ip);
	uint32_t marker = sample_frames(a, &v);
	if (v.kind == KIND_AGENT_ALLOC)
		replace_agent_frames(a, (pid_t)v.pid);
	struct thread_state *t = aggregate_thread_found(a, (pid_t)v.tid, (pid_t)v.pid);
	if (!t)
		return;
	uint32_t stack = build_stack(a, (pid_t)v.pid, marker);
	if (a->fatal)
		return;
	a->stats->samples++;
	struct span_ctx ctx = { a, t };
	switch (v.kind) {
	case KIND_OFFCPU: {
		struct span_start s = { v.time, 0, 0, stack };
		span_add_start(&t->switches, &s, offcpu_done, &ctx);
		break;
	}
	case KIND_IO_ENTER: {
		struct span_start s = { v.time, sample_raw_u64(&v, a->events->raw_id_offset), 0, stack };
		span_add_start(&t->syscalls, &s, io_done, &ctx);
		break;
	}
	case KIND_ALLOC: {
		/* Counted now, so that a call whose return we never see still
		 * counts; the return only tells where the block is, for in-use. */
		int64_t period = a->o->alloc_period, bytes = sat_mul_i64((int64_t)alloc_size, period);
		add_values(a, stack, (pid_t)v.tid, v.time, a->v_alloc_bytes, bytes, a->v_alloc_count, period);
		struct span_start s = { v.time, (uint64_t)bytes, memptr, stack };
		span_add_start(&t->allocs, &s, alloc_done, &ctx);
		break;
	}
	case KIND_AGENT_ALLOC:
		on_agent_alloc(a, &v, stack, t);
		break;
	default:
		add_values(a, stack, (pid_t)v.tid, v.time, a->v_samples, 1, a->v_cpu,
			   (int64_t)(a->sample_ns ? a->sample_ns : v.period));
	}
}

/* ---- side records ---- */

static void on_mmap2(struct aggregate *a, const struct perf_event_header *h)
{
	struct mmap2_record m;
	if (!mmap2_parse(h, &m) || !(m.prot & 4 /* PROT_EXEC */))
		return;
	struct process_maps *pm = aggregate_process(a, (pid_t)m.pid, true);
	if (!pm || process_map(a, pm, m.addr, m.addr + m.len, m.pgoff, m.path, m.build_id))
		a->fatal = -PROFILE_E_NOMEM;
	/* Its code, mapped once a process: the program runs on musl (a launched
	 * command's child: the command itself, and an attached process, are
	 * refused before), and the agent sits idle in it. */
	if (a->o->views & VIEW_ALLOC && a->o->alloc_mode == ALLOC_SAMPLED && alloc_is_musl(m.path))
		a->stats->agent_musl++;
}

/* Whether pid is one the agent was injected into (-p, the sampled alloc
 * view): an exec of a new program takes the agent away with the old. */
static bool injected_agent(const struct aggregate *a, pid_t pid)
{
	if (!(a->o->views & VIEW_ALLOC) || a->o->alloc_mode != ALLOC_SAMPLED || a->o->argv)
		return false;
	for (uint32_t i = 0; i < a->o->npids; i++)
		if (a->o->pids[i] == pid)
			return true;
	return false;
}

static void on_comm(struct aggregate *a, const struct perf_event_header *h)
{
	struct comm_record c;
	if (!comm_parse(h, &c))
		return;
	if (c.exec) {
		if (c.pid == c.tid && injected_agent(a, (pid_t)c.pid))
			a->stats->agent_lost_to_exec++;
		/* A new program: what we knew of the old image's mappings is void. */
		struct process_maps *pm = aggregate_process(a, (pid_t)c.pid, false);
		if (pm)
			process_maps_clear(pm);
		if (a->unwinder)
			unwind_forget_process(a->unwinder, (pid_t)c.pid);
	}
	if (!aggregate_thread_add(a, (pid_t)c.tid, (pid_t)c.pid, c.comm, c.time))
		a->fatal = -PROFILE_E_NOMEM;
}

static void on_fork(struct aggregate *a, const struct perf_event_header *h)
{
	struct fork_record f;
	if (!fork_parse(h, &f))
		return;
	struct thread_state *parent = aggregate_thread_get(a, (pid_t)f.ptid);
	char comm[16];
	/* A parent we never met (-a: it started before us): /proc knows it, or
	 * knew it when we began. */
	if (parent)
		snprintf(comm, sizeof(comm), "%s", parent->comm);
	else if (!read_comm((pid_t)f.pid, (pid_t)f.tid, comm, sizeof(comm)) &&
		 !read_comm((pid_t)f.ppid, (pid_t)f.ptid, comm, sizeof(comm)) &&
		 !aggregate_name_at_start(a, (pid_t)f.ppid, comm))
		snprintf(comm, sizeof(comm), "%s", "[unknown]");
	if (!aggregate_thread_add(a, (pid_t)f.tid, (pid_t)f.pid, comm, f.time))
		a->fatal = -PROFILE_E_NOMEM;
	if (f.pid == f.ppid)
		return;
	/* A new process starts with a copy of its parent's mappings. */
	struct process_maps *pc = aggregate_process(a, (pid_t)f.pid, true);
	struct process_maps *pp = aggregate_process(a, (pid_t)f.ppid, false); /* after: the array may move */
	if (pc && pp && pc->count == 0)
		for (uint32_t i = 0; i < pp->count; i++)
			process_maps_insert(pc, &pp->entries[i]);
	if (pc)
		pc->loaded = true;
}

/* A process exited: records come in time order, so none of its samples
 * follows, and what we kept of its mappings goes; a host where processes
 * come and go (-a) keeps those alive only.  Its names stay in the profile. */
static void on_exit_record(struct aggregate *a, const struct perf_event_header *h)
{
	struct fork_record f; /* PERF_RECORD_EXIT has FORK's layout */
	if (!fork_parse(h, &f) || f.pid != f.tid)
		return;
	struct process_maps *procs = a->procs.data;
	for (uint32_t i = 0; i < a->procs.count; i++)
		if (procs[i].pid == (pid_t)f.pid) {
			free(procs[i].entries);
			free(procs[i].hint_origins);
			procs[i] = procs[--a->procs.count];
			break;
		}
	if (a->unwinder)
		unwind_drop_process(a->unwinder, (pid_t)f.pid);
	stack_memo_drop_process(a->stacks, (pid_t)f.pid);
}

static void on_lost(struct aggregate *a, const struct perf_event_header *h)
{
	uint64_t lost;
	uint32_t pid, tid;
	if (!lost_parse(h, &lost))
		return;
	a->stats->lost += lost;
	struct thread_state *t = record_pid_tid(h, &pid, &tid) ? aggregate_thread_get(a, (pid_t)tid) : NULL;
	if (t)
		t->lost += lost;
}

static void on_switch(struct aggregate *a, const struct perf_event_header *h)
{
	uint32_t pid, tid;
	if ((h->misc & PERF_RECORD_MISC_SWITCH_OUT) || !record_pid_tid(h, &pid, &tid) || tid == 0)
		return;
	struct thread_state *t = aggregate_thread_get(a, (pid_t)tid);
	if (!t) {
		/* A thread whose FORK record is still in another CPU's buffer. */
		char comm[16] = "";
		read_comm((pid_t)pid, (pid_t)tid, comm, sizeof(comm));
		if (!(t = aggregate_thread_add(a, (pid_t)tid, (pid_t)pid, comm, 0))) {
			a->fatal = -PROFILE_E_NOMEM;
			return;
		}
	}
	struct span_end e = { record_timestamp(a->events, h), 0 };
	struct span_ctx ctx = { a, t };
	span_add_end(&t->switches, &e, offcpu_done, &ctx);
}

void aggregate_record(struct aggregate *a, const struct perf_event_header *h)
{
	if (a->fatal)
		return;
	switch (h->type) {
	case PERF_RECORD_SAMPLE: on_sample(a, h); break;
	case PERF_RECORD_MMAP2: on_mmap2(a, h); break;
	case PERF_RECORD_COMM: on_comm(a, h); break;
	case PERF_RECORD_FORK: on_fork(a, h); break;
	case PERF_RECORD_EXIT: on_exit_record(a, h); break;
	case PERF_RECORD_LOST:
	case PERF_RECORD_LOST_SAMPLES: on_lost(a, h); break;
	case PERF_RECORD_SWITCH:
	case PERF_RECORD_SWITCH_CPU_WIDE: on_switch(a, h); break; /* -a: the task switched in is the trailer's */
	case PERF_RECORD_THROTTLE: a->stats->throttled++; break;
	default: break;
	}
}

/* ---- setting up and ending ---- */

/* A frame with a name and no address, for build_stack's root. */
static int64_t named_location(struct aggregate *a, const char *name)
{
	int64_t str = profile_string(a->p, name), fn;
	if (str < 0 || (fn = profile_intern_function(a->p, (uint32_t)str, 0)) < 0)
		return -1;
	return profile_intern_named_location(a->p, (uint32_t)fn);
}

/* The views' values, as pprof's sample types. */
static int add_value_types(struct aggregate *a)
{
	struct profile *p = a->p;
	unsigned views = a->o->views;
	a->v_samples = a->v_cpu = a->v_offcpu = a->v_switches = -1;
	a->v_io_bytes = a->v_io_latency = a->v_io_calls = -1;
	a->v_alloc_bytes = a->v_alloc_count = a->v_inuse_bytes = -1;
	if ((views & VIEW_CPU) && ((a->v_samples = profile_add_value_type(p, "samples", "count")) < 0 ||
				   (a->v_cpu = profile_add_value_type(p, "cpu", "nanoseconds")) < 0))
		return -1;
	if ((views & VIEW_OFFCPU) && ((a->v_offcpu = profile_add_value_type(p, "offcpu", "nanoseconds")) < 0 ||
				      (a->v_switches = profile_add_value_type(p, "switches", "count")) < 0))
		return -1;
	if ((views & VIEW_IO) && ((a->v_io_bytes = profile_add_value_type(p, "io_bytes", "bytes")) < 0 ||
				  (a->v_io_latency = profile_add_value_type(p, "io_latency", "nanoseconds")) < 0 ||
				  (a->v_io_calls = profile_add_value_type(p, "io_calls", "count")) < 0))
		return -1;
	if ((views & VIEW_ALLOC) && ((a->v_alloc_bytes = profile_add_value_type(p, "alloc_bytes", "bytes")) < 0 ||
				     (a->v_alloc_count = profile_add_value_type(p, "alloc_count", "count")) < 0 ||
				     (a->v_inuse_bytes = profile_add_value_type(p, "inuse_bytes", "bytes")) < 0))
		return -1;
	return 0;
}

/* The leaf frames of sampled allocations, named after the functions. */
static int add_agent_leaves(struct aggregate *a)
{
	static const char *const names[AGENT_FUNCS] = {
		[AGENT_MALLOC] = "malloc",
		[AGENT_CALLOC] = "calloc",
		[AGENT_REALLOC] = "realloc",
		[AGENT_POSIX_MEMALIGN] = "posix_memalign",
		[AGENT_ALIGNED_ALLOC] = "aligned_alloc",
		[AGENT_MEMALIGN] = "memalign",
	};
	for (int f = 0; f < AGENT_FUNCS; f++) {
		int64_t loc = named_location(a, names[f]);
		if (loc < 0)
			return -1;
		a->agent_leaf[f] = (uint32_t)loc;
	}
	return 0;
}

int aggregate_init(struct aggregate *a, struct profile *p, const struct profiler_options *o,
		   const struct event_set *events, struct profiler_stats *stats)
{
	memset(a, 0, sizeof(*a));
	a->p = p;
	a->o = o;
	a->events = events;
	a->stats = stats;
	a->kernel_mapping = a->agent_mapping = a->other_mapping = PROFILE_NONE;
	if (add_value_types(a))
		return -PROFILE_E_NOMEM;
	for (int f = 0; f < AGENT_FUNCS; f++)
		a->agent_leaf[f] = PROFILE_NONE;
	a->stacks = stack_memo_new();
	if ((o->views & VIEW_ALLOC) && o->alloc_mode == ALLOC_SAMPLED && add_agent_leaves(a))
		return -PROFILE_E_NOMEM;
	if (o->unwind == UNWIND_FP)
		return 0;
	int64_t shed = named_location(a, SHED_FRAME), unknown = named_location(a, "[unknown]");
	if (shed < 0 || unknown < 0 || !(a->unwinder = unwinder_new(o->unwind_image_cap, o->agent_path)))
		return -PROFILE_E_NOMEM;
	a->shed_marker = (uint32_t)shed;
	a->unknown_marker = (uint32_t)unknown;
	return 0;
}

int aggregate_add_in_use(struct aggregate *a)
{
	for (uint32_t i = 0; i < a->live.nslots; i++) {
		const struct live_alloc *la = &a->live.slots[i];
		if (!la->ptr)
			continue;
		int64_t values[PROFILE_MAX_VALUES] = { 0 };
		values[a->v_inuse_bytes] = (int64_t)la->bytes;
		if (profile_add_sample(a->p, la->stack, la->tid, 0, values))
			return -1;
	}
	return 0;
}

void aggregate_release(struct aggregate *a)
{
	struct process_maps *procs = a->procs.data;
	for (uint32_t i = 0; i < a->procs.count; i++) {
		free(procs[i].entries);
		free(procs[i].hint_origins);
	}
	vec_release(&a->procs);
	vec_release(&a->threads);
	vec_release(&a->names_at_start);
	id_hash_release(&a->thread_index);
	vec_release(&a->mapping_pids);
	unwinder_free(a->unwinder);
	live_allocs_release(&a->live);
	stack_memo_free(a->stacks);
	a->unwinder = NULL;
	a->stacks = NULL;
}
