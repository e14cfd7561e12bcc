/* Unit tests of profile/: the model, folded text, and the .smolder format. */
#include <check.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "profile/profile.h"

static char tmpdir[] = "/tmp/check_profile.XXXXXX";

static char *tmp_path(const char *name)
{
	static char path[256];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	return path;
}

/* A small profile with mappings, symbolized and unsymbolized locations,
 * threads, metadata and two values. */
static void build_sample_profile(struct profile *p)
{
	profile_init(p);
	ck_assert_int_eq(profile_add_value_type(p, "samples", "count"), 0);
	ck_assert_int_eq(profile_add_value_type(p, "cpu", "nanoseconds"), 1);
	ck_assert_int_eq(profile_set_meta(p, "command", "./demo --fast"), 0);
	struct mapping m = { 0x400000, 0x500000, 0x1000, (uint32_t)profile_string(p, "/usr/bin/demo"),
			     (uint32_t)profile_string(p, "abcdef0123") };
	uint32_t map = (uint32_t)profile_add_mapping(p, &m);
	uint32_t f_main = (uint32_t)profile_intern_function(p, (uint32_t)profile_string(p, "main"),
							    (uint32_t)profile_string(p, "demo.c"));
	uint32_t f_work = (uint32_t)profile_intern_function(p, (uint32_t)profile_string(p, "work"), 0);
	uint32_t f_inl = (uint32_t)profile_intern_function(p, (uint32_t)profile_string(p, "inlined"), 0);
	uint32_t l_main = (uint32_t)profile_intern_location(p, 0x401000, map);
	uint32_t l_work = (uint32_t)profile_intern_location(p, 0x402000, map);
	uint32_t l_raw = (uint32_t)profile_intern_location(p, 0x403000, map);
	struct line main_line = { f_main, 12 };
	struct line work_lines[2] = { { f_work, 30 }, { f_inl, 7 } };
	ck_assert_int_eq(profile_set_location_lines(p, l_main, &main_line, 1), 0);
	ck_assert_int_eq(profile_set_location_lines(p, l_work, work_lines, 2), 0);
	uint32_t s_main = (uint32_t)profile_intern_stack(p, PROFILE_NONE, l_main);
	uint32_t s_work = (uint32_t)profile_intern_stack(p, s_main, l_work);
	uint32_t s_raw = (uint32_t)profile_intern_stack(p, s_main, l_raw);
	ck_assert_int_eq(profile_set_thread(p, 42, 42, (uint32_t)profile_string(p, "demo")), 0);
	ck_assert_int_eq(profile_set_thread(p, 43, 42, (uint32_t)profile_string(p, "worker")), 0);
	int64_t v1[2] = { 1, 1000 }, v2[2] = { 3, 3000 };
	ck_assert_int_eq(profile_add_sample(p, s_work, 42, 5, v1), 0);
	ck_assert_int_eq(profile_add_sample(p, s_work, 42, 6, v1), 0); /* aggregated */
	ck_assert_int_eq(profile_add_sample(p, s_raw, 43, 7, v2), 0);
	ck_assert_int_eq(profile_add_sample(p, s_main, 43, 8, v1), 0);
}

static void assert_same_profile(const struct profile *a, const struct profile *b)
{
	ck_assert_uint_eq(a->nvalues, b->nvalues);
	ck_assert_uint_eq(a->samples.count, b->samples.count);
	ck_assert_uint_eq(a->stacks.count, b->stacks.count);
	ck_assert_uint_eq(a->locations.count, b->locations.count);
	for (uint32_t v = 0; v < a->nvalues; v++)
		ck_assert_int_eq(profile_total(a, v), profile_total(b, v));
	for (uint32_t i = 0; i < a->samples.count; i++) {
		const struct sample *x = profile_sample(a, i), *y = profile_sample(b, i);
		ck_assert_uint_eq(x->tid, y->tid);
		ck_assert_int_eq(x->value[0], y->value[0]);
		ck_assert_uint_eq(profile_stack_depth(a, x->stack), profile_stack_depth(b, y->stack));
	}
	for (uint32_t i = 0; i < a->locations.count; i++) {
		const struct location *x = profile_location(a, i), *y = profile_location(b, i);
		ck_assert_uint_eq(x->address, y->address);
		ck_assert_uint_eq(x->nlines, y->nlines);
		for (uint32_t k = 0; k < x->nlines; k++) {
			const struct function *fx = profile_function(a, profile_line(a, x->lines + k)->function);
			const struct function *fy = profile_function(b, profile_line(b, y->lines + k)->function);
			ck_assert_str_eq(string_table_get(&a->strings, fx->name),
					 string_table_get(&b->strings, fy->name));
			ck_assert_uint_eq(profile_line(a, x->lines + k)->line, profile_line(b, y->lines + k)->line);
		}
	}
}

