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
 * cannot be named stays unsymbolized and renders as module+0xoffset.  While
 * a recording runs, its files can be opened and its addresses looked up
 * ahead (symbolizer_note_locations), so that little is left once it ends. */
#ifndef SMOLDER_SYMBOLIZER_H
#define SMOLDER_SYMBOLIZER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "profile/profile.h"

#define SYMBOLIZER_KERNEL_PATH "[kernel.kallsyms]"

/* One list generates the error enum and its messages (as elfutils' DWFL_ERRORS). */
#define SYMBOLIZER_ERRORS                                                                             \
	SYMBOLIZER_ERROR(OK, "success")                                                               \
	SYMBOLIZER_ERROR(NOMEM, "out of memory")                                                      \
	SYMBOLIZER_ERROR(NO_FILE, "file not found: deleted, or its process exited before it was read") \
	SYMBOLIZER_ERROR(NO_ACCESS, "permission denied")                                              \
	SYMBOLIZER_ERROR(OTHER_FILE, "the file at that path is not the one mapped (its build-id differs)") \
	SYMBOLIZER_ERROR(NOT_ELF, "not an ELF file with loadable segments, or a corrupt one")           \
	SYMBOLIZER_ERROR(NO_SYMBOLS, "no symbols: stripped, and no debug file found")

enum symbolizer_error {
#define SYMBOLIZER_ERROR(name, msg) SYMBOLIZER_E_##name,
	SYMBOLIZER_ERRORS
#undef SYMBOLIZER_ERROR
	SYMBOLIZER_E_COUNT
};

const char *symbolizer_strerror(enum symbolizer_error e);

struct symbolizer_options {
	bool demangle;
	const char *debuginfo_path; /* libdwfl's syntax; NULL: ":.debug:/usr/lib/debug" */
	bool debuginfod;            /* ask the servers of DEBUGINFOD_URLS (read by libdebuginfod) */
	/* Compressed DWARF, once inflated, is kept here for the next run, by
	 * build-id (2 GiB at most, the least recently used taken out); NULL:
	 * inflated at every run and not kept. */
	const char *dwarf_cache_dir;
};

/* A file whose addresses stayed unnamed, and why. */
struct symbolizer_file_note {
	const char *path; /* as the process mapped it; valid until symbolizer_free */
	enum symbolizer_error why;
};

struct symbolizer_stats {
	uint32_t files, files_missing;
	uint32_t locations, named;
	uint32_t jit_maps_ignored; /* /tmp/perf-PID.map files of another user */
	bool kernel_restricted;    /* kptr_restrict hid kernel addresses */
};

struct symbolizer;

/* A symbolizer keeps every file it opens, and what it looked up in it, until
 * freed.  NULL when out of memory. */
struct symbolizer *symbolizer_new(const struct symbolizer_options *o);
void symbolizer_free(struct symbolizer *z);

/* Symbolizes every unsymbolized location of p.  mapping_pids[i] is the
 * process whose root holds mapping i's file (0: this process's root).
 * Returns 0, or -SYMBOLIZER_E_NOMEM. */
int symbolizer_run(struct symbolizer *z, struct profile *p, const pid_t *mapping_pids, uint32_t npids,
		   struct symbolizer_stats *stats);

/* While recording, so that symbolizer_run finds the slow part done: notes the
 * locations p gained since *cursor (quick; p must not change meanwhile), then
 * symbolizer_prepare_noted opens their files and debug info and looks them up
 * (slow; p may change).  None of these calls may run at the same time as
 * another on the same symbolizer.  note returns 0 or -SYMBOLIZER_E_NOMEM. */
int symbolizer_note_locations(struct symbolizer *z, const struct profile *p, const pid_t *mapping_pids,
			      uint32_t npids, uint32_t *cursor);
void symbolizer_prepare_noted(struct symbolizer *z);

/* The files that could not be used, or had nothing to name an address
 * with, after symbolizer_run: up to max into out; returns how many there are. */
uint32_t symbolizer_file_notes(const struct symbolizer *z, struct symbolizer_file_note *out, uint32_t max);

/* The demangled form of a C++ or Rust (legacy or v0) name, malloc'd, or NULL
 * when the name is not mangled, too long (16 KiB), or not understood. */
char *symbol_demangle(const char *name);


#endif
