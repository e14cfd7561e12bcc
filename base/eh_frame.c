/* The search table of an .eh_frame that has no .eh_frame_hdr.  Linkers
 * write the header (and its PT_GNU_EH_FRAME) only for dynamic binaries:
 * gcc passes --eh-frame-hdr to ld for those alone, so a static binary built
 * without frame pointers has its CFI but no table to find it by, and its
 * stacks stopped at their first frame.  The table is built as the linker
 * would have: each FDE's initial location and address, less the section's
 * address, sorted by location.  The file is the target's: every read is
 * bounded. */
#include <elf.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

/* DW_EH_PE_*: a pointer's format (low nibble) and what it is relative to. */
enum {
	PE_ABSPTR = 0x00, PE_ULEB128 = 0x01, PE_UDATA2 = 0x02, PE_UDATA4 = 0x03, PE_UDATA8 = 0x04,
	PE_SLEB128 = 0x09, PE_SDATA2 = 0x0a, PE_SDATA4 = 0x0b, PE_SDATA8 = 0x0c,
	PE_PCREL = 0x10,
};

/* The .eh_frame section's bytes and address; false if the file has none. */
static bool find_section(const uint8_t *data, size_t size, struct byte_cursor *out, uint64_t *addr)
{
	if (size < sizeof(Elf64_Ehdr))
		return false;
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)data;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_shentsize != sizeof(Elf64_Shdr) || eh->e_shoff > size ||
	    (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr) > size - eh->e_shoff || eh->e_shstrndx >= eh->e_shnum)
		return false;
	/* Copied out: the file may put its headers anywhere, aligned or not. */
	Elf64_Shdr names, sh;
	memcpy(&names, data + eh->e_shoff + (size_t)eh->e_shstrndx * sizeof(sh), sizeof(names));
	if (names.sh_offset > size || names.sh_size > size - names.sh_offset)
		return false;
	static const char want[] = ".eh_frame";
	for (uint32_t i = 0; i < eh->e_shnum; i++) {
		memcpy(&sh, data + eh->e_shoff + (size_t)i * sizeof(sh), sizeof(sh));
		/* SHT_X86_64_UNWIND: as LLVM's assembler types it. */
		if ((sh.sh_type != SHT_PROGBITS && sh.sh_type != SHT_X86_64_UNWIND) || sh.sh_name >= names.sh_size ||
		    names.sh_size - sh.sh_name < sizeof(want) ||
		    memcmp(data + names.sh_offset + sh.sh_name, want, sizeof(want)) != 0)
			continue;
		if (sh.sh_offset > size || sh.sh_size > size - sh.sh_offset)
			return false;
		*out = (struct byte_cursor){ data + sh.sh_offset, data + sh.sh_offset + sh.sh_size, false };
		*addr = sh.sh_addr;
		return true;
	}
	return false;
}

/* The value of a pointer encoded as enc at c, before what it is relative
 * to is added; false for an unknown format. */
static bool read_encoded(struct byte_cursor *c, uint8_t enc, uint64_t *out)
{
	uint64_t v;
	switch (enc & 0x0f) {
	case PE_ABSPTR:
	case PE_UDATA8:
	case PE_SDATA8: v = cursor_le(c, 8); break;
	case PE_UDATA4: v = cursor_le(c, 4); break;
	case PE_SDATA4: v = (uint64_t)(int64_t)(int32_t)cursor_le(c, 4); break;
	case PE_UDATA2: v = cursor_le(c, 2); break;
	case PE_SDATA2: v = (uint64_t)(int64_t)(int16_t)cursor_le(c, 2); break;
	case PE_ULEB128: v = cursor_uleb(c); break;
	case PE_SLEB128: v = (uint64_t)cursor_sleb(c); break;
	default: return false;
	}
	*out = v;
	return !c->failed;
}

/* A code address encoded as enc at c, whose own address is at; false for
 * what .eh_frame does not use for them (relative to other than itself). */
static bool read_pointer(struct byte_cursor *c, uint8_t enc, uint64_t at, uint64_t *out)
{
	if ((enc & 0xf0) != 0 && (enc & 0xf0) != PE_PCREL)
		return false;
	if (!read_encoded(c, enc, out))
		return false;
	if (enc & PE_PCREL)
		*out += at;
	return true;
}

/* The encoding of a CIE's FDEs' locations (its augmentation's 'R'); false
 * if the CIE cannot be read.  c is at the CIE's version. */
