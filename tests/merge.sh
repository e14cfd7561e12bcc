#!/bin/bash
# merge: totals add up, stacks stay whole, sources are listed, mismatches refused.
. "$(dirname "$0")/lib.sh"
D=$top_srcdir/tests/data/diff
"$SMOLDER" merge "$D/known-base.folded" "$D/known-new.folded" -o "$TMP/m.smolder" || fail "merge exited $?"
"$SMOLDER" fold "$TMP/m.smolder" > "$TMP/m.folded"
[ "$(total "$TMP/m.folded")" = 400 ] && pass "merged total 400 = 100 + 300" || fail "merged total $(total "$TMP/m.folded")"
grep -qx 'main;work;slow 85' "$TMP/m.folded" && grep -qx 'main;gone 20' "$TMP/m.folded" &&
	grep -qx 'main;newcomer 30' "$TMP/m.folded" && pass "stacks add up per stack" || fail "merged stacks wrong"
"$SMOLDER" info "$TMP/m.smolder" | grep -q "^sources: .*known-base.folded, .*known-new.folded" &&
	pass "info lists the sources" || fail "sources missing from info"
"$SMOLDER" merge "$TMP/m.smolder" "$D/known-base.folded" -o "$TMP/m2.svg" && grep -q '<title>slow (95 samples' "$TMP/m2.svg" &&
	pass "profile + folded merge to an SVG" || fail "mixed merge to svg failed"
printf 'x 1\n' > "$TMP/x.folded"
"$SMOLDER" merge "$TMP/x.folded" /nonexistent -o "$TMP/bad.smolder" 2> "$TMP/err"
[ $? = 1 ] && [ ! -e "$TMP/bad.smolder" ] && grep -q 'cannot read /nonexistent' "$TMP/err" &&
	pass "missing input: clean error, no output" || fail "missing input: $(cat "$TMP/err")"
for cmd in merge export; do
	"$SMOLDER" $cmd "$TMP/x.folded" 2> "$TMP/err"
	[ $? = 2 ] && grep -q "^smolder: $cmd: needs .*-o OUT" "$TMP/err" && pass "$cmd without -o: usage error naming it" ||
		fail "$cmd without -o: $(cat "$TMP/err")"
done
finish
