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
[ "$failures" -eq 0 ] && pass "$n corpus cases identical"
finish
