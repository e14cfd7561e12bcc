/* A bounded single-producer, single-consumer queue of perf records, so that
 * the thread reading the ring buffers only copies, and unwinding happens on
 * another thread (or, for a light load, on the reader between its passes:
 * record_queue_consume_inline).  Records are stored contiguously, each
 * behind an 8-byte length, 8-byte aligned (so that parsing them never reads
 * misaligned). */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "profiler/profiler-internal.h"

#define ALIGN8(n) (((n) + 7) & ~(size_t)7)

int record_queue_init(struct record_queue *q, size_t cap)
{
	memset(q, 0, sizeof(*q));
	q->cap = ALIGN8(cap);
	/* Its pages at once, in huge pages where the kernel has them: records
	 * touch all of the queue within seconds, and a fault a page cost
	 * 45-110 ms of the reader's CPU for 16 MiB on this VM, against 1-3 ms
	 * so (both best effort: else the pages come as they are touched). */
	void *buf = mmap(NULL, q->cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		return -1;
	madvise(buf, q->cap, MADV_HUGEPAGE);
	madvise(buf, q->cap, MADV_POPULATE_WRITE);
	q->buf = buf;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->nonempty, NULL);
	pthread_cond_init(&q->nonfull, NULL);
	return 0;
}

void record_queue_release(struct record_queue *q)
{
	if (!q->buf)
		return;
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->nonempty);
	pthread_cond_destroy(&q->nonfull);
	munmap(q->buf, q->cap);
	vec_release(&q->sorted);
	memset(q, 0, sizeof(*q));
}

bool record_queue_push(struct record_queue *q, const struct record_piece *pieces, uint32_t npieces)
{
	const struct perf_event_header *rec = pieces[0].data;
	size_t need = 8 + ALIGN8(rec->size);
	if (need > q->cap / 2)
		return false;
	/* Only this thread moves write; the consumer only moves read forward,
	 * so room seen here stays room. */
	uint64_t write = q->write;
	size_t off = (size_t)(write % q->cap), tail_room = q->cap - off;
	size_t total = need + (tail_room < need ? tail_room : 0);
	if (q->inline_consumer && q->cap - (size_t)(write - q->read) < total) {
		/* Full, perhaps of records waiting for older ones: handled now. */
		q->pressure = true;
		record_queue_drain(q, q->inline_consumer, false);
		if (q->cap - (size_t)(write - q->read) < total)
			return false;
	}
	if (q->cap - (size_t)(write - __atomic_load_n(&q->read, __ATOMIC_ACQUIRE)) < total) {
		pthread_mutex_lock(&q->lock);
		while (q->cap - (size_t)(write - q->read) < total) {
			/* Full, perhaps of records waiting for older ones: have
			 * them handled now rather than wait forever. */
			q->pressure = true;
			pthread_cond_signal(&q->nonempty);
			if (q->closed) {
				pthread_mutex_unlock(&q->lock);
				return false;
			}
			pthread_cond_wait(&q->nonfull, &q->lock);
		}
		pthread_mutex_unlock(&q->lock);
	}
	if (tail_room < need) {
		uint64_t pad = 0; /* a zero length: the consumer skips to the start */
		memcpy(q->buf + off, &pad, 8);
		write += tail_room;
		off = 0;
	}
	uint64_t len = rec->size;
	memcpy(q->buf + off, &len, 8);
	uint8_t *to = q->buf + off + 8;
	for (uint32_t i = 0; i < npieces; i++) {
		memcpy(to, pieces[i].data, pieces[i].len);
		to += pieces[i].len;
	}
	/* No wakeup: the consumer may only take records older than the next
	 * mark, which wakes it. */
	__atomic_store_n(&q->write, write + need, __ATOMIC_RELEASE);
	return true;
}

size_t record_queue_used(const struct record_queue *q)
{
	return (size_t)(q->write - __atomic_load_n(&q->read, __ATOMIC_ACQUIRE));
}

uint64_t record_queue_written(const struct record_queue *q)
{
	return q->write;
}

uint64_t record_queue_consumed(const struct record_queue *q)
{
	return __atomic_load_n(&q->read, __ATOMIC_ACQUIRE);
}

bool record_queue_crowded(const struct record_queue *q)
{
	return record_queue_used(q) > q->cap / 2;
}

void record_queue_close(struct record_queue *q)
{
	pthread_mutex_lock(&q->lock);
	q->closed = true;
	pthread_cond_broadcast(&q->nonempty);
	pthread_cond_broadcast(&q->nonfull);
	pthread_mutex_unlock(&q->lock);
}

/* A batch's records, by time: each CPU's buffer is in order, but one CPU's
 * records reach us in a batch ahead of another's, and a mapping, a fork or a
 * switch must be seen before the samples that follow it in time. */
struct timed_record {
	uint64_t time;
	uint32_t seq;
	const struct perf_event_header *h;
	uint64_t *len_at;
};

