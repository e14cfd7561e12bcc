/* One mapped ELF file: opened as its process sees it, with its debug info
 * (found by libdwfl: build-id under /usr/lib/debug/.build-id, or
 * .gnu_debuglink with its CRC checked), and lookups cached per address. */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <gelf.h>
#ifdef HAVE_LIBDEBUGINFOD
#include <dlfcn.h>
#include <elfutils/debuginfod.h>
#endif
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "symbolizer/die_reader.h"
#include "symbolizer/dwarf_image.h"
#include "symbolizer/line_table.h"
#include "symbolizer/symbolizer-internal.h"

/* A CU's functions, found by a walk that skips their bodies; a function's
 * inlined instances are walked the first time an address falls in it.
 * Walking every DIE of every CU touched cost more than inflating the DWARF. */
struct scope {
	uint64_t lo, hi;
	Dwarf_Off die;
	int32_t parent; /* the enclosing scope, -1 for the function itself */
	uint16_t depth;
	bool inlined;
};

/* A function's scopes in DFS order: [0] is the function, then its inlined
 * instances (a range each), each after the one it is inlined into. */
struct function_scopes {
	struct scope *scopes;
	uint32_t count;
	uint64_t *targets; /* walked only where these are (sorted); NULL: all of it */
	uint32_t ntargets;
};

struct top_range {
	uint64_t lo, hi;
	Dwarf_Off die;
	uint32_t function; /* index + 1 in cu_index.functions; 0 = not walked yet */
};

/* An address of elf_file_prepare, with the CU it is in. */
struct cu_address {
	Dwarf_Off cu;
	uint64_t addr; /* DWARF address */
};

/* The first of n elements sorted by a 64-bit key (at key_offset) whose key
 * is lo or above. */
static uint32_t first_from(const void *base, uint32_t n, size_t stride, size_t key_offset, uint64_t lo)
{
	return lo ? upper_bound_u64(base, n, stride, key_offset, lo - 1) : 0;
}

/* A CU's functions with code are found in up to three walks, each done only
 * when an address matched none of the functions found so far: those
 * outside types and other functions (most of the code, in few of the DIEs:
 * the walk enters only namespaces); those within other functions' code (a
 * lambda); the rest, within types and declarations (gcc puts a GNU C nested
 * function in its parent's abstract DIE). */
enum cu_walk { WALK_OUTSIDE, WALK_IN_CODE, WALK_IN_TYPES };

struct cu_index {
	Dwarf_Off cu;
	struct vec tops;      /* struct top_range by lo */
	struct vec functions; /* struct function_scopes */
	enum cu_walk walked;  /* the last walk done: each adds functions */
	const struct cu_address *targets; /* the addresses being prepared (by address), or NULL */
	uint32_t ntargets;
	struct line_table lines;
	int lines_read;       /* 0: not yet; 1: in lines; -1: by libdw (see cu_lines) */
	struct die_unit unit;
	int unit_read;        /* 0: not yet; 1: in unit; -1: walked through libdw */
};

static void function_scopes_release(struct function_scopes *fs)
{
	free(fs->scopes);
	free(fs->targets);
}

static void cu_index_release(struct cu_index *ix)
{
	struct function_scopes *fs = ix->functions.data;
	for (uint32_t i = 0; i < ix->functions.count; i++)
		function_scopes_release(&fs[i]);
	vec_release(&ix->functions);
	vec_release(&ix->tops);
	line_table_release(&ix->lines);
	die_unit_release(&ix->unit);
}

#define DIE_DEPTH_MAX 256 /* elfutils' own bound on DWARF recursion */

/* A CU's address range, for files without .debug_aranges (clang's, rustc's). */
struct cu_range {
	uint64_t lo, hi;
	Dwarf_Off die;
};

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
	int fd;              /* the file, for finding its debug file apart from libdwfl */
	bool dwarf_looked;
	Dwarf *dwarf;
	Dwarf_Addr dwarf_bias; /* module address = DWARF address + dwarf_bias */
	bool dwarf_image;      /* dwarf is from dwarf_image_open (else libdwfl's) */
	Dwarf *readers[3];     /* more readers of its DWARF, for elf_file_prepare's threads */
	uint32_t nreaders;
	bool readers_opened;
	struct early_lines *early; /* line tables read while the DWARF was inflated */
	uint32_t addresses_ahead;  /* how many the first preparing is for (0: none) */
	struct vec cu_ranges;  /* struct cu_range by lo, built when .debug_aranges fails */
	bool cu_ranges_built;

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
	if (!urls || !*urls || n <= 0)
		return -1;
	/* One client for the process, and files are prepared on several
	 * threads (symbolizer.c): one question at a time. */
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	pthread_mutex_lock(&lock);
	int fd = debuginfod_load() ? debuginfod.find_debuginfo(debuginfod.client, bits, n, debuginfo_file_name) : -1;
	pthread_mutex_unlock(&lock);
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
	f->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
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
		elf_file_close(f);
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
	struct elf_file *f = NULL;
	for (int way = 0; way < MAPPED_FILE_WAYS && !f; way++) {
		/* A deleted file is only what the process still maps. */
		if (gone && way != MAPPED_VIA_MAP_FILES)
			continue;
		char name[4200];
		int fd = open_mapped_file(pid, path, start, end, (enum mapped_file_way)way, name, sizeof(name));
		if (fd < 0)
			continue;
		/* libdwfl looks for .gnu_debuglink targets beside the name it is given. */
		if (way == MAPPED_IN_ROOT)
			debuglink_base(pid, path, name, sizeof(name));
		f = elf_file_matching(fd, name, build_id);
	}
	return f;
}

/* The line tables of an image's .debug_line, read while its .debug_info
 * is still being inflated (by one thread, while the others have nothing
 * left to do), as many as there is time for: a CU's is taken from here,
 * not read again. */
struct early_lines {
	uint32_t count;
	struct early_table {
		uint64_t offset;
		struct line_table table;
		atomic_bool taken;
	} tables[];
};

