#include "symbolizer/die_reader.h"

#include <dwarf.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

/* Abbreviation codes are numbered from 1, densely, by every compiler in use:
 * a larger one is left to libdw rather than given a sparse table. */
#define ABBREV_CODE_MAX 65536

/* Makes code's slot, zeroing those up to it (tag 0: a free slot); false if
 * the code is out of range or taken, or on no memory. */
static bool push_abbrev(struct die_unit *u, uint32_t *cap, uint64_t code)
{
	if (code == 0 || code > ABBREV_CODE_MAX)
		return false;
	if (code <= u->nabbrevs)
		return u->abbrevs[code - 1].tag == 0; /* a slot a larger code skipped */
	if (code > *cap) {
		uint32_t n = *cap ? *cap : 64;
		while (n < code)
			n *= 2;
		struct abbrev *v = realloc(u->abbrevs, n * sizeof(*v));
		if (!v)
			return false;
		u->abbrevs = v;
		*cap = n;
	}
	memset(u->abbrevs + u->nabbrevs, 0, (code - u->nabbrevs) * sizeof(*u->abbrevs));
	u->nabbrevs = (uint32_t)code;
	return true;
}

/* The size of a form's values, if fixed; -1 if not. */
static int form_size(uint64_t form, const struct die_unit *u)
{
	switch (form) {
	case DW_FORM_flag_present:
	case DW_FORM_implicit_const:
		return 0;
	case DW_FORM_data1:
	case DW_FORM_ref1:
	case DW_FORM_flag:
	case DW_FORM_strx1:
	case DW_FORM_addrx1:
		return 1;
	case DW_FORM_data2:
	case DW_FORM_ref2:
	case DW_FORM_strx2:
	case DW_FORM_addrx2:
		return 2;
	case DW_FORM_strx3:
	case DW_FORM_addrx3:
		return 3;
	case DW_FORM_data4:
	case DW_FORM_ref4:
	case DW_FORM_ref_sup4:
	case DW_FORM_strx4:
	case DW_FORM_addrx4:
		return 4;
	case DW_FORM_data8:
	case DW_FORM_ref8:
	case DW_FORM_ref_sig8:
	case DW_FORM_ref_sup8:
		return 8;
	case DW_FORM_data16:
		return 16;
	case DW_FORM_addr:
		return u->address_size;
	case DW_FORM_ref_addr:
		return u->version == 2 ? u->address_size : u->offset_size;
	case DW_FORM_strp:
	case DW_FORM_line_strp:
	case DW_FORM_sec_offset:
	case DW_FORM_strp_sup:
	case DW_FORM_GNU_ref_alt:
	case DW_FORM_GNU_strp_alt:
		return u->offset_size;
	default:
		return -1;
	}
}

static bool read_abbrevs(struct die_unit *u, const struct die_sections *s, uint64_t offset)
{
	if (!s->abbrev || offset >= s->abbrev_size)
		return false;
	struct byte_cursor c = { s->abbrev + offset, s->abbrev + s->abbrev_size, false };
	uint32_t cap = 0;
	for (;;) {
		uint64_t code = cursor_uleb(&c);
		if (c.failed)
			return false;
		if (code == 0)
			return true;
		if (!push_abbrev(u, &cap, code))
			return false;
		struct abbrev *a = &u->abbrevs[code - 1];
		uint64_t tag = cursor_uleb(&c);
		a->tag = tag && tag <= UINT32_MAX ? (uint32_t)tag : UINT32_MAX;
		a->children = cursor_le(&c, 1) != 0;
		a->sibling = a->low_pc = a->high_pc = a->ranges = -1;
		a->first_spec = u->specs.count;
		a->fixed_size = 0;
		for (;;) {
			uint64_t name = cursor_uleb(&c), form = cursor_uleb(&c); /* in this order */
			struct attr_spec spec = { (uint32_t)name, (uint32_t)form, 0, -1 };
			if (c.failed)
				return false;
			if (spec.name == 0 && spec.form == 0)
				break;
			if (spec.form == DW_FORM_implicit_const)
				spec.implicit = cursor_sleb(&c);
			int32_t index = (int32_t)(u->specs.count - a->first_spec);
			if (spec.name == DW_AT_sibling)
				a->sibling = index;
			else if (spec.name == DW_AT_low_pc)
				a->low_pc = index;
			else if (spec.name == DW_AT_high_pc)
				a->high_pc = index;
			else if (spec.name == DW_AT_ranges)
				a->ranges = index;
			spec.at = a->fixed_size;
			struct attr_spec *slot = vec_push(&u->specs, sizeof(*slot));
			if (!slot)
				return false;
			*slot = spec;
			int size = form_size(spec.form, u);
			a->fixed_size = size < 0 || a->fixed_size < 0 ? -1 : a->fixed_size + size;
		}
		a->nspecs = u->specs.count - a->first_spec;
	}
}

