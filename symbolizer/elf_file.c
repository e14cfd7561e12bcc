/* One mapped ELF file: opened as its process sees it, with its debug info
 * (found by libdwfl: build-id under /usr/lib/debug/.build-id, or
 * .gnu_debuglink with its CRC checked), and lookups cached per address. */
#include <errno.h>
#include <fcntl.h>
#include <elfutils/libdwelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "symbolizer/elf_file-internal.h"

/* The path libdwfl will look for .gnu_debuglink targets beside. */
static void debuglink_base(pid_t pid, const char *path, char *buf, size_t len)
{
	char root[80];
	proc_dir(pid, root, sizeof(root) - 5);
	strcat(root, "/root");
	/* Inside the process's root while it lives; the host's view after. */
	if (pid > 0 && path[0] == '/' && access(root, X_OK) == 0)
		snprintf(buf, len, "%s%s", root, path);
	else
		snprintf(buf, len, "%s", path);
}

static struct elf_file *elf_file_from_fd(struct debuginfo *d, int fd, const char *name, enum symbolizer_error *why)
{
	struct elf_file *f = calloc(1, sizeof(*f));
	*why = SYMBOLIZER_E_NOMEM;
	if (!f) {
		close(fd);
		return NULL;
	}
	f->debuginfo = d;
	f->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	f->dwfl = dwfl_begin(debuginfo_callbacks(d));
	if (!f->dwfl) {
		close(fd);
		elf_file_close(f);
		return NULL;
	}
	/* libdwfl takes fd with the module it reports; without one, fd is still ours. */
	f->mod = dwfl_report_offline(f->dwfl, "", name, fd);
	dwfl_report_end(f->dwfl, NULL, NULL);
	if (f->mod)
		debuginfo_attach(d, f->mod);
	else
		close(fd);
	Elf *elf = f->mod ? dwfl_module_getelf(f->mod, &f->bias) : NULL;
	size_t phnum;
	*why = SYMBOLIZER_E_NOT_ELF;
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
	*why = SYMBOLIZER_E_OK;
	return f;
}

/* fd's file, unless its build-id is not the one expected (a different
 * file at the same path: replaced, or the host's rather than a container's). */
static struct elf_file *elf_file_matching(struct debuginfo *d, int fd, const char *name, const char *build_id,
					  enum symbolizer_error *why)
{
	struct elf_file *f = elf_file_from_fd(d, fd, name, why);
	if (f && build_id && *build_id && *f->build_id && strcmp(f->build_id, build_id) != 0) {
		elf_file_close(f);
		*why = SYMBOLIZER_E_OTHER_FILE;
		f = NULL;
	}
	return f;
}

/* Of the reasons the ways gave, the one that says most. */
static enum symbolizer_error worse(enum symbolizer_error a, enum symbolizer_error b)
{
	static const int weight[SYMBOLIZER_E_COUNT] = { [SYMBOLIZER_E_NO_FILE] = 1, [SYMBOLIZER_E_NO_ACCESS] = 2,
							[SYMBOLIZER_E_NOT_ELF] = 3, [SYMBOLIZER_E_OTHER_FILE] = 4,
							[SYMBOLIZER_E_NOMEM] = 5 };
	return weight[b] > weight[a] ? b : a;
}

