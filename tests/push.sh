#!/bin/bash
# record --every and --push against a loopback receiver (tests/push_receiver.py)
# that unpacks what it is sent with Python's multipart and JSON decoders;
# every pprof is decoded by protoc against pprof's schema and checked against
# the workload's known shares and the totals smolder printed.
. "$(dirname "$0")/lib.sh"
require_perf
command -v protoc > /dev/null || skip_or_fail_perf "protoc missing (apt-get install protobuf-compiler)"
RX=$top_srcdir/tests/push_receiver.py
SUMMARY="python3 $top_srcdir/tests/pprof_summary.py $top_srcdir/tests/data"

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
start_receiver() { # DIR PORT [receiver options]
	mkdir -p "$1"
	python3 "$RX" "$@" > "$1.log" 2>&1 &
	RX_PID=$!
	for _ in $(seq 50); do
		grep -q ready "$1.log" 2> /dev/null && return 0
		sleep 0.1
	done
	fail "the receiver did not start: $(cat "$1.log")"
}
stop_receiver() { kill "$RX_PID" 2> /dev/null; wait "$RX_PID" 2> /dev/null; }
intervals() { grep -c '^smolder: record: interval [0-9]*:' "$1"; }
samples_printed() { sed -n 's/^smolder: record: interval [0-9]*: .*, \([0-9]*\) samples.*/\1/p' "$1" | awk '{ t += $1 } END { print t + 0 }'; }
requests() { find "$1" -name '*.json' | wc -l; }
HOST=$(uname -n)

# ---- Pyroscope: a launched command, three intervals ----
port=$(free_port)
start_receiver "$TMP/py" "$port"
# The intervals are written too (-o DIR/): what was pushed must be what was
# recorded, leaf for leaf.  The workload's own shares are the record tests'
# to check: on this VM stolen time skews a 3 s run's (burn_b 19.9%, burn_c
# 59.0% once, at 297 Hz), whatever the push did.
"$SMOLDER" record -F 297 --every 1 --push "http://127.0.0.1:$port" --tag env=test --app-name shares \
	-o "$TMP/pyiv/" -- "$WORKLOADS/shares_fp" 3.3 > /dev/null 2> "$TMP/py.err"
status=$?
stop_receiver
n=$(intervals "$TMP/py.err")
[ "$status" = 0 ] && [ "$n" -ge 3 ] && pass "pyroscope: $n intervals recorded" ||
	fail "pyroscope: exit $status, $n intervals: $(cat "$TMP/py.err")"
[ "$(requests "$TMP/py")" = "$n" ] && pass "pyroscope: one push an interval (the cpu view: samples)" ||
	fail "pyroscope: $(requests "$TMP/py") pushes for $n intervals"
