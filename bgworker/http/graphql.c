/*-------------------------------------------------------------------------
 *
 * http/graphql.c
 *	  GraphQL over HTTP: the request's document, its API key, its plan, its
 *	  transaction on the pool, and its answer.
 *
 * Answers: 200 with {"data":...,"errors":[...]} once a request is
 * understood (built by query/answer.c); 400 for a body that is no GraphQL
 * request; 401 UnauthorizedException for a missing or invalid key; 503
 * when the database cannot take the request.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "control/apikeys.h"
#include "control/control.h"
#include "control/identity.h"
#include "control/limits.h"
#include "control/request_log.h"
#include "http/graphql.h"
#include "net/pool.h"
#include "graphql/query_plan.h"
#include "query/answer.h"
#include "graphql/schema_sdl.h"

/* Requests waiting for a reload of the keys or the schema. */
static List *parked = NIL;

typedef struct Execution
{
	RtsyncHttpRequest *req;
	RtsyncRequestPlan *plan;
	const char *identity;		/* for the request log, in req->cxt */
	const char *role;
	const char *name;
} Execution;

static void
log_execution(Execution *ex, RtsyncOutcome outcome)
{
	rtsync_request_log("http", ex->identity, ex->role,
					   ex->plan->mutation ? "mutation" : "query",
					   ex->name ? ex->name : ex->plan->name,
					   outcome, ex->req->started);
}

/* Every statement's result is in: the answer. */
static void
execution_done(void *arg, List *results, const char *failure)
{
	Execution  *ex = arg;
	RtsyncHttpRequest *req = ex->req;
	RtsyncRequestPlan *plan = ex->plan;
	MemoryContext old = MemoryContextSwitchTo(req->cxt);
	StringInfoData body;

	if (failure && strncmp(failure, RTSYNC_POOL_TOO_LARGE, strlen(RTSYNC_POOL_TOO_LARGE)) == 0)
	{
		/* it ran (a mutation committed); its answer is not sent */
		StringInfoData errors;

		rtsync_request_plan_free(plan);
		initStringInfo(&errors);
		rtsync_answer_append_error(&errors, "ResponseTooLarge", failure, NULL, NULL);
		initStringInfo(&body);
		appendStringInfo(&body, "{\"data\":null,\"errors\":[%s]}", errors.data);
		log_execution(ex, RTSYNC_OUTCOME_ERROR);
		rtsync_http_answer(req, RTSYNC_HTTP_STATUS_OK, "application/json", body.data, body.len);
		MemoryContextSwitchTo(old);
		return;
	}
	if (failure)
	{
		log_execution(ex, RTSYNC_OUTCOME_ERROR);
		ereport(LOG, (errmsg("rtsync GraphQL request failed: %s", failure)));
		rtsync_request_plan_free(plan);
		rtsync_http_answer_error(req, RTSYNC_HTTP_STATUS_SERVICE_UNAVAILABLE, "ServiceUnavailable",
						   strncmp(failure, "The ", 4) == 0 ? failure :
						   "The database could not run the request.");
		MemoryContextSwitchTo(old);
		return;
	}

	initStringInfo(&body);
	log_execution(ex, rtsync_answer_build(plan, results, &body) ?
				  RTSYNC_OUTCOME_OK : RTSYNC_OUTCOME_ERROR);
	rtsync_request_plan_free(plan);
	rtsync_http_answer(req, RTSYNC_HTTP_STATUS_OK, "application/json", body.data, body.len);
	MemoryContextSwitchTo(old);
}

