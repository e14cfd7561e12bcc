/* Growable arrays, sorting and binary search, and the id index. */
#include <errno.h>
#include <stdlib.h>

#include "base/base.h"

void *vec_push(struct vec *v, size_t elsize)
{
	if (v->count == v->cap) {
		uint32_t cap = v->cap ? v->cap * 2 : 16;
		if (cap > VEC_MAX_COUNT || cap < v->cap)
			return NULL;
		void *data = realloc(v->data, (size_t)cap * elsize);
		if (!data)
			return NULL;
		v->data = data;
		v->cap = cap;
	}
	return (char *)v->data + (size_t)v->count++ * elsize;
}

void *vec_push_n(struct vec *v, size_t elsize, uint32_t n)
{
	if (n > VEC_MAX_COUNT - v->count)
		return NULL;
	if (v->count + n > v->cap) {
		uint32_t cap = v->cap ? v->cap : 16;
		while (cap < v->count + n)
			cap *= 2;
		if (cap > VEC_MAX_COUNT)
			cap = VEC_MAX_COUNT;
		void *data = realloc(v->data, (size_t)cap * elsize);
		if (!data)
			return NULL;
		v->data = data;
		v->cap = cap;
	}
	void *at = (char *)v->data + (size_t)v->count * elsize;
	v->count += n;
	return at;
}

void vec_release(struct vec *v)
{
	free(v->data);
	memset(v, 0, sizeof(*v));
}

uint32_t upper_bound_u64(const void *base, uint32_t n, size_t stride, size_t key_offset, uint64_t x)
{
	uint32_t lo = 0, hi = n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		uint64_t key;
		memcpy(&key, (const char *)base + (size_t)mid * stride + key_offset, sizeof(key));
		if (key <= x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

uint32_t lower_bound_u64(const void *base, uint32_t n, size_t stride, size_t key_offset, uint64_t x)
{
	return x ? upper_bound_u64(base, n, stride, key_offset, x - 1) : 0;
}

#define NEARLY_SORTED_ELEMENT_MAX 64

void sort_nearly_sorted(void *base, uint32_t n, size_t size, int (*cmp)(const void *, const void *))
{
	unsigned char x[NEARLY_SORTED_ELEMENT_MAX], *a = base;
	uint64_t moves = 0, budget = 4 * (uint64_t)n;
	if (size > sizeof(x)) {
		qsort(base, n, size, cmp);
		return;
	}
	for (uint32_t i = 1; i < n; i++) {
		if (cmp(a + (size_t)(i - 1) * size, a + (size_t)i * size) <= 0)
			continue;
		memcpy(x, a + (size_t)i * size, size);
		uint32_t j = i;
		while (j > 0 && cmp(x, a + (size_t)(j - 1) * size) < 0)
			j--;
		memmove(a + (size_t)(j + 1) * size, a + (size_t)j * size, (size_t)(i - j) * size);
		memcpy(a + (size_t)j * size, x, size);
		if ((moves += i - j) > budget) {
			qsort(base, n, size, cmp);
			return;
		}
	}
}

void id_hash_release(struct id_hash *h)
{
	free(h->slots);
	memset(h, 0, sizeof(*h));
}

uint32_t *id_hash_probe(struct id_hash *h, uint64_t hash, id_hash_eq eq, const void *ctx,
			const void *key)
{
	uint32_t mask = h->nslots - 1;
	for (uint32_t i = (uint32_t)hash & mask;; i = (i + 1) & mask) {
		uint32_t *slot = &h->slots[i];
		if (*slot == 0 || eq(ctx, *slot - 1, key))
			return slot;
	}
}

int id_hash_reserve(struct id_hash *h, uint32_t count, id_hash_rehash rehash, const void *ctx)
{
	if (h->nslots && (uint64_t)(count + 1) * 4 < (uint64_t)h->nslots * 3)
		return 0;
	uint32_t nslots = h->nslots ? h->nslots * 2 : 64;
	if (nslots < h->nslots)
		return -ENOMEM;
	uint32_t *slots = calloc(nslots, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (uint32_t i = 0; i < h->nslots; i++) {
		uint32_t id1 = h->slots[i];
		if (!id1)
			continue;
		uint32_t j = (uint32_t)rehash(ctx, id1 - 1) & (nslots - 1);
		while (slots[j])
			j = (j + 1) & (nslots - 1);
		slots[j] = id1;
	}
	free(h->slots);
	h->slots = slots;
	h->nslots = nslots;
	return 0;
}
