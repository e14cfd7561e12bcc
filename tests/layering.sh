#!/bin/bash
# The modules' arrows (docs/architecture.md): cli -> profiler, symbolizer,
# render -> profile -> base.  A file may include its own module's headers,
# and only the public header (MODULE/MODULE.h) of a module below it.
. "$(dirname "$0")/lib.sh"
allowed() { # module -> the modules it may include
	case "$1" in
	base) echo "" ;;
	profile) echo "base" ;;
	profiler | symbolizer | render) echo "profile base" ;;
	cli) echo "profiler symbolizer render profile base" ;;
	esac
}
for module in base profile profiler symbolizer render cli; do
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
finish
