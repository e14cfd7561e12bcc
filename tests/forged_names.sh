#!/bin/bash
# Names a profiled program chooses (its process and thread names, here with
# ';' and a newline followed by a count) cannot change the structure of any
# output: every folded line is a stack and a count, the counts add up to
# the samples recorded, and reports keep one row per function.
. "$(dirname "$0")/lib.sh"
require_perf
"$SMOLDER" record -q -F 499 --per-thread -o "$TMP/forge.smolder" -- "$WORKLOADS/forge" 1 > /dev/null ||
	fail "record: status $?"
samples=$("$SMOLDER" info "$TMP/forge.smolder" | awk '/^samples:/ { print $2 }')
for args in "" "--per-thread"; do
	# shellcheck disable=SC2086
	"$SMOLDER" fold $args "$TMP/forge.smolder" > "$TMP/forge.folded" || fail "fold $args: status $?"
	bad=$(grep -cvE '^[^;]+(;[^;]+)* [0-9]+$' "$TMP/forge.folded")
	[ "$bad" = 0 ] || fail "fold $args: $bad lines are not 'stack count': $(grep -vE '^[^;]+(;[^;]+)* [0-9]+$' "$TMP/forge.folded" | head -2)"
	total=$(awk '{ t += $NF } END { print t + 0 }' "$TMP/forge.folded")
	[ "$total" = "$samples" ] || fail "fold $args: counts add up to $total, not the $samples samples recorded"
	awk '$NF >= 99999 { bad = 1 } END { exit !bad }' "$TMP/forge.folded" && fail "fold $args: a forged count got through"
	# comm holds 15 bytes: "p\nmain 99999999"
	awk -F';' '{ print $1 }' "$TMP/forge.folded" | sort -u | grep -qx 'p?main 99999999' ||
		fail "fold $args: the process name is not one root frame: $(cut -d';' -f1 "$TMP/forge.folded" | sort -u | head -3)"
done
grep -q ';t:x?fake 99999-' "$TMP/forge.folded" || fail "the thread's frame is not 'name-tid' with ';' made ':'"
# The flamegraph and reports: no line that is not one of theirs.
"$SMOLDER" report "$TMP/forge.smolder" > "$TMP/report.txt" || fail "report: status $?"
grep -q '^fake\|^main 999' "$TMP/report.txt" && fail "report: a name started a line of its own"
"$SMOLDER" diff --report --format tsv "$TMP/forge.smolder" "$TMP/forge.smolder" > "$TMP/diff.tsv" || fail "diff: status $?"
awk -F'\t' 'NF != 7 { bad++ } END { exit bad > 0 }' "$TMP/diff.tsv" || fail "diff --format tsv: a row without 7 fields"
"$SMOLDER" diff --folded "$TMP/forge.smolder" "$TMP/forge.smolder" > "$TMP/diff.folded" || fail "diff --folded: status $?"
grep -cvE '^[^;]+(;[^;]+)* [0-9]+ [0-9]+$' "$TMP/diff.folded" | grep -qx 0 || fail "diff --folded: a line that is not 'stack count count'"
[ "$failures" = 0 ] && pass "forged names stay names: $samples samples, every line a stack and its count"
finish
