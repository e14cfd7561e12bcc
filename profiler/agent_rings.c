/* The agents' rings of samples (agent/agent.h): learned from the ring
 * marker's uprobe, read on every pass of the reader, and each slot handed
 * on as the uprobe sample of the allocated marker it stands for (the same
 * event's id and layout), so that the queue, the unwinder and the
 * aggregate treat both alike.  A ring is shared memory we map too (its
 * memfd, opened through /proc), or else read with process_vm_readv.  It is
 * the target's memory: every field is checked before it is used.
 *
 * A mapped ring's stack copies are not copied again: its samples name
 * them in place (SAMPLE_MISC_STACK_AT), and its slots go back to the agent
 * only once the worker has handled them.  Copying them into the queue was
 * a third of the reader's CPU, all of it cache misses (the agent writes
 * them past the cache), for bytes the unwinder mostly never reads. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "profiler/profiler-internal.h"
#include "profiler/unwind.h"

#define RING_STACK_STRIDE_MAX (128u << 10)
#define RING_MAP_MAX (64u << 20)
/* A sample's fields but its stack copy: header, id, ip, tid, time,
 * period, callchain, regs (64 at most), sizes and a stack's place fit. */
#define SLOT_FIELDS_MAX (8 * (8 + 64 + 6))

/* A slot whose ticket was taken and which stays unwritten this long is
 * given up: its thread left the agent midway (a signal handler's longjmp)
 * or is stopped, and would otherwise block the ring, and the order of
 * every record after it, for good. */
#define RING_STUCK_NS 1000000000ull
/* A ring is read when 1/read_fill of it is written, at its last pace.  A
 * mapped ring's slots are lent to the queue's consumer until it has
 * handled them (lent, above).  Drained within the pass (the alloc view
 * alone), a quarter: at an eighth smolder woke twice as often for the
 * same slots, and at a half the agent found its ring full 1-4 times in
 * 4 s of alloc_heavy, against none.  With a worker thread the slots go
 * back a pass late, so about twice the share is the agent's to wait on:
 * an eighth (at a quarter, a 2 s run had 4-29 full-ring waits; at an
 * eighth, 0-1). */
#define RING_READ_FILL_INLINE 4
#define RING_READ_FILL_WORKER 8
/* An idle ring is read at least this often (its pace backs off to it). */
#define RING_IDLE_READ_NS 50000000ull
/* Passes whose slots a mapped ring may have lent to the worker at once
 * (the worker is a pass or two behind): a ring with this many waits. */
#define RING_LENT_PASSES 8

struct agent_ring {
	pid_t pid;
	struct ns_ids ids; /* the numbers its agent writes: its own namespace's */
	uint64_t addr;
	uint8_t *map; /* the ring, mapped here too; NULL: read with process_vm_readv */
	size_t map_len;
	bool exited;  /* read it once more (mapped, it outlives the process), then let go */
	/* Our clock before the last read that left no slot unread: a ticket
	 * taken since is later, and a slot's time is taken after its ticket. */
	uint64_t settled_ns;
	uint64_t stuck_ticket, stuck_since; /* the first unwritten slot (ticket + 1; 0: none), seen since */
	uint64_t read_ns;      /* our clock at the last read (0: none yet) */
	uint64_t read_due_ns; /* how soon it fills 1/read_fill, at its last pace */
	uint64_t read_to;     /* the ticket after the last slot handed on */
	uint64_t waits;       /* the header's count of waits, as last read */
	/* A mapped ring's passes whose slots are lent: given back once the
	 * queue is consumed to queued_to, oldest first. */
	struct lent_slots {
		uint64_t queued_to, tail;
	} lent[RING_LENT_PASSES];
	uint32_t nlent;
};

/* A mapping let go while samples that name their stacks in it are queued. */
struct retired_ring {
	uint8_t *map;
	size_t len;
	uint64_t queued_to;
};

static void forget_ring(struct agent_ring *ring)
{
	if (ring->map)
		munmap(ring->map, ring->map_len);
	ring->map = NULL;
}

/* Forgets a ring whose samples may still be queued: its mapping stays
 * until the worker has handled them (the newest pass lent is queued last). */
static void retire_ring(struct agent_rings *r, struct agent_ring *ring)
{
	if (ring->map && ring->nlent) {
		struct retired_ring *t = vec_push(&r->retired, sizeof(*t));
		if (t) /* else (out of memory) mapped for good, rather than pulled from under the worker */
			*t = (struct retired_ring){ ring->map, ring->map_len, ring->lent[ring->nlent - 1].queued_to };
		ring->map = NULL;
	}
	forget_ring(ring);
	ns_ids_release(&ring->ids);
}

/* Unmaps the retired rings whose samples are all handled (all: consumed
 * is UINT64_MAX). */
static void release_retired(struct agent_rings *r, uint64_t consumed)
{
	struct retired_ring *t = r->retired.data;
	for (uint32_t i = 0; i < r->retired.count;) {
		if (t[i].queued_to > consumed) {
			i++;
			continue;
		}
		munmap(t[i].map, t[i].len);
		t[i] = t[--r->retired.count];
	}
}

