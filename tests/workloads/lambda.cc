// Capturing lambdas handed to a function template (not inlined there): gcc
// puts a lambda body's DIE in its closure type, inside the DIE of the
// function it is written in (for a member function, its declaration in the
// class), which the symbolizer's first walk of a CU skips; the walk of types
// finds the member function's, the walk of functions within functions' code
// the free function's, each with the function inlined in it.
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

struct mixer {
	unsigned long mul;
	__attribute__((noinline)) unsigned long spin(unsigned long seed, double seconds)
	{
		auto step = [this](unsigned long x) __attribute__((noinline, noclone)) { return mix(x, mul); };
		auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
		while (std::chrono::steady_clock::now() < end)
			seed = apply_many(step, seed);
		return seed;
	}
};

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? std::atof(argv[1]) : 1;
	mixer m = { 2862933555777941757UL };
	std::printf("%lu %lu\n", spin(1, seconds / 2), m.spin(1, seconds / 2));
	return 0;
}
