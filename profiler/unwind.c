/* DWARF CFI unwinding of the stack copies perf hands us, through libunwind's
 * remote interface: our accessors serve registers and stack words from the
 * sample, and everything else (CFI tables, code) from the mapped files,
 * which are mapped into our memory once and kept. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <libunwind.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "profiler/unwind.h"

/* Not in libunwind's public headers, but exported (perf uses it too). */
extern int UNW_OBJ(dwarf_search_unwind_table)(unw_addr_space_t as, unw_word_t ip, unw_dyn_info_t *di,
					      unw_proc_info_t *pi, int need_unwind_info, void *arg);

/* libunwind built without its per-thread cache (Debian's) takes a lock
 * around each use of its caches, and masks every signal while it holds it:
 * two sigprocmask calls a frame, a system call each, which were most of
 * the unwinding's cost (1 us each on a virtual machine).  The mask guards
 * a signal handler that would unwind locally while the lock is held; ours
 * never unwind, and the worker unwinds remote copies only.  So this
 * definition, which the dynamic linker binds libunwind's calls to, skips
 * the mask on a thread while it unwinds, and is pthread_sigmask (glibc's
 * own sigprocmask) otherwise.  Per thread by nature: a static. */
static __thread bool unwinding;

int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
	if (unwinding)
		return 0;
	int e = pthread_sigmask(how, set, old);
	if (e) {
		errno = e;
		return -1;
	}
	return 0;
}

#define MAX_UNWIND_STEPS 512
#define MAX_FILE_SIZE (2ull << 30)

/* libunwind's register numbers that index the slot table. */
#define UNWIND_REGS_MAX 64

/* An ELF file mapped read-only, with what the unwinder needs of it. */
struct elf_image {
	char *key;           /* "pid:path" it was opened as */
	uint64_t last_used;  /* the unwinder's tick when a process's modules last took it */
	const uint8_t *data;
	size_t size;
	bool ok;
	const Elf64_Phdr *phdr;
	uint32_t phnum;
	/* Its .eh_frame_hdr's search table, where it has one in the usual
	 * encodings (0: none), or else an index of its .eh_frame of ours. */
	uint64_t eh_frame_hdr_vaddr;
	uint32_t eh_frame_hdr_count;
	struct eh_frame_index index;
	uint64_t min_vaddr, max_vaddr;
};

/* Where one file's image sits in one process. */
struct module {
	uint64_t start, end; /* addresses of the image */
	int64_t bias;        /* address = vaddr + bias */
	struct elf_image *img;
};

struct process_modules {
	pid_t pid;
	uint32_t generation;
	struct module *mods;
	uint32_t count;
};

/* An unwind is a function of the registers and stack words it reads, the
 * CFI and module bytes being fixed for one generation of a process's
 * modules: a sample at the same IP and SP (and copy length) whose registers
 * and stack words match all that an earlier unwind read gets that unwind's
 * frames without unwinding again.  Samples from one call site (a syscall in
 * a loop, a hot loop) hit it again and again. */
#define MEMO_SLOTS 1024
/* Stacks at one IP and SP (calls from sibling functions whose frames are of
 * one size) take turns in a set of ways: direct-mapped, two that alternate
 * were unwound in full every time. */
#define MEMO_WAYS 4
#define MEMO_READS 128
#define MEMO_FRAMES 128

/* What a lookup compares before a memo's reads: the keys of a set's ways
 * are on two cache lines of their own (32 KiB for all), so that a lookup
 * reads one memo's lines at most, and forgetting a process reads no memo. */
struct memo_key {
	uint64_t ip, sp;
	uint32_t stack_len; /* copies longer are not memoized */
	pid_t pid;
	uint32_t generation;
	uint32_t stamp; /* new at each unwind the memo takes; 0: empty */
};
_Static_assert(sizeof(struct memo_key) * MEMO_WAYS == 128, "a set's keys on two cache lines");

