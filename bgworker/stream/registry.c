/*-------------------------------------------------------------------------
 *
 * stream/registry.c
 *	  Live subscriptions and the dispatch of stream records to them.
 *
 * Subscriptions are grouped into routes, one per (table, event). Within a
 * route, a subscription whose filter pins a column to one value (id: {eq:
 * "x"}, or a basic argument) sits in a hash bucket for that value; the rest
 * sit in a plain list. A record visits the list and, for each indexed
 * column, one bucket: 10,000 subscriptions on distinct ids cost about what
 * 10 do.
 *
 * Serialise once, send many: subscriptions whose documents select the same
 * payload share a document group. A record's payload is built once per
 * group (the first time a member matches) and the same bytes go to every
 * matching subscription; only the envelope with the client's id differs.
 *
 * Exactly once: records carry a SequenceNumber that sorts in stream order.
 * The registry remembers the last one it dispatched and drops any record
 * at or below it, which is what the walsender resends after a reconnect.
 *
 * Only what commits after the subscription: a subscription is registered
 * (planned, linked into its route) as soon as it is accepted, but gets
 * nothing until it is started with its start LSN, the server's WAL insert
 * position read after it was accepted (control/control.c). From then on it gets
 * the records whose transaction's commit ends after that position: the
 * first 20 digits of SequenceNumber are the commit's end LSN. A change that
 * was committed but still on its way through the stream when the client
 * subscribed is not delivered; every transaction that commits after the
 * client was acknowledged is, since the position was read before the
 * acknowledgement was sent.
 *
 * Above the registry: a subscription's events go to the sink its protocol
 * gave it (one indirect call per delivery), and the registry hears of a new
 * schema through the callback it registers with control/ at start
 * (rtsync_registry_init).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "control/control.h"
#include "base/metrics.h"
#include "stream/registry.h"

#define ROUTE_KEY_LEN (2 * NAMEDATALEN + 16)
#define INDEX_KEY_LEN 256
#define SEQUENCE_LEN 30
#define SEQUENCE_LSN_DIGITS 20

struct RtsyncRoute
{
	char		key[ROUTE_KEY_LEN]; /* "<event>:<schema.table>" */
	RtsyncSchemaTable *table;
	dlist_head unindexed;
	HTAB	   *index;			/* IndexBucket by "<column>:<value key>" */
	List	   *index_columns;	/* int: columns some bucket uses */
	int			nsubscriptions;
};

typedef struct IndexBucket
{
	char		key[INDEX_KEY_LEN];
	dlist_head subscriptions;
	int			count;
} IndexBucket;

struct RtsyncDocGroup
{
	char	   *key;			/* hash key: the plan's document_key */
	int			refcount;
	uint64		serial;			/* record the payload was built for */
	StringInfoData payload;
};

typedef struct DocGroupEntry
{
	char		key[INDEX_KEY_LEN * 4];
	RtsyncDocGroup *group;
} DocGroupEntry;

static MemoryContext registry_cxt = NULL;
static HTAB *routes = NULL;
static HTAB *groups = NULL;
static RtsyncSchema *schema = NULL;	/* routes point into it; NULL until
										 * the first load */
static uint64 record_serial = 0;
static XLogRecPtr record_commit_lsn = InvalidXLogRecPtr;	/* of the record */
static char last_sequence[SEQUENCE_LEN + 1] = "";
static dlist_head all_subscriptions = DLIST_STATIC_INIT(all_subscriptions);

