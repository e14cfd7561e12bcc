/* An agent's ring as a hostile target may leave it (agent/agent.h's
 * layout, every field the input's), read the two ways the reader reads
 * one: mapped from a memfd, and with process_vm_readv; every record it
 * queues is then decoded as the worker would.  The input: a flags byte
 * (bit 0: the ring's slots from tail to head are marked written, so that
 * the slots' own fields are reached; bit 1: read from a memfd, sealed
 * against shrinking as the agent's is), then the ring's bytes (the
 * header's magic, pid and self are set right, the rest is the input's). */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz/fuzz.h"
#include "profiler/profiler-internal.h"

#define RING_ID 1
#define ALLOC_ID 2
#define RING_MAX (1u << 20)

/* The event set of a session's alloc view: the ring marker's registers
 * (address, pid, fd), and the allocated marker's sample, which the slots
 * become: registers and a stack copy. */
static void agent_events(struct event_set *es)
{
	memset(es, 0, sizeof(*es));
	struct perf_event_attr *ring = &es->kinds[KIND_AGENT_RING], *alloc = &es->kinds[KIND_AGENT_ALLOC];
	ring->sample_type = PERF_SAMPLE_IDENTIFIER | PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_REGS_USER;
	ring->sample_regs_user = 1ull << arch_perf_reg(ARCH_REG_ARG0) | 1ull << arch_perf_reg(ARCH_REG_ARG1) |
				 1ull << arch_perf_reg(ARCH_REG_ARG2);
	alloc->sample_type = PERF_SAMPLE_IDENTIFIER | PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME |
			     PERF_SAMPLE_CALLCHAIN | PERF_SAMPLE_REGS_USER | PERF_SAMPLE_STACK_USER;
	alloc->sample_regs_user = arch_unwind_regs_mask() | 1ull << arch_perf_reg(ARCH_REG_ARG3);
	es->kind_on[KIND_AGENT_RING] = es->kind_on[KIND_AGENT_ALLOC] = true;
	struct event *e = vec_push(&es->events, sizeof(*e));
	if (e)
		*e = (struct event){ .id = RING_ID, .kind = KIND_AGENT_RING };
	if ((e = vec_push(&es->events, sizeof(*e))))
		*e = (struct event){ .id = ALLOC_ID, .kind = KIND_AGENT_ALLOC };
}

/* The ring marker's sample: address, pid and fd, in their registers' bit order. */
static void learn(struct agent_rings *rings, uint64_t addr, int fd)
{
	uint64_t regs[3];
	for (enum arch_reg r = ARCH_REG_ARG0; r <= ARCH_REG_ARG2; r++) {
		int below = 0;
		for (enum arch_reg o = ARCH_REG_ARG0; o <= ARCH_REG_ARG2; o++)
			below += arch_perf_reg(o) < arch_perf_reg(r);
		regs[below] = r == ARCH_REG_ARG0 ? addr : r == ARCH_REG_ARG1 ? (uint64_t)getpid() : (uint64_t)(int64_t)fd;
	}
	uint64_t rec[1 + 1 + 1 + 1 + 1 + 3];
	struct perf_event_header h = { .type = PERF_RECORD_SAMPLE, .size = sizeof(rec) };
	memcpy(rec, &h, sizeof(h));
	rec[1] = RING_ID;
	rec[2] = (uint64_t)getpid() << 32 | (uint32_t)getpid();
	rec[3] = 1;
	rec[4] = PERF_SAMPLE_REGS_ABI_64;
	memcpy(&rec[5], regs, sizeof(regs));
	agent_rings_take_marker(rings, (const struct perf_event_header *)rec);
}

static void decode(const struct perf_event_header *h, void *ctx)
{
	struct sample_view v;
	if (sample_parse(ctx, h, &v) && v.stack_size && v.stack)
		(void)v.stack[v.stack_size - 1];
}

static uint64_t time_of(const struct perf_event_header *h, void *ctx)
{
	return record_timestamp(ctx, h);
}

/* Marks the slots from tail to head written, as their threads would. */
static void mark_written(uint8_t *ring, size_t len)
{
	struct agent_ring_header *h = (struct agent_ring_header *)ring;
	uint64_t n = h->head - h->tail;
	if (!h->nslots || n > h->nslots || n > 4096)
		return;
	for (uint64_t t = h->tail; t != h->head; t++) {
		uint64_t at = agent_ring_fields_at(t % h->nslots);
		if (at + sizeof(uint64_t) <= len)
			memcpy(ring + at, &(uint64_t){ t + 1 }, sizeof(uint64_t));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t flags = data[0];
	size_t len = size - 1 > RING_MAX ? RING_MAX : size - 1;
	if (len < sizeof(struct agent_ring_header))
		len = sizeof(struct agent_ring_header);
	int fd = -1;
	uint8_t *ring;
	if (flags & 2) {
		fd = memfd_create("fuzz-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (fd < 0 || ftruncate(fd, (off_t)len) || fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) ||
		    (ring = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
			if (fd >= 0)
				close(fd);
			return 0;
		}
	} else if (!(ring = calloc(1, len))) {
		return 0;
	}
	memcpy(ring, data + 1, size - 1 < len ? size - 1 : len);
	struct agent_ring_header *h = (struct agent_ring_header *)ring;
	h->magic = AGENT_RING_MAGIC;
	h->pid = (uint32_t)getpid();
	h->self = (uint64_t)(uintptr_t)ring;
	if (flags & 1)
		mark_written(ring, len);

	struct event_set es;
	agent_events(&es);
	struct agent_rings rings;
	agent_rings_init(&rings, &es, 0);
	struct record_queue q;
	if (record_queue_init(&q, 4u << 20) == 0) {
		learn(&rings, (uint64_t)(uintptr_t)ring, fd);
		agent_rings_read(&rings, &q);
		if (flags & 1)
			mark_written(ring, len); /* the next round's, after tail moved */
		agent_rings_read(&rings, &q);
		record_queue_close(&q);
		pthread_mutex_t hold = PTHREAD_MUTEX_INITIALIZER;
		struct record_consumer consumer = { decode, time_of, &es, &hold };
		while (record_queue_drain(&q, &consumer, true))
			;
		record_queue_release(&q);
	}
	agent_rings_release(&rings);
	vec_release(&es.events);
	if (fd >= 0) {
		munmap(ring, len);
		close(fd);
	} else {
		free(ring);
	}
	return 0;
}