struct unwind_memo {
	struct unwind_result r;
	uint32_t nreads, nframes;
	struct unwind_read reads[MEMO_READS];
	uint64_t frames[MEMO_FRAMES];
};

struct unwinder {
	unw_addr_space_t as;
	/* libunwind caches what it parsed of the CFI by address: valid for one
	 * process's modules at a time. */
	pid_t cached_pid;
	uint32_t cached_generation;
	struct vec images; /* struct elf_image *, each owned here */
	uint32_t image_cap; /* at most this many: the least recently used go */
	const char *agent_path; /* libsmolder-agent.so (borrowed); NULL: none */
	uint64_t tick;      /* bumped by each rebuild of a process's modules */
	uint64_t evicted;   /* images evicted so far */
	struct vec procs; /* struct process_modules */
	struct memo_key *keys;     /* MEMO_SLOTS of them, sets MEMO_WAYS apart */
	struct unwind_memo *memos; /* MEMO_SLOTS of them; NULL: every stack is unwound */
	uint32_t memo_victim;      /* the way a new unwind takes when its set is full, in turn */
	uint32_t memo_stamp;       /* the last memo_key.stamp given */
	/* Where each register is in a sample's register array (-1: not sampled),
	 * by libunwind's number, and the stack and instruction pointers'. */
	int8_t slot_of[UNWIND_REGS_MAX];
	int8_t sp_slot, ip_slot;
};

/* One unwind in progress: what the accessors read from, and what they read. */
struct unwind_ctx {
	struct unwinder *u;
	const struct process_modules *pmods;
	const uint64_t *regs;
	const uint8_t *stack;
	uint64_t stack_len, sp;
	bool overran;
	struct unwind_memo *log; /* NULL: not memoized */
	bool log_full;
	/* While libunwind searches an index of ours (a file with no
	 * .eh_frame_hdr): it reads the table at INDEX_ADDR. */
	const struct eh_frame_index *index;
};

/* Where libunwind is told an index of ours is: not canonical, so never an
 * address of the target's. */
#define INDEX_ADDR 0x4000000000000000ull

static void memo_log(struct unwind_ctx *c, uint64_t where, uint64_t value)
{
	if (!c->log)
		return;
	if (c->log->nreads == MEMO_READS)
		c->log_full = true;
	else
		c->log->reads[c->log->nreads++] = (struct unwind_read){ where, value };
}

/* ---- ELF images ---- */

/* The .eh_frame_hdr at ph, if in the usual encodings (eh_frame_ptr
 * pcrel|sdata4, fde_count udata4, table datarel|sdata4: what every linker
 * writes) and its count within it; else the image is taken to have none. */
static void hdr_table(struct elf_image *img, const Elf64_Phdr *ph)
{
	if (ph->p_offset > img->size || ph->p_filesz > img->size - ph->p_offset || ph->p_filesz < 12)
		return;
	const uint8_t *b = img->data + ph->p_offset;
	uint32_t count;
	if (b[0] != 1 || b[1] != 0x1b || b[2] != 0x03 || b[3] != 0x3b)
		return;
	memcpy(&count, b + 8, 4);
	if ((uint64_t)count * 8 > ph->p_filesz - 12)
		return;
	img->eh_frame_hdr_vaddr = ph->p_vaddr;
	img->eh_frame_hdr_count = count;
}

