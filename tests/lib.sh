# Shared by the shell tests: where things are, and how to skip or fail.
# shellcheck shell=bash
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${SMOLDER:=$top_builddir/smolder}"
COMPAT_DIR=${SMOLDER_COMPAT_DIR:-$top_srcdir/../shared/compat}
TEST_NAME=$(basename "$0" .sh)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/smolder-$TEST_NAME.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
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
