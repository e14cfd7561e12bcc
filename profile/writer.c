/* Writing the .smolder file: a header, then batches.  Every record of a
 * batch appends entries to one table, so the writer can flush whatever is
 * new at any moment, and any prefix of complete batches is a consistent (if
 * partial) profile.  The batches are the parts of one zstd stream, flushed
 * at each batch's end: the compressor keeps its history across them. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "profile/profile-internal.h"

/* How much of each table the file holds. */
struct written {
	uint32_t strings, meta, mappings, functions, locations, stacks, threads;
	uint32_t samples; /* samples with a file-local id: every one is written once created */
	uint64_t events;  /* counted from the profile's first event, forgotten ones included */
	bool value_types;
};

/* A mark set for what is in the batch being built, taken back if the batch
 * does not reach the disk. */
struct undo {
	enum { UNDO_LINES, UNDO_BUILD_ID, UNDO_SAMPLE } kind;
	uint32_t index;
	int64_t old[PROFILE_MAX_VALUES];
};

struct profile_writer {
	struct output_file out;
	ZSTD_CCtx *cctx;
	struct byte_buf raw, batch, packed;
	bool finished, header_written;
	bool stream_open;        /* a zstd frame is under way: the next batch goes on with it */
	uint32_t chunks_written; /* a failed recording keeps its readable prefix when it has some */
	uint64_t good_bytes;     /* the file up to the end of its last complete batch */
	uint64_t raw_bytes;      /* what the batches written hold, uncompressed */
	struct written done;     /* in the file or in the batch */
	struct written on_disk;  /* in the file */
	struct vec undo;         /* struct undo: marks of the batch being built */
	uint32_t chunk_first;     /* first entry of the record being encoded: deltas restart there */
	struct vec lines_written; /* uint8_t per location */
	struct vec build_ids_written; /* uint32_t per mapping: the build_id string written */
	struct vec flushed;       /* int64_t[nvalues] per sample: values already written */
};