void agent_rings_init(struct agent_rings *r, const struct event_set *es, uint64_t since_ns)
{
	memset(r, 0, sizeof(*r));
	r->es = es;
	r->since_ns = since_ns;
	r->read_due_ns = UINT64_MAX;
	r->read_fill = RING_READ_FILL_WORKER;
}

void agent_rings_drained_in_pass(struct agent_rings *r, const struct unwinder *u)
{
	r->read_fill = RING_READ_FILL_INLINE;
	r->prefetch_for = u;
}

static void free_read_buffers(struct agent_rings *r)
{
	free(r->buf);
	free(r->slots);
	free(r->local);
	free(r->remote);
	free(r->record);
	r->record = r->buf = NULL;
	r->slots = NULL;
	r->local = r->remote = NULL;
	r->buf_size = 0;
}

/* Learns an id of the allocated marker's events (ring samples are named by
 * it) and where a slot holds each register its samples have: false if
 * there is no such event. */
static bool learn_alloc_event(struct agent_rings *r)
{
	const struct event *events = r->es->events.data;
	for (uint32_t i = 0; i < r->es->events.count && !r->alloc_id; i++)
		if (events[i].kind == KIND_AGENT_ALLOC)
			r->alloc_id = events[i].id;
	uint64_t mask = r->es->kinds[KIND_AGENT_ALLOC].sample_regs_user;
	r->nreg_words = 0;
	for (unsigned reg = 0; reg < 64; reg++)
		if (mask & (1ull << reg))
			r->reg_words[r->nreg_words++] = (int8_t)arch_agent_ring_word(reg);
	return r->alloc_id != 0;
}

/* After a failed read or write: the process exited, or its memory is no
 * longer the ring's (it exec'd), or our mapping of it is not the ring;
 * else (a read cut short) try again. */
static bool ring_gone(const struct agent_ring *ring)
{
	return ring->map || errno == ESRCH || errno == EFAULT;
}

/* Copies n pieces of the ring, remote[i] into local[i] (total bytes in
 * all): from our mapping of it, or with process_vm_readv.  What is read
 * after is read after these (an acquire). */
static bool ring_read(const struct agent_ring *ring, const struct iovec *local, const struct iovec *remote, uint32_t n,
		      size_t total)
{
	if (!ring->map)
		return process_vm_readv(ring->pid, local, n, remote, n, 0) == (ssize_t)total;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t off = (uint64_t)(uintptr_t)remote[i].iov_base - ring->addr;
		if (off > ring->map_len || remote[i].iov_len > ring->map_len - off)
			return false;
		memcpy(local[i].iov_base, ring->map + off, remote[i].iov_len);
	}
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	return true;
}

static bool read_header(const struct agent_ring *ring, struct agent_ring_header *h)
{
	struct iovec local = { h, sizeof(*h) }, remote = { (void *)(uintptr_t)ring->addr, sizeof(*h) };
	return ring_read(ring, &local, &remote, 1, sizeof(*h));
}

/* Maps the ring's memfd, opened through /proc, if it is the ring at addr
 * (the process may have closed fd, and opened another file under it) and
 * sealed against shrinking: else the target could cut the file under our
 * mapping, and our next read of it would be a SIGBUS.  Populated at once:
 * the agent writes nearly all its pages within a second anyway (3.9 of
 * 4.2 MiB at 512 slots), and their allocation and zeroing are then ours, not its
 * threads': our reads took a fault a slot (a page each) as the agent first
 * wrote them, 2.4 ms of a short recording, about what populating costs. */
static void map_ring(struct agent_ring *ring, int fd)
{
	char dir[64], path[96];
	struct stat st;
	if (fd < 0)
		return;
	proc_dir(ring->pid, dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/fd/%d", dir, fd);
	int mine = open(path, O_RDWR | O_CLOEXEC);
	if (mine < 0)
		return;
	int seals = fcntl(mine, F_GET_SEALS);
	if (seals >= 0 && (seals & F_SEAL_SHRINK) && fstat(mine, &st) == 0 && S_ISREG(st.st_mode) &&
	    st.st_size >= (off_t)sizeof(struct agent_ring_header) && st.st_size <= (off_t)RING_MAP_MAX) {
		void *m = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, mine, 0);
		if (m != MAP_FAILED) {
			ring->map = m;
			ring->map_len = (size_t)st.st_size;
		}
	}
	close(mine);
	struct agent_ring_header h;
	if (ring->map && !(read_header(ring, &h) && h.self == ring->addr && h.magic == AGENT_RING_MAGIC))
		forget_ring(ring);
}

static bool header_sane(const struct agent_ring_header *h, pid_t pid)
{
	return h->magic == AGENT_RING_MAGIC && h->pid == (uint32_t)pid && h->nslots && h->nslots <= 4096 &&
	       h->stack_size <= AGENT_RING_STACK_MAX && h->stack_stride >= h->stack_size &&
	       h->stack_stride <= RING_STACK_STRIDE_MAX && h->head - h->tail <= h->nslots;
}

