#!/bin/bash
# Where the sampled alloc view's cost to a program goes, on
# bench/workloads/alloc_heavy.c (one thread, CALLS calls), in turn in one
# run: alone; alone with an idle thread besides (-i: what a second thread
# alone costs glibc's malloc, which then takes its locked paths for good);
# the agent preloaded with sampling off in effect (a rate of 10^15 bytes:
# its hooks alone); the agent sampling at the default rate with no profiler
# (its markers reach no uprobe: the agent's own sampling work); and
# recorded by smolder --view alloc.  THREADS (default 1) threads each make
# CALLS calls (alloc_heavy -t), DEPTH (default 0) frames deeper (-d).
# REPEAT rounds;
# each variant's wall time, and the program's own CPU time (which a
# neighbour's steal of the VM's CPUs does not inflate), against alone's in
# the same round (the machine's speed drifts by a third from minute to
# minute), medians with the range.
#   CALLS=60000000 REPEAT=7 THREADS=1 DEPTH=0 bench/agent_costs.sh
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
smolder=${SMOLDER:-$top/smolder}
agent=${AGENT:-$top/agent/libsmolder-agent.so}
calls=${CALLS:-60000000}
repeat=${REPEAT:-7}
threads=${THREADS:-1}
depth=${DEPTH:-0}
. "$top/bench/alloc_heavy.sh" agent-costs
run=("$ah" -t "$threads" -d "$depth" "$calls")

times() { awk '$1 == "wall" { print $2 "/" $4 }' "$1"; } # wall/cpu
declare -a alone idle hooks sampling recorded
for ((r = 0; r < repeat; r++)); do
	"${run[@]}" > "$work/out"; alone+=("$(times "$work/out")")
	"$ah" -i -t "$threads" -d "$depth" "$calls" > "$work/out"; idle+=("$(times "$work/out")")
	SMOLDER_AGENT_RATE=1000000000000000 LD_PRELOAD=$agent "${run[@]}" > "$work/out"; hooks+=("$(times "$work/out")")
	SMOLDER_AGENT_RATE=524288 LD_PRELOAD=$agent "${run[@]}" > "$work/out"; sampling+=("$(times "$work/out")")
	"$smolder" record -q --view alloc -o "$work/s.smolder" -- "${run[@]}" > "$work/out"; recorded+=("$(times "$work/out")")
done
ratio() { # ROW FIELD (1 wall, 2 cpu): each round's against alone's, as a cost in percent
	local -n v=$1
	for ((r = 0; r < repeat; r++)); do
		awk -v m="${v[r]}" -v b="${alone[r]}" -v f="$2" 'BEGIN { split(m, x, "/"); split(b, y, "/"); print 100 * (x[f] - y[f]) / y[f] }'
	done
}
spread() { sort -n | awk '{ v[NR] = $1 } END { printf "%+.1f%% (%+.1f to %+.1f)", v[int((NR + 1) / 2)], v[1], v[NR] }'; }
echo "| alloc_heavy -t $threads -d $depth, $calls calls a thread, $repeat rounds | wall against alone, same round | CPU against alone, same round |"
echo "| --- | ---: | ---: |"
echo "| alone, an idle thread besides (-i) | $(ratio idle 1 | spread) | $(ratio idle 2 | spread) |"
echo "| agent preloaded, no samples (its hooks) | $(ratio hooks 1 | spread) | $(ratio hooks 2 | spread) |"
echo "| agent preloaded, sampling at 512 KiB, no profiler | $(ratio sampling 1 | spread) | $(ratio sampling 2 | spread) |"
echo "| smolder --view alloc | $(ratio recorded 1 | spread) | $(ratio recorded 2 | spread) |"
echo "alone: $(printf '%s\n' "${alone[@]}" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] " s wall/cpu, the median round" }')"
