/* Each process's executable mappings, sorted for binary search, and the
 * build-ids of the files mapped. */
#include <fcntl.h>
#include <gelf.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "profiler/profiler-internal.h"

int process_maps_insert(struct process_maps *m, const struct map_entry *e)
{
	if (e->end <= e->start)
		return 0;
	m->generation++;
	/* Cut away what the new mapping overlaps (mmap over an old range). */
	uint32_t out = 0;
	struct map_entry split = { 0 };
	bool have_split = false;
	for (uint32_t i = 0; i < m->count; i++) {
		struct map_entry x = m->entries[i];
		if (x.end <= e->start || x.start >= e->end) {
			m->entries[out++] = x;
			continue;
		}
		if (x.start < e->start && x.end > e->end) {
			split = x;
			split.pgoff += e->end - x.start;
			split.start = e->end;
			have_split = true;
		}
		if (x.start < e->start) {
			x.end = e->start;
			m->entries[out++] = x;
		} else if (x.end > e->end && !have_split) {
			x.pgoff += e->end - x.start;
			x.start = e->end;
			m->entries[out++] = x;
		}
	}
	m->count = out;
	uint32_t need = m->count + 1 + (have_split ? 1 : 0);
	if (need > m->cap) {
		uint32_t cap = m->cap ? m->cap * 2 : 64;
		while (cap < need)
			cap *= 2;
		struct map_entry *entries = realloc(m->entries, cap * sizeof(*entries));
		if (!entries)
			return -1;
		m->entries = entries;
		m->cap = cap;
	}
	const struct map_entry *add[2] = { e, have_split ? &split : NULL };
	for (int k = 0; k < 2 && add[k]; k++) {
		uint32_t i = m->count;
		while (i > 0 && m->entries[i - 1].start > add[k]->start) {
			m->entries[i] = m->entries[i - 1];
			i--;
		}
		m->entries[i] = *add[k];
		m->count++;
	}
	return 0;
}

const struct map_entry *process_maps_find(const struct process_maps *m, uint64_t addr)
{
	/* Entries do not overlap: the last one starting at or before addr. */
	uint32_t i = upper_bound_u64(m->entries, m->count, sizeof(*m->entries),
				     offsetof(struct map_entry, start), addr);
	if (i > 0 && addr < m->entries[i - 1].end)
		return &m->entries[i - 1];
	return NULL;
}

void process_maps_clear(struct process_maps *m)
{
	m->count = 0;
	m->loaded = false;
	m->generation++;
}

Elf *elf_open_fd(int fd)
{
	elf_version(EV_CURRENT);
	return elf_begin(fd, ELF_C_READ_MMAP, NULL);
}

/* The NT_GNU_BUILD_ID note of an ELF file, as hex; "" if it has none. */
void read_build_id(int fd, char *out, size_t len)
{
	out[0] = '\0';
	Elf *elf = elf_open_fd(fd);
	size_t n;
	if (!elf)
		return;
	if (elf_getphdrnum(elf, &n))
		n = 0;
	for (size_t i = 0; !out[0] && i < n; i++) {
		GElf_Phdr ph;
		if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_NOTE)
			continue;
		Elf_Data *data = elf_getdata_rawchunk(elf, (int64_t)ph.p_offset, ph.p_filesz, ELF_T_NHDR);
		GElf_Nhdr nh;
		size_t off = 0, name_at, desc_at;
		while (data && (off = gelf_getnote(data, off, &nh, &name_at, &desc_at)) > 0) {
			if (nh.n_type != NT_GNU_BUILD_ID || nh.n_namesz != 4 ||
			    memcmp((const char *)data->d_buf + name_at, "GNU", 4) != 0)
				continue;
			hex_string((const uint8_t *)data->d_buf + desc_at,
				   nh.n_descsz < BUILD_ID_MAX ? nh.n_descsz : BUILD_ID_MAX, out, len);
			break;
		}
	}
	elf_end(elf);
}
