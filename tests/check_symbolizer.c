/* Unit tests of symbolizer/: demangling, symbol tables, and lookups in a
 * real ELF file (this test's own). */
#include <check.h>
#include <dirent.h>
#include <dwarf.h>
#include <fcntl.h>
#include <gelf.h>
#include <limits.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "symbolizer/die_reader.h"
#include "symbolizer/dwarf_image.h"
#include "symbolizer/elf_file-internal.h"
#include "symbolizer/line_table.h"
#include "symbolizer/symbolizer-internal.h"

struct demangle_case {
	const char *mangled, *want; /* want NULL: left as is */
};

/* Rust v0: the examples of RFC 2603 and the rustc book; Rust legacy; C++;
 * and names that must not change. */
static const struct demangle_case cases[] = {
	{ "_RNvMsr_NtCs3ssYzQotkvD_3std4pathNtB5_7PathBuf3newCs15kBYyAo9fc_7mycrate", "<std::path::PathBuf>::new" },
	{ "_RNvCs15kBYyAo9fc_7mycrate7example", "mycrate::example" },
	{ "_RNvMs_Cs4Cv8Wi1oAIB_7mycrateNtB4_7Example3foo", "<mycrate::Example>::foo" },
	{ "_RNvXCs15kBYyAo9fc_7mycrateNtB2_7ExampleNtB2_5Trait3foo", "<mycrate::Example as mycrate::Trait>::foo" },
	{ "_RNvMCs7qp2U7fqm6G_7mycrateNtB2_7Example3foo", "<mycrate::Example>::foo" },
	{ "_RNvMs_Cs7qp2U7fqm6G_7mycrateNtB4_7Example3bar", "<mycrate::Example>::bar" },
	{ "_RNvYNtCs15kBYyAo9fc_7mycrate7ExampleNtB4_5Trait7exampleB4_", "<mycrate::Example as mycrate::Trait>::example" },
	{ "_RNCNvCsgStHSCytQ6I_7mycrate4main0B3_", "mycrate::main::{closure#0}" },
	{ "_RNCNvCsgStHSCytQ6I_7mycrate4mains_0B3_", "mycrate::main::{closure#1}" },
	{ "_RINvCsgStHSCytQ6I_7mycrate7examplelKj1_EB2_", "mycrate::example::<i32, 1>" },
	{ "_RINvCs7qp2U7fqm6G_7mycrate7exampleFG0_RL1_hRL0_tEuEB2_", "mycrate::example::<for<'a, 'b> fn(&'a u8, &'b u16)>" },
	{ "_RINvCs7qp2U7fqm6G_7mycrate7exampleKy12345678_EB2_", "mycrate::example::<305419896>" },
	{ "_RNvNvMCsd9PVOYlP1UU_7mycrateINtB4_7ExamplepKpE3foo14EXAMPLE_STATIC", "<mycrate::Example<_, _>>::foo::EXAMPLE_STATIC" },
	{ "_RINvCs7qp2U7fqm6G_7mycrate7exampleAtj8_EB2_", "mycrate::example::<[u16; 8]>" },
	{ "_RINvCs7qp2U7fqm6G_7mycrate7exampleNtB2_7ExampleBw_EB2_", "mycrate::example::<mycrate::Example, mycrate::Example>" },
	{ "_RINvMsY_NtCseXNvpPnDBDp_3std4pathNtB6_4Path3neweECs7qp2U7fqm6G_7mycrate", "<std::path::Path>::new::<str>" },
	{ "_RNvNvNvCs7qp2U7fqm6G_7mycrate7EXAMPLE7___getit5___KEY", "mycrate::EXAMPLE::__getit::__KEY" },
	/* Rust legacy: the hash is dropped, $-escapes decoded */
	{ "_ZN3std2io5stdio6_print17h1234567890abcdefE", "std::io::stdio::_print" },
	{ "_ZN4core3fmt9Formatter3pad17h8b2c9b6f5e1e0b6eE", "core::fmt::Formatter::pad" },
	{ "_ZN4core3ptr85drop_in_place$LT$std..rt..lang_start$LT$$LP$$RP$$GT$..$u7b$$u7b$closure$u7d$$u7d$$GT$17h1234567890abcdefE",
	  "core::ptr::drop_in_place<std::rt::lang_start<()>::{{closure}}>" },
	/* C++ */
	{ "_ZN3foo3barEv", "foo::bar()" },
	{ "_ZNSt6vectorIiSaIiEE9push_backERKi", "std::vector<int, std::allocator<int> >::push_back(int const&)" },
	{ "_ZNK6shapes6ScaledIsE4areaEj", "shapes::Scaled<short>::area(unsigned int) const" },
	{ "_ZZ4mainENKUlvE_clEv", "main::{lambda()#1}::operator()() const" },
	/* not mangled, or not understood: unchanged */
	{ "main", NULL },
	{ "_start", NULL },
	{ "_Z", NULL },
	{ "_ZFoo", NULL },
	{ "__libc_start_main", NULL },
};

START_TEST(test_demangle_table)
{
	const struct demangle_case *c = &cases[_i];
	char *got = symbol_demangle(c->mangled);
	if (c->want) {
		ck_assert_msg(got != NULL, "%s: not demangled", c->mangled);
		ck_assert_str_eq(got, c->want);
	} else {
		ck_assert_msg(got == NULL, "%s: demangled to %s", c->mangled, got);
	}
	free(got);
}
END_TEST

/* Hostile names: very long and deeply nested ones come back bounded, or not
 * at all, and never crash. */
