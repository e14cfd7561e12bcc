/* symbolizer: names the addresses of a profile.
 *
 * Each mapped file is opened once, as its process sees it (through
 * /proc/PID/root, so containers work; /proc/PID/map_files for deleted or
 * replaced binaries), and read with libdw: inline chains and file:line from
 * DWARF, found in the file or in separate debug info (by build-id, or
 * .gnu_debuglink with its CRC checked; debuginfod only when DEBUGINFOD_URLS
 * is set), else the ELF symbol tables.  Kernel frames come from
 * /proc/kallsyms, JIT frames from /tmp/perf-PID.map.  Names are demangled
 * (C++, Rust legacy and v0).  Each unique location is looked up once; what
 * cannot be named stays unsymbolized and renders as module+0xoffset. */
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
	uint32_t jit_maps_ignored; /* /tmp/perf-PID.map files of another user */
	bool kernel_restricted;    /* kptr_restrict hid kernel addresses */
};

/* Symbolizes every unsymbolized location of p.  mapping_pids[i] is the
 * process whose root holds mapping i's file (0: this process's root).
 * Returns 0, or a negative profile_error when out of memory. */
int symbolize_profile(struct profile *p, const pid_t *mapping_pids, uint32_t npids,
		      const struct symbolizer_options *o, struct symbolizer_stats *stats);

/* The demangled form of a C++ or Rust (legacy or v0) name, malloc'd, or NULL
 * when the name is not mangled, too long (16 KiB), or not understood. */
char *symbol_demangle(const char *name);


#endif
