/* Unit tests of profiler/ that need no kernel: decoding hand-built perf
 * records (whole, truncated at every byte, with sizes that lie), span
 * pairing with records out of order, the record queue's ordering, and
 * an agent's ring read from outside (this process's own). */
#include <check.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "profiler/profiler-internal.h"
#include "profiler/unwind.h"

/* A record being built: header first, then fields appended. */
struct rec {
	uint8_t bytes[4096];
	size_t len;
};

static void rec_start(struct rec *r, uint32_t type, uint16_t misc)
{
	struct perf_event_header h = { .type = type, .misc = misc, .size = 0 };
	memcpy(r->bytes, &h, sizeof(h));
	r->len = sizeof(h);
}

static void rec_put(struct rec *r, const void *data, size_t len)
{
	ck_assert_uint_le(r->len + len, sizeof(r->bytes));
	memcpy(r->bytes + r->len, data, len);
	r->len += len;
}

static void rec_u64(struct rec *r, uint64_t v)
{
	rec_put(r, &v, 8);
}

static void rec_u32(struct rec *r, uint32_t v)
{
	rec_put(r, &v, 4);
}

/* A heap copy of exactly the record's bytes (so that a sanitizer sees any
 * read past them), with the header's size set to size. */
static struct perf_event_header *rec_copy(const struct rec *r, size_t size)
{
	uint8_t *copy = malloc(size > sizeof(struct perf_event_header) ? size : sizeof(struct perf_event_header));
	memcpy(copy, r->bytes, size);
	((struct perf_event_header *)copy)->size = (uint16_t)size;
	return (struct perf_event_header *)copy;
}

#define CPU_ID 42
#define DWARF_ID 43
#define IO_ID 44

/* An event set as the session makes it: a cpu event with a callchain, one
 * that copies registers and the stack, and a tracepoint with raw data. */
static void events_for_tests(struct event_set *es)
{
	memset(es, 0, sizeof(*es));
	es->kinds[KIND_CPU].sample_type = PERF_SAMPLE_IDENTIFIER | PERF_SAMPLE_IP | PERF_SAMPLE_TID |
					  PERF_SAMPLE_TIME | PERF_SAMPLE_PERIOD | PERF_SAMPLE_CALLCHAIN;
	es->kinds[KIND_OFFCPU].sample_type = es->kinds[KIND_CPU].sample_type | PERF_SAMPLE_REGS_USER |
					     PERF_SAMPLE_STACK_USER;
	es->kinds[KIND_OFFCPU].sample_regs_user = arch_unwind_regs_mask();
	es->kinds[KIND_IO_ENTER].sample_type = PERF_SAMPLE_IDENTIFIER | PERF_SAMPLE_TID | PERF_SAMPLE_TIME |
					       PERF_SAMPLE_RAW;
	const struct event events[] = { { .id = CPU_ID, .kind = KIND_CPU },
					{ .id = DWARF_ID, .kind = KIND_OFFCPU },
					{ .id = IO_ID, .kind = KIND_IO_ENTER } };
	for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++)
		*(struct event *)vec_push(&es->events, sizeof(struct event)) = events[i];
}

static void cpu_sample(struct rec *r, uint64_t nr)
{
	rec_start(r, PERF_RECORD_SAMPLE, 0);
	rec_u64(r, CPU_ID);
	rec_u64(r, 0x401234);  /* ip */
	rec_u32(r, 100);       /* pid */
	rec_u32(r, 101);       /* tid */
	rec_u64(r, 5000000);   /* time */
	rec_u64(r, 10101);     /* period */
	rec_u64(r, nr);
	rec_u64(r, (uint64_t)PERF_CONTEXT_KERNEL);
	rec_u64(r, 0xffffffff81000010ull);
	rec_u64(r, (uint64_t)PERF_CONTEXT_USER);
	for (uint64_t i = 3; i < nr; i++)
		rec_u64(r, 0x401000 + 0x100 * i);
}

START_TEST(test_sample_decodes)
{
	struct event_set es;
	events_for_tests(&es);
	struct rec r;
	cpu_sample(&r, 6);
	struct perf_event_header *h = rec_copy(&r, r.len);
	struct sample_view v;
	ck_assert(sample_parse(&es, h, &v));
	ck_assert_int_eq(v.kind, KIND_CPU);
	ck_assert_uint_eq(v.ip, 0x401234);
	ck_assert_uint_eq(v.pid, 100);
	ck_assert_uint_eq(v.tid, 101);
	ck_assert_uint_eq(v.time, 5000000);
	ck_assert_uint_eq(v.period, 10101);
	ck_assert_uint_eq(v.nr, 6);
	ck_assert_uint_eq(record_timestamp(&es, h), 5000000);
	/* The user frames only; return addresses moved into their call. */
	struct frames f;
	callchain_frames(v.ips, v.nr, false, true, &f);
	ck_assert_uint_eq(f.n, 3);
	ck_assert_uint_eq(f.ip[0], 0x401300);
	ck_assert_uint_eq(f.ip[1], 0x401400 - 1);
	ck_assert_uint_eq(f.ip[2], 0x401500 - 1);
	ck_assert(!f.is_kernel[0]);
	callchain_frames(v.ips, v.nr, true, true, &f);
	ck_assert_uint_eq(f.n, 4);
	ck_assert(f.is_kernel[0]);
	ck_assert_uint_eq(f.ip[0], 0xffffffff81000010ull);
	free(h);
	vec_release(&es.events);
}
END_TEST

/* Every cut of a sample short of its end is refused, never read past. */
START_TEST(test_sample_truncated_at_every_byte)
{
	struct event_set es;
	events_for_tests(&es);
	struct rec r;
	cpu_sample(&r, 6);
	for (size_t size = 0; size < r.len; size++) {
		struct perf_event_header *h = rec_copy(&r, size);
		struct sample_view v;
		ck_assert_msg(!sample_parse(&es, h, &v), "a sample cut to %zu of %zu bytes was accepted", size, r.len);
		free(h);
	}
	vec_release(&es.events);
}
END_TEST

/* A raw_syscalls sample up to its raw size field. */
static void io_sample_head(struct rec *r, uint32_t raw_size)
{
	rec_start(r, PERF_RECORD_SAMPLE, 0);
	rec_u64(r, IO_ID);
	rec_u32(r, 1); /* pid */
	rec_u32(r, 1); /* tid */
	rec_u64(r, 7); /* time */
	rec_u32(r, raw_size);
}

/* Counts and sizes that claim more than the record holds. */
START_TEST(test_sample_oversized_fields)
{
	struct event_set es;
	events_for_tests(&es);
	struct rec r;
	struct sample_view v;
	cpu_sample(&r, 6);
	uint64_t huge = 1ull << 60;
	memcpy(r.bytes + sizeof(struct perf_event_header) + 40, &huge, 8); /* nr */
	struct perf_event_header *h = rec_copy(&r, r.len);
	ck_assert(!sample_parse(&es, h, &v));
	free(h);
	/* A tracepoint whose raw size runs past the record. */
	io_sample_head(&r, 64);
	rec_u64(&r, 0);
	h = rec_copy(&r, r.len);
	ck_assert(!sample_parse(&es, h, &v));
	free(h);
	/* The same with an honest size: raw fields read within it only. */
	io_sample_head(&r, 12);
	rec_u64(&r, 0x1122334455667788ull);
	rec_u32(&r, 0);
	h = rec_copy(&r, r.len);
	ck_assert(sample_parse(&es, h, &v));
	ck_assert_uint_eq(sample_raw_u64(&v, 0), 0x1122334455667788ull);
	ck_assert_uint_eq(sample_raw_u64(&v, 8), 0); /* 4 bytes left: not 8 */
	ck_assert_uint_eq(sample_raw_u64(&v, UINT32_MAX), 0);
	free(h);
	/* An unknown id decodes as the cpu event's layout, which it is not
	 * long enough for. */
	rec_start(&r, PERF_RECORD_SAMPLE, 0);
	rec_u64(&r, 999);
	h = rec_copy(&r, r.len);
	ck_assert(!sample_parse(&es, h, &v));
	free(h);
	vec_release(&es.events);
}
END_TEST

