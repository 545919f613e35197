/*-------------------------------------------------------------------------
 *
 * pg_stubs.c
 *	  The backend functions that the linked code refers to but that the
 *	  fuzz targets never reach (type output, catalog lookups, aggregates,
 *	  the wire protocol...): each names itself on stderr and
 *	  aborts, so that a path that does reach one is reported as a crash
 *	  rather than run on a wrong answer. Weak, so that a target may define
 *	  any of them for real. No PostgreSQL headers: the prototypes are not
 *	  the point.
 *
 *-------------------------------------------------------------------------
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

static void
stub_reached(const char *name)
{
	fprintf(stderr, "pg_stubs: %s() reached; the fuzz shim does not provide it\n", name);
	abort();
}

#define STUB(name) \
	__attribute__((weak)) void name(void); \
	__attribute__((weak)) void name(void) { stub_reached(#name); }

STUB(AggCheckCallContext)
STUB(ArrayGetIntegerTypmods)
STUB(ArrayGetNItems)
STUB(DatumGetHeapTupleHeader)
STUB(DecrTupleDescRefCount)
STUB(DefineCustomIntVariable)
STUB(DefineCustomStringVariable)
STUB(DefineCustomBoolVariable)
STUB(DefineCustomRealVariable)
STUB(DefineCustomEnumVariable)
STUB(EncodeDateOnly)
STUB(EncodeDateTime)
STUB(EncodeTimeOnly)
STUB(GetUserId)
STUB(JsonEncodeDateTime)
STUB(MarkGUCPrefixReserved)
STUB(OidFunctionCall1Coll)
STUB(OidOutputFunctionCall)
STUB(OutputFunctionCall)
STUB(RunFunctionExecuteHook)
STUB(aclcheck_error)
STUB(addHyperLogLog)
STUB(copyObjectImpl)
STUB(deconstruct_array)
STUB(end_MultiFuncCall)
STUB(equal)
STUB(estimateHyperLogLog)
STUB(exprTypmod)
STUB(extract_variadic_args)
STUB(find_coercion_pathway)
STUB(float4in)
STUB(float8in)
STUB(fmgr_info_cxt)
STUB(getBaseType)
STUB(getTypeOutputInfo)
STUB(get_element_type)
STUB(get_fn_expr_argtype)
STUB(get_func_name)
STUB(get_typlenbyvalalign)
STUB(getmissingattr)
STUB(hashcharextended)
STUB(heap_datum_check)
STUB(initHyperLogLog)
STUB(init_MultiFuncCall)
STUB(j2date)
STUB(lookup_rowtype_tupdesc)
STUB(makeJsonLexContext)
STUB(nocachegetattr)
STUB(parse_bool)
STUB(per_MultiFuncCall)
STUB(pg_proc_aclcheck)
STUB(pq_begintypsend)
STUB(pq_endtypsend)
STUB(pq_getmsgend)
STUB(pq_getmsgint)
STUB(pq_getmsgint64)
STUB(pq_getmsgtext)
STUB(pq_sendtext)
STUB(relabel_to_typmod)
STUB(s_lock)
STUB(stringToQualifiedNameList)
STUB(time2tm)
STUB(timestamp2tm)
STUB(type_is_rowtype)

/* variables */
__attribute__((weak)) void *object_access_hook = NULL;
__attribute__((weak)) bool trace_sort = false;
