/* Images of inflated DWARF (dwarf_image.h) kept on disk between runs, by
 * build-id, so that a file's compressed debug sections are inflated once
 * on a machine rather than at every recording: libc's from Debian's
 * libc6-dbg took ~20 ms of the recorder's CPU each time, a large C++
 * program's takes seconds.  Best effort throughout: an image that cannot
 * be read or kept is made again, and nothing is reported. */
#ifndef SMOLDER_SYMBOLIZER_DWARF_CACHE_H
#define SMOLDER_SYMBOLIZER_DWARF_CACHE_H

#include <stdint.h>

/* Where images are kept, and one image's name there. */
struct dwarf_cache_entry {
	const char *dir; /* NULL: nothing is kept */
	const char *key; /* the file's build-id in hex, and ".debug" when the DWARF is its debug file's */
	uint64_t max_bytes; /* what dir may hold; 0: DWARF_CACHE_MAX_BYTES */
};

/* The image kept for e, mapped (a private mapping of size bytes, unmapped
 * by dwarf_image_close), or NULL: none, or not whole (a short file, or
 * section headers that are not where an image has them). */
unsigned char *dwarf_cache_load(const struct dwarf_cache_entry *e, uint64_t *size);

/* Keeps image under e's name (written beside it, synced, renamed into
 * place), then takes the least recently used images out while the
 * directory holds more than e's limit, and the temporary files of stores
 * that never ended (an hour old).  An image larger than half the limit is
 * not kept. */
#define DWARF_CACHE_MAX_BYTES ((uint64_t)2 << 30)
void dwarf_cache_store(const struct dwarf_cache_entry *e, const unsigned char *image, uint64_t size);

#endif