/* A sample with registers and a stack copy of 64 bytes, 24 of them used. */
static void dwarf_sample(struct rec *r, uint64_t stack_size, uint64_t dyn)
{
	rec_start(r, PERF_RECORD_SAMPLE, 0);
	rec_u64(r, DWARF_ID);
	rec_u64(r, 0x401234);
	rec_u32(r, 100);
	rec_u32(r, 101);
	rec_u64(r, 777);
	rec_u64(r, 1);
	rec_u64(r, 0); /* no callchain */
	rec_u64(r, 2); /* abi */
	uint64_t mask = arch_unwind_regs_mask();
	for (unsigned reg = 0; reg < 64; reg++)
		if (mask & (1ull << reg))
			rec_u64(r, 0x1000 + reg); /* each register holds its number */
	rec_u64(r, stack_size);
	for (uint64_t i = 0; i < stack_size / 8; i++)
		rec_u64(r, 0xabc0 + i);
	if (stack_size)
		rec_u64(r, dyn);
}

static uint64_t no_start(void *ctx, uint32_t pid)
{
	(void)ctx;
	(void)pid;
	return 0;
}

/* The main stack starts 100 bytes above the sample's stack pointer. */
static uint64_t start_above_sp(void *ctx, uint32_t pid)
{
	(void)pid;
	return *(const uint64_t *)ctx + 100;
}

START_TEST(test_sample_registers_and_stack)
{
	struct event_set es;
	events_for_tests(&es);
	struct rec r;
	dwarf_sample(&r, 64, 24);
	struct perf_event_header *h = rec_copy(&r, r.len);
	struct sample_view v;
	ck_assert(sample_parse(&es, h, &v));
	ck_assert_int_eq(v.kind, KIND_OFFCPU);
	ck_assert_uint_eq(sample_reg(&v, ARCH_REG_SP), 0x1000 + arch_perf_reg(ARCH_REG_SP));
	ck_assert_uint_eq(sample_reg(&v, ARCH_REG_IP), 0x1000 + arch_perf_reg(ARCH_REG_IP));
	ck_assert_uint_eq(sample_reg(&v, ARCH_REG_ARG0), 0x1000 + arch_perf_reg(ARCH_REG_ARG0));
	ck_assert_uint_eq(v.stack_size, 64);
	ck_assert_uint_eq(v.stack_dyn, 24);

	/* Queued, the copy is cut to what was stack: the pieces make a record
	 * that decodes to the same registers and the used bytes. */
	struct record_piece pieces[5];
	struct perf_event_header head;
	uint64_t stack_size;
	uint32_t n = record_pieces(&es, h, false, no_start, NULL, pieces, &head, &stack_size);
	ck_assert_uint_eq(n, 5);
	struct rec cut = { .len = 0 };
	for (uint32_t i = 0; i < n; i++)
		rec_put(&cut, pieces[i].data, pieces[i].len);
	ck_assert_uint_eq(cut.len, head.size);
	ck_assert_uint_eq(cut.len, r.len - 40);
	struct perf_event_header *ch = rec_copy(&cut, cut.len);
	struct sample_view cv;
	ck_assert(sample_parse(&es, ch, &cv));
	ck_assert_uint_eq(cv.stack_size, 24);
	ck_assert_uint_eq(cv.stack_dyn, 24);
	ck_assert_mem_eq(cv.stack, v.stack, 24);
	ck_assert_uint_eq(sample_reg(&cv, ARCH_REG_SP), sample_reg(&v, ARCH_REG_SP));
	free(ch);

	/* Shed: no stack at all, registers kept. */
	n = record_pieces(&es, h, true, no_start, NULL, pieces, &head, &stack_size);
	cut.len = 0;
	for (uint32_t i = 0; i < n; i++)
		rec_put(&cut, pieces[i].data, pieces[i].len);
	ch = rec_copy(&cut, cut.len);
	ck_assert(sample_parse(&es, ch, &cv));
	ck_assert_ptr_null(cv.stack);
	ck_assert_uint_eq(sample_reg(&cv, ARCH_REG_IP), 0x1000 + arch_perf_reg(ARCH_REG_IP));
	free(ch);
	free(h);

	/* The main thread's copy stops 64 bytes past where its stack started:
	 * above are the arguments and the environment. */
	dwarf_sample(&r, 1024, 1024);
	h = rec_copy(&r, r.len);
	uint64_t sp = 0x1000 + arch_perf_reg(ARCH_REG_SP);
	n = record_pieces(&es, h, false, start_above_sp, &sp, pieces, &head, &stack_size);
	cut.len = 0;
	for (uint32_t i = 0; i < n; i++)
		rec_put(&cut, pieces[i].data, pieces[i].len);
	ch = rec_copy(&cut, cut.len);
	ck_assert(sample_parse(&es, ch, &cv));
	ck_assert_uint_eq(cv.stack_size, 168);
	ck_assert_uint_eq(cv.stack_dyn, 168);
	free(ch);
	free(h);

	/* A dyn_size past the copy is clamped to it. */
	dwarf_sample(&r, 16, 4096);
	h = rec_copy(&r, r.len);
	ck_assert(sample_parse(&es, h, &v));
	ck_assert_uint_eq(v.stack_dyn, 16);
	free(h);
	vec_release(&es.events);
}
END_TEST

