/* Known off-CPU time in known places.  Each round, thread "waiter":
 *   wait_short(): nanosleep 200 ms
 *   wait_long():  blocks on a mutex that thread "holder" keeps for 600 ms
 * so the waiter's blocked time splits 25% / 75%.
 *   offcpu ROUNDS     (prints "ready" when running) */
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define FRAME __attribute__((noipa))

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static sem_t go, held;
static int rounds;

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts))
		;
}

FRAME static void hold_lock(void)
{
	pthread_mutex_lock(&lock);
	sem_post(&held);
	sleep_ms(600);
	pthread_mutex_unlock(&lock);
}

FRAME static void *holder(void *arg)
{
	(void)arg;
	for (int i = 0; i < rounds; i++) {
		sem_wait(&go);
		hold_lock();
	}
	return NULL;
}

FRAME static void wait_short(void)
{
	sleep_ms(200);
}

FRAME static void wait_long(void)
{
	sem_post(&go);
	sem_wait(&held);
	pthread_mutex_lock(&lock); /* blocks until the holder lets go */
	pthread_mutex_unlock(&lock);
}

FRAME static void *waiter(void *arg)
{
	(void)arg;
	for (int i = 0; i < rounds; i++) {
		wait_short();
		wait_long();
	}
	return NULL;
}

int main(int argc, char **argv)
{
	rounds = argc > 1 ? atoi(argv[1]) : 3;
	sem_init(&go, 0, 0);
	sem_init(&held, 0, 0);
	pthread_t h, w;
	pthread_create(&h, NULL, holder, NULL);
	pthread_setname_np(h, "holder");
	pthread_create(&w, NULL, waiter, NULL);
	pthread_setname_np(w, "waiter");
	printf("ready\n");
	fflush(stdout);
	pthread_join(w, NULL);
	pthread_join(h, NULL);
	return 0;
}
