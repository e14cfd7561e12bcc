/* SVG flamegraphs, plain and differential: a drop-in for flamegraph.pl's
 * output, smaller (no per-frame handlers or rounded corners: one script
 * listens on the frames' parent) and deterministic (colours derive from
 * names, never from rand()). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "render/flamegraph_js.h"
#include "render/render-internal.h"

#define XPAD 10.0
#define FRAME_PAD 1.0
#define FONT_WIDTH 0.59 /* average glyph width as a share of the font size */

static const char *const palette_names[] = {
	[PALETTE_HOT] = "hot",       [PALETTE_MEM] = "mem",       [PALETTE_IO] = "io",
	[PALETTE_WAKEUP] = "wakeup", [PALETTE_RED] = "red",       [PALETTE_GREEN] = "green",
	[PALETTE_BLUE] = "blue",     [PALETTE_AQUA] = "aqua",     [PALETTE_YELLOW] = "yellow",
	[PALETTE_PURPLE] = "purple", [PALETTE_ORANGE] = "orange", [PALETTE_JAVA] = "java",
	[PALETTE_JS] = "js",         [PALETTE_PERL] = "perl",     [PALETTE_CHAIN] = "chain",
};

int flame_palette_parse(const char *name)
{
	for (size_t i = 0; i < sizeof(palette_names) / sizeof(palette_names[0]); i++)
		if (strcmp(name, palette_names[i]) == 0)
			return (int)i;
	return -1;
}

void flame_options_init(struct flame_options *o)
{
	*o = (struct flame_options){
		.title = "Flame Graph",
		.countname = "samples",
		.nametype = "Function:",
		.width = 1200,
		.frame_height = 16,
		.min_width = 0.1,
		.font_size = 12,
		.font_type = "Verdana",
		.palette = PALETTE_HOT,
	};
}

void flame_options_for_value(struct flame_options *o, const struct profile *p, uint32_t v)
{
	flame_options_init(o);
	const char *type = string_table_get(&p->strings, p->value_types[v].type);
	o->countname = type;
	if (strncmp(type, "offcpu", 6) == 0 || strcmp(type, "switches") == 0) {
		o->palette = PALETTE_BLUE;
		o->title = "Off-CPU Time Flame Graph";
	} else if (strncmp(type, "io", 2) == 0) {
		o->palette = PALETTE_IO;
		o->title = "I/O Flame Graph";
	} else if (strncmp(type, "alloc", 5) == 0 || strncmp(type, "inuse", 5) == 0) {
		o->palette = PALETTE_MEM;
		o->title = "Allocation Flame Graph";
	} else if (strcmp(type, "samples") == 0 || strcmp(type, "cpu") == 0) {
		o->title = "CPU Flame Graph";
	}
	if (profile_get_meta(p, "command") == NULL && p->threads.count == 0)
		o->title = "Flame Graph";
	o->subtitle = profile_get_meta(p, "command");
	o->notes = profile_get_meta(p, "notes");
}

/* flamegraph.pl's name hash: early characters weigh more, so that related
 * names get related colours across graphs. */
static double name_hash(const char *name, size_t len, bool reverse)
{
	double vector = 0, weight = 1, max = 1;
	unsigned mod = 10;
	const char *s = name;
	size_t n = len;
	/* A module prefix ("mod`func") is cut to its first character. */
	const char *tick = memchr(name, '`', len);
	if (tick && tick > name) {
		s = tick + 1;
		n = len - (size_t)(s - name);
	}
	for (size_t i = 0; i < n && mod <= 12; i++) {
		unsigned char c = (unsigned char)(reverse ? s[n - 1 - i] : s[i]);
		unsigned v = c % mod;
		vector += (double)v / (mod++ - 1) * weight;
		max += weight;
		weight *= 0.70;
	}
	return 1 - vector / max;
}

