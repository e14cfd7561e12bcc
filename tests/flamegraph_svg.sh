#!/bin/bash
# The SVG is well-formed XML whatever the names hold, keeps every name (escaped),
# counts malformed lines instead of dying, and honours flamegraph.pl's options.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
in=$top_srcdir/tests/data/hostile.folded
"$SMOLDER" flamegraph --minwidth 0 "$in" > "$TMP/h.svg" 2> "$TMP/err"
status=$?
[ "$status" = 0 ] && pass "hostile names: status 0" || fail "hostile names: status $status"
grep -q 'ignored 2 of 14 lines' "$TMP/err" && pass "malformed lines counted: $(cat "$TMP/err")" ||
	fail "malformed lines not reported: $(cat "$TMP/err")"
"$PY" - "$TMP/h.svg" <<'PYEOF' && pass "well-formed XML with every hostile name intact" || fail "SVG not well-formed or names lost"
import sys, xml.dom.minidom as m
doc = m.parse(sys.argv[1])
titles = [t.firstChild.data for t in doc.getElementsByTagName("title") if t.firstChild]
want = ["amp&lt<gt>", "quote\"apos'", "</script><script>alert(1)</script>", "]]>end-of-cdata", "\u2603-snowman", "x" * 5000, "--><!--", "&#0&#xFFFE&amp"]
for w in want:
    assert any(t.startswith(w + " (") for t in titles), w[:40]
assert any(t.startswith("bad-utf8-\ufffd") for t in titles)
assert any(t.startswith("ctl\ufffd\ufffd\ufffd\ufffd (") for t in titles)
scripts = doc.getElementsByTagName("script")
assert len(scripts) == 1 and "alert" not in scripts[0].toxml()
PYEOF
! grep -q '<script><script>' "$TMP/h.svg" || fail "a name escaped its element"

# Labels are cut (with "..") after fitting, then escaped.
long=$(printf 'root;%0500d 10\n' 0)
echo "$long" | "$SMOLDER" flamegraph > "$TMP/long.svg"
grep -q '0\.\.</text>' "$TMP/long.svg" && pass "long label truncated with .." || fail "long label not truncated"

# Options.
printf 'a;b;c 60\na;b;d 30\na;e 10\n' > "$TMP/in.folded"
"$SMOLDER" flamegraph --title 'My <Title>' --subtitle sub --width 800 --height 20 --countname bytes \
	--nametype 'Func:' --colors mem --hash "$TMP/in.folded" > "$TMP/o.svg" || fail "options: status $?"
grep -q 'width="800"' "$TMP/o.svg" && grep -q '>My &lt;Title&gt;<' "$TMP/o.svg" && grep -q '>sub<' "$TMP/o.svg" &&
	grep -q 'height="19.0"' "$TMP/o.svg" && grep -q 'c (60 bytes, 60.00%)' "$TMP/o.svg" &&
	grep -q 'data-nametype="Func:"' "$TMP/o.svg" && pass "title, subtitle, width, height, countname, nametype" ||
	fail "options not applied"
grep -q 'fill="rgb(0,' "$TMP/o.svg" && pass "--colors mem gives the mem palette" || fail "mem palette not used"
"$SMOLDER" flamegraph --hash "$TMP/in.folded" > "$TMP/h1.svg"
"$SMOLDER" flamegraph --hash "$TMP/in.folded" > "$TMP/h2.svg"
cmp -s "$TMP/h1.svg" "$TMP/h2.svg" && pass "output is deterministic" || fail "two runs differ"
"$SMOLDER" flamegraph --minwidth 200 "$TMP/in.folded" > "$TMP/min.svg"
! grep -q '>e (' "$TMP/min.svg" && ! grep -q '<title>e (' "$TMP/min.svg" && grep -q '<title>c (' "$TMP/min.svg" &&
	pass "--minwidth drops narrow frames" || fail "--minwidth not applied"
"$SMOLDER" flamegraph --reverse "$TMP/in.folded" > "$TMP/rev.svg"
grep -q '<title>a (60 samples' "$TMP/rev.svg" && pass "--reverse merges by leaf" || fail "--reverse wrong"
"$SMOLDER" flamegraph --inverted "$TMP/in.folded" | grep -q 'data-inverted="1"' && pass "--inverted" || fail "--inverted"
"$SMOLDER" flamegraph --colors nosuch "$TMP/in.folded" > /dev/null 2> "$TMP/err"
[ $? = 1 ] && grep -q "unknown palette 'nosuch'" "$TMP/err" && pass "bad palette: clean error" || fail "bad palette"
printf 'no counts at all\n' | "$SMOLDER" flamegraph > /dev/null 2> "$TMP/err"
[ $? = 1 ] && grep -q 'no valid folded stack lines' "$TMP/err" && pass "no valid lines: clean error" ||
	fail "empty input: $(cat "$TMP/err")"
"$SMOLDER" flamegraph /nonexistent/file > /dev/null 2> "$TMP/err"
[ $? = 1 ] && grep -q 'cannot read /nonexistent/file: No such file' "$TMP/err" && pass "missing file: clean error" ||
	fail "missing file: $(cat "$TMP/err")"

finish
