/* The process's modules as the loader left them: their dynamic tables,
 * and the function a name's calls reach. */
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "agent/modules.h"

/* glibc relocates the pointers of a writable dynamic section; the vdso's
 * and a read-only one's are still addresses in the file. */
static uintptr_t dyn_address(const struct dl_phdr_info *info, uintptr_t v)
{
	return v < info->dlpi_addr ? v + info->dlpi_addr : v;
}

bool module_tables(const struct dl_phdr_info *info, struct module_tables *t)
{
	const ElfW(Dyn) *dyn = NULL;
	for (int i = 0; i < info->dlpi_phnum; i++)
		if (info->dlpi_phdr[i].p_type == PT_DYNAMIC)
			dyn = (const ElfW(Dyn) *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
	if (!dyn)
		return false;
	memset(t, 0, sizeof(*t));
	bool rela_plt = true;
	for (; dyn->d_tag != DT_NULL; dyn++) {
		switch (dyn->d_tag) {
		case DT_SYMTAB: t->symtab = (const ElfW(Sym) *)dyn_address(info, dyn->d_un.d_ptr); break;
		case DT_STRTAB: t->strtab = (const char *)dyn_address(info, dyn->d_un.d_ptr); break;
		case DT_JMPREL: t->rel[0] = (const ElfW(Rela) *)dyn_address(info, dyn->d_un.d_ptr); break;
		case DT_PLTRELSZ: t->rel_size[0] = dyn->d_un.d_val; break;
		case DT_PLTREL: rela_plt = dyn->d_un.d_val == DT_RELA; break;
		case DT_RELA: t->rel[1] = (const ElfW(Rela) *)dyn_address(info, dyn->d_un.d_ptr); break;
		case DT_RELASZ: t->rel_size[1] = dyn->d_un.d_val; break;
		}
	}
	return t->symtab && t->strtab && rela_plt;
}

const ElfW(Sym) *got_symbol(const struct module_tables *t, const ElfW(Rela) *r)
{
	unsigned type = ELF64_R_TYPE(r->r_info);
	return type == R_X86_64_JUMP_SLOT || type == R_X86_64_GLOB_DAT ? &t->symtab[ELF64_R_SYM(r->r_info)] : NULL;
}

bool segment_holds(const struct dl_phdr_info *info, uint32_t type, uintptr_t addr)
{
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type == type && addr >= info->dlpi_addr + ph->p_vaddr &&
		    addr < info->dlpi_addr + ph->p_vaddr + ph->p_memsz)
			return true;
	}
	return false;
}

struct stub_check {
	const char *name;
	uintptr_t addr; /* dlsym's answer */
	bool stub;      /* addr is a module's PLT entry for name */
};

/* Whether a GOT entry of the module is filled with name from elsewhere. */
static bool imports(const struct module_tables *t, const char *name)
{
	for (int which = 0; which < 2; which++)
		for (size_t i = 0; t->rel[which] && i < t->rel_size[which] / sizeof(ElfW(Rela)); i++) {
			const ElfW(Sym) *sym = got_symbol(t, &t->rel[which][i]);
			if (sym && sym->st_shndx == SHN_UNDEF && strcmp(t->strtab + sym->st_name, name) == 0)
				return true;
		}
	return false;
}

/* Whether the module holding the address imports the name: then the
 * address is its PLT entry, not the function. */
static int check_stub(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	struct stub_check *l = arg;
	struct module_tables t;
	if (!segment_holds(info, PT_LOAD, l->addr))
		return 0;
	l->stub = module_tables(info, &t) && imports(&t, l->name);
	return 1;
}

struct nth_module {
	unsigned n;
	struct dl_phdr_info info; /* its first four fields, which every libc gives */
	bool found;
};

static int nth_module(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	struct nth_module *m = arg;
	if (m->n--)
		return 0;
	m->info.dlpi_addr = info->dlpi_addr;
	m->info.dlpi_name = info->dlpi_name;
	m->info.dlpi_phdr = info->dlpi_phdr;
	m->info.dlpi_phnum = info->dlpi_phnum;
	m->found = true;
	return 1;
}

/* The first module, in the loader's order, that defines the name itself
 * (other than the one holding the stub).  Looked up one module at a time,
 * outside dl_iterate_phdr: dlopen within its callback would take the
 * loader's lock inside the one it holds (recursive in glibc, not in every
 * libc). */
static void *definition_after_stub(const char *name, uintptr_t stub)
{
	for (unsigned k = 0;; k++) {
		struct nth_module m = { .n = k };
		dl_iterate_phdr(nth_module, &m);
		if (!m.found)
			return NULL;
		const struct dl_phdr_info *info = &m.info;
		if (!info->dlpi_name || !info->dlpi_name[0] || segment_holds(info, PT_LOAD, stub))
			continue; /* the program (dlopen would hand back the global scope), or the stub's */
		void *h = dlopen(info->dlpi_name, RTLD_LAZY | RTLD_NOLOAD);
		if (!h)
			continue;
		void *f = dlsym(h, name);
		dlclose(h);
		if (f && segment_holds(info, PT_LOAD, (uintptr_t)f))
			return f; /* else not there, or in one of its dependencies, met in its turn */
	}
}

void *real_function(const char *name)
{
	struct stub_check l = { name, (uintptr_t)dlsym(RTLD_DEFAULT, name), false };
	if (!l.addr)
		return NULL;
	dl_iterate_phdr(check_stub, &l);
	return l.stub ? definition_after_stub(name, l.addr) : (void *)l.addr;
}
