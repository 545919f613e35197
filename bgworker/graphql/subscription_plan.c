/*-------------------------------------------------------------------------
 *
 * graphql/subscription_plan.c
 *	  Plans a GraphQL subscription: parse, validate, pick the operation,
 *	  coerce its variables, then work out what it subscribes to (table,
 *	  event, filter) and the shape of its payload; and projects records
 *	  into payloads.
 *
 * Planning runs in a scratch memory context that is deleted at the end; the
 * plan gets its own context (a child of the caller's), so that a failed
 * plan leaves nothing behind and a plan can be freed on its own. Bad input
 * never raises an error: it becomes RtsyncGqlErrors. As a last line of
 * defence, an unexpected ereport inside is caught and turned into one too
 * (planning holds no resources but memory, so that is safe).
 *
 * The document key: a canonical rendering of everything the payload depends
 * on, the root field's response key and name, then each selected field's
 * response key and name in order, e.g. "onCreateDataItem{id t:title
 * __typename}". Filters and variables are not part of it: subscriptions
 * that differ only there share one serialised payload per record.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/memutils.h"

#include "graphql/parser.h"
#include "base/settings.h"
#include "graphql/subscription_plan.h"
#include "graphql/operation.h"
#include "graphql/validate.h"


void
rtsync_plan_free(RtsyncSubscriptionPlan *plan)
{
	if (plan)
		MemoryContextDelete(plan->cxt);
}


/* What a collector of a parent type's fields needs to judge conditions. */
typedef struct ParentType
{
	RtsyncPlanState *ps;
	RtsyncSchemaTable *parent;	/* NULL: Subscription */
} ParentType;

/* Does a type condition apply to this parent type (a ParentType)? */
static bool
condition_applies(void *arg, const char *condition)
{
	ParentType *pt = arg;
	RtsyncSchemaTable *table;
	RtsyncTypeKind kind;

	if (condition == NULL)
		return true;
	kind = rtsync_lookup_type(pt->ps->schema, condition, &table);
	return (kind == RTSYNC_TYPE_SUBSCRIPTION && pt->parent == NULL) ||
		(kind == RTSYNC_TYPE_OBJECT && table == pt->parent);
}

/*
 * OverlappingFieldsCanBeMerged, for our flat types: the fields of one
 * response key must be the same field with the same arguments.
 */
static bool
check_mergeable(RtsyncPlanState *ps, RtsyncCollected *entry)
{
	RtsyncGqlSelection *first = linitial(entry->fields);
	ListCell   *lc;

	for_each_from(lc, entry->fields, 1)
	{
		RtsyncGqlSelection *other = lfirst(lc);

		if (strcmp(first->name, other->name) != 0)
			rtsync_gql_error(&ps->sink, other->loc,
							 "Fields \"%s\" conflict because \"%s\" and \"%s\" are different fields. Use different aliases on the fields to fetch both if this was intentional.",
							 entry->key, first->name, other->name);
		else if (!rtsync_gql_arguments_equal(first->arguments, other->arguments))
			rtsync_gql_error(&ps->sink, other->loc,
							 "Fields \"%s\" conflict because they have differing arguments. Use different aliases on the fields to fetch both if this was intentional.",
							 entry->key);
		else
			continue;
		return false;
	}
	return true;
}

/* The single root field of the subscription (graphql-js's rule). */
static RtsyncCollected *
root_field(RtsyncPlanState *ps)
{
	RtsyncCollector c;
	List	   *roots;
	RtsyncCollected *root;
	const char *name = ps->op->name;
	RtsyncGqlLocation loc = ps->op->loc;

	ParentType	subscription = {ps, NULL};

	rtsync_collector_init(ps, &c, condition_applies, &subscription);
	rtsync_collect_fields(ps, ps->op->selections, &c);
	roots = c.entries;
	if (ps->sink.count > 0)
		return NULL;
	if (list_length(roots) != 1)
	{
		if (list_length(roots) > 1)
			loc = ((RtsyncGqlSelection *) linitial(((RtsyncCollected *) lsecond(roots))->fields))->loc;
		if (name)
			rtsync_gql_error(&ps->sink, loc,
							 "Subscription \"%s\" must select only one top level field.", name);
		else
			rtsync_gql_error(&ps->sink, loc,
							 "Anonymous Subscription must select only one top level field.");
		return NULL;
	}
	root = linitial(roots);
	loc = ((RtsyncGqlSelection *) linitial(root->fields))->loc;
	if (strncmp(((RtsyncGqlSelection *) linitial(root->fields))->name, "__", 2) == 0)
	{
		if (name)
			rtsync_gql_error(&ps->sink, loc,
							 "Subscription \"%s\" must not select an introspection top level field.",
							 name);
		else
			rtsync_gql_error(&ps->sink, loc,
							 "Anonymous Subscription must not select an introspection top level field.");
		return NULL;
	}
	return check_mergeable(ps, root) ? root : NULL;
}

