/* The alloc view's sampled allocations not yet freed, by process and
 * address: open addressing with backward-shift deletion, since every free
 * removes one. */
#include <stdlib.h>

#include "profiler/profiler-internal.h"

static uint32_t slot_of(const struct live_allocs *t, uint32_t pid, uint64_t ptr)
{
	/* Allocations are 16-byte aligned: mix the high bits down. */
	uint64_t h = ((ptr >> 4) ^ ((uint64_t)pid << 40)) * 0x9e3779b97f4a7c15ull;
	return (uint32_t)(h >> 32) & (t->nslots - 1);
}

static bool same(const struct live_alloc *a, uint32_t pid, uint64_t ptr)
{
	return a->ptr == ptr && a->pid == pid;
}

static int grow(struct live_allocs *t)
{
	/* Small to start with: a sampled program has tens of sampled blocks
	 * live, and each sample touches one slot at random, which must be in
	 * the cache (the program evicts the reader's lines between passes:
	 * at 1024 slots the put of each sample waited on memory, 7% of the
	 * reader). */
	uint32_t nslots = t->nslots ? t->nslots * 2 : 64;
	if (nslots < t->nslots)
		return -1;
	struct live_alloc *old = t->slots;
	uint32_t old_n = t->nslots;
	if (!(t->slots = calloc(nslots, sizeof(*t->slots)))) {
		t->slots = old;
		return -1;
	}
	t->nslots = nslots;
	t->count = 0;
	for (uint32_t i = 0; i < old_n; i++)
		if (old[i].ptr)
			live_allocs_put(t, &old[i]);
	free(old);
	return 0;
}

int live_allocs_put(struct live_allocs *t, const struct live_alloc *a)
{
	if ((uint64_t)(t->count + 1) * 4 > (uint64_t)t->nslots * 3 && grow(t))
		return -1;
	uint32_t mask = t->nslots - 1, i = slot_of(t, a->pid, a->ptr);
	while (t->slots[i].ptr && !same(&t->slots[i], a->pid, a->ptr))
		i = (i + 1) & mask;
	if (!t->slots[i].ptr)
		t->count++;
	t->slots[i] = *a; /* a free we missed: the newer allocation wins */
	return 0;
}

bool live_allocs_take(struct live_allocs *t, uint32_t pid, uint64_t ptr, struct live_alloc *out)
{
	if (!t->count || !ptr)
		return false;
	uint32_t mask = t->nslots - 1, i = slot_of(t, pid, ptr);
	while (!same(&t->slots[i], pid, ptr)) {
		if (!t->slots[i].ptr)
			return false;
		i = (i + 1) & mask;
	}
	*out = t->slots[i];
	/* Shift back the entries after it that probed past it. */
	for (uint32_t j = (i + 1) & mask; t->slots[j].ptr; j = (j + 1) & mask) {
		uint32_t home = slot_of(t, t->slots[j].pid, t->slots[j].ptr);
		if (((j - home) & mask) >= ((j - i) & mask)) {
			t->slots[i] = t->slots[j];
			i = j;
		}
	}
	t->slots[i].ptr = 0;
	t->count--;
	return true;
}

void live_allocs_release(struct live_allocs *t)
{
	free(t->slots);
	t->slots = NULL;
	t->nslots = t->count = 0;
}
