#!/bin/bash
# pprof and speedscope output, checked by their own schemas; folded round trips.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
in=$COMPAT_DIR/flamegraph/perf-vertx-stacks-01.txt
[ -f "$in" ] || skip "no compat corpus"
"$SMOLDER" collapse "$in" -o "$TMP/p.smolder" || fail "collapse -o exited $?"
"$SMOLDER" collapse "$in" > "$TMP/p.folded"
"$SMOLDER" fold "$TMP/p.smolder" | cmp -s - "$TMP/p.folded" && pass "profile -> folded round trip is exact" ||
	fail "fold of the profile differs from collapse"
zstd -q -c "$TMP/p.folded" > "$TMP/p.folded.zst" 2>/dev/null && {
	a=$(stat -c %s "$TMP/p.smolder") b=$(stat -c %s "$TMP/p.folded.zst")
	[ "$a" -lt "$b" ] && pass ".smolder ($a B) smaller than zstd folded ($b B)" || fail ".smolder $a B >= zstd folded $b B"
}

# pprof: decodes with protoc against pprof's schema, with the right totals.
"$SMOLDER" export --format pprof "$TMP/p.smolder" -o "$TMP/p.pb.gz" || fail "export pprof exited $?"
if command -v protoc > /dev/null; then
	gzip -dc "$TMP/p.pb.gz" | protoc --decode perftools.profiles.Profile -I "$top_srcdir/tests/data" \
		"$top_srcdir/tests/data/profile.proto" > "$TMP/p.txt" 2> "$TMP/err" || fail "protoc: $(cat "$TMP/err")"
	samples=$(grep -c '^sample {' "$TMP/p.txt")
	sum=$(awk '/^  value:/ { s += $2 } END { print s }' "$TMP/p.txt")
	[ "$sum" = "$(total "$TMP/p.folded")" ] && [ "$samples" -gt 50 ] &&
		pass "pprof decodes: $samples samples, values sum to $sum" || fail "pprof totals $sum vs $(total "$TMP/p.folded")"
	grep -q 'string_table: "org/mozilla/javascript/ScriptableObject:.createSlot"' "$TMP/p.txt" &&
		pass "pprof string table holds the function names" || fail "pprof names missing"
else
	[ "${SMOLDER_REQUIRE_PERF:-0}" = 1 ] && fail "protoc missing (apt-get install protobuf-compiler)"
fi

# speedscope: valid against its published schema, weights add up.
"$SMOLDER" export "$TMP/p.smolder" -o "$TMP/p.speedscope.json" || fail "export speedscope exited $?"
"$PY" - "$TMP/p.speedscope.json" "$top_srcdir/tests/data/speedscope-file-format-schema.json" <<'PYEOF' &&
import json, sys
doc = json.load(open(sys.argv[1]))
try:
    import jsonschema
    jsonschema.validate(doc, json.load(open(sys.argv[2])))
except ImportError:
    sys.exit(3)
p = doc["profiles"][0]
assert sum(p["weights"]) == 285 and len(p["samples"]) == len(p["weights"])
assert all(0 <= i < len(doc["shared"]["frames"]) for s in p["samples"] for i in s)
PYEOF
	pass "speedscope validates against its schema" || fail "speedscope output invalid"

# Hostile names survive JSON.
"$SMOLDER" export --format speedscope "$top_srcdir/tests/data/hostile.folded" -o "$TMP/h.json" 2>/dev/null
"$PY" -c 'import json,sys; json.load(open(sys.argv[1]))' "$TMP/h.json" && pass "hostile names: valid JSON" ||
	fail "hostile names break the JSON"
finish