static int write_all(int fd, const void *data, size_t len)
{
	const uint8_t *p = data;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -PROFILE_E_IO;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Appends whole bytes, or none: a write cut short (a full disk) is taken
 * back, so that the file stays a readable prefix whatever comes later. */
static int writer_append(struct profile_writer *w, const void *data, size_t len, bool chunk)
{
	int err = write_all(w->out.fd, data, len);
	if (err) {
		int saved = errno;
		if (ftruncate(w->out.fd, (off_t)w->good_bytes) == 0)
			lseek(w->out.fd, (off_t)w->good_bytes, SEEK_SET);
		errno = saved;
		return err;
	}
	w->good_bytes += len;
	w->chunks_written += chunk;
	return 0;
}

static int log_undo(struct profile_writer *w, int kind, uint32_t index, const int64_t *old, uint32_t n)
{
	struct undo *u = vec_push(&w->undo, sizeof(*u));
	if (!u)
		return -PROFILE_E_NOMEM;
	u->kind = kind;
	u->index = index;
	memcpy(u->old, old, n * sizeof(*old));
	return 0;
}

/* The batch did not reach the disk: what it held is written again by the
 * next flush, in a new zstd frame (the compressor's history holds it). */
static void batch_lost(struct profile_writer *w)
{
	const struct undo *u = w->undo.data;
	for (uint32_t i = w->undo.count; i-- > 0;) {
		if (u[i].kind == UNDO_LINES)
			((uint8_t *)w->lines_written.data)[u[i].index] = (uint8_t)u[i].old[0];
		else if (u[i].kind == UNDO_BUILD_ID)
			((uint32_t *)w->build_ids_written.data)[u[i].index] = (uint32_t)u[i].old[0];
		else
			memcpy((int64_t *)w->flushed.data + (size_t)u[i].index * PROFILE_MAX_VALUES, u[i].old,
			       sizeof(u[i].old));
	}
	w->undo.count = 0;
	w->done = w->on_disk;
	w->batch.len = 0;
	w->stream_open = false;
	ZSTD_CCtx_reset(w->cctx, ZSTD_reset_session_only);
}

/* Compresses the batch as the stream's next part, flushed (ended with
 * `end`), and writes it as one chunk. */
static int writer_write_batch(struct profile_writer *w, bool end)
{
	if (!w->batch.len && !end)
		return 0;
	int err = w->batch.failed ? -PROFILE_E_NOMEM : 0;
	ZSTD_inBuffer in = { w->batch.data, w->batch.len, 0 };
	size_t room = ZSTD_compressBound(w->batch.len) + 64, left = 1;
	w->packed.len = CHUNK_HEADER_SIZE;
	while (!err && left) {
		byte_buf_reserve(&w->packed, w->packed.len + room);
		if (w->packed.failed) {
			err = -PROFILE_E_NOMEM;
			break;
		}
		ZSTD_outBuffer out = { w->packed.data + w->packed.len, room, 0 };
		left = ZSTD_compressStream2(w->cctx, &out, &in, end ? ZSTD_e_end : ZSTD_e_flush);
		w->packed.len += out.pos;
		if (ZSTD_isError(left))
			err = -PROFILE_E_NOMEM;
	}
	if (!err) {
		uint8_t *h = w->packed.data;
		uint32_t stored = (uint32_t)(w->packed.len - CHUNK_HEADER_SIZE);
		put_le32(h, w->stream_open ? BATCH_STREAM : BATCH_STREAM_BEGIN);
		put_le32(h + 4, stored);
		put_le32(h + 8, (uint32_t)w->batch.len);
		put_le32(h + 12, (uint32_t)crc32(crc32(0, h, 12), h + CHUNK_HEADER_SIZE, stored));
		err = writer_append(w, h, w->packed.len, true);
	}
	if (err) {
		batch_lost(w);
		return err;
	}
	w->undo.count = 0;
	w->on_disk = w->done;
	w->raw_bytes += w->batch.len;
	w->batch.len = 0;
	w->stream_open = !end;
	return 0;
}

/* Appends w->raw to the batch as one record of the given type. */
static int writer_emit(struct profile_writer *w, enum chunk_type type)
{
	byte_buf_put_uvarint(&w->batch, type);
	byte_buf_put_uvarint(&w->batch, w->raw.len);
	byte_buf_put(&w->batch, w->raw.data, w->raw.len);
	bool failed = w->raw.failed || w->batch.failed;
	w->raw.len = 0;
	if (failed) {
		batch_lost(w);
		return -PROFILE_E_NOMEM;
	}
	return 0;
}

/* Called once the marks of what was emitted are set, so that a batch on
 * disk is never marked unwritten. */
static int writer_batch_point(struct profile_writer *w)
{
	return w->batch.len >= CHUNK_TARGET_RAW ? writer_write_batch(w, false) : 0;
}

/* Level 1, as perf record -z: while recording, the writer competes with
 * the program for its CPUs.  An alloc view's events (times and sizes) came
 * out the same size at 1 as at 3 (162 KB for 58 k samples), level 3's
 * compression being 10% of the reader's time; alloc and cpu together, 2%
 * larger.  Small recordings are compacted after (COMPACT_LEVEL). */
int profile_writer_open(struct profile_writer **out, const char *path)
{
	return profile_writer_open_level(out, path, 1);
}

int profile_writer_open_level(struct profile_writer **out, const char *path, int level)
{
	struct profile_writer *w = calloc(1, sizeof(*w));
	if (!w)
		return -PROFILE_E_NOMEM;
	w->out.fd = -1;
	w->cctx = ZSTD_createCCtx();
	if (!w->cctx) {
		profile_writer_free(w);
		return -PROFILE_E_NOMEM;
	}
	ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, level);
	int err = output_file_open(&w->out, path);
	if (err) {
		profile_writer_free(w);
		errno = -err;
		return err == -ENOMEM ? -PROFILE_E_NOMEM : -PROFILE_E_IO;
	}
	*out = w;
	return 0;
}

const char *profile_writer_temp_path(const struct profile_writer *w)
{
	return output_file_name(&w->out);
}

bool profile_writer_kept(const struct profile_writer *w)
{
	return !w->finished && w->chunks_written > 0 && w->out.temp;
}

void profile_writer_free(struct profile_writer *w)
{
	if (!w)
		return;
	output_file_release(&w->out, profile_writer_kept(w));
	ZSTD_freeCCtx(w->cctx);
	free(w->raw.data);
	free(w->batch.data);
	free(w->packed.data);
	vec_release(&w->undo);
	vec_release(&w->lines_written);
	vec_release(&w->build_ids_written);
	vec_release(&w->flushed);
	free(w);
}

/* Emits a chunk of n entries, encoded in body (emptied for the next):
 * entries are counted after the fact, so the count goes in front here. */
