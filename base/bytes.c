/* Byte strings: hashing, hex, and the output buffer with its varints. */
#include <stdlib.h>

#include "base/base.h"

uint64_t hash_bytes(const void *data, size_t len)
{
	/* FNV-1a over 8-byte words, then a final mix: fast and good enough for
	 * open addressing with power-of-two tables. */
	const unsigned char *s = data;
	uint64_t h = 0xcbf29ce484222325ULL ^ len;
	while (len >= 8) {
		uint64_t w;
		memcpy(&w, s, 8);
		h = (h ^ w) * 0x100000001b3ULL;
		h ^= h >> 29;
		s += 8;
		len -= 8;
	}
	while (len--)
		h = (h ^ *s++) * 0x100000001b3ULL;
	return hash_u64(h);
}

void hex_string(const uint8_t *bytes, size_t n, char *out, size_t out_len)
{
	static const char digits[] = "0123456789abcdef";
	size_t i = 0;
	for (; i < n && 2 * i + 2 < out_len; i++) {
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 15];
	}
	if (out_len)
		out[2 * i < out_len ? 2 * i : out_len - 1] = '\0';
}

void byte_buf_reserve(struct byte_buf *b, size_t more)
{
	if (b->failed || b->len + more <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->len + more)
		cap *= 2;
	uint8_t *data = realloc(b->data, cap);
	if (!data) {
		b->failed = true;
		return;
	}
	b->data = data;
	b->cap = cap;
}

void byte_buf_put(struct byte_buf *b, const void *data, size_t len)
{
	byte_buf_reserve(b, len);
	if (b->failed || !len)
		return;
	memcpy(b->data + b->len, data, len);
	b->len += len;
}

void byte_buf_put_uvarint(struct byte_buf *b, uint64_t v)
{
	byte_buf_reserve(b, 10);
	if (b->failed)
		return;
	while (v >= 0x80) {
		b->data[b->len++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	b->data[b->len++] = (uint8_t)v;
}

void byte_buf_put_svarint(struct byte_buf *b, int64_t v)
{
	byte_buf_put_uvarint(b, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

void byte_buf_release(struct byte_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}
