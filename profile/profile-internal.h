/* Private to profile/: the interning hash shared by its .c files. */
#ifndef SMOLDER_PROFILE_INTERNAL_H
#define SMOLDER_PROFILE_INTERNAL_H

#include "profile/profile.h"

#define VEC_MAX_COUNT (1u << 30)
#define STRING_MAX_LEN (1u << 20) /* longer names are cut: nothing real is this long */

typedef bool (*id_hash_eq)(const void *ctx, uint32_t id, const void *key);
typedef uint64_t (*id_hash_rehash)(const void *ctx, uint32_t id);

/* Grows h so that one more id fits under a 3/4 load. */
int id_hash_reserve(struct id_hash *h, uint32_t count, id_hash_rehash rehash, const void *ctx);
/* The slot holding the id equal to key, or the empty slot where it goes. */
uint32_t *id_hash_probe(struct id_hash *h, uint64_t hash, id_hash_eq eq, const void *ctx,
			const void *key);
void id_hash_release(struct id_hash *h);

/* The reader adds a file's locations as they are (their inline chains come
 * later, in other chunks), then indexes them once at the end. */
int64_t profile_append_location(struct profile *p, uint64_t address, uint32_t mapping);
int profile_reindex_locations(struct profile *p);

#endif
