/* agent/modules.c: the process's modules as the loader left them.
 * Private to the agent. */
#ifndef SMOLDER_AGENT_MODULES_H
#define SMOLDER_AGENT_MODULES_H

#include <link.h>
#include <stdbool.h>
#include <stdint.h>

/* A module's dynamic symbols and the relocations that fill its GOT. */
struct module_tables {
	const ElfW(Sym) *symtab;
	const char *strtab;
	const ElfW(Rela) *rel[2]; /* DT_JMPREL's (the PLT's), DT_RELA's */
	size_t rel_size[2];
};

/* A module's tables; false if it has none we can read (no dynamic
 * section, or REL relocations). */
bool module_tables(const struct dl_phdr_info *info, struct module_tables *t);

/* The symbol of a GOT relocation: a call's (JUMP_SLOT) or an address's
 * (GLOB_DAT); NULL for any other relocation. */
const ElfW(Sym) *got_symbol(const struct module_tables *t, const ElfW(Rela) *r);

/* Whether one of the module's segments of a type (PT_LOAD, PT_GNU_RELRO)
 * holds addr. */
bool segment_holds(const struct dl_phdr_info *info, uint32_t type, uintptr_t addr);

/* The function a call of name reaches, as the process's own lookups find
 * it (an allocator it brings, or one preloaded before us, included).
 * dlsym's answer, unless it is a PLT entry: a program linked without PIE
 * that takes an imported function's address makes its PLT entry the
 * function's address for everyone (Debian's python3.11 takes malloc's),
 * and that entry jumps through the very GOT entry the hook replaces: the
 * hook would call itself until the stack ran out.  Then the first module
 * after it that defines the name. */
void *real_function(const char *name);

#endif