static void early_lines_free(struct early_lines *e)
{
	for (uint32_t i = 0; e && i < e->count; i++)
		if (!e->tables[i].taken)
			line_table_release(&e->tables[i].table);
	free(e);
}

static void read_early_lines(void *arg, const struct dwarf_image_section *sections, uint32_t count,
			     const atomic_bool *info_in)
{
	struct line_sections ls = { 0 };
	for (uint32_t i = 0; i < count; i++) {
		if (strcmp(sections[i].name, ".debug_line") == 0)
			ls.line = sections[i].bytes, ls.line_size = sections[i].size;
		else if (strcmp(sections[i].name, ".debug_str") == 0)
			ls.str = sections[i].bytes, ls.str_size = sections[i].size;
		else if (strcmp(sections[i].name, ".debug_line_str") == 0)
			ls.line_str = sections[i].bytes, ls.line_str_size = sections[i].size;
	}
	struct elf_file *f = arg;
	uint32_t n = 0;
	for (uint64_t off = 0; ls.line && off < ls.line_size && (off = line_table_next(&ls, off));)
		n++;
	/* Worth it only when most programs will be used: not for the C
	 * library's 2,063 and the few hundred addresses a program has in it. */
	if (n > f->addresses_ahead)
		return;
	struct early_lines *e = n ? malloc(sizeof(*e) + (n + 1) * sizeof(e->tables[0])) : NULL;
	if (!e)
		return;
	e->count = 0;
	/* Until .debug_info is in (then a CU reads its own, when it needs it);
	 * 8-byte addresses: images are of 64-bit files. */
	for (uint64_t off = 0, next; e->count <= n && off < ls.line_size && !*info_in; off = next) {
		next = line_table_next(&ls, off);
		struct early_table *t = &e->tables[e->count];
		t->offset = off;
		atomic_init(&t->taken, false);
		if (line_table_read(&t->table, &ls, off, 8, NULL) == 0)
			e->count++;
		if (!next)
			break;
	}
	f->early = e;
}

/* The early table of the program at offset, now the caller's; false if
 * there is none (or another CU took it). */
static bool take_early_lines(struct early_lines *e, uint64_t offset, struct line_table *out)
{
	if (!e)
		return false;
	uint32_t i = first_from(e->tables, e->count, sizeof(e->tables[0]), offsetof(struct early_table, offset), offset);
	if (i == e->count || e->tables[i].offset != offset || atomic_exchange(&e->tables[i].taken, true))
		return false;
	*out = e->tables[i].table;
	return true;
}

void elf_file_close(struct elf_file *f)
{
	if (!f)
		return;
	for (uint32_t i = 0; i < f->nreaders; i++)
		dwarf_image_reader_close(f->readers[i]);
	if (f->dwarf_image)
		dwarf_image_close(f->dwarf);
	if (f->fd >= 0)
		close(f->fd);
	if (f->dwfl)
		dwfl_end(f->dwfl);
	vec_release(&f->cu_ranges);
	early_lines_free(f->early);
	free(f->loads);
	vec_release(&f->chains);
	id_hash_release(&f->chain_index);
	free(f->frames);
	for (uint32_t i = 0; i < f->ncus; i++)
		cu_index_release(&f->cus[i]);
	free(f->cus);
	symbol_table_release(&f->symbols);
	free(f);
}

const char *elf_file_build_id(const struct elf_file *f)
{
	return f->build_id;
}

static bool has_section(Elf *elf, const char *wanted)
{
	size_t shstrndx;
	if (elf_getshdrstrndx(elf, &shstrndx) != 0)
		return false;
	for (Elf_Scn *scn = NULL; (scn = elf_nextscn(elf, scn));) {
		GElf_Shdr sh;
		const char *name = gelf_getshdr(scn, &sh) ? elf_strptr(elf, shstrndx, sh.sh_name) : NULL;
		if (name && strcmp(name, wanted) == 0 && sh.sh_type != SHT_NOBITS)
			return true;
	}
	return false;
}

/* Where the file's first load segment is meant to be: a debug file's
 * addresses are its main file's, shifted by the difference (prelink). */
static GElf_Addr first_load(Elf *elf)
{
	size_t n;
	if (elf_getphdrnum(elf, &n) != 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;
		if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_LOAD)
			return ph.p_vaddr;
	}
	return 0;
}

/* The debug file's descriptor, found as libdwfl finds it (build-id under
 * the debug path, .gnu_debuglink with its CRC, debuginfod), for a module of
 * its own: libdwfl's finder keeps what it opens in the module it is given,
 * which would then not load its DWARF again. */
static int debug_file(struct elf_file *f, const char *file_name)
{
	int fd = -1, main_fd = fcntl(f->fd, F_DUPFD_CLOEXEC, 0);
	Dwfl *scratch = main_fd >= 0 ? dwfl_begin(&offline_callbacks) : NULL;
	Dwfl_Module *mod = scratch ? dwfl_report_offline(scratch, "", file_name, main_fd) : NULL;
	if (!mod && main_fd >= 0)
		close(main_fd); /* libdwfl owns it only once reported */
	if (scratch)
		dwfl_report_end(scratch, NULL, NULL);
	GElf_Addr bias;
	Elf *main = mod ? dwfl_module_getelf(mod, &bias) : NULL;
	if (main) {
		void **userdata;
		Dwarf_Addr start;
		const char *modname = dwfl_module_info(mod, &userdata, &start, NULL, NULL, NULL, NULL, NULL);
		GElf_Word crc = 0;
		const char *link = dwelf_elf_gnu_debuglink(main, &crc);
		char *debug_name = NULL;
		fd = find_debuginfo(mod, userdata, modname, start, file_name, link, crc, &debug_name);
		free(debug_name);
	}
	if (scratch)
		dwfl_end(scratch);
	return fd;
}

