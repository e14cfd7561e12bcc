/* One mapped ELF file: opened as its process sees it, with its debug info
 * (found by libdwfl: build-id under /usr/lib/debug/.build-id, or
 * .gnu_debuglink with its CRC checked), and lookups cached per address. */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "symbolizer/symbolizer-internal.h"

struct cached_chain {
	uint64_t vaddr;
	uint32_t first, count; /* in frames */
	bool used;
};

struct elf_file {
	Dwfl *dwfl;
	Dwfl_Module *mod;
	GElf_Addr bias;      /* module address = vaddr + bias */
	GElf_Phdr *loads;
	uint32_t nloads;
	char build_id[128];
	int has_dwarf;       /* -1: not looked yet */
	struct cached_chain *cache;
	uint32_t cache_slots, cache_used;
	struct inline_frame *frames;
	uint32_t nframes, cap_frames;
};

/* NULL: libdwfl's default search path, ":.debug:/usr/lib/debug". */
static char *debuginfo_path;

static const Dwfl_Callbacks offline_callbacks = {
	.find_elf = dwfl_build_id_find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
	.section_address = dwfl_offline_section_address,
	.debuginfo_path = &debuginfo_path,
};

/* Opens path inside pid's root (a container's filesystem): resolved as if
 * that root were "/", so an absolute symlink cannot lead out of it. */
static int open_in_root(pid_t pid, const char *path)
{
	if (pid <= 0 || path[0] != '/')
		return open(path, O_RDONLY | O_CLOEXEC);
	char root[64];
	snprintf(root, sizeof(root), "/proc/%d/root", (int)pid);
	int dir = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return open(path, O_RDONLY | O_CLOEXEC); /* gone: the host's view */
	struct open_how how = { .flags = O_RDONLY | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT };
	int fd = (int)syscall(SYS_openat2, dir, path, &how, sizeof(how));
	if (fd < 0 && errno == ENOSYS)
		fd = openat(dir, path + 1, O_RDONLY | O_CLOEXEC);
	close(dir);
	return fd;
}

/* The path libdwfl will look for .gnu_debuglink targets beside. */
static void debuglink_base(pid_t pid, const char *path, char *buf, size_t len)
{
	char root[64];
	snprintf(root, sizeof(root), "/proc/%d/root", (int)pid);
	/* Inside the process's root while it lives; the host's view after. */
	if (pid > 0 && path[0] == '/' && access(root, X_OK) == 0)
		snprintf(buf, len, "%s%s", root, path);
	else
		snprintf(buf, len, "%s", path);
}

static struct elf_file *elf_file_from_fd(int fd, const char *name)
{
	struct elf_file *f = calloc(1, sizeof(*f));
	if (!f) {
		close(fd);
		return NULL;
	}
	f->has_dwarf = -1;
	/* Extra places to look for debug files, as libdwfl's path syntax
	 * (":.debug:/usr/lib/debug" is the default). */
	static bool path_set;
	if (!path_set) {
		debuginfo_path = getenv("SMOLDER_DEBUGINFO_PATH");
		path_set = true;
	}
	f->dwfl = dwfl_begin(&offline_callbacks);
	if (!f->dwfl) {
		close(fd);
		free(f);
		return NULL;
	}
	/* libdwfl owns fd from here on. */
	f->mod = dwfl_report_offline(f->dwfl, "", name, fd);
	dwfl_report_end(f->dwfl, NULL, NULL);
	Elf *elf = f->mod ? dwfl_module_getelf(f->mod, &f->bias) : NULL;
	size_t phnum;
	if (!elf || elf_getphdrnum(elf, &phnum) || phnum > 4096) {
		elf_file_close(f);
		return NULL;
	}
	f->loads = calloc(phnum ? phnum : 1, sizeof(*f->loads));
	for (size_t i = 0; f->loads && i < phnum; i++) {
		GElf_Phdr ph;
		if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_LOAD)
			f->loads[f->nloads++] = ph;
	}
	const unsigned char *bits;
	GElf_Addr where;
	int n = dwfl_module_build_id(f->mod, &bits, &where);
	for (int i = 0; i < n && i < 60; i++)
		snprintf(f->build_id + 2 * i, 3, "%02x", bits[i]);
	if (!f->nloads) {
		elf_file_close(f);
		return NULL;
	}
	return f;
}