START_TEST(test_string_table_interns)
{
	struct string_table t;
	string_table_init(&t);
	ck_assert_int_eq(string_table_intern(&t, "", 0), 0);
	int64_t a = string_table_intern(&t, "alpha", 5);
	int64_t b = string_table_intern(&t, "beta", 4);
	ck_assert_int_ne(a, b);
	ck_assert_int_eq(string_table_intern(&t, "alpha", 5), a);
	/* bytes are bytes: an embedded prefix is a different string */
	ck_assert_int_ne(string_table_intern(&t, "alp", 3), a);
	for (int i = 0; i < 10000; i++) {
		char buf[32];
		int n = snprintf(buf, sizeof(buf), "name%d", i);
		ck_assert_int_ge(string_table_intern(&t, buf, (size_t)n), 0);
	}
	ck_assert_str_eq(string_table_get(&t, (uint32_t)b), "beta");
	ck_assert_uint_eq(t.count, 10000 + 4);
	string_table_release(&t);
}
END_TEST

START_TEST(test_samples_aggregate)
{
	struct profile p;
	build_sample_profile(&p);
	ck_assert_uint_eq(p.samples.count, 3);
	ck_assert_int_eq(profile_total(&p, 0), 6);
	ck_assert_int_eq(profile_total(&p, 1), 6000);
	ck_assert_uint_eq(profile_stack_depth(&p, profile_sample(&p, 0)->stack), 2);
	ck_assert_str_eq(profile_get_meta(&p, "command"), "./demo --fast");
	ck_assert_ptr_null(profile_get_meta(&p, "absent"));
	profile_release(&p);
}
END_TEST

START_TEST(test_round_trip)
{
	struct profile p, q;
	build_sample_profile(&p);
	ck_assert_int_eq(profile_write_file(&p, tmp_path("rt.smolder")), 0);
	ck_assert_int_eq(access(tmp_path("rt.smolder.partial"), F_OK), -1); /* renamed */
	profile_init(&q);
	struct profile_read_info info;
	ck_assert_int_eq(profile_read_file(&q, tmp_path("rt.smolder"), &info), 0);
	ck_assert(!info.truncated);
	assert_same_profile(&p, &q);
	ck_assert_str_eq(profile_get_meta(&q, "command"), "./demo --fast");
	ck_assert_ptr_nonnull(profile_find_thread(&q, 43));
	profile_release(&p);
	profile_release(&q);
}
END_TEST

/* Flushing between additions writes deltas; the reader adds them up. */
START_TEST(test_incremental_flushes)
{
	struct profile p, q;
	build_sample_profile(&p);
	struct profile_writer *w;
	ck_assert_int_eq(profile_writer_open(&w, tmp_path("inc.smolder")), 0);
	ck_assert_int_eq(profile_writer_flush(w, &p), 0);
	int64_t more[2] = { 10, 10000 };
	ck_assert_int_eq(profile_add_sample(&p, profile_sample(&p, 0)->stack, 42, 9, more), 0);
	ck_assert_int_eq(profile_writer_flush(w, &p), 0);
	/* a reader of the unfinished file sees everything flushed */
	profile_init(&q);
	struct profile_read_info info;
	ck_assert_int_eq(profile_read_file(&q, profile_writer_temp_path(w), &info), 0);
	ck_assert(info.truncated);
	ck_assert_int_eq(profile_total(&q, 0), 16);
	profile_release(&q);
	ck_assert_int_eq(profile_writer_finish(w, &p), 0);
	profile_writer_free(w);
	profile_init(&q);
	ck_assert_int_eq(profile_read_file(&q, tmp_path("inc.smolder"), &info), 0);
	ck_assert(!info.truncated);
	assert_same_profile(&p, &q);
	profile_release(&p);
	profile_release(&q);
}
END_TEST

/* A recording's file of a batch a second is rewritten as one, smaller and
 * reading the same; one whose raw data is large (events), or mostly events,
 * is left alone: rewriting it would gain nothing and cost a read and a
 * compression. */
