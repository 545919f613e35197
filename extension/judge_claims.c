/*-------------------------------------------------------------------------
 *
 * judge_claims.c
 *	  rtsync._judge_claims(check, claims, images): which of the images
 *	  each of several identities of the current role may see.
 *
 * The worker judges a batch of changes once per group of subscribers that
 * row security restricts: a role and a token's claims
 * (bgworker/stream/rls.c). Groups of one role that need the same changes
 * judged differ only in their claims, and a statement each costs a round
 * of the protocol, a snapshot and an executor start apiece. Here the check
 * is planned once and run once per identity, each identity's claims set
 * first the way the pool's identity statement sets them (and PostgREST
 * does): the whole object as request.jwt.claims, each scalar claim whose
 * name can be a setting's as request.jwt.claim.<name>, transaction-local;
 * those the identity before set and this one does not read '' again.
 *
 * It runs as its caller and does nothing the caller could not do with
 * set_config and the check itself, so anyone may call it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"

#include "judge_claims.h"

PG_FUNCTION_INFO_V1(rtsync_judge_claims);

#define CLAIM_PREFIX "request.jwt.claim."

/*
 * Can the claim name be part of a setting's name, request.jwt.claim.<name>
 * ([A-Za-z_][A-Za-z0-9_$]*, ASCII whatever the locale, as the pool's
 * identity statement's pattern)? The worker asks it too (stream/rls.c).
 */
bool
rtsync_claim_name_ok(const char *name, int len)
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

static void
set_local(const char *name, const char *value)
{
	(void) set_config_option(name, value, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, ERROR, false);
}

/*
 * Sets one identity's claims; returns the request.jwt.claim.<name>
 * settings it set (palloc'd names).
 */
static List *
set_claims(const char *claims_text)
{
	Jsonb	   *claims = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(claims_text)));
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	v;
	List	   *names = NIL;
	char	   *name = NULL;

	if (!JB_ROOT_IS_OBJECT(claims))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("an identity's claims must be a JSON object")));
	set_local("request.jwt.claims", claims_text);
	it = JsonbIteratorInit(&claims->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *value = NULL;

		if (tok == WJB_KEY)
		{
			name = rtsync_claim_name_ok(v.val.string.val, v.val.string.len) ?
				psprintf(CLAIM_PREFIX "%.*s", v.val.string.len, v.val.string.val) : NULL;
			continue;
		}
		if (tok != WJB_VALUE || name == NULL)
			continue;
		if (v.type == jbvString)
			value = pnstrdup(v.val.string.val, v.val.string.len);
		else if (v.type == jbvNumeric)
			value = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v.val.numeric)));
		else if (v.type == jbvBool)
			value = v.val.boolean ? "true" : "false";
		if (value == NULL)
			continue;
		set_local(name, value);
		names = lappend(names, name);
	}
	return names;
}

/* Settings the previous identity set that the current one did not: '' again. */
static void
clear_claims(List *previous, List *current)
{
	ListCell   *lc;

	foreach(lc, previous)
	{
		const char *name = lfirst(lc);
		ListCell   *kc;
		bool		kept = false;

		foreach(kc, current)
			kept = kept || strcmp(name, lfirst(kc)) == 0;
		if (!kept)
			set_local(name, "");
	}
}

Datum
rtsync_judge_claims(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *check = text_to_cstring(PG_GETARG_TEXT_PP(0));
	ArrayType  *claims = PG_GETARG_ARRAYTYPE_P(1);
	Datum		images = PG_GETARG_DATUM(2);
	Datum	   *identities;
	bool	   *identity_nulls;
	int			nidentities;
	Oid			argtypes[1] = {JSONBOID};
	SPIPlanPtr	plan;
	List	   *previous = NIL;

	InitMaterializedSRF(fcinfo, 0);
	deconstruct_array(claims, TEXTOID, -1, false, TYPALIGN_INT,
					  &identities, &identity_nulls, &nidentities);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	plan = SPI_prepare(check, 1, argtypes);
	if (plan == NULL)
		elog(ERROR, "could not prepare the row security check: %s",
			 SPI_result_code_string(SPI_result));
	for (int i = 0; i < nidentities; i++)
	{
		List	   *current;
		int			rc;

		if (identity_nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("an identity's claims must not be null")));
		current = set_claims(TextDatumGetCString(identities[i]));
		clear_claims(previous, current);
		previous = current;
		rc = SPI_execute_plan(plan, &images, NULL, true, 0);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "the row security check failed: %s", SPI_result_code_string(rc));
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			bool		isnull;
			Datum		values[2];
			bool		nulls[2] = {false, false};

			values[0] = Int32GetDatum(i + 1);
			values[1] = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull);
			if (isnull)
				continue;
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	clear_claims(previous, NIL);
	SPI_finish();
	return (Datum) 0;
}
