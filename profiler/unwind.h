/* DWARF unwinding of copied user stacks, while recording (libunwind's remote
 * interface over the sample's registers and stack bytes, with CFI from the
 * .eh_frame_hdr of each mapped file).  Private to profiler/. */
#ifndef SMOLDER_UNWIND_H
#define SMOLDER_UNWIND_H

#include <stdint.h>
#include <sys/types.h>

#include "profiler/profiler-internal.h"

struct unwinder;


/* A value an unwind read: a stack word (where: its address) or a register
 * (UNWIND_READ_REG | its place in the sample's registers). */
struct unwind_read {
	uint64_t where, value;
};
#define UNWIND_READ_REG (1ull << 63) /* never a user stack address */

struct unwind_result {
	bool truncated; /* stopped at the end of the stack copy: --stack-size too small */
	bool broken;    /* stopped before the outermost frame otherwise: no or corrupt CFI,
			 * unreadable memory, or the step bound */
	/* Every value the unwind read, in order, when it is remembered: a
	 * sample of the same process, IP, SP and copy length whose values
	 * there are equal unwinds to the same frames reading nothing else.
	 * NULL when not remembered; valid until the next unwind. */
	const struct unwind_read *reads;
	uint32_t nreads;
	/* The memo that holds it (with reads), for unwind_known. */
	uint32_t memo, memo_stamp;
	bool known; /* taken from the memo known, not compared */
};

/* A memo that a later sample is known to match (its registers and stack
 * words at the memo's reads are equal, as an agent compared them): its
 * frames are taken as they are if it still holds the same unwind. */
struct unwind_known {
	uint32_t memo, stamp; /* stamp 0: none known */
};

/* Files are found through the profile's mapping paths, given with each
 * stack; at most image_cap of them are kept (the least recently used go).
 * agent_path (borrowed; NULL: none) stands for the agent's copies in memfds. */
struct unwinder *unwinder_new(uint32_t image_cap, const char *agent_path);
/* How many files were let go to stay under the cap. */
uint64_t unwind_evicted(const struct unwinder *u);
void unwinder_free(struct unwinder *u);

/* Unwinds one sample's user stack (regs: taken with arch_unwind_regs_mask):
 * frames[0] is the sampled IP, the others
 * return addresses minus one.  Returns the number of frames written.
 * known (may be NULL): a memo the sample matches, from unwind_result. */
uint32_t unwind_user_stack(struct unwinder *u, const struct process_maps *pm, const struct profile *p,
			   const uint64_t *regs, const uint8_t *stack, uint64_t stack_len,
			   const struct unwind_known *known, uint64_t *frames, uint32_t max, struct unwind_result *r);

/* Starts fetching into the cache the stack words that unwinding this
 * sample (pid's, at ip and sp) would check against what an earlier unwind
 * read: a copy written by an agent past the caches is otherwise waited on
 * a line at a time when the sample's turn comes.  Only from the thread
 * that unwinds. */
void unwind_prefetch(const struct unwinder *u, pid_t pid, uint64_t ip, uint64_t sp, const uint8_t *stack,
		     uint64_t stack_len);

/* Drops what is cached of a process (it called exec). */
void unwind_forget_process(struct unwinder *u, pid_t pid);
/* pid exited: its modules go (the images stay, shared by build-id). */
void unwind_drop_process(struct unwinder *u, pid_t pid);

#endif