START_TEST(test_compaction)
{
	struct profile p, q;
	build_sample_profile(&p);
	struct profile_writer *w;
	ck_assert_int_eq(profile_writer_open(&w, tmp_path("small.smolder")), 0);
	int64_t more[2] = { 1, 1000 };
	for (int i = 0; i < 10; i++) {
		ck_assert_int_eq(profile_add_sample(&p, profile_sample(&p, (uint32_t)i % 3)->stack, 42, 9, more), 0);
		ck_assert_int_eq(profile_writer_flush(w, &p), 0);
	}
	ck_assert_int_eq(profile_writer_finish(w, &p), 0);
	ck_assert(profile_writer_compacts(w));
	profile_writer_free(w);
	struct stat before, after;
	ck_assert_int_eq(stat(tmp_path("small.smolder"), &before), 0);
	ck_assert_int_eq(profile_compact_file(tmp_path("small.smolder")), 0);
	ck_assert_int_eq(stat(tmp_path("small.smolder"), &after), 0);
	ck_assert_int_lt(after.st_size, before.st_size);
	profile_init(&q);
	ck_assert_int_eq(profile_read_file(&q, tmp_path("small.smolder"), NULL), 0);
	assert_same_profile(&p, &q);
	profile_release(&q);

	ck_assert_int_eq(profile_writer_open(&w, tmp_path("events.smolder")), 0);
	uint64_t x = 88172645463325252ull;
	for (uint32_t i = 0; i < 30000; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		int64_t values[2] = { 1, (int64_t)(x % 100000) };
		const struct sample *s = profile_sample(&p, i % 3);
		ck_assert_int_eq(profile_add_event(&p, s->stack, s->tid, 1000000000ull + i * 20011ull + x % 7919, values), 0);
		if (i % 5000 == 4999)
			ck_assert_int_eq(profile_writer_flush(w, &p), 0);
	}
	ck_assert_int_eq(profile_writer_finish(w, &p), 0);
	profile_writer_free(w);
	ck_assert_int_eq(stat(tmp_path("events.smolder"), &before), 0);
	ck_assert_int_ge(before.st_size, 64 << 10);
	ck_assert_int_eq(profile_compact_file(tmp_path("events.smolder")), 0);
	ck_assert_int_eq(stat(tmp_path("events.smolder"), &after), 0);
	ck_assert_uint_eq(after.st_ino, before.st_ino);
	ck_assert_int_eq(after.st_size, before.st_size);
	profile_init(&q);
	ck_assert_int_eq(profile_read_file(&q, tmp_path("events.smolder"), NULL), 0);
	ck_assert_uint_eq(q.events.count, 30000);
	profile_release(&q);

	/* A short alloc view's: few events, but they are most of it, and level 1
	 * stores them as small as any level. */
	struct profile e;
	build_sample_profile(&e);
	ck_assert_int_eq(profile_writer_open(&w, tmp_path("few.smolder")), 0);
	for (uint32_t i = 0; i < 3000; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		int64_t values[2] = { 1, (int64_t)(x % 100000) };
		const struct sample *s = profile_sample(&e, i % 3);
		ck_assert_int_eq(profile_add_event(&e, s->stack, s->tid, 1000000000ull + i * 20011ull + x % 7919, values), 0);
	}
	ck_assert_int_eq(profile_writer_finish(w, &e), 0);
	ck_assert(!profile_writer_compacts(w));
	profile_writer_free(w);
	ck_assert_int_eq(stat(tmp_path("few.smolder"), &before), 0);
	ck_assert_int_lt(before.st_size, 64 << 10);
	profile_release(&e);
	profile_release(&p);
}
END_TEST

/* Flushes w with the file capped at its present size (as a full disk
 * would), which must fail, then lifts the cap. */
static void flush_into_full_disk(struct profile_writer *w, const struct profile *p)
{
	struct stat st;
	ck_assert_int_eq(stat(profile_writer_temp_path(w), &st), 0);
	struct rlimit full = { (rlim_t)st.st_size + 1, RLIM_INFINITY }, free_again = { RLIM_INFINITY, RLIM_INFINITY };
	signal(SIGXFSZ, SIG_IGN);
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &full), 0);
	ck_assert_int_ne(profile_writer_flush(w, p), 0);
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &free_again), 0);
}

/* A chunk that a full disk cut short is written again once there is room:
 * new sample values, lines and build-ids each get lost in one. */
