/* Unit tests of base/: the varint writer against its reader, the bounded
 * cursor, the id index, parallel_run, and open_mapped_file's refusal of a
 * symlink that leads out of a container's root (and its copy of the vDSO). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/base.h"

START_TEST(test_varints_round_trip)
{
	static const int64_t values[] = { 0, 1, -1, 63, -64, 127, 128, 300, INT64_MAX, INT64_MIN, 1ll << 35 };
	struct byte_buf b = { 0 };
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		byte_buf_put_uvarint(&b, (uint64_t)values[i]);
		byte_buf_put_svarint(&b, values[i]);
	}
	ck_assert(!b.failed);
	struct byte_cursor c = { b.data, b.data + b.len, false };
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		ck_assert_uint_eq(cursor_uvarint(&c), (uint64_t)values[i]);
		ck_assert_int_eq(cursor_svarint(&c), values[i]);
	}
	ck_assert(!c.failed);
	ck_assert_ptr_eq(c.p, c.end);
	/* Reading past the end fails, gives 0 and stays failed. */
	ck_assert_uint_eq(cursor_uvarint(&c), 0);
	ck_assert(c.failed);
	byte_buf_release(&b);
}
END_TEST

START_TEST(test_cursor_bounds)
{
	/* Eleven continuation bytes: no valid varint, though a LEB128 with
	 * padding (DWARF allows it) reads as the bits that fit. */
	uint8_t long_varint[12];
	memset(long_varint, 0x80, sizeof(long_varint));
	long_varint[11] = 0x01;
	struct byte_cursor c = { long_varint, long_varint + sizeof(long_varint), false };
	ck_assert_uint_eq(cursor_uvarint(&c), 0);
	ck_assert(c.failed);
	c = (struct byte_cursor){ long_varint, long_varint + sizeof(long_varint), false };
	ck_assert_uint_eq(cursor_uleb(&c), 0);
	ck_assert(!c.failed);
	/* A varint cut short. */
	c = (struct byte_cursor){ long_varint, long_varint + 3, false };
	ck_assert_uint_eq(cursor_uvarint(&c), 0);
	ck_assert(c.failed);
	/* Little-endian reads and strings within bounds only. */
	const uint8_t bytes[] = { 0x78, 0x56, 0x34, 0x12, 'h', 'i', 0, 'x' };
	c = (struct byte_cursor){ bytes, bytes + sizeof(bytes), false };
	ck_assert_uint_eq(cursor_le(&c, 4), 0x12345678);
	ck_assert_str_eq(cursor_cstring(&c), "hi");
	ck_assert_ptr_null(cursor_cstring(&c)); /* "x" has no NUL before the end */
	ck_assert(c.failed);
	ck_assert_uint_eq(cursor_le(&c, 1), 0);
	/* sleb: -2 in one byte, and 624485 in three (DWARF's own examples). */
	const uint8_t sleb[] = { 0x7e, 0xe5, 0x8e, 0x26 };
	c = (struct byte_cursor){ sleb, sleb + sizeof(sleb), false };
	ck_assert_int_eq(cursor_sleb(&c), -2);
	ck_assert_uint_eq(cursor_uleb(&c), 624485);
	ck_assert(!c.failed);
}
END_TEST

static bool u64_eq(const void *ctx, uint32_t id, const void *key)
{
	return ((const uint64_t *)((const struct vec *)ctx)->data)[id] == *(const uint64_t *)key;
}

static uint64_t u64_rehash(const void *ctx, uint32_t id)
{
	return hash_u64(((const uint64_t *)((const struct vec *)ctx)->data)[id]);
}

START_TEST(test_id_hash_over_vec)
{
	struct vec keys = { 0 };
	struct id_hash index = { 0 };
	for (uint64_t k = 0; k < 5000; k++) {
		uint64_t key = k * 7919;
		ck_assert_int_eq(id_hash_reserve(&index, keys.count, u64_rehash, &keys), 0);
		uint32_t *slot = id_hash_probe(&index, hash_u64(key), u64_eq, &keys, &key);
		ck_assert_uint_eq(*slot, 0);
		uint64_t *at = vec_push(&keys, sizeof(*at));
		ck_assert_ptr_nonnull(at);
		*at = key;
		*slot = keys.count;
	}
	for (uint64_t k = 0; k < 5000; k++) {
		uint64_t key = k * 7919, missing = key + 1;
		ck_assert_uint_eq(*id_hash_probe(&index, hash_u64(key), u64_eq, &keys, &key), k + 1);
		ck_assert_uint_eq(*id_hash_probe(&index, hash_u64(missing), u64_eq, &keys, &missing), 0);
	}
	/* upper_bound_u64 over the sorted keys. */
	ck_assert_uint_eq(upper_bound_u64(keys.data, keys.count, 8, 0, 0), 1);
	ck_assert_uint_eq(upper_bound_u64(keys.data, keys.count, 8, 0, 7918), 1);
	ck_assert_uint_eq(upper_bound_u64(keys.data, keys.count, 8, 0, 7919), 2);
	ck_assert_uint_eq(upper_bound_u64(keys.data, keys.count, 8, 0, UINT64_MAX), 5000);
	id_hash_release(&index);
	vec_release(&keys);
}
END_TEST

