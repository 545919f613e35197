/*-------------------------------------------------------------------------
 *
 * stream/registry.h
 *	  Live subscriptions, and the dispatch of each stream record to the
 *	  subscriptions it matches.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_REGISTRY_H
#define RTSYNC_REGISTRY_H

#include "access/xlogdefs.h"
#include "datatype/timestamp.h"

#include "control/control.h"
#include "graphql/schema.h"
#include "graphql/subscription_plan.h"

typedef enum RtsyncRecordKind
{
	RTSYNC_RECORD_CHANGE,		/* a row change (or TRUNCATE) */
	RTSYNC_RECORD_COMMIT,		/* end of a transaction */
	RTSYNC_RECORD_HELD,			/* a change or CONTROL record not yet done:
								 * read nothing more until the registry
								 * calls the release callback */
	RTSYNC_RECORD_OTHER
} RtsyncRecordKind;

/* What the replication reader learns from a record besides its kind. */
typedef struct RtsyncRecordInfo
{
	TimestampTz commit_time;	/* a COMMIT record's commit time, or 0 */
} RtsyncRecordInfo;

/* start_lsn of a subscription not yet started: it gets nothing */
#define RTSYNC_NOT_STARTED PG_UINT64_MAX

typedef struct RtsyncRoute RtsyncRoute;
typedef struct RtsyncDocGroup RtsyncDocGroup;
typedef struct RtsyncSubscription RtsyncSubscription;
struct RtsyncRlsGroup;

/*
 * Where a subscription's events go, given by the protocol that made it (a
 * static const per protocol): deliver gets each event's payload,
 * {"data":{...}}, the same bytes for every subscription of a document
 * group; ended is called when the server ends the subscription (it no
 * longer fits a new schema), and must unsubscribe it.
 */
typedef struct RtsyncSubscriptionSink
{
	void		(*deliver) (RtsyncSubscription *sub, const char *payload, size_t len);
	void		(*ended) (RtsyncSubscription *sub, const char *message);
	/* a resuming subscription (stream/catchup.h): its position is good */
	void		(*resumed) (RtsyncSubscription *sub);
	/* ... or it is not (error_type: the protocol's errorType); unsubscribe it */
	void		(*refused) (RtsyncSubscription *sub, const char *error_type,
							const char *message);
	/* bytes queued for its connection, and closing that as too slow */
	size_t		(*backlog) (RtsyncSubscription *sub);
	void		(*too_slow) (RtsyncSubscription *sub);
} RtsyncSubscriptionSink;

struct RtsyncSubscription
{
	const RtsyncSubscriptionSink *sink;
	void	   *owner;			/* the sink's: e.g. the connection */
	char	   *id;				/* the client's operation id */
	MemoryContext cxt;			/* owns this and its plan */
	char	   *query;			/* the request, kept to re-plan on */
	char	   *variables;		/* schema changes */
	char	   *operation_name;
	char	   *envelope;		/* {"type":"next","id":"...","payload": */
	int			envelope_len;
	RtsyncSubscriptionPlan *plan;
	char	   *role;			/* the subscriber's role and claims (NULL */
	char	   *claims;			/* for an API key) */
	struct RtsyncRlsGroup *rls_group;	/* NULL: row-level security does not
										 * restrict its role on the table */
	RtsyncRoute *route;			/* NULL while not registered */
	RtsyncDocGroup *group;
	dlist_node	route_node;
	dlist_node	all_node;		/* in the registry's list of all */
	char	   *index_key;		/* bucket in route's index, or NULL */
	int			index_column;
	XLogRecPtr	start_lsn;		/* gets transactions whose commit ends after
								 * this; RTSYNC_NOT_STARTED at first */
	RtsyncLsnWait start_wait;	/* waiting for start_lsn */
	char		live_after[RTSYNC_SEQUENCE_LEN + 1];	/* resumed: gets only
														 * records after this
														 * live ("": any) */
	struct RtsyncCatchup *catchup;	/* its connection's catch-up, while
									 * there is one */
};

/*
 * Resuming subscriptions (stream/catchup.c, above the registry) hook in
 * here: which connection is catching up, a new subscription of it to wait
 * with it, a live event kept to go out in order (true), a subscription
 * that goes.
 */
struct RtsyncCatchup;
typedef struct RtsyncCatchupHooks
{
	struct RtsyncCatchup *(*of) (void *owner);
	void		(*gate) (struct RtsyncCatchup *cu, RtsyncSubscription *sub);
	bool		(*hold) (RtsyncSubscription *sub, const char *sequence,
						 const char *payload, size_t len);
	void		(*leave) (RtsyncSubscription *sub);
} RtsyncCatchupHooks;
extern void rtsync_registry_on_catchup(const RtsyncCatchupHooks *hooks);

extern void rtsync_registry_init(void);
extern RtsyncSubscription *rtsync_registry_subscribe(const RtsyncSubscriptionSink *sink,
													 void *owner, MemoryContext parent,
													 const char *id,
													 const char *query, size_t query_len,
													 const char *variables,
													 const char *operation_name,
													 const char *role, const char *claims,
													 List **errors);
extern void rtsync_registry_start(RtsyncSubscription *sub, XLogRecPtr start_lsn);
extern void rtsync_registry_unsubscribe(RtsyncSubscription *sub);
/* Every subscription (all_node), and the last record dispatched ("" none yet). */
extern dlist_head *rtsync_registry_all(void);
extern const char *rtsync_registry_last_sequence(void);
/*
 * The position every started subscription has been given everything up
 * to, or NULL while a change is being judged.
 */
extern const char *rtsync_registry_delivered_sequence(void);
extern RtsyncRecordKind rtsync_registry_dispatch(const char *data, int len,
												 MemoryContext cxt,
												 RtsyncRecordInfo *info);

/*
 * A held record (RTSYNC_RECORD_HELD): fn, registered once by the reader,
 * is called when it may be finished; the reader then calls
 * rtsync_registry_finish_held (in cxt, reset afterwards) and reads on.
 */
extern void rtsync_registry_on_held_ready(void (*fn) (void));

/*
 * Whether the first load of the schema has finished (or failed: no
 * extension, nothing published). Until then a record cannot be told to
 * belong to a published table, so the reader waits; fn is called once
 * when it has.
 */
extern bool rtsync_registry_ready(void);
extern void rtsync_registry_on_ready(void (*fn) (void));
extern void rtsync_registry_finish_held(MemoryContext cxt);

/*
 * While a change is held, the reader hands over the records it has already
 * received after it (read_ahead, false: hand over no more), then asks for
 * the batch to be judged (judge_held). Those records are dispatched
 * afterwards as usual, in order.
 */
extern bool rtsync_registry_holds_change(void);
extern bool rtsync_registry_read_ahead(const char *data, int len, MemoryContext cxt);
extern void rtsync_registry_judge_held(void);

#endif							/* RTSYNC_REGISTRY_H */
