/* The agent's own code, built into this test (so that its statics are
 * reachable) and, in the sanitizer build, under ASan and UBSan: its numbers
 * against libm, random sequences of calls through its hooks from several
 * threads with every block's contents checked, its live set left empty, and
 * the GOT entries it changes in libc put back by stop. */
#include <check.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "agent/agent.c"
#include "agent/draws.c"
#include "agent/modules.c"
#include "agent/ring.c"

START_TEST(test_numbers_match_libm)
{
	for (double x = 1e-12; x <= 1; x *= 1.37)
		ck_assert_double_eq_tol(log_of(x), log(x), 1e-9 * (1 + fabs(log(x))));
	for (double x = 1e-9; x < 800; x *= 1.21)
		ck_assert_double_eq_tol(one_minus_exp_neg(x), -expm1(-x), 1e-12 + 1e-9 * -expm1(-x));
	double sum = 0;
	for (int i = 0; i < 100000; i++)
		sum += (double)round_at_random(2.25);
	ck_assert_double_eq_tol(sum / 100000, 2.25, 0.02);
}
END_TEST

START_TEST(test_live_set_one_entry_per_address)
{
	uintptr_t p = 0x7f0000001230, q = p + 16;
	ck_assert(live_insert(p));
	ck_assert(live_insert(p)); /* freed unseen, then sampled again at the same address */
	ck_assert(live_insert(q));
	ck_assert(live_remove(p));
	ck_assert(!live_remove(p));
	ck_assert(live_remove(q));
	for (uint32_t i = 0; i < 1u << LIVE_FILTER_BITS; i++)
		ck_assert_uint_eq(agent.live_filter[i], 0);
}
END_TEST

/* Two thirds full, every block has room, and is found and taken out; the
 * set is empty again after, with nothing left behind to search through.
 * Blocks 64 MiB apart (another arena's, another thread's) count in
 * other lines of the hint and the filter. */
START_TEST(test_live_set_fills_and_empties)
{
	enum { N = 44000 };
	uint64_t x = 88172645463325252ull;
	static uintptr_t blocks[N];
	for (int round = 0; round < 3; round++) {
		for (uint32_t i = 0; i < N; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			blocks[i] = (uintptr_t)(x & 0x7ffffffffff0) | 0x10;
			ck_assert(live_insert(blocks[i]));
		}
		ck_assert_uint_eq(agent.live_dropped, 0);
		for (uint32_t i = 0; i < N; i++)
			ck_assert(live_may_contain(blocks[i]));
		for (uint32_t i = 0; i < N; i++)
			ck_assert(live_remove(blocks[i]));
		for (uint32_t i = 0; i < LIVE_SLOTS; i++)
			ck_assert(agent.live[i] == 0);
		for (uint32_t i = 0; i < 1u << LIVE_HINT_BITS; i++)
			ck_assert_uint_eq(agent.live_hint[i], 0);
	}
	uintptr_t p = 0x7f0000001230, far = p + (64u << 20);
	ck_assert_uint_ne(hint_index(p) / 32, hint_index(far) / 32); /* 32 counts a line */
	uint64_t h = live_hash(p);
	ck_assert_ptr_ne(live_filter_of(p, h), live_filter_of(far, h));
}
END_TEST

/* A block's first bytes say its size and owner: checked before each free. */
static void stamp(unsigned char *p, size_t n, unsigned char tag)
{
	memset(p, tag, n < 64 ? n : 64);
}

static bool stamped(const unsigned char *p, size_t n, unsigned char tag)
{
	for (size_t i = 0; i < (n < 64 ? n : 64); i++)
		if (p[i] != tag)
			return false;
	return true;
}

#define BLOCKS 512
struct block {
	void *p;
	size_t n;
	unsigned char tag;
};

/* One random call through the hooks: allocate into an empty slot, or
 * check and free (or grow) a full one. */
