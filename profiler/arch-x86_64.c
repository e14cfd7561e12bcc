/* What the profiler knows of x86-64, in one place: perf's register numbers
 * (asm/perf_regs.h), which of them DWARF unwinding needs and what libunwind
 * calls them, and the numbers of the system calls the io view follows. */
#include <asm/perf_regs.h>
#include <libunwind.h>
#include <stdio.h>

#include "profiler/profiler-internal.h"

static const uint8_t perf_reg_of[ARCH_REGS] = {
	[ARCH_REG_IP] = PERF_REG_X86_IP,   [ARCH_REG_SP] = PERF_REG_X86_SP,
	[ARCH_REG_RET] = PERF_REG_X86_AX,  [ARCH_REG_ARG0] = PERF_REG_X86_DI,
	[ARCH_REG_ARG1] = PERF_REG_X86_SI, [ARCH_REG_ARG2] = PERF_REG_X86_DX,
	[ARCH_REG_ARG3] = PERF_REG_X86_CX,
};

unsigned arch_perf_reg(enum arch_reg r)
{
	return perf_reg_of[r];
}

/* libunwind's numbers of the registers CFI may name, and perf's. */
static const struct {
	int8_t unw, perf;
} unwind_regs[] = {
	{ UNW_X86_64_RAX, PERF_REG_X86_AX }, { UNW_X86_64_RDX, PERF_REG_X86_DX },
	{ UNW_X86_64_RCX, PERF_REG_X86_CX }, { UNW_X86_64_RBX, PERF_REG_X86_BX },
	{ UNW_X86_64_RSI, PERF_REG_X86_SI }, { UNW_X86_64_RDI, PERF_REG_X86_DI },
	{ UNW_X86_64_RBP, PERF_REG_X86_BP }, { UNW_X86_64_RSP, PERF_REG_X86_SP },
	{ UNW_X86_64_R8, PERF_REG_X86_R8 },  { UNW_X86_64_R9, PERF_REG_X86_R9 },
	{ UNW_X86_64_R10, PERF_REG_X86_R10 }, { UNW_X86_64_R11, PERF_REG_X86_R11 },
	{ UNW_X86_64_R12, PERF_REG_X86_R12 }, { UNW_X86_64_R13, PERF_REG_X86_R13 },
	{ UNW_X86_64_R14, PERF_REG_X86_R14 }, { UNW_X86_64_R15, PERF_REG_X86_R15 },
	{ UNW_X86_64_RIP, PERF_REG_X86_IP },
};

uint64_t arch_unwind_regs_mask(void)
{
	uint64_t m = 0;
	for (size_t i = 0; i < sizeof(unwind_regs) / sizeof(unwind_regs[0]); i++)
		m |= 1ull << unwind_regs[i].perf;
	return m;
}

int arch_agent_ring_word(unsigned reg)
{
	switch (reg) {
	case PERF_REG_X86_IP: return AGENT_REG_IP;
	case PERF_REG_X86_SP: return AGENT_REG_SP;
	case PERF_REG_X86_BP: return AGENT_REG_BP;
	case PERF_REG_X86_BX: return AGENT_REG_BX;
	case PERF_REG_X86_R12: return AGENT_REG_R12;
	case PERF_REG_X86_R13: return AGENT_REG_R13;
	case PERF_REG_X86_R14: return AGENT_REG_R14;
	case PERF_REG_X86_R15: return AGENT_REG_R15;
	case PERF_REG_X86_DI: return AGENT_RING_REGS + 0;
	case PERF_REG_X86_SI: return AGENT_RING_REGS + 1;
	case PERF_REG_X86_DX: return AGENT_RING_REGS + 2;
	case PERF_REG_X86_CX: return AGENT_RING_REGS + 3;
	default: return -1;
	}
}

int arch_perf_reg_of_unwind(int unw_reg)
{
	for (size_t i = 0; i < sizeof(unwind_regs) / sizeof(unwind_regs[0]); i++)
		if (unwind_regs[i].unw == unw_reg)
			return unwind_regs[i].perf;
	return -1;
}

/* The read, write, send, recv and fsync families, and the copies that
 * move bytes without them passing through the program (cp's
 * copy_file_range, servers' sendfile, splice and its kin). */
static const struct io_syscall io_syscalls[] = {
	{ 0, "read", true },       { 1, "write", true },      { 17, "pread64", true },
	{ 18, "pwrite64", true },  { 19, "readv", true },     { 20, "writev", true },
	{ 40, "sendfile", true },  { 44, "sendto", true },    { 45, "recvfrom", true },
	{ 46, "sendmsg", true },   { 47, "recvmsg", true },   { 74, "fsync", false },
	{ 75, "fdatasync", false }, { 275, "splice", true },  { 276, "tee", true },
	{ 278, "vmsplice", true }, { 295, "preadv", true },   { 296, "pwritev", true },
	{ 326, "copy_file_range", true }, { 327, "preadv2", true }, { 328, "pwritev2", true },
};

bool arch_user_address(uint64_t addr)
{
	return addr && addr < (1ull << 47); /* 4-level paging's user half; 5-level's is larger */
}

const struct io_syscall *arch_io_syscall(uint64_t nr)
{
	for (size_t i = 0; i < sizeof(io_syscalls) / sizeof(io_syscalls[0]); i++)
		if (io_syscalls[i].nr == nr)
			return &io_syscalls[i];
	return NULL;
}

void arch_io_filter(char *buf, size_t len)
{
	size_t used = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(io_syscalls) / sizeof(io_syscalls[0]) && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%sid == %u", i ? " || " : "", io_syscalls[i].nr);
}
