#!/bin/bash
# smolder top: on a terminal (a pty made by script(1)) it draws the hot
# function and quits on q; on a pipe it prints one table per interval.
. "$(dirname "$0")/lib.sh"
require_perf
command -v script > /dev/null || skip_or_fail_perf "script(1) missing (apt-get install bsdutils)"
start_workload "$WORKLOADS/duty" 100 || finish

"$SMOLDER" top -p "$WL_PID" -d 2.5 --delay 0.5 > "$TMP/pipe.out" 2> "$TMP/pipe.err"
status=$?
tables=$(grep -c '^smolder top: pid' "$TMP/pipe.out")
hot=$(awk '/^smolder top:/ { n++ } n > 1 && / burn_duty$/ && $2 + 0 > 80 { h++ } END { print h + 0 }' "$TMP/pipe.out")
[ "$status" = 0 ] && [ "$tables" -ge 4 ] && [ "$hot" -ge 3 ] &&
	pass "on a pipe: $tables tables, burn_duty above 80% total in $hot of them" ||
	fail "on a pipe: exit $status, $tables tables, $hot hot: $(head -20 "$TMP/pipe.out") $(cat "$TMP/pipe.err")"

start=$(date +%s.%N)
(sleep 2; printf q) | script -qfec "$SMOLDER top -p $WL_PID --delay 0.5" /dev/null > "$TMP/tty.out" 2>&1
status=$?
took=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
grep -q $'\033\[2J' "$TMP/tty.out" && grep -q 'burn_duty' "$TMP/tty.out" && grep -q 'q quits' "$TMP/tty.out" &&
	[ "$status" = 0 ] && awk -v t="$took" 'BEGIN { exit !(t < 6) }' &&
	pass "on a terminal: redrawn in place with burn_duty, and q quit it ($took s)" ||
	fail "on a terminal: exit $status after $took s: $(tr -d '\033' < "$TMP/tty.out" | head -15)"
stop_workload

"$SMOLDER" top 2> "$TMP/none.err"
[ $? = 2 ] && grep -q "nothing to watch: give -a, -p PID or a command" "$TMP/none.err" && pass "no target: a usage error" ||
	fail "no target: $(cat "$TMP/none.err")"
"$SMOLDER" top -a --view alloc 2> "$TMP/alloc.err"
[ $? = 2 ] && grep -q "one of cpu, offcpu or io" "$TMP/alloc.err" && pass "--view alloc: a usage error" ||
	fail "--view alloc: $(cat "$TMP/alloc.err")"
finish
