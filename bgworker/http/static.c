/*-------------------------------------------------------------------------
 *
 * http/static.c
 *	  The GraphQL explorer page at GET /.
 *
 * The page is one self-contained HTML file (bgworker/http/rtsync_explorer.html,
 * its script and styles inline, no resources from elsewhere) that
 * "make install" puts into PostgreSQL's share/extension directory next to
 * the extension's SQL scripts. It is found the way PostgreSQL finds those,
 * from the server's own executable path, read once (about 20 kB) and
 * answered from memory like any other answer, on either transport.
 *
 * Security headers: the page's script and styles are inline, so the
 * Content-Security-Policy allows inline code but nothing from any other
 * origin; it may connect only to its own origin (fetch POST /graphql and
 * the WebSocket at /graphql), and may not be framed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/memutils.h"

#include "http/request.h"
#include "http/static.h"

static const char explorer_headers[] =
"Content-Security-Policy: default-src 'none'; script-src 'unsafe-inline'; "
"style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; "
"base-uri 'none'; form-action 'none'; frame-ancestors 'none'\r\n"
"X-Content-Type-Options: nosniff\r\n"
"X-Frame-Options: DENY\r\n"
"Referrer-Policy: no-referrer\r\n";

/* The page, read on first use; NULL until then or while it is missing. */
static StringInfo page = NULL;

/* Reads the installed page into TopMemoryContext; false when it cannot. */
static bool
load_page(void)
{
	static bool missing_logged = false;
	char		share[MAXPGPATH];
	char		path[MAXPGPATH];
	FILE	   *f;
	StringInfo	s;
	char		chunk[8192];
	size_t		n;

	get_share_path(my_exec_path, share);
	snprintf(path, sizeof(path), "%s/extension/%s", share, RTSYNC_EXPLORER_FILE);
	f = AllocateFile(path, "rb");
	if (f == NULL)
	{
		if (!missing_logged)
			ereport(LOG,
					(errcode_for_file_access(),
					 errmsg("rtsync explorer page \"%s\" is not readable: %m", path),
					 errhint("Install it with \"make install\".")));
		missing_logged = true;
		return false;
	}
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		s = makeStringInfo();
		MemoryContextSwitchTo(old);
	}
	/* appends stay in s's context, wherever they are made from */
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		appendBinaryStringInfo(s, chunk, n);
	FreeFile(f);
	page = s;
	missing_logged = false;
	return true;
}

void
rtsync_explorer_serve(RtsyncHttpRequest *req)
{
	if (page == NULL && !load_page())
	{
		rtsync_http_answer(req, RTSYNC_HTTP_STATUS_NOT_FOUND, "text/plain; charset=utf-8",
						   "The rtsync explorer page is not installed on this server.\n", 58);
		return;
	}
	req->extra_headers = explorer_headers;
	rtsync_http_answer(req, RTSYNC_HTTP_STATUS_OK, "text/html; charset=utf-8",
					   page->data, page->len);
}
