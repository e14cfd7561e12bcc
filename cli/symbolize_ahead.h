/* Symbolizing while recording: opening files and their debug info is the
 * slow part of symbolizing (libdw inflates a compressed debug file whole when
 * it opens it), and would otherwise come after sampling ends.  A thread
 * notes the recording's new locations every 200 ms and has the symbolizer
 * open their files and look them up; symbolizer_run then finds most of its
 * work done.  It also reads a program's files while the program runs, which
 * an exited program's deleted binary needs. */
#ifndef SMOLDER_CLI_SYMBOLIZE_AHEAD_H
#define SMOLDER_CLI_SYMBOLIZE_AHEAD_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "profiler/profiler.h"
#include "symbolizer/symbolizer.h"

struct symbolize_ahead {
	struct profiler *s;
	struct symbolizer *z;
	uint32_t cursor; /* locations noted so far */
	bool stop;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t thread;
};

/* Starts the thread, for the length of profiler_run; false if it could not. */
bool symbolize_ahead_start(struct symbolize_ahead *a, struct profiler *s, struct symbolizer *z);
/* Waits for the lookups under way, if any (the rest is symbolizer_run's). */
void symbolize_ahead_stop(struct symbolize_ahead *a);

#endif
