/* Names for code a file has no symbols for (a stripped program with no
 * debug file): every function still has its .eh_frame entry, and the
 * start of the entry that covers an address names the function it is in
 * (found through .eh_frame_hdr's table, or, where a static binary has none,
 * an index of .eh_frame made here),
 * as "gzip+0x4300 (inferred)", so that a function's samples add up under
 * one frame instead of one per sampled address. */
#include <dwarf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "symbolizer/elf_file-internal.h"

#define FDE_MAX (1u << 22) /* entries read from one table: far more than any program has */

/* The file offset of a virtual address, through its load segment. */
static bool vaddr_offset(const struct elf_file *f, uint64_t vaddr, uint64_t *offset)
{
	for (uint32_t i = 0; i < f->nloads; i++) {
		const GElf_Phdr *ph = &f->loads[i];
		if (vaddr >= ph->p_vaddr && vaddr < ph->p_vaddr + ph->p_filesz) {
			*offset = vaddr - ph->p_vaddr + ph->p_offset;
			return true;
		}
	}
	return false;
}

/* The .eh_frame_hdr search table: (start, FDE) pairs sorted by start, each
 * a 4-byte offset from the header (datarel | sdata4, what every linker
 * writes; other encodings give no names). */
static const uint8_t *fde_table(Elf *elf, GElf_Phdr *hdr, uint32_t *count)
{
	size_t n;
	if (elf_getphdrnum(elf, &n))
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (!gelf_getphdr(elf, (int)i, hdr) || hdr->p_type != PT_GNU_EH_FRAME || hdr->p_filesz < 12)
			continue;
		Elf_Data *d = elf_getdata_rawchunk(elf, (int64_t)hdr->p_offset, hdr->p_filesz, ELF_T_BYTE);
		const uint8_t *b = d ? d->d_buf : NULL;
		/* version 1; eh_frame_ptr 4 bytes (sdata4 or udata4); count udata4; table datarel sdata4 */
		if (!b || b[0] != 1 || (b[1] & 0x0f) != DW_EH_PE_sdata4 || b[2] != DW_EH_PE_udata4 ||
		    b[3] != (DW_EH_PE_datarel | DW_EH_PE_sdata4))
			return NULL;
		uint32_t c;
		memcpy(&c, b + 8, 4);
		if (c > FDE_MAX || (uint64_t)c * 8 > hdr->p_filesz - 12)
			return NULL;
		*count = c;
		return b + 12;
	}
	return NULL;
}

/* A file stripped of its symbol table (.dynsym may remain: a program's
 * imports, a library's exports). */
static bool stripped(Elf *elf)
{
	for (Elf_Scn *scn = NULL; (scn = elf_nextscn(elf, scn));) {
		GElf_Shdr sh;
		if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_SYMTAB)
			return false;
	}
	return true;
}

static void build_inferred(struct elf_file *f)
{
	f->inferred_built = true;
	GElf_Addr bias;
	Elf *elf = dwfl_module_getelf(f->mod, &bias);
	/* Only where nothing better names code: a file with a symbol table or
	 * debug info leaves what they do not cover (a PLT stub) unnamed, as
	 * addr2line does. */
	if (!elf || !stripped(elf) || elf_file_has_dwarf(f)) {
		symbol_table_finish(&f->inferred);
		return;
	}
	GElf_Phdr hdr;
	uint32_t count = 0;
	const uint8_t *table = fde_table(elf, &hdr, &count);
	uint64_t base = hdr.p_vaddr;
	/* A static binary has no header: its .eh_frame is indexed here. */
	struct eh_frame_index ix = { 0 };
	size_t size;
	const char *raw = table ? NULL : elf_rawfile(elf, &size);
	if (raw && eh_frame_index_build(&ix, (const uint8_t *)raw, size)) {
		table = (const uint8_t *)ix.pairs;
		count = ix.count;
		base = ix.base;
	}
	for (uint32_t i = 0; table && i < count; i++) {
		int32_t rel, next_rel;
		memcpy(&rel, table + 8 * (size_t)i, 4);
		uint64_t start = base + (uint64_t)(int64_t)rel, end = 0, offset;
		if (i + 1 < count) {
			memcpy(&next_rel, table + 8 * ((size_t)i + 1), 4);
			end = base + (uint64_t)(int64_t)next_rel;
		}
		if (!vaddr_offset(f, start, &offset))
			continue;
		char name[300];
		int len = snprintf(name, sizeof(name), "%s+0x%llx (inferred)", f->display_name,
				   (unsigned long long)offset);
		/* Up to the next entry: a function's padding is counted with it. */
		if (symbol_table_add(&f->inferred, start + f->bias, end > start ? end - start : 0, name, (size_t)len, 0))
			break;
	}
	eh_frame_index_release(&ix);
	symbol_table_finish(&f->inferred);
}

const char *elf_file_inferred_name(struct elf_file *f, Dwarf_Addr addr)
{
	if (!f->inferred_built)
		build_inferred(f);
	const struct symbol *s = symbol_table_find(&f->inferred, addr);
	return s ? s->name : NULL;
}