START_TEST(test_side_records)
{
	struct rec r;
	/* MMAP2 with a build-id and a path. */
	rec_start(&r, PERF_RECORD_MMAP2, PERF_RECORD_MISC_MMAP_BUILD_ID);
	rec_u32(&r, 7);
	rec_u32(&r, 8);
	rec_u64(&r, 0x7f0000000000ull);
	rec_u64(&r, 0x2000);
	rec_u64(&r, 0x1000);
	uint8_t id[24] = { 4, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef };
	rec_put(&r, id, sizeof(id));
	rec_u32(&r, 5); /* prot: read, exec */
	rec_u32(&r, 2);
	rec_put(&r, "/lib/libx.so\0\0\0\0", 16);
	rec_u32(&r, 7); /* sample_id: pid, tid, time, id */
	rec_u32(&r, 8);
	rec_u64(&r, 123456);
	rec_u64(&r, CPU_ID);
	struct perf_event_header *h = rec_copy(&r, r.len);
	struct mmap2_record m;
	ck_assert(mmap2_parse(h, &m));
	ck_assert_uint_eq(m.pid, 7);
	ck_assert_uint_eq(m.addr, 0x7f0000000000ull);
	ck_assert_uint_eq(m.len, 0x2000);
	ck_assert_uint_eq(m.prot, 5);
	ck_assert_str_eq(m.path, "/lib/libx.so");
	ck_assert_str_eq(m.build_id, "deadbeef");
	uint32_t pid, tid;
	ck_assert(record_pid_tid(h, &pid, &tid));
	ck_assert_uint_eq(pid, 7);
	ck_assert_uint_eq(tid, 8);
	struct event_set es;
	events_for_tests(&es);
	ck_assert_uint_eq(record_timestamp(&es, h), 123456);
	free(h);
	/* Cut before its path: refused. */
	h = rec_copy(&r, sizeof(struct perf_event_header) + 64);
	ck_assert(!mmap2_parse(h, &m));
	free(h);

	/* A name with no NUL in the record ends at the record's end. */
	rec_start(&r, PERF_RECORD_COMM, PERF_RECORD_MISC_COMM_EXEC);
	rec_u32(&r, 7);
	rec_u32(&r, 9);
	rec_put(&r, "worker-thread-name-that-is-long", 31);
	h = rec_copy(&r, r.len);
	struct comm_record c;
	ck_assert(comm_parse(h, &c));
	ck_assert_str_eq(c.comm, "worker-thread-n");
	ck_assert(c.exec);
	ck_assert_uint_eq(c.tid, 9);
	free(h);

	rec_start(&r, PERF_RECORD_FORK, 0);
	rec_u32(&r, 20);
	rec_u32(&r, 10);
	rec_u32(&r, 21);
	rec_u32(&r, 11);
	rec_u64(&r, 999);
	h = rec_copy(&r, r.len);
	struct fork_record f;
	ck_assert(fork_parse(h, &f));
	ck_assert_uint_eq(f.pid, 20);
	ck_assert_uint_eq(f.ppid, 10);
	ck_assert_uint_eq(f.tid, 21);
	ck_assert_uint_eq(f.ptid, 11);
	ck_assert_uint_eq(f.time, 999);
	free(h);
	h = rec_copy(&r, sizeof(struct perf_event_header) + 20);
	ck_assert(!fork_parse(h, &f));
	free(h);

	uint64_t lost;
	rec_start(&r, PERF_RECORD_LOST, 0);
	rec_u64(&r, CPU_ID);
	rec_u64(&r, 17);
	h = rec_copy(&r, r.len);
	ck_assert(lost_parse(h, &lost));
	ck_assert_uint_eq(lost, 17);
	free(h);
	h = rec_copy(&r, r.len - 1);
	ck_assert(!lost_parse(h, &lost));
	ck_assert(!record_pid_tid(h, &pid, &tid));
	free(h);
	vec_release(&es.events);
}
END_TEST

/* ---- spans ---- */

struct pairs_seen {
	uint64_t start[8], end[8];
	int n;
};

static void note_pair(void *ctx, const struct span_start *a, const struct span_end *b)
{
	struct pairs_seen *p = ctx;
	ck_assert_int_lt(p->n, 8);
	p->start[p->n] = a->time;
	p->end[p->n++] = b->time;
}

/* A thread's true history: off 10-15, 20-25, 30-38; each start pairs with
 * the first end after it, whether a span's start or its end comes first.
 * (The queue hands records over in time order, so ends never overtake one
 * another; a late end whose start came after a later start is taken for
 * one whose start was never seen: test_spans_unmatched.) */
static void check_history(const char *order)
{
	struct span_pairs sp = { 0 };
	struct pairs_seen seen = { 0 };
	for (const char *o = order; *o; o++) {
		static const uint64_t starts[] = { 10, 20, 30 }, ends[] = { 15, 25, 38 };
		int i = o[1] - '0';
		if (*o == 's') {
			struct span_start s = { .time = starts[i] };
			span_add_start(&sp, &s, note_pair, &seen);
		} else {
			struct span_end e = { .time = ends[i] };
			span_add_end(&sp, &e, note_pair, &seen);
		}
		o++;
	}
	ck_assert_msg(seen.n == 3, "%s: %d pairs", order, seen.n);
	for (int k = 0; k < seen.n; k++) {
		bool ok = (seen.start[k] == 10 && seen.end[k] == 15) || (seen.start[k] == 20 && seen.end[k] == 25) ||
			  (seen.start[k] == 30 && seen.end[k] == 38);
		ck_assert_msg(ok, "%s: paired %lu with %lu", order, (unsigned long)seen.start[k],
			      (unsigned long)seen.end[k]);
	}
	ck_assert_uint_eq(sp.nstarts, 0);
	ck_assert_uint_eq(sp.nends, 0);
}

START_TEST(test_spans_out_of_order)
{
	check_history("s0e0s1e1s2e2"); /* in order */
	check_history("e0s0e1s1e2s2"); /* each end before its start */
	check_history("s0s1s2e0e1e2"); /* starts first */
	check_history("e0e1s0s1e2s2"); /* ends first */
	check_history("s0s1e0s2e1e2");
	check_history("e0s0s1e1e2s2");
}
END_TEST

START_TEST(test_spans_unmatched)
{
	struct span_pairs sp = { 0 };
	struct pairs_seen seen = { 0 };
	/* An end whose start we never saw is dropped once a later start shows it. */
	struct span_end early = { .time = 5 };
	span_add_end(&sp, &early, note_pair, &seen);
	struct span_start s = { .time = 10 };
	span_add_start(&sp, &s, note_pair, &seen);
	ck_assert_int_eq(seen.n, 0);
	struct span_end e = { .time = 15 };
	span_add_end(&sp, &e, note_pair, &seen);
	ck_assert_int_eq(seen.n, 1);
	ck_assert_uint_eq(seen.start[0], 10);
	ck_assert_uint_eq(seen.end[0], 15);
	/* Starts that never end are let go, bounded. */
	for (uint64_t t = 100; t < 100 + 3 * SPAN_PENDING; t++) {
		struct span_start st = { .time = t };
		span_add_start(&sp, &st, note_pair, &seen);
		ck_assert_uint_le(sp.nstarts, SPAN_PENDING);
	}
	ck_assert_ptr_nonnull(span_latest_start(&sp, 1000));
	ck_assert_ptr_null(span_latest_start(&sp, 50));
}
END_TEST

static void count_pair(void *ctx, const struct span_start *a, const struct span_end *b)
{
	(void)a;
	(void)b;
	(*(int *)ctx)++;
}

/* A start whose end was never recorded (an attach between a system call's
 * enter and exit events being enabled) is the oldest, and goes when the
 * slots are full: the spans after it all pair. */
START_TEST(test_spans_orphan_start_goes)
{
	struct span_pairs sp = { 0 };
	int pairs = 0;
	struct span_start orphan = { .time = 1 };
	span_add_start(&sp, &orphan, count_pair, &pairs);
	for (uint64_t k = 0; k < 400; k += 2) {
		uint64_t t = 100 + 10 * k;
		struct span_start a = { .time = t }, b = { .time = t + 10 };
		struct span_end ea = { .time = t + 5 }, eb = { .time = t + 15 };
		span_add_start(&sp, &a, count_pair, &pairs);
		span_add_start(&sp, &b, count_pair, &pairs);
		span_add_end(&sp, &ea, count_pair, &pairs);
		span_add_end(&sp, &eb, count_pair, &pairs);
	}
	ck_assert_int_ge(pairs, 380);
}
END_TEST

/* ---- the record queue ---- */

struct drained {
	uint64_t times[64];
	int n;
};

static uint64_t queued_time(const struct perf_event_header *h, void *ctx)
{
	(void)ctx;
	uint64_t t;
	memcpy(&t, h + 1, 8);
	return t;
}

static void note_record(const struct perf_event_header *h, void *ctx)
{
	struct drained *d = ctx;
	ck_assert_int_lt(d->n, 64);
	d->times[d->n++] = queued_time(h, NULL);
}

