/* Where a file's debug info is looked for: local debug files first (by
 * build-id under the debug path, then by .gnu_debuglink beside the file, in
 * .debug/ and under /usr/lib/debug), then debuginfod servers when built
 * with libdebuginfod and asked to.  Its state is the symbolizer's. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef HAVE_LIBDEBUGINFOD
#include <dlfcn.h>
#include <elfutils/debuginfod.h>
#endif
#include <elfutils/libdwelf.h>

#include "symbolizer/elf_file-internal.h"

#ifdef HAVE_LIBDEBUGINFOD
/* libdebuginfod is loaded only when servers are asked: linked, it would
 * bring libcurl and some thirty libraries into every start of smolder. */
struct debuginfod_lib {
	void *handle;
	debuginfod_client *client; /* one for the symbolizer: it caches answers, negative ones too */
	int (*find_debuginfo)(debuginfod_client *, const unsigned char *, int, char **);
	void (*end)(debuginfod_client *);
};

static bool debuginfod_load(struct debuginfo *d)
{
	if (d->debuginfod_tried)
		return d->debuginfod != NULL;
	d->debuginfod_tried = true;
	struct debuginfod_lib *lib = calloc(1, sizeof(*lib));
	if (!lib || !(lib->handle = dlopen("libdebuginfod.so.1", RTLD_NOW | RTLD_LOCAL))) {
		free(lib);
		return false;
	}
	debuginfod_client *(*begin)(void) = (debuginfod_client * (*)(void)) dlsym(lib->handle, "debuginfod_begin");
	lib->find_debuginfo = (int (*)(debuginfod_client *, const unsigned char *, int, char **))dlsym(
		lib->handle, "debuginfod_find_debuginfo");
	lib->end = (void (*)(debuginfod_client *))dlsym(lib->handle, "debuginfod_end");
	if (!begin || !lib->find_debuginfo || !lib->end || !(lib->client = begin())) {
		dlclose(lib->handle);
		free(lib);
		return false;
	}
	d->debuginfod = lib;
	return true;
}

/* The servers (DEBUGINFOD_URLS, which libdebuginfod reads), asked by build-id. */
static int fetch_debuginfo(struct debuginfo *d, Dwfl_Module *mod, char **debuginfo_file_name)
{
	const unsigned char *bits;
	GElf_Addr vaddr;
	int n = dwfl_module_build_id(mod, &bits, &vaddr);
	if (!d->servers || n <= 0)
		return -1;
	/* One client, and files are prepared on several threads
	 * (symbolizer.c): one question at a time. */
	pthread_mutex_lock(&d->lock);
	int fd = -1;
	if (debuginfod_load(d)) {
		struct debuginfod_lib *lib = d->debuginfod;
		fd = lib->find_debuginfo(lib->client, bits, n, debuginfo_file_name);
	}
	pthread_mutex_unlock(&d->lock);
	return fd >= 0 ? fd : -1;
}
#endif

static int find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
			  const char *file_name, const char *debuglink_file, GElf_Word debuglink_crc,
			  char **debuginfo_file_name)
{
	int fd = dwfl_standard_find_debuginfo(mod, userdata, modname, base, file_name, debuglink_file,
					      debuglink_crc, debuginfo_file_name);
#ifdef HAVE_LIBDEBUGINFOD
	struct debuginfo *d = userdata ? *userdata : NULL;
	if (fd < 0 && d)
		fd = fetch_debuginfo(d, mod, debuginfo_file_name);
#endif
	return fd;
}

/* One debuginfo_open: the finder's module points here instead of at d. */
struct debuginfo_call {
	struct debuginfo *d;
	int fd; /* what the finder found, for the caller; -1: nothing */
	bool asked; /* libdwfl ran the finder */
};