START_TEST(test_flush_after_full_disk)
{
	struct profile p, q;
	build_sample_profile(&p);
	struct profile_writer *w;
	ck_assert_int_eq(profile_writer_open(&w, tmp_path("full.smolder")), 0);
	ck_assert_int_eq(profile_writer_flush(w, &p), 0);
	int64_t more[2] = { 10, 10000 };
	ck_assert_int_eq(profile_add_sample(&p, profile_sample(&p, 0)->stack, 42, 9, more), 0);
	flush_into_full_disk(w, &p);
	struct line raw_line = { profile_line(&p, profile_location(&p, 0)->lines)->function, 99 };
	ck_assert_int_eq(profile_set_location_lines(&p, 2, &raw_line, 1), 0);
	flush_into_full_disk(w, &p);
	profile_mapping(&p, 0)->build_id = profile_function(&p, 0)->name;
	flush_into_full_disk(w, &p);
	ck_assert_int_eq(profile_writer_finish(w, &p), 0);
	profile_writer_free(w);
	profile_init(&q);
	struct profile_read_info info;
	ck_assert_int_eq(profile_read_file(&q, tmp_path("full.smolder"), &info), 0);
	assert_same_profile(&p, &q);
	ck_assert_int_eq(profile_total(&q, 0), 16);
	ck_assert_str_eq(string_table_get(&q.strings, profile_mapping(&q, 0)->build_id), "main");
	profile_release(&p);
	profile_release(&q);
}
END_TEST

static uint8_t *file_bytes(const char *path, size_t *len)
{
	uint8_t *data;
	ck_assert_int_eq(read_whole_file(path, 1u << 30, &data, len), 0);
	return data;
}

/* The sample profile in p, and the bytes of its file (the caller frees). */
/* Written as a recorder writes: two batches, the second with events. */
static uint8_t *sample_profile_bytes(struct profile *p, const char *name, size_t *len)
{
	build_sample_profile(p);
	struct profile_writer *w;
	ck_assert_int_eq(profile_writer_open(&w, tmp_path(name)), 0);
	ck_assert_int_eq(profile_writer_flush(w, p), 0);
	int64_t v[2] = { 1, 1000 };
	for (uint32_t i = 0; i < 50; i++)
		ck_assert_int_eq(profile_add_event(p, profile_sample(p, i % 3)->stack, profile_sample(p, i % 3)->tid,
						   1000000000ull + i * 1001000ull, v), 0);
	ck_assert_int_eq(profile_writer_finish(w, p), 0);
	profile_writer_free(w);
	return file_bytes(tmp_path(name), len);
}

/* Events come back with their samples, their times (to the microsecond)
 * and their values, across flushes whose events were forgotten between. */
START_TEST(test_events_round_trip)
{
	struct profile p, q;
	build_sample_profile(&p);
	struct profile_writer *w;
	ck_assert_int_eq(profile_writer_open(&w, tmp_path("events.smolder")), 0);
	uint64_t times[6] = { 2000000000ull, 2000999000ull, 2001998000ull, 1500000000ull, 9000000000ull, 9000000000ull };
	int64_t values[6][2] = { { 1, 1001 }, { 1, 1002 }, { 1, 999 }, { 2, 5 }, { 1, 1 }, { 0, 7 } };
	uint32_t on[6] = { 0, 0, 1, 2, 1, 0 };
	for (uint32_t i = 0; i < 6; i++) {
		const struct sample *s = profile_sample(&p, on[i]);
		ck_assert_int_eq(profile_add_event(&p, s->stack, s->tid, times[i], values[i]), 0);
		if (i == 2) {
			ck_assert_int_eq(profile_writer_flush(w, &p), 0);
			profile_forget_events(&p);
			ck_assert_uint_eq(p.events.count, 0);
		}
	}
	ck_assert_int_eq(profile_writer_finish(w, &p), 0);
	profile_writer_free(w);
	profile_init(&q);
	ck_assert_int_eq(profile_read_file(&q, tmp_path("events.smolder"), NULL), 0);
	ck_assert_uint_eq(q.events.count, 6);
	uint32_t seen = 0;
	for (uint32_t i = 0; i < 6; i++) {
		for (uint32_t k = 0; k < q.events.count; k++) {
			const struct profile_event *e = profile_event(&q, k);
			const struct sample *qs = profile_sample(&q, e->sample), *ps = profile_sample(&p, on[i]);
			if (e->time != times[i] || qs->stack != ps->stack || qs->tid != ps->tid ||
			    profile_event_values(&q, k)[0] != values[i][0] || profile_event_values(&q, k)[1] != values[i][1])
				continue;
			seen |= 1u << i;
			break;
		}
	}
	ck_assert_uint_eq(seen, 0x3f);
	for (uint32_t v = 0; v < 2; v++)
		ck_assert_int_eq(profile_total(&q, v), profile_total(&p, v));
	profile_release(&p);
	profile_release(&q);
}
END_TEST

