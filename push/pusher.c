/* The pusher: the recorder's side queues, a thread of its own delivers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pthread.h>

#include "push/push-internal.h"

#define FIRST_BACKOFF_NS 500000000ull

struct pusher {
	struct push_options o;
	pthread_mutex_t lock;
	pthread_cond_t wake;    /* the thread: something to send, or stop */
	pthread_cond_t settled; /* drain: the queue changed */
	pthread_t thread;
	bool thread_running;
	volatile int stop;
	struct outbox outbox;
	uint64_t sending;       /* seq of the request being sent, 0 if none */
	uint64_t retry_at;      /* monotonic ns: no attempt before */
	uint64_t backoff_ns;
	/* What failed last: the HTTP status, or minus the transport's error.
	 * The text cannot tell, as curl's says how many ms the attempt took. */
	long failure_kind;
	struct push_stats stats;
	struct http_client *http;
};

static const char *const push_messages[] = {
#define PUSH_ERROR(name, msg) msg,
	PUSH_ERRORS
#undef PUSH_ERROR
};

void push_set_error(struct push_error *err, enum push_errcode code, int sys_errno, const char *what)
{
	err->code = code;
	err->sys_errno = sys_errno;
	snprintf(err->what, sizeof(err->what), "%s", what ? what : "");
}

void push_explain(const struct push_error *e, char *buf, size_t len)
{
	const char *msg = e->code < PUSH_E_COUNT ? push_messages[e->code] : "unknown error";
	snprintf(buf, len, "%s%s%s%s%s", e->what[0] ? e->what : "", e->what[0] ? ": " : "", msg,
		 e->sys_errno ? ": " : "", e->sys_errno ? strerror(e->sys_errno) : "");
}

static void wait_until(pthread_cond_t *cond, pthread_mutex_t *lock, uint64_t mono_ns)
{
	struct timespec until = { .tv_sec = (time_t)(mono_ns / 1000000000ull), .tv_nsec = (long)(mono_ns % 1000000000ull) };
	pthread_cond_timedwait(cond, lock, &until);
}

static void note_failure(struct pusher *pu, long kind, const char *what)
{
	if (kind != pu->failure_kind || !pu->stats.failing)
		pu->stats.failure_seq++;
	snprintf(pu->stats.failure, sizeof(pu->stats.failure), "%s", what);
	pu->failure_kind = kind;
	pu->stats.failing = true;
}

/* What the answer means for the request: delivered, refused for good (4xx,
 * but for a timeout or too many requests), or to be sent again. */
static void settle(struct pusher *pu, uint64_t seq, const struct http_result *res)
{
	char what[sizeof(pu->stats.failure)];
	bool done = res->status >= 200 && res->status < 300;
	bool refused = res->status >= 400 && res->status < 500 && res->status != 408 && res->status != 429;
	if (done || refused) {
		outbox_remove(&pu->outbox, seq);
		pu->backoff_ns = 0;
		pu->retry_at = 0;
	}
	if (done) {
		pu->stats.delivered++;
		pu->stats.failing = false;
	} else if (refused) {
		pu->stats.rejected++;
		if (!pu->stats.rejection[0])
			snprintf(pu->stats.rejection, sizeof(pu->stats.rejection), "HTTP %ld%s%.400s", res->status,
				 res->message[0] ? ": " : "", res->message);
	} else {
		if (res->status)
			snprintf(what, sizeof(what), "HTTP %ld%s%.200s", res->status, res->message[0] ? ": " : "",
				 res->message);
		else
			snprintf(what, sizeof(what), "%.200s", res->message);
		note_failure(pu, res->status ? res->status : -(long)res->transport_error, what);
		pu->stats.retries++;
		pu->backoff_ns = pu->backoff_ns ? pu->backoff_ns * 2 : FIRST_BACKOFF_NS;
		uint64_t max = (uint64_t)(pu->o.max_backoff * 1e9);
		if (pu->backoff_ns > max)
			pu->backoff_ns = max;
		pu->retry_at = monotonic_ns() + pu->backoff_ns;
	}
}

static void *deliver_main(void *arg)
{
	struct pusher *pu = arg;
	pthread_mutex_lock(&pu->lock);
	while (!pu->stop) {
		struct push_request r;
		uint64_t seq, now = monotonic_ns();
		if (pu->retry_at > now) {
			wait_until(&pu->wake, &pu->lock, pu->retry_at);
			continue;
		}
		if (!outbox_oldest(&pu->outbox, &r, &seq, &pu->stats.dropped)) {
			pthread_cond_broadcast(&pu->settled);
			/* Nothing (or no memory to read it back): wait for more, or a second. */
			wait_until(&pu->wake, &pu->lock, now + (pu->outbox.entries.count ? 1000000000ull : 3600000000000ull));
			continue;
		}
		pu->sending = seq;
		pthread_mutex_unlock(&pu->lock);
		struct http_result res;
		http_client_post(pu->http, &r, &res);
		push_request_release(&r);
		pthread_mutex_lock(&pu->lock);
		pu->sending = 0;
		if (!pu->stop)
			settle(pu, seq, &res);
		pthread_cond_broadcast(&pu->settled);
	}
	pthread_mutex_unlock(&pu->lock);
	return NULL;
}

