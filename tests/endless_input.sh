#!/bin/bash
# Endless, huge or joined inputs: the header is checked first and the rest
# read chunk by chunk, so /dev/zero, a pipe of zeros or a sparse 3 GiB file
# is refused at once in little memory; two profiles joined are refused.
. "$(dirname "$0")/lib.sh"
printf 'main;work 3\n' > "$TMP/a.folded"
"$SMOLDER" merge "$TMP/a.folded" -o "$TMP/a.smolder" || fail "merge: status $?"
truncate -s 3G "$TMP/sparse"
peak_kib() { # COMMAND...: runs it, prints its peak RSS in KiB and its status
	local status=0
	/usr/bin/time -f %M -o "$TMP/rss" "$@" > /dev/null 2> "$TMP/err" || status=$?
	echo "$(tail -1 "$TMP/rss") $status"
}
for cmd in info fold; do
	for input in /dev/zero "$TMP/sparse"; do
		read -r kib status < <(peak_kib timeout 20 "$SMOLDER" "$cmd" "$input")
		[ "$status" != 0 ] && [ "$status" != 124 ] && [ "$kib" -lt 65536 ] &&
			grep -q "not a smolder profile\|neither a smolder profile nor folded text" "$TMP/err" ||
			fail "$cmd $input: status $status, peak $kib KiB: $(head -1 "$TMP/err")"
	done
done
# A pipe that never ends: the profile's header, then zeros.
read -r kib status < <(peak_kib timeout 20 bash -c "cat '$TMP/a.smolder' /dev/zero | '$SMOLDER' info -")
[ "$status" != 0 ] && [ "$status" != 124 ] && [ "$kib" -lt 65536 ] ||
	fail "a profile followed by endless zeros: status $status, peak $kib KiB"
read -r kib status < <(peak_kib timeout 20 bash -c "head -c 200000000 /dev/zero | '$SMOLDER' fold -")
[ "$status" != 0 ] && [ "$kib" -lt 65536 ] || fail "200 MB of zeros on a pipe: status $status, peak $kib KiB"
[ "$failures" = 0 ] && pass "endless and huge inputs refused at once in under 64 MiB"

cat "$TMP/a.smolder" "$TMP/a.smolder" > "$TMP/twice.smolder"
for cmd in info fold; do
	"$SMOLDER" "$cmd" "$TMP/twice.smolder" > /dev/null 2> "$TMP/err" && fail "$cmd read two joined profiles"
	grep -q "data after the profile's end" "$TMP/err" || fail "$cmd on joined profiles: $(cat "$TMP/err")"
done
[ "$failures" = 0 ] && pass "two profiles joined are refused, not read as the first"
finish