static bool elf_image_parse(struct elf_image *img)
{
	if (img->size < sizeof(Elf64_Ehdr))
		return false;
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)img->data;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_phentsize != sizeof(Elf64_Phdr))
		return false;
	/* Aligned, as every linker writes it: the headers are read in place. */
	if (eh->e_phoff % 8 || eh->e_phoff > img->size ||
	    (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > img->size - eh->e_phoff)
		return false;
	img->phdr = (const Elf64_Phdr *)(img->data + eh->e_phoff);
	img->phnum = eh->e_phnum;
	img->min_vaddr = UINT64_MAX;
	for (uint32_t i = 0; i < img->phnum; i++) {
		const Elf64_Phdr *ph = &img->phdr[i];
		if (ph->p_type == PT_LOAD) {
			if (ph->p_vaddr < img->min_vaddr)
				img->min_vaddr = ph->p_vaddr;
			if (ph->p_vaddr + ph->p_memsz > img->max_vaddr)
				img->max_vaddr = ph->p_vaddr + ph->p_memsz;
		} else if (ph->p_type == PT_GNU_EH_FRAME) {
			hdr_table(img, ph);
		}
	}
	if (img->min_vaddr == UINT64_MAX)
		return false;
	if (!img->eh_frame_hdr_vaddr)
		eh_frame_index_build(&img->index, img->data, img->size);
	return true;
}

/* fd if it is the file mapped (its build-id, where the mapping has one),
 * else -1 (fd closed). */
static int if_mapped(int fd, const char *build_id)
{
	char found[2 * BUILD_ID_MAX + 1] = "";
	if (fd >= 0 && *build_id)
		read_build_id(fd, found, sizeof(found));
	if (fd < 0 || !*build_id || !*found || strcmp(found, build_id) == 0)
		return fd;
	close(fd);
	return -1;
}

/* The file a mapping maps, the way every mapped file is opened.  The agent
 * handed to a container (a memfd) is our own agent file byte for byte:
 * there where the process's mappings cannot be opened (its main thread has
 * exited, and map_files with it). */
static int open_mapped(const struct unwinder *u, pid_t pid, const struct map_entry *e, const char *path,
		       const char *build_id)
{
	for (int way = 0; way < MAPPED_FILE_WAYS; way++) {
		int fd = if_mapped(open_mapped_file(pid, path, e->start, e->end, (enum mapped_file_way)way, NULL, 0),
				   build_id);
		if (fd >= 0)
			return fd;
	}
	return u->agent_path && strcmp(path, AGENT_MEMFD_PATH) == 0
		       ? if_mapped(open(u->agent_path, O_RDONLY | O_CLOEXEC), build_id)
		       : -1;
}

static void image_free(struct elf_image *img)
{
	if (img->data)
		munmap((void *)img->data, img->size);
	eh_frame_index_release(&img->index);
	free(img->key);
	free(img);
}

/* Makes room for one image: the least recently used goes, unless the
 * modules being built now took it; the processes whose modules point at it
 * rebuild theirs at their next sample (and libunwind's cache, which holds
 * CFI read from it, is flushed). */
static void evict_image(struct unwinder *u)
{
	struct elf_image **images = u->images.data;
	uint32_t oldest = UINT32_MAX;
	for (uint32_t i = 0; i < u->images.count; i++)
		if (images[i]->last_used < u->tick && (oldest == UINT32_MAX || images[i]->last_used < images[oldest]->last_used))
			oldest = i;
	if (oldest == UINT32_MAX)
		return; /* all in use by one process: over the cap for a while */
	struct elf_image *img = images[oldest];
	struct process_modules *procs = u->procs.data;
	for (uint32_t i = 0; i < u->procs.count; i++)
		for (uint32_t m = 0; m < procs[i].count; m++)
			if (procs[i].mods[m].img == img) {
				procs[i].count = 0; /* no module points at it any more */
				procs[i].generation--; /* rebuilt at the next sample */
				break;
			}
	u->cached_pid = 0;
	image_free(img);
	images[oldest] = images[--u->images.count];
	u->evicted++;
}

/* Images are shared by build-id (every process mapping libc uses one), or
 * else kept per process and path. */
