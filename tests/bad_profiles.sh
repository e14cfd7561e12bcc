#!/bin/bash
# Broken and hostile profiles: each gives one clean error line and status 1
# from every command that reads profiles, never a signal; and every prefix of
# a good profile either reads (with a warning) or fails the same clean way.
. "$(dirname "$0")/lib.sh"
n=0
for f in "$top_srcdir"/tests/data/bad/*.smolder; do
	for cmd in info fold report flamegraph; do
		n=$((n + 1))
		"$SMOLDER" "$cmd" "$f" > /dev/null 2> "$TMP/err"
		status=$?
		if [ "$status" != 1 ]; then
			fail "$cmd $(basename "$f"): status $status"
		elif [ "$(wc -l < "$TMP/err")" != 1 ] || ! grep -q "^smolder: $cmd: .*$(basename "$f"): " "$TMP/err"; then
			fail "$cmd $(basename "$f"): not one clean line: $(cat "$TMP/err")"
		fi
	done
done
[ "$n" -ge 60 ] && pass "$n bad-profile cases fail cleanly" || fail "only $n cases"

# The truncation sweep, over a real profile of several chunks.
"$SMOLDER" merge "$top_srcdir/tests/data/diff/java1.folded" "$top_srcdir/tests/data/diff/java2.folded" \
	-o "$TMP/good.smolder" || fail "cannot make a profile to cut"
size=$(stat -c %s "$TMP/good.smolder")
readable=0
for cut in $(seq 0 "$size"); do
	head -c "$cut" "$TMP/good.smolder" > "$TMP/cut.smolder"
	"$SMOLDER" info "$TMP/cut.smolder" > /dev/null 2> "$TMP/err"
	status=$?
	case $status in
	0) readable=$((readable + 1))
	   [ "$cut" = "$size" ] || grep -q truncated "$TMP/err" || fail "cut at $cut read without a warning" ;;
	1) [ "$(wc -l < "$TMP/err")" = 1 ] || fail "cut at $cut: $(cat "$TMP/err")" ;;
	*) fail "cut at $cut: status $status"; break ;;
	esac
done
[ "$readable" -gt 1 ] && pass "truncation sweep: $((size + 1)) prefixes, $readable readable, none crashed" ||
	fail "truncation sweep: only $readable readable prefixes"
finish
