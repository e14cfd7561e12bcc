/* `perf script` text to folded stacks, exactly as stackcollapse-perf.pl
 * (FlameGraph 41fee1f) prints them, without its regular expressions.
 *
 * Each of the script's three patterns is matched by hand below, with the
 * outcome its backtracking would reach; the comments give the pattern. */
#include <stdlib.h>
#include <string.h>

#include "profile/profile.h"

struct collapse_entry {
	uint64_t hash;
	uint32_t off, len; /* key bytes in result->keys */
	uint64_t count;
};

struct collapse_result {
	char *keys;
	size_t keys_len, keys_cap;
	struct collapse_entry *slots;
	uint32_t nslots, count;
};

void collapse_result_free(struct collapse_result *r)
{
	if (!r)
		return;
	free(r->keys);
	free(r->slots);
	free(r);
}

static int result_grow(struct collapse_result *r)
{
	uint32_t nslots = r->nslots ? r->nslots * 2 : 1024;
	struct collapse_entry *slots = calloc(nslots, sizeof(*slots));
	if (!slots)
		return -PROFILE_E_NOMEM;
	for (uint32_t i = 0; i < r->nslots; i++) {
		if (!r->slots[i].len && !r->slots[i].count)
			continue;
		uint32_t j = (uint32_t)r->slots[i].hash & (nslots - 1);
		while (slots[j].len || slots[j].count)
			j = (j + 1) & (nslots - 1);
		slots[j] = r->slots[i];
	}
	free(r->slots);
	r->slots = slots;
	r->nslots = nslots;
	return 0;
}

/* Keys are never empty (they start with the process name), so an entry with
 * len 0 and count 0 is free. */
/* Counts stop at what a profile (and folded text read back) can hold. */
#define COUNT_MAX ((uint64_t)INT64_MAX)

static int result_add(struct collapse_result *r, const char *key, size_t len, uint64_t count, uint64_t *clamped)
{
	if ((uint64_t)(r->count + 1) * 4 >= (uint64_t)r->nslots * 3 && result_grow(r))
		return -PROFILE_E_NOMEM;
	uint64_t h = hash_bytes(key, len);
	uint32_t mask = r->nslots - 1;
	uint32_t i = (uint32_t)h & mask;
	for (; r->slots[i].len || r->slots[i].count; i = (i + 1) & mask) {
		struct collapse_entry *e = &r->slots[i];
		if (e->hash == h && e->len == len && memcmp(r->keys + e->off, key, len) == 0) {
			uint64_t sum = e->count + count < e->count || e->count + count > COUNT_MAX ? COUNT_MAX
													    : e->count + count;
			*clamped += sum == COUNT_MAX && e->count != COUNT_MAX;
			e->count = sum;
			return 0;
		}
	}
	if (r->keys_len + len > UINT32_MAX)
		return -PROFILE_E_NOMEM;
	if (r->keys_len + len > r->keys_cap) {
		size_t cap = r->keys_cap ? r->keys_cap * 2 : 1 << 16;
		while (cap < r->keys_len + len)
			cap *= 2;
		char *keys = realloc(r->keys, cap);
		if (!keys)
			return -PROFILE_E_NOMEM;
		r->keys = keys;
		r->keys_cap = cap;
	}
	memcpy(r->keys + r->keys_len, key, len);
	/* A zero count on an empty key would read as free: counts start at 1+ or
	 * the key is non-empty, which the caller guarantees. */
	r->slots[i] = (struct collapse_entry){ h, (uint32_t)r->keys_len, (uint32_t)len, count };
	r->keys_len += len;
	r->count++;
	return 0;
}

/* ---- character classes of Perl's \s, \w and \d on bytes ---- */

