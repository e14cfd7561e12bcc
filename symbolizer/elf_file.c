/* One mapped ELF file: opened as its process sees it, with its debug info
 * (found by libdwfl: build-id under /usr/lib/debug/.build-id, or
 * .gnu_debuglink with its CRC checked), and lookups cached per address. */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <linux/openat2.h>
#ifdef HAVE_LIBDEBUGINFOD
#include <dlfcn.h>
#include <elfutils/debuginfod.h>
#endif
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "symbolizer/symbolizer-internal.h"

/* A CU's functions and inlined instances, found by one walk of its DIE
 * tree (dwarf_getscopes walks it from the root for every address).  Scopes
 * are in DFS order, so a function's inlined instances follow it. */
struct scope {
	uint64_t lo, hi;
	Dwarf_Off die;
	int32_t parent; /* the enclosing function or inlined instance, -1 for none */
	uint16_t depth;
	bool inlined;
};

struct top_range {
	uint64_t lo, hi;
	uint32_t scope, end; /* the top-level scope; its subtree is (scope, end) */
};

struct cu_index {
	Dwarf_Off cu;
	struct scope *scopes;
	uint32_t nscopes;
	struct top_range *tops;
	uint32_t ntops;
};

#define DIE_DEPTH_MAX 256 /* elfutils' own bound on DWARF recursion */

struct cached_chain {
	uint64_t vaddr;
	uint32_t first, count; /* in frames */
};

struct elf_file {
	Dwfl *dwfl;
	Dwfl_Module *mod;
	GElf_Addr bias;      /* module address = vaddr + bias */
	GElf_Phdr *loads;
	uint32_t nloads;
	char build_id[128];
	int has_dwarf;       /* -1: not looked yet */

	struct vec chains; /* struct cached_chain: every address looked up */
	struct id_hash chain_index;
	struct inline_frame *frames;
	uint32_t nframes, cap_frames;
	struct cu_index *cus;
	uint32_t ncus;
	struct symbol_table symbols; /* function symbols by address, built on first use */
	bool symbols_loaded;
};

/* NULL: libdwfl's default search path, ":.debug:/usr/lib/debug". */
static char *debuginfo_path;

#ifdef HAVE_LIBDEBUGINFOD
/* libdebuginfod is loaded only when DEBUGINFOD_URLS asks for it: linked, it
 * would bring libcurl and some thirty libraries into every start of smolder. */
static struct {
	bool tried;
	debuginfod_client *client; /* one for the process: it caches answers, negative ones too */
	int (*find_debuginfo)(debuginfod_client *, const unsigned char *, int, char **);
	void (*end)(debuginfod_client *);
} debuginfod;

static void debuginfod_release(void)
{
	debuginfod.end(debuginfod.client);
}

static bool debuginfod_load(void)
{
	if (debuginfod.tried)
		return debuginfod.client != NULL;
	debuginfod.tried = true;
	void *lib = dlopen("libdebuginfod.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!lib)
		return false;
	debuginfod_client *(*begin)(void) = (debuginfod_client * (*)(void)) dlsym(lib, "debuginfod_begin");
	debuginfod.find_debuginfo = (int (*)(debuginfod_client *, const unsigned char *, int, char **))dlsym(
		lib, "debuginfod_find_debuginfo");
	debuginfod.end = (void (*)(debuginfod_client *))dlsym(lib, "debuginfod_end");
	if (!begin || !debuginfod.find_debuginfo || !debuginfod.end || !(debuginfod.client = begin()))
		return false;
	atexit(debuginfod_release);
	return true;
}

/* The servers of DEBUGINFOD_URLS, asked by build-id. */
static int fetch_debuginfo(Dwfl_Module *mod, char **debuginfo_file_name)
{
	const char *urls = getenv("DEBUGINFOD_URLS");
	const unsigned char *bits;
	GElf_Addr vaddr;
	int n = dwfl_module_build_id(mod, &bits, &vaddr);
	if (!urls || !*urls || n <= 0 || !debuginfod_load())
		return -1;
	int fd = debuginfod.find_debuginfo(debuginfod.client, bits, n, debuginfo_file_name);
	return fd >= 0 ? fd : -1;
}
#endif

/* Local debug files first (by build-id under the debug path, then by
 * .gnu_debuglink beside the file, in .debug/ and under /usr/lib/debug);
 * then debuginfod servers, if built with libdebuginfod and asked. */
static int find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
			  const char *file_name, const char *debuglink_file, GElf_Word debuglink_crc,
			  char **debuginfo_file_name)
{
	int fd = dwfl_standard_find_debuginfo(mod, userdata, modname, base, file_name, debuglink_file,
					      debuglink_crc, debuginfo_file_name);
#ifdef HAVE_LIBDEBUGINFOD
	if (fd < 0)
		fd = fetch_debuginfo(mod, debuginfo_file_name);
#endif
	return fd;
}