START_TEST(test_demangle_bounds)
{
	size_t n = 1 << 20;
	char *name = malloc(n + 1);
	memcpy(name, "_Z", 2);
	memset(name + 2, 'P', n - 3); /* pointer to pointer to ... */
	name[n - 1] = 'i';
	name[n] = '\0';
	char *got = symbol_demangle(name);
	ck_assert_ptr_null(got); /* over the length bound: left alone */
	/* 3000 nested template arguments: within the length bound, past the
	 * recursion limit */
	char *nested = malloc(20000);
	strcpy(nested, "_Z1fI");
	for (int i = 0; i < 3000; i++)
		strcat(nested, "1AI");
	strcat(nested, "i");
	for (int i = 0; i < 3000; i++)
		strcat(nested, "E");
	strcat(nested, "EvT_");
	got = symbol_demangle(nested);
	free(got); /* either way: no crash */
	free(nested);
	free(name);
}
END_TEST

START_TEST(test_symbol_table)
{
	struct symbol_table t = { 0 };
	ck_assert_int_eq(symbol_table_add(&t, 0x2000, 0x10, "b", 1, 0), 0);
	ck_assert_int_eq(symbol_table_add(&t, 0x1000, 0, "a", 1, 0), 0);
	ck_assert_int_eq(symbol_table_add(&t, 0x3000, 0x100, "c", 1, 0), 0);
	/* aliases of 0x3000: the global one names it, whatever the order */
	ck_assert_int_eq(symbol_table_add(&t, 0x3000, 0x100, "c_alias_2", 9, 2), 0);
	ck_assert_int_eq(symbol_table_add(&t, 0x3000, 0x100, "__c_local", 9, 2), 0);
	symbol_table_finish(&t);
	ck_assert_str_eq(symbol_table_find(&t, 0x3000)->name, "c");
	ck_assert_str_eq(symbol_table_find(&t, 0x1000)->name, "a");
	ck_assert_str_eq(symbol_table_find(&t, 0x1fff)->name, "a"); /* unsized: up to the next */
	ck_assert_str_eq(symbol_table_find(&t, 0x200f)->name, "b");
	ck_assert_ptr_null(symbol_table_find(&t, 0x2010));            /* past b's size */
	ck_assert_ptr_null(symbol_table_find(&t, 0xfff));
	ck_assert_ptr_null(symbol_table_find(&t, 0x3100));
	symbol_table_release(&t);
}
END_TEST

/* find applied to each section of path's ELF file until it answers: its
 * answer, or 0. */
static uint64_t in_elf_file(const char *path, uint64_t (*find)(Elf *, Elf_Scn *, const char *), const char *arg)
{
	int fd = open(path, O_RDONLY);
	elf_version(EV_CURRENT);
	Elf *elf = fd >= 0 ? elf_begin(fd, ELF_C_READ, NULL) : NULL;
	uint64_t found = 0;
	for (Elf_Scn *scn = NULL; elf && !found && (scn = elf_nextscn(elf, scn));)
		found = find(elf, scn, arg);
	if (elf)
		elf_end(elf);
	if (fd >= 0)
		close(fd);
	return found;
}

/* The section's address if it is named want. */
static uint64_t section_named(Elf *elf, Elf_Scn *scn, const char *want)
{
	size_t shstrndx;
	GElf_Shdr sh;
	if (elf_getshdrstrndx(elf, &shstrndx) || !gelf_getshdr(scn, &sh))
		return 0;
	const char *name = elf_strptr(elf, shstrndx, sh.sh_name);
	return name && strcmp(name, want) == 0 ? sh.sh_addr : 0;
}

/* The value of the first function symbol of a symbol table section whose
 * name starts with prefix. */
static uint64_t function_named(Elf *elf, Elf_Scn *scn, const char *prefix)
{
	GElf_Shdr sh;
	Elf_Data *d = gelf_getshdr(scn, &sh) && sh.sh_type == SHT_SYMTAB ? elf_getdata(scn, NULL) : NULL;
	for (size_t i = 0; d && sh.sh_entsize && i < sh.sh_size / sh.sh_entsize; i++) {
		GElf_Sym sym;
		const char *name = gelf_getsym(d, (int)i, &sym) ? elf_strptr(elf, sh.sh_link, sym.st_name) : NULL;
		if (name && GELF_ST_TYPE(sym.st_info) == STT_FUNC && strncmp(name, prefix, strlen(prefix)) == 0)
			return sym.st_value;
	}
	return 0;
}

/* Where debug files are looked for: the defaults (each test runs in a
 * process of its own, which ends with it). */
static struct debuginfo *test_debuginfo(void)
{
	static struct debuginfo d;
	static bool ready;
	if (!ready)
		ck_assert_int_eq(debuginfo_init(&d, NULL, false, NULL), 0);
	ready = true;
	return &d;
}

static struct elf_file *open_path(const char *path)
{
	enum symbolizer_error why;
	struct elf_file *f = elf_file_open(test_debuginfo(), 0, path, "", 0, 0, &why);
	ck_assert_msg(f != NULL, "%s: %s", path, symbolizer_strerror(why));
	return f;
}

/* This test's own file, opened by the symbolizer; its path in self. */
static struct elf_file *open_self(char self[PATH_MAX])
{
	ck_assert_ptr_nonnull(realpath("/proc/self/exe", self));
	return open_path(self);
}

/* A file that cannot be used says why: missing, not ELF, another file. */
static int open_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	for (struct dirent *e; d && (e = readdir(d));)
		n++;
	if (d)
		closedir(d);
	return n;
}

