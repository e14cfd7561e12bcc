/* The agent's own code, built into this test (so that its statics are
 * reachable) and, in the sanitizer build, under ASan and UBSan: its numbers
 * against libm, random sequences of calls through its hooks from several
 * threads with every block's contents checked, its live set left empty, and
 * the GOT entries it changes in libc put back by stop. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.c"
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
		ck_assert(agent.live[i] == 0 || agent.live[i] == TOMBSTONE);
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
	uint64_t before = agent.samples;
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
	ck_assert_uint_gt(agent.samples, before + 100);
	ck_assert_uint_eq(agent.live_dropped, 0);
	ck_assert_uint_gt(agent.freed_head, 100); /* sampled blocks' frees went through the ring */
	drain_frees(true);
	ck_assert_uint_eq(agent.freed_tail, agent.freed_head);
	assert_live_set_empty();
	atomic_store(&agent.rate, 0);
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
	uint64_t before = agent.samples;
	free(strdup("libc's strdup calls malloc through libc's own GOT"));
	ck_assert_uint_gt(agent.samples, before);
#endif
	ck_assert_int_eq(smolder_agent_stop(), (int)n);
	for (uint32_t i = 0; i < n; i++)
		ck_assert_ptr_eq(*saved[i].slot, saved[i].old);
#ifndef __SANITIZE_ADDRESS__
	before = agent.samples;
	free(strdup("and now it does not reach the agent"));
	ck_assert_uint_eq(agent.samples, before);
#endif
	/* A second start finds the same entries again. */
	ck_assert_int_eq(smolder_agent_start(1, 0), (int)n);
	ck_assert_int_eq(smolder_agent_stop(), (int)n);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("agent");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_numbers_match_libm);
	tcase_add_test(tc, test_live_set_one_entry_per_address);
	tcase_add_test(tc, test_fuzzed_calls_from_threads);
	tcase_add_test(tc, test_stop_puts_every_entry_back);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