static struct elf_image *image_get(struct unwinder *u, pid_t pid, const struct map_entry *e, const char *path,
				   const char *build_id)
{
	char key[4200];
	if (*build_id)
		snprintf(key, sizeof(key), "build-id:%s", build_id);
	else
		snprintf(key, sizeof(key), "%d:%s", (int)pid, path);
	struct elf_image **images = u->images.data;
	for (uint32_t i = 0; i < u->images.count; i++)
		if (strcmp(images[i]->key, key) == 0) {
			images[i]->last_used = u->tick;
			return images[i];
		}
	if (u->images.count >= u->image_cap)
		evict_image(u);
	struct elf_image *img = calloc(1, sizeof(*img));
	if (!img)
		return NULL;
	img->key = strdup(key);
	int fd = open_mapped(u, pid, e, path, build_id);
	struct stat st;
	if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
	    (uint64_t)st.st_size < MAX_FILE_SIZE) {
		void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map != MAP_FAILED) {
			img->data = map;
			img->size = (size_t)st.st_size;
			img->ok = elf_image_parse(img);
		}
	}
	if (fd >= 0)
		close(fd);
	struct elf_image **slot = vec_push(&u->images, sizeof(*slot));
	if (!slot) {
		if (img->data)
			munmap((void *)img->data, img->size);
		free(img->key);
		free(img);
		return NULL;
	}
	*slot = img;
	img->last_used = u->tick;
	return img;
}

/* The process's modules, rebuilt when its mappings changed. */
static const struct process_modules *modules_of(struct unwinder *u, const struct process_maps *pm,
						const struct profile *p)
{
	struct process_modules *pmods = NULL, *procs = u->procs.data;
	for (uint32_t i = 0; i < u->procs.count; i++)
		if (procs[i].pid == pm->pid)
			pmods = &procs[i];
	if (!pmods) {
		if (!(pmods = vec_push(&u->procs, sizeof(*pmods))))
			return NULL;
		memset(pmods, 0, sizeof(*pmods));
		pmods->pid = pm->pid;
		pmods->generation = pm->generation - 1;
	}
	if (pmods->generation == pm->generation)
		return pmods;
	u->tick++;
	free(pmods->mods);
	pmods->mods = calloc(pm->count ? pm->count : 1, sizeof(*pmods->mods));
	pmods->count = 0;
	pmods->generation = pm->generation;
	if (!pmods->mods)
		return pmods;
	for (uint32_t i = 0; i < pm->count; i++) {
		const struct map_entry *e = &pm->entries[i];
		const struct mapping *pmap = profile_mapping(p, e->mapping);
		const char *path = string_table_get(&p->strings, pmap->path);
		struct elf_image *img = image_get(u, pm->pid, e, path, string_table_get(&p->strings, pmap->build_id));
		if (!img || !img->ok)
			continue;
		/* The load segment holding this mapping's file offset gives the bias. */
		for (uint32_t k = 0; k < img->phnum; k++) {
			const Elf64_Phdr *ph = &img->phdr[k];
			if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
				continue;
			if (e->pgoff < (ph->p_offset & ~0xfffull) || e->pgoff >= ph->p_offset + ph->p_filesz)
				continue;
			int64_t bias = (int64_t)(e->start - e->pgoff + ph->p_offset - ph->p_vaddr);
			struct module *m = &pmods->mods[pmods->count++];
			m->img = img;
			m->bias = bias;
			m->start = img->min_vaddr + (uint64_t)bias;
			m->end = img->max_vaddr + (uint64_t)bias;
			break;
		}
	}
	return pmods;
}

static const struct module *module_at(const struct process_modules *pmods, uint64_t addr)
{
	for (uint32_t i = 0; i < pmods->count; i++)
		if (addr >= pmods->mods[i].start && addr < pmods->mods[i].end)
			return &pmods->mods[i];
	return NULL;
}

/* Reads 8 bytes of the image at an address of the target; false if the
 * address is not backed by the file. */
static bool module_read(const struct module *m, uint64_t addr, unw_word_t *out)
{
	uint64_t vaddr = addr - (uint64_t)m->bias;
	for (uint32_t k = 0; k < m->img->phnum; k++) {
		const Elf64_Phdr *ph = &m->img->phdr[k];
		if (ph->p_type != PT_LOAD || vaddr < ph->p_vaddr || vaddr + 8 > ph->p_vaddr + ph->p_filesz)
			continue;
		uint64_t off = vaddr - ph->p_vaddr + ph->p_offset;
		if (off + 8 > m->img->size)
			return false;
		memcpy(out, m->img->data + off, 8);
		return true;
	}
	return false;
}