START_TEST(test_open_says_why)
{
	enum symbolizer_error why;
	ck_assert_ptr_null(elf_file_open(test_debuginfo(), 0, "/nonexistent/libgone.so", "", 0, 0, &why));
	ck_assert_int_eq(why, SYMBOLIZER_E_NO_FILE);
	ck_assert_ptr_null(elf_file_open(test_debuginfo(), 0, "/etc/hostname", "", 0, 0, &why));
	ck_assert_int_eq(why, SYMBOLIZER_E_NOT_ELF);
	/* A file refused leaves no descriptor open (libdwfl takes one only
	 * with the module it reports). */
	int before = open_fds();
	for (int i = 0; i < 100; i++)
		ck_assert_ptr_null(elf_file_open(test_debuginfo(), 0, "/etc/hostname", "", 0, 0, &why));
	ck_assert_int_eq(open_fds(), before);
	char self[PATH_MAX];
	ck_assert_ptr_nonnull(realpath("/proc/self/exe", self));
	ck_assert_ptr_null(elf_file_open(test_debuginfo(), 0, self, "00112233445566778899aabbccddeeff00112233", 0, 0,
					 &why));
	ck_assert_int_eq(why, SYMBOLIZER_E_OTHER_FILE);
	ck_assert_str_eq(symbolizer_strerror(SYMBOLIZER_E_NO_SYMBOLS), "no symbols: stripped, and no debug file found");

	/* Through the symbolizer: each file that left an address unnamed, with its reason. */
	struct profile p;
	profile_init(&p);
	const char *paths[] = { "/nonexistent/libgone.so", "/etc/hostname", self };
	for (int i = 0; i < 3; i++) {
		struct mapping m = { 0x1000000 * (uint64_t)(i + 1), 0x1000000 * (uint64_t)(i + 1) + 0x1000, 0,
				     (uint32_t)profile_string(&p, paths[i]), 0 };
		int64_t map = profile_add_mapping(&p, &m);
		ck_assert_int_ge(profile_intern_location(&p, m.start + 0x10, (uint32_t)map), 0);
	}
	struct symbolizer *z = symbolizer_new(&(struct symbolizer_options){ .demangle = true });
	ck_assert_int_eq(symbolizer_run(z, &p, NULL, 0, NULL), 0);
	struct symbolizer_file_note notes[4];
	uint32_t n = symbolizer_file_notes(z, notes, 4);
	ck_assert_uint_ge(n, 2);
	ck_assert_str_eq(notes[0].path, "/nonexistent/libgone.so");
	ck_assert_int_eq(notes[0].why, SYMBOLIZER_E_NO_FILE);
	ck_assert_str_eq(notes[1].path, "/etc/hostname");
	ck_assert_int_eq(notes[1].why, SYMBOLIZER_E_NOT_ELF);
	symbolizer_free(z);
	profile_release(&p);
}
END_TEST

/* An unsized function symbol (_init, from crti) reaches the end of its
 * section, not into the PLT after it: a PLT stub is nobody's body. */
START_TEST(test_unsized_symbol_stays_in_its_section)
{
	char self[PATH_MAX];
	struct elf_file *f = open_self(self);
	uint64_t init = in_elf_file(self, section_named, ".init"), plt = in_elf_file(self, section_named, ".plt");
	ck_assert(init && plt > init);
	struct inline_frame frames[INLINE_MAX_FRAMES];
	int n = elf_file_lookup(f, init, frames, INLINE_MAX_FRAMES);
	ck_assert_int_ge(n, 1);
	ck_assert_str_eq(frames[n - 1].name, "_init");
	n = elf_file_lookup(f, plt + 0x10, frames, INLINE_MAX_FRAMES);
	ck_assert_msg(n == 0 || strcmp(frames[n - 1].name, "_init") != 0, "a PLT stub named _init");
	elf_file_close(f);
}
END_TEST

/* The names of a file's CUs, in order, through dbg. */
static int cu_names(Dwarf *dbg, const char **names, int max)
{
	Dwarf_Off off = 0, next;
	size_t header;
	int n = 0;
	while (n < max && dwarf_nextcu(dbg, off, &next, &header, NULL, NULL, NULL) == 0) {
		Dwarf_Die cu;
		names[n++] = dwarf_offdie(dbg, off + header, &cu) ? dwarf_diename(&cu) : NULL;
		off = next;
	}
	return n;
}

/* This test's own binary with its DWARF compressed: the image holds the
 * same CUs as libdw's own reading; an uncompressed file gets no image; a
 * corrupt stream gets none either, without a crash. */
START_TEST(test_dwarf_image)
{
	char self[PATH_MAX], gz[] = "/tmp/smolder-check-gz.XXXXXX", cmd[2 * PATH_MAX + 64];
	ck_assert_ptr_nonnull(realpath("/proc/self/exe", self));
	int fd = mkstemp(gz);
	ck_assert_int_ge(fd, 0);
	close(fd);
	snprintf(cmd, sizeof(cmd), "objcopy --compress-debug-sections=zlib '%s' '%s'", self, gz);
	ck_assert_int_eq(system(cmd), 0);
	elf_version(EV_CURRENT);

	int plain_fd = open(self, O_RDONLY);
	Elf *plain = elf_begin(plain_fd, ELF_C_READ_MMAP, NULL);
	ck_assert_ptr_null(dwarf_image_open(plain, NULL, NULL));
	Dwarf *want = dwarf_begin_elf(plain, DWARF_C_READ, NULL);
	ck_assert_ptr_nonnull(want);

	fd = open(gz, O_RDONLY);
	Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	Dwarf *got = dwarf_image_open(elf, NULL, NULL);
	ck_assert_ptr_nonnull(got);
	const char *a[64], *b[64];
	int na = cu_names(want, a, 64), nb = cu_names(got, b, 64);
	ck_assert_int_gt(na, 0);
	ck_assert_int_eq(na, nb);
	for (int i = 0; i < na; i++)
		ck_assert_str_eq(a[i] ? a[i] : "", b[i] ? b[i] : "");
	dwarf_image_close(got);

	/* Garble .debug_info's stream past its header. */
	size_t shstrndx;
	GElf_Shdr sh = { 0 };
	ck_assert_int_eq(elf_getshdrstrndx(elf, &shstrndx), 0);
	for (Elf_Scn *scn = NULL; (scn = elf_nextscn(elf, scn));)
		if (gelf_getshdr(scn, &sh) && strcmp(elf_strptr(elf, shstrndx, sh.sh_name), ".debug_info") == 0)
			break;
	ck_assert(sh.sh_flags & SHF_COMPRESSED);
	elf_end(elf);
	close(fd);
	fd = open(gz, O_RDWR);
	char junk[64];
	memset(junk, 0x5a, sizeof(junk));
	ck_assert_int_eq(pwrite(fd, junk, sizeof(junk), (off_t)sh.sh_offset + 40), (ssize_t)sizeof(junk));
	elf = elf_begin(fd, ELF_C_READ, NULL);
	ck_assert_ptr_null(dwarf_image_open(elf, NULL, NULL));
	elf_end(elf);
	close(fd);
	unlink(gz);
	dwarf_end(want);
	elf_end(plain);
	close(plain_fd);
}
END_TEST