/* Events are written by thread, then time, whatever order they came in:
 * nearly in time order from two threads, reversed from three, at random
 * from forty. */
START_TEST(test_events_order)
{
	for (int shape = 0; shape < 3; shape++) {
		struct profile p, q;
		build_sample_profile(&p);
		uint32_t stack = profile_sample(&p, 0)->stack, n = 3000;
		uint64_t x = 88172645463325252ull, index_sum = 0;
		for (uint32_t i = 0; i < n; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			uint64_t us = shape == 0 ? i + (i % 7 == 3 ? 2 : 0) : shape == 1 ? n - i / 2 : x % 500;
			uint32_t tid = shape == 0 ? 100 + i % 2 : shape == 1 ? 200 + i % 3 : 300 + (uint32_t)(x >> 40) % 40;
			int64_t values[2] = { 1, i };
			ck_assert_int_eq(profile_add_event(&p, stack, tid, 1000000000ull + us * 1000, values), 0);
			index_sum += i;
		}
		ck_assert_int_eq(profile_write_file(&p, tmp_path("order.smolder")), 0);
		profile_init(&q);
		ck_assert_int_eq(profile_read_file(&q, tmp_path("order.smolder"), NULL), 0);
		ck_assert_uint_eq(q.events.count, n);
		uint64_t sum = 0;
		for (uint32_t k = 0; k < n; k++) {
			const struct profile_event *e = profile_event(&q, k);
			sum += (uint64_t)profile_event_values(&q, k)[1];
			if (!k)
				continue;
			const struct profile_event *d = profile_event(&q, k - 1);
			uint32_t tid = profile_sample(&q, e->sample)->tid, dtid = profile_sample(&q, d->sample)->tid;
			ck_assert(dtid < tid || (dtid == tid && (d->time < e->time || (d->time == e->time &&
				profile_event_values(&q, k - 1)[1] < profile_event_values(&q, k)[1]))));
		}
		ck_assert_uint_eq(sum, index_sum);
		profile_release(&p);
		profile_release(&q);
	}
}
END_TEST

/* A time range keeps its events' values, summed per sample; a profile
 * without times says so. */
START_TEST(test_time_range)
{
	struct profile p;
	build_sample_profile(&p);
	ck_assert_int_eq(profile_keep_time_range(&p, 0, UINT64_MAX), -PROFILE_E_NO_TIMES);
	const struct sample a = *profile_sample(&p, 0), b = *profile_sample(&p, 1);
	int64_t v[2] = { 1, 1000 };
	for (uint32_t i = 0; i < 100; i++)
		ck_assert_int_eq(profile_add_event(&p, i < 60 ? a.stack : b.stack, i < 60 ? a.tid : b.tid,
						   1000000000ull + i * 10000000ull, v), 0);
	uint64_t start, end;
	ck_assert(profile_time_span(&p, &start, &end));
	ck_assert_uint_eq(start, 1000000000ull);
	ck_assert_uint_eq(end, 1990000000ull);
	/* [1.0 s, 1.5 s): events 0-49, all of a */
	ck_assert_int_eq(profile_keep_time_range(&p, 1000000000ull, 1500000000ull), 0);
	ck_assert_uint_eq(p.samples.count, 1);
	ck_assert_uint_eq(profile_sample(&p, 0)->stack, a.stack);
	ck_assert_int_eq(profile_total(&p, 0), 50);
	ck_assert_int_eq(profile_total(&p, 1), 50000);
	ck_assert_uint_eq(p.events.count, 50);
	/* then [1.45 s, 2 s) of that: events 45-49 */
	ck_assert_int_eq(profile_keep_time_range(&p, 1450000000ull, 2000000000ull), 0);
	ck_assert_int_eq(profile_total(&p, 0), 5);
	ck_assert_uint_eq(profile_event(&p, 4)->sample, 0);
	profile_release(&p);
}
END_TEST

