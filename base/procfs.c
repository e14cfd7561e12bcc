/* /proc: small settings, thread names, liveness, and the one policy for
 * opening the file that a process mapped. */
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/base.h"

bool read_proc_int(const char *path, long *out)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	bool ok = fscanf(f, "%ld", out) == 1;
	fclose(f);
	return ok;
}

bool read_comm(pid_t pid, pid_t tid, char *buf, size_t len)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", (int)pid, (int)tid);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	bool ok = fgets(buf, (int)len, f) != NULL;
	fclose(f);
	if (ok)
		buf[strcspn(buf, "\n")] = '\0';
	return ok;
}

/* A task's stat fields after the name, from the state on (a name may hold
 * a ')' too: the last one ends it); NULL if it is gone.  tid 0: the
 * process's own /proc/PID/stat. */
static const char *task_stat_fields(pid_t pid, pid_t tid, char *buf, size_t len)
{
	char path[64];
	if (tid)
		snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)tid);
	else
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return NULL;
	size_t n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *paren = strrchr(buf, ')');
	return paren && paren[1] == ' ' ? paren + 2 : NULL;
}

static const char *stat_fields(pid_t pid, char *buf, size_t len)
{
	return task_stat_fields(pid, 0, buf, len);
}

static bool state_exited(const char *state)
{
	return !state || *state == 'Z' || *state == 'X';
}

/* The main thread may exit (pthread_exit) while the others run on: it
 * stays a zombie, counted in Threads, until the last of them exits. */
bool process_alive(pid_t pid)
{
	char buf[512];
	return !state_exited(stat_fields(pid, buf, sizeof(buf))) || process_status_field(pid, "Threads: %d") > 1;
}

bool process_exited_unreaped(pid_t pid, pid_t *parent)
{
	char buf[512];
	const char *state = stat_fields(pid, buf, sizeof(buf));
	if (!state || !state_exited(state) || process_status_field(pid, "Threads: %d") > 1)
		return false;
	int ppid = 0;
	sscanf(state + 1, " %d", &ppid);
	*parent = (pid_t)ppid;
	return true;
}

bool thread_exited(pid_t pid, pid_t tid)
{
	char buf[512];
	return state_exited(task_stat_fields(pid, tid, buf, sizeof(buf)));
}

void proc_dir(pid_t pid, char *buf, size_t len)
{
	snprintf(buf, len, "/proc/%d", (int)pid);
	char fields[512];
	if (!state_exited(stat_fields(pid, fields, sizeof(fields))))
		return;
	snprintf(fields, sizeof(fields), "/proc/%d/task", (int)pid);
	DIR *d = opendir(fields);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		pid_t tid = (pid_t)atoi(e->d_name);
		if (tid > 0 && tid != pid && !thread_exited(pid, tid)) {
			snprintf(buf, len, "/proc/%d/task/%d", (int)pid, (int)tid);
			break;
		}
	}
	if (d)
		closedir(d);
}

FILE *proc_maps_open(pid_t pid)
{
	char dir[64], path[80];
	proc_dir(pid, dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/maps", dir);
	return fopen(path, "re");
}

bool process_stopped(pid_t pid)
{
	char buf[512];
	const char *state = stat_fields(pid, buf, sizeof(buf));
	return state && (*state == 'T' || *state == 't');
}

uint64_t process_start_stack(pid_t pid)
{
	char buf[1024];
	const char *p = stat_fields(pid, buf, sizeof(buf));
	/* startstack is field 28; the state is field 3. */
	for (int field = 3; p && field < 28; field++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	return p ? strtoull(p, NULL, 10) : 0;
}

bool process_owner(pid_t pid, uid_t *uid)
{
	char path[32];
	struct stat st;
	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	if (stat(path, &st) != 0)
		return false;
	*uid = st.st_uid;
	return true;
}

int process_status_field(pid_t pid, const char *format)
{
	char path[64], line[128];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "re");
	int value = -1;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, format, &value) == 1)
			break;
	if (f)
		fclose(f);
	return value;
}

int process_pidfd(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* path inside the root of a process (its directory in /proc, proc_dir),
 * resolved as if that root were "/". */
static int open_in_root(const char *proc, const char *path)
{
	char root[80];
	snprintf(root, sizeof(root), "%s/root", proc);
	int dir = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return -errno;
	struct open_how how = { .flags = O_RDONLY | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT };
	int fd = (int)syscall(SYS_openat2, dir, path, &how, sizeof(how));
	int e = errno;
	close(dir);
	/* Before Linux 5.6 there is no safe way to resolve inside a root:
	 * refuse rather than follow a container's symlinks on the host. */
	return fd >= 0 ? fd : -e;
}

/* The vDSO has no file: a copy of this process's (the kernel maps the same
 * image into every process of an architecture) in a memfd.  The fd, or
 * -errno. */
static int open_vdso(void)
{
	const uint8_t *image = (const uint8_t *)getauxval(AT_SYSINFO_EHDR);
	if (!image)
		return -ENOENT;
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)image;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64)
		return -ENOEXEC;
	/* The whole image, section headers (at its end) included, lies in the
	 * mapping: a few pages. */
	size_t size = (size_t)eh->e_shoff + (size_t)eh->e_shnum * eh->e_shentsize;
	if (size < sizeof(*eh) || size > (1u << 20))
		return -ENOEXEC;
	int fd = memfd_create("vdso", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, image, size) != (ssize_t)size || lseek(fd, 0, SEEK_SET) != 0) {
		int e = errno ? errno : EIO;
		close(fd);
		return -e;
	}
	return fd;
}

int open_mapped_file(pid_t pid, const char *path, uint64_t start, uint64_t end, enum mapped_file_way way,
		     char *name, size_t name_len)
{
	char buf[4200];
	if (!name) {
		name = buf;
		name_len = sizeof(buf);
	}
	if (strcmp(path, "[vdso]") == 0) {
		snprintf(name, name_len, "%s", path);
		return way == MAPPED_IN_ROOT ? open_vdso() : -ENOENT;
	}
	if (path[0] != '/')
		return -ENOENT;
	/* A deleted file is only what the process still maps: its path now
	 * names nothing, or something else. */
	static const char deleted[] = " (deleted)";
	size_t n = strlen(path), d = sizeof(deleted) - 1;
	if (way != MAPPED_VIA_MAP_FILES && n > d && strcmp(path + n - d, deleted) == 0)
		return -ENOENT;
	int fd;
	char dir[64] = "";
	if (pid > 0)
		proc_dir(pid, dir, sizeof(dir));
	switch (way) {
	case MAPPED_VIA_MAP_FILES:
		if (pid <= 0)
			return -ENOENT;
		snprintf(name, name_len, "%s/map_files/%llx-%llx", dir, (unsigned long long)start,
			 (unsigned long long)end);
		fd = open(name, O_RDONLY | O_CLOEXEC);
		return fd >= 0 ? fd : -errno;
	case MAPPED_IN_ROOT:
		if (pid <= 0)
			return -ENOENT;
		snprintf(name, name_len, "%s/root%s", dir, path);
		return open_in_root(dir, path);
	case MAPPED_HOST_PATH:
		snprintf(name, name_len, "%s", path);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		return fd >= 0 ? fd : -errno;
	default:
		return -EINVAL;
	}
}
