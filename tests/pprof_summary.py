#!/usr/bin/env python3
"""Decodes gzip-compressed pprof files with protoc against pprof's own
schema (tests/data/profile.proto) and prints, as JSON, what the push tests
check: the sample types, each type's total, each leaf function's and each
function's (anywhere on the stack) totals, the period and the times.

usage: pprof_summary.py PROTO_DIR FILE.pb.gz...   (one JSON object per file, a line each)
"""
import gzip
import json
import re
import subprocess
import sys

TOKEN = re.compile(r'\s*(?:(\w+)\s*:\s*("(?:[^"\\]|\\.)*"|[-\w.]+)|(\w+)\s*\{|(\}))')


def parse_text(text):
    """protoc's text format into nested dicts of lists."""
    root, stack, pos = {}, [], 0
    node = root
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m:
            if text[pos:].strip():
                raise ValueError("unparsed: %r" % text[pos:pos + 40])
            break
        pos = m.end()
        if m.group(1):
            value = m.group(2)
            if value.startswith('"'):
                value = value[1:-1].encode("latin-1").decode("unicode_escape").encode("latin-1").decode("utf-8", "replace")
            else:
                value = int(value)
            node.setdefault(m.group(1), []).append(value)
        elif m.group(3):
            child = {}
            node.setdefault(m.group(3), []).append(child)
            stack.append(node)
            node = child
        else:
            node = stack.pop()
    return root


def summary(proto_dir, path):
    with open(path, "rb") as f:
        raw = gzip.decompress(f.read())
    text = subprocess.run(["protoc", "--decode", "perftools.profiles.Profile", "-I", proto_dir,
                           proto_dir + "/profile.proto"], input=raw, capture_output=True, check=True).stdout
    p = parse_text(text.decode("latin-1"))
    strings = p.get("string_table", [""])
    types = ["%s/%s" % (strings[t.get("type", [0])[0]], strings[t.get("unit", [0])[0]]) for t in p.get("sample_type", [])]
    functions = {f["id"][0]: strings[f.get("name", [0])[0]] for f in p.get("function", [])}
    locations = {}
    for loc in p.get("location", []):
        # innermost line first
        locations[loc["id"][0]] = [functions.get(line.get("function_id", [0])[0], "?") for line in loc.get("line", [])]
    totals, leaf, anywhere = [0] * len(types), {}, {}
    for s in p.get("sample", []):
        values = s.get("value", [])
        frames = [name for loc in s.get("location_id", []) for name in locations.get(loc, ["?"])]
        for i, v in enumerate(values):
            totals[i] += v
        if frames:
            leaf[frames[0]] = leaf.get(frames[0], 0) + values[0]
        for name in set(frames):
            anywhere[name] = anywhere.get(name, 0) + values[0]
    return {"types": types, "totals": totals, "leaf": leaf, "anywhere": anywhere,
            "period": p.get("period", [0])[0], "time_nanos": p.get("time_nanos", [0])[0],
            "duration_nanos": p.get("duration_nanos", [0])[0]}


for path in sys.argv[2:]:
    print(json.dumps(summary(sys.argv[1], path)))
