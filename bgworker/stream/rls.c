/*-------------------------------------------------------------------------
 *
 * stream/rls.c
 *	  Judging a change under row-level security, once per group of alike
 *	  subscribers, on the query pool.
 *
 * A group is a role and the claims its policies may read. The claims that
 * differ on every token of the same user (exp, iat, nbf, jti, auth_time and
 * Cognito's origin_jti and event_id) are left out of the group's key, so
 * one user's reconnections, and every API key of one role, share a group.
 *
 * The verdict is Postgres' own: control/ composed the role's policies on
 * the table into one statement that reads a change's image as a row of
 * the table (control/control.c, rls_check_sql). Each group's statement
 * runs after the group's role and claims are set exactly as for its
 * queries (net/pool.h's RTSYNC_POOL_SET_IDENTITY_SQL), so auth.uid()-style
 * functions, sublinks on membership tables and function calls all run as
 * that role would run them. Groups of one role that need the same changes
 * judged on a table with the same statement differ only in their claims:
 * they share one statement, rtsync._judge_claims, which runs the check for
 * each of their claims in turn (extension/judge_claims.c), so 500 users
 * under a membership policy cost a handful of statements per batch, not
 * 500. The statements one batch needs are split over as many jobs as the
 * pool has connections: each job is one round trip.
 *
 * Compiled policies (control/policy.h) cost no SQL per change: the values
 * their quals compare columns with depend on the role and claims alone, so
 * they are asked for once per group and table, kept with the group until
 * the next load of the grants, and every change is then judged in process.
 *
 * A policy that errors denies: a job with several groups that fails is run
 * again one group per job, and a group whose own job fails is denied the
 * change and logged (once per group), harming no other group.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "base/json.h"
#include "base/metrics.h"
#include "base/settings.h"
#include "control/control.h"
#include "control/policy.h"
#include "net/pool.h"
#include "stream/rls.h"

/* A group's values for a table's compiled policy. */
typedef struct GroupTable
{
	Oid			relid;
	uint64		generation;		/* of the grants they were asked under */
	int			nvalues;		/* one per qual that is not always */
	int		   *counts;			/* values of each: 1, or = ANY's many */
	char	 ***values;			/* NULL entries: SQL NULL */
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

typedef struct GroupEntry
{
	char	   *key;
	RtsyncRlsGroup *group;
} GroupEntry;

/* A change of the batch: its serial and image. */
typedef struct BatchRecord
{
	uint64		serial;
	char	   *image_json;
	JsonbContainer *image;
} BatchRecord;

/* What one group must be judged on, for one table: some of the batch's changes. */
typedef struct Need
{
	RtsyncRlsGroup *group;
	Oid			relid;
	List	   *records;		/* BatchRecord *, in stream order */
	char	   *images;			/* their images as a JSON array: $1 */
	bool		compiled;		/* its statement asks for values */
	List	   *members;		/* judged together (rtsync._judge_claims):
								 * the needs of groups of group's role with
								 * these records; NIL for group's own */
} Need;

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

/* A verdict on one change of a batch, for one group. */
typedef struct VerdictKey
{
	RtsyncRlsGroup *group;
	uint64		serial;
} VerdictKey;

typedef struct Verdict
{
	VerdictKey	key;
	bool		allowed;
} Verdict;

static MemoryContext rls_cxt = NULL;
static HTAB *groups = NULL;

/* The batch being gathered (rtsync_rls_need) until it is judged. */
static MemoryContext batch_cxt = NULL;
static uint64 batch_number = 1;
static List *batch_records = NIL;	/* BatchRecord * */
static List *batch_needs = NIL; /* Need * */
static bool batch_open = false; /* gathering; closed once judged */

/* The verdicts of the last batch judged, until the next one is gathered. */
static HTAB *verdicts = NULL;

/* Claims that change from one token to the next of the same user. */
static const char *const volatile_claims[] = {
	"exp", "iat", "nbf", "jti", "auth_time", "origin_jti", "event_id"
};

/* the hash table's keys are pointers to the (unbounded) key strings */
static uint32
key_hash(const void *key, Size keysize)
{
	const char *k = *(const char *const *) key;

	return hash_bytes((const unsigned char *) k, strlen(k));
}

static int
key_match(const void *a, const void *b, Size keysize)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

static void
rls_init(void)
{
	HASHCTL		ctl;

	if (rls_cxt)
		return;
	rls_cxt = AllocSetContextCreate(TopMemoryContext, "rtsync row security",
									ALLOCSET_DEFAULT_SIZES);
	ctl.keysize = sizeof(char *);
	ctl.entrysize = sizeof(GroupEntry);
	ctl.hcxt = rls_cxt;
	ctl.hash = key_hash;
	ctl.match = key_match;
	groups = hash_create("rtsync row security groups", 256, &ctl,
						 HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
}

static bool
is_volatile_claim(const char *key, int len)
{
	for (int i = 0; i < lengthof(volatile_claims); i++)
		if ((int) strlen(volatile_claims[i]) == len && memcmp(volatile_claims[i], key, len) == 0)
			return true;
	return false;
}

/* role + "\n" + the claims without the volatile ones, as jsonb prints them */
static char *
group_key(const char *role, const char *claims)
{
	JsonbContainer *c = claims ? rtsync_json_parse_object(claims, strlen(claims)) : NULL;
	JsonbParseState *state = NULL;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	JsonbValue *res = NULL;
	bool		skip = false;

	if (c == NULL)
		return psprintf("%s\n", role);
	it = JsonbIteratorInit(c);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			skip = is_volatile_claim(v.val.string.val, v.val.string.len);
			if (!skip)
				res = pushJsonbValue(&state, tok, &v);
		}
		else if (tok == WJB_VALUE)
		{
			if (!skip)
				res = pushJsonbValue(&state, tok, &v);
		}
		else
			res = pushJsonbValue(&state, tok, tok == WJB_BEGIN_OBJECT || tok == WJB_END_OBJECT ? NULL : &v);
	}
	return psprintf("%s\n%s", role,
					JsonbToCString(NULL, &JsonbValueToJsonb(res)->root, 256));
}