static void random_call(struct block *b, unsigned *seed)
{
	unsigned r = rand_r(seed);
	size_t n = (r >> 8) % 4 == 0 ? (size_t)(r >> 4) % 65536 : (size_t)(r >> 4) % 256;
	unsigned char tag = (unsigned char)(r | 1);
	if (b->p) {
		ck_assert(stamped(b->p, b->n, b->tag));
		if (r % 3 == 0 && n) {
			b->p = hook_realloc(b->p, n);
			ck_assert_ptr_nonnull(b->p);
			b->n = n;
			stamp(b->p, n, b->tag);
		} else {
			hook_free(b->p);
			b->p = NULL;
		}
		return;
	}
	switch (r % 6) {
	case 0: b->p = hook_malloc(n); break;
	case 1: b->p = hook_calloc(1 + n % 7, n / 7 + 1); n = (1 + n % 7) * (n / 7 + 1); break;
	case 2: ck_assert_int_eq(hook_posix_memalign(&b->p, 64, n + 1), 0); n++; break;
	case 3: b->p = hook_aligned_alloc(32, (n + 31) & ~(size_t)31); n = (n + 31) & ~(size_t)31; break;
	case 4: b->p = hook_memalign(128, n + 1); n++; break;
	default:
#ifndef __SANITIZE_ADDRESS__ /* ASan's calloc aborts on it */
		ck_assert_ptr_null(hook_calloc(SIZE_MAX / 2, 4)); /* overflows: no block, no sample */
#endif
		return;
	}
	if (n)
		ck_assert_ptr_nonnull(b->p);
	b->n = n;
	b->tag = tag;
	if (b->p)
		stamp(b->p, n, tag);
}

static struct block shared[BLOCKS];
static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;

static void *fuzz_thread(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	for (int i = 0; i < 200000; i++) {
		struct block *b = &shared[rand_r(&seed) % BLOCKS];
		pthread_mutex_lock(&shared_lock);
		random_call(b, &seed);
		pthread_mutex_unlock(&shared_lock);
	}
	return NULL;
}

static void assert_live_set_empty(void)
{

	for (uint32_t i = 0; i < 1u << LIVE_FILTER_BITS; i++)
		ck_assert_uint_eq(agent.live_filter[i], 0);
	for (uint32_t i = 0; i < LIVE_SLOTS; i++)
		ck_assert(agent.live[i] == 0);
}

START_TEST(test_fuzzed_calls_from_threads)
{
	/* The hooks called directly, with no GOT changed: libc's own blocks
	 * would otherwise be sampled and live in the set too. */
	ck_assert(resolve_real());
	unsigned long long adds = 0;
	dl_iterate_phdr(count_loads, &adds);
	atomic_store(&agent.modules_seen, adds); /* so that no sample patches a GOT */
	atomic_store(&agent.rate, 4096);
	pthread_t t[4];
	for (uintptr_t i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, fuzz_thread, (void *)(i + 1)), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < BLOCKS; i++)
		if (shared[i].p) {
			ck_assert(stamped(shared[i].p, shared[i].n, shared[i].tag));
			hook_free(shared[i].p);
		}
	ck_assert_uint_eq(agent.live_dropped, 0);
	ck_assert_uint_gt(agent.freed_head, 100); /* sampled blocks' frees went through the ring */
	drain_frees(true);
	ck_assert_uint_eq(agent.freed_tail, agent.freed_head);
	assert_live_set_empty();
	atomic_store(&agent.rate, 0);
}
END_TEST

/* The profiler's side of the ring, in-process: every written slot checked
 * and given back, as smolder's reader does from outside. */
struct ring_check {
	_Atomic bool stop;
	uint64_t read, bad;
};

static bool slot_sane(const struct agent_ring_header *r, const struct agent_ring_slot *s, uint64_t ticket)
{
	uintptr_t ip = (uintptr_t)s->regs[AGENT_REG_IP], fn = (uintptr_t)ring_write_sample;
	return s->seq == ticket + 1 && s->tid != 0 && s->time != 0 && ip > fn && ip < fn + 4096 &&
	       s->stack_len > 0 && s->stack_len <= r->stack_size && s->args[1] > 0 && (s->args[3] & 0xff) < AGENT_FUNCS &&
	       s->regs[AGENT_REG_SP] != 0;
}

static void *ring_reader(void *arg)
{
	struct ring_check *c = arg;
	for (;;) {
		bool last = atomic_load(&c->stop);
		struct agent_ring_header *r = atomic_load(&rings.ring);
		if (r) {
			__atomic_store_n(&r->read_ns, now_ns(), __ATOMIC_RELEASE);
			uint64_t t = __atomic_load_n(&r->tail, __ATOMIC_RELAXED);
			for (;; t++) {
				struct agent_ring_slot *s = slot_at(r, t);
				if (__atomic_load_n(&s->seq, __ATOMIC_ACQUIRE) != t + 1)
					break;
				c->bad += !slot_sane(r, s, t);
				c->read++;
			}
			__atomic_store_n(&r->tail, t, __ATOMIC_RELEASE);
		}
		if (last)
			return NULL;
		struct timespec pause = { 0, 1000000 };
		nanosleep(&pause, NULL);
	}
}

