#!/bin/bash
# CPU view: shares, parents and stack completeness on a workload whose call
# tree and time split are known (tests/workloads/shares.c: 20/30/50).
. "$(dirname "$0")/lib.sh"
require_perf

# Attach to a running frame-pointer build at 999 Hz.
start_workload "$WORKLOADS/shares_fp" 8 || finish
"$SMOLDER" record -q -p "$WL_PID" -F 999 -d 3 --unwind fp -o "$TMP/fp.folded" || fail "record -p exited $?"
stop_workload
[ "$(total "$TMP/fp.folded")" -gt 500 ] || fail "too few samples: $(total "$TMP/fp.folded")"
expect_share "$TMP/fp.folded" '^shares_fp;.*;main;run_a;burn_a$' 20 5 "fp attach: main;run_a;burn_a"
expect_share "$TMP/fp.folded" '^shares_fp;.*;main;run_b;middle_b;burn_b$' 30 5 "fp attach: main;run_b;middle_b;burn_b"
expect_share "$TMP/fp.folded" '^shares_fp;.*;main;run_c;burn_c$' 50 5 "fp attach: main;run_c;burn_c"

# The same tree from a build without frame pointers, unwound from DWARF CFI.
"$SMOLDER" record -q -F 999 --unwind dwarf -o "$TMP/dwarf.folded" -- "$WORKLOADS/shares_nofp" 3 > /dev/null ||
	fail "record --unwind dwarf exited $?"
expect_share "$TMP/dwarf.folded" ';main;run_a;burn_a$' 20 5 "dwarf: main;run_a;burn_a"
expect_share "$TMP/dwarf.folded" ';main;run_b;middle_b;burn_b$' 30 5 "dwarf: main;run_b;middle_b;burn_b"
expect_share "$TMP/dwarf.folded" ';main;run_c;burn_c$' 50 5 "dwarf: main;run_c;burn_c"
complete=$(share "$TMP/dwarf.folded" '^shares_nofp;_start;.*;main;')
near "$complete" 100 1 && pass "dwarf: $complete% of stacks reach _start -> main" ||
	fail "dwarf: only $complete% of stacks complete (want >= 99%)"

# Frame pointers cannot walk that build: the test proves the difference.
"$SMOLDER" record -q -F 999 --unwind fp -o "$TMP/broken.folded" -- "$WORKLOADS/shares_nofp" 2 > /dev/null
broken=$(share "$TMP/broken.folded" ';main;run_[abc];')
awk -v b="$broken" 'BEGIN { exit !(b < 20) }' && pass "fp on -fomit-frame-pointer: only $broken% complete" ||
	fail "fp on -fomit-frame-pointer unexpectedly complete ($broken%)"

# The default (auto) is DWARF for user frames.
"$SMOLDER" record -q -F 499 -o "$TMP/auto.smolder" -- "$WORKLOADS/shares_nofp" 2 > /dev/null || fail "record auto exited $?"
"$SMOLDER" fold "$TMP/auto.smolder" > "$TMP/auto.folded"
expect_share "$TMP/auto.folded" ';main;run_c;burn_c$' 50 6 "auto unwind: main;run_c;burn_c"

# info shows the event chosen (cycles with a PMU, cpu-clock without) and the rest.
"$SMOLDER" info "$TMP/auto.smolder" > "$TMP/info" || fail "info exited $?"
grep -Eq '^event: +(cycles \(hardware PMU\)|cpu-clock \(no hardware PMU)' "$TMP/info" &&
	pass "info: $(grep '^event:' "$TMP/info")" || fail "info has no event line: $(cat "$TMP/info")"
for field in command pid host kernel start duration frequency samples threads mappings; do
	grep -q "^$field" "$TMP/info" || fail "info lacks '$field'"
done
grep -q 'shares_nofp.*build-id [0-9a-f]\{40\}' "$TMP/info" && pass "info lists the binary's build-id" ||
	fail "no build-id for shares_nofp in info"
# cpu-clock can be forced; the choice shows in info.
"$SMOLDER" record -q --event cpu-clock -o "$TMP/clock.smolder" -- "$WORKLOADS/shares_fp" 0.5 > /dev/null
"$SMOLDER" info "$TMP/clock.smolder" | grep -q '^event: *cpu-clock' && pass "--event cpu-clock shows in info" ||
	fail "--event cpu-clock not in info"

# An SVG straight from record: well-formed and naming the hot function.
"$SMOLDER" record -q -F 499 -o "$TMP/r.svg" -- "$WORKLOADS/shares_fp" 1 > /dev/null || fail "record to svg exited $?"
python3 -c 'import sys, xml.dom.minidom as m; m.parse(sys.argv[1])' "$TMP/r.svg" && grep -q 'burn_c' "$TMP/r.svg" &&
	pass "record -o x.svg: well-formed, names burn_c" || fail "record -o x.svg is not a valid flamegraph"
finish