static int has(const char *s, size_t n, const char *needle)
{
	size_t k = strlen(needle);
	for (size_t i = 0; i + k <= n; i++)
		if (memcmp(s + i, needle, k) == 0)
			return 1;
	return 0;
}

/* The palette a language palette picks for one frame. */
static int language_palette(int palette, const char *name, size_t n)
{
	if (has(name, n, "_[j]"))
		return PALETTE_GREEN;
	if (has(name, n, "_[i]"))
		return PALETTE_AQUA;
	if (has(name, n, "_[k]"))
		return PALETTE_ORANGE;
	switch (palette) {
	case PALETTE_JAVA:
		if (memchr(name, '/', n) || (n > 5 && memcmp(name, "java.", 5) == 0))
			return PALETTE_GREEN;
		return has(name, n, "::") ? PALETTE_YELLOW : PALETTE_RED;
	case PALETTE_JS:
		if (has(name, n, ".js") || (n && name[0] == ' '))
			return PALETTE_GREEN;
		return has(name, n, "::") ? PALETTE_YELLOW : has(name, n, ":") ? PALETTE_AQUA : PALETTE_RED;
	case PALETTE_PERL:
		if (has(name, n, "::") || has(name, n, ".pl") || has(name, n, "Perl"))
			return has(name, n, "Perl") ? PALETTE_RED : PALETTE_GREEN;
		return PALETTE_YELLOW;
	case PALETTE_CHAIN:
		return has(name, n, "_[w]") ? PALETTE_AQUA : PALETTE_BLUE;
	default:
		return PALETTE_RED;
	}
}

static void frame_color(const struct flame_options *o, const char *name, size_t n, char *out,
			size_t cap)
{
	double v1, v2, v3;
	if (o->hash) {
		v1 = name_hash(name, n, false);
		v2 = v3 = name_hash(name, n, true);
	} else {
		uint64_t h = hash_bytes(name, n) ^ o->seed;
		v1 = (double)(h & 0xffff) / 65536.0;
		v2 = (double)((h >> 16) & 0xffff) / 65536.0;
		v3 = (double)((h >> 32) & 0xffff) / 65536.0;
	}
	int palette = o->palette;
	if (palette >= PALETTE_JAVA)
		palette = language_palette(palette, name, n);
	int r, g, b;
	switch (palette) {
	case PALETTE_MEM: r = 0, g = 190 + (int)(50 * v2), b = (int)(210 * v1); break;
	case PALETTE_IO: r = g = 80 + (int)(60 * v1), b = 190 + (int)(55 * v2); break;
	case PALETTE_WAKEUP:
	case PALETTE_BLUE: r = g = 80 + (int)(60 * v1), b = 205 + (int)(50 * v1); break;
	case PALETTE_RED: r = 200 + (int)(55 * v1), g = b = 50 + (int)(80 * v1); break;
	case PALETTE_GREEN: r = b = 50 + (int)(60 * v1), g = 200 + (int)(55 * v1); break;
	case PALETTE_AQUA: r = 50 + (int)(60 * v1), g = b = 165 + (int)(55 * v1); break;
	case PALETTE_YELLOW: r = g = 175 + (int)(55 * v1), b = 50 + (int)(20 * v1); break;
	case PALETTE_PURPLE: r = b = 190 + (int)(65 * v1), g = 80 + (int)(60 * v1); break;
	case PALETTE_ORANGE: r = 190 + (int)(65 * v1), g = 90 + (int)(65 * v1), b = 0; break;
	default: r = 205 + (int)(50 * v3), g = (int)(230 * v1), b = (int)(55 * v2); break;
	}
	snprintf(out, cap, "rgb(%d,%d,%d)", r, g, b);
}

/* Differential colour: red where the frame's share grew, blue where it
 * shrank, stronger with the change; grey under min_delta. */
