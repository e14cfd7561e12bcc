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
COMMANDS = ["record", "top", "flamegraph", "fold", "collapse", "diff", "report", "export", "merge", "info"]

EXAMPLES = {
    "record": ["smolder record -p 4242 -d 30 -o cpu.svg",
               "smolder record -F 999 -o bench.smolder -- ./bench --iters 1000",
               "smolder record --unwind fp --kernel -p 4242,4243 -o cpu.folded",
               "smolder record -a -d 10 --per-process -o host.svg",
               "smolder record --cgroup system.slice/nginx.service -d 30 -o nginx.svg",
               "smolder record -p 4242 --every 10 -o /var/tmp/profiles/ --keep 360",
               "smolder record -p 4242 --every 10 --push http://pyroscope:4040 --tag env=prod --spool /var/lib/smolder",
               "smolder record -p 4242 --every 10 --push http://parca:7070 --push-format parca"],
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
    "top": ["smolder top -a", "smolder top -p 4242 --delay 2 --view offcpu", "smolder top -a -d 10 | tee top.log"],
}
SECTIONS = {
    "record": [("THE ALLOCATION AGENT", [
        "--view alloc samples allocations from inside the process (--alloc-mode sampled, the default). "
        "A command gets libsmolder-agent.so through LD_PRELOAD (appended to an existing one); a running "
        "process (-p) gets it by injection: one thread is stopped with ptrace (PTRACE_SEIZE, "
        "PTRACE_INTERRUPT) where it is safe (blocked in a waiting system call, or running outside libc, "
        "the loader, libgcc and the agent), made to call dlopen and the agent's start on its own stack, "
        "and put back with its registers and vector state; the other threads never stop. The agent "
        "rewrites the GOT entries of malloc, calloc, realloc, free, posix_memalign, aligned_alloc and "
        "memalign in every loaded module (C++ new and delete reach them through libstdc++'s; and of prctl, syscall, _exit and dlopen, below), samples "
        "every --alloc-rate bytes on average (exponentially distributed, per thread), and writes each "
        "sample (its registers and a copy of its stack, up to where its frames start, below a thread's "
        "thread-local storage) into a ring of 1024 slots in shared memory (a "
        "memfd of 8.4 MiB, most of it resident while sampling, sealed against shrinking, that smolder maps "
        "through /proc; process_vm_readv where it cannot), read "
        "and unwound by smolder as it unwinds a uprobe's sample: no trap into the kernel per sample; "
        "a stack smolder has unwound before is copied in part: smolder writes what its unwinding read "
        "(stack words and registers) into the ring as that stack's hint, and a sample whose values there "
        "are equal writes only those words, which unwind to the same frames (its slot names the hint, "
        "and smolder takes the frames it published the hint from without reading the words again); "
        "smolder reads a ring each time a quarter of it is written (an eighth when other views are "
        "recorded too), at the pace it fills, unwinds the "
        "stacks where they are in the ring (no copy), and gives their slots back once unwound. A "
        "full ring wakes smolder and waits up to 2 ms for room (the samples that waited are counted at "
        "the end); a stack whose bounds the agent does not "
        "know (not the main thread's, nor a glibc thread's), a ring that stays full, and --unwind fp "
        "take a marker function that a uprobe sees with the stack instead. Bytes and calls are estimated "
        "without bias (size/p and 1/p, p = 1 - exp(-size/rate)); frees of sampled blocks are told too, in "
        "batches, for the bytes in use. At exit the agent waits (up to half a second, while smolder "
        "reads) for the samples still in the ring. At the "
        "end smolder calls the agent's stop, which puts back every GOT entry; the library stays loaded "
        "(unloading code other threads may be in is never safe). In a process with threads of its own "
        "the agent has one too, idle, that looks for libraries loaded later fifty times a second and "
        "tells the frees waiting; a process with one thread gets none (a second thread moves glibc's "
        "malloc onto its locked paths for good, a third slower): it is started when the process makes "
        "threads or calls dlopen (the agent hooks dlopen's GOT entries too, and jumps on to it with "
        "the caller's return address, by which dlopen knows whose library path to search); until then "
        "libraries loaded otherwise (libc's own, for NSS) are hooked at the next sample, and frees wait "
        "for it (or the stop, or the exit). If smolder goes without calling stop (killed: "
        "SIGKILL, the OOM killer), the kernel takes its uprobes out of the process, and that thread "
        "(or the next sample, where there is no such thread), finding the "
        "breakpoint gone from the agent's marker, stops the agent itself: every GOT entry put back, "
        "within about 100 ms of the next sample; the uprobes it defined in tracefs's uprobe_events stay there until "
        "the next alloc recording removes those of every pid no longer running smolder. "
        "A smolder merely stopped (Ctrl-Z) keeps its uprobes, and the agent "
        "samples on. While it records, smolder holds one more event on each marker, system-wide and never "
        "sampling: without it Linux (as of 6.18) may take the markers out of a forked child when one of its "
        "threads exits holding a sibling's inherited perf events (swapped as the two took turns on a CPU), "
        "and the child's agent would stop as if smolder had gone; --alloc-mode exact's uprobes on libc "
        "cannot be held so (every process would trap on malloc): an inherited event that never samples "
        "forbids the swap instead, from Linux 6.12 (older kernels refuse it). A process attached to that runs a new "
        "program (exec) loses the agent with the old one: record says so, and the new program's allocations are "
        "not recorded. A process in another mount namespace (a container's), which cannot open "
        "smolder's file, is handed a copy: smolder has it make a memfd (a call to memfd_create, as to "
        "dlopen), fills and seals it through /proc/PID/fd, and its dlopen opens /proc/thread-self/fd/N (the "
        "container must have /proc mounted, and its pid namespace allow an executable memfd "
        "(vm.memfd_noexec below 2); else it is refused, and left as it was); the uprobes go on "
        "that copy, its fd is closed once the agent is loaded, and nothing is written into the "
        "container's files. A second recording finds it loaded, and probes the file it maps if it is "
        "smolder's own byte for byte; one whose agent is another build's (an upgrade's older file, "
        "whose markers its uprobes would miss) is refused with that reason. A process whose main "
        "thread has exited (pthread_exit) while others run on is reached through a live thread's "
        "/proc entries, in every view; a zombie is refused as one. A program on musl's C library "
        "(Alpine's), which the agent (built for glibc's) cannot load into, is refused before it runs or is "
        "touched (one started by the command, which inherits LD_PRELOAD, runs with the agent idle in it); "
        "--alloc-mode exact probes musl's own malloc. A statically "
        "linked program, or one ptrace may not touch (another user's without root, "
        "kernel.yama.ptrace_scope), or one running under seccomp (a filter may kill it, with SIGSYS, "
        "for a call it did not expect: the agent's memfd_create, mprotect, a thread), is refused "
        "with the reason. A launched command (or its child) that installs a filter itself after "
        "the agent started, through prctl or syscall (whose GOT entries the agent hooks too; sshd's "
        "pre-auth child and libseccomp install theirs so), is seen doing so: from then on the agent "
        "makes no system call of its own (its samples go through the marker's uprobe, and no "
        "read-only (RELRO) page is opened: a library loaded later is hooked only where its GOT is "
        "writable, and at stop the entries in RELRO pages stay hooked, forwarding every call). One "
        "installed by a raw system call is not seen. A "
        "process ending by _exit (a forked child, as servers end theirs) runs no destructor: the "
        "agent's _exit hook tells the frees still waiting first, so that none reads as in use. "
        "--alloc-mode exact places uprobes on "
        "every call of libc's functions instead: exact, but each call traps into the kernel."]),
        ("THE WHOLE HOST", [
        "-a opens one event per CPU for every process (perf's record -a): each stack's root is its "
        "process's name (--per-process adds a name-pid frame, --per-thread a name-tid one). Processes "
        "that start during the recording are named from their exec and mapped from their mmap records; "
        "those that were running are named and mapped from /proc when first sampled (named as /proc "
        "called them when the recording began, if they are gone by then); those that exit "
        "keep their names, and their files are read through /proc/PID/root while they run or at their "
        "path afterwards. Idle and kernel threads are not sampled unless --kernel. --cgroup PATH keeps "
        "the processes of one cgroup v2 (PERF_FLAG_PID_CGROUP), named as /proc/PID/cgroup names it. With "
        "a command, -a records the whole host for as long as the command runs. The views cpu, offcpu and "
        "io work host-wide; alloc does not (its uprobes are per program). It needs root, CAP_PERFMON, or "
        "kernel.perf_event_paranoid at 0 or less. DWARF unwinding shares each file's CFI by build-id across "
        "processes, drops a process's modules at its exit, and keeps at most 512 mapped files: the least "
        "recently used go, to be read again when a sample needs them, and record says how many went. "
        "The kernel's buffers, one a CPU (pinned memory, with -a or without), are 2 MiB for cpu samples "
        "unwound with DWARF (256 KiB with --unwind fp) and 16 MiB for the offcpu, io and alloc views; as "
        "root all the CPUs' together stay within 256 MiB (a 96-CPU host gets 2 MiB a CPU for an event "
        "view), and as another user within kernel.perf_event_mlock_kb."]),
        ("CONTINUOUS PROFILING", [
        "With --every SECS the recording is cut into intervals while it goes on: each is a profile of its "
        "own, with its start and duration, symbolized at once; the samples move out of the recorder at each "
        "cut and what it learned (stacks, names, debug info) stays, so its memory does not grow with time. "
        "Intervals count from when sampling begins, as -d does: -d 60 --every 10 makes six of 10 s (a "
        "duration that is no multiple of SECS ends with a shorter one). "
        "With -o DIR/ each interval is written there as NAME-START.smolder (UTC, to the millisecond); "
        "--keep N keeps the last N.",
        "With --push URL each interval (or, without --every, the whole recording at its end) is sent to a "
        "profile server by a thread of its own: recording never waits for the network. The default format "
        "follows Grafana Pyroscope's HTTP ingest API (Pyroscope 1.x, POST /ingest with format=pprof, the "
        "gzip-compressed pprof in the form field profile and a sample_type_config): one request per value "
        "type, the cpu view's samples shown by Pyroscope as APP.cpu. --push-format parca follows Parca's "
        "ProfileStoreService.WriteRaw (parca.profilestore.v1alpha1) through its HTTP gateway, POST "
        "/profiles/writeraw, one series per view named process_cpu (cpu) or smolder_VIEW. Labels: "
        "hostname, pid (with one -p), view, and every --tag. URL is the server's base "
        "(http://pyroscope:4040, http://parca:7070, https://USER:TOKEN@host for basic auth); "
        "--push-header adds headers (Authorization, X-Scope-OrgID); libcurl reads http_proxy, "
        "https_proxy and no_proxy.",
        "Delivery: a request that fails to connect, times out, or is answered 5xx, 408 or 429 is sent "
        "again with exponential backoff (0.5 s doubling to 30 s), in order; meanwhile intervals wait, in "
        "memory or, with --spool DIR, on disk (each written before it is sent, removed once accepted), "
        "at most --spool-max MB, the oldest dropped first with a warning and a count. A 4xx other than "
        "408 and 429 is said once with the server's message and the request dropped; record then exits 1. "
        "At exit (-d, a signal, the target's exit) the last interval is cut and the pushes waited for up to "
        "--push-timeout seconds; what is left stays in the spool, and the next run with the same --spool "
        "sends it first. A request can be sent twice only if smolder dies between the server's answer "
        "and the removal of its spool file.",
        "Running as a service: docs/smolder-agent.service is a systemd unit running record -a --every 60 --push URL --spool (add --cgroup system.slice/NAME.service to follow one service)."])],
}
EXIT = {
    "record": "With a command: the command's exit status (128+N if signal N killed it), or 127 "
              "if it could not be run. With -p: 0. On errors 1 (with --push: also when the server "
              "refused a profile), on usage errors 2.",
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
    for title, paragraphs in SECTIONS.get(cmd, []):
        lines.append(".SH " + title)
        for i, p in enumerate(paragraphs):
            if i:
                lines.append(".PP")
            lines.append(esc(p))
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