/* The file's DWARF through dwarf_image when that helps: from the file
 * itself, or from its debug file. */
static void open_dwarf_image(struct elf_file *f)
{
	GElf_Addr bias;
	Elf *main = dwfl_module_getelf(f->mod, &bias);
	const char *file_name = NULL;
	dwfl_module_info(f->mod, NULL, NULL, NULL, NULL, NULL, &file_name, NULL);
	if (!main || !file_name || f->fd < 0)
		return;
	struct dwarf_image_early early = { read_early_lines, f };
	if (has_section(main, ".debug_info")) {
		if ((f->dwarf = dwarf_image_open(main, &early)))
			f->dwarf_bias = f->bias;
		return;
	}
	int fd = debug_file(f, file_name);
	Elf *debug = fd >= 0 ? elf_begin(fd, ELF_C_READ_MMAP, NULL) : NULL;
	if (debug && (f->dwarf = dwarf_image_open(debug, &early)))
		f->dwarf_bias = f->bias + first_load(main) - first_load(debug);
	if (debug)
		elf_end(debug); /* the image is a copy */
	if (fd >= 0)
		close(fd);
}

bool elf_file_has_dwarf(struct elf_file *f)
{
	if (!f->dwarf_looked) {
		f->dwarf_looked = true;
		open_dwarf_image(f);
		f->dwarf_image = f->dwarf != NULL;
		if (!f->dwarf_image) { /* read from an image that is gone */
			early_lines_free(f->early);
			f->early = NULL;
		}
		if (!f->dwarf)
			f->dwarf = dwfl_module_getdwarf(f->mod, &f->dwarf_bias);
	}
	return f->dwarf != NULL;
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

static int top_cmp(const void *a, const void *b)
{
	const struct top_range *x = a, *y = b;
	return (x->lo > y->lo) - (x->lo < y->lo);
}

/* The debug sections read here rather than by libdw, as libdw has them
 * (inflated); .dwo files' too.  A section not there as it is read here
 * (.zdebug, still compressed) is left out; none for a relocatable file. */
struct debug_sections {
	struct die_sections die;
	struct line_sections line;
};

static void debug_sections_of(Dwarf *dbg, struct debug_sections *ds)
{
	Elf *elf = dwarf_getelf(dbg);
	GElf_Ehdr eh;
	size_t shstrndx;
	memset(ds, 0, sizeof(*ds));
	if (!elf || !gelf_getehdr(elf, &eh) || eh.e_type == ET_REL || elf_getshdrstrndx(elf, &shstrndx) != 0)
		return;
	static const char *const names[] = { ".debug_info", ".debug_abbrev", ".debug_line", ".debug_str",
					     ".debug_line_str" };
	const uint8_t **bytes[] = { &ds->die.info, &ds->die.abbrev, &ds->line.line, &ds->line.str, &ds->line.line_str };
	size_t *sizes[] = { &ds->die.info_size, &ds->die.abbrev_size, &ds->line.line_size, &ds->line.str_size,
			    &ds->line.line_str_size };
	for (Elf_Scn *scn = NULL; (scn = elf_nextscn(elf, scn));) {
		GElf_Shdr sh;
		const char *name = gelf_getshdr(scn, &sh) ? elf_strptr(elf, shstrndx, sh.sh_name) : NULL;
		if (!name || sh.sh_type == SHT_NOBITS || (sh.sh_flags & SHF_COMPRESSED))
			continue;
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			size_t n = strlen(names[i]);
			if (strncmp(name, names[i], n) != 0 || (name[n] && strcmp(name + n, ".dwo") != 0))
				continue;
			Elf_Data *d = elf_getdata(scn, NULL);
			if (d && d->d_buf) {
				*bytes[i] = d->d_buf;
				*sizes[i] = d->d_size;
			}
		}
	}
}

/* The walks' view of a unit's DIEs: read by die_reader.c where it reads
 * the unit, else by libdw. */
struct die_walker {
	Dwarf *dbg;
	const struct die_unit *unit; /* NULL: libdw */
};

struct walk_die {
	struct die own;
	Dwarf_Die dw;      /* libdw's, when unit is NULL or for ranges read by libdw */
	Dwarf_Addr base;   /* dwarf_ranges' state from one range to the next */
};

static int walk_tag(const struct die_walker *w, struct walk_die *d)
{
	return w->unit ? (int)d->own.abbrev->tag : dwarf_tag(&d->dw);
}

static Dwarf_Off walk_offset(const struct die_walker *w, struct walk_die *d)
{
	return w->unit ? d->own.offset : dwarf_dieoffset(&d->dw);
}

static bool walk_child(const struct die_walker *w, struct walk_die *d, struct walk_die *child)
{
	if (w->unit)
		return die_child(w->unit, &d->own, &child->own);
	return dwarf_haschildren(&d->dw) && dwarf_child(&d->dw, &child->dw) == 0;
}


/* Like dwarf_ranges: the range at off (0 first) in [*lo, *hi); the next off,
 * 0 after the last, -1 on error. */
static ptrdiff_t walk_ranges(const struct die_walker *w, struct walk_die *d, ptrdiff_t off, Dwarf_Addr *lo,
			     Dwarf_Addr *hi)
{
	if (w->unit && off == 0) {
		int own = die_pc_range(w->unit, &d->own, lo, hi);
		if (own >= 0)
			return own;
		if (!dwarf_offdie(w->dbg, d->own.offset, &d->dw))
			return -1;
	}
	return dwarf_ranges(&d->dw, off, &d->base, lo, hi);
}

/* Moves dies[*level] past its subtree to the next DIE of a depth-first
 * walk, climbing as needed; false when the walk is over.  Read here, the
 * climb starts where the children ended: no subtree is read twice. */
