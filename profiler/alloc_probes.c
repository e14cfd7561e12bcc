/* The alloc view's probe points: the C library a process maps, and the file
 * offsets of its allocation functions, for the uprobe PMU. */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "profiler/profiler-internal.h"

static const char *const func_names[ALLOC_FUNCS] = {
	[ALLOC_MALLOC] = "malloc",
	[ALLOC_CALLOC] = "calloc",
	[ALLOC_REALLOC] = "realloc",
	[ALLOC_POSIX_MEMALIGN] = "posix_memalign",
	[ALLOC_ALIGNED_ALLOC] = "aligned_alloc",
	[ALLOC_FREE] = "free",
};

const char *alloc_func_name(enum alloc_func f)
{
	return func_names[f];
}

static const char *base_name(const char *path)
{
	const char *base = strrchr(path, '/');
	return base ? base + 1 : path;
}

/* Alpine's /lib/ld-musl-x86_64.so.1, Debian's /usr/lib/x86_64-linux-musl/libc.so:
 * the C library itself, not every file of musl's directory. */
bool alloc_is_musl(const char *path)
{
	const char *base = base_name(path);
	return strncmp(base, "ld-musl-", 8) == 0 || (strncmp(base, "libc.so", 7) == 0 && strstr(path, "-linux-musl/"));
}

bool alloc_is_libc(const char *path)
{
	const char *base = base_name(path);
	return strncmp(base, "libc.so", 7) == 0 || (strncmp(base, "libc-", 5) == 0 && strstr(base, ".so")) ||
	       alloc_is_musl(path);
}

int agent_refuse_musl(const char *libc, pid_t pid, struct profiler_error *err)
{
	if (!alloc_is_musl(libc))
		return 0;
	char what[sizeof(err->what)];
	snprintf(what, sizeof(what), "it runs on musl's C library (%.160s), and the agent is built for glibc's", libc);
	profiler_set_error(err, PROFILER_E_AGENT, 0, pid, what);
	return -1;
}

/* The C library at path, opened as fd, is the one probed. */
static void libc_opened(struct alloc_probes *ap, const char *path, int fd)
{
	snprintf(ap->path, sizeof(ap->path), "%s", path);
	ap->fd = fd;
	snprintf(ap->probe_path, sizeof(ap->probe_path), "/proc/self/fd/%d", fd);
}

/* Opens the C library pid maps, the way every mapped file is opened (inside
 * the target's root, so that a container's symlinks cannot point the
 * uprobes at the host's files). */
static int find_mapped_libc(struct alloc_probes *ap, pid_t pid)
{
	char line[4096 + 128];
	FILE *f = proc_maps_open(pid);
	if (!f)
		return errno == ENOENT ? -PROFILER_E_NO_SUCH_PROCESS : -PROFILER_E_PERMISSION;
	int r = -PROFILER_E_NO_LIBC;
	while (r && fgets(line, sizeof(line), f)) {
		unsigned long long start, end;
		char *file = strchr(line, '/');
		if (!file || sscanf(line, "%llx-%llx", &start, &end) != 2)
			continue;
		file[strcspn(file, "\n")] = '\0';
		if (!alloc_is_libc(file))
			continue;
		int fd = -ENOENT;
		for (int way = 0; way < MAPPED_FILE_WAYS && fd < 0; way++)
			fd = open_mapped_file(pid, file, start, end, (enum mapped_file_way)way, NULL, 0);
		if (fd >= 0) {
			libc_opened(ap, file, fd);
			r = 0;
		} else {
			snprintf(ap->path, sizeof(ap->path), "%s", file);
			r = fd == -EACCES || fd == -EPERM ? -PROFILER_E_PERMISSION : -PROFILER_E_NO_LIBC;
		}
	}
	fclose(f);
	return r;
}

/* A symbol's virtual address to its offset in the file, through the
 * loadable segment that holds it. */