/* The bytes of a section of elf, as libdw has it (inflated). */
static const uint8_t *section_bytes(Elf *elf, const char *want, size_t *size)
{
	size_t shstrndx;
	*size = 0;
	if (elf_getshdrstrndx(elf, &shstrndx))
		return NULL;
	for (Elf_Scn *scn = NULL; (scn = elf_nextscn(elf, scn));) {
		GElf_Shdr sh;
		Elf_Data *d;
		if (gelf_getshdr(scn, &sh) && strcmp(elf_strptr(elf, shstrndx, sh.sh_name), want) == 0 &&
		    !(sh.sh_flags & SHF_COMPRESSED) && (d = elf_getdata(scn, NULL))) {
			*size = d->d_size;
			return d->d_buf;
		}
	}
	return NULL;
}

/* Every DIE of the unit of cu, walked depth first by die_reader and by libdw
 * side by side: the same offsets and tags, and the same code range where
 * die_reader reads one.  Returns how many DIEs. */
static long compare_die_walks(Dwarf_Die *cu, const struct die_sections *ds)
{
	struct die_unit u;
	ck_assert_int_eq(die_unit_open(&u, ds, dwarf_dieoffset(cu) - dwarf_cuoffset(cu)), 0);
	struct die own[256], root;
	Dwarf_Die dw[256];
	int level = 0, dw_level = 0;
	long dies = 0;
	ck_assert(die_at(&u, dwarf_dieoffset(cu), &root));
	bool more = die_child(&u, &root, &own[0]);
	ck_assert_int_eq(more, dwarf_child(cu, &dw[0]) == 0);
	while (more) {
		ck_assert_uint_eq(own[level].offset, dwarf_dieoffset(&dw[dw_level]));
		ck_assert_int_eq(level, dw_level);
		ck_assert_int_eq((int)own[level].abbrev->tag, dwarf_tag(&dw[level]));
		uint64_t lo, hi;
		Dwarf_Addr base, dlo, dhi;
		int r = die_pc_range(&u, &own[level], &lo, &hi);
		ptrdiff_t off = dwarf_ranges(&dw[level], 0, &base, &dlo, &dhi);
		if (r == 1) {
			ck_assert_int_gt(off, 0);
			ck_assert_uint_eq(lo, dlo);
			ck_assert_uint_eq(hi, dhi);
			ck_assert_int_eq(dwarf_ranges(&dw[level], off, &base, &dlo, &dhi), 0);
		} else if (r == 0) {
			ck_assert_int_eq(off, 0);
		}
		dies++;
		if (die_child(&u, &own[level], &own[level + 1])) {
			ck_assert_int_eq(dwarf_child(&dw[level], &dw[level + 1]), 0);
			level++;
			dw_level++;
			continue;
		}
		ck_assert(!dwarf_haschildren(&dw[level]) || dwarf_child(&dw[level], &dw[level + 1]) != 0);
		struct die next;
		uint64_t after;
		more = die_sibling(&u, &own[level], &next, &after) || (after && die_after(&u, after, &level, &next));
		if (more)
			own[level] = next;
		/* libdw: the same climb */
		while (dwarf_siblingof(&dw[dw_level], &dw[dw_level]) != 0 && dw_level > 0)
			dw_level--;
		if (!more)
			ck_assert(dw_level == 0);
	}
	die_unit_release(&u);
	return dies;
}

/* cu's line table read by line_table.c and by libdw: for every row's
 * address, and the bytes just before, the same line and file; the same
 * path for every file index.  Returns how many rows. */
static long compare_line_tables(Dwarf_Die *cu, const struct line_sections *ls)
{
	Dwarf_Attribute a;
	Dwarf_Word offset;
	uint8_t address_size;
	Dwarf_Lines *lines;
	Dwarf_Files *files;
	size_t nlines, nfiles;
	if (dwarf_formudata(dwarf_attr(cu, DW_AT_stmt_list, &a), &offset) != 0)
		return 0;
	ck_assert_int_eq(dwarf_cu_info(cu->cu, NULL, NULL, NULL, NULL, NULL, &address_size, NULL), 0);
	ck_assert_int_eq(dwarf_getsrclines(cu, &lines, &nlines), 0);
	ck_assert_int_eq(dwarf_getsrcfiles(cu, &files, &nfiles), 0);
	struct line_table t;
	ck_assert_int_eq(line_table_read(&t, ls, offset, address_size, dwarf_formstring(dwarf_attr(cu, DW_AT_comp_dir, &a))), 0);
	ck_assert_uint_eq(t.rows.count, nlines);
	for (size_t i = 0; i < nfiles; i++) {
		const char *want = dwarf_filesrc(files, i, NULL, NULL);
		ck_assert_str_eq(line_table_path(&t, (uint32_t)i), want);
	}
	ck_assert_ptr_null(line_table_path(&t, (uint32_t)nfiles));
	for (size_t i = 0; i < nlines; i++) {
		Dwarf_Addr at;
		dwarf_lineaddr(dwarf_onesrcline(lines, i), &at);
		for (Dwarf_Addr addr = at - 1; addr <= at; addr++) {
			Dwarf_Line *want = dwarf_getsrc_die(cu, addr);
			const struct line_row *got = line_table_find(&t, addr);
			ck_assert_int_eq(want != NULL, got != NULL);
			if (!want)
				continue;
			int line;
			dwarf_lineno(want, &line);
			ck_assert_int_eq((int)got->line, line);
			ck_assert_str_eq(line_table_path(&t, got->file & ~LINE_ROW_END), dwarf_linesrc(want, NULL, NULL));
		}
	}
	line_table_release(&t);
	return (long)nlines;
}