START_TEST(test_ring_takes_samples_from_threads)
{
	ck_assert(resolve_real());
	unsigned long long adds = 0;
	dl_iterate_phdr(count_loads, &adds);
	atomic_store(&agent.modules_seen, adds);
	ring_configure(4096);
	atomic_store(&agent.rate, 4096);
	struct ring_check c = { 0 };
	pthread_t reader, t[4];
	ck_assert_int_eq(pthread_create(&reader, NULL, ring_reader, &c), 0);
	for (uintptr_t i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, fuzz_thread, (void *)(i + 11)), 0);
	fuzz_thread((void *)99); /* the main thread's stack too */
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	atomic_store(&agent.rate, 0);
	atomic_store(&c.stop, true);
	pthread_join(reader, NULL);
	struct agent_ring_header *r = atomic_load(&rings.ring);
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(r->magic, AGENT_RING_MAGIC);
	ck_assert_uint_eq(r->pid, (uint64_t)getpid());
	ck_assert_uint_gt(c.read, 1000);
	ck_assert_uint_eq(c.bad, 0);
	ck_assert_uint_eq(r->head, r->tail);
	for (int i = 0; i < BLOCKS; i++)
		if (shared[i].p) {
			hook_free(shared[i].p);
			shared[i].p = NULL;
		}
	drain_frees(true);
	ring_configure(0);
}
END_TEST

START_TEST(test_full_ring_without_reader_falls_back)
{
	ring_configure(1024);
	uint64_t args[4] = { 0x1000, 16, 16, 1 << 8 };
	struct agent_ring_header *r = NULL;
	int written = 0;
	while (ring_write_sample(args))
		written++;
	r = atomic_load(&rings.ring);
	ck_assert_ptr_nonnull(r);
	/* No profiler read it lately: no wait, the marker takes the rest. */
	ck_assert_int_eq(written, (int)(r->head - r->tail));
	ck_assert_uint_eq(r->head - r->tail, r->nslots);
	ck_assert_uint_ge(r->full, 1);
	ck_assert(!ring_write_sample(args));
	__atomic_store_n(&r->tail, r->head, __ATOMIC_RELEASE);
	ring_configure(0);
	ck_assert(!ring_write_sample(args)); /* configured off */
}
END_TEST

/* The return addresses of the two calls below: words of the stack that
 * every sample from them has, as an unwind reads them (the other words of
 * the frames, spilled values, change from call to call). */
static uintptr_t returns[2];

/* One call site, so that every sample from it has the same IP and SP. */
static __attribute__((noinline)) bool write_here(const uint64_t args[4])
{
	returns[0] = (uintptr_t)__builtin_return_address(0);
	bool ok = ring_write_sample(args);
	__asm__ volatile("" ::: "memory"); /* not a tail call */
	return ok;
}

static __attribute__((noinline)) bool write_from_here(const uint64_t args[4])
{
	returns[1] = (uintptr_t)__builtin_return_address(0);
	bool ok = write_here(args);
	__asm__ volatile("" ::: "memory");
	return ok;
}

/* A slot's stack copy, in the current ring. */
static uint8_t *copy_of(const struct agent_ring_slot *s)
{
	struct agent_ring_header *r = atomic_load(&rings.ring);
	return stack_at(r, (uint64_t)(s - slot_at(r, 0)));
}

/* Writes a sample from write_here, through one call site of
 * write_from_here, gives its slot back, and returns it. */
static __attribute__((noinline)) const struct agent_ring_slot *written_slot(const uint64_t args[4])
{
	ck_assert(write_from_here(args));
	struct agent_ring_header *r = atomic_load(&rings.ring);
	const struct agent_ring_slot *s = slot_at(r, r->head - 1);
	__atomic_store_n(&r->tail, r->head, __ATOMIC_RELEASE);
	return s;
}

/* A slot's copy filled with words that say where they are, made and
 * checked out of line: a constant pattern kept in a register across the
 * sample would be in the stack it copies (a callee saves it there). */
static __attribute__((noinline)) void poison(void *copy, size_t len)
{
	for (size_t off = 0; off + 8 <= len; off += 8) {
		uint64_t w = 0x5eed5eed00000000ull | off;
		memcpy((uint8_t *)copy + off, &w, 8);
	}
}

