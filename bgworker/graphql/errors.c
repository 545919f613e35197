/*-------------------------------------------------------------------------
 *
 * graphql/errors.c
 *	  The error sink of parsing, validation and planning: GraphQL errors
 *	  (message and location) collected in a list, up to graphql-js's limit.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"

#include "graphql/errors.h"

/*
 * Reports an error: a formatted message and its location, appended to the
 * sink's list in the sink's memory context. Past RTSYNC_MAX_ERRORS, one
 * last error says so and the rest are counted but dropped.
 */
void
rtsync_gql_error(RtsyncErrorSink *sink, RtsyncGqlLocation loc, const char *fmt,...)
{
	MemoryContext old;
	RtsyncGqlError *error;
	StringInfoData buf;

	if (++sink->count > RTSYNC_MAX_ERRORS + 1)
		return;
	old = MemoryContextSwitchTo(sink->cxt);
	initStringInfo(&buf);
	if (sink->count > RTSYNC_MAX_ERRORS)
		appendStringInfoString(&buf, "Too many validation errors, error limit reached. "
							   "Validation aborted.");
	else
	{
		for (;;)
		{
			va_list		args;
			int			needed;

			va_start(args, fmt);
			needed = appendStringInfoVA(&buf, fmt, args);
			va_end(args);
			if (needed == 0)
				break;
			enlargeStringInfo(&buf, needed);
		}
	}
	error = palloc0(sizeof(RtsyncGqlError));
	error->message = buf.data;
	error->loc = loc;
	*sink->errors = lappend(*sink->errors, error);
	MemoryContextSwitchTo(old);
}
