/* The worker's threads and processes: found by tid, named from records,
 * from /proc, or as /proc named them when the recording began. */
#include <dirent.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profiler/profiler-internal.h"

static int process_name_cmp(const void *x, const void *y)
{
	uint64_t a = ((const struct process_name *)x)->pid, b = ((const struct process_name *)y)->pid;
	return (a > b) - (a < b);
}

static bool thread_eq(const void *ctx, uint32_t i, const void *key)
{
	const struct thread_state *t = ((const struct aggregate *)ctx)->threads.data;
	return t[i].tid == *(const pid_t *)key;
}

static uint64_t thread_rehash(const void *ctx, uint32_t i)
{
	const struct thread_state *t = ((const struct aggregate *)ctx)->threads.data;
	return hash_u64((uint64_t)t[i].tid);
}

/* Every sample and most records look a thread up: a hash, not a scan. */
struct thread_state *aggregate_thread_get(struct aggregate *a, pid_t tid)
{
	if (!a->thread_index.nslots)
		return NULL;
	uint32_t *slot = id_hash_probe(&a->thread_index, hash_u64((uint64_t)tid), thread_eq, a, &tid);
	return *slot ? (struct thread_state *)a->threads.data + (*slot - 1) : NULL;
}

/* Records reach us out of order across CPUs, so a name is taken only if it
 * is newer than the one the thread has (time 0: a name read from /proc,
 * older than any record). */
struct thread_state *aggregate_thread_add(struct aggregate *a, pid_t tid, pid_t pid, const char *comm,
					  uint64_t time)
{
	if (id_hash_reserve(&a->thread_index, a->threads.count, thread_rehash, a))
		return NULL;
	uint32_t *slot = id_hash_probe(&a->thread_index, hash_u64((uint64_t)tid), thread_eq, a, &tid);
	struct thread_state *t;
	if (*slot) {
		t = (struct thread_state *)a->threads.data + (*slot - 1);
	} else {
		if (!(t = vec_push(&a->threads, sizeof(*t))))
			return NULL;
		memset(t, 0, sizeof(*t));
		t->tid = tid;
		*slot = a->threads.count;
		a->stats->threads = a->threads.count;
	}
	t->pid = pid;
	if (!t->comm[0] || time >= t->comm_time) {
		t->published = t->published && strcmp(t->comm, comm) == 0;
		snprintf(t->comm, sizeof(t->comm), "%s", comm);
		t->comm_time = time;
	}
	return t;
}

/* What /proc called a process when the recording began (-a), into name. */
bool aggregate_name_at_start(const struct aggregate *a, pid_t pid, char name[16])
{
	const struct process_name *names = a->names_at_start.data;
	uint32_t i = upper_bound_u64(names, a->names_at_start.count, sizeof(*names),
				     offsetof(struct process_name, pid), (uint64_t)pid);
	if (i == 0 || names[i - 1].pid != (uint64_t)pid)
		return false;
	memcpy(name, names[i - 1].comm, 16);
	return true;
}

int aggregate_note_process_names(struct aggregate *a)
{
	DIR *d = opendir("/proc");
	if (!d)
		return 0; /* names are then read as each process is met */
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		pid_t pid = (pid_t)atoi(de->d_name);
		struct process_name n = { (uint64_t)pid, "" };
		if (!read_comm(pid, pid, n.comm, sizeof(n.comm)))
			continue;
		struct process_name *slot = vec_push(&a->names_at_start, sizeof(*slot));
		if (!slot) {
			closedir(d);
			return -PROFILE_E_NOMEM;
		}
		*slot = n;
	}
	closedir(d);
	qsort(a->names_at_start.data, a->names_at_start.count, sizeof(struct process_name), process_name_cmp);
	return 0;
}

/* A thread first seen in a sample or a switch (its FORK record is still in
 * another CPU's buffer, was lost, or came before we began, as with -a):
 * named from /proc, and its process too, whose name is the stack's root.
 * A thread gone already is named after its process, as we knew it or as
 * /proc still has it: a process that was there when -a began and is gone
 * before its first sample is handled keeps the name it had then. */
struct thread_state *aggregate_thread_found(struct aggregate *a, pid_t tid, pid_t pid)
{
	struct thread_state *t = aggregate_thread_get(a, tid);
	if (t)
		return t;
	char comm[16] = "", process[16] = "";
	bool named = read_comm(pid, tid, comm, sizeof(comm));
	if (tid != pid && !aggregate_thread_get(a, pid) &&
	    (read_comm(pid, pid, process, sizeof(process)) || aggregate_name_at_start(a, pid, process)) &&
	    !aggregate_thread_add(a, pid, pid, process, 0)) {
		a->fatal = -PROFILE_E_NOMEM;
		return NULL;
	}
	const struct thread_state *proc = named ? NULL : aggregate_thread_get(a, pid);
	if (proc)
		memcpy(comm, proc->comm, sizeof(comm));
	else if (!named && !aggregate_name_at_start(a, pid, comm))
		/* pid 0 is the idle task (-a --kernel), which perf calls swapper. */
		snprintf(comm, sizeof(comm), "%s", pid == 0 ? "swapper" : "[unknown]");
	if (!(t = aggregate_thread_add(a, tid, pid, comm, 0)))
		a->fatal = -PROFILE_E_NOMEM;
	return t;
}

int aggregate_publish_threads(struct aggregate *a)
{
	struct thread_state *threads = a->threads.data;
	for (uint32_t i = 0; i < a->threads.count; i++) {
		if (threads[i].published)
			continue;
		int64_t comm = profile_string(a->p, threads[i].comm);
		if (comm < 0 ||
		    profile_set_thread(a->p, (uint32_t)threads[i].tid, (uint32_t)threads[i].pid, (uint32_t)comm))
			return -PROFILE_E_NOMEM;
		threads[i].published = true;
	}
	return 0;
}