int die_unit_open(struct die_unit *u, const struct die_sections *s, uint64_t unit_offset)
{
	memset(u, 0, sizeof(*u));
	if (!s->info || unit_offset >= s->info_size)
		return -1;
	struct byte_cursor c = { s->info + unit_offset, s->info + s->info_size, false };
	uint64_t length = cursor_le(&c, 4);
	u->offset_size = 4;
	if (length == 0xffffffff) {
		length = cursor_le(&c, 8);
		u->offset_size = 8;
	}
	if (c.failed || length > (uint64_t)(c.end - c.p))
		return -1;
	c.end = c.p + length;
	u->info = s->info;
	u->end = c.end;
	u->start = unit_offset;
	u->version = (uint8_t)cursor_le(&c, 2);
	uint64_t abbrev_offset;
	if (u->version >= 2 && u->version <= 4) {
		abbrev_offset = cursor_le(&c, u->offset_size);
		u->address_size = (uint8_t)cursor_le(&c, 1);
	} else if (u->version == 5) {
		unsigned type = (unsigned)cursor_le(&c, 1);
		u->address_size = (uint8_t)cursor_le(&c, 1);
		abbrev_offset = cursor_le(&c, u->offset_size);
		if (type == DW_UT_skeleton || type == DW_UT_split_compile)
			cursor_le(&c, 8);
		else if (type == DW_UT_type || type == DW_UT_split_type) {
			cursor_le(&c, 8);
			cursor_le(&c, u->offset_size);
		}
		else if (type != DW_UT_compile && type != DW_UT_partial)
			return -1;
	} else {
		return -1;
	}
	if (c.failed || (u->address_size != 4 && u->address_size != 8))
		return -1;
	u->first_die = (uint64_t)(c.p - s->info);
	if (!read_abbrevs(u, s, abbrev_offset)) {
		die_unit_release(u);
		return -1;
	}
	return 0;
}

void die_unit_release(struct die_unit *u)
{
	free(u->abbrevs);
	vec_release(&u->specs);
	memset(u, 0, sizeof(*u));
}

/* Moves c past one attribute value of form (its value, if a number, in
 * *value); false for a form unknown here. */
static bool skip_form(const struct die_unit *u, struct byte_cursor *c, uint64_t form, int64_t *value)
{
	*value = 0;
	int size = form_size(form, u);
	if (size > 8) {
		if (cursor_has(c, (size_t)size))
			c->p += size;
		return !c->failed;
	}
	if (size >= 0) {
		*value = size ? (int64_t)cursor_le(c, (unsigned)size) : 0;
		return !c->failed;
	}
	switch (form) {
	case DW_FORM_sdata:
		*value = cursor_sleb(c);
		break;
	case DW_FORM_udata:
	case DW_FORM_ref_udata:
	case DW_FORM_strx:
	case DW_FORM_addrx:
	case DW_FORM_loclistx:
	case DW_FORM_rnglistx:
	case DW_FORM_GNU_addr_index:
	case DW_FORM_GNU_str_index:
		*value = (int64_t)cursor_uleb(c);
		break;
	case DW_FORM_string:
		cursor_cstring(c);
		break;
	case DW_FORM_block1:
	case DW_FORM_block2:
	case DW_FORM_block4:
	case DW_FORM_block:
	case DW_FORM_exprloc: {
		uint64_t n = form == DW_FORM_block1 ? cursor_le(c, 1) :
			     form == DW_FORM_block2 ? cursor_le(c, 2) :
			     form == DW_FORM_block4 ? cursor_le(c, 4) : cursor_uleb(c);
		if (cursor_has(c, n))
			c->p += n;
		break;
	}
	case DW_FORM_indirect: {
		uint64_t actual = cursor_uleb(c);
		return actual != DW_FORM_indirect && actual != DW_FORM_implicit_const && skip_form(u, c, actual, value) &&
		       !c->failed;
	}
	default:
		return false;
	}
	return !c->failed;
}

/* The byte after d's attributes; NULL if malformed.  With want >= 0, reads
 * no further than that attribute (spec index): its value in *value, its
 * form in *form. */
