#!/bin/bash
# How a recording ends: the target exits, Ctrl-C, SIGKILL of the recorder, a
# launched command's exit status; and libraries loaded after attach.
. "$(dirname "$0")/lib.sh"
require_perf

# The target exits during the recording: status 0, a valid profile, the note.
start_workload "$WORKLOADS/shares_fp" 1.5 || finish
start=$(date +%s)
"$SMOLDER" record -p "$WL_PID" -d 20 -o "$TMP/exit.smolder" 2> "$TMP/exit.err"
status=$?
[ "$status" = 0 ] && pass "target exited: status 0" || fail "target exited: status $status"
[ $(($(date +%s) - start)) -lt 10 ] || fail "record did not stop when the target exited"
grep -q 'target exited' "$TMP/exit.err" && pass "summary notes the exit" || fail "no exit note: $(cat "$TMP/exit.err")"
"$SMOLDER" info "$TMP/exit.smolder" > "$TMP/exit.info" 2>&1 && ! grep -q truncated "$TMP/exit.info" &&
	grep -q '^exit: *the target exited' "$TMP/exit.info" && pass "profile complete, with the note" ||
	fail "profile after target exit: $(cat "$TMP/exit.info")"
wait "$WL_PID" 2>/dev/null

# A stopped target: said at once, and sampled from when it continues.
start_workload "$WORKLOADS/shares_fp" 20 || finish
kill -STOP "$WL_PID"
"$SMOLDER" record -p "$WL_PID" -d 2 -o "$TMP/stopped.folded" 2> "$TMP/stopped.err" &
rec=$!
sleep 1
kill -CONT "$WL_PID"
wait "$rec"
status=$?
stop_workload
n=$(awk '{ t += $NF } END { print t + 0 }' "$TMP/stopped.folded")
[ "$status" = 0 ] && grep -q "process $WL_PID is stopped.*kill -CONT $WL_PID" "$TMP/stopped.err" && [ "$n" -gt 10 ] &&
	pass "a stopped target: the warning at once, and $n samples once it continued" ||
	fail "stopped target: status $status, $n samples: $(cat "$TMP/stopped.err")"

# Ctrl-C (SIGINT) stops early with a complete output.
start_workload "$WORKLOADS/shares_fp" 20 || finish
"$SMOLDER" record -q -p "$WL_PID" -o "$TMP/int.smolder" &
rec=$!
sleep 1.5
kill -INT "$rec"
wait "$rec"
status=$?
stop_workload
[ "$status" = 0 ] && pass "SIGINT: status 0" || fail "SIGINT: status $status"
"$SMOLDER" fold "$TMP/int.smolder" > "$TMP/int.folded" 2> "$TMP/int.err" && [ ! -s "$TMP/int.err" ] &&
	[ "$(total "$TMP/int.folded")" -gt 50 ] && pass "SIGINT: valid profile, $(total "$TMP/int.folded") samples" ||
	fail "SIGINT: bad profile: $(cat "$TMP/int.err")"
[ ! -e "$TMP/int.smolder.partial" ] || fail "SIGINT left the .partial file"

# SIGKILL of the recorder: the .partial prefix still reads, with a warning.
start_workload "$WORKLOADS/shares_fp" 20 || finish
"$SMOLDER" record -q -p "$WL_PID" -o "$TMP/kill.smolder" &
rec=$!
sleep 2.5
kill -KILL "$rec"
wait "$rec" 2>/dev/null
stop_workload
"$SMOLDER" fold "$TMP/kill.smolder.partial" > "$TMP/kill.folded" 2> "$TMP/kill.err"
status=$?
[ "$status" = 0 ] && grep -q 'truncated' "$TMP/kill.err" && [ "$(total "$TMP/kill.folded")" -gt 50 ] &&
	pass "SIGKILL: prefix reads with a warning ($(total "$TMP/kill.folded") samples)" ||
	fail "SIGKILL: prefix unreadable (status $status): $(cat "$TMP/kill.err")"
"$SMOLDER" info "$TMP/kill.smolder.partial" > "$TMP/kill.info" 2>&1 || fail "info on the prefix failed"
# What is known before the end is in the prefix: the command, the event, and
# the threads' names (shares_fp's process is named after it).
grep -q "^command: .*shares_fp" "$TMP/kill.info" && grep -q '^event:' "$TMP/kill.info" &&
	grep -q '^threads: *[1-9]' "$TMP/kill.info" ||
	fail "SIGKILL: the prefix has no metadata or threads: $(cat "$TMP/kill.info")"
