#!/bin/bash
# Symbols: inline chains and lines equal to addr2line -f -i -C for every
# sampled address; separate debug info by .gnu_debuglink and by build-id;
# JIT maps (and refusing another user's); kernel frames from kallsyms.
. "$(dirname "$0")/lib.sh"
require_perf
bin=$WORKLOADS/inline

# Every sampled address of the binary: the same inline chain as addr2line.
compare_with_addr2line() { # PROFILE BINARY-AS-RECORDED BINARY-WITH-DEBUG LABEL
	"$SMOLDER" info --locations "$1" > "$TMP/locs" || { fail "$4: info --locations"; return; }
	python3 - "$TMP/locs" "$2" "$3" <<'PYEOF' > "$TMP/cmp" 2>&1
import subprocess, sys
locs, recorded, debug = sys.argv[1:4]
entries, cur = [], None
for l in open(locs).read().split("\n"):
    if not l:
        continue
    if not l.startswith("\t"):
        path, off = l.rsplit(" ", 1)
        cur = (path, int(off, 16), [])
        entries.append(cur)
    else:
        name, where = l[1:].rsplit(" ", 1)
        line = where.rsplit(":", 1)[-1]
        cur[2].append((name, "?" if line == "0" else line))
# file offset -> vaddr through the LOAD segments
loads = []
for l in subprocess.run(["readelf", "-lW", debug], capture_output=True, text=True).stdout.splitlines():
    f = l.split()
    if f and f[0] == "LOAD":
        loads.append((int(f[1], 16), int(f[2], 16), int(f[4], 16)))
ok = bad = 0
for path, off, frames in entries:
    if path != recorded:
        continue
    vaddr = next((off - o + v for o, v, size in loads if o <= off < o + size), None)
    out = subprocess.run(["addr2line", "-f", "-i", "-C", "-e", debug, hex(vaddr)], capture_output=True,
                         text=True).stdout.split("\n")
    want = [(out[i], out[i + 1].split(" (discriminator")[0].rsplit(":", 1)[-1]) for i in range(0, len(out) - 1, 2)]
    if want and all(n == "??" for n, _ in want):
        want = []  # neither knows it
    if want == frames:
        ok += 1
    else:
        bad += 1
        print("MISMATCH %#x: smolder %s addr2line %s" % (vaddr, frames, want))
print("%d addresses equal, %d differ" % (ok, bad))
sys.exit(1 if bad or ok < 5 else 0)
PYEOF
	if [ $? = 0 ]; then pass "$4: $(tail -1 "$TMP/cmp")"; else fail "$4: $(tail -4 "$TMP/cmp")"; fi
}

"$SMOLDER" record -q -F 999 -o "$TMP/inline.smolder" -- "$bin" 2 > /dev/null || fail "record inline: $?"
compare_with_addr2line "$TMP/inline.smolder" "$bin" "$bin" "names, inline chains and lines vs addr2line"
# C: an inlined static function keeps its own name (C names are not mangled).
"$SMOLDER" record -q --view offcpu -o "$TMP/c.smolder" -- "$WORKLOADS/offcpu" 1 > /dev/null || fail "record offcpu: $?"
compare_with_addr2line "$TMP/c.smolder" "$WORKLOADS/offcpu" "$WORKLOADS/offcpu" "C, with an inlined static function"
# Split DWARF (-gsplit-dwarf, compressed skeleton): the functions are in the
# .dwo file; the same code built without it is addr2line's reference (BFD
# does not read .dwo files).
mkdir -p "$TMP/split"
for split in -gsplit-dwarf ""; do
	(cd "$TMP/split" && g++ -O2 -g $split -gz -std=c++17 -o "inline$split" "$top_srcdir/tests/workloads/inline.cc") ||
		fail "g++ $split"
done
if [ -f "$TMP/split/inline.dwo" ] || ls "$TMP/split/"*.dwo > /dev/null 2>&1; then
	"$SMOLDER" record -q -F 999 -o "$TMP/split.smolder" -- "$TMP/split/inline-gsplit-dwarf" 1 > /dev/null
	compare_with_addr2line "$TMP/split.smolder" "$TMP/split/inline-gsplit-dwarf" "$TMP/split/inline" "split DWARF"
