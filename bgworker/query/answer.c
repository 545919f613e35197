/*-------------------------------------------------------------------------
 *
 * query/answer.c
 *	  The AppSync-shaped answer of an executed query or mutation:
 *	  {"data":...,"errors":[...]} from the results of its statements.
 *
 * Database errors become errors of the root field that caused them, with an
 * errorType per kind of problem and no internals (the full message goes to
 * the server log). One request is one transaction: when a mutation fails,
 * everything the request changed is rolled back, and the answer says so
 * for every field.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "base/settings.h"
#include "extension/value_encode.h"
#include "query/answer.h"
#include "query/result.h"

/*
 * One error object of an answer, after those already in out: errorType and
 * message, then the root field's path and location when root is given, then
 * extra (more members, each starting with a comma) when given.
 */
void
rtsync_answer_append_error(StringInfo out, const char *error_type, const char *message,
						   const RtsyncRootPlan *root, const char *extra)
{
	if (out->len > 0)
		appendStringInfoChar(out, ',');
	appendStringInfoString(out, "{\"errorType\":");
	rtsync_json_append_string(out, error_type, strlen(error_type));
	appendStringInfoString(out, ",\"message\":");
	rtsync_json_append_string(out, message, strlen(message));
	if (root)
	{
		appendStringInfoString(out, ",\"path\":[");
		rtsync_json_append_string(out, root->response_key, strlen(root->response_key));
		appendStringInfo(out, "],\"locations\":[{\"line\":%d,\"column\":%d}]",
						 root->loc.line, root->loc.column);
	}
	if (extra)
		appendStringInfoString(out, extra);
	appendStringInfoChar(out, '}');
}

/*
 * A database error as the client sees it: a kind (errorType) and a message
 * that tells what went wrong with the client's data, never how the server
 * is built. Anything unexpected is logged and reported as internal.
 */
static void
append_db_error(StringInfo out, PGresult *res, const RtsyncRootPlan *root, bool mutation)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
	const char *type = "InternalError";
	char	   *message;
	char	   *extra = NULL;

	if (state == NULL)
		state = "XX000";
	if (primary == NULL)
		primary = "unknown error";
	message = psprintf("%s%s%s", primary, detail ? ": " : "", detail ? detail : "");
	if (strcmp(state, "RT409") == 0)
	{
		type = "ConflictUnhandled";
		message = psprintf("Conflict resolver rejects mutation: the item's %s is %s.",
						   root->version_name ? root->version_name : "version",
						   detail ? detail : "unknown");
		if (detail)
			extra = psprintf(",\"errorInfo\":{\"currentVersion\":%s},\"data\":{\"%s\":%s}",
							 detail, root->version_name ? root->version_name : "version", detail);
	}
	else if (strcmp(state, "23505") == 0)
		type = "UniqueViolation";
	else if (strcmp(state, "23502") == 0)
		type = "NotNullViolation";
	else if (strcmp(state, "23514") == 0)
		type = "CheckViolation";
	else if (strcmp(state, "23503") == 0)
		type = "ForeignKeyViolation";
	else if (strncmp(state, "23", 2) == 0)
		type = "ConstraintViolation";
	else if (strcmp(state, "42501") == 0)
	{
		type = "Unauthorized";
		message = psprintf("Not Authorized to access %s on type %s: %s.", root->field_name,
						   mutation ? "Mutation" : "Query", primary);
	}
	else if (strncmp(state, "22", 2) == 0)
		type = "InvalidInput";
	else if (strcmp(state, "57014") == 0)
	{
		type = "Timeout";
		message = psprintf("The statement was cancelled after rtsync.statement_timeout (%d ms).",
						   rtsync_statement_timeout_ms);
	}
	else if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)
		type = "TransactionConflict";
	else if (strcmp(state, "25006") == 0)
		type = "ReadOnly";
	else
	{
		ereport(LOG,
				(errmsg("rtsync GraphQL field \"%s\" failed: %s", root->field_name,
						PQresultErrorMessage(res))));
		message = "Internal error; the server log has the details.";
	}
	rtsync_answer_append_error(out, type, message, root, extra);
}

/*
 * The answer to an executed plan, {"data":...,"errors":[...]}, from its
 * statements' results (see net/pool.h): shared by HTTP and by queries and
 * mutations sent over WebSocket.
 */
bool
rtsync_answer_build(RtsyncRequestPlan *plan, List *results, StringInfo body)
{
	StringInfoData data;
	StringInfoData errors;
	PGresult   *commit = list_length(results) > plan->nstatements ?
		list_nth(results, plan->nstatements) : NULL;
	bool		failed = false;
	ListCell   *lc;

	/* did anything fail? then the transaction was rolled back */
	foreach(lc, results)
	{
		ExecStatusType st = PQresultStatus(lfirst(lc));

		failed |= st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK;
	}

	initStringInfo(&data);
	initStringInfo(&errors);
	appendStringInfoChar(&data, '{');
	foreach(lc, plan->roots)
	{
		RtsyncRootPlan *root = lfirst(lc);
		PGresult   *res = root->statement >= 0 ? list_nth(results, root->statement) : NULL;
		ExecStatusType st = res ? PQresultStatus(res) : PGRES_TUPLES_OK;

		if (lc != list_head(plan->roots))
			appendStringInfoChar(&data, ',');
		appendStringInfoString(&data, root->prefix);
		if (st == PGRES_FATAL_ERROR)
			append_db_error(&errors, res, root, plan->mutation);
		else if (st == PGRES_PIPELINE_ABORTED)
			rtsync_answer_append_error(&errors, "NotExecuted",
						 "Not run: an earlier field of this request failed, and the request is one transaction.",
						 root, NULL);
		else if (failed && plan->mutation && res)
			rtsync_answer_append_error(&errors, "RolledBack",
						 "Rolled back: another field of this request failed, and the request is one transaction.",
						 root, NULL);
		if (st != PGRES_TUPLES_OK || (failed && plan->mutation && res))
		{
			appendStringInfoString(&data, "null");
			continue;
		}
		rtsync_root_result(root, res, &data);
		if (res && PQntuples(res) == 0 &&
			(root->kind == RTSYNC_ROOT_UPDATE || root->kind == RTSYNC_ROOT_DELETE))
			rtsync_answer_append_error(&errors, "NotFound",
						 psprintf("No %s with that key (or not visible to this key's role).",
								  root->type_name),
						 root, NULL);
	}
	appendStringInfoChar(&data, '}');
	if (commit && PQresultStatus(commit) == PGRES_FATAL_ERROR)
	{
		/* e.g. a deferred constraint: nothing was committed */
		RtsyncRootPlan *last = llast(plan->roots);

		append_db_error(&errors, commit, last, plan->mutation);
		resetStringInfo(&data);
		appendStringInfoString(&data, "null");
	}

	appendStringInfo(body, "{\"data\":%s", data.data);
	if (errors.len > 0)
		appendStringInfo(body, ",\"errors\":[%s]", errors.data);
	appendStringInfoChar(body, '}');
	return errors.len == 0;
}
