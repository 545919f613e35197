/*-------------------------------------------------------------------------
 *
 * stream/rls.h
 *	  Row-level security on delivery: a change reaches a subscriber only
 *	  if the subscriber's role, with its claims, could SELECT the row as
 *	  the change shows it.
 *
 * Subscribers alike for row security (same role, same claims once the
 * claims that differ from token to token are set aside) share a group,
 * and a change is judged once per group, never once per subscriber. The
 * registry asks for the groups a change needs and delivers once every
 * verdict is in.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_RLS_H
#define RTSYNC_RLS_H

#include "c.h"
#include "postgres_ext.h"
#include "nodes/pg_list.h"
#include "utils/palloc.h"

typedef struct RtsyncRlsGroup RtsyncRlsGroup;

/* The group of (role, claims); claims NULL for an API key. Counted. */
extern RtsyncRlsGroup *rtsync_rls_group_acquire(const char *role, const char *claims);
extern void rtsync_rls_group_release(RtsyncRlsGroup *group);

/* Is the group's verdict on record serial known, and what is it? */
extern bool rtsync_rls_verdict(const RtsyncRlsGroup *group, uint64 serial, bool *allowed);
/* Decide without asking the database (e.g. a delete without its old image). */
extern void rtsync_rls_decide(RtsyncRlsGroup *group, uint64 serial, bool allowed);
/*
 * Judges the group in process when the role's policy on table relid is
 * compiled and the group's values for it are known; false when the
 * database must be asked (rtsync_rls_need).
 */
struct JsonbContainer;
extern bool rtsync_rls_decide_compiled(RtsyncRlsGroup *group, uint64 serial, Oid relid,
									   struct JsonbContainer *image);
/* The one value a group's compiled policy lets the column have, if so. */
extern bool rtsync_rls_index_value(RtsyncRlsGroup *group, Oid relid, const char **column,
								   const char **value);
/*
 * Batches: the changes the stream holds are judged together, each group's
 * check taking every image it must judge of a table at once. need adds
 * that the group must be judged on change serial (an image of table
 * relid), starting a batch if none is being gathered; judge asks
 * the database for everything needed, and done runs once every verdict is
 * in (stream/rls_judge.h). False when nothing is needed (done is not
 * called).
 */
extern void rtsync_rls_need(RtsyncRlsGroup *group, uint64 serial, Oid relid,
							struct JsonbContainer *image);
extern bool rtsync_rls_needed(void);

/*
 * For stream/rls_judge.c, which judges the batch in SQL: the group, the
 * batch's changes and what each group needs judged on them.
 */
/* A group's values for a table's compiled policy. */
typedef struct GroupTable
{
	Oid			relid;
	uint64		generation;		/* of the grants they were asked under */
	int			nvalues;		/* one per qual that is not always */
	int		   *counts;			/* values of each: 1, or = ANY's many */
	char	 ***values;			/* NULL entries: SQL NULL */
	char	   *judge_key;		/* groups judged together share it */
	uint64		judge_generation;	/* ... under these grants */
} GroupTable;

struct RtsyncRlsGroup
{
	char	   *key;			/* hash key: role, newline, stable claims */
	char	   *role;
	char	   *claims;			/* a member's whole claims, or NULL */
	char	   *claim_names;	/* JSON array: the request.jwt.claim.<name>
								 * settings its identity sets */
	int			refcount;
	uint64		serial;			/* the record the verdict is for */
	bool		decided;
	bool		allowed;
	struct Need *need;			/* in the batch being gathered, or stale */
	uint64		need_batch;		/* ... the batch it is of */
	bool		error_logged;
	List	   *tables;			/* GroupTable *, in the group's memory */
	MemoryContext cxt;			/* the group's tables */
};

/* A change of the batch: its serial and image. */
typedef struct BatchRecord
{
	uint64		serial;
	char	   *image_json;
	struct JsonbContainer *image;
} BatchRecord;

/* What one group must be judged on, for one table: some of the batch's changes. */
typedef struct Need
{
	char	   *key;			/* relid, newline, the judge key */
	RtsyncRlsGroup *group;		/* the first: judged with its identity */
	List	   *groups;			/* all it is for, group first */
	Oid			relid;
	List	   *records;		/* BatchRecord *, in stream order */
	char	   *images;			/* their images as a JSON array: $1 */
	bool		compiled;		/* its statement asks for values */
	List	   *members;		/* judged together (rtsync._judge_claims):
								 * the needs of groups of group's role with
								 * these records; NIL for group's own */
} Need;

extern GroupTable *rtsync_rls_group_table(RtsyncRlsGroup *g, Oid relid);
extern bool rtsync_rls_keep_values(RtsyncRlsGroup *g, Oid relid, uint64 generation,
								   const char *json);
struct RtsyncRowPolicy;
extern bool rtsync_rls_eval_compiled(const struct RtsyncRowPolicy *p, const GroupTable *t,
									 struct JsonbContainer *image);
extern void rtsync_rls_batch_decide(RtsyncRlsGroup *g, uint64 serial, bool allowed);
/* The batch gathered, its needs in *cxt; NIL (and closed) when none. */
extern List *rtsync_rls_batch_needs(MemoryContext *cxt);
/* The batch is judged: the next need gathers a new one. */
extern void rtsync_rls_batch_close(void);

#endif							/* RTSYNC_RLS_H */
