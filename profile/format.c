/* The .smolder file: a header, then self-contained chunks (docs/format.md).
 *
 * Every chunk appends entries to one table, so the writer can flush whatever
 * is new at any moment and a reader of any prefix of complete chunks gets a
 * consistent (if partial) profile.  The reader treats the file as hostile:
 * sizes are capped before allocation, checksums are verified before
 * decompression, and every index is checked before use. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "profile/profile-internal.h"

enum chunk_type {
	CHUNK_STRINGS = 1,
	CHUNK_VALUE_TYPES = 2,
	CHUNK_META = 3,
	CHUNK_MAPPINGS = 4,
	CHUNK_FUNCTIONS = 5,
	CHUNK_LOCATIONS = 6,
	CHUNK_LOCATION_LINES = 7,
	CHUNK_STACKS = 8,
	CHUNK_THREADS = 9,
	CHUNK_SAMPLES = 10,
	CHUNK_END = 11,
	CHUNK_MAPPING_BUILD_IDS = 12, /* build-ids learned after a mapping was written */
};

#define FILE_HEADER_SIZE 16
#define CHUNK_HEADER_SIZE 16
#define CHUNK_MAX_RAW (64u << 20)        /* one chunk's decompressed payload */
#define CHUNK_TARGET_RAW (1u << 20)      /* the writer starts a new chunk past this */
#define FILE_MAX_RAW (2ull << 30)        /* all payloads of one file, decompressed */
#define INLINE_MAX 4096                  /* lines of one location's inline chain */
#define SLURP_MAX (4ull << 30)              /* the largest input read into memory */

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

bool profile_is_smolder(const uint8_t *buf, size_t len)
{
	return len >= 8 && memcmp(buf, PROFILE_MAGIC, 8) == 0;
}

/* A count of entries, each at least min_bytes long: bounded by what is left. */
static uint64_t get_count(struct byte_cursor *c, size_t min_bytes)
{
	uint64_t n = cursor_uvarint(c);
	if (n > (uint64_t)(c->end - c->p) / min_bytes)
		c->failed = true;
	return c->failed ? 0 : n;
}

/* ---- writer ---- */

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

/* Emits the table's entries from *done to count in chunks of about
 * CHUNK_TARGET_RAW; put() encodes entry i into w->raw. */
typedef void (*put_entry)(struct profile_writer *w, const struct profile *p, uint32_t i);