/* Could name be part of a setting's name (what the identity statement sets)? */
static bool
setting_name_ok(const char *name, int len)
{
	if (len == 0 || !((name[0] >= 'A' && name[0] <= 'Z') || (name[0] >= 'a' && name[0] <= 'z') ||
					  name[0] == '_'))
		return false;
	for (int i = 1; i < len; i++)
		if (!((name[i] >= 'A' && name[i] <= 'Z') || (name[i] >= 'a' && name[i] <= 'z') ||
			  (name[i] >= '0' && name[i] <= '9') || name[i] == '_' || name[i] == '$'))
			return false;
	return true;
}

/*
 * The names of the scalar claims RTSYNC_POOL_SET_IDENTITY_SQL sets as
 * request.jwt.claim.<name>, as a JSON array: the next group in the same
 * transaction clears those it does not set itself (SWITCH_IDENTITY_SQL).
 */
static char *
claim_names(const char *claims)
{
	JsonbContainer *c = claims ? rtsync_json_parse_object(claims, strlen(claims)) : NULL;
	StringInfoData out;
	JsonbIterator *it;
	JsonbValue	k;
	JsonbValue	v;
	JsonbIteratorToken tok;
	bool		first = true;

	initStringInfo(&out);
	appendStringInfoChar(&out, '[');
	if (c != NULL)
	{
		it = JsonbIteratorInit(c);
		while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
		{
			if (tok != WJB_KEY)
				continue;
			tok = JsonbIteratorNext(&it, &v, true);
			if ((v.type == jbvString || v.type == jbvNumeric || v.type == jbvBool) &&
				setting_name_ok(k.val.string.val, k.val.string.len))
			{
				if (!first)
					appendStringInfoChar(&out, ',');
				first = false;
				escape_json(&out, pnstrdup(k.val.string.val, k.val.string.len));
			}
		}
	}
	appendStringInfoChar(&out, ']');
	return out.data;
}

