/* libdeepwork.so: CPU time inside a shared library, -fomit-frame-pointer. */
static volatile unsigned long sink;

__attribute__((noipa)) static void lib_inner(unsigned units)
{
	unsigned long x = sink;
	for (unsigned long i = 0; i < units * 100000ul; i++)
		x = x * 6364136223846793005ul + 1442695040888963407ul;
	sink = x;
}

void lib_burn(unsigned units)
{
	lib_inner(units);
	__asm__ volatile("");
}
