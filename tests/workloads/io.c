/* Known bytes from known call sites, in writes of varied size:
 *   write_a(): 3 MiB    write_b(): 1 MiB    read_back(): reads the 4 MiB back
 * each round, to FILE.  Prints its call counts ("a N b N r N") at the end.
 *   io FILE ROUNDS    (ROUNDS 0: until killed; prints "ready" first) */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define FRAME __attribute__((noipa))

static char buf[70000];
static const size_t sizes[] = { 1000, 4096, 65536, 12345, 777, 30000 };
static long calls_a, calls_b, calls_r;

/* Writes exactly total bytes in varied sizes; returns the write calls made. */
static long write_total(int fd, size_t total)
{
	long calls = 0;
	for (size_t done = 0, i = 0; done < total; i++) {
		size_t n = sizes[i % 6];
		if (n > total - done)
			n = total - done;
		ssize_t w = write(fd, buf, n);
		if (w <= 0)
			exit(1);
		done += (size_t)w;
		calls++;
	}
	return calls;
}

FRAME static void write_a(int fd) { calls_a += write_total(fd, 3 << 20); }
FRAME static void write_b(int fd) { calls_b += write_total(fd, 1 << 20); }

FRAME static void read_back(int fd)
{
	lseek(fd, 0, SEEK_SET);
	for (size_t i = 0;; i++) {
		ssize_t r = read(fd, buf, sizes[i % 6]);
		calls_r++;
		if (r <= 0)
			break;
	}
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	int rounds = atoi(argv[2]);
	printf("ready\n");
	fflush(stdout);
	for (int r = 0; rounds == 0 || r < rounds; r++) {
		int fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0600);
		if (fd < 0)
			return 1;
		write_a(fd);
		write_b(fd);
		read_back(fd);
		close(fd);
	}
	printf("a %ld b %ld r %ld\n", calls_a, calls_b, calls_r);
	return 0;
}
