/*-------------------------------------------------------------------------
 *
 * stream/record.h
 *	  Reading a stream record (the output plugin's JSON, as jsonb) and
 *	  making a subscription's event payload from it: what the live
 *	  dispatch (stream/registry.c) and the catch-up from the kept stream
 *	  (stream/catchup.c) share.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_RECORD_H
#define RTSYNC_RECORD_H

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

#include "graphql/subscription_plan.h"

/* Does a string value equal name? (Members are read with base/json.h.) */
extern bool rtsync_record_name_is(const JsonbValue *v, const char *name);

/* The subscription event of an eventName (INSERT, MODIFY, REMOVE), or false. */
extern bool rtsync_record_event(const JsonbValue *event_name, RtsyncEvent *event);

/*
 * The image a change is matched and judged on: NewImage for a create or
 * update, OldImage for a delete (without one, its Keys, and *judgeable is
 * false: row security cannot judge it); Keys when the image is missing.
 */
extern JsonbContainer *rtsync_record_image(JsonbContainer *dynamodb, RtsyncEvent event,
										   bool *judgeable);

/*
 * A subscription event's payload, {"data":{...},"extensions":
 * {"sequenceNumber":"..."}} (no extensions when sequence is ""), appended
 * to out.
 */
extern void rtsync_record_payload(const RtsyncSubscriptionPlan *plan, JsonbContainer *image,
								  const char *sequence, StringInfo out);

#endif							/* RTSYNC_RECORD_H */
