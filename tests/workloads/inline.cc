// The symbolizer's workload, built -O2 -g: namespaces, templates, lambdas,
// and functions forced inline three deep, so that most samples land in
// inlined code.
//   inline SECONDS
#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace outer {
namespace inner {

static volatile unsigned long sink;

template <typename T> struct Mixer {
	T seed;
	__attribute__((always_inline)) inline T step(T x) const { return x * 6364136223846793005ul + seed; }
};

__attribute__((always_inline)) inline unsigned long mix_leaf(unsigned long x, unsigned n)
{
	Mixer<unsigned long> m{ 1442695040888963407ul };
	for (unsigned i = 0; i < n; i++)
		x = m.step(x);
	return x;
}

__attribute__((always_inline)) inline unsigned long mix_middle(unsigned long x)
{
	return mix_leaf(x, 20000) ^ (x >> 7);
}

template <int N> __attribute__((noinline)) unsigned long churn(unsigned long x)
{
	auto twist = [](unsigned long v) __attribute__((always_inline)) { return mix_middle(v) + N; };
	return twist(x);
}

} // namespace inner
} // namespace outer

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? std::atof(argv[1]) : 3;
	std::printf("ready\n");
	std::fflush(stdout);
	auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
	while (std::chrono::steady_clock::now() < end)
		outer::inner::sink = outer::inner::churn<1>(outer::inner::sink) + outer::inner::churn<2>(outer::inner::sink);
	return 0;
}
