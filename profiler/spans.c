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

void span_add_start(struct span_pairs *sp, const struct span_start *start, span_done done, void *ctx)
{
	if (sp->nstarts == SPAN_PENDING)
		sp->starts[0] = sp->starts[--sp->nstarts]; /* never paired: let it go */
	sp->starts[sp->nstarts++] = *start;
	span_match(sp, done, ctx);
}

void span_add_end(struct span_pairs *sp, const struct span_end *end, span_done done, void *ctx)
{
	if (sp->nends == SPAN_PENDING)
		sp->ends[0] = sp->ends[--sp->nends];
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
