/* speedscope's file format (https://www.speedscope.app/file-format-schema.json):
 * shared frames, and one "sampled" profile per value type. */
#include <stdlib.h>
#include <string.h>

#include "render/render-internal.h"

static const char *speedscope_unit(const char *unit)
{
	if (strcmp(unit, "nanoseconds") == 0 || strcmp(unit, "bytes") == 0)
		return unit;
	return "none";
}

int render_speedscope(const struct profile *p, const struct render_select *sel, FILE *out)
{
	struct string_table names;
	string_table_init(&names);
	struct sample_walker w;
	int err = sample_walker_init(&w, p, &names, sel);
	if (err) {
		string_table_release(&names);
		return err;
	}
	/* Walk every sample once to name all frames before listing them. */
	for (uint32_t i = 0; i < p->samples.count && !err; i++)
		err = sample_walker_path(&w, profile_sample(p, i));
	const char *command = profile_get_meta(p, "command");
	fputs("{\"$schema\":\"https://www.speedscope.app/file-format-schema.json\",\"shared\":{\"frames\":[", out);
	/* Name id 0 is "" and never a frame name unless a frame is empty: list
	 * every id so that indices match. */
	for (uint32_t i = 0; i < names.count && !err; i++) {
		fputs(i ? ",{\"name\":\"" : "{\"name\":\"", out);
		json_escape(out, string_table_get(&names, i), string_table_len(&names, i));
		fputs("\"}", out);
	}
	fputs("]},\"profiles\":[", out);
	for (uint32_t v = 0; v < p->nvalues && !err; v++) {
		const char *type = string_table_get(&p->strings, p->value_types[v].type);
		const char *unit = string_table_get(&p->strings, p->value_types[v].unit);
		fprintf(out, "%s{\"type\":\"sampled\",\"name\":\"", v ? "," : "");
		json_escape(out, type, strlen(type));
		fprintf(out, "\",\"unit\":\"%s\",\"startValue\":0,\"endValue\":%lld,\"samples\":[",
			speedscope_unit(unit), (long long)profile_total(p, v));
		bool first = true;
		for (uint32_t i = 0; i < p->samples.count && !err; i++) {
			const struct sample *s = profile_sample(p, i);
			if (s->value[v] == 0 || (err = sample_walker_path(&w, s)))
				continue;
			fputs(first ? "[" : ",[", out);
			first = false;
			const uint32_t *ids = w.path.data;
			for (uint32_t k = 0; k < w.path.count; k++)
				fprintf(out, k ? ",%u" : "%u", ids[k]);
			fputc(']', out);
		}
		fputs("],\"weights\":[", out);
		first = true;
		for (uint32_t i = 0; i < p->samples.count; i++) {
			const struct sample *s = profile_sample(p, i);
			if (s->value[v] == 0)
				continue;
			fprintf(out, first ? "%lld" : ",%lld", (long long)s->value[v]);
			first = false;
		}
		fputs("]}", out);
	}
	fputs("],\"name\":\"", out);
	if (command)
		json_escape(out, command, strlen(command));
	else
		fputs("smolder profile", out);
	fputs("\",\"activeProfileIndex\":0,\"exporter\":\"smolder " PACKAGE_VERSION "\"}\n", out);
	sample_walker_release(&w);
	string_table_release(&names);
	if (err)
		return err;
	return ferror(out) ? -RENDER_E_IO : 0;
}