else
	fail "g++ -gsplit-dwarf wrote no .dwo file: $(ls "$TMP/split")"
fi

# Lambdas' bodies in the DIEs of the functions they are written in, a free
# function and a member function defined in its class (found only by the
# walk of functions within functions' code).
"$SMOLDER" record -q -F 999 --unwind dwarf -o "$TMP/lambda.smolder" -- "$WORKLOADS/lambda" 1 > /dev/null ||
	fail "record lambda: $?"
compare_with_addr2line "$TMP/lambda.smolder" "$WORKLOADS/lambda" "$WORKLOADS/lambda" "a lambda nested in its function's DIE"
# Two frames: the lambda (DWARF's "operator()") and mix() inlined in it (named,
# as addr2line names an innermost static function, by the ELF symbol).
"$SMOLDER" fold "$TMP/lambda.smolder" | grep -q ';operator();spin(unsigned long, double)::{lambda(unsigned long)#1}::operator()(unsigned long) const ' &&
	pass "the nested lambda is a frame, with the function inlined in it" ||
	fail "nested lambda: $("$SMOLDER" fold "$TMP/lambda.smolder" | sort -k2 -n | tail -3)"
"$SMOLDER" fold "$TMP/lambda.smolder" | grep -q ';mixer::spin(unsigned long, double)::{lambda(unsigned long)#1}::operator()(unsigned long) const;mixer::spin(unsigned long, double)::{lambda(unsigned long)#1}::operator()(unsigned long) const ' &&
	pass "a member function's lambda is a frame, with the function inlined in it" ||
	fail "member's lambda: $("$SMOLDER" fold "$TMP/lambda.smolder" | sort -k2 -n | tail -3)"
"$SMOLDER" fold "$TMP/inline.smolder" > "$TMP/inline.folded"
chain='main;unsigned long outer::inner::churn<1>(unsigned long);outer::inner::churn<1>(unsigned long)::{lambda(unsigned long)#1}::operator()(unsigned long) const;outer::inner::mix_middle(unsigned long);outer::inner::mix_leaf(unsigned long, unsigned int)'
s=$(awk -v c="$chain" '{ n = $NF; t += n; if (index($0, c)) h += n } END { printf "%.1f", 100 * h / t }' "$TMP/inline.folded")
awk -v s="$s" 'BEGIN { exit !(s > 20) }' && pass "inlined frames stand as their own frames ($s% under churn<1>'s inline chain)" ||
	fail "inline chain missing: $(sort -t' ' -k2 -n "$TMP/inline.folded" | tail -2)"

# Separate debug info: stripped copies, found by .gnu_debuglink and by build-id.
mkdir -p "$TMP/link" "$TMP/debug"
cp "$bin" "$TMP/link/inline"
objcopy --only-keep-debug "$TMP/link/inline" "$TMP/link/inline.debug"
strip --strip-all "$TMP/link/inline"
objcopy --add-gnu-debuglink="$TMP/link/inline.debug" "$TMP/link/inline"
readelf -S "$TMP/link/inline" | grep -q debug_info && fail "the stripped copy still has DWARF"
"$SMOLDER" record -q -F 999 -o "$TMP/link.smolder" -- "$TMP/link/inline" 2 > /dev/null
compare_with_addr2line "$TMP/link.smolder" "$TMP/link/inline" "$bin" "stripped, debuglink"
# Its DWARF stripped, its symbol table kept (gdb's recipe), the debug file
# compressed beside it: found by the DWARF's search, as the symbol table's
# has nothing to look for.
mkdir -p "$TMP/symtab"
cp "$bin" "$TMP/symtab/inline"
strip --strip-debug "$TMP/symtab/inline"
objcopy --compress-debug-sections=zlib "$TMP/link/inline.debug" "$TMP/symtab/inline.debug"
objcopy --add-gnu-debuglink="$TMP/symtab/inline.debug" "$TMP/symtab/inline"
readelf -S "$TMP/symtab/inline" | grep -q '\.symtab' || fail "strip --strip-debug dropped the symbol table"
"$SMOLDER" record -q -F 999 -o "$TMP/symtab.smolder" -- "$TMP/symtab/inline" 2 > /dev/null
compare_with_addr2line "$TMP/symtab.smolder" "$TMP/symtab/inline" "$bin" "DWARF stripped, symbol table kept, compressed debug file by debuglink"
id=$(readelf -n "$bin" | awk '/Build ID/ { print $3 }')
mkdir -p "$TMP/debug/.build-id/${id:0:2}" "$TMP/byid"
cp "$TMP/link/inline.debug" "$TMP/debug/.build-id/${id:0:2}/${id:2}.debug"
cp "$bin" "$TMP/byid/inline"
strip --strip-all "$TMP/byid/inline"
SMOLDER_DEBUGINFO_PATH="$TMP/debug" "$SMOLDER" record -q -F 999 -o "$TMP/byid.smolder" -- "$TMP/byid/inline" 2 > /dev/null
compare_with_addr2line "$TMP/byid.smolder" "$TMP/byid/inline" "$bin" "stripped, by build-id"
"$SMOLDER" info "$TMP/byid.smolder" | grep -q "byid/inline build-id $id" && pass "the mapping's build-id is recorded" ||
	fail "build-id $id not recorded"