RtsyncRlsGroup *
rtsync_rls_group_acquire(const char *role, const char *claims)
{
	MemoryContext old;
	char	   *key;
	GroupEntry *e;
	bool		found;

	rls_init();
	old = MemoryContextSwitchTo(rls_cxt);
	key = group_key(role, claims);
	e = hash_search(groups, &key, HASH_ENTER, &found);
	if (!found)
	{
		RtsyncRlsGroup *g = palloc0(sizeof(RtsyncRlsGroup));

		g->key = key;
		g->role = pstrdup(role);
		g->claims = claims ? pstrdup(claims) : NULL;
		g->claim_names = claim_names(claims);
		e->key = key;
		e->group = g;
	}
	else
		pfree(key);
	e->group->refcount++;
	MemoryContextSwitchTo(old);
	return e->group;
}

/* Freed at the last release; a job in flight holds a reference too. */
void
rtsync_rls_group_release(RtsyncRlsGroup *g)
{
	if (--g->refcount > 0)
		return;
	hash_search(groups, &g->key, HASH_REMOVE, NULL);
	pfree(g->key);
	pfree(g->role);
	if (g->claims)
		pfree(g->claims);
	pfree(g->claim_names);
	if (g->cxt)
		MemoryContextDelete(g->cxt);
	pfree(g);
}

static GroupTable *
group_table(RtsyncRlsGroup *g, Oid relid)
{
	ListCell   *lc;

	foreach(lc, g->tables)
		if (((GroupTable *) lfirst(lc))->relid == relid)
			return lfirst(lc);
	return NULL;
}

/* Does the image's column equal one of the values (text forms)? */
static bool
image_value_in(JsonbContainer *image, const char *column, char **values, int n)
{
	JsonbValue	v;
	const char *text;
	size_t		len;

	if (getKeyJsonValueFromContainer(image, column, strlen(column), &v) == NULL)
		return false;
	if (v.type == jbvString)
	{
		text = v.val.string.val;
		len = v.val.string.len;
	}
	else if (v.type == jbvNumeric)
	{
		text = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v.val.numeric)));
		len = strlen(text);
	}
	else
		return false;
	for (int i = 0; i < n; i++)
		if (values[i] && strlen(values[i]) == len && memcmp(values[i], text, len) == 0)
			return true;
	return false;
}

/*
 * A compiled policy on an image, with the group's values: permissive quals
 * OR-ed (none: false), restrictive ones AND-ed, as the server does.
 */
static bool
eval_compiled(const RtsyncRowPolicy *p, const GroupTable *t, JsonbContainer *image)
{
	bool		permitted = false;
	int			vi = 0;

	for (int i = 0; i < p->nquals; i++)
	{
		const RtsyncPolicyQual *q = &p->quals[i];
		bool		ok = q->always;

		if (!q->always)
		{
			ok = vi < t->nvalues &&
				image_value_in(image, q->column, t->values[vi], t->counts[vi]);
			vi++;
		}
		if (q->permissive)
			permitted |= ok;
		else if (!ok)
			return false;
	}
	return permitted;
}

/* Does the compiled policy compare with any value (need them asked for)? */
static bool
needs_values(const RtsyncRowPolicy *p)
{
	for (int i = 0; i < p->nquals; i++)
		if (!p->quals[i].always)
			return true;
	return false;
}

