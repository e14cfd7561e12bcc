#!/bin/bash
# The sampled alloc view (the default): libsmolder-agent.so inside the
# process, preloaded into a command or injected into a running process,
# samples allocations by bytes; the estimates are checked against the
# workloads' own printed truth, per call site.
. "$(dirname "$0")/lib.sh"
require_perf

agent_maps() { grep -c "r-xp .*/libsmolder-agent.so" "/proc/$1/maps"; }
# The bytes of the threads that have stacks matching REGEX, all of them: those
# whose stacks the reader shed when the worker fell behind (a loaded machine:
# under '[stack not unwound]') too.  For the checks that samples came at all.
thread_bytes() { # PROFILE REGEX
	"$SMOLDER" fold --per-thread --value alloc_bytes "$1" | re=$2 awk '{ n = $NF; sub(/ [0-9]+$/, ""); split($0, f, ";")
		t[f[2]] += n; if ($0 ~ ENVIRON["re"]) mine[f[2]] = 1 }
		END { for (k in mine) s += t[k]; printf "%.0f", s }'
}

# ---- launched: bytes and calls per site within 5%, the leak's in-use within 10% ----
# The estimates are random: at one sample per 1024 bytes over these 120,000
# calls, the widest (calloc's count, of many small blocks) has a standard
# deviation of 1.2%, so 5% is four of them (at 4096 it was two, and failed
# one run in twenty).
P=$TMP/launch.smolder
"$SMOLDER" record -q --view alloc --alloc-rate 1024 -o "$P" -- "$WORKLOADS/allocs" 300 > "$TMP/launch.out" ||
	fail "record: status $?"
ok=1
for site in malloc calloc realloc aligned leak; do
	for pair in "alloc_bytes bytes" "alloc_count count"; do
		set -- $pair
		got=$(value_under "$P" "$1" ";main;alloc_$site;")
		want=$(truth "$TMP/launch.out" "$site" "$2")
		within "$got" "$want" 5 || { fail "launched: $site $1 $got, true $want (more than 5% off)"; ok=0; }
	done
done
[ $ok = 1 ] && pass "launched, --alloc-rate 1024: bytes and calls of all five sites within 5% of the truth"
"$SMOLDER" info "$P" | grep -q '^alloc: *sampled by the agent, every 1024 bytes on average$' &&
	pass "info: the sampled mode and its rate" || fail "info: $("$SMOLDER" info "$P" | head -12)"
got=$(value_under "$P" inuse_bytes ';main;alloc_leak;')
want=$(truth "$TMP/launch.out" leak inuse)
freed=$(value_under "$P" inuse_bytes ';main;alloc_(malloc|calloc|realloc|aligned);')
within "$got" "$want" 10 && [ "$freed" = 0 ] && pass "launched: leak in use $got, true $want; freed sites 0" ||
	fail "launched: leak in use $got, true $want; freed sites $freed"
"$SMOLDER" fold "$P" | grep -q ';main;alloc_realloc;realloc ' && "$SMOLDER" fold "$P" | grep -q ';main;alloc_calloc;calloc ' &&
	! "$SMOLDER" fold "$P" | grep -q 'smolder_agent\|libsmolder-agent' &&
	pass "stacks end in the function called (realloc, calloc), no agent frame" ||
	fail "agent frames or leaves: $("$SMOLDER" fold "$P" | head -3)"

# ---- smolder paused (SIGSTOP) while the agent samples: the ring fills, the
# program's threads wait for room (then give up, the sample through the
# uprobe), the user is told how many waited, and no sample is lost ----
"$SMOLDER" record --view alloc --alloc-rate 1024 -o "$TMP/paused.smolder" -- "$WORKLOADS/allocs" 600 0 \
	> "$TMP/paused.out" 2> "$TMP/paused.err" &
rec=$!
until grep -q ready "$TMP/paused.out" 2> /dev/null; do sleep 0.01; done
sleep 0.2
kill -STOP "$rec"
sleep 0.1
kill -CONT "$rec"
wait "$rec" || fail "paused: status $?: $(cat "$TMP/paused.err")"
waited=$(sed -n 's/.*agent: \([0-9]*\) samples found their ring full and waited.*/\1/p' "$TMP/paused.err")
got=$(value_under "$TMP/paused.smolder" alloc_bytes ";main;alloc_malloc;")
want=$(truth "$TMP/paused.out" malloc bytes)
[ "${waited:-0}" -gt 0 ] && within "$got" "$want" 5 && grep -q "(0 lost)" "$TMP/paused.err" &&
	pass "smolder stopped 0.1 s: $waited samples waited for room, none lost, malloc's bytes $got (true $want)" ||
	fail "paused: ${waited:-no} waits, malloc's bytes $got (true $want): $(cat "$TMP/paused.err")"

# ---- the samples come through the agent's ring, not a trap each ----
"$SMOLDER" record --view alloc -o "$TMP/ring.smolder" -- "$WORKLOADS/allocs" 100 > /dev/null 2> "$TMP/ring.err" ||
	fail "ring: $(cat "$TMP/ring.err")"
read -r ring shared trapped sparse known < <(sed -n \
	's/.*agent: \([0-9]*\) samples through its ring (1, \([0-9]*\) in shared memory), \([0-9]*\) through a uprobe; \([0-9]*\) stacks copied in part.*, \([0-9]*\) of them not compared again.*/\1 \2 \3 \4 \5/p' \
	"$TMP/ring.err")
[ "${ring:-0}" -gt 100 ] && [ "$shared" = 1 ] && [ "$trapped" -le $((ring / 20)) ] &&
	pass "launched: $ring samples through the agent's ring (shared memory), $trapped through its uprobe" ||
	fail "ring: $(cat "$TMP/ring.err")"