static void push_timed(struct record_queue *q, uint64_t time, uint16_t extra)
{
	uint8_t rec[256] = { 0 };
	struct perf_event_header h = { .type = PERF_RECORD_SAMPLE, .size = (uint16_t)(sizeof(h) + 8 + extra) };
	memcpy(rec, &h, sizeof(h));
	memcpy(rec + sizeof(h), &time, 8);
	struct record_piece piece = { rec, h.size };
	ck_assert(record_queue_push(q, &piece, 1));
}

START_TEST(test_record_queue_orders_by_time)
{
	struct record_queue q;
	pthread_mutex_t hold = PTHREAD_MUTEX_INITIALIZER;
	ck_assert_int_eq(record_queue_init(&q, 4096), 0);
	struct drained d = { .n = 0 };
	push_timed(&q, 30, 0);
	push_timed(&q, 10, 5);
	push_timed(&q, 20, 13);
	push_timed(&q, 40, 0);
	/* Only what is older than the reader's mark, in time order. */
	record_queue_mark(&q, 25);
	struct record_consumer consumer = { note_record, queued_time, &d, &hold };
	record_queue_drain(&q, &consumer, true);
	ck_assert_int_eq(d.n, 2);
	ck_assert_uint_eq(d.times[0], 10);
	ck_assert_uint_eq(d.times[1], 20);
	/* Closed: the rest, in order, then nothing. */
	push_timed(&q, 35, 0);
	record_queue_close(&q);
	ck_assert(record_queue_drain(&q, &consumer, true));
	ck_assert_int_eq(d.n, 5);
	ck_assert_uint_eq(d.times[2], 30);
	ck_assert_uint_eq(d.times[3], 35);
	ck_assert_uint_eq(d.times[4], 40);
	ck_assert(!record_queue_drain(&q, &consumer, true));
	record_queue_release(&q);
}
END_TEST

/* A batch far from time order (more moves than insertion sort is allowed)
 * comes out in order all the same. */
START_TEST(test_record_queue_orders_reversed_batch)
{
	struct record_queue q;
	pthread_mutex_t hold = PTHREAD_MUTEX_INITIALIZER;
	ck_assert_int_eq(record_queue_init(&q, 16384), 0);
	struct drained d = { .n = 0 };
	for (uint64_t t = 60; t > 0; t--)
		push_timed(&q, t / 2 * 2, 0); /* descending, in pairs of equal times */
	record_queue_close(&q);
	struct record_consumer consumer = { note_record, queued_time, &d, &hold };
	record_queue_drain(&q, &consumer, true);
	ck_assert_int_eq(d.n, 60);
	for (int i = 1; i < d.n; i++)
		ck_assert_uint_le(d.times[i - 1], d.times[i]);
	ck_assert_uint_eq(d.times[0], 0);
	ck_assert_uint_eq(d.times[59], 60);
	record_queue_release(&q);
}
END_TEST

/* Wrapping around the buffer many times with a consumer on another thread:
 * every record arrives once, none torn. */
struct producer {
	struct record_queue *q;
	int count;
};

static void *produce(void *arg)
{
	struct producer *p = arg;
	for (int i = 0; i < p->count; i++) {
		push_timed(p->q, (uint64_t)i, (uint16_t)(i % 97));
		if (i % 50 == 49)
			record_queue_mark(p->q, (uint64_t)i);
	}
	record_queue_close(p->q);
	return NULL;
}

struct counted {
	uint64_t next;
	bool in_order;
};

static void count_record(const struct perf_event_header *h, void *ctx)
{
	struct counted *c = ctx;
	uint64_t t = queued_time(h, NULL);
	c->in_order &= t == c->next;
	c->next = t + 1;
}

START_TEST(test_record_queue_wraps)
{
	struct record_queue q;
	pthread_mutex_t hold = PTHREAD_MUTEX_INITIALIZER;
	ck_assert_int_eq(record_queue_init(&q, 2048), 0);
	struct producer p = { &q, 20000 };
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, produce, &p), 0);
	struct counted c = { 0, true };
	struct record_consumer consumer = { count_record, queued_time, &c, &hold };
	while (record_queue_drain(&q, &consumer, true))
		;
	pthread_join(t, NULL);
	ck_assert(c.in_order);
	ck_assert_uint_eq(c.next, 20000);
	record_queue_release(&q);
}
END_TEST

/* Drained by its producer (no consumer thread): a push that finds the
 * queue full handles what is queued, whatever the mark, and never waits. */
START_TEST(test_record_queue_drains_inline)
{
	struct record_queue q;
	pthread_mutex_t hold = PTHREAD_MUTEX_INITIALIZER;
	ck_assert_int_eq(record_queue_init(&q, 1024), 0);
	struct counted c = { 0, true };
	struct record_consumer consumer = { count_record, queued_time, &c, &hold };
	record_queue_consume_inline(&q, &consumer);
	ck_assert(record_queue_drain(&q, &consumer, false)); /* nothing: back at once */
	ck_assert_uint_eq(c.next, 0);
	for (int i = 0; i < 500; i++)
		push_timed(&q, (uint64_t)i, (uint16_t)(i % 97)); /* ~30 queues' worth, no mark */
	ck_assert_uint_gt(c.next, 0);
	ck_assert_uint_lt(c.next, 500);
	record_queue_close(&q);
	while (record_queue_drain(&q, &consumer, false))
		;
	ck_assert(c.in_order);
	ck_assert_uint_eq(c.next, 500);
	record_queue_release(&q);
}
END_TEST

/* ---- the architecture's tables ---- */

/* ---- an agent's ring, read from outside (here: this process's own) ---- */

#define RING_ID 45
#define AGENT_ALLOC_ID 46
#define TEST_RING_SLOTS 8
#define TEST_RING_STACK 64

struct test_ring {
	struct agent_ring_header h;
	struct agent_ring_slot slots[TEST_RING_SLOTS];
	uint8_t stacks[TEST_RING_SLOTS][TEST_RING_STACK];
};

static struct agent_ring_slot *test_slot(struct test_ring *ring, uint64_t ticket)
{
	return &ring->slots[ticket % TEST_RING_SLOTS];
}

/* A slot's ticket taken (head moves); its seq is written by write_slot. */
static void write_slot(struct test_ring *ring, uint64_t ticket, uint64_t time)
{
	struct agent_ring_slot *s = test_slot(ring, ticket);
	s->time = time;
	s->tid = 7;
	s->stack_len = 0;
	__atomic_store_n(&s->seq, ticket + 1, __ATOMIC_RELEASE);
}

/* The ring marker's sample: its address, pid and fd (-1: not shared, so
 * it is read with process_vm_readv) in DX, SI, DI's bit order. */
static void ring_marker(struct rec *r, struct test_ring *ring, int fd)
{
	rec_start(r, PERF_RECORD_SAMPLE, 0);
	rec_u64(r, RING_ID);
	rec_u32(r, (uint32_t)getpid());
	rec_u32(r, (uint32_t)getpid());
	rec_u64(r, 1);
	rec_u64(r, PERF_SAMPLE_REGS_ABI_64);
	rec_u64(r, (uint64_t)(int64_t)fd);
	rec_u64(r, (uint64_t)getpid());
	rec_u64(r, (uint64_t)(uintptr_t)ring);
}