static bool next_die(const struct die_walker *w, struct walk_die *dies, int *level)
{
	if (w->unit) {
		uint64_t after;
		struct die next;
		if (!die_sibling(w->unit, &dies[*level].own, &next, &after) &&
		    !(after && die_after(w->unit, after, level, &next)))
			return false;
		dies[*level].own = next;
		return true;
	}
	for (;;) {
		Dwarf_Die next;
		if (dwarf_siblingof(&dies[*level].dw, &next) == 0) {
			dies[*level].dw = next;
			return true;
		}
		if (*level == 0)
			return false;
		--*level;
	}
}

/* The walker of a CU's unit (its DIE: unitdie), reading the unit here
 * from the first walk on if it can. */
static struct die_walker cu_walker(struct cu_index *ix, Dwarf_Die *unitdie)
{
	Dwarf *dbg = dwarf_cu_getdwarf(unitdie->cu);
	if (!ix->unit_read) {
		struct debug_sections ds;
		debug_sections_of(dbg, &ds);
		ix->unit_read = die_unit_open(&ix->unit, &ds.die, dwarf_dieoffset(unitdie) - dwarf_cuoffset(unitdie)) == 0 ? 1 : -1;
	}
	return (struct die_walker){ dbg, ix->unit_read > 0 ? &ix->unit : NULL };
}

static bool walk_die_at(const struct die_walker *w, Dwarf_Off offset, struct walk_die *d)
{
	if (w->unit)
		return die_at(w->unit, offset, &d->own);
	return dwarf_offdie(w->dbg, offset, &d->dw) != NULL;
}

/* DIEs whose subtrees hold no function's code: an inlined instance's
 * lambdas are its abstract origin's, call sites hold their parameters. */
static bool no_functions_within(int tag)
{
	return tag == DW_TAG_inlined_subroutine || tag == DW_TAG_call_site || tag == DW_TAG_GNU_call_site ||
	       tag == DW_TAG_formal_parameter || tag == DW_TAG_variable;
}

/* Adds the functions with code that the walk finds (see enum cu_walk).
 * Only the last walk enters types and declarations outside code; the first
 * skips every function's body (most of a CU's DIEs) through its
 * DW_AT_sibling. */
static int cu_index_build(struct cu_index *ix, Dwarf_Die *unitdie, enum cu_walk walk)
{
	struct walk_die dies[DIE_DEPTH_MAX], root;
	bool in_code[DIE_DEPTH_MAX], in_type[DIE_DEPTH_MAX];
	int level = 0, err = 0;
	struct die_walker w = cu_walker(ix, unitdie);
	if (!walk_die_at(&w, dwarf_dieoffset(unitdie), &root) || !walk_child(&w, &root, &dies[0]))
		return 0;
	in_code[0] = in_type[0] = false;
	for (;;) {
		struct walk_die *d = &dies[level];
		int tag = walk_tag(&w, d);
		bool has_code = false;
		if (tag == DW_TAG_subprogram) {
			bool wanted = in_type[level] ? walk == WALK_IN_TYPES : walk == (in_code[level] ? WALK_IN_CODE : WALK_OUTSIDE);
			Dwarf_Addr lo, hi;
			ptrdiff_t off = 0;
			while ((off = walk_ranges(&w, d, off, &lo, &hi)) > 0) {
				has_code = true;
				if (hi <= lo || !wanted)
					continue;
				struct top_range *t = vec_push(&ix->tops, sizeof(*t));
				if (!t) {
					err = -1;
					goto walked;
				}
				*t = (struct top_range){ lo, hi, walk_offset(&w, d), 0 };
			}
		}
		bool type = !in_code[level] && !has_code && tag != DW_TAG_namespace;
		bool descend = walk == WALK_OUTSIDE ? tag == DW_TAG_namespace :
			       !no_functions_within(tag) && (walk == WALK_IN_TYPES || !type);
		if (descend && level + 1 < DIE_DEPTH_MAX && walk_child(&w, d, &dies[level + 1])) {
			level++;
			in_code[level] = in_code[level - 1] || has_code;
			in_type[level] = in_type[level - 1] || type;
			continue;
		}
		if (!next_die(&w, dies, &level))
			break;
	}
walked:
	if (ix->tops.count > 1)
		qsort(ix->tops.data, ix->tops.count, sizeof(struct top_range), top_cmp);
	return err;
}

static int scope_push(struct function_scopes *fs, uint32_t *cap, const struct scope *sc)
{
	if (fs->count == *cap) {
		uint32_t c = *cap ? *cap * 2 : 16;
		struct scope *v = realloc(fs->scopes, c * sizeof(*v));
		if (!v)
			return -1;
		fs->scopes = v;
		*cap = c;
	}
	fs->scopes[fs->count++] = *sc;
	return 0;
}

/* DIEs in a function's subtree whose own subtrees hold none of its inlined
 * instances: call sites, parameters, variables, types, and functions of
 * their own (a lambda's code, indexed as its own function). */
static bool no_inlines_within(int tag)
{
	switch (tag) {
	case DW_TAG_call_site:
	case DW_TAG_GNU_call_site:
	case DW_TAG_formal_parameter:
	case DW_TAG_variable:
	case DW_TAG_subprogram:
	case DW_TAG_structure_type:
	case DW_TAG_class_type:
	case DW_TAG_union_type:
	case DW_TAG_enumeration_type:
		return true;
	default:
		return false;
	}
}

static bool has_target(const struct function_scopes *fs, uint64_t lo, uint64_t hi)
{
	uint32_t i = first_from(fs->targets, fs->ntargets, sizeof(*fs->targets), 0, lo);
	return i < fs->ntargets && fs->targets[i] < hi;
}

/* Whether a lexical block's subtree can hold a target: its code does (a
 * block without code of its own, of declarations only, may). */
static bool block_holds_target(const struct function_scopes *fs, const struct die_walker *w, struct walk_die *d)
{
	Dwarf_Addr lo, hi;
	ptrdiff_t off = 0;
	bool ranges = false;
	while ((off = walk_ranges(w, d, off, &lo, &hi)) > 0) {
		ranges = true;
		if (hi > lo && has_target(fs, lo, hi))
			return true;
	}
	return !ranges;
}

