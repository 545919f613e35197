/*-------------------------------------------------------------------------
 *
 * http_static.c
 *	  The GraphQL explorer page at GET /.
 *
 * The page is one self-contained HTML file (bgworker/rtsync_explorer.html,
 * its script and styles inline, no resources from elsewhere) that
 * "make install" puts into PostgreSQL's share/extension directory next to
 * the extension's SQL scripts. It is found the way PostgreSQL finds those,
 * from the server's own executable path, and sent by libwebsockets'
 * lws_serve_http_file: the file is read as it is sent, in pieces the
 * connection can take, from writeable events that lws handles itself
 * without our callback. (Over HTTP/2 lws 4.1 would send those pieces in
 * frames larger than clients accept: server.c offers only HTTP/1.1.)
 *
 * Security headers: the page's script and styles are inline, so the
 * Content-Security-Policy allows inline code but nothing from any other
 * origin; it may connect only to its own origin (fetch POST /graphql and
 * the WebSocket at /graphql), and may not be framed.
 *
 * Called from the lws callback, inside its catch (server.c): nothing here
 * throws, and a failure answers the client or closes it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <unistd.h>

#include "miscadmin.h"
#include "utils/timestamp.h"

#include "http_static.h"
#include "metrics.h"

static const struct
{
	const char *name;
	const char *value;
}			explorer_headers[] =
{
	{"content-security-policy:",
		"default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
		"connect-src 'self'; img-src 'self' data:; base-uri 'none'; "
		"form-action 'none'; frame-ancestors 'none'"},
	{"x-content-type-options:", "nosniff"},
	{"x-frame-options:", "DENY"},
	{"referrer-policy:", "no-referrer"},
};

/* Where "make install" put the page; computed once. */
static const char *
explorer_path(void)
{
	static char path[MAXPGPATH];

	if (path[0] == '\0')
	{
		char		share[MAXPGPATH];

		get_share_path(my_exec_path, share);
		snprintf(path, sizeof(path), "%s/extension/%s", share, RTSYNC_EXPLORER_FILE);
	}
	return path;
}

/* True for GET and HEAD, in HTTP/1 and HTTP/2 alike. */
static bool
method_is_get_or_head(struct lws *wsi)
{
	char		method[8];

	if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0 ||
		lws_hdr_total_length(wsi, WSI_TOKEN_HEAD_URI) > 0)
		return true;
	if (lws_hdr_copy(wsi, method, sizeof(method), WSI_TOKEN_HTTP_COLON_METHOD) > 0)
		return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	return false;
}

/*
 * A short plain-text answer, for the cases where there is no page to send.
 * Returns what the callback returns: 0, or -1 to close the connection.
 *
 * close_after: answer, then close. For a request with a method other than
 * GET or HEAD, which may carry a body: at LWS_CALLBACK_HTTP the body has
 * not been read yet, and completing the transaction then leaves lws 4.1
 * spinning on the connection. Closing is always safe and such requests are
 * mistakes anyway.
 */
static int
explorer_respond_text(struct lws *wsi, unsigned int status, const char *body,
					  bool close_after)
{
	unsigned char buf[LWS_PRE + 512];
	unsigned char *start = buf + LWS_PRE;
	unsigned char *p = start;
	unsigned char *end = buf + sizeof(buf) - 1;
	size_t		len = strlen(body);

	if (lws_add_http_common_headers(wsi, status, "text/plain; charset=utf-8",
									len, &p, end) ||
		(status == HTTP_STATUS_METHOD_NOT_ALLOWED &&
		 lws_add_http_header_by_name(wsi, (const unsigned char *) "allow:",
									 (const unsigned char *) "GET, HEAD", 9,
									 &p, end)) ||
		lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
	if (lws_write(wsi, (unsigned char *) body, len, LWS_WRITE_HTTP_FINAL) != (int) len ||
		close_after)
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/*
 * Answers a request for "/" with the explorer page. Returns what an lws
 * HTTP callback returns: 0 to go on, -1 to close the connection.
 */
int
rtsync_explorer_serve(struct lws *wsi)
{
	static bool missing_logged = false;
	TimestampTz started = GetCurrentTimestamp();
	const char *path = explorer_path();
	unsigned char headers[1024];
	unsigned char *p = headers;
	unsigned char *end = headers + sizeof(headers);
	int			n;

	if (!method_is_get_or_head(wsi))
	{
		rtsync_metrics_http_request(HTTP_STATUS_METHOD_NOT_ALLOWED, started);
		return explorer_respond_text(wsi, HTTP_STATUS_METHOD_NOT_ALLOWED,
									 "The explorer page takes GET; GraphQL requests go to /graphql.\n",
									 true);
	}

	if (access(path, R_OK) != 0)
	{
		if (!missing_logged)
			ereport(LOG,
					(errmsg("rtsync explorer page \"%s\" is not readable: %m", path),
					 errhint("Install it with \"make install\".")));
		missing_logged = true;
		rtsync_metrics_http_request(HTTP_STATUS_NOT_FOUND, started);
		return explorer_respond_text(wsi, HTTP_STATUS_NOT_FOUND,
									 "The rtsync explorer page is not installed on this server.\n",
									 false);
	}
	missing_logged = false;

	/* lws_serve_http_file takes extra headers already encoded */
	for (int i = 0; i < lengthof(explorer_headers); i++)
		if (lws_add_http_header_by_name(wsi,
										(const unsigned char *) explorer_headers[i].name,
										(const unsigned char *) explorer_headers[i].value,
										strlen(explorer_headers[i].value), &p, end))
			return -1;

	n = lws_serve_http_file(wsi, path, "text/html; charset=utf-8",
							(const char *) headers, p - headers);
	rtsync_metrics_http_request(n < 0 ? HTTP_STATUS_INTERNAL_SERVER_ERROR : HTTP_STATUS_OK,
								started);
	/* <0: failed; >0: already answered, and the transaction must end here */
	if (n < 0 || (n > 0 && lws_http_transaction_completed(wsi)))
		return -1;
	return 0;
}
