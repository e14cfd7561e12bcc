/* A "JIT": copies a busy loop into anonymous executable memory, describes it
 * in /tmp/perf-PID.map as jit_hot_loop, and spends its time there; prints
 * the map's path first (the caller removes it).
 *   jit SECONDS [chown-uid]   (with a uid, the map file is given to that user) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* mov ecx, 2000000; 1: dec ecx; jnz 1b; ret */
static const unsigned char code[] = { 0xb9, 0x80, 0x84, 0x1e, 0x00, 0xff, 0xc9, 0x75, 0xfc, 0xc3 };

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 2;
	unsigned char *mem = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return 1;
	memcpy(mem + 64, code, sizeof(code));
	char path[64];
	snprintf(path, sizeof(path), "/tmp/perf-%d.map", (int)getpid());
	FILE *f = fopen(path, "w");
	if (!f)
		return 1;
	fprintf(f, "%lx %zx jit_hot_loop\n", (unsigned long)(mem + 64), sizeof(code));
	fclose(f);
	if (argc > 2 && chown(path, (uid_t)atoi(argv[2]), (gid_t)atoi(argv[2])) != 0)
		return 1;
	void (*fn)(void) = (void (*)(void))(mem + 64);
	printf("%s\nready\n", path);
	fflush(stdout);
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		fn();
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (t.tv_sec - t0.tv_sec + (t.tv_nsec - t0.tv_nsec) / 1e9 < seconds);
	/* The map stays, as JITs leave it: profilers read it after the fact. */
	return 0;
}
