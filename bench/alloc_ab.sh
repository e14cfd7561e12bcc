#!/bin/bash
# Two smolder builds A and B side by side on the sampled alloc view, in
# interleaved rounds (this machine's speed drifts by a third within
# minutes, so only rounds run together compare), on
# bench/workloads/alloc_heavy.c:
#   - a short launched recording (SHORT calls, ~0.4 s): the profiler's CPU
#     (user+sys less the workload's own), what a recording costs apart
#     from its length;
#   - THREADS threads launched, CALLS calls each: throughput against an
#     unprofiled run in the same round, and the profiler's CPU over the run;
#   - attached to THREADS threads working: the profiler's CPU over SECS
#     seconds once the work has run 2 s (the scheduler's runtime).
# Medians of ROUNDS with ranges, and B's difference from A per round.
# Each build's agent is the one beside it (agent/libsmolder-agent.so).
#   ROUNDS=6 bench/alloc_ab.sh /tmp/old/smolder ./smolder      # as root
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
a=${1:?usage: bench/alloc_ab.sh SMOLDER-A SMOLDER-B}
b=${2:?usage: bench/alloc_ab.sh SMOLDER-A SMOLDER-B}
rounds=${ROUNDS:-6}
threads=${THREADS:-2}
calls=${CALLS:-40000000}
short=${SHORT:-10000000}
secs=${SECS:-6}
. "$top/bench/alloc_heavy.sh" alloc-ab

# The profiler's CPU (ms) of a launched recording of the workload, its
# output in $work/out.
launched_cpu() { # SMOLDER ARGS...
	local bin=$1 u s
	shift
	timed "$work/t" "$bin" record -q --view alloc -o "$work/r.smolder" -- "$ah" "$@" > "$work/out"
	read -r u s _ < "$work/t"
	awk -v u="$u" -v s="$s" -v c="$(field cpu "$work/out")" 'BEGIN { printf "%.1f\n", 1000 * (u + s - c) }'
}

# The profiler's CPU (% of a core) attached to the work, over secs seconds.
steady_cpu() { # SMOLDER
	"$ah" -w -t "$threads" 2000000000 > "$work/wl" &
	local wl=$! prof n0 n1 t0 t1
	until grep -q ready "$work/wl"; do sleep 0.05; done
	"$1" record -q --view alloc -p "$wl" -o "$work/st.smolder" 2> /dev/null &
	prof=$!
	sleep 1.5
	kill -USR1 "$wl"
	sleep 2
	n0=$(runtime_of "$prof")
	t0=$(date +%s%N)
	sleep "$secs"
	n1=$(runtime_of "$prof")
	t1=$(date +%s%N)
	kill -INT "$prof"
	wait "$prof" || true
	kill "$wl"
	wait "$wl" 2> /dev/null || true
	awk -v d="$((n1 - n0))" -v w="$((t1 - t0))" 'BEGIN { printf "%.2f\n", 100 * d / w }'
}

declare -a sa sb ra rb ca cb pa pb
for ((r = 0; r < rounds; r++)); do
	sa+=("$(launched_cpu "$a" "$short")")
	sb+=("$(launched_cpu "$b" "$short")")
	alone=$("$ah" -t "$threads" "$calls" | awk '{ print $2 }')
	ca+=("$(launched_cpu "$a" -t "$threads" "$calls")")
	ra+=("$(awk -v x="$alone" -v y="$(field wall "$work/out")" 'BEGIN { printf "%.3f\n", x / y }')")
	cb+=("$(launched_cpu "$b" -t "$threads" "$calls")")
	rb+=("$(awk -v x="$alone" -v y="$(field wall "$work/out")" 'BEGIN { printf "%.3f\n", x / y }')")
	pa+=("$(steady_cpu "$a")")
	pb+=("$(steady_cpu "$b")")
done
spread() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { printf "%s (%s-%s)", v[int((NR + 1) / 2)], v[1], v[NR] }'; }
diffs() { # A-ARRAY B-ARRAY: B - A per round
	local -n x=$1 y=$2
	for ((r = 0; r < rounds; r++)); do awk -v p="${x[r]}" -v q="${y[r]}" 'BEGIN { printf "%+.3f\n", q - p }'; done
}
echo "A: $a"
echo "B: $b"
echo "| $rounds interleaved rounds | A | B | B - A, per round |"
echo "| --- | ---: | ---: | ---: |"
echo "| a short launched recording ($short calls): profiler CPU, ms | $(spread "${sa[@]}") | $(spread "${sb[@]}") | $(spread $(diffs sa sb)) |"
echo "| alloc_heavy -t $threads, $calls calls a thread, launched: throughput | $(spread "${ra[@]}") | $(spread "${rb[@]}") | $(spread $(diffs ra rb)) |"
echo "| ... the profiler's CPU over the run, ms | $(spread "${ca[@]}") | $(spread "${cb[@]}") | $(spread $(diffs ca cb)) |"
echo "| attached to -t $threads working, $secs s: profiler CPU, % of a core | $(spread "${pa[@]}") | $(spread "${pb[@]}") | $(spread $(diffs pa pb)) |"
