/*-------------------------------------------------------------------------
 *
 * stream/rls_judge.c
 *	  Judging a batch of changes under row-level security in SQL, on the
 *	  query pool.
 *
 * Each group a batch needs judged (stream/rls.c gathers them) has its
 * statement run after the group's role and claims are set exactly as for
 * its queries (net/pool.h's RTSYNC_POOL_SET_IDENTITY_SQL). Groups of one
 * role that need the same changes judged on a table differ only in their
 * claims: they share one statement, rtsync._judge_claims, which runs the
 * check for each of their claims in turn (extension/judge_claims.c), so 500
 * users under a membership policy cost a handful of statements per batch,
 * not 500. The statements are split over as many jobs as the pool has
 * connections: each job is one round trip.
 *
 * A policy that errors denies: a job with several groups that fails is run
 * again one group per job, and a group whose own job fails is denied the
 * change and logged (once per group), harming no other group.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/memutils.h"

#include "base/json.h"
#include "base/metrics.h"
#include "base/settings.h"
#include "control/control.h"
#include "control/policy.h"
#include "net/pool.h"
#include "stream/rls.h"
#include "stream/rls_judge.h"

/* At least this many groups share a statement, or each has its own. */
#define MIN_MEMBERS 4

/* One pool job: some needs' statements. */
typedef struct JudgeJob
{
	struct Judgement *judgement;
	int			nneeds;
	Need	  **needs;
	uint64		generation;		/* of the grants when it was sent */
	RtsyncStatement *statements;
} JudgeJob;

/* The judging of one batch. */
typedef struct Judgement
{
	MemoryContext cxt;			/* the batch's: records, needs, jobs */
	char		timeout[32];
	int			jobs_running;
	void		(*done) (void);
} Judgement;

static void judge_done(void *arg, List *results, const char *failure);

/*
 * A need's statements in a job of several: its group's identity, then its
 * check. The identity (RTSYNC_POOL_SET_IDENTITY_SQL's, and $4: names to
 * clear) also clears the claim settings of the need before it that this
 * group does not set itself: request.jwt.claim.<name> is set only for the
 * claims a group has, so without that a group lacking sub would be judged
 * with the sub of the one before it. The names cleared and the names set
 * never overlap, so the order the two are done in does not matter.
 * (Cleared settings read '' rather than unset, as they do in any session
 * that had them set in an earlier transaction.)
 */
#define STATEMENTS_PER_NEED 2
#define IDENTITY_STATEMENT 0
#define CHECK_STATEMENT 1
#define SWITCH_IDENTITY_SQL \
	RTSYNC_POOL_SET_IDENTITY_SQL "," \
	" (SELECT pg_catalog.count(pg_catalog.set_config(" \
	"    'request.jwt.claim.' OPERATOR(pg_catalog.||) n, '', true))" \
	"    FROM pg_catalog.jsonb_array_elements_text($4::jsonb) n)"

/*
 * The names of the claim settings prev's statements left that next's
 * identity does not set, as a JSON array. A shared statement leaves none
 * (rtsync._judge_claims clears what it set) and its identity sets none.
 */
static char *
names_to_clear(const Need *prev, const Need *next)
{
	JsonbContainer *p;
	JsonbContainer *names;
	JsonbContainer *keep = next->members == NIL && next->group->claims ?
		rtsync_json_parse_object(next->group->claims, strlen(next->group->claims)) : NULL;
	StringInfoData out;
	uint32		n;
	bool		first = true;

	if (prev->members != NIL)
		return "[]";
	p = rtsync_json_parse_object(psprintf("{\"n\":%s}", prev->group->claim_names),
								 strlen(prev->group->claim_names) + 6);
	names = rtsync_json_get_array(p, "n");
	n = names ? JsonContainerSize(names) : 0;
	initStringInfo(&out);
	appendStringInfoChar(&out, '[');
	for (uint32 i = 0; i < n; i++)
	{
		JsonbValue *v = getIthJsonbValueFromContainer(names, i);
		JsonbValue	kept;
		char	   *name;

		if (v->type != jbvString)
			continue;
		name = pnstrdup(v->val.string.val, v->val.string.len);
		/* a claim next sets (a scalar of the same name) is overwritten anyway */
		if (rtsync_json_get(keep, name, &kept) &&
			(kept.type == jbvString || kept.type == jbvNumeric || kept.type == jbvBool))
			continue;
		if (!first)
			appendStringInfoChar(&out, ',');
		first = false;
		escape_json(&out, name);
	}
	appendStringInfoChar(&out, ']');
	return out.data;
}

