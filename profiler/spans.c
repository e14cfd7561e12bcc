/* Pairing the starts and ends of a thread's spans, which come out of order
 * from different CPUs' buffers. */
#include "profiler/profiler-internal.h"

/* Reports every pair that no record still to come can change. */
static void span_match(struct span_pairs *sp, span_done done, void *ctx)
{
	for (;;) {
		if (!sp->nstarts || !sp->nends)
			return;
		uint8_t o = 0;
		for (uint8_t k = 1; k < sp->nstarts; k++)
			if (sp->starts[k].time < sp->starts[o].time)
				o = k;
		/* Ends before the earliest start belong to starts we never saw. */
		uint8_t best = UINT8_MAX;
		for (uint8_t k = 0; k < sp->nends;) {
			if (sp->ends[k].time < sp->starts[o].time) {
				sp->ends[k] = sp->ends[--sp->nends];
				continue;
			}
			if (best == UINT8_MAX || sp->ends[k].time < sp->ends[best].time)
				best = k;
			k++;
		}
		if (best == UINT8_MAX)
			return;
		/* Another start before that end means its end has not come yet. */
		for (uint8_t k = 0; k < sp->nstarts; k++)
			if (k != o && sp->starts[k].time < sp->ends[best].time)
				return;
		done(ctx, &sp->starts[o], &sp->ends[best]);
		sp->starts[o] = sp->starts[--sp->nstarts];
		sp->ends[best] = sp->ends[--sp->nends];
	}
}

/* The index of the oldest of n times (n > 0). */
#define OLDEST(arr, n)                                         \
	({                                                     \
		uint8_t o_ = 0;                                \
		for (uint8_t k_ = 1; k_ < (n); k_++)           \
			if ((arr)[k_].time < (arr)[o_].time)   \
				o_ = k_;                       \
		o_;                                            \
	})

/* Full: the oldest goes, never paired.  (Letting slot 0 go instead kept an
 * orphan start, the oldest, whose end was never recorded, for good where
 * the slots shuffle: it is the earliest, so no later start ever paired.) */
void span_add_start(struct span_pairs *sp, const struct span_start *start, span_done done, void *ctx)
{
	if (sp->nstarts == SPAN_PENDING) {
		uint8_t o = OLDEST(sp->starts, sp->nstarts);
		sp->starts[o] = sp->starts[--sp->nstarts];
	}
	sp->starts[sp->nstarts++] = *start;
	span_match(sp, done, ctx);
}

void span_add_end(struct span_pairs *sp, const struct span_end *end, span_done done, void *ctx)
{
	if (sp->nends == SPAN_PENDING) {
		uint8_t o = OLDEST(sp->ends, sp->nends);
		sp->ends[o] = sp->ends[--sp->nends];
	}
	sp->ends[sp->nends++] = *end;
	span_match(sp, done, ctx);
}

const struct span_start *span_latest_start(const struct span_pairs *sp, uint64_t time)
{
	const struct span_start *latest = NULL;
	for (uint8_t k = 0; k < sp->nstarts; k++)
		if (sp->starts[k].time <= time && (!latest || sp->starts[k].time > latest->time))
			latest = &sp->starts[k];
	return latest;
}