/* ---- libunwind accessors ---- */

static int find_proc_info(unw_addr_space_t as, unw_word_t ip, unw_proc_info_t *pi, int need_unwind_info,
			  void *arg)
{
	struct unwind_ctx *c = arg;
	const struct module *m = module_at(c->pmods, ip);
	if (!m)
		return -UNW_ENOINFO;
	unw_dyn_info_t di;
	memset(&di, 0, sizeof(di));
	di.start_ip = m->start;
	di.end_ip = m->end;
	di.format = UNW_INFO_FORMAT_REMOTE_TABLE;
	const struct elf_image *img = m->img;
	if (img->eh_frame_hdr_vaddr) {
		uint64_t hdr = img->eh_frame_hdr_vaddr + (uint64_t)m->bias;
		di.u.rti.segbase = hdr;
		di.u.rti.table_data = hdr + 12;
		di.u.rti.table_len = img->eh_frame_hdr_count * 8 / sizeof(unw_word_t);
		return UNW_OBJ(dwarf_search_unwind_table)(as, ip, &di, pi, need_unwind_info, arg);
	}
	if (!img->index.count)
		return -UNW_ENOINFO;
	di.u.rti.segbase = img->index.base + (uint64_t)m->bias;
	di.u.rti.table_data = INDEX_ADDR;
	di.u.rti.table_len = img->index.count * 8 / sizeof(unw_word_t);
	c->index = &img->index;
	int rc = UNW_OBJ(dwarf_search_unwind_table)(as, ip, &di, pi, need_unwind_info, arg);
	c->index = NULL;
	return rc;
}

static void put_unwind_info(unw_addr_space_t as, unw_proc_info_t *pi, void *arg)
{
	(void)as;
	(void)pi;
	(void)arg;
}

static int get_dyn_info_list_addr(unw_addr_space_t as, unw_word_t *dil, void *arg)
{
	(void)as;
	(void)dil;
	(void)arg;
	return -UNW_ENOINFO;
}

static int access_mem(unw_addr_space_t as, unw_word_t addr, unw_word_t *valp, int write, void *arg)
{
	(void)as;
	struct unwind_ctx *c = arg;
	if (write)
		return -UNW_EINVAL;
	if (addr >= c->sp && addr < c->sp + c->stack_len) {
		uint64_t off = addr - c->sp;
		if (off + 8 > c->stack_len) {
			c->overran = true;
			return -UNW_EINVAL;
		}
		memcpy(valp, c->stack + off, 8);
		memo_log(c, addr, *valp);
		return 0;
	}
	const struct module *m = module_at(c->pmods, addr);
	if (m && module_read(m, addr, valp))
		return 0;
	/* Last, off the path of the stack's and the files' reads. */
	if (c->index && addr - INDEX_ADDR <= (uint64_t)c->index->count * 8 - 8) {
		memcpy(valp, (const uint8_t *)c->index->pairs + (addr - INDEX_ADDR), 8);
		return 0;
	}
	/* Above the copy but plausibly stack: the copy was too short. */
	if (addr >= c->sp + c->stack_len && addr < c->sp + c->stack_len + (8u << 20))
		c->overran = true;
	return -UNW_EINVAL;
}

static int access_reg(unw_addr_space_t as, unw_regnum_t regnum, unw_word_t *valp, int write, void *arg)
{
	(void)as;
	struct unwind_ctx *c = arg;
	if (write)
		return -UNW_EREADONLYREG;
	int i = regnum >= 0 && regnum < UNWIND_REGS_MAX ? c->u->slot_of[regnum] : -1;
	if (i < 0)
		return -UNW_EBADREG;
	*valp = c->regs[i];
	memo_log(c, UNWIND_READ_REG | (uint64_t)i, *valp);
	return 0;
}