static bool vaddr_to_offset(Elf *elf, uint64_t vaddr, uint64_t *offset)
{
	size_t n;
	if (elf_getphdrnum(elf, &n))
		return false;
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;
		if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		if (vaddr >= ph.p_vaddr && vaddr - ph.p_vaddr < ph.p_filesz) {
			*offset = vaddr - ph.p_vaddr + ph.p_offset;
			return true;
		}
	}
	return false;
}

/* The functions named in elf's .dynsym: their values, or with offsets
 * their offsets in the file. */
static void dynsym_functions(Elf *elf, const char *const *names, uint64_t *out, size_t n, bool offsets)
{
	Elf_Scn *scn = NULL;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_DYNSYM || !sh.sh_entsize)
			continue;
		Elf_Data *data = elf_getdata(scn, NULL);
		for (size_t i = 0; data && i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym sym;
			const char *name;
			if (!gelf_getsym(data, (int)i, &sym) || sym.st_shndx == SHN_UNDEF ||
			    GELF_ST_TYPE(sym.st_info) != STT_FUNC ||
			    !(name = elf_strptr(elf, sh.sh_link, sym.st_name)))
				continue;
			for (size_t f = 0; f < n; f++) {
				if (out[f] || strcmp(name, names[f]) != 0)
					continue;
				if (offsets)
					vaddr_to_offset(elf, sym.st_value, &out[f]);
				else
					out[f] = sym.st_value;
			}
		}
	}
}

void elf_function_values(int fd, const char *const *names, uint64_t *values, size_t n)
{
	memset(values, 0, n * sizeof(*values));
	Elf *elf = elf_open_fd(fd);
	if (elf) {
		dynsym_functions(elf, names, values, n, false);
		elf_end(elf);
	}
}

int alloc_probes_read_offsets(struct alloc_probes *ap)
{
	Elf *elf = ap->fd >= 0 ? elf_open_fd(ap->fd) : NULL;
	if (!elf)
		return -PROFILER_E_NO_LIBC;
	dynsym_functions(elf, func_names, ap->offset, ALLOC_FUNCS, true);
	elf_end(elf);
	/* Without malloc and free there is nothing to follow. */
	return ap->offset[ALLOC_MALLOC] && ap->offset[ALLOC_FREE] ? 0 : -PROFILER_E_NO_LIBC;
}

static const char *const agent_markers[AGENT_MARKERS] = {
	[KIND_AGENT_ALLOC - KIND_AGENT_ALLOC] = AGENT_ALLOCATED_MARKER,
	[KIND_AGENT_FREE - KIND_AGENT_ALLOC] = AGENT_FREED_MARKER,
	[KIND_AGENT_FREE_BATCH - KIND_AGENT_ALLOC] = AGENT_FREED_BATCH_MARKER,
	[KIND_AGENT_RING - KIND_AGENT_ALLOC] = AGENT_RING_MARKER,
};

const char *agent_marker_name(int kind)
{
	return is_agent_kind(kind) ? agent_markers[kind - KIND_AGENT_ALLOC] : "";
}

int agent_probes_open(struct agent_probes *ap, const char *path)
{
	return agent_probes_adopt(ap, open(path, O_RDONLY | O_CLOEXEC));
}

int agent_probes_adopt(struct agent_probes *ap, int fd)
{
	agent_probes_release(ap);
	ap->fd = fd;
	Elf *elf = ap->fd >= 0 ? elf_open_fd(ap->fd) : NULL;
	if (!elf)
		return -PROFILER_E_AGENT;
	dynsym_functions(elf, agent_markers, ap->offset, AGENT_MARKERS, true);
	elf_end(elf);
	snprintf(ap->probe_path, sizeof(ap->probe_path), "/proc/self/fd/%d", ap->fd);
	for (int i = 0; i < AGENT_MARKERS; i++)
		if (!ap->offset[i])
			return -PROFILER_E_AGENT;
	return 0;
}

void agent_probes_release(struct agent_probes *ap)
{
	if (ap->fd > 0)
		close(ap->fd);
	memset(ap, 0, sizeof(*ap));
	ap->fd = -1;
}