/* Is s a SequenceNumber: 30 digits (how the output plugin writes them)? */
bool
rtsync_plan_sequence_valid(const char *s)
{
	int			n = 0;

	if (s == NULL)
		return false;
	for (; s[n] != '\0'; n++)
		if (s[n] < '0' || s[n] > '9')
			return false;
	return n == RTSYNC_SEQUENCE_LEN;
}

/*
 * The filter of the root field's arguments, compiled into plan->cxt, and
 * the position to resume after.
 */
static bool
plan_filter(RtsyncPlanState *ps, RtsyncGqlSelection *field, RtsyncSubscriptionPlan *plan)
{
	RtsyncInputValue *filter = NULL;
	List	   *equalities = NIL;
	ListCell   *lc;

	foreach(lc, field->arguments)
	{
		RtsyncGqlArgument *arg = lfirst(lc);
		int			column;
		RtsyncInputType *type = rtsync_root_argument(plan->table, arg->name, &column);
		RtsyncInputValue *value;

		if (!rtsync_input_coerce_literal(&ps->input, arg->value, type, &value))
			return false;
		if (value == NULL || value->kind == RTSYNC_VALUE_NULL)
			continue;			/* a variable without a value, or null */
		if (column == RTSYNC_ARG_AFTER)
		{
			if (!rtsync_plan_sequence_valid(value->str))
			{
				rtsync_gql_error(&ps->sink, arg->loc,
								 "Argument \"after\" must be a SequenceNumber (30 digits), as in the extensions.sequenceNumber of an event.");
				return false;
			}
			plan->after = MemoryContextStrdup(plan->cxt, value->str);
		}
		else if (column == RTSYNC_ARG_FILTER)
			filter = value;
		else
		{
			RtsyncInputField *eq = palloc(sizeof(RtsyncInputField));

			eq->name = arg->name;
			eq->index = column;
			eq->value = value;
			eq->loc = arg->loc;
			equalities = lappend(equalities, eq);
		}
	}
	plan->filter = rtsync_filter_compile(plan->table, filter, equalities, &ps->sink, plan->cxt);
	return ps->sink.count == 0;
}

static char *
json_key(const char *key, int *len, MemoryContext cxt)
{
	StringInfoData buf;
	char	   *result;

	/* built in the current (scratch) context, kept at its exact size */
	initStringInfo(&buf);
	rtsync_json_append_string(&buf, key, strlen(key));
	appendStringInfoChar(&buf, ':');
	*len = buf.len;
	result = MemoryContextAlloc(cxt, buf.len + 1);
	memcpy(result, buf.data, buf.len + 1);
	pfree(buf.data);
	return result;
}

