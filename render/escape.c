/* Escaping, one function per output context: XML (text and attribute values
 * alike), JSON strings, and names in line-oriented text (folded stacks,
 * reports).  Names come from binaries and input files, so any
 * byte may appear; the output stays well-formed whatever they hold. */
#include <string.h>

#include "render/render-internal.h"

/* Length of the valid UTF-8 sequence at s (1-4), or 0 if invalid; *cp gets
 * the code point. */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
	unsigned char c = s[0];
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	size_t len;
	uint32_t min, v;
	if ((c & 0xe0) == 0xc0) {
		len = 2, min = 0x80, v = c & 0x1f;
	} else if ((c & 0xf0) == 0xe0) {
		len = 3, min = 0x800, v = c & 0x0f;
	} else if ((c & 0xf8) == 0xf0) {
		len = 4, min = 0x10000, v = c & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		v = v << 6 | (s[i] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return len;
}

size_t utf8_truncate(const char *s, size_t len, size_t max_chars)
{
	size_t i = 0, chars = 0;
	while (i < len && chars < max_chars) {
		uint32_t cp;
		size_t k = utf8_decode((const unsigned char *)s + i, len - i, &cp);
		i += k ? k : 1;
		chars++;
	}
	return i;
}

size_t utf8_count(const char *s, size_t len)
{
	size_t i = 0, chars = 0;
	while (i < len) {
		uint32_t cp;
		size_t k = utf8_decode((const unsigned char *)s + i, len - i, &cp);
		i += k ? k : 1;
		chars++;
	}
	return chars;
}

static const char replacement[] = "\xef\xbf\xbd"; /* U+FFFD */

void xml_escape(FILE *out, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t run = 0; /* bytes that need no escaping, written at once */
	for (size_t i = 0; i < len;) {
		unsigned char c = u[i];
		const char *rep = NULL;
		size_t k = 1;
		char num[8];
		if (c >= 0x80) {
			uint32_t cp;
			k = utf8_decode(u + i, len - i, &cp);
			if (!k || cp == 0xfffe || cp == 0xffff) {
				rep = replacement;
				k = k ? k : 1;
			}
		} else if (c == '&') {
			rep = "&amp;";
		} else if (c == '<') {
			rep = "&lt;";
		} else if (c == '>') {
			rep = "&gt;";
		} else if (c == '"') {
			rep = "&quot;";
		} else if (c == '\'') {
			rep = "&#39;";
		} else if (c == '\t' || c == '\n' || c == '\r') {
			snprintf(num, sizeof(num), "&#%u;", c); /* survives attribute normalization */
			rep = num;
		} else if (c < 0x20 || c == 0x7f) {
			rep = replacement;
		}
		if (rep) {
			fwrite(s + i - run, 1, run, out);
			run = 0;
			fputs(rep, out);
		} else {
			run += k;
		}
		i += k;
	}
	fwrite(s + len - run, 1, run, out);
}

void json_escape(FILE *out, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t run = 0;
	for (size_t i = 0; i < len;) {
		unsigned char c = u[i];
		size_t k = 1;
		char rep[8];
		bool escape = false;
		if (c >= 0x80) {
			uint32_t cp;
			k = utf8_decode(u + i, len - i, &cp);
			if (!k) {
				strcpy(rep, "\\ufffd");
				escape = true;
				k = 1;
			}
		} else if (c == '"' || c == '\\') {
			rep[0] = '\\', rep[1] = (char)c, rep[2] = '\0';
			escape = true;
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(rep, sizeof(rep), "\\u%04x", c);
			escape = true;
		} else if (c == '/' && i > 0 && u[i - 1] == '<') {
			strcpy(rep, "\\/"); /* "</script>" stays inert inside HTML */
			escape = true;
		}
		if (escape) {
			fwrite(s + i - run, 1, run, out);
			run = 0;
			fputs(rep, out);
		} else {
			run += k;
		}
		i += k;
	}
	fwrite(s + len - run, 1, run, out);
}

/* What a name's byte becomes in line-oriented text: a control (a newline
 * would start a forged line) is '?', and in a folded frame ';' is ':', as
 * stackcollapse-perf.pl makes it. */
static char text_byte(unsigned char c, bool folded)
{
	if (c < 0x20 || c == 0x7f)
		return '?';
	if (folded && c == ';')
		return ':';
	return (char)c;
}

void folded_frame_copy(char *dst, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		dst[i] = text_byte((unsigned char)s[i], true);
}

void text_name(FILE *out, const char *s)
{
	for (; *s; s++)
		fputc(text_byte((unsigned char)*s, false), out);
}

void json_string_array(FILE *out, const struct string_table *t)
{
	fputc('[', out);
	for (uint32_t i = 0; i < t->count; i++) {
		fputs(i ? ",\"" : "\"", out);
		json_escape(out, string_table_get(t, i), string_table_len(t, i));
		fputc('"', out);
	}
	fputc(']', out);
}