# Stacks seen before are copied in part (the words the profiler's hint
# names): the per-site totals in this file are checked on such samples.
[ "${sparse:-0}" -ge $((ring / 5)) ] && pass "$sparse of $ring stacks copied in part, by the profiler's hints" ||
	fail "hints: ${sparse:-no} of $ring stacks copied in part: $(cat "$TMP/ring.err")"
# ... and most of those are unwound from the hint's own unwind, the words
# not compared again (the slot names the hint it matched).
[ "${known:-0}" -ge $((${sparse:-0} / 2)) ] && [ "${known:-0}" -gt 0 ] &&
	pass "$known of the $sparse not compared again" ||
	fail "known: ${known:-no} of ${sparse:-no} not compared again: $(cat "$TMP/ring.err")"
# 40 frames of main deeper (an unwind reads ~90 words), five sites at one SP:
# still copied in part, and unwound to every frame from what was copied.
# 1500 rounds: the first ~100-300 samples, before the reader's first hints,
# are whole copies, which in 300 rounds (0.07 s) made 40-95% of the ~500.
"$SMOLDER" record --view alloc -o "$TMP/deep.smolder" -- "$WORKLOADS/allocs" 1500 0 40 > /dev/null 2> "$TMP/deep.err" ||
	fail "deep: $(cat "$TMP/deep.err")"
read -r ring sparse < <(sed -n \
	's/.*agent: \([0-9]*\) samples through its ring.* \([0-9]*\) stacks copied in part.*/\1 \2/p' "$TMP/deep.err")