/* Both readers against libdw over every CU of the file at path (with the
 * image of dwarf_image.c when its DWARF is compressed). */
static void compare_readers(const char *path, long *dies, long *rows)
{
	elf_version(EV_CURRENT);
	int fd = open(path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	Dwarf *image = dwarf_image_open(elf, NULL, NULL), *dbg = image ? image : dwarf_begin_elf(elf, DWARF_C_READ, NULL);
	ck_assert_ptr_nonnull(dbg);
	Elf *sections = dwarf_getelf(dbg);
	struct die_sections ds;
	struct line_sections ls;
	ds.info = section_bytes(sections, ".debug_info", &ds.info_size);
	ds.abbrev = section_bytes(sections, ".debug_abbrev", &ds.abbrev_size);
	ls.line = section_bytes(sections, ".debug_line", &ls.line_size);
	ls.str = section_bytes(sections, ".debug_str", &ls.str_size);
	ls.line_str = section_bytes(sections, ".debug_line_str", &ls.line_str_size);
	ck_assert(ds.info && ds.abbrev && ls.line);
	Dwarf_Off off = 0, next;
	size_t header;
	*dies = *rows = 0;
	while (dwarf_nextcu(dbg, off, &next, &header, NULL, NULL, NULL) == 0) {
		Dwarf_Die cu;
		ck_assert_ptr_nonnull(dwarf_offdie(dbg, off + header, &cu));
		*dies += compare_die_walks(&cu, &ds);
		*rows += compare_line_tables(&cu, &ls);
		off = next;
	}
	if (image)
		dwarf_image_close(image);
	else
		dwarf_end(dbg);
	elf_end(elf);
	close(fd);
}

static size_t put_uleb(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	do {
		p[n] = (uint8_t)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
		v >>= 7;
		n++;
	} while (v);
	return n;
}

/* One sequence of a DWARF 4 line program: rows at addr, addr + step, ...
 * with lines from line, then its end at step past the last. */
static size_t put_sequence(uint8_t *p, uint64_t addr, uint32_t line, int rows, uint8_t step)
{
	size_t n = 0;
	p[n++] = 0, p[n++] = 9, p[n++] = DW_LNE_set_address;
	memcpy(p + n, &addr, 8);
	n += 8;
	p[n++] = DW_LNS_advance_line;
	n += put_uleb(p + n, line - 1); /* small: the same in SLEB128 */
	for (int i = 0; i < rows; i++) {
		if (i)
			p[n++] = DW_LNS_advance_line, p[n++] = 1;
		p[n++] = DW_LNS_copy;
		p[n++] = DW_LNS_advance_pc, p[n++] = step;
	}
	p[n++] = 0, p[n++] = 1, p[n++] = DW_LNE_end_sequence;
	return n;
}

/* Sequences out of address order, two overlapping (as the linker leaves
 * dropped code's): the rows libdw's order gives, whatever the order the
 * program wrote them in; the end of a sequence only where no row follows. */
/* A smallest image as dwarf_image.c lays one out: its header, filler, and
 * two section headers at the end. */
static void fake_image(unsigned char *image, size_t size)
{
	memset(image, 0, size);
	Elf64_Ehdr *eh = (Elf64_Ehdr *)image;
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_shentsize = sizeof(Elf64_Shdr);
	eh->e_shnum = 2;
	eh->e_shstrndx = 1;
	eh->e_shoff = size - 2 * sizeof(Elf64_Shdr);
}

/* Kept images load whole or not at all, and the least recently used go
 * first when the directory is over its limit. */
START_TEST(test_dwarf_cache)
{
	char dir[] = "/tmp/check-dwarf-cache.XXXXXX", path[256];
	ck_assert_ptr_nonnull(mkdtemp(dir));
	unsigned char image[1024];
	fake_image(image, sizeof(image));
	uint64_t size = 0;
	struct dwarf_cache_entry a = { dir, "aa", 2560 }, b = { dir, "bb", 2560 }, c = { dir, "cc", 2560 },
				 bad = { dir, "../aa", 2560 };
	ck_assert_ptr_null(dwarf_cache_load(&a, &size)); /* nothing kept yet */
	dwarf_cache_store(&a, image, sizeof(image));
	dwarf_cache_store(&bad, image, sizeof(image)); /* not a name in the directory */
	unsigned char *got = dwarf_cache_load(&a, &size);
	ck_assert_ptr_nonnull(got);
	ck_assert_uint_eq(size, sizeof(image));
	ck_assert_int_eq(memcmp(got, image, sizeof(image)), 0);
	munmap(got, size);
	/* Cut short: not taken. */
	snprintf(path, sizeof(path), "%s/dwarf-1/aa.dwarf", dir);
	ck_assert_int_eq(truncate(path, 1000), 0);
	ck_assert_ptr_null(dwarf_cache_load(&a, &size));
	dwarf_cache_store(&a, image, sizeof(image));
	/* a kept before b, then a used again, then c kept: 3 KiB is over
	 * 2.5, and b, the least recently used, goes.  (Set apart by hand: a
	 * file's times move by the clock's tick.) */
	dwarf_cache_store(&b, image, sizeof(image));
	time_t now = time(NULL);
	char path_b[256];
	snprintf(path_b, sizeof(path_b), "%s/dwarf-1/bb.dwarf", dir);
	ck_assert_int_eq(utimensat(AT_FDCWD, path, (struct timespec[2]){ { now - 200, 0 }, { now - 200, 0 } }, 0), 0);
	ck_assert_int_eq(utimensat(AT_FDCWD, path_b, (struct timespec[2]){ { now - 100, 0 }, { now - 100, 0 } }, 0), 0);
	ck_assert_ptr_nonnull(got = dwarf_cache_load(&a, &size));
	munmap(got, size);
	dwarf_cache_store(&c, image, sizeof(image));
	ck_assert_ptr_null(dwarf_cache_load(&b, &size));
	ck_assert_ptr_nonnull(got = dwarf_cache_load(&a, &size));
	munmap(got, size);
	ck_assert_ptr_nonnull(got = dwarf_cache_load(&c, &size));
	munmap(got, size);
	/* A store's temporary file an hour old (its recorder died writing it)
	 * goes at the next store; a fresh one (a store under way) stays. */
	char stale[300], fresh[300];
	snprintf(stale, sizeof(stale), "%s/dwarf-1/ee.dwarf.partial", dir);
	snprintf(fresh, sizeof(fresh), "%s/dwarf-1/ff.dwarf.partial.2", dir);
	for (int i = 0; i < 2; i++) {
		FILE *f = fopen(i ? fresh : stale, "w");
		ck_assert_ptr_nonnull(f);
		fclose(f);
	}
	ck_assert_int_eq(utimensat(AT_FDCWD, stale, (struct timespec[2]){ { now - 7200, 0 }, { now - 7200, 0 } }, 0), 0);
	dwarf_cache_store(&c, image, sizeof(image));
	ck_assert_int_ne(access(stale, F_OK), 0);
	ck_assert_int_eq(access(fresh, F_OK), 0);
	/* Larger than half the limit: not kept. */
	struct dwarf_cache_entry small = { dir, "dd", 2000 };
	dwarf_cache_store(&small, image, sizeof(image));
	ck_assert_ptr_null(dwarf_cache_load(&small, &size));
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(test_line_table_sequences)
{
	static const uint8_t header[] = { 1, 1, 1, (uint8_t)-5, 14, 13, 0, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 1,
					  'd', 'i', 'r', 0, 0, 'a', '.', 'c', 0, 1, 0, 0, 0 };
	uint8_t buf[512];
	size_t n = 4 + 2 + 4;
	memcpy(buf + n, header, sizeof(header));
	n += sizeof(header);
	uint32_t header_length = (uint32_t)(n - 10), unit_length;
	n += put_sequence(buf + n, 0x1000, 10, 2, 0x10); /* 0x1000: 10, 0x1010: 11, end 0x1020 */
	n += put_sequence(buf + n, 0x1008, 20, 2, 0x4);  /* 0x1008: 20, 0x100c: 21, end 0x1010 */
	n += put_sequence(buf + n, 0x500, 30, 1, 0x10);  /* 0x500: 30, end 0x510 */
	unit_length = (uint32_t)(n - 4);
	memcpy(buf, &unit_length, 4);
	buf[4] = 4, buf[5] = 0;
	memcpy(buf + 6, &header_length, 4);
	struct line_sections ls = { buf, NULL, NULL, n, 0, 0 };
	struct line_table t;
	ck_assert_int_eq(line_table_read(&t, &ls, 0, 8, NULL), 0);
	static const struct {
		uint64_t addr;
		uint32_t line; /* 0: none */
	} want[] = { { 0x4ff, 0 },   { 0x500, 30 },  { 0x50f, 30 },  { 0x510, 0 },   { 0xfff, 0 },
		     { 0x1004, 10 }, { 0x1008, 20 }, { 0x100c, 21 }, { 0x1010, 11 }, { 0x101f, 11 },
		     { 0x1020, 0 } };
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const struct line_row *r = line_table_find(&t, want[i].addr);
		ck_assert_msg((r ? r->line : 0) == want[i].line, "%#lx: line %u, want %u", (unsigned long)want[i].addr,
			      r ? r->line : 0, want[i].line);
	}
	ck_assert_str_eq(line_table_path(&t, 0), "???");
	ck_assert_str_eq(line_table_path(&t, 1), "dir/a.c");
	ck_assert_ptr_null(line_table_path(&t, 2));
	line_table_release(&t);
}
END_TEST

/* A C++ program of templates, lambdas and inlined calls, built here. */
static const char cpp_source[] =
	"#include <algorithm>\n#include <map>\n#include <string>\n#include <vector>\n"
	"namespace outer { template <typename T> struct box { T v; T get() const { return v * 2; } }; }\n"
	"static inline int twice(int x) { return x + x; }\n"
	"int main(int argc, char **argv) {\n"
	"\tstd::vector<int> v(argc * 100);\n\tstd::map<std::string, int> m;\n"
	"\tfor (int i = 0; i < (int)v.size(); i++) v[i] = twice(i) ^ argc;\n"
	"\tstd::sort(v.begin(), v.end(), [&](int a, int b) { return outer::box<int>{a}.get() < b + argc; });\n"
	"\tm[argv[0]] = v[0];\n\treturn m.size() + v[1];\n}\n";

/* die_reader.c and line_table.c read what libdw reads, DIE for DIE and row
 * for row: this test's own DWARF 5 (C), and a C++ program built here with
 * DWARF 4 (.debug_ranges, include_directories), DWARF 5 and compressed. */
START_TEST(test_dwarf_readers_equal_libdw)
{
	char self[PATH_MAX];
	ck_assert_ptr_nonnull(realpath("/proc/self/exe", self));
	long dies, rows;
	compare_readers(self, &dies, &rows);
	ck_assert_int_gt(dies, 1000);
	ck_assert_int_gt(rows, 1000);
	static const char *const flags[] = { "-gdwarf-4", "-gdwarf-5", "-gdwarf-5 -gz" };
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		char dir[] = "/tmp/smolder-check-cpp.XXXXXX", cmd[2 * PATH_MAX + 64], src[PATH_MAX], bin[PATH_MAX];
		ck_assert_ptr_nonnull(mkdtemp(dir));
		snprintf(src, sizeof(src), "%s/p.cc", dir);
		snprintf(bin, sizeof(bin), "%s/p", dir);
		FILE *f = fopen(src, "w");
		ck_assert_ptr_nonnull(f);
		fputs(cpp_source, f);
		fclose(f);
		snprintf(cmd, sizeof(cmd), "g++ -O2 %s -o '%s' '%s'", flags[i], bin, src);
		ck_assert_int_eq(system(cmd), 0);
		compare_readers(bin, &dies, &rows);
		ck_assert_int_gt(dies, 1000);
		ck_assert_int_gt(rows, 100);
		unlink(src);
		unlink(bin);
		rmdir(dir);
	}
}
END_TEST