/* Where a ticket's slot fields, and its stack copy, are (agent.h); nslots
 * and stack_stride checked by header_sane: the sums cannot overflow. */
static uint64_t slot_addr(const struct agent_ring *ring, const struct agent_ring_header *h, uint64_t ticket)
{
	return ring->addr + agent_ring_fields_at(ticket % h->nslots);
}

static uint64_t stack_addr(const struct agent_ring *ring, const struct agent_ring_header *h, uint64_t ticket)
{
	return ring->addr + agent_ring_copy_at(h->nslots, h->stack_stride, ticket % h->nslots);
}

bool agent_rings_take_marker(struct agent_rings *r, const struct perf_event_header *h)
{
	uint64_t id;
	/* Every record comes by: those of recordings without the agent, at
	 * the cost of a load. */
	if (!r->es->kind_on[KIND_AGENT_RING] || h->type != PERF_RECORD_SAMPLE || h->size < sizeof(*h) + 8)
		return false;
	memcpy(&id, h + 1, 8);
	const struct event *e = event_set_find(r->es, id);
	if (!e || (e->kind != KIND_AGENT_RING && e->kind != KIND_AGENT_ALLOC))
		return false;
	struct sample_view v;
	if (!sample_parse(r->es, h, &v))
		return e->kind == KIND_AGENT_RING;
	if (e->kind == KIND_AGENT_ALLOC) {
		r->trapped++;
		return false;
	}
	uint64_t addr = sample_reg(&v, ARCH_REG_ARG0);
	if (!addr)
		return true;
	/* One ring a process: the newest (a process that exec'd made another);
	 * a full ring's agent calls the marker again, to wake us. */
	struct agent_ring *rings = r->rings.data, *ring = NULL;
	for (uint32_t i = 0; i < r->rings.count && !ring; i++)
		if (rings[i].pid == (pid_t)v.pid)
			ring = &rings[i];
	if (ring && ring->addr == addr && !ring->exited)
		return true;
	/* A new ring names its process as the process knows itself. */
	struct ns_ids ids;
	ns_ids_init(&ids, (pid_t)v.pid);
	if (sample_reg(&v, ARCH_REG_ARG1) != (uint64_t)ids.own_pid)
		return true;
	if (ring)
		retire_ring(r, ring);
	else if (!(ring = vec_push(&r->rings, sizeof(*ring))))
		return true; /* out of memory: its samples come through the marker once it is full */
	*ring = (struct agent_ring){ .pid = (pid_t)v.pid, .ids = ids, .addr = addr };
	map_ring(ring, (int)sample_reg(&v, ARCH_REG_ARG2));
	r->rings_seen++;
	r->rings_mapped += ring->map != NULL;
	return true;
}

void agent_rings_exited(struct agent_rings *r, pid_t pid)
{
	struct agent_ring *rings = r->rings.data;
	for (uint32_t i = 0; i < r->rings.count; i++)
		if (rings[i].pid == pid)
			rings[i].exited = true;
}

/* Starts fetching the fields of a mapped ring's slots from ticket `from`
 * on, read next: the agent wrote them past the caches, and each would
 * otherwise be waited for in turn (a tenth of the reader's time). */
static void prefetch_slots(const struct agent_ring *ring, const struct agent_ring_header *h, uint64_t from,
			   uint32_t n)
{
	if (!ring->map)
		return;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t off = slot_addr(ring, h, from + i) - ring->addr;
		if (off > ring->map_len || sizeof(struct agent_ring_slot) > ring->map_len - off)
			return;
		for (size_t b = 0; b < sizeof(struct agent_ring_slot); b += 64)
			__builtin_prefetch(ring->map + off + b);
	}
}

/* The seq and time of n slots from ticket `from` on (n <= RING_READ_SLOTS),
 * side by side at each slot's start, into heads. */
static bool read_slot_heads(struct agent_rings *r, const struct agent_ring *ring, const struct agent_ring_header *h,
			    uint64_t from, uint32_t n, uint64_t heads[][2])
{
	_Static_assert(offsetof(struct agent_ring_slot, time) == 8, "a slot starts with its seq and time");
	for (uint32_t i = 0; i < n; i++) {
		r->local[i] = (struct iovec){ heads[i], sizeof(heads[i]) };
		r->remote[i] = (struct iovec){ (void *)(uintptr_t)slot_addr(ring, h, from + i), sizeof(heads[i]) };
	}
	return ring_read(ring, r->local, r->remote, n, n * sizeof(heads[0]));
}

/* How many slots from ticket `from` on are written whole (their seq says so). */
static uint32_t written_slots(struct agent_rings *r, const struct agent_ring *ring, const struct agent_ring_header *h,
			      uint64_t from, uint32_t n)
{
	uint64_t heads[RING_READ_SLOTS][2];
	if (!n)
		return 0;
	prefetch_slots(ring, h, from, n);
	if (!read_slot_heads(r, ring, h, from, n, heads))
		return 0;
	uint32_t c = 0;
	while (c < n && heads[c][0] == from + c + 1)
		c++;
	return c;
}