struct counted_work {
	atomic_uint next, done;
	atomic_uint ran[PARALLEL_MAX];
};

static void count_items(void *arg, unsigned i)
{
	struct counted_work *w = arg;
	atomic_fetch_add(&w->ran[i], 1);
	while (atomic_fetch_add(&w->next, 1) < 1000)
		atomic_fetch_add(&w->done, 1);
}

struct keyed {
	uint64_t key;
	uint32_t seq;
};

struct keyed_large {
	struct keyed k;
	char pad[60]; /* past the 64 bytes insertion sort takes */
};

static int keyed_cmp(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return (x->seq > y->seq) - (x->seq < y->seq);
}

/* Nearly in order (insertion), reversed (qsort past the moves allowed),
 * and elements too large for insertion: all come out as qsort would put
 * them. */
START_TEST(test_sort_nearly_sorted)
{
	enum { N = 2000 };
	static struct keyed_large a[N];
	for (int shape = 0; shape < 3; shape++) {
		size_t size = shape == 2 ? sizeof(struct keyed_large) : sizeof(struct keyed);
		for (uint32_t i = 0; i < N; i++) {
			struct keyed *k = (struct keyed *)((char *)a + i * size);
			k->key = shape == 1 ? N - i : i + (i % 5 == 2 ? 3 : 0);
			k->seq = i;
		}
		sort_nearly_sorted(a, N, size, keyed_cmp);
		for (uint32_t i = 1; i < N; i++)
			ck_assert_int_lt(keyed_cmp((char *)a + (i - 1) * size, (char *)a + i * size), 0);
	}
}
END_TEST

START_TEST(test_parallel_run)
{
	struct counted_work w = { 0 };
	unsigned ran = parallel_run(PARALLEL_MAX + 3, count_items, &w);
	ck_assert_uint_ge(ran, 1);
	ck_assert_uint_le(ran, PARALLEL_MAX);
	ck_assert_uint_eq(atomic_load(&w.done), 1000);
	for (unsigned i = 0; i < PARALLEL_MAX; i++)
		ck_assert_uint_eq(atomic_load(&w.ran[i]), i < ran);
	ck_assert_uint_ge(parallel_threads(), 1);
	ck_assert_uint_le(parallel_threads(), PARALLEL_MAX);
	ck_assert_uint_eq(parallel_run(0, count_items, &w), 0);
}
END_TEST

/* A process inside a root of its own (chroot; in a user namespace where
 * chroot needs it), holding still until killed. */
