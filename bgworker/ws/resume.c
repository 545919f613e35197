/*-------------------------------------------------------------------------
 *
 * ws/resume.c
 *	  A subscription's resume position, from what stock clients re-send on
 *	  every reconnect (see resume.h).
 *
 * graphql-ws and subscriptions-transport-ws call connectionParams on every
 * connection attempt and re-send each subscription unchanged, with the same
 * id; Amplify rebuilds its headers, additionalHeaders included, for every
 * start. So an app keeps the last extensions.sequenceNumber it received and
 * hands it over there. Events of one connection arrive in stream order
 * (stream/catchup.c keeps them so while it catches up), so the last one a
 * connection received is a valid position for all its subscriptions; where
 * positions differ the latest wins: each says the client has everything up
 * to it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "base/json.h"
#include "graphql/subscription_plan.h"
#include "ws/resume.h"

void
rtsync_ws_resume_take(RtsyncWsSession *ws, JsonbContainer *payload)
{
	JsonbValue	v;
	JsonbContainer *headers = rtsync_json_get_object(payload, "headers");
	char	   *one = rtsync_json_get_string(payload, RTSYNC_RESUME_HEADER);

	if (one == NULL)
		one = rtsync_json_get_string(headers, RTSYNC_RESUME_HEADER);
	if (payload != NULL && rtsync_json_get(payload, RTSYNC_RESUME_PARAM, &v))
	{
		if (v.type == jbvString)
			one = pnstrdup(v.val.string.val, v.val.string.len);
		else if (v.type == jbvBinary && JsonContainerIsObject(v.val.binary.data))
			ws->resume_by_id = MemoryContextStrdup(ws->conn->cxt,
												   JsonbToCString(NULL, v.val.binary.data, 64));
		else if (v.type != jbvNull)
			one = "";			/* malformed: each subscription is told */
	}
	if (one != NULL)
		ws->resume_after = MemoryContextStrdup(ws->conn->cxt, one);
}

/* Takes candidate as *after when it is later; false when it is malformed. */
static bool
consider(const char *candidate, const char **after, const char **problem)
{
	if (candidate == NULL)
		return true;
	if (!rtsync_plan_sequence_valid(candidate))
	{
		*problem = psprintf("The resume position %s is not a SequenceNumber (30 digits), as in the extensions.sequenceNumber of an event.",
							candidate[0] ? candidate : "\"\"");
		return false;
	}
	if (*after == NULL || strcmp(candidate, *after) > 0)
		*after = candidate;
	return true;
}

bool
rtsync_ws_resume_position(RtsyncWsSession *ws, const char *id, const char *argument,
						  JsonbContainer *start_header, const char **after,
						  const char **problem)
{
	const char *by_id = NULL;

	*after = NULL;
	if (ws->resume_by_id != NULL)
	{
		JsonbContainer *map = rtsync_json_parse_object(ws->resume_by_id,
														strlen(ws->resume_by_id));
		JsonbValue	v;

		if (map && rtsync_json_get(map, id, &v))
			by_id = v.type == jbvString ? pnstrdup(v.val.string.val, v.val.string.len) :
				v.type == jbvNull ? NULL : "";
	}
	return consider(argument, after, problem) &&
		consider(ws->resume_after, after, problem) &&
		consider(by_id, after, problem) &&
		consider(rtsync_json_get_string(start_header, RTSYNC_RESUME_HEADER), after, problem);
}
