#!/bin/bash
# 100 attach/detach cycles of the sampled alloc view against a running
# 8-thread allocating process (tests/workloads/swap_threads: threads free
# each other's blocks): it must never crash, no thread may be held more than
# 50 ms by an injection (smolder prints the longest hold of each cycle), and
# its throughput after the last detach must match before.  The machine's
# speed drifts over the minutes the cycles take: right after each window, a
# fresh, never attached process of the same kind runs 5 s alone (the
# measured one stopped with SIGSTOP meanwhile), and the measured process's
# after/before is divided by that probe's.  Run as root.
#   CYCLES=100 bench/agent_cycles.sh
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
smolder=${SMOLDER:-$top/smolder}
cycles=${CYCLES:-100}
work=$(mktemp -d /tmp/smolder-cycles.XXXXXX)
"$top/tests/workloads/swap_threads" 8 $((cycles + 80)) rate > "$work/rates" &
wl=$!
trap 'kill $wl 2> /dev/null || true; rm -rf "$work"' EXIT
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# The machine's speed now: a fresh process's median rate over 5 s, alone.
probe() {
	kill -STOP "$wl"
	"$top/tests/workloads/swap_threads" 8 6 rate | awk '/^rate/ && n++ { print $2 }' | median
	kill -CONT "$wl"
}
sleep 11 # ten whole seconds before
before=$(grep -c '^rate' "$work/rates")
probe_before=$(probe)
held_max=0
for i in $(seq "$cycles"); do
	"$smolder" record -p "$wl" --view alloc -d 0.2 -o "$work/c.smolder" 2> "$work/c.err" ||
		{ echo "cycle $i: $(cat "$work/c.err")"; exit 1; }
	kill -0 "$wl" || { echo "cycle $i: the process is gone"; exit 1; }
	held=$(sed -n 's/.*a thread held at most \([0-9.]*\) ms.*/\1/p' "$work/c.err")
	held_max=$(awk -v a="$held_max" -v b="${held:-0}" 'BEGIN { print (b > a ? b : a) }')
	echo "$held" >> "$work/held"
done
after_start=$(grep -c '^rate' "$work/rates")
sleep 11
kill -0 "$wl" || { echo "the process is gone after the cycles"; exit 1; }
after_end=$(grep -c '^rate' "$work/rates")
probe_after=$(probe)
range() { sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { print lo "-" hi }'; }
rates_before() { grep '^rate' "$work/rates" | sed -n "2,${before}p" | awk '{ print $2 }'; }
rates_after() { grep '^rate' "$work/rates" | sed -n "$((after_start + 2)),${after_end}p" | awk '{ print $2 }'; }
rate_before=$(rates_before | median)
rate_after=$(rates_after | median)
echo "$cycles cycles; the process ran on; longest hold $held_max ms (median $(median < "$work/held") ms)"
echo "allocations per second, median: before $rate_before, after the last detach $rate_after ($(awk -v a="$rate_after" -v b="$rate_before" 'BEGIN { printf "%.3f", a / b }'))"
# This VM's host moves it between two speeds (2.5 and 5 million a second
# here, unprofiled) every few minutes: a ratio far from 1 with a range
# that stays within one speed is that, not the agent.
echo "per second: before $(rates_before | range), after $(rates_after | range)"
echo "a fresh process alone, right after each window: $probe_before, then $probe_after ($(awk -v a="$probe_after" -v b="$probe_before" 'BEGIN { printf "%.3f", a / b }'))"
echo "after/before over the fresh processes': $(awk -v a="$rate_after" -v b="$rate_before" -v c="$probe_after" -v d="$probe_before" 'BEGIN { printf "%.3f", (a / b) / (c / d) }')"
echo "agent mappings in the process: $(grep -c 'r-xp .*libsmolder-agent.so' /proc/$wl/maps)"
