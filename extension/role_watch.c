/*-------------------------------------------------------------------------
 *
 * role_watch.c
 *	  Tells the rtsync worker about role changes, which no event trigger
 *	  sees.
 *
 * What a key may read is what its role may read, and that changes not only
 * with GRANT and REVOKE on tables and policies (the event trigger in
 * sql/rtsync.sql tells the worker of those) but with GRANT and REVOKE of
 * roles, ALTER ROLE (SUPERUSER, BYPASSRLS, INHERIT), DROP ROLE, a rename, a
 * CREATE ROLE that joins groups or takes the name a key refers to, and
 * REASSIGN OWNED (owners read their tables and are exempt from their
 * policies). Those are commands on shared catalogs, for which event triggers
 * do not fire. rtsync is in shared_preload_libraries, so every backend runs
 * the ProcessUtility hook below; once such a command has succeeded it tells
 * the worker in one of two ways, depending on where it ran.
 *
 * 1. In a database where the extension is installed: a transactional
 *    logical message, as rtsync._notify() writes for the SQL API and the
 *    event trigger. In the worker's database (rtsync.database) it reaches
 *    the worker as a CONTROL record at its transaction's place in the
 *    stream, only if that commits: the worker reloads after every change
 *    committed before the role change and before any committed after it
 *    (which, while the reload's query runs, are judged by what was loaded
 *    before, exactly as after a table REVOKE). That is the order every
 *    other metadata change takes, so it is preferred where it works.
 *
 * 2. In any other database: roles are cluster-wide, but a logical message
 *    is decoded only by slots of the database it was written in, so the
 *    worker's slot would never see one. Instead the committing backend bumps
 *    a counter in shared memory and sets the worker's latch; the worker
 *    reloads when it sees the counter move (bgworker/control/control.c checks it on
 *    every pass of its loop and before handling any client message). This
 *    orders the reload after the commit in time, not in the stream: a client
 *    message sent after the commit is handled with the new privileges, and a
 *    change in the worker's database that committed just before the role
 *    change may still be delivered after the reload. The counter moves at
 *    the end of the commit (the last phase of releasing the transaction's
 *    resources), after the change became visible and after its catalog
 *    invalidations were sent, so the reload, a new transaction, sees the new
 *    catalog rather than a stale cache.
 *
 * Both ask for one reload per transaction however many role commands it
 * runs, and nothing for a transaction (or subtransaction) that rolls back.
 * In the worker's database only the first way is used: a second, earlier
 * reload would let privileges take effect ahead of the stream.
 *
 * A database without the extension needs nothing of it: the hook runs only
 * C code, writes no message there, and only bumps the counter. Other
 * statements cost one switch on the node type.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "tcop/utility.h"
#include "utils/resowner.h"

#include "base/settings.h"
#include "notify.h"
#include "role_watch.h"

/* What a utility statement is, for the worker. */
typedef enum RoleChange
{
	ROLE_CHANGE_NONE,
	ROLE_CHANGE_STATEMENT,		/* a role command: both ways */
	ROLE_CHANGE_PREPARED		/* COMMIT PREPARED: the counter only */
} RoleChange;

typedef struct RoleWatchShared
{
	pg_atomic_uint64 generation;	/* role changes committed outside the
									 * worker's database */
	pg_atomic_uint32 worker_procno; /* whose latch to set, or
									 * INVALID_PGPROCNO */
} RoleWatchShared;

static RoleWatchShared *shared = NULL;
static ProcessUtility_hook_type prev_utility_hook = NULL;

/*
 * The nesting level of the outermost (sub)transaction that made a role
 * change still alive in the current transaction, 0 if none: a message has
 * been written at that level, and the counter moves when the transaction
 * commits. A subtransaction's commit hands it to its parent; its abort
 * drops it if the change was made within.
 */
static int	change_level = 0;

/* Is this backend's database the worker's? -1: not known yet. */
static int	in_worker_database = -1;

/* Does a utility statement change what roles may read? */
static RoleChange
role_change_of(Node *stmt)
{
	switch (nodeTag(stmt))
	{
		case T_GrantRoleStmt:	/* GRANT role TO, REVOKE role FROM */
		case T_AlterRoleStmt:	/* any attribute, ALTER GROUP ADD/DROP USER */
		case T_DropRoleStmt:
		case T_ReassignOwnedStmt:

			/*
			 * Every CREATE ROLE, not only those with IN ROLE, ROLE or ADMIN:
			 * a key names its role, and a new role may take the name of one
			 * dropped or renamed.
			 */
		case T_CreateRoleStmt:
			return ROLE_CHANGE_STATEMENT;
		case T_RenameStmt:
			return ((RenameStmt *) stmt)->renameType == OBJECT_ROLE ?
				ROLE_CHANGE_STATEMENT : ROLE_CHANGE_NONE;

			/*
			 * A prepared transaction's messages are decoded when it commits,
			 * but the counter was not moved at PREPARE (below): move it on
			 * any COMMIT PREPARED, which is rare.
			 */
		case T_TransactionStmt:
			return ((TransactionStmt *) stmt)->kind == TRANS_STMT_COMMIT_PREPARED ?
				ROLE_CHANGE_PREPARED : ROLE_CHANGE_NONE;

			/*
			 * DROP OWNED revokes privileges in the current database only, and
			 * there the event trigger already tells the worker.
			 */
		default:
			return ROLE_CHANGE_NONE;
	}
}