static const uint8_t *read_attrs(const struct die_unit *u, const struct die *d, int32_t want, int64_t *value,
				 uint64_t *form)
{
	if (want < 0 && d->abbrev->fixed_size >= 0)
		return d->abbrev->fixed_size <= u->end - d->attrs ? d->attrs + d->abbrev->fixed_size : NULL;
	struct byte_cursor c = { d->attrs, u->end, false };
	const struct attr_spec *spec = (const struct attr_spec *)u->specs.data + d->abbrev->first_spec;
	uint32_t i = 0;
	if (want >= 0 && spec[want].at >= 0) { /* straight to it */
		if (spec[want].at > u->end - d->attrs)
			return NULL;
		c.p += spec[want].at;
		i = (uint32_t)want;
	}
	for (; i < d->abbrev->nspecs; i++) {
		uint64_t f = spec[i].form;
		const uint8_t *at = c.p;
		int64_t v;
		if (!skip_form(u, &c, f, &v))
			return NULL;
		if ((int32_t)i == want) {
			if (f == DW_FORM_indirect) {
				struct byte_cursor again = { at, u->end, false };
				f = cursor_uleb(&again);
			}
			*value = f == DW_FORM_implicit_const ? spec[i].implicit : v;
			*form = f;
			return c.p;
		}
	}
	return c.p;
}

bool die_at(const struct die_unit *u, uint64_t offset, struct die *d)
{
	if (offset < u->first_die || offset >= (uint64_t)(u->end - u->info))
		return false;
	struct byte_cursor c = { u->info + offset, u->end, false };
	uint64_t code = cursor_uleb(&c);
	if (c.failed || code == 0 || code > u->nabbrevs || u->abbrevs[code - 1].tag == 0)
		return false;
	*d = (struct die){ offset, &u->abbrevs[code - 1], c.p };
	return true;
}

bool die_child(const struct die_unit *u, const struct die *d, struct die *child)
{
	int64_t v;
	uint64_t f;
	const uint8_t *end = d->abbrev->children ? read_attrs(u, d, -1, &v, &f) : NULL;
	return end && die_at(u, (uint64_t)(end - u->info), child);
}

bool die_sibling(const struct die_unit *u, const struct die *d, struct die *next, uint64_t *after)
{
	int64_t v = 0;
	uint64_t form = 0;
	*after = 0;
	const uint8_t *end;
	if (d->abbrev->sibling >= 0 && d->abbrev->children) {
		if (!read_attrs(u, d, d->abbrev->sibling, &v, &form))
			return false;
		uint64_t target = (uint64_t)v + (form == DW_FORM_ref_addr ? 0 : u->start);
		if (target <= d->offset || target >= (uint64_t)(u->end - u->info))
			return false;
		end = u->info + target;
	} else {
		/* No DW_AT_sibling: past the subtree, entry by entry. */
		if (!(end = read_attrs(u, d, -1, &v, &form)))
			return false;
		struct byte_cursor c = { end, u->end, false };
		for (uint64_t depth = d->abbrev->children; depth > 0;) {
			const uint8_t *at = c.p;
			uint64_t code = cursor_uleb(&c);
			if (c.failed)
				return false;
			if (code == 0) {
				depth--;
				continue;
			}
			struct die in;
			const uint8_t *past;
			if (!die_at(u, (uint64_t)(at - u->info), &in) || !(past = read_attrs(u, &in, -1, &v, &form)))
				return false;
			c.p = past;
			depth += in.abbrev->children;
		}
		end = c.p;
	}
	if (end < u->end && *end == 0) {
		*after = (uint64_t)(end + 1 - u->info);
		return false;
	}
	return die_at(u, (uint64_t)(end - u->info), next);
}

bool die_after(const struct die_unit *u, uint64_t after, int *level, struct die *next)
{
	while (*level > 0 && after < (uint64_t)(u->end - u->info)) {
		--*level;
		if (u->info[after] != 0)
			return die_at(u, after, next);
		after++;
	}
	return false;
}

int die_pc_range(const struct die_unit *u, const struct die *d, uint64_t *lo, uint64_t *hi)
{
	const struct abbrev *a = d->abbrev;
	if (a->low_pc < 0 || a->high_pc < 0)
		return a->ranges < 0 && (a->low_pc < 0) == (a->high_pc < 0) ? 0 : -1;
	int64_t low, high;
	uint64_t low_form, high_form;
	if (!read_attrs(u, d, a->low_pc, &low, &low_form) || !read_attrs(u, d, a->high_pc, &high, &high_form) ||
	    low_form != DW_FORM_addr)
		return -1;
	*lo = (uint64_t)low;
	switch (high_form) {
	case DW_FORM_addr:
		*hi = (uint64_t)high;
		return 1;
	case DW_FORM_data1:
	case DW_FORM_data2:
	case DW_FORM_data4:
	case DW_FORM_data8:
	case DW_FORM_udata:
		*hi = *lo + (uint64_t)high;
		return 1;
	default:
		return -1;
	}
}