for f in "$TMP"/py/*.pb.gz; do $SUMMARY "$f"; done > "$TMP/py.summary" 2> "$TMP/py.decode" ||
	fail "pyroscope: a pushed pprof does not decode: $(cat "$TMP/py.decode")"
python3 - "$TMP/py" "$TMP/py.summary" "$(samples_printed "$TMP/py.err")" "$HOST" "$TMP/pyiv" "$SMOLDER" << 'EOF' && pass "pyroscope: names, labels, times, config and values (each leaf's samples as recorded, totals as printed)" || fail "pyroscope: the pushes are not what they should be"
import glob, json, subprocess, sys
rx, summaries, printed, host, written_dir, smolder = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
reqs = [json.load(open(f)) for f in sorted(glob.glob(rx + "/*.json"))]
sums = [json.loads(l) for l in open(summaries)]
ok = True
def check(cond, what):
    global ok
    if not cond:
        print("FAIL:", what, file=sys.stderr)
        ok = False
last_from = 0
for r in reqs:
    q = {k: v[0] for k, v in r["query"].items()}
    check(r["path"] == "/ingest", "path %s" % r["path"])
    check(q["name"] == "shares{hostname=%s,env=test,view=cpu}" % host, "name %s" % q["name"])
    check(q["format"] == "pprof" and q["spyName"] == "smolder" and q["sampleRate"] == "297", "query %s" % q)
    check(int(q["from"]) >= last_from and int(q["until"]) > int(q["from"]), "times %s" % q)
    last_from = int(q["from"])
    check(r["sample_type_config"] == {"samples": {"units": "samples", "aggregation": "sum",
          "display-name": "cpu", "sampled": True}}, "config %s" % r["sample_type_config"])
    check(r["headers"]["content-type"].startswith("multipart/form-data; boundary="), "content type")
total = sum(s["totals"][0] for s in sums)
check(all(s["types"] == ["samples/count"] for s in sums), "types %s" % [s["types"] for s in sums])
check(all(s["period"] == 3367003 for s in sums), "period %s" % [s["period"] for s in sums])
check(total == printed, "pushed %d samples, printed %d" % (total, printed))
leaf = {}
for s in sums:
    for k, v in s["leaf"].items():
        leaf[k] = leaf.get(k, 0) + v
written = {}
for f in sorted(glob.glob(written_dir + "/*.smolder")):
    folded = subprocess.run([smolder, "fold", f], capture_output=True, text=True, check=True).stdout
    for line in folded.splitlines():
        stack, n = line.rsplit(" ", 1)
        leaf_name = stack.split(";")[-1]
        written[leaf_name] = written.get(leaf_name, 0) + int(n)
for name in ("burn_a", "burn_b", "burn_c"):
    check(leaf.get(name, 0) == written.get(name, 0) > 0,
          "%s: %d samples pushed, %d recorded" % (name, leaf.get(name, 0), written.get(name, 0)))
check(all("middle_b" in s["anywhere"] for s in sums), "middle_b in every interval")
sys.exit(0 if ok else 1)
EOF

# ---- Parca: attached to a running process ----
start_workload "$WORKLOADS/shares_fp" 0 || finish
port=$(free_port)
start_receiver "$TMP/parca" "$port"
"$SMOLDER" record -p "$WL_PID" -d 2.2 --every 1 --push "http://127.0.0.1:$port/" --push-format parca \
	--tag team=perf --push-header 'Authorization: Bearer s3cret' 2> "$TMP/parca.err"
status=$?
stop_receiver
n=$(intervals "$TMP/parca.err")
[ "$status" = 0 ] && [ "$(requests "$TMP/parca")" = "$n" ] && [ "$n" -ge 2 ] &&
	pass "parca: one write an interval ($n)" || fail "parca: exit $status, $(requests "$TMP/parca") writes for $n intervals: $(cat "$TMP/parca.err")"
for f in "$TMP"/parca/*.pb.gz; do $SUMMARY "$f"; done > "$TMP/parca.summary" 2> "$TMP/parca.decode" ||
	fail "parca: a pushed pprof does not decode: $(cat "$TMP/parca.decode")"
python3 - "$TMP/parca" "$TMP/parca.summary" "$WL_PID" "$HOST" << 'EOF' && pass "parca: /profiles/writeraw, labels (__name__, app, hostname, pid, view, tag), header, samples and cpu values" || fail "parca: the writes are not what they should be"
import glob, json, sys
rx, summaries, pid, host = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
reqs = [json.load(open(f)) for f in sorted(glob.glob(rx + "/*.json"))]
sums = [json.loads(l) for l in open(summaries)]
ok = all(r["path"] == "/profiles/writeraw" and r["headers"]["authorization"] == "Bearer s3cret" and
         r["series"] == [{"__name__": "process_cpu", "app": "shares_fp", "hostname": host, "pid": pid,
                          "team": "perf", "view": "cpu"}] for r in reqs)
ok = ok and all(s["types"] == ["samples/count", "cpu/nanoseconds"] and s["totals"][0] > 5 and
                s["totals"][1] == s["totals"][0] * 10101010 for s in sums)
# burn_c (50%) above burn_a (20%) over all intervals: the last one is 0.2 s,
# and its 10-20 samples put them level now and then (CI saw 3 and 3).
leaf = lambda name: sum(s["leaf"].get(name, 0) for s in sums)
ok = ok and leaf("burn_c") > 1.5 * leaf("burn_a")
if not ok:
    print(json.dumps(reqs, indent=1)[:3000], sums, file=sys.stderr)
sys.exit(0 if ok else 1)
EOF

# ---- The whole host, as docs/smolder-agent.service runs it ----
if [ "$(id -u)" = 0 ]; then
	port=$(free_port)
	start_receiver "$TMP/host" "$port"
	"$SMOLDER" record -a -d 2.2 --every 1 --push "http://127.0.0.1:$port" 2> "$TMP/host.err"
	status=$?
	stop_receiver
	n=$(intervals "$TMP/host.err")
	for f in "$TMP"/host/*.pb.gz; do $SUMMARY "$f"; done > "$TMP/host.summary" 2> "$TMP/host.decode" ||
		fail "-a: a pushed pprof does not decode: $(cat "$TMP/host.decode")"
	python3 - "$TMP/host" "$TMP/host.summary" "$HOST" "$n" << 'EOF' && pass "-a --every --push: named after the host, no pid label, the attached workload's burn_c in every whole interval" || fail "-a --push: exit $status: $(cat "$TMP/host.err")"
import glob, json, re, sys
rx, summaries, host, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
reqs = [json.load(open(f)) for f in sorted(glob.glob(rx + "/*.json"))]
sums = [json.loads(l) for l in open(summaries)]
app = re.sub(r"[^A-Za-z0-9_.-]", "_", host)
ok = n >= 2 and len(reqs) == n and all(r["query"]["name"] == ["%s{hostname=%s,view=cpu}" % (app, host)] for r in reqs)
# The last interval is the end's 0.2 s: a few samples of burn_c, none now and then on a loaded host.
ok = ok and all(s["anywhere"].get("burn_c", 0) > 0 for s in sums[:-1]) and sum(s["anywhere"].get("burn_c", 0) for s in sums) > 50
if not ok:
    print(json.dumps(reqs, indent=1)[:2000], sums, file=sys.stderr)
sys.exit(0 if ok else 1)
EOF
fi

# ---- The server down for the first intervals, then up: all delivered, in order ----
port=$(free_port)
"$SMOLDER" record -p "$WL_PID" -d 4 --every 0.5 --spool "$TMP/spool" --push "http://127.0.0.1:$port" \
	2> "$TMP/down.err" &
rec=$!
sleep 1.8
start_receiver "$TMP/down" "$port"
wait "$rec"
status=$?
stop_receiver
n=$(intervals "$TMP/down.err")
python3 - "$TMP/down" << 'EOF' || fail "down then up: not in order"
import glob, json, sys
froms = [int(json.load(open(f))["query"]["from"][0]) for f in sorted(glob.glob(sys.argv[1] + "/*.json"))]
sys.exit(0 if froms == sorted(froms) else 1)
EOF
[ "$status" = 0 ] && [ "$(requests "$TMP/down")" = "$n" ] && [ "$n" -ge 6 ] &&
	[ -z "$(ls "$TMP/spool")" ] && [ "$(grep -c 'cannot push to .*Connection refused\|cannot push to .*connect' "$TMP/down.err")" = 1 ] &&
	pass "server down then up: all $n intervals delivered once, in order; the outage said once; the spool emptied" ||
	fail "server down then up: exit $status, $(requests "$TMP/down") of $n delivered, spool: $(ls "$TMP/spool"): $(cat "$TMP/down.err")"

# ---- Never up: the spool stays bounded, drops are counted, the next run delivers the rest ----
port=$(free_port)
"$SMOLDER" record -p "$WL_PID" -d 3 --every 0.2 --spool "$TMP/spool2" --spool-max 0.006 --push-timeout 0.5 \
	--push "http://127.0.0.1:$port" 2> "$TMP/never.err"
status=$?
left=$(find "$TMP/spool2" -name '*.push' | wc -l)
bytes=$(find "$TMP/spool2" -name '*.push' -printf '%s\n' | awk '{ t += $1 } END { print t + 0 }')
[ "$status" = 0 ] && [ "$left" -ge 1 ] && [ "$bytes" -le $((6291 * 2)) ] &&
	grep -q 'pushes dropped, the oldest first' "$TMP/never.err" && grep -q 'stay in the spool for the next run' "$TMP/never.err" &&
	[ "$(grep -c 'cannot push to' "$TMP/never.err")" = 1 ] &&
	pass "server never up: exit 0 with warnings, the outage said once over all its retries, $left pushes ($bytes bytes) kept under --spool-max, the rest dropped and counted" ||
	fail "server never up: exit $status, $left left ($bytes bytes): $(cat "$TMP/never.err")"
start_receiver "$TMP/later" "$port"
"$SMOLDER" record -p "$WL_PID" -d 1 --spool "$TMP/spool2" --push "http://127.0.0.1:$port" 2> "$TMP/later.err"
stop_receiver
[ "$(requests "$TMP/later")" = $((left + 1)) ] && [ -z "$(ls "$TMP/spool2")" ] &&
	grep -q "$left pushes an earlier run could not deliver" "$TMP/later.err" &&
	pass "the next run delivered the $left spooled pushes first, then its own" ||
	fail "the next run: $(requests "$TMP/later") delivered, $left spooled: $(cat "$TMP/later.err")"

# ---- 503 twice, then accepted: retried, nothing lost ----
port=$(free_port)
start_receiver "$TMP/busy" "$port" --fail-first 2
"$SMOLDER" record -p "$WL_PID" -d 1.5 --every 0.5 --push "http://127.0.0.1:$port" 2> "$TMP/busy.err"
status=$?
stop_receiver
n=$(intervals "$TMP/busy.err")
[ "$status" = 0 ] && [ "$(requests "$TMP/busy")" = "$n" ] && [ "$(grep -c 'HTTP 503: busy, try later' "$TMP/busy.err")" = 1 ] &&
	pass "503: retried with backoff, all $n intervals delivered, said once" ||
	fail "503: exit $status, $(requests "$TMP/busy") of $n: $(cat "$TMP/busy.err")"

# ---- 401: one clear line, a failing exit ----
port=$(free_port)
start_receiver "$TMP/denied" "$port" --status 401
"$SMOLDER" record -p "$WL_PID" -d 1.5 --every 0.3 --push "http://127.0.0.1:$port" 2> "$TMP/denied.err"
status=$?
stop_receiver
[ "$status" = 1 ] && [ "$(grep -c 'refused the profile: HTTP 401: invalid token: authentication required' "$TMP/denied.err")" = 1 ] &&
	pass "401: said once with the server's message, exit 1" || fail "401: exit $status: $(cat "$TMP/denied.err")"

# ---- SIGTERM: the last interval cut and delivered before exit ----
port=$(free_port)
start_receiver "$TMP/term" "$port"
"$SMOLDER" record -p "$WL_PID" --every 1 --push "http://127.0.0.1:$port" 2> "$TMP/term.err" &
rec=$!
sleep 1.6
kill -TERM "$rec"
wait "$rec"
status=$?
stop_receiver
n=$(intervals "$TMP/term.err")
[ "$status" = 0 ] && [ "$n" = 2 ] && [ "$(requests "$TMP/term")" = 2 ] &&
	pass "SIGTERM: the interval under way cut and pushed before exit (2 of 2)" ||
	fail "SIGTERM: exit $status, $(requests "$TMP/term") of $n pushed: $(cat "$TMP/term.err")"

# ---- -o DIR/ --keep: interval files, the last N kept ----
"$SMOLDER" record -q -p "$WL_PID" -d 2 --every 0.4 --keep 2 -o "$TMP/iv/" 2> "$TMP/iv.err"
files=$(find "$TMP/iv" -name 'shares_fp-*Z.smolder' | sort)
good=0
for f in $files; do
	"$SMOLDER" fold "$f" 2> /dev/null | grep -q ';main;run_c;burn_c ' && good=$((good + 1))
done
[ "$(echo "$files" | wc -w)" = 2 ] && [ "$good" = 2 ] &&
	pass "-o DIR/ --keep 2: the last two intervals, each a profile that folds to the workload's stacks" ||
	fail "-o DIR/ --keep 2: $files ($good good): $(cat "$TMP/iv.err")"
# Intervals count from when sampling begins, as the duration does, and the
# end makes no sliver of its own (it made a sixth of 1-3 ms, which --keep 2
# then kept).
"$SMOLDER" record -p "$WL_PID" -d 2 --every 0.4 -o "$TMP/iv5/" 2> "$TMP/iv5.err"
lengths=$(sed -n 's/.*interval [0-9]*: \([0-9.]*\) s,.*/\1/p' "$TMP/iv5.err" | tr '\n' ' ' | sed 's/ $//')
[ "$(echo "$lengths" | wc -w)" = 5 ] && echo "$lengths" | awk '{ for (i = 1; i <= NF; i++) if ($i < 0.3) exit 1 }' &&
	pass "-d 2 --every 0.4: five intervals ($lengths s)" || fail "-d 2 --every 0.4: intervals of $lengths s"