int alloc_probes_for_process(struct alloc_probes *ap, pid_t pid)
{
	alloc_probes_release(ap);
	int r = find_mapped_libc(ap, pid);
	return r ? r : alloc_probes_read_offsets(ap);
}

void alloc_probes_release(struct alloc_probes *ap)
{
	if (ap->fd >= 0)
		close(ap->fd);
	memset(ap, 0, sizeof(*ap));
	ap->fd = -1;
}

/* An executable's loader (PT_INTERP) into interp: 1; 0 for an ELF file
 * without one (static); -1 for anything else (a script, or anything not
 * ELF, runs under an interpreter that has one). */
static int elf_interpreter(const char *exe, char *interp, size_t len)
{
	int fd = open(exe, O_RDONLY | O_CLOEXEC);
	Elf *elf = fd >= 0 ? elf_open_fd(fd) : NULL;
	int kind = -1;
	size_t n;
	if (!elf) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (elf_kind(elf) == ELF_K_ELF && !elf_getphdrnum(elf, &n)) {
		kind = 0;
		for (size_t i = 0; i < n && !kind; i++) {
			GElf_Phdr ph;
			if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_INTERP)
				continue;
			size_t got = 0;
			char *s = elf_rawfile(elf, &got);
			kind = 1;
			interp[0] = '\0';
			if (s && ph.p_offset < got && ph.p_filesz < len && ph.p_filesz <= got - ph.p_offset) {
				memcpy(interp, s + ph.p_offset, ph.p_filesz);
				interp[ph.p_filesz] = '\0';
			}
		}
	}
	elf_end(elf);
	close(fd);
	return kind;
}

/* argv0 as execvp(3) finds it in search_path (PATH's syntax), or NULL. */
static bool find_command(const char *argv0, const char *search_path, char *out, size_t len)
{
	if (strchr(argv0, '/'))
		return (size_t)snprintf(out, len, "%s", argv0) < len;
	for (const char *dir = search_path ? search_path : "/usr/local/bin:/usr/bin:/bin"; *dir;) {
		size_t n = strcspn(dir, ":");
		if ((size_t)snprintf(out, len, "%.*s/%s", (int)n, n ? dir : ".", argv0) < len &&
		    access(out, X_OK) == 0)
			return true;
		dir += n + (dir[n] == ':');
	}
	return false;
}

int alloc_probes_for_command(struct alloc_probes *ap, const char *argv0, const char *search_path)
{
	char exe[4096], interp[4096];
	int kind = find_command(argv0, search_path, exe, sizeof(exe)) ? elf_interpreter(exe, interp, sizeof(interp)) : -1;
	alloc_probes_release(ap);
	if (kind == 0)
		return -PROFILER_E_NO_LIBC;
	/* musl's loader is its C library. */
	char *real = kind == 1 && alloc_is_musl(interp) ? realpath(interp, NULL) : NULL;
	if (real) {
		int fd = open(real, O_RDONLY | O_CLOEXEC);
		if (fd >= 0)
			libc_opened(ap, real, fd); /* named as maps will name it */
		free(real);
		return fd < 0 ? -PROFILER_E_NO_LIBC : alloc_probes_read_offsets(ap);
	}
	/* The command is not running yet: it will map the system's C library,
	 * the one this process maps. */
	return alloc_probes_for_process(ap, getpid());
}

int uprobe_pmu(uint32_t *type, uint32_t *retprobe_bit)
{
	long t;
	if (!read_proc_int("/sys/bus/event_source/devices/uprobe/type", &t))
		return -1;
	*type = (uint32_t)t;
	*retprobe_bit = 0;
	FILE *f = fopen("/sys/bus/event_source/devices/uprobe/format/retprobe", "re");
	if (f) {
		if (fscanf(f, "config:%u", retprobe_bit) != 1 || *retprobe_bit > 63)
			*retprobe_bit = 0;
		fclose(f);
	}
	return 0;
}