/* The document, operation name and variables of a request; false: answered */
static bool
read_request(RtsyncHttpRequest *req, char **query, char **operation_name, char **variables)
{
	*query = *operation_name = *variables = NULL;
	if (!req->post)
	{
		RtsyncHttpSlice q = {req->query, strlen(req->query)};
		char	   *buf = palloc(q.len + 1);

		/* decoded values are never longer than the query string */
		if (rtsync_http_query_arg(&q, "query", buf, q.len + 1) >= 0)
			*query = pstrdup(buf);
		if (rtsync_http_query_arg(&q, "operationName", buf, q.len + 1) >= 0)
			*operation_name = pstrdup(buf);
		if (rtsync_http_query_arg(&q, "variables", buf, q.len + 1) >= 0)
			*variables = pstrdup(buf);
		pfree(buf);
	}
	else if (req->content_type && strncmp(req->content_type, "application/graphql", 19) == 0)
		*query = req->body.data;
	else
	{
		char	   *error = NULL;
		Jsonb	   *jb = rtsync_json_parse(req->body.data, req->body.len, &error);
		JsonbValue *v;

		if (jb == NULL || !JB_ROOT_IS_OBJECT(jb))
		{
			rtsync_http_answer_error(req, RTSYNC_HTTP_STATUS_BAD_REQUEST, "MalformedHttpRequestException",
							   jb == NULL ? psprintf("The request body is not JSON: %s", error) :
							   "The request body must be a JSON object with a \"query\".");
			return false;
		}
		v = getKeyJsonValueFromContainer(&jb->root, "query", 5, NULL);
		if (v && v->type == jbvString)
			*query = pnstrdup(v->val.string.val, v->val.string.len);
		v = getKeyJsonValueFromContainer(&jb->root, "operationName", 13, NULL);
		if (v && v->type == jbvString)
			*operation_name = pnstrdup(v->val.string.val, v->val.string.len);
		v = getKeyJsonValueFromContainer(&jb->root, "variables", 9, NULL);
		if (v && v->type == jbvString)
			*variables = pnstrdup(v->val.string.val, v->val.string.len);
		else if (v && v->type == jbvBinary)
		{
			StringInfoData buf;

			initStringInfo(&buf);
			rtsync_json_append_value(&buf, v);
			*variables = buf.data;
		}
	}
	if (*query == NULL)
	{
		rtsync_http_answer_error(req, RTSYNC_HTTP_STATUS_BAD_REQUEST, "MalformedHttpRequestException",
						   "The request has no GraphQL document: send {\"query\": \"...\"}.");
		return false;
	}
	return true;
}

/* The request waits for a reload (asked for when reload is true). */
static void
park(RtsyncHttpRequest *req, bool reload)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

	req->busy = true;
	parked = lappend(parked, req);
	MemoryContextSwitchTo(old);
	if (reload)
		rtsync_control_reload();
}

/*
 * Runs a request. may_wait: a key the cache does not know may be a moment
 * old, not yet seen in the stream; the request then waits for a reload,
 * like a WebSocket's connection_init (ws/protocol.c).
 */
