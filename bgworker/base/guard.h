/*-------------------------------------------------------------------------
 *
 * base/guard.h
 *	  The one error boundary at every entry from the event loop.
 *
 * libuv, libpq-on-the-loop and libwebsockets call into rtsync from their
 * own frames. An ERROR that longjmp'd through them would leave their state
 * half changed; with no handler on the stack at all, elog.c turns it into
 * FATAL and every client goes down with the worker. So each callback that
 * such a library calls runs its work inside RTSYNC_GUARD, which catches the
 * error at the entry:
 *
 *	  RTSYNC_GUARD(work(pc), rtsync_pgconn_close(pc, "error ..."));
 *
 * On an ERROR the memory context that was current at the entry is made
 * current again, the error is logged (EmitErrorReport, at its own level,
 * with its errcode and detail) and forgotten, and the second statement runs:
 * what failure means at that entry (close that client, reconnect that
 * connection, or only log and go on), said in a comment where it is used.
 * Whatever the failed step allocated in the current context is freed with
 * the per-pass context (worker.c); what it held outside palloc (libpq
 * results, descriptors) the on-error statement or the owner's close path
 * frees. The context current at the entry is restored after success too, so
 * a callback cannot leave another one current by mistake.
 *
 * The on-error statement runs outside the catch: it must be a plain close
 * or log, not something that can raise in turn. Variables assigned inside
 * the guarded statement and read after it must be volatile (setjmp rules).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_GUARD_H
#define RTSYNC_GUARD_H

#include "utils/elog.h"
#include "utils/memutils.h"

/* The catch's common part: see the banner. */
static inline void
rtsync_guard_caught(MemoryContext entry_cxt)
{
	MemoryContextSwitchTo(entry_cxt);
	EmitErrorReport();
	FlushErrorState();
}

#define RTSYNC_GUARD(step, on_error) \
	do { \
		MemoryContext rtsync_guard_cxt_ = CurrentMemoryContext; \
		volatile bool rtsync_guard_failed_ = false; \
		PG_TRY(); \
		{ \
			step; \
		} \
		PG_CATCH(); \
		{ \
			rtsync_guard_caught(rtsync_guard_cxt_); \
			rtsync_guard_failed_ = true; \
		} \
		PG_END_TRY(); \
		MemoryContextSwitchTo(rtsync_guard_cxt_); \
		if (rtsync_guard_failed_) \
		{ \
			on_error; \
		} \
	} while (0)

#endif							/* RTSYNC_GUARD_H */