/* The groups a need judges keep their memory while it runs (delta +1, -1). */
static void
hold_groups(Need *need, int delta)
{
	ListCell   *lc;

	foreach(lc, need->members)
		hold_groups(lfirst(lc), delta);
	if (need->members != NIL)
		return;
	foreach(lc, need->groups)
	{
		if (delta > 0)
			((RtsyncRlsGroup *) lfirst(lc))->refcount++;
		else
			rtsync_rls_group_release(lfirst(lc));
	}
}

/* The verdict on the need's change serial, for each group it is for. */
static void
need_decide(Need *need, uint64 serial, bool allowed)
{
	ListCell   *lc;

	foreach(lc, need->groups)
		rtsync_rls_batch_decide(lfirst(lc), serial, allowed);
}

/* Group checks a need stands for (rtsync_rls_checks_total). */
static int
need_checks(const Need *need)
{
	return need->members == NIL ? 1 : list_length(need->members);
}

/*
 * The members' claims as a text[] literal: a token's own, or
 * {"role": <role>} for an API key's group, as the identity statement sets.
 */
static char *
members_claims(const Need *need)
{
	StringInfoData out;
	ListCell   *lc;

	initStringInfo(&out);
	appendStringInfoChar(&out, '{');
	foreach(lc, need->members)
	{
		RtsyncRlsGroup *g = ((Need *) lfirst(lc))->group;
		const char *claims = g->claims;

		if (claims == NULL)
		{
			StringInfoData r;

			initStringInfo(&r);
			appendStringInfoString(&r, "{\"role\":");
			escape_json(&r, g->role);
			appendStringInfoChar(&r, '}');
			claims = r.data;
		}
		if (lc != list_head(need->members))
			appendStringInfoChar(&out, ',');
		appendStringInfoChar(&out, '"');
		for (const char *c = claims; *c; c++)
		{
			if (*c == '"' || *c == '\\')
				appendStringInfoChar(&out, '\\');
			appendStringInfoChar(&out, *c);
		}
		appendStringInfoChar(&out, '"');
	}
	appendStringInfoChar(&out, '}');
	return out.data;
}

#define JUDGE_CLAIMS_SQL \
	"SELECT member, ord FROM rtsync._judge_claims($1, $2::text[], $3::jsonb)"