struct elf_file *elf_file_open(struct debuginfo *d, pid_t pid, const char *path, const char *build_id,
			       uint64_t start, uint64_t end, enum symbolizer_error *why)
{
	static const char deleted[] = " (deleted)";
	size_t n = strlen(path);
	bool gone = n > sizeof(deleted) - 1 && strcmp(path + n - (sizeof(deleted) - 1), deleted) == 0;
	struct elf_file *f = NULL;
	*why = SYMBOLIZER_E_NO_FILE;
	for (int way = 0; way < MAPPED_FILE_WAYS && !f; way++) {
		char name[4200];
		int fd = open_mapped_file(pid, path, start, end, (enum mapped_file_way)way, name, sizeof(name));
		if (fd < 0) {
			*why = worse(*why, fd == -EACCES || fd == -EPERM ? SYMBOLIZER_E_NO_ACCESS : SYMBOLIZER_E_NO_FILE);
			continue;
		}
		/* libdwfl looks for .gnu_debuglink targets beside the name it is given. */
		if (way == MAPPED_IN_ROOT)
			debuglink_base(pid, path, name, sizeof(name));
		enum symbolizer_error this_way;
		f = elf_file_matching(d, fd, name, build_id, &this_way);
		*why = f ? SYMBOLIZER_E_OK : worse(*why, this_way);
		if (f) {
			const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
			size_t len = strlen(base) - (gone ? sizeof(deleted) - 1 : 0);
			snprintf(f->display_name, sizeof(f->display_name), "%.*s", (int)len, base);
		}
	}
	return f;
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
	vec_release(&f->aranges);
	vec_release(&f->cu_ranges);
	early_lines_free(f->early);
	free(f->loads);
	vec_release(&f->chains);
	id_hash_release(&f->chain_index);
	vec_release(&f->frames);
	struct cu_index *cus = f->cus.data;
	for (uint32_t i = 0; i < f->cus.count; i++)
		cu_index_release(&cus[i]);
	vec_release(&f->cus);
	symbol_table_release(&f->symbols);
	symbol_table_release(&f->inferred);
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
	struct dwarf_image_early early = { early_lines_read, f };
	char key[sizeof(f->build_id) + sizeof(".debug")];
	struct dwarf_cache_entry cache = { f->debuginfo->cache_dir, key, 0 };
	snprintf(key, sizeof(key), "%s", f->build_id);
	if (has_section(main, ".debug_info")) {
		if ((f->dwarf = dwarf_image_open(main, &early, &cache)))
			f->dwarf_bias = f->bias;
		return;
	}
	snprintf(key, sizeof(key), "%s.debug", f->build_id);
	int fd = debuginfo_open(f->debuginfo, f->fd, file_name);
	Elf *debug = fd >= 0 ? elf_begin(fd, ELF_C_READ_MMAP, NULL) : NULL;
	if (debug && (f->dwarf = dwarf_image_open(debug, &early, &cache)))
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

bool elf_file_has_symbols(struct elf_file *f)
{
	elf_file_symbol_at(f, 0); /* loads the symbol tables */
	return f->symbols.count > 0 || elf_file_has_dwarf(f);
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
int elf_file_named_chain(struct elf_file *f, Dwarf_Addr module_addr, struct inline_frame *out, int n)
{
	if (n > 0 && out[0].name)
		return n;
	const char *name = elf_file_symbol_at(f, module_addr);
	if (!name && n == 0)
		name = elf_file_inferred_name(f, module_addr);
	if (!name)
		return 0;
	if (n == 0)
		out[0] = (struct inline_frame){ NULL, NULL, 0 };
	out[0].name = name;
	return n ? n : 1;
}

/* The slot of vaddr in the chain cache (*slot 0: not cached); NULL when out
 * of memory. */
uint32_t *chain_cache_slot(struct elf_file *f, uint64_t vaddr)
{
	if (id_hash_reserve(&f->chain_index, f->chains.count, chain_rehash, f))
		return NULL;
	return id_hash_probe(&f->chain_index, hash_u64(vaddr), chain_eq, f, &vaddr);
}

/* Caches an answer in its empty slot, when memory allows. */
void chain_cache_put(struct elf_file *f, uint32_t *slot, uint64_t vaddr, const struct inline_frame *frames, int n)
{
	uint32_t first = f->frames.count;
	struct inline_frame *at = n ? vec_push_n(&f->frames, sizeof(*at), (uint32_t)n) : NULL;
	struct cached_chain *c = n && !at ? NULL : vec_push(&f->chains, sizeof(*c));
	if (!c) {
		f->frames.count = first;
		return;
	}
	if (n)
		memcpy(at, frames, (size_t)n * sizeof(*frames));
	*c = (struct cached_chain){ vaddr, first, (uint32_t)n };
	*slot = f->chains.count;
}

int elf_file_lookup(struct elf_file *f, uint64_t vaddr, struct inline_frame *out, int max)
{
	uint32_t *slot = chain_cache_slot(f, vaddr);
	if (slot && *slot) {
		const struct cached_chain *c = (const struct cached_chain *)f->chains.data + (*slot - 1);
		int n = (int)(c->count < (uint32_t)max ? c->count : (uint32_t)max);
		if (n)
			memcpy(out, (const struct inline_frame *)f->frames.data + c->first, (size_t)n * sizeof(*out));
		return n;
	}
	Dwarf_Addr addr = vaddr + f->bias;
	int n = elf_file_named_chain(f, addr, out, elf_file_has_dwarf(f) ? elf_file_dwarf_chain(f, addr, out, max) : 0);
	/* Cached when memory allows (an address with no name too); answered either way. */
	if (slot)
		chain_cache_put(f, slot, vaddr, out, n);
	return n;
}