static int timed_cmp(const void *a, const void *b)
{
	const struct timed_record *x = a, *y = b;
	if (x->time != y->time)
		return x->time < y->time ? -1 : 1;
	return (x->seq > y->seq) - (x->seq < y->seq); /* stable */
}

/* A length's top bit marks a record already handled while older ones
 * waited; a zero length is padding to the end of the buffer. */
#define HANDLED (1ull << 63)

/* The record at position *r, moving *r past it (and past the padding a
 * record that did not fit before the end leaves). */
static const struct perf_event_header *next_record(const struct record_queue *q, uint64_t *r, uint64_t **len_at)
{
	size_t off = (size_t)(*r % q->cap);
	uint64_t len;
	memcpy(&len, q->buf + off, 8);
	if (len == 0) {
		*r += q->cap - off;
		off = 0;
		memcpy(&len, q->buf, 8);
	}
	*r += 8 + ALIGN8(len & ~HANDLED);
	*len_at = (uint64_t *)(void *)(q->buf + off);
	return (const struct perf_event_header *)(q->buf + off + 8);
}

void record_queue_mark(struct record_queue *q, uint64_t time)
{
	pthread_mutex_lock(&q->lock);
	q->safe_time = time;
	pthread_cond_signal(&q->nonempty);
	pthread_mutex_unlock(&q->lock);
}

/* Collects the records of [read, write) not yet handled, in time order;
 * false when out of memory. */
static bool collect(struct record_queue *q, uint64_t read, uint64_t write, record_time time_of, void *ctx)
{
	q->sorted.count = 0;
	for (uint64_t r = read; r < write;) {
		uint64_t *len_at;
		const struct perf_event_header *h = next_record(q, &r, &len_at);
		if (*len_at & HANDLED)
			continue;
		struct timed_record *t = vec_push(&q->sorted, sizeof(*t));
		if (!t)
			return false;
		*t = (struct timed_record){ time_of(h, ctx), q->sorted.count, h, len_at };
	}
	/* Each CPU's buffer and each agent's ring come in time order, but for
	 * threads that took their ring slots in one order and their times in
	 * the other (qsort was a twentieth of the reader's CPU on a two-thread
	 * alloc view). */
	sort_nearly_sorted(q->sorted.data, q->sorted.count, sizeof(struct timed_record), timed_cmp);
	return true;
}

void record_queue_consume_inline(struct record_queue *q, const struct record_consumer *c)
{
	q->inline_consumer = c;
}

bool record_queue_drain(struct record_queue *q, const struct record_consumer *c, bool wait)
{
	pthread_mutex_lock(&q->lock);
	while (!q->closed && !q->pressure && __atomic_load_n(&q->write, __ATOMIC_ACQUIRE) == q->scanned &&
	       q->safe_time == q->used_safe_time) {
		if (!wait) {
			pthread_mutex_unlock(&q->lock);
			return true;
		}
		pthread_cond_wait(&q->nonempty, &q->lock);
	}
	uint64_t read = q->read, write = __atomic_load_n(&q->write, __ATOMIC_ACQUIRE), limit = q->safe_time;
	bool all = q->closed || q->pressure, closed = q->closed;
	q->pressure = false;
	q->scanned = write;
	q->used_safe_time = limit;
	pthread_mutex_unlock(&q->lock);
	if (read == write)
		return !closed;
	/* [read, write) is ours until read advances: no queue lock needed.
	 * Records newer than the reader's mark wait: another CPU's buffer may
	 * still hold older ones (all are handled once closed, or when the
	 * queue is full). */
	bool sorted = collect(q, read, write, c->time_of, c->ctx);
	pthread_mutex_lock(c->hold);
	if (!sorted) {
		for (uint64_t r = read; r < write;) { /* out of memory: in queue order */
			uint64_t *len_at;
			const struct perf_event_header *h = next_record(q, &r, &len_at);
			if (!(*len_at & HANDLED))
				c->handle(h, c->ctx);
			*len_at |= HANDLED;
		}
	} else {
		struct timed_record *batch = q->sorted.data;
		for (uint32_t i = 0; i < q->sorted.count && (all || batch[i].time <= limit); i++) {
			c->handle(batch[i].h, c->ctx);
			*batch[i].len_at |= HANDLED;
		}
	}
	pthread_mutex_unlock(c->hold);
	/* Free the handled records at the front. */
	uint64_t r = read;
	while (r < write) {
		uint64_t next = r, *len_at;
		next_record(q, &next, &len_at);
		if (!(*len_at & HANDLED))
			break;
		r = next;
	}
	pthread_mutex_lock(&q->lock);
	__atomic_store_n(&q->read, r, __ATOMIC_RELEASE);
	pthread_cond_signal(&q->nonfull);
	pthread_mutex_unlock(&q->lock);
	return true;
}
