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
 * Row-level security: a subscription whose role the table's policies
 * restrict belongs to a group of alike subscribers (stream/rls.c). A change
 * such a subscription would get is held: the stream stops (the reader
 * reads nothing more) while each group that needs it is judged, and the
 * change is delivered once every verdict is in, so every connection still
 * gets its events in stream order. A delete whose table keeps no old image
 * cannot be judged and is withheld from restricted subscribers. CONTROL
 * records hold the stream the same way until the reload they start is
 * done, so a GRANT, REVOKE or policy change applies from the next change
 * on, in stream order.
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
#include "base/json.h"
#include "base/metrics.h"
#include "stream/registry.h"
#include "stream/record.h"
#include "stream/retention.h"
#include "graphql/filter_ops.h"
#include "stream/rls.h"
#include "stream/rls_judge.h"

#define ROUTE_KEY_LEN (2 * NAMEDATALEN + 16)
#define INDEX_KEY_LEN 256
#define SEQUENCE_LEN RTSYNC_SEQUENCE_LEN
#define SEQUENCE_LSN_DIGITS 20

struct RtsyncRoute
{
	char		key[ROUTE_KEY_LEN]; /* "<event>:<schema.table>" */
	RtsyncSchemaTable *table;
	dlist_head unindexed;
	HTAB	   *index;			/* IndexBucket by "<column>:<value key>" */
	List	   *index_columns;	/* int: columns some bucket uses */
	List	   *rls_columns;	/* int: columns some row-security bucket uses */
	int			nsubscriptions;
	int			nrestricted;	/* of them, with an rls_group */
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
static char record_sequence[SEQUENCE_LEN + 1] = "";	/* of the record */
static char last_sequence[SEQUENCE_LEN + 1] = "";
static dlist_head all_subscriptions = DLIST_STATIC_INIT(all_subscriptions);

/* The record being judged, or the CONTROL record whose reload runs. */
typedef struct HeldRecord
{
	bool		active;
	bool		ready;			/* verdicts in, or the reload done */
	bool		control;		/* a CONTROL record: nothing to deliver */
	MemoryContext cxt;
	char	   *table_name;
	RtsyncEvent event;
	char	   *image_json;
	uint64		serial;
	XLogRecPtr	commit_lsn;
	char		sequence[SEQUENCE_LEN + 1];
} HeldRecord;

static HeldRecord held;

/* Serials given to changes read ahead, in stream order (serial_of). */
typedef struct LookaheadSerial
{
	char		sequence[SEQUENCE_LEN];
	uint64		serial;
} LookaheadSerial;
static List *lookahead_serials = NIL;
static uint64 next_serial = 0;
static void (*held_ready_fn) (void) = NULL;
static const RtsyncCatchupHooks *catchup_hooks = NULL;
static bool first_load_done = false;
static void (*ready_fn) (void) = NULL;
static bool delete_unjudgeable = false;	/* a delete without its old image */

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
	held.cxt = AllocSetContextCreate(registry_cxt, "rtsync held record",
									 ALLOCSET_DEFAULT_SIZES);
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
		route->rls_columns = NIL;
		route->nsubscriptions = 0;
		route->nrestricted = 0;
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

/*
 * Does row-level security restrict what the subscription's role may read
 * of its table (control/'s grants say)? Then it joins its group.
 */
static void
set_restriction(RtsyncSubscription *sub)
{
	bool		restricted = rtsync_control_row_policy(sub->role, sub->plan->table->relid) != NULL;

	if (sub->rls_group)
	{
		rtsync_rls_group_release(sub->rls_group);
		sub->rls_group = NULL;
		sub->route->nrestricted--;
	}
	if (restricted)
	{
		sub->rls_group = rtsync_rls_group_acquire(sub->role, sub->claims);
		sub->route->nrestricted++;
	}
}

/*
 * Puts the subscription (on no list) into its route's bucket
 * "<prefix><column>:<value_key>", and the column into *columns.
 */
static void
bucket_add(RtsyncSubscription *sub, List **columns, const char *prefix, int column,
		   const char *value_key)
{
	RtsyncRoute *route = sub->route;
	char		key[INDEX_KEY_LEN];
	IndexBucket *bucket;
	bool		found;

	snprintf(key, sizeof(key), "%s%d:%s", prefix, column, value_key);
	bucket = hash_search(route->index, key, HASH_ENTER, &found);
	if (!found)
	{
		dlist_init(&bucket->subscriptions);
		bucket->count = 0;
	}
	if (!list_member_int(*columns, column))
	{
		MemoryContext old = MemoryContextSwitchTo(registry_cxt);

		*columns = lappend_int(*columns, column);
		MemoryContextSwitchTo(old);
	}
	dlist_push_tail(&bucket->subscriptions, &sub->route_node);
	bucket->count++;
	sub->index_key = MemoryContextStrdup(sub->cxt, key);
	sub->index_column = column;
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
		bucket_add(sub, &route->index_columns, "", column, value_key);
	}
	else
		dlist_push_tail(&route->unindexed, &sub->route_node);
	route->nsubscriptions++;
	set_restriction(sub);
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
		pfree(sub->index_key);
		sub->index_key = NULL;
	}
	sub->route->nsubscriptions--;
	if (sub->rls_group)
	{
		rtsync_rls_group_release(sub->rls_group);
		sub->rls_group = NULL;
		sub->route->nrestricted--;
	}
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
						  const char *operation_name, const char *role,
						  const char *claims, List **errors)
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
	sub->role = pstrdup(role);
	sub->claims = claims ? pstrdup(claims) : NULL;
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
	/* a connection catching up keeps its events in order: this one's too */
	if (catchup_hooks)
	{
		struct RtsyncCatchup *cu = catchup_hooks->of(owner);

		if (cu != NULL)
			catchup_hooks->gate(cu, sub);
	}
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
rtsync_registry_on_catchup(const RtsyncCatchupHooks *hooks)
{
	catchup_hooks = hooks;
}

