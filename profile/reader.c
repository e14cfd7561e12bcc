/* Reading the .smolder file (and, for profile_load, folded text).  The file
 * is hostile: the header is checked first, then chunk by chunk, sizes are
 * capped before anything is allocated or read, checksums are verified before
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

/* File-local ids are translated to the reader's own ids, since the reader
 * interns (a hostile file may repeat entries): one struct vec of uint32_t
 * per table, indexed by file-local id. */
static int id_map_push(struct vec *m, uint32_t id)
{
	uint32_t *slot = vec_push(m, sizeof(*slot));
	if (!slot)
		return m->count >= VEC_MAX_COUNT ? -PROFILE_E_TOO_LARGE : -PROFILE_E_NOMEM;
	*slot = id;
	return 0;
}

static uint32_t id_map_at(const struct vec *m, uint32_t i)
{
	return ((const uint32_t *)m->data)[i];
}

struct reader {
	struct profile *p;
	struct vec strings, functions, locations, stacks, samples; /* id maps */
	bool value_types_seen;
	struct byte_cursor c;
	int err;
};

/* Translates file index i through m, flagging a bad index. */
static uint32_t map_index(struct reader *r, const struct vec *m, uint64_t i)
{
	if (i >= m->count) {
		if (!r->err)
			r->err = -PROFILE_E_BAD_INDEX;
		return 0;
	}
	return id_map_at(m, (uint32_t)i);
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
				   ? profile_location(r->p, id_map_at(&r->locations, r->locations.count - 1))->address
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
			parent = id_map_at(&r->stacks, self - back);
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
		/* A (stack, thread) not seen before gets the next file-local
		 * sample id, as it did in the writer. */
		uint32_t before = r->p->samples.count;
		if (profile_add_sample(r->p, s, (uint32_t)tid, time, values))
			r->err = -PROFILE_E_NOMEM;
		else if (r->p->samples.count > before)
			r->err = id_map_push(&r->samples, before);
	}
}

