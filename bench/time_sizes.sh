#!/bin/bash
# What keeping time costs, and the pages it makes (issue 17).  For each
# workload at 999 Hz, the same recording written as: .smolder with every
# sample's time, .smolder --no-times, the gzip pprof export, zstd'd folded
# text; and perf record --call-graph dwarf's bytes a sample on the same run
# length.  Then 18,054 all-unique stacks (bench/gen_perf_script.py) collapsed.  Then the HTML report of a 60 s recording: its bytes, and how long
# after it starts headless Chromium has it interactive (the page's own
# performance.now() once drawn, read by tests/browser/report_harness.html).
# Run as root.   DURATION=10 PAGE_SECONDS=60 bench/time_sizes.sh
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
smolder=${SMOLDER:-$top/smolder}
duration=${DURATION:-10}
page_seconds=${PAGE_SECONDS:-60}
out=$(mktemp -d /tmp/smolder-sizes.XXXXXX)
g++ -O2 -g -o "$out/bigcpp" "$top/bench/workloads/bigcpp.cc"
bytes() { stat -c %s "$1"; }
samples() { "$smolder" info "$1" | awk '/^samples:/ { print $2 }'; }

printf '%-10s %8s %10s %10s %10s %10s %8s %14s\n' workload samples times no-times pprof.gz folded.zst B/sample \
	perf-dwarf-B/s
for w in shares_nofp bigcpp; do
	case $w in
	shares_nofp) cmd="$top/tests/workloads/shares_nofp $duration" ;;
	bigcpp) cmd="$out/bigcpp $duration" ;;
	esac
	# shellcheck disable=SC2086
	"$smolder" record -q -F 999 -o "$out/t.smolder" -- $cmd > /dev/null
	# shellcheck disable=SC2086
	"$smolder" record -q -F 999 --no-times -o "$out/n.smolder" -- $cmd > /dev/null
	"$smolder" export "$out/n.smolder" -o "$out/n.pb.gz"
	"$smolder" fold "$out/n.smolder" | zstd -q -19 -c > "$out/n.folded.zst"
	n=$(samples "$out/t.smolder")
	perf_bps=-
	if command -v perf > /dev/null; then
		# shellcheck disable=SC2086
		perf record -q -F 999 --call-graph dwarf -o "$out/p.data" -- $cmd > /dev/null 2>&1
		pn=$(perf report -i "$out/p.data" -D 2> /dev/null | grep -c 'PERF_RECORD_SAMPLE(' || true)
		[ "$pn" -gt 0 ] && perf_bps=$(($(bytes "$out/p.data") / pn))
	fi
	printf '%-10s %8s %10s %10s %10s %10s %8.2f %14s\n' "$w" "$n" "$(bytes "$out/t.smolder")" "$(bytes "$out/n.smolder")" \
		"$(bytes "$out/n.pb.gz")" "$(bytes "$out/n.folded.zst")" \
		"$(awk -v t="$(bytes "$out/t.smolder")" -v n="$n" 'BEGIN { print t / n }')" "$perf_bps"
done

# All-unique stacks (perf script text has no times smolder keeps: no-times only).
python3 "$top/bench/gen_perf_script.py" 18054 18054 > "$out/u.txt"
"$smolder" collapse "$out/u.txt" -o "$out/u.smolder"
"$smolder" export "$out/u.smolder" -o "$out/u.pb.gz"
"$smolder" fold "$out/u.smolder" | zstd -q -19 -c > "$out/u.folded.zst"
printf '%-10s %8s %10s %10s %10s %10s %8s %14s\n' unique 18054 - "$(bytes "$out/u.smolder")" "$(bytes "$out/u.pb.gz")" \
	"$(bytes "$out/u.folded.zst")" - -

"$smolder" record -q -F 999 -o "$out/page.html" -- "$top/tests/workloads/shares_nofp" "$page_seconds" > /dev/null
chrome=$(command -v chromium || command -v google-chrome)
for r in 1 2 3; do
	rm -rf "$out/chrome"
	timeout 120 "$chrome" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync \
		--user-data-dir="$out/chrome" --allow-file-access-from-files --virtual-time-budget=10000 \
		--dump-dom "file://$top/tests/browser/report_harness.html?page=file://$out/page.html" 2> /dev/null |
		grep -o 'ready_ms [0-9][0-9]*'
done | awk -v b="$(bytes "$out/page.html")" -v s="$page_seconds" \
	'{ print "page of " s " s at 999 Hz: " b " bytes, interactive after " $2 " ms" }'
rm -rf "$out"
