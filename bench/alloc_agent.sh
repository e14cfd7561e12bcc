#!/bin/bash
# The sampled alloc view (the agent) against heaptrack, side by side in one
# run, on bench/workloads/alloc_heavy.c (one thread, a malloc or calloc and
# a free per call, ~5 GB/s of allocations: the worst case there is) and on
# alloc_heavy -t THREADS (each thread its own blocks), launched and
# (one thread) attached, at the default rate.  For each: the
# workload's throughput against an unprofiled run just before it (its own
# wall time for a fixed number of calls, or calls per second), the
# profiler's own CPU as a share of one core, and for smolder the estimated
# bytes and calls per call site against the workload's printed truth.
# REPEAT runs each; medians, with the range.  Run as root.
#   CALLS=100000000 REPEAT=3 bench/alloc_agent.sh
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
smolder=${SMOLDER:-$top/smolder}
calls=${CALLS:-100000000}
repeat=${REPEAT:-3}
threads=${THREADS:-2}
command -v heaptrack > /dev/null || { echo "needs heaptrack (apt-get install heaptrack)" >&2; exit 2; }
. "$top/bench/alloc_heavy.sh" agent-bench

spread() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { printf "%.3f (%.3f-%.3f)", v[int((NR + 1) / 2)], v[1], v[NR] }'; }
cpu_of() { awk '{ print $14 + $15 }' "/proc/$1/stat"; } # ticks of user+sys
tick=$(getconf CLK_TCK)

# Per call site: estimated/true bytes and calls, from a profile and the truth lines.
site_errors() { # PROFILE TRUTHFILE
	for site in make_small make_medium make_array; do
		b=$("$smolder" fold --value alloc_bytes "$1" | awk -v s=";$site;" 'index($0, s) { t += $NF } END { print t + 0 }')
		c=$("$smolder" fold --value alloc_count "$1" | awk -v s=";$site;" 'index($0, s) { t += $NF } END { print t + 0 }')
		tb=$(awk -v s="$site" '$1 == s { print $3 }' "$2")
		tc=$(awk -v s="$site" '$1 == s { print $5 }' "$2")
		awk -v s="$site" -v b="$b" -v tb="$tb" -v c="$c" -v tc="$tc" \
			'BEGIN { printf "%s bytes %+.2f%% calls %+.2f%%; ", s, 100 * (b - tb) / tb, 100 * (c - tc) / tc }'
	done
}

# ---- one thread, launched: throughput and profiler CPU ----
declare -a s_ratio s_cpu s_rss h_ratio h_cpu h_rss site_runs
for ((r = 0; r < repeat; r++)); do
	alone=$("$ah" "$calls" | awk '{ print $2 }')
	timed "$work/t" "$smolder" record -q --view alloc -o "$work/s.smolder" -- "$ah" -s "$calls" > "$work/s.out"
	read -r u s m < "$work/t"
	s_rss+=("$((m / 1024))")
	s_ratio+=("$(awk -v a="$alone" -v b="$(field wall "$work/s.out")" 'BEGIN { print a / b }')")
	s_cpu+=("$(awk -v u="$u" -v s="$s" -v c="$(field cpu "$work/s.out")" -v w="$(field wall "$work/s.out")" 'BEGIN { print 100 * (u + s - c) / w }')")
	site_runs+=("$(site_errors "$work/s.smolder" "$work/s.out")")
	alone=$("$ah" "$calls" | awk '{ print $2 }')
	timed "$work/t" heaptrack -o "$work/ht" "$ah" "$calls" > "$work/h.out" 2> /dev/null
	read -r u s m < "$work/t"
	h_rss+=("$((m / 1024))")
	wl=$(grep '^wall' "$work/h.out")
	h_ratio+=("$(awk -v a="$alone" -v b="$(echo "$wl" | awk '{ print $2 }')" 'BEGIN { print a / b }')")
	h_cpu+=("$(awk -v u="$u" -v s="$s" -v c="$(echo "$wl" | awk '{ print $4 }')" -v w="$(echo "$wl" | awk '{ print $2 }')" 'BEGIN { print 100 * (u + s - c) / w }')")
	rm -f "$work"/ht*
done
echo "| workload | profiler | throughput vs unprofiled | profiler CPU (% of a core) |"
echo "| --- | --- | ---: | ---: |"
echo "| alloc_heavy, launched | smolder --view alloc | $(spread "${s_ratio[@]}") | $(spread "${s_cpu[@]}") |"
echo "| alloc_heavy, launched | heaptrack | $(spread "${h_ratio[@]}") | $(spread "${h_cpu[@]}") |"
echo "peak RSS, launched (MiB; the largest process of the run: the profiler's, or heaptrack's interpreter):" \
	"smolder $(spread "${s_rss[@]}"), heaptrack $(spread "${h_rss[@]}")"

# ---- what a recording costs apart from its length: the profiler's CPU
# (less the workload's) on a short run, 10 M calls (~0.4 s): its start, its
# end, symbolizing (libc's DWARF from the cache, warm after the runs above) ----
short=()
for ((r = 0; r < repeat; r++)); do
	timed "$work/t" "$smolder" record -q --view alloc -o "$work/f.smolder" -- "$ah" 10000000 > "$work/f.out"
	read -r u s _ < "$work/t"
	short+=("$(awk -v u="$u" -v s="$s" -v c="$(field cpu "$work/f.out")" 'BEGIN { print 1000 * (u + s - c) }')")
done
echo "profiler CPU of a short launched recording (10 M calls): $(spread "${short[@]}") ms"

