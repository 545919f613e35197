/*-------------------------------------------------------------------------
 *
 * http/upgrade.c
 *	  Hands a plain-TCP connection that asks for a WebSocket to
 *	  libwebsockets, after checking the request and fixing up the one
 *	  header lws 4.1 cannot take.
 *
 * The request head was read by http/connection.c. Here it is checked the way
 * a client can understand: an unknown path gets 404, a request that is no
 * WebSocket handshake or offers only subprotocols we do not speak gets
 * 400, a full or stopping server 503 — lws would only drop the connection.
 *
 * Why the head is rewritten: AWS Amplify and aws-appsync-subscription-link
 * put their authorization in a Sec-WebSocket-Protocol token
 * ("graphql-ws, header-<base64url JSON>"), and libwebsockets 4.1 refuses
 * any upgrade whose protocol list is longer than 127 bytes ("protocol list
 * too long") before any callback of ours could step in. Such tokens move
 * out of Sec-WebSocket-Protocol into a header of our own
 * (RTSYNC_APPSYNC_HEADER) and lws gets the socket with the rewritten head
 * (lws_adopt_socket_vhost_readbuf), as if it had accepted it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <unistd.h>

#include "http/upgrade.h"

static struct lws_vhost *target_vhost = NULL;
static bool (*accepting) (void) = NULL;

void
rtsync_ws_upgrade_init(struct lws_vhost *vhost, bool (*can_accept) (void))
{
	target_vhost = vhost;
	accepting = can_accept;
}

/*
 * Copies the request head, moving "header-..." tokens of
 * Sec-WebSocket-Protocol to RTSYNC_APPSYNC_HEADER. Returns the new length,
 * or -1 when it does not fit.
 */
static int
rewrite_head(const char *in, size_t inlen, size_t headlen, char *out, size_t outmax)
{
	const char *line = in;
	const char *head_end = in + headlen;
	size_t		n = 0;
	char		moved[RTSYNC_HTTP_HEAD_MAX];
	size_t		moved_len = 0;

#define EMIT(p, l) do { if (n + (l) > outmax) return -1; memcpy(out + n, (p), (l)); n += (l); } while (0)

	while (line < head_end)
	{
		/* the head was parsed: its lines end in CRLF; data has no NUL end */
		const char *eol = memchr(line, '\n', head_end - line);
		size_t		linelen = eol ? (size_t) (eol - line) + 1 : (size_t) (head_end - line);
		static const char name[] = "sec-websocket-protocol:";

		if (linelen == 2)		/* the empty line that ends the head */
			break;
		if (linelen > sizeof(name) && pg_strncasecmp(line, name, sizeof(name) - 1) == 0)
		{
			const char *p = line + sizeof(name) - 1;
			const char *end = line + linelen - 2;
			bool		first = true;

			EMIT(line, sizeof(name) - 1);
			while (p < end)
			{
				const char *tok;
				size_t		toklen;

				while (p < end && (*p == ' ' || *p == ','))
					p++;
				tok = p;
				while (p < end && *p != ',' && *p != ' ')
					p++;
				toklen = p - tok;
				if (toklen == 0)
					continue;
				if (toklen > 7 && strncmp(tok, "header-", 7) == 0)
				{
					if (moved_len + toklen < sizeof(moved))
					{
						memcpy(moved + moved_len, tok, toklen);
						moved_len += toklen;
					}
					continue;
				}
				EMIT(first ? " " : ", ", first ? 1 : 2);
				EMIT(tok, toklen);
				first = false;
			}
			EMIT("\r\n", 2);
		}
		else
			EMIT(line, linelen);
		line += linelen;
	}
	if (moved_len > 0)
	{
		EMIT(RTSYNC_APPSYNC_HEADER " ", sizeof(RTSYNC_APPSYNC_HEADER));
		EMIT(moved, moved_len);
		EMIT("\r\n", 2);
	}
	/* the empty line, and anything the client sent after the head */
	EMIT(in + headlen, inlen - headlen);
#undef EMIT
	return (int) n;
}

/* Only the GraphQL paths upgrade: /graphql, /graphql/realtime, /realtime. */
static bool
path_ok(const RtsyncHttpSlice *path)
{
	static const char *const paths[] = {"/graphql", "/graphql/", "/graphql/realtime", "/realtime"};

	for (int i = 0; i < lengthof(paths); i++)
		if (path->len == strlen(paths[i]) && memcmp(path->p, paths[i], path->len) == 0)
			return true;
	return false;
}

/*
 * Does the client offer a subprotocol we speak, or none at all (served
 * graphql-transport-ws)? AppSync's header- tokens do not count.
 */
static bool
subprotocols_ok(const RtsyncHttpSlice *offered)
{
	size_t		i = 0;
	bool		any = false;

	if (offered == NULL)
		return true;
	while (i < offered->len)
	{
		size_t		start;
		size_t		len;

		while (i < offered->len && (offered->p[i] == ' ' || offered->p[i] == ','))
			i++;
		start = i;
		while (i < offered->len && offered->p[i] != ',' && offered->p[i] != ' ')
			i++;
		len = i - start;
		if (len == 0 || (len > 7 && strncmp(offered->p + start, "header-", 7) == 0))
			continue;
		any = true;
		if ((len == 20 && strncmp(offered->p + start, "graphql-transport-ws", 20) == 0) ||
			(len == 10 && strncmp(offered->p + start, "graphql-ws", 10) == 0))
			return true;
	}
	return !any;
}

int
rtsync_ws_upgrade(int fd, const char *data, size_t len, const RtsyncHttpHead *head)
{
	const RtsyncHttpSlice *upgrade = rtsync_http_header(head, "upgrade");
	const RtsyncHttpSlice *version = rtsync_http_header(head, "sec-websocket-version");
	char	   *out;
	int			outlen;

	if (!path_ok(&head->path))
		return 404;
	if (head->method.len != 3 || memcmp(head->method.p, "GET", 3) != 0 ||
		!rtsync_http_token_in(upgrade, "websocket") ||
		!rtsync_http_token_in(rtsync_http_header(head, "connection"), "upgrade") ||
		rtsync_http_header(head, "sec-websocket-key") == NULL ||
		version == NULL || version->len != 2 || memcmp(version->p, "13", 2) != 0 ||
		!subprotocols_ok(rtsync_http_header(head, "sec-websocket-protocol")))
		return 400;
	if (target_vhost == NULL || !accepting())
		return 503;
	/* the head grows by at most the moved header's name and line end */
	out = palloc(len + sizeof(RTSYNC_APPSYNC_HEADER) + 4);
	outlen = rewrite_head(data, len, head->head_len - 2, out,
						  len + sizeof(RTSYNC_APPSYNC_HEADER) + 4);
	if (outlen < 0)
	{
		pfree(out);
		return 400;
	}
	/* lws copies the bytes, and closes fd itself if it cannot adopt it */
	lws_adopt_socket_vhost_readbuf(target_vhost, fd, out, outlen);
	pfree(out);
	return 0;
}