static void diff_color(const struct flame_options *o, double delta, double max_abs, char *out,
		       size_t cap)
{
	if (fabs(delta) < o->min_delta || max_abs <= 0 || delta == 0) {
		snprintf(out, cap, "rgb(%d,%d,%d)", 220, 220, 220);
		return;
	}
	int fade = (int)lround(210.0 * (1.0 - fmin(1.0, fabs(delta) / max_abs)));
	if (delta > 0)
		snprintf(out, cap, "rgb(255,%d,%d)", fade, fade);
	else
		snprintf(out, cap, "rgb(%d,%d,255)", fade, fade);
}

/* v with `decimals` (1 or 2) decimal places, as printf's %.Nf would round
 * it: per frame, glibc's float formatting is most of the renderer's time. */
static void put_fixed(FILE *out, double v, int decimals)
{
	char buf[32], *p = buf + sizeof(buf);
	int scale = decimals == 1 ? 10 : 100;
	double r = v * scale;
	bool negative = r < 0;
	if (negative)
		r = -r;
	if (!(r < 9e17)) { /* out of integer range (or NaN): the slow way */
		fprintf(out, decimals == 1 ? "%.1f" : "%.2f", v);
		return;
	}
	unsigned long long n = (unsigned long long)(r + 0.5);
	*--p = '\0';
	for (int i = 0; i < decimals; i++, n /= 10)
		*--p = (char)('0' + n % 10);
	*--p = '.';
	do {
		*--p = (char)('0' + n % 10);
		n /= 10;
	} while (n);
	if (negative && strspn(p, "0.") != strlen(p))
		*--p = '-';
	fputs(p, out);
}

/* "1234567" -> "1,234,567" */
static void format_count(int64_t v, char *out, size_t cap)
{
	char digits[32];
	int n = snprintf(digits, sizeof(digits), "%lld", (long long)(v < 0 ? -v : v));
	size_t k = 0;
	if (v < 0 && k + 1 < cap)
		out[k++] = '-';
	for (int i = 0; i < n && k + 2 < cap; i++) {
		if (i && (n - i) % 3 == 0)
			out[k++] = ',';
		out[k++] = digits[i];
	}
	out[k] = '\0';
}

struct svg_ctx {
	const struct flame_tree *t;
	const struct flame_options *o;
	FILE *out;
	double per_value; /* px per unit of value */
	double image_height, ypad1;
	double root_total, root_base;
	double max_abs_delta;
	int err;
	uint64_t drawn;
};

static double frame_y(const struct svg_ctx *c, uint32_t depth)
{
	if (c->o->inverted)
		return c->ypad1 + depth * c->o->frame_height;
	return c->image_height - (c->o->font_size * 2 + 10) - (depth + 1) * c->o->frame_height;
}

/* A frame's share of BASE and of NEW, in percent.  The drawn side is always
 * in total; with negate that is BASE. */
static void diff_shares(const struct svg_ctx *c, const struct flame_node *n, double *base, double *new_pct)
{
	double drawn = c->root_total > 0 ? 100.0 * n->total / c->root_total : 0;
	double other = c->root_base > 0 ? 100.0 * n->base_total / c->root_base : 0;
	*base = c->o->negate ? drawn : other;
	*new_pct = c->o->negate ? other : drawn;
}

static double share_delta(const struct svg_ctx *c, const struct flame_node *n)
{
	double base, new_pct;
	diff_shares(c, n, &base, &new_pct);
	return new_pct - base;
}

