/* A process in another pid namespace (a container's) knows itself and its
 * threads by that namespace's numbers, which its agent writes into its
 * ring; perf and our /proc give ours.  NSpid, in /proc/PID/task/TID/status,
 * lists a thread's number in each namespace from ours down to its own. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profiler/profiler-internal.h"

struct tid_pair {
	pid_t own, ours; /* ours 0: not found when last looked */
};

/* The innermost number on the NSpid line of a status file (0: none), and
 * whether it lists more than one. */
static pid_t own_number(const char *path, bool *nested)
{
	char line[256], *save = NULL;
	pid_t own = 0;
	int count = 0;
	FILE *f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "NSpid:", 6))
			continue;
		for (char *t = strtok_r(line + 6, " \t\n", &save); t; t = strtok_r(NULL, " \t\n", &save), count++)
			own = (pid_t)atoi(t);
		break;
	}
	if (f)
		fclose(f);
	*nested = count > 1;
	return own;
}

void ns_ids_init(struct ns_ids *n, pid_t pid)
{
	char path[64];
	bool nested = false;
	*n = (struct ns_ids){ .pid = pid, .own_pid = pid };
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	pid_t own = own_number(path, &nested);
	if (nested && own > 0) {
		n->other = true;
		n->own_pid = own;
	}
}

static struct tid_pair *find_pair(const struct ns_ids *n, pid_t own)
{
	struct tid_pair *p = n->tids.data;
	for (uint32_t i = 0; i < n->tids.count; i++)
		if (p[i].own == own)
			return &p[i];
	return NULL;
}

/* Every thread's pair, from /proc: at a thread not seen before. */
static void learn_threads(struct ns_ids *n)
{
	char path[96];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)n->pid);
	DIR *d = opendir(path);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		pid_t ours = (pid_t)atoi(e->d_name);
		bool nested;
		snprintf(path, sizeof(path), "/proc/%d/task/%d/status", (int)n->pid, (int)ours);
		pid_t own = ours > 0 ? own_number(path, &nested) : 0;
		struct tid_pair *p = own > 0 ? find_pair(n, own) : NULL;
		if (own > 0 && !p && (p = vec_push(&n->tids, sizeof(*p))))
			p->own = own;
		if (p)
			p->ours = ours;
	}
	if (d)
		closedir(d);
}

pid_t ns_ids_translate(struct ns_ids *n, pid_t own)
{
	struct tid_pair *p = find_pair(n, own);
	if (!p) {
		learn_threads(n);
		p = find_pair(n, own);
		if (!p && (p = vec_push(&n->tids, sizeof(*p))))
			*p = (struct tid_pair){ own, 0 }; /* gone already: not looked for at each of its samples */
	}
	/* A thread gone before we saw it: counted to the process. */
	return p && p->ours ? p->ours : n->pid;
}

void ns_ids_release(struct ns_ids *n)
{
	vec_release(&n->tids);
}
