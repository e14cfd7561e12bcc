#include <elf.h>
#include <libdeflate.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/base.h"

#include "symbolizer/dwarf_cache.h"
#include "symbolizer/dwarf_image.h"

/* What a lookup reads: DIEs and their strings, ranges and line tables. */
static const char *const kept_sections[] = {
	".debug_info",	  ".debug_abbrev",   ".debug_str",	".debug_line_str", ".debug_str_offsets",
	".debug_line",	  ".debug_aranges",  ".debug_ranges",	".debug_rnglists", ".debug_addr",
	".debug_types",	  ".debug_cu_index", ".debug_tu_index",
};

#define IMAGE_MAX ((uint64_t)4 << 30)
#define DEFLATE_RATIO_MAX 1032 /* the most a deflate stream can expand */

struct section {
	const char *name;
	const unsigned char *src; /* the stored bytes (after the header if compressed) */
	size_t src_size;
	uint64_t size; /* in the image */
	uint64_t flags, align, entsize;
	uint64_t offset; /* in the image */
	bool compressed;
	uint32_t name_offset; /* in the image's section name table */
};

struct inflation {
	struct section *sections;
	uint32_t count;
	unsigned char *image;
	atomic_uint next;   /* the next section to take, largest first */
	atomic_bool failed;
	const struct dwarf_image_early *early;
	atomic_uint others_left; /* sections but .debug_info not yet in */
	atomic_bool info_in;
};

/* The early work, with every section but .debug_info. */
static void run_early(struct inflation *job)
{
	struct dwarf_image_section in[sizeof(kept_sections) / sizeof(kept_sections[0])];
	uint32_t n = 0;
	for (uint32_t i = 0; i < job->count; i++)
		if (strcmp(job->sections[i].name, ".debug_info") != 0)
			in[n++] = (struct dwarf_image_section){ job->sections[i].name, job->image + job->sections[i].offset,
								job->sections[i].size };
	job->early->run(job->early->arg, in, n, &job->info_in);
}

static bool is_kept(const char *name)
{
	for (size_t i = 0; i < sizeof(kept_sections) / sizeof(kept_sections[0]); i++)
		if (strcmp(name, kept_sections[i]) == 0)
			return true;
	return false;
}

/* A zlib stream inflated to exactly size bytes.  Its Adler-32 is not
 * checked (3% of inflating, on the longest section's thread): a stream that
 * inflates to exactly its size is whole, and the readers check every byte
 * they read anyway. */
static bool inflate_zlib(struct libdeflate_decompressor *d, const unsigned char *src, size_t src_size,
			 unsigned char *out, size_t size)
{
	/* deflate, a 32K window at most, no preset dictionary (RFC 1950) */
	if (src_size < 6 || (src[0] & 0x0f) != 8 || (src[0] >> 4) > 7 || (src[1] & 0x20) ||
	    ((src[0] << 8) | src[1]) % 31 != 0)
		return false;
	return libdeflate_deflate_decompress(d, src + 2, src_size - 6, out, size, NULL) == LIBDEFLATE_SUCCESS;
}

static void inflate_sections(void *arg, unsigned share)
{
	(void)share;
	struct inflation *job = arg;
	struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
	if (!d) {
		job->failed = true;
		return;
	}
	for (uint32_t i; (i = atomic_fetch_add(&job->next, 1)) < job->count && !job->failed;) {
		const struct section *s = &job->sections[i];
		unsigned char *out = job->image + s->offset;
		if (!s->compressed) {
			if (s->size)
				memcpy(out, s->src, s->size);
		}
		else if (!inflate_zlib(d, s->src, s->src_size, out, s->size))
			job->failed = true;
		if (strcmp(s->name, ".debug_info") == 0)
			job->info_in = true;
		else if (atomic_fetch_sub(&job->others_left, 1) == 1 && job->early && !job->failed && !job->info_in)
			run_early(job);
	}
	libdeflate_free_decompressor(d);
}

static int larger_first(const void *a, const void *b)
{
	const struct section *x = a, *y = b;
	return (x->src_size < y->src_size) - (x->src_size > y->src_size);
}

/* The kept sections of src, with their sizes once inflated; false if the
 * image cannot be made of them or would not help. */
