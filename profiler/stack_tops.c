/* Where each process's main-thread stack starts, so that a stack copy of
 * that thread is cut there: above it are the arguments, the environment
 * and the auxiliary vector, which unwinding never reads, and which were
 * most of the 8 or 16 KiB a sample of the main thread copied (a copy of
 * 1-2 KiB unwinds to _start as well).  Read once a process from /proc by
 * the reader's thread; forgotten at exec and exit. */
#include <string.h>

#include "profiler/profiler-internal.h"

struct stack_top {
	pid_t pid;
	bool known;
	uint64_t start; /* 0: not known, or not said */
};

static bool top_eq(const void *ctx, uint32_t id, const void *key)
{
	return ((const struct stack_top *)((const struct stack_tops *)ctx)->tops.data)[id].pid ==
	       *(const pid_t *)key;
}

static uint64_t top_rehash(const void *ctx, uint32_t id)
{
	return hash_u64((uint64_t)((const struct stack_top *)((const struct stack_tops *)ctx)->tops.data)[id].pid);
}

static struct stack_top *top_of(struct stack_tops *t, pid_t pid, bool create)
{
	if (create && id_hash_reserve(&t->index, t->tops.count, top_rehash, t))
		return NULL;
	if (!t->index.nslots)
		return NULL;
	uint32_t *slot = id_hash_probe(&t->index, hash_u64((uint64_t)pid), top_eq, t, &pid);
	if (*slot)
		return (struct stack_top *)t->tops.data + (*slot - 1);
	struct stack_top *top = create ? vec_push(&t->tops, sizeof(*top)) : NULL;
	if (!top)
		return NULL;
	*top = (struct stack_top){ .pid = pid };
	*slot = t->tops.count;
	return top;
}

uint64_t stack_tops_get(struct stack_tops *t, pid_t pid)
{
	struct stack_top *top = top_of(t, pid, true);
	if (!top)
		return 0;
	if (!top->known) {
		top->start = process_start_stack(pid);
		top->known = true;
	}
	return top->start;
}

void stack_tops_forget(struct stack_tops *t, pid_t pid)
{
	struct stack_top *top = top_of(t, pid, false);
	if (top)
		top->known = false;
}

void stack_tops_release(struct stack_tops *t)
{
	id_hash_release(&t->index);
	vec_release(&t->tops);
	memset(t, 0, sizeof(*t));
}
