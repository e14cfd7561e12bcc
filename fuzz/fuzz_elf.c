/* The ELF readers on hostile files, read from files a target (or a
 * container) controls: the profiler's (the build-id note of a mapped file,
 * the allocation functions of a C library, the search table the unwinder
 * builds of an .eh_frame without .eh_frame_hdr), the symbolizer's image of
 * inflated DWARF sections (walked CU by CU, and searched by address as
 * lookups search it) and such an image as its cache keeps it, and its names
 * inferred from .eh_frame_hdr for files without symbols. */

#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz/fuzz.h"
#include "profiler/profiler-internal.h"
#include "symbolizer/dwarf_image.h"
#include "symbolizer/elf_file-internal.h"

static void inferred_names(int fd)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	struct debuginfo d;
	if (debuginfo_init(&d, "/nonexistent", false, NULL))
		return;
	enum symbolizer_error why;
	struct elf_file *f = elf_file_open(&d, 0, path, "", 0, 0, &why);
	for (uint64_t addr = 0; f && addr < 0x10000; addr += 0x1000)
		(void)elf_file_inferred_name(f, addr);
	elf_file_close(f);
	debuginfo_release(&d);
}

/* Each CU's DIE by offset, then by address as lookups find it (through
 * .debug_aranges, read by cu_lookup.c, and the CUs' own ranges). */
static void walk_cus(Dwarf *dbg)
{
	Dwarf_Off off = 0, next;
	size_t header;
	while (dbg && dwarf_nextcu(dbg, off, &next, &header, NULL, NULL, NULL) == 0) {
		Dwarf_Die cu;
		if (dwarf_offdie(dbg, off + header, &cu))
			(void)dwarf_diename(&cu);
		off = next;
	}
	struct elf_file f = { .dwarf = dbg };
	Dwarf_Die cu;
	for (uint64_t addr = 0; dbg && addr < 0x10000; addr += 0x400)
		(void)elf_file_cu_die(&f, addr, &cu);
	vec_release(&f.aranges);
	vec_release(&f.cu_ranges);
}

static void dwarf_image_walk(int fd)
{
	elf_version(EV_CURRENT);
	Elf *elf = elf_begin(fd, ELF_C_READ, NULL);
	Dwarf *dbg = elf ? dwarf_image_open(elf, NULL, NULL) : NULL;
	walk_cus(dbg);
	if (dbg)
		dwarf_image_close(dbg);
	if (elf)
		elf_end(elf);
}

/* The input as an image kept in the cache (a file anyone with the cache
 * directory's permissions can write): loaded, then walked. */
static void dwarf_cache_walk(const uint8_t *data, size_t size)
{
	char dir[64], sub[80], path[128];
	snprintf(dir, sizeof(dir), "/tmp/smolder-fuzz-cache.%d", (int)getpid());
	snprintf(sub, sizeof(sub), "%s/dwarf-1", dir);
	snprintf(path, sizeof(path), "%s/feed.dwarf", sub);
	mkdir(dir, 0700);
	mkdir(sub, 0700);
	FILE *f = fopen(path, "w");
	if (!f)
		return;
	bool whole = fwrite(data, 1, size, f) == size;
	if (fclose(f) == 0 && whole) {
		elf_version(EV_CURRENT);
		Elf *elf = elf_memory((char *)"", 0);
		Dwarf *dbg = dwarf_image_open(elf, NULL, &(struct dwarf_cache_entry){ dir, "feed", 0 });
		walk_cus(dbg);
		if (dbg)
			dwarf_image_close(dbg);
		if (elf)
			elf_end(elf);
	}
	unlink(path);
	rmdir(sub);
	rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = memfd_create("elf", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) == (ssize_t)size) {
		struct alloc_probes ap = { .fd = fd };
		char build_id[2 * BUILD_ID_MAX + 1];
		read_build_id(fd, build_id, sizeof(build_id));
		alloc_probes_read_offsets(&ap);
		struct eh_frame_index ix;
		eh_frame_index_build(&ix, data, size);
		eh_frame_index_release(&ix);
		dwarf_image_walk(fd);
		dwarf_cache_walk(data, size);
		inferred_names(fd);
	}
	close(fd);
	return 0;
}
