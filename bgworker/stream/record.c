/*-------------------------------------------------------------------------
 *
 * stream/record.c
 *	  Reading stream records and making event payloads (see record.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "base/json.h"
#include "stream/record.h"

bool
rtsync_record_name_is(const JsonbValue *v, const char *name)
{
	return v->val.string.len == (int) strlen(name) &&
		memcmp(v->val.string.val, name, v->val.string.len) == 0;
}

bool
rtsync_record_event(const JsonbValue *event_name, RtsyncEvent *event)
{
	if (rtsync_record_name_is(event_name, "INSERT"))
		*event = RTSYNC_EVENT_CREATE;
	else if (rtsync_record_name_is(event_name, "MODIFY"))
		*event = RTSYNC_EVENT_UPDATE;
	else if (rtsync_record_name_is(event_name, "REMOVE"))
		*event = RTSYNC_EVENT_DELETE;
	else
		return false;
	return true;
}

JsonbContainer *
rtsync_record_image(JsonbContainer *dynamodb, RtsyncEvent event, bool *judgeable)
{
	JsonbContainer *image;

	*judgeable = true;
	if (event == RTSYNC_EVENT_DELETE)
	{
		image = rtsync_json_get_object(dynamodb, "OldImage");
		if (image == NULL)
			*judgeable = false;
	}
	else
		image = rtsync_json_get_object(dynamodb, "NewImage");
	if (image == NULL)
		image = rtsync_json_get_object(dynamodb, "Keys");
	return image;
}

void
rtsync_record_payload(const RtsyncSubscriptionPlan *plan, JsonbContainer *image,
					  const char *sequence, StringInfo out)
{
	appendStringInfoString(out, "{\"data\":");
	rtsync_plan_project(plan, image, out);
	/* the resume position, where stock clients pass it on to the app */
	if (sequence[0] != '\0')
		appendStringInfo(out, ",\"extensions\":{\"sequenceNumber\":\"%s\"}", sequence);
	appendStringInfoChar(out, '}');
}
