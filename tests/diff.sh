#!/bin/bash
# diff: difffolded.pl's output exactly; known deltas in the report, the SVG's
# colours and the CI gate; and an end-to-end run where one function got slower.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
D=$top_srcdir/tests/data/diff

# Same lines as difffolded.pl, with and without -n (its order is Perl's hash order).
for pair in "java1 java2" "funcab-cmd funcab-pid" "known-base known-new"; do
	set -- $pair
	"$SMOLDER" diff --folded "$D/$1.folded" "$D/$2.folded" | LC_ALL=C sort > "$TMP/out"
	cmp -s "$TMP/out" "$D/$1-$2.expected" && pass "diff --folded $1 $2 = difffolded.pl" ||
		fail "diff --folded $1 $2 differs: $(diff "$D/$1-$2.expected" "$TMP/out" | head -3 | tr '\n' ' ')"
	"$SMOLDER" diff --folded -n "$D/$1.folded" "$D/$2.folded" | LC_ALL=C sort > "$TMP/out"
	cmp -s "$TMP/out" "$D/$1-$2-n.expected" && pass "diff --folded -n $1 $2 = difffolded.pl -n" ||
		fail "diff --folded -n $1 $2 differs: $(diff "$D/$1-$2-n.expected" "$TMP/out" | head -3 | tr '\n' ' ')"
done

# Known deltas (totals 100 and 300): slow 10% -> 25%, fast 60% -> 50%, gone
# 20% -> 0, idle 10% -> 15%, newcomer 0 -> 10%.
base=$D/known-base.folded new=$D/known-new.folded
"$SMOLDER" diff --report --format json --limit 0 "$base" "$new" > "$TMP/r.json" || fail "report exited $?"
"$PY" - "$TMP/r.json" <<'PYEOF' && pass "report: shares, deltas and order right" || fail "report wrong: $(cat "$TMP/r.json")"
import json, sys
r = json.load(open(sys.argv[1]))
f = {x["function"]: x for x in r["functions"]}
def near(a, b): return abs(a - b) < 0.01
assert r["base_total"] == 100 and r["new_total"] == 300
assert near(f["slow"]["base_total_pct"], 10) and near(f["slow"]["new_total_pct"], 25) and near(f["slow"]["delta_total_pts"], 15)
assert near(f["gone"]["delta_total_pts"], -20) and near(f["gone"]["new_total_pct"], 0)
assert near(f["newcomer"]["delta_total_pts"], 10) and near(f["newcomer"]["base_total_pct"], 0)
assert near(f["fast"]["delta_total_pts"], -10) and near(f["idle"]["delta_total_pts"], 5)
assert near(f["work"]["delta_total_pts"], 5)
order = [x["function"] for x in r["functions"]]
assert order[:2] == ["gone", "slow"], order
PYEOF
"$SMOLDER" diff --report --absolute --format tsv "$base" "$new" | awk -F'\t' '$1 == "slow" { print $2, $3 }' > "$TMP/abs"
read -r a b < "$TMP/abs"
near "$a" 3.3333 0.01 && near "$b" 25 0.01 && pass "--absolute: raw counts (10 -> 75 of 300)" || fail "--absolute: '$a' '$b'"
"$SMOLDER" diff --fail-above 12 "$base" "$new" > /dev/null 2> "$TMP/err"
status=$?
[ "$status" = 3 ] && grep -q 'slow grew by 15.00 points (10.00% -> 25.00%)' "$TMP/err" && ! grep -q newcomer "$TMP/err" &&
	pass "--fail-above 12: exit 3 naming slow" || fail "--fail-above 12: status $status: $(cat "$TMP/err")"
"$SMOLDER" diff --fail-above 15.5 "$base" "$new" > /dev/null 2>&1
status=$?
[ "$status" = 0 ] && pass "--fail-above 15.5: exit 0" || fail "--fail-above 15.5: status $status"

# The differential SVG: red where a share grew, blue where it shrank, new frames marked.
"$SMOLDER" diff "$base" "$new" -o "$TMP/d.svg" || fail "diff -o exited $?"
"$PY" - "$TMP/d.svg" <<'PYEOF' && pass "SVG colours: slow red, fast blue, newcomer marked, gone absent" || fail "SVG colours wrong"
import re, sys, xml.dom.minidom as m
doc = m.parse(sys.argv[1])
frames = {}
root = [g for g in doc.getElementsByTagName("g") if g.getAttribute("id") == "frames"][0]
for g in root.getElementsByTagName("g"):
    title = g.getElementsByTagName("title")[0].firstChild.data
    rect = g.getElementsByTagName("rect")[0]
    frames[title.split(" (")[0]] = (title, rect.getAttribute("fill"), rect.getAttribute("class"))
def rgb(s): return tuple(int(x) for x in re.match(r"rgb\((\d+),(\d+),(\d+)\)", s).groups())
r, g, b = rgb(frames["slow"][1]); assert r == 255 and g < 100 and g == b, frames["slow"]
r, g, b = rgb(frames["fast"][1]); assert b == 255 and r == g and r > 50, frames["fast"]
assert frames["newcomer"][2] == "new"
assert "gone" not in frames
assert "base 10.00%, new 25.00%, +15.00 points, +150.0%" in frames["slow"][0], frames["slow"][0]
PYEOF
"$SMOLDER" diff --negate "$base" "$new" -o "$TMP/neg.svg"
grep -q '<title>gone (20 samples, 20.00%; base 20.00%, new 0.00%, -20.00 points' "$TMP/neg.svg" &&
	pass "--negate: widths from BASE show what vanished" || fail "--negate: gone missing"
"$SMOLDER" diff --min-delta 6 "$base" "$new" -o "$TMP/min.svg"
grep -A0 '<title>idle' "$TMP/min.svg" | grep -q 'fill="rgb(220,220,220)"' && pass "--min-delta greys small changes" ||
	fail "--min-delta not applied"

# End to end: record a build, then one where burn_b does three times the work.
if perf_usable; then
	"$SMOLDER" record -q -F 999 -o "$TMP/v1.smolder" -- "$WORKLOADS/shares_fp" 2 > /dev/null
	"$SMOLDER" record -q -F 999 -o "$TMP/v2.smolder" -- "$WORKLOADS/shares_slow_b" 2 > /dev/null
	"$SMOLDER" diff --report --format tsv "$TMP/v1.smolder" "$TMP/v2.smolder" > "$TMP/e2e.tsv"
	first=$(awk -F'\t' 'NR == 2 { print $1 }' "$TMP/e2e.tsv")
	[ "$first" = burn_b ] && pass "end to end: burn_b named first ($(sed -n 2p "$TMP/e2e.tsv" | cut -f2-4))" ||
		fail "end to end: first row is '$first': $(head -4 "$TMP/e2e.tsv")"
	"$SMOLDER" diff --fail-above 10 "$TMP/v1.smolder" "$TMP/v2.smolder" > /dev/null 2> "$TMP/err"
	[ $? = 3 ] && grep -q '^smolder: diff: burn_b grew' "$TMP/err" && pass "end to end: the gate trips on burn_b" ||
		fail "end to end gate: $(cat "$TMP/err")"
else
	[ "${SMOLDER_REQUIRE_PERF:-0}" = 1 ] && fail "perf_event_open not permitted (SMOLDER_REQUIRE_PERF=1)"
fi
finish