/* One iterative, depth-bounded walk of a function's DIE subtree for its
 * inlined instances (lexical blocks and other scopes hold them too). */
static int function_scopes_build(struct function_scopes *fs, const struct die_walker *w, struct walk_die *fn)
{
	uint32_t cap = 0;
	if (scope_push(fs, &cap, &(struct scope){ 0, 0, walk_offset(w, fn), -1, 0, false }))
		return -1;
	struct walk_die dies[DIE_DEPTH_MAX];
	int32_t parent[DIE_DEPTH_MAX];
	uint16_t depth[DIE_DEPTH_MAX];
	int level = 0;
	if (!walk_child(w, fn, &dies[0]))
		return 0;
	parent[0] = 0;
	depth[0] = 1;
	for (;;) {
		struct walk_die *d = &dies[level];
		int tag = walk_tag(w, d);
		int32_t me = parent[level];
		uint16_t my_depth = depth[level];
		/* Where targets are given, only the scopes whose code holds one
		 * are entered. */
		bool enter = !no_inlines_within(tag);
		if (tag == DW_TAG_inlined_subroutine) {
			Dwarf_Addr lo, hi;
			ptrdiff_t off = 0;
			int32_t first = -1;
			bool holds = !fs->targets;
			while ((off = walk_ranges(w, d, off, &lo, &hi)) > 0) {
				if (hi <= lo)
					continue;
				if (scope_push(fs, &cap, &(struct scope){ lo, hi, walk_offset(w, d), parent[level], depth[level], true }))
					return -1;
				if (first < 0)
					first = (int32_t)fs->count - 1;
				holds = holds || has_target(fs, lo, hi);
			}
			if (first >= 0) {
				me = first;
				my_depth = (uint16_t)(depth[level] + 1);
			}
			enter = holds || first < 0;
		} else if (tag == DW_TAG_lexical_block && fs->targets) {
			enter = block_holds_target(fs, w, d);
		}
		if (enter && level + 1 < DIE_DEPTH_MAX && walk_child(w, d, &dies[level + 1])) {
			level++;
			parent[level] = me;
			depth[level] = my_depth;
			continue;
		}
		if (!next_die(w, dies, &level))
			return 0;
	}
}

/* The DIE whose children are a CU's functions: a skeleton CU's split unit
 * (-gsplit-dwarf: the functions are in its .dwo file), else the CU's own. */
static Dwarf_Die unit_die(Dwarf_Die *cudie)
{
	uint8_t type;
	Dwarf_Die split;
	if (dwarf_cu_info(cudie->cu, NULL, &type, NULL, &split, NULL, NULL, NULL) == 0 && type == DW_UT_skeleton &&
	    split.addr)
		return split;
	return *cudie;
}

/* The index of a CU (cudie: as found by address, a skeleton for split
 * DWARF), built on first use. */
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
	Dwarf_Die unit = unit_die(cudie);
	if (cu_index_build(ix, &unit, WALK_OUTSIDE)) {
		cu_index_release(ix);
		f->ncus--;
		return NULL;
	}
	return ix;
}

/* The top range containing addr, after walking the CU's nested functions
 * if none of the others does; NULL if none. */
