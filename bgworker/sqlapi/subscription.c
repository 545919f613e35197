/*-------------------------------------------------------------------------
 *
 * sqlapi/subscription.c
 *	  SQL hooks over the subscription planner, so that pg_regress can test
 *	  it: rtsync._graphql_plan(document, variables, operation_name) and
 *	  rtsync._graphql_deliver(document, variables, record).
 *
 * Both build the schema from rtsync._schema_description() of the current
 * database (through SPI: test-only code; the worker runs the same query
 * over libpq) and hand the planner the variables as JSON text, as the
 * worker does. _graphql_deliver returns json, not jsonb, so that the
 * payload keeps its fields in selection order, as it goes on the wire.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "sqlapi/schema.h"
#include "graphql/subscription_plan.h"

PG_FUNCTION_INFO_V1(rtsync_graphql_plan);
PG_FUNCTION_INFO_V1(rtsync_graphql_deliver);
PG_FUNCTION_INFO_V1(rtsync_graphql_index_key);

/* Plans the function's (document, variables, operation_name) arguments. */
static RtsyncSubscriptionPlan *
plan_arguments(FunctionCallInfo fcinfo, RtsyncSchema *schema, bool has_operation_name,
			   List **errors)
{
	text	   *document = PG_GETARG_TEXT_PP(0);
	char	   *variables = NULL;
	char	   *operation_name = NULL;

	if (!PG_ARGISNULL(1))
	{
		Jsonb	   *jb = PG_GETARG_JSONB_P(1);

		variables = JsonbToCString(NULL, &jb->root, VARSIZE(jb));
	}
	if (has_operation_name && !PG_ARGISNULL(2))
		operation_name = text_to_cstring(PG_GETARG_TEXT_PP(2));
	return rtsync_plan_subscription(schema, VARDATA_ANY(document),
									VARSIZE_ANY_EXHDR(document), operation_name,
									variables, errors);
}

/* {"errors":[{"message":..., "locations":[{"line":..,"column":..}]}]} */
static void
append_errors(StringInfo out, List *errors)
{
	ListCell   *lc;

	appendStringInfoString(out, "{\"errors\":[");
	foreach(lc, errors)
	{
		RtsyncGqlError *e = lfirst(lc);

		if (lc != list_head(errors))
			appendStringInfoChar(out, ',');
		appendStringInfoString(out, "{\"message\":");
		rtsync_json_append_string(out, e->message, strlen(e->message));
		if (e->loc.line > 0)
			appendStringInfo(out, ",\"locations\":[{\"line\":%d,\"column\":%d}]",
							 e->loc.line, e->loc.column);
		appendStringInfoChar(out, '}');
	}
	appendStringInfoString(out, "]}");
}

static void
append_string(StringInfo out, const char *key, const char *value)
{
	appendStringInfo(out, "\"%s\":", key);
	if (value == NULL)
		appendStringInfoString(out, "null");
	else
		rtsync_json_append_string(out, value, strlen(value));
}

/*
 * rtsync._graphql_plan(document text, variables jsonb, operation_name text)
 * returns {"table", "event", "field", "document_key", "filter" (a rendering
 * of the compiled filter, null without one), "index" ({"column", "key"} when
 * the filter pins a column to one value, else null)}, or {"errors": [...]}.
 */
Datum
rtsync_graphql_plan(PG_FUNCTION_ARGS)
{
	RtsyncSchema *schema;
	RtsyncSubscriptionPlan *plan;
	List	   *errors = NIL;
	StringInfoData out;
	int			column;
	char	   *key;
	Datum		result;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	schema = rtsync_schema_load_spi();
	plan = plan_arguments(fcinfo, schema, true, &errors);
	initStringInfo(&out);
	if (plan == NULL)
		append_errors(&out, errors);
	else
	{
		appendStringInfoChar(&out, '{');
		append_string(&out, "table", plan->table->qualified_name);
		appendStringInfoChar(&out, ',');
		append_string(&out, "event", rtsync_event_name(plan->event));
		appendStringInfoChar(&out, ',');
		append_string(&out, "field", plan->field_name);
		appendStringInfoChar(&out, ',');
		append_string(&out, "document_key", plan->document_key);
		appendStringInfoString(&out, ",\"filter\":");
		if (plan->filter == NULL)
			appendStringInfoString(&out, "null");
		else
		{
			StringInfoData filter;

			initStringInfo(&filter);
			rtsync_filter_describe(plan->filter, &filter);
			rtsync_json_append_string(&out, filter.data, filter.len);
		}
		appendStringInfoString(&out, ",\"index\":");
		if (rtsync_filter_index_key(plan->filter, &column, &key))
		{
			appendStringInfoChar(&out, '{');
			append_string(&out, "column", plan->table->columns[column].name);
			appendStringInfoChar(&out, ',');
			append_string(&out, "key", key);
			appendStringInfoChar(&out, '}');
		}
		else
			appendStringInfoString(&out, "null");
		appendStringInfoChar(&out, '}');
	}
	result = DirectFunctionCall1(jsonb_in, CStringGetDatum(out.data));
	rtsync_plan_free(plan);
	rtsync_schema_free(schema);
	PG_RETURN_DATUM(result);
}