static int writer_emit_counted(struct profile_writer *w, enum chunk_type type, uint32_t n, struct byte_buf *body)
{
	w->raw.len = 0;
	byte_buf_put_uvarint(&w->raw, n);
	byte_buf_put(&w->raw, body->data, body->len);
	int err = body->failed ? -PROFILE_E_NOMEM : writer_emit(w, type);
	body->len = 0;
	return err;
}

/* Emits the table's entries from *done to count in chunks of about
 * CHUNK_TARGET_RAW; put() encodes entry i into w->raw. */
typedef void (*put_entry)(struct profile_writer *w, const struct profile *p, uint32_t i);

static int writer_table(struct profile_writer *w, const struct profile *p, enum chunk_type type,
			uint32_t *done, uint32_t count, put_entry put)
{
	while (*done < count) {
		struct byte_buf body = { 0 };
		struct byte_buf saved = w->raw;
		w->raw = body;
		uint32_t n = 0;
		w->chunk_first = *done;
		while (*done + n < count && w->raw.len < CHUNK_TARGET_RAW) {
			put(w, p, *done + n);
			n++;
		}
		body = w->raw;
		w->raw = saved;
		int err = writer_emit_counted(w, type, n, &body);
		free(body.data);
		if (err)
			return err;
		*done += n;
		if ((err = writer_batch_point(w)))
			return err;
	}
	return 0;
}

static void put_string(struct profile_writer *w, const struct profile *p, uint32_t i)
{
	uint32_t len = string_table_len(&p->strings, i);
	byte_buf_put_uvarint(&w->raw, len);
	byte_buf_put(&w->raw, string_table_get(&p->strings, i), len);
}

static void put_meta(struct profile_writer *w, const struct profile *p, uint32_t i)
{
	byte_buf_put_uvarint(&w->raw, profile_meta(p, i)->key);
	byte_buf_put_uvarint(&w->raw, profile_meta(p, i)->value);
}

static void put_mapping(struct profile_writer *w, const struct profile *p, uint32_t i)
{
	const struct mapping *m = profile_mapping(p, i);
	byte_buf_put_uvarint(&w->raw, m->start);
	byte_buf_put_uvarint(&w->raw, m->end - m->start);
	byte_buf_put_uvarint(&w->raw, m->offset);
	byte_buf_put_uvarint(&w->raw, m->path);
	byte_buf_put_uvarint(&w->raw, m->build_id);
}

/* Ids that mostly rise by one are stored as deltas from the previous entry
 * of the same chunk. */
static void put_function(struct profile_writer *w, const struct profile *p, uint32_t i)
{
	const struct function *prev = i > w->chunk_first ? profile_function(p, i - 1) : NULL;
	const struct function *f = profile_function(p, i);
	byte_buf_put_svarint(&w->raw, (int64_t)f->name - (prev ? (int64_t)prev->name : 0));
	byte_buf_put_svarint(&w->raw, (int64_t)f->file - (prev ? (int64_t)prev->file : 0));
}

static void put_location(struct profile_writer *w, const struct profile *p, uint32_t i)
{
	const struct location *l = profile_location(p, i);
	uint64_t prev = i ? profile_location(p, i - 1)->address : 0;
	byte_buf_put_svarint(&w->raw, (int64_t)(l->address - prev));
	byte_buf_put_uvarint(&w->raw, l->mapping == PROFILE_NONE ? 0 : (uint64_t)l->mapping + 1);
}

static void put_location_lines(struct profile_writer *w, const struct profile *p, uint32_t i,
			       uint32_t *prev_location, uint32_t *prev_function)
{
	const struct location *l = profile_location(p, i);
	byte_buf_put_uvarint(&w->raw, i - *prev_location);
	*prev_location = i;
	byte_buf_put_uvarint(&w->raw, l->nlines);
	for (uint32_t k = 0; k < l->nlines; k++) {
		uint32_t f = profile_line(p, l->lines + k)->function;
		byte_buf_put_svarint(&w->raw, (int64_t)f - *prev_function);
		*prev_function = f;
		byte_buf_put_uvarint(&w->raw, profile_line(p, l->lines + k)->line);
	}
}

static void put_stack(struct profile_writer *w, const struct profile *p, uint32_t i)
{
	const struct stack_node *s = profile_stack(p, i);
	/* Parents are close to their children: store the distance back. */
	byte_buf_put_uvarint(&w->raw, s->parent == PROFILE_NONE ? 0 : (uint64_t)(i - s->parent));
	byte_buf_put_uvarint(&w->raw, s->location);
}