dlist_head *
rtsync_registry_all(void)
{
	return &all_subscriptions;
}

const char *
rtsync_registry_last_sequence(void)
{
	return last_sequence;
}

const char *
rtsync_registry_delivered_sequence(void)
{
	return held.active && !held.control ? NULL : last_sequence;
}

void
rtsync_registry_unsubscribe(RtsyncSubscription *sub)
{
	rtsync_control_cancel_lsn(&sub->start_wait);
	if (sub->catchup)
		catchup_hooks->leave(sub);
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
		list_free(route->rls_columns);
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
/*
 * Grants and policies were loaded: whether row-level security restricts
 * each subscription may have changed (ENABLE ROW LEVEL SECURITY, a new
 * BYPASSRLS, the table's owner changed), and so may the values its groups
 * were indexed by.
 */
static void
registry_access_changed(void)
{
	dlist_iter	iter;

	dlist_foreach(iter, &all_subscriptions)
	{
		RtsyncSubscription *sub = dlist_container(RtsyncSubscription, all_node, iter.cur);

		/* relinked: out of any row-security bucket, whose value may be stale */
		if (sub->route)
		{
			registry_unlink(sub);
			registry_link(sub);
		}
	}
}

/* The reload a CONTROL record asked for is done: the stream goes on. */
static void
registry_loaded(void)
{
	if (!first_load_done)
	{
		first_load_done = true;
		if (ready_fn)
			ready_fn();
	}
	if (held.active && held.control && !held.ready)
	{
		held.ready = true;
		held_ready_fn();
	}
}

void
rtsync_registry_init(void)
{
	rtsync_control_on_schema(registry_set_schema);
	rtsync_control_on_access(registry_access_changed);
	rtsync_control_on_loaded(registry_loaded);
}

void
rtsync_registry_on_held_ready(void (*fn) (void))
{
	held_ready_fn = fn;
}

bool
rtsync_registry_ready(void)
{
	return first_load_done;
}

void
rtsync_registry_on_ready(void (*fn) (void))
{
	ready_fn = fn;
}

/*
 * Is the record before what the subscription gets live: committed before
 * its start (or it has not started), or, resumed, what it caught up on
 * from the kept stream?
 */
static inline bool
before_live(const RtsyncSubscription *sub)
{
	return record_commit_lsn <= sub->start_lsn ||
		(sub->live_after[0] != '\0' && strcmp(record_sequence, sub->live_after) <= 0);
}

static void
deliver(RtsyncSubscription *sub, JsonbContainer *image)
{
	RtsyncDocGroup *group = sub->group;

	if (before_live(sub))
		return;
	if (sub->plan->filter && !rtsync_filter_match(sub->plan->filter, image))
		return;
	if (sub->rls_group)
	{
		bool		allowed;

		if (!rtsync_rls_verdict(sub->rls_group, record_serial, &allowed) || !allowed)
			return;
	}
	if (group->serial != record_serial)
	{
		resetStringInfo(&group->payload);
		rtsync_record_payload(sub->plan, image, record_sequence, &group->payload);
		group->serial = record_serial;
	}
	if (sub->catchup &&
		catchup_hooks->hold(sub, record_sequence, group->payload.data, group->payload.len))
		return;
	sub->sink->deliver(sub, group->payload.data, group->payload.len);
}

/*
 * A restricted subscription on the unindexed list whose group's compiled
 * policy pins one column to one value moves to a row-security bucket
 * ("r<column>:<value>") of its route: from then on only changes with that
 * value visit it, as an eq filter's would. Until the grants reload, which
 * relinks every subscription (registry_access_changed).
 */
static void
index_by_policy(RtsyncSubscription *sub)
{
	RtsyncRoute *route = sub->route;
	RtsyncSchemaTable *table = route->table;
	const char *column_name;
	const char *value;
	int			column = -1;
	char	   *value_key = NULL;

	if (sub->index_key != NULL ||
		!rtsync_rls_index_value(sub->rls_group, table->relid, &column_name, &value))
		return;
	for (int i = 0; i < table->ncolumns; i++)
		if (strcmp(table->columns[i].name, column_name) == 0)
			column = i;
	if (column < 0 || table->columns[column].is_list)
		return;
	if (rtsync_filter_scalar_numeric(table->columns[column].scalar))
	{
		Numeric		n = rtsync_numeric_from_text(value, strlen(value));

		value_key = n ? numeric_normalize(n) : NULL;
	}
	else if (table->columns[column].scalar != RTSYNC_SCALAR_BOOLEAN &&
			 table->columns[column].scalar != RTSYNC_SCALAR_AWSJSON)
		value_key = pstrdup(value);
	if (value_key == NULL || strlen(value_key) >= INDEX_KEY_LEN - 16)
		return;
	dlist_delete(&sub->route_node);
	bucket_add(sub, &route->rls_columns, "r", column, value_key);
}

/*
 * The first pass over a change's candidates when some are restricted:
 * which groups must be judged before anything is delivered.
 */
static void
collect_judgements(RtsyncSubscription *sub, JsonbContainer *image)
{
	bool		allowed;

	if (sub->rls_group == NULL || before_live(sub))
		return;
	if (sub->plan->filter && !rtsync_filter_match(sub->plan->filter, image))
		return;
	if (rtsync_rls_verdict(sub->rls_group, record_serial, &allowed))
	{
		index_by_policy(sub);
		return;
	}
	if (delete_unjudgeable)
		rtsync_rls_decide(sub->rls_group, record_serial, false);
	else if (rtsync_rls_decide_compiled(sub->rls_group, record_serial,
										sub->plan->table->relid, image))
		index_by_policy(sub);
	else
		rtsync_rls_need(sub->rls_group, record_serial, sub->plan->table->relid, image);
}

/*
 * Calls fn for the subscriptions in the buckets of the image's values:
 * for each of columns, the bucket "<prefix><column>:<value>".
 */
static void
visit_buckets(RtsyncRoute *route, RtsyncSchemaTable *table, JsonbContainer *image,
			  List *columns, const char *prefix,
			  void (*fn) (RtsyncSubscription *sub, JsonbContainer *image))
{
	dlist_mutable_iter iter;
	ListCell   *lc;

	foreach(lc, columns)
	{
		int			column = lfirst_int(lc);
		char	   *value_key = rtsync_image_index_key(image, &table->columns[column]);
		char		key[INDEX_KEY_LEN];
		IndexBucket *bucket;

		if (value_key == NULL)
			continue;
		snprintf(key, sizeof(key), "%s%d:%s", prefix, column, value_key);
		bucket = hash_search(route->index, key, HASH_FIND, NULL);
		if (bucket == NULL)
			continue;
		dlist_foreach_modify(iter, &bucket->subscriptions)
			fn(dlist_container(RtsyncSubscription, route_node, iter.cur), image);
	}
}

/*
 * Calls fn for every subscription of the route the image may match: the
 * unindexed ones, those of the eq-filter buckets, those of the row-security
 * buckets ("r" prefix, index_by_policy).
 */
static void
visit_candidates(RtsyncRoute *route, RtsyncSchemaTable *table, JsonbContainer *image,
				 void (*fn) (RtsyncSubscription *sub, JsonbContainer *image))
{
	dlist_mutable_iter iter;

	dlist_foreach_modify(iter, &route->unindexed)
		fn(dlist_container(RtsyncSubscription, route_node, iter.cur), image);
	visit_buckets(route, table, image, route->index_columns, "", fn);
	visit_buckets(route, table, image, route->rls_columns, "r", fn);
}

/* The verdicts are in: the reader may finish the held record. */
static void
judged(void)
{
	held.ready = true;
	held_ready_fn();
}

/*
 * Holds the change for judgement when a restricted candidate's group has
 * no verdict yet; false when every verdict is known and it goes now. The
 * reader reads ahead (rtsync_registry_read_ahead) and then has the batch
 * judged (rtsync_registry_judge_held).
 */
static bool
hold_for_judgement(RtsyncRoute *route, RtsyncSchemaTable *table, RtsyncEvent event,
				   JsonbContainer *image)
{
	MemoryContext old;

	visit_candidates(route, table, image, collect_judgements);
	if (!rtsync_rls_needed())
		return false;
	old = MemoryContextSwitchTo(held.cxt);
	held.active = true;
	held.ready = false;
	held.control = false;
	held.table_name = pstrdup(table->qualified_name);
	held.event = event;
	held.image_json = JsonbToCString(NULL, image, 256);
	held.serial = record_serial;
	held.commit_lsn = record_commit_lsn;
	memcpy(held.sequence, record_sequence, sizeof(record_sequence));
	MemoryContextSwitchTo(old);
	return true;
}

/*
 * Finishes the held record once it is ready: a change goes to its
 * subscribers with the verdicts as they are now (against the schema and
 * routes as they are now: a table unpublished meanwhile gets nothing).
 */
void
rtsync_registry_finish_held(MemoryContext cxt)
{
	MemoryContext old;
	RtsyncSchemaTable *table;
	RtsyncRoute *route;
	Jsonb	   *image;

	if (!held.active || !held.ready)
		return;
	held.active = false;
	if (held.control || schema == NULL)
	{
		MemoryContextReset(held.cxt);
		return;
	}
	old = MemoryContextSwitchTo(cxt);
	table = rtsync_schema_find_table(schema, held.table_name);
	route = table ? route_for(table, held.event, false) : NULL;
	if (route)
	{
		image = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(held.image_json)));
		record_serial = held.serial;
		record_commit_lsn = held.commit_lsn;
		memcpy(record_sequence, held.sequence, sizeof(record_sequence));
		visit_candidates(route, table, &image->root, deliver);
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(held.cxt);
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

/*
 * ApproximateCreationDateTime, as a timestamp, read off the record's text
 * (the plugin writes epoch seconds with three decimals, near the start),
 * not through jsonb's numeric (numeric_out, then strtod, every record).
 * Only a key outside any string can match (inside one its quotes are
 * escaped). 0 when absent. memchr for its first letter, then a compare:
 * memmem took a tenth of the worker's time.
 */
static TimestampTz
record_commit_time(const char *data, int len)
{
	static const char key[] = "\"ApproximateCreationDateTime\":";
	const int	keylen = sizeof(key) - 1;
	const char *end = data + len;
	const char *p = data;
	int64		ms = 0;
	int			digits = 0;

	while ((p = memchr(p, 'A', end - p)) != NULL &&
		   !(p > data && p[-1] == '"' && end - p >= keylen - 1 && memcmp(p, key + 1, keylen - 1) == 0))
		p++;
	if (p == NULL)
		return 0;
	for (p += keylen - 1; p < end && isdigit((unsigned char) *p) && digits < 15; p++, digits++)
		ms = ms * 10 + (*p - '0');
	if (digits == 0)
		return 0;
	if (p < end && *p == '.')
		p++;
	for (int i = 0; i < 3; i++)
	{
		ms *= 10;
		if (p < end && isdigit((unsigned char) *p))
			ms += *p++ - '0';
	}
	return ms * 1000 -
		(TimestampTz) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * USECS_PER_SEC;
}

/*
 * What a change record is about: its event, table, route (with
 * subscriptions) and the image it is matched and judged on (the old image
 * for a delete: without one, its keys, and it cannot be judged). False
 * when no subscription could want it.
 */
static bool
change_target(JsonbContainer *dynamodb, JsonbValue *event_name, RtsyncSchemaTable *table,
			  RtsyncEvent *event, RtsyncRoute **route, JsonbContainer **image)
{
	bool		judgeable;

	if (!rtsync_record_event(event_name, event))
		return false;
	*route = table ? route_for(table, *event, false) : NULL;
	if (*route == NULL || (*route)->nsubscriptions == 0)
		return false;
	*image = rtsync_record_image(dynamodb, *event, &judgeable);
	delete_unjudgeable = !judgeable;
	return *image != NULL;
}

/* The published table a record's tableName names, or NULL. */
static RtsyncSchemaTable *
record_table(const JsonbValue *table_name)
{
	if (schema == NULL)
		return NULL;
	return rtsync_schema_find_table(schema, pnstrdup(table_name->val.string.val,
													 table_name->val.string.len));
}

/*
 * A record of a table with a retention is kept, as it came
 * (stream/retention.c), with its commit time: read once a transaction, as
 * its records share it (and the commit LSN their SequenceNumbers begin with).
 */
static void
keep_record(RtsyncSchemaTable *table, const char *sequence_number, const char *data, int len)
{
	static char commit_of[SEQUENCE_LSN_DIGITS];
	static TimestampTz commit_time = 0;

	if (table == NULL || table->retention_s <= 0)
		return;
	if (commit_time == 0 || memcmp(commit_of, sequence_number, SEQUENCE_LSN_DIGITS) != 0)
	{
		commit_time = record_commit_time(data, len);
		memcpy(commit_of, sequence_number, SEQUENCE_LSN_DIGITS);
	}
	rtsync_retention_add(table->relid, sequence_number, commit_time, data, len);
}

/*
 * A change's serial: the one the read-ahead gave it (the same change is
 * looked at again when dispatched, in the same order), else a new one.
 * Serials grow in stream order.
 */
static uint64
serial_of(const JsonbValue *seq)
{
	while (lookahead_serials != NIL)
	{
		LookaheadSerial *ls = linitial(lookahead_serials);
		int			cmp = seq->val.string.len == SEQUENCE_LEN ?
			memcmp(ls->sequence, seq->val.string.val, SEQUENCE_LEN) : 1;

		if (cmp > 0)
			break;
		lookahead_serials = list_delete_first(lookahead_serials);
		if (cmp == 0)
		{
			uint64		serial = ls->serial;

			pfree(ls);
			return serial;
		}
		pfree(ls);
	}
	return ++next_serial;
}

/*
 * A record read ahead while a change is held (stream/replication.c): a
 * change that restricted subscribers may get is gathered into the batch
 * being judged, so that one statement per group judges them all. False
 * once nothing after this record may be gathered (a CONTROL record: what it
 * changes applies to what follows it).
 */
bool
rtsync_registry_holds_change(void)
{
	return held.active && !held.control && !held.ready;
}

bool
rtsync_registry_read_ahead(const char *data, int len, MemoryContext cxt)
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
	uint64		saved_serial = record_serial;
	XLogRecPtr	saved_lsn = record_commit_lsn;
	char		saved_sequence[SEQUENCE_LEN + 1];
	bool		saved_unjudgeable = delete_unjudgeable;
	MemoryContext lcxt;
	LookaheadSerial *ls;

	jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(pnstrdup(data, len))));
	if (!JB_ROOT_IS_OBJECT(jb) || !rtsync_json_get_string_value(&jb->root, "eventName", &event_name))
	{
		MemoryContextSwitchTo(old);
		return true;
	}
	if (rtsync_record_name_is(&event_name, "CONTROL"))
	{
		MemoryContextSwitchTo(old);
		return false;
	}
	dynamodb = rtsync_json_get_object(&jb->root, "dynamodb");
	if (dynamodb == NULL || !rtsync_json_get_string_value(dynamodb, "SequenceNumber", &seq) ||
		seq.val.string.len != SEQUENCE_LEN ||
		memcmp(seq.val.string.val, last_sequence, SEQUENCE_LEN) <= 0 ||
		!rtsync_json_get_string_value(&jb->root, "tableName", &table_name) ||
		!change_target(dynamodb, &event_name, table = record_table(&table_name), &event, &route, &image) ||
		route->nrestricted == 0)
	{
		delete_unjudgeable = saved_unjudgeable;
		MemoryContextSwitchTo(old);
		return true;
	}
	lcxt = MemoryContextSwitchTo(registry_cxt);
	ls = palloc(sizeof(LookaheadSerial));
	memcpy(ls->sequence, seq.val.string.val, SEQUENCE_LEN);
	ls->serial = ++next_serial;
	lookahead_serials = lappend(lookahead_serials, ls);
	MemoryContextSwitchTo(lcxt);
	record_serial = ls->serial;
	record_commit_lsn = sequence_commit_lsn(&seq);
	memcpy(saved_sequence, record_sequence, sizeof(record_sequence));
	memcpy(record_sequence, seq.val.string.val, SEQUENCE_LEN);
	record_sequence[SEQUENCE_LEN] = '\0';
	visit_candidates(route, table, image, collect_judgements);
	memcpy(record_sequence, saved_sequence, sizeof(record_sequence));
	record_serial = saved_serial;
	record_commit_lsn = saved_lsn;
	delete_unjudgeable = saved_unjudgeable;
	MemoryContextSwitchTo(old);
	return true;
}