"$SMOLDER" fold --per-thread "$TMP/kill.smolder.partial" 2> /dev/null | grep -q '^shares_fp;shares_fp-[0-9]' ||
	fail "SIGKILL: the prefix does not name the thread: $("$SMOLDER" fold --per-thread "$TMP/kill.smolder.partial" 2>/dev/null | head -1)"

# Launch mode exits with the command's status, or 128+N for signal N.
"$SMOLDER" record -q -o "$TMP/sh.smolder" -- sh -c 'exit 3'
status=$?
[ "$status" = 3 ] && pass "launch: exit status 3 passed through" || fail "launch: status $status, expected 3"
"$SMOLDER" record -q -o "$TMP/sig.smolder" -- sh -c 'kill -TERM $$'
status=$?
[ "$status" = 143 ] && pass "launch: killed by SIGTERM -> 143" || fail "launch: status $status, expected 143"
# Stopped by SIGTERM, smolder passes it on; a command deaf to it is killed after the grace (5 s),
# not waited for without end, and the profile is complete.
start=$(date +%s.%N)
timeout -s KILL 30 "$SMOLDER" record -q -o "$TMP/deaf.smolder" -- sh -c 'trap "" TERM; while :; do :; done' \
	2> "$TMP/deaf.err" &
rec=$!
sleep 0.5
kill -TERM $rec
wait $rec
status=$?
took=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
[ "$status" = 137 ] && grep -q 'still running 5 s after SIGTERM: killed' "$TMP/deaf.err" &&
	awk -v t="$took" 'BEGIN { exit !(t > 5 && t < 9) }' && "$SMOLDER" fold "$TMP/deaf.smolder" > /dev/null &&
	pass "launch: a command deaf to SIGTERM killed $took s after the start" ||
	fail "launch: deaf command: status $status after $took s: $(cat "$TMP/deaf.err")"
# After -d the command runs on and its status is waited for, but the profile is written at -d,
# not at the command's end; Ctrl-C during the wait tells it to end.
start=$(date +%s%N)
timeout -s KILL 30 "$SMOLDER" record -d 0.5 -o "$TMP/early.folded" -- "$WORKLOADS/shares_fp" 3 > /dev/null 2> "$TMP/early.err" &
rec=$!
while [ ! -s "$TMP/early.folded" ] && kill -0 $rec 2> /dev/null; do sleep 0.05; done
written=$(( ($(date +%s%N) - start) / 1000000 ))
wait $rec
status=$?
ended=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$status" = 0 ] && [ "$written" -lt 2000 ] && [ "$ended" -ge 2500 ] && grep -q "waiting for .*shares_fp to end" "$TMP/early.err" &&
	pass "-d 0.5 with a 3 s command: the profile written at $written ms, the command's status 0 at $ended ms" ||
	fail "-d with a longer command: status $status, written at $written ms, ended at $ended ms: $(cat "$TMP/early.err")"
timeout -s KILL 30 "$SMOLDER" record -q -d 0.5 -o "$TMP/early2.folded" -- "$WORKLOADS/shares_fp" 20 > /dev/null 2> "$TMP/early2.err" &
rec=$!
sleep 1.5
kill -INT $rec
wait $rec
status=$?
# timeout(1) passes the SIGINT on to its whole process group, as a terminal's Ctrl-C does, so the
# command may die of that SIGINT (130) before smolder's SIGTERM (143) reaches it: either is an
# end on request; 0 would be the command running its 20 s out.  The second SIGINT must not cut
# the grace short: the command ended, it was not killed.
case $status in 130 | 143) told=1 ;; *) told=0 ;; esac
[ "$told" = 1 ] && [ -s "$TMP/early2.folded" ] && ! grep -q 'SIGKILL' "$TMP/early2.err" &&
	pass "Ctrl-C while waiting for the command after -d: told to end ($status)" ||
	fail "Ctrl-C while waiting after -d: status $status: $(cat "$TMP/early2.err")"
out=$(echo hello | "$SMOLDER" record -q -o "$TMP/cat.smolder" -- cat)
[ "$out" = hello ] && pass "launch: stdin and stdout forwarded" || fail "launch: stdio not forwarded ('$out')"

