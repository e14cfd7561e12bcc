#!/bin/bash
# --time-range: a recording of tests/workloads/phases (phase_one for its
# first second, phase_two for the next, at 999 Hz: tests/data/compat/cpu-v2.smolder)
# cut at each half gives at least 90% of the right function, in every command
# that takes it; bad ranges and profiles without times get one clear line.
. "$(dirname "$0")/lib.sh"
f=$top_srcdir/tests/data/compat/cpu-v2.smolder
share() { # FOLDED FUNCTION: percent of the samples whose leaf-most phase frame is FUNCTION
	awk -v fn="$2" '{ n = $NF; t += n; if ($0 ~ ";" fn "( |;)") m += n } END { printf "%.1f", t ? 100 * m / t : 0 }' "$1"
}
"$SMOLDER" fold --time-range :1 "$f" > "$TMP/first" || fail "fold :1 exited $?"
"$SMOLDER" fold --time-range 1: "$f" > "$TMP/second" || fail "fold 1: exited $?"
a=$(share "$TMP/first" phase_one) b=$(share "$TMP/second" phase_two)
awk -v a="$a" -v b="$b" 'BEGIN { exit !(a >= 90 && b >= 90) }' &&
	pass "first half ${a}% phase_one, second half ${b}% phase_two" || fail "halves: $a% and $b%"
"$SMOLDER" export --time-range 1: "$f" -o "$TMP/second.json" && grep -q phase_two "$TMP/second.json" &&
	pass "export --time-range writes the second half" ||
	fail "export --time-range"
"$SMOLDER" flamegraph --time-range :1 "$f" > "$TMP/first.svg" && grep -q phase_one "$TMP/first.svg" &&
	pass "flamegraph --time-range" || fail "flamegraph --time-range"
"$SMOLDER" report --time-range :1 "$f" | grep -q phase_one && pass "report --time-range" || fail "report --time-range"
"$SMOLDER" diff --time-range :1 "$f" "$f" > /dev/null && pass "diff --time-range" || fail "diff --time-range"
for bad in "5:9" "x" "2:1" "a:"; do
	"$SMOLDER" fold --time-range "$bad" "$f" > /dev/null 2> "$TMP/err" && fail "--time-range $bad: status 0"
	[ "$(wc -l < "$TMP/err")" = 1 ] && grep -q -- "--time-range" "$TMP/err" && pass "--time-range $bad: $(cat "$TMP/err")" ||
		fail "--time-range $bad: $(cat "$TMP/err")"
done
"$SMOLDER" fold --time-range :1 "$top_srcdir/tests/data/compat/cpu-faedf0f.smolder" > /dev/null 2> "$TMP/err" &&
	fail "a version 1 profile: status 0"
grep -q "no sample times" "$TMP/err" && pass "a profile without times says so" || fail "no times: $(cat "$TMP/err")"
finish
