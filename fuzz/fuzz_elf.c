/* The profiler's own ELF readers on hostile files: the build-id note of a
 * mapped file and the allocation functions of a C library, both read from
 * files a target (or a container) controls. */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz/fuzz.h"
#include "profiler/profiler-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = memfd_create("elf", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) == (ssize_t)size) {
		struct alloc_probes ap = { 0 };
		snprintf(ap.path, sizeof(ap.path), "/proc/self/fd/%d", fd);
		char build_id[2 * BUILD_ID_MAX + 1];
		read_build_id(ap.path, build_id, sizeof(build_id));
		alloc_probes_read_offsets(&ap);
	}
	close(fd);
	return 0;
}
