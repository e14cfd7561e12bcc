#!/bin/bash
# The offcpu, io and alloc views against their peers, side by side in one
# run, on the same workloads (bench/workloads/):
#   offcpu: smolder --view offcpu   vs perf record -e sched:sched_switch -g
#   io:     smolder --view io       vs perf record -e syscalls:sys_enter_{read,write} -g
#           on pingpong.c: two threads handing a byte over pipes, a read, a
#           write and a switch per thread per round (the worst case for both)
#   io_paced: the same io rows on copier.c: one thread copying 4 KiB blocks,
#           at a pace that perf's DWARF mode keeps up with (like for like)
#   alloc:  smolder --view alloc    vs heaptrack (launched, and attached with -p)
#           on alloc_heavy.c: a malloc (or calloc) and a free per call, ~0.1 us
#           of work each
# For each: target slowdown (its own timed work over an unprofiled run: the
# median of REPEAT, and their range), the profiler's CPU seconds (its command's user+sys minus the
# workload's own), peak RSS (the largest process of the command: the
# profiler, as the workloads stay small), output bytes, and the totals it
# reports against the truth the workload prints.  Run as root.
#   REPEAT=3 PINGPONG=100000 ALLOCS=300000 COPY_BLOCKS=20000 COPY_PASSES=16 bench/views.sh
# VIEWS picks the sections (default: offcpu io io_paced alloc).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
smolder=${SMOLDER:-$top/smolder}
repeat=${REPEAT:-3}
rounds=${PINGPONG:-100000}
calls=${ALLOCS:-300000}
blocks=${COPY_BLOCKS:-20000}
passes=${COPY_PASSES:-16}
views=${VIEWS:-offcpu io io_paced alloc}
for tool in perf heaptrack heaptrack_print; do
	command -v $tool > /dev/null || { echo "needs $tool (apt-get install linux-perf heaptrack)" >&2; exit 2; }
done
if [ ! -d /sys/kernel/tracing/events ] && [ ! -d /sys/kernel/debug/tracing/events ]; then
	mount -t tracefs nodev /sys/kernel/tracing
fi
work=$(mktemp -d /tmp/smolder-views.XXXXXX)
trap 'rm -rf "$work"' EXIT
# Frame pointers kept, so that perf -g and --unwind fp see the same stacks.
cc -O2 -g -fno-omit-frame-pointer -pthread -o "$work/pingpong" "$top/bench/workloads/pingpong.c"
cc -O2 -g -fno-omit-frame-pointer -o "$work/alloc_heavy" "$top/bench/workloads/alloc_heavy.c"
cc -O2 -g -fno-omit-frame-pointer -o "$work/copier" "$top/bench/workloads/copier.c"

median() { sort -n | sed -n "$(((repeat + 1) / 2))p"; }
field() { awk -v k="$1" '{ for (i = 1; i < NF; i++) if ($i == k) print $(i + 1) }' "$2"; }

# measure OUTFILE -- COMMAND: runs it under /usr/bin/time; the workload's
# report line goes to $work/wl.  Sets prof_cpu and rss_mib.
measure() {
	local out=$1
	shift 2
	/usr/bin/time -f "%U %S %M" -o "$work/time" "$@" > "$work/wl" 2> "$work/err" || {
		echo "failed: $* $(tail -2 "$work/err")" >&2
		return 1
	}
	read -r u s rss < "$work/time"
	prof_cpu=$(awk -v u="$u" -v s="$s" -v c="$(field cpu "$work/wl")" 'BEGIN { printf "%.2f", u + s - c }')
	rss_mib=$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')
	out_bytes=$(stat -c %s "$out" 2> /dev/null || echo 0)
}

# run LABEL OUTFILE -- COMMAND...: REPEAT runs, each after an unprofiled run
# of the workload (the array "workload"); sets slowdown (median), prof_cpu and
# rss_mib (medians).
run() {
	local label=$1 out=$2 slows=() cpus=() rsss=()
	shift 2
	for ((i = 0; i < repeat; i++)); do
		local alone
		alone=$("${workload[@]}" | awk '{ print $2 }')
		rm -f "$out"
		measure "$out" "$@"
		slows+=("$(awk -v a="$(field wall "$work/wl")" -v b="$alone" 'BEGIN { printf "%.2f", a / b }')")
		cpus+=("$prof_cpu")
		rsss+=("$rss_mib")
	done
	slowdown=$(spread "${slows[@]}")
	prof_cpu=$(printf '%s\n' "${cpus[@]}" | median)
	rss_mib=$(printf '%s\n' "${rsss[@]}" | median)
}

row() { printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$@"; }
# spread VALUE...: "MEDIANx (MIN-MAX)"
spread() {
	printf '%s\n' "$@" | sort -n | awk -v m="$(printf '%s\n' "$@" | median)" \
		'NR == 1 { lo = $1 } { hi = $1 } END { printf "%sx (%s-%s)", m, lo, hi }'
}
kib() { awk -v b="$1" 'BEGIN { printf "%.0f KiB", b / 1024 }'; }

echo "| view | profiler | target slowdown | profiler CPU (s) | peak RSS (MiB) | output | totals (truth) |"
echo "| --- | --- | ---: | ---: | ---: | ---: | --- |"

# perf's lost samples: the per-event LOST_SAMPLES counts of --stats.
perf_lost() {
	perf report -i "$1" --stats 2> /dev/null | awk '/ stats:$/ { ev = 1 } ev && /LOST_SAMPLES events:/ { t += $3 } END { print t + 0 }'
}
sum_under() { # PROFILE VALUE REGEX
	"$smolder" fold --value "$2" "$1" | re=$3 awk '$0 ~ ENVIRON["re"] { t += $NF } END { printf "%.0f", t }'
}
# LOST: "N lost" (by the kernel, or not queued), and "M without their stack"
# (kept with their values when unwinding fell behind) where there are any.
lost() {
	"$smolder" info "$1" | awk '/^lost samples:/ { l = $3 } /^not unwound:/ { u = $3 } /^no stack:/ { s = $3 }
		END { printf "%d lost%s", l + u, s ? sprintf(", %d without their stack", s) : "" }'
}

# smolder_rows VIEW: the view on the workload with DWARF at its default stack
# copy (8 KiB for event views), with --stack-size 8192 said outright (perf's
# default), and with frame pointers; totals_VIEW says what each profile found.
smolder_rows() {
	local view=$1 unwind f opts label
	for unwind in dwarf dwarf,8192 fp; do
		f=$work/$view-${unwind%,*}.smolder
		opts=(--unwind "${unwind%,*}")
		label="smolder --unwind ${unwind%,*}"
		if [ "$unwind" = dwarf,8192 ]; then
			opts+=(--stack-size 8192)
			label+=" --stack-size 8192"
		fi
		run "$view" "$f" -- "$smolder" record -q "${opts[@]}" --view "$view" -o "$f" -- "${workload[@]}"
		row "$section" "$label" "$slowdown" "$prof_cpu" "$rss_mib" "$(kib "$out_bytes")" "$("totals_$view" "$f"); $(lost "$f")"
	done
}
totals_offcpu() { echo "$(sum_under "$1" switches .) switches, with blocked ns"; }
totals_io() {
	echo "$(sum_under "$1" io_calls .) calls, $(sum_under "$1" io_bytes .) bytes ($io_truth), with latency"
}

offcpu_rows() {
	workload=("$work/pingpong" "$rounds")
	section=offcpu
	smolder_rows offcpu
	for cg in -g --call-graph=dwarf; do
		run offcpu "$work/o.data" -- perf record -q -e sched:sched_switch $cg -o "$work/o.data" -- "${workload[@]}"
		psw=$(perf script -i "$work/o.data" 2> /dev/null | grep -c 'sched:sched_switch' || true)
		row offcpu "perf record -e sched:sched_switch $cg" "$slowdown" "$prof_cpu" "$rss_mib" "$(kib "$out_bytes")" \
			"$psw switches, no blocked time; $(perf_lost "$work/o.data") lost"
	done
}

# io_view_rows: smolder's io view, then perf recording the io syscalls'
# entries with each call graph, on the current workload.
io_view_rows() {
	smolder_rows io
	for cg in -g --call-graph=dwarf; do
		run io "$work/i.data" -- perf record -q -e syscalls:sys_enter_read -e syscalls:sys_enter_write $cg \
			-o "$work/i.data" -- "${workload[@]}"
		pcalls=$(perf script -i "$work/i.data" 2> /dev/null | grep -cE 'syscalls:sys_enter_(read|write)' || true)
		row "$section" "perf record -e syscalls:sys_enter_{read,write} $cg" "$slowdown" "$prof_cpu" "$rss_mib" "$(kib "$out_bytes")" \
			"$pcalls calls, no bytes or latency; $(perf_lost "$work/i.data") lost"
	done
}
io_rows() {
	workload=("$work/pingpong" "$rounds")
	section=io
	io_truth="truth $((4 * rounds)) each, and a few at start"
	io_view_rows
}
# The same at a pace that perf's DWARF mode keeps up with: one thread copying
# 4 KiB blocks, with a checksum of each between its read and its write.
io_paced_rows() {
	workload=("$work/copier" "$blocks" "$passes")
	section="io, paced"
	"${workload[@]}" > "$work/truth"
	io_truth="truth $(field calls "$work/truth") calls, $(field bytes "$work/truth") bytes, and a few at start"
	io_view_rows
}

alloc_rows() {
	ah=$work/alloc_heavy
	workload=("$ah" "$calls")
	"${workload[@]}" > "$work/truth"
	truth="truth $(field calls "$work/truth") calls, $(field bytes "$work/truth") bytes"
	for unwind in dwarf fp; do
		f=$work/s-$unwind.smolder
		run alloc "$f" -- "$smolder" record -q --unwind $unwind --view alloc -o "$f" -- "${workload[@]}"
		row alloc "smolder --unwind $unwind (sampled: the agent, 512 KiB)" "$slowdown" "$prof_cpu" "$rss_mib" \
			"$(kib "$out_bytes")" \
			"$(sum_under "$f" alloc_count ';make_')/$(sum_under "$f" alloc_bytes ';make_') ($truth); $(lost "$f")"
	done
	for unwind in dwarf fp; do
		f=$work/a-$unwind.smolder
		run alloc "$f" -- "$smolder" record -q --unwind $unwind --view alloc --alloc-mode exact -o "$f" -- "${workload[@]}"
		row alloc "smolder --unwind $unwind --alloc-mode exact (period 61)" "$slowdown" "$prof_cpu" "$rss_mib" \
			"$(kib "$out_bytes")" \
			"$(sum_under "$f" alloc_count ';make_')/$(sum_under "$f" alloc_bytes ';make_') ($truth); $(lost "$f")"
	done
	run alloc "$work/ht.zst" -- heaptrack -o "$work/ht" "${workload[@]}"
	hcalls=$(heaptrack_print -f "$work/ht.zst" 2> /dev/null | awk '/^calls to allocation functions:/ { print $5 }')
	row alloc "heaptrack" "$slowdown" "$prof_cpu" "$rss_mib" "$(kib "$out_bytes")" "$hcalls calls (all of the process's)"
	# The uprobes alone: perf counting the hits of the probes smolder places
	# (malloc, calloc, free; malloc's and calloc's returns), with no sample and no
	# stack: what any uprobe-based allocation profiler pays on this kernel.
	libc=$(ldd "$ah" | awk '/libc\.so/ { print $3 }')
	perf probe -q -d 'smolder_bench:*' > /dev/null 2>&1 || true
	for spec in malloc=malloc calloc=calloc free=free malloc=malloc%return calloc=calloc%return; do
		perf probe -q -f -x "$libc" -a "smolder_bench:$spec" > /dev/null
	done
	run alloc "$work/pstat" -- perf stat -x, -o "$work/pstat" -e 'smolder_bench:*' -- "${workload[@]}"
	hits=$(awk -F, '$1 ~ /^[0-9]+$/ { n += $1 } END { print n }' "$work/pstat")
	row alloc "perf stat of the same uprobes (counting only)" "$slowdown" "$prof_cpu" "$rss_mib" "-" "$hits probe hits"
	perf probe -q -d 'smolder_bench:*' > /dev/null 2>&1 || true
	attach smolder "$work/aa.smolder" -- "$smolder" record -q --view alloc -p PID -o "$work/aa.smolder"
	attach "smolder --alloc-mode exact" "$work/ae.smolder" -- "$smolder" record -q --view alloc --alloc-mode exact \
		-p PID -o "$work/ae.smolder"
	attach heaptrack "$work/hp.zst" -- timeout 60 heaptrack -o "$work/hp" -p PID
}

# Attached to a process waiting for SIGUSR1: the profiler starts, gets 3 s
# to attach, then the work runs.
attach() { # LABEL OUTFILE -- COMMAND (with PID where the pid goes)
	local label=$1 out=$2 slows=()
	shift 3
	for ((i = 0; i < repeat; i++)); do
		local alone
		alone=$("$ah" "$calls" | awk '{ print $2 }')
		rm -f "$out"
		"$ah" -w "$calls" > "$work/wl" &
		local wl=$!
		until grep -q ready "$work/wl"; do sleep 0.05; done
		local cmd=("${@//PID/$wl}")
		"${cmd[@]}" > "$work/attach.log" 2>&1 &
		local prof=$!
		sleep 3
		kill -USR1 "$wl"
		wait "$wl"
		wait "$prof" || true
		slows+=("$(awk -v a="$(field wall "$work/wl")" -v b="$alone" 'BEGIN { printf "%.2f", a / b }')")
	done
	slowdown=$(spread "${slows[@]}")
	local size
	size=$(stat -c %s "$out" 2> /dev/null || echo 0)
	if [ "$size" -lt 1024 ] && ! "$smolder" info "$out" > /dev/null 2>&1; then
		row alloc "$label, attached" "$slowdown" "-" "-" "$(kib "$size")" "nothing recorded: $(grep -m1 -E 'Couldn|rror' "$work/attach.log" || echo 'attach failed')"
	else
		row alloc "$label, attached" "$slowdown" "-" "-" "$(kib "$size")" "-"
	fi
}
for view in $views; do
	"${view}_rows"
done