/* Events copy what the samples already sum: they are kept, not added. */
static void read_events(struct reader *r, uint64_t n)
{
	struct profile *p = r->p;
	if (!r->value_types_seen) {
		r->err = -PROFILE_E_BAD_CHUNK;
		return;
	}
	uint64_t sample = 0, us = 0;
	int64_t values[PROFILE_MAX_VALUES] = { 0 };
	for (uint64_t i = 0; i < n && !r->c.failed && !r->err; i++) {
		uint32_t s = map_index(r, &r->samples, get_delta(&r->c, &sample));
		us += (uint64_t)cursor_svarint(&r->c);
		for (uint32_t v = 0; v < p->nvalues; v++)
			values[v] = (int64_t)((uint64_t)values[v] + (uint64_t)cursor_svarint(&r->c));
		if (r->err || r->c.failed)
			break;
		if (us > UINT64_MAX / 1000) {
			r->err = -PROFILE_E_BAD_CHUNK;
			break;
		}
		struct profile_event *e = vec_push(&p->events, sizeof(*e));
		int64_t *ev = e && p->nvalues ? vec_push_n(&p->event_values, sizeof(*ev), p->nvalues) : NULL;
		if (!e || (p->nvalues && !ev)) {
			r->err = p->events.count >= VEC_MAX_COUNT ? -PROFILE_E_TOO_LARGE : -PROFILE_E_NOMEM;
			break;
		}
		*e = (struct profile_event){ us * 1000, s };
		if (ev)
			memcpy(ev, values, p->nvalues * sizeof(*ev));
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
		case CHUNK_EVENTS: read_events(r, n); break;
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

/* A version 1 chunk whose payload ends early: cut short (a recorder killed
 * while writing it), or a size field that lies, which a complete zstd frame
 * in the bytes that are there gives away. */
static int short_payload(const uint8_t *payload, size_t got)
{
	size_t frame = ZSTD_findFrameCompressedSize(payload, got);
	return !ZSTD_isError(frame) && frame <= got ? -PROFILE_E_CHUNK_SIZE : 0;
}

enum { CHUNK_SHORT = 2 }; /* a version 2 chunk that ends early */

/* Reads one chunk and checks its sizes and checksum, its payload into
 * *packed. 1: a chunk was read; 0: the file ended before it (a prefix); or
 * an error. */
static int read_one_chunk(struct chunk_source *src, struct byte_buf *packed, uint64_t total_raw, uint32_t *type,
			  uint32_t *raw_size, uint32_t version)
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
	if (*raw_size > CHUNK_MAX_RAW || stored > ZSTD_compressBound(CHUNK_MAX_RAW) + 64 ||
	    total_raw + *raw_size > FILE_MAX_RAW)
		return -PROFILE_E_TOO_LARGE;
	packed->len = 0;
	byte_buf_reserve(packed, stored ? stored : 1);
	if (packed->failed)
		return -PROFILE_E_NOMEM;
	if ((got = source_read(src, packed->data, stored)) < 0)
		return (int)got;
	packed->len = (size_t)got;
	if (got < (int64_t)stored)
		return version == 1 ? short_payload(packed->data, (size_t)got) : CHUNK_SHORT;
	uLong crc = crc32(crc32(0, h, 12), packed->data, stored);
	if ((uint32_t)crc != get_le32(h + 12))
		return -PROFILE_E_CHECKSUM;
	return 1;
}

/* Version 1: the payload is one whole zstd frame. */
static int decompress_frame(ZSTD_DCtx *dctx, const struct byte_buf *packed, uint8_t *raw, uint32_t raw_size)
{
	if (ZSTD_getFrameContentSize(packed->data, packed->len) != raw_size)
		return -PROFILE_E_DECOMPRESS;
	size_t n = ZSTD_decompressDCtx(dctx, raw, raw_size, packed->data, packed->len);
	return ZSTD_isError(n) || n != raw_size ? -PROFILE_E_DECOMPRESS : 0;
}

/* Version 2: decompresses the stream's next part into raw until either
 * runs out; false on a stream error. */
static bool stream_part(ZSTD_DCtx *dctx, const struct byte_buf *packed, uint8_t *raw, uint32_t raw_size, bool begin,
			ZSTD_inBuffer *in, ZSTD_outBuffer *out)
{
	if (begin)
		ZSTD_DCtx_reset(dctx, ZSTD_reset_session_only);
	*in = (ZSTD_inBuffer){ packed->data, packed->len, 0 };
	*out = (ZSTD_outBuffer){ raw, raw_size, 0 };
	while (in->pos < in->size && out->pos < out->size) {
		size_t before_in = in->pos, before_out = out->pos;
		size_t rc = ZSTD_decompressStream(dctx, out, in);
		if (ZSTD_isError(rc) || (in->pos == before_in && out->pos == before_out))
			return false;
	}
	return true;
}

/* A whole part must decompress to exactly raw_size bytes, with nothing
 * held back (the flush wrote it all). */
static int decompress_stream(ZSTD_DCtx *dctx, const struct byte_buf *packed, uint8_t *raw, uint32_t raw_size,
			     bool begin)
{
	ZSTD_inBuffer in;
	ZSTD_outBuffer out;
	if (!stream_part(dctx, packed, raw, raw_size, begin, &in, &out) || in.pos != in.size || out.pos != raw_size)
		return -PROFILE_E_DECOMPRESS;
	uint8_t extra;
	ZSTD_outBuffer more = { &extra, 1, 0 };
	size_t rc = ZSTD_decompressStream(dctx, &more, &in);
	return ZSTD_isError(rc) || more.pos ? -PROFILE_E_DECOMPRESS : 0;
}

/* A version 2 chunk that ends early: cut short, or a size field that
 * lies, which the stream gives away when its part decompresses whole with a
 * chunk's worth of bytes to spare (the chunks after it). */
static int short_stream(ZSTD_DCtx *dctx, const struct byte_buf *packed, uint8_t *raw, uint32_t raw_size, bool begin)
{
	ZSTD_inBuffer in;
	ZSTD_outBuffer out;
	return stream_part(dctx, packed, raw, raw_size, begin, &in, &out) && out.pos == raw_size &&
			       in.pos + CHUNK_HEADER_SIZE <= in.size
		       ? -PROFILE_E_CHUNK_SIZE
		       : 0;
}

/* Reads the records of a version 2 batch. */
static int read_batch(struct reader *r, const uint8_t *raw, uint32_t len, bool *ended)
{
	struct byte_cursor c = { raw, raw + len, false };
	while (c.p < c.end) {
		if (*ended)
			return -PROFILE_E_TRAILING;
		uint64_t type = cursor_uvarint(&c), n = cursor_uvarint(&c);
		if (c.failed || n > (uint64_t)(c.end - c.p))
			return -PROFILE_E_BAD_CHUNK;
		int err = type > UINT32_MAX ? 0 : read_chunk(r, (uint32_t)type, c.p, (size_t)n);
		if (err)
			return err;
		c.p += n;
		*ended = type == CHUNK_END;
	}
	return 0;
}

/* The chunks after the file header, until END (then nothing may follow). */
static int read_chunks(struct reader *r, struct chunk_source *src, struct profile_read_info *info, uint32_t version)
{
	ZSTD_DCtx *dctx = ZSTD_createDCtx();
	struct byte_buf packed = { 0 };
	uint8_t *raw = NULL;
	uint64_t total_raw = 0;
	int err = dctx ? 0 : -PROFILE_E_NOMEM;
	if (dctx) /* a hostile stream may not ask for a larger window than ours */
		ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax, 24);
	bool ended = false;
	while (!err && !ended) {
		uint32_t type = 0, raw_size = 0;
		int got = read_one_chunk(src, &packed, total_raw, &type, &raw_size, version);
		bool batch = version >= 2 && (type == BATCH_STREAM_BEGIN || type == BATCH_STREAM);
		if (got == CHUNK_SHORT) {
			uint8_t *room = batch ? realloc(raw, raw_size ? raw_size : 1) : raw;
			if (room) {
				raw = room;
				err = batch ? short_stream(dctx, &packed, raw, raw_size, type == BATCH_STREAM_BEGIN) : 0;
			}
			break;
		}
		if (got <= 0) {
			err = got;
			break;
		}
		if (version >= 2 && !batch)
			continue; /* unknown chunk types are skipped, for forward compatibility */
		uint8_t *next = realloc(raw, raw_size ? raw_size : 1);
		if (!next) {
			err = -PROFILE_E_NOMEM;
			break;
		}
		raw = next;
		total_raw += raw_size;
		if (batch) {
			err = decompress_stream(dctx, &packed, raw, raw_size, type == BATCH_STREAM_BEGIN);
			if (!err)
				err = read_batch(r, raw, raw_size, &ended);
		} else {
			err = decompress_frame(dctx, &packed, raw, raw_size);
			if (!err)
				err = read_chunk(r, type, raw, raw_size);
			ended = type == CHUNK_END;
		}
		info->chunks++;
	}
	uint8_t extra;
	if (!err && ended && source_read(src, &extra, 1) == 1)
		err = -PROFILE_E_TRAILING;
	info->truncated = !ended;
	info->raw_bytes = total_raw;
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
	uint32_t version = get_le32(header + 8);
	if (version < 1 || version > PROFILE_VERSION)
		return -PROFILE_E_VERSION;
	struct reader r = { .p = p };
	int err = read_chunks(&r, src, info, version);
	info->file_bytes = src->consumed;
	if (!err)
		err = profile_reindex_locations(p);
	if (!err && !r.value_types_seen)
		err = info->truncated ? -PROFILE_E_TRUNCATED : -PROFILE_E_BAD_CHUNK;
	vec_release(&r.strings);
	vec_release(&r.functions);
	vec_release(&r.locations);
	vec_release(&r.stacks);
	vec_release(&r.samples);
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