/* Every prefix of a file either reads (a prefix of complete chunks) or fails
 * cleanly; a prefix never yields more samples than the whole. */
START_TEST(test_every_prefix)
{
	struct profile p;
	size_t len;
	uint8_t *data = sample_profile_bytes(&p, "prefix.smolder", &len);
	uint32_t ok = 0;
	for (size_t n = 0; n < len; n++) {
		struct profile q;
		profile_init(&q);
		struct profile_read_info info;
		int err = profile_read_buffer(&q, data, n, &info);
		if (err == 0) {
			ck_assert(info.truncated);
			ck_assert_uint_le(q.samples.count, p.samples.count);
			ok++;
		} else {
			ck_assert_int_lt(err, 0);
			ck_assert_int_gt(-err, 0);
			ck_assert_int_lt(-err, PROFILE_E_COUNT);
		}
		profile_release(&q);
	}
	ck_assert_uint_gt(ok, 0);
	free(data);
	profile_release(&p);
}
END_TEST

/* Any single flipped bit is caught (checksum, header or magic). */
START_TEST(test_bit_flips)
{
	struct profile p;
	size_t len;
	uint8_t *data = sample_profile_bytes(&p, "flip.smolder", &len);
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit += 3) {
			data[i] ^= (uint8_t)(1 << bit);
			struct profile q;
			profile_init(&q);
			struct profile_read_info info;
			int err = profile_read_buffer(&q, data, len, &info);
			/* Flags bytes 12-15 of the header are reserved and ignored. */
			if (!(i >= 12 && i < 16))
				ck_assert_msg(err != 0 || info.truncated, "flip at byte %zu bit %d not caught", i, bit);
			profile_release(&q);
			data[i] ^= (uint8_t)(1 << bit);
		}
	}
	free(data);
	profile_release(&p);
}
END_TEST

/* Two profiles joined are refused, not read as the first. */
START_TEST(test_trailing_data)
{
	struct profile p;
	size_t len;
	uint8_t *data = sample_profile_bytes(&p, "twice.smolder", &len);
	uint8_t *twice = malloc(2 * len);
	memcpy(twice, data, len);
	memcpy(twice + len, data, len);
	struct profile q;
	profile_init(&q);
	ck_assert_int_eq(profile_read_buffer(&q, twice, 2 * len, NULL), -PROFILE_E_TRAILING);
	profile_release(&q);
	profile_init(&q);
	ck_assert_int_eq(profile_read_buffer(&q, twice, len + 1, NULL), -PROFILE_E_TRAILING);
	profile_release(&q);
	profile_init(&q);
	ck_assert_int_eq(profile_read_buffer(&q, twice, len, NULL), 0);
	profile_release(&q);
	free(twice);
	free(data);
	profile_release(&p);
}
END_TEST

/* A chunk whose stored size was made larger than its payload, in a file
 * that goes on after it: corruption, said as such, not a truncated file;
 * the same file cut inside that chunk is a truncated one. */
START_TEST(test_chunk_size_lie)
{
	struct profile p;
	size_t len;
	uint8_t *data = sample_profile_bytes(&p, "lie.smolder", &len);
	/* The first chunk's header is at 16; its stored size at 20. */
	uint32_t stored;
	memcpy(&stored, data + 20, 4);
	ck_assert_uint_lt(16 + 16 + stored, len);
	uint32_t lie = (uint32_t)len;
	memcpy(data + 20, &lie, 4);
	struct profile q;
	profile_init(&q);
	struct profile_read_info info;
	ck_assert_int_eq(profile_read_buffer(&q, data, len, &info), -PROFILE_E_CHUNK_SIZE);
	profile_release(&q);
	memcpy(data + 20, &stored, 4);
	profile_init(&q);
	int err = profile_read_buffer(&q, data, 16 + 16 + stored - 3, &info);
	ck_assert(err == -PROFILE_E_TRUNCATED || (err == 0 && info.truncated));
	profile_release(&q);
	free(data);
	profile_release(&p);
}
END_TEST

/* Counts past what a profile holds are held at 2^63-1 and counted, in
 * folded text and in perf script's periods alike. */
