/*-------------------------------------------------------------------------
 *
 * graphql/page_token.c
 *	  Pagination tokens (nextToken): base64 of a JSON array of the last
 *	  row's key values, as text.
 *
 * A token is opaque to clients but not signed: the values decoded from one
 * reach the next page's SQL only as parameters (graphql/query_sql.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/base64.h"

#include "extension/value_encode.h"
#include "graphql/page_token.h"
#include "graphql/schema.h"

/* base64 of ["key1","key2",...] */
char *
rtsync_page_token_encode(char **keys, int nkeys)
{
	StringInfoData json;
	char	   *out;
	int			len;

	initStringInfo(&json);
	appendStringInfoChar(&json, '[');
	for (int i = 0; i < nkeys; i++)
	{
		if (i > 0)
			appendStringInfoChar(&json, ',');
		rtsync_json_append_string(&json, keys[i], strlen(keys[i]));
	}
	appendStringInfoChar(&json, ']');
	out = palloc(pg_b64_enc_len(json.len) + 1);
	len = pg_b64_encode(json.data, json.len, out, pg_b64_enc_len(json.len));
	out[Max(len, 0)] = '\0';
	return out;
}

/* The key values of a token; NULL when it is no array of nkeys strings. */
char **
rtsync_page_token_decode(const char *token, int nkeys)
{
	int			len = strlen(token);
	char	   *json = palloc(pg_b64_dec_len(len) + 1);
	int			n = pg_b64_decode(token, len, json, pg_b64_dec_len(len));
	char	   *error = NULL;
	Jsonb	   *jb;
	char	  **keys;

	if (n <= 0)
		return NULL;
	json[n] = '\0';
	jb = rtsync_json_parse(json, n, &error);
	if (jb == NULL || !JB_ROOT_IS_ARRAY(jb) || JB_ROOT_IS_SCALAR(jb) ||
		JB_ROOT_COUNT(jb) != nkeys)
		return NULL;
	keys = palloc(nkeys * sizeof(char *));
	for (int i = 0; i < nkeys; i++)
	{
		JsonbValue *v = getIthJsonbValueFromContainer(&jb->root, i);

		if (v == NULL || v->type != jbvString)
			return NULL;
		keys[i] = pnstrdup(v->val.string.val, v->val.string.len);
	}
	return keys;
}