static inline bool is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static inline bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static inline bool is_word(unsigned char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

struct span {
	const char *p;
	size_t len;
};

/* The header pattern  ^(\S.+?)\s+(\d+)[/]*(\d+)*\s+  : the shortest comm (two
 * characters or more) after which whitespace, a pid, optionally slashes and a
 * tid, and whitespace follow. */
static bool match_header(const char *s, size_t n, struct span *comm, struct span *pid,
			 struct span *tid)
{
	if (n < 2 || is_space((unsigned char)s[0]))
		return false;
	for (size_t k = 2; k < n; k++) {
		if (!is_space((unsigned char)s[k]))
			continue;
		size_t j = k;
		while (j < n && is_space((unsigned char)s[j]))
			j++;
		size_t d = j;
		while (d < n && is_digit((unsigned char)s[d]))
			d++;
		if (d == j || d == n)
			continue;
		if (is_space((unsigned char)s[d])) {
			*comm = (struct span){ s, k };
			*pid = (struct span){ s + j, d - j };
			*tid = (struct span){ NULL, 0 };
			return true;
		}
		if (s[d] != '/')
			continue;
		size_t r = d;
		while (r < n && s[r] == '/')
			r++;
		size_t e = r;
		while (e < n && is_digit((unsigned char)s[e]))
			e++;
		if (e < n && is_space((unsigned char)s[e])) {
			*comm = (struct span){ s, k };
			*pid = (struct span){ s + j, d - j };
			*tid = e > r ? (struct span){ s + r, e - r } : (struct span){ NULL, 0 };
			return true;
		}
	}
	return false;
}

/* The event pattern  :\s*(\d+)*\s+(\S+):\s*$  : the line's last token ends in
 * ':' and is the event; a count may stand between it and an earlier ':'. */
static bool match_event(const char *s, size_t n, struct span *period, struct span *event)
{
	size_t c = n;
	while (c > 0 && is_space((unsigned char)s[c - 1]))
		c--;
	if (c == 0 || s[c - 1] != ':')
		return false;
	c--; /* the final ':' */
	size_t t = c;
	while (t > 0 && !is_space((unsigned char)s[t - 1]))
		t--;
	if (t == c || t == 0)
		return false;
	*event = (struct span){ s + t, c - t };
	size_t w = t;
	while (w > 0 && is_space((unsigned char)s[w - 1]))
		w--;
	if (w == 0)
		return false;
	if (s[w - 1] == ':') {
		*period = (struct span){ NULL, 0 };
		return true;
	}
	size_t d = w;
	while (d > 0 && is_digit((unsigned char)s[d - 1]))
		d--;
	if (d == w)
		return false;
	size_t x = d;
	while (x > 0 && is_space((unsigned char)s[x - 1]))
		x--;
	if (x == 0 || s[x - 1] != ':')
		return false;
	*period = (struct span){ s + d, w - d };
	return true;
}

/* The frame pattern  ^\s*(\w+)\s*(.+) \((.*)\)  : the module is between the
 * last " (" that has a ')' after it and the last ')'. */
static bool match_frame(const char *s, size_t n, struct span *pc, struct span *func,
			struct span *mod)
{
	size_t w0 = 0;
	while (w0 < n && is_space((unsigned char)s[w0]))
		w0++;
	size_t wend = w0;
	while (wend < n && is_word((unsigned char)s[wend]))
		wend++;
	if (wend == w0)
		return false;
	const char *close = NULL;
	for (size_t i = n; i > 0; i--)
		if (s[i - 1] == ')') {
			close = s + i - 1;
			break;
		}
	if (!close)
		return false;
	size_t r = (size_t)(close - s);
	if (r < 2)
		return false;
	size_t q = r - 2 + 1;
	bool found = false;
	while (q-- > 0) {
		if (s[q] == ' ' && s[q + 1] == '(') {
			found = true;
			break;
		}
	}
	if (!found)
		return false;
	size_t send = wend;
	while (send < n && is_space((unsigned char)s[send]))
		send++;
	size_t p, l;
	if (q >= wend + 1) {
		p = send < q ? send : q - 1;
		l = wend - w0;
	} else {
		if (q < w0 + 2)
			return false;
		l = q - 1 - w0;
		p = q - 1;
	}
	*pc = (struct span){ s + w0, l };
	*func = (struct span){ s + p, q - p };
	*mod = (struct span){ s + q + 2, r - (q + 2) };
	return true;
}

/* ---- per-sample state ---- */

struct piece {
	uint32_t off, len; /* in scratch */
	uint32_t group;    /* the stack line it came from */
};

struct collapser {
	const struct collapse_options *o;
	struct collapse_result *r;
	struct collapse_stats *stats;
	char *scratch;
	size_t scratch_len, scratch_cap;
	struct vec pieces; /* struct piece */
	uint32_t ngroups;
	char *key;
	size_t key_cap;
	bool have_pname;
	char *pname;
	size_t pname_len, pname_cap;
	bool pname_java;
	uint64_t period;
	char filter[256];
	size_t filter_len;
	bool filter_set, defaulted;
	struct collapse_stats own_stats;
};

static int ensure(char **buf, size_t *cap, size_t need)
{
	if (need <= *cap)
		return 0;
	size_t c = *cap ? *cap : 256;
	while (c < need)
		c *= 2;
	char *b = realloc(*buf, c);
	if (!b)
		return -PROFILE_E_NOMEM;
	*buf = b;
	*cap = c;
	return 0;
}

/* Room for len bytes at the end of scratch (not yet counted as used). */
static char *scratch_reserve(struct collapser *c, size_t len)
{
	if (ensure(&c->scratch, &c->scratch_cap, c->scratch_len + len + 1))
		return NULL;
	return c->scratch + c->scratch_len;
}

/* Perl truthiness of a string: false for "" and "0". */
static bool perl_true(struct span s)
{
	return s.p && s.len && !(s.len == 1 && s.p[0] == '0');
}

static uint64_t parse_u64(struct span s)
{
	uint64_t v = 0;
	for (size_t i = 0; i < s.len; i++) {
		uint64_t next = v * 10 + (uint64_t)(s.p[i] - '0');
		if (next / 10 != v || next > COUNT_MAX)
			return COUNT_MAX;
		v = next;
	}
	return v;
}

static int on_header(struct collapser *c, const char *line, size_t n, struct span comm,
		     struct span pid, struct span tid)
{
	struct span period = { NULL, 0 }, event;
	if (match_event(line, n, &period, &event)) {
		if (!c->filter_set) {
			size_t len = event.len < sizeof(c->filter) ? event.len : sizeof(c->filter) - 1;
			memcpy(c->filter, event.p, len);
			c->filter_len = len;
			c->filter_set = true;
			c->defaulted = true;
		} else if (event.len != c->filter_len || memcmp(event.p, c->filter, event.len) != 0) {
			if (c->defaulted && !c->stats->filtered_events) {
				c->stats->filtered_events = true;
				size_t len = c->filter_len < sizeof(c->stats->event) - 1
						     ? c->filter_len
						     : sizeof(c->stats->event) - 1;
				memcpy(c->stats->event, c->filter, len);
				c->stats->event[len] = '\0';
			}
			return 0;
		}
	}
	c->period = perl_true(period) ? parse_u64(period) : 1;
	bool has_tid = perl_true(tid);
	struct span m_pid = has_tid ? pid : (struct span){ "?", 1 };
	struct span m_tid = has_tid ? tid : pid;
	size_t need = comm.len + 2 + m_pid.len + m_tid.len + 1;
	if (ensure(&c->pname, &c->pname_cap, need))
		return -PROFILE_E_NOMEM;
	size_t len = 0;
	memcpy(c->pname, comm.p, comm.len);
	len = comm.len;
	if (c->o->tid || c->o->pid) {
		c->pname[len++] = '-';
		memcpy(c->pname + len, m_pid.p, m_pid.len);
		len += m_pid.len;
		if (c->o->tid) {
			c->pname[len++] = '/';
			memcpy(c->pname + len, m_tid.p, m_tid.len);
			len += m_tid.len;
		}
	}
	for (size_t i = 0; i < len; i++)
		if (c->pname[i] == ' ')
			c->pname[i] = '_';
	c->pname_len = len;
	c->have_pname = true;
	c->pname_java = len >= 4 && memcmp(c->pname, "java", 4) == 0;
	return 0;
}

static bool contains(const char *s, size_t n, const char *needle)
{
	size_t k = strlen(needle);
	if (k > n)
		return false;
	for (size_t i = 0; i + k <= n; i++)
		if (memcmp(s + i, needle, k) == 0)
			return true;
	return false;
}

static bool ends_with(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);
	return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* m:/tmp/perf-\d+\.map: */
static bool is_perf_map(const char *s, size_t n)
{
	for (size_t i = 0; i + 10 <= n; i++) {
		if (memcmp(s + i, "/tmp/perf-", 10) != 0)
			continue;
		size_t j = i + 10;
		while (j < n && is_digit((unsigned char)s[j]))
			j++;
		if (j > i + 10 && j + 4 <= n && memcmp(s + j, ".map", 4) == 0)
			return true;
	}
	return false;
}

/* The tidy_generic step on one frame, in place; returns the new length.
 * Each step looks before it writes: most names need none of them. */
static size_t tidy_frame(char *f, size_t n, bool java)
{
	for (char *semi = memchr(f, ';', n); semi; semi = memchr(semi, ';', n - (size_t)(semi - f)))
		*semi = ':';
	char *paren = memchr(f, '(', n);
	if (paren) {
		/* m/\.\(.*\)\./ : a Go method name such as "net/http.(*Client).Do" keeps its parens */
		bool go = false;
		for (size_t i = 0; i + 1 < n && !go; i++)
			if (f[i] == '.' && f[i + 1] == '(')
				for (size_t j = i + 2; j + 1 < n; j++)
					if (f[j] == ')' && f[j + 1] == '.') {
						go = true;
						break;
					}
		if (!go) {
			/* s/\((?!anonymous namespace\)).*$// */
			static const char anon[] = "anonymous namespace)";
			for (size_t i = (size_t)(paren - f); i < n; i++) {
				if (f[i] != '(')
					continue;
				if (n - i - 1 >= sizeof(anon) - 1 && memcmp(f + i + 1, anon, sizeof(anon) - 1) == 0)
					continue;
				n = i;
				break;
			}
		}
	}
	if (memchr(f, '"', n) || memchr(f, '\'', n)) {
		size_t out = 0;
		for (size_t i = 0; i < n; i++)
			if (f[i] != '"' && f[i] != '\'')
				f[out++] = f[i];
		n = out;
	}
	if (java && n && f[0] == 'L' && memchr(f, '/', n)) {
		memmove(f, f + 1, n - 1);
		n--;
	}
	return n;
}

static int push_piece(struct collapser *c, uint32_t off, uint32_t len)
{
	struct piece *p = vec_push(&c->pieces, sizeof(*p));
	if (!p)
		return -PROFILE_E_NOMEM;
	*p = (struct piece){ off, len, c->ngroups };
	return 0;
}

/* The end of the last non-empty field of split /->/, which drops trailing
 * empty fields; 0 when every field is empty. */
static size_t split_limit(const char *s, size_t n)
{
	size_t limit = 0, field = 0;
	for (size_t i = 0;;) {
		bool sep = i + 1 < n && s[i] == '-' && s[i + 1] == '>';
		if (i == n || sep) {
			if (i > field)
				limit = i;
			if (i == n)
				return limit;
			i += 2;
			field = i;
		} else {
			i++;
		}
	}
}

/* "[unknown]" becomes the module's base name, or "unknown", in brackets. */
static size_t unknown_frame(char *buf, size_t cap, struct span pc, struct span mod, bool addrs)
{
	struct span name = { "unknown", 7 };
	if (!(mod.len == 9 && memcmp(mod.p, "[unknown]", 9) == 0)) {
		size_t b = mod.len; /* what follows the last '/' */
		while (b > 0 && mod.p[b - 1] != '/')
			b--;
		name = (struct span){ mod.p + b, mod.len - b };
	}
	if (pc.len > cap / 4)
		pc.len = cap / 4;
	if (name.len > cap / 2)
		name.len = cap / 2;
	/* "[NAME]" or "[NAME <PC>]", composed by hand: this runs per frame. */
	size_t len = 0;
	buf[len++] = '[';
	memcpy(buf + len, name.p, name.len);
	len += name.len;
	if (addrs) {
		buf[len++] = ' ';
		buf[len++] = '<';
		memcpy(buf + len, pc.p, pc.len);
		len += pc.len;
		buf[len++] = '>';
	}
	buf[len++] = ']';
	return len;
}

static int on_frame(struct collapser *c, struct span pc, struct span func, struct span mod)
{
	/* s/\+0x[\da-f]+$// */
	size_t n = func.len, h = n;
	while (h > 0 && (is_digit((unsigned char)func.p[h - 1]) ||
			 (func.p[h - 1] >= 'a' && func.p[h - 1] <= 'f')))
		h--;
	if (h < n && h >= 3 && memcmp(func.p + h - 3, "+0x", 3) == 0)
		n = h - 3;
	if (n && func.p[0] == '(')
		return 0; /* process names */
	size_t limit = split_limit(func.p, n);
	bool inlined = false;
	for (size_t start = 0; limit > 0;) {
		size_t e = start;
		while (e < n && !(e + 1 < n && func.p[e] == '-' && func.p[e + 1] == '>'))
			e++;
		if (e > limit)
			break;
		struct span f = { func.p + start, e - start };
		char unknown[4096];
		if (f.len == 9 && memcmp(f.p, "[unknown]", 9) == 0)
			f = (struct span){ unknown, unknown_frame(unknown, sizeof(unknown), pc, mod,
								 c->o->addrs) };
		char *dst = scratch_reserve(c, f.len + 4);
		if (!dst)
			return -PROFILE_E_NOMEM;
		memcpy(dst, f.p, f.len);
		size_t len = tidy_frame(dst, f.len, c->pname_java);
		const char *suffix = NULL;
		if (inlined) {
			if (!contains(dst, len, "_[i]"))
				suffix = "_[i]";
		} else if (c->o->kernel &&
			   ((mod.len && mod.p[0] == '[') || ends_with(mod.p, mod.len, "vmlinux")) &&
			   !contains(mod.p, mod.len, "unknown")) {
			suffix = "_[k]";
		} else if (c->o->jit && is_perf_map(mod.p, mod.len)) {
			if (!contains(dst, len, "_[j]"))
				suffix = "_[j]";
		}
		if (suffix) {
			memcpy(dst + len, suffix, 4);
			len += 4;
		}
		int err = push_piece(c, (uint32_t)c->scratch_len, (uint32_t)len);
		if (err)
			return err;
		c->scratch_len += len;
		inlined = true;
		if (e >= n)
			break;
		start = e + 2;
	}
	if (inlined)
		c->ngroups++;
	return 0;
}

static int on_blank(struct collapser *c)
{
	if (!c->have_pname || (c->pname_len == 1 && c->pname[0] == '0') || c->pname_len == 0)
		return 0;
	size_t need = c->pname_len + 1;
	const struct piece *pieces = c->pieces.data;
	for (uint32_t i = 0; i < c->pieces.count; i++)
		need += pieces[i].len + 1;
	if (ensure(&c->key, &c->key_cap, need))
		return -PROFILE_E_NOMEM;
	memcpy(c->key, c->pname, c->pname_len);
	size_t len = c->pname_len;
	/* Stack lines come leaf first and each is unshifted: walk the groups
	 * backwards, each group's pieces forwards. */
	uint32_t end = c->pieces.count;
	while (end > 0) {
		uint32_t g = pieces[end - 1].group, begin = end;
		while (begin > 0 && pieces[begin - 1].group == g)
			begin--;
		for (uint32_t i = begin; i < end; i++) {
			c->key[len++] = ';';
			memcpy(c->key + len, c->scratch + pieces[i].off, pieces[i].len);
			len += pieces[i].len;
		}
		end = begin;
	}
	c->stats->clamped += c->period == COUNT_MAX;
	int err = result_add(c->r, c->key, len, c->period, &c->stats->clamped);
	c->pieces.count = 0;
	c->ngroups = 0;
	c->scratch_len = 0;
	c->have_pname = false;
	return err;
}

struct collapse_state *collapse_new(const struct collapse_options *o)
{
	struct collapser *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->o = o;
	c->stats = &c->own_stats;
	c->r = calloc(1, sizeof(*c->r));
	if (!c->r || result_grow(c->r)) {
		collapse_result_free(c->r);
		free(c);
		return NULL;
	}
	if (o->event_filter) {
		size_t n = strlen(o->event_filter);
		if (n >= sizeof(c->filter))
			n = sizeof(c->filter) - 1;
		memcpy(c->filter, o->event_filter, n);
		c->filter_len = n;
		c->filter_set = true;
	}
	return (struct collapse_state *)c;
}

static int collapse_line(struct collapser *c, const char *line, size_t n)
{
	struct span a, b, d;
	if (n && line[0] == '#')
		return 0; /* comments */
	if (n == 0)
		return on_blank(c);
	if (match_header(line, n, &a, &b, &d))
		return on_header(c, line, n, a, b, d);
	if (match_frame(line, n, &a, &b, &d)) {
		bool pname_true = c->have_pname && c->pname_len && !(c->pname_len == 1 && c->pname[0] == '0');
		return pname_true ? on_frame(c, a, b, d) : 0;
	}
	struct collapse_stats *st = c->stats;
	if (!st->unrecognized_lines++) {
		size_t k = n < sizeof(st->first_unrecognized) - 1 ? n : sizeof(st->first_unrecognized) - 1;
		memcpy(st->first_unrecognized, line, k);
		st->first_unrecognized[k] = '\0';
	}
	return 0;
}

int collapse_feed(struct collapse_state *state, const char *text, size_t len, size_t *consumed)
{
	struct collapser *c = (struct collapser *)state;
	const char *end = text + len, *line = text;
	int err = 0;
	while (line < end && !err) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		if (!nl)
			break; /* an incomplete line waits for more input */
		err = collapse_line(c, line, (size_t)(nl - line));
		line = nl + 1;
	}
	*consumed = (size_t)(line - text);
	return err;
}

