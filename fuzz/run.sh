#!/bin/bash
# Fuzzes one target with libFuzzer (clang), ASan and UBSan, growing its corpus.
#   fuzz/run.sh TARGET [SECONDS]     TARGET: profile, folded, perf_script, elf, dwarf or agent_ring
set -eu
target=${1:?usage: fuzz/run.sh profile|folded|perf_script|elf|dwarf|agent_ring [seconds]}
seconds=${2:-60}
top=$(cd "$(dirname "$0")/.." && pwd)
out=${FUZZ_OUT:-/tmp/smolder-fuzz}
mkdir -p "$out"
flags="-D_GNU_SOURCE -DPACKAGE_VERSION=\"fuzz\" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -I$top $(pkg-config --cflags libzstd zlib)"
base=$(ls "$top"/base/*.c)
srcs="$(ls "$top"/profile/*.c "$top"/render/*.c) $base"
libs="$(pkg-config --libs libzstd zlib) -lm -lpthread"
if [ "$target" = elf ]; then # the profiler's ELF readers and the symbolizer's file handling
	srcs="$top/profiler/alloc_probes.c $top/profiler/maps.c $top/profiler/perf.c $top/profile/model.c
		$(ls "$top"/symbolizer/*.c) $base"
	libs="$(pkg-config --libs libelf libdw libdeflate) -liberty -ldl -lpthread"
fi
if [ "$target" = agent_ring ]; then # the profiler's reader of an agent's ring
	srcs="$(ls "$top"/profiler/*.c) $(ls "$top"/symbolizer/*.c) $(ls "$top"/profile/*.c) $base"
	libs="$(pkg-config --libs libunwind-generic libelf libdw libdeflate libzstd zlib) -liberty -ldl -lpthread -lm"
fi
if [ "$target" = dwarf ]; then # the symbolizer's own DWARF readers
	srcs="$top/symbolizer/die_reader.c $top/symbolizer/line_table.c $top/profile/model.c $base"
fi
# shellcheck disable=SC2086
clang $flags -o "$out/fuzz_$target" "$top/fuzz/fuzz_$target.c" $srcs $libs
mkdir -p "$out/corpus_$target"
seeds=$top/fuzz/corpus/$target
if [ "$target" = elf ]; then # no ELF files are kept in the tree: seed with a small one
	seeds=$out/seeds_elf
	mkdir -p "$seeds"
	printf 'void *malloc(unsigned long n) { return (void *)n; }\nvoid free(void *p) { (void)p; }\n' |
		clang -x c -O2 -g -gdwarf-aranges -gz=zlib -shared -fPIC -nostdlib -Wl,--build-id -o "$seeds/tiny.so" -
	# and a static one, whose .eh_frame has no .eh_frame_hdr (the unwinder indexes it)
	printf 'int f(int x) { return x * 3; }\nvoid _start(void) { for (;;) f(1); }\n' |
		clang -x c -O2 -static -nostdlib -fasynchronous-unwind-tables -Wl,--no-eh-frame-hdr -o "$seeds/tiny_static" -
fi
if [ "$target" = dwarf ]; then # seeded with the sections of a small C++ build, in fuzz_dwarf.c's layout
	seeds=$out/seeds_dwarf
	mkdir -p "$seeds"
	printf 'namespace n { template <int k> inline int f(int x) { return x * k; } }\nint main(int c, char **) { auto g = [&](int y) { return n::f<3>(y + c); }; return g(c); }\n' |
		clang++ -x c++ -O2 -g -o "$seeds/tiny" -
	for s in info abbrev line str line_str; do
		objcopy --dump-section ".debug_$s=$seeds/tiny.$s" "$seeds/tiny" "$seeds/junk"
	done
	python3 -c 'import struct, sys
p = [open(sys.argv[1] + "." + s, "rb").read() for s in ("info", "abbrev", "line", "str", "line_str")]
open(sys.argv[2], "wb").write(struct.pack("<5I", *map(len, p)) + b"".join(p))' "$seeds/tiny" "$seeds/sections"
	rm -f "$seeds"/tiny "$seeds"/tiny.* "$seeds/junk"
fi
"$out/fuzz_$target" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
	"$out/corpus_$target" "$seeds"