/* A role change succeeded in the current transaction. */
static void
role_changed(RoleChange kind)
{
	if (!IsTransactionState())
		return;
	if (in_worker_database < 0)
	{
		char	   *name = get_database_name(MyDatabaseId);

		in_worker_database = name != NULL && rtsync_database != NULL &&
			strcmp(name, rtsync_database) == 0;
	}
	/* one message, and one move of the counter, per transaction */
	if (change_level != 0)
		return;
	if (kind == ROLE_CHANGE_STATEMENT &&
		OidIsValid(get_extension_oid("rtsync", true)))
		rtsync_notify_worker("roles");
	change_level = GetCurrentTransactionNestLevel();
}

static void
role_watch_utility(PlannedStmt *pstmt, const char *queryString,
				   bool readOnlyTree, ProcessUtilityContext context,
				   ParamListInfo params, QueryEnvironment *queryEnv,
				   DestReceiver *dest, QueryCompletion *qc)
{
	/* before it runs: the command may scribble on its tree */
	RoleChange	kind = role_change_of(pstmt->utilityStmt);

	if (prev_utility_hook)
		prev_utility_hook(pstmt, queryString, readOnlyTree, context, params,
						  queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
	if (kind != ROLE_CHANGE_NONE)
		role_changed(kind);
}

/*
 * Move the counter and wake the worker. Runs at the end of a commit, where
 * nothing may fail: an atomic add and SetLatch, nothing else.
 */
static void
bump_generation(void)
{
	uint32		procno;

	if (shared == NULL)
		return;
	pg_atomic_fetch_add_u64(&shared->generation, 1);
	procno = pg_atomic_read_u32(&shared->worker_procno);
	if (procno != INVALID_PGPROCNO && procno < ProcGlobal->allProcCount)
		SetLatch(&GetPGProcByNumber(procno)->procLatch);
}

/*
 * The last phase of releasing the top transaction's resources, after its
 * commit became visible, its invalidations were sent and its locks were
 * released.
 */
static void
role_watch_release(ResourceReleasePhase phase, bool isCommit, bool isTopLevel,
				   void *arg)
{
	if (change_level == 0 || !isTopLevel || phase != RESOURCE_RELEASE_AFTER_LOCKS)
		return;
	if (isCommit && in_worker_database == 0)
		bump_generation();
	change_level = 0;
}

/*
 * PREPARE TRANSACTION releases resources as a commit does: forget the
 * change there (COMMIT PREPARED moves the counter). Abort forgets it too.
 */
static void
role_watch_xact(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_PREPARE || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_ABORT)
		change_level = 0;
}

/* In a subtransaction's callbacks the nesting level is still its own. */
static void
role_watch_subxact(SubXactEvent event, SubTransactionId mySubid,
				   SubTransactionId parentSubid, void *arg)
{
	int			level;

	if (change_level == 0)
		return;
	level = GetCurrentTransactionNestLevel();
	if (event == SUBXACT_EVENT_COMMIT_SUB && change_level == level)
		change_level = level - 1;
	else if (event == SUBXACT_EVENT_ABORT_SUB && change_level >= level)
		change_level = 0;
}

/* From _PG_init, while the postmaster loads the library: every backend has it. */
void
rtsync_role_watch_install(void)
{
	prev_utility_hook = ProcessUtility_hook;
	ProcessUtility_hook = role_watch_utility;
	RegisterXactCallback(role_watch_xact, NULL);
	RegisterSubXactCallback(role_watch_subxact, NULL);
	RegisterResourceReleaseCallback(role_watch_release, NULL);
}

Size
rtsync_role_watch_shmem_size(void)
{
	return MAXALIGN(sizeof(RoleWatchShared));
}

void
rtsync_role_watch_shmem_startup(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("rtsync role watch", sizeof(RoleWatchShared), &found);
	if (!found)
	{
		pg_atomic_init_u64(&shared->generation, 0);
		pg_atomic_init_u32(&shared->worker_procno, INVALID_PGPROCNO);
	}
	LWLockRelease(AddinShmemInitLock);
}

static void
detach_worker(int code, Datum arg)
{
	if (shared != NULL &&
		pg_atomic_read_u32(&shared->worker_procno) == (uint32) MyProc->pgprocno)
		pg_atomic_write_u32(&shared->worker_procno, INVALID_PGPROCNO);
}

/*
 * The worker's latch is set whenever the counter moves, until the worker
 * exits. Returns the counter's value now: the worker loads everything at
 * start anyway.
 */
uint64
rtsync_role_watch_attach_worker(void)
{
	if (shared == NULL || MyProc == NULL)
		return 0;
	pg_atomic_write_u32(&shared->worker_procno, (uint32) MyProc->pgprocno);
	on_shmem_exit(detach_worker, (Datum) 0);
	/* a full barrier: a bump after this sets our latch, or we read it here */
	return pg_atomic_fetch_add_u64(&shared->generation, 0);
}

uint64
rtsync_role_watch_generation(void)
{
	return shared ? pg_atomic_read_u64(&shared->generation) : 0;
}