int collapse_finish(struct collapse_state *state, const char *tail, size_t len,
		    struct collapse_result **out, struct collapse_stats *stats)
{
	struct collapser *c = (struct collapser *)state;
	int err = len ? collapse_line(c, tail, len) : 0;
	if (stats)
		*stats = *c->stats;
	if (!err) {
		*out = c->r;
		c->r = NULL;
	}
	collapse_abort(state);
	return err;
}

void collapse_abort(struct collapse_state *state)
{
	struct collapser *c = (struct collapser *)state;
	if (!c)
		return;
	collapse_result_free(c->r);
	free(c->scratch);
	vec_release(&c->pieces);
	free(c->key);
	free(c->pname);
	free(c);
}

int collapse_perf(const char *text, size_t len, const struct collapse_options *o,
		  struct collapse_result **out, struct collapse_stats *stats)
{
	struct collapse_state *c = collapse_new(o);
	if (!c)
		return -PROFILE_E_NOMEM;
	size_t used;
	int err = collapse_feed(c, text, len, &used);
	if (err) {
		collapse_abort(c);
		return err;
	}
	return collapse_finish(c, text + used, len - used, out, stats);
}

static int entry_cmp(const void *a, const void *b, void *ctx)
{
	const struct collapse_result *r = ctx;
	const struct collapse_entry *x = *(const struct collapse_entry *const *)a;
	const struct collapse_entry *y = *(const struct collapse_entry *const *)b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(r->keys + x->off, r->keys + y->off, n);
	if (c)
		return c;
	return (x->len > y->len) - (x->len < y->len);
}