/* Queue one job for needs[0..n); false when the pool refused it. */
static bool
submit(Judgement *j, Need **needs, int n)
{
	MemoryContext old = MemoryContextSwitchTo(j->cxt);
	JudgeJob   *job = palloc0(sizeof(JudgeJob));
	int			checks = 0;

	job->judgement = j;
	job->nneeds = n;
	job->generation = rtsync_control_generation();
	job->needs = palloc(n * sizeof(Need *));
	job->statements = palloc0(STATEMENTS_PER_NEED * n * sizeof(RtsyncStatement));
	for (int i = 0; i < n; i++)
	{
		Need	   *need = needs[i];
		RtsyncRlsGroup *g = need->group;
		const char **identity = palloc(4 * sizeof(char *));
		const char **images = palloc(3 * sizeof(char *));
		const RtsyncRowPolicy *p = rtsync_control_row_policy(g->role, need->relid);
		const char *check = p == NULL ? "SELECT x.ord FROM pg_catalog.generate_series(1, pg_catalog.jsonb_array_length($1::jsonb)) x(ord)" :
			p->compiled ? p->values_sql : p->check_sql;
		RtsyncStatement *st = &job->statements[STATEMENTS_PER_NEED * i];

		if (need->images == NULL)
		{
			StringInfoData a;
			ListCell   *lc;

			initStringInfo(&a);
			appendStringInfoChar(&a, '[');
			foreach(lc, need->records)
			{
				if (lc != list_head(need->records))
					appendStringInfoChar(&a, ',');
				appendStringInfoString(&a, ((BatchRecord *) lfirst(lc))->image_json);
			}
			appendStringInfoChar(&a, ']');
			need->images = a.data;
		}
		identity[0] = g->role;
		identity[1] = j->timeout;
		identity[2] = need->members == NIL ? g->claims : NULL;
		need->compiled = p != NULL && p->compiled;
		job->needs[i] = need;
		hold_groups(need, 1);
		checks += need_checks(need);
		identity[3] = i > 0 ? names_to_clear(needs[i - 1], need) : "[]";
		st[IDENTITY_STATEMENT] = (RtsyncStatement) {SWITCH_IDENTITY_SQL, 4, identity, true};
		if (need->members != NIL)
		{
			images[0] = pstrdup(check);
			images[1] = members_claims(need);
			images[2] = need->images;
			st[CHECK_STATEMENT] = (RtsyncStatement) {JUDGE_CLAIMS_SQL, 3, images, true};
		}
		else
		{
			images[0] = need->images;
			st[CHECK_STATEMENT] = (RtsyncStatement) {pstrdup(check), need->compiled ? 0 : 1, images, true};
		}
	}
	MemoryContextSwitchTo(old);
	rtsync_metrics_count(RTSYNC_M_RLS_CHECKS, checks);
	rtsync_metrics_count(RTSYNC_M_RLS_STATEMENTS, n);
	/* the job's own identity sets no claims: each group sets its own */
	if (!rtsync_pool_submit(needs[0]->group->role, NULL, true, job->statements,
							STATEMENTS_PER_NEED * n, judge_done, job))
	{
		for (int i = 0; i < n; i++)
			hold_groups(needs[i], -1);
		return false;
	}
	j->jobs_running++;
	return true;
}

/* A need's own check failed: its groups are denied those changes. */
static void
deny_on_error(Need *need, const char *error)
{
	RtsyncRlsGroup *g = need->group;
	ListCell   *lc;
	bool		logged = true;

	if (need->members != NIL)
	{
		foreach(lc, need->members)
			deny_on_error(lfirst(lc), error);
		return;
	}
	rtsync_metrics_count(RTSYNC_M_RLS_ERRORS, 1);
	foreach(lc, need->groups)
		logged = logged && ((RtsyncRlsGroup *) lfirst(lc))->error_logged;
	if (!logged)
		ereport(LOG,
				(errmsg("rtsync could not judge a change under row-level security for role \"%s\": %s",
						g->role, error),
				 errdetail("Subscribers of that role with those claims do not get the change; this is logged once per group.")));
	foreach(lc, need->groups)
		((RtsyncRlsGroup *) lfirst(lc))->error_logged = true;
	foreach(lc, need->records)
		need_decide(need, ((BatchRecord *) lfirst(lc))->serial, false);
}

/*
 * A shared statement answered: (member, ord) rows, by member then ord, of
 * the images each member may see.
 */
static void
take_shared_answer(Need *need, PGresult *r)
{
	ListCell   *mc;
	int			member = 0;
	int			row = 0;

	foreach(mc, need->members)
	{
		Need	   *m = lfirst(mc);
		ListCell   *lc;
		int			ord = 0;

		member++;
		foreach(lc, m->records)
		{
			bool		allowed;

			ord++;
			while (row < PQntuples(r) &&
				   (atoi(PQgetvalue(r, row, 0)) < member ||
					(atoi(PQgetvalue(r, row, 0)) == member && atoi(PQgetvalue(r, row, 1)) < ord)))
				row++;
			allowed = row < PQntuples(r) && atoi(PQgetvalue(r, row, 0)) == member &&
				atoi(PQgetvalue(r, row, 1)) == ord;
			need_decide(m, ((BatchRecord *) lfirst(lc))->serial, allowed);
		}
	}
}

