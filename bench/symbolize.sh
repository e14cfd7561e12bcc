#!/bin/bash
# Symbolizing a DWARF recording of a C++ program with inline frames:
#   smolder: end of sampling to a written, symbolized profile (record's wall
#            time minus the workload's own); and the symbolizer's whole work
#            on that recording's addresses alone (bench/resymbolize: a new
#            symbolizer over the recorded profile, median of 5)
#   addr2line -f -i -C: the same unique addresses, one batch per binary
#   perf script: on a perf record --call-graph dwarf of the same workload
# Reports time and peak RSS.  Run as root.
#   SECONDS_TO_RUN=7 bench/symbolize.sh
#       bench/workloads/bigcpp.cc (std::regex, std::map, std::sort; deep
#       inlined templates), 1.3 MiB of DWARF
#   WORKLOAD=cppcheck bench/symbolize.sh
#       a large C++ program: cppcheck 2.10 from Debian's source package,
#       built here with -O2 -g -gz (compressed DWARF, as in Debian's -dbgsym
#       packages; ~5 minutes on 2 cores, once: kept in $BENCH_CACHE, by
#       default /var/tmp/smolder-bench), checking its own lib/mathlib.cpp
#       (about 7 s)
# HIDE_SYSTEM_DEBUG=1: all three run with an empty /usr/lib/debug (a tmpfs
# over it, in a mount namespace of their own), as on a machine without -dbg
# packages.
set -euo pipefail
if [ "${HIDE_SYSTEM_DEBUG:-0}" = 1 ] && [ -z "${SMOLDER_BENCH_HIDDEN:-}" ]; then
	exec env SMOLDER_BENCH_HIDDEN=1 unshare --mount bash -c \
		'mount --make-rprivate / && mount -t tmpfs none /usr/lib/debug && exec "$0" "$@"' "$0" "$@"
fi
top=$(cd "$(dirname "$0")/.." && pwd)
smolder=${SMOLDER:-$top/smolder}
secs=${SECONDS_TO_RUN:-7}
work=$(mktemp -d /tmp/smolder-bench.XXXXXX)
# CPU time the hypervisor gave to others during the run: this VM's noise.
steal_at() { awk '/^cpu / { print $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }
read -r steal0 total0 <<< "$(steal_at)"
trap 'rm -rf "$work"' EXIT

# cppcheck_built: builds cppcheck from Debian's source once, sets bin.
cppcheck_built() {
	local cache=${BENCH_CACHE:-/var/tmp/smolder-bench} ver=2.10
	local src=$cache/cppcheck-$ver
	bin=$src/cppcheck
	[ -x "$bin" ] && return
	mkdir -p "$cache"
	curl -sSfo "$cache/cppcheck.tar.gz" "http://deb.debian.org/debian/pool/main/c/cppcheck/cppcheck_$ver.orig.tar.gz"
	echo "785dcbf711048dfe43ae920b6eff2eeebb4a096e88188a40e173ca4c030f57c3  $cache/cppcheck.tar.gz" | sha256sum -c --quiet
	tar xzf "$cache/cppcheck.tar.gz" -C "$cache"
	make -C "$src" -j"$(nproc)" cppcheck CXXFLAGS="-O2 -g -gz" MATCHCOMPILER=no > "$cache/build.log" 2>&1
}

# The workload: a command that prints "end EPOCH_SECONDS" when its work is
# done.
case ${WORKLOAD:-bigcpp} in
bigcpp)
	bin=$work/bigcpp
	g++ -O2 -g -o "$bin" "$top/bench/workloads/bigcpp.cc"
	workload=("$bin" "$secs")
	;;
cppcheck)
	cppcheck_built
	workload=(bash -c 'cd "${0%/*}" && "$0" -q --enable=all lib/mathlib.cpp 2> /dev/null; echo "end $EPOCHREALTIME"' "$bin")
	;;
*)
	echo "WORKLOAD is bigcpp or cppcheck" >&2
	exit 2
	;;
