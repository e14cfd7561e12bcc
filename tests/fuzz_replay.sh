#!/bin/bash
# Replays every fuzz corpus (and the must-fail profiles) through its target.
. "$(dirname "$0")/lib.sh"
# The ELF readers' corpus is built, not kept: ELF files of this build, cut
# short and with bytes flipped in their headers and notes.
mkdir -p "$TMP/elf"
for f in "$top_builddir/tests/workloads/libplugin.so" "$top_builddir/tests/workloads/allocs"; do
	b=$(basename "$f")
	cp "$f" "$TMP/elf/$b"
	for n in 16 64 200 600 1000 4096; do head -c $n "$f" > "$TMP/elf/$b.$n"; done
	for at in 5 20 40 60 400 700; do
		python3 -c 'import sys; d = bytearray(open(sys.argv[1], "rb").read()); i = int(sys.argv[2]); d[i] ^= 0xff
open(sys.argv[3], "wb").write(d)' "$f" "$at" "$TMP/elf/$b.flip$at"
	done
done
for target in profile folded perf_script elf; do
	corpus=$top_srcdir/fuzz/corpus/$target
	[ $target = elf ] && corpus=$TMP/elf
	if "$top_builddir/fuzz/replay_$target" "$corpus" > "$TMP/out" 2>&1; then
		pass "$target: $(cat "$TMP/out")"
	else
		fail "$target: $(tail -3 "$TMP/out")"
	fi
done
if [ -d "$top_srcdir/tests/data/bad" ]; then
	"$top_builddir/fuzz/replay_profile" "$top_srcdir/tests/data/bad" > "$TMP/out" 2>&1 ||
		fail "bad profiles: $(tail -3 "$TMP/out")"
fi
finish
