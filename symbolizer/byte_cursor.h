/* Bounded little-endian reading of untrusted DWARF bytes, for the readers
 * that decode DWARF here (line_table.c, die_reader.c). */
#ifndef SMOLDER_SYMBOLIZER_BYTE_CURSOR_H
#define SMOLDER_SYMBOLIZER_BYTE_CURSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Bounded little-endian reading of untrusted bytes: past the end, every read
 * gives 0 and sets failed, so a caller checks once. */
struct cursor {
	const uint8_t *p, *end;
	bool failed;
};

static inline bool has(struct cursor *c, size_t n)
{
	if (c->failed || c->p > c->end || (size_t)(c->end - c->p) < n) {
		c->failed = true;
		c->p = c->end;
		return false;
	}
	return true;
}

/* n: 1 to 8. */
static inline uint64_t read_le(struct cursor *c, unsigned n)
{
	if (!has(c, n))
		return 0;
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)c->p[i] << (8 * i);
	c->p += n;
	return v;
}

static inline uint64_t read_uleb(struct cursor *c)
{
	uint64_t v = 0;
	for (unsigned shift = 0; has(c, 1); shift += 7) {
		uint8_t b = *c->p++;
		if (shift < 64)
			v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return v;
	}
	return 0;
}

static inline int64_t read_sleb(struct cursor *c)
{
	uint64_t v = 0;
	unsigned shift = 0;
	uint8_t b = 0;
	do {
		if (!has(c, 1))
			return 0;
		b = *c->p++;
		if (shift < 64)
			v |= (uint64_t)(b & 0x7f) << shift;
		shift += 7;
	} while (b & 0x80);
	if (shift < 64 && (b & 0x40))
		v |= ~(uint64_t)0 << shift;
	return (int64_t)v;
}

static inline const char *read_cstring(struct cursor *c)
{
	const uint8_t *nul = c->failed || c->p >= c->end ? NULL : memchr(c->p, 0, (size_t)(c->end - c->p));
	if (!nul) {
		c->failed = true;
		return NULL;
	}
	const char *s = (const char *)c->p;
	c->p = nul + 1;
	return s;
}

#endif
