/* Decoding perf records: pure functions of their bytes (and of the events'
 * sample_type), which never read past a record's size (but to a stack
 * copy a record of ours says is elsewhere: SAMPLE_MISC_STACK_AT). */
#include <stdio.h>
#include <string.h>

#include "profiler/profiler-internal.h"

/* The stack of a SAMPLE_MISC_STACK_AT sample, and its ring's hints: where
 * its 32 bytes say (the last: how many hints, and above them its slot's
 * sparse). */
static bool stack_elsewhere(struct sample_view *v)
{
	uint64_t at, len, hints, nhints;
	if (v->stack_size != 32)
		return false;
	memcpy(&at, v->stack, 8);
	memcpy(&len, v->stack + 8, 8);
	memcpy(&hints, v->stack + 16, 8);
	memcpy(&nhints, v->stack + 24, 8);
	v->stack = (const uint8_t *)(uintptr_t)at;
	v->stack_size = len;
	v->agent_hints = (struct agent_ring_hint *)(uintptr_t)hints;
	v->agent_nhints = (uint32_t)nhints;
	v->agent_sparse = (uint32_t)(nhints >> 32);
	return true;
}

bool sample_parse(const struct event_set *es, const struct perf_event_header *h, struct sample_view *v)
{
	const uint8_t *p = (const uint8_t *)(h + 1), *end = (const uint8_t *)h + h->size;
	memset(v, 0, sizeof(*v));
	/* Every kind of event has PERF_SAMPLE_IDENTIFIER first: it names the
	 * event, whose own sample_type says what follows. */
	if (h->size < sizeof(*h) || (size_t)(end - p) < 8)
		return false;
	memcpy(&v->id, p, 8);
	p += 8;
	const struct event *e = event_set_find(es, v->id);
	v->kind = e ? e->kind : KIND_CPU;
	v->func = e ? e->func : ALLOC_MALLOC;
	uint64_t t = es->kinds[v->kind].sample_type;
	uint64_t regs_mask = v->regs_mask = es->kinds[v->kind].sample_regs_user;
#define TAKE(dst, n)                                  \
	do {                                          \
		if ((size_t)(end - p) < (n))          \
			return false;                 \
		memcpy((dst), p, (n));                \
		p += (n);                             \
	} while (0)
	if (t & PERF_SAMPLE_IP)
		TAKE(&v->ip, 8);
	if (t & PERF_SAMPLE_TID) {
		TAKE(&v->pid, 4);
		TAKE(&v->tid, 4);
	}
	if (t & PERF_SAMPLE_TIME)
		TAKE(&v->time, 8);
	if (t & PERF_SAMPLE_PERIOD)
		TAKE(&v->period, 8);
	if (t & PERF_SAMPLE_CALLCHAIN) {
		TAKE(&v->nr, 8);
		if (v->nr > (uint64_t)(end - p) / 8)
			return false;
		v->ips = (const uint64_t *)p;
		p += v->nr * 8;
	}
	if (t & PERF_SAMPLE_RAW) {
		TAKE(&v->raw_size, 4);
		if (v->raw_size > (size_t)(end - p))
			return false;
		v->raw = p;
		p += v->raw_size;
	}
	if (t & PERF_SAMPLE_REGS_USER) {
		TAKE(&v->abi, 8);
		if (v->abi) {
			size_t n = (size_t)__builtin_popcountll(regs_mask) * 8;
			if ((size_t)(end - p) < n)
				return false;
			v->regs = (const uint64_t *)p;
			p += n;
		}
	}
	if (t & PERF_SAMPLE_STACK_USER) {
		TAKE(&v->stack_size, 8);
		if (v->stack_size) {
			if (v->stack_size > (uint64_t)(end - p))
				return false;
			v->stack = p;
			p += v->stack_size;
			TAKE(&v->stack_dyn, 8);
			if ((h->misc & SAMPLE_MISC_STACK_AT) && !stack_elsewhere(v))
				return false;
			/* What was really copied: never past the copy itself. */
			if (v->stack_dyn > v->stack_size)
				v->stack_dyn = v->stack_size;
		}
	}
#undef TAKE
	return true;
}

uint64_t sample_reg(const struct sample_view *v, enum arch_reg r)
{
	int i = v->regs ? regs_index(v->regs_mask, arch_perf_reg(r)) : -1;
	return i < 0 ? 0 : v->regs[i];
}

