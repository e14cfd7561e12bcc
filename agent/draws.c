/* The random numbers of sampling by bytes, without libm (the agent
 * depends on libc only). */
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "agent/draws.h"

/* Per thread: the generator's state, 0 until its first draw. */
static __thread uint64_t draw_state __attribute__((tls_model("initial-exec")));

bool draw_seeded(void)
{
	return draw_state != 0;
}

/* Uniform in (0, 1]: xorshift64*, seeded per thread. */
double draw_uniform(void)
{
	if (!draw_state) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		draw_state = ((uint64_t)ts.tv_nsec ^ (uint64_t)(uintptr_t)&draw_state) | 1;
	}
	draw_state ^= draw_state >> 12;
	draw_state ^= draw_state << 25;
	draw_state ^= draw_state >> 27;
	uint64_t r = draw_state * 0x2545F4914F6CDD1Dull;
	return (double)((r >> 11) + 1) * 0x1.0p-53;
}

/* ln x for x in (0, 1], to 1e-9: x = m * 2^e with m near 1, then the atanh series. */
double log_of(double x)
{
	union {
		double d;
		uint64_t u;
	} v = { x };
	int e = (int)((v.u >> 52) & 0x7ff) - 1023;
	v.u = (v.u & ((1ull << 52) - 1)) | (1023ull << 52);
	double m = v.d;
	if (m > 1.4142135623730951) {
		m /= 2;
		e++;
	}
	double t = (m - 1) / (m + 1), t2 = t * t;
	double s = t * (2 + t2 * (2.0 / 3 + t2 * (2.0 / 5 + t2 * (2.0 / 7 + t2 * (2.0 / 9 + t2 * (2.0 / 11))))));
	return s + e * 0.6931471805599453;
}

/* 1 - e^-x for x >= 0, without losing the small values to cancellation. */
double one_minus_exp_neg(double x)
{
	if (x < 1e-3)
		return x * (1 - x / 2 * (1 - x / 3));
	if (x > 700)
		return 1;
	int k = (int)(x / 0.6931471805599453);
	double r = x - k * 0.6931471805599453, term = 1, sum = 1; /* e^-r, r in [0, ln 2) */
	for (int i = 1; i < 16; i++) {
		term *= -r / i;
		sum += term;
	}
	union {
		double d;
		uint64_t u;
	} scale = { .u = (uint64_t)(1023 - k) << 52 }; /* 2^-k */
	return 1 - sum * scale.d;
}

uint64_t round_at_random(double x)
{
	uint64_t whole = (uint64_t)x;
	return whole + (draw_uniform() < x - (double)whole);
}

int64_t next_interval(uint64_t rate)
{
	double d = -log_of(draw_uniform()) * (double)rate;
	return d < 1 ? 1 : d > 4e18 ? (int64_t)4e18 : (int64_t)d;
}