START_TEST(test_counts_clamped)
{
	struct profile p;
	profile_init(&p);
	struct folded_stats fs = { 0 };
	const char text[] = "a;b 99999999999999999999999\na;c 9223372036854775807\n";
	ck_assert_int_eq(profile_parse_folded(&p, text, sizeof(text) - 1, &fs), 0);
	ck_assert_uint_eq(fs.clamped, 1);
	ck_assert_int_eq(profile_total(&p, 0), INT64_MAX); /* saturated, not wrapped */
	profile_release(&p);
	const char script[] = "prog 1 [000] 1: 99999999999999999999 cpu-clock:\n\tffff work (/bin/x)\n\n"
			      "prog 1 [000] 2: 5 cpu-clock:\n\tffff work (/bin/x)\n\n";
	struct collapse_options o = { 0 };
	struct collapse_result *r;
	struct collapse_stats cs;
	ck_assert_int_eq(collapse_perf(script, sizeof(script) - 1, &o, &r, &cs), 0);
	ck_assert_uint_eq(cs.clamped, 1);
	char *out = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&out, &size);
	ck_assert_int_eq(collapse_result_write(r, f), 0);
	fclose(f);
	ck_assert_str_eq(out, "prog;work 9223372036854775807\n");
	free(out);
	collapse_result_free(r);
}
END_TEST

START_TEST(test_not_a_profile)
{
	struct profile q;
	profile_init(&q);
	const uint8_t junk[] = "this is not a profile at all";
	ck_assert_int_eq(profile_read_buffer(&q, junk, sizeof(junk), NULL), -PROFILE_E_NOT_PROFILE);
	uint8_t header[16] = "SMOLDER\x1a";
	header[8] = 99;
	ck_assert_int_eq(profile_read_buffer(&q, header, sizeof(header), NULL), -PROFILE_E_VERSION);
	profile_release(&q);
}
END_TEST

START_TEST(test_folded_parse)
{
	struct profile p;
	profile_init(&p);
	const char text[] = "main;work;leaf 10\n"
			    "main;work 5\n"
			    "main;work;leaf 2\n"
			    "broken line without count\n"
			    "main;other 1.6\n"
			    "main;space;  3\r\n"
			    "\n"
			    "justacount\n";
	struct folded_stats st;
	ck_assert_int_eq(profile_parse_folded(&p, text, strlen(text), &st), 0);
	ck_assert_uint_eq(st.lines, 7);
	ck_assert_uint_eq(st.bad_lines, 2);
	ck_assert_int_eq(profile_total(&p, 0), 10 + 5 + 2 + 2 + 3);
	/* the first three lines share one stack table path */
	ck_assert_uint_eq(p.samples.count, 4);
	/* "main;space;  3": the leaf frame is " " */
	const struct sample *s = profile_sample(&p, 3);
	ck_assert_uint_eq(profile_stack_depth(&p, s->stack), 3);
	const struct location *l = profile_location(&p, profile_stack(&p, s->stack)->location);
	const struct function *f = profile_function(&p, profile_line(&p, l->lines)->function);
	ck_assert_str_eq(string_table_get(&p.strings, f->name), " ");
	profile_release(&p);

	profile_init(&p);
	ck_assert_int_eq(profile_parse_folded(&p, "no counts here\n", 15, &st), -PROFILE_E_NO_FOLDED);
	profile_release(&p);
}
END_TEST

/* Named frames (no address) keep their names through a file. */
START_TEST(test_folded_round_trip)
{
	struct profile p, q;
	profile_init(&p);
	const char text[] = "a;b;c 1\nd;e 2\nf 3\n";
	ck_assert_int_eq(profile_parse_folded(&p, text, strlen(text), NULL), 0);
	ck_assert_int_eq(profile_write_file(&p, tmp_path("folded.smolder")), 0);
	profile_init(&q);
	ck_assert_int_eq(profile_read_file(&q, tmp_path("folded.smolder"), NULL), 0);
	ck_assert_uint_eq(q.locations.count, 6);
	assert_same_profile(&p, &q);
	/* and the index still finds them: interning again adds nothing */
	uint32_t fn = profile_line(&q, profile_location(&q, 0)->lines)->function;
	ck_assert_int_eq(profile_intern_named_location(&q, fn), 0);
	ck_assert_uint_eq(q.locations.count, 6);
	profile_release(&p);
	profile_release(&q);
}
END_TEST

/* Two intervals cut from a recording that goes on: each holds its own
 * samples only, with names; the recording keeps its tables. */