static int access_fpreg(unw_addr_space_t as, unw_regnum_t num, unw_fpreg_t *val, int write, void *arg)
{
	(void)as;
	(void)num;
	(void)val;
	(void)write;
	(void)arg;
	return -UNW_EINVAL;
}

static int resume(unw_addr_space_t as, unw_cursor_t *cu, void *arg)
{
	(void)as;
	(void)cu;
	(void)arg;
	return -UNW_EINVAL;
}

static int get_proc_name(unw_addr_space_t as, unw_word_t addr, char *buf, size_t len, unw_word_t *offp,
			 void *arg)
{
	(void)as;
	(void)addr;
	(void)buf;
	(void)len;
	(void)offp;
	(void)arg;
	return -UNW_EINVAL;
}

struct unwinder *unwinder_new(uint32_t image_cap, const char *agent_path)
{
	struct unwinder *u = calloc(1, sizeof(*u));
	if (!u)
		return NULL;
	u->image_cap = image_cap;
	u->agent_path = agent_path;
	/* Copied into the address space: no table outlives this call. */
	unw_accessors_t accessors = {
		.find_proc_info = find_proc_info,
		.put_unwind_info = put_unwind_info,
		.get_dyn_info_list_addr = get_dyn_info_list_addr,
		.access_mem = access_mem,
		.access_reg = access_reg,
		.access_fpreg = access_fpreg,
		.resume = resume,
		.get_proc_name = get_proc_name,
	};
	u->as = unw_create_addr_space(&accessors, 0);
	if (!u->as) {
		free(u);
		return NULL;
	}
	/* Parsing the CFI of every frame of every sample again is most of the
	 * unwinding's cost; the cache is flushed whenever the modules it was
	 * filled from change (see unwind_user_stack).  Only the worker thread
	 * unwinds: a per-thread cache needs no lock where libunwind has one
	 * (Debian's does not, and takes the global cache's lock, with signals
	 * masked, around each step). */
	unw_set_caching_policy(u->as, UNW_CACHE_PER_THREAD);
	u->keys = aligned_alloc(MEMO_WAYS * sizeof(*u->keys), MEMO_SLOTS * sizeof(*u->keys));
	u->memos = u->keys ? calloc(MEMO_SLOTS, sizeof(*u->memos)) : NULL;
	if (u->keys)
		memset(u->keys, 0, MEMO_SLOTS * sizeof(*u->keys));
	uint64_t mask = arch_unwind_regs_mask();
	for (int r = 0; r < UNWIND_REGS_MAX; r++) {
		int perf = arch_perf_reg_of_unwind(r);
		u->slot_of[r] = (int8_t)(perf < 0 ? -1 : regs_index(mask, (unsigned)perf));
	}
	u->sp_slot = (int8_t)regs_index(mask, arch_perf_reg(ARCH_REG_SP));
	u->ip_slot = (int8_t)regs_index(mask, arch_perf_reg(ARCH_REG_IP));
	return u;
}

void unwinder_free(struct unwinder *u)
{
	if (!u)
		return;
	unw_destroy_addr_space(u->as);
	struct elf_image **images = u->images.data;
	for (uint32_t i = 0; i < u->images.count; i++)
		image_free(images[i]);
	vec_release(&u->images);
	struct process_modules *procs = u->procs.data;
	for (uint32_t i = 0; i < u->procs.count; i++)
		free(procs[i].mods);
	vec_release(&u->procs);
	free(u->memos);
	free(u->keys);
	free(u);
}

uint64_t unwind_evicted(const struct unwinder *u)
{
	return u->evicted;
}

void unwind_forget_process(struct unwinder *u, pid_t pid)
{
	struct process_modules *procs = u->procs.data;
	for (uint32_t i = 0; i < u->procs.count; i++)
		if (procs[i].pid == pid)
			procs[i].generation--; /* rebuilt from the new mappings */
}

