#!/bin/bash
# The HTML report in real Chromium, driven with real mouse events: on the
# committed recording of tests/workloads/phases (phase_one for a second, then
# phase_two), dragging over the heatmap's first half gives a table and
# flamegraph led by phase_one, a click on the second column one led by
# phase_two, another value changes the numbers shown; search, hover and the
# icicle toggle work, and the console stays empty.  Then a live recording
# with three views, and the differential page of diff.
. "$(dirname "$0")/lib.sh"
require_browser
f=$top_srcdir/tests/data/compat/cpu-v2.smolder
"$SMOLDER" flamegraph "$f" -o "$TMP/report.html" || fail "flamegraph -o report.html exited $?"
browser_result report_harness.html "page=file://$TMP/report.html" > "$TMP/result"
cat "$TMP/result"
value() { awk -v k="$1" '$1 == k { $1 = ""; sub(/^ /, ""); print }' "$TMP/result"; }
field() { value "$1" | cut -d'|' -f"$2"; }
grep -q '^error' "$TMP/result" && fail "script error: $(grep '^error' "$TMP/result")"
[ -s "$TMP/console" ] && fail "console messages: $(cat "$TMP/console")" || pass "no console messages"
[ "$(value heatmaps)" = 1 ] && pass "one heatmap" || fail "heatmaps: '$(value heatmaps)'"
[ "$(field first_top 1)" = phase_one ] && awk -v s="$(field first_top 3)" 'BEGIN { exit !(s >= 90) }' &&
	pass "drag over the first half ($(value range)): phase_one leads with $(field first_top 3)% self" ||
	fail "first half: '$(value first_top)', range '$(value range)'"
[ "$(field second_top 1)" = phase_two ] && awk -v s="$(field second_top 3)" 'BEGIN { exit !(s >= 90) }' &&
	[ "$(value click_range)" = "1.000 s – 2.000 s" ] &&
	pass "a click on the second column ($(value click_range)): phase_two leads with $(field second_top 3)%" ||
	fail "second column: '$(value second_top)', range '$(value click_range)'"
[ "$(value values)" = 2 ] && [ "$(field second_top 2)" = 992 ] && value value_top | grep -q '^phase_two|99[0-9]\.[0-9] ms|' &&
	pass "switching to cpu nanoseconds changes the values shown ($(field second_top 2) samples -> $(field value_top 2))" ||
	fail "value switch: '$(value second_top)' then '$(value value_top)'"
[ "$(field total_top 5)" = 100.00 ] && pass "sorted by total: $(field total_top 1) at 100%" ||
	fail "sort by total: '$(value total_top)'"
[ "$(value matched)" = "Matched: 100.0%" ] && pass "search phase_ matched 100% of the range" ||
	fail "search: '$(value matched)'"
value hover | grep -q '^all (99[0-9]\.[0-9] ms, 100.00%' && pass "hover: $(value hover)" || fail "hover: '$(value hover)'"
[ -n "$(value icicle_height)" ] && pass "icicle toggle redraws ($(value icicle_height))" || fail "icicle"
ready=$(value ready_ms)
[ -n "$ready" ] && [ "$ready" -lt 1000 ] && pass "interactive $ready ms after the page started" ||
	fail "interactive after '$ready' ms"
grep -q 'src=\|href="http' "$TMP/report.html" && fail "the page loads something from elsewhere" ||
	pass "self-contained ($(wc -c < "$TMP/report.html") bytes)"

# A live recording of three views: every value is offered.
require_perf
"$SMOLDER" record -q --view cpu,offcpu,io -o "$TMP/live.html" -- "$WORKLOADS/io" "$TMP/data" 2 > /dev/null ||
	fail "record -o live.html: $?"
n=$(grep -o '"values":\[[^]]*\]' "$TMP/live.html" | grep -o '"type"' | wc -l)
grep -q '"dt":\[' "$TMP/live.html" && [ "$n" -ge 6 ] && pass "record -o live.html: $n values, with times" ||
	fail "record -o live.html: $n values"

# The differential page: base's first half against new's second half.
"$SMOLDER" diff "$f" "$f" -o "$TMP/diff.html" || fail "diff -o diff.html exited $?"
browser_result report_harness.html "page=file://$TMP/diff.html&diff=1" > "$TMP/result"
cat "$TMP/result"
grep -q '^error' "$TMP/result" && fail "diff script error: $(grep '^error' "$TMP/result")"
[ -s "$TMP/console" ] && fail "diff console messages: $(cat "$TMP/console")"
[ "$(value heatmaps)" = 2 ] && value diff_head | grep -q 'Change (points)' &&
	value diff_top | grep -Eq '^phase_(one|two)\|' && awk -v d="$(field diff_top 4)" 'BEGIN { exit !(d * d >= 90 * 90) }' &&
	pass "diff: two heatmaps; base's first half against new's second: $(value diff_top)" ||
	fail "diff page: '$(value diff_top)', head '$(value diff_head)'"
"$SMOLDER" diff "$top_srcdir/tests/data/diff/known-base.folded" "$f" -o "$TMP/bad.html" 2> "$TMP/err" &&
	fail "diff of different values: status 0"
grep -q 'different values' "$TMP/err" && [ "$(wc -l < "$TMP/err")" = 1 ] && [ ! -e "$TMP/bad.html" ] && pass "different values: $(cat "$TMP/err")" ||
	fail "different values: $(cat "$TMP/err")"
finish