START_TEST(test_take_samples)
{
	struct profile live, first, second;
	build_sample_profile(&live);
	/* An unused location and mapping, which an interval must not carry. */
	struct mapping other = { 0x700000, 0x710000, 0, (uint32_t)profile_string(&live, "/lib/unused.so"), 0 };
	uint32_t unused_map = (uint32_t)profile_add_mapping(&live, &other);
	profile_intern_location(&live, 0x701000, unused_map);
	uint32_t stacks = live.stacks.count, locations = live.locations.count;
	int64_t total = profile_total(&live, 1);
	profile_init(&first);
	uint32_t mapping_of[4];
	ck_assert_int_eq(profile_take_samples(&first, &live, mapping_of), 0);
	ck_assert_uint_eq(live.samples.count, 0);
	ck_assert_uint_eq(live.stacks.count, stacks);
	ck_assert_uint_eq(live.locations.count, locations);
	ck_assert_int_eq(profile_total(&first, 1), total);
	ck_assert_uint_eq(first.mappings.count, 1);
	ck_assert_uint_eq(mapping_of[0], 0);
	ck_assert_uint_eq(first.locations.count, 3);
	ck_assert_str_eq(profile_get_meta(&first, "command"), "./demo --fast");
	ck_assert_ptr_nonnull(profile_find_thread(&first, 43));

	/* The recording goes on with the same ids; the next interval has only what came since. */
	int64_t v[2] = { 5, 5000 };
	ck_assert_int_eq(profile_add_sample(&live, 1, 42, 9, v), 0);
	profile_init(&second);
	ck_assert_int_eq(profile_take_samples(&second, &live, mapping_of), 0);
	ck_assert_uint_eq(second.samples.count, 1);
	ck_assert_int_eq(profile_total(&second, 1), 5000);
	ck_assert_uint_eq(profile_stack_depth(&second, profile_sample(&second, 0)->stack), 2);
	const struct location *leaf = profile_location(&second, profile_stack(&second, profile_sample(&second, 0)->stack)->location);
	ck_assert_uint_eq(leaf->nlines, 2);
	ck_assert_str_eq(string_table_get(&second.strings, profile_function(&second, profile_line(&second, leaf->lines + 1)->function)->name),
			 "inlined");
	ck_assert_ptr_null(profile_find_thread(&second, 43));
	profile_release(&live);
	profile_release(&first);
	profile_release(&second);
}
END_TEST

START_TEST(test_merge)
{
	struct profile a, b, m;
	build_sample_profile(&a);
	build_sample_profile(&b);
	profile_init(&m);
	ck_assert_int_eq(profile_merge(&m, &a), 0);
	ck_assert_int_eq(profile_merge(&m, &b), 0);
	ck_assert_int_eq(profile_total(&m, 0), 2 * profile_total(&a, 0));
	ck_assert_uint_eq(m.samples.count, a.samples.count);
	ck_assert_uint_eq(m.stacks.count, a.stacks.count);
	struct profile f;
	profile_init(&f);
	ck_assert_int_eq(profile_parse_folded(&f, "x;y 1\n", 6, NULL), 0);
	ck_assert_int_eq(profile_merge(&m, &f), -PROFILE_E_VALUES);
	profile_release(&a);
	profile_release(&b);
	profile_release(&m);
	profile_release(&f);
}
END_TEST

static Suite *profile_suite(void)
{
	Suite *s = suite_create("profile");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_string_table_interns);
	tcase_add_test(tc, test_samples_aggregate);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_incremental_flushes);
	tcase_add_test(tc, test_compaction);
	tcase_add_test(tc, test_flush_after_full_disk);
	tcase_add_test(tc, test_every_prefix);
	tcase_add_test(tc, test_events_round_trip);
	tcase_add_test(tc, test_events_order);
	tcase_add_test(tc, test_time_range);
	tcase_add_test(tc, test_bit_flips);
	tcase_add_test(tc, test_trailing_data);
	tcase_add_test(tc, test_counts_clamped);
	tcase_add_test(tc, test_chunk_size_lie);
	tcase_add_test(tc, test_not_a_profile);
	tcase_add_test(tc, test_folded_parse);
	tcase_add_test(tc, test_folded_round_trip);
	tcase_add_test(tc, test_merge);
	tcase_add_test(tc, test_take_samples);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	if (!mkdtemp(tmpdir))
		return 1;
	SRunner *sr = srunner_create(profile_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		return 1;
	return failed ? 1 : 0;
}