# Compressed DWARF (as in Debian's -dbg packages and -gz builds), which
# smolder inflates itself: in the binary, and in a debug file by debuglink.
mkdir -p "$TMP/gz"
objcopy --compress-debug-sections=zlib "$bin" "$TMP/gz/inline"
readelf -SW "$TMP/gz/inline" | grep '\.debug_info' | grep -q ' C ' || fail "objcopy left the DWARF uncompressed"
"$SMOLDER" record -q -F 999 -o "$TMP/gz.smolder" -- "$TMP/gz/inline" 2 > /dev/null
compare_with_addr2line "$TMP/gz.smolder" "$TMP/gz/inline" "$bin" "compressed DWARF"
cp "$TMP/link/inline" "$TMP/gz/stripped"
objcopy --compress-debug-sections=zlib "$TMP/link/inline.debug" "$TMP/gz/inline.debug"
objcopy --remove-section=.gnu_debuglink --add-gnu-debuglink="$TMP/gz/inline.debug" "$TMP/gz/stripped"
"$SMOLDER" record -q -F 999 -o "$TMP/gzlink.smolder" -- "$TMP/gz/stripped" 2 > /dev/null
compare_with_addr2line "$TMP/gzlink.smolder" "$TMP/gz/stripped" "$bin" "stripped, compressed debug file by debuglink"
# The image of inflated DWARF is kept by build-id for the next run, which
# loads it (the same file: no new one renamed over it) and names the same;
# one cut short (a full disk, a crash) is made again; none is kept where
# the cache cannot be made, or with SMOLDER_CACHE_DIR empty.
gzid=$(readelf -n "$TMP/gz/inline" | awk '/Build ID/ { print $3 }')
kept=$TMP/cache/dwarf-1/$gzid.dwarf
if [ -s "$kept" ]; then
	pass "the inflated DWARF is kept by build-id ($(stat -c %s "$kept") bytes)"
else
	fail "no image kept as $kept: $(ls -R "$TMP/cache" 2>&1 | head -5)"
fi
inode=$(stat -c %i "$kept" 2> /dev/null)
"$SMOLDER" record -q -F 999 -o "$TMP/gzkept.smolder" -- "$TMP/gz/inline" 2 > /dev/null
compare_with_addr2line "$TMP/gzkept.smolder" "$TMP/gz/inline" "$bin" "compressed DWARF, its image loaded from the cache"
[ "$(stat -c %i "$kept" 2> /dev/null)" = "$inode" ] && pass "the kept image was loaded, not made again" ||
	fail "the kept image was replaced: it was not loaded"
size=$(stat -c %s "$kept")
truncate -s $((size / 2)) "$kept"
"$SMOLDER" record -q -F 999 -o "$TMP/gzcut.smolder" -- "$TMP/gz/inline" 2 > "$TMP/gzcut.err"
compare_with_addr2line "$TMP/gzcut.smolder" "$TMP/gz/inline" "$bin" "compressed DWARF, its kept image cut short"
[ "$(stat -c %s "$kept")" = "$size" ] && ! grep -q smolder "$TMP/gzcut.err" &&
	pass "an image cut short is made again and kept whole, silently" ||
	fail "image cut short: now $(stat -c %s "$kept") bytes (was $size); stderr: $(head -3 "$TMP/gzcut.err")"