esac
dwarf=$(python3 -c 'import subprocess, sys
print("%.1f" % (sum(int(l.split()[5], 16) for l in subprocess.run(["readelf", "-SW", sys.argv[1]], capture_output=True, text=True).stdout.splitlines() if ".debug_" in l and len(l.split()) > 6) / 1048576))' "$bin")

# record_once AHEAD: sets post (seconds from the end of the workload's work to
# the written profile; the median of 3 runs) and rss (KiB, the largest).
# AHEAD=0 leaves all symbolizing until sampling ends; the default opens files
# and looks addresses up while recording, which is what a user waits for.
record_once() {
	local posts="" t1 end
	rss=0
	for _ in 1 2 3; do
		SMOLDER_SYMBOLIZE_AHEAD=$1 /usr/bin/time -f "%e %M" -o "$work/t" \
			"$smolder" record -q -F 999 --unwind dwarf -o "$work/s.smolder" -- "${workload[@]}" > "$work/wl"
		t1=$EPOCHREALTIME
		read -r _ m < "$work/t"
		[ "$m" -gt "$rss" ] && rss=$m
		end=$(awk '{ for (i = 1; i < NF; i++) if ($i == "end") print $(i + 1) }' "$work/wl")
		posts="$posts $(awk -v a="$end" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')"
	done
	post=$(echo "$posts" | tr ' ' '\n' | sed '/^$/d' | sort -n | sed -n 2p)
}
record_once 1
ahead_post=$post ahead_rss=$rss
record_once 0
samples=$("$smolder" info "$work/s.smolder" | awk '$1 == "samples:" { print $2 }')
"$smolder" info --locations "$work/s.smolder" > "$work/locs"
unique=$(grep -c '^/' "$work/locs")
frames=$(grep -c '^	' "$work/locs")
make -s -C "$top" bench/resymbolize
/usr/bin/time -f "%e %M" -o "$work/t" "$top/bench/resymbolize" "$work/s.smolder" 5 > "$work/rs"
read -r _ rs_rss < "$work/t"
rs=$(awk '{ print $1 }' "$work/rs" | sort -n | sed -n 3p)

# The same addresses through addr2line, one batch per binary (file offsets
# turned into addresses through each file's LOAD segments).
python3 - "$work/locs" "$work" <<'PYEOF'
import os, subprocess, sys
locs, work = sys.argv[1:3]
by_file = {}
for l in open(locs):
    if l.startswith("/"):
        path, off = l.split()
        by_file.setdefault(path, set()).add(int(off, 16))
for i, (path, offs) in enumerate(sorted(by_file.items())):
    if not os.path.isfile(path):
        continue
    loads = []
    for l in subprocess.run(["readelf", "-lW", path], capture_output=True, text=True).stdout.splitlines():
        f = l.split()
        if f and f[0] == "LOAD":
            loads.append((int(f[1], 16), int(f[2], 16), int(f[4], 16)))
    with open(os.path.join(work, "batch.%d" % i), "w") as out:
        out.write(path + "\n")
        for o in sorted(offs):
            v = next((o - s + va for s, va, n in loads if s <= o < s + n), None)
            if v is not None:
                out.write("%#x\n" % v)
PYEOF
# Median of 3 rounds, as smolder's own figures are medians.
a2l_rss=0
a2l_totals=""
for round in 1 2 3; do
	total=0
	for batch in "$work"/batch.*; do
		file=$(head -1 "$batch")
		/usr/bin/time -f "%e %M" -o "$work/t" sh -c 'tail -n +2 "$1" | addr2line -f -i -C -e "$2" > /dev/null' _ "$batch" "$file"
		read -r t m < "$work/t"
		total=$(awk -v a="$total" -v b="$t" 'BEGIN { printf "%.3f", a + b }')
		[ "$m" -gt "$a2l_rss" ] && a2l_rss=$m
	done
	a2l_totals="$a2l_totals $total"
done
a2l_total=$(echo $a2l_totals | tr ' ' '\n' | sort -n | sed -n 2p)

perf record -q -F 999 --call-graph dwarf -o "$work/perf.data" -- "${workload[@]}" > /dev/null 2>&1
/usr/bin/time -f "%e %M" -o "$work/t" perf script -i "$work/perf.data" > "$work/p.script" 2> /dev/null
read -r pt pm < "$work/t"
psamples=$(grep -c '^[^ 	]' "$work/p.script" || true)

echo "| symbolizer | samples | unique addresses | time (s) | peak RSS (MiB) |"
echo "| --- | ---: | ---: | ---: | ---: |"
echo "| smolder record, symbolizing after sampling (SMOLDER_SYMBOLIZE_AHEAD=0): end of sampling to symbolized profile, median of 3 ($frames frames with inlines) | $samples | $unique | $post | $(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }') |"
echo "| smolder record, symbolizing ahead while recording (the default): end of sampling to symbolized profile, median of 3 | | | $ahead_post | $(awk -v k="$ahead_rss" 'BEGIN { printf "%.1f", k / 1024 }') |"
echo "| smolder's symbolizer alone (bench/resymbolize, median of 5): the whole work | | $unique | $rs | $(awk -v k="$rs_rss" 'BEGIN { printf "%.1f", k / 1024 }') |"
echo "| addr2line -f -i -C, batched per binary, median of 3 | | $unique | $a2l_total | $(awk -v k="$a2l_rss" 'BEGIN { printf "%.1f", k / 1024 }') |"
echo "| perf script (perf record --call-graph dwarf) | $psamples | | $pt | $(awk -v k="$pm" 'BEGIN { printf "%.1f", k / 1024 }') |"
echo
echo "binary: $(stat -c %s "$bin") bytes, $dwarf MiB of DWARF; ratios: addr2line / smolder's whole work $(awk -v a="$a2l_total" -v b="$rs" 'BEGIN { printf "%.1f", a / b }')x (after sampling, AHEAD=0: $(awk -v a="$a2l_total" -v b="$post" 'BEGIN { printf "%.1f", a / b }')x; default: $(awk -v a="$a2l_total" -v b="$ahead_post" 'BEGIN { printf "%.1f", a / b }')x), perf script / smolder after sampling $(awk -v a="$pt" -v b="$post" 'BEGIN { printf "%.1f", a / b }')x (default: $(awk -v a="$pt" -v b="$ahead_post" 'BEGIN { printf "%.1f", a / b }')x)"
read -r steal1 total1 <<< "$(steal_at)"
echo "CPU time stolen by the hypervisor during the run: $(awk -v s=$((steal1 - steal0)) -v t=$((total1 - total0)) 'BEGIN { printf "%.1f", t ? 100 * s / t : 0 }')%"