static bool cie_encoding(struct byte_cursor c, uint8_t *enc)
{
	uint8_t version = (uint8_t)cursor_le(&c, 1);
	const uint8_t *aug = c.p;
	while (cursor_has(&c, 1) && *c.p)
		c.p++;
	size_t aug_len = (size_t)(c.p - aug);
	cursor_le(&c, 1); /* its NUL */
	if (version == 4)
		cursor_le(&c, 2); /* address and segment sizes */
	cursor_uleb(&c);      /* code alignment */
	cursor_sleb(&c);      /* data alignment */
	if (version == 1)
		cursor_le(&c, 1);
	else
		cursor_uleb(&c); /* the return address register */
	*enc = PE_ABSPTR;
	if (c.failed || aug_len == 0 || aug[0] != 'z')
		return !c.failed && aug_len == 0;
	cursor_uleb(&c); /* the augmentation data's length */
	for (size_t i = 1; i < aug_len && !c.failed; i++) {
		uint64_t ignored;
		switch (aug[i]) {
		case 'R': *enc = (uint8_t)cursor_le(&c, 1); return !c.failed;
		case 'P': {
			/* The personality routine's pointer: only its size matters. */
			if (!read_encoded(&c, (uint8_t)cursor_le(&c, 1), &ignored))
				return false;
			break;
		}
		case 'L': cursor_le(&c, 1); break;
		case 'S':
		case 'B': break;
		default: return false;
		}
	}
	return !c.failed;
}

static int pair_cmp(const void *a, const void *b)
{
	int32_t x = ((const int32_t *)a)[0], y = ((const int32_t *)b)[0];
	return (x > y) - (x < y);
}

bool eh_frame_index_build(struct eh_frame_index *ix, const uint8_t *data, size_t size)
{
	memset(ix, 0, sizeof(*ix));
	struct byte_cursor sec;
	if (!find_section(data, size, &sec, &ix->base))
		return false;
	const uint8_t *start = sec.p;
	struct vec pairs = { 0 };
	uint64_t cie_at = UINT64_MAX; /* the last CIE read, and its encoding */
	uint8_t enc = PE_ABSPTR;
	while (cursor_has(&sec, 4)) {
		uint64_t entry = (uint64_t)(sec.p - start), len = cursor_le(&sec, 4);
		if (len == 0)
			break; /* the terminator */
		if (len == 0xffffffffu)
			len = cursor_le(&sec, 8);
		if (sec.failed || len < 4 || len > (uint64_t)(sec.end - sec.p))
			break;
		struct byte_cursor body = { sec.p, sec.p + len, false };
		sec.p += len;
		uint64_t id_at = (uint64_t)(body.p - start), id = cursor_le(&body, 4);
		if (id == 0 || id > id_at)
			continue; /* a CIE, or an FDE whose CIE pointer leaves the section */
		uint64_t cie = id_at - id;
		if (cie != cie_at) {
			struct byte_cursor c = { start + cie, sec.end, false };
			uint64_t cie_len = cursor_le(&c, 4);
			if (cie_len == 0xffffffffu)
				cie_len = cursor_le(&c, 8);
			if (c.failed || cie_len < 4 || cie_len > (uint64_t)(c.end - c.p))
				continue;
			c.end = c.p + cie_len;
			if (cursor_le(&c, 4) != 0 || !cie_encoding(c, &enc))
				continue;
			cie_at = cie;
		}
		uint64_t loc_at = ix->base + (uint64_t)(body.p - start), loc;
		if (!read_pointer(&body, enc, loc_at, &loc)) /* DW_EH_PE_omit among those refused */
			continue;
		int64_t from = (int64_t)(loc - ix->base), fde = (int64_t)entry;
		if (from < INT32_MIN || from > INT32_MAX || fde > INT32_MAX)
			continue; /* not in the table's 32-bit offsets */
		int32_t *p = vec_push(&pairs, 2 * sizeof(int32_t));
		if (!p) {
			vec_release(&pairs);
			return false;
		}
		p[0] = (int32_t)from;
		p[1] = (int32_t)fde;
	}
	if (!pairs.count) {
		vec_release(&pairs);
		return false;
	}
	qsort(pairs.data, pairs.count, 2 * sizeof(int32_t), pair_cmp);
	ix->pairs = pairs.data;
	ix->count = pairs.count;
	return true;
}

void eh_frame_index_release(struct eh_frame_index *ix)
{
	free(ix->pairs);
	memset(ix, 0, sizeof(*ix));
}