whole=$("$SMOLDER" fold --value alloc_count "$TMP/deep.smolder" |
	awk '{ n = $NF; all += n; if (gsub(/;main/, "&") >= 41 && /;main;alloc_/) deep += n }
	     END { printf "%d", all ? 100 * deep / all : 0 }')
[ "${sparse:-0}" -ge $((${ring:-0} / 2)) ] && [ "${ring:-0}" -gt 100 ] && [ "$whole" -ge 99 ] &&
	pass "40 frames deeper: $sparse of $ring stacks copied in part, $whole% of the calls under all 41 frames" ||
	fail "deep: ${sparse:-no} of ${ring:-no} stacks copied in part, $whole% of the calls under 41 frames: $(cat "$TMP/deep.err")"

# ---- frame pointers: no ring (the kernel walks the frames at the marker) ----
P=$TMP/fp.smolder
"$SMOLDER" record --unwind fp --view alloc --alloc-rate 4096 -o "$P" -- "$WORKLOADS/allocs_fp" 100 > "$TMP/fp.out" \
	2> "$TMP/fp.err" || fail "fp: $(cat "$TMP/fp.err")"
got=$(value_under "$P" alloc_bytes ';main;alloc_malloc;')
want=$(truth "$TMP/fp.out" malloc bytes)
within "$got" "$want" 10 && grep -q "agent: 0 samples through its ring (0, 0 in shared memory)" "$TMP/fp.err" &&
	pass "--unwind fp: malloc site $got bytes (true $want), every sample through the marker's uprobe" ||
	fail "fp: malloc site $got bytes (true $want): $(cat "$TMP/fp.err")"

# ---- a fork: the child makes a ring of its own, nothing counted twice ----
P=$TMP/fork.smolder
"$SMOLDER" record -q --view alloc --alloc-rate 16384 -o "$P" -- "$WORKLOADS/fork_allocs" 200000 > "$TMP/fork.out" ||
	fail "fork_allocs: status $?"
parent=$(value_under "$P" alloc_bytes ';parent_allocates;')
child=$(value_under "$P" alloc_bytes ';child_allocates;')
want_parent=$(truth "$TMP/fork.out" parent bytes)
want_child=$(truth "$TMP/fork.out" child bytes)
within "$parent" "$want_parent" 5 && within "$child" "$want_child" 5 &&
	pass "fork: parent $parent bytes (true $want_parent), child $child (true $want_child)" ||
	fail "fork: parent $parent bytes (true $want_parent), child $child (true $want_child)"

# ---- the same, with too small a queue for both rings at once ----
# Each ring's unread slots held the queue's mark back while the queue was
# full of the other's younger samples: neither was read until the threads
# gave up waiting (2 ms each), 360-720 samples through the marker in 2-4 s
# of recording, against 10-15 in 0.3 s once the ring that holds the mark
# back may read into the queue's reserve.  The stall's mark is the time:
# the marker's count alone, on this noisy machine, ran 0-424 in 0.2-0.9 s
# recordings with the mend (on 06c914a as after it), once 1531 in 0.29 s
# (a CI run of c66e9fc), and tells no stall: it is reported, not bounded.
P=$TMP/fork_small.smolder
SMOLDER_TEST_QUEUE_KB=512 "$SMOLDER" record --view alloc --alloc-rate 16384 -o "$P" -- "$WORKLOADS/fork_allocs" \
	200000 > "$TMP/fork.out" 2> "$TMP/fork.err" || fail "fork_allocs, small queue: status $?"
trapped=$(sed -n 's/.* \([0-9]*\) through a uprobe.*/\1/p' "$TMP/fork.err")
secs=$(sed -n 's/^smolder: record: \([0-9.]*\) s, .*/\1/p' "$TMP/fork.err")
child=$(value_under "$P" alloc_bytes ';child_allocates;')
[ -n "$trapped" ] && awk -v s="$secs" 'BEGIN { exit !(s > 0 && s < 1.5) }' &&
	within "$child" "$want_child" 5 &&
	pass "fork, a 512 KiB queue: $secs s, $trapped samples through the marker, child $child bytes (true $want_child)" ||
	fail "fork, a 512 KiB queue: $secs s (want < 1.5), ${trapped:-?} samples through the marker, child" \
		"$child bytes (true $want_child): $(cat "$TMP/fork.err")"

# ---- the command's exit status passes through; LD_PRELOAD kept ----
LD_PRELOAD=/keep.so "$SMOLDER" record -q --view alloc -o "$TMP/x.smolder" -- sh -c 'echo "$LD_PRELOAD"; exit 7' \
	> "$TMP/env.out" 2> /dev/null
status=$?
[ $status = 7 ] && grep -q "^/keep.so:.*/libsmolder-agent.so$" "$TMP/env.out" &&
	pass "exit status 7 passed through; the agent appended to an existing LD_PRELOAD" ||
	fail "exit $status, LD_PRELOAD $(cat "$TMP/env.out")"

# ---- 8 threads freeing each other's blocks ----
# Two busy loops compete for the CPUs, so that threads are preempted between
# taking a ring slot and writing it: a block's free must still come after
# its allocation (before the reader's mark waited for such slots, 7 runs in
# 20 ended with blocks in use).
P=$TMP/swap.smolder
timeout 60 sh -c 'while :; do :; done' & spinner1=$!
timeout 60 sh -c 'while :; do :; done' & spinner2=$!
"$SMOLDER" record --view alloc --alloc-rate 262144 -o "$P" -- "$WORKLOADS/swap_threads" 8 1.5 > "$TMP/swap.out" \
	2> "$TMP/swap.err" || fail "swap_threads: status $?"
kill $spinner1 $spinner2
wait $spinner1 $spinner2 2> /dev/null
got=$(value_under "$P" alloc_bytes ';swap_allocate;malloc$')
[ "$got" = 0 ] && got=$(value_under "$P" alloc_bytes 'swap_allocate;malloc')
want=$(truth "$TMP/swap.out" swap bytes)
calls=$(value_under "$P" alloc_count 'swap_allocate;malloc')
want_calls=$(truth "$TMP/swap.out" swap count)
# Under swap_allocate only: stdout's buffer (4 KiB, from printing "ready") stays in use at exit,
# as libc leaves it, and is sampled one run in sixty at this rate (two CI failures, taken for a
# lost free until --alloc-rate 4096 showed it every run).
inuse=$(value_under "$P" inuse_bytes ';swap_allocate;')
within "$got" "$want" 5 && within "$calls" "$want_calls" 5 && [ "$inuse" = 0 ] &&
	pass "8 threads swapping blocks: bytes $got (true $want), calls $calls (true $want_calls), nothing in use at exit" ||
	fail "8 threads: bytes $got (true $want), calls $calls (true $want_calls), in use $inuse; smolder said: $(tr '\n' ' ' < "$TMP/swap.err")"

# ---- a program linked without PIE that takes malloc's address (Debian's python3.11 does): its
# PLT entry is malloc's address for everyone, and jumps through the GOT entry the hook replaced.
# The agent must call the C library's malloc, not that entry (it once called itself until the
# stack ran out: SIGSEGV before main) ----
"$SMOLDER" record -q --view alloc --alloc-rate 1024 -o "$TMP/nopie.smolder" -- "$WORKLOADS/allocs_nopie" 100 \
	> "$TMP/nopie.out" 2> "$TMP/nopie.err"
status=$?
got=$(value_under "$TMP/nopie.smolder" alloc_bytes ';main;alloc_malloc;')
want=$(truth "$TMP/nopie.out" malloc bytes)
[ "$status" = 0 ] && within "$got" "$want" 10 &&
	pass "launched, linked without PIE, malloc's address taken: exit 0, malloc's bytes $got (true $want)" ||
	fail "launched without PIE: status $status, malloc's bytes $got (true $want): $(cat "$TMP/nopie.err")"
start_workload "$WORKLOADS/allocs_nopie" 0 || finish
"$SMOLDER" record -q -p "$WL_PID" -d 1 --view alloc --alloc-rate 4096 -o "$TMP/nopie_attach.smolder" \
	2> "$TMP/nopie.err" || fail "attach without PIE: $(cat "$TMP/nopie.err")"
got=$(value_under "$TMP/nopie_attach.smolder" alloc_bytes ';main;alloc_malloc;')
kill -0 "$WL_PID" && [ "$got" -gt 0 ] &&
	pass "attached, linked without PIE: $got bytes under alloc_malloc, the process runs on" ||
	fail "attached without PIE: $got bytes under alloc_malloc, alive: $(kill -0 "$WL_PID" && echo yes || echo no): $(cat "$TMP/nopie.err")"
stop_workload

# ---- attached to a process that runs a new program: the agent goes with the old one, and
# smolder says so (the new program's allocations are not recorded) ----
bash -c 'echo "execs $$"; sleep 1; exec "$0" 0' "$WORKLOADS/allocs" > "$TMP/exec.out" &
until grep -q execs "$TMP/exec.out"; do sleep 0.05; done
execer=$(awk '$1 == "execs" { print $2 }' "$TMP/exec.out")
"$SMOLDER" record -p "$execer" -d 2 --view alloc -o "$TMP/exec.smolder" 2> "$TMP/exec.err"
status=$?
kill "$execer"
wait
[ "$status" = 0 ] && grep -q "1 attached process(es) ran a new program (exec)" "$TMP/exec.err" &&
	! grep -q "could not be stopped" "$TMP/exec.err" &&
	pass "attached to a process that execs: said in one line, no false word of an agent left sampling" ||
	fail "attached, exec: status $status: $(cat "$TMP/exec.err")"

# ---- attached: injected once, twice, and the process runs on ----
start_workload "$WORKLOADS/allocs" 0 || finish
"$SMOLDER" record -p "$WL_PID" -d 1.5 --view alloc --alloc-rate 4096 -o "$TMP/attach.smolder" 2> "$TMP/attach.err" ||
	fail "attach: $(cat "$TMP/attach.err")"
P=$TMP/attach.smolder
leak=$(value_under "$P" alloc_bytes ';main;alloc_leak;')
leak_inuse=$(value_under "$P" inuse_bytes ';main;alloc_leak;')
malloc=$(value_under "$P" alloc_bytes ';main;alloc_malloc;')
freed_inuse=$(value_under "$P" inuse_bytes ';main;alloc_malloc;')
[ "$leak" -gt 0 ] && within "$leak_inuse" "$leak" 10 && [ "$freed_inuse" -le $((malloc / 20)) ] &&
	awk -v a="$malloc" -v b="$leak" 'BEGIN { exit !(a / b > 0.8 && a / b < 1.25) }' &&
	pass "attach: leak in use $leak_inuse of $leak allocated; malloc site ($malloc) freed" ||
	fail "attach: leak $leak (in use $leak_inuse), malloc $malloc (in use $freed_inuse): $(cat "$TMP/attach.err")"
grep -q "agent: [0-9]* GOT entries hooked" "$TMP/attach.err" && pass "attach: $(grep -o 'agent: .*' "$TMP/attach.err")" ||
	fail "attach: no agent line: $(cat "$TMP/attach.err")"
"$SMOLDER" record -q -p "$WL_PID" -d 1 --view alloc -o "$TMP/attach2.smolder" 2> "$TMP/attach2.err" ||
	fail "second attach: $(cat "$TMP/attach2.err")"
n=$(agent_maps "$WL_PID")
[ "$(value_under "$TMP/attach2.smolder" alloc_bytes ';main;alloc_leak;')" -gt 0 ] && [ "$n" = 1 ] &&
	kill -0 "$WL_PID" && pass "second attach: the agent found loaded ($n mapping), samples again, the process runs on" ||
	fail "second attach: $n agent mappings, $(cat "$TMP/attach2.err")"
stop_workload
# ---- smolder gone: the agent finds its marker unprobed and stops itself ----
# hooked PID: the workload's own answer (its GOT's malloc against the loader's).
hooked() {
	local before
	before=$(grep -c "hooked .* in $1\$" "$TMP/wl.out")
	kill -USR1 "$1"
	for _ in $(seq 100); do
		[ "$(grep -c "hooked .* in $1\$" "$TMP/wl.out")" -gt "$before" ] && break
		sleep 0.01
	done
	grep "hooked .* in $1\$" "$TMP/wl.out" | tail -1 | cut -d' ' -f3
}
# until_unhooked PID: polls for up to 4 s; prints the answer, and how long it took.
until_unhooked() {
	local from=$(date +%s%N) now ms=0
	while [ "$ms" -lt 4000 ]; do
		now=$(hooked "$1")
		ms=$((($(date +%s%N) - from) / 1000000))
		[ "$now" = no ] && break
	done
	echo "$now $ms"
}
start_workload "$WORKLOADS/allocs" 0 || finish
"$SMOLDER" record -q -p "$WL_PID" --view alloc -o "$TMP/killed.smolder" 2> "$TMP/killed.err" &
rec=$!
for _ in $(seq 100); do
	[ "$(hooked "$WL_PID")" = yes ] && break
	sleep 0.05
done
kill -STOP "$rec" # Ctrl-Z: smolder keeps its uprobes, the agent samples on
sleep 0.5
while_stopped=$(hooked "$WL_PID")
kill -CONT "$rec"
kill -KILL "$rec"
wait "$rec" 2> /dev/null
read -r after ms <<< "$(until_unhooked "$WL_PID")"
[ "$while_stopped" = yes ] && [ "$after" = no ] && kill -0 "$WL_PID" &&
	pass "smolder stopped 0.5 s: still hooked; killed: the agent put malloc back by itself in $ms ms, the process runs on" ||
	fail "smolder killed: hooked '$while_stopped' while stopped, '$after' $ms ms after the kill: $(cat "$TMP/killed.err")"
stop_workload
# The killed smolder's uprobes stay defined in uprobe_events (the kernel took out only their
# breakpoints) until the next recording removes them: else they stayed until a reboot, and a
# smolder given the same pid later appended its probes to them (the kernel's multi-probe events).
ue=$(ls /sys/kernel/tracing/uprobe_events /sys/kernel/debug/tracing/uprobe_events 2> /dev/null | head -1)
left=$(grep -c "smolder_$rec/" "$ue")
"$SMOLDER" record -q --view alloc -o "$TMP/sweep.smolder" -- "$WORKLOADS/allocs" 1 > /dev/null
gone=$(grep -c "smolder_$rec/" "$ue")
[ "$left" -gt 0 ] && [ "$gone" = 0 ] &&
	pass "a killed smolder's $left uprobe definitions removed by the next recording" ||
	fail "a killed smolder's uprobe definitions: $left after the kill, $gone after the next recording"
# A child forked while the agent samples has no thread of the agent's: its
# samples look, and it stops at the first after smolder ended.
start_workload "$WORKLOADS/allocs" 0 || finish
"$SMOLDER" record -q -p "$WL_PID" -d 1 --view alloc -o "$TMP/forked.smolder" 2> "$TMP/forked.err" &
rec=$!
for _ in $(seq 100); do
	[ "$(hooked "$WL_PID")" = yes ] && break
	sleep 0.05
done
kill -USR2 "$WL_PID"
for _ in $(seq 100); do
	grep -q "^child .* ready" "$TMP/wl.out" && break
	sleep 0.01
done
child=$(grep -m1 "^child .* ready" "$TMP/wl.out" | cut -d' ' -f2)
while_recording=$(hooked "$child")
wait "$rec" || fail "forked: the recording failed: $(cat "$TMP/forked.err")"
read -r after ms <<< "$(until_unhooked "$child")"
[ "$while_recording" = yes ] && [ "$after" = no ] && [ "$(hooked "$WL_PID")" = no ] &&
	pass "a child forked during the attach: hooked while recording, put back by itself $ms ms after the end" ||
	fail "forked child $child: hooked '$while_recording' while recording, '$after' $ms ms after the end"
kill "$child" 2> /dev/null
stop_workload
# Another build's agent (a copy of this one elsewhere, as an upgrade leaves
# it): its markers are another file's, which this smolder's uprobes miss.
mkdir -p "$TMP/other/agent"
cp "$SMOLDER" "$TMP/other/smolder"
cp "$top_builddir/agent/libsmolder-agent.so" "$TMP/other/agent/"
printf 'another build' >> "$TMP/other/agent/libsmolder-agent.so" # (a copy byte for byte is this build: probed where it is)
start_workload "$WORKLOADS/allocs" 0 || finish
"$TMP/other/smolder" record -q -p "$WL_PID" -d 0.5 --view alloc -o "$TMP/other.smolder" 2> "$TMP/other.err" ||
	fail "attach with another build: $(cat "$TMP/other.err")"
"$SMOLDER" record -q -p "$WL_PID" -d 0.5 --view alloc -o "$TMP/mixed.smolder" 2> "$TMP/mixed.err"
status=$?
[ "$status" != 0 ] && [ "$(wc -l < "$TMP/mixed.err")" = 1 ] && grep -q "another build's agent ($TMP/other/agent/" "$TMP/mixed.err" &&
	kill -0 "$WL_PID" && pass "another build's agent loaded: refused in one line ($(cat "$TMP/mixed.err")), the process runs on" ||
	fail "another build's agent: exit $status, $(cat "$TMP/mixed.err")"
stop_workload

# ---- a library loaded after the attach: its allocations are seen ----
# By its bare name, found through dlopen_main's RUNPATH ($ORIGIN): the
# agent's dlopen hook leaves dlopen its caller.  A single thread: the hook
# starts the agent's thread, which hooks the library once loaded.
"$WORKLOADS/dlopen_main" libplugin_alloc.so 1.5 1 > "$TMP/dl.out" 2> "$TMP/dl.stderr" &
dl=$!
for _ in $(seq 50); do grep -q ready "$TMP/dl.out" && break; sleep 0.05; done
"$SMOLDER" record -q -p "$dl" --view alloc --alloc-rate 1048576 -o "$TMP/dl.smolder" 2> "$TMP/dl.err" ||
	fail "dlopen: $(cat "$TMP/dl.err")"
wait "$dl" || fail "dlopen_main: $(cat "$TMP/dl.stderr")"
got=$(value_under "$TMP/dl.smolder" alloc_bytes 'plugin_allocates;malloc')
want=$(truth "$TMP/dl.out" plugin bytes)
within "$got" "$want" 5 && pass "a library dlopened after the attach: plugin_allocates $got bytes, true $want" ||
	fail "dlopened library: $got bytes, true $want: $(cat "$TMP/dl.err")"

# ---- refusals: one line, non-zero, the process as it was ----
"$SMOLDER" record -q --view alloc -o "$TMP/static.svg" -- "$WORKLOADS/allocs_static" 1 > /dev/null 2> "$TMP/err"
status=$?
[ $status != 0 ] && [ "$(wc -l < "$TMP/err")" = 1 ] && grep -q 'statically linked' "$TMP/err" &&
	pass "static launch refused: $(cat "$TMP/err")" || fail "static launch: status $status, $(cat "$TMP/err")"
start_workload "$WORKLOADS/allocs_static" 0 || finish
"$SMOLDER" record -q --view alloc -p "$WL_PID" -o "$TMP/static2.svg" 2> "$TMP/err"
status=$?
[ $status != 0 ] && [ "$(wc -l < "$TMP/err")" = 1 ] && grep -q "pid $WL_PID" "$TMP/err" && kill -0 "$WL_PID" &&
	pass "static attach refused: $(cat "$TMP/err")" || fail "static attach: status $status, $(cat "$TMP/err")"
stop_workload
if [ "$(id -u)" = 0 ] && id nobody > /dev/null 2>&1; then
	start_workload "$WORKLOADS/allocs" 0 || finish
	setpriv --reuid=nobody --regid=nogroup --clear-groups "$SMOLDER" record -q --view alloc -p "$WL_PID" -d 1 \
		-o /dev/null 2> "$TMP/err"
	status=$?
	[ $status != 0 ] && [ "$(wc -l < "$TMP/err")" = 1 ] && [ "$(agent_maps "$WL_PID")" = 0 ] && kill -0 "$WL_PID" &&
		pass "another user's process refused: $(cat "$TMP/err")" || fail "not root: status $status, $(cat "$TMP/err")"
	stop_workload
fi
# A process traced already (by a debugger): ptrace takes one tracer.
"$WORKLOADS/traced" "$WORKLOADS/allocs" 0 > "$TMP/traced.out" &
tracer=$!
for _ in $(seq 50); do grep -q ready "$TMP/traced.out" && break; sleep 0.05; done
tracee=$(pgrep -P "$tracer" allocs)
"$SMOLDER" record -q --view alloc -p "$tracee" -d 1 -o /dev/null 2> "$TMP/err"
status=$?
[ $status != 0 ] && [ "$(wc -l < "$TMP/err")" = 1 ] && grep -q "being traced by pid $tracer" "$TMP/err" &&
	[ "$(agent_maps "$tracee")" = 0 ] && kill -0 "$tracee" &&
	pass "a process traced by another: refused, $(cat "$TMP/err")" || fail "traced: status $status, $(cat "$TMP/err")"
kill "$tracee" 2> /dev/null
wait "$tracer" 2> /dev/null
# A process in a container (a root of its own, pivot_root, its own mount
# namespace) cannot open the agent's file: it is handed a copy in a memfd,
# loaded from /proc/thread-self/fd and probed there; its fd is closed once loaded,
# and no file is left in its root.  A second recording finds it loaded.
# Without /proc in the container its dlopen cannot open the copy: refused
# in one line, and left as it was (no agent, no fd).
container() { # ROOT WITH_PROC PID_NAMESPACE(yes, no, noexec) PROGRAM [ARGS]: PROGRAM (a workload) started in it, WL_PID
	local root=$1 proc=true pidns=
	[ "$2" = yes ] && proc="mount -t proc proc proc"
	[ "$3" != no ] && pidns=--pid
	# noexec: its pid namespace makes no executable memfd (Linux 6.3's sysctl, per namespace).
	[ "$3" = noexec ] && proc="$proc && echo 2 > proc/sys/vm/memfd_noexec"
	shift 3
	mkdir -p "$root/old" "$root/proc" "$root/bin"
	cp "$WORKLOADS/$1" "$root/bin/$1"
	# pthread_exit loads libgcc_s.
	for lib in $(ldd "$WORKLOADS/$1" | grep -oE '/[^ ]+') $(gcc -print-file-name=libgcc_s.so.1); do
		mkdir -p "$root$(dirname "$lib")" && cp -L "$lib" "$root$lib"
	done
	start_workload unshare --mount --fork $pidns sh -c "mount --make-rprivate / && mount --bind '$root' '$root' &&
		cd '$root' && $proc && pivot_root . old && cd / && exec /bin/$*" || return 1
	WL_PID=$(pgrep -P "$WL_PID")
}
memfd_agent() { grep -c "r-xp .*/memfd:libsmolder-agent.so (deleted)" "/proc/$1/maps"; }
agent_fds() { find "/proc/$1/fd" -lname '*libsmolder-agent*' 2> /dev/null | wc -l; }
if [ "$(id -u)" = 0 ] && command -v unshare > /dev/null; then
	container "$TMP/ct" yes no allocs 0 || finish
	"$SMOLDER" record --view alloc -p "$WL_PID" -d 1 -o "$TMP/ct.smolder" 2> "$TMP/err"
	status=$?
	b=$("$SMOLDER" fold --value alloc_bytes "$TMP/ct.smolder" | awk '/;alloc_malloc;/ { t += $NF } END { printf "%.0f\n", t }')
	ring=$(sed -n 's/.*agent: \([0-9]*\) samples through its ring.*/\1/p' "$TMP/err")
	[ $status = 0 ] && [ "$b" -gt 0 ] && [ "${ring:-0}" -gt 0 ] && [ "$(memfd_agent "$WL_PID")" = 1 ] &&
		[ "$(agent_fds "$WL_PID")" = 0 ] && [ -z "$(find "$TMP/ct" -name '*smolder*')" ] &&
		pass "a container: the agent handed over in a memfd, $b bytes under alloc_malloc, its fd closed, no file left" ||
		fail "container: status $status, $b bytes, ring '$ring', memfd agent $(memfd_agent "$WL_PID"), fds $(agent_fds "$WL_PID"): $(cat "$TMP/err")"
	"$SMOLDER" record -q --view alloc -p "$WL_PID" -d 0.5 -o "$TMP/ct2.smolder" 2> "$TMP/err"
	status=$?
	b=$("$SMOLDER" fold --value alloc_bytes "$TMP/ct2.smolder" | awk '/;alloc_malloc;/ { t += $NF } END { printf "%.0f\n", t }')
	[ $status = 0 ] && [ "$b" -gt 0 ] && [ "$(memfd_agent "$WL_PID")" = 1 ] && [ "$(hooked "$WL_PID")" = no ] &&
		pass "a container, again: the agent found loaded, $b bytes; its GOT put back after" ||
		fail "container again: status $status, $b bytes, memfd agent $(memfd_agent "$WL_PID"): $(cat "$TMP/err")"
	stop_workload
	container "$TMP/ct-noproc" no no allocs 0 || finish
	"$SMOLDER" record -q --view alloc -p "$WL_PID" -d 1 -o /dev/null 2> "$TMP/err"
	status=$?
	[ $status = 1 ] && [ "$(wc -l < "$TMP/err")" = 1 ] && grep -q "is /proc mounted there" "$TMP/err" &&
		[ "$(memfd_agent "$WL_PID")" = 0 ] && [ "$(agent_fds "$WL_PID")" = 0 ] && kill -0 "$WL_PID" &&
		pass "a container without /proc: refused, left as it was: $(cat "$TMP/err")" ||
		fail "container without /proc: status $status, memfd agent $(memfd_agent "$WL_PID"), fds $(agent_fds "$WL_PID"): $(cat "$TMP/err")"
	stop_workload
	# A pid namespace with vm.memfd_noexec at 2 can be handed no executable copy: said so.
	if [ -e /proc/sys/vm/memfd_noexec ]; then
		container "$TMP/ct-noexec" yes noexec allocs 0 || finish
		"$SMOLDER" record -q --view alloc -p "$WL_PID" -d 0.5 -o /dev/null 2> "$TMP/err"
		status=$?
		[ $status = 1 ] && [ "$(wc -l < "$TMP/err")" = 1 ] && grep -q "vm.memfd_noexec is 2 there" "$TMP/err" &&
			[ "$(agent_fds "$WL_PID")" = 0 ] && kill -0 "$WL_PID" &&
			pass "a container whose memfds cannot be executable: refused, left as it was: $(cat "$TMP/err")" ||
			fail "memfd_noexec: status $status, fds $(agent_fds "$WL_PID"): $(cat "$TMP/err")"
		stop_workload
	fi
	# A container's process and one of the host's in one recording: their
	# agents would be two files, and one recording probes one: refused, the
	# container's process left without the copy it was handed.
	container "$TMP/ct-mix" yes no allocs 0 || finish
	"$WORKLOADS/allocs" 0 > /dev/null &
	host=$!
	"$SMOLDER" record -q --view alloc -p "$host,$WL_PID" -d 0.5 -o /dev/null 2> "$TMP/err"
	status=$?
	[ $status = 1 ] && [ "$(wc -l < "$TMP/err")" = 1 ] && grep -q "sees another agent file than pid $host" "$TMP/err" &&
		[ "$(agent_fds "$WL_PID")" = 0 ] && [ "$(memfd_agent "$WL_PID")" = 0 ] &&
		pass "a container's process and the host's together: refused, the copy taken back: $(cat "$TMP/err")" ||
		fail "container and host: status $status, fds $(agent_fds "$WL_PID"), memfd agent $(memfd_agent "$WL_PID"): $(cat "$TMP/err")"
	kill "$host"
	wait "$host" 2> /dev/null
	stop_workload
	# With a pid namespace of its own too (as Docker's), its agent numbers its
	# process and threads by that namespace: its ring is still read (it was
	# ignored, and every sample waited for room), its threads ours; and with
	# its main thread exited, the agent's frames unwind from our own file.
	container "$TMP/ct-pid" yes yes main_exits 20 || finish
	"$SMOLDER" record --view alloc -p "$WL_PID" -d 1 -o "$TMP/ct3.smolder" 2> "$TMP/err"
	status=$?
	s=$("$SMOLDER" fold --value alloc_bytes "$TMP/ct3.smolder" | awk '{ t += $NF } /;start_thread;work;keep_allocating;malloc / { k += $NF }
		END { printf "%.0f\n", t ? 100 * k / t : 0 }')
	ring=$(sed -n 's/.*agent: \([0-9]*\) samples through its ring.*/\1/p' "$TMP/err")
	worker=$(ls "/proc/$WL_PID/task" | grep -vx "$WL_PID" | head -1) # the agent's thread comes after
	t=$("$SMOLDER" fold --per-thread --value alloc_bytes "$TMP/ct3.smolder" |
		awk -v w="main_exits-$worker" '{ t += $NF } index($0, ";" w ";") { k += $NF } END { printf "%.0f\n", t ? 100 * k / t : 0 }')
	[ $status = 0 ] && [ "${ring:-0}" -gt 100 ] && [ "$s" -ge 95 ] && [ "$t" -ge 95 ] &&
		pass "a container with its own pid namespace, its main thread exited: $ring samples through the ring, $s% of the bytes under start_thread;work;keep_allocating, $t% on its thread $worker" ||
		fail "container with a pid namespace: status $status, ring '$ring', $s% under keep_allocating, $t% on thread $worker: $(cat "$TMP/err")"
	stop_workload
fi
# A program on musl's C library (Alpine's): the agent, built for glibc's,
# cannot load into it (it stopped a launched one dead, "symbol not found",
# and an attach said only that dlopen failed): refused with the reason,
# before it runs or is touched; the exact mode probes musl's own malloc.
if command -v musl-gcc > /dev/null; then
	musl-gcc -O2 -g -o "$TMP/allocs_musl" "$top_srcdir/tests/workloads/allocs.c"
	"$SMOLDER" record -q --view alloc -o /dev/null -- "$TMP/allocs_musl" 5 > "$TMP/musl.out" 2> "$TMP/err"
	status=$?
	[ $status = 1 ] && [ "$(wc -l < "$TMP/err")" = 1 ] && grep -q "runs on musl's C library (.*), and the agent is built for glibc's; or use --alloc-mode exact" "$TMP/err" &&
		! grep -q "^malloc" "$TMP/musl.out" && pass "musl, launched: refused before it runs: $(cat "$TMP/err")" ||
		fail "musl, launched: status $status: $(cat "$TMP/err")"
	start_workload "$TMP/allocs_musl" 0 || finish
	"$SMOLDER" record -q --view alloc -p "$WL_PID" -d 0.5 -o /dev/null 2> "$TMP/err"
	status=$?
	[ $status = 1 ] && grep -q "runs on musl's C library" "$TMP/err" && [ "$(agent_maps "$WL_PID")" = 0 ] && kill -0 "$WL_PID" &&
		pass "musl, attached: refused, untouched" || fail "musl, attached: status $status: $(cat "$TMP/err")"
	stop_workload
	# A musl child of a launched command inherits LD_PRELOAD: it runs, the agent idle in it.
	"$SMOLDER" record --view alloc -o /dev/null -- sh -c "'$TMP/allocs_musl' 5" > "$TMP/musl.out" 2> "$TMP/err"
	status=$?
	[ $status = 0 ] && grep -q "^leak inuse" "$TMP/musl.out" &&
		grep -q "1 process(es) ran on musl's C library, .*their allocations are not recorded" "$TMP/err" &&
		pass "musl, a launched command's child: it runs, the agent idle in it, and the summary says so" ||
		fail "musl child: status $status, $(cat "$TMP/musl.out" "$TMP/err")"
	"$SMOLDER" record -q --view alloc --alloc-mode exact -o "$TMP/musl.folded" -- "$TMP/allocs_musl" 5 > /dev/null 2> "$TMP/err"
	n=$(awk '/(^|;)malloc / { t += $NF } END { printf "%.0f\n", t }' "$TMP/musl.folded")
	[ "$n" -gt 0 ] && pass "musl, --alloc-mode exact: $n bytes through musl's malloc" || fail "musl, exact: $n bytes: $(cat "$TMP/err")"
fi
# A process under a seccomp filter, which may kill it for a call it did not expect: the agent
# is not loaded; the exact mode (uprobes, nothing run inside it) records it.
start_workload "$WORKLOADS/seccomp_exec" "$WORKLOADS/allocs" 0 || finish
"$SMOLDER" record -q --view alloc -p "$WL_PID" -d 1 -o /dev/null 2> "$TMP/err"
status=$?
[ $status = 1 ] && [ "$(wc -l < "$TMP/err")" = 1 ] && grep -q "pid $WL_PID: it runs under a seccomp filter" "$TMP/err" &&
	grep -q -- "--alloc-mode exact" "$TMP/err" && [ "$(agent_maps "$WL_PID")" = 0 ] && kill -0 "$WL_PID" &&
	pass "a process under a seccomp filter: refused, $(cat "$TMP/err")" || fail "seccomp: status $status, $(cat "$TMP/err")"
"$SMOLDER" record -q --view alloc --alloc-mode exact -p "$WL_PID" -d 0.5 -o "$TMP/seccomp.folded" 2> "$TMP/err" &&
	grep -q "alloc_malloc" "$TMP/seccomp.folded" && kill -0 "$WL_PID" &&
	pass "a process under a seccomp filter: recorded by --alloc-mode exact" || fail "seccomp, exact mode: $(cat "$TMP/err")"
stop_workload
# A process that sandboxes itself once started (a forked child's filter kills it for memfd_create,
# open, openat, gettid or a sleep): the agent sees the prctl, makes no system call of its own from
# then on, and its samples still come, through the marker.
"$SMOLDER" record -q --view alloc -o "$TMP/late.smolder" -- "$WORKLOADS/seccomp_late" > "$TMP/late.out" 2> "$TMP/err"
status=$?
got=$(thread_bytes "$TMP/late.smolder" ';sandboxed_allocs;')
want=$(awk '/^child allocated/ { print $3 }' "$TMP/late.out")
before=$(value_under "$TMP/late.smolder" alloc_bytes ';parent_allocs;')
# Every block was freed, the child's last ones just before its _exit, which runs no destructor
# (the child's stdout buffer is not: it is left out).
inuse=$(value_under "$TMP/late.smolder" inuse_bytes ';(sandboxed|parent)_allocs;')
[ $status = 0 ] && within "$got" "$want" 15 && [ "$before" -gt 0 ] && [ "$inuse" = 0 ] &&
	pass "a child that sandboxes itself: not killed, its bytes $got (true $want) through the marker, none in use after its _exit" ||
	fail "seccomp after the start: status $status, bytes $got (true $want), before the fork $before, in use $inuse: $(cat "$TMP/late.out" "$TMP/err")"
# A forked child's thread exits after switching back and forth with its main thread on one CPU:
# the kernel swapped their inherited perf contexts, and freeing the events the thread held took
# the markers' breakpoints out of the child (the agent then stopped, as if smolder had gone) in
# 3 runs of 8 before the markers got system-wide keepers.  Six runs, every one complete.
ok=0 runs=""
for run in 1 2 3 4 5 6; do
	"$SMOLDER" record -q --view alloc -o "$TMP/fte.smolder" -- "$WORKLOADS/fork_thread_exit" > "$TMP/fte.out" 2> "$TMP/err"
	status=$?
	got=$(thread_bytes "$TMP/fte.smolder" ';child_allocs;')
	want=$(awk '/^child allocated/ { print $3 }' "$TMP/fte.out")
	runs="$runs $got"
	[ $status = 0 ] && within "$got" "$want" 15 && ok=$((ok + 1))
done
[ $ok = 6 ] && pass "a forked child whose thread exited: its allocations seen in 6 runs of 6 (bytes$runs; true $want)" ||
	fail "a forked child whose thread exited: $ok runs of 6 complete (bytes$runs; true $want): $(cat "$TMP/err")"
# A parent's block freed by its forked child (the child's copy): the parent's is still in use.
"$SMOLDER" record -q --view alloc --alloc-rate 4096 -o "$TMP/ff.smolder" -- "$WORKLOADS/fork_free" > "$TMP/ff.out"
status=$?
got=$(value_under "$TMP/ff.smolder" inuse_bytes ';parent_leak;')
want=$(truth "$TMP/ff.out" leak bytes)
[ $status = 0 ] && [ "$got" = "$want" ] &&
	pass "a block freed by a forked child only: still in use in its parent ($got bytes)" ||
	fail "fork_free: status $status, the parent's block in use: $got (true $want)"
"$SMOLDER" record --view alloc --alloc-mode fast -- true 2> "$TMP/err"
[ $? = 2 ] && grep -q "alloc-mode must be sampled" "$TMP/err" && pass "a bad --alloc-mode: usage error" ||
	fail "--alloc-mode fast: $(cat "$TMP/err")"
finish
