/* Private to profile/: what its .c files share beyond profile.h. */
#ifndef SMOLDER_PROFILE_INTERNAL_H
#define SMOLDER_PROFILE_INTERNAL_H

#include "profile/profile.h"

#define STRING_MAX_LEN (1u << 20) /* longer names are cut: nothing real is this long */

/* The reader adds a file's locations as they are (their inline chains come
 * later, in other chunks), then indexes them once at the end. */
int64_t profile_append_location(struct profile *p, uint64_t address, uint32_t mapping);
int profile_reindex_locations(struct profile *p);

#endif