struct elf_file *elf_file_open(pid_t pid, const char *path, const char *build_id, uint64_t start,
			       uint64_t end)
{
	static const char deleted[] = " (deleted)";
	size_t n = strlen(path);
	bool gone = n > sizeof(deleted) - 1 && strcmp(path + n - (sizeof(deleted) - 1), deleted) == 0;
	char name[4200];
	struct elf_file *f = NULL;
	if (!gone && path[0] == '/') {
		int fd = open_in_root(pid, path);
		debuglink_base(pid, path, name, sizeof(name));
		f = fd >= 0 ? elf_file_from_fd(fd, name) : NULL;
		/* The file at that path now is not what was mapped: replaced. */
		if (f && build_id && *build_id && *f->build_id && strcmp(f->build_id, build_id) != 0) {
			elf_file_close(f);
			f = NULL;
			gone = true;
		}
	}
	if (!f && (gone || path[0] == '/') && pid > 0) {
		/* What the process has mapped, even if deleted or replaced since. */
		snprintf(name, sizeof(name), "/proc/%d/map_files/%llx-%llx", (int)pid,
			 (unsigned long long)start, (unsigned long long)end);
		int fd = open(name, O_RDONLY | O_CLOEXEC);
		f = fd >= 0 ? elf_file_from_fd(fd, name) : NULL;
		if (f && build_id && *build_id && *f->build_id && strcmp(f->build_id, build_id) != 0) {
			elf_file_close(f);
			f = NULL;
		}
	}
	return f;
}

void elf_file_close(struct elf_file *f)
{
	if (!f)
		return;
	if (f->dwfl)
		dwfl_end(f->dwfl);
	free(f->loads);
	free(f->cache);
	free(f->frames);
	free(f);
}

const char *elf_file_build_id(const struct elf_file *f)
{
	return f->build_id;
}

bool elf_file_has_dwarf(struct elf_file *f)
{
	if (f->has_dwarf < 0) {
		Dwarf_Addr bias;
		f->has_dwarf = dwfl_module_getdwarf(f->mod, &bias) != NULL;
	}
	return f->has_dwarf;
}

bool elf_file_vaddr(const struct elf_file *f, uint64_t offset, uint64_t *vaddr)
{
	for (uint32_t i = 0; i < f->nloads; i++) {
		const GElf_Phdr *ph = &f->loads[i];
		if (offset >= ph->p_offset && offset < ph->p_offset + ph->p_filesz) {
			*vaddr = offset - ph->p_offset + ph->p_vaddr;
			return true;
		}
	}
	return false;
}

/* A function's name as addr2line gives it: the linkage (mangled) name where
 * there is one, following abstract origins and specifications, else its
 * name; *linkage says which. */
static const char *die_name(Dwarf_Die *die, bool *linkage)
{
	Dwarf_Attribute a;
	const char *name = NULL;
	if (dwarf_attr_integrate(die, DW_AT_linkage_name, &a) ||
	    dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &a))
		name = dwarf_formstring(&a);
	*linkage = name != NULL;
	if (!name && dwarf_attr_integrate(die, DW_AT_name, &a))
		name = dwarf_formstring(&a);
	return name;
}

