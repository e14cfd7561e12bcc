#!/bin/bash
# Outputs are created safely: a device given as -o is written, never
# replaced; a symlink planted at the temporary name is never followed; two
# recordings to one -o do not share a temporary file; an output that cannot
# be written is said before the recording, not after; a full disk is said
# when it happens and what was written stays readable.
. "$(dirname "$0")/lib.sh"
require_perf
folded="$TMP/in.folded"
printf 'main;work 3\nmain;idle 1\n' > "$folded"

# A character device stays one (merge, collapse, record and flamegraph).
if [ "$(id -u)" = 0 ]; then
	mknod "$TMP/dev" c 1 3 # /dev/null's numbers
	"$SMOLDER" merge "$folded" -o "$TMP/dev" || fail "merge -o a device: status $?"
	[ -c "$TMP/dev" ] || fail "merge -o replaced the device node"
	mknod "$TMP/dev.svg" c 1 3
	printf 'prog 1 1: 1 cpu-clock:\n\tffff work (/bin/x)\n\n' | "$SMOLDER" collapse -o "$TMP/dev.svg" ||
		fail "collapse -o a device: status $?"
	[ -c "$TMP/dev.svg" ] || fail "collapse -o replaced the device node"
	"$SMOLDER" record -q -d 0.3 -o "$TMP/dev.svg" -- "$WORKLOADS/shares_fp" 1 > /dev/null || fail "record -o a device: status $?"
	[ -c "$TMP/dev.svg" ] || fail "record -o replaced the device node"
	mknod "$TMP/dev.smolder" c 1 3
	"$SMOLDER" record -q -d 0.3 -o "$TMP/dev.smolder" -- "$WORKLOADS/shares_fp" 1 > /dev/null || fail "record -o a .smolder device: status $?"
	[ -c "$TMP/dev.smolder" ] || fail "record -o replaced the .smolder device node"
	[ "$failures" = 0 ] && pass "devices given as -o are written through, never replaced"
fi

# A symlink planted at OUT.partial (by someone who can write the directory)
# is left alone: the target file is not touched, OUT is written.
echo precious > "$TMP/victim"
for out in planted.smolder planted.svg; do
	ln -s "$TMP/victim" "$TMP/$out.partial"
	"$SMOLDER" record -q -d 0.3 -o "$TMP/$out" -- "$WORKLOADS/shares_fp" 1 > /dev/null || fail "$out: status $?"
	[ "$(cat "$TMP/victim")" = precious ] || fail "$out: the file behind the planted symlink was overwritten"
	[ -L "$TMP/$out.partial" ] || fail "$out: the planted symlink was replaced"
	[ -s "$TMP/$out" ] && [ ! -L "$TMP/$out" ] || fail "$out: no output"
done
"$SMOLDER" merge "$folded" -o "$TMP/planted.folded" 2> /dev/null
ln -s "$TMP/victim" "$TMP/m.svg.partial"
"$SMOLDER" merge "$folded" -o "$TMP/m.svg" || fail "merge with a planted symlink: status $?"
[ "$(cat "$TMP/victim")" = precious ] || fail "merge: wrote through the planted symlink"
grep -q '<svg' "$TMP/m.svg" || fail "merge: no SVG"
[ "$failures" = 0 ] && pass "a symlink planted at the temporary name is never followed"

# Two recordings to the same output at once: both complete, one file.
"$SMOLDER" record -q -d 1 -o "$TMP/both.smolder" -- "$WORKLOADS/shares_fp" 2 > /dev/null &
first=$!
"$SMOLDER" record -q -d 1 -o "$TMP/both.smolder" -- "$WORKLOADS/shares_fp" 2 > /dev/null || fail "second recording: status $?"
wait "$first" || fail "first recording: status $?"
"$SMOLDER" info "$TMP/both.smolder" > /dev/null 2>&1 || fail "two recordings to one -o left an unreadable file"
ls "$TMP"/both.smolder.partial* > /dev/null 2>&1 && fail "temporary files left: $(ls "$TMP"/both.smolder.partial*)"
[ "$failures" = 0 ] && pass "two recordings to one -o use temporary files of their own"

# An output that cannot be written is refused before recording.
for out in "$TMP/no/such/dir/x.svg" "$TMP" "$TMP/no/such/dir/x.folded"; do
	start=$(date +%s.%N)
	"$SMOLDER" record -d 5 -o "$out" -- "$WORKLOADS/shares_fp" 5 > /dev/null 2> "$TMP/err" && fail "$out: recorded"
	took=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
	awk -v t="$took" 'BEGIN { exit !(t < 2) }' || fail "$out: refused only after ${took}s"
	grep -q "cannot write $out" "$TMP/err" || fail "$out: $(cat "$TMP/err")"
done
[ "$failures" = 0 ] && pass "unwritable outputs are refused before the recording"

# A full disk: said when it happens, and the prefix written stays readable.
if [ "$(id -u)" = 0 ] && mkdir -p "$TMP/full" && mount -t tmpfs -o size=64k tmpfs "$TMP/full" 2> /dev/null; then
	"$SMOLDER" record -F 999 -d 4 -o "$TMP/full/x.smolder" -- "$WORKLOADS/deep" 4 > /dev/null 2> "$TMP/full.err" &
	rec=$!
	sleep 1.5
	dd if=/dev/zero of="$TMP/full/filler" bs=4k 2> /dev/null
	wait "$rec" && fail "a full disk: status 0"
	grep -q "cannot write $TMP/full/x.smolder.partial: No space left on device" "$TMP/full.err" ||
		fail "a full disk was not reported when it happened: $(cat "$TMP/full.err")"
	grep -q "what was written until then is in $TMP/full/x.smolder.partial" "$TMP/full.err" ||
		fail "the end did not say where the recording is: $(tail -1 "$TMP/full.err")"
	"$SMOLDER" info "$TMP/full/x.smolder.partial" > "$TMP/full.info" 2>&1 ||
		fail "the prefix left by a full disk does not read: $(cat "$TMP/full.info")"
	umount "$TMP/full"
	[ "$failures" = 0 ] && pass "a full disk is reported at once, and what was written stays readable"
fi
finish