static const Dwfl_Callbacks offline_callbacks = {
	.find_elf = dwfl_build_id_find_elf,
	.find_debuginfo = find_debuginfo,
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
#ifndef HAVE_LIBDEBUGINFOD
		/* libdw would load libdebuginfod by itself when this is set: a
		 * build without it promises local files only. */
		unsetenv("DEBUGINFOD_URLS");
#endif
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
	if (n > 0)
		hex_string(bits, (size_t)n, f->build_id, sizeof(f->build_id));
	if (!f->nloads) {
		elf_file_close(f);
		return NULL;
	}
	return f;
}

/* fd's file, unless its build-id is not the one expected (a different
 * file at the same path: replaced, or the host's rather than a container's). */
static struct elf_file *elf_file_matching(int fd, const char *name, const char *build_id)
{
	struct elf_file *f = fd >= 0 ? elf_file_from_fd(fd, name) : NULL;
	if (f && build_id && *build_id && *f->build_id && strcmp(f->build_id, build_id) != 0) {
		elf_file_close(f);
		f = NULL;
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
		debuglink_base(pid, path, name, sizeof(name));
		f = elf_file_matching(open_in_root(pid, path), name, build_id);
		/* A chroot without a mount namespace shows the host's paths. */
		if (!f && pid > 0)
			f = elf_file_matching(open(path, O_RDONLY | O_CLOEXEC), path, build_id);
	}
	if (!f && path[0] == '/' && pid > 0) {
		/* What the process has mapped, even if deleted or replaced since. */
		snprintf(name, sizeof(name), "/proc/%d/map_files/%llx-%llx", (int)pid,
			 (unsigned long long)start, (unsigned long long)end);
		f = elf_file_matching(open(name, O_RDONLY | O_CLOEXEC), name, build_id);
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
	vec_release(&f->chains);
	id_hash_release(&f->chain_index);
	free(f->frames);
	for (uint32_t i = 0; i < f->ncus; i++) {
		free(f->cus[i].scopes);
		free(f->cus[i].tops);
	}
	free(f->cus);
	symbol_table_release(&f->symbols);
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

static int scope_push(struct cu_index *ix, uint32_t *cap, const struct scope *sc)
{
	if (ix->nscopes == *cap) {
		uint32_t c = *cap ? *cap * 2 : 256;
		struct scope *v = realloc(ix->scopes, c * sizeof(*v));
		if (!v)
			return -1;
		ix->scopes = v;
		*cap = c;
	}
	ix->scopes[ix->nscopes++] = *sc;
	return 0;
}

static int top_cmp(const void *a, const void *b)
{
	const struct top_range *x = a, *y = b;
	return (x->lo > y->lo) - (x->lo < y->lo);
}

/* One iterative walk of the CU's DIE tree, depth-bounded. */
static int cu_index_build(struct cu_index *ix, Dwarf_Die *cudie)
{
	uint32_t cap = 0;
	Dwarf_Die dies[DIE_DEPTH_MAX];
	int32_t parent[DIE_DEPTH_MAX];
	uint16_t depth[DIE_DEPTH_MAX];
	int level = 0;
	if (dwarf_child(cudie, &dies[0]) != 0)
		return 0;
	parent[0] = -1;
	depth[0] = 0;
	for (;;) {
		Dwarf_Die *d = &dies[level];
		int tag = dwarf_tag(d);
		int32_t me = parent[level];
		uint16_t my_depth = depth[level];
		if (tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine) {
			Dwarf_Addr base, lo, hi;
			ptrdiff_t off = 0;
			int32_t first = -1;
			while ((off = dwarf_ranges(d, off, &base, &lo, &hi)) > 0) {
				struct scope sc = { lo, hi, dwarf_dieoffset(d), parent[level], depth[level],
						    tag == DW_TAG_inlined_subroutine };
				if (hi <= lo)
					continue;
				if (scope_push(ix, &cap, &sc))
					return -1;
				if (first < 0)
					first = (int32_t)ix->nscopes - 1;
			}
			if (first >= 0) {
				me = first;
				my_depth = (uint16_t)(depth[level] + 1);
			}
		}
		Dwarf_Die child;
		if (level + 1 < DIE_DEPTH_MAX && dwarf_haschildren(d) && dwarf_child(d, &child) == 0) {
			level++;
			dies[level] = child;
			parent[level] = me;
			depth[level] = my_depth;
			continue;
		}
		for (;;) {
			Dwarf_Die next;
			if (dwarf_siblingof(&dies[level], &next) == 0) {
				dies[level] = next;
				break;
			}
			if (level == 0)
				goto walked;
			level--;
		}
	}
walked:
	/* Top-level functions, each with the span of its subtree. */
	ix->tops = malloc((ix->nscopes ? ix->nscopes : 1) * sizeof(*ix->tops));
	if (!ix->tops)
		return -1;
	for (uint32_t i = 0; i < ix->nscopes;) {
		if (ix->scopes[i].depth != 0) {
			i++;
			continue;
		}
		uint32_t run = i;
		while (run < ix->nscopes && ix->scopes[run].depth == 0 && ix->scopes[run].die == ix->scopes[i].die)
			run++;
		uint32_t end = run;
		while (end < ix->nscopes && ix->scopes[end].depth != 0)
			end++;
		for (uint32_t k = i; k < run; k++)
			ix->tops[ix->ntops++] = (struct top_range){ ix->scopes[k].lo, ix->scopes[k].hi, k, end };
		i = end;
	}
	if (ix->ntops > 1)
		qsort(ix->tops, ix->ntops, sizeof(*ix->tops), top_cmp);
	return 0;
}

static struct cu_index *cu_index_for(struct elf_file *f, Dwarf_Die *cudie)
{
	Dwarf_Off cu = dwarf_dieoffset(cudie);
	for (uint32_t i = 0; i < f->ncus; i++)
		if (f->cus[i].cu == cu)
			return &f->cus[i];
	struct cu_index *v = realloc(f->cus, (f->ncus + 1) * sizeof(*v));
	if (!v)
		return NULL;
	f->cus = v;
	struct cu_index *ix = &f->cus[f->ncus++];
	memset(ix, 0, sizeof(*ix));
	ix->cu = cu;
	if (cu_index_build(ix, cudie)) {
		free(ix->scopes);
		free(ix->tops);
		f->ncus--;
		return NULL;
	}
	return ix;
}

/* The innermost scope containing addr, or -1. */
static int32_t cu_index_find(const struct cu_index *ix, uint64_t addr)
{
	uint32_t lo = upper_bound_u64(ix->tops, ix->ntops, sizeof(*ix->tops), offsetof(struct top_range, lo), addr);
	if (lo == 0 || addr >= ix->tops[lo - 1].hi)
		return -1;
	const struct top_range *t = &ix->tops[lo - 1];
	int32_t best = (int32_t)t->scope;
	for (uint32_t i = t->scope + 1; i < t->end; i++) {
		const struct scope *sc = &ix->scopes[i];
		if (sc->lo <= addr && addr < sc->hi && sc->depth > ix->scopes[best].depth)
			best = (int32_t)i;
	}
	return best;
}

/* Languages whose function names are not mangled: there a DW_AT_name is as
 * good as a linkage name (binutils' non_mangled()). */
static bool unmangled_language(int lang)
{
	switch (lang) {
	case DW_LANG_C89:
	case DW_LANG_C:
	case DW_LANG_Ada83:
	case DW_LANG_Cobol74:
	case DW_LANG_Cobol85:
	case DW_LANG_Fortran77:
	case DW_LANG_Pascal83:
	case DW_LANG_C99:
	case DW_LANG_Ada95:
	case DW_LANG_PLI:
	case DW_LANG_UPC:
	case DW_LANG_C11:
	case DW_LANG_Mips_Assembler:
		return true;
	default:
		return false;
	}
}

/* The function symbol containing a module address, from the file's (or its
 * debug file's) symbol tables, sorted once: dwfl_module_addrinfo scans them
 * all on every call. */
/* How far an unsized function symbol (such as _init) reaches: to the end of
 * its section, not into the next one (the PLT is nobody's body); 0 (up to
 * the next symbol) if the section is unknown. */
static uint64_t section_rest(Elf *elf, GElf_Word shndx, GElf_Addr value)
{
	GElf_Shdr sh;
	Elf_Scn *scn = elf ? elf_getscn(elf, shndx) : NULL;
	if (!scn || !gelf_getshdr(scn, &sh) || value < sh.sh_addr || value >= sh.sh_addr + sh.sh_size)
		return 0;
	return sh.sh_addr + sh.sh_size - value;
}

static const char *symbol_at(struct elf_file *f, Dwarf_Addr addr)
{
	if (!f->symbols_loaded) {
		f->symbols_loaded = true;
		int n = dwfl_module_getsymtab(f->mod);
		for (int i = 1; i < n; i++) {
			GElf_Sym sym;
			GElf_Addr value;
			GElf_Word shndx;
			Elf *elf;
			const char *name = dwfl_module_getsym_info(f->mod, i, &sym, &value, &shndx, &elf, NULL);
			int type = GELF_ST_TYPE(sym.st_info);
			if (!name || !*name || sym.st_shndx == SHN_UNDEF || (type != STT_FUNC && type != STT_GNU_IFUNC))
				continue;
			int bind = GELF_ST_BIND(sym.st_info);
			uint8_t rank = bind == STB_GLOBAL ? 0 : bind == STB_WEAK ? 1 : 2;
			uint64_t size = sym.st_size ? sym.st_size : section_rest(elf, shndx, sym.st_value);
			if (symbol_table_add(&f->symbols, value, size, name, strlen(name), rank))
				break;
		}
		symbol_table_finish(&f->symbols);
	}
	const struct symbol *s = symbol_table_find(&f->symbols, addr);
	return s ? s->name : NULL;
}

static int dwarf_chain(struct elf_file *f, Dwarf_Addr addr, struct inline_frame *out, int max)
{
	Dwarf_Addr cu_bias;
	Dwarf_Die *cudie = dwfl_module_addrdie(f->mod, addr, &cu_bias);
	struct cu_index *ix = cudie ? cu_index_for(f, cudie) : NULL;
	int32_t at = ix ? cu_index_find(ix, addr - cu_bias) : -1;
	if (at < 0)
		return 0;
	Dwarf *dbg = dwarf_cu_getdwarf(cudie->cu);
	bool unmangled = unmangled_language(dwarf_srclang(cudie));
	const char *file = NULL;
	int line = 0;
	Dwfl_Line *l = dwfl_module_getsrc(f->mod, addr);
	if (l)
		file = dwfl_lineinfo(l, NULL, &line, NULL, NULL, NULL);
	Dwarf_Files *files = NULL;
	size_t nfiles = 0;
	int n = 0;
	for (; at >= 0 && n < max; at = ix->scopes[at].parent) {
		Dwarf_Die die;
		if (!dwarf_offdie(dbg, ix->scopes[at].die, &die))
			break;
		bool linkage;
		const char *name = die_name(&die, &linkage);
		linkage |= name && unmangled;
		if (n == 0 && !linkage) {
			/* The innermost frame of a mangling language has no linkage
			 * name (a static C++ function, a lambda): named by the ELF
			 * symbol containing the address, with its parameters, as
			 * addr2line (BFD) names it.  Callers keep their DWARF names,
			 * as addr2line -i prints them. */
			const char *symbol = symbol_at(f, addr);
			if (symbol)
				name = symbol;
		}
		out[n++] = (struct inline_frame){ name, file, line > 0 ? (uint32_t)line : 0 };
		if (!ix->scopes[at].inlined)
			break;
		/* The next frame out is where this one was inlined. */
		Dwarf_Attribute a;
		Dwarf_Word file_index = 0, call_line = 0;
		if (!files && dwarf_getsrcfiles(cudie, &files, &nfiles) != 0)
			files = NULL;
		file = NULL;
		if (dwarf_formudata(dwarf_attr(&die, DW_AT_call_file, &a), &file_index) == 0 && files &&
		    file_index < nfiles)
			file = dwarf_filesrc(files, file_index, NULL, NULL);
		dwarf_formudata(dwarf_attr(&die, DW_AT_call_line, &a), &call_line);
		line = (int)call_line;
	}
	return n;
}

static bool chain_eq(const void *ctx, uint32_t id, const void *key)
{
	const struct cached_chain *c = ((const struct elf_file *)ctx)->chains.data;
	return c[id].vaddr == *(const uint64_t *)key;
}

static uint64_t chain_rehash(const void *ctx, uint32_t id)
{
	const struct cached_chain *c = ((const struct elf_file *)ctx)->chains.data;
	return hash_u64(c[id].vaddr);
}

int elf_file_lookup(struct elf_file *f, uint64_t vaddr, struct inline_frame *out, int max)
{
	uint32_t *slot = id_hash_reserve(&f->chain_index, f->chains.count, chain_rehash, f)
				 ? NULL
				 : id_hash_probe(&f->chain_index, hash_u64(vaddr), chain_eq, f, &vaddr);
	if (slot && *slot) {
		const struct cached_chain *c = (const struct cached_chain *)f->chains.data + (*slot - 1);
		int n = (int)(c->count < (uint32_t)max ? c->count : (uint32_t)max);
		if (n)
			memcpy(out, f->frames + c->first, (size_t)n * sizeof(*out));
		return n;
	}
	Dwarf_Addr addr = vaddr + f->bias;
	int n = elf_file_has_dwarf(f) ? dwarf_chain(f, addr, out, max) : 0;
	if (n == 0 || !out[0].name) {
		/* No DWARF here: the symbol tables (the file's, or its debug file's). */
		const char *name = symbol_at(f, addr);
		if (name) {
			if (n == 0)
				n = 1;
			out[0] = (struct inline_frame){ name, n > 1 ? out[0].file : NULL, n > 1 ? out[0].line : 0 };
		} else if (n && !out[0].name) {
			n = 0;
		}
	}
	/* Cached when memory allows (an address with no name too); answered either way. */
	if (slot && f->nframes + (uint32_t)n > f->cap_frames) {
		uint32_t cap = (f->cap_frames + (uint32_t)n) * 2;
		struct inline_frame *frames = realloc(f->frames, cap * sizeof(*frames));
		if (frames) {
			f->frames = frames;
			f->cap_frames = cap;
		} else {
			slot = NULL;
		}
	}
	struct cached_chain *c = slot ? vec_push(&f->chains, sizeof(*c)) : NULL;
	if (c) {
		if (n)
			memcpy(f->frames + f->nframes, out, (size_t)n * sizeof(*out));
		*c = (struct cached_chain){ vaddr, f->nframes, (uint32_t)n };
		f->nframes += (uint32_t)n;
		*slot = f->chains.count;
	}
	return n;
}
