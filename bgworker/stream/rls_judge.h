/*-------------------------------------------------------------------------
 *
 * stream/rls_judge.h
 *	  Judging the batch of changes stream/rls.c gathered, in SQL on the
 *	  query pool: done runs once every verdict is in; false when nothing
 *	  is needed (done is not called).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_RLS_JUDGE_H
#define RTSYNC_RLS_JUDGE_H

#include "c.h"

extern bool rtsync_rls_judge(void (*done) (void));

#endif							/* RTSYNC_RLS_JUDGE_H */
