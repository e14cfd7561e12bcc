#!/bin/bash
# The offcpu view: time blocked, by the stack that blocked.  The workload's
# "waiter" thread sleeps 200 ms under wait_short() and waits 600 ms on a mutex
# under wait_long() each round: 25% and 75% of its blocked time.
. "$(dirname "$0")/lib.sh"
require_perf

check_waiter() { # FOLDED LABEL
	grep '^offcpu;waiter-' "$1" > "$TMP/waiter.folded"
	if [ ! -s "$TMP/waiter.folded" ]; then
		# What the threads were called, and where their time went instead.
		echo "no waiter stacks in $2; the profile holds:" >&2
		cut -c1-160 "$1" | sort -t' ' -k2 -n | tail -8 >&2
	fi
	expect_share "$TMP/waiter.folded" ';waiter;wait_short;' 25 5 "$2: wait_short (nanosleep)"
	expect_share "$TMP/waiter.folded" ';waiter;wait_long;.*pthread_mutex_lock' 75 5 "$2: wait_long (mutex)"
}

"$SMOLDER" record -q --view offcpu --per-thread -o "$TMP/launch.folded" -- "$WORKLOADS/offcpu" 3 > /dev/null ||
	fail "record --view offcpu: status $?"
check_waiter "$TMP/launch.folded" "launch"
# nanoseconds add up: three rounds of 200 ms and 600 ms, within 5%
ns=$(awk '/;waiter;wait_(short|long);/ { t += $NF } END { printf "%.0f", t }' "$TMP/launch.folded")
near "$ns" 2400000000 120000000 && pass "blocked time adds up: $ns ns (expect 2.4e9)" || fail "blocked time $ns ns, expected 2.4e9"

start_workload "$WORKLOADS/offcpu" 6 || finish
"$SMOLDER" record -q -p "$WL_PID" -d 3 --view offcpu --per-thread -o "$TMP/attach.folded" || fail "attach: $?"
stop_workload
check_waiter "$TMP/attach.folded" "attach"

# Both views in one profile: every value, each renderable.
"$SMOLDER" record -q --view cpu,offcpu -o "$TMP/both.smolder" -- "$WORKLOADS/offcpu" 2 > /dev/null || fail "cpu,offcpu: $?"
"$SMOLDER" info "$TMP/both.smolder" | grep -q '^values: *samples/count, cpu/nanoseconds, offcpu/nanoseconds, switches/count' &&
	"$SMOLDER" info "$TMP/both.smolder" | grep -q '^view: *cpu,offcpu' && pass "cpu,offcpu: four values in one profile" ||
	fail "cpu,offcpu values: $("$SMOLDER" info "$TMP/both.smolder" | grep -E '^(values|view)')"
"$SMOLDER" fold --value offcpu "$TMP/both.smolder" | grep -q 'wait_long;.*pthread_mutex_lock' && pass "fold --value offcpu" ||
	fail "fold --value offcpu"
"$SMOLDER" report "$TMP/both.smolder" | grep -q '^offcpu (nanoseconds): total' && pass "report prints the offcpu value" ||
	fail "report lacks offcpu"
"$SMOLDER" flamegraph --value offcpu "$TMP/both.smolder" > "$TMP/o.svg"
grep -q '>Off-CPU Time Flame Graph<' "$TMP/o.svg" && grep -q 'offcpu, ' "$TMP/o.svg" && grep -q 'fill="rgb([0-9]*,[0-9]*,2[0-5][0-9])"' "$TMP/o.svg" &&
	pass "offcpu flamegraph: its title, count name and blue palette" || fail "offcpu flamegraph defaults"
"$SMOLDER" record -q --view cpu,heap -- true 2> "$TMP/err"
[ $? = 2 ] && grep -q "unknown view 'heap': use cpu, offcpu, io or alloc" "$TMP/err" && pass "unknown view named" ||
	fail "--view heap: $(cat "$TMP/err")"
finish
