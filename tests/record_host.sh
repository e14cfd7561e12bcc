#!/bin/bash
# record -a: every process on every CPU, each under its own name, with its
# hot function; processes that start or exit during the recording; --cgroup;
# --per-process; and the refusal a user without the right gets.
. "$(dirname "$0")/lib.sh"
require_perf
[ "$(id -u)" = 0 ] || skip "record -a needs root here (kernel.perf_event_paranoid is $(cat /proc/sys/kernel/perf_event_paranoid))"
DUTY=$WORKLOADS/duty

# ---- 100% against 50%: shares as their own CPU times, under their names ----
# The truth is each one's time on a CPU as the scheduler counts it, over the
# recording and a little around it: on a busy or noisy machine the two do
# not get 2:1 (CI saw 2.99 and 3.07 against a 1.5-2.7 band).
start_workload "$DUTY" 100 || finish
full=$WL_PID
start_workload "$DUTY" 50 || finish
half=$WL_PID
oncpu() { awk '{ print $1 }' "/proc/$1/schedstat"; }
full0=$(oncpu "$full") half0=$(oncpu "$half")
"$SMOLDER" record -a -d 3 --per-process -o "$TMP/host.folded" 2> "$TMP/host.err" ||
	fail "record -a: $(cat "$TMP/host.err")"
full1=$(oncpu "$full") half1=$(oncpu "$half")
kill "$full" "$half"
wait "$full" "$half" 2> /dev/null
a=$(awk -v re="^duty;duty-$full;.*burn_duty" '$1 ~ re { t += $NF } END { print t + 0 }' "$TMP/host.folded")
b=$(awk -v re="^duty;duty-$half;.*burn_duty" '$1 ~ re { t += $NF } END { print t + 0 }' "$TMP/host.folded")
ratio=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", b ? a / b : 0 }')
truth=$(awk -v a=$((full1 - full0)) -v b=$((half1 - half0)) 'BEGIN { printf "%.2f", b ? a / b : 0 }')
awk -v r="$ratio" -v t="$truth" 'BEGIN { exit !(t > 0 && r / t >= 0.8 && r / t <= 1.25 && r > 1.2) }' &&
	pass "100% vs 50% of a CPU: $a and $b samples in burn_duty under duty-PID frames, ratio $ratio (their CPU times: $truth)" ||
	fail "100% vs 50%: $a and $b samples (ratio $ratio, their CPU times $truth): $(head -20 "$TMP/host.folded")"
grep -q '^\[unknown\]\|^swapper\|^kworker' "$TMP/host.folded" &&
	fail "idle, kernel threads or unnamed processes without --kernel: $(grep '^\[unknown\]\|^swapper\|^kworker' "$TMP/host.folded" | head -3)" ||
	pass "no idle, no kernel threads and no unnamed process without --kernel"

# ---- started after the recording began, exited before it ended: named and symbolized ----
"$SMOLDER" record -a -d 3 -o "$TMP/late.folded" 2> "$TMP/late.err" &
rec=$!
sleep 0.8
cp "$DUTY" "$TMP/latecomer"
"$TMP/latecomer" 100 1 > /dev/null
wait "$rec" || fail "record -a: $(cat "$TMP/late.err")"
n=$(awk '$1 ~ /^latecomer;.*main;burn_duty(;|$)/ { t += $NF } END { print t + 0 }' "$TMP/late.folded")
[ "$n" -ge 60 ] && pass "a process started during the recording and gone before its end: $n samples as latecomer;...;main;burn_duty" ||
	fail "latecomer: $n samples: $(grep -v '^smolder' "$TMP/late.folded" | sort -t' ' -k2 -nr | head -5)"

# ---- 500 short-lived processes during a 10 s recording: named, memory bounded ----
/usr/bin/time -f "%M" -o "$TMP/churn.rss" "$SMOLDER" record -a -d 10 -o "$TMP/churn.folded" 2> "$TMP/churn.err" &
rec=$!
sleep 0.5
for _ in $(seq 500); do
	"$DUTY" 100 0.02 > /dev/null &
	sleep 0.015
done
wait "$rec"
status=$?
wait
rss=$(tail -1 "$TMP/churn.rss")
named=$(awk '$1 ~ /^duty;.*burn_duty/ { t += $NF } END { print t + 0 }' "$TMP/churn.folded")
unknown=$(grep -c '^\[unknown\]' "$TMP/churn.folded")
[ "$status" = 0 ] && [ "$named" -ge 50 ] && [ "$unknown" = 0 ] && [ "$rss" -lt 400000 ] &&
	pass "500 short-lived processes: $named samples named duty;...;burn_duty, none unnamed, peak RSS $((rss / 1024)) MiB" ||
	fail "500 processes: exit $status, $named named, $unknown unnamed, peak RSS $rss KiB: $(tail -3 "$TMP/churn.err")"

# ---- there when the recording began, gone before their samples were handled ----
# Each lives 0.1 s: those alive at the start have no FORK or COMM record, and
# are gone from /proc by the time the unwinding queue hands their samples on.
(for _ in $(seq 150); do "$DUTY" 100 0.1 > /dev/null & sleep 0.02; done; wait) &
spawner=$!
sleep 1
"$SMOLDER" record -a -d 1 -o "$TMP/early.folded" 2> "$TMP/early.err" || fail "record -a: $(cat "$TMP/early.err")"
wait "$spawner"
unknown=$(grep -c '^\[unknown\]' "$TMP/early.folded")
named=$(awk '$1 ~ /^duty;/ { t += $NF } END { print t + 0 }' "$TMP/early.folded")
[ "$unknown" = 0 ] && [ "$named" -gt 0 ] &&
	pass "processes there at the start and gone soon after: $named samples under duty, none unnamed" ||
	fail "early processes: $unknown stacks unnamed, $named samples under duty: $(grep '^\[unknown\]' "$TMP/early.folded" | head -2)"

