// A capturing lambda handed to a function template (not inlined there): gcc
// puts its body's DIE in the closure type, inside the DIE of the function it
// is written in, which the symbolizer's first walk of a CU skips; the walk
// of functions within functions finds it, and the function inlined in it.
#include <chrono>
#include <cstdio>
#include <cstdlib>

__attribute__((always_inline)) static inline unsigned long mix(unsigned long x, unsigned long mul)
{
	return (x ^ (x >> 7)) * mul + 1442695040888963407UL;
}

template <typename F> __attribute__((noinline)) unsigned long apply_many(F f, unsigned long x)
{
	for (int i = 0; i < 1000; i++)
		x = f(x);
	return x;
}

unsigned long spin(unsigned long seed, double seconds)
{
	unsigned long mul = 6364136223846793005UL + (unsigned long)seconds;
	auto step = [&](unsigned long x) __attribute__((noinline, noclone)) { return mix(x, mul); };
	auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
	while (std::chrono::steady_clock::now() < end)
		seed = apply_many(step, seed);
	return seed;
}

int main(int argc, char **argv)
{
	std::printf("%lu\n", spin(1, argc > 1 ? std::atof(argv[1]) : 1));
	return 0;
}