static void put_thread(struct profile_writer *w, const struct profile *p, uint32_t i)
{
	byte_buf_put_uvarint(&w->raw, profile_thread(p, i)->tid);
	byte_buf_put_uvarint(&w->raw, profile_thread(p, i)->pid);
	byte_buf_put_uvarint(&w->raw, profile_thread(p, i)->comm);
}

/* What is marked written (lines, build-ids, sample values) is marked only
 * once its chunk is on disk: a chunk taken back (a full disk) is written
 * again by the next flush. */

static int writer_lines(struct profile_writer *w, const struct profile *p)
{
	while (w->lines_written.count < p->locations.count) {
		uint8_t *flag = vec_push(&w->lines_written, 1);
		if (!flag)
			return -PROFILE_E_NOMEM;
		*flag = 0;
	}
	uint8_t *written = w->lines_written.data;
	uint32_t n = 0, from = 0, prev_location = 0, prev_function = 0;
	struct byte_buf body = { 0 };
	int err = 0;
	for (uint32_t i = 0; i < p->locations.count && !err; i++) {
		if (!written[i] && profile_location(p, i)->nlines) {
			struct byte_buf saved = w->raw;
			w->raw = body;
			put_location_lines(w, p, i, &prev_location, &prev_function);
			body = w->raw;
			w->raw = saved;
			n++;
		}
		if (n && (body.len >= CHUNK_TARGET_RAW || i + 1 == p->locations.count)) {
			err = writer_emit_counted(w, CHUNK_LOCATION_LINES, n, &body);
			for (uint32_t k = from; !err && k <= i; k++) {
				if (written[k] || !profile_location(p, k)->nlines)
					continue;
				int64_t was = 0;
				err = log_undo(w, UNDO_LINES, k, &was, 1);
				written[k] = 1;
			}
			if (!err)
				err = writer_batch_point(w);
			written = w->lines_written.data;
			from = i + 1;
			n = prev_location = prev_function = 0;
		}
	}
	free(body.data);
	return err;
}

/* Mappings are written as soon as they appear, before the symbolizer reads
 * their build-ids: those follow in a chunk of their own. */
static int writer_build_ids(struct profile_writer *w, const struct profile *p)
{
	while (w->build_ids_written.count < p->mappings.count) {
		uint32_t *slot = vec_push(&w->build_ids_written, sizeof(uint32_t));
		if (!slot)
			return -PROFILE_E_NOMEM;
		*slot = profile_mapping(p, w->build_ids_written.count - 1)->build_id;
	}
	uint32_t *written = w->build_ids_written.data;
	uint32_t n = 0;
	for (uint32_t i = 0; i < w->done.mappings; i++)
		n += profile_mapping(p, i)->build_id != written[i];
	if (!n)
		return 0;
	w->raw.len = 0;
	byte_buf_put_uvarint(&w->raw, n);
	for (uint32_t i = 0; i < w->done.mappings; i++) {
		uint32_t id = profile_mapping(p, i)->build_id;
		if (id == written[i])
			continue;
		byte_buf_put_uvarint(&w->raw, i);
		byte_buf_put_uvarint(&w->raw, id);
	}
	int err = writer_emit(w, CHUNK_MAPPING_BUILD_IDS);
	for (uint32_t i = 0; !err && i < w->done.mappings; i++) {
		if (written[i] == profile_mapping(p, i)->build_id)
			continue;
		int64_t was = written[i];
		err = log_undo(w, UNDO_BUILD_ID, i, &was, 1);
		written[i] = profile_mapping(p, i)->build_id;
	}
	return err ? err : writer_batch_point(w);
}

/* Samples are written as deltas from what the file already holds: the
 * reader adds them up. */