static void ring_events(struct event_set *es)
{
	memset(es, 0, sizeof(*es));
	es->kinds[KIND_AGENT_RING].sample_type = PERF_SAMPLE_IDENTIFIER | PERF_SAMPLE_TID | PERF_SAMPLE_TIME |
						 PERF_SAMPLE_REGS_USER;
	es->kinds[KIND_AGENT_RING].sample_regs_user = 1ull << arch_perf_reg(ARCH_REG_ARG0) |
						      1ull << arch_perf_reg(ARCH_REG_ARG1) |
						      1ull << arch_perf_reg(ARCH_REG_ARG2);
	es->kinds[KIND_AGENT_ALLOC].sample_type = PERF_SAMPLE_IDENTIFIER | PERF_SAMPLE_TIME;
	es->kind_on[KIND_AGENT_RING] = es->kind_on[KIND_AGENT_ALLOC] = true;
	*(struct event *)vec_push(&es->events, sizeof(struct event)) = (struct event){ .id = RING_ID,
										      .kind = KIND_AGENT_RING };
	*(struct event *)vec_push(&es->events, sizeof(struct event)) = (struct event){ .id = AGENT_ALLOC_ID,
										      .kind = KIND_AGENT_ALLOC };
}

/* A slot's record as queued: header, id, time. */
static uint64_t slot_record_time(const struct perf_event_header *h, void *ctx)
{
	(void)ctx;
	uint64_t t;
	memcpy(&t, (const uint8_t *)(h + 1) + 8, 8);
	return t;
}

static void note_slot_record(const struct perf_event_header *h, void *ctx)
{
	struct drained *d = ctx;
	ck_assert_int_lt(d->n, 64);
	d->times[d->n++] = slot_record_time(h, NULL);
}

/* A slot whose thread took its ticket and has not written it yet holds
 * the reader's mark back (its sample may be older than a free the kernel's
 * buffers already hold); one never written is given up after a second. */
/* A ring in our own memory, learned by rings from its marker, read into
 * q: with process_vm_readv, or (fd >= 0: ring is fd's mapping) mapped. */
static void open_test_ring(struct test_ring *ring, int fd, struct event_set *es, struct agent_rings *rings,
			   struct record_queue *q)
{
	memset(ring, 0, sizeof(*ring));
	ring->h = (struct agent_ring_header){ .magic = AGENT_RING_MAGIC, .nslots = TEST_RING_SLOTS,
					      .stack_stride = TEST_RING_STACK, .stack_size = TEST_RING_STACK,
					      .pid = (uint32_t)getpid(), .self = (uint64_t)(uintptr_t)ring };
	ring_events(es);
	agent_rings_init(rings, es, 0);
	ck_assert_int_eq(record_queue_init(q, 1 << 20), 0);
	struct rec r;
	ring_marker(&r, ring, fd);
	struct perf_event_header *marker = rec_copy(&r, r.len);
	ck_assert(agent_rings_take_marker(rings, marker));
	free(marker);
}

/* The queue, the reader and the events of open_test_ring, let go. */
static void close_test_ring(struct record_queue *q, struct agent_rings *rings, struct event_set *es)
{
	record_queue_release(q);
	agent_rings_release(rings);
	vec_release(&es->events);
}

START_TEST(test_agent_ring_settles)
{
	static struct test_ring ring;
	struct event_set es;
	struct agent_rings rings;
	struct record_queue q;
	pthread_mutex_t hold = PTHREAD_MUTEX_INITIALIZER;
	open_test_ring(&ring, -1, &es, &rings, &q);

	/* Tickets 0-2 taken; 1 not yet written. */
	ring.h.head = 3;
	write_slot(&ring, 0, 100);
	write_slot(&ring, 2, 300);
	agent_rings_read(&rings, &q);
	ck_assert_uint_eq(rings.samples, 1);
	ck_assert_uint_eq(ring.h.tail, 1);
	ck_assert_uint_eq(rings.settled_ns, 0); /* never read to the head: nothing is settled */

	/* Written: read to the head, settled at the pass's start. */
	write_slot(&ring, 1, 200);
	uint64_t before = monotonic_ns();
	agent_rings_read(&rings, &q);
	ck_assert_uint_eq(rings.samples, 3);
	ck_assert_uint_eq(ring.h.tail, 3);
	ck_assert_uint_ge(rings.settled_ns, before);
	ck_assert_uint_le(rings.settled_ns, monotonic_ns());
	uint64_t settled = rings.settled_ns;

	/* Ticket 3 never written, 4 is: the mark stays, until 3 is given up. */
	ring.h.head = 5;
	write_slot(&ring, 4, 500);
	agent_rings_read(&rings, &q);
	ck_assert_uint_eq(ring.h.tail, 3);
	ck_assert_uint_eq(rings.settled_ns, settled);
	struct timespec second = { 1, 10000000 };
	nanosleep(&second, NULL);
	agent_rings_read(&rings, &q); /* 3 skipped */
	ck_assert_uint_eq(ring.h.tail, 4);
	ck_assert_uint_eq(rings.dropped, 1);
	agent_rings_read(&rings, &q);
	ck_assert_uint_eq(ring.h.tail, 5);
	ck_assert_uint_eq(rings.samples, 4);
	ck_assert_uint_gt(rings.settled_ns, settled);

	record_queue_close(&q);
	struct drained d = { .n = 0 };
	struct record_consumer consumer = { note_slot_record, slot_record_time, &d, &hold };
	while (record_queue_drain(&q, &consumer, true))
		;
	ck_assert_int_eq(d.n, 4);
	ck_assert_uint_eq(d.times[0], 100);
	ck_assert_uint_eq(d.times[1], 200);
	ck_assert_uint_eq(d.times[2], 300);
	ck_assert_uint_eq(d.times[3], 500);
	close_test_ring(&q, &rings, &es);
}
END_TEST

START_TEST(test_agent_ring_read_pace)
{
	static struct test_ring ring;
	struct event_set es;
	struct agent_rings rings;
	struct record_queue q;
	open_test_ring(&ring, -1, &es, &rings, &q);
	ck_assert_uint_eq(rings.read_due_ns, UINT64_MAX); /* no pass yet: no hurry */
	agent_rings_read(&rings, &q);
	ck_assert_uint_eq(rings.read_due_ns, 0); /* a new ring: soon again */

	/* 2 slots in 5 ms: an eighth of 8 in 2.5 ms. */
	struct timespec pause = { 0, 5000000 };
	nanosleep(&pause, NULL);
	ring.h.head = 2;
	write_slot(&ring, 0, 100);
	write_slot(&ring, 1, 200);
	agent_rings_read(&rings, &q);
	ck_assert_uint_eq(ring.h.tail, 2);
	ck_assert_uint_ge(rings.read_due_ns, 2500000);
	ck_assert_uint_lt(rings.read_due_ns, 1000000000);

	/* Idle: it backs off, doubling, until it is 50 ms or more. */
	for (int pass = 0; pass < 5; pass++) {
		uint64_t pace = rings.read_due_ns;
		agent_rings_read(&rings, &q);
		ck_assert_uint_eq(rings.read_due_ns, pace < 50000000 ? 2 * pace : pace);
	}
	ck_assert_uint_ge(rings.read_due_ns, 50000000);

	/* A burst: 4 slots at once, read at once: the pace quickens at once. */
	ring.h.head = 6;
	for (uint64_t t = 2; t < 6; t++)
		write_slot(&ring, t, 100 * t + 100);
	agent_rings_read(&rings, &q);
	ck_assert_uint_lt(rings.read_due_ns, 10000000);
	close_test_ring(&q, &rings, &es);
}
END_TEST

