/* symbolizer: names the addresses of a profile.
 *
 * Reads the ELF symbol tables (.symtab, .dynsym) of each mapped file once,
 * through /proc/PID/root so that containers work, and kernel symbols from
 * /proc/kallsyms.  Each unique location is looked up once, by binary search.
 * What cannot be named stays unsymbolized, and renders as module+0xoffset. */
#ifndef SMOLDER_SYMBOLIZER_H
#define SMOLDER_SYMBOLIZER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "profile/profile.h"

#define SYMBOLIZER_KERNEL_PATH "[kernel.kallsyms]"

struct symbolizer_options {
	bool demangle;
};

struct symbolizer_stats {
	uint32_t files, files_missing;
	uint32_t locations, named;
	bool kernel_restricted; /* kptr_restrict hid kernel addresses */
};

/* Symbolizes every unsymbolized location of p.  mapping_pids[i] is the
 * process whose root holds mapping i's file (0: this process's root).
 * Returns 0, or a negative profile_error when out of memory. */
int symbolize_profile(struct profile *p, const pid_t *mapping_pids, uint32_t npids,
		      const struct symbolizer_options *o, struct symbolizer_stats *stats);

/* The hex build-id of an ELF file (path opened as is), in buf; false if none. */
bool elf_build_id(const char *path, char *buf, size_t len);

#endif