stop_workload

# ---- usage errors: one line each, exit 2 ----
check_usage() { # expected-message args...
	local want=$1
	shift
	"$SMOLDER" record "$@" -- true 2> "$TMP/usage.err"
	local status=$?
	[ "$status" = 2 ] && grep -q -- "$want" "$TMP/usage.err" && pass "usage: $*" ||
		fail "usage: $*: exit $status: $(cat "$TMP/usage.err")"
}
check_usage "with --every or --push, -o names a directory" --every 1 -o "$TMP/x.svg"
check_usage "--every needs somewhere to put the intervals" --every 1
check_usage "--keep goes with" --keep 3
check_usage "--spool goes with --push" --every 1 -o "$TMP/d/" --spool "$TMP/s"
check_usage "expected key=value" --push http://127.0.0.1:1 --tag 'bad key=1'
check_usage "not hostname, pid" --push http://127.0.0.1:1 --tag pid=3
check_usage "expected 'Name: value'" --push http://127.0.0.1:1 --push-header 'no colon'
check_usage "--push-format must be pyroscope or parca" --push http://127.0.0.1:1 --push-format otel
"$SMOLDER" record --push ftp://127.0.0.1/ -- true 2> "$TMP/url.err"
[ $? = 1 ] && grep -q "ftp://127.0.0.1/: not an http:// or https:// URL" "$TMP/url.err" &&
	pass "a URL that is not http(s): one line" || fail "ftp URL: $(cat "$TMP/url.err")"

