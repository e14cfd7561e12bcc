/* push: delivers a recording's intervals to a profile server (Grafana
 * Pyroscope's /ingest, or Parca's raw pprof write) over HTTP(S).
 *
 * The recorder hands over an interval and goes on at once: the requests
 * are made there and then, and a thread of the pusher's own sends them in
 * order, retrying with exponential backoff while the server cannot be
 * reached or answers 5xx.  What waits is bounded (the oldest dropped first,
 * every drop counted); with a spool directory it waits on disk, written
 * before it is sent, so that a restart delivers what the last run could
 * not.  Library code: errors are returned, never printed. */
#ifndef SMOLDER_PUSH_H
#define SMOLDER_PUSH_H

#include <stdbool.h>
#include <stdint.h>

#include "profile/profile.h"

#define PUSH_ERRORS                                                            \
	PUSH_ERROR(OK, "success")                                              \
	PUSH_ERROR(NOMEM, "out of memory")                                     \
	PUSH_ERROR(URL, "not an http:// or https:// URL")                      \
	PUSH_ERROR(SPOOL, "cannot use the spool directory")                    \
	PUSH_ERROR(SPOOL_WRITE, "cannot write to the spool directory")         \
	PUSH_ERROR(HTTP, "cannot start the HTTP client (libcurl)")             \
	PUSH_ERROR(THREAD, "cannot start the delivery thread")                 \
	PUSH_ERROR(RENDER, "cannot encode the interval as pprof")

enum push_errcode {
#define PUSH_ERROR(name, msg) PUSH_E_##name,
	PUSH_ERRORS
#undef PUSH_ERROR
	PUSH_E_COUNT
};

struct push_error {
	enum push_errcode code;
	int sys_errno;
	char what[512]; /* the path or URL concerned */
};

/* One line: what failed, on what, and why. */
void push_explain(const struct push_error *e, char *buf, size_t len);

enum push_format {
	PUSH_PYROSCOPE, /* POST /ingest?name=APP{labels}&...&format=pprof, one value type a request */
	PUSH_PARCA,     /* POST /profiles/writeraw, JSON, one series a view */
};

struct push_label {
	const char *key, *value; /* checked by the caller: see push_label_ok */
};

struct push_options {
	const char *url; /* http(s)://[user:password@]host[:port][/prefix] */
	enum push_format format;
	const char *const *headers; /* "Name: value", added to every request */
	uint32_t nheaders;
	const char *app_name;       /* checked by the caller: see push_name_ok */
	const struct push_label *labels;
	uint32_t nlabels;
	const char *spool_dir;   /* NULL: intervals wait in memory, and are lost at exit */
	uint64_t spool_max;      /* bytes that may wait (on disk or in memory) */
	double request_timeout;  /* seconds a request may take */
	double max_backoff;      /* seconds between retries at most */
};

/* What happened so far; read with push_stats_get. */
struct push_stats {
	uint64_t requests;      /* made from intervals (and found in the spool at start) */
	uint64_t delivered;
	uint64_t dropped;       /* the oldest, to keep what waits under spool_max */
	uint64_t rejected;      /* answered 4xx: not sent again */
	uint64_t retries;       /* attempts that failed and will be made again */
	uint64_t waiting;       /* requests not yet delivered */
	uint64_t waiting_bytes;
	uint64_t from_spool;    /* found in the spool at start, left by an earlier run */
	bool failing;           /* the latest attempt failed */
	char failure[256];      /* why: "connection refused", "HTTP 503: ..." */
	uint64_t failure_seq;   /* bumped when the kind of failure changes */
	char rejection[512];    /* the first 4xx, with the server's message */
};

struct pusher;

/* Opens the spool (made if missing), starts the thread.  0, or -1 with *err. */
int pusher_new(struct pusher **out, const struct push_options *o, struct push_error *err);
/* Queues interval's requests; never waits for the network.  The interval's
 * "start_ns" and "duration_ns" metadata say when it was.  0, or -1 with
 * *err (nothing queued).  Requests dropped to make room are counted. */
int pusher_submit(struct pusher *pu, const struct profile *interval, struct push_error *err);
/* Waits until nothing waits or `seconds` pass; true if nothing waits.  What
 * is left stays in the spool (or is lost without one). */
bool pusher_drain(struct pusher *pu, double seconds);
void push_stats_get(struct pusher *pu, struct push_stats *out);
/* Stops the thread (an attempt under way is cut off) and frees everything. */
void pusher_free(struct pusher *pu);

/* What Pyroscope and Parca accept as an application name and a label. */
bool push_name_ok(const char *name);
bool push_label_ok(const char *key, const char *value);

#endif