/* The payload's fields, and the document key, into plan->cxt. */
static bool
plan_projection(RtsyncPlanState *ps, RtsyncCollected *root, RtsyncSubscriptionPlan *plan)
{
	RtsyncCollector collector;
	List	   *fields;
	StringInfoData key;
	ListCell   *lc;
	int			i = 0;

	ParentType	object = {ps, plan->table};

	rtsync_collector_init(ps, &collector, condition_applies, &object);
	foreach(lc, root->fields)
		rtsync_collect_fields(ps, ((RtsyncGqlSelection *) lfirst(lc))->selections, &collector);
	fields = collector.entries;
	foreach(lc, fields)
		if (!check_mergeable(ps, lfirst(lc)))
			return false;
	if (ps->sink.count > 0)
		return false;

	/*
	 * Strings are built here, in the scratch context, and copied to the
	 * plan's at their size: a plan lives as long as its subscription, and
	 * 10,000 idle subscriptions should not keep 10,000 StringInfo buffers.
	 */
	initStringInfo(&key);
	appendStringInfoString(&key, plan->response_key);
	if (strcmp(plan->response_key, plan->field_name) != 0)
		appendStringInfo(&key, ":%s", plan->field_name);
	appendStringInfoChar(&key, '{');
	plan->nfields = list_length(fields);
	plan->fields = MemoryContextAllocZero(plan->cxt, Max(plan->nfields, 1) * sizeof(RtsyncPlanField));
	foreach(lc, fields)
	{
		RtsyncCollected *entry = lfirst(lc);
		RtsyncGqlSelection *sel = linitial(entry->fields);
		RtsyncPlanField *f = &plan->fields[i++];

		f->prefix = json_key(entry->key, &f->prefix_len, plan->cxt);
		for (int c = 0; c < plan->table->ncolumns; c++)
			if (strcmp(plan->table->columns[c].name, sel->name) == 0)
				f->column = &plan->table->columns[c];
		f->namelen = f->column ? strlen(f->column->name) : 0;
		appendStringInfo(&key, "%s%s", i > 1 ? " " : "", entry->key);
		if (strcmp(entry->key, sel->name) != 0)
			appendStringInfo(&key, ":%s", sel->name);
	}
	appendStringInfoChar(&key, '}');
	plan->document_key = MemoryContextStrdup(plan->cxt, key.data);
	resetStringInfo(&key);
	appendStringInfo(&key, "{%s{", json_key(plan->response_key, &plan->prefix_len,
											CurrentMemoryContext));
	plan->prefix = MemoryContextStrdup(plan->cxt, key.data);
	plan->prefix_len = key.len;
	resetStringInfo(&key);
	rtsync_json_append_string(&key, plan->table->type_name, strlen(plan->table->type_name));
	plan->typename_json = MemoryContextStrdup(plan->cxt, key.data);
	pfree(key.data);
	return true;
}

/* After validation and variable coercion: the plan itself. */
static RtsyncSubscriptionPlan *
build_plan(RtsyncPlanState *ps, MemoryContext plan_cxt)
{
	MemoryContext scratch = CurrentMemoryContext;
	RtsyncCollected *root = root_field(ps);
	RtsyncGqlSelection *field;
	RtsyncSubscriptionPlan *plan;
	bool		ok;

	if (root == NULL)
		return NULL;
	field = linitial(root->fields);
	plan = MemoryContextAllocZero(plan_cxt, sizeof(RtsyncSubscriptionPlan));
	plan->cxt = plan_cxt;
	if (!rtsync_root_field(ps->schema, field->name, &plan->table, &plan->event))
		return NULL;			/* validated already */
	plan->operation_name = ps->op->name ? MemoryContextStrdup(plan_cxt, ps->op->name) : NULL;
	plan->field_name = MemoryContextStrdup(plan_cxt, field->name);
	plan->response_key = MemoryContextStrdup(plan_cxt, root->key);
	ok = plan_filter(ps, field, plan) && plan_projection(ps, root, plan);
	MemoryContextSwitchTo(scratch);
	return ok ? plan : NULL;
}

/*
 * Parse, validate, pick the operation and coerce its variables, then plan:
 * NULL at the first phase that reports errors (as graphql-js, which does
 * not execute an invalid document).
 */
static void *
plan_operation(RtsyncPlanState *ps, const RtsyncGqlRequest *req,
			   MemoryContext plan_cxt, void *arg)
{
	if (ps->op->type != RTSYNC_GQL_SUBSCRIPTION)
	{
		rtsync_gql_error(&ps->sink, ps->op->loc,
						 "This WebSocket endpoint runs subscriptions only; send %s with an HTTP POST to /graphql.",
						 ps->op->type == RTSYNC_GQL_QUERY ? "queries" : "mutations");
		return NULL;
	}
	ps->input.operation_name = ps->op->name;
	rtsync_validate_subscription(ps);
	if (ps->sink.count > 0)
		return NULL;
	if (!rtsync_input_coerce_variables(&ps->input, req->variables_json))
		return NULL;
	ps->input.substitute = true;
	return build_plan(ps, plan_cxt);
}