void unwind_drop_process(struct unwinder *u, pid_t pid)
{
	struct process_modules *procs = u->procs.data;
	for (uint32_t i = 0; i < u->procs.count; i++)
		if (procs[i].pid == pid) {
			free(procs[i].mods);
			procs[i] = procs[--u->procs.count];
			break;
		}
	/* A new process may come with that pid, and its first generations. */
	if (u->cached_pid == pid)
		u->cached_pid = 0;
	for (uint32_t i = 0; u->memos && i < MEMO_SLOTS; i++)
		if (u->keys[i].pid == pid)
			u->keys[i].stamp = 0;
}

/* Whether k is of an unwind of pid's stack at ip and sp, of this copy length. */
static bool memo_is_of(const struct memo_key *k, pid_t pid, uint64_t ip, uint64_t sp, uint64_t stack_len)
{
	return k->stamp && k->pid == pid && k->ip == ip && k->sp == sp && k->stack_len == stack_len;
}

/* The index of the first of the set of MEMO_WAYS memos a stack at ip and sp may be in. */
static uint32_t memo_set(pid_t pid, uint64_t ip, uint64_t sp)
{
	uint64_t sets = MEMO_SLOTS / MEMO_WAYS;
	return (uint32_t)(hash_u64(ip ^ hash_u64(sp ^ ((uint64_t)pid << 32))) % sets * MEMO_WAYS);
}

void unwind_prefetch(const struct unwinder *u, pid_t pid, uint64_t ip, uint64_t sp, const uint8_t *stack,
		     uint64_t stack_len)
{
	if (!u->memos)
		return;
	uint32_t set = memo_set(pid, ip, sp);
	const struct unwind_memo *m = NULL;
	for (uint32_t w = 0; w < MEMO_WAYS && !m; w++)
		if (memo_is_of(&u->keys[set + w], pid, ip, sp, stack_len))
			m = &u->memos[set + w];
	if (!m)
		return;
	uint64_t line = UINT64_MAX;
	for (uint32_t i = 0; i < m->nreads; i++) {
		uint64_t where = m->reads[i].where;
		if (!(where & UNWIND_READ_REG) && where / 64 != line) {
			line = where / 64;
			__builtin_prefetch(stack + (where - sp));
		}
	}
}

static bool memo_matches(const struct memo_key *k, const struct unwind_memo *m, const struct unwind_ctx *c,
			 uint64_t ip)
{
	if (!memo_is_of(k, c->pmods->pid, ip, c->sp, c->stack_len) || k->generation != c->pmods->generation)
		return false;
	for (uint32_t i = 0; i < m->nreads; i++) {
		uint64_t where = m->reads[i].where, v;
		if (where & UNWIND_READ_REG)
			v = c->regs[where & ~UNWIND_READ_REG];
		else
			memcpy(&v, c->stack + (where - c->sp), 8); /* in the copy: same sp and length */
		if (v != m->reads[i].value)
			return false;
	}
	return true;
}

/* The frames of memo i, and its result. */
static uint32_t memo_result(const struct unwinder *u, uint32_t i, uint64_t *frames, uint32_t max,
			    struct unwind_result *r)
{
	const struct unwind_memo *m = &u->memos[i];
	uint32_t n = m->nframes < max ? m->nframes : max;
	memcpy(frames, m->frames, n * sizeof(*frames));
	*r = m->r;
	r->reads = m->reads;
	r->nreads = m->nreads;
	r->memo = i;
	r->memo_stamp = u->keys[i].stamp;
	return n;
}

