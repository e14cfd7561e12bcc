/* One POST at a time with libcurl, on one handle so that the connection
 * (and its TLS session) is kept between requests.  libcurl takes care of
 * https, user:password in the URL, and proxies (http_proxy, https_proxy,
 * no_proxy, as curl(1) reads them).
 *
 * libcurl is loaded here, when a pusher starts, not linked: it brings some
 * thirty libraries (TLS, Kerberos, LDAP, ...) whose loading and relocation
 * took 9 ms of CPU at the start of every smolder command, pushing or not. */
#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "push/push-internal.h"

#define CURL_SONAME "libcurl.so.4"

/* The part of libcurl's API used here. */
struct curl_api {
	CURLcode (*global_init)(long flags);
	void (*global_cleanup)(void);
	CURL *(*easy_init)(void);
	void (*easy_reset)(CURL *h);
	CURLcode (*easy_setopt)(CURL *h, CURLoption option, ...);
	CURLcode (*easy_perform)(CURL *h);
	CURLcode (*easy_getinfo)(CURL *h, CURLINFO info, ...);
	const char *(*easy_strerror)(CURLcode code);
	void (*easy_cleanup)(CURL *h);
	struct curl_slist *(*slist_append)(struct curl_slist *list, const char *s);
	void (*slist_free_all)(struct curl_slist *list);
};

struct http_client {
	void *library;  /* dlopen's handle of libcurl */
	struct curl_api api;
	bool global_ready; /* curl_global_init succeeded */
	CURL *curl;
	char *prefix; /* the URL without a trailing slash */
	const char *const *headers; /* the user's: "Name: value" */
	uint32_t nheaders;
	long timeout_ms;
	volatile int *cancel;
	struct http_result *res; /* of the request under way */
	size_t kept;             /* bytes of the answer kept in res->message */
	char errbuf[CURL_ERROR_SIZE];
};

/* The start of the server's answer, for a message. */
static size_t keep_answer(char *data, size_t size, size_t n, void *arg)
{
	struct http_client *c = arg;
	size_t len = size * n, room = sizeof(c->res->message) - 1 - c->kept;
	size_t take = len < room ? len : room;
	memcpy(c->res->message + c->kept, data, take);
	c->kept += take;
	c->res->message[c->kept] = '\0';
	return len;
}

/* Stops a transfer when the pusher is being freed. */
static int check_cancel(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	return *((struct http_client *)arg)->cancel ? 1 : 0;
}