/* The need's statement answered: a verdict on each of its changes. */
static void
take_answer(Judgement *j, JudgeJob *job, Need *need, PGresult *r)
{
	RtsyncRlsGroup *g = need->group;
	ListCell   *lc;
	int			ord = 0;

	if (need->members != NIL)
	{
		take_shared_answer(need, r);
		return;
	}
	if (!need->compiled)
	{
		/* the ordinals (1-based, ascending) of the images the role may see */
		int			row = 0;

		foreach(lc, need->records)
		{
			bool		allowed;

			ord++;
			while (row < PQntuples(r) && atoi(PQgetvalue(r, row, 0)) < ord)
				row++;
			allowed = row < PQntuples(r) && atoi(PQgetvalue(r, row, 0)) == ord;
			need_decide(need, ((BatchRecord *) lfirst(lc))->serial, allowed);
		}
		return;
	}
	if (list_length(need->groups) > 1)
	{
		MemoryContext old = MemoryContextSwitchTo(j->cxt);
		ListCell   *gc;

		/*
		 * The policy became compiled since the batch was gathered: the
		 * values answered are the first group's own, and each group must
		 * ask for its own.
		 */
		foreach(gc, need->groups)
		{
			Need	   *one = palloc0(sizeof(Need));

			one->group = lfirst(gc);
			one->groups = list_make1(one->group);
			one->relid = need->relid;
			one->records = need->records;
			if (!submit(j, &one, 1))
				deny_on_error(one, "the query pool is full");
		}
		MemoryContextSwitchTo(old);
		return;
	}
	if (PQntuples(r) != 1 || PQgetisnull(r, 0, 0) ||
		!rtsync_rls_keep_values(g, need->relid, job->generation, PQgetvalue(r, 0, 0)))
	{
		deny_on_error(need, "the compiled policy's values could not be read");
		return;
	}
	foreach(lc, need->records)
	{
		BatchRecord *rec = lfirst(lc);
		const RtsyncRowPolicy *p = rtsync_control_row_policy(g->role, need->relid);
		GroupTable *t = rtsync_rls_group_table(g, need->relid);

		if (p == NULL)
			rtsync_rls_batch_decide(g, rec->serial, true);
		else if (p->compiled && t && t->generation == rtsync_control_generation())
			rtsync_rls_batch_decide(g, rec->serial, rtsync_rls_eval_compiled(p, t, rec->image));
		else if (!submit(j, &need, 1))
		{
			/* the grants changed meanwhile: asked again */
			deny_on_error(need, "the query pool is full");
			return;
		}
		else
			return;
	}
}

static void
judgement_finish(Judgement *j)
{
	void		(*done) (void) = j->done;

	/* the batch's memory (records, needs) goes when the next is gathered */
	rtsync_rls_batch_close();
	done();
}

static bool
answered(PGresult *r)
{
	return PQresultStatus(r) == PGRES_TUPLES_OK;
}

/*
 * A job ran, and one of its needs' statements failed (a policy that errors
 * on some row, say): the needs before it have their answers; it is judged
 * again change by change when it had several (which one failed is not
 * known), or denied when it was alone; the needs after it (not run) go
 * again. All of it in one job, so a policy error costs a statement per
 * change of that need, never a flood of jobs; each round settles at least
 * one need, so the rounds end.
 */
