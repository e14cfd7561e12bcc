#!/bin/bash
# DWARF unwinding of programs without frame pointers: complete stacks (>= 99%
# reach main) through deep recursion, a shared library, a libc callback and
# C++ virtual calls; a short stack copy is counted and reported; hostile CFI
# leaves [unknown] at the root; falling behind keeps samples without stacks.
. "$(dirname "$0")/lib.sh"
require_perf

"$SMOLDER" record -q -F 999 --unwind dwarf -o "$TMP/deep.folded" -- "$WORKLOADS/deep" 3 > /dev/null ||
	fail "record deep: status $?"
s=$(share "$TMP/deep.folded" '^deep;_start;.*;main;')
near "$s" 100 1 && pass "deep: $s% of stacks reach _start -> main" || fail "deep: only $s% complete"
# 60 recursive frames plus the leaf, under main, for every sample in the
# recursion's leaves (their share of the time depends on the CPU: the
# workload mixes by iterations, not by time).
deep=$(awk '/;(leaf_burn|lib_burn|lib_inner) [0-9]+$/ { n = gsub(/;recurse/, "&"); if (n >= 61) c += $NF; t += $NF }
	END { printf "%.1f", t ? 100 * c / t : 0 }' "$TMP/deep.folded")
awk -v d="$deep" 'BEGIN { exit !(d > 97) }' && pass "deep: $deep% of the recursion's leaf samples 61 recurse frames deep" ||
	fail "deep: recursion not unwound ($deep%)"
r61=$(printf ';recurse%.0s' $(seq 61)) # mawk has no {61}
for leaf in leaf_burn "lib_burn;lib_inner"; do
	s=$(share "$TMP/deep.folded" ";main$r61;$leaf\$")
	awk -v s="$s" 'BEGIN { exit !(s > 15) }' && pass "deep: main, 61 x recurse, $leaf ($s%)" ||
		fail "deep: main, 61 x recurse, $leaf: $s%"
done
s=$(share "$TMP/deep.folded" ';main;sort_round;.*;compare_slow$')
awk -v s="$s" 'BEGIN { exit !(s > 15) }' && pass "deep: qsort callback under main;sort_round ($s%)" ||
	fail "deep: qsort callback path missing ($s%)"

"$SMOLDER" record -q -F 999 --unwind dwarf -o "$TMP/cpp.folded" -- "$WORKLOADS/cpp" 3 > /dev/null ||
	fail "record cpp: status $?"
s=$(share "$TMP/cpp.folded" ';main;')
near "$s" 100 1 && pass "c++: $s% of stacks reach main" || fail "c++: only $s% complete"
s=$(share "$TMP/cpp.folded" ';main;.*run_round.*;.*apply_all.*;.*Scaled.*area')
awk -v s="$s" 'BEGIN { exit !(s > 80) }' && pass "c++: main -> run_round -> apply_all -> Scaled::area ($s%)" ||
	fail "c++: virtual call path missing ($s%): $(sort -t' ' -k2 -n "$TMP/cpp.folded" | tail -2)"

# A static binary: the linker writes no .eh_frame_hdr for it (gcc asks for
# one for dynamic ones only), and the unwinder indexes its .eh_frame itself.
"$SMOLDER" record -q -F 999 -o "$TMP/static.folded" -- "$WORKLOADS/shares_static" 3 > /dev/null ||
	fail "record shares_static: status $?"
s=$(share "$TMP/static.folded" '^shares_static;_start;.*;main;')
near "$s" 100 1 && pass "static, no frame pointers, no .eh_frame_hdr: $s% of stacks reach _start -> main" ||
	fail "static: only $s% complete: $(sort -t' ' -k2 -n "$TMP/static.folded" | tail -3)"
expect_share "$TMP/static.folded" ';main;run_b;middle_b;burn_b$' 30 6 "static: main -> run_b -> middle_b -> burn_b"
expect_share "$TMP/static.folded" ';main;run_c;burn_c$' 50 6 "static: main -> run_c -> burn_c"

# Debian's musl-gcc links without .eh_frame_hdr too, dynamic as its binaries are.
if command -v musl-gcc > /dev/null; then
	musl-gcc -O2 -g -fomit-frame-pointer -o "$TMP/shares_musl" "$top_srcdir/tests/workloads/shares.c"
	"$SMOLDER" record -q -F 999 -o "$TMP/musl.folded" -- "$TMP/shares_musl" 3 > /dev/null ||
		fail "record shares_musl: status $?"
	expect_share "$TMP/musl.folded" ';main;run_c;burn_c$' 50 6 "musl-gcc, no .eh_frame_hdr: main -> run_c -> burn_c"
else
	echo "not tested: a musl-gcc build (no musl-gcc; scripts/setup --test installs musl-tools)"
fi

# A stack copy too small for the recursion: counted, and the summary says so.
"$SMOLDER" record -F 999 --unwind dwarf --stack-size 512 -o "$TMP/short.folded" -- "$WORKLOADS/deep" 1 \
	> /dev/null 2> "$TMP/err"
grep -q 'cut short by the stack copy: raise --stack-size' "$TMP/err" && pass "short copy reported: $(grep 'cut short' "$TMP/err")" ||
	fail "short stack copy not reported: $(cat "$TMP/err")"

# Hostile CFI: the program's .eh_frame filled with 0xff (every length says
# "64-bit, 16 EiB"), or half its bytes garbled: no crash, no hang, and each
# stack keeps its leaf under an [unknown] root where the unwind stopped.
eh_frame() { # FILE BYTE|garble: overwrites the .eh_frame section
	python3 - "$1" "$2" <<'EOF2'
import random, subprocess, sys
path, how = sys.argv[1:3]
for l in subprocess.run(["readelf", "-SW", path], capture_output=True, text=True).stdout.splitlines():
    f = l.replace("[ ", "[").split()
    if len(f) > 5 and f[1] == ".eh_frame":
        off, size = int(f[4], 16), int(f[5], 16)
data = bytearray(open(path, "rb").read())
rnd = random.Random(7)
for i in range(off, off + size):
    if how != "garble":
        data[i] = int(how, 16)
    elif i >= off + 32 and rnd.random() < 0.5:
        data[i] = rnd.randrange(256)
open(path, "wb").write(data)
EOF2
}
# The static build's too, which the unwinder indexes itself.
for how in ff garble static_ff static_garble; do
	if [ "${how#static_}" != "$how" ]; then
		cp "$WORKLOADS/shares_static" "$TMP/cfi_$how"
	else
		cp "$WORKLOADS/shares_nofp" "$TMP/cfi_$how"
	fi
	eh_frame "$TMP/cfi_$how" "${how#static_}"
	timeout 60 "$SMOLDER" record -q -F 999 --unwind dwarf -o "$TMP/cfi_$how.folded" -- "$TMP/cfi_$how" -n 200 \
		> /dev/null 2> "$TMP/cfi.err"
	st=$?
	leaves=$(share "$TMP/cfi_$how.folded" ';burn_[abc]$')
	[ $st = 0 ] && near "$leaves" 100 5 && pass "CFI $how: status 0, $leaves% of samples keep their burn_* leaf" ||
		fail "CFI $how: status $st, leaves $leaves%: $(cat "$TMP/cfi.err")"
done
s=$(share "$TMP/cfi_ff.folded" '^cfi_ff;\[unknown\];burn_[abc]$')
near "$s" 100 5 && pass "CFI ff: $s% of stacks are [unknown] -> leaf" ||
	fail "CFI ff: $s% under [unknown]: $(head -3 "$TMP/cfi_ff.folded")"

# When unwinding falls behind (here: a queue of 40 KiB between the reader and
# the unwinding thread), samples keep their leaf without their stack, under
# a frame that says so: counted and reported, never silent.
SMOLDER_TEST_QUEUE_KB=40 "$SMOLDER" record -F 999 --unwind dwarf -o "$TMP/shed.smolder" -- \
	"$WORKLOADS/threads" 2 0.5 > /dev/null 2> "$TMP/err"
"$SMOLDER" flamegraph "$TMP/shed.smolder" -o "$TMP/shed.svg"
grep -Eq '[1-9][0-9]* of [0-9]+ samples kept without their stack' "$TMP/err" &&
	grep -q 'kept without their stack' "$TMP/shed.svg" &&
	"$SMOLDER" fold "$TMP/shed.smolder" | grep -Eq '^[^;]+;\[stack not unwound\];[^;]+ [0-9]+$' &&
	pass "stackless samples reported in the summary and on the flamegraph, leaf kept" ||
	fail "stackless samples not reported: $(cat "$TMP/err"); $("$SMOLDER" fold "$TMP/shed.smolder" | grep -m3 'not unwound')"

# Time in the vDSO (clock_gettime): named from a copy of the vDSO's image,
# and unwound through its CFI up to main (before: "[vdso]+0xb66" under
# garbage frames, for about half of these samples).  Some kernels (6.18 on
# a PVM guest) read the clock in a static function of the vDSO that its
# symbol table does not name: such a leaf may stay an address, but only
# right under the named clock_gettime.
"$SMOLDER" record -q -F 999 -o "$TMP/vdso.folded" -- "$WORKLOADS/vdso" 2 > /dev/null || fail "record vdso: status $?"
read -r total clock named raw unknown < <(awk '{ n = $NF; t += n }
	/;main;in_clock/ { c += n }
	/;main;in_clock;.*vdso_clock_gettime(;\[vdso\]\+0x[0-9a-f]+( \(inferred\))?)? [0-9]+$/ { v += n }
	/\[vdso\]\+0x/ && !/vdso_clock_gettime;\[vdso\]\+0x[0-9a-f]+( \(inferred\))? [0-9]+$/ { r += n }
	/\[unknown\]/ { u += n }
	END { print t + 0, c + 0, v + 0, r + 0, u + 0 }' "$TMP/vdso.folded")
awk -v t="$total" -v c="$clock" -v v="$named" -v r="$raw" -v u="$unknown" \
	'BEGIN { exit !(t > 0 && c / t > 0.35 && c / t < 0.65 && v / c > 0.8 && r == 0 && u / t < 0.02) }' &&
	pass "vdso: $named of $clock samples in main;in_clock end in the vDSO's clock_gettime (or an unnamed helper right under it); $unknown of $total unknown" ||
	fail "vdso: total $total, in_clock $clock, named vDSO leaf $named, '[vdso]+0x' elsewhere $raw, [unknown] $unknown"
finish