/* The oldest time the ring's unread slots, from ticket `from` to head,
 * may hold, when all are written: the oldest of theirs, or `before` (read
 * before the header: a ticket taken since is stamped later).  0 when one
 * is not written yet, whose time is not known.  A ring the queue has no
 * room to read on from then holds the queue's mark back no more than its
 * own slots do: else the queue stayed full of samples younger than the
 * mark, and the rings unread for want of its room, until the agent's
 * threads gave up waiting (a forked child's and its parent's rings).
 * head - from is at most nslots (header_sane, and read_to within). */
static uint64_t unread_floor(struct agent_rings *r, const struct agent_ring *ring, const struct agent_ring_header *h,
			     uint64_t from, uint64_t before)
{
	uint64_t floor = before, heads[RING_READ_SLOTS][2];
	while (from != h->head) {
		uint32_t n = h->head - from < RING_READ_SLOTS ? (uint32_t)(h->head - from) : RING_READ_SLOTS;
		if (!read_slot_heads(r, ring, h, from, n, heads))
			return 0;
		for (uint32_t i = 0; i < n; i++) {
			if (heads[i][0] != from + i + 1)
				return 0;
			if (heads[i][1] < floor)
				floor = heads[i][1];
		}
		from += n;
	}
	return floor;
}

/* Reads n written slots from ticket `from` on: their fields into
 * r->slots, then (a ring we do not map) the stack bytes each holds, not
 * the whole slot, one after another into r->buf. */
static bool read_slots(struct agent_rings *r, const struct agent_ring *ring, const struct agent_ring_header *h,
		       uint64_t from, uint32_t n)
{
	size_t want = n * sizeof(*r->slots);
	for (uint32_t i = 0; i < n; i++) {
		r->local[i] = (struct iovec){ &r->slots[i], sizeof(*r->slots) };
		r->remote[i] = (struct iovec){ (void *)(uintptr_t)slot_addr(ring, h, from + i), sizeof(*r->slots) };
	}
	if (!ring_read(ring, r->local, r->remote, n, want))
		return false;
	/* The lengths are the target's word: each cut to the slot's room
	 * before the buffer is sized by their sum. */
	size_t total = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (r->slots[i].stack_len > h->stack_size)
			r->slots[i].stack_len = h->stack_size;
		total += r->slots[i].stack_len;
	}
	if (ring->map)
		return true;
	if (total > r->buf_size) {
		uint8_t *b = realloc(r->buf, total);
		if (!b)
			return false;
		r->buf = b;
		r->buf_size = total;
	}
	size_t at = 0;
	for (uint32_t i = 0; i < n; i++) {
		const struct agent_ring_slot *s = &r->slots[i];
		r->local[i] = (struct iovec){ r->buf + at, s->stack_len };
		r->remote[i] = (struct iovec){ (void *)(uintptr_t)stack_addr(ring, h, from + i), s->stack_len };
		at += s->stack_len;
	}
	return ring_read(ring, r->local, r->remote, n, at);
}

/* Where the stack bytes of the slot read i-th from ticket `from` are: in
 * our mapping of the ring, where the worker reads them (the slot is the
 * agent's again only once tail moves past it, and a target that writes it
 * meanwhile changes only the bytes, not how many are read); NULL if the
 * ring's word puts them outside it. */
static const uint8_t *mapped_stack(const struct agent_rings *r, const struct agent_ring *ring,
				   const struct agent_ring_header *h, uint64_t from, uint32_t i)
{
	uint64_t off = stack_addr(ring, h, from + i) - ring->addr;
	if (off > ring->map_len || r->slots[i].stack_len > ring->map_len - off)
		return NULL;
	return ring->map + off;
}

/* A mapped ring's hints, after its slots; NULL if the ring has none where
 * its header says, or not AGENT_RING_HINTS of them. */
static struct agent_ring_hint *mapped_hints(const struct agent_ring *ring, const struct agent_ring_header *h)
{
	uint64_t off = agent_ring_hints_at(h->nslots, h->stack_stride);
	if (!ring->map || h->nhints != AGENT_RING_HINTS || off > ring->map_len ||
	    ring->map_len - off < AGENT_RING_HINTS * sizeof(struct agent_ring_hint))
		return NULL;
	return (struct agent_ring_hint *)(ring->map + off);
}

/* The sample the allocated marker's uprobe would have written, from a
 * slot: the fields its event's sample_type names, in perf's order, as
 * pieces for the queue (the stack copy is not copied again here; left out
 * when NULL; named, not copied, with the ring's hints, when in_place),
 * its thread tid as we number it.  Returns the number of pieces. */