static int dwarf_chain(struct elf_file *f, Dwarf_Addr addr, struct inline_frame *out, int max)
{
	Dwarf_Addr cu_bias;
	Dwarf_Die *cudie = dwfl_module_addrdie(f->mod, addr, &cu_bias);
	if (!cudie)
		return 0;
	Dwarf_Die *innermost = NULL;
	int found = dwarf_getscopes(cudie, addr - cu_bias, &innermost);
	if (found <= 0)
		return 0;
	/* Walk up the concrete tree from the innermost scope: dwarf_getscopes
	 * itself continues an inlined function into its abstract origin's
	 * context, which is not who called it. */
	Dwarf_Die *scopes = NULL;
	int nscopes = dwarf_getscopes_die(&innermost[0], &scopes);
	free(innermost);
	if (nscopes <= 0)
		return 0;
	const char *file = NULL;
	int line = 0;
	Dwfl_Line *l = dwfl_module_getsrc(f->mod, addr);
	if (l)
		file = dwfl_lineinfo(l, NULL, &line, NULL, NULL, NULL);
	Dwarf_Files *files = NULL;
	size_t nfiles = 0;
	int n = 0;
	for (int i = 0; i < nscopes && n < max; i++) {
		int tag = dwarf_tag(&scopes[i]);
		if (tag != DW_TAG_subprogram && tag != DW_TAG_inlined_subroutine)
			continue;
		bool linkage;
		const char *name = die_name(&scopes[i], &linkage);
		if (n == 0 && !linkage) {
			/* The innermost frame has no linkage name (a static function,
			 * a lambda): named by the ELF symbol containing the address,
			 * with its parameters, as addr2line (BFD) names it.  Callers
			 * keep their DWARF names, as addr2line -i prints them. */
			GElf_Off off;
			GElf_Sym sym;
			const char *symbol = dwfl_module_addrinfo(f->mod, addr, &off, &sym, NULL, NULL, NULL);
			if (symbol)
				name = symbol;
		}
		out[n++] = (struct inline_frame){ name, file, line > 0 ? (uint32_t)line : 0 };
		if (tag == DW_TAG_subprogram)
			break;
		/* The next frame out is where this one was inlined. */
		Dwarf_Attribute a;
		Dwarf_Word file_index = 0, call_line = 0;
		if (!files && dwarf_getsrcfiles(cudie, &files, &nfiles) != 0)
			files = NULL;
		file = NULL;
		if (dwarf_formudata(dwarf_attr(&scopes[i], DW_AT_call_file, &a), &file_index) == 0 && files &&
		    file_index < nfiles)
			file = dwarf_filesrc(files, file_index, NULL, NULL);
		dwarf_formudata(dwarf_attr(&scopes[i], DW_AT_call_line, &a), &call_line);
		line = (int)call_line;
	}
	free(scopes);
	return n;
}

static struct cached_chain *cache_slot(struct elf_file *f, uint64_t vaddr)
{
	if ((uint64_t)(f->cache_used + 1) * 4 >= (uint64_t)f->cache_slots * 3) {
		uint32_t slots = f->cache_slots ? f->cache_slots * 2 : 256;
		struct cached_chain *c = calloc(slots, sizeof(*c));
		if (!c)
			return NULL;
		for (uint32_t i = 0; i < f->cache_slots; i++) {
			if (!f->cache[i].used)
				continue;
			uint32_t j = (uint32_t)hash_u64(f->cache[i].vaddr) & (slots - 1);
			while (c[j].used)
				j = (j + 1) & (slots - 1);
			c[j] = f->cache[i];
		}
		free(f->cache);
		f->cache = c;
		f->cache_slots = slots;
	}
	uint32_t j = (uint32_t)hash_u64(vaddr) & (f->cache_slots - 1);
	while (f->cache[j].used && f->cache[j].vaddr != vaddr)
		j = (j + 1) & (f->cache_slots - 1);
	return &f->cache[j];
}

int elf_file_lookup(struct elf_file *f, uint64_t vaddr, struct inline_frame *out, int max)
{
	struct cached_chain *c = cache_slot(f, vaddr);
	if (c && c->used) {
		int n = (int)(c->count < (uint32_t)max ? c->count : (uint32_t)max);
		memcpy(out, f->frames + c->first, (size_t)n * sizeof(*out));
		return n;
	}
	Dwarf_Addr addr = vaddr + f->bias;
	int n = elf_file_has_dwarf(f) ? dwarf_chain(f, addr, out, max) : 0;
	if (n == 0 || !out[0].name) {
		/* No DWARF here: the symbol tables (the file's, or its debug file's). */
		GElf_Off off;
		GElf_Sym sym;
		const char *name = dwfl_module_addrinfo(f->mod, addr, &off, &sym, NULL, NULL, NULL);
		if (name) {
			if (n == 0)
				n = 1;
			out[0] = (struct inline_frame){ name, n > 1 ? out[0].file : NULL, n > 1 ? out[0].line : 0 };
		} else if (n && !out[0].name) {
			n = 0;
		}
	}
	if (c && f->nframes + (uint32_t)n > f->cap_frames) {
		uint32_t cap = (f->cap_frames + (uint32_t)n) * 2;
		struct inline_frame *frames = realloc(f->frames, cap * sizeof(*frames));
		if (frames) {
			f->frames = frames;
			f->cap_frames = cap;
		} else {
			c = NULL; /* not cached: still answered */
		}
	}
	if (c) {
		memcpy(f->frames + f->nframes, out, (size_t)n * sizeof(*out));
		*c = (struct cached_chain){ vaddr, f->nframes, (uint32_t)n, true };
		f->nframes += (uint32_t)n;
		f->cache_used++;
	}
	return n;
}
