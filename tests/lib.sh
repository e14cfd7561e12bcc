# Shared by the shell tests: where things are, and how to skip or fail.
# shellcheck shell=bash
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${SMOLDER:=$top_builddir/smolder}"
COMPAT_DIR=${SMOLDER_COMPAT_DIR:-$top_srcdir/../shared/compat}
TEST_NAME=$(basename "$0" .sh)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/smolder-$TEST_NAME.XXXXXX")
# Inflated DWARF is kept for this test's later recordings only: each test
# starts with none kept, and makes and then loads what it keeps.
export SMOLDER_CACHE_DIR=$TMP/cache
# Every workload started is killed at exit, so that none outlives its test
# (a later host-wide test would sample it).
WL_ALL=()
trap 'kill "${WL_ALL[@]}" 2> /dev/null; rm -rf "$TMP"' EXIT
failures=0

fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }
skip() { echo "SKIP: $*" >&2; exit 77; }
# A test that needs perf_event_open skips where it is not permitted, unless
# SMOLDER_REQUIRE_PERF=1 (CI), where that is a failure.
skip_or_fail_perf() {
	if [ "${SMOLDER_REQUIRE_PERF:-0}" = 1 ]; then
		echo "FAIL: $* (SMOLDER_REQUIRE_PERF=1)" >&2
		exit 1
	fi
	skip "$*"
}
finish() {
	if [ "$failures" -gt 0 ]; then
		echo "$TEST_NAME: $failures failure(s)" >&2
		exit 1
	fi
	exit 0
}

WORKLOADS=$top_builddir/tests/workloads

# Skips (or fails under SMOLDER_REQUIRE_PERF=1) when perf_event_open is not
# permitted here, with smolder's own explanation as the reason.
require_perf() {
	if [ "${SMOLDER_SKIP_PERF:-0}" = 1 ]; then
		skip "SMOLDER_SKIP_PERF=1: the profiling tests ran once already (distcheck in CI)"
	fi
	if ! "$SMOLDER" record -q -d 0.2 -o "$TMP/probe.folded" -- sleep 0.05 2> "$TMP/probe.err"; then
		skip_or_fail_perf "perf_event_open not permitted: $(head -1 "$TMP/probe.err")"
	fi
}

# True when the profiling parts of a mostly offline test should run.
perf_usable() {
	[ "${SMOLDER_SKIP_PERF:-0}" != 1 ] &&
		"$SMOLDER" record -q -d 0.2 -o "$TMP/probe.folded" -- sleep 0.05 2> /dev/null
}

# Starts a workload in the background and waits (10 s at most) for its
# "ready" line; sets WL_PID.
start_workload() {
	"$@" > "$TMP/wl.out" 2>&1 &
	WL_PID=$!
	WL_ALL+=("$WL_PID")
	for _ in $(seq 100); do
		grep -q ready "$TMP/wl.out" 2>/dev/null && return 0
		sleep 0.1
	done
	fail "workload $1 did not start: $(cat "$TMP/wl.out")"
	return 1
}

stop_workload() {
	kill "$WL_PID" 2>/dev/null
	wait "$WL_PID" 2>/dev/null
	return 0
}

# share FOLDED REGEX: percent of all counts on lines whose stack matches REGEX.
# (The regex goes through ENVIRON, not -v, which expands escapes: gawk makes
# \[ a bracket, mawk keeps it.)
share() {
	re=$2 awk '{ n = $NF; sub(/ [0-9]+$/, ""); total += n; if ($0 ~ ENVIRON["re"]) hit += n }
		END { printf "%.1f\n", total ? 100 * hit / total : 0 }' "$1"
}

total() {
	awk '{ t += $NF } END { printf "%.0f\n", t }' "$1"
}

# near VALUE EXPECTED TOLERANCE: |VALUE - EXPECTED| <= TOLERANCE
near() {
	awk -v v="$1" -v e="$2" -v t="$3" 'BEGIN { d = v - e; if (d < 0) d = -d; exit !(d <= t) }'
}

expect_share() { # FOLDED REGEX EXPECTED TOLERANCE LABEL
	local s
	s=$(share "$1" "$2")
	if near "$s" "$3" "$4"; then pass "$5: $s% (expect $3 +- $4)"; else fail "$5: $s%, expected $3 +- $4"; fi
}

# The event views' measures (alloc, io).
value_under() { # PROFILE VALUE REGEX: the sum of VALUE over stacks matching REGEX
	"$SMOLDER" fold --value "$2" "$1" | re=$3 awk '{ n = $NF; sub(/ [0-9]+$/, ""); if ($0 ~ ENVIRON["re"]) t += n }
		END { printf "%.0f", t }'
}
truth() { # OUTPUT SITE FIELD: from a workload's "SITE bytes N count N" lines
	awk -v site="$2" -v field="$3" '$1 == site { for (i = 2; i < NF; i++) if ($i == field) print $(i + 1) }' "$1"
}
within() { # VALUE TRUTH PERCENT
	awk -v v="$1" -v t="$2" -v p="$3" 'BEGIN { d = v - t; if (d < 0) d = -d; exit !(t > 0 && 100 * d / t <= p) }'
}

# Headless Chromium, or a skip (a failure under SMOLDER_REQUIRE_BROWSER=1).
require_browser() {
	chrome=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
	if [ -z "$chrome" ]; then
		[ "${SMOLDER_REQUIRE_BROWSER:-0}" = 1 ] && { echo "FAIL: no chromium (SMOLDER_REQUIRE_BROWSER=1)" >&2; exit 1; }
		skip "no chromium: apt-get install chromium"
	fi
}
# Opens tests/browser/HARNESS?QUERY and prints its #result; the browser's
# console lines go to $TMP/console.
browser_result() { # HARNESS QUERY
	timeout 90 "$chrome" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync \
		--user-data-dir="$TMP/chrome" --allow-file-access-from-files --virtual-time-budget=5000 \
		--enable-logging=stderr --v=0 \
		--dump-dom "file://$(cd "$top_srcdir" && pwd)/tests/browser/$1?$2" 2> "$TMP/chrome.err" |
		sed -n '/<pre id="result">/,/<\/pre>/p' | sed 's/<[^>]*>//g'
	grep 'CONSOLE' "$TMP/chrome.err" > "$TMP/console" || true
}
