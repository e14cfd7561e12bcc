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

# The truncation sweep, over a real profile of several batches (a recording
# killed after three, with times), every third byte (the sanitized build of
# scripts/test, whose every start costs ASan's, every SWEEP_STEP-th).
cp "$top_srcdir/tests/data/compat/killed-v2.smolder.partial" "$TMP/good.smolder"
size=$(stat -c %s "$TMP/good.smolder")
step=${SWEEP_STEP:-3}
readable=0
cuts=0
for cut in $(seq 0 "$step" "$size"); do
	cuts=$((cuts + 1))
	head -c "$cut" "$TMP/good.smolder" > "$TMP/cut.smolder"
	"$SMOLDER" info "$TMP/cut.smolder" > /dev/null 2> "$TMP/err"
	status=$?
	case $status in
	0) readable=$((readable + 1))
	   grep -q truncated "$TMP/err" || fail "cut at $cut read without a warning" ;;
	1) [ "$(wc -l < "$TMP/err")" = 1 ] || fail "cut at $cut: $(cat "$TMP/err")" ;;
	*) fail "cut at $cut: status $status"; break ;;
	esac
done
[ "$readable" -gt 1 ] && pass "truncation sweep: $cuts prefixes of $((size + 1)), $readable readable, none crashed" ||
	fail "truncation sweep: only $readable readable prefixes"

# A newer format is refused, naming the cause; what the last landed smolder
# (faedf0f) wrote, a whole recording and one SIGKILLed, reads as it did then.
"$SMOLDER" info "$top_srcdir/tests/data/bad/bad-version.smolder" 2>&1 | grep -q 'a newer smolder wrote it' &&
	pass "a newer format version: refused, saying a newer smolder wrote it" || fail "bad version: no cause named"
compat=$top_srcdir/tests/data/compat
"$SMOLDER" fold "$compat/cpu-faedf0f.smolder" | sort > "$TMP/compat.folded"
cmp -s "$TMP/compat.folded" "$compat/cpu-faedf0f.folded" && pass "a faedf0f recording folds as it did then" ||
	fail "a faedf0f recording reads differently: $(diff "$TMP/compat.folded" "$compat/cpu-faedf0f.folded" | head -3)"
"$SMOLDER" fold "$compat/killed-faedf0f.smolder.partial" 2> "$TMP/err" | sort > "$TMP/compat.folded"
cmp -s "$TMP/compat.folded" "$compat/killed-faedf0f.folded" && grep -q truncated "$TMP/err" &&
	pass "a faedf0f .partial folds as it did then, with the truncation warning" ||
	fail "a faedf0f .partial reads differently: $(head -2 "$TMP/err")"
for f in cpu-v2.smolder killed-v2.smolder.partial; do
	"$SMOLDER" fold "$compat/$f" 2> /dev/null | sort > "$TMP/compat.folded"
	cmp -s "$TMP/compat.folded" "$compat/${f%%.*}.folded" && pass "a version 2 $f folds as it did" ||
		fail "a version 2 $f reads differently"
done
finish