static int writer_samples(struct profile_writer *w, const struct profile *p)
{
	uint32_t nv = p->nvalues;
	while (w->flushed.count < p->samples.count) {
		int64_t *slot = vec_push(&w->flushed, sizeof(int64_t) * PROFILE_MAX_VALUES);
		if (!slot)
			return -PROFILE_E_NOMEM;
		memset(slot, 0, sizeof(int64_t) * PROFILE_MAX_VALUES);
	}
	int64_t (*flushed)[PROFILE_MAX_VALUES] = w->flushed.data;
	struct byte_buf body = { 0 };
	uint32_t n = 0, from = 0, prev_stack = 0;
	int err = 0;
	for (uint32_t i = 0; i < p->samples.count && !err; i++) {
		const struct sample *s = profile_sample(p, i);
		bool changed = i >= w->done.samples; /* a new one: events may name it */
		for (uint32_t v = 0; v < nv; v++)
			changed |= s->value[v] != flushed[i][v];
		if (changed) {
			struct byte_buf saved = w->raw;
			w->raw = body;
			uint32_t stack = s->stack == PROFILE_NONE ? 0 : s->stack + 1;
			byte_buf_put_svarint(&w->raw, (int64_t)stack - prev_stack);
			prev_stack = stack;
			byte_buf_put_uvarint(&w->raw, s->tid);
			/* The first occurrence's time, once: the reader keeps that one. */
			byte_buf_put_uvarint(&w->raw, i >= w->done.samples ? s->time : 0);
			for (uint32_t v = 0; v < nv; v++)
				byte_buf_put_svarint(&w->raw, s->value[v] - flushed[i][v]);
			body = w->raw;
			w->raw = saved;
			n++;
		}
		if (n && (body.len >= CHUNK_TARGET_RAW || i + 1 == p->samples.count)) {
			err = writer_emit_counted(w, CHUNK_SAMPLES, n, &body);
			for (uint32_t k = from; !err && k <= i; k++) {
				if (!memcmp(flushed[k], profile_sample(p, k)->value, nv * sizeof(int64_t)))
					continue;
				err = log_undo(w, UNDO_SAMPLE, k, flushed[k], PROFILE_MAX_VALUES);
				memcpy(flushed[k], profile_sample(p, k)->value, nv * sizeof(int64_t));
			}
			if (!err && i + 1 > w->done.samples)
				w->done.samples = i + 1;
			if (!err)
				err = writer_batch_point(w);
			flushed = w->flushed.data;
			from = i + 1;
			n = prev_stack = 0;
		}
	}
	free(body.data);
	return err;
}

/* Events sorted by thread, then time: a thread's samples follow each
 * other closely, in stack and in time, and compress best side by side. */
struct event_order {
	uint32_t tid, index;
	uint64_t time;
};

/* By time, then by index (every event's own: a total order). */
static int event_time_cmp(const void *a, const void *b)
{
	const struct event_order *x = a, *y = b;
	if (x->time != y->time)
		return x->time < y->time ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* By thread, then as event_time_cmp. */
static int event_order_cmp(const void *a, const void *b)
{
	const struct event_order *x = a, *y = b;
	if (x->tid != y->tid)
		return x->tid < y->tid ? -1 : 1;
	return event_time_cmp(a, b);
}

#define ORDER_THREADS_MAX 32

static uint32_t thread_rank(const uint32_t *tids, uint32_t nt, uint32_t tid)
{
	uint32_t k = 0;
	while (k < nt && tids[k] != tid)
		k++;
	return k;
}

/* Events arrive in time order, or nearly (a recorder's batches overlap by
 * the odd event), from a few threads: sorting by time, then a stable pass
 * by thread, is linear where qsort was a twentieth of a recorder's CPU on
 * a two-thread alloc view.  From many threads, qsort.  spare: room for n
 * more. */
static void order_events(struct event_order *o, struct event_order *spare, uint32_t n)
{
	uint32_t tids[ORDER_THREADS_MAX], at[ORDER_THREADS_MAX] = { 0 }, nt = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (thread_rank(tids, nt, o[i].tid) < nt)
			continue;
		if (nt == ORDER_THREADS_MAX) {
			qsort(o, n, sizeof(*o), event_order_cmp);
			return;
		}
		uint32_t k = nt++;
		for (; k > 0 && tids[k - 1] > o[i].tid; k--)
			tids[k] = tids[k - 1];
		tids[k] = o[i].tid;
	}
	sort_nearly_sorted(o, n, sizeof(*o), event_time_cmp);
	if (nt < 2)
		return;
	for (uint32_t i = 0; i < n; i++)
		at[thread_rank(tids, nt, o[i].tid)]++;
	for (uint32_t k = 0, start = 0; k < nt; k++) {
		uint32_t c = at[k];
		at[k] = start;
		start += c;
	}
	for (uint32_t i = 0; i < n; i++)
		spare[at[thread_rank(tids, nt, o[i].tid)]++] = o[i];
	memcpy(o, spare, n * sizeof(*o));
}