/* A slot written whole, its stack copy TEST_RING_STACK bytes of `fill`. */
static void write_slot_stack(struct test_ring *ring, uint64_t ticket, uint64_t time, int fill)
{
	struct agent_ring_slot *s = test_slot(ring, ticket);
	memset(ring->stacks[ticket % TEST_RING_SLOTS], fill, TEST_RING_STACK);
	write_slot(ring, ticket, time);
	s->stack_len = TEST_RING_STACK;
}

/* The stacks a mapped ring's samples carry, as the worker reads them. */
struct lent_stacks {
	struct event_set *es;
	uint8_t first[64];
	int n;
};

static void note_lent_stack(const struct perf_event_header *h, void *ctx)
{
	struct lent_stacks *l = ctx;
	struct sample_view v;
	ck_assert(sample_parse(l->es, h, &v));
	ck_assert(h->misc & SAMPLE_MISC_STACK_AT);
	ck_assert_uint_eq(v.stack_size, TEST_RING_STACK);
	ck_assert_uint_eq(v.stack_dyn, TEST_RING_STACK);
	if (l->n++ == 0)
		memcpy(l->first, v.stack, sizeof(l->first));
}

/* A ring in a memfd (*fd) of samples with stacks, which rings maps if it
 * is sealed against shrinking. */