static __attribute__((noinline)) bool poisoned(const void *copy, size_t off)
{
	uint64_t w;
	memcpy(&w, (const uint8_t *)copy + off, 8);
	return w == (0x5eed5eed00000000ull | off);
}

START_TEST(test_hint_copies_only_its_words)
{
	ring_configure(2048);
	uint64_t args[4] = { 0x1000, 16, 16, 1 << 8 };
	static uint8_t first[2048], second[2048]; /* not on the stack the samples copy */
	const struct agent_ring_slot *s = written_slot(args);
	struct agent_ring_header *r = atomic_load(&rings.ring);
	ck_assert_uint_eq(r->nhints, AGENT_RING_HINTS);
	ck_assert_uint_eq(s->sparse, 0); /* no hint yet */
	uint64_t ip = s->regs[AGENT_REG_IP], sp = s->regs[AGENT_REG_SP], len = s->stack_len;
	ck_assert_uint_ge(len, 64);
	memcpy(first, copy_of(s), len);
	s = written_slot(args);
	ck_assert_uint_eq(s->regs[AGENT_REG_SP], sp);
	memcpy(second, copy_of(s), len);

	/* A hint of the return addresses, as an unwind's, and a register. */
	struct agent_ring_hint *h = (struct agent_ring_hint *)hints_of(r) + agent_ring_hint_index(sp);
	uint32_t n = 0;
	for (uint64_t off = 0; off + 8 <= len; off += 8) {
		uint64_t w;
		memcpy(&w, first + off, 8);
		if ((w == returns[0] || w == returns[1]) && memcmp(first + off, second + off, 8) == 0)
			h->words[n++] = (struct agent_hint_word){ off, w };
	}
	ck_assert_uint_eq(n, 2);
	h->words[n++] = (struct agent_hint_word){ AGENT_HINT_REG | AGENT_REG_IP, ip };
	h->ip = ip;
	h->sp = sp;
	h->stack_len = (uint32_t)len;
	h->nwords = n;
	h->seq = 2;

	/* Matched: only the hint's words are written, the rest is as it was. */
	struct agent_ring_slot *next = slot_at(r, r->head);
	poison(copy_of(next), len);
	s = written_slot(args);
	ck_assert_ptr_eq(s, next);
	ck_assert_uint_eq(s->sparse, agent_ring_sparse(0, 2)); /* which hint, at which seq */
	ck_assert_uint_eq(s->stack_len, len);
	uint32_t words = 0;
	for (uint64_t off = 0; off < len; off += 8) {
		bool named = false;
		for (uint32_t i = 0; i < n; i++)
			named |= h->words[i].where == off;
		if (named)
			ck_assert(memcmp(copy_of(s) + off, first + off, 8) == 0);
		else
			ck_assert(poisoned(copy_of(s), off));
		words += named;
	}
	ck_assert_uint_eq(words, n - 1);

	/* Anything else is a whole copy: a value not equal, a hint being
	 * written, or one a hostile profiler wrote. */
	struct agent_ring_hint good = *h;
	for (int spoil = 0; spoil < 8; spoil++) {
		*h = good;
		switch (spoil) {
		case 0: h->words[0].value ^= 1; break;
		case 1: h->words[n - 1].value ^= 1; break; /* the register */
		case 2: h->seq = 3; break;
		case 3: h->words[1].where = len; break;
		case 4: h->words[1].where = 3; break;
		case 5: h->words[n - 1].where = AGENT_HINT_REG | 99; break;
		case 6: h->nwords = AGENT_HINT_WORDS + 1; break;
		case 7: h->nwords = 0; break;
		}
		next = slot_at(r, r->head);
		poison(copy_of(next), len);
		s = written_slot(args);
		ck_assert_msg(s->sparse == 0, "spoilt hint %d matched", spoil);
		for (uint64_t off = 0; off < len; off += 8)
			ck_assert_msg(!poisoned(copy_of(s), off),
				      "spoilt hint %d: not a whole copy (offset %d of %d)", spoil, (int)off, (int)len);
	}
	/* Another stack at this SP holds the first way: this one is found in
	 * a later way of the set. */
	h->words[0].value ^= 1;
	h[AGENT_HINT_WAYS - 1] = good;
	s = written_slot(args);
	ck_assert_uint_eq(s->sparse, agent_ring_sparse(AGENT_HINT_WAYS - 1, 2));
	ring_configure(0);
}
END_TEST