touch "$TMP/notadir"
SMOLDER_CACHE_DIR=$TMP/notadir "$SMOLDER" record -q -F 999 -o "$TMP/gznodir.smolder" -- "$TMP/gz/inline" 2 > /dev/null 2> "$TMP/gznodir.err"
compare_with_addr2line "$TMP/gznodir.smolder" "$TMP/gz/inline" "$bin" "compressed DWARF, a cache that cannot be made"
! grep -q smolder "$TMP/gznodir.err" && pass "a cache that cannot be made is not an error" ||
	fail "a cache that cannot be made: $(head -3 "$TMP/gznodir.err")"
rm -rf "$TMP/nocache"
HOME=$TMP/nocache SMOLDER_CACHE_DIR= "$SMOLDER" record -q -F 999 -o "$TMP/gznone.smolder" -- "$TMP/gz/inline" 1 > /dev/null
[ ! -e "$TMP/nocache" ] && pass "SMOLDER_CACHE_DIR empty: nothing kept" || fail "SMOLDER_CACHE_DIR empty, yet $(find "$TMP/nocache" | head -3)"
# Unset, the cache is in HOME's .cache, but only in a HOME of the user's
# own: root under sudo keeps the user's HOME, and leaves nothing there.
mkdir -p "$TMP/ownhome" "$TMP/otherhome"
env -u SMOLDER_CACHE_DIR -u XDG_CACHE_HOME HOME="$TMP/ownhome" \
	"$SMOLDER" record -q -F 999 -o "$TMP/gzhome.smolder" -- "$TMP/gz/inline" 1 > /dev/null 2>&1
[ -s "$TMP/ownhome/.cache/smolder/dwarf-1/$gzid.dwarf" ] && pass "unset: kept under HOME/.cache/smolder" ||
	fail "unset: nothing kept under HOME/.cache/smolder: $(find "$TMP/ownhome" | head -5)"
if [ "$(id -u)" = 0 ]; then
	chown nobody "$TMP/otherhome"
	env -u SMOLDER_CACHE_DIR -u XDG_CACHE_HOME HOME="$TMP/otherhome" \
		"$SMOLDER" record -q -F 999 -o "$TMP/gzother.smolder" -- "$TMP/gz/inline" 1 > /dev/null 2>&1
	[ -z "$(ls -A "$TMP/otherhome")" ] && pass "a HOME of another user's is left alone" ||
		fail "root left files in another user's HOME: $(find "$TMP/otherhome" | head -3)"
fi
# DWARF 4, compressed, built from a relative path: the line tables smolder
# reads while the DWARF is inflated name files in the CU's DW_AT_comp_dir
# (directory 0 before DWARF 5), joined when the CU takes its table.
mkdir -p "$TMP/gz4/src"
cp "$top_srcdir/tests/workloads/inline.cc" "$TMP/gz4/src/"
(cd "$TMP/gz4/src" && g++ -O2 -g -gdwarf-4 -gz -o ../inline inline.cc) || fail "g++ -gdwarf-4 -gz"
"$SMOLDER" record -q -F 999 -o "$TMP/gz4.smolder" -- "$TMP/gz4/inline" 2 > /dev/null
compare_with_addr2line "$TMP/gz4.smolder" "$TMP/gz4/inline" "$TMP/gz4/inline" "DWARF 4, compressed"
"$SMOLDER" info --locations "$TMP/gz4.smolder" | grep -q " $TMP/gz4/src/inline.cc:[0-9]" &&
	pass "DWARF 4 file names joined with the CU's directory" ||
	fail "DWARF 4 file names: $("$SMOLDER" info --locations "$TMP/gz4.smolder" | grep -m3 'inline.cc')"

