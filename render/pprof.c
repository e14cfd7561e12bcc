/* pprof: profile.proto (github.com/google/pprof/proto/profile.proto),
 * gzip-compressed, with every value type as a sample type. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "render/render-internal.h"

static void pb_uint(struct byte_buf *b, uint32_t field, uint64_t v)
{
	if (!v)
		return; /* proto3 default */
	byte_buf_put_uvarint(b, (uint64_t)field << 3);
	byte_buf_put_uvarint(b, v);
}

static void pb_bytes(struct byte_buf *b, uint32_t field, const void *data, size_t len)
{
	byte_buf_put_uvarint(b, (uint64_t)field << 3 | 2);
	byte_buf_put_uvarint(b, len);
	byte_buf_put(b, data, len);
}

/* Appends msg as field `field` of b and empties msg for reuse. */
static void pb_message(struct byte_buf *b, uint32_t field, struct byte_buf *msg)
{
	b->failed |= msg->failed;
	pb_bytes(b, field, msg->data, msg->len);
	msg->len = 0;
}

enum { /* Profile's fields */
	PROFILE_SAMPLE_TYPE = 1, PROFILE_SAMPLE = 2, PROFILE_MAPPING = 3, PROFILE_LOCATION = 4,
	PROFILE_FUNCTION = 5, PROFILE_STRING_TABLE = 6, PROFILE_TIME_NANOS = 9,
	PROFILE_DURATION_NANOS = 10, PROFILE_PERIOD_TYPE = 11, PROFILE_PERIOD = 12, PROFILE_COMMENT = 13,
	PROFILE_DEFAULT_SAMPLE_TYPE = 14,
};

/* A sampled recording's period, as Go's CPU profiles give it (cpu
 * nanoseconds between samples), for readers that scale counts by it. */
static int pprof_period(const struct profile *p, struct string_table *strings, struct byte_buf *out)
{
	const char *hz = profile_get_meta(p, "frequency");
	unsigned long long n = hz ? strtoull(hz, NULL, 10) : 0;
	if (!n || profile_find_value(p, "samples") < 0)
		return 0;
	int64_t cpu = string_table_intern(strings, "cpu", 3), ns = string_table_intern(strings, "nanoseconds", 11);
	if (cpu < 0 || ns < 0)
		return -RENDER_E_NOMEM;
	struct byte_buf msg = { 0 };
	pb_uint(&msg, 1, (uint64_t)cpu);
	pb_uint(&msg, 2, (uint64_t)ns);
	pb_message(out, PROFILE_PERIOD_TYPE, &msg);
	free(msg.data);
	pb_uint(out, PROFILE_PERIOD, 1000000000ull / n);
	return msg.failed ? -RENDER_E_NOMEM : 0;
}

