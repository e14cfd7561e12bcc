# Shared by the allocation agent's benchmarks (sourced, with $top set and
# the script's name for its directory): bench/workloads/alloc_heavy.c built
# as $ah in a directory $work removed at exit, and the readers of what the
# workload and /proc say.
# shellcheck shell=bash
work=$(mktemp -d "/tmp/smolder-$1.XXXXXX")
trap 'rm -rf "$work"' EXIT
cc -O2 -g -fno-omit-frame-pointer -pthread -o "$work/alloc_heavy" "$top/bench/workloads/alloc_heavy.c"
ah=$work/alloc_heavy

# The value after KEY in FILE (alloc_heavy's "wall S cpu S calls N ...").
field() { awk -v k="$1" '{ for (i = 1; i < NF; i++) if ($i == k) { print $(i + 1); exit } }' "$2"; }
# The scheduler's own count of a process's time on a CPU (ns, its threads
# summed): exact, where ticks charge a whole tick to whoever runs when it
# fires, and so overcharge a thread that wakes on timers, as the reader does.
runtime_of() { cat /proc/"$1"/task/*/schedstat | awk '{ t += $1 } END { printf "%.0f\n", t }'; }
# Runs a command (its output where the caller sends it) and writes its
# user and system CPU (s) and peak RSS (KiB) into FILE, to the microsecond:
# GNU time's %U and %S are cut to 10 ms, a tenth of a short recording's
# cost, and always down.
timed() { # FILE COMMAND...
	local out=$1
	shift
	python3 -c 'import resource, subprocess, sys
before = resource.getrusage(resource.RUSAGE_CHILDREN)  # not 0 here: what python started with
subprocess.run(sys.argv[2:])
r = resource.getrusage(resource.RUSAGE_CHILDREN)
open(sys.argv[1], "w").write("%.6f %.6f %d\n" % (r.ru_utime - before.ru_utime, r.ru_stime - before.ru_stime, r.ru_maxrss))' "$out" "$@"
}
