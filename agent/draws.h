/* agent/draws.c: the random numbers of sampling by bytes, without libm.
 * Private to the agent. */
#ifndef SMOLDER_AGENT_DRAWS_H
#define SMOLDER_AGENT_DRAWS_H

#include <stdbool.h>
#include <stdint.h>

/* Whether this thread has drawn before (a new thread's countdown starts
 * at its first sample). */
bool draw_seeded(void);

/* Uniform in (0, 1], from a generator of the thread's own. */
double draw_uniform(void);

/* ln x for x in (0, 1], to 1e-9. */
double log_of(double x);

/* 1 - e^-x for x >= 0: the chance that an allocation of x times the rate
 * is sampled. */
double one_minus_exp_neg(double x);

/* x rounded down or up at random, so that the sum of many is unbiased. */
uint64_t round_at_random(double x);

/* Bytes to the next sample: exponentially distributed, of mean rate. */
int64_t next_interval(uint64_t rate);

#endif
