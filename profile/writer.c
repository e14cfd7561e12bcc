/* Writing the .smolder file: a header, then self-contained chunks.  Every
 * chunk appends entries to one table, so the writer can flush whatever is
 * new at any moment, and any prefix of complete chunks is a consistent (if
 * partial) profile. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "profile/profile-internal.h"

struct profile_writer {
	struct output_file out;
	ZSTD_CCtx *cctx;
	struct byte_buf raw, packed;
	bool finished, header_written, value_types_written;
	uint32_t chunks_written; /* a failed recording keeps its readable prefix when it has some */
	uint64_t good_bytes;     /* the file up to the end of its last complete chunk */
	/* How much of each table is already in the file. */
	uint32_t strings, meta, mappings, functions, locations, stacks, threads, samples;
	uint32_t chunk_first;     /* first entry of the chunk being encoded: deltas restart there */
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

/* Compresses w->raw into one chunk of the given type and writes it. */
static int writer_emit(struct profile_writer *w, enum chunk_type type)
{
	if (w->raw.failed)
		return -PROFILE_E_NOMEM;
	size_t bound = ZSTD_compressBound(w->raw.len);
	w->packed.len = 0;
	byte_buf_reserve(&w->packed, CHUNK_HEADER_SIZE + bound);
	if (w->packed.failed)
		return -PROFILE_E_NOMEM;
	size_t n = ZSTD_compress2(w->cctx, w->packed.data + CHUNK_HEADER_SIZE, bound, w->raw.data,
				  w->raw.len);
	if (ZSTD_isError(n))
		return -PROFILE_E_NOMEM;
	uint8_t *h = w->packed.data;
	put_le32(h, type);
	put_le32(h + 4, (uint32_t)n);
	put_le32(h + 8, (uint32_t)w->raw.len);
	uLong crc = crc32(0, h, 12);
	crc = crc32(crc, h + CHUNK_HEADER_SIZE, (uInt)n);
	put_le32(h + 12, (uint32_t)crc);
	w->raw.len = 0;
	return writer_append(w, h, CHUNK_HEADER_SIZE + n, true);
}

int profile_writer_open(struct profile_writer **out, const char *path)
{
	return profile_writer_open_level(out, path, 3);
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
	free(w->packed.data);
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
			for (uint32_t k = from; !err && k <= i; k++)
				written[k] |= profile_location(p, k)->nlines != 0;
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
	for (uint32_t i = 0; i < w->mappings; i++)
		n += profile_mapping(p, i)->build_id != written[i];
	if (!n)
		return 0;
	w->raw.len = 0;
	byte_buf_put_uvarint(&w->raw, n);
	for (uint32_t i = 0; i < w->mappings; i++) {
		uint32_t id = profile_mapping(p, i)->build_id;
		if (id == written[i])
			continue;
		byte_buf_put_uvarint(&w->raw, i);
		byte_buf_put_uvarint(&w->raw, id);
	}
	int err = writer_emit(w, CHUNK_MAPPING_BUILD_IDS);
	for (uint32_t i = 0; !err && i < w->mappings; i++)
		written[i] = profile_mapping(p, i)->build_id;
	return err;
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
		bool changed = false;
		for (uint32_t v = 0; v < nv; v++)
			changed |= s->value[v] != flushed[i][v];
		if (changed) {
			struct byte_buf saved = w->raw;
			w->raw = body;
			uint32_t stack = s->stack == PROFILE_NONE ? 0 : s->stack + 1;
			byte_buf_put_svarint(&w->raw, (int64_t)stack - prev_stack);
			prev_stack = stack;
			byte_buf_put_uvarint(&w->raw, s->tid);
			byte_buf_put_uvarint(&w->raw, s->time);
			for (uint32_t v = 0; v < nv; v++)
				byte_buf_put_svarint(&w->raw, s->value[v] - flushed[i][v]);
			body = w->raw;
			w->raw = saved;
			n++;
		}
		if (n && (body.len >= CHUNK_TARGET_RAW || i + 1 == p->samples.count)) {
			err = writer_emit_counted(w, CHUNK_SAMPLES, n, &body);
			for (uint32_t k = from; !err && k <= i; k++)
				memcpy(flushed[k], profile_sample(p, k)->value, nv * sizeof(int64_t));
			from = i + 1;
			n = prev_stack = 0;
		}
	}
	free(body.data);
	return err;
}

int profile_writer_flush(struct profile_writer *w, const struct profile *p)
{
	int err;
	if (!w->header_written) {
		uint8_t header[FILE_HEADER_SIZE] = { 0 };
		memcpy(header, PROFILE_MAGIC, 8);
		put_le32(header + 8, PROFILE_VERSION);
		if ((err = writer_append(w, header, sizeof(header), false)))
			return err;
		w->header_written = true;
	}
	if ((err = writer_table(w, p, CHUNK_STRINGS, &w->strings, p->strings.count, put_string)))
		return err;
	if (!w->value_types_written && p->nvalues) {
		w->raw.len = 0;
		byte_buf_put_uvarint(&w->raw, p->nvalues);
		for (uint32_t v = 0; v < p->nvalues; v++) {
			byte_buf_put_uvarint(&w->raw, p->value_types[v].type);
			byte_buf_put_uvarint(&w->raw, p->value_types[v].unit);
		}
		if ((err = writer_emit(w, CHUNK_VALUE_TYPES)))
			return err;
		w->value_types_written = true;
	}
	if ((err = writer_table(w, p, CHUNK_META, &w->meta, p->meta.count, put_meta)) ||
	    (err = writer_build_ids(w, p)) ||
	    (err = writer_table(w, p, CHUNK_MAPPINGS, &w->mappings, p->mappings.count, put_mapping)) ||
	    (err = writer_table(w, p, CHUNK_FUNCTIONS, &w->functions, p->functions.count,
				put_function)) ||
	    (err = writer_table(w, p, CHUNK_LOCATIONS, &w->locations, p->locations.count,
				put_location)) ||
	    (err = writer_lines(w, p)) ||
	    (err = writer_table(w, p, CHUNK_STACKS, &w->stacks, p->stacks.count, put_stack)) ||
	    (err = writer_table(w, p, CHUNK_THREADS, &w->threads, p->threads.count, put_thread)) ||
	    (err = writer_samples(w, p)))
		return err;
	return 0;
}

int profile_writer_finish(struct profile_writer *w, const struct profile *p)
{
	int err = profile_writer_flush(w, p);
	if (err)
		return err;
	w->raw.len = 0;
	byte_buf_put_uvarint(&w->raw, p->samples.count);
	if ((err = writer_emit(w, CHUNK_END)))
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