# ---- libcurl is loaded when a push starts: without it, one line naming the package ----
push_with_stand_in() { # a stand-in libcurl.so.4 found first, as a broken install would be
	LD_LIBRARY_PATH="$TMP/nocurl" "$SMOLDER" record -q --push http://127.0.0.1:1 -o "$TMP/nocurl/out/" -- true \
		2> "$TMP/nocurl.err"
}
mkdir -p "$TMP/nocurl"
echo 'int not_curl;' > "$TMP/nocurl/x.c"
cc -shared -fPIC -o "$TMP/nocurl/libcurl.so.4" "$TMP/nocurl/x.c" || fail "cc: cannot build the stand-in libcurl"
push_with_stand_in
status=$?
[ "$status" = 1 ] && [ "$(wc -l < "$TMP/nocurl.err")" = 1 ] &&
	grep -q "libcurl.so.4: no curl_global_init: cannot start the HTTP client (libcurl)" "$TMP/nocurl.err" &&
	pass "a libcurl without its functions: one line, exit 1" || fail "broken libcurl: exit $status: $(cat "$TMP/nocurl.err")"
: > "$TMP/nocurl/libcurl.so.4"
push_with_stand_in
status=$?
[ "$status" = 1 ] && grep -q "libcurl.so.4: file too short (install libcurl4): cannot start" "$TMP/nocurl.err" &&
	pass "an unloadable libcurl: one line naming the package, exit 1" ||
	fail "unloadable libcurl: exit $status: $(cat "$TMP/nocurl.err")"
! ldd "$SMOLDER" | grep -q libcurl && pass "libcurl is not linked: loaded by --push only" ||
	fail "smolder links libcurl: $(ldd "$SMOLDER" | grep curl)"
finish