START_TEST(test_stack_bounds_from_maps)
{
	uintptr_t lo, hi;
	ck_assert_ptr_null(parse_range("7f00-", &lo, &hi));
	ck_assert_ptr_null(parse_range("zz-10 rw-p", &lo, &hi));
	ck_assert_ptr_nonnull(parse_range("1000-2000 rw-p 00000000 00:00 0", &lo, &hi));
	ck_assert(lo == 0x1000 && hi == 0x2000);
	bool found = false;
	/* A mapping that is neither the main stack nor holds the thread's
	 * descriptor (a coroutine's stack, say) is not trusted. */
	ck_assert(stack_of_line("1000-9000 rw-p 00000000 00:00 0", 0x5000, 0x20000, &found));
	ck_assert(!found);
	ck_assert(stack_of_line("1000-9000 rw-p 00000000 00:00 0", 0x5000, 0x8000, &found));
	ck_assert(found && stack_low == 0x1000 && stack_top == 0x8000);
	found = false;
	ck_assert(!stack_of_line("1000-9000 rw-p 00000000 00:00 0", 0x9000, 0x8000, &found));
	/* This thread's real stack: the copy never passes the top. */
	stack_state = 0;
	uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
	learn_stack(sp);
	ck_assert_int_eq(stack_state, 1);
	ck_assert(sp < stack_top);
	stack_state = 0;
}
END_TEST

/* A module's __thread variables, 32 KiB of them, as alloc_heavy has. */
static __thread char big_tls[32768];

static void *learn_in_thread(void *arg)
{
	uintptr_t *got = arg;
	big_tls[0] = 1;
	stack_state = 0;
	got[0] = (uintptr_t)__builtin_frame_address(0);
	learn_stack(got[0]);
	got[1] = (uintptr_t)stack_state;
	got[2] = stack_top;
	got[3] = (uintptr_t)big_tls;
	__asm__("mov %%fs:0, %0" : "=r"(got[4]));
	return NULL;
}

START_TEST(test_thread_stack_ends_below_its_tls)
{
	/* glibc puts a thread's static TLS between its stack and its
	 * descriptor: the copy, which may run to the top, stops below it. */
	uintptr_t got[5];
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, learn_in_thread, got), 0);
	pthread_join(t, NULL);
	ck_assert_int_eq((int)got[1], 1);
	ck_assert(got[0] < got[2]);
	ck_assert(got[2] <= got[3]);
	ck_assert_uint_ge(got[4] - got[2], sizeof(big_tls));
}
END_TEST

/* A child sandboxing itself through the hooks (allow-all filters here):
 * seen, and then its samples make no ring (a system call). */
static int child_sandboxed_by(int how)
{
	pid_t pid = fork();
	if (pid == 0) {
		struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
		struct sock_fprog prog = { .len = 1, .filter = &allow };
		bool seen_before = atomic_load(&agent.sandboxed);
		if (hook_prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
		    (how ? hook_syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, (long)&prog, 0, 0, 0)
			 : hook_prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, (unsigned long)&prog, 0, 0)))
			_exit(2);
		bytes_to_sample = 0; /* a sample sets it anew, to a byte or more */
		free(hook_malloc(100));
		_exit(!seen_before && atomic_load(&agent.sandboxed) && bytes_to_sample > 0 && !atomic_load(&rings.ring)
			      ? 0 : 1);
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

START_TEST(test_seccomp_seen_through_hooks)
{
	ck_assert_int_gt(smolder_agent_start(1, 4096), 0);
	ck_assert_int_eq(hook_syscall(SYS_getpid, 0, 0, 0, 0, 0, 0), getpid());
	ck_assert_int_eq(hook_prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), prctl(PR_GET_DUMPABLE, 0, 0, 0, 0));
	free(hook_malloc(100)); /* the parent's ring */
	ck_assert_ptr_nonnull(atomic_load(&rings.ring));
	ck_assert_int_eq(child_sandboxed_by(0), 0);
	ck_assert_int_eq(child_sandboxed_by(1), 0);
	ck_assert(!atomic_load(&agent.sandboxed));
	smolder_agent_stop();
}
END_TEST

