#!/usr/bin/env python3
"""Writes docs/smolder*.1 from each command's --help, so that the man page and
the help list the same options, plus the examples and exit statuses below.
    docs/make-man.py [SMOLDER] [OUTDIR]"""
import os
import re
import subprocess
import sys

SMOLDER = sys.argv[1] if len(sys.argv) > 1 else "./smolder"
OUT = sys.argv[2] if len(sys.argv) > 2 else os.path.dirname(os.path.abspath(__file__))
DATE = "2026-11"
COMMANDS = ["record", "flamegraph", "fold", "collapse", "diff", "report", "export", "merge", "info"]

EXAMPLES = {
    "record": ["smolder record -p 4242 -d 30 -o cpu.svg",
               "smolder record -F 999 -o bench.smolder -- ./bench --iters 1000",
               "smolder record --unwind fp --kernel -p 4242,4243 -o cpu.folded"],
    "flamegraph": ["smolder flamegraph cpu.smolder -o cpu.svg",
                   "perf script | smolder collapse | smolder flamegraph --title perf > perf.svg",
                   "smolder flamegraph --colors mem --countname bytes alloc.folded > alloc.svg"],
    "diff": ["smolder diff main.smolder branch.smolder -o diff.svg",
             "smolder diff --report --limit 10 main.smolder branch.smolder",
             "smolder diff --fail-above 5 main.smolder branch.smolder"],
    "collapse": ["perf script | smolder collapse --pid > out.folded"],
    "fold": ["smolder fold --per-thread cpu.smolder > cpu.folded"],
    "report": ["smolder report --limit 10 cpu.smolder"],
    "export": ["smolder export --format pprof cpu.smolder -o cpu.pb.gz",
               "go tool pprof -top cpu.pb.gz"],
    "merge": ["smolder merge shard-1.smolder shard-2.smolder -o all.smolder"],
    "info": ["smolder info cpu.smolder", "smolder info cpu.smolder.partial"],
}
EXIT = {
    "record": "With a command: the command's exit status (128+N if signal N killed it), or 127 "
              "if it could not be run. With -p: 0. On errors 1, on usage errors 2.",
    "diff": "0 on success; 3 when --fail-above tripped; 1 on errors; 2 on usage errors.",
}
DEFAULT_EXIT = ("0 on success; 1 on errors (one line on standard error: "
                "smolder: COMMAND: what went wrong); 2 on usage errors.")


def esc(text):
    text = text.replace("\\", "\\e").replace("-", "\\-")
    if text.startswith((".", "'")):
        text = "\\&" + text
    return text


def run(*args):
    return subprocess.run([SMOLDER, *args], check=True, stdout=subprocess.PIPE, text=True).stdout


def parse_help(text):
    """usage lines, description paragraphs, (option, text) and (variable, text) pairs."""
    usage, desc, opts, env = [], [[]], [], None
    for line in text.splitlines():
        if line == "Environment:":
            env = []
        elif env is not None:
            m = re.match(r"  ([A-Z][A-Z0-9_]*)\s{2,}(.*)", line)
            if m:
                env.append([m.group(1), m.group(2)])
            elif line.strip() and env:
                env[-1][1] += " " + line.strip()
        elif line.startswith("usage: ") or (line.startswith("       smolder ") and not opts and not any(desc)):
            usage.append(line.split(": ", 1)[1] if line.startswith("usage: ") else line.strip())
        elif line.startswith("  -"):
            m = re.match(r"  (\S+(?:, \S+)?(?: [A-Z][A-Z0-9_.,|\[\]]*)?)\s{2,}(.*)", line)
            if m:
                opts.append([m.group(1), m.group(2)])
            else:
                opts.append([line.strip(), ""])
        elif line.startswith("   ") and opts:
            opts[-1][1] += " " + line.strip()
        elif not line.strip():
            if desc[-1]:
                desc.append([])
        else:
            desc[-1].append(line.strip())
    return usage, [" ".join(p) for p in desc if p], opts, env or []


def page(cmd, summary):
    usage, desc, opts, env = parse_help(run(cmd, "--help"))
    lines = ['.TH SMOLDER\\-%s 1 "%s" "smolder %s" "smolder manual"' % (cmd.upper(), DATE, VERSION),
             ".SH NAME", "smolder\\-%s \\- %s" % (cmd, esc(summary)), ".SH SYNOPSIS"]
    for i, u in enumerate(usage):
        if i:
            lines.append(".br")
        lines.append(esc(u))
    lines.append(".SH DESCRIPTION")
    for i, p in enumerate(desc):
        if i:
            lines.append(".PP")
        lines.append(esc(p))
    lines.append(".SH OPTIONS")
    for opt, text in opts:
        lines += [".TP", "\\fB%s\\fR" % esc(opt), esc(text)]
    if env:
        lines.append(".SH ENVIRONMENT")
        for var, text in env:
            lines += [".TP", "\\fB%s\\fR" % esc(var), esc(text)]
    lines += [".SH EXAMPLES", ".nf"] + [esc(e) for e in EXAMPLES.get(cmd, [])] + [".fi"]
    lines += [".SH EXIT STATUS", esc(EXIT.get(cmd, DEFAULT_EXIT))]
    lines += [".SH SEE ALSO", "\\fBsmolder\\fR(1), docs/format.md, docs/ci.md"]
    with open(os.path.join(OUT, "smolder-%s.1" % cmd), "w") as f:
        f.write("\n".join(lines) + "\n")


VERSION = run("--version").split()[1]
summaries = {}
for line in run("--help").splitlines():
    m = re.match(r"  (\w+)\s+(.*)", line)
    if m:
        summaries[m.group(1)] = m.group(2)
for cmd in COMMANDS:
    page(cmd, summaries[cmd])
main = ['.TH SMOLDER 1 "%s" "smolder %s" "smolder manual"' % (DATE, VERSION), ".SH NAME",
        "smolder \\- sampling profiler and flamegraph generator for Linux", ".SH SYNOPSIS",
        "smolder [\\-\\-version] [\\-\\-help] COMMAND [ARGS]", ".SH DESCRIPTION",
        esc("smolder samples running processes with perf_event_open(2), unwinds their stacks while it "
            "samples (frame pointers, or DWARF CFI through libunwind), symbolizes each unique address "
            "once, and writes small zstd-compressed profiles, folded stacks, interactive SVG flamegraphs, "
            "differential flamegraphs, pprof and speedscope files."),
        ".SH COMMANDS"]
for cmd in COMMANDS:
    main += [".TP", "\\fBsmolder\\-%s\\fR(1)" % cmd, esc(summaries[cmd])]
main += [".SH FILES", esc("OUTPUT.partial: what record has written so far; readable by info and fold if "
                          "the recorder was killed."),
         ".SH SEE ALSO", "\\fBperf\\fR(1), \\fBperf_event_open\\fR(2)"]
with open(os.path.join(OUT, "smolder.1"), "w") as f:
    f.write("\n".join(main) + "\n")