/* One EVENTS record of the events [from, to) of p->events: sample ids,
 * times (in microseconds) and values, each a delta from the event before. */
static int writer_events_record(struct profile_writer *w, const struct profile *p, struct event_order *order,
				struct event_order *spare, uint32_t from, uint32_t to)
{
	for (uint32_t i = from; i < to; i++) {
		const struct profile_event *e = profile_event(p, i);
		order[i - from] = (struct event_order){ profile_sample(p, e->sample)->tid, i, e->time };
	}
	order_events(order, spare, to - from);
	uint32_t nv = p->nvalues;
	int64_t prev_sample = 0, prev_us = 0, prev_values[PROFILE_MAX_VALUES] = { 0 };
	w->raw.len = 0;
	byte_buf_put_uvarint(&w->raw, to - from);
	for (uint32_t k = 0; k < to - from; k++) {
		uint32_t i = order[k].index;
		const struct profile_event *e = profile_event(p, i);
		int64_t us = (int64_t)(e->time / 1000);
		byte_buf_put_svarint(&w->raw, (int64_t)e->sample - prev_sample);
		byte_buf_put_svarint(&w->raw, us - prev_us);
		const int64_t *values = profile_event_values(p, i);
		for (uint32_t v = 0; v < nv; v++) {
			byte_buf_put_svarint(&w->raw, (int64_t)((uint64_t)values[v] - (uint64_t)prev_values[v]));
			prev_values[v] = values[v];
		}
		prev_sample = e->sample;
		prev_us = us;
	}
	return writer_emit(w, CHUNK_EVENTS);
}

/* The events added since the last flush (those forgotten unwritten are
 * gone: the caller forgets only after a flush). */
static int writer_events(struct profile_writer *w, const struct profile *p)
{
	uint64_t first = w->done.events > p->events_forgotten ? w->done.events - p->events_forgotten : 0;
	if (first >= p->events.count)
		return 0;
	/* About CHUNK_TARGET_RAW a record, at a few bytes an event. */
	uint32_t per_record = CHUNK_TARGET_RAW / 8, from = (uint32_t)first;
	struct event_order *order = malloc(sizeof(*order) * per_record * 2);
	int err = order ? 0 : -PROFILE_E_NOMEM;
	while (!err && from < p->events.count) {
		uint32_t to = p->events.count - from > per_record ? from + per_record : p->events.count;
		err = writer_events_record(w, p, order, order + per_record, from, to);
		if (!err) {
			w->done.events = p->events_forgotten + to;
			err = writer_batch_point(w);
		}
		from = to;
	}
	free(order);
	return err;
}

static int writer_header(struct profile_writer *w)
{
	uint8_t header[FILE_HEADER_SIZE] = { 0 };
	memcpy(header, PROFILE_MAGIC, 8);
	put_le32(header + 8, PROFILE_VERSION);
	int err = writer_append(w, header, sizeof(header), false);
	w->header_written = !err;
	return err;
}

static int writer_value_types(struct profile_writer *w, const struct profile *p)
{
	if (w->done.value_types || !p->nvalues)
		return 0;
	w->raw.len = 0;
	byte_buf_put_uvarint(&w->raw, p->nvalues);
	for (uint32_t v = 0; v < p->nvalues; v++) {
		byte_buf_put_uvarint(&w->raw, p->value_types[v].type);
		byte_buf_put_uvarint(&w->raw, p->value_types[v].unit);
	}
	int err = writer_emit(w, CHUNK_VALUE_TYPES);
	w->done.value_types = !err;
	return err;
}

/* Everything new, into the batch (written whenever it grows past
 * CHUNK_TARGET_RAW); `end` adds the END record. */
static int writer_tables(struct profile_writer *w, const struct profile *p, bool end)
{
	struct written *d = &w->done;
	int err;
	if ((err = writer_table(w, p, CHUNK_STRINGS, &d->strings, p->strings.count, put_string)) ||
	    (err = writer_value_types(w, p)) ||
	    (err = writer_table(w, p, CHUNK_META, &d->meta, p->meta.count, put_meta)) ||
	    (err = writer_build_ids(w, p)) ||
	    (err = writer_table(w, p, CHUNK_MAPPINGS, &d->mappings, p->mappings.count, put_mapping)) ||
	    (err = writer_table(w, p, CHUNK_FUNCTIONS, &d->functions, p->functions.count, put_function)) ||
	    (err = writer_table(w, p, CHUNK_LOCATIONS, &d->locations, p->locations.count, put_location)) ||
	    (err = writer_lines(w, p)) ||
	    (err = writer_table(w, p, CHUNK_STACKS, &d->stacks, p->stacks.count, put_stack)) ||
	    (err = writer_table(w, p, CHUNK_THREADS, &d->threads, p->threads.count, put_thread)) ||
	    (err = writer_samples(w, p)) || (err = writer_events(w, p)))
		return err;
	if (end) {
		w->raw.len = 0;
		byte_buf_put_uvarint(&w->raw, p->samples.count);
		if ((err = writer_emit(w, CHUNK_END)))
			return err;
	}
	return writer_write_batch(w, end);
}