static void
redo_after_error(Judgement *j, JudgeJob *job, List *results)
{
	MemoryContext old = MemoryContextSwitchTo(j->cxt);
	Need	  **redo;
	int			nredo = 0;
	int			i;

	for (i = 0; i < job->nneeds; i++)
	{
		PGresult   *identity = list_nth(results, STATEMENTS_PER_NEED * i + IDENTITY_STATEMENT);
		PGresult   *check = list_nth(results, STATEMENTS_PER_NEED * i + CHECK_STATEMENT);

		if (!answered(identity) || !answered(check))
			break;
		take_answer(j, job, job->needs[i], check);
	}
	if (i == job->nneeds)
	{
		MemoryContextSwitchTo(old);
		return;
	}
	redo = palloc((job->nneeds + list_length(job->needs[i]->records) +
				   list_length(job->needs[i]->members)) * sizeof(Need *));
	{
		Need	   *bad = job->needs[i];
		PGresult   *identity = list_nth(results, STATEMENTS_PER_NEED * i + IDENTITY_STATEMENT);
		PGresult   *check = list_nth(results, STATEMENTS_PER_NEED * i + CHECK_STATEMENT);

		if (bad->members != NIL)
		{
			ListCell   *lc;

			/* which group's check failed is not known: each on its own */
			foreach(lc, bad->members)
				redo[nredo++] = lfirst(lc);
		}
		else if (answered(identity) && !bad->compiled && list_length(bad->records) > 1)
		{
			ListCell   *lc;

			foreach(lc, bad->records)
			{
				Need	   *one = palloc0(sizeof(Need));

				one->group = bad->group;
				one->groups = bad->groups;
				one->relid = bad->relid;
				one->records = list_make1(lfirst(lc));
				redo[nredo++] = one;
			}
		}
		else
			deny_on_error(bad, PQresultErrorMessage(answered(identity) ? check : identity));
	}
	for (int k = i + 1; k < job->nneeds; k++)
		redo[nredo++] = job->needs[k];
	if (nredo > 0 && !submit(j, redo, nredo))
		for (int k = 0; k < nredo; k++)
			deny_on_error(redo[k], "the query pool is full");
	MemoryContextSwitchTo(old);
}

static void
judge_done(void *arg, List *results, const char *failure)
{
	JudgeJob   *job = arg;
	Judgement  *j = job->judgement;
	bool		failed = failure != NULL ||
		list_length(results) < STATEMENTS_PER_NEED * job->nneeds;

	for (int i = 0; i < job->nneeds && !failed; i++)
		if (PQresultStatus(list_nth(results, STATEMENTS_PER_NEED * i + IDENTITY_STATEMENT)) != PGRES_TUPLES_OK ||
			PQresultStatus(list_nth(results, STATEMENTS_PER_NEED * i + CHECK_STATEMENT)) != PGRES_TUPLES_OK)
			failed = true;
	j->jobs_running--;
	if (!failed)
		for (int i = 0; i < job->nneeds; i++)
			take_answer(j, job, job->needs[i],
						list_nth(results, STATEMENTS_PER_NEED * i + CHECK_STATEMENT));
	else if (failure == NULL && list_length(results) >= STATEMENTS_PER_NEED * job->nneeds)
		redo_after_error(j, job, results);
	else if (job->nneeds == 1 && job->needs[0]->members == NIL)
	{
		const char *error = failure;

		for (int k = 0; error == NULL && k < list_length(results); k++)
			if (PQresultStatus(list_nth(results, k)) == PGRES_FATAL_ERROR)
				error = PQresultErrorMessage(list_nth(results, k));
		deny_on_error(job->needs[0], error ? error : "no result");
	}
	else
	{
		/* the job did not run: each group alone, so only its own is denied */
		for (int i = 0; i < job->nneeds; i++)
		{
			Need	   *need = job->needs[i];
			ListCell   *lc;

			if (need->members == NIL && !submit(j, &need, 1))
				deny_on_error(need, "the query pool is full");
			foreach(lc, need->members)
			{
				Need	   *m = lfirst(lc);

				if (!submit(j, &m, 1))
					deny_on_error(m, "the query pool is full");
			}
		}
	}
	for (int i = 0; i < job->nneeds; i++)
		hold_groups(job->needs[i], -1);
	if (j->jobs_running == 0)
		judgement_finish(j);
}

