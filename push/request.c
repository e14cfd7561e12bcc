/* An interval as the requests a profile server takes, following:
 *
 * - Grafana Pyroscope's HTTP ingest API (docs/sources/configure-server/
 *   about-server-api.md, Pyroscope 1.x): POST /ingest?name=APP{labels}&from=
 *   &until=&format=pprof&sampleRate=&spyName=, the pprof in the form file
 *   field "profile" and its sample type configuration in
 *   "sample_type_config" of a multipart/form-data body.  A value type a
 *   request: Pyroscope names the series APP.<display-name>.
 * - Parca's ProfileStoreService.WriteRaw (parca/profilestore/v1alpha1/
 *   profilestore.proto) through its HTTP gateway: POST /profiles/writeraw
 *   with the JSON form of WriteRawRequest, one series a view, each with
 *   its labels and the gzip-compressed pprof in raw_profile (base64). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "push/push-internal.h"
#include "render/render.h"

static void put_str(struct byte_buf *b, const char *s)
{
	byte_buf_put(b, s, strlen(s));
}

/* RFC 3986: everything but the unreserved characters percent-encoded. */
static void put_query_value(struct byte_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("-._~", c)) {
			byte_buf_put(b, s, 1);
		} else {
			char esc[3] = { '%', hex[c >> 4], hex[c & 15] };
			byte_buf_put(b, esc, 3);
		}
	}
}

/* A JSON string's contents (the labels are checked; this is for safety). */
static void put_json_string(struct byte_buf *b, const char *s)
{
	put_str(b, "\"");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[8];
		if (c == '"' || c == '\\') {
			esc[0] = '\\', esc[1] = (char)c;
			byte_buf_put(b, esc, 2);
		} else if (c < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			byte_buf_put(b, esc, 6);
		} else {
			byte_buf_put(b, s, 1);
		}
	}
	put_str(b, "\"");
}

static void put_base64(struct byte_buf *b, const uint8_t *data, size_t len)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)data[i] << 16 | (i + 1 < len ? (uint32_t)data[i + 1] << 8 : 0) |
			     (i + 2 < len ? data[i + 2] : 0);
		char out[4] = { alphabet[v >> 18], alphabet[v >> 12 & 63], i + 1 < len ? alphabet[v >> 6 & 63] : '=',
				i + 2 < len ? alphabet[v & 63] : '=' };
		byte_buf_put(b, out, 4);
	}
}

/* The view a value type belongs to, as record's --view names it. */
static const char *view_of(const char *type)
{
	if (!strcmp(type, "samples") || !strcmp(type, "cpu"))
		return "cpu";
	if (!strcmp(type, "offcpu") || !strcmp(type, "switches"))
		return "offcpu";
	if (!strncmp(type, "io_", 3))
		return "io";
	if (!strncmp(type, "alloc_", 6) || !strcmp(type, "inuse_bytes"))
		return "alloc";
	return type;
}

/* The gzip-compressed pprof of the value types in `values`. */
static int pprof_bytes(const struct profile *p, uint32_t values, uint8_t **out, size_t *len)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);
	if (!f)
		return -PUSH_E_NOMEM;
	int err = render_pprof_values(p, values, f);
	if (fclose(f) || err) {
		free(buf);
		return -PUSH_E_RENDER;
	}
	*out = (uint8_t *)buf;
	*len = size;
	return 0;
}

static int push_made(struct vec *out, struct byte_buf *target, const char *content_type, struct byte_buf *body)
{
	byte_buf_put(target, "", 1); /* the NUL */
	struct push_request *r = target->failed || body->failed ? NULL : vec_push(out, sizeof(*r));
	char *type = r ? strdup(content_type) : NULL;
	if (!type) {
		byte_buf_release(target);
		byte_buf_release(body);
		if (r)
			out->count--;
		return -PUSH_E_NOMEM;
	}
	*r = (struct push_request){ .target = (char *)target->data, .content_type = type, .body = body->data,
				    .len = body->len };
	return 0;
}

/* ---- Pyroscope ---- */

