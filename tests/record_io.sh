#!/bin/bash
# The io view: bytes, latency and calls of reads and writes, by the stack that
# made them.  The workload writes 3 MiB from write_a() and 1 MiB from write_b()
# in writes of varied size, and reads the 4 MiB back in read_back().
. "$(dirname "$0")/lib.sh"
require_perf
if [ "$(id -u)" = 0 ] && [ ! -d /sys/kernel/tracing/events ] && [ ! -d /sys/kernel/debug/tracing/events ]; then
	mount -t tracefs nodev /sys/kernel/tracing 2> /dev/null # the test's job, not smolder's
fi

# Eight rounds: long enough for the moves between CPUs below.
rounds=8
"$SMOLDER" record -q --view io -o "$TMP/io.smolder" -- "$WORKLOADS/io" "$TMP/data" $rounds > "$TMP/out" ||
	fail "record --view io: status $? $(cat "$TMP/out")"
read -r _ ca _ cb _ cr < <(tail -1 "$TMP/out")
a=$(value_under "$TMP/io.smolder" io_bytes ';main;write_a;')
b=$(value_under "$TMP/io.smolder" io_bytes ';main;write_b;')
r=$(value_under "$TMP/io.smolder" io_bytes ';main;read_back;')
[ "$a" = $((rounds * 3145728)) ] && [ "$b" = $((rounds * 1048576)) ] && [ "$r" = $((rounds * 4194304)) ] &&
	pass "bytes per call site exact: write_a $a, write_b $b, read_back $r" ||
	fail "bytes: write_a $a (want $((rounds * 3145728))), write_b $b (want $((rounds * 1048576))), read_back $r (want $((rounds * 4194304)))"
na=$(value_under "$TMP/io.smolder" io_calls ';main;write_a;')
nb=$(value_under "$TMP/io.smolder" io_calls ';main;write_b;')
nr=$(value_under "$TMP/io.smolder" io_calls ';main;read_back;')
[ "$na" = "$ca" ] && [ "$nb" = "$cb" ] && [ "$nr" = "$cr" ] && pass "calls exact: $na, $nb, $nr" ||
	fail "calls: $na/$ca, $nb/$cb, $nr/$cr"
lat=$(value_under "$TMP/io.smolder" io_latency ';main;write_a;')
[ "$lat" -gt 0 ] 2> /dev/null && pass "latency recorded ($lat ns in write_a)" || fail "no latency: '$lat'"
"$SMOLDER" info "$TMP/io.smolder" | grep -q '^values: *io_bytes/bytes, io_latency/nanoseconds, io_calls/count' &&
	pass "values: io_bytes, io_latency, io_calls" || fail "io values missing"
"$SMOLDER" flamegraph "$TMP/io.smolder" | grep -q '>I/O Flame Graph<' && pass "io flamegraph by default" ||
	fail "io flamegraph title"

# When DWARF unwinding falls behind (here: a queue of 40 KiB before the
# unwinding thread), calls keep their values without their stacks: the
# totals stay those of the run above, and the summary says how many.  The
# workload is moved between CPUs all along, so that a call's enter and exit
# are in different CPUs' buffers while the full queue has records handled
# before the mark (an exit handled before its enter was a lost call).
total() { "$SMOLDER" fold --value "$2" "$1" | awk '{ t += $NF } END { printf "%.0f", t }'; }
move_between_cpus() { # PATTERN: until killed
	local n
	n=$(nproc)
	while :; do
		for pid in $(pgrep -f "$1"); do
			taskset -p -c $((RANDOM % n)) "$pid" > /dev/null 2>&1
		done
	done
}
move_between_cpus "$WORKLOADS/io $TMP/data4" &
mover=$!
SMOLDER_TEST_QUEUE_KB=40 "$SMOLDER" record --unwind dwarf --view io -o "$TMP/shed.smolder" -- \
	"$WORKLOADS/io" "$TMP/data4" $rounds > /dev/null 2> "$TMP/shed.err" || fail "record with a small queue: $?"
kill "$mover"
wait "$mover" 2> /dev/null
shed=$(grep -oE '[0-9]+ of [0-9]+ samples kept without their stack' "$TMP/shed.err")
for v in io_bytes io_calls; do
	want=$(total "$TMP/io.smolder" $v) got=$(total "$TMP/shed.smolder" $v)
	[ -n "$shed" ] && [ "$got" = "$want" ] && pass "unwinding behind: $v total $got as without ($shed)" ||
		fail "unwinding behind: $v total $got, want $want; shed: '$shed'; $(cat "$TMP/shed.err")"
done
"$SMOLDER" fold --value io_calls "$TMP/shed.smolder" | grep -q '^io;\[stack not unwound\];' &&
	pass "stackless calls under [stack not unwound]" ||
	fail "no [stack not unwound] frame: $("$SMOLDER" fold --value io_calls "$TMP/shed.smolder" | head -3)"

# Attach to a running process: the 3:1 split of bytes written.
start_workload "$WORKLOADS/io" "$TMP/data2" 0 || finish
"$SMOLDER" record -q -p "$WL_PID" -d 2 --view io -o "$TMP/attach.smolder" || fail "attach: $?"
stop_workload
a=$(value_under "$TMP/attach.smolder" io_bytes ';main;write_a;')
b=$(value_under "$TMP/attach.smolder" io_bytes ';main;write_b;')
awk -v a="$a" -v b="$b" 'BEGIN { exit !(b > 0 && a / b > 2.7 && a / b < 3.3) }' &&
	pass "attach: write_a / write_b bytes = $(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", a / b }')" ||
	fail "attach: write_a $a, write_b $b"

# Zero-copy I/O: cp copies with copy_file_range, servers send with sendfile.
# The bytes counted are the file's (a call's result counts as it moved).
head -c 5000000 /dev/urandom > "$TMP/big"
"$SMOLDER" record -q --view io -o "$TMP/cp.smolder" -- cp "$TMP/big" "$TMP/big.copy" || fail "record cp: status $?"
copied=$(value_under "$TMP/cp.smolder" io_bytes '.')
[ "$copied" -ge 5000000 ] && [ "$copied" -le 5100000 ] && pass "cp (copy_file_range): $copied bytes of 5000000" ||
	fail "cp: $copied bytes counted for a 5000000-byte file"
"$SMOLDER" record -q --view io -o "$TMP/sendfile.smolder" -- python3 -c '
import os, sys
src = os.open(sys.argv[1], os.O_RDONLY)
dst = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT, 0o644)
left = os.fstat(src).st_size
while left:
    left -= os.sendfile(dst, src, None, left)
' "$TMP/big" "$TMP/big.sent" || fail "record sendfile: status $?"
sent=$("$SMOLDER" fold --value io_bytes "$TMP/sendfile.smolder" | awk '/sendfile/ { t += $NF } END { printf "%.0f", t }')
[ "$sent" = 5000000 ] && pass "sendfile: $sent bytes, under a sendfile frame" ||
	fail "sendfile: $sent bytes under a sendfile frame (want 5000000): $("$SMOLDER" fold --value io_bytes "$TMP/sendfile.smolder" | sort -k2 -n | tail -2)"

# Only slow calls: a floor of 10 s keeps nothing.
"$SMOLDER" record -q --view io --io-min-latency 10000000000 -o "$TMP/slow.smolder" -- "$WORKLOADS/io" "$TMP/data3" 1 > /dev/null
[ "$(value_under "$TMP/slow.smolder" io_calls '.')" = 0 ] && pass "--io-min-latency drops fast calls" ||
	fail "--io-min-latency kept $(value_under "$TMP/slow.smolder" io_calls '.') calls"
finish
