/* Demangling C++ (Itanium ABI) and Rust (legacy and v0) names, through
 * libiberty: the demangler binutils uses, with its recursion limit kept on
 * (names have been crafted that overflow __cxa_demangle's stack). */
#include <libiberty/demangle.h>
#include <stdlib.h>
#include <string.h>

#include "symbolizer/symbolizer.h"

#define DEMANGLE_MAX_INPUT 16384 /* longer names are left as they are */

char *symbol_demangle(const char *name)
{
	size_t n = strlen(name);
	if (n < 3 || n > DEMANGLE_MAX_INPUT)
		return NULL;
	/* Only what looks mangled: "_Z..." (C++, Rust legacy), "_R..." (Rust v0). */
	if (!(name[0] == '_' && (name[1] == 'Z' || name[1] == 'R')))
		return NULL;
	/* DMGL_AUTO tries Rust first (legacy Rust names are valid C++ names
	 * too), then the Itanium ABI. */
	return cplus_demangle(name, DMGL_PARAMS | DMGL_ANSI | DMGL_AUTO);
}
