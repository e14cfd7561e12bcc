// A C++ workload for DWARF unwinding, built -O2 -fomit-frame-pointer:
// templates, virtual calls through a base pointer, a lambda, and a try block
// whose exception is never thrown on the hot path.
//   cpp SECONDS
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <vector>

namespace shapes {

static volatile unsigned long sink;

struct Shape {
	virtual ~Shape() = default;
	virtual unsigned long area(unsigned n) const = 0;
};

template <typename T> struct Scaled : Shape {
	T factor;
	explicit Scaled(T f) : factor(f) {}
	__attribute__((noipa)) unsigned long area(unsigned n) const override
	{
		unsigned long x = sink;
		for (unsigned i = 0; i < n; i++)
			x = x * 6364136223846793005ul + static_cast<unsigned long>(factor);
		return x;
	}
};

template <typename F> __attribute__((noipa)) unsigned long apply_all(const std::vector<std::unique_ptr<Shape>> &v, F f)
{
	unsigned long total = 0;
	for (const auto &s : v)
		total += f(*s);
	return total;
}

} // namespace shapes

__attribute__((noipa)) static unsigned long run_round(const std::vector<std::unique_ptr<shapes::Shape>> &v)
{
	try {
		unsigned long r = shapes::apply_all(v, [](const shapes::Shape &s) { return s.area(50000); });
		if (r == 42)
			throw std::runtime_error("never");
		return r;
	} catch (const std::exception &) {
		return 0;
	}
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? std::atof(argv[1]) : 3;
	std::vector<std::unique_ptr<shapes::Shape>> v;
	v.push_back(std::make_unique<shapes::Scaled<int>>(3));
	v.push_back(std::make_unique<shapes::Scaled<long>>(5));
	v.push_back(std::make_unique<shapes::Scaled<short>>(7));
	std::printf("ready\n");
	std::fflush(stdout);
	auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
	while (std::chrono::steady_clock::now() < end)
		shapes::sink = shapes::sink + run_round(v);
	return 0;
}