static pid_t start_in_root(const char *root)
{
	int ready[2];
	ck_assert_int_eq(pipe(ready), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(ready[0]);
		if (chroot(root) != 0 && (unshare(CLONE_NEWUSER) != 0 || chroot(root) != 0))
			_exit(1);
		if (chdir("/") != 0 || write(ready[1], "r", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(ready[1]);
	char c;
	ck_assert_msg(read(ready[0], &c, 1) == 1, "cannot chroot (neither root nor a user namespace)");
	close(ready[0]);
	return pid;
}

static void stop(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* Inside a root: lib/host -> an absolute path to a host file, and
 * lib/climb -> "../../../../.." then that path: both must resolve inside
 * the root (and so fail), never to the host's file.  A file that is
 * really in the root opens, and the host's view of a path opens only as
 * the last way. */
START_TEST(test_open_mapped_file_stays_in_root)
{
	char root[] = "/tmp/check_base.XXXXXX", path[4200], host[] = "/tmp/check_base_host.XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(root));
	int hfd = mkstemp(host);
	ck_assert_int_ge(hfd, 0);
	ck_assert_int_eq(write(hfd, "host secret\n", 12), 12);
	close(hfd);
	snprintf(path, sizeof(path), "%s/lib", root);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/lib/host", root);
	ck_assert_int_eq(symlink(host, path), 0);
	char climb[4200];
	snprintf(climb, sizeof(climb), "../../../../../../..%s", host);
	snprintf(path, sizeof(path), "%s/lib/climb", root);
	ck_assert_int_eq(symlink(climb, path), 0);
	snprintf(path, sizeof(path), "%s/lib/own", root);
	int ofd = open(path, O_WRONLY | O_CREAT, 0644);
	ck_assert_int_ge(ofd, 0);
	ck_assert_int_eq(write(ofd, "own\n", 4), 4);
	close(ofd);

	pid_t pid = start_in_root(root);
	char name[4200];
	int fd = open_mapped_file(pid, "/lib/host", 0, 0, MAPPED_IN_ROOT, name, sizeof(name));
	ck_assert_msg(fd < 0, "an absolute symlink led out of the root");
	fd = open_mapped_file(pid, "/lib/climb", 0, 0, MAPPED_IN_ROOT, name, sizeof(name));
	ck_assert_msg(fd < 0, "a climbing symlink led out of the root");
	fd = open_mapped_file(pid, "/lib/own", 0, 0, MAPPED_IN_ROOT, name, sizeof(name));
	ck_assert_int_ge(fd, 0);
	char buf[16] = "";
	ck_assert_int_eq(read(fd, buf, sizeof(buf) - 1), 4);
	ck_assert_str_eq(buf, "own\n");
	close(fd);
	/* The host's view is a way of its own, never taken for the root's. */
	fd = open_mapped_file(pid, host, 0, 0, MAPPED_HOST_PATH, name, sizeof(name));
	ck_assert_int_ge(fd, 0);
	ck_assert_str_eq(name, host);
	close(fd);
	/* No way applies to a path that is not absolute... */
	for (int way = 0; way < MAPPED_FILE_WAYS; way++)
		ck_assert_int_eq(open_mapped_file(pid, "[heap]", 0, 0, (enum mapped_file_way)way, NULL, 0), -ENOENT);
	/* ...but the vDSO, which opens as a copy of ours: an ELF image. */
	fd = open_mapped_file(pid, "[vdso]", 0, 0, MAPPED_IN_ROOT, name, sizeof(name));
	ck_assert_int_ge(fd, 0);
	char magic[4];
	ck_assert_int_eq(read(fd, magic, 4), 4);
	ck_assert_mem_eq(magic, "\177ELF", 4);
	ck_assert_str_eq(name, "[vdso]");
	close(fd);
	ck_assert_int_eq(open_mapped_file(pid, "[vdso]", 0, 0, MAPPED_HOST_PATH, NULL, 0), -ENOENT);
	stop(pid);

	snprintf(path, sizeof(path), "%s/lib/host", root);
	unlink(path);
	snprintf(path, sizeof(path), "%s/lib/climb", root);
	unlink(path);
	snprintf(path, sizeof(path), "%s/lib/own", root);
	unlink(path);
	snprintf(path, sizeof(path), "%s/lib", root);
	rmdir(path);
	rmdir(root);
	unlink(host);
}
END_TEST

/* map_files reaches the very inode a process maps, even once deleted. */
START_TEST(test_open_mapped_file_map_files)
{
	if (geteuid() != 0)
		return; /* map_files needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE */
	char file[] = "/tmp/check_base_map.XXXXXX";
	int fd = mkstemp(file);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 4096), 0);
	char *map = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ck_assert_ptr_ne(map, MAP_FAILED);
	memcpy(map, "mapped", 6);
	close(fd);
	unlink(file);
	uint64_t start = (uint64_t)(uintptr_t)map;
	int got = open_mapped_file(getpid(), file, start, start + 4096, MAPPED_VIA_MAP_FILES, NULL, 0);
	ck_assert_int_ge(got, 0);
	char buf[7] = "";
	ck_assert_int_eq(read(got, buf, 6), 6);
	ck_assert_str_eq(buf, "mapped");
	close(got);
	/* As maps names it, " (deleted)": reached through map_files only, never
	 * through a file planted under that name. */
	char planted[sizeof(file) + 16];
	snprintf(planted, sizeof(planted), "%s (deleted)", file);
	int decoy = open(planted, O_WRONLY | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(decoy, 0);
	close(decoy);
	ck_assert_int_eq(open_mapped_file(getpid(), planted, start, start + 4096, MAPPED_HOST_PATH, NULL, 0), -ENOENT);
	ck_assert_int_eq(open_mapped_file(getpid(), planted, start, start + 4096, MAPPED_IN_ROOT, NULL, 0), -ENOENT);
	got = open_mapped_file(getpid(), planted, start, start + 4096, MAPPED_VIA_MAP_FILES, NULL, 0);
	ck_assert_int_ge(got, 0);
	close(got);
	unlink(planted);
	munmap(map, 4096);
}
END_TEST

static Suite *base_suite(void)
{
	Suite *s = suite_create("base");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_varints_round_trip);
	tcase_add_test(tc, test_cursor_bounds);
	tcase_add_test(tc, test_id_hash_over_vec);
	tcase_add_test(tc, test_sort_nearly_sorted);
	tcase_add_test(tc, test_parallel_run);
	tcase_add_test(tc, test_open_mapped_file_stays_in_root);
	tcase_add_test(tc, test_open_mapped_file_map_files);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(base_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
