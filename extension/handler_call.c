/*-------------------------------------------------------------------------
 *
 * handler_call.c
 *	  rtsync._call_as(role, fn, arg): calls fn(arg) with role as the
 *	  current user, the way fmgr runs a SECURITY DEFINER function: the user
 *	  id is switched with SECURITY_LOCAL_USERID_CHANGE, so code running
 *	  under it cannot SET ROLE (or SET SESSION AUTHORIZATION) its way back
 *	  to the caller's privileges; an error unwinds through the
 *	  (sub)transaction's abort, which restores the caller's user id.
 *
 * Stream handlers run as their role this way (sql/handlers.sql): the
 * worker's connection is a superuser's, and a handler's function, its
 * read of the kept stream (under rtsync.stream_record's row security) and
 * its writes to the on-failure table must have only the role's rights.
 *
 * arg is text, read by the function's argument type's input function; the
 * answer is the result's output text (NULL for void or a NULL result).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/syscache.h"

#include "handler_call.h"

PG_FUNCTION_INFO_V1(rtsync_call_as);

Datum
rtsync_call_as(PG_FUNCTION_ARGS)
{
	Oid			role;
	Oid			fn;
	HeapTuple	proc;
	Form_pg_proc form;
	Oid			argtype;
	Oid			rettype;
	Oid			infunc;
	Oid			ioparam;
	Oid			outfunc;
	bool		isvarlena;
	Datum		arg;
	Datum		result;
	Oid			save_userid;
	int			save_sec_context;
	FmgrInfo	flinfo;
	int			nestlevel;
	LOCAL_FCINFO(call, 1);

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("rtsync._call_as needs a role and a function")));
	role = PG_GETARG_OID(0);
	fn = PG_GETARG_OID(1);

	proc = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	if (!HeapTupleIsValid(proc))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("function with OID %u does not exist", fn)));
	form = (Form_pg_proc) GETSTRUCT(proc);
	if (form->pronargs != 1 || form->proretset || form->prokind != PROKIND_FUNCTION)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("function %s cannot be called by rtsync._call_as",
						format_procedure(fn)),
				 errdetail("It must be a function of one argument that returns one value.")));
	argtype = form->proargtypes.values[0];
	rettype = form->prorettype;
	ReleaseSysCache(proc);
	if (!SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(role)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("role with OID %u does not exist", role)));

	getTypeInputInfo(argtype, &infunc, &ioparam);

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(role, save_sec_context | SECURITY_LOCAL_USERID_CHANGE);

	/* as the role: its right to execute, and the argument read as it */
	if (pg_proc_aclcheck(fn, role, ACL_EXECUTE) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_FUNCTION, get_func_name(fn));
	arg = PG_ARGISNULL(2) ? (Datum) 0 :
		OidInputFunctionCall(infunc, text_to_cstring(PG_GETARG_TEXT_PP(2)), ioparam, -1);

	/*
	 * The function runs with the session's own search_path ("$user" now
	 * the role), not that of the rtsync function calling it.
	 */
	nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", GetConfigOptionResetString("search_path"),
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);

	fmgr_info(fn, &flinfo);
	InitFunctionCallInfoData(*call, &flinfo, 1, InvalidOid, NULL, NULL);
	call->args[0].value = arg;
	call->args[0].isnull = PG_ARGISNULL(2);
	result = FunctionCallInvoke(call);
	AtEOXact_GUC(true, nestlevel);

	SetUserIdAndSecContext(save_userid, save_sec_context);

	if (call->isnull || rettype == VOIDOID)
		PG_RETURN_NULL();
	getTypeOutputInfo(rettype, &outfunc, &isvarlena);
	PG_RETURN_TEXT_P(cstring_to_text(OidOutputFunctionCall(outfunc, result)));
}