static uint32_t slot_pieces(struct agent_rings *r, pid_t pid, pid_t tid, const struct agent_ring_slot *s,
			    const uint8_t *stack, bool in_place, struct agent_ring_hint *hints, struct record_piece *pieces)
{
	const struct perf_event_attr *attr = &r->es->kinds[KIND_AGENT_ALLOC];
	uint8_t *p = r->record + sizeof(struct perf_event_header);
#define PUT(v)                          \
	do {                            \
		uint64_t x_ = (v);      \
		memcpy(p, &x_, 8);      \
		p += 8;                 \
	} while (0)
	PUT(r->alloc_id);
	if (attr->sample_type & PERF_SAMPLE_IP)
		PUT(s->regs[AGENT_REG_IP]);
	if (attr->sample_type & PERF_SAMPLE_TID)
		PUT((uint64_t)(uint32_t)tid << 32 | (uint32_t)pid);
	if (attr->sample_type & PERF_SAMPLE_TIME)
		PUT(s->time);
	if (attr->sample_type & PERF_SAMPLE_PERIOD)
		PUT(1);
	if (attr->sample_type & PERF_SAMPLE_CALLCHAIN)
		PUT(0); /* user frames come from the stack, as for the uprobe's */
	if (attr->sample_type & PERF_SAMPLE_REGS_USER) {
		PUT(PERF_SAMPLE_REGS_ABI_64);
		for (uint32_t i = 0; i < r->nreg_words; i++) {
			int w = r->reg_words[i];
			PUT(w < 0 ? 0 : w < AGENT_RING_REGS ? s->regs[w] : s->args[w - AGENT_RING_REGS]);
		}
	}
	uint32_t n = 1;
	size_t after = 0; /* bytes of the pieces after the first */
	bool shed = !stack, at = stack && in_place && (attr->sample_type & PERF_SAMPLE_STACK_USER);
	if (at) {
		PUT(32);
		PUT((uint64_t)(uintptr_t)stack);
		PUT(s->stack_len);
		PUT((uint64_t)(uintptr_t)hints);
		PUT((hints ? AGENT_RING_HINTS : 0) | (uint64_t)s->sparse << 32);
		PUT(s->stack_len);
	} else if (attr->sample_type & PERF_SAMPLE_STACK_USER) {
		/* The record's size is 16 bits: the copy is cut to fit.  Like the
		 * uprobe's sample, it keeps 8 bytes at least, or (shed) none, and
		 * then no dyn_size either. */
		size_t room = 65528 - (size_t)(p - r->record) - 16;
		uint64_t len = shed ? 0 : s->stack_len > room ? room & ~7ull : s->stack_len;
		uint64_t size = shed ? 0 : len ? (len + 7) & ~7ull : 8;
		PUT(size);
		if (size) {
			pieces[n++] = (struct record_piece){ stack, len };
			pieces[n++] = (struct record_piece){ r->zeros, size - len };
			r->dyn_size = len;
			pieces[n++] = (struct record_piece){ &r->dyn_size, 8 };
			after = size + 8;
		}
	}
#undef PUT
	struct perf_event_header *h = (struct perf_event_header *)r->record;
	h->type = PERF_RECORD_SAMPLE;
	h->misc = PERF_RECORD_MISC_USER | (at ? SAMPLE_MISC_STACK_AT : 0);
	h->size = (uint16_t)((size_t)(p - r->record) + after);
	pieces[0] = (struct record_piece){ r->record, (size_t)(p - r->record) };
	return n;
}

/* The hint's words for an unwind's reads (the stack's as offsets from sp,
 * the registers' as where a slot holds them); 0 if they cannot be told:
 * too many, off the copy, or a register the slot has not (one it reads as
 * 0 is always 0, and is left out). */
static uint32_t hint_words(const struct sample_view *v, const struct unwind_result *r, uint64_t sp,
			   struct agent_hint_word *words)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < r->nreads; i++) {
		uint64_t where = r->reads[i].where, value = r->reads[i].value;
		if (where & UNWIND_READ_REG) {
			/* Its place in the sample's registers: the place-th of the mask's bits. */
			uint64_t place = where & ~UNWIND_READ_REG, mask = v->regs_mask;
			for (uint64_t k = 0; k < place && mask; k++)
				mask &= mask - 1;
			int w = mask ? arch_agent_ring_word((unsigned)__builtin_ctzll(mask)) : -1;
			if (w < 0 && value == 0)
				continue;
			if (w < 0)
				return 0;
			where = AGENT_HINT_REG | (uint64_t)w;
		} else if (where < sp || where - sp >= v->stack_dyn) {
			return 0;
		} else {
			where -= sp;
		}
		if (n == AGENT_HINT_WORDS)
			return 0;
		words[n++] = (struct agent_hint_word){ where, value };
	}
	return n;
}

/* The hint a slot's sparse names, and the seq's bits it holds (agent.h). */
static uint32_t named_hint(const struct sample_view *v, uint64_t sp, uint32_t *seq_bits)
{
	*seq_bits = v->agent_sparse >> 4;
	return agent_ring_hint_index(sp) + (v->agent_sparse >> 2 & (AGENT_HINT_WAYS - 1));
}

