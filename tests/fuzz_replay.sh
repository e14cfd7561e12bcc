#!/bin/bash
# Replays every fuzz corpus (and the must-fail profiles) through its target.
. "$(dirname "$0")/lib.sh"
# The ELF readers' corpus is built, not kept: ELF files of this build, cut
# short and with bytes flipped in their headers, notes, .debug_aranges and
# (the static one's, which has no .eh_frame_hdr) .eh_frame.
mkdir -p "$TMP/elf"
cp "$top_srcdir"/fuzz/corpus/elf/* "$TMP/elf/" # and what campaigns found
for f in "$top_builddir/tests/workloads/libplugin.so" "$top_builddir/tests/workloads/allocs" \
	"$top_builddir/tests/workloads/allocs_static"; do
	b=$(basename "$f")
	cp "$f" "$TMP/elf/$b"
	for n in 16 64 200 600 1000 4096; do head -c $n "$f" > "$TMP/elf/$b.$n"; done
	aranges=$(readelf -SW "$f" | awk '{ for (i = 1; i < NF; i++) if ($i == ".debug_aranges") print $(i + 3) }')
	aranges=${aranges:+$((16#$aranges))}
	read -r eh eh_size < <(readelf -SW "$f" | awk '{ for (i = 1; i < NF; i++) if ($i == ".eh_frame") print $(i + 3), $(i + 4) }')
	eh_flips=""
	if [ "$b" = allocs_static ] && [ -n "$eh" ]; then
		eh=$((16#$eh)) eh_size=$((16#$eh_size))
		eh_flips="$((eh)) $((eh + 3)) $((eh + 8)) $((eh + 13)) $((eh + 17)) $((eh + 27)) $((eh + 31))"
		for k in $(seq 1 12); do eh_flips="$eh_flips $((eh + k * eh_size / 13))"; done
	fi
	for at in 5 20 40 60 400 700 ${aranges:+$((aranges + 4)) $((aranges + 6)) $((aranges + 10)) $((aranges + 17))} $eh_flips; do
		python3 -c 'import sys; d = bytearray(open(sys.argv[1], "rb").read()); i = int(sys.argv[2]); d[i] ^= 0xff
open(sys.argv[3], "wb").write(d)' "$f" "$at" "$TMP/elf/$b.flip$at"
	done
done
# The DWARF readers' too: the sections of C and C++ builds of this tree (in
# fuzz_dwarf.c's layout), cut short and with bytes flipped all through.
mkdir -p "$TMP/dwarf"
for f in "$top_builddir/tests/workloads/inline" "$top_builddir/tests/workloads/allocs"; do
	b=$(basename "$f")
	for s in info abbrev line str line_str; do
		objcopy --dump-section ".debug_$s=$TMP/dwarf/$b.$s" "$f" "$TMP/dwarf/junk" 2> /dev/null || : > "$TMP/dwarf/$b.$s"
	done
	python3 - "$TMP/dwarf/$b" <<'PYEOF'
import struct, sys
base = sys.argv[1]
parts = [open(base + "." + s, "rb").read() for s in ("info", "abbrev", "line", "str", "line_str")]
whole = struct.pack("<5I", *map(len, parts)) + b"".join(parts)
open(base + ".dwarf", "wb").write(whole)
for n in (20, 100, 1000, len(whole) // 2):
    open("%s.cut%d" % (base, n), "wb").write(whole[:n])
for k in range(1, 40):
    d = bytearray(whole)
    d[20 + k * (len(whole) - 20) // 40] ^= 0xff
    open("%s.flip%d" % (base, k), "wb").write(d)
PYEOF
	rm -f "$TMP/dwarf/$b".{info,abbrev,line,str,line_str} "$TMP/dwarf/junk"
done
for target in profile folded perf_script elf dwarf agent_ring; do
	corpus=$top_srcdir/fuzz/corpus/$target
	[ $target = elf ] && corpus=$TMP/elf
	[ $target = dwarf ] && corpus=$TMP/dwarf
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
