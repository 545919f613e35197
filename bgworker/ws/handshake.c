/*-------------------------------------------------------------------------
 *
 * ws/handshake.c
 *	  What a WebSocket upgrade request says about the session: AppSync's
 *	  base64url "header-" subprotocol or "header=" query (which also mark
 *	  the client as AppSync), or plain x-api-key and Authorization headers.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "base/base64url.h"
#include "base/json.h"
#include "ws/handshake.h"
#include "ws/resume.h"

/*
 * AppSync's authorization header: base64url JSON like
 * {"host":"...","x-api-key":"da2-..."} or {"host":"...","Authorization":
 * "<jwt>"}. Takes the key or the token into the session.
 */
static void
take_appsync_header(RtsyncWsSession *s, const char *b64, size_t b64len, MemoryContext cxt)
{
	size_t		len;
	uint8	   *json = rtsync_base64url_decode(b64, b64len, &len);
	JsonbContainer *header = json ? rtsync_json_parse_object((char *) json, len) : NULL;
	char	   *key = rtsync_json_get_string(header, "x-api-key");
	char	   *token = rtsync_json_get_string(header, "Authorization");

	if (token == NULL)
		token = rtsync_json_get_string(header, "authorization");
	if (key && strlen(key) < RTSYNC_MAX_KEY_LEN)
		strlcpy(s->handshake_key, key, RTSYNC_MAX_KEY_LEN);
	if (token && token[0])
		s->handshake_token = MemoryContextStrdup(cxt, token);
	/* a resume position for every start (ws/resume.h) */
	if (rtsync_json_get_string(header, RTSYNC_RESUME_HEADER))
		s->resume_after = MemoryContextStrdup(cxt, rtsync_json_get_string(header, RTSYNC_RESUME_HEADER));
}

/*
 * Read what the upgrade request says about the dialect, the API key and
 * the token (kept in cxt).
 */
void
rtsync_ws_handshake_inspect(struct lws *wsi, RtsyncWsSession *s, const char *moved_header,
							MemoryContext cxt)
{
	char		buf[16384];
	int			n;

	/* the upgrade moved AppSync's header- token to moved_header */
	n = lws_hdr_custom_copy(wsi, buf, sizeof(buf), moved_header, strlen(moved_header));
	if (n <= 0)
		n = lws_hdr_copy(wsi, buf, sizeof(buf), WSI_TOKEN_PROTOCOL);
	if (n > 0)
	{
		char	   *tok = strstr(buf, "header-");

		if (tok)
		{
			size_t		toklen = strcspn(tok + 7, ", ");

			s->appsync_handshake = true;
			take_appsync_header(s, tok + 7, toklen, cxt);
		}
	}
	{
		/* a pointer just past "header=" inside buf */
		const char *val = lws_get_urlarg_by_name(wsi, "header=", buf, sizeof(buf));

		if (val != NULL)
		{
			s->appsync_handshake = true;
			take_appsync_header(s, val, strlen(val), cxt);
		}
	}
	n = lws_hdr_custom_copy(wsi, buf, sizeof(buf), "x-api-key:", 10);
	if (n <= 0)
		n = lws_hdr_custom_copy(wsi, buf, sizeof(buf), "X-Api-Key:", 10);
	if (n > 0 && n < RTSYNC_MAX_KEY_LEN)
		strlcpy(s->handshake_key, buf, RTSYNC_MAX_KEY_LEN);
	if (s->handshake_token == NULL &&
		lws_hdr_copy(wsi, buf, sizeof(buf), WSI_TOKEN_HTTP_AUTHORIZATION) > 0)
		s->handshake_token = MemoryContextStrdup(cxt, buf);
}