void
rtsync_graphql_http(RtsyncHttpRequest *req, bool may_wait)
{
	char		hash[RTSYNC_KEY_HASH_LEN + 1];
	const char *role = NULL;
	const char *claims = NULL;
	char	   *identity = NULL;
	RtsyncKeyStatus status;
	char	   *query;
	char	   *operation_name;
	char	   *variables;
	List	   *errors = NIL;
	RtsyncRequestPlan *plan;
	Execution  *ex;

	if (req->authorization != NULL)
	{
		/* a token: Authorization wins over x-api-key, as in AppSync's modes */
		RtsyncIdentity id;
		RtsyncTokenStatus ts = rtsync_identity_from_token(req->authorization, may_wait, req->cxt, &id);

		if ((ts == RTSYNC_TOKEN_ROLE_UNKNOWN && may_wait) ||
			(ts == RTSYNC_TOKEN_OK && rtsync_control_busy()))
		{
			park(req, ts == RTSYNC_TOKEN_ROLE_UNKNOWN);
			return;
		}
		if (ts != RTSYNC_TOKEN_OK)
		{
			rtsync_request_log("http", NULL, NULL, NULL, NULL, RTSYNC_OUTCOME_UNAUTHORIZED, req->started);
			rtsync_http_answer_error(req, RTSYNC_HTTP_STATUS_UNAUTHORIZED, "UnauthorizedException",
									 rtsync_token_problem(ts));
			return;
		}
		role = id.role;
		claims = id.claims;
		identity = rtsync_identity_name(NULL, id.subject, id.role);
	}
	else if (req->api_key == NULL)
	{
		rtsync_request_log("http", NULL, NULL, NULL, NULL, RTSYNC_OUTCOME_UNAUTHORIZED, req->started);
		rtsync_http_answer_error(req, RTSYNC_HTTP_STATUS_UNAUTHORIZED, "UnauthorizedException",
						   "Valid authorization header not provided.");
		return;
	}
	else
	{
		status = rtsync_apikey_check(req->api_key, hash, &role);
		if ((status == RTSYNC_KEY_INVALID && may_wait) || rtsync_control_busy())
		{
			park(req, status == RTSYNC_KEY_INVALID);
			return;
		}
		if (status != RTSYNC_KEY_OK)
		{
			rtsync_request_log("http", NULL, NULL, NULL, NULL, RTSYNC_OUTCOME_UNAUTHORIZED, req->started);
			rtsync_http_answer_error(req, RTSYNC_HTTP_STATUS_UNAUTHORIZED, "UnauthorizedException",
							   "You are not authorized to make this call.");
			return;
		}
		identity = rtsync_identity_name(hash, NULL, role);
	}
	if (!rtsync_limit_take(identity, RTSYNC_RATE_HTTP_REQUEST))
	{
		rtsync_request_log("http", identity, role, NULL, NULL, RTSYNC_OUTCOME_LIMITED, req->started);
		rtsync_http_answer_error(req, RTSYNC_HTTP_STATUS_TOO_MANY_REQUESTS, "LimitExceededException",
								 "Rate limit exceeded for this identity (rtsync.identity_requests_per_second).");
		return;
	}
	if (strcmp(req->uri, "/graphql/schema.graphql") == 0)
	{
		StringInfoData sdl;

		initStringInfo(&sdl);
		rtsync_schema_print_sdl(rtsync_control_schema(), &sdl);
		appendStringInfoChar(&sdl, '\n');
		rtsync_http_answer(req, RTSYNC_HTTP_STATUS_OK, "text/plain; charset=utf-8", sdl.data, sdl.len);
		return;
	}
	if (!read_request(req, &query, &operation_name, &variables))
		return;

	plan = rtsync_plan_request(rtsync_control_schema(), query, strlen(query),
							   operation_name, variables, req->post, NULL, &errors);
	if (plan == NULL)
	{
		StringInfoData out;
		StringInfoData body;
		ListCell   *lc;

		initStringInfo(&out);
		foreach(lc, errors)
		{
			RtsyncGqlError *e = lfirst(lc);
			char	   *loc = e->loc.line > 0 ?
				psprintf(",\"locations\":[{\"line\":%d,\"column\":%d}]", e->loc.line, e->loc.column) :
				NULL;

			rtsync_answer_append_error(&out, "ValidationError", e->message, NULL, loc);
		}
		initStringInfo(&body);
		appendStringInfo(&body, "{\"data\":null,\"errors\":[%s]}", out.data);
		rtsync_request_log("http", identity, role, NULL, operation_name, RTSYNC_OUTCOME_ERROR,
						   req->started);
		rtsync_http_answer(req, RTSYNC_HTTP_STATUS_OK, "application/json", body.data, body.len);
		return;
	}
	MemoryContextSetParent(plan->cxt, req->cxt);
	ex = palloc(sizeof(Execution));
	ex->req = req;
	ex->plan = plan;
	ex->identity = identity;
	ex->role = pstrdup(role);
	ex->name = operation_name;
	if (plan->nstatements == 0)
	{
		execution_done(ex, NIL, NULL);
		return;
	}
	req->busy = true;
	if (!rtsync_pool_submit(role, claims, !plan->mutation, plan->statements, plan->nstatements,
							execution_done, ex))
	{
		req->busy = false;
		rtsync_http_answer_error(req, RTSYNC_HTTP_STATUS_SERVICE_UNAVAILABLE, "ServiceUnavailable",
						   "The server has too many requests waiting; retry later.");
	}
}

/*
 * A reload finished (control/'s on_loaded callback): run the requests that
 * waited for it, in order.
 */
static void
control_loaded(void)
{
	List	   *waiting = parked;
	ListCell   *lc;

	parked = NIL;
	foreach(lc, waiting)
	{
		RtsyncHttpRequest *req = lfirst(lc);
		MemoryContext old = MemoryContextSwitchTo(req->cxt);

		req->busy = false;
		if (req->transport == NULL)
			rtsync_http_request_done(req);
		else
			rtsync_graphql_http(req, false);
		MemoryContextSwitchTo(old);
	}
	list_free(waiting);
}

/* At start, before control/ loads: hear of its loads. */
void
rtsync_http_graphql_init(void)
{
	rtsync_control_on_loaded(control_loaded);
}
