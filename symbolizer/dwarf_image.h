/* A file's DWARF for libdw, its compressed sections inflated fast: only the
 * sections a lookup reads (not location lists, frames or macros), with
 * libdeflate (three times zlib's speed), on up to four threads at once, into
 * an ELF image in memory.  libdw 0.188 inflates every compressed debug
 * section of a file with zlib, one after another, when it opens it: most of
 * the time symbolizing took with Debian's -dbg files or -gz builds. */
#ifndef SMOLDER_SYMBOLIZER_DWARF_IMAGE_H
#define SMOLDER_SYMBOLIZER_DWARF_IMAGE_H

#include <elfutils/libdw.h>
#include <gelf.h>
#include <stdatomic.h>

#include "symbolizer/dwarf_cache.h"

/* A section of an image, as early work sees it. */
struct dwarf_image_section {
	const char *name;
	const unsigned char *bytes;
	uint64_t size;
};

/* Work that needs no .debug_info, done while it is being inflated (the
 * longest section: one thread inflates it while the others are done with
 * theirs): run once every other section is in, before dwarf_image_open
 * returns, on one of its threads, with those sections (count of them).  It
 * is to stop when *info_in turns true: then there is no time to gain. */
struct dwarf_image_early {
	void (*run)(void *arg, const struct dwarf_image_section *sections, uint32_t count, const atomic_bool *info_in);
	void *arg;
};

/* libdw over src's DWARF, inflated into a new image that the returned Dwarf
 * reads (and dwarf_image_close frees).  NULL when the image would not help
 * (nothing compressed) or cannot be made (not a 64-bit little-endian file, a
 * relocatable one, a dwz supplementary link, an unknown compression, a
 * corrupt stream): open src with dwarf_begin_elf instead, which reports
 * what is wrong, if anything.  src must outlive nothing here: the image is
 * a copy.  early (may be NULL): see above; not run if NULL is returned, or
 * if the image was one kept in cache (may be NULL: none), which is taken
 * instead of src's sections if it is there, and where a new image is kept. */
Dwarf *dwarf_image_open(Elf *src, const struct dwarf_image_early *early, const struct dwarf_cache_entry *cache);
void dwarf_image_close(Dwarf *dbg);

/* Another reader of dbg's bytes, for another thread (a libdw handle is not
 * to be shared between threads): of an image of dwarf_image_open, or of a
 * file libdw reads as stored (uncompressed, not relocatable, no dwz link);
 * NULL for any other.  Closed with dwarf_image_reader_close, before dbg. */
Dwarf *dwarf_image_reader(Dwarf *dbg);
void dwarf_image_reader_close(Dwarf *reader);

#endif
