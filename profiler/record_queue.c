/* A bounded single-producer, single-consumer queue of perf records, so that
 * the thread reading the ring buffers only copies, and unwinding happens on
 * another thread.  Records are stored contiguously, each behind an 8-byte
 * length, 8-byte aligned (so that parsing them never reads misaligned). */
#include <stdlib.h>
#include <string.h>

#include "profiler/profiler-internal.h"

#define ALIGN8(n) (((n) + 7) & ~(size_t)7)

int record_queue_init(struct record_queue *q, size_t cap)
{
	memset(q, 0, sizeof(*q));
	q->cap = ALIGN8(cap);
	q->buf = malloc(q->cap);
	if (!q->buf)
		return -1;
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
	free(q->buf);
	memset(q, 0, sizeof(*q));
}

bool record_queue_push(struct record_queue *q, const struct perf_event_header *rec, bool droppable)
{
	size_t need = 8 + ALIGN8(rec->size);
	if (need > q->cap / 2)
		return false;
	pthread_mutex_lock(&q->lock);
	size_t off, tail_room;
	for (;;) {
		off = (size_t)(q->write % q->cap);
		tail_room = q->cap - off;
		size_t total = need + (tail_room < need ? tail_room : 0);
		if (q->cap - (size_t)(q->write - q->read) >= total)
			break;
		if (droppable || q->closed) {
			pthread_mutex_unlock(&q->lock);
			return false;
		}
		pthread_cond_wait(&q->nonfull, &q->lock);
	}
	if (tail_room < need) {
		uint64_t pad = 0; /* a zero length: the consumer skips to the start */
		memcpy(q->buf + off, &pad, 8);
		q->write += tail_room;
		off = 0;
	}
	uint64_t len = rec->size;
	memcpy(q->buf + off, &len, 8);
	memcpy(q->buf + off + 8, rec, rec->size);
	q->write += need;
	pthread_cond_signal(&q->nonempty);
	pthread_mutex_unlock(&q->lock);
	return true;
}

void record_queue_close(struct record_queue *q)
{
	pthread_mutex_lock(&q->lock);
	q->closed = true;
	pthread_cond_broadcast(&q->nonempty);
	pthread_cond_broadcast(&q->nonfull);
	pthread_mutex_unlock(&q->lock);
}

bool record_queue_drain(struct record_queue *q, record_handler handle, void *ctx, pthread_mutex_t *hold)
{
	pthread_mutex_lock(&q->lock);
	while (q->read == q->write && !q->closed)
		pthread_cond_wait(&q->nonempty, &q->lock);
	uint64_t read = q->read, write = q->write;
	bool closed = q->closed;
	pthread_mutex_unlock(&q->lock);
	if (read == write)
		return !closed;
	/* [read, write) is ours until read advances: no queue lock needed. */
	pthread_mutex_lock(hold);
	while (read < write) {
		size_t off = (size_t)(read % q->cap);
		uint64_t len;
		memcpy(&len, q->buf + off, 8);
		if (len == 0) {
			read += q->cap - off;
			continue;
		}
		handle((const struct perf_event_header *)(q->buf + off + 8), ctx);
		read += 8 + ALIGN8(len);
	}
	pthread_mutex_unlock(hold);
	pthread_mutex_lock(&q->lock);
	q->read = read;
	pthread_cond_signal(&q->nonfull);
	pthread_mutex_unlock(&q->lock);
	return true;
}