RtsyncSubscriptionPlan *
rtsync_plan_subscription(RtsyncSchema *schema, const char *query, size_t query_len,
						 const char *operation_name, const char *variables_json,
						 List **errors)
{
	RtsyncGqlRequest req = {query, query_len, operation_name, variables_json};

	return rtsync_plan_operation(schema, &req,
								 AllocSetContextCreate(CurrentMemoryContext,
													   "rtsync subscription plan",
													   ALLOCSET_SMALL_SIZES),
								 plan_operation, NULL, errors);
}

/* ------------------------------------------------------------------------
 * Projection
 * ------------------------------------------------------------------------
 */

static void
append_numeric(StringInfo out, Numeric num, bool quoted)
{
	char	   *s = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(num)));

	if (quoted)
		appendStringInfoChar(out, '"');
	appendStringInfoString(out, s);
	if (quoted)
		appendStringInfoChar(out, '"');
	pfree(s);
}

/*
 * A scalar image value as its GraphQL type: Int and Float as numbers (NaN
 * and infinities, strings in images, become null: GraphQL's Float is
 * finite), BigInt and BigFloat as strings, AWSJSON as a string holding the
 * JSON text, the rest as strings.
 */
static void
project_scalar(StringInfo out, RtsyncGqlScalar scalar, const JsonbValue *v)
{
	StringInfoData buf;

	switch (scalar)
	{
		case RTSYNC_SCALAR_INT:
		case RTSYNC_SCALAR_FLOAT:
			if (v->type == jbvNumeric)
				append_numeric(out, v->val.numeric, false);
			else
				appendStringInfoString(out, "null");
			return;
		case RTSYNC_SCALAR_BOOLEAN:
			if (v->type == jbvBool)
				appendStringInfoString(out, v->val.boolean ? "true" : "false");
			else
				appendStringInfoString(out, "null");
			return;
		case RTSYNC_SCALAR_AWSJSON:
			initStringInfo(&buf);
			rtsync_json_append_value(&buf, v);
			rtsync_json_append_string(out, buf.data, buf.len);
			pfree(buf.data);
			return;
		default:
			break;
	}
	switch (v->type)
	{
		case jbvString:
			rtsync_json_append_string(out, v->val.string.val, v->val.string.len);
			break;
		case jbvNumeric:
			append_numeric(out, v->val.numeric, true);
			break;
		case jbvBool:
			appendStringInfoString(out, v->val.boolean ? "\"true\"" : "\"false\"");
			break;
		default:
			initStringInfo(&buf);
			rtsync_json_append_value(&buf, v);
			rtsync_json_append_string(out, buf.data, buf.len);
			pfree(buf.data);
			break;
	}
}

/* A list column; a multi-dimensional array comes out as nested lists. */
static void
project_list(StringInfo out, RtsyncGqlScalar scalar, const JsonbValue *v)
{
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	elem;
	bool		first = true;

	if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
	{
		appendStringInfoString(out, "null");
		return;
	}
	appendStringInfoChar(out, '[');
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		if (!first)
			appendStringInfoChar(out, ',');
		first = false;
		if (elem.type == jbvNull)
			appendStringInfoString(out, "null");
		else if (elem.type == jbvBinary && scalar != RTSYNC_SCALAR_AWSJSON &&
				 JsonContainerIsArray(elem.val.binary.data))
			project_list(out, scalar, &elem);
		else
			project_scalar(out, scalar, &elem);
	}
	appendStringInfoChar(out, ']');
}

void
rtsync_plan_project(const RtsyncSubscriptionPlan *plan, JsonbContainer *image,
					StringInfo out)
{
	appendBinaryStringInfo(out, plan->prefix, plan->prefix_len);
	for (int i = 0; i < plan->nfields; i++)
	{
		const RtsyncPlanField *f = &plan->fields[i];
		JsonbValue	v;

		if (i > 0)
			appendStringInfoChar(out, ',');
		appendBinaryStringInfo(out, f->prefix, f->prefix_len);
		if (f->column == NULL)
			appendStringInfoString(out, plan->typename_json);
		else if (image == NULL ||
				 getKeyJsonValueFromContainer(image, f->column->name, f->namelen, &v) == NULL ||
				 v.type == jbvNull)
			appendStringInfoString(out, "null");
		else if (f->column->is_list)
			project_list(out, f->column->scalar, &v);
		else
			project_scalar(out, f->column->scalar, &v);
	}
	appendStringInfoString(out, "}}");
}
