#!/bin/bash
# The modules' arrows (docs/architecture.md): cli -> push -> render; cli ->
# profiler, symbolizer, render -> profile -> base.  A file may include its own module's headers,
# and only the public header (MODULE/MODULE.h) of a module below it.  And
# sizes a reader can hold: no file over 900 lines, no function over 150.
# The environment is read by cli/ alone: knobs reach the rest in options
# (and agent/, inside a launched command, which has no other way in).
. "$(dirname "$0")/lib.sh"
allowed() { # module -> the modules it may include
	case "$1" in
	base | agent) echo "" ;;
	profile) echo "base" ;;
	profiler) echo "agent profile base" ;;
	symbolizer | render) echo "profile base" ;;
	push) echo "render profile base" ;;
	cli) echo "push profiler symbolizer render profile base agent" ;;
	esac
}
for module in agent base profile profiler symbolizer render push cli; do
	for file in "$top_srcdir/$module"/*.[ch]; do
		while read -r inc; do
			target=${inc%%/*}
			[ "$target" = "$module" ] && continue
			if ! echo " $(allowed "$module") " | grep -q " $target "; then
				fail "$module/$(basename "$file") includes $inc: $module may not use $target"
			elif [ "$inc" != "$target/$target.h" ]; then
				fail "$module/$(basename "$file") includes $inc: only $target/$target.h is $target's to share"
			fi
		done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$file")
	done
done
[ "$failures" = 0 ] && pass "every include follows the arrows and uses public headers only"

sizes_failed=$failures
for file in "$top_srcdir"/{agent,base,profile,profiler,symbolizer,render,push,cli}/*.[ch]; do
	# A function's body: from a "{" alone in column 0 to the next "}" there.
	while read -r what; do
		fail "${file#"$top_srcdir"/}: $what"
	done < <(awk 'NR == 1 { n = 0 } /^\{$/ { start = FNR; head = prev } /^\}/ && start {
			if (FNR - start > 150) printf "%s: %d lines (at most 150)\n", head, FNR - start; start = 0 }
		{ prev = $0 } END { if (FNR > 900) printf "%d lines (at most 900)\n", FNR }' "$file")
done
[ "$failures" = "$sizes_failed" ] && pass "no file over 900 lines, no function over 150"
env_users=$(grep -lE '\b(secure_)?getenv\(|\b(set|unset|put)env\(' "$top_srcdir"/{base,profile,profiler,symbolizer,render,push}/*.[ch] || true)
[ -z "$env_users" ] && pass "no environment read or written below cli/" ||
	fail "the environment used below cli/ (pass an option instead): $env_users"
finish
