/* Every fuzz target defines this (libFuzzer's entry point); replay.c calls it
 * on each corpus file so that the corpora also run in `make check`. */
#ifndef SMOLDER_FUZZ_H
#define SMOLDER_FUZZ_H
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
#endif
