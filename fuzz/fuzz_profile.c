/* The .smolder reader on hostile bytes, then every renderer on what it read. */
#include <stdio.h>

#include "fuzz/fuzz.h"
#include "render/render.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct profile p;
	profile_init(&p);
	if (profile_read_buffer(&p, data, size, NULL) == 0) {
		FILE *sink = fopen("/dev/null", "w");
		struct render_select sel = { .per_thread = true, .with_lines = true };
		render_folded(&p, &sel, sink);
		render_pprof(&p, sink);
		render_speedscope(&p, &sel, sink);
		struct report_options ro = { .limit = 5 };
		render_report(&p, &ro, sink);
		render_info(&p, NULL, sink);
		fclose(sink);
	}
	profile_release(&p);
	return 0;
}
