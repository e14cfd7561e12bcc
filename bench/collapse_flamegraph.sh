#!/bin/bash
# smolder collapse / flamegraph against FlameGraph's stackcollapse-perf.pl /
# flamegraph.pl, side by side in one run, single-threaded, on:
#   - FlameGraph's example-perf-stacks.txt.gz (a real perf script output)
#   - a generated perf script output of ~1.9M lines and 100k unique stacks
# Prints a Markdown table: median wall time of 3 runs, throughput, peak RSS,
# output size, and the Perl/smolder ratios.
#   FLAMEGRAPH_DIR=~/FlameGraph bench/collapse_flamegraph.sh
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
smolder=${SMOLDER:-$top/smolder}
fg=${FLAMEGRAPH_DIR:-}
if [ -z "$fg" ] || [ ! -f "$fg/stackcollapse-perf.pl" ] || [ ! -f "$fg/flamegraph.pl" ]; then
	echo "FLAMEGRAPH_DIR must name a FlameGraph checkout (stackcollapse-perf.pl, flamegraph.pl):" >&2
	echo "  git clone https://github.com/brendangregg/FlameGraph ~/FlameGraph" >&2
	echo "  FLAMEGRAPH_DIR=~/FlameGraph $0" >&2
	exit 2
fi
[ -x /usr/bin/time ] || { echo "needs GNU time: apt-get install time" >&2; exit 2; }
compat=${SMOLDER_COMPAT_DIR:-$top/../shared/compat}
work=$(mktemp -d /tmp/smolder-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
gzip -dc "$compat/flamegraph/example-perf-stacks.txt.gz" > "$work/example.perf"
python3 "$top/bench/gen_perf_script.py" 120000 100000 1 > "$work/generated.perf"

# run REPS OUT -- CMD...: "seconds maxrss_kb bytes": the median of 3 timings,
# each the mean of REPS runs (nanosecond clock: small inputs take milliseconds),
# peak RSS from GNU time, and the output's size.
run() {
	local reps=$1 out=$2
	shift 3
	local times=()
	for _ in 1 2 3; do
		local t0=$EPOCHREALTIME
		for ((r = 0; r < reps; r++)); do "$@" > "$out" 2> /dev/null; done
		times+=("$(awk -v a="$t0" -v b="$EPOCHREALTIME" -v n="$reps" 'BEGIN { printf "%.4f", (b - a) / n }')")
	done
	local median
	median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 2p)
	/usr/bin/time -f "%M" -o "$work/rss" "$@" > "$out" 2> /dev/null
	echo "$median $(cat "$work/rss") $(stat -c %s "$out")"
}

echo "| input | step | tool | time (s) | MiB/s | peak RSS (MiB) | output (bytes) |"
echo "| --- | --- | --- | ---: | ---: | ---: | ---: |"
for name in example generated; do
	in=$work/$name.perf
	mib=$(awk -v b="$(stat -c %s "$in")" 'BEGIN { printf "%.1f", b / 1048576 }')
	lines=$(wc -l < "$in")
	reps=$([ "$name" = example ] && echo 10 || echo 1)
	read -r pt pm po <<< "$(run "$reps" "$work/$name.pl.folded" -- perl "$fg/stackcollapse-perf.pl" "$in")"
	read -r st sm so <<< "$(run "$reps" "$work/$name.sm.folded" -- "$smolder" collapse "$in")"
	cmp -s "$work/$name.pl.folded" "$work/$name.sm.folded" || echo "WARNING: collapse outputs differ" >&2
	uniq=$(wc -l < "$work/$name.sm.folded")
	for tool in perl smolder; do
		[ $tool = perl ] && set -- "$pt" "$pm" "$po" "stackcollapse-perf.pl" || set -- "$st" "$sm" "$so" "smolder collapse"
		echo "| $name ($mib MiB, $lines lines, $uniq stacks) | collapse | $4 | $1 | $(awk -v m="$mib" -v t="$1" 'BEGIN { printf "%.0f", (t > 0 ? m / t : 0) }') | $(awk -v k="$2" 'BEGIN { printf "%.1f", k / 1024 }') | $3 |"
	done
	ratio_c=$(awk -v a="$pt" -v b="$st" 'BEGIN { printf "%.1f", (b > 0 ? a / b : 0) }')
	fin=$work/$name.sm.folded
	fmib=$(awk -v b="$(stat -c %s "$fin")" 'BEGIN { printf "%.1f", b / 1048576 }')
	read -r pt2 pm2 po2 <<< "$(run "$reps" "$work/$name.pl.svg" -- perl "$fg/flamegraph.pl" --width 1200 --minwidth 0.1 "$fin")"
	read -r st2 sm2 so2 <<< "$(run "$reps" "$work/$name.sm.svg" -- "$smolder" flamegraph --width 1200 --minwidth 0.1 "$fin")"
	for tool in perl smolder; do
		[ $tool = perl ] && set -- "$pt2" "$pm2" "$po2" "flamegraph.pl" || set -- "$st2" "$sm2" "$so2" "smolder flamegraph"
		echo "| $name folded ($fmib MiB) | flamegraph | $4 | $1 | $(awk -v m="$fmib" -v t="$1" 'BEGIN { printf "%.0f", (t > 0 ? m / t : 0) }') | $(awk -v k="$2" 'BEGIN { printf "%.1f", k / 1024 }') | $3 |"
	done
	ratio_f=$(awk -v a="$pt2" -v b="$st2" 'BEGIN { printf "%.1f", (b > 0 ? a / b : 0) }')
	frames_pl=$(grep -c '^<title>' "$work/$name.pl.svg" || true)
	frames_sm=$(grep -c '^<g><title>' "$work/$name.sm.svg" || true)
	"$smolder" collapse "$in" -o "$work/$name.smolder"
	zstd -q -3 -c "$fin" > "$work/$name.folded.zst"
	echo "| $name | ratios | | collapse ${ratio_c}x faster, RSS ${pm}/${sm} KiB; flamegraph ${ratio_f}x faster, RSS ${pm2}/${sm2} KiB | frames drawn: perl $frames_pl, smolder $frames_sm | | .smolder $(stat -c %s "$work/$name.smolder") B vs folded.zst $(stat -c %s "$work/$name.folded.zst") B |"
done
