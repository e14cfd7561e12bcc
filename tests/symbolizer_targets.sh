#!/bin/bash
# Files as the target sees them.  A binary replaced (renamed over, as package
# upgrades do) or deleted after it started is read through
# /proc/PID/map_files; a binary in a container (its own mount namespace and
# root, entered with pivot_root) is read inside /proc/PID/root, while the
# host has a different program at the same path.  In each case the frames
# must be the running program's own, and the build-id its file's.
. "$(dirname "$0")/lib.sh"
require_perf
[ "$(id -u)" = 0 ] || skip "map_files and mount namespaces need root"

names() { "$SMOLDER" fold "$1" | grep -oE '(run|burn)_[abc]|worker_loop' | sort -u | tr '\n' ' '; }
want="burn_a burn_b burn_c run_a run_b run_c "
real_id=$(readelf -n "$WORKLOADS/shares_fp" | awk '/Build ID/ { print $3 }')
build_id_of() { # PROFILE PATH_REGEX: the build-id recorded for that mapping
	"$SMOLDER" info "$1" | re=$2 awk '$0 ~ ENVIRON["re"] && /build-id/ { print $NF; exit }'
}
check() { # LABEL PROFILE PATH_REGEX
	local got id
	got=$(names "$2")
	id=$(build_id_of "$2" "$3")
	[ "$got" = "$want" ] && [ "$id" = "$real_id" ] && pass "$1: $got(build-id $id)" ||
		fail "$1: names '$got' (want '$want'), build-id '$id' (want $real_id)"
}

# Replaced: the path now names another program.
cp "$WORKLOADS/shares_fp" "$TMP/app"
start_workload "$TMP/app" 0 || finish
cp "$WORKLOADS/threads" "$TMP/app.new" && mv "$TMP/app.new" "$TMP/app"
"$SMOLDER" record -q -d 1 -p "$WL_PID" -o "$TMP/replaced.smolder" || fail "record replaced: $?"
stop_workload
check "replaced binary" "$TMP/replaced.smolder" "$TMP/app"

# Deleted: the path is gone ("(deleted)" in the maps).
cp "$WORKLOADS/shares_fp" "$TMP/app2"
start_workload "$TMP/app2" 0 || finish
rm "$TMP/app2"
"$SMOLDER" record -q -d 1 -p "$WL_PID" -o "$TMP/deleted.smolder" || fail "record deleted: $?"
stop_workload
check "deleted binary" "$TMP/deleted.smolder" "$TMP/app2"

# Deleted, and the program exits before the recording ends: its file can only
# be read while it runs (through map_files), which symbolizing ahead does.
# Symbolizing only at the end (SMOLDER_SYMBOLIZE_AHEAD=0) cannot name it: the
# control shows the check depends on reading ahead.
for ahead in 1 0; do
	cp "$WORKLOADS/shares_fp" "$TMP/app3"
	SMOLDER_SYMBOLIZE_AHEAD=$ahead "$SMOLDER" record -q -o "$TMP/exited$ahead.smolder" -- "$TMP/app3" 1.5 \
		> "$TMP/app3.out" &
	rec=$!
	for _ in $(seq 50); do grep -q ready "$TMP/app3.out" && break; sleep 0.1; done
	rm "$TMP/app3"
	wait "$rec" || fail "record of a deleted binary that exits: $?"
done
check "deleted binary that exits while recording" "$TMP/exited1.smolder" "$TMP/app3"
got=$(names "$TMP/exited0.smolder")
[ -z "$got" ] && pass "control: symbolizing only at the end cannot name it" ||
	fail "control: symbolized only at the end, the exited program's frames were named: '$got'"

# A container: the program and its libraries under a root of their own, at a
# path where the host has the threads workload instead.
ct=$TMP/ct-app
root=$TMP/root
mkdir -p "$root$ct" "$root/old" "$ct"
cp "$WORKLOADS/shares_fp" "$root$ct/shares"
cp "$WORKLOADS/threads" "$ct/shares" # the host's decoy
for lib in $(ldd "$WORKLOADS/shares_fp" | grep -oE '/[^ ]+'); do
	mkdir -p "$root$(dirname "$lib")" && cp -L "$lib" "$root$lib"
done
unshare --mount --fork sh -c "mount --make-rprivate / && mount --bind '$root' '$root' && cd '$root' &&
	pivot_root . old && cd / && exec '$ct/shares' 0" > "$TMP/ct.out" 2>&1 &