static void draw_frame(struct svg_ctx *c, uint32_t id, double x)
{
	const struct flame_node *n = flame_node_at(c->t, id);
	const struct flame_options *o = c->o;
	const char *name = string_table_get(&c->t->names, n->name);
	size_t len = string_table_len(&c->t->names, n->name);
	double w = n->total * c->per_value;
	double y = frame_y(c, n->depth);
	char count[40], fill[40];
	format_count(n->total, count, sizeof(count));
	double pct = c->root_total > 0 ? 100.0 * n->total / c->root_total : 0;
	fputs("<g><title>", c->out);
	xml_escape(c->out, name, len);
	fprintf(c->out, " (%s ", count);
	xml_escape(c->out, o->countname, strlen(o->countname));
	fputs(", ", c->out);
	put_fixed(c->out, pct, 2);
	fputc('%', c->out);
	if (n->where) {
		fputs(", ", c->out);
		xml_escape(c->out, string_table_get(&c->t->names, n->where), string_table_len(&c->t->names, n->where));
	}
	bool only_new = false;
	if (o->differential) {
		double base, new_pct, d = share_delta(c, n);
		diff_shares(c, n, &base, &new_pct);
		only_new = base == 0 && new_pct > 0;
		fprintf(c->out, "; base %.2f%%, new %.2f%%, %+.2f points", base, new_pct, d);
		if (base > 0)
			fprintf(c->out, ", %+.1f%%", 100.0 * d / base);
		else
			fputs(", only in new", c->out);
		diff_color(o, d, c->max_abs_delta, fill, sizeof(fill));
	} else if (id == 0) {
		snprintf(fill, sizeof(fill), "rgb(250,250,250)");
	} else {
		frame_color(o, name, len, fill, sizeof(fill));
	}
	fputs(")</title><rect x=\"", c->out);
	put_fixed(c->out, x, 1);
	fputs("\" y=\"", c->out);
	put_fixed(c->out, y, 1);
	fputs("\" width=\"", c->out);
	put_fixed(c->out, w, 1);
	fputs("\" height=\"", c->out);
	put_fixed(c->out, o->frame_height - FRAME_PAD, 1);
	fprintf(c->out, "\" fill=\"%s\"%s/>", fill, only_new ? " class=\"new\"" : "");
	/* A label only where it fits; the script adds them when zooming. */
	size_t chars = (size_t)fmax(0, floor((w - 6) / (o->font_size * FONT_WIDTH)));
	if (chars >= 3) {
		size_t nchars = utf8_count(name, len);
		fputs("<text x=\"", c->out);
		put_fixed(c->out, x + 3, 1);
		fputs("\" y=\"", c->out);
		put_fixed(c->out, y + (o->frame_height - FRAME_PAD) * 0.7, 1);
		fputs("\">", c->out);
		if (nchars <= chars) {
			xml_escape(c->out, name, len);
		} else {
			/* Escape after truncating, so no entity is ever cut in half. */
			xml_escape(c->out, name, utf8_truncate(name, len, chars - 2));
			fputs("..", c->out);
		}
		fputs("</text>", c->out);
	}
	fputs("</g>\n", c->out);
	c->drawn++;
}

/* Draws id and, depth first, its children wide enough to see. */
static void draw_tree(struct svg_ctx *c, uint32_t root)
{
	struct item {
		uint32_t id;
		double x;
	};
	struct vec stack = { 0 };
	struct item *it = vec_push(&stack, sizeof(*it));
	if (!it) {
		c->err = -RENDER_E_NOMEM;
		return;
	}
	*it = (struct item){ root, XPAD };
	while (stack.count && !c->err) {
		struct item cur = ((struct item *)stack.data)[--stack.count];
		draw_frame(c, cur.id, cur.x);
		uint32_t n;
		uint32_t *kids = flame_tree_sorted_children(c->t, cur.id, &n);
		if (!kids) {
			c->err = -RENDER_E_NOMEM;
			break;
		}
		/* Children start where the parent's self time ends... flamegraph.pl
		 * puts them left-aligned: do the same. */
		double x = cur.x;
		double *xs = malloc((n ? n : 1) * sizeof(*xs));
		if (!xs) {
			free(kids);
			c->err = -RENDER_E_NOMEM;
			break;
		}
		for (uint32_t k = 0; k < n; k++) {
			xs[k] = x;
			x += flame_node_at(c->t, kids[k])->total * c->per_value;
		}
		for (uint32_t k = n; k-- > 0;) {
			if (flame_node_at(c->t, kids[k])->total * c->per_value < c->o->min_width)
				continue;
			struct item *slot = vec_push(&stack, sizeof(*slot));
			if (!slot) {
				c->err = -RENDER_E_NOMEM;
				break;
			}
			*slot = (struct item){ kids[k], xs[k] };
		}
		free(xs);
		free(kids);
	}
	vec_release(&stack);
}

