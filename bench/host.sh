#!/bin/bash
# The whole host at 99 Hz with both cores busy (two duty 100 processes, plus
# whatever else runs): smolder record -a against perf record -a, frame
# pointers and DWARF, side by side in one run.  For each: the profiler's own
# CPU (user+sys of its command, as a share of one core over the recording),
# peak RSS (GNU time), output bytes.  REPEAT runs each, medians and ranges.
# Run as root.   DURATION=10 REPEAT=3 bench/host.sh
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
smolder=${SMOLDER:-$top/smolder}
duration=${DURATION:-10}
repeat=${REPEAT:-3}
command -v perf > /dev/null || { echo "needs perf (apt-get install linux-perf)" >&2; exit 2; }
out=$(mktemp -d /tmp/smolder-host.XXXXXX)
"$top/tests/workloads/duty" 100 > /dev/null &
w1=$!
"$top/tests/workloads/duty" 100 > /dev/null &
w2=$!
trap 'kill $w1 $w2 2> /dev/null || true' EXIT
sleep 0.5
declare -A cmds=(
	[smolder_fp]="$smolder record -q -a -F 99 --unwind fp -d $duration -o $out/s.smolder"
	[perf_fp]="perf record -q -a -g -F 99 -o $out/p.data -- sleep $duration"
	[smolder_dwarf]="$smolder record -q -a -F 99 -d $duration -o $out/s.smolder"
	[perf_dwarf]="perf record -q -a --call-graph dwarf -F 99 -o $out/p.data -- sleep $duration"
)
order="smolder_fp perf_fp smolder_dwarf perf_dwarf"
for r in $(seq "$repeat"); do
	for name in $order; do
		rm -f "$out/s.smolder" "$out/p.data"
		/usr/bin/time -f "%U %S %M %e" -o "$out/time" ${cmds[$name]} > /dev/null 2> "$out/err" || { cat "$out/err"; exit 1; }
		read -r user sys rss wall < "$out/time"
		bytes=$(stat -c %s "$out/s.smolder" 2> /dev/null || stat -c %s "$out/p.data")
		echo "$name $r $(awk -v u="$user" -v s="$sys" -v d="$duration" 'BEGIN { printf "%.2f", 100 * (u + s) / d }') $rss $bytes" >> "$out/runs"
	done
done
echo "tool  cpu%-of-a-core(median, range)  peak-RSS-KiB(median)  output-bytes(median)"
for name in $order; do
	grep "^$name " "$out/runs" | sort -k3 -n | awk -v n="$name" '{ c[NR] = $3; r[NR] = $4; b[NR] = $5 }
		END { m = int((NR + 1) / 2); printf "%-14s %6.2f%% (%.2f-%.2f)  %8d  %10d\n", n, c[m], c[1], c[NR], r[m], b[m] }'
done
echo "runs: $out/runs"