uint64_t sample_raw_u64(const struct sample_view *v, uint32_t offset)
{
	uint64_t x = 0;
	if (v->raw && offset <= v->raw_size && v->raw_size - offset >= 8)
		memcpy(&x, v->raw + offset, 8);
	return x;
}

/* Samples carry their time after IDENTIFIER (and IP, for the kinds that
 * sample it), other records in the sample_id trailer: TID (pid, tid), TIME,
 * IDENTIFIER. */
uint64_t record_timestamp(const struct event_set *es, const struct perf_event_header *h)
{
	uint64_t t = 0, id;
	if (h->type == PERF_RECORD_SAMPLE) {
		if (h->size < sizeof(*h) + 8)
			return 0;
		memcpy(&id, h + 1, 8);
		const struct event *e = event_set_find(es, id);
		size_t off = 8 + ((es->kinds[e ? e->kind : KIND_CPU].sample_type & PERF_SAMPLE_IP) ? 8 : 0) + 8;
		if (h->size >= sizeof(*h) + off + 8)
			memcpy(&t, (const uint8_t *)(h + 1) + off, 8);
		return t;
	}
	if (h->size >= sizeof(*h) + 24)
		memcpy(&t, (const uint8_t *)h + h->size - 16, 8);
	return t;
}

bool record_pid_tid(const struct perf_event_header *h, uint32_t *pid, uint32_t *tid)
{
	if (h->size < sizeof(*h) + 24)
		return false;
	memcpy(pid, (const uint8_t *)h + h->size - 24, 4);
	memcpy(tid, (const uint8_t *)h + h->size - 20, 4);
	return true;
}

void callchain_frames(const uint64_t *ips, uint64_t nr, bool want_kernel, bool want_user, struct frames *f)
{
	bool kernel = false, first_in_context = true, take = false;
	f->n = 0;
	for (uint64_t i = 0; i < nr && f->n < MAX_STACK_FRAMES; i++) {
		uint64_t ip = ips[i];
		if (ip >= (uint64_t)PERF_CONTEXT_MAX) {
			kernel = ip == (uint64_t)PERF_CONTEXT_KERNEL;
			take = kernel ? want_kernel : ip == (uint64_t)PERF_CONTEXT_USER && want_user;
			first_in_context = true;
			continue;
		}
		if (!take)
			continue;
		f->ip[f->n] = first_in_context ? ip : ip - 1;
		f->is_kernel[f->n] = kernel;
		first_in_context = false;
		f->n++;
	}
}

/* Kinds whose stack copy is only for unwinding (posix_memalign's return
 * reads its result from the copy). */
static bool stack_only_unwinds(enum event_kind k)
{
	return k == KIND_CPU || k == KIND_OFFCPU || k == KIND_IO_ENTER || k == KIND_ALLOC || k == KIND_AGENT_ALLOC;
}

/* A sample's stack copy is cut to the bytes that were stack (the kernel's
 * dyn_size: the 16 KiB copied reach past the top of a process's main
 * stack), and, to shed load when unwinding falls behind, left out: its
 * values and registers are kept, and a stack size of 0 beside registers
 * tells the worker (the kernel writes that only when a record has no room
 * left for any stack, which is as stackless). */
uint32_t record_pieces(const struct event_set *es, const struct perf_event_header *h, bool shed,
		       stack_start_of start_of, void *ctx, struct record_piece *pieces, struct perf_event_header *head,
		       uint64_t *stack_size)
{
	struct sample_view v;
	uint64_t id;
	pieces[0] = (struct record_piece){ h, h->size };
	/* Most samples of most recordings copy no stack: no parsing for them. */
	if (h->type != PERF_RECORD_SAMPLE || h->size < sizeof(*h) + 8)
		return 1;
	memcpy(&id, h + 1, 8);
	const struct event *e = event_set_find(es, id);
	if (!(es->kinds[e ? e->kind : KIND_CPU].sample_type & PERF_SAMPLE_STACK_USER) || !sample_parse(es, h, &v) ||
	    !v.stack)
		return 1;
	/* At least 8 kept: a zero size also drops the dyn_size field. */
	uint64_t keep = v.stack_dyn ? (v.stack_dyn + 7) & ~7ull : 8;
	/* The main thread's copy reaches the arguments and environment: a
	 * margin above the start covers _start's own frame. */
	uint64_t sp = sample_reg(&v, ARCH_REG_SP), start = sp && v.stack_dyn > 256 ? start_of(ctx, v.pid) : 0;
	if (start > sp && start - sp + 64 < keep)
		keep = (start - sp + 64 + 7) & ~7ull;
	shed = shed && v.regs && stack_only_unwinds(v.kind);
	if (shed)
		keep = 0;
	else if (keep >= v.stack_size)
		return 1;
	const uint8_t *base = (const uint8_t *)h;
	size_t stack_at = (size_t)(v.stack - base), tail_at = stack_at + v.stack_size + (shed ? 8 : 0);
	*head = *h;
	head->size = (uint16_t)(stack_at + keep + (h->size - tail_at));
	*stack_size = keep;
	pieces[0] = (struct record_piece){ head, sizeof(*head) };
	pieces[1] = (struct record_piece){ base + sizeof(*h), stack_at - 8 - sizeof(*h) };
	pieces[2] = (struct record_piece){ stack_size, 8 };
	pieces[3] = (struct record_piece){ v.stack, keep };
	pieces[4] = (struct record_piece){ base + tail_at, h->size - tail_at };
	return 5;
}