static void
registry_init(void)
{
	HASHCTL		ctl;

	if (registry_cxt)
		return;
	registry_cxt = AllocSetContextCreate(TopMemoryContext, "rtsync registry",
										 ALLOCSET_DEFAULT_SIZES);
	ctl.keysize = ROUTE_KEY_LEN;
	ctl.entrysize = sizeof(RtsyncRoute);
	ctl.hcxt = registry_cxt;
	routes = hash_create("rtsync routes", 64, &ctl,
						 HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	ctl.keysize = INDEX_KEY_LEN * 4;
	ctl.entrysize = sizeof(DocGroupEntry);
	groups = hash_create("rtsync document groups", 64, &ctl,
						 HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
}

static const char *
event_letter(RtsyncEvent event)
{
	return event == RTSYNC_EVENT_CREATE ? "c" : event == RTSYNC_EVENT_UPDATE ? "u" : "d";
}

static RtsyncRoute *
route_for(RtsyncSchemaTable *table, RtsyncEvent event, bool create)
{
	char		key[ROUTE_KEY_LEN];
	bool		found;
	RtsyncRoute *route;

	snprintf(key, sizeof(key), "%s:%s", event_letter(event), table->qualified_name);
	route = hash_search(routes, key, create ? HASH_ENTER : HASH_FIND, &found);
	if (route && !found)
	{
		HASHCTL		ctl;

		route->table = table;
		dlist_init(&route->unindexed);
		ctl.keysize = INDEX_KEY_LEN;
		ctl.entrysize = sizeof(IndexBucket);
		ctl.hcxt = registry_cxt;
		route->index = hash_create("rtsync index", 64, &ctl,
								   HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
		route->index_columns = NIL;
		route->nsubscriptions = 0;
	}
	return route;
}

static void
init_payload(RtsyncDocGroup *group)
{
	MemoryContext old = MemoryContextSwitchTo(registry_cxt);

	initStringInfo(&group->payload);
	MemoryContextSwitchTo(old);
}

static RtsyncDocGroup *
group_acquire(const char *document_key)
{
	DocGroupEntry *entry;
	bool		found;

	if (strlen(document_key) >= INDEX_KEY_LEN * 4)
		document_key = "";		/* too long to share: a group of its own */
	if (document_key[0] == '\0')
	{
		RtsyncDocGroup *group = MemoryContextAllocZero(registry_cxt, sizeof(RtsyncDocGroup));

		group->refcount = 1;
		init_payload(group);
		return group;
	}
	entry = hash_search(groups, document_key, HASH_ENTER, &found);
	if (!found)
	{
		entry->group = MemoryContextAllocZero(registry_cxt, sizeof(RtsyncDocGroup));
		entry->group->key = MemoryContextStrdup(registry_cxt, document_key);
		init_payload(entry->group);
	}
	entry->group->refcount++;
	return entry->group;
}

static void
group_release(RtsyncDocGroup *group)
{
	if (--group->refcount > 0)
		return;
	if (group->key)
		hash_search(groups, group->key, HASH_REMOVE, NULL);
	pfree(group->payload.data);
	if (group->key)
		pfree(group->key);
	pfree(group);
}

/* Put a planned subscription into its route (and index bucket). */
static void
registry_link(RtsyncSubscription *sub)
{
	RtsyncSubscriptionPlan *plan = sub->plan;
	RtsyncRoute *route = route_for(plan->table, plan->event, true);
	int			column;
	char	   *value_key;

	sub->route = route;
	sub->group = group_acquire(plan->document_key);
	sub->index_key = NULL;
	if (plan->filter && rtsync_filter_index_key(plan->filter, &column, &value_key) &&
		strlen(value_key) < INDEX_KEY_LEN - 16)
	{
		char		key[INDEX_KEY_LEN];
		IndexBucket *bucket;
		bool		found;

		snprintf(key, sizeof(key), "%d:%s", column, value_key);
		bucket = hash_search(route->index, key, HASH_ENTER, &found);
		if (!found)
		{
			dlist_init(&bucket->subscriptions);
			bucket->count = 0;
		}
		if (!list_member_int(route->index_columns, column))
		{
			MemoryContext old = MemoryContextSwitchTo(registry_cxt);

			route->index_columns = lappend_int(route->index_columns, column);
			MemoryContextSwitchTo(old);
		}
		dlist_push_tail(&bucket->subscriptions, &sub->route_node);
		bucket->count++;
		sub->index_key = MemoryContextStrdup(sub->cxt, key);
		sub->index_column = column;
	}
	else
		dlist_push_tail(&route->unindexed, &sub->route_node);
	route->nsubscriptions++;
}

static void
registry_unlink(RtsyncSubscription *sub)
{
	if (sub->route == NULL)
		return;
	dlist_delete(&sub->route_node);
	if (sub->index_key)
	{
		IndexBucket *bucket = hash_search(sub->route->index, sub->index_key,
										  HASH_FIND, NULL);

		if (bucket && --bucket->count == 0)
			hash_search(sub->route->index, sub->index_key, HASH_REMOVE, NULL);
	}
	sub->route->nsubscriptions--;
	group_release(sub->group);
	sub->route = NULL;
	sub->group = NULL;
}

/*
 * Plans a subscription against the current schema and registers it; NULL
 * and *errors (RtsyncGqlError *) when it cannot be served. Its events go to
 * sink, which finds its own (owner) in sub->owner; its memory is a child of
 * parent.
 */
RtsyncSubscription *
rtsync_registry_subscribe(const RtsyncSubscriptionSink *sink, void *owner,
						  MemoryContext parent, const char *id, const char *query,
						  size_t query_len, const char *variables,
						  const char *operation_name, List **errors)
{
	MemoryContext cxt;
	MemoryContext old;
	RtsyncSubscription *sub;

	registry_init();
	if (schema == NULL)
	{
		RtsyncGqlError *e = palloc0(sizeof(RtsyncGqlError));

		e->message = pstrdup("The server is starting and has no schema yet; try again.");
		*errors = lappend(*errors, e);
		return NULL;
	}
	cxt = AllocSetContextCreate(parent, "rtsync subscription", ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(cxt);
	sub = palloc0(sizeof(RtsyncSubscription));
	sub->sink = sink;
	sub->owner = owner;
	sub->cxt = cxt;
	sub->id = pstrdup(id);
	sub->query = pnstrdup(query, query_len);
	sub->variables = variables ? pstrdup(variables) : NULL;
	sub->operation_name = operation_name ? pstrdup(operation_name) : NULL;
	sub->start_lsn = RTSYNC_NOT_STARTED;
	sub->plan = rtsync_plan_subscription(schema, sub->query, query_len,
										 sub->operation_name, sub->variables, errors);
	MemoryContextSwitchTo(old);
	if (sub->plan == NULL)
	{
		/* the errors live in cxt: copy them out before it goes */
		List	   *copied = NIL;
		ListCell   *lc;

		foreach(lc, *errors)
		{
			RtsyncGqlError *e = palloc(sizeof(RtsyncGqlError));

			*e = *(RtsyncGqlError *) lfirst(lc);
			e->message = pstrdup(e->message);
			copied = lappend(copied, e);
		}
		*errors = copied;
		MemoryContextDelete(cxt);
		return NULL;
	}
	registry_link(sub);
	dlist_push_tail(&all_subscriptions, &sub->all_node);
	rtsync_metrics_gauge_add(RTSYNC_M_SUBSCRIPTIONS, 1);
	return sub;
}

/*
 * The subscription gets the transactions whose commit ends after start_lsn
 * (see the banner).
 */
void
rtsync_registry_start(RtsyncSubscription *sub, XLogRecPtr start_lsn)
{
	Assert(start_lsn != RTSYNC_NOT_STARTED);
	sub->start_lsn = start_lsn;
}

void
rtsync_registry_unsubscribe(RtsyncSubscription *sub)
{
	rtsync_control_cancel_lsn(&sub->start_wait);
	registry_unlink(sub);
	dlist_delete(&sub->all_node);
	MemoryContextDelete(sub->cxt);
	rtsync_metrics_gauge_add(RTSYNC_M_SUBSCRIPTIONS, -1);
}

/*
 * A new schema (after publish, unpublish or a schema change; control/'s,
 * which has freed the old one): re-plan every subscription against it;
 * those that no longer make sense are ended.
 */
static void
registry_set_schema(RtsyncSchema *new_schema)
{
	dlist_mutable_iter iter;
	HASH_SEQ_STATUS status;
	RtsyncRoute *route;
	List	   *ended = NIL;
	ListCell   *lc;

	registry_init();
	dlist_foreach_modify(iter, &all_subscriptions)
		registry_unlink(dlist_container(RtsyncSubscription, all_node, iter.cur));
	/* routes point into the old schema: start them afresh */
	hash_seq_init(&status, routes);
	while ((route = hash_seq_search(&status)) != NULL)
	{
		hash_destroy(route->index);
		list_free(route->index_columns);
		hash_search(routes, route->key, HASH_REMOVE, NULL);
	}
	schema = new_schema;

	dlist_foreach_modify(iter, &all_subscriptions)
	{
		RtsyncSubscription *sub = dlist_container(RtsyncSubscription, all_node, iter.cur);
		List	   *errors = NIL;
		MemoryContext old;

		if (sub->plan)
			rtsync_plan_free(sub->plan);
		old = MemoryContextSwitchTo(sub->cxt);
		sub->plan = rtsync_plan_subscription(schema, sub->query, strlen(sub->query),
											 sub->operation_name, sub->variables, &errors);
		MemoryContextSwitchTo(old);
		if (sub->plan)
			registry_link(sub);
		else
			ended = lappend(ended, sub);
	}
	foreach(lc, ended)
	{
		RtsyncSubscription *sub = lfirst(lc);

		sub->sink->ended(sub, "The subscription no longer matches the schema (a table was unpublished or changed).");
	}
	list_free(ended);
}

/*
 * At start, before control/ loads: the registry re-plans its subscriptions
 * on every new schema.
 */
void
rtsync_registry_init(void)
{
	rtsync_control_on_schema(registry_set_schema);
}

static void
deliver(RtsyncSubscription *sub, JsonbContainer *image)
{
	RtsyncDocGroup *group = sub->group;

	/* committed before the subscription's start, or not started yet */
	if (record_commit_lsn <= sub->start_lsn)
		return;
	if (sub->plan->filter && !rtsync_filter_match(sub->plan->filter, image))
		return;
	if (group->serial != record_serial)
	{
		resetStringInfo(&group->payload);
		appendStringInfoString(&group->payload, "{\"data\":");
		rtsync_plan_project(sub->plan, image, &group->payload);
		appendStringInfoChar(&group->payload, '}');
		group->serial = record_serial;
	}
	sub->sink->deliver(sub, group->payload.data, group->payload.len);
}

static bool
get_string_value(JsonbContainer *c, const char *key, JsonbValue *v)
{
	return getKeyJsonValueFromContainer(c, key, strlen(key), v) != NULL &&
		v->type == jbvString;
}

static JsonbContainer *
get_container(JsonbContainer *c, const char *key)
{
	JsonbValue	v;

	if (getKeyJsonValueFromContainer(c, key, strlen(key), &v) == NULL ||
		v.type != jbvBinary)
		return NULL;
	return v.val.binary.data;
}

static bool
name_is(JsonbValue *v, const char *name)
{
	return v->val.string.len == (int) strlen(name) &&
		memcmp(v->val.string.val, name, v->val.string.len) == 0;
}

/*
 * The commit end LSN in a SequenceNumber (its first 20 digits); the
 * highest LSN when it is not one of ours, so that only started
 * subscriptions get the record.
 */
static XLogRecPtr
sequence_commit_lsn(const JsonbValue *seq)
{
	uint64		lsn = 0;

	if (seq->val.string.len != SEQUENCE_LEN)
		return PG_UINT64_MAX;
	for (int i = 0; i < SEQUENCE_LSN_DIGITS; i++)
	{
		char		c = seq->val.string.val[i];

		if (c < '0' || c > '9')
			return PG_UINT64_MAX;
		lsn = lsn * 10 + (c - '0');
	}
	return lsn;
}

/* ApproximateCreationDateTime (epoch seconds, a fraction) as a timestamp */
static TimestampTz
record_commit_time(JsonbContainer *dynamodb)
{
	JsonbValue	v;
	double		secs;

	if (dynamodb == NULL ||
		getKeyJsonValueFromContainer(dynamodb, "ApproximateCreationDateTime", 27, &v) == NULL ||
		v.type != jbvNumeric)
		return 0;
	secs = DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow,
											  NumericGetDatum(v.val.numeric)));
	return (TimestampTz) (secs * USECS_PER_SEC) -
		(TimestampTz) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * USECS_PER_SEC;
}

/*
 * One stream record from the replication stream. Runs in cxt, which the
 * caller resets afterwards; *info gets what else the caller may want.
 */
RtsyncRecordKind
rtsync_registry_dispatch(const char *data, int len, MemoryContext cxt,
						 RtsyncRecordInfo *info)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	Jsonb	   *jb;
	JsonbContainer *dynamodb;
	JsonbContainer *image;
	JsonbValue	event_name;
	JsonbValue	seq;
	JsonbValue	table_name;
	RtsyncEvent event;
	RtsyncRoute *route;
	RtsyncSchemaTable *table;
	char	   *qualified;
	dlist_mutable_iter iter;
	ListCell   *lc;

	registry_init();
	info->commit_time = 0;
	jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
											CStringGetDatum(pnstrdup(data, len))));
	if (!JB_ROOT_IS_OBJECT(jb) || !get_string_value(&jb->root, "eventName", &event_name))
	{
		MemoryContextSwitchTo(old);
		return RTSYNC_RECORD_OTHER;
	}
	if (name_is(&event_name, "COMMIT"))
	{
		info->commit_time = record_commit_time(get_container(&jb->root, "dynamodb"));
		MemoryContextSwitchTo(old);
		return RTSYNC_RECORD_COMMIT;
	}
	if (name_is(&event_name, "CONTROL"))
	{
		rtsync_control_message(&jb->root);
		MemoryContextSwitchTo(old);
		return RTSYNC_RECORD_CHANGE;
	}
	dynamodb = get_container(&jb->root, "dynamodb");
	if (dynamodb == NULL || !get_string_value(dynamodb, "SequenceNumber", &seq) ||
		!get_string_value(&jb->root, "tableName", &table_name))
	{
		MemoryContextSwitchTo(old);
		return RTSYNC_RECORD_OTHER;
	}

	/* already dispatched before a reconnect: drop */
	if (seq.val.string.len == SEQUENCE_LEN &&
		memcmp(seq.val.string.val, last_sequence, SEQUENCE_LEN) <= 0 &&
		last_sequence[0] != '\0')
	{
		MemoryContextSwitchTo(old);
		return RTSYNC_RECORD_CHANGE;
	}
	if (seq.val.string.len == SEQUENCE_LEN)
	{
		memcpy(last_sequence, seq.val.string.val, SEQUENCE_LEN);
		last_sequence[SEQUENCE_LEN] = '\0';
	}

	if (name_is(&event_name, "INSERT"))
		event = RTSYNC_EVENT_CREATE;
	else if (name_is(&event_name, "MODIFY"))
		event = RTSYNC_EVENT_UPDATE;
	else if (name_is(&event_name, "REMOVE"))
		event = RTSYNC_EVENT_DELETE;
	else
	{
		MemoryContextSwitchTo(old);
		return RTSYNC_RECORD_CHANGE;
	}
	if (schema == NULL)
	{
		MemoryContextSwitchTo(old);
		return RTSYNC_RECORD_CHANGE;
	}
	qualified = pnstrdup(table_name.val.string.val, table_name.val.string.len);
	table = rtsync_schema_find_table(schema, qualified);
	route = table ? route_for(table, event, false) : NULL;
	if (route == NULL || route->nsubscriptions == 0)
	{
		MemoryContextSwitchTo(old);
		return RTSYNC_RECORD_CHANGE;
	}

	if (event == RTSYNC_EVENT_DELETE)
	{
		image = get_container(dynamodb, "OldImage");
		if (image == NULL)
			image = get_container(dynamodb, "Keys");
	}
	else
		image = get_container(dynamodb, "NewImage");
	if (image == NULL)
		image = get_container(dynamodb, "Keys");
	if (image == NULL)
	{
		MemoryContextSwitchTo(old);
		return RTSYNC_RECORD_CHANGE;
	}

	record_serial++;
	record_commit_lsn = sequence_commit_lsn(&seq);
	dlist_foreach_modify(iter, &route->unindexed)
		deliver(dlist_container(RtsyncSubscription, route_node, iter.cur), image);
	foreach(lc, route->index_columns)
	{
		int			column = lfirst_int(lc);
		char	   *value_key = rtsync_image_index_key(image, &table->columns[column]);
		char		key[INDEX_KEY_LEN];
		IndexBucket *bucket;

		if (value_key == NULL)
			continue;
		snprintf(key, sizeof(key), "%d:%s", column, value_key);
		bucket = hash_search(route->index, key, HASH_FIND, NULL);
		if (bucket == NULL)
			continue;
		dlist_foreach_modify(iter, &bucket->subscriptions)
			deliver(dlist_container(RtsyncSubscription, route_node, iter.cur), image);
	}
	MemoryContextSwitchTo(old);
	return RTSYNC_RECORD_CHANGE;
}