/* A GNU C nested function (gcc puts its DIE under its parent's abstract
 * DIE, which the first walk of a CU enters): its DWARF name and line, not
 * the ELF symbol's (nested_step.0, no line).  The DIE of a function within
 * another's code is tests/symbolizer.sh's lambda. */
__attribute__((noinline)) static int with_nested(int x)
{
	__attribute__((noinline)) int nested_step(int y)
	{
		return y * 3 + 1;
	}
	return nested_step(x) + nested_step(x + 1);
}

START_TEST(test_nested_function_found)
{
	char self[PATH_MAX];
	struct elf_file *f = open_self(self);
	ck_assert_int_eq(with_nested(1), 11);
	uint64_t nested = in_elf_file(self, function_named, "nested_step");
	ck_assert(nested != 0);
	struct inline_frame frames[INLINE_MAX_FRAMES];
	int n = elf_file_lookup(f, nested, frames, INLINE_MAX_FRAMES);
	ck_assert_int_ge(n, 1);
	ck_assert_str_eq(frames[n - 1].name, "nested_step");
	ck_assert_uint_gt(frames[n - 1].line, 0);
	elf_file_close(f);
}
END_TEST

/* Up to max addresses in this binary's sized functions (their middles). */
static uint32_t function_middles(const char *path, uint64_t *out, uint32_t max)
{
	int fd = open(path, O_RDONLY);
	Elf *elf = fd >= 0 ? elf_begin(fd, ELF_C_READ, NULL) : NULL;
	uint32_t n = 0;
	for (Elf_Scn *scn = NULL; elf && (scn = elf_nextscn(elf, scn));) {
		GElf_Shdr sh;
		Elf_Data *d = gelf_getshdr(scn, &sh) && sh.sh_type == SHT_SYMTAB ? elf_getdata(scn, NULL) : NULL;
		for (size_t i = 0; d && sh.sh_entsize && i < sh.sh_size / sh.sh_entsize && n < max; i++) {
			GElf_Sym sym;
			if (gelf_getsym(d, (int)i, &sym) && GELF_ST_TYPE(sym.st_info) == STT_FUNC && sym.st_size &&
			    sym.st_shndx != SHN_UNDEF)
				out[n++] = sym.st_value + sym.st_size / 2;
		}
	}
	if (elf)
		elf_end(elf);
	if (fd >= 0)
		close(fd);
	return n;
}