/* Deepest drawn frame, and the largest share change, over visible frames. */
static uint32_t visible_depth(struct svg_ctx *c)
{
	uint32_t max = 0;
	for (uint32_t i = 0; i < c->t->nodes.count; i++) {
		const struct flame_node *n = flame_node_at(c->t, i);
		if (n->total * c->per_value < c->o->min_width)
			continue;
		/* A node is visible only if all its ancestors are; they are at
		 * least as wide, so its own width decides. */
		if (n->depth > max)
			max = n->depth;
		if (c->o->differential) {
			double d = fabs(share_delta(c, n));
			if (d > c->max_abs_delta)
				c->max_abs_delta = d;
		}
	}
	return max;
}

static void text_element(FILE *out, const char *attrs, const char *s)
{
	fprintf(out, "<text %s>", attrs);
	xml_escape(out, s, strlen(s));
	fputs("</text>\n", out);
}

int render_flamegraph(const struct flame_tree *t, const struct flame_options *o, FILE *out)
{
	const struct flame_node *root = flame_node_at(t, 0);
	if (root->total <= 0)
		return -RENDER_E_EMPTY;
	if (!(o->width >= 100 && o->width <= 1e6) || !(o->frame_height >= 1 && o->frame_height <= 1000) ||
	    !(o->font_size >= 1 && o->font_size <= 200) || !(o->min_width >= 0))
		return -RENDER_E_BAD_OPTION;
	struct svg_ctx c = { .t = t, .o = o, .out = out };
	c.root_total = (double)root->total;
	c.root_base = o->absolute ? (double)root->total : (double)root->base_total;
	c.per_value = root->total > 0 ? (o->width - 2 * XPAD) / root->total : 0;
	c.ypad1 = o->font_size * 3 + (o->subtitle ? o->font_size * 2 : 0) + (o->notes ? o->font_size * 1.5 : 0);
	double ypad2 = o->font_size * 2 + 10;
	uint32_t depth = visible_depth(&c);
	c.image_height = (depth + 1) * o->frame_height + c.ypad1 + ypad2;
	double W = o->width, H = c.image_height;

	fprintf(out, "<?xml version=\"1.0\" standalone=\"no\"?>\n"
		     "<!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\" "
		     "\"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd\">\n");
	fprintf(out, "<svg version=\"1.1\" width=\"%g\" height=\"%g\" viewBox=\"0 0 %g %g\" "
		     "xmlns=\"http://www.w3.org/2000/svg\" data-xpad=\"%g\" data-fw=\"%g\" "
		     "data-inverted=\"%d\" data-nametype=\"",
		W, H, W, H, XPAD, o->font_size * FONT_WIDTH, o->inverted ? 1 : 0);
	xml_escape(out, o->nametype, strlen(o->nametype));
	fputs("\">\n", out);
	const char *bg1 = "#eeeeee", *bg2 = o->palette == PALETTE_MEM ? "#e0e0ff"
					   : o->palette == PALETTE_IO ? "#e8e8e8"
					   : o->palette == PALETTE_BLUE || o->palette == PALETTE_WAKEUP ? "#e0e8f8"
					   : "#eeeeb0";
	if (o->differential)
		bg2 = "#f8f8f8";
	fprintf(out, "<defs><linearGradient id=\"background\" y1=\"0\" y2=\"1\" x1=\"0\" x2=\"0\">"
		     "<stop stop-color=\"%s\" offset=\"5%%\"/><stop stop-color=\"%s\" offset=\"95%%\"/>"
		     "</linearGradient></defs>\n", bg1, bg2);
	/* The font name lands in CSS: keep only characters that cannot end a rule. */
	char font[64];
	size_t k = 0;
	for (const char *f = o->font_type; *f && k + 1 < sizeof(font); f++)
		if ((*f >= 'a' && *f <= 'z') || (*f >= 'A' && *f <= 'Z') || (*f >= '0' && *f <= '9') ||
		    *f == ' ' || *f == '-' || *f == '_' || *f == ',')
			font[k++] = *f;
	font[k] = '\0';
	if (!k)
		strcpy(font, "Verdana");
	fprintf(out, "<style type=\"text/css\">\n"
		     "text { font-family: %s; font-size: %gpx; fill: rgb(0,0,0); }\n"
		     "#frames text { pointer-events: none; }\n"
		     "#frames g:hover rect { stroke: black; stroke-width: 0.5; cursor: pointer; }\n"
		     "#frames .parent { opacity: 0.5; }\n"
		     "#frames rect.new { stroke: rgb(120,0,0); stroke-width: 1; stroke-dasharray: 2,1; }\n"
		     "#title { text-anchor: middle; font-size: %gpx; }\n"
		     "#subtitle, #notes { text-anchor: middle; fill: rgb(90,90,90); }\n"
		     "#notes { fill: rgb(160,0,0); }\n"
		     "#unzoom, #search { cursor: pointer; }\n"
		     "#unzoom { opacity: 0; }\n"
		     "#search, #matched { text-anchor: end; }\n"
		     "#matched { opacity: 0; }\n"
		     "</style>\n",
		font, o->font_size, o->font_size + 5);
	fprintf(out, "<script type=\"text/ecmascript\"><![CDATA[\n%s]]></script>\n", flamegraph_script);
	fprintf(out, "<rect x=\"0\" y=\"0\" width=\"%g\" height=\"%g\" fill=\"url(#background)\"/>\n", W, H);
	char attrs[160];
	snprintf(attrs, sizeof(attrs), "id=\"title\" x=\"%.1f\" y=\"%g\"", W / 2, o->font_size * 2);
	text_element(out, attrs, o->title);
	double y = o->font_size * 2;
	if (o->subtitle) {
		y += o->font_size * 1.5;
		snprintf(attrs, sizeof(attrs), "id=\"subtitle\" x=\"%.1f\" y=\"%g\"", W / 2, y);
		text_element(out, attrs, o->subtitle);
	}
	if (o->notes) {
		y += o->font_size * 1.5;
		snprintf(attrs, sizeof(attrs), "id=\"notes\" x=\"%.1f\" y=\"%g\"", W / 2, y);
		text_element(out, attrs, o->notes);
	}
	snprintf(attrs, sizeof(attrs), "id=\"details\" x=\"%g\" y=\"%g\"", XPAD, H - ypad2 / 2);
	text_element(out, attrs, " ");
	snprintf(attrs, sizeof(attrs), "id=\"unzoom\" x=\"%g\" y=\"%g\"", XPAD, o->font_size * 2);
	text_element(out, attrs, "Reset Zoom");
	snprintf(attrs, sizeof(attrs), "id=\"search\" x=\"%g\" y=\"%g\"", W - XPAD, o->font_size * 2);
	text_element(out, attrs, "Search");
	snprintf(attrs, sizeof(attrs), "id=\"matched\" x=\"%g\" y=\"%g\"", W - XPAD, H - ypad2 / 2);
	text_element(out, attrs, " ");
	fputs("<g id=\"frames\">\n", out);
	draw_tree(&c, 0);
	fputs("</g>\n</svg>\n", out);
	if (c.err)
		return c.err;
	return ferror(out) ? -RENDER_E_IO : 0;
}
