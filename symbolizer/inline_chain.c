/* An address's inline chain, innermost first, from its CU's index and line
 * table, named as addr2line -i names it (the ELF symbol where DWARF has no
 * linkage name in a language that mangles). */
#include <dwarf.h>
#include <stdlib.h>
#include <string.h>

#include "symbolizer/elf_file-internal.h"

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
const char *elf_file_symbol_at(struct elf_file *f, Dwarf_Addr addr)
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
		Dwarf_Die unit = cu_unit_die(cudie);
		if (unit.addr != cudie->addr || dwarf_formudata(dwarf_attr(cudie, DW_AT_stmt_list, &a), &offset) != 0 ||
		    dwarf_cu_info(cudie->cu, NULL, NULL, NULL, NULL, NULL, &address_size, NULL) != 0)
			return NULL;
		const char *comp_dir = dwarf_formstring(dwarf_attr(cudie, DW_AT_comp_dir, &a));
		if (address_size == 8 && early_lines_take(f->early, offset, &ix->lines)) {
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
int cu_chain(struct elf_file *f, struct cu_index *ix, Dwarf_Die *cudie, Dwarf_Addr addr,
		       struct inline_frame *out, int max)
{
	Dwarf_Addr module_addr = addr + f->dwarf_bias;
	Dwarf_Die unit = cu_unit_die(cudie);
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
			const char *symbol = elf_file_symbol_at(f, module_addr);
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

int elf_file_dwarf_chain(struct elf_file *f, Dwarf_Addr module_addr, struct inline_frame *out, int max)
{
	Dwarf_Addr addr = module_addr - f->dwarf_bias;
	Dwarf_Die cudie;
	if (!elf_file_cu_die(f, addr, &cudie))
		return 0;
	return cu_chain(f, cu_index_for(f, &cudie), &cudie, addr, out, max);
}