static struct top_range *top_at(struct cu_index *ix, Dwarf_Die *cudie, uint64_t addr)
{
	for (;;) {
		struct top_range *tops = ix->tops.data;
		uint32_t i = upper_bound_u64(tops, ix->tops.count, sizeof(*tops), offsetof(struct top_range, lo), addr);
		if (i > 0 && addr < tops[i - 1].hi)
			return &tops[i - 1];
		if (ix->walked == WALK_IN_TYPES)
			return NULL;
		if (cu_index_build(ix, cudie, ++ix->walked))
			return NULL;
	}
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* The scopes of the function whose DIE is at die: only where the addresses
 * being prepared are (the ones in its code), when some are. */
static int function_scopes_for(struct cu_index *ix, Dwarf_Die *cudie, Dwarf_Off die, struct function_scopes *fs)
{
	*fs = (struct function_scopes){ 0 };
	const struct top_range *tops = ix->tops.data;
	const struct cu_address *t = ix->targets;
	/* Twice over the function's ranges: count, then copy. */
	for (int copy = 0; t && copy < 2; copy++) {
		if (copy && !(fs->targets = malloc((fs->ntargets ? fs->ntargets : 1) * sizeof(*fs->targets))))
			return -1;
		uint32_t n = 0;
		for (uint32_t k = 0; k < ix->tops.count; k++)
			for (uint32_t i = tops[k].die != die ? ix->ntargets :
				     first_from(t, ix->ntargets, sizeof(*t), offsetof(struct cu_address, addr), tops[k].lo);
			     i < ix->ntargets && t[i].addr < tops[k].hi; i++, n++)
				if (copy)
					fs->targets[n] = t[i].addr;
		fs->ntargets = n;
	}
	if (fs->ntargets > 1)
		qsort(fs->targets, fs->ntargets, sizeof(*fs->targets), u64_cmp);
	struct walk_die fn;
	struct die_walker w = cu_walker(ix, cudie);
	if (!walk_die_at(&w, die, &fn) || function_scopes_build(fs, &w, &fn)) {
		function_scopes_release(fs);
		return -1;
	}
	return 0;
}

/* The scopes of the function containing addr, walked on first use (for
 * each of the function's ranges), and in *at the innermost one containing
 * addr; NULL if no function does. */
static const struct function_scopes *cu_index_find(struct cu_index *ix, Dwarf_Die *cudie, uint64_t addr, int32_t *at)
{
	struct top_range *t = top_at(ix, cudie, addr);
	if (!t)
		return NULL;
	if (!t->function) {
		struct function_scopes *fs = vec_push(&ix->functions, sizeof(*fs));
		if (!fs || function_scopes_for(ix, cudie, t->die, fs)) {
			if (fs)
				ix->functions.count--;
			return NULL;
		}
		struct top_range *tops = ix->tops.data;
		for (uint32_t k = 0; k < ix->tops.count; k++)
			if (tops[k].die == t->die)
				tops[k].function = ix->functions.count;
	}
	struct function_scopes *fs = (struct function_scopes *)ix->functions.data + (t->function - 1);
	if (fs->targets && !bsearch(&addr, fs->targets, fs->ntargets, sizeof(addr), u64_cmp)) {
		/* walked for other addresses: walked again, whole */
		struct function_scopes whole;
		const struct cu_address *targets = ix->targets;
		ix->targets = NULL;
		int err = function_scopes_for(ix, cudie, t->die, &whole);
		ix->targets = targets;
		if (err)
			return NULL;
		function_scopes_release(fs);
		*fs = whole;
	}
	int32_t best = 0;
	for (uint32_t k = 1; k < fs->count; k++) {
		const struct scope *sc = &fs->scopes[k];
		if (sc->lo <= addr && addr < sc->hi && sc->depth > fs->scopes[best].depth)
			best = (int32_t)k;
	}
	*at = best;
	return fs;
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

/* The function symbol containing a module address, from the file's (or its
 * debug file's) symbol tables, sorted once: dwfl_module_addrinfo scans them
 * all on every call. */
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

static int cu_range_cmp(const void *a, const void *b)
{
	const struct cu_range *x = a, *y = b;
	return (x->lo > y->lo) - (x->lo < y->lo);
}

static void cu_ranges_build(struct elf_file *f)
{
	f->cu_ranges_built = true;
	Dwarf_Off off = 0, next;
	size_t header;
	while (dwarf_nextcu(f->dwarf, off, &next, &header, NULL, NULL, NULL) == 0) {
		Dwarf_Die cu;
		Dwarf_Addr base, lo, hi;
		ptrdiff_t at = 0;
		if (dwarf_offdie(f->dwarf, off + header, &cu))
			while ((at = dwarf_ranges(&cu, at, &base, &lo, &hi)) > 0) {
				struct cu_range *r = hi > lo ? vec_push(&f->cu_ranges, sizeof(*r)) : NULL;
				if (r)
					*r = (struct cu_range){ lo, hi, off + header };
			}
		off = next;
	}
	if (f->cu_ranges.count > 1)
		qsort(f->cu_ranges.data, f->cu_ranges.count, sizeof(struct cu_range), cu_range_cmp);
}

/* The CU containing a DWARF address: by .debug_aranges, else by the CUs'
 * own ranges. */
static bool cu_die_at(struct elf_file *f, Dwarf_Addr addr, Dwarf_Die *cudie)
{
	if (dwarf_addrdie(f->dwarf, addr, cudie))
		return true;
	if (!f->cu_ranges_built)
		cu_ranges_build(f);
	const struct cu_range *r = f->cu_ranges.data;
	uint32_t i = upper_bound_u64(r, f->cu_ranges.count, sizeof(*r), offsetof(struct cu_range, lo), addr);
	return i > 0 && addr < r[i - 1].hi && dwarf_offdie(f->dwarf, r[i - 1].die, cudie);
}

/* The CU's line table, read on first use; NULL where libdw is to read it:
 * split DWARF (call files name the .dwo's files), or a table read here
 * not. */
static struct line_table *cu_lines(struct elf_file *f, struct cu_index *ix, Dwarf_Die *cudie)
{
	if (!ix->lines_read) {
		ix->lines_read = -1;
		Dwarf_Attribute a;
		Dwarf_Word offset;
		uint8_t address_size;
		struct debug_sections ds;
		Dwarf_Die unit = unit_die(cudie);
		if (unit.addr != cudie->addr || dwarf_formudata(dwarf_attr(cudie, DW_AT_stmt_list, &a), &offset) != 0 ||
		    dwarf_cu_info(cudie->cu, NULL, NULL, NULL, NULL, NULL, &address_size, NULL) != 0)
			return NULL;
		const char *comp_dir = dwarf_formstring(dwarf_attr(cudie, DW_AT_comp_dir, &a));
		if (address_size == 8 && take_early_lines(f->early, offset, &ix->lines)) {
			line_table_set_comp_dir(&ix->lines, comp_dir);
			ix->lines_read = 1;
		} else {
			debug_sections_of(dwarf_cu_getdwarf(cudie->cu), &ds);
			if (line_table_read(&ix->lines, &ds.line, offset, address_size, comp_dir) == 0)
				ix->lines_read = 1;
		}
	}
	return ix->lines_read > 0 ? &ix->lines : NULL;
}

/* The inline chain at DWARF address addr of a CU (indexed by ix, NULL if it
 * could not be); lines from cudie's line table, functions from its unit. */
static int chain_in_cu(struct elf_file *f, struct cu_index *ix, Dwarf_Die *cudie, Dwarf_Addr addr,
		       struct inline_frame *out, int max)
{
	Dwarf_Addr module_addr = addr + f->dwarf_bias;
	Dwarf_Die unit = unit_die(cudie);
	Dwarf *dbg = dwarf_cu_getdwarf(unit.cu);
	int32_t at = -1;
	const struct function_scopes *fs = ix ? cu_index_find(ix, &unit, addr, &at) : NULL;
	const char *file = NULL;
	int line = 0;
	struct line_table *lines = ix ? cu_lines(f, ix, cudie) : NULL;
	if (lines) {
		const struct line_row *row = line_table_find(lines, addr);
		if (row) {
			file = line_table_path(lines, row->file & ~LINE_ROW_END);
			line = (int)row->line;
		}
	} else {
		Dwarf_Line *l = dwarf_getsrc_die(cudie, addr);
		if (l) {
			file = dwarf_linesrc(l, NULL, NULL);
			dwarf_lineno(l, &line);
		}
	}
	if (!fs) {
		/* Code no function's DIE covers (gcc leaves some out): its line,
		 * under the ELF symbol's name, as addr2line gives it. */
		if (!file)
			return 0;
		out[0] = (struct inline_frame){ NULL, file, line > 0 ? (uint32_t)line : 0 };
		return 1;
	}
	bool unmangled = unmangled_language(dwarf_srclang(&unit));
	Dwarf_Files *files = NULL;
	size_t nfiles = 0;
	int n = 0;
	for (; at >= 0 && n < max; at = fs->scopes[at].parent) {
		Dwarf_Die die;
		if (!dwarf_offdie(dbg, fs->scopes[at].die, &die))
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
			const char *symbol = symbol_at(f, module_addr);
			if (symbol)
				name = symbol;
		}
		out[n++] = (struct inline_frame){ name, file, line > 0 ? (uint32_t)line : 0 };
		if (!fs->scopes[at].inlined)
			break;
		/* The next frame out is where this one was inlined. */
		Dwarf_Attribute a;
		Dwarf_Word file_index = 0, call_line = 0;
		file = NULL;
		if (dwarf_formudata(dwarf_attr(&die, DW_AT_call_file, &a), &file_index) == 0) {
			if (lines)
				file = file_index < UINT32_MAX ? line_table_path(lines, (uint32_t)file_index) : NULL;
			else if (files || dwarf_getsrcfiles(cudie, &files, &nfiles) == 0)
				file = file_index < nfiles ? dwarf_filesrc(files, file_index, NULL, NULL) : NULL;
		}
		dwarf_formudata(dwarf_attr(&die, DW_AT_call_line, &a), &call_line);
		line = (int)call_line;
	}
	return n;
}

static int dwarf_chain(struct elf_file *f, Dwarf_Addr module_addr, struct inline_frame *out, int max)
{
	Dwarf_Addr addr = module_addr - f->dwarf_bias;
	Dwarf_Die cudie;
	if (!cu_die_at(f, addr, &cudie))
		return 0;
	return chain_in_cu(f, cu_index_for(f, &cudie), &cudie, addr, out, max);
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

/* Names a chain from DWARF where DWARF has no name, from the symbol tables
 * (the file's, or its debug file's), keeping DWARF's line if there is one. */
static int named_chain(struct elf_file *f, Dwarf_Addr module_addr, struct inline_frame *out, int n)
{
	if (n > 0 && out[0].name)
		return n;
	const char *name = symbol_at(f, module_addr);
	if (!name)
		return 0;
	if (n == 0)
		out[0] = (struct inline_frame){ NULL, NULL, 0 };
	out[0].name = name;
	return n ? n : 1;
}

/* The slot of vaddr in the chain cache (*slot 0: not cached); NULL when out
 * of memory. */
static uint32_t *chain_slot(struct elf_file *f, uint64_t vaddr)
{
	if (id_hash_reserve(&f->chain_index, f->chains.count, chain_rehash, f))
		return NULL;
	return id_hash_probe(&f->chain_index, hash_u64(vaddr), chain_eq, f, &vaddr);
}

/* Caches an answer in its empty slot, when memory allows. */
static void chain_cache(struct elf_file *f, uint32_t *slot, uint64_t vaddr, const struct inline_frame *frames, int n)
{
	if (f->nframes + (uint32_t)n > f->cap_frames) {
		uint32_t cap = (f->cap_frames + (uint32_t)n) * 2;
		struct inline_frame *v = realloc(f->frames, cap * sizeof(*v));
		if (!v)
			return;
		f->frames = v;
		f->cap_frames = cap;
	}
	struct cached_chain *c = vec_push(&f->chains, sizeof(*c));
	if (!c)
		return;
	if (n)
		memcpy(f->frames + f->nframes, frames, (size_t)n * sizeof(*frames));
	*c = (struct cached_chain){ vaddr, f->nframes, (uint32_t)n };
	f->nframes += (uint32_t)n;
	*slot = f->chains.count;
}

int elf_file_lookup(struct elf_file *f, uint64_t vaddr, struct inline_frame *out, int max)
{
	uint32_t *slot = chain_slot(f, vaddr);
	if (slot && *slot) {
		const struct cached_chain *c = (const struct cached_chain *)f->chains.data + (*slot - 1);
		int n = (int)(c->count < (uint32_t)max ? c->count : (uint32_t)max);
		if (n)
			memcpy(out, f->frames + c->first, (size_t)n * sizeof(*out));
		return n;
	}
	Dwarf_Addr addr = vaddr + f->bias;
	int n = named_chain(f, addr, out, elf_file_has_dwarf(f) ? dwarf_chain(f, addr, out, max) : 0);
	/* Cached when memory allows (an address with no name too); answered either way. */
	if (slot)
		chain_cache(f, slot, vaddr, out, n);
	return n;
}

/* One CU's share of elf_file_prepare: its index, and its addresses' chains
 * (frames[first[k]..] for address k, counts[k] of them). */
struct cu_job {
	struct cu_index ix;
	const struct cu_address *first; /* its addresses */
	uint32_t count;
	bool ok;
	struct vec frames; /* struct inline_frame */
	uint32_t *counts;
};

struct prepare_work {
	struct elf_file *f; /* read only while the work runs (symbols loaded first) */
	struct cu_job *jobs;
	uint32_t njobs;
	atomic_uint next;
};

static int cu_address_cmp(const void *a, const void *b)
{
	const struct cu_address *x = a, *y = b;
	if (x->cu != y->cu)
		return (x->cu > y->cu) - (x->cu < y->cu);
	return (x->addr > y->addr) - (x->addr < y->addr);
}

/* Looks up a CU's addresses through dbg, into the job. */
static bool cu_job_run(struct elf_file *f, struct cu_job *job, Dwarf *dbg)
{
	Dwarf_Die cudie;
	job->ix.cu = job->first->cu;
	job->counts = calloc(job->count, sizeof(*job->counts));
	if (!job->counts || !dwarf_offdie(dbg, job->ix.cu, &cudie))
		return false;
	Dwarf_Die unit = unit_die(&cudie);
	if (cu_index_build(&job->ix, &unit, WALK_OUTSIDE))
		return false;
	/* The functions' scopes are walked only where these are. */
	job->ix.targets = job->first;
	job->ix.ntargets = job->count;
	bool ok = true;
	for (uint32_t k = 0; k < job->count && ok; k++) {
		struct inline_frame chain[INLINE_MAX_FRAMES];
		Dwarf_Addr addr = job->first[k].addr;
		int n = chain_in_cu(f, &job->ix, &cudie, addr, chain, INLINE_MAX_FRAMES);
		n = named_chain(f, addr + f->dwarf_bias, chain, n);
		for (int i = 0; i < n && ok; i++) {
			struct inline_frame *fr = vec_push(&job->frames, sizeof(*fr));
			if ((ok = fr != NULL))
				*fr = chain[i];
		}
		job->counts[k] = (uint32_t)n;
	}
	job->ix.targets = NULL;
	return ok;
}

/* Takes CUs until none is left, through dbg (this thread's own reader). */
static void prepare_cus(struct prepare_work *w, Dwarf *dbg)
{
	for (uint32_t i; (i = atomic_fetch_add(&w->next, 1)) < w->njobs;)
		w->jobs[i].ok = cu_job_run(w->f, &w->jobs[i], dbg);
}

/* Share 0 reads with the file's own handle, the others each with a reader of their own. */
static void prepare_share(void *arg, unsigned share)
{
	struct prepare_work *w = arg;
	prepare_cus(w, share ? w->f->readers[share - 1] : w->f->dwarf);
}

/* The addresses' CUs not indexed yet, one job each (addrs sorted by CU). */
static uint32_t cu_jobs(struct elf_file *f, struct cu_address *addrs, uint32_t n, struct cu_job **jobs)
{
	uint32_t kept = 0, njobs = 0;
	for (uint32_t i = 0; i < n; i++) {
		Dwarf_Die cudie;
		if (!cu_die_at(f, addrs[i].addr, &cudie))
			continue;
		Dwarf_Off cu = dwarf_dieoffset(&cudie);
		bool indexed = false;
		for (uint32_t k = 0; k < f->ncus && !indexed; k++)
			indexed = f->cus[k].cu == cu;
		if (!indexed)
			addrs[kept++] = (struct cu_address){ cu, addrs[i].addr };
	}
	qsort(addrs, kept, sizeof(*addrs), cu_address_cmp);
	for (uint32_t i = 0; i < kept; i++)
		njobs += i == 0 || addrs[i].cu != addrs[i - 1].cu;
	*jobs = njobs ? calloc(njobs, sizeof(**jobs)) : NULL;
	if (!*jobs)
		return 0;
	for (uint32_t i = 0, j = 0; i < kept; i++) {
		if (i > 0 && addrs[i].cu == addrs[i - 1].cu) {
			(*jobs)[j - 1].count++;
			continue;
		}
		(*jobs)[j++] = (struct cu_job){ .first = &addrs[i], .count = 1 };
	}
	return njobs;
}

/* The jobs' indices and chains, kept for the lookups to come. */
static void prepare_keep(struct elf_file *f, struct cu_job *job)
{
	if (!job->ok) {
		cu_index_release(&job->ix);
		return;
	}
	f->cus[f->ncus++] = job->ix;
	const struct inline_frame *frames = job->frames.data;
	for (uint32_t k = 0, at = 0; k < job->count; at += job->counts[k++]) {
		uint64_t vaddr = job->first[k].addr + f->dwarf_bias - f->bias;
		uint32_t *slot = chain_slot(f, vaddr);
		if (slot && !*slot)
			chain_cache(f, slot, vaddr, frames + at, (int)job->counts[k]);
	}
}

/* A reader of f's DWARF for each helper thread, opened on the first call
 * (none if its DWARF cannot be shared) and kept with f: the file names of
 * the chains they look up live in them. */
static uint32_t prepare_readers(struct elf_file *f, uint32_t wanted)
{
	if (!f->readers_opened) {
		f->readers_opened = true;
		while (f->nreaders < wanted && f->nreaders < sizeof(f->readers) / sizeof(f->readers[0]) &&
		       (f->readers[f->nreaders] = dwarf_image_reader(f->dwarf)))
			f->nreaders++;
	}
	return f->nreaders < wanted ? f->nreaders : wanted;
}

void elf_file_prepare(struct elf_file *f, const uint64_t *vaddrs, uint32_t n)
{
	if (!f->dwarf_looked)
		f->addresses_ahead = n;
	if (n < 2 || !elf_file_has_dwarf(f))
		return;
	struct cu_address *addrs = malloc(n * sizeof(*addrs));
	if (!addrs)
		return;
	for (uint32_t i = 0; i < n; i++)
		addrs[i] = (struct cu_address){ 0, vaddrs[i] + f->bias - f->dwarf_bias };
	symbol_at(f, 0); /* loaded now: the threads only read the symbol table */
	struct prepare_work w = { f, NULL, 0, 0 };
	w.njobs = cu_jobs(f, addrs, n, &w.jobs);
	struct cu_index *cus = w.njobs ? realloc(f->cus, (f->ncus + w.njobs) * sizeof(*cus)) : NULL;
	if (cus) {
		f->cus = cus;
		uint32_t helpers = prepare_readers(f, parallel_threads() - 1);
		parallel_run(1 + (helpers < w.njobs - 1 ? helpers : w.njobs - 1), prepare_share, &w);
		for (uint32_t i = 0; i < w.njobs; i++)
			prepare_keep(f, &w.jobs[i]);
	}
	for (uint32_t i = 0; i < w.njobs; i++) {
		vec_release(&w.jobs[i].frames);
		free(w.jobs[i].counts);
	}
	free(w.jobs);
	free(addrs);
}