bool
rtsync_rls_decide_compiled(RtsyncRlsGroup *g, uint64 serial, Oid relid, JsonbContainer *image)
{
	const RtsyncRowPolicy *p = rtsync_control_row_policy(g->role, relid);
	GroupTable *t;

	if (p == NULL)
	{
		/* no longer restricted (the registry catches up at the next load) */
		rtsync_rls_decide(g, serial, true);
		return true;
	}
	if (!p->compiled)
		return false;
	if (!needs_values(p))
	{
		rtsync_rls_decide(g, serial, eval_compiled(p, NULL, image));
		return true;
	}
	t = group_table(g, relid);
	if (t == NULL || t->generation != rtsync_control_generation())
		return false;
	rtsync_rls_decide(g, serial, eval_compiled(p, t, image));
	return true;
}

/*
 * Is the group's verdict on a table's changes "the column equals this one
 * value" (a compiled policy of one permissive qual, its value known)? Then
 * the registry indexes the group's subscriptions by that value, and a
 * change visits only those whose value it has.
 */
bool
rtsync_rls_index_value(RtsyncRlsGroup *g, Oid relid, const char **column, const char **value)
{
	const RtsyncRowPolicy *p = rtsync_control_row_policy(g->role, relid);
	GroupTable *t;

	if (p == NULL || !p->compiled || p->nquals != 1 || !p->quals[0].permissive ||
		p->quals[0].always)
		return false;
	t = group_table(g, relid);
	if (t == NULL || t->generation != rtsync_control_generation() ||
		t->nvalues != 1 || t->counts[0] != 1 || t->values[0][0] == NULL)
		return false;
	*column = p->quals[0].column;
	*value = t->values[0][0];
	return true;
}

