/* The requests waiting to be sent, oldest first, bounded in bytes.  In a
 * spool directory each is a file named by its sequence number, written
 * (under a temporary name, then renamed) before it is queued and removed
 * once the server took it: what a run could not deliver, the next one
 * finds there and sends first, in order. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "push/push-internal.h"

#define SPOOL_MAGIC "SMOLDER-PUSH 1\n"
#define SPOOL_NAME_DIGITS 20
#define SPOOL_FILE_MAX (1ull << 30)

static void spool_path(const struct outbox *ob, uint64_t seq, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%0*" PRIu64 ".push", ob->dir, SPOOL_NAME_DIGITS, seq);
}

/* The sequence number of one of our file names, or false. */
static bool spool_seq(const char *name, uint64_t *seq)
{
	if (strlen(name) != SPOOL_NAME_DIGITS + 5 || strcmp(name + SPOOL_NAME_DIGITS, ".push") != 0)
		return false;
	*seq = 0;
	for (int i = 0; i < SPOOL_NAME_DIGITS; i++) {
		if (name[i] < '0' || name[i] > '9')
			return false;
		*seq = *seq * 10 + (uint64_t)(name[i] - '0');
	}
	return true;
}

static size_t request_bytes(const struct push_request *r)
{
	return r->len + strlen(r->target) + strlen(r->content_type) + sizeof(SPOOL_MAGIC) + 40;
}

static int by_seq(const void *a, const void *b)
{
	uint64_t x = ((const struct outbox_entry *)a)->seq, y = ((const struct outbox_entry *)b)->seq;
	return (x > y) - (x < y);
}

int outbox_open(struct outbox *ob, const char *dir, uint64_t max_bytes, uint64_t *found)
{
	*ob = (struct outbox){ .max_bytes = max_bytes, .next_seq = 1 };
	*found = 0;
	if (!dir)
		return 0;
	if (!(ob->dir = strdup(dir)))
		return -PUSH_E_NOMEM;
	if (mkdir(dir, 0700) && errno != EEXIST)
		return -PUSH_E_SPOOL;
	DIR *d = opendir(dir);
	if (!d)
		return -PUSH_E_SPOOL;
	int err = 0;
	for (struct dirent *e; !err && (e = readdir(d));) {
		char path[PATH_MAX];
		struct stat st;
		uint64_t seq;
		if (!spool_seq(e->d_name, &seq))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (stat(path, &st) || !S_ISREG(st.st_mode))
			continue;
		struct outbox_entry *slot = vec_push(&ob->entries, sizeof(*slot));
		if (!slot) {
			err = -PUSH_E_NOMEM;
			break;
		}
		*slot = (struct outbox_entry){ .seq = seq, .bytes = (size_t)st.st_size };
		ob->bytes += (uint64_t)st.st_size;
		if (seq >= ob->next_seq)
			ob->next_seq = seq + 1;
	}
	closedir(d);
	if (ob->entries.count)
		qsort(ob->entries.data, ob->entries.count, sizeof(struct outbox_entry), by_seq);
	*found = ob->entries.count;
	return err;
}