/* Loads libcurl and its functions; false with the reason in why. */
static bool load_curl(struct http_client *c, char *why, size_t why_len)
{
	/* Never unloaded (NODELETE): its TLS library registers exit handlers. */
	c->library = dlopen(CURL_SONAME, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
	if (!c->library) {
		snprintf(why, why_len, "%s (install libcurl4)", dlerror());
		return false;
	}
	static const struct {
		const char *name;
		size_t offset;
	} functions[] = {
#define CURL_FUNCTION(field, name) { name, offsetof(struct curl_api, field) }
		CURL_FUNCTION(global_init, "curl_global_init"),
		CURL_FUNCTION(global_cleanup, "curl_global_cleanup"),
		CURL_FUNCTION(easy_init, "curl_easy_init"),
		CURL_FUNCTION(easy_reset, "curl_easy_reset"),
		CURL_FUNCTION(easy_setopt, "curl_easy_setopt"),
		CURL_FUNCTION(easy_perform, "curl_easy_perform"),
		CURL_FUNCTION(easy_getinfo, "curl_easy_getinfo"),
		CURL_FUNCTION(easy_strerror, "curl_easy_strerror"),
		CURL_FUNCTION(easy_cleanup, "curl_easy_cleanup"),
		CURL_FUNCTION(slist_append, "curl_slist_append"),
		CURL_FUNCTION(slist_free_all, "curl_slist_free_all"),
#undef CURL_FUNCTION
	};
	for (size_t i = 0; i < sizeof(functions) / sizeof(functions[0]); i++) {
		void *f = dlsym(c->library, functions[i].name);
		if (!f) {
			snprintf(why, why_len, "%s: no %s", CURL_SONAME, functions[i].name);
			return false;
		}
		memcpy((char *)&c->api + functions[i].offset, &f, sizeof(f));
	}
	return true;
}

struct http_client *http_client_new(const struct push_options *o, volatile int *cancel, char *why, size_t why_len)
{
	struct http_client *c = calloc(1, sizeof(*c));
	snprintf(why, why_len, "out of memory");
	if (!c || !load_curl(c, why, why_len)) {
		http_client_free(c);
		return NULL;
	}
	c->global_ready = c->api.global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
	if (!c->global_ready || !(c->curl = c->api.easy_init()))
		snprintf(why, why_len, CURL_SONAME ": cannot start");
	if (!c->curl || !(c->prefix = strdup(o->url))) {
		http_client_free(c);
		return NULL;
	}
	size_t n = strlen(c->prefix);
	while (n && c->prefix[n - 1] == '/')
		c->prefix[--n] = '\0';
	c->headers = o->headers;
	c->nheaders = o->nheaders;
	c->timeout_ms = (long)(o->request_timeout * 1000);
	c->cancel = cancel;
	return c;
}

static void set_request(struct http_client *c, const struct push_request *r, const char *url,
			struct curl_slist *headers)
{
	CURL *h = c->curl;
	c->api.easy_reset(h);
	c->api.easy_setopt(h, CURLOPT_URL, url);
	c->api.easy_setopt(h, CURLOPT_POST, 1L);
	c->api.easy_setopt(h, CURLOPT_POSTFIELDS, (const char *)r->body);
	c->api.easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->len);
	c->api.easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	c->api.easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
	c->api.easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->timeout_ms < 5000 ? c->timeout_ms : 5000L);
	c->api.easy_setopt(h, CURLOPT_NOSIGNAL, 1L); /* no SIGALRM in a threaded program */
	c->api.easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	c->api.easy_setopt(h, CURLOPT_USERAGENT, "smolder/" PACKAGE_VERSION);
	c->api.easy_setopt(h, CURLOPT_WRITEFUNCTION, keep_answer);
	c->api.easy_setopt(h, CURLOPT_WRITEDATA, c);
	c->api.easy_setopt(h, CURLOPT_XFERINFOFUNCTION, check_cancel);
	c->api.easy_setopt(h, CURLOPT_XFERINFODATA, c);
	c->api.easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	c->api.easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
}

void http_client_post(struct http_client *c, const struct push_request *r, struct http_result *res)
{
	*res = (struct http_result){ 0 };
	c->res = res;
	c->kept = 0;
	c->errbuf[0] = '\0';
	char *url = malloc(strlen(c->prefix) + strlen(r->target) + 1);
	char type[160];
	snprintf(type, sizeof(type), "Content-Type: %s", r->content_type);
	/* Ours go last, so that a user's Content-Type cannot break the body;
	 * "Expect:" saves a round trip waiting for "100 Continue". */
	struct curl_slist *headers = NULL;
	bool listed = true;
	for (uint32_t i = 0; listed && i <= c->nheaders + 1; i++) {
		const char *h = i < c->nheaders ? c->headers[i] : i == c->nheaders ? type : "Expect:";
		struct curl_slist *grown = c->api.slist_append(headers, h);
		listed = grown != NULL;
		headers = grown ? grown : headers;
	}
	if (!url || !listed) {
		snprintf(res->message, sizeof(res->message), "out of memory");
	} else {
		strcpy(url, c->prefix);
		strcat(url, r->target);
		set_request(c, r, url, headers);
		CURLcode rc = c->api.easy_perform(c->curl);
		if (rc != CURLE_OK) {
			res->transport_error = (int)rc;
			snprintf(res->message, sizeof(res->message), "%s", c->errbuf[0] ? c->errbuf : c->api.easy_strerror(rc));
		} else {
			c->api.easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &res->status);
		}
	}
	c->api.slist_free_all(headers);
	free(url);
	c->res = NULL;
	/* One line of the answer, whatever the server sent. */
	for (char *m = res->message; *m; m++)
		if ((unsigned char)*m < 0x20 || *m == 0x7f)
			*m = ' ';
}

void http_client_free(struct http_client *c)
{
	if (!c)
		return;
	if (c->curl)
		c->api.easy_cleanup(c->curl);
	if (c->global_ready)
		c->api.global_cleanup();
	if (c->library)
		dlclose(c->library);
	free(c->prefix);
	free(c);
}