/* "APP{hostname=...,pid=...,view=cpu,tag=...}" */
static void put_pyroscope_name(struct byte_buf *b, const struct push_options *o, const char *view)
{
	put_str(b, o->app_name);
	put_str(b, "{");
	for (uint32_t i = 0; i < o->nlabels; i++) {
		put_str(b, o->labels[i].key);
		put_str(b, "=");
		put_str(b, o->labels[i].value);
		put_str(b, ",");
	}
	put_str(b, "view=");
	put_str(b, view);
	put_str(b, "}");
}

/* How Pyroscope should show value v: its units and whether it sums. */
static void put_sample_type_config(struct byte_buf *b, const struct profile *p, uint32_t v)
{
	const char *type = string_table_get(&p->strings, p->value_types[v].type);
	const char *unit = string_table_get(&p->strings, p->value_types[v].unit);
	bool samples = !strcmp(type, "samples");
	const char *units = samples ? "samples" : !strcmp(unit, "count") ? "objects" : unit;
	put_str(b, "{");
	put_json_string(b, type);
	put_str(b, ":{\"units\":");
	put_json_string(b, units);
	put_str(b, ",\"aggregation\":");
	put_json_string(b, !strcmp(type, "inuse_bytes") ? "average" : "sum");
	put_str(b, ",\"display-name\":");
	put_json_string(b, samples ? "cpu" : type);
	put_str(b, samples ? ",\"sampled\":true}}" : ",\"sampled\":false}}");
}

static void put_form_file(struct byte_buf *b, const char *boundary, const char *name, const char *type,
			  const uint8_t *data, size_t len)
{
	char head[256];
	snprintf(head, sizeof(head),
		 "--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\nContent-Type: %s\r\n\r\n",
		 boundary, name, name, type);
	put_str(b, head);
	byte_buf_put(b, data, len);
	put_str(b, "\r\n");
}

static int pyroscope_request(const struct push_options *o, const struct profile *p, uint32_t v, struct vec *out)
{
	uint8_t *pprof;
	size_t len;
	int err = pprof_bytes(p, 1u << v, &pprof, &len);
	if (err)
		return err;
	struct byte_buf config = { 0 };
	put_sample_type_config(&config, p, v);
	/* A boundary the parts cannot hold. */
	char boundary[48];
	do {
		uint64_t r[2] = { 0 };
		if (getrandom(r, sizeof(r), 0) < 0)
			r[0] = (uint64_t)(uintptr_t)&r ^ len;
		snprintf(boundary, sizeof(boundary), "smolder-%016" PRIx64 "%016" PRIx64, r[0], r[1]);
	} while (memmem(pprof, len, boundary, strlen(boundary)));
	struct byte_buf body = { 0 };
	put_form_file(&body, boundary, "profile", "application/octet-stream", pprof, len);
	put_form_file(&body, boundary, "sample_type_config", "application/json", config.data, config.len);
	put_str(&body, "--");
	put_str(&body, boundary);
	put_str(&body, "--\r\n");
	body.failed |= config.failed;
	free(pprof);
	byte_buf_release(&config);

	const char *start = profile_get_meta(p, "start_ns"), *duration = profile_get_meta(p, "duration_ns");
	uint64_t from = start ? strtoull(start, NULL, 10) : 0, span = duration ? strtoull(duration, NULL, 10) : 0;
	const char *hz = profile_get_meta(p, "frequency");
	char query[160];
	snprintf(query, sizeof(query), "&from=%" PRIu64 "&until=%" PRIu64 "&format=pprof&sampleRate=%lu&spyName=smolder",
		 (uint64_t)(from / 1000000000ull), (uint64_t)((from + span + 999999999ull) / 1000000000ull),
		 hz ? strtoul(hz, NULL, 10) : 100ul);
	struct byte_buf target = { 0 }, name = { 0 };
	put_pyroscope_name(&name, o, view_of(string_table_get(&p->strings, p->value_types[v].type)));
	byte_buf_put(&name, "", 1);
	put_str(&target, "/ingest?name=");
	if (!name.failed)
		put_query_value(&target, (const char *)name.data);
	target.failed |= name.failed;
	byte_buf_release(&name);
	put_str(&target, query);
	char type[96];
	snprintf(type, sizeof(type), "multipart/form-data; boundary=%s", boundary);
	return push_made(out, &target, type, &body);
}

