/*-------------------------------------------------------------------------
 *
 * query/result.c
 *	  The JSON of a query's or mutation's root fields, from the rows their
 *	  statements returned, and the pagination tokens of list fields.
 *
 * A statement's select list holds one JSON value per selected column
 * (graphql/query_sql.c), so an object is the projection's keys and those values
 * concatenated; __typename is a constant of the plan.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/base64.h"

#include "extension/value_encode.h"
#include "query/result.h"

/* ------------------------------------------------------------------------
 * Pagination tokens: base64 of a JSON array of the last key's text values
 * ------------------------------------------------------------------------
 */

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

/* ------------------------------------------------------------------------
 * Results
 * ------------------------------------------------------------------------
 */

static void
project_row(const RtsyncProjection *proj, PGresult *res, int row, StringInfo out)
{
	appendStringInfoChar(out, '{');
	for (int i = 0; i < proj->nfields; i++)
	{
		const RtsyncProjField *f = &proj->fields[i];

		if (i > 0)
			appendStringInfoChar(out, ',');
		appendStringInfoString(out, f->prefix);
		if (f->column < 0)
			appendStringInfoString(out, proj->typename_json);
		else if (PQgetisnull(res, row, f->column))
			appendStringInfoString(out, "null");
		else
			appendBinaryStringInfo(out, PQgetvalue(res, row, f->column),
								   PQgetlength(res, row, f->column));
	}
	appendStringInfoChar(out, '}');
}

void
rtsync_root_result(const RtsyncRootPlan *root, PGresult *res, StringInfo out)
{
	int			nrows = res ? PQntuples(res) : 0;
	ListCell   *lc;

	switch (root->kind)
	{
		case RTSYNC_ROOT_VALUE:
			appendStringInfoString(out, root->value_json);
			return;
		case RTSYNC_ROOT_GET:
		case RTSYNC_ROOT_CREATE:
		case RTSYNC_ROOT_UPDATE:
		case RTSYNC_ROOT_DELETE:
			if (nrows == 0)
				appendStringInfoString(out, "null");
			else
				project_row(root->object, res, 0, out);
			return;
		case RTSYNC_ROOT_LIST:
			break;
	}
	appendStringInfoChar(out, '{');
	foreach(lc, root->conn_fields)
	{
		RtsyncConnField *cf = lfirst(lc);

		if (lc != list_head(root->conn_fields))
			appendStringInfoChar(out, ',');
		appendStringInfoString(out, cf->prefix);
		switch (cf->kind)
		{
			case RTSYNC_CONN_ITEMS:
				appendStringInfoChar(out, '[');
				for (int r = 0; r < nrows && r < root->limit; r++)
				{
					if (r > 0)
						appendStringInfoChar(out, ',');
					project_row(cf->items, res, r, out);
				}
				appendStringInfoChar(out, ']');
				break;
			case RTSYNC_CONN_NEXT_TOKEN:
				if (nrows > root->limit && root->nkeys > 0)
				{
					char	  **keys = palloc(root->nkeys * sizeof(char *));
					char	   *token;

					for (int k = 0; k < root->nkeys; k++)
						keys[k] = PQgetvalue(res, root->limit - 1, root->key_first + k);
					token = rtsync_page_token_encode(keys, root->nkeys);
					rtsync_json_append_string(out, token, strlen(token));
					pfree(token);
					pfree(keys);
				}
				else
					appendStringInfoString(out, "null");
				break;
			case RTSYNC_CONN_TYPENAME:
				appendStringInfo(out, "\"Model%sConnection\"", root->type_name);
				break;
		}
	}
	appendStringInfoChar(out, '}');
}
