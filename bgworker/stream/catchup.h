/*-------------------------------------------------------------------------
 *
 * stream/catchup.h
 *	  Resuming subscriptions: the kept records after a client's position,
 *	  read from rtsync.stream_record and delivered in stream order, then
 *	  the live stream, with nothing missed or repeated at the seam.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_CATCHUP_H
#define RTSYNC_CATCHUP_H

#include <uv.h>

#include "stream/registry.h"

typedef struct RtsyncCatchup RtsyncCatchup;

extern void rtsync_catchup_start(uv_loop_t *loop);

/*
 * A registered, not yet started subscription resumes after a SequenceNumber
 * (30 digits): it gets every kept record after it that passes its filter
 * and its role's privileges and row security, then the live stream. Its
 * sink hears resumed() once the position is found good, or refused() (and
 * must unsubscribe it) when it is not: past the trim horizon or a gap
 * (TrimmedDataAccessException), beyond the end of the stream
 * (ValidationException).
 */
extern void rtsync_catchup_join(RtsyncSubscription *sub, const char *after);

/* Is the owner (a connection) catching up? */
extern RtsyncCatchup *rtsync_catchup_of(void *owner);

#endif							/* RTSYNC_CATCHUP_H */
