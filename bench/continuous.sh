#!/bin/bash
# Continuous profiling for a long time: record --every 10 --push at 99 Hz
# (DWARF unwinding, the default) attached to shares_fp (one thread at 100%
# CPU), pushing to a loopback receiver (tests/push_receiver.py).  Every 10 s
# it samples the recorder's VmRSS and VmHWM; at the end it prints the peak
# RSS after the first minute and at the end (the goal: within 10%), and the
# profiler's CPU per interval (smolder prints it per interval: median, max,
# as a share of one core).  Run as root.
#   DURATION=1800 EVERY=10 bench/continuous.sh
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
smolder=${SMOLDER:-$top/smolder}
duration=${DURATION:-1800}
every=${EVERY:-10}
out=$(mktemp -d /tmp/smolder-continuous.XXXXXX)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir "$out/rx"
python3 "$top/tests/push_receiver.py" "$out/rx" "$port" > "$out/rx.log" 2>&1 &
rx=$!
"$top/tests/workloads/shares_fp" 0 > /dev/null &
wl=$!
trap 'kill $rx $wl 2> /dev/null || true' EXIT
sleep 0.5
"$smolder" record -p "$wl" -d "$duration" --every "$every" --push "http://127.0.0.1:$port" \
	--spool "$out/spool" 2> "$out/record.err" &
rec=$!
echo "seconds rss_kb hwm_kb" > "$out/rss.txt"
start=$(date +%s)
while kill -0 "$rec" 2> /dev/null; do
	t=$(($(date +%s) - start))
	awk -v t="$t" '/^VmRSS/ { r = $2 } /^VmHWM/ { h = $2 } END { if (r) print t, r, h }' "/proc/$rec/status" \
		2> /dev/null >> "$out/rss.txt" || true
	sleep 10
done
wait "$rec"
echo "output in $out"
awk 'NR > 1 && $1 >= 60 && !first { first = $3 } NR > 1 { last = $3 }
	END { printf "peak RSS after the first minute %d KiB, at the end %d KiB: %+.1f%%\n", first, last, 100 * (last - first) / first }' "$out/rss.txt"
sed -n 's/^smolder: record: interval [0-9]*: \([0-9.]*\) s, .* profiler CPU \([0-9.]*\) s.*/\1 \2/p' "$out/record.err" |
	awk '$1 > 0 { print 100 * $2 / $1, $2 }' | sort -n | awk '{ p[NR] = $1 } END {
		printf "%d intervals; profiler CPU per interval: median %.2f%% of a core, p90 %.2f%%, max %.2f%%\n", NR, p[int((NR + 1) / 2)], p[int(NR * 0.9 + 0.5)], p[NR] }'
echo "pushes received: $(find "$out/rx" -name '*.json' | wc -l)"
tail -3 "$out/record.err"