ct_shell=$!
pid=
for _ in $(seq 50); do
	pid=$(pgrep -f "^$ct/shares 0" | head -1)
	[ -n "$pid" ] && grep -q ready "$TMP/ct.out" && break
	sleep 0.1
done
if [ -z "$pid" ]; then
	fail "container did not start: $(cat "$TMP/ct.out")"
else
	grep -q " $ct/shares\$" "/proc/$pid/maps" || fail "the host does not see the container's path: $(grep shares "/proc/$pid/maps")"
	"$SMOLDER" record -q -d 1 -p "$pid" -o "$TMP/container.smolder" || fail "record container: $?"
	check "container (host decoy at $ct/shares)" "$TMP/container.smolder" "$ct/shares"
	kill "$pid"
fi
wait "$ct_shell" 2> /dev/null

# A stripped program with no debug file: its functions are named by their
# .eh_frame entries, so the known 20/30/50 split survives as three frames
# (one per function, not one per sampled address), and the warning says
# which file had no symbols and how to get them.
cp "$WORKLOADS/shares_fp" "$TMP/stripped_shares"
strip -s "$TMP/stripped_shares"
"$SMOLDER" record -F 499 -o "$TMP/stripped.folded" -- "$TMP/stripped_shares" 2 > /dev/null 2> "$TMP/stripped.err" ||
	fail "record stripped: status $?"
grep -q "stripped_shares: no symbols: stripped, and no debug file found.*-dbgsym" "$TMP/stripped.err" ||
	fail "stripped: no warning naming the file: $(cat "$TMP/stripped.err")"
leaves=$(awk '{ n = $NF; sub(/ [0-9]+$/, ""); k = split($0, f, ";"); t[f[k]] += n; all += n }
	END { for (l in t) if (t[l] > all / 20) printf "%.0f %s\n", 100 * t[l] / all, l }' "$TMP/stripped.folded" | sort -n)
echo "$leaves" | grep -c '(inferred)$' | grep -qx 3 || fail "stripped: not three inferred leaves: $leaves"
read -r a b c < <(echo "$leaves" | awk '{ printf "%s ", $1 }')
awk -v a="$a" -v b="$b" -v c="$c" 'BEGIN { exit !(a >= 15 && a <= 25 && b >= 25 && b <= 35 && c >= 45 && c <= 55) }' &&
	pass "stripped: functions named from .eh_frame keep their shares ($a/$b/$c% vs 20/30/50)" ||
	fail "stripped: leaf shares $a/$b/$c% (want 20/30/50): $leaves"
# The same of a static build without frame pointers, which has no .eh_frame_hdr: its
# .eh_frame indexed, by the unwinder (whole stacks) and the symbolizer (their names).
cp "$WORKLOADS/shares_static" "$TMP/stripped_static"
strip -s "$TMP/stripped_static"
"$SMOLDER" record -q -F 499 -o "$TMP/stripped_static.folded" -- "$TMP/stripped_static" 2 > /dev/null ||
	fail "record stripped static: status $?"
# Frames from _start to the leaf, each an (inferred) name: _start, __libc_start_main,
# __libc_start_call_main, main, run_X, [middle_b,] burn_X.
deep=$(awk '{ n = $NF; sub(/ [0-9]+$/, ""); k = split($0, f, ";"); named = 0
	for (i = 2; i <= k; i++) named += f[i] ~ /^stripped_static\+0x[0-9a-f]+ \(inferred\)$/
	if (k - 1 >= 6 && named == k - 1) d += n; all += n } END { printf "%.0f", all ? 100 * d / all : 0 }' \
	"$TMP/stripped_static.folded")
leaves=$(awk '{ n = $NF; sub(/ [0-9]+$/, ""); k = split($0, f, ";"); t[f[k]] += n; all += n }
	END { for (l in t) if (t[l] > all / 20) printf "%.0f\n", 100 * t[l] / all }' "$TMP/stripped_static.folded" | sort -n | tr '\n' ' ')
read -r a b c <<< "$leaves"
[ "$deep" -ge 98 ] && awk -v a="$a" -v b="$b" -v c="$c" 'BEGIN { exit !(a >= 14 && a <= 26 && b >= 24 && b <= 36 && c >= 44 && c <= 56) }' &&
	pass "stripped static: $deep% of stacks 6+ inferred frames deep, leaves $a/$b/$c% (20/30/50)" ||
	fail "stripped static: $deep% deep, leaves $leaves: $(sort -t' ' -k2 -n "$TMP/stripped_static.folded" | tail -3)"
finish
