#!/bin/bash
# smolder record against perf record (+ perf script + FlameGraph's scripts),
# side by side in one run, on the same workload (tests/workloads/shares.c doing
# a fixed amount of work), at 99 and 999 Hz:
#   fp:    smolder --unwind fp      vs perf record -g               (frame-pointer build)
#   dwarf: smolder --unwind dwarf   vs perf record --call-graph dwarf (8 KiB, 64 KiB)
#          on a -fomit-frame-pointer build
# For each: target slowdown (its wall time over the unprofiled run), the
# profiler's own CPU seconds and peak RSS, output bytes per sample, the share
# of stacks that reach main, and the wall time from the end of sampling to a
# finished SVG.  Run as root (perf needs it for -p and dwarf).
#   FLAMEGRAPH_DIR=~/FlameGraph ROUNDS=1500 bench/record.sh
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
smolder=${SMOLDER:-$top/smolder}
fg=${FLAMEGRAPH_DIR:?set FLAMEGRAPH_DIR to a FlameGraph checkout (git clone https://github.com/brendangregg/FlameGraph)}
rounds=${ROUNDS:-1500}
repeat=${REPEAT:-3}
freqs=${FREQS:-99 999}
command -v perf > /dev/null || { echo "needs perf (apt-get install linux-perf)" >&2; exit 2; }
make -s -C "$top" tests/workloads/shares_fp tests/workloads/shares_nofp
work=$(mktemp -d /tmp/smolder-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
fpbin=$top/tests/workloads/shares_fp
nofpbin=$top/tests/workloads/shares_nofp

# profile_once -- PROFILER ARGS: one run; sets wl_wall, wl_cpu, prof_cpu
# (seconds), rss (KiB), wall (seconds, the whole command), post (seconds from
# the end of the workload's work, its "end" stamp, to the command's exit).
profile_once() {
	shift
	local t0=$EPOCHREALTIME
	/usr/bin/time -f "%e %U %S %M" -o "$work/time" "$@" > "$work/wl" 2> "$work/err" || {
		echo "failed: $* $(tail -2 "$work/err")" >&2
		return 1
	}
	local t1=$EPOCHREALTIME
	read -r _ u s rss < "$work/time"
	wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')
	read -r _ wl_wall _ wl_cpu _ wl_end < <(grep '^wall ' "$work/wl")
	post=$(awk -v a="$wl_end" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')
	prof_cpu=$(awk -v u="$u" -v s="$s" -v c="$wl_cpu" 'BEGIN { printf "%.2f", u + s - c }')
}

# profile LABEL -- ARGS: REPEAT runs, each next to an unprofiled run of the
# same workload (so drift in the machine's speed cancels); reports the medians
# of the slowdown and of the profiler's CPU, the last run's files.
profile() {
	local slow=() cpu=() posts=() bin=${@: -3:1}
	for ((i = 0; i < repeat; i++)); do
		local b
		b=$("$bin" -n "$rounds" | awk '{ print $2 }')
		profile_once "$@" || return 1
		slow+=("$(awk -v a="$wl_wall" -v b="$b" 'BEGIN { printf "%.3f", a / b }')")
		cpu+=("$prof_cpu")
		posts+=("$post")
	done
	slowdown=$(printf '%s\n' "${slow[@]}" | sort -n | sed -n "$(((repeat + 1) / 2))p")
	prof_cpu=$(printf '%s\n' "${cpu[@]}" | sort -n | sed -n "$(((repeat + 1) / 2))p")
	post_median=$(printf '%s\n' "${posts[@]}" | sort -n | sed -n "$(((repeat + 1) / 2))p")
}

# complete FOLDED: percent of samples whose stack reaches main -> run_*
complete() {
	awk '{ n = $NF; t += n; if ($0 ~ /;main;(fixed_rounds;)?run_[abc]/) c += n } END { printf "%.1f", t ? 100 * c / t : 0 }' "$1"
}


row() { # mode freq tool slowdown cpu cpu/sample rss bytes/sample complete svg_seconds direct_svg_seconds
	printf '| %s | %s Hz | %s | %s | %s | %s | %s | %s | %s%% | %s | %s |\n' "$@"
}
per_sample_us() { awk -v c="$1" -v n="$2" 'BEGIN { printf "%.1f", n ? 1e6 * c / n : 0 }'; }

echo "| stacks | rate | profiler | target slowdown | profiler CPU (s) | CPU per sample (us) | peak RSS (MiB) | bytes/sample | stacks reaching main | end of sampling to SVG (s) | the same, record -o x.svg (s) |"
echo "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for mode in fp dwarf; do
	bin=$([ $mode = fp ] && echo "$fpbin" || echo "$nofpbin")
	for f in $freqs; do
		# smolder: record, then render; sampling ends when the workload exits.
		# Twice: as the machine is, and with system debug files out of reach
		# (a machine without -dbg packages), to show what reading them costs.
		for variant in smolder "smolder, no system debug files"; do
		if [ "$variant" = smolder ]; then unset SMOLDER_DEBUGINFO_PATH; else export SMOLDER_DEBUGINFO_PATH=/nonexistent; fi
		unwind=$([ $mode = fp ] && echo fp || echo dwarf)
		profile smolder -- "$smolder" record -q -F "$f" --unwind "$unwind" -o "$work/s.smolder" -- "$bin" -n "$rounds"
		post=$post_median
		t0=$EPOCHREALTIME
		"$smolder" flamegraph "$work/s.smolder" -o "$work/s.svg"
		svg=$(awk -v p="$post" -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", p + b - a }')
		samples=$("$smolder" info "$work/s.smolder" | awk '$1 == "samples:" { print $2 }')
		"$smolder" fold "$work/s.smolder" > "$work/s.folded"
		# What a user types: the flamegraph straight from record, in one process.
		local_stats=("$slowdown" "$prof_cpu" "$rss")
		profile smolder -- "$smolder" record -q -F "$f" --unwind "$unwind" -o "$work/direct.svg" -- "$bin" -n "$rounds"
		direct=$post_median
		slowdown=${local_stats[0]} prof_cpu=${local_stats[1]} rss=${local_stats[2]}
		row $mode "$f" "$variant" "$slowdown" "$prof_cpu" "$(per_sample_us "$prof_cpu" "$samples")" \
			"$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')" \
			"$(awk -v b="$(stat -c %s "$work/s.smolder")" -v n="$samples" 'BEGIN { printf "%.1f", b / n }')" \
			"$(complete "$work/s.folded")" "$svg" "$direct"
		done
		unset SMOLDER_DEBUGINFO_PATH
		# perf: record, then perf script | stackcollapse-perf.pl | flamegraph.pl.
		if [ $mode = fp ]; then
			variants="-g"
		else
			variants="--call-graph=dwarf --call-graph=dwarf,65528"
		fi
		for v in $variants; do
			profile perf -- perf record -q -F "$f" $v -o "$work/perf.data" -- "$bin" -n "$rounds"
			post=$post_median
			t0=$EPOCHREALTIME
			perf script -i "$work/perf.data" 2> /dev/null > "$work/p.script"
			perl "$fg/stackcollapse-perf.pl" "$work/p.script" > "$work/p.folded" 2> /dev/null
			perl "$fg/flamegraph.pl" "$work/p.folded" > "$work/p.svg" 2> /dev/null
			svg=$(awk -v p="$post" -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", p + b - a }')
			samples=$(grep -c '^[^ 	]' "$work/p.script" || true)
			label="perf record $v"
			row $mode "$f" "$label" "$slowdown" "$prof_cpu" "$(per_sample_us "$prof_cpu" "$samples")" \
				"$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')" \
				"$(awk -v b="$(stat -c %s "$work/perf.data")" -v n="$samples" 'BEGIN { printf "%.1f", n ? b / n : 0 }')" \
				"$(complete "$work/p.folded")" "$svg" "-"
		done
	done
done