static struct test_ring *open_mapped_test_ring(int *fd, bool seal, struct event_set *es, struct agent_rings *rings,
					       struct record_queue *q)
{
	*fd = memfd_create("test-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	ck_assert_int_ge(*fd, 0);
	ck_assert_int_eq(ftruncate(*fd, sizeof(struct test_ring)), 0);
	if (seal)
		ck_assert_int_eq(fcntl(*fd, F_ADD_SEALS, F_SEAL_SHRINK), 0);
	struct test_ring *ring = mmap(NULL, sizeof(*ring), PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
	ck_assert_ptr_ne(ring, MAP_FAILED);
	open_test_ring(ring, *fd, es, rings, q);
	es->kinds[KIND_AGENT_ALLOC].sample_type |= PERF_SAMPLE_STACK_USER;
	return ring;
}

/* A mapped ring's slots are not copied: the samples name their stacks in
 * our mapping, the slots go back to the agent only once the samples are
 * handled, and the mapping of a ring let go stays until then. */
START_TEST(test_agent_ring_lends_mapped_slots)
{
	struct event_set es;
	struct agent_rings rings;
	struct record_queue q;
	pthread_mutex_t hold = PTHREAD_MUTEX_INITIALIZER;
	int fd;
	struct test_ring *ring = open_mapped_test_ring(&fd, true, &es, &rings, &q);
	ck_assert_uint_eq(rings.rings_mapped, 1);

	struct lent_stacks l = { .es = &es };
	for (uint64_t t = 0; t < 3; t++)
		write_slot_stack(ring, t, 100 + t, 0xa0 + (int)t);
	ring->h.head = 2;
	agent_rings_read(&rings, &q);
	ck_assert_uint_eq(rings.samples, 2);
	ck_assert_uint_eq(ring->h.tail, 0); /* lent: queued, not handled */
	record_queue_mark(&q, 1000);
	struct record_consumer consumer = { note_lent_stack, slot_record_time, &l, &hold };
	ck_assert(record_queue_drain(&q, &consumer, true));
	ck_assert_int_eq(l.n, 2);
	for (size_t i = 0; i < sizeof(l.first); i++)
		ck_assert_uint_eq(l.first[i], 0xa0);
	agent_rings_read(&rings, &q);
	ck_assert_uint_eq(ring->h.tail, 2); /* handled: given back */

	/* Its process gone: read once more, let go, its mapping kept while
	 * its last sample waits. */
	ring->h.head = 3;
	agent_rings_exited(&rings, getpid());
	agent_rings_read(&rings, &q);
	ck_assert_uint_eq(rings.samples, 3);
	ck_assert_uint_eq(rings.rings.count, 0);
	ck_assert_uint_eq(rings.retired.count, 1);
	ck_assert_int_eq(munmap(ring, sizeof(*ring)), 0); /* the reader's mapping is the last */
	close(fd);
	record_queue_close(&q);
	l.n = 0;
	while (record_queue_drain(&q, &consumer, true))
		;
	ck_assert_int_eq(l.n, 1);
	ck_assert_uint_eq(l.first[0], 0xa2);
	agent_rings_read(&rings, &q); /* handled: the mapping goes */
	ck_assert_uint_eq(rings.retired.count, 0);
	close_test_ring(&q, &rings, &es);
}
END_TEST

/* Drained within the pass, the slots handled go back then, not at the
 * next read. */
START_TEST(test_agent_ring_gives_back_within_the_pass)
{
	struct event_set es;
	struct agent_rings rings;
	struct record_queue q;
	pthread_mutex_t hold = PTHREAD_MUTEX_INITIALIZER;
	int fd;
	struct test_ring *ring = open_mapped_test_ring(&fd, true, &es, &rings, &q);
	struct lent_stacks l = { .es = &es };
	struct record_consumer consumer = { note_lent_stack, slot_record_time, &l, &hold };
	record_queue_consume_inline(&q, &consumer);
	agent_rings_drained_in_pass(&rings, NULL);
	for (uint64_t t = 0; t < 3; t++)
		write_slot_stack(ring, t, 100 + t, 0xa0 + (int)t);
	ring->h.head = 3;
	agent_rings_read(&rings, &q);
	ck_assert_uint_eq(ring->h.tail, 0);
	record_queue_mark(&q, 101); /* the third waits for older records */
	ck_assert(record_queue_drain(&q, &consumer, false));
	ck_assert_int_eq(l.n, 2);
	agent_rings_give_back_handled(&rings, &q);
	ck_assert_uint_eq(ring->h.tail, 0); /* the pass is lent as a whole */
	record_queue_mark(&q, 1000);
	ck_assert(record_queue_drain(&q, &consumer, false));
	ck_assert_int_eq(l.n, 3);
	agent_rings_give_back_handled(&rings, &q);
	ck_assert_uint_eq(ring->h.tail, 3);
	munmap(ring, sizeof(*ring));
	close(fd);
	close_test_ring(&q, &rings, &es);
}
END_TEST

/* A recording that ends while its target runs on gives back the slots it
 * lent, or the next recording of that process would read them again. */
START_TEST(test_agent_ring_lent_slots_go_back_at_the_end)
{
	struct event_set es;
	struct agent_rings rings;
	struct record_queue q;
	pthread_mutex_t hold = PTHREAD_MUTEX_INITIALIZER;
	int fd;
	struct test_ring *ring = open_mapped_test_ring(&fd, true, &es, &rings, &q);
	for (uint64_t t = 0; t < 2; t++)
		write_slot_stack(ring, t, 100 + t, 0xa0);
	ring->h.head = 2;
	agent_rings_read(&rings, &q);
	ck_assert_uint_eq(ring->h.tail, 0);
	record_queue_close(&q);
	struct lent_stacks l = { .es = &es };
	struct record_consumer consumer = { note_lent_stack, slot_record_time, &l, &hold };
	while (record_queue_drain(&q, &consumer, true))
		;
	ck_assert_int_eq(l.n, 2);
	agent_rings_give_back_all(&rings);
	ck_assert_uint_eq(ring->h.tail, 2);
	record_queue_release(&q);
	agent_rings_release(&rings);
	ck_assert_uint_eq(ring->h.tail, 2);
	vec_release(&es.events);
	munmap(ring, sizeof(*ring));
	close(fd);
}
END_TEST

/* Slots older than the recording are an earlier one's (killed before it
 * gave them back): read past, not queued. */
START_TEST(test_agent_ring_skips_an_earlier_recordings_slots)
{
	static struct test_ring ring;
	struct event_set es;
	struct agent_rings rings;
	struct record_queue q;
	pthread_mutex_t hold = PTHREAD_MUTEX_INITIALIZER;
	open_test_ring(&ring, -1, &es, &rings, &q);
	rings.since_ns = 250;
	ring.h.head = 3;
	for (uint64_t t = 0; t < 3; t++)
		write_slot(&ring, t, 100 * t + 100);
	agent_rings_read(&rings, &q);
	ck_assert_uint_eq(ring.h.tail, 3);
	ck_assert_uint_eq(rings.samples, 1);
	ck_assert_uint_eq(rings.stale, 2);
	record_queue_close(&q);
	struct drained d = { .n = 0 };
	struct record_consumer consumer = { note_slot_record, slot_record_time, &d, &hold };
	while (record_queue_drain(&q, &consumer, true))
		;
	ck_assert_int_eq(d.n, 1);
	ck_assert_uint_eq(d.times[0], 300);
	close_test_ring(&q, &rings, &es);
}
END_TEST

/* A ring whose file may shrink (not sealed) is read, never mapped: the
 * target could cut it under our mapping. */
START_TEST(test_agent_ring_unsealed_is_not_mapped)
{
	struct event_set es;
	struct agent_rings rings;
	struct record_queue q;
	int fd;
	struct test_ring *ring = open_mapped_test_ring(&fd, false, &es, &rings, &q);
	ck_assert_uint_eq(rings.rings_seen, 1);
	ck_assert_uint_eq(rings.rings_mapped, 0);
	write_slot_stack(ring, 0, 100, 0xa0);
	ring->h.head = 1;
	agent_rings_read(&rings, &q);
	ck_assert_uint_eq(rings.samples, 1);
	ck_assert_uint_eq(ring->h.tail, 1); /* copied: given back at once */
	close_test_ring(&q, &rings, &es);
	munmap(ring, sizeof(*ring));
	close(fd);
}
END_TEST

/* Per-CPU buffer sizes: event views get eight times a sampling view's room,
 * root's CPUs share a 256 MiB budget, and a user's stay within
 * perf_event_mlock_kb (header page included). */
START_TEST(test_buffer_pages)
{
	struct profiler_options cpu = { .views = VIEW_CPU, .unwind = UNWIND_DWARF };
	struct profiler_options fp = { .views = VIEW_CPU, .unwind = UNWIND_FP };
	struct profiler_options offcpu = { .views = VIEW_OFFCPU, .unwind = UNWIND_DWARF };
	ck_assert_uint_eq(event_buffer_pages(&cpu, 2, true, 0), 512);
	ck_assert_uint_eq(event_buffer_pages(&fp, 2, true, 0), 64);
	ck_assert_uint_eq(event_buffer_pages(&offcpu, 2, true, 0), 4096);
	ck_assert_uint_eq(event_buffer_pages(&offcpu, 16, true, 0), 4096);
	ck_assert_uint_eq(event_buffer_pages(&offcpu, 17, true, 0), 2048);
	ck_assert_uint_eq(event_buffer_pages(&offcpu, 96, true, 0), 512); /* 192 MiB in all, not 1.5 GiB */
	ck_assert_uint_eq(event_buffer_pages(&cpu, 96, true, 0), 512);
	ck_assert_uint_eq(event_buffer_pages(&offcpu, 4096, true, 0), 64);
	ck_assert_uint_eq(event_buffer_pages(&cpu, 2, false, 516), 32); /* 516 KiB: 32 + 1 pages a CPU */
	ck_assert_uint_eq(event_buffer_pages(&offcpu, 1, false, 516), 128);
	ck_assert_uint_eq(event_buffer_pages(&cpu, 0, false, 0), 1);
}
END_TEST

START_TEST(test_arch_tables)
{
	char filter[512];
	arch_io_filter(filter, sizeof(filter));
	ck_assert_ptr_nonnull(strstr(filter, "id == 0 || id == 1 ||"));
	ck_assert_ptr_nonnull(strstr(filter, "id == 328"));
	ck_assert(arch_io_syscall(0)->moves_bytes);   /* read */
	ck_assert(!arch_io_syscall(74)->moves_bytes); /* fsync */
	ck_assert_ptr_null(arch_io_syscall(2));       /* open: not followed */
	uint64_t mask = arch_unwind_regs_mask();
	for (int r = 0; r < ARCH_REGS; r++)
		if (r != ARCH_REG_RET || (mask & (1ull << arch_perf_reg((enum arch_reg)r))))
			ck_assert(mask & (1ull << arch_perf_reg((enum arch_reg)r)));
	ck_assert_int_eq(__builtin_popcountll(mask), 17);
}
END_TEST

/* A stack's node is found again only for the same frames (kernel ones
 * apart from user ones at the same address), process, mappings' generation
 * and root; not once the process is gone, nor for stacks too deep to keep. */
START_TEST(test_stack_memo)
{
	struct stack_memo *m = stack_memo_new();
	ck_assert_ptr_nonnull(m);
	static struct frames f, g, deep;
	f.n = 3;
	f.ip[0] = 0x401000, f.ip[1] = 0x402000, f.ip[2] = 0x403000;
	uint64_t hash;
	ck_assert_uint_eq(stack_memo_find(m, 7, 1, PROFILE_NONE, &f, &hash), PROFILE_NONE);
	stack_memo_keep(m, 7, 1, PROFILE_NONE, &f, hash, 42);
	ck_assert_uint_eq(stack_memo_find(m, 7, 1, PROFILE_NONE, &f, &hash), 42);
	ck_assert_uint_eq(stack_memo_find(m, 8, 1, PROFILE_NONE, &f, &hash), PROFILE_NONE);
	ck_assert_uint_eq(stack_memo_find(m, 7, 2, PROFILE_NONE, &f, &hash), PROFILE_NONE);
	ck_assert_uint_eq(stack_memo_find(m, 7, 1, 5, &f, &hash), PROFILE_NONE);
	g = f;
	g.is_kernel[2] = true;
	ck_assert_uint_eq(stack_memo_find(m, 7, 1, PROFILE_NONE, &g, &hash), PROFILE_NONE);
	g = f;
	g.ip[1]++;
	ck_assert_uint_eq(stack_memo_find(m, 7, 1, PROFILE_NONE, &g, &hash), PROFILE_NONE);
	g = f;
	g.n = 2;
	ck_assert_uint_eq(stack_memo_find(m, 7, 1, PROFILE_NONE, &g, &hash), PROFILE_NONE);
	stack_memo_drop_process(m, 7);
	ck_assert_uint_eq(stack_memo_find(m, 7, 1, PROFILE_NONE, &f, &hash), PROFILE_NONE);
	deep.n = STACK_MEMO_FRAMES + 1;
	ck_assert_uint_eq(stack_memo_find(m, 7, 1, PROFILE_NONE, &deep, &hash), PROFILE_NONE);
	stack_memo_keep(m, 7, 1, PROFILE_NONE, &deep, hash, 43);
	ck_assert_uint_eq(stack_memo_find(m, 7, 1, PROFILE_NONE, &deep, &hash), PROFILE_NONE);
	stack_memo_free(m);
}
END_TEST

/* An unwind's reads become its stack's hint: stack words as offsets from
 * SP, registers as where a slot holds them; told once, told again when a
 * value changes, and never when the agent could not check them. */
START_TEST(test_agent_hint_from_unwind_reads)
{
	static struct agent_ring_hint hints[AGENT_RING_HINTS];
	static struct agent_hint_origin origins[AGENT_RING_HINTS];
	uint64_t sp = 0x7ffd00001000, ip = 0x5000;
	enum arch_reg order[] = { ARCH_REG_RET, ARCH_REG_ARG0, ARCH_REG_SP, ARCH_REG_IP }; /* rax, rdi, rsp, rip */
	uint64_t regs[4] = { 0, 0x1234, sp, ip }, mask = 0;
	for (int i = 0; i < 4; i++)
		mask |= 1ull << arch_perf_reg(order[i]);
	struct sample_view v = { .regs_mask = mask, .regs = regs, .stack_dyn = 256, .agent_hints = hints,
				 .agent_nhints = AGENT_RING_HINTS };
	struct unwind_read reads[] = {
		{ sp + 16, 0xaaaa }, { UNWIND_READ_REG | 2, sp }, { UNWIND_READ_REG | 1, 0x1234 },
		{ UNWIND_READ_REG | 0, 0 }, /* rax: no place in a slot, always 0 there */
		{ sp + 40, 0xbbbb },
	};
	struct unwind_result r = { .reads = reads, .nreads = 5, .memo = 5, .memo_stamp = 9 };
	agent_hint_publish(&v, &r, origins);
	const struct agent_ring_hint *h = &hints[agent_ring_hint_index(sp)]; /* its set's first way */
	ck_assert_uint_eq(h->seq, 2);
	ck_assert_uint_eq(h->ip, ip);
	ck_assert_uint_eq(h->sp, sp);
	ck_assert_uint_eq(h->stack_len, 256);
	ck_assert_uint_eq(h->nwords, 4);
	struct agent_hint_word want[] = { { 16, 0xaaaa },
					  { AGENT_HINT_REG | AGENT_REG_SP, sp },
					  { AGENT_HINT_REG | AGENT_RING_REGS, 0x1234 },
					  { 40, 0xbbbb } };
	ck_assert(memcmp(h->words, want, sizeof(want)) == 0);
	/* What it was published from: a sample whose slot names this hint at
	 * this seq is known to match that memo; not at another seq (written
	 * again since), nor a slot that does not say which hint it matched. */
	const struct agent_hint_origin *o = &origins[agent_ring_hint_index(sp)];
	ck_assert_uint_eq(o->seq, 2);
	ck_assert_uint_eq(o->memo, 5);
	ck_assert_uint_eq(o->memo_stamp, 9);
	struct unwind_known known;
	v.agent_sparse = agent_ring_sparse(0, 2);
	agent_hint_known(&v, origins, &known);
	ck_assert_uint_eq(known.memo, 5);
	ck_assert_uint_eq(known.stamp, 9);
	v.agent_sparse = agent_ring_sparse(0, 4);
	agent_hint_known(&v, origins, &known);
	ck_assert_uint_eq(known.stamp, 0);
	v.agent_sparse = agent_ring_sparse(1, 2);
	agent_hint_known(&v, origins, &known);
	ck_assert_uint_eq(known.stamp, 0);
	v.agent_sparse = AGENT_SPARSE;
	agent_hint_known(&v, origins, &known);
	ck_assert_uint_eq(known.stamp, 0);
	/* A sample it matched, unwound from another memo (the first let go):
	 * that memo is the hint's now. */
	r.memo = 6, r.memo_stamp = 10;
	v.agent_sparse = agent_ring_sparse(0, 2);
	agent_hint_publish(&v, &r, origins);
	ck_assert_uint_eq(h->seq, 2);
	agent_hint_known(&v, origins, &known);
	ck_assert_uint_eq(known.memo, 6);
	ck_assert_uint_eq(known.stamp, 10);
	v.agent_sparse = 0;
	agent_hint_publish(&v, &r, origins);
	ck_assert_uint_eq(h->seq, 2); /* the same: not written again */
	/* Another stack at the same SP takes another way of the set, until
	 * the set is full; then one way at random. */
	for (uint64_t value = 0xc000; value < 0xc000 + 2 * AGENT_HINT_WAYS; value++) {
		reads[4].value = value;
		agent_hint_publish(&v, &r, origins);
		uint32_t holding = 0, written = 0;
		for (uint32_t w = 0; w < AGENT_HINT_WAYS; w++) {
			holding += h[w].nwords == 4 && h[w].words[3].value == value && h[w].seq % 2 == 0;
			written += h[w].seq != 0;
		}
		ck_assert_uint_eq(holding, 1);
		if (value == 0xc000)
			ck_assert_uint_eq(h[1].words[3].value, 0xc000); /* a free way first */
		ck_assert_uint_eq(written, value - 0xc000 + 2 < AGENT_HINT_WAYS ? value - 0xc000 + 2 : AGENT_HINT_WAYS);
	}
	/* Nothing for a stack a hint matched (copied in part), nor what the
	 * agent could not check: a read off the copy, a register a slot has not
	 * that is not 0, an unwind not remembered, no hints. */
	struct agent_ring_hint before[AGENT_HINT_WAYS];
	memcpy(before, h, sizeof(before));
	reads[4].value = 0xdddd;
	v.agent_sparse = AGENT_SPARSE;
	agent_hint_publish(&v, &r, origins);
	v.agent_sparse = 0;
	reads[4].where = sp + 256;
	agent_hint_publish(&v, &r, origins);
	reads[4].where = sp + 40;
	reads[3].value = 7;
	agent_hint_publish(&v, &r, origins);
	reads[3].value = 0;
	r.reads = NULL;
	agent_hint_publish(&v, &r, origins);
	r.reads = reads;
	v.agent_hints = NULL;
	agent_hint_publish(&v, &r, origins);
	ck_assert(memcmp(before, h, sizeof(before)) == 0);
}
END_TEST

static Suite *profiler_suite(void)
{
	Suite *s = suite_create("profiler");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_sample_decodes);
	tcase_add_test(tc, test_sample_truncated_at_every_byte);
	tcase_add_test(tc, test_sample_oversized_fields);
	tcase_add_test(tc, test_sample_registers_and_stack);
	tcase_add_test(tc, test_side_records);
	tcase_add_test(tc, test_spans_out_of_order);
	tcase_add_test(tc, test_spans_unmatched);
	tcase_add_test(tc, test_spans_orphan_start_goes);
	tcase_add_test(tc, test_record_queue_orders_by_time);
	tcase_add_test(tc, test_record_queue_orders_reversed_batch);
	tcase_add_test(tc, test_record_queue_wraps);
	tcase_add_test(tc, test_record_queue_drains_inline);
	tcase_add_test(tc, test_agent_ring_settles);
	tcase_add_test(tc, test_agent_ring_read_pace);
	tcase_add_test(tc, test_agent_ring_lends_mapped_slots);
	tcase_add_test(tc, test_agent_ring_gives_back_within_the_pass);
	tcase_add_test(tc, test_agent_ring_lent_slots_go_back_at_the_end);
	tcase_add_test(tc, test_agent_ring_skips_an_earlier_recordings_slots);
	tcase_add_test(tc, test_agent_ring_unsealed_is_not_mapped);
	tcase_add_test(tc, test_buffer_pages);
	tcase_add_test(tc, test_arch_tables);
	tcase_add_test(tc, test_agent_hint_from_unwind_reads);
	tcase_add_test(tc, test_stack_memo);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(profiler_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