/* The finder as libdwfl asks it, the descriptor taken for debuginfo_open's
 * caller: the module is told nothing was found, so that it never holds (and
 * closes, in dwfl_end) a descriptor, and its own is -1, not the 0 that
 * libdwfl leaves in a module whose finder it never ran (dwfl_end closed
 * the process's standard input). */
static int take_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
			  const char *file_name, const char *debuglink_file, GElf_Word debuglink_crc,
			  char **debuginfo_file_name)
{
	(void)debuginfo_file_name;
	struct debuginfo_call *call = *userdata;
	void *d = call->d;
	call->asked = true;
	char *name = NULL;
	if (call->fd < 0)
		call->fd = find_debuginfo(mod, &d, modname, base, file_name, debuglink_file, debuglink_crc, &name);
	free(name);
	return -1;
}

int debuginfo_init(struct debuginfo *d, const char *path, bool servers, const char *cache_dir)
{
	memset(d, 0, sizeof(*d));
	if ((path && !(d->path = strdup(path))) || (cache_dir && !(d->cache_dir = strdup(cache_dir)))) {
		free(d->path);
		return -SYMBOLIZER_E_NOMEM;
	}
	d->servers = servers;
	d->callbacks = (Dwfl_Callbacks){
		.find_elf = dwfl_build_id_find_elf,
		.find_debuginfo = find_debuginfo,
		.section_address = dwfl_offline_section_address,
		.debuginfo_path = &d->path,
	};
	d->taking_callbacks = d->callbacks;
	d->taking_callbacks.find_debuginfo = take_debuginfo;
	pthread_mutex_init(&d->lock, NULL);
	return 0;
}

void debuginfo_release(struct debuginfo *d)
{
#ifdef HAVE_LIBDEBUGINFOD
	struct debuginfod_lib *lib = d->debuginfod;
	if (lib) {
		lib->end(lib->client);
		dlclose(lib->handle);
		free(lib);
	}
#endif
	pthread_mutex_destroy(&d->lock);
	free(d->path);
	free(d->cache_dir);
	memset(d, 0, sizeof(*d));
}

const Dwfl_Callbacks *debuginfo_callbacks(const struct debuginfo *d)
{
	return &d->callbacks;
}

void debuginfo_attach(struct debuginfo *d, Dwfl_Module *mod)
{
	void **userdata;
	if (dwfl_module_info(mod, &userdata, NULL, NULL, NULL, NULL, NULL, NULL))
		*userdata = d;
}

/* A module of its own: libdwfl's finder keeps what it opens in the module
 * it is given, which would then not load its DWARF again. */
int debuginfo_open(struct debuginfo *d, int main_fd, const char *file_name)
{
	struct debuginfo_call call = { d, -1, false };
	int dup_fd = fcntl(main_fd, F_DUPFD_CLOEXEC, 0);
	Dwfl *scratch = dup_fd >= 0 ? dwfl_begin(&d->taking_callbacks) : NULL;
	Dwfl_Module *mod = scratch ? dwfl_report_offline(scratch, "", file_name, dup_fd) : NULL;
	if (!mod && dup_fd >= 0)
		close(dup_fd); /* libdwfl owns it only once reported */
	if (scratch)
		dwfl_report_end(scratch, NULL, NULL);
	void **userdata;
	if (mod && dwfl_module_info(mod, &userdata, NULL, NULL, NULL, NULL, NULL, NULL)) {
		*userdata = &call;
		/* The symbol table's search runs take_debuginfo without loading
		 * the debug file's DWARF, which inflates every compressed section
		 * with zlib (a fifth of a short alloc recording's CPU, for
		 * libc's), only for dwarf_image to inflate them again.  A file
		 * with a symbol table of its own never asks: the DWARF's search
		 * does. */
		dwfl_module_getsymtab(mod);
		GElf_Addr bias;
		if (!call.asked)
			dwfl_module_getdwarf(mod, &bias);
	}
	if (scratch)
		dwfl_end(scratch);
	return call.fd;
}