/* Do two needs judge the same changes (the same records, in order)? */
static bool
same_records(const Need *a, const Need *b)
{
	ListCell   *la;
	ListCell   *lb;

	if (list_length(a->records) != list_length(b->records))
		return false;
	forboth(la, a->records, lb, b->records)
		if (lfirst(la) != lfirst(lb))
			return false;
	return true;
}

/*
 * The batch's needs as statements: those judged in SQL (not compiled) of
 * groups of one role, on one table, on the same changes, share statements
 * of rtsync._judge_claims, as many as the pool has connections (so they
 * still run side by side) with at least MIN_MEMBERS groups each; the rest
 * keep their own. In batch_cxt.
 */
static List *
combine_needs(List *needs)
{
	List	   *out = NIL;
	List	   *alike = NIL;	/* Need * leading a list of alike needs */
	ListCell   *lc;

	foreach(lc, needs)
	{
		Need	   *need = lfirst(lc);
		const RtsyncRowPolicy *p = rtsync_control_row_policy(need->group->role, need->relid);
		Need	   *lead = NULL;
		ListCell   *ac;

		if (p == NULL || p->compiled)
		{
			out = lappend(out, need);
			continue;
		}
		foreach(ac, alike)
		{
			Need	   *a = lfirst(ac);

			if (a->relid == need->relid && strcmp(a->group->role, need->group->role) == 0 &&
				same_records(a, need))
				lead = a;
		}
		if (lead == NULL)
		{
			lead = palloc0(sizeof(Need));
			lead->group = need->group;
			lead->relid = need->relid;
			lead->records = need->records;
			alike = lappend(alike, lead);
		}
		lead->members = lappend(lead->members, need);
	}
	foreach(lc, alike)
	{
		Need	   *lead = lfirst(lc);
		int			n = list_length(lead->members);
		int			per = Max(MIN_MEMBERS, (n + rtsync_pool_size - 1) / rtsync_pool_size);

		if (n < MIN_MEMBERS)
		{
			out = list_concat(out, lead->members);
			continue;
		}
		for (int i = 0; i < n; i += per)
		{
			Need	   *share = palloc0(sizeof(Need));

			*share = *lead;
			share->members = NIL;
			for (int k = i; k < Min(n, i + per); k++)
				share->members = lappend(share->members, list_nth(lead->members, k));
			share->group = ((Need *) linitial(share->members))->group;
			out = lappend(out, share);
		}
	}
	return out;
}

bool
rtsync_rls_judge(void (*done) (void))
{
	Judgement  *j;
	Need	  **needs;
	List	   *statements;
	MemoryContext batch_cxt = NULL;
	List	   *batch_needs = rtsync_rls_batch_needs(&batch_cxt);
	int			n;
	int			per_job;

	if (batch_needs == NIL)
		return false;
	j = MemoryContextAllocZero(batch_cxt, sizeof(Judgement));
	j->cxt = batch_cxt;
	j->done = done;
	snprintf(j->timeout, sizeof(j->timeout), "%d", rtsync_statement_timeout_ms);
	{
		MemoryContext old = MemoryContextSwitchTo(batch_cxt);

		statements = combine_needs(batch_needs);
		MemoryContextSwitchTo(old);
	}
	n = list_length(statements);
	needs = MemoryContextAlloc(batch_cxt, n * sizeof(Need *));
	for (int i = 0; i < n; i++)
		needs[i] = list_nth(statements, i);

	/* as many jobs as connections, each one round trip */
	per_job = (n + rtsync_pool_size - 1) / rtsync_pool_size;
	j->jobs_running++;			/* until every job is queued */
	for (int i = 0; i < n; i += per_job)
	{
		int			k = Min(per_job, n - i);

		if (!submit(j, needs + i, k))
			for (int m = i; m < i + k; m++)
				deny_on_error(needs[m], "the query pool is full");
	}
	j->jobs_running--;
	if (j->jobs_running == 0)
		judgement_finish(j);
	return true;
}
