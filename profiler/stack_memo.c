/* The stack nodes of stacks built before, by their frames: a sample of a
 * call site seen before (an allocation's, a syscall's in a loop) takes its
 * node without a lookup of each frame's mapping, location and node again,
 * which was a seventh of the reader's CPU on alloc_heavy. */
#include <stdlib.h>
#include <string.h>

#include "profiler/profiler-internal.h"

#define SLOTS 512 /* direct-mapped by the frames' hash */

struct stack_memo {
	struct stack_memo_slot {
		uint64_t hash; /* 0: empty */
		pid_t pid;
		uint32_t generation, root, node, n;
		uint64_t ip[STACK_MEMO_FRAMES]; /* a kernel frame's with its top bit flipped */
	} slots[SLOTS];
};

struct stack_memo *stack_memo_new(void)
{
	return calloc(1, sizeof(struct stack_memo));
}

void stack_memo_free(struct stack_memo *m)
{
	free(m);
}

/* A kernel address and a user one never meet in one frame: flipping the top
 * bit of kernel frames' keeps them apart in the key. */
static uint64_t frame_key(const struct frames *f, uint32_t i)
{
	return f->ip[i] ^ ((uint64_t)f->is_kernel[i] << 63);
}

static uint64_t stack_hash(pid_t pid, uint32_t generation, uint32_t root, const struct frames *f)
{
	uint64_t h = hash_u64((uint64_t)(uint32_t)pid << 32 ^ generation) ^ hash_u64((uint64_t)root << 32 ^ f->n);
	for (uint32_t i = 0; i < f->n; i++)
		h = hash_u64(h ^ frame_key(f, i));
	return h | 1;
}

uint32_t stack_memo_find(struct stack_memo *m, pid_t pid, uint32_t generation, uint32_t root, const struct frames *f,
			 uint64_t *hash)
{
	*hash = 0;
	if (!m || f->n == 0 || f->n > STACK_MEMO_FRAMES)
		return PROFILE_NONE;
	*hash = stack_hash(pid, generation, root, f);
	const struct stack_memo_slot *s = &m->slots[*hash % SLOTS];
	if (s->hash != *hash || s->pid != pid || s->generation != generation || s->root != root || s->n != f->n)
		return PROFILE_NONE;
	for (uint32_t i = 0; i < f->n; i++)
		if (s->ip[i] != frame_key(f, i))
			return PROFILE_NONE;
	return s->node;
}

void stack_memo_keep(struct stack_memo *m, pid_t pid, uint32_t generation, uint32_t root, const struct frames *f,
		     uint64_t hash, uint32_t node)
{
	if (!m || !hash)
		return;
	struct stack_memo_slot *s = &m->slots[hash % SLOTS];
	*s = (struct stack_memo_slot){ hash, pid, generation, root, node, f->n, { 0 } };
	for (uint32_t i = 0; i < f->n; i++)
		s->ip[i] = frame_key(f, i);
}

void stack_memo_drop_process(struct stack_memo *m, pid_t pid)
{
	for (uint32_t i = 0; m && i < SLOTS; i++)
		if (m->slots[i].pid == pid)
			m->slots[i].hash = 0;
}
