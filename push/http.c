/* One POST at a time with libcurl, on one handle so that the connection
 * (and its TLS session) is kept between requests.  libcurl takes care of
 * https, user:password in the URL, and proxies (http_proxy, https_proxy,
 * no_proxy, as curl(1) reads them). */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "push/push-internal.h"

struct http_client {
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

struct http_client *http_client_new(const struct push_options *o, volatile int *cancel)
{
	struct http_client *c = calloc(1, sizeof(*c));
	if (!c || !(c->curl = curl_easy_init()) || !(c->prefix = strdup(o->url))) {
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
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_POST, 1L);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, (const char *)r->body);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->len);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->timeout_ms < 5000 ? c->timeout_ms : 5000L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L); /* no SIGALRM in a threaded program */
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_USERAGENT, "smolder/" PACKAGE_VERSION);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, keep_answer);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, check_cancel);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, c);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
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
		struct curl_slist *grown = curl_slist_append(headers, h);
		listed = grown != NULL;
		headers = grown ? grown : headers;
	}
	if (!url || !listed) {
		snprintf(res->message, sizeof(res->message), "out of memory");
	} else {
		strcpy(url, c->prefix);
		strcat(url, r->target);
		set_request(c, r, url, headers);
		CURLcode rc = curl_easy_perform(c->curl);
		if (rc != CURLE_OK) {
			snprintf(res->message, sizeof(res->message), "%s", c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
		} else {
			curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &res->status);
		}
	}
	curl_slist_free_all(headers);
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
		curl_easy_cleanup(c->curl);
	free(c->prefix);
	free(c);
}