static bool origin_is(const struct agent_hint_origin *o, uint32_t seq_bits)
{
	return o->seq && (uint32_t)(o->seq >> 1) << 4 >> 4 == seq_bits;
}

void agent_hint_known(const struct sample_view *v, const struct agent_hint_origin *origins, struct unwind_known *k)
{
	*k = (struct unwind_known){ 0, 0 };
	if (!origins || !v->agent_hints || !(v->agent_sparse & AGENT_SPARSE_NAMED))
		return;
	uint32_t seq_bits, i = named_hint(v, sample_reg(v, ARCH_REG_SP), &seq_bits);
	if (origin_is(&origins[i], seq_bits))
		*k = (struct unwind_known){ origins[i].memo, origins[i].memo_stamp };
}

void agent_hint_publish(const struct sample_view *v, const struct unwind_result *r, struct agent_hint_origin *origins)
{
	/* Called for every DWARF sample: nothing but these tests for most. */
	if (!v->agent_hints || v->agent_nhints != AGENT_RING_HINTS || !r->reads || !origins)
		return; /* none, or no unwind to tell */
	if (v->agent_sparse) {
		/* It holds for this stack already: what it was published from
		 * is this unwind's memo now, if the slot says which it is (the
		 * memo it came from may have been let go).  Unwound from the
		 * origin itself (r->known), there is nothing to tell. */
		if (r->known)
			return;
		uint32_t seq_bits, i = named_hint(v, sample_reg(v, ARCH_REG_SP), &seq_bits);
		if ((v->agent_sparse & AGENT_SPARSE_NAMED) && origin_is(&origins[i], seq_bits))
			origins[i].memo = r->memo, origins[i].memo_stamp = r->memo_stamp;
		return;
	}
	struct agent_hint_word words[AGENT_HINT_WORDS];
	uint64_t ip = sample_reg(v, ARCH_REG_IP), sp = sample_reg(v, ARCH_REG_SP);
	uint32_t n = hint_words(v, r, sp, words);
	if (!n)
		return;
	/* A stack a way of its set holds already is left alone; a new one goes
	 * into a free way, or one at random (the words' own hash). */
	uint32_t first = agent_ring_hint_index(sp);
	struct agent_ring_hint *set = &v->agent_hints[first], *h = NULL;
	for (uint32_t w = 0; w < AGENT_HINT_WAYS; w++) {
		struct agent_ring_hint *way = &set[w];
		if (way->seq && !(way->seq & 1) && way->ip == ip && way->sp == sp && way->stack_len == v->stack_dyn &&
		    way->nwords == n && memcmp(way->words, words, n * sizeof(*words)) == 0) {
			origins[first + w] = (struct agent_hint_origin){ way->seq, r->memo, r->memo_stamp };
			return;
		}
		if (!h && !way->seq)
			h = way;
	}
	if (!h) {
		uint64_t mix = 0;
		for (uint32_t i = 0; i < n; i++)
			mix = hash_u64(mix ^ words[i].value);
		h = &set[mix % AGENT_HINT_WAYS];
	}
	uint64_t seq = (__atomic_load_n(&h->seq, __ATOMIC_RELAXED) + 1) | 1;
	__atomic_store_n(&h->seq, seq, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	__atomic_store_n(&h->ip, ip, __ATOMIC_RELAXED);
	__atomic_store_n(&h->sp, sp, __ATOMIC_RELAXED);
	__atomic_store_n(&h->stack_len, (uint32_t)v->stack_dyn, __ATOMIC_RELAXED);
	__atomic_store_n(&h->nwords, n, __ATOMIC_RELAXED);
	for (uint32_t i = 0; i < n; i++) {
		__atomic_store_n(&h->words[i].where, words[i].where, __ATOMIC_RELAXED);
		__atomic_store_n(&h->words[i].value, words[i].value, __ATOMIC_RELAXED);
	}
	__atomic_store_n(&h->seq, seq + 1, __ATOMIC_RELEASE);
	origins[h - v->agent_hints] = (struct agent_hint_origin){ seq + 1, r->memo, r->memo_stamp };
}

/* Tells the agent the slots before tail are read, and that we live. */
static bool give_back(const struct agent_ring *ring, uint64_t tail, uint64_t now)
{
	if (ring->map) {
		struct agent_ring_header *h = (struct agent_ring_header *)ring->map;
		__atomic_store_n(&h->tail, tail, __ATOMIC_RELEASE);
		__atomic_store_n(&h->read_ns, now, __ATOMIC_RELEASE);
		return true;
	}
	uint64_t back[2] = { tail, now };
	struct iovec from = { back, sizeof(back) },
		     to = { (void *)(uintptr_t)(ring->addr + offsetof(struct agent_ring_header, tail)), sizeof(back) };
	return process_vm_writev(ring->pid, &from, 1, &to, 1, 0) == (ssize_t)sizeof(back) || !ring_gone(ring);
}

/* How many slots the queue has room for now, keeping a quarter of it for
 * the kernel's buffers: the others wait in the ring, whose agent then
 * waits for room (ring.c), rather than crowd the queue into shedding.  But
 * the ring whose unread slots are the oldest holds the queue's mark back:
 * the queue may be full of younger records that wait for them, and it
 * reads into the quarter (a forked child's ring and its parent's, each
 * waiting on the other's, stalled their threads seconds long). */
static uint32_t slots_with_room(const struct record_queue *q, const struct agent_ring *ring,
				const struct agent_ring_header *h, bool holds_mark)
{
	if (ring->nlent == RING_LENT_PASSES)
		return 0;
	size_t used = record_queue_used(q), keep = holds_mark ? 0 : q->cap / 4,
	       per_slot = 8 + SLOT_FIELDS_MAX + (ring->map ? 0 : h->stack_size);
	if (used + keep >= q->cap)
		return 0;
	size_t n = (q->cap - keep - used) / per_slot;
	return n < RING_READ_SLOTS ? (uint32_t)n : RING_READ_SLOTS;
}

/* The first unread slot, at ticket, is unwritten: true once it has been
 * for RING_STUCK_NS (then it is skipped). */
static bool stuck(struct agent_ring *ring, uint64_t ticket, uint64_t now)
{
	if (ring->stuck_ticket != ticket + 1) {
		ring->stuck_ticket = ticket + 1;
		ring->stuck_since = now;
		return false;
	}
	return now - ring->stuck_since >= RING_STUCK_NS;
}

/* How soon ring is due again, having found want slots written at now
 * (nslots checked by header_sane: the product cannot overflow). */
static uint64_t next_read_due(const struct agent_ring *ring, uint32_t fill, uint64_t now, uint32_t want,
			      uint32_t nslots)
{
	uint64_t last = ring->read_due_ns;
	if (!ring->read_ns)
		return 0; /* a new ring, its pace not known yet: soon again */
	if (!want) /* idle: back off, doubling, to RING_IDLE_READ_NS */
		return last >= RING_IDLE_READ_NS ? last : last ? 2 * last : 1000000;
	/* At the pace since the last read, slowing at most by half in a pass. */
	uint64_t due = (now - ring->read_ns) * (nslots / fill) / want,
		 latest = last ? 2 * last : RING_IDLE_READ_NS;
	return due < latest ? due : latest;
}

/* Ends the loan of every pass whose records the queue's consumer has
 * handled, oldest first: false if none, else *tail is past the last. */
static bool end_loans(struct agent_ring *ring, uint64_t consumed, uint64_t *tail)
{
	uint32_t done = 0;
	while (done < ring->nlent && ring->lent[done].queued_to <= consumed)
		*tail = ring->lent[done++].tail;
	memmove(ring->lent, ring->lent + done, (ring->nlent - done) * sizeof(*ring->lent));
	ring->nlent -= done;
	return done > 0;
}

/* The tail to give the agent, the slots from `from` to read_to just
 * queued: all it wrote (a ring we do not map: the stacks were copied), or
 * (the slots are lent) past those of every pass whose records the worker
 * has handled; else its tail as it is. */
static uint64_t tail_to_give(struct agent_ring *ring, const struct record_queue *q, uint64_t from, uint64_t tail)
{
	if (!ring->map)
		return ring->read_to;
	if (ring->read_to != from && ring->nlent < RING_LENT_PASSES)
		ring->lent[ring->nlent++] = (struct lent_slots){ record_queue_written(q), ring->read_to };
	end_loans(ring, record_queue_consumed(q), &tail);
	return tail;
}

/* Reads one ring's written slots, hands them on, and gives back those
 * handled (a ring we do not map: all, its stacks copied); false when the
 * ring is gone (the process exited or exec'd, and all it wrote is read). */
static bool read_ring(struct agent_rings *r, struct agent_ring *ring, struct record_queue *q, bool holds_mark)
{
	struct agent_ring_header h;
	uint64_t before = monotonic_ns();
	errno = 0;
	if (!read_header(ring, &h))
		return !ring_gone(ring);
	if (!header_sane(&h, ring->ids.own_pid))
		return false;
	/* Counted from our first read: the ring may be an earlier recording's. */
	if (ring->read_ns && h.waits > ring->waits)
		r->waits += h.waits - ring->waits;
	ring->waits = h.waits;
	/* Read on from where we are, unless the ring's tail says otherwise (a
	 * ring new to us, read by an earlier recording, or a hostile target). */
	if (ring->read_to - h.tail > h.head - h.tail)
		ring->read_to = h.tail;
	uint64_t from = ring->read_to;
	uint32_t want = (uint32_t)(h.head - from), room = slots_with_room(q, ring, &h, holds_mark);
	uint32_t n = written_slots(r, ring, &h, from, want < room ? want : room);
	if (n && !read_slots(r, ring, &h, from, n))
		return !ring_gone(ring);
	ring->read_due_ns = next_read_due(ring, r->read_fill, before, want, h.nslots);
	if (ring->read_due_ns < r->read_due_ns)
		r->read_due_ns = ring->read_due_ns;
	ring->read_ns = before;
	struct agent_ring_hint *hints = mapped_hints(ring, &h);
	size_t copied = 0; /* bytes of r->buf before slot i's */
	for (uint32_t i = 0; i < n; i++) {
		const struct agent_ring_slot *s = &r->slots[i];
		const uint8_t *copy = r->buf + copied; /* a ring we do not map: its stack, read */
		copied += s->stack_len;
		if (s->time < r->since_ns) { /* an earlier recording's, never given back */
			r->stale++;
			continue;
		}
		const uint8_t *stack = ring->map ? mapped_stack(r, ring, &h, from, i) : copy;
		struct record_piece pieces[4];
		/* No stack: outside the ring, as its header tells. */
		uint32_t np = slot_pieces(r, ring->pid, ns_ids_our_tid(&ring->ids, (pid_t)s->tid), s, stack,
					  ring->map != NULL, hints, pieces);
		/* A stack that names the hint it matched is not read again. */
		if (ring->map && stack && r->prefetch_for && !(s->sparse & AGENT_SPARSE_NAMED))
			unwind_prefetch(r->prefetch_for, ring->pid, s->regs[AGENT_REG_IP], s->regs[AGENT_REG_SP], stack,
					s->stack_len);
		if (!record_queue_push(q, pieces, np))
			r->dropped++;
		r->samples++;
		r->sparse += s->sparse != 0;
	}
	ring->read_to += n;
	if (!n && want && room && stuck(ring, ring->read_to, before)) {
		ring->read_to++; /* its writer, if it ever comes back, writes a slot we no longer read */
		r->dropped++;
	}
	if (ring->read_to == h.head) {
		ring->settled_ns = before;
	} else {
		uint64_t floor = unread_floor(r, ring, &h, ring->read_to, before);
		if (floor > ring->settled_ns)
			ring->settled_ns = floor;
	}
	/* A process gone writes no more: what is unwritten now never will be. */
	return give_back(ring, tail_to_give(ring, q, from, h.tail), before) &&
	       !(ring->exited && (ring->read_to == h.head || n < room));
}

void agent_rings_read(struct agent_rings *r, struct record_queue *q)
{
	r->settled_ns = UINT64_MAX;
	r->read_due_ns = UINT64_MAX;
	release_retired(r, record_queue_consumed(q));
	if (!r->rings.count)
		return;
	if (!r->record) {
		/* The stack buffer starts at one slot's most, and grows. */
		r->record = malloc(SLOT_FIELDS_MAX);
		r->slots = calloc(RING_READ_SLOTS, sizeof(*r->slots));
		r->local = calloc(RING_READ_SLOTS, sizeof(*r->local));
		r->remote = calloc(RING_READ_SLOTS, sizeof(*r->remote));
		r->buf = malloc(r->buf_size = AGENT_RING_STACK_MAX);
		if (!r->record || !r->slots || !r->local || !r->remote || !r->buf) {
			free_read_buffers(r);
			return;
		}
	}
	if (!r->alloc_id && !learn_alloc_event(r))
		return;
	struct agent_ring *rings = r->rings.data;
	uint32_t oldest = 0;
	for (uint32_t i = 1; i < r->rings.count; i++)
		if (rings[i].settled_ns < rings[oldest].settled_ns)
			oldest = i;
	uint64_t oldest_settled = rings[oldest].settled_ns;
	for (uint32_t i = 0; i < r->rings.count;) {
		if (read_ring(r, &rings[i], q, rings[i].settled_ns == oldest_settled)) {
			if (rings[i].settled_ns < r->settled_ns)
				r->settled_ns = rings[i].settled_ns;
			i++;
			continue;
		}
		retire_ring(r, &rings[i]);
		rings[i] = rings[--r->rings.count];
	}
}

void agent_rings_give_back_handled(struct agent_rings *r, const struct record_queue *q)
{
	uint64_t consumed = record_queue_consumed(q), tail;
	release_retired(r, consumed);
	struct agent_ring *rings = r->rings.data;
	for (uint32_t i = 0; i < r->rings.count; i++)
		if (rings[i].map && end_loans(&rings[i], consumed, &tail))
			give_back(&rings[i], tail, monotonic_ns());
}

void agent_rings_give_back_all(struct agent_rings *r)
{
	struct agent_ring *rings = r->rings.data;
	for (uint32_t i = 0; i < r->rings.count; i++) {
		if (rings[i].map && rings[i].nlent)
			give_back(&rings[i], rings[i].read_to, monotonic_ns());
		rings[i].nlent = 0;
	}
}

void agent_rings_release(struct agent_rings *r)
{
	agent_rings_give_back_all(r);
	struct agent_ring *rings = r->rings.data;
	for (uint32_t i = 0; i < r->rings.count; i++) {
		forget_ring(&rings[i]);
		ns_ids_release(&rings[i].ids);
	}
	vec_release(&r->rings);
	release_retired(r, UINT64_MAX);
	vec_release(&r->retired);
	free_read_buffers(r);
	memset(r, 0, sizeof(*r));
}
