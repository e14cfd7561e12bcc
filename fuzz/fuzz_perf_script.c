/* `perf script` text through collapse, with every option on and off. */
#include <stdio.h>

#include "fuzz/fuzz.h"
#include "render/render.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (int opts = 0; opts < 2; opts++) {
		struct collapse_options o = { .pid = opts, .tid = opts, .kernel = opts, .jit = opts,
					      .addrs = opts };
		struct collapse_result *r;
		if (collapse_perf((const char *)data, size, &o, &r, NULL) == 0) {
			FILE *sink = fopen("/dev/null", "w");
			collapse_result_write(r, sink);
			fclose(sink);
			struct profile p;
			profile_init(&p);
			collapse_result_to_profile(r, &p);
			profile_release(&p);
			collapse_result_free(r);
		}
	}
	return 0;
}