# debuginfod: the debug file only on a server (debuginfod -F over a directory,
# on loopback), fetched by build-id when DEBUGINFOD_URLS names it.
if "$SMOLDER" --version | grep -q '^debuginfod: yes' && command -v debuginfod > /dev/null; then
	mkdir -p "$TMP/srv" "$TMP/nodebug"
	cp "$TMP/link/inline.debug" "$TMP/srv/"
	port=$((20000 + RANDOM % 20000))
	debuginfod -F "$TMP/srv" -p "$port" -d "$TMP/debuginfod.sqlite" > "$TMP/debuginfod.log" 2>&1 &
	server=$!
	for _ in $(seq 100); do
		curl -sf -o /dev/null "http://127.0.0.1:$port/buildid/$id/debuginfo" && break
		sleep 0.2
	done
	SMOLDER_DEBUGINFO_PATH="$TMP/nodebug" DEBUGINFOD_URLS="http://127.0.0.1:$port" \
		DEBUGINFOD_CACHE_PATH="$TMP/dcache" "$SMOLDER" record -q -F 999 -o "$TMP/dinfod.smolder" -- "$TMP/byid/inline" 2 > /dev/null
	compare_with_addr2line "$TMP/dinfod.smolder" "$TMP/byid/inline" "$bin" "stripped, debug file from debuginfod"
	SMOLDER_DEBUGINFO_PATH="$TMP/nodebug" DEBUGINFOD_URLS= "$SMOLDER" record -q -F 999 -o "$TMP/nodinfod.folded" \
		-- "$TMP/byid/inline" 1 > /dev/null
	grep -q churn "$TMP/nodinfod.folded" && fail "without DEBUGINFOD_URLS the stripped binary still got names" ||
		pass "without DEBUGINFOD_URLS no server is asked: the stripped binary keeps raw addresses"
	kill "$server"
	wait "$server" 2> /dev/null
elif [ "${SMOLDER_REQUIRE_PERF:-0}" = 1 ]; then
	fail "debuginfod test not run: $("$SMOLDER" --version | tail -1); debuginfod server: $(command -v debuginfod || echo missing)"
else
	echo "note: debuginfod test not run (smolder built without libdebuginfod, or no debuginfod server)" >&2
fi

# JIT code named from /tmp/perf-PID.map; another user's map is not trusted.
"$SMOLDER" record -q -F 999 -o "$TMP/jit.folded" -- "$WORKLOADS/jit" 2 > "$TMP/jit.out"
rm -f "$(head -1 "$TMP/jit.out")"
s=$(share "$TMP/jit.folded" ';jit_hot_loop$')
awk -v s="$s" 'BEGIN { exit !(s > 50) }' && pass "JIT frames named from the map ($s%)" || fail "JIT frames: $s%"
if [ "$(id -u)" = 0 ] && id nobody > /dev/null 2>&1; then
	"$SMOLDER" record -q -F 999 -o "$TMP/jit2.folded" -- "$WORKLOADS/jit" 1 "$(id -u nobody)" > "$TMP/jit.out"
	rm -f "$(head -1 "$TMP/jit.out")"
	s=$(share "$TMP/jit2.folded" 'jit_hot_loop')
	a=$(share "$TMP/jit2.folded" ';\[anon\]\+0x')
	[ "$s" = 0.0 ] && awk -v a="$a" 'BEGIN { exit !(a > 50) }' &&
		pass "a map owned by another user is ignored (its code stays [anon]+0x..., $a%)" ||
		fail "another user's JIT map: named $s%, unnamed $a%"
fi

# Kernel frames, named from /proc/kallsyms.
"$SMOLDER" record -q -F 999 --kernel -o "$TMP/k.smolder" -- dd if=/dev/zero of=/dev/null bs=64k count=300000 2> /dev/null
"$SMOLDER" info --locations "$TMP/k.smolder" | awk '/^\[kernel.kallsyms\]/ { getline; print $1 }' | sort -u > "$TMP/knames"
n=$(wc -l < "$TMP/knames")
found=$(awk '{ print $3 }' /proc/kallsyms | sort -u | comm -12 - "$TMP/knames" | wc -l)
[ "$n" -gt 3 ] && [ "$found" = "$n" ] && pass "kernel: $n frames, all named from kallsyms" ||
	fail "kernel frames: $found of $n named from kallsyms"
finish
