/* Loads a library with dlopen after a delay, then spends its time in it.
 *   dlopen_main LIBRARY SECONDS DELAY
 * Prints "ready" before the delay, "loaded" after dlopen. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	double seconds = argc > 2 ? atof(argv[2]) : 3;
	double delay = argc > 3 ? atof(argv[3]) : 1;
	printf("ready\n");
	fflush(stdout);
	usleep((useconds_t)(delay * 1e6));
	void *lib = dlopen(argv[1], RTLD_NOW);
	if (!lib) {
		fprintf(stderr, "%s\n", dlerror());
		return 1;
	}
	void (*work)(double) = (void (*)(double))dlsym(lib, "plugin_work");
	if (!work)
		return 1;
	printf("loaded\n");
	fflush(stdout);
	work(seconds);
	return 0;
}