/* ---- Parca ---- */

/* Parca's name for a view's series: the Go runtime's for CPU, which its UI knows. */
static const char *parca_name(const char *view)
{
	static const struct {
		const char *view, *name;
	} names[] = { { "cpu", "process_cpu" }, { "offcpu", "smolder_offcpu" }, { "io", "smolder_io" },
		      { "alloc", "smolder_alloc" } };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(view, names[i].view))
			return names[i].name;
	return "smolder";
}

static void put_parca_label(struct byte_buf *b, const char *key, const char *value)
{
	put_str(b, "{\"name\":");
	put_json_string(b, key);
	put_str(b, ",\"value\":");
	put_json_string(b, value);
	put_str(b, "},");
}

/* One RawProfileSeries: the view's labels and its values' pprof. */
static int put_parca_series(struct byte_buf *b, const struct push_options *o, const struct profile *p,
			    const char *view, uint32_t values)
{
	uint8_t *pprof;
	size_t len;
	int err = pprof_bytes(p, values, &pprof, &len);
	if (err)
		return err;
	put_str(b, "{\"labels\":{\"labels\":[");
	put_parca_label(b, "__name__", parca_name(view));
	put_parca_label(b, "app", o->app_name);
	for (uint32_t i = 0; i < o->nlabels; i++)
		put_parca_label(b, o->labels[i].key, o->labels[i].value);
	put_parca_label(b, "view", view);
	b->len--; /* the last comma */
	put_str(b, "]},\"samples\":[{\"raw_profile\":\"");
	put_base64(b, pprof, len);
	put_str(b, "\"}]},");
	free(pprof);
	return 0;
}

static int parca_request(const struct push_options *o, const struct profile *p, struct vec *out)
{
	struct byte_buf body = { 0 }, target = { 0 };
	put_str(&body, "{\"series\":[");
	uint32_t done = 0;
	for (uint32_t v = 0; v < p->nvalues; v++) {
		if (done & 1u << v)
			continue;
		const char *view = view_of(string_table_get(&p->strings, p->value_types[v].type));
		uint32_t values = 0;
		for (uint32_t w = v; w < p->nvalues; w++)
			if (!strcmp(view_of(string_table_get(&p->strings, p->value_types[w].type)), view))
				values |= 1u << w;
		done |= values;
		int err = put_parca_series(&body, o, p, view, values);
		if (err) {
			byte_buf_release(&body);
			return err;
		}
	}
	if (done)
		body.len--; /* the last comma */
	put_str(&body, "],\"normalized\":false}");
	put_str(&target, "/profiles/writeraw");
	return push_made(out, &target, "application/json", &body);
}

int push_requests_make(const struct push_options *o, const struct profile *interval, struct vec *out)
{
	if (o->format == PUSH_PARCA)
		return parca_request(o, interval, out);
	bool has_samples = profile_find_value(interval, "samples") >= 0;
	for (uint32_t v = 0; v < interval->nvalues; v++) {
		const char *type = string_table_get(&interval->strings, interval->value_types[v].type);
		/* cpu nanoseconds are the samples again, which Pyroscope shows as cpu. */
		if (has_samples && !strcmp(type, "cpu"))
			continue;
		int err = pyroscope_request(o, interval, v, out);
		if (err)
			return err;
	}
	return 0;
}

void push_request_release(struct push_request *r)
{
	free(r->target);
	free(r->content_type);
	free(r->body);
	*r = (struct push_request){ 0 };
}

bool push_name_ok(const char *name)
{
	if (!*name || strlen(name) > 200)
		return false;
	for (const char *c = name; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || strchr("_.-", *c)))
			return false;
	return true;
}

/* Prometheus's label names; values without the characters Pyroscope's
 * name syntax gives a meaning to, nor controls. */
bool push_label_ok(const char *key, const char *value)
{
	if (!*key || strlen(key) > 100 || strlen(value) > 200 || (*key >= '0' && *key <= '9'))
		return false;
	for (const char *c = key; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_'))
			return false;
	for (const unsigned char *c = (const unsigned char *)value; *c; c++)
		if (*c < 0x20 || *c == 0x7f || strchr("{},=\"\\", *c))
			return false;
	return true;
}
