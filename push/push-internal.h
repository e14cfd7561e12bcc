/* Private to push/. */
#ifndef SMOLDER_PUSH_INTERNAL_H
#define SMOLDER_PUSH_INTERNAL_H

#include <stddef.h>

#include "push/push.h"

void push_set_error(struct push_error *err, enum push_errcode code, int sys_errno, const char *what);

/* ---- request.c: an interval as the server's requests ---- */

/* One HTTP POST, all that is needed to send it again after a restart. */
struct push_request {
	char *target;       /* after the URL's own path: "/ingest?name=..." */
	char *content_type;
	uint8_t *body;
	size_t len;
};

/* Appends the interval's requests (struct push_request) to out: a
 * Pyroscope request per value type, or one Parca request.  0, or a
 * negative push_errcode (out keeps what was made before the failure). */
int push_requests_make(const struct push_options *o, const struct profile *interval, struct vec *out);
void push_request_release(struct push_request *r);

/* ---- outbox.c: the requests waiting, in order, in memory or on disk ---- */

struct outbox_entry {
	uint64_t seq;
	size_t bytes;
	struct push_request *req; /* in memory; NULL: in the spool file of seq */
};

struct outbox {
	char *dir;          /* the spool; NULL: memory only */
	uint64_t max_bytes;
	uint64_t bytes;     /* of what waits, the entry being sent included */
	uint64_t next_seq;
	struct vec entries; /* struct outbox_entry, oldest first */
};

/* Opens (makes) the spool and lists what an earlier run left in it
 * (*found of them).  0 or a negative push_errcode with errno. */
int outbox_open(struct outbox *ob, const char *dir, uint64_t max_bytes, uint64_t *found);
/* Adds r (taken: freed by the outbox), written to the spool first, then
 * drops the oldest (never `keep`, the one being sent) until what waits
 * fits; *dropped counts them.  0 or -PUSH_E_SPOOL_WRITE / -PUSH_E_NOMEM
 * (r freed, nothing added). */
int outbox_put(struct outbox *ob, struct push_request *r, uint64_t keep, uint64_t *dropped);
/* The oldest request, read back from the spool if need be: a copy the
 * caller releases.  false when none waits; *unreadable counts spool files
 * dropped because they could not be read back. */
bool outbox_oldest(struct outbox *ob, struct push_request *out, uint64_t *seq, uint64_t *unreadable);
/* Forgets the request seq (sent, or refused for good). */
void outbox_remove(struct outbox *ob, uint64_t seq);
void outbox_release(struct outbox *ob);

/* ---- http.c: one POST with libcurl ---- */

struct http_result {
	long status;        /* 0: no answer (the transport failed) */
	int transport_error; /* the transport's error code, 0 when the server answered */
	char message[384];  /* the transport's error, or the start of the answer's body */
};

struct http_client;

/* NULL when libcurl cannot be loaded or started, with the reason in why. */
struct http_client *http_client_new(const struct push_options *o, volatile int *cancel, char *why, size_t why_len);
/* Sends r to the URL's prefix + r->target; fills *res. */
void http_client_post(struct http_client *c, const struct push_request *r, struct http_result *res);
void http_client_free(struct http_client *c);

#endif
