/* Private to profile/: what its .c files share beyond profile.h. */
#ifndef SMOLDER_PROFILE_INTERNAL_H
#define SMOLDER_PROFILE_INTERNAL_H

#include "profile/profile.h"

#define STRING_MAX_LEN (1u << 20) /* longer names are cut: nothing real is this long */

/* The reader adds a file's locations as they are (their inline chains come
 * later, in other chunks), then indexes them once at the end. */
int64_t profile_append_location(struct profile *p, uint64_t address, uint32_t mapping);
int profile_reindex_locations(struct profile *p);

/* ---- the .smolder format, shared by writer.c and reader.c (docs/format.md) ---- */

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
	CHUNK_EVENTS = 13,            /* version 2: when each sample happened */
};

/* Version 2 files hold batches: a chunk of one of these types whose payload
 * is the next part of a zstd stream, flushed at the chunk's end, and which
 * decompresses to records (uvarint type, uvarint length, a version 1
 * chunk's payload).  One stream keeps the compressor's history across the
 * recording, and every flushed prefix still decodes. */
enum batch_type {
	BATCH_STREAM_BEGIN = 64, /* a new zstd frame starts here */
	BATCH_STREAM = 65,       /* the frame goes on */
};

#define FILE_HEADER_SIZE 16
#define CHUNK_HEADER_SIZE 16
#define CHUNK_MAX_RAW (64u << 20)        /* one chunk's decompressed payload */
#define CHUNK_TARGET_RAW (1u << 20)      /* the writer starts a new chunk past this */
#define FILE_MAX_RAW (2ull << 30)        /* all payloads of one file, decompressed */
#define INLINE_MAX 4096                  /* lines of one location's inline chain */
#define SLURP_MAX (4ull << 30)              /* the largest input read into memory */

static inline void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

#endif
