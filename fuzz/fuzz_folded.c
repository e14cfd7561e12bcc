/* Folded text, then the flamegraph drawn from it. */
#include <stdio.h>

#include "fuzz/fuzz.h"
#include "render/render.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct profile p;
	profile_init(&p);
	if (profile_parse_folded(&p, (const char *)data, size, NULL) == 0) {
		FILE *sink = fopen("/dev/null", "w");
		struct flame_tree t;
		struct render_select sel = { 0 };
		if (flame_tree_init(&t) == 0 && flame_tree_add_profile(&t, &p, 0, &sel, false) == 0) {
			struct flame_options o;
			flame_options_init(&o);
			o.min_width = 0;
			render_flamegraph(&t, &o, sink);
		}
		flame_tree_release(&t);
		fclose(sink);
	}
	profile_release(&p);
	return 0;
}
