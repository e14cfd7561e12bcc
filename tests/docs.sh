#!/bin/bash
# Every command has --help, and its man page lists the same options (the
# pages are generated from --help by docs/make-man.py: they must be current);
# so is the HTML report's page, generated from its HTML source.
. "$(dirname "$0")/lib.sh"
for cmd in record flamegraph fold collapse diff report export merge info; do
	"$SMOLDER" "$cmd" --help > /dev/null || fail "smolder $cmd --help exited $?"
done
"$SMOLDER" --help > /dev/null && "$SMOLDER" --version | grep -q '^smolder [0-9]' || fail "--help/--version"
python3 "$top_srcdir/docs/make-man.py" "$SMOLDER" "$TMP" || fail "make-man.py failed"
for page in "$TMP"/*.1; do
	cmp -s "$page" "$top_srcdir/docs/$(basename "$page")" ||
		fail "docs/$(basename "$page") is stale: run docs/make-man.py ./smolder docs"
done
[ "$failures" = 0 ] && pass "man pages match --help for every command"
# The HTML report's page is generated from render/html_report.html too.
python3 "$top_srcdir/render/make-page.py" "$TMP/page.h" && cmp -s "$TMP/page.h" "$top_srcdir/render/html_report_page.h" &&
	pass "render/html_report_page.h is current" ||
	fail "render/html_report_page.h is stale: run python3 render/make-page.py"
finish