# On a terminal, a live status line (elapsed / duration, samples, lost, threads), then the
# summary; not on a pipe.
if command -v script > /dev/null; then
	script -qfec "'$SMOLDER' record -d 1.2 -o '$TMP/tty.folded' -- '$WORKLOADS/shares_fp' 3" /dev/null \
		> "$TMP/tty.out" 2>&1 < /dev/null
	lines=$(tr '\r' '\n' < "$TMP/tty.out" | grep -c 'smolder: recording .*shares_fp: [0-9.]* s / 1.2 s, [0-9]* samples, 0 lost, 1 threads')
	[ "$lines" -ge 5 ] && tr '\r' '\n' < "$TMP/tty.out" | grep -q 'smolder: record: 1.2[0-9] s, [0-9]* samples' &&
		pass "terminal: a live status line ($lines updates) and a summary" ||
		fail "terminal: no status line: $(head -c 300 "$TMP/tty.out")"
	"$SMOLDER" record -d 0.5 -o "$TMP/pipe.folded" -- "$WORKLOADS/shares_fp" 1 2> "$TMP/pipe.err" > /dev/null
	! grep -q 'recording' "$TMP/pipe.err" && pass "not a terminal: no status line" || fail "status line on a pipe"
fi

# A library loaded with dlopen after the attach is named.
start_workload "$WORKLOADS/dlopen_main" "$WORKLOADS/libplugin.so" 4 1 || finish
"$SMOLDER" record -q -p "$WL_PID" -F 499 -d 3 -o "$TMP/dl.folded" || fail "record exited $?"
stop_workload
s=$(share "$TMP/dl.folded" 'plugin_work;plugin_hot_loop$')
awk -v s="$s" 'BEGIN { exit !(s > 30) }' && pass "dlopen after attach: $s% in plugin_work;plugin_hot_loop" ||
	fail "dlopen'd library not named ($s%): $(sort -t' ' -k2 -n "$TMP/dl.folded" | tail -3)"
# A process whose main thread exited (pthread_exit) while another runs on:
# the kernel empties the main thread's /proc entries (maps, fd, root) and
# lists it a zombie; the process is recorded through a live thread's, in
# each view, the agent's ring included.  A zombie (its child, never reaped)
# is refused with what it is.
start_workload "$WORKLOADS/main_exits" 20 || finish
read -r _ pid _ zombie _ < "$TMP/wl.out"
for _ in $(seq 50); do grep -q '^State:.Z' "/proc/$pid/status" && break; sleep 0.1; done
"$SMOLDER" record -q -p "$pid" -F 499 -d 1 -o "$TMP/me.folded" 2> "$TMP/me.err" || fail "main thread exited: cpu view exited $?: $(cat "$TMP/me.err")"
s=$(share "$TMP/me.folded" ';keep_allocating')
awk -v s="$s" 'BEGIN { exit !(s > 50) }' && pass "main thread exited: cpu view, $s% under keep_allocating" ||
	fail "main thread exited: cpu view $s% under keep_allocating: $(head -3 "$TMP/me.folded")"
"$SMOLDER" record -p "$pid" --view alloc -d 1 -o "$TMP/me.smolder" 2> "$TMP/me.err" || fail "main thread exited: alloc view exited $?: $(cat "$TMP/me.err")"
b=$("$SMOLDER" fold --value alloc_bytes "$TMP/me.smolder" | awk '/;keep_allocating;/ { t += $NF } END { printf "%.0f\n", t }')
ring=$(sed -n 's/.*agent: \([0-9]*\) samples through its ring.*/\1/p' "$TMP/me.err")
[ "$b" -gt 10000000 ] && [ "${ring:-0}" -gt 100 ] && pass "main thread exited: alloc view, $b bytes under keep_allocating, $ring samples through the agent's ring" ||
	fail "main thread exited: alloc view, $b bytes, ring '$ring': $(cat "$TMP/me.err")"
"$SMOLDER" record -q -p "$zombie" -d 1 -o "$TMP/z.folded" 2> "$TMP/z.err" && fail "a zombie recorded" ||
	{ grep -q "pid $zombie has exited (a zombie, which its parent, pid $pid, has not reaped)" "$TMP/z.err" &&
		[ "$(wc -l < "$TMP/z.err")" = 1 ] && pass "a zombie: refused, named so" || fail "a zombie: $(cat "$TMP/z.err")"; }
"$SMOLDER" record -q -p "$zombie" --view alloc -d 1 -o "$TMP/z.folded" 2> "$TMP/z.err" && fail "a zombie recorded (alloc)" ||
	{ grep -q "pid $zombie has exited (a zombie" "$TMP/z.err" && pass "a zombie, alloc view: refused, named so" ||
		fail "a zombie, alloc view: $(cat "$TMP/z.err")"; }
stop_workload
finish
