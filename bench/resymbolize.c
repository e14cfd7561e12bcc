/* The symbolizer's whole work on a recorded profile, apart from recording:
 * every location's lines dropped, then a new symbolizer over the files as
 * they are on this machine now.  Prints, per round, the seconds from
 * symbolizer_new to symbolizer_free and the locations named; writes the
 * last round's profile to OUTPUT if given (to compare two builds' answers).
 *   bench/resymbolize PROFILE [ROUNDS [OUTPUT]] */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "profile/profile.h"
#include "symbolizer/symbolizer.h"

static double seconds(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: resymbolize PROFILE [ROUNDS [OUTPUT]]\n");
		return 2;
	}
	int rounds = argc > 2 ? atoi(argv[2]) : 1;
	for (int r = 0; r < rounds; r++) {
		struct profile p;
		profile_init(&p);
		int err = profile_read_file(&p, argv[1], NULL);
		if (err) {
			fprintf(stderr, "resymbolize: %s: %s\n", argv[1], profile_strerror(err));
			return 1;
		}
		struct location *l = p.locations.data;
		for (uint32_t i = 0; i < p.locations.count; i++)
			l[i].nlines = 0;
		struct symbolizer_stats st;
		double t0 = seconds();
		struct symbolizer *z = symbolizer_new(&(struct symbolizer_options){ .demangle = true });
		err = z ? symbolizer_run(z, &p, NULL, 0, &st) : -1;
		symbolizer_free(z);
		double t1 = seconds();
		if (err) {
			fprintf(stderr, "resymbolize: out of memory\n");
			return 1;
		}
		printf("%.3f s, %u of %u locations named\n", t1 - t0, st.named, st.locations);
		if (argc > 3 && r == rounds - 1 && (err = profile_write_file(&p, argv[3]))) {
			fprintf(stderr, "resymbolize: %s: %s\n", argv[3], profile_strerror(err));
			return 1;
		}
		profile_release(&p);
	}
	return 0;
}