static bool sections_of(Elf *src, struct section *out, uint32_t *count)
{
	size_t shstrndx;
	bool any_compressed = false;
	*count = 0;
	if (elf_getshdrstrndx(src, &shstrndx) != 0)
		return false;
	for (Elf_Scn *scn = NULL; (scn = elf_nextscn(src, scn));) {
		GElf_Shdr sh;
		const char *name = gelf_getshdr(scn, &sh) ? elf_strptr(src, shstrndx, sh.sh_name) : NULL;
		if (!name)
			return false;
		/* A dwz supplementary file is found through the file's own path,
		 * which an image has not; old-style .zdebug is libdw's to undo. */
		if (strcmp(name, ".gnu_debugaltlink") == 0 || strncmp(name, ".zdebug", 7) == 0)
			return false;
		if (!is_kept(name) || sh.sh_type == SHT_NOBITS)
			continue;
		if (*count == sizeof(kept_sections) / sizeof(kept_sections[0]))
			return false; /* a kept section twice */
		Elf_Data *raw = elf_rawdata(scn, NULL);
		if (!raw || (!raw->d_buf && raw->d_size))
			return false;
		struct section *s = &out[(*count)++];
		*s = (struct section){ name, raw->d_buf, raw->d_size, raw->d_size, sh.sh_flags & ~(uint64_t)SHF_COMPRESSED,
				       sh.sh_addralign, sh.sh_entsize, 0, false, 0 };
		if (sh.sh_flags & SHF_COMPRESSED) {
			GElf_Chdr ch;
			if (!gelf_getchdr(scn, &ch) || ch.ch_type != ELFCOMPRESS_ZLIB || raw->d_size < sizeof(Elf64_Chdr) ||
			    ch.ch_size / DEFLATE_RATIO_MAX > raw->d_size)
				return false;
			s->src += sizeof(Elf64_Chdr);
			s->src_size -= sizeof(Elf64_Chdr);
			s->size = ch.ch_size;
			s->align = ch.ch_addralign;
			s->compressed = any_compressed = true;
		}
	}
	return any_compressed;
}

static uint64_t align_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) / a * a;
}

/* Places the sections, their name table and the section headers after the
 * ELF header; the image's size, or 0 if too large. */
static uint64_t lay_out(struct section *s, uint32_t n, uint64_t *names_at, uint32_t *names_size, uint64_t *headers_at)
{
	uint64_t at = sizeof(Elf64_Ehdr);
	uint32_t names = 1; /* the empty name */
	for (uint32_t i = 0; i < n; i++) {
		uint64_t a = s[i].align > 1 && s[i].align <= 4096 ? s[i].align : 1;
		s[i].offset = align_up(at, a);
		at = s[i].offset + s[i].size;
		if (at > IMAGE_MAX)
			return 0;
		s[i].name_offset = names;
		names += (uint32_t)strlen(s[i].name) + 1;
	}
	*names_at = at;
	*names_size = names + sizeof(".shstrtab");
	*headers_at = align_up(at + *names_size, 8);
	return *headers_at + (n + 2) * sizeof(Elf64_Shdr);
}

static void write_headers(unsigned char *image, const GElf_Ehdr *src_eh, const struct section *s, uint32_t n,
			  uint64_t names_at, uint32_t names_size, uint64_t headers_at)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)image;
	memcpy(eh->e_ident, src_eh->e_ident, EI_NIDENT);
	eh->e_type = src_eh->e_type;
	eh->e_machine = src_eh->e_machine;
	eh->e_version = EV_CURRENT;
	eh->e_shoff = headers_at;
	eh->e_ehsize = sizeof(Elf64_Ehdr);
	eh->e_shentsize = sizeof(Elf64_Shdr);
	eh->e_shnum = (Elf64_Half)(n + 2);
	eh->e_shstrndx = (Elf64_Half)(n + 1);
	char *names = (char *)image + names_at;
	Elf64_Shdr *sh = (Elf64_Shdr *)(image + headers_at);
	for (uint32_t i = 0; i < n; i++) {
		strcpy(names + s[i].name_offset, s[i].name);
		sh[i + 1] = (Elf64_Shdr){ .sh_name = s[i].name_offset,
					  .sh_type = SHT_PROGBITS,
					  .sh_flags = s[i].flags,
					  .sh_offset = s[i].offset,
					  .sh_size = s[i].size,
					  .sh_addralign = s[i].align,
					  .sh_entsize = s[i].entsize };
	}
	uint32_t own = names_size - (uint32_t)sizeof(".shstrtab");
	strcpy(names + own, ".shstrtab");
	sh[n + 1] = (Elf64_Shdr){ .sh_name = own, .sh_type = SHT_STRTAB, .sh_offset = names_at,
				  .sh_size = names_size, .sh_addralign = 1 };
}

