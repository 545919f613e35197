/*-------------------------------------------------------------------------
 *
 * stream/rls.c
 *	  Judging a change under row-level security, once per group of alike
 *	  subscribers: the groups, their verdicts, the batch being gathered.
 *
 * A group is a role and its claims. The claims that differ on every token
 * of the same user (exp, iat, nbf, jti, auth_time and Cognito's origin_jti
 * and event_id) are left out of the group's key, so one user's
 * reconnections, and every API key of one role, share a group. Judged in
 * SQL, groups go further: the groups of one role whose values of the
 * claims a table's policies can read agree (control/ asks the catalog
 * which: rtsync._claims_read) are judged on its changes together, once.
 *
 * The verdict is Postgres' own: control/ composed the role's policies on
 * the table into one statement that reads a change's image as a row of
 * the table (control/control.c, rls_check_sql). Each group's statement
 * runs after the group's role and claims are set exactly as for its
 * queries (net/pool.h's RTSYNC_POOL_SET_IDENTITY_SQL), so auth.uid()-style
 * functions, sublinks on membership tables and function calls all run as
 * that role would run them. This file keeps the groups, their verdicts and
 * the batch of changes being gathered; stream/rls_judge.c runs the batch's
 * statements on the pool.
 *
 * Compiled policies (control/policy.h) cost no SQL per change: the values
 * their quals compare columns with depend on the role and claims alone, so
 * they are asked for once per group and table, kept with the group until
 * the next load of the grants, and every change is then judged in process.
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
#include "extension/judge_claims.h"
#include "net/pool.h"
#include "stream/rls.h"

typedef struct GroupEntry
{
	char	   *key;
	RtsyncRlsGroup *group;
} GroupEntry;

typedef struct NeedEntry
{
	char	   *key;
	Need	   *need;
} NeedEntry;

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
static HTAB *batch_need_index = NULL;	/* Need *, by key */
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

/* A table in cxt whose entries begin with a char * key (key_hash). */
static HTAB *
string_key_table(const char *name, long nelem, Size entrysize, MemoryContext cxt)
{
	HASHCTL		ctl;

	ctl.keysize = sizeof(char *);
	ctl.entrysize = entrysize;
	ctl.hcxt = cxt;
	ctl.hash = key_hash;
	ctl.match = key_match;
	return hash_create(name, nelem, &ctl,
					   HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
}

static void
rls_init(void)
{
	if (rls_cxt)
		return;
	rls_cxt = AllocSetContextCreate(TopMemoryContext, "rtsync row security",
									ALLOCSET_DEFAULT_SIZES);
	groups = string_key_table("rtsync row security groups", 256, sizeof(GroupEntry), rls_cxt);
}

static bool
is_volatile_claim(const char *key, int len)
{
	for (int i = 0; i < lengthof(volatile_claims); i++)
		if ((int) strlen(volatile_claims[i]) == len && memcmp(volatile_claims[i], key, len) == 0)
			return true;
	return false;
}

/* Is the claim one of those judging p's table can read? */
static bool
is_read_claim(const RtsyncRowPolicy *p, const char *key, int len)
{
	for (int i = 0; i < p->nclaims_read; i++)
		if ((int) strlen(p->claims_read[i]) == len && memcmp(p->claims_read[i], key, len) == 0)
			return true;
	return false;
}

/*
 * role + "\n" + the claims without the volatile ones, as jsonb prints
 * them; with only, of those just the ones judging only's table can read.
 */
static char *
claims_key(const char *role, const char *claims, const RtsyncRowPolicy *only)
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
			skip = is_volatile_claim(v.val.string.val, v.val.string.len) ||
				(only && !is_read_claim(only, v.val.string.val, v.val.string.len));
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
				rtsync_claim_name_ok(k.val.string.val, k.val.string.len))
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
	key = claims_key(role, claims, NULL);
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

GroupTable *
rtsync_rls_group_table(RtsyncRlsGroup *g, Oid relid)
{
	ListCell   *lc;

	foreach(lc, g->tables)
		if (((GroupTable *) lfirst(lc))->relid == relid)
			return lfirst(lc);
	return NULL;
}