static bool same_text(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

/* A CU is found by .debug_aranges read here (not libdw's dwarf_getaranges,
 * 10 ms for libc's) and it is the CU libdw finds, for every function of
 * this binary. */
START_TEST(test_aranges_equal_libdw)
{
	char self[PATH_MAX];
	struct elf_file *f = open_self(self);
	ck_assert(elf_file_has_dwarf(f));
	static uint64_t addrs[4000];
	uint32_t n = function_middles(self, addrs, 4000), found = 0;
	ck_assert_uint_gt(n, 100);
	for (uint32_t i = 0; i < n; i++) {
		Dwarf_Addr addr = addrs[i] + f->bias - f->dwarf_bias;
		Dwarf_Die ours, libdw;
		bool here = elf_file_cu_die(f, addr, &ours);
		ck_assert_int_eq(here, dwarf_addrdie(f->dwarf, addr, &libdw) != NULL);
		if (here) {
			ck_assert_uint_eq(dwarf_dieoffset(&ours), dwarf_dieoffset(&libdw));
			found++;
		}
	}
	ck_assert_int_eq(f->aranges_state, 1);
	ck_assert_uint_gt(found, 100);
	elf_file_close(f);
}
END_TEST

static void put_le(uint8_t **p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		*(*p)++ = (uint8_t)(v >> (8 * i));
}

/* A set's header, DWARF version 2, 8-byte addresses, then its padding. */
static void put_aranges_header(uint8_t **p, unsigned offset_size, uint64_t length, uint64_t unit, int padding)
{
	if (offset_size == 8)
		put_le(p, 0xffffffff, 4);
	put_le(p, length, (int)offset_size);
	put_le(p, 2, 2);
	put_le(p, unit, (int)offset_size);
	put_le(p, 8, 1);
	put_le(p, 0, 1);
	put_le(p, 0, padding);
}

/* Sets of both offset sizes, their tuples aligned from the set's start;
 * what DWARF does not allow is refused whole. */
START_TEST(test_aranges_sets)
{
	uint8_t bytes[256], *p = bytes;
	put_aranges_header(&p, 4, 2 + 4 + 1 + 1 + 4 + 3 * 16, 0x40, 4); /* header 12 bytes, 4 of padding */
	put_le(&p, 0x2000, 8), put_le(&p, 0x100, 8);
	put_le(&p, 0x1000, 8), put_le(&p, 0x10, 8);
	put_le(&p, 0, 8), put_le(&p, 0, 8);
	put_aranges_header(&p, 8, 2 + 8 + 1 + 1 + 8 + 2 * 16, 0x1234567890, 8); /* header 24 bytes, 8 of padding */
	put_le(&p, 0x1800, 8), put_le(&p, 0x8, 8);
	put_le(&p, 0, 8), put_le(&p, 0, 8);
	size_t size = (size_t)(p - bytes);
	struct vec v = { 0 };
	ck_assert(cu_ranges_from_aranges(&v, bytes, size));
	const struct cu_range *r = v.data;
	ck_assert_uint_eq(v.count, 3);
	ck_assert(r[0].lo == 0x1000 && r[0].hi == 0x1010 && r[0].unit == 0x40);
	ck_assert(r[1].lo == 0x1800 && r[1].hi == 0x1808 && r[1].unit == 0x1234567890);
	ck_assert(r[2].lo == 0x2000 && r[2].hi == 0x2100 && r[2].unit == 0x40);
	vec_release(&v);
	uint8_t bad[256];
	for (size_t cut = 1; cut < size; cut++) /* every cut but the one between the sets */
		ck_assert(cut == 64 || !cu_ranges_from_aranges(&v, bytes, cut));
	ck_assert(cu_ranges_from_aranges(&v, bytes, 64));
	ck_assert_uint_eq(v.count, 2);
	vec_release(&v);
	memcpy(bad, bytes, size);
	bad[4] = 3; /* version */
	ck_assert(!cu_ranges_from_aranges(&v, bad, size));
	memcpy(bad, bytes, size);
	bad[10] = 3; /* address size */
	ck_assert(!cu_ranges_from_aranges(&v, bad, size));
	memcpy(bad, bytes, size);
	bad[11] = 1; /* segment selectors */
	ck_assert(!cu_ranges_from_aranges(&v, bad, size));
	ck_assert(!cu_ranges_from_aranges(&v, bytes, 0));
	ck_assert_uint_eq(v.count, 0);
}
END_TEST

/* elf_file_prepare's answers (CUs spread over threads, each with its own
 * reader) are the lookups' own: this binary (many CUs, plain DWARF) and
 * its copy with compressed DWARF (an inflated image). */
START_TEST(test_prepared_answers_equal_lookups)
{
	char self[PATH_MAX], gz[] = "/tmp/smolder-check-prep.XXXXXX", cmd[2 * PATH_MAX + 64];
	struct elf_file *plain = open_self(self);
	elf_file_close(plain);
	int fd = mkstemp(gz);
	ck_assert_int_ge(fd, 0);
	close(fd);
	snprintf(cmd, sizeof(cmd), "objcopy --compress-debug-sections=zlib '%s' '%s'", self, gz);
	ck_assert_int_eq(system(cmd), 0);
	static uint64_t addrs[4000];
	uint32_t n = function_middles(self, addrs, 4000);
	ck_assert_uint_gt(n, 100);
	const char *paths[] = { self, gz };
	for (int p = 0; p < 2; p++) {
		struct elf_file *prepared = open_path(paths[p]), *lazy = open_path(paths[p]);
		elf_file_prepare(prepared, addrs, n);
		uint32_t named = 0;
		for (uint32_t i = 0; i < n; i++) {
			struct inline_frame a[INLINE_MAX_FRAMES], b[INLINE_MAX_FRAMES];
			int na = elf_file_lookup(prepared, addrs[i], a, INLINE_MAX_FRAMES);
			int nb = elf_file_lookup(lazy, addrs[i], b, INLINE_MAX_FRAMES);
			ck_assert_int_eq(na, nb);
			for (int k = 0; k < na; k++) {
				ck_assert_msg(same_text(a[k].name, b[k].name) && same_text(a[k].file, b[k].file) &&
						      a[k].line == b[k].line,
					      "%s %#llx frame %d: %s %s:%u vs %s %s:%u", paths[p], (unsigned long long)addrs[i], k,
					      a[k].name, a[k].file, a[k].line, b[k].name, b[k].file, b[k].line);
			}
			named += na > 0 && a[na - 1].line > 0;
		}
		ck_assert_uint_ge(named, 50); /* smolder's own functions (Check and libiberty have no DWARF) */
		elf_file_close(prepared);
		elf_file_close(lazy);
	}
	unlink(gz);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("symbolizer");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 120); /* a test builds a C++ program three times */
	tcase_add_loop_test(tc, test_demangle_table, 0, (int)(sizeof(cases) / sizeof(cases[0])));
	tcase_add_test(tc, test_demangle_bounds);
	tcase_add_test(tc, test_symbol_table);
	tcase_add_test(tc, test_unsized_symbol_stays_in_its_section);
	tcase_add_test(tc, test_open_says_why);
	tcase_add_test(tc, test_dwarf_image);
	tcase_add_test(tc, test_dwarf_cache);
	tcase_add_test(tc, test_dwarf_readers_equal_libdw);
	tcase_add_test(tc, test_line_table_sequences);
	tcase_add_test(tc, test_nested_function_found);
	tcase_add_test(tc, test_prepared_answers_equal_lookups);
	tcase_add_test(tc, test_aranges_equal_libdw);
	tcase_add_test(tc, test_aranges_sets);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