/* values: a bit per value type to write (samples with none of them are left out). */
static int pprof_encode(const struct profile *p, uint32_t values, struct byte_buf *out)
{
	struct string_table strings; /* the profile's, plus label keys and thread names */
	string_table_init(&strings);
	for (uint32_t i = 0; i < p->strings.count; i++)
		if (string_table_intern(&strings, string_table_get(&p->strings, i),
					string_table_len(&p->strings, i)) != i)
			goto nomem;
	int64_t thread_key = string_table_intern(&strings, "thread", 6);
	int64_t tid_key = string_table_intern(&strings, "tid", 3);
	if (thread_key < 0 || tid_key < 0)
		goto nomem;
	struct byte_buf msg = { 0 }, sub = { 0 };
	values &= (1u << p->nvalues) - 1;
	for (uint32_t v = 0; v < p->nvalues; v++) {
		if (!(values & 1u << v))
			continue;
		pb_uint(&msg, 1, p->value_types[v].type);
		pb_uint(&msg, 2, p->value_types[v].unit);
		pb_message(out, PROFILE_SAMPLE_TYPE, &msg);
	}
	for (uint32_t i = 0; i < p->samples.count; i++) {
		const struct sample *s = profile_sample(p, i);
		bool any = false;
		for (uint32_t v = 0; v < p->nvalues; v++)
			any |= (values & 1u << v) && s->value[v];
		if (!any)
			continue;
		/* packed location ids, leaf first */
		for (uint32_t st = s->stack; st != PROFILE_NONE; st = profile_stack(p, st)->parent)
			byte_buf_put_uvarint(&sub, (uint64_t)profile_stack(p, st)->location + 1);
		pb_message(&msg, 1, &sub);
		for (uint32_t v = 0; v < p->nvalues; v++)
			if (values & 1u << v)
				byte_buf_put_uvarint(&sub, (uint64_t)s->value[v]);
		pb_message(&msg, 2, &sub);
		const struct thread *th = profile_find_thread(p, s->tid);
		if (th) {
			pb_uint(&sub, 1, (uint64_t)thread_key);
			pb_uint(&sub, 2, th->comm);
			pb_message(&msg, 3, &sub);
			pb_uint(&sub, 1, (uint64_t)tid_key);
			pb_uint(&sub, 3, s->tid);
			pb_message(&msg, 3, &sub);
		}
		pb_message(out, PROFILE_SAMPLE, &msg);
	}
	for (uint32_t i = 0; i < p->mappings.count; i++) {
		const struct mapping *m = profile_mapping(p, i);
		pb_uint(&msg, 1, i + 1);
		pb_uint(&msg, 2, m->start);
		pb_uint(&msg, 3, m->end);
		pb_uint(&msg, 4, m->offset);
		pb_uint(&msg, 5, m->path);
		pb_uint(&msg, 6, m->build_id);
		pb_message(out, PROFILE_MAPPING, &msg);
	}
	for (uint32_t i = 0; i < p->locations.count; i++) {
		const struct location *l = profile_location(p, i);
		pb_uint(&msg, 1, i + 1);
		pb_uint(&msg, 2, l->mapping == PROFILE_NONE ? 0 : (uint64_t)l->mapping + 1);
		pb_uint(&msg, 3, l->address);
		/* pprof lists a location's lines innermost first */
		for (uint32_t k = l->nlines; k-- > 0;) {
			const struct line *line = profile_line(p, l->lines + k);
			pb_uint(&sub, 1, (uint64_t)line->function + 1);
			pb_uint(&sub, 2, line->line);
			pb_message(&msg, 4, &sub);
		}
		pb_message(out, PROFILE_LOCATION, &msg);
	}
	for (uint32_t i = 0; i < p->functions.count; i++) {
		const struct function *f = profile_function(p, i);
		pb_uint(&msg, 1, i + 1);
		pb_uint(&msg, 2, f->name);
		pb_uint(&msg, 3, f->name);
		pb_uint(&msg, 4, f->file);
		pb_message(out, PROFILE_FUNCTION, &msg);
	}
	if (pprof_period(p, &strings, out))
		out->failed = true;
	for (uint32_t i = 0; i < strings.count; i++)
		pb_bytes(out, PROFILE_STRING_TABLE, string_table_get(&strings, i),
			 string_table_len(&strings, i));
	const char *start = profile_get_meta(p, "start_ns");
	if (start)
		pb_uint(out, PROFILE_TIME_NANOS, strtoull(start, NULL, 10));
	const char *duration = profile_get_meta(p, "duration_ns");
	if (duration)
		pb_uint(out, PROFILE_DURATION_NANOS, strtoull(duration, NULL, 10));
	if (values)
		pb_uint(out, PROFILE_DEFAULT_SAMPLE_TYPE, p->value_types[__builtin_ctz(values)].type);
	free(msg.data);
	free(sub.data);
	string_table_release(&strings);
	return out->failed || msg.failed || sub.failed ? -RENDER_E_NOMEM : 0;
nomem:
	string_table_release(&strings);
	return -RENDER_E_NOMEM;
}

int render_pprof(const struct profile *p, FILE *out)
{
	return render_pprof_values(p, UINT32_MAX, out);
}

int render_pprof_values(const struct profile *p, uint32_t values, FILE *out)
{
	if (!(values & ((1u << p->nvalues) - 1)) && p->nvalues)
		return -RENDER_E_NO_VALUE;
	struct byte_buf raw = { 0 };
	int err = pprof_encode(p, values, &raw);
	if (err) {
		free(raw.data);
		return err;
	}
	z_stream z = { 0 };
	if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16 /* gzip */, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
		free(raw.data);
		return -RENDER_E_NOMEM;
	}
	uint8_t chunk[1 << 16];
	z.next_in = raw.data;
	z.avail_in = (uInt)raw.len;
	int zr;
	do {
		z.next_out = chunk;
		z.avail_out = sizeof(chunk);
		zr = deflate(&z, Z_FINISH);
		fwrite(chunk, 1, sizeof(chunk) - z.avail_out, out);
	} while (zr == Z_OK);
	deflateEnd(&z);
	free(raw.data);
	if (zr != Z_STREAM_END)
		return -RENDER_E_NOMEM;
	return ferror(out) ? -RENDER_E_IO : 0;
}