/* Keeps a group's values for a table: the JSON {"v": [...]} of values_sql. */
static bool
keep_values(RtsyncRlsGroup *g, Oid relid, uint64 generation, const char *json)
{
	MemoryContext old;
	JsonbContainer *root;
	JsonbContainer *array;
	GroupTable *t;

	if (g->cxt == NULL)
		g->cxt = AllocSetContextCreate(rls_cxt, "rtsync row security group",
									   ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(g->cxt);
	root = rtsync_json_parse_object(json, strlen(json));
	array = rtsync_json_get_array(root, "v");
	if (array == NULL)
	{
		MemoryContextSwitchTo(old);
		return false;
	}
	t = group_table(g, relid);
	if (t == NULL)
	{
		t = palloc0(sizeof(GroupTable));
		t->relid = relid;
		g->tables = lappend(g->tables, t);
	}
	t->generation = generation;
	t->nvalues = JsonContainerSize(array);
	t->counts = palloc0(Max(t->nvalues, 1) * sizeof(int));
	t->values = palloc0(Max(t->nvalues, 1) * sizeof(char **));
	for (int i = 0; i < t->nvalues; i++)
	{
		JsonbValue *v = getIthJsonbValueFromContainer(array, i);

		if (v->type == jbvString)
		{
			t->counts[i] = 1;
			t->values[i] = palloc(sizeof(char *));
			t->values[i][0] = pnstrdup(v->val.string.val, v->val.string.len);
		}
		else if (v->type == jbvBinary && JsonContainerIsArray(v->val.binary.data))
		{
			int			n = JsonContainerSize(v->val.binary.data);

			t->counts[i] = n;
			t->values[i] = palloc0(Max(n, 1) * sizeof(char *));
			for (int k = 0; k < n; k++)
			{
				JsonbValue *e = getIthJsonbValueFromContainer(v->val.binary.data, k);

				if (e->type == jbvString)
					t->values[i][k] = pnstrdup(e->val.string.val, e->val.string.len);
			}
		}
	}
	MemoryContextSwitchTo(old);
	return true;
}

/* The verdicts of batches judged from now on start afresh. */
static void
verdicts_reset(void)
{
	HASHCTL		ctl;

	if (verdicts)
		hash_destroy(verdicts);
	ctl.keysize = sizeof(VerdictKey);
	ctl.entrysize = sizeof(Verdict);
	ctl.hcxt = rls_cxt;
	verdicts = hash_create("rtsync row security verdicts", 256, &ctl,
						   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

bool
rtsync_rls_verdict(const RtsyncRlsGroup *g, uint64 serial, bool *allowed)
{
	VerdictKey	key;
	Verdict    *v;

	if (g->decided && g->serial == serial)
	{
		*allowed = g->allowed;
		return true;
	}
	if (verdicts == NULL || hash_get_num_entries(verdicts) == 0)
		return false;
	memset(&key, 0, sizeof(key));
	key.group = (RtsyncRlsGroup *) g;
	key.serial = serial;
	v = hash_search(verdicts, &key, HASH_FIND, NULL);
	if (v == NULL)
		return false;
	*allowed = v->allowed;
	return true;
}

static void batch_decide(RtsyncRlsGroup *g, uint64 serial, bool allowed);

/*
 * A verdict reached in process. While a batch is gathered it is kept with
 * the batch's too: reading ahead decides on later changes, which would
 * take the group's one current verdict from the held change.
 */
void
rtsync_rls_decide(RtsyncRlsGroup *g, uint64 serial, bool allowed)
{
	if (batch_open)
	{
		batch_decide(g, serial, allowed);
		return;
	}
	g->serial = serial;
	g->decided = true;
	g->allowed = allowed;
	if (!allowed)
		rtsync_metrics_count(RTSYNC_M_RLS_DENIED_GROUPS, 1);
}

/* A verdict of a batch: kept until the next batch is gathered. */
static void
batch_decide(RtsyncRlsGroup *g, uint64 serial, bool allowed)
{
	VerdictKey	key;
	Verdict    *v;

	if (verdicts == NULL)
		verdicts_reset();
	memset(&key, 0, sizeof(key));
	key.group = g;
	key.serial = serial;
	v = hash_search(verdicts, &key, HASH_ENTER, NULL);
	v->allowed = allowed;
	if (!allowed)
		rtsync_metrics_count(RTSYNC_M_RLS_DENIED_GROUPS, 1);
}

/*
 * A new batch, from change first_serial on: the last one's memory goes, and
 * so do verdicts on changes before first_serial (serials grow in stream
 * order, and those changes are delivered); the last batch's verdicts on
 * changes still to come are kept.
 */
static void
gather(uint64 first_serial)
{
	HASH_SEQ_STATUS status;
	Verdict    *v;

	rls_init();
	if (batch_cxt)
		MemoryContextDelete(batch_cxt);
	batch_cxt = AllocSetContextCreate(rls_cxt, "rtsync row security batch",
									  ALLOCSET_DEFAULT_SIZES);
	batch_number++;
	batch_records = NIL;
	batch_needs = NIL;
	batch_open = true;
	if (verdicts == NULL)
		verdicts_reset();
	hash_seq_init(&status, verdicts);
	while ((v = hash_seq_search(&status)) != NULL)
		if (v->key.serial < first_serial)
			hash_search(verdicts, &v->key, HASH_REMOVE, NULL);
	/* the verdicts on this change reached before the batch began */
	{
		HASH_SEQ_STATUS gs;
		GroupEntry *e;

		hash_seq_init(&gs, groups);
		while ((e = hash_seq_search(&gs)) != NULL)
			if (e->group->decided && e->group->serial == first_serial)
			{
				VerdictKey	key;

				memset(&key, 0, sizeof(key));
				key.group = e->group;
				key.serial = first_serial;
				((Verdict *) hash_search(verdicts, &key, HASH_ENTER, NULL))->allowed = e->group->allowed;
			}
	}
}

void
rtsync_rls_need(RtsyncRlsGroup *g, uint64 serial, Oid relid, JsonbContainer *image)
{
	MemoryContext old;
	BatchRecord *rec;
	Need	   *need;

	if (!batch_open)
		gather(serial);
	old = MemoryContextSwitchTo(batch_cxt);
	rec = batch_records ? llast(batch_records) : NULL;
	need = g->need_batch == batch_number ? g->need : NULL;

	if (rec == NULL || rec->serial != serial)
	{
		rec = palloc0(sizeof(BatchRecord));
		rec->serial = serial;
		rec->image_json = JsonbToCString(NULL, image, 256);
		rec->image = rtsync_json_parse_object(rec->image_json, strlen(rec->image_json));
		batch_records = lappend(batch_records, rec);
	}
	if (need == NULL || need->relid != relid)
	{
		ListCell   *lc;

		need = NULL;
		foreach(lc, batch_needs)
		{
			Need	   *n = lfirst(lc);

			if (n->group == g && n->relid == relid)
				need = n;
		}
		if (need == NULL)
		{
			need = palloc0(sizeof(Need));
			need->group = g;
			need->relid = relid;
			batch_needs = lappend(batch_needs, need);
		}
		g->need = need;
		g->need_batch = batch_number;
	}
	if (need->records == NIL || ((BatchRecord *) llast(need->records))->serial != serial)
		need->records = lappend(need->records, rec);
	MemoryContextSwitchTo(old);
}

bool
rtsync_rls_needed(void)
{
	return batch_open && batch_needs != NIL;
}

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

/* The groups a need judges keep their memory while it runs. */
static void
need_hold(Need *need)
{
	ListCell   *lc;

	if (need->members == NIL)
		need->group->refcount++;
	foreach(lc, need->members)
		((Need *) lfirst(lc))->group->refcount++;
}

static void
need_release(Need *need)
{
	ListCell   *lc;

	if (need->members == NIL)
		rtsync_rls_group_release(need->group);
	foreach(lc, need->members)
		rtsync_rls_group_release(((Need *) lfirst(lc))->group);
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
		need_hold(need);
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
			need_release(needs[i]);
		return false;
	}
	j->jobs_running++;
	return true;
}

/* A need's own check failed: its group is denied those changes. */
static void
deny_on_error(Need *need, const char *error)
{
	RtsyncRlsGroup *g = need->group;
	ListCell   *lc;

	if (need->members != NIL)
	{
		foreach(lc, need->members)
			deny_on_error(lfirst(lc), error);
		return;
	}
	rtsync_metrics_count(RTSYNC_M_RLS_ERRORS, 1);
	if (!g->error_logged)
		ereport(LOG,
				(errmsg("rtsync could not judge a change under row-level security for role \"%s\": %s",
						g->role, error),
				 errdetail("Subscribers of that role with those claims do not get the change; this is logged once per group.")));
	g->error_logged = true;
	foreach(lc, need->records)
		batch_decide(g, ((BatchRecord *) lfirst(lc))->serial, false);
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
			batch_decide(m->group, ((BatchRecord *) lfirst(lc))->serial, allowed);
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
			batch_decide(g, ((BatchRecord *) lfirst(lc))->serial, allowed);
		}
		return;
	}
	if (PQntuples(r) != 1 || PQgetisnull(r, 0, 0) ||
		!keep_values(g, need->relid, job->generation, PQgetvalue(r, 0, 0)))
	{
		deny_on_error(need, "the compiled policy's values could not be read");
		return;
	}
	foreach(lc, need->records)
	{
		BatchRecord *rec = lfirst(lc);
		const RtsyncRowPolicy *p = rtsync_control_row_policy(g->role, need->relid);
		GroupTable *t = group_table(g, need->relid);

		if (p == NULL)
			batch_decide(g, rec->serial, true);
		else if (p->compiled && t && t->generation == rtsync_control_generation())
			batch_decide(g, rec->serial, eval_compiled(p, t, rec->image));
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
	batch_open = false;
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
		need_release(job->needs[i]);
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
	int			n;
	int			per_job;

	if (!batch_open || batch_needs == NIL)
	{
		batch_open = false;
		return false;
	}
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
