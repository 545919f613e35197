/*-------------------------------------------------------------------------
 *
 * handler_call.h
 *	  Calls a function as another role, as a SECURITY DEFINER function
 *	  runs: SQL-callable only (rtsync._call_as; sql/handlers.sql).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_HANDLER_CALL_H
#define RTSYNC_HANDLER_CALL_H

#include "fmgr.h"

extern Datum rtsync_call_as(PG_FUNCTION_ARGS);

#endif							/* RTSYNC_HANDLER_CALL_H */