/*
 * The read-ahead is done: judge the held change and everything gathered
 * with it. A CONTROL record's hold waits for its reload instead.
 */
void
rtsync_registry_judge_held(void)
{
	if (!held.active || held.control || held.ready)
		return;
	if (!rtsync_rls_judge(judged))
		judged();
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

	registry_init();
	info->commit_time = 0;
	jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
											CStringGetDatum(pnstrdup(data, len))));
	if (!JB_ROOT_IS_OBJECT(jb) || !rtsync_json_get_string_value(&jb->root, "eventName", &event_name))
	{
		MemoryContextSwitchTo(old);
		return RTSYNC_RECORD_OTHER;
	}
	if (rtsync_record_name_is(&event_name, "COMMIT"))
	{
		info->commit_time = record_commit_time(data, len);
		MemoryContextSwitchTo(old);
		return RTSYNC_RECORD_COMMIT;
	}
	if (rtsync_record_name_is(&event_name, "CONTROL"))
	{
		rtsync_control_message(&jb->root);
		MemoryContextSwitchTo(old);
		if (held_ready_fn == NULL)
			return RTSYNC_RECORD_CHANGE;
		held.active = true;
		held.ready = false;
		held.control = true;
		return RTSYNC_RECORD_HELD;
	}
	dynamodb = rtsync_json_get_object(&jb->root, "dynamodb");
	if (dynamodb == NULL || !rtsync_json_get_string_value(dynamodb, "SequenceNumber", &seq) ||
		!rtsync_json_get_string_value(&jb->root, "tableName", &table_name))
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
	table = record_table(&table_name);
	if (seq.val.string.len == SEQUENCE_LEN)
	{
		memcpy(last_sequence, seq.val.string.val, SEQUENCE_LEN);
		last_sequence[SEQUENCE_LEN] = '\0';
		keep_record(table, last_sequence, data, len);
	}

	if (!change_target(dynamodb, &event_name, table, &event, &route, &image))
	{
		MemoryContextSwitchTo(old);
		return RTSYNC_RECORD_CHANGE;
	}

	record_serial = serial_of(&seq);
	record_commit_lsn = sequence_commit_lsn(&seq);
	strlcpy(record_sequence, seq.val.string.len == SEQUENCE_LEN ? last_sequence : "",
			sizeof(record_sequence));
	if (route->nrestricted > 0 && held_ready_fn != NULL &&
		hold_for_judgement(route, table, event, image))
	{
		MemoryContextSwitchTo(old);
		return RTSYNC_RECORD_HELD;
	}
	visit_candidates(route, table, image, deliver);
	MemoryContextSwitchTo(old);
	return RTSYNC_RECORD_CHANGE;
}
