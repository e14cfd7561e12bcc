#!/bin/bash
# Exports that keep time, on the committed recording of tests/workloads/phases
# (phase_one for a second, then phase_two): speedscope's evented profile (valid
# against speedscope's schema, frames opened and closed in order, phase_one
# in the first second), the Firefox Profiler's Gecko profile (the checks its
# importer makes, read from src/profile-logic/process-profile.js and
# gecko-profile-versioning.js), and both opened by the real speedscope app
# (npm package speedscope) in Chromium.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
f=$top_srcdir/tests/data/compat/cpu-v2.smolder
"$SMOLDER" export "$f" -o "$TMP/p.speedscope.json" || fail "export speedscope exited $?"
"$PY" - "$TMP/p.speedscope.json" "$top_srcdir/tests/data/speedscope-file-format-schema.json" <<'PYEOF' > "$TMP/out" 2>&1 &&
import json, sys
import jsonschema
doc = json.load(open(sys.argv[1]))
jsonschema.validate(doc, json.load(open(sys.argv[2])))
frames = doc["shared"]["frames"]
ev = [p for p in doc["profiles"] if p["type"] == "evented"]
assert len(ev) == 1 and "tid 504" in ev[0]["name"], [p["name"] for p in doc["profiles"]]
open_, last, spent = [], 0, {}
for e in ev[0]["events"]:
    assert e["at"] >= last, "time goes back"
    if e["type"] == "O":
        open_.append((e["frame"], e["at"]))
    else:
        frame, at = open_.pop()
        assert frame == e["frame"], "closed a frame not on top"
        name = frames[frame]["name"]
        if at < 1e9:  # opened in the first second
            spent[name] = spent.get(name, 0) + e["at"] - at
    last = e["at"]
assert not open_ and last <= ev[0]["endValue"]
one, two = spent.get("phase_one", 0), spent.get("phase_two", 0)
print("first second: phase_one %.0f ms, phase_two %.0f ms" % (one / 1e6, two / 1e6))
assert one >= 0.9 * (one + two) and one > 0.8e9
PYEOF
	pass "speedscope evented profile: schema, nesting, $(cat "$TMP/out")" || fail "speedscope evented: $(cat "$TMP/out")"

"$SMOLDER" export --format firefox "$f" -o "$TMP/p.firefox.json" || fail "export firefox exited $?"
"$PY" - "$TMP/p.firefox.json" <<'PYEOF' > "$TMP/out" 2>&1 &&
import json, re, sys
doc = json.load(open(sys.argv[1]))
# speedscope's importer: systemHost.name, duration; the Firefox Profiler's:
# { profile: GECKO } unwrapped, a meta object, a version it knows.
assert doc["systemHost"]["name"] == "Firefox" and doc["duration"] > 0
g = doc["profile"]
meta = g["meta"]
assert isinstance(meta, dict) and meta["version"] == 32, "version"
for k in ("startTime", "interval"):
    assert isinstance(meta[k], (int, float)), k
assert meta["interval"] > 0
cats = meta["categories"]
assert cats and all(isinstance(c["name"], str) and isinstance(c["subcategories"], list) for c in cats)
assert isinstance(meta["markerSchema"], list)
for k in ("libs", "processes", "pausedRanges", "threads"):
    assert isinstance(g[k], list), k
