#!/bin/bash
# Replays every fuzz corpus (and the must-fail profiles) through its target.
. "$(dirname "$0")/lib.sh"
for target in profile folded perf_script elf; do
	if "$top_builddir/fuzz/replay_$target" "$top_srcdir/fuzz/corpus/$target" > "$TMP/out" 2>&1; then
		pass "$target: $(cat "$TMP/out")"
	else
		fail "$target: $(tail -3 "$TMP/out")"
	fi
done
if [ -d "$top_srcdir/tests/data/bad" ]; then
	"$top_builddir/fuzz/replay_profile" "$top_srcdir/tests/data/bad" > "$TMP/out" 2>&1 ||
		fail "bad profiles: $(tail -3 "$TMP/out")"
fi
finish