/* A member of an object container, NULL when absent or of another type. */
static JsonbContainer *
get_object(JsonbContainer *c, const char *key)
{
	JsonbValue	v;

	if (getKeyJsonValueFromContainer(c, key, strlen(key), &v) == NULL ||
		v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data))
		return NULL;
	return v.val.binary.data;
}

static char *
get_string(JsonbContainer *c, const char *key)
{
	JsonbValue	v;

	if (getKeyJsonValueFromContainer(c, key, strlen(key), &v) == NULL ||
		v.type != jbvString)
		return NULL;
	return pnstrdup(v.val.string.val, v.val.string.len);
}

/*
 * The stream record's event, table and image: NewImage for INSERT and
 * MODIFY, OldImage for REMOVE, and Keys when the record lacks that image
 * (view types); event 0 for other records (TRUNCATE).
 */
static JsonbContainer *
record_image(Jsonb *record, RtsyncEvent *event, char **table_name)
{
	JsonbContainer *dynamodb;
	JsonbContainer *image = NULL;
	char	   *event_name;

	if (!JB_ROOT_IS_OBJECT(record) ||
		(event_name = get_string(&record->root, "eventName")) == NULL ||
		(*table_name = get_string(&record->root, "tableName")) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("record is not a stream record"),
				 errdetail("A stream record is an object with eventName and tableName.")));
	if (strcmp(event_name, "INSERT") == 0)
		*event = RTSYNC_EVENT_CREATE;
	else if (strcmp(event_name, "MODIFY") == 0)
		*event = RTSYNC_EVENT_UPDATE;
	else if (strcmp(event_name, "REMOVE") == 0)
		*event = RTSYNC_EVENT_DELETE;
	else
		*event = 0;
	dynamodb = get_object(&record->root, "dynamodb");
	if (dynamodb != NULL)
		image = get_object(dynamodb, *event == RTSYNC_EVENT_DELETE ? "OldImage" : "NewImage");
	if (image == NULL && dynamodb != NULL)
		image = get_object(dynamodb, "Keys");
	return image;
}

/*
 * rtsync._graphql_deliver(document text, variables jsonb, record jsonb)
 * returns {"data": ...} when the stream record is for the subscription's
 * table and event and passes its filter, NULL when it is not, or the
 * planning errors.
 */
Datum
rtsync_graphql_deliver(PG_FUNCTION_ARGS)
{
	RtsyncSchema *schema;
	RtsyncSubscriptionPlan *plan;
	List	   *errors = NIL;
	JsonbContainer *image;
	char	   *table_name;
	RtsyncEvent event;
	StringInfoData out;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(2))
		PG_RETURN_NULL();
	image = record_image(PG_GETARG_JSONB_P(2), &event, &table_name);
	schema = rtsync_schema_load_spi();
	plan = plan_arguments(fcinfo, schema, false, &errors);
	initStringInfo(&out);
	if (plan == NULL)
	{
		append_errors(&out, errors);
		rtsync_schema_free(schema);
		PG_RETURN_TEXT_P(cstring_to_text_with_len(out.data, out.len));
	}
	if (event != plan->event || strcmp(table_name, plan->table->qualified_name) != 0 ||
		image == NULL || !rtsync_filter_match(plan->filter, image))
	{
		rtsync_plan_free(plan);
		rtsync_schema_free(schema);
		PG_RETURN_NULL();
	}
	appendStringInfoString(&out, "{\"data\":");
	rtsync_plan_project(plan, image, &out);
	appendStringInfoChar(&out, '}');
	rtsync_plan_free(plan);
	rtsync_schema_free(schema);
	PG_RETURN_TEXT_P(cstring_to_text_with_len(out.data, out.len));
}

/*
 * rtsync._graphql_index_key(record jsonb, column_name text) returns the
 * canonical index key of the record's value of a column (in the image that
 * _graphql_deliver picks): what the worker looks subscriptions up by.
 */
Datum
rtsync_graphql_index_key(PG_FUNCTION_ARGS)
{
	char	   *column_name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	RtsyncSchema *schema;
	RtsyncSchemaTable *table;
	JsonbContainer *image;
	char	   *table_name;
	RtsyncEvent event;
	char	   *key = NULL;

	image = record_image(PG_GETARG_JSONB_P(0), &event, &table_name);
	schema = rtsync_schema_load_spi();
	table = rtsync_schema_find_table(schema, table_name);
	for (int i = 0; table != NULL && i < table->ncolumns; i++)
		if (strcmp(table->columns[i].name, column_name) == 0)
			key = rtsync_image_index_key(image, &table->columns[i]);
	rtsync_schema_free(schema);
	if (key == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(key));
}