# ---- more files than the unwinder's cap: the least recently used go, counted ----
# Copies of duty without a build-id are as many files to the unwinder.
for i in $(seq 30); do objcopy --remove-section .note.gnu.build-id "$DUTY" "$TMP/nobid$i"; done
SMOLDER_TEST_UNWIND_FILES=4 "$SMOLDER" record -a -d 4 -o "$TMP/cap.folded" 2> "$TMP/cap.err" &
rec=$!
sleep 0.5
for i in $(seq 30); do "$TMP/nobid$i" 100 0.08 > /dev/null; done
wait "$rec"
status=$?
deep=$(awk '$1 ~ /^nobid[0-9]+;.*main;burn_duty/ { t += $NF } END { print t + 0 }' "$TMP/cap.folded")
shallow=$(awk '$1 ~ /^nobid[0-9]+;/ && $1 !~ /main;burn_duty/ { t += $NF } END { print t + 0 }' "$TMP/cap.folded")
[ "$status" = 0 ] && grep -q "unwinding: [0-9]* mapped files let go to stay under the cap of 4" "$TMP/cap.err" &&
	[ "$deep" -ge 100 ] && [ "$shallow" -le $((deep / 10)) ] &&
	pass "a cap of 4 files: $(grep -o '[0-9]* mapped files let go' "$TMP/cap.err"), and $deep samples of 30 programs still unwound to main;burn_duty ($shallow not)" ||
	fail "cap: exit $status, $deep unwound, $shallow not: $(cat "$TMP/cap.err")"

# ---- a command with -a: the whole host while it runs ----
start_workload "$DUTY" 100 || finish
"$SMOLDER" record -a -o "$TMP/cmd.folded" -- sleep 1.5 2> "$TMP/cmd.err"
status=$?
stop_workload
n=$(awk '$1 ~ /^duty;.*main;burn_duty(;|$)/ { t += $NF } END { print t + 0 }' "$TMP/cmd.folded")
[ "$status" = 0 ] && [ "$n" -ge 100 ] && pass "-a -- sleep 1.5: the host for as long as the command ran ($n samples of another process)" ||
	fail "-a with a command: exit $status, $n samples: $(cat "$TMP/cmd.err")"

# ---- --cgroup: only the processes of one cgroup ----
root=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
group="smolder-test-$$"
if [ -n "$root" ] && mkdir "$root/$group" 2> /dev/null; then
	start_workload "$DUTY" 100 || finish
	inside=$WL_PID
	echo "$inside" > "$root/$group/cgroup.procs"
	cp "$DUTY" "$TMP/outsider"
	"$TMP/outsider" 100 > /dev/null &
	outside=$!
	"$SMOLDER" record --cgroup "$group" -d 2 -o "$TMP/cg.folded" 2> "$TMP/cg.err" || fail "--cgroup: $(cat "$TMP/cg.err")"
	kill "$inside" "$outside"
	wait "$inside" "$outside" 2> /dev/null
	sleep 0.2
	rmdir "$root/$group"
	roots=$(awk '{ split($1, f, ";"); print f[1] }' "$TMP/cg.folded" | sort -u | tr '\n' ' ')
	[ "$roots" = "duty " ] && pass "--cgroup $group: only its process (duty), not the one outside" ||
		fail "--cgroup: processes seen: $roots"
	"$SMOLDER" record --cgroup "no-such-group-$$" -d 1 -o "$TMP/x.folded" 2> "$TMP/nocg.err"
	[ $? = 1 ] && grep -q "cannot open the cgroup .*no-such-group-$$: No such file or directory: give a cgroup v2" "$TMP/nocg.err" &&
		pass "--cgroup that does not exist: one line" || fail "--cgroup missing: $(cat "$TMP/nocg.err")"
else
	fail "cannot make a cgroup v2 group under '$root'"
fi

# ---- not root, kernel.perf_event_paranoid above 0: the knob and its value ----
paranoid=$(cat /proc/sys/kernel/perf_event_paranoid)
if [ "$paranoid" -gt 0 ]; then
	setpriv --reuid=65534 --regid=65534 --clear-groups "$SMOLDER" record -a -d 1 -o /dev/null 2> "$TMP/user.err"
	status=$?
	[ "$status" = 1 ] && [ "$(wc -l < "$TMP/user.err")" = 1 ] &&
		grep -q "kernel.perf_event_paranoid at 0 or less; it is $paranoid" "$TMP/user.err" &&
		pass "not root: one line naming kernel.perf_event_paranoid and its value ($paranoid)" ||
		fail "not root: exit $status: $(cat "$TMP/user.err")"
fi

# ---- what -a does not take ----
"$SMOLDER" record -a -p $$ -d 1 2> "$TMP/ap.err"
[ $? = 2 ] && grep -q "give -a or -p PID, not both" "$TMP/ap.err" && pass "-a with -p: a usage error" || fail "-a -p: $(cat "$TMP/ap.err")"
"$SMOLDER" record -a --view alloc -d 1 -o /dev/null 2> "$TMP/aa.err"
[ $? = 1 ] && grep -q "the alloc view places uprobes in one program" "$TMP/aa.err" && pass "-a --view alloc: refused with the reason" ||
	fail "-a alloc: $(cat "$TMP/aa.err")"
finish