/* Entries in bytewise key order, as Perl's sort { $a cmp $b }. */
static const struct collapse_entry **sorted_entries(const struct collapse_result *r)
{
	const struct collapse_entry **v = malloc((r->count ? r->count : 1) * sizeof(*v));
	if (!v)
		return NULL;
	uint32_t k = 0;
	for (uint32_t i = 0; i < r->nslots; i++)
		if (r->slots[i].len || r->slots[i].count)
			v[k++] = &r->slots[i];
	if (k > 1)
		qsort_r(v, k, sizeof(*v), entry_cmp, (void *)r);
	return v;
}

int collapse_result_write(const struct collapse_result *r, FILE *out)
{
	const struct collapse_entry **v = sorted_entries(r);
	if (!v)
		return -PROFILE_E_NOMEM;
	for (uint32_t i = 0; i < r->count; i++) {
		fwrite(r->keys + v[i]->off, 1, v[i]->len, out);
		fprintf(out, " %llu\n", (unsigned long long)v[i]->count);
	}
	free(v);
	return ferror(out) ? -PROFILE_E_IO : 0;
}

int collapse_result_to_profile(const struct collapse_result *r, struct profile *p)
{
	/* Through the folded parser, so there is one way stacks become a profile. */
	const struct collapse_entry **v = sorted_entries(r);
	if (!v)
		return -PROFILE_E_NOMEM;
	size_t cap = 0;
	for (uint32_t i = 0; i < r->count; i++)
		cap += v[i]->len + 24;
	char *text = malloc(cap + 1);
	int err = text ? 0 : -PROFILE_E_NOMEM;
	size_t len = 0;
	for (uint32_t i = 0; i < r->count && !err; i++) {
		memcpy(text + len, r->keys + v[i]->off, v[i]->len);
		len += v[i]->len;
		len += (size_t)sprintf(text + len, " %llu\n", (unsigned long long)v[i]->count);
	}
	if (!err && profile_parse_folded(p, text, len, NULL) == -PROFILE_E_NOMEM)
		err = -PROFILE_E_NOMEM;
	free(text);
	free(v);
	return err;
}
