// A C++ program whose profile is hard to symbolize: its time goes through
// std::regex, std::map<std::string, ...> and std::sort with lambdas, so its
// stacks are deep chains of inlined templates, and its DWARF is large.
//   bigcpp SECONDS    (prints "wall SECONDS end EPOCH_SECONDS (checksum)" at the
//                     end: its run time, and when its work ended)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <regex>
#include <string>
#include <vector>

namespace bench {

struct Record {
	std::string key;
	long value;
};

static std::vector<Record> make_records(unsigned n, unsigned seed)
{
	std::vector<Record> v;
	v.reserve(n);
	for (unsigned i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		v.push_back({ "key-" + std::to_string(seed % 9973) + "-" + std::to_string(i % 17), (long)(seed % 1000) });
	}
	return v;
}

__attribute__((noinline)) static long match_round(const std::vector<Record> &v, const std::regex &re)
{
	long hits = 0;
	for (const auto &r : v)
		if (std::regex_search(r.key, re))
			hits += r.value;
	return hits;
}

__attribute__((noinline)) static long index_round(const std::vector<Record> &v)
{
	std::map<std::string, long> index;
	for (const auto &r : v)
		index[r.key] += r.value;
	long total = 0;
	for (const auto &kv : index)
		total += kv.second * (long)kv.first.size();
	return total;
}

__attribute__((noinline)) static long sort_round(std::vector<Record> v)
{
	std::sort(v.begin(), v.end(), [](const Record &a, const Record &b) {
		return a.key < b.key || (a.key == b.key && a.value < b.value);
	});
	return v.front().value + v.back().value;
}

} // namespace bench

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? std::atof(argv[1]) : 7;
	auto start = std::chrono::steady_clock::now();
	auto end = start + std::chrono::duration<double>(seconds);
	const std::regex re("key-([0-9]+)7-(1|3|5)$");
	long sink = 0;
	unsigned round = 0;
	while (std::chrono::steady_clock::now() < end) {
		auto v = bench::make_records(2000, round++);
		sink += bench::match_round(v, re) + bench::index_round(v) + bench::sort_round(v);
	}
	std::printf("wall %.4f end %.6f (%ld)\n",
		    std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
		    std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count(), sink);
	return 0;
}
