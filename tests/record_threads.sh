#!/bin/bash
# Every thread of an attached process is sampled, including one it starts
# after the attach; --per-thread names them.
. "$(dirname "$0")/lib.sh"
require_perf
start_workload "$WORKLOADS/threads" 5 1.5 || finish
"$SMOLDER" record -q -p "$WL_PID" -F 499 -d 3 --per-thread -o "$TMP/t.folded" || fail "record exited $?"
stop_workload
for name in work-0 work-1 work-2 work-3; do
	s=$(share "$TMP/t.folded" "^threads;$name-[0-9]+;.*worker_loop")
	awk -v s="$s" 'BEGIN { exit !(s > 5) }' && pass "$name: $s% in worker_loop" || fail "$name: $s% (missing)"
done
s=$(share "$TMP/t.folded" '^threads;late-[0-9]+;.*late_loop')
awk -v s="$s" 'BEGIN { exit !(s > 1) }' && pass "thread started after attach: $s% in late_loop" ||
	fail "thread started after attach missing ($s%)"

# Threads each shorter than a sampling period: if none is sampled, the
# warning says so (and what to change), not that the target was idle.
"$SMOLDER" record -F 10 -o "$TMP/short.folded" -- "$WORKLOADS/shortthreads" > /dev/null 2> "$TMP/short.err" ||
	fail "short threads: status $?"
if grep -q 'no samples were recorded' "$TMP/short.err"; then
	grep -q 'each of its threads ran for less than a sampling period (1/10 s); raise -F' "$TMP/short.err" &&
		pass "short threads: $(grep 'no samples' "$TMP/short.err" | cut -c1-90)..." ||
		fail "short threads: $(cat "$TMP/short.err")"
else
	pass "short threads: sampled at 10 Hz after all ($(awk '{ t += $NF } END { print t }' "$TMP/short.folded") samples)"
fi
finish