cpp = re.compile(r"^(.*) \(in ([^)]*)\)$")
total = {}
for t in g["threads"]:
    for k in ("name", "processType"):
        assert isinstance(t[k], str), k
    for k in ("pid", "tid", "registerTime"):
        assert isinstance(t[k], (int, float)), k
    tables = {}
    for k in ("samples", "markers", "stackTable", "frameTable"):
        schema = t[k]["schema"]
        assert all(isinstance(v, int) for v in schema.values()), k + " schema"  # _toStructOfArrays
        tables[k] = [{f: row[i] if i < len(row) else None for f, i in schema.items()} for row in t[k]["data"]]
    assert "stack" in t["samples"]["schema"] and "time" in t["samples"]["schema"]
    assert "eventDelay" in t["samples"]["schema"] or "responsiveness" in t["samples"]["schema"]
    strings, frames, stacks = t["stringTable"], tables["frameTable"], tables["stackTable"]
    assert all(isinstance(s, str) for s in strings)
    for fr in frames:
        assert 0 <= fr["location"] < len(strings) and 0 <= fr["category"] < len(cats)
        assert 0 <= fr["subcategory"] < len(cats[fr["category"]]["subcategories"])
    for i, st in enumerate(stacks):
        assert st["prefix"] is None or 0 <= st["prefix"] < i, "prefix"
        assert 0 <= st["frame"] < len(frames)
        assert cpp.match(strings[frames[st["frame"]]["location"]]), strings[frames[st["frame"]]["location"]]
    last = 0
    for s in tables["samples"]:
        assert s["time"] >= last, "sample times go back"
        last = s["time"]
        n = s["stack"]
        assert n is None or 0 <= n < len(stacks)
        if n is not None:
            leaf = cpp.match(strings[frames[stacks[n]["frame"]]["location"]]).group(1)
            half = "first" if s["time"] < 1000 else "second"
            total[(half, leaf)] = total.get((half, leaf), 0) + 1
first = sum(v for (h, _), v in total.items() if h == "first")
one = total.get(("first", "phase_one"), 0)
print("%d threads, first second: %d of %d samples in phase_one" % (len(g["threads"]), one, first))
assert g["threads"][0]["name"] == "GeckoMain" and one >= 0.9 * first and first > 900
PYEOF
	pass "Firefox Gecko profile passes the importer's checks: $(cat "$TMP/out")" || fail "firefox export: $(cat "$TMP/out")"
"$SMOLDER" export --format firefox "$top_srcdir/tests/data/compat/cpu-faedf0f.smolder" -o "$TMP/x.json" 2> "$TMP/err" &&
	fail "firefox export of a profile without times: status 0"
grep -q "no sample times" "$TMP/err" && [ ! -e "$TMP/x.json" ] && pass "without times: $(cat "$TMP/err"); no file left" ||
	fail "no times: $(cat "$TMP/err"); $(ls "$TMP/x.json" 2>&1)"

# The real speedscope app opens both, as its command line does it: a script
# that hands it the file, named in the page's #localProfilePath.
require_browser
app=${SMOLDER_SPEEDSCOPE:-$top_srcdir/tests/npm/node_modules/speedscope/dist/release/index.html}
if [ ! -f "$app" ]; then
	[ "${SMOLDER_REQUIRE_BROWSER:-0}" = 1 ] && fail "no speedscope app at $app (scripts/setup --test installs it)"
	finish
fi
for file in p.speedscope.json p.firefox.json; do
	"$PY" -c 'import base64, json, sys
data = base64.b64encode(open(sys.argv[1], "rb").read()).decode()
print("speedscope.loadFileFromBase64(%s, %s)" % (json.dumps(sys.argv[2]), json.dumps(data)))' "$TMP/$file" "$file" > "$TMP/$file.js"
	# A second start where the first imported nothing at all: headless Chromium's
	# first start in a new profile once ran no page here (CI of 485bbd7).
	for try in 1 2; do
		timeout 90 "$chrome" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
			--disable-background-networking --disable-component-update --disable-sync \
			--user-data-dir="$TMP/chrome" --allow-file-access-from-files --virtual-time-budget=8000 \
			--enable-logging=stderr --v=0 --dump-dom "file://$app#localProfilePath=$TMP/$file.js&view=sandwich" \
			2> "$TMP/chrome.err" > "$TMP/dom"
		imported=$(grep -o '"Importing as [^"]*"' "$TMP/chrome.err")
		[ -n "$imported" ] && break
	done
	errors=$(grep CONSOLE "$TMP/chrome.err" | grep -Ei 'error|failed|uncaught' | grep -v WebGL)
	[ -n "$imported" ] && [ -z "$errors" ] && grep -q phase_one "$TMP/dom" && grep -q phase_two "$TMP/dom" &&
		pass "speedscope app opens $file ($imported) and lists phase_one and phase_two" ||
		fail "speedscope app with $file: '$imported' $errors; functions shown: $(grep -c phase_ "$TMP/dom")"
done
finish