/* libunwind's steps from the sampled registers; frames[0] is already set. */
static uint32_t unwind_steps(struct unwinder *u, struct unwind_ctx *c, uint64_t *frames, uint32_t max,
			     struct unwind_result *r)
{
	uint32_t n = 1;
	unw_cursor_t cursor;
	r->broken = true; /* until the outermost frame is reached */
	unwinding = true;
	if (unw_init_remote(&cursor, u->as, c) < 0) {
		unwinding = false;
		return n;
	}
	for (int steps = 0; steps < MAX_UNWIND_STEPS && n < max; steps++) {
		int s = unw_step(&cursor);
		if (s < 0) {
			r->truncated = c->overran;
			r->broken = !c->overran;
			break;
		}
		unw_word_t ip;
		if (s == 0) {
			r->broken = false;
			break;
		}
		if (unw_get_reg(&cursor, UNW_REG_IP, &ip) < 0)
			break;
		if (ip == 0) { /* a zero return address ends a stack too */
			r->broken = false;
			break;
		}
		frames[n++] = ip - 1;
	}
	unwinding = false;
	if (n == max)
		r->broken = false; /* full: as deep as a stack is kept */
	return n;
}

uint32_t unwind_user_stack(struct unwinder *u, const struct process_maps *pm, const struct profile *p,
			   const uint64_t *regs, const uint8_t *stack, uint64_t stack_len,
			   const struct unwind_known *known, uint64_t *frames, uint32_t max, struct unwind_result *r)
{
	memset(r, 0, sizeof(*r));
	if (!max || !pm)
		return 0;
	struct unwind_ctx c = { .u = u, .regs = regs, .stack = stack, .stack_len = stack_len };
	c.sp = regs[u->sp_slot];
	c.pmods = modules_of(u, pm, p);
	uint64_t ip = regs[u->ip_slot];
	frames[0] = ip;
	if (!c.pmods) {
		r->broken = true;
		return 1;
	}
	if (c.pmods->pid != u->cached_pid || c.pmods->generation != u->cached_generation) {
		unw_flush_cache(u->as, 0, 0);
		u->cached_pid = c.pmods->pid;
		u->cached_generation = c.pmods->generation;
	}
	struct unwind_memo *m = NULL;
	struct memo_key *k = NULL;
	if (u->memos && stack_len <= UINT32_MAX) {
		uint32_t set = memo_set(c.pmods->pid, ip, c.sp);
		if (known && known->stamp && known->memo / MEMO_WAYS == set / MEMO_WAYS &&
		    u->keys[known->memo].stamp == known->stamp &&
		    memo_is_of(&u->keys[known->memo], c.pmods->pid, ip, c.sp, stack_len) &&
		    u->keys[known->memo].generation == c.pmods->generation)
		{
			uint32_t n = memo_result(u, known->memo, frames, max, r);
			r->known = true;
			return n;
		}
		for (uint32_t w = 0; w < MEMO_WAYS; w++)
			if (memo_matches(&u->keys[set + w], &u->memos[set + w], &c, ip))
				return memo_result(u, set + w, frames, max, r);
		/* This unwind's reads go to a free way, or the next in turn,
		 * which holds it if they fit. */
		uint32_t way = MEMO_WAYS;
		for (uint32_t w = 0; w < MEMO_WAYS && way == MEMO_WAYS; w++)
			if (!u->keys[set + w].stamp)
				way = w;
		if (way == MEMO_WAYS)
			way = u->memo_victim++ % MEMO_WAYS;
		k = &u->keys[set + way];
		m = &u->memos[set + way];
		k->stamp = 0;
		m->nreads = 0;
		c.log = m;
	}
	uint32_t n = unwind_steps(u, &c, frames, max, r);
	if (k && !c.log_full && n <= MEMO_FRAMES) {
		u->memo_stamp = u->memo_stamp + 1 ? u->memo_stamp + 1 : 1;
		*k = (struct memo_key){ ip, c.sp, (uint32_t)stack_len, c.pmods->pid, c.pmods->generation, u->memo_stamp };
		m->r = *r;
		m->nframes = n;
		memcpy(m->frames, frames, n * sizeof(*frames));
		r->reads = m->reads;
		r->nreads = m->nreads;
		r->memo = (uint32_t)(k - u->keys);
		r->memo_stamp = k->stamp;
	}
	return n;
}