static int pusher_start(struct pusher *pu, struct push_error *err)
{
	uint64_t found;
	int e = outbox_open(&pu->outbox, pu->o.spool_dir, pu->o.spool_max, &found);
	if (e) {
		push_set_error(err, (enum push_errcode)-e, e == -PUSH_E_SPOOL ? errno : 0, pu->o.spool_dir);
		return -1;
	}
	pu->stats.requests = pu->stats.from_spool = found;
	char why[sizeof(err->what)];
	if (!(pu->http = http_client_new(&pu->o, &pu->stop, why, sizeof(why)))) {
		push_set_error(err, PUSH_E_HTTP, 0, why);
		return -1;
	}
	if (pthread_create(&pu->thread, NULL, deliver_main, pu)) {
		push_set_error(err, PUSH_E_THREAD, errno, NULL);
		return -1;
	}
	pu->thread_running = true;
	return 0;
}

int pusher_new(struct pusher **out, const struct push_options *o, struct push_error *err)
{
	memset(err, 0, sizeof(*err));
	*out = NULL;
	if (strncmp(o->url, "http://", 7) != 0 && strncmp(o->url, "https://", 8) != 0) {
		push_set_error(err, PUSH_E_URL, 0, o->url);
		return -1;
	}
	struct pusher *pu = calloc(1, sizeof(*pu));
	if (!pu) {
		push_set_error(err, PUSH_E_NOMEM, 0, NULL);
		return -1;
	}
	pu->o = *o;
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&pu->wake, &attr);
	pthread_cond_init(&pu->settled, &attr);
	pthread_condattr_destroy(&attr);
	pthread_mutex_init(&pu->lock, NULL);
	if (pusher_start(pu, err)) {
		pusher_free(pu);
		return -1;
	}
	*out = pu;
	return 0;
}

int pusher_submit(struct pusher *pu, const struct profile *interval, struct push_error *err)
{
	memset(err, 0, sizeof(*err));
	struct vec made = { 0 };
	int e = push_requests_make(&pu->o, interval, &made);
	struct push_request *reqs = made.data;
	pthread_mutex_lock(&pu->lock);
	for (uint32_t i = 0; !e && i < made.count; i++) {
		e = outbox_put(&pu->outbox, &reqs[i], pu->sending, &pu->stats.dropped);
		pu->stats.requests += !e;
		if (e)
			push_set_error(err, (enum push_errcode)-e, e == -PUSH_E_SPOOL_WRITE ? errno : 0, pu->o.spool_dir);
	}
	pthread_cond_signal(&pu->wake);
	pthread_mutex_unlock(&pu->lock);
	if (e && !err->code)
		push_set_error(err, (enum push_errcode)-e, 0, NULL);
	for (uint32_t i = 0; i < made.count; i++)
		push_request_release(&reqs[i]);
	vec_release(&made);
	return e ? -1 : 0;
}

bool pusher_drain(struct pusher *pu, double seconds)
{
	uint64_t deadline = monotonic_ns() + (uint64_t)(seconds * 1e9);
	pthread_mutex_lock(&pu->lock);
	/* One more attempt now rather than after the backoff. */
	pu->retry_at = 0;
	pthread_cond_signal(&pu->wake);
	while (pu->outbox.entries.count && monotonic_ns() < deadline) {
		if (pu->retry_at > deadline)
			break; /* the next attempt would come too late */
		wait_until(&pu->settled, &pu->lock, deadline);
	}
	bool empty = pu->outbox.entries.count == 0;
	pthread_mutex_unlock(&pu->lock);
	return empty;
}

void push_stats_get(struct pusher *pu, struct push_stats *out)
{
	pthread_mutex_lock(&pu->lock);
	*out = pu->stats;
	out->waiting = pu->outbox.entries.count;
	out->waiting_bytes = pu->outbox.bytes;
	pthread_mutex_unlock(&pu->lock);
}

void pusher_free(struct pusher *pu)
{
	if (!pu)
		return;
	if (pu->thread_running) {
		pthread_mutex_lock(&pu->lock);
		pu->stop = 1;
		pthread_cond_signal(&pu->wake);
		pthread_mutex_unlock(&pu->lock);
		pthread_join(pu->thread, NULL);
	}
	pthread_cond_destroy(&pu->wake);
	pthread_cond_destroy(&pu->settled);
	pthread_mutex_destroy(&pu->lock);
	http_client_free(pu->http);
	outbox_release(&pu->outbox);
	free(pu);
}
