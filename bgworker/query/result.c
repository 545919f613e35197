/*-------------------------------------------------------------------------
 *
 * query/result.c
 *	  The JSON of a query's or mutation's root fields, from the rows their
 *	  statements returned.
 *
 * A statement's select list holds one JSON value per selected column
 * (graphql/query_sql.c), so an object is the projection's keys and those values
 * concatenated; __typename is a constant of the plan.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "extension/value_encode.h"
#include "graphql/page_token.h"
#include "query/result.h"

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