bool mmap2_parse(const struct perf_event_header *h, struct mmap2_record *out)
{
	struct {
		uint32_t pid, tid;
		uint64_t addr, len, pgoff;
		union {
			struct {
				uint32_t maj, min;
				uint64_t ino, ino_generation;
			};
			struct { /* with PERF_RECORD_MISC_MMAP_BUILD_ID */
				uint8_t build_id_size, reserved1;
				uint16_t reserved2;
				uint8_t build_id[BUILD_ID_MAX];
			};
		};
		uint32_t prot, flags;
	} m;
	if (h->size < sizeof(*h) + sizeof(m) + 1)
		return false;
	memcpy(&m, h + 1, sizeof(m));
	const char *name = (const char *)(h + 1) + sizeof(m);
	size_t max = h->size - sizeof(*h) - sizeof(m);
	size_t len = strnlen(name, max < sizeof(out->path) - 1 ? max : sizeof(out->path) - 1);
	memcpy(out->path, name, len);
	out->path[len] = '\0';
	out->pid = m.pid;
	out->tid = m.tid;
	out->addr = m.addr;
	out->len = m.len;
	out->pgoff = m.pgoff;
	out->prot = m.prot;
	out->build_id[0] = '\0';
	if (h->misc & PERF_RECORD_MISC_MMAP_BUILD_ID)
		hex_string(m.build_id, m.build_id_size < BUILD_ID_MAX ? m.build_id_size : BUILD_ID_MAX, out->build_id,
			   sizeof(out->build_id));
	return true;
}

bool comm_parse(const struct perf_event_header *h, struct comm_record *c)
{
	if (h->size < sizeof(*h) + 9)
		return false;
	memcpy(&c->pid, h + 1, 4);
	memcpy(&c->tid, (const uint8_t *)(h + 1) + 4, 4);
	const char *comm = (const char *)(h + 1) + 8;
	size_t len = strnlen(comm, h->size - sizeof(*h) - 8);
	snprintf(c->comm, sizeof(c->comm), "%.*s", (int)(len < 15 ? len : 15), comm);
	c->exec = h->misc & PERF_RECORD_MISC_COMM_EXEC;
	c->time = 0;
	if (h->size >= sizeof(*h) + 24)
		memcpy(&c->time, (const uint8_t *)h + h->size - 16, 8);
	return true;
}

bool fork_parse(const struct perf_event_header *h, struct fork_record *f)
{
	uint32_t ids[4]; /* pid, ppid, tid, ptid; then the time */
	if (h->size < sizeof(*h) + 24)
		return false;
	memcpy(ids, h + 1, 16);
	memcpy(&f->time, (const uint8_t *)(h + 1) + 16, 8);
	f->pid = ids[0];
	f->ppid = ids[1];
	f->tid = ids[2];
	f->ptid = ids[3];
	return true;
}

bool lost_parse(const struct perf_event_header *h, uint64_t *lost)
{
	/* LOST: id, lost; LOST_SAMPLES: lost. */
	size_t at = h->type == PERF_RECORD_LOST ? 8 : 0;
	if (h->size < sizeof(*h) + at + 8)
		return false;
	memcpy(lost, (const uint8_t *)(h + 1) + at, 8);
	return true;
}
