/*-------------------------------------------------------------------------
 *
 * ws/handshake.c
 *	  What a WebSocket upgrade request says about the session: AppSync's
 *	  base64url "header-" subprotocol or "header=" query (which also mark
 *	  the client as AppSync), or a plain x-api-key header.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/base64.h"

#include "ws/handshake.h"

/*
 * AppSync's authorization header: base64url JSON like
 * {"host":"...","x-api-key":"da2-..."}. Copies the key into the session; the
 * decoded copies are freed here (the handshake runs in the pass's context,
 * but a client may send a large header).
 */
static void
take_appsync_header(RtsyncWsSession *s, const char *b64, size_t b64len)
{
	char	   *std = palloc(b64len + 4);
	char	   *json;
	int			n = 0;
	int			declen;
	const char *key;

	/* base64url to base64, with padding */
	for (size_t i = 0; i < b64len; i++)
		std[n++] = b64[i] == '-' ? '+' : b64[i] == '_' ? '/' : b64[i];
	while (n % 4 != 0)
		std[n++] = '=';
	json = palloc(pg_b64_dec_len(n) + 1);
	declen = pg_b64_decode(std, n, json, pg_b64_dec_len(n));
	pfree(std);
	if (declen < 0)
	{
		pfree(json);
		return;
	}
	json[declen] = '\0';
	key = strstr(json, "\"x-api-key\"");
	if (key && (key = strchr(key + 11, '"')) != NULL)
	{
		const char *end = strchr(key + 1, '"');

		if (end && end - key - 1 < RTSYNC_MAX_KEY_LEN)
			strlcpy(s->handshake_key, key + 1, end - key);
	}
	pfree(json);
}

/* Read what the upgrade request says about the dialect and the API key. */
void
rtsync_ws_handshake_inspect(struct lws *wsi, RtsyncWsSession *s, const char *moved_header)
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
			take_appsync_header(s, tok + 7, toklen);
		}
	}
	{
		/* a pointer just past "header=" inside buf */
		const char *val = lws_get_urlarg_by_name(wsi, "header=", buf, sizeof(buf));

		if (val != NULL)
		{
			s->appsync_handshake = true;
			take_appsync_header(s, val, strlen(val));
		}
	}
	n = lws_hdr_custom_copy(wsi, buf, sizeof(buf), "x-api-key:", 10);
	if (n <= 0)
		n = lws_hdr_custom_copy(wsi, buf, sizeof(buf), "X-Api-Key:", 10);
	if (n > 0 && n < RTSYNC_MAX_KEY_LEN)
		strlcpy(s->handshake_key, buf, RTSYNC_MAX_KEY_LEN);
}