# ---- one thread, attached before the work starts ----
attached() { # LABEL -- COMMAND with PID
	local label=$1 ratios=() cpus=()
	shift 2
	for ((r = 0; r < repeat; r++)); do
		alone=$("$ah" "$calls" | awk '{ print $2 }')
		"$ah" -w "$calls" > "$work/wl" &
		local wl=$!
		until grep -q ready "$work/wl"; do sleep 0.05; done
		"${@//PID/$wl}" > "$work/attach.log" 2>&1 &
		local prof=$!
		sleep 2
		local c0
		c0=$(cpu_of "$prof" 2> /dev/null || echo 0)
		kill -USR1 "$wl"
		wait "$wl"
		local c1
		c1=$(cpu_of "$prof" 2> /dev/null || echo "$c0")
		wait "$prof" || true
		ratios+=("$(awk -v a="$alone" -v b="$(field wall "$work/wl")" 'BEGIN { print a / b }')")
		cpus+=("$(awk -v d="$((c1 - c0))" -v t="$tick" -v w="$(field wall "$work/wl")" 'BEGIN { print 100 * d / t / w }')")
	done
	echo "| alloc_heavy, attached | $label | $(spread "${ratios[@]}") | $(spread "${cpus[@]}") |"
}
attached "smolder --view alloc -p" -- "$smolder" record -q --view alloc -p PID -o "$work/a.smolder"

# ---- the profiler's CPU in the steady state: attached, over 10 s once the
# work has run 3 s (the symbolizing of the libraries' debug info, done
# once while recording, is over by then) ----
steady() {
	local cpus=() runtimes=()
	for ((r = 0; r < repeat; r++)); do
		"$ah" -w 2000000000 > "$work/wl" &
		local wl=$!
		until grep -q ready "$work/wl"; do sleep 0.05; done
		"$smolder" record -q --view alloc -p "$wl" -o "$work/st.smolder" 2> /dev/null &
		local prof=$!
		sleep 2
		kill -USR1 "$wl"
		sleep 3
		local c0 c1 n0 n1
		c0=$(cpu_of "$prof")
		n0=$(runtime_of "$prof")
		sleep 10
		c1=$(cpu_of "$prof")
		n1=$(runtime_of "$prof")
		kill -INT "$prof"
		wait "$prof" || true
		kill "$wl"
		wait "$wl" 2> /dev/null || true
		cpus+=("$(awk -v d="$((c1 - c0))" -v t="$tick" 'BEGIN { print 100 * d / t / 10 }')")
		runtimes+=("$(awk -v d="$((n1 - n0))" 'BEGIN { print 100 * d / 1e9 / 10 }')")
	done
	echo "| alloc_heavy, attached, steady state (10 s after 3 s), scheduler's runtime | smolder --view alloc -p | - | $(spread "${runtimes[@]}") |"
	echo "| alloc_heavy, attached, steady state (10 s after 3 s), ticks | smolder --view alloc -p | - | $(spread "${cpus[@]}") |"
}
steady
attached "heaptrack -p" -- timeout 60 heaptrack -o "$work/hp" -p PID
hp_size=$(stat -c %s "$work"/hp* 2> /dev/null | head -1 || echo 0)

# ---- THREADS threads, launched: each its own blocks (alloc_heavy -t), so
# that the cost per thread shows, not the contention of threads sharing
# blocks, which a profiler that slows them can even relieve.  The threads
# fill both CPUs, so a neighbour's steal moves a run by a fifth either way:
# ROUNDS pairs (default 2 REPEAT + 1), the unprofiled run first in one
# round and second in the next, so that a drift of the machine's speed
# does not favour either side ----
mt() { # LABEL ROUNDS -- COMMAND (prefix)
	local label=$1 rounds=$2 ratios=() alone profiled
	shift 3
	for ((r = 0; r < rounds; r++)); do
		if ((r % 2)); then
			"$@" "$ah" -t "$threads" "$calls" > "$work/mt.out" 2> /dev/null
			alone=$("$ah" -t "$threads" "$calls" | awk '{ print $2 }')
		else
			alone=$("$ah" -t "$threads" "$calls" | awk '{ print $2 }')
			"$@" "$ah" -t "$threads" "$calls" > "$work/mt.out" 2> /dev/null
		fi
		profiled=$(field wall "$work/mt.out")
		ratios+=("$(awk -v a="$alone" -v b="$profiled" 'BEGIN { print a / b }')")
	done
	echo "| alloc_heavy -t $threads ($threads threads), launched, $rounds rounds | $label | $(spread "${ratios[@]}") | - |"
}
mt "smolder --view alloc" "${ROUNDS:-$((2 * repeat + 1))}" -- "$smolder" record -q --view alloc -o "$work/mt.smolder" --
mt "heaptrack" "$repeat" -- heaptrack -o "$work/mtht"
echo
echo "per call site, launched, each run ($calls calls, default rate):"
printf '  %s\n' "${site_runs[@]}"
# The largest error of each run, bytes or calls, of any site.
worst=()
for line in "${site_runs[@]}"; do
	worst+=("$(echo "$line" | grep -oE '[-+][0-9.]+%' | tr -d '%+-' | sort -n | tail -1)")
done
echo "per call site, the largest error of a run: $(spread "${worst[@]}") %;" \
	"runs with every site within 3%: $(printf '%s\n' "${worst[@]}" | awk '$1 <= 3 { n++ } END { print n + 0 }') of ${#worst[@]}"
echo "heaptrack -p output: $hp_size bytes ($(grep -m1 -iE 'error|fail|could' "$work/attach.log" || echo 'no message'))"
