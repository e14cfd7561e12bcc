/* agent/ring.c: the ring of samples the profiler reads from outside the
 * process (the layout is agent.h's).  Private to the agent. */
#ifndef SMOLDER_AGENT_RING_H
#define SMOLDER_AGENT_RING_H

#include <stdbool.h>
#include <stdint.h>

/* The slots' stack copy for the samples to come: stack_size bytes (0: no
 * ring, the marker tells every sample).  Tells the profiler where an
 * existing ring is.  Called by start, under its lock. */
void ring_configure(uint32_t stack_size);

/* Writes a sample (the allocated marker's four arguments) with the
 * registers and stack of the function calling it, and of its callers:
 * false when the ring cannot take it (none, full, or a stack whose bounds
 * are unknown), and the caller calls the marker instead. */
bool ring_write_sample(const uint64_t args[4]);

/* In the child after fork: the ring copied from the parent is dropped, and
 * a ring of its own is made at its first sample. */
void ring_after_fork(void);

/* At exit: waits (briefly) while a profiler reading the ring has samples
 * left to read, which would go with the process's memory. */
void ring_wait_read(void);

#endif