START_TEST(test_stop_puts_every_entry_back)
{
	ck_assert_int_gt(smolder_agent_start(1, 0), 0); /* every allocation sampled */
	uint32_t n = agent.npatches;
	struct patch saved[MAX_PATCHES];
	memcpy(saved, agent.patches, n * sizeof(*saved));
	for (uint32_t i = 0; i < n; i++) {
		bool hooked = false;
		for (size_t h = 0; h < sizeof(hooks) / sizeof(*hooks); h++)
			hooked |= *saved[i].slot == hooks[h].hook;
		ck_assert(hooked);
	}
#ifndef __SANITIZE_ADDRESS__ /* ASan's strdup allocates without libc's GOT */
	/* A sample sets the thread's countdown anew, to a byte or more (read
	 * through volatile: the compiler knows strdup, not that it calls us). */
	volatile int64_t *countdown_left = &bytes_to_sample;
	*countdown_left = 0;
	free(strdup("libc's strdup calls malloc through libc's own GOT"));
	ck_assert_int_gt(*countdown_left, 0);
#endif
	ck_assert_int_eq(smolder_agent_stop(), (int)n);
	for (uint32_t i = 0; i < n; i++) {
		void *now = *saved[i].slot;
		for (size_t h = 0; h < sizeof(hooks) / sizeof(*hooks); h++)
			ck_assert_ptr_ne(now, hooks[h].hook);
		/* What it was, or, where that was a lazy binding's stub (in the
		 * slot's own module), what the loader bound it to at a call
		 * since (seen under ASan: libc's own calloc slot). */
		Dl_info slot_in, old_in;
		ck_assert(now == saved[i].old ||
			  (dladdr(saved[i].slot, &slot_in) && dladdr(saved[i].old, &old_in) &&
			   slot_in.dli_fbase == old_in.dli_fbase));
	}
#ifndef __SANITIZE_ADDRESS__
	*countdown_left = 0;
	free(strdup("and now it does not reach the agent"));
	ck_assert_int_eq(*countdown_left, 0);
#endif
	/* A second start finds the same entries again. */
	ck_assert_int_eq(smolder_agent_start(1, 0), (int)n);
	ck_assert_int_eq(smolder_agent_stop(), (int)n);
}
END_TEST

static void *do_nothing(void *arg)
{
	return arg;
}

/* A thread of the agent's own would put glibc's malloc on its locked paths
 * for good (check forks each test: one thread here). */
START_TEST(test_watcher_only_where_threads_are)
{
	ck_assert(__libc_single_threaded);
	ck_assert_int_gt(smolder_agent_start(1, 0), 0); /* every allocation sampled */
	free(hook_malloc(100));
	ck_assert(!atomic_load(&agent.watching));
	ck_assert(__libc_single_threaded);
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, do_nothing, NULL), 0);
	pthread_join(t, NULL);
	free(hook_malloc(100)); /* a sample sees the threads */
	ck_assert(atomic_load(&agent.watching));
	smolder_agent_stop();
}
END_TEST

/* A dlopen through the hook: the watcher first (the library may be the
 * only one to allocate), then dlopen's own result and errors, as called. */
START_TEST(test_dlopen_hook_starts_watcher)
{
	ck_assert_int_gt(smolder_agent_start(1, 0), 0);
	ck_assert(!atomic_load(&agent.watching));
	dlopen_fn through_hook = (dlopen_fn)(void *)hook_dlopen;
	ck_assert_ptr_null(through_hook("libsmolder-no-such-library.so", RTLD_NOW));
	ck_assert_ptr_nonnull(strstr(dlerror(), "libsmolder-no-such-library.so"));
	ck_assert(atomic_load(&agent.watching));
	void *m = through_hook("libm.so.6", RTLD_NOW);
	ck_assert_ptr_nonnull(m);
	ck_assert_ptr_nonnull(dlsym(m, "expm1"));
	dlclose(m);
	smolder_agent_stop();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("agent");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_numbers_match_libm);
	tcase_add_test(tc, test_live_set_one_entry_per_address);
	tcase_add_test(tc, test_live_set_fills_and_empties);
	tcase_add_test(tc, test_fuzzed_calls_from_threads);
	tcase_add_test(tc, test_ring_takes_samples_from_threads);
	tcase_add_test(tc, test_full_ring_without_reader_falls_back);
	tcase_add_test(tc, test_hint_copies_only_its_words);
	tcase_add_test(tc, test_stack_bounds_from_maps);
	tcase_add_test(tc, test_thread_stack_ends_below_its_tls);
	tcase_add_test(tc, test_stop_puts_every_entry_back);
	tcase_add_test(tc, test_seccomp_seen_through_hooks);
	tcase_add_test(tc, test_watcher_only_where_threads_are);
	tcase_add_test(tc, test_dlopen_hook_starts_watcher);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
