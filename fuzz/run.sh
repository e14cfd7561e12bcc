#!/bin/bash
# Fuzzes one target with libFuzzer (clang), ASan and UBSan, growing its corpus.
#   fuzz/run.sh TARGET [SECONDS]     TARGET: profile, folded, perf_script or elf
set -eu
target=${1:?usage: fuzz/run.sh profile|folded|perf_script|elf [seconds]}
seconds=${2:-60}
top=$(cd "$(dirname "$0")/.." && pwd)
out=${FUZZ_OUT:-/tmp/smolder-fuzz}
mkdir -p "$out"
flags="-DPACKAGE_VERSION=\"fuzz\" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -I$top $(pkg-config --cflags libzstd zlib)"
srcs=$(ls "$top"/profile/*.c "$top"/render/*.c)
libs="$(pkg-config --libs libzstd zlib) -lm"
if [ "$target" = elf ]; then # the profiler's ELF readers
	srcs="$top/profiler/alloc_probes.c $top/profiler/maps.c $top/profiler/perf.c $top/profile/model.c $top/symbolizer/dwarf_image.c"
	libs="$(pkg-config --libs libelf libdw libdeflate) -lpthread"
fi
# shellcheck disable=SC2086
clang $flags -o "$out/fuzz_$target" "$top/fuzz/fuzz_$target.c" $srcs $libs
mkdir -p "$out/corpus_$target"
seeds=$top/fuzz/corpus/$target
if [ "$target" = elf ]; then # no ELF files are kept in the tree: seed with a small one
	seeds=$out/seeds_elf
	mkdir -p "$seeds"
	printf 'void *malloc(unsigned long n) { return (void *)n; }\nvoid free(void *p) { (void)p; }\n' |
		clang -x c -O2 -g -gz=zlib -shared -fPIC -nostdlib -Wl,--build-id -o "$seeds/tiny.so" -
fi
"$out/fuzz_$target" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
	"$out/corpus_$target" "$seeds"