/* The group's entry for the table, made if it has none. */
static GroupTable *
group_table_make(RtsyncRlsGroup *g, Oid relid)
{
	GroupTable *t = rtsync_rls_group_table(g, relid);
	MemoryContext old;

	if (t != NULL)
		return t;
	if (g->cxt == NULL)
		g->cxt = AllocSetContextCreate(rls_cxt, "rtsync row security group",
									   ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(g->cxt);
	t = palloc0(sizeof(GroupTable));
	t->relid = relid;
	g->tables = lappend(g->tables, t);
	MemoryContextSwitchTo(old);
	return t;
}

/*
 * The key the group's changes of the table are judged under in SQL: alike
 * for the groups of its role that agree on the claims the table's policies
 * can read. A compiled policy's values are kept per group, so there the
 * group is judged alone, as it is when what is read cannot be told.
 */
static const char *
judge_key(RtsyncRlsGroup *g, Oid relid, const RtsyncRowPolicy *p)
{
	uint64		generation = rtsync_control_generation();
	GroupTable *t;
	MemoryContext old;

	if (p == NULL || p->compiled || p->nclaims_read < 0)
		return g->key;
	t = group_table_make(g, relid);
	if (t->judge_key == NULL || t->judge_generation != generation)
	{
		old = MemoryContextSwitchTo(g->cxt);
		if (t->judge_key)
			pfree(t->judge_key);
		t->judge_key = claims_key(g->role, g->claims, p);
		t->judge_generation = generation;
		MemoryContextSwitchTo(old);
	}
	return t->judge_key;
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
bool
rtsync_rls_eval_compiled(const RtsyncRowPolicy *p, const GroupTable *t, JsonbContainer *image)
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
		rtsync_rls_decide(g, serial, rtsync_rls_eval_compiled(p, NULL, image));
		return true;
	}
	t = rtsync_rls_group_table(g, relid);
	if (t == NULL || t->generation != rtsync_control_generation())
		return false;
	rtsync_rls_decide(g, serial, rtsync_rls_eval_compiled(p, t, image));
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
	t = rtsync_rls_group_table(g, relid);
	if (t == NULL || t->generation != rtsync_control_generation() ||
		t->nvalues != 1 || t->counts[0] != 1 || t->values[0][0] == NULL)
		return false;
	*column = p->quals[0].column;
	*value = t->values[0][0];
	return true;
}

/* Keeps a group's values for a table: the JSON {"v": [...]} of values_sql. */
bool
rtsync_rls_keep_values(RtsyncRlsGroup *g, Oid relid, uint64 generation, const char *json)
{
	MemoryContext old;
	JsonbContainer *root;
	JsonbContainer *array;
	GroupTable *t;

	t = group_table_make(g, relid);
	old = MemoryContextSwitchTo(g->cxt);
	root = rtsync_json_parse_object(json, strlen(json));
	array = rtsync_json_get_array(root, "v");
	if (array == NULL)
	{
		MemoryContextSwitchTo(old);
		return false;
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
		rtsync_rls_batch_decide(g, serial, allowed);
		return;
	}
	g->serial = serial;
	g->decided = true;
	g->allowed = allowed;
	if (!allowed)
		rtsync_metrics_count(RTSYNC_M_RLS_DENIED_GROUPS, 1);
}

/* A verdict of a batch: kept until the next batch is gathered. */
void
rtsync_rls_batch_decide(RtsyncRlsGroup *g, uint64 serial, bool allowed)
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
	batch_need_index = string_key_table("rtsync row security needs", 64, sizeof(NeedEntry), batch_cxt);
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
		char	   *key = psprintf("%u\n%s", relid,
								   judge_key(g, relid, rtsync_control_row_policy(g->role, relid)));
		bool		found;
		NeedEntry  *e = hash_search(batch_need_index, &key, HASH_ENTER, &found);

		if (!found)
		{
			need = palloc0(sizeof(Need));
			need->key = key;
			need->group = g;
			need->relid = relid;
			e->key = key;
			e->need = need;
			batch_needs = lappend(batch_needs, need);
		}
		need = e->need;
		if (!list_member_ptr(need->groups, g))
			need->groups = lappend(need->groups, g);
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

/* The batch gathered, its needs in batch_cxt; NIL (and closed) when none. */
List *
rtsync_rls_batch_needs(MemoryContext *cxt)
{
	if (!batch_open || batch_needs == NIL)
	{
		batch_open = false;
		return NIL;
	}
	*cxt = batch_cxt;
	return batch_needs;
}

/* The batch is judged: the next need gathers a new one. */
void
rtsync_rls_batch_close(void)
{
	batch_open = false;
}
