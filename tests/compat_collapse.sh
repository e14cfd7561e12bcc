#!/bin/bash
# smolder collapse must print exactly what stackcollapse-perf.pl prints, for
# every input of FlameGraph's regression corpus and every option.
. "$(dirname "$0")/lib.sh"
[ -d "$COMPAT_DIR/flamegraph/results" ] || skip "no compat corpus at $COMPAT_DIR"
n=0
for input in "$COMPAT_DIR"/flamegraph/*.txt; do
	name=$(basename "$input" .txt)
	for opt in pid tid kernel jit all addrs; do
		expected="$COMPAT_DIR/flamegraph/results/$name-collapsed-$opt.txt"
		[ -f "$expected" ] || continue
		n=$((n + 1))
		if ! "$SMOLDER" collapse "--$opt" "$input" > "$TMP/out" 2> "$TMP/err"; then
			fail "$name --$opt: exit status $?: $(head -1 "$TMP/err")"
		elif ! cmp -s "$TMP/out" "$expected"; then
			fail "$name --$opt differs: $(diff "$expected" "$TMP/out" | head -3 | tr '\n' ' ')"
		fi
	done
done
[ "$n" -ge 78 ] || fail "only $n corpus cases found"

# Inputs larger than the read buffer: lines cross block boundaries, and files
# given together are one stream (Perl's <>), even when split mid-line.
python3 "$top_srcdir/bench/gen_perf_script.py" 30000 5000 7 > "$TMP/gen.perf"
"$SMOLDER" collapse "$TMP/gen.perf" > "$TMP/whole" || fail "collapse of a large input: status $?"
[ "$(awk '{ t += $NF } END { printf "%.0f", t }' "$TMP/whole")" = $((30000 * 10101010)) ] && [ "$(wc -l < "$TMP/whole")" = 5000 ] &&
	pass "large input: 5000 stacks, every sample counted" || fail "large input: wrong totals"
"$SMOLDER" collapse < "$TMP/gen.perf" | cmp -s - "$TMP/whole" || fail "stdin and file differ"
head -c 1234567 "$TMP/gen.perf" > "$TMP/part1"
tail -c +1234568 "$TMP/gen.perf" > "$TMP/part2"
"$SMOLDER" collapse "$TMP/part1" "$TMP/part2" | cmp -s - "$TMP/whole" && pass "a split input collapses as one stream" ||
	fail "split input differs from the whole"
[ "$failures" -eq 0 ] && pass "$n corpus cases identical"
finish
