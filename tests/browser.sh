#!/bin/bash
# The flamegraph works in a real browser: headless Chromium opens an SVG,
# hovers and clicks a frame (it zooms to full width, others hide), resets, and
# searches by regular expression (the matched share is right).
. "$(dirname "$0")/lib.sh"
require_browser
printf 'main;run_a;burn_a 20\nmain;run_b;middle_b;burn_b 30\nmain;run_c;burn_c 50\n' > "$TMP/in.folded"
"$SMOLDER" flamegraph "$TMP/in.folded" > "$TMP/graph.svg" || fail "flamegraph exited $?"

run_browser() { # SVG QUERY
	browser_result harness.html "svg=file://$1&$2"
}
run_browser "$TMP/graph.svg" "zoom=run_b&hidden=run_c&search=burn_%5Bab%5D" > "$TMP/result"
cat "$TMP/result"
value() { awk -v k="$1" '$1 == k { $1 = ""; sub(/^ /, ""); print }' "$TMP/result"; }
grep -q '^error' "$TMP/result" && fail "script error: $(grep '^error' "$TMP/result")"
before=$(value before) zoomed=$(value zoomed)
near "$before" 354 1 && pass "run_b drawn at 30% of 1180 px ($before)" || fail "run_b width $before, expected 354"
near "$zoomed" 1180 1 && pass "click zoomed run_b to full width ($zoomed)" || fail "zoomed width '$zoomed'"
[ "$(value hidden)" = none ] && pass "click hid the sibling run_c" || fail "run_c not hidden: '$(value hidden)'"
value details | grep -q 'Function: run_b (30 samples, 30.00%)' && pass "hover shows details" ||
	fail "hover details: '$(value details)'"
[ "$(value label)" = run_b ] && pass "zoomed frame labelled" || fail "label '$(value label)'"
value reset | grep -q "^$before" && pass "reset restored the width" || fail "reset: '$(value reset)'"
near "$(value search)" 50 0.01 && pass "search burn_[ab] matched 50%" || fail "search matched '$(value search)'"
value matched | grep -q 'Matched: 50.0%' && pass "matched share shown" || fail "matched text '$(value matched)'"

# Icicle layout behaves the same; zooming works upside down.
"$SMOLDER" flamegraph --inverted "$TMP/in.folded" > "$TMP/icicle.svg"
run_browser "$TMP/icicle.svg" "zoom=run_c&hidden=run_a&search=middle_b" > "$TMP/result"
near "$(value zoomed)" 1180 1 && [ "$(value hidden)" = none ] && near "$(value search)" 30 0.01 &&
	pass "icicle: zoom and search work" || fail "icicle: $(tr '\n' ' ' < "$TMP/result")"

# The differential flamegraph behaves the same (widths from NEW).
"$SMOLDER" diff "$top_srcdir/tests/data/diff/known-base.folded" "$top_srcdir/tests/data/diff/known-new.folded" \
	-o "$TMP/diff.svg" || fail "diff -o exited $?"
run_browser "$TMP/diff.svg" "zoom=work&hidden=idle&search=%5Eslow%24" > "$TMP/result"
near "$(value zoomed)" 1180 1 && [ "$(value hidden)" = none ] && near "$(value search)" 25 0.01 &&
	value details | grep -q 'base 70.00%, new 75.00%, +5.00 points' &&
	pass "differential: zoom, hover and search work" || fail "differential: $(tr '\n' ' ' < "$TMP/result")"
finish
