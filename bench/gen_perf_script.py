#!/usr/bin/env python3
"""Writes a synthetic `perf script` output: SAMPLES samples over UNIQUE
distinct stacks (depth 4-24, names from a C++/Java/kernel-like vocabulary),
to stdout.  Deterministic for a given seed.
    bench/gen_perf_script.py [SAMPLES] [UNIQUE] [SEED]"""
import random
import sys

samples = int(sys.argv[1]) if len(sys.argv) > 1 else 120000
unique = int(sys.argv[2]) if len(sys.argv) > 2 else 100000
rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 1)

words = ["alloc", "parse", "flush", "read", "write", "lookup", "insert", "hash", "encode",
         "decode", "send", "recv", "poll", "lock", "unlock", "copy", "compare", "render", "scan"]
modules = ["/usr/bin/server", "/usr/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/libstdc++.so.6",
           "[kernel.kallsyms]", "/tmp/perf-4242.map"]
functions = []
for i in range(4000):
    w = rng.sample(words, 2)
    style = i % 4
    if style == 0:
        name = "ns%d::%s_%s<int>(std::string const&)" % (i % 50, w[0], w[1])
    elif style == 1:
        name = "Lorg/app/%s/%s;.%s" % (w[0].capitalize(), w[1].capitalize(), w[0])
    elif style == 2:
        name = "%s_%s_%d" % (w[0], w[1], i)
    else:
        name = "[unknown]"
    functions.append((name, modules[i % len(modules)]))

stacks = []
for _ in range(unique):
    depth = rng.randint(4, 24)
    stacks.append([rng.randrange(len(functions)) for _ in range(depth)])

out = sys.stdout
t = 1000.0
for s in range(samples):
    stack = stacks[s % unique] if s < unique else stacks[rng.randrange(unique)]
    t += 0.001
    out.write("server %d/%d [%03d] %.6f: 10101010 cpu-clock:\n" % (4242, 4242 + s % 8, s % 4, t))
    for f in reversed(stack):
        name, mod = functions[f]
        addr = 0x400000 + f * 64
        out.write("\t%16x %s+0x%x (%s)\n" % (addr, name, f % 200, mod))
    out.write("\n")