/* Inflates and copies every section into the image, on this thread and
 * others, one section at a time each. */
static bool fill(struct section *s, uint32_t n, unsigned char *image, const struct dwarf_image_early *early)
{
	struct inflation job = { s, n, image, 0, false, early, 0, false };
	for (uint32_t i = 0; i < n; i++)
		job.others_left += strcmp(s[i].name, ".debug_info") != 0;
	unsigned threads = parallel_threads();
	parallel_run(threads < n ? threads : n, inflate_sections, &job);
	return !job.failed;
}

/* Zeroed memory for an image, in huge pages where the kernel gives them
 * (tens of MiB written once: a fault per 4 KiB page cost a tenth of the
 * time inflating took). */
static unsigned char *image_alloc(uint64_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	madvise(p, size, MADV_HUGEPAGE);
	return p;
}

/* libdw over an image (taken: unmapped if NULL is returned). */
static Dwarf *image_dwarf(unsigned char *image, uint64_t size)
{
	Elf *elf = elf_memory((char *)image, size);
	Dwarf *dbg = elf ? dwarf_begin_elf(elf, DWARF_C_READ, NULL) : NULL;
	if (!dbg) {
		if (elf)
			elf_end(elf);
		munmap(image, size);
	}
	return dbg;
}

Dwarf *dwarf_image_open(Elf *src, const struct dwarf_image_early *early, const struct dwarf_cache_entry *cache)
{
	uint64_t size;
	unsigned char *image = dwarf_cache_load(cache, &size);
	Dwarf *dbg = image ? image_dwarf(image, size) : NULL;
	if (dbg)
		return dbg;
	GElf_Ehdr eh;
	struct section s[sizeof(kept_sections) / sizeof(kept_sections[0])];
	uint32_t n;
	if (!gelf_getehdr(src, &eh) || eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh.e_type == ET_REL || !sections_of(src, s, &n))
		return NULL;
	qsort(s, n, sizeof(s[0]), larger_first);
	uint64_t names_at, headers_at;
	uint32_t names_size;
	size = lay_out(s, n, &names_at, &names_size, &headers_at);
	image = size ? image_alloc(size) : NULL;
	if (!image)
		return NULL;
	write_headers(image, &eh, s, n, names_at, names_size, headers_at);
	if (!fill(s, n, image, early)) {
		munmap(image, size);
		return NULL;
	}
	if ((dbg = image_dwarf(image, size)))
		dwarf_cache_store(cache, image, size);
	return dbg;
}

void dwarf_image_close(Dwarf *dbg)
{
	Elf *elf = dbg ? dwarf_getelf(dbg) : NULL;
	size_t size = 0;
	char *image = elf ? elf_rawfile(elf, &size) : NULL;
	dwarf_end(dbg);
	if (elf)
		elf_end(elf);
	if (image)
		munmap(image, size);
}

/* True if libdw reads elf's DWARF as it is stored: nothing to inflate
 * (which libdw would do again for each reader), relocate (ET_REL: libdwfl
 * relocates its own copy) or fetch from a dwz supplementary file. */
static bool read_as_stored(Elf *elf)
{
	GElf_Ehdr eh;
	size_t shstrndx;
	if (!gelf_getehdr(elf, &eh) || eh.e_type == ET_REL || elf_getshdrstrndx(elf, &shstrndx) != 0)
		return false;
	for (Elf_Scn *scn = NULL; (scn = elf_nextscn(elf, scn));) {
		GElf_Shdr sh;
		const char *name = gelf_getshdr(scn, &sh) ? elf_strptr(elf, shstrndx, sh.sh_name) : NULL;
		if (!name || (sh.sh_flags & SHF_COMPRESSED) || strncmp(name, ".zdebug", 7) == 0 ||
		    strcmp(name, ".gnu_debugaltlink") == 0)
			return false;
	}
	return true;
}

Dwarf *dwarf_image_reader(Dwarf *dbg)
{
	size_t size;
	char *bytes = elf_rawfile(dwarf_getelf(dbg), &size);
	Elf *elf = bytes ? elf_memory(bytes, size) : NULL;
	Dwarf *reader = elf && read_as_stored(elf) ? dwarf_begin_elf(elf, DWARF_C_READ, NULL) : NULL;
	if (!reader && elf)
		elf_end(elf);
	return reader;
}

void dwarf_image_reader_close(Dwarf *reader)
{
	Elf *elf = dwarf_getelf(reader);
	dwarf_end(reader);
	elf_end(elf);
}