static int writer_flush(struct profile_writer *w, const struct profile *p, bool end)
{
	int err = w->header_written ? 0 : writer_header(w);
	if (!err && (err = writer_tables(w, p, end)))
		batch_lost(w); /* whatever failed, the marks go back to the disk's */
	return err;
}

int profile_writer_flush(struct profile_writer *w, const struct profile *p)
{
	return writer_flush(w, p, false);
}

int profile_writer_finish(struct profile_writer *w, const struct profile *p)
{
	int err = writer_flush(w, p, true);
	if (err)
		return err;
	if ((err = output_file_commit(&w->out))) {
		errno = -err;
		return -PROFILE_E_IO;
	}
	w->finished = true;
	return 0;
}

int profile_write_file(const struct profile *p, const char *path)
{
	struct profile_writer *w;
	/* Written once, read many times: worth the strongest compression. */
	int err = profile_writer_open_level(&w, path, 19);
	if (err)
		return err;
	err = profile_writer_finish(w, p);
	profile_writer_free(w);
	return err;
}

/* Past this much raw data (an alloc view's events, whose times and sizes
 * barely compress) no level does better than the recording's own level 1
 * stream (as small as level 3's): 151 KB raw went to 115,076 bytes at
 * level 3, 113,771 at 7 and 114,380 at 19 (39 ms against 9), and a 60
 * M-call recording's 161 KB file came out of compaction no smaller.  Below
 * it a recording is rewritten at COMPACT_LEVEL for what it gains on small
 * files, and level 12 gains nearly all that 19 does in less than half the
 * recorder's CPU: a 2-second CPU profile (12 KB raw) 4,285 bytes against
 * 4,241 at 19 and 4,739 at 3, in 1.8 ms against 4.2. */
#define COMPACT_MAX_RAW (64 << 10)
#define COMPACT_LEVEL 12

/* What compaction gains comes from two things.  Level 12 on what level 1
 * left above half its raw size (mostly events: an alloc view's times and
 * sizes) gains nothing: a short alloc view's file (36 KB raw, 28,072 bytes)
 * came out 28,047 bytes, in 10 ms of a recording's 57; a CPU profile's (27
 * KB raw, 7,533 bytes) 5,939.  And one batch where there were many: each
 * costs its header and zstd's flush, ~28 bytes. */
#define BATCH_OVERHEAD 28

bool profile_writer_compacts(const struct profile_writer *w)
{
	/* Every chunk written is a batch; the file's header is the rest. */
	uint64_t stored = w->good_bytes > FILE_HEADER_SIZE ? w->good_bytes - FILE_HEADER_SIZE : 0;
	uint64_t overhead = (uint64_t)w->chunks_written * BATCH_OVERHEAD;
	uint64_t payload = stored > overhead ? stored - overhead : 0;
	return w->raw_bytes < COMPACT_MAX_RAW && (payload * 2 < w->raw_bytes || overhead * 10 > stored);
}

int profile_compact_file(const char *path)
{
	struct stat st;
	if (stat(path, &st) || !S_ISREG(st.st_mode))
		return 0; /* a device or a pipe was written straight through */
	if (st.st_size >= COMPACT_MAX_RAW)
		return 0; /* its raw data is larger still: not read at all */
	struct profile p;
	profile_init(&p);
	struct profile_read_info info;
	int err = profile_read_file(&p, path, &info);
	if (!err && !info.truncated && info.raw_bytes < COMPACT_MAX_RAW) {
		struct profile_writer *w;
		err = profile_writer_open_level(&w, path, COMPACT_LEVEL);
		if (!err) {
			err = profile_writer_finish(w, &p);
			profile_writer_free(w);
		}
	}
	profile_release(&p);
	return err;
}
