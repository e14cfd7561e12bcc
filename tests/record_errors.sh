#!/bin/bash
# Bad targets and bad options: one clear line, a non-zero status, no output file.
. "$(dirname "$0")/lib.sh"

one_error() { # LABEL EXPECTED_REGEX STATUS_WANTED(any|N) -- command...
	local label=$1 re=$2 want=$3
	shift 4
	"$@" > "$TMP/out" 2> "$TMP/err"
	local status=$?
	if [ "$status" = 0 ] || { [ "$want" != any ] && [ "$status" != "$want" ]; }; then
		fail "$label: status $status"
	elif [ "$status" -ge 128 ] && [ "$want" = any ]; then
		fail "$label: killed by a signal ($status)"
	elif [ "$(wc -l < "$TMP/err")" != 1 ] || ! grep -Eq "^smolder: record: .*$re" "$TMP/err"; then
		fail "$label: stderr is not one clear line matching '$re': $(cat "$TMP/err")"
	else
		pass "$label: $(cat "$TMP/err")"
	fi
}

one_error "no such pid" "no process with pid 999999" any -- "$SMOLDER" record -p 999999 -o "$TMP/nopid.svg"
[ ! -e "$TMP/nopid.svg" ] && [ ! -e "$TMP/nopid.svg.partial" ] || fail "no such pid: output file left behind"
one_error "bad pid" "invalid pid" 2 -- "$SMOLDER" record -p 12abc -o "$TMP/x.svg"
one_error "zero frequency" "frequency" 2 -- "$SMOLDER" record -F 0 -- true
one_error "nothing to record" "nothing to record" 2 -- "$SMOLDER" record -o "$TMP/x.svg"
one_error "bad unwind" "--unwind must be" 2 -- "$SMOLDER" record --unwind magic -- true

if perf_usable; then
	one_error "missing command" "cannot run 'no-such-command-xyz': No such file" 127 -- \
		"$SMOLDER" record -o "$TMP/cmd.smolder" -- no-such-command-xyz
	[ ! -e "$TMP/cmd.smolder" ] && [ ! -e "$TMP/cmd.smolder.partial" ] || fail "missing command: file left behind"
fi

# An unprivileged user attaching to root's process at perf_event_paranoid 2.
if [ "$(id -u)" = 0 ] && command -v setpriv > /dev/null && id nobody > /dev/null 2>&1; then
	saved=$(cat /proc/sys/kernel/perf_event_paranoid)
	if echo 2 > /proc/sys/kernel/perf_event_paranoid 2>/dev/null; then
		sleep 30 &
		victim=$!
		outdir=$(mktemp -d /tmp/smolder-nobody.XXXXXX)
		chmod 777 "$outdir"
		one_error "unprivileged attach" "cannot attach to pid $victim: .*perf_event_paranoid is 2" any -- \
			setpriv --reuid=nobody --regid=nogroup --clear-groups "$SMOLDER" record -p "$victim" -o "$outdir/x.svg"
		[ -z "$(ls -A "$outdir")" ] || fail "unprivileged attach left a file: $(ls "$outdir")"
		# Their own command: the cause is the paranoid level, not another user.
		one_error "unprivileged --kernel" "cannot open .* on pid [0-9]+: .*perf_event_paranoid is 2, and kernel frames" any -- \
			setpriv --reuid=nobody --regid=nogroup --clear-groups "$SMOLDER" record --kernel -o "$outdir/k.svg" -- sleep 1
		if ! setpriv --reuid=nobody --regid=nogroup --clear-groups test -r /sys/kernel/tracing/events/raw_syscalls; then
			one_error "unprivileged io" "tracefs, which is mounted at .* but readable by root only" any -- \
				setpriv --reuid=nobody --regid=nogroup --clear-groups "$SMOLDER" record --view io -o "$outdir/i.svg" -- true
		fi
		one_error "unprivileged offcpu" "cannot open context-switches .* on pid [0-9]+: .*perf_event_paranoid is 2" any -- \
			setpriv --reuid=nobody --regid=nogroup --clear-groups "$SMOLDER" record --view offcpu -o "$outdir/o.svg" -- sleep 1
		kill "$victim"
		rm -rf "$outdir"
		echo "$saved" > /proc/sys/kernel/perf_event_paranoid
	else
		echo "note: cannot set perf_event_paranoid; unprivileged test not run" >&2
	fi
elif [ "${SMOLDER_REQUIRE_PERF:-0}" = 1 ]; then
	fail "the unprivileged-user test needs root, setpriv and a 'nobody' user"
fi
finish