static int writer_table(struct profile_writer *w, const struct profile *p, enum chunk_type type,
			uint32_t *done, uint32_t count, put_entry put)
{
	while (*done < count) {
		/* Entries are counted after the fact: reserve a fixed-width count. */
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
		w->raw.len = 0;
		byte_buf_put_uvarint(&w->raw, n);
		byte_buf_put(&w->raw, body.data, body.len);
		bool failed = body.failed;
		free(body.data);
		if (failed)
			return -PROFILE_E_NOMEM;
		int err = writer_emit(w, type);
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

static int writer_lines(struct profile_writer *w, const struct profile *p)
{
	while (w->lines_written.count < p->locations.count) {
		uint8_t *flag = vec_push(&w->lines_written, 1);
		if (!flag)
			return -PROFILE_E_NOMEM;
		*flag = 0;
	}
	uint8_t *written = w->lines_written.data;
	uint32_t n = 0, prev_location = 0, prev_function = 0;
	struct byte_buf body = { 0 };
	for (uint32_t i = 0; i < p->locations.count; i++) {
		if (written[i] || profile_location(p, i)->nlines == 0)
			continue;
		struct byte_buf saved = w->raw;
		w->raw = body;
		put_location_lines(w, p, i, &prev_location, &prev_function);
		body = w->raw;
		w->raw = saved;
		written[i] = 1;
		n++;
		if (body.len >= CHUNK_TARGET_RAW || i + 1 == p->locations.count) {
			prev_location = prev_function = 0;
			w->raw.len = 0;
			byte_buf_put_uvarint(&w->raw, n);
			byte_buf_put(&w->raw, body.data, body.len);
			int err = body.failed ? -PROFILE_E_NOMEM : writer_emit(w, CHUNK_LOCATION_LINES);
			body.len = 0;
			n = 0;
			if (err) {
				free(body.data);
				return err;
			}
		}
	}
	if (n) {
		w->raw.len = 0;
		byte_buf_put_uvarint(&w->raw, n);
		byte_buf_put(&w->raw, body.data, body.len);
		int err = body.failed ? -PROFILE_E_NOMEM : writer_emit(w, CHUNK_LOCATION_LINES);
		free(body.data);
		return err;
	}
	free(body.data);
	return 0;
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
		written[i] = id;
	}
	return writer_emit(w, CHUNK_MAPPING_BUILD_IDS);
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
	uint32_t n = 0, prev_stack = 0;
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
			for (uint32_t v = 0; v < nv; v++) {
				byte_buf_put_svarint(&w->raw, s->value[v] - flushed[i][v]);
				flushed[i][v] = s->value[v];
			}
			body = w->raw;
			w->raw = saved;
			n++;
		}
		if (n && (body.len >= CHUNK_TARGET_RAW || i + 1 == p->samples.count)) {
			w->raw.len = 0;
			byte_buf_put_uvarint(&w->raw, n);
			byte_buf_put(&w->raw, body.data, body.len);
			err = body.failed ? -PROFILE_E_NOMEM : writer_emit(w, CHUNK_SAMPLES);
			body.len = 0;
			n = 0;
			prev_stack = 0;
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

/* ---- reader ---- */

/* File-local ids are translated to the reader's own ids, since the reader
 * interns (a hostile file may repeat entries). */
struct id_map {
	uint32_t *id;
	uint32_t count, cap;
};

static int id_map_push(struct id_map *m, uint32_t id)
{
	if (m->count == m->cap) {
		uint32_t cap = m->cap ? m->cap * 2 : 256;
		if (cap > VEC_MAX_COUNT)
			return -PROFILE_E_TOO_LARGE;
		uint32_t *ids = realloc(m->id, cap * sizeof(*ids));
		if (!ids)
			return -PROFILE_E_NOMEM;
		m->id = ids;
		m->cap = cap;
	}
	m->id[m->count++] = id;
	return 0;
}

struct reader {
	struct profile *p;
	struct id_map strings, functions, locations, stacks;
	bool value_types_seen;
	struct byte_cursor c;
	int err;
};

/* Translates file index i through m, flagging a bad index. */
static uint32_t map_index(struct reader *r, const struct id_map *m, uint64_t i)
{
	if (i >= m->count) {
		if (!r->err)
			r->err = -PROFILE_E_BAD_INDEX;
		return 0;
	}
	return m->id[i];
}

static uint32_t read_string_ref(struct reader *r)
{
	return map_index(r, &r->strings, cursor_uvarint(&r->c));
}

static void read_strings(struct reader *r, uint64_t n)
{
	for (uint64_t i = 0; i < n && !r->c.failed && !r->err; i++) {
		uint64_t len = cursor_uvarint(&r->c);
		if (len > (uint64_t)(r->c.end - r->c.p)) {
			r->c.failed = true;
			break;
		}
		int64_t id = profile_string_n(r->p, (const char *)r->c.p, len);
		r->c.p += len;
		if (id < 0 || (r->err = id_map_push(&r->strings, (uint32_t)id)))
			r->err = r->err ? r->err : (int)id;
	}
}

static void read_value_types(struct reader *r)
{
	uint64_t n = get_count(&r->c, 2);
	if (r->value_types_seen || n == 0 || n > PROFILE_MAX_VALUES) {
		r->err = -PROFILE_E_BAD_CHUNK;
		return;
	}
	for (uint64_t i = 0; i < n; i++) {
		r->p->value_types[i].type = read_string_ref(r);
		r->p->value_types[i].unit = read_string_ref(r);
	}
	r->p->nvalues = (uint32_t)n;
	r->value_types_seen = true;
}

static void read_meta(struct reader *r, uint64_t n)
{
	for (uint64_t i = 0; i < n && !r->c.failed && !r->err; i++) {
		uint32_t k = read_string_ref(r), v = read_string_ref(r);
		struct meta_entry *e = vec_push(&r->p->meta, sizeof(*e));
		if (!e)
			r->err = -PROFILE_E_NOMEM;
		else
			*e = (struct meta_entry){ k, v };
	}
}

static void read_mappings(struct reader *r, uint64_t n)
{
	for (uint64_t i = 0; i < n && !r->c.failed && !r->err; i++) {
		struct mapping m;
		m.start = cursor_uvarint(&r->c);
		uint64_t size = cursor_uvarint(&r->c);
		m.end = m.start + size;
		m.offset = cursor_uvarint(&r->c);
		m.path = read_string_ref(r);
		m.build_id = read_string_ref(r);
		if (m.end < m.start)
			r->err = -PROFILE_E_BAD_CHUNK;
		else if (profile_add_mapping(r->p, &m) < 0)
			r->err = -PROFILE_E_NOMEM;
	}
}

/* A delta-coded file-local id: prev + delta, checked by map_index later. */
static uint64_t get_delta(struct byte_cursor *c, uint64_t *prev)
{
	*prev += (uint64_t)cursor_svarint(c);
	return *prev;
}

static void read_build_ids(struct reader *r, uint64_t n)
{
	for (uint64_t i = 0; i < n && !r->c.failed && !r->err; i++) {
		uint64_t m = cursor_uvarint(&r->c);
		uint32_t id = read_string_ref(r);
		if (m >= r->p->mappings.count)
			r->err = -PROFILE_E_BAD_INDEX;
		else if (!r->err)
			profile_mapping(r->p, (uint32_t)m)->build_id = id;
	}
}

static void read_functions(struct reader *r, uint64_t n)
{
	uint64_t prev_name = 0, prev_file = 0;
	for (uint64_t i = 0; i < n && !r->c.failed && !r->err; i++) {
		uint32_t name = map_index(r, &r->strings, get_delta(&r->c, &prev_name));
		uint32_t file = map_index(r, &r->strings, get_delta(&r->c, &prev_file));
		if (r->err)
			break;
		int64_t id = profile_intern_function(r->p, name, file);
		if (id < 0)
			r->err = (int)id;
		else
			r->err = id_map_push(&r->functions, (uint32_t)id);
	}
}

static void read_locations(struct reader *r, uint64_t n)
{
	uint64_t address = r->locations.count
				   ? profile_location(r->p, r->locations.id[r->locations.count - 1])->address
				   : 0;
	for (uint64_t i = 0; i < n && !r->c.failed && !r->err; i++) {
		address += (uint64_t)cursor_svarint(&r->c);
		uint64_t mapping = cursor_uvarint(&r->c);
		if (mapping > r->p->mappings.count) {
			r->err = -PROFILE_E_BAD_INDEX;
			break;
		}
		int64_t id = profile_append_location(r->p, address,
						   mapping ? (uint32_t)(mapping - 1) : PROFILE_NONE);
		if (id < 0)
			r->err = (int)id;
		else
			r->err = id_map_push(&r->locations, (uint32_t)id);
	}
}

static void read_location_lines(struct reader *r, uint64_t n)
{
	struct line *lines = malloc(INLINE_MAX * sizeof(*lines));
	if (!lines) {
		r->err = -PROFILE_E_NOMEM;
		return;
	}
	uint64_t prev_location = 0, prev_function = 0;
	for (uint64_t i = 0; i < n && !r->c.failed && !r->err; i++) {
		prev_location += cursor_uvarint(&r->c);
		uint32_t loc = map_index(r, &r->locations, prev_location);
		uint64_t nlines = cursor_uvarint(&r->c);
		if (nlines > INLINE_MAX) {
			r->err = -PROFILE_E_TOO_LARGE;
			break;
		}
		for (uint64_t k = 0; k < nlines && !r->c.failed; k++) {
			lines[k].function = map_index(r, &r->functions, get_delta(&r->c, &prev_function));
			lines[k].line = (uint32_t)cursor_uvarint(&r->c);
		}
		if (!r->err && !r->c.failed && profile_set_location_lines(r->p, loc, lines, (uint32_t)nlines))
			r->err = -PROFILE_E_NOMEM;
	}
	free(lines);
}

static void read_stacks(struct reader *r, uint64_t n)
{
	for (uint64_t i = 0; i < n && !r->c.failed && !r->err; i++) {
		uint64_t back = cursor_uvarint(&r->c);
		uint32_t self = r->stacks.count;
		uint32_t parent = PROFILE_NONE;
		if (back == 0) {
			parent = PROFILE_NONE;
		} else if (back > self) {
			/* A parent must come before its child: anything else could
			 * close a cycle. */
			r->err = -PROFILE_E_STACK_CYCLE;
			break;
		} else {
			parent = r->stacks.id[self - back];
		}
		uint32_t loc = map_index(r, &r->locations, cursor_uvarint(&r->c));
		if (r->err)
			break;
		int64_t id = profile_intern_stack(r->p, parent, loc);
		if (id < 0)
			r->err = (int)id;
		else
			r->err = id_map_push(&r->stacks, (uint32_t)id);
	}
}

static void read_threads(struct reader *r, uint64_t n)
{
	for (uint64_t i = 0; i < n && !r->c.failed && !r->err; i++) {
		uint64_t tid = cursor_uvarint(&r->c), pid = cursor_uvarint(&r->c);
		uint32_t comm = read_string_ref(r);
		if (tid > UINT32_MAX || pid > UINT32_MAX)
			r->err = -PROFILE_E_BAD_CHUNK;
		else if (!r->err && profile_set_thread(r->p, (uint32_t)tid, (uint32_t)pid, comm))
			r->err = -PROFILE_E_NOMEM;
	}
}

static void read_samples(struct reader *r, uint64_t n)
{
	if (!r->value_types_seen) {
		r->err = -PROFILE_E_BAD_CHUNK;
		return;
	}
	int64_t values[PROFILE_MAX_VALUES];
	uint64_t prev_stack = 0;
	for (uint64_t i = 0; i < n && !r->c.failed && !r->err; i++) {
		uint64_t stack = get_delta(&r->c, &prev_stack);
		uint64_t tid = cursor_uvarint(&r->c);
		uint64_t time = cursor_uvarint(&r->c);
		for (uint32_t v = 0; v < r->p->nvalues; v++)
			values[v] = cursor_svarint(&r->c);
		uint32_t s = stack ? map_index(r, &r->stacks, stack - 1) : PROFILE_NONE;
		if (tid > UINT32_MAX)
			r->err = -PROFILE_E_BAD_CHUNK;
		if (r->err || r->c.failed)
			break;
		if (profile_add_sample(r->p, s, (uint32_t)tid, time, values))
			r->err = -PROFILE_E_NOMEM;
	}
}

static int read_chunk(struct reader *r, uint32_t type, const uint8_t *payload, size_t len)
{
	r->c = (struct byte_cursor){ payload, payload + len, false };
	if (type == CHUNK_VALUE_TYPES) {
		read_value_types(r);
	} else if (type == CHUNK_END) {
		cursor_uvarint(&r->c);
	} else {
		uint64_t n = get_count(&r->c, 1);
		switch (type) {
		case CHUNK_STRINGS: read_strings(r, n); break;
		case CHUNK_META: read_meta(r, n); break;
		case CHUNK_MAPPINGS: read_mappings(r, n); break;
		case CHUNK_MAPPING_BUILD_IDS: read_build_ids(r, n); break;
		case CHUNK_FUNCTIONS: read_functions(r, n); break;
		case CHUNK_LOCATIONS: read_locations(r, n); break;
		case CHUNK_LOCATION_LINES: read_location_lines(r, n); break;
		case CHUNK_STACKS: read_stacks(r, n); break;
		case CHUNK_THREADS: read_threads(r, n); break;
		case CHUNK_SAMPLES: read_samples(r, n); break;
		default: break; /* unknown chunk types are skipped, for forward compatibility */
		}
	}
	if (r->err)
		return r->err;
	if (r->c.failed || r->c.p != r->c.end)
		return -PROFILE_E_BAD_CHUNK;
	return 0;
}

/* Where a file's bytes come from: a buffer, then a descriptor (a file, a
 * pipe, standard input), so that nothing is read before it is wanted and
 * no more than the limits allow is held. */
struct chunk_source {
	const uint8_t *buf;
	size_t len, off;
	int fd; /* -1: the buffer is all */
	uint64_t consumed;
};

/* Up to n bytes into dst: how many (fewer at the end), or -PROFILE_E_IO. */
static int64_t source_read(struct chunk_source *s, void *dst, size_t n)
{
	size_t got = 0;
	if (s->off < s->len) {
		got = s->len - s->off < n ? s->len - s->off : n;
		memcpy(dst, s->buf + s->off, got);
		s->off += got;
	}
	while (got < n && s->fd >= 0) {
		ssize_t r = read(s->fd, (uint8_t *)dst + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -PROFILE_E_IO;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	s->consumed += got;
	return (int64_t)got;
}

/* A chunk whose payload ends early: cut short (a recorder killed while
 * writing it), or a size field that lies, which a complete zstd frame in
 * the bytes that are there gives away. */
static int short_payload(const uint8_t *payload, size_t got)
{
	size_t frame = ZSTD_findFrameCompressedSize(payload, got);
	return !ZSTD_isError(frame) && frame <= got ? -PROFILE_E_CHUNK_SIZE : 0;
}

/* Reads and checks one chunk's payload into *raw (decompressed). 1: a
 * chunk was read; 0: the file ended before it (a prefix); or an error. */
static int read_one_chunk(struct chunk_source *src, ZSTD_DCtx *dctx, struct byte_buf *packed, uint8_t **raw,
			  uint64_t *total_raw, uint32_t *type, uint32_t *raw_size)
{
	uint8_t h[CHUNK_HEADER_SIZE];
	int64_t got = source_read(src, h, sizeof(h));
	if (got < 0)
		return (int)got;
	if (got < (int64_t)sizeof(h))
		return 0; /* a prefix: stop at the last complete chunk */
	*type = get_le32(h);
	uint32_t stored = get_le32(h + 4);
	*raw_size = get_le32(h + 8);
	if (*raw_size > CHUNK_MAX_RAW || stored > ZSTD_compressBound(CHUNK_MAX_RAW) ||
	    *total_raw + *raw_size > FILE_MAX_RAW)
		return -PROFILE_E_TOO_LARGE;
	packed->len = 0;
	byte_buf_reserve(packed, stored ? stored : 1);
	if (packed->failed)
		return -PROFILE_E_NOMEM;
	if ((got = source_read(src, packed->data, stored)) < 0)
		return (int)got;
	if (got < (int64_t)stored)
		return short_payload(packed->data, (size_t)got);
	uLong crc = crc32(crc32(0, h, 12), packed->data, stored);
	if ((uint32_t)crc != get_le32(h + 12))
		return -PROFILE_E_CHECKSUM;
	if (ZSTD_getFrameContentSize(packed->data, stored) != *raw_size)
		return -PROFILE_E_DECOMPRESS;
	uint8_t *next = realloc(*raw, *raw_size ? *raw_size : 1);
	if (!next)
		return -PROFILE_E_NOMEM;
	*raw = next;
	size_t n = ZSTD_decompressDCtx(dctx, *raw, *raw_size, packed->data, stored);
	if (ZSTD_isError(n) || n != *raw_size)
		return -PROFILE_E_DECOMPRESS;
	*total_raw += *raw_size;
	return 1;
}

/* The chunks after the file header, until END (then nothing may follow). */
static int read_chunks(struct reader *r, struct chunk_source *src, struct profile_read_info *info)
{
	ZSTD_DCtx *dctx = ZSTD_createDCtx();
	struct byte_buf packed = { 0 };
	uint8_t *raw = NULL;
	uint64_t total_raw = 0;
	int err = dctx ? 0 : -PROFILE_E_NOMEM;
	bool ended = false;
	while (!err && !ended) {
		uint32_t type = 0, raw_size = 0;
		int got = read_one_chunk(src, dctx, &packed, &raw, &total_raw, &type, &raw_size);
		if (got <= 0) {
			err = got;
			break;
		}
		err = read_chunk(r, type, raw, raw_size);
		info->chunks++;
		ended = type == CHUNK_END;
	}
	uint8_t extra;
	if (!err && ended && source_read(src, &extra, 1) == 1)
		err = -PROFILE_E_TRAILING;
	info->truncated = !ended;
	free(raw);
	byte_buf_release(&packed);
	ZSTD_freeDCtx(dctx);
	return err;
}

/* A profile from src, whose first bytes are the file header. */
static int read_profile(struct profile *p, struct chunk_source *src, struct profile_read_info *info)
{
	struct profile_read_info local;
	if (!info)
		info = &local;
	memset(info, 0, sizeof(*info));
	uint8_t header[FILE_HEADER_SIZE];
	int64_t got = source_read(src, header, sizeof(header));
	if (got < 0)
		return (int)got;
	info->file_bytes = src->consumed;
	if (got < FILE_HEADER_SIZE)
		return profile_is_smolder(header, (size_t)got) || got == 0 ? -PROFILE_E_TRUNCATED
									    : -PROFILE_E_NOT_PROFILE;
	if (!profile_is_smolder(header, sizeof(header)))
		return -PROFILE_E_NOT_PROFILE;
	if (get_le32(header + 8) != PROFILE_VERSION)
		return -PROFILE_E_VERSION;
	struct reader r = { .p = p };
	int err = read_chunks(&r, src, info);
	info->file_bytes = src->consumed;
	if (!err)
		err = profile_reindex_locations(p);
	if (!err && !r.value_types_seen)
		err = info->truncated ? -PROFILE_E_TRUNCATED : -PROFILE_E_BAD_CHUNK;
	free(r.strings.id);
	free(r.functions.id);
	free(r.locations.id);
	free(r.stacks.id);
	return err;
}

int profile_read_buffer(struct profile *p, const uint8_t *buf, size_t len, struct profile_read_info *info)
{
	struct chunk_source src = { .buf = buf, .len = len, .fd = -1 };
	return read_profile(p, &src, info);
}

/* path, or standard input for NULL or "-"; -PROFILE_E_IO with errno. */
static int open_input(const char *path)
{
	if (!path || strcmp(path, "-") == 0)
		return STDIN_FILENO;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd >= 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		close(fd);
		errno = EISDIR;
		return -PROFILE_E_IO;
	}
	return fd >= 0 ? fd : -PROFILE_E_IO;
}

static void close_input(int fd)
{
	if (fd != STDIN_FILENO) {
		int saved = errno;
		close(fd);
		errno = saved;
	}
}

int profile_read_file(struct profile *p, const char *path, struct profile_read_info *info)
{
	int fd = open_input(path);
	if (fd < 0)
		return fd;
	struct chunk_source src = { .fd = fd };
	int err = read_profile(p, &src, info);
	close_input(fd);
	return err;
}

/* A block of nothing but NUL bytes: /dev/zero, a sparse file's hole, not
 * text (a name in folded text may hold a NUL, a block of them is no text). */
static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return n > 0;
}

/* Folded text after its first bytes: the rest read whole (the parser wants
 * it so), within SLURP_MAX. */
static int load_folded(struct profile *p, int fd, const uint8_t *head, size_t head_len, struct folded_stats *stats)
{
	size_t cap = head_len + (1u << 20), len = head_len;
	uint8_t *text = malloc(cap + 1);
	if (!text)
		return -PROFILE_E_NOMEM;
	memcpy(text, head, head_len);
	for (;;) {
		if (len == cap) {
			uint8_t *bigger = cap * 2 <= SLURP_MAX ? realloc(text, cap * 2 + 1) : NULL;
			if (!bigger) {
				free(text);
				return cap * 2 > SLURP_MAX ? -PROFILE_E_TOO_LARGE : -PROFILE_E_NOMEM;
			}
			text = bigger;
			cap *= 2;
		}
		ssize_t n = read(fd, text + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(text);
			return -PROFILE_E_IO;
		}
		if (n == 0)
			break;
		if (all_zero(text + len, (size_t)n)) {
			free(text);
			return -PROFILE_E_NOT_TEXT; /* as soon as it shows, not after gigabytes */
		}
		len += (size_t)n;
	}
	text[len] = '\0';
	int err = profile_parse_folded(p, (const char *)text, len, stats);
	free(text);
	return err;
}

int profile_load(struct profile *p, const char *path, struct profile_read_info *info,
		 struct folded_stats *stats)
{
	struct folded_stats local;
	if (!stats)
		stats = &local;
	memset(stats, 0, sizeof(*stats));
	if (info)
		memset(info, 0, sizeof(*info));
	int fd = open_input(path);
	if (fd < 0)
		return fd;
	/* The first bytes say which it is: nothing more is read before that. */
	uint8_t head[FILE_HEADER_SIZE];
	struct chunk_source peek = { .fd = fd };
	int64_t got = source_read(&peek, head, sizeof(head));
	int err;
	if (got < 0)
		err = (int)got;
	else if (profile_is_smolder(head, (size_t)got)) {
		struct chunk_source src = { .buf = head, .len = (size_t)got, .fd = fd };
		err = read_profile(p, &src, info);
	} else if (all_zero(head, (size_t)got))
		err = -PROFILE_E_NOT_TEXT;
	else
		err = load_folded(p, fd, head, (size_t)got, stats);
	close_input(fd);
	return err;
}