static int spool_write(const struct outbox *ob, uint64_t seq, const struct push_request *r)
{
	char path[PATH_MAX], head[PATH_MAX + 64];
	spool_path(ob, seq, path, sizeof(path));
	int n = snprintf(head, sizeof(head), SPOOL_MAGIC "target %s\ntype %s\nlength %zu\n\n", r->target,
			 r->content_type, r->len);
	if (n < 0 || (size_t)n >= sizeof(head)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	struct output_file out;
	int e = output_file_open(&out, path);
	if (e) {
		errno = -e;
		return -1;
	}
	bool ok = write(out.fd, head, (size_t)n) == n;
	for (size_t at = 0; ok && at < r->len;) {
		ssize_t w = write(out.fd, r->body + at, r->len - at);
		ok = w > 0;
		at += ok ? (size_t)w : 0;
	}
	int saved = errno;
	if (ok && (e = output_file_commit(&out)) != 0) {
		ok = false;
		saved = -e;
	}
	output_file_release(&out, false);
	errno = saved;
	return ok ? 0 : -1;
}

/* The value of "key value\n" at *at, moving past it; NULL if it is not there. */
static char *header_line(char **at, const char *end, const char *key)
{
	size_t klen = strlen(key);
	char *nl = memchr(*at, '\n', (size_t)(end - *at));
	if (!nl || (size_t)(nl - *at) <= klen || strncmp(*at, key, klen) || (*at)[klen] != ' ')
		return NULL;
	*nl = '\0';
	char *value = *at + klen + 1;
	*at = nl + 1;
	return value;
}

static bool spool_read(const struct outbox *ob, uint64_t seq, struct push_request *out)
{
	char path[PATH_MAX];
	spool_path(ob, seq, path, sizeof(path));
	uint8_t *buf;
	size_t len;
	if (read_whole_file(path, SPOOL_FILE_MAX, &buf, &len))
		return false;
	char *at = (char *)buf, *end = (char *)buf + len, *target, *type, *length;
	bool ok = len > strlen(SPOOL_MAGIC) && memcmp(buf, SPOOL_MAGIC, strlen(SPOOL_MAGIC)) == 0;
	at += strlen(SPOOL_MAGIC);
	ok = ok && (target = header_line(&at, end, "target")) && (type = header_line(&at, end, "type")) &&
	     (length = header_line(&at, end, "length")) && at < end && *at == '\n';
	size_t body = ok ? (size_t)(end - at - 1) : 0;
	ok = ok && strtoull(length, NULL, 10) == body && *target == '/';
	if (ok) {
		*out = (struct push_request){ .target = strdup(target), .content_type = strdup(type), .len = body,
					      .body = malloc(body ? body : 1) };
		ok = out->target && out->content_type && out->body;
		if (ok)
			memcpy(out->body, at + 1, body);
		else
			push_request_release(out);
	}
	free(buf);
	return ok;
}

static void entry_forget(struct outbox *ob, uint32_t i)
{
	struct outbox_entry *e = (struct outbox_entry *)ob->entries.data + i;
	if (e->req) {
		push_request_release(e->req);
		free(e->req);
	} else if (ob->dir) {
		char path[PATH_MAX];
		spool_path(ob, e->seq, path, sizeof(path));
		unlink(path);
	}
	ob->bytes -= e->bytes;
	memmove(e, e + 1, (ob->entries.count - i - 1) * sizeof(*e));
	ob->entries.count--;
}

int outbox_put(struct outbox *ob, struct push_request *r, uint64_t keep, uint64_t *dropped)
{
	struct outbox_entry e = { .seq = ob->next_seq, .bytes = request_bytes(r) };
	int err = 0;
	if (ob->dir) {
		if (spool_write(ob, e.seq, r))
			err = -PUSH_E_SPOOL_WRITE;
	} else if ((e.req = malloc(sizeof(*e.req)))) {
		*e.req = *r;
		*r = (struct push_request){ 0 };
	} else {
		err = -PUSH_E_NOMEM;
	}
	struct outbox_entry *slot = err ? NULL : vec_push(&ob->entries, sizeof(*slot));
	if (!err && !slot) {
		err = -PUSH_E_NOMEM;
		if (e.req) {
			push_request_release(e.req);
			free(e.req);
		}
		/* A spool file not queued is sent by the next run. */
	}
	push_request_release(r);
	if (err)
		return err;
	*slot = e;
	ob->next_seq++;
	ob->bytes += e.bytes;
	for (uint32_t i = 0; ob->bytes > ob->max_bytes && i < ob->entries.count;) {
		if (((struct outbox_entry *)ob->entries.data)[i].seq == keep) {
			i++;
			continue;
		}
		entry_forget(ob, i);
		(*dropped)++;
	}
	return 0;
}

bool outbox_oldest(struct outbox *ob, struct push_request *out, uint64_t *seq, uint64_t *unreadable)
{
	while (ob->entries.count) {
		const struct outbox_entry *e = ob->entries.data;
		*seq = e->seq;
		if (e->req) {
			*out = (struct push_request){ .target = strdup(e->req->target),
						      .content_type = strdup(e->req->content_type),
						      .body = malloc(e->req->len ? e->req->len : 1), .len = e->req->len };
			if (out->target && out->content_type && out->body) {
				memcpy(out->body, e->req->body, e->req->len);
				return true;
			}
			push_request_release(out);
			return false; /* out of memory: tried again later */
		}
		if (spool_read(ob, e->seq, out))
			return true;
		entry_forget(ob, 0);
		(*unreadable)++;
	}
	return false;
}

void outbox_remove(struct outbox *ob, uint64_t seq)
{
	for (uint32_t i = 0; i < ob->entries.count; i++)
		if (((struct outbox_entry *)ob->entries.data)[i].seq == seq) {
			entry_forget(ob, i);
			return;
		}
}

void outbox_release(struct outbox *ob)
{
	struct outbox_entry *e = ob->entries.data;
	for (uint32_t i = 0; i < ob->entries.count; i++)
		if (e[i].req) {
			push_request_release(e[i].req);
			free(e[i].req);
		}
	vec_release(&ob->entries);
	free(ob->dir);
	*ob = (struct outbox){ 0 };
}
