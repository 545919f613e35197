/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The rtsync background worker: one process, one event loop, serving
 *	  GraphQL to clients and consuming its replication slot.
 *
 * The loop: everything (the WebSocket server's sockets, the libpq
 * connections, timers) is a libuv handle on one loop. The loop's own epoll
 * descriptor goes into a WaitEventSet with the latch and postmaster death,
 * so a single WaitEventSetWait sleeps until anything at all happens, with
 * libuv's next timer as the timeout: no polling interval, idle CPU near
 * zero. Each pass runs the loop without blocking (UV_RUN_NOWAIT).
 *
 * Heartbeat: each pass stores the time in shared memory (base/metrics.c), so
 * rtsync.stats can tell a loop that has stopped turning. An idle loop may
 * have no timer for a long while (the keep-alive timer runs every
 * rtsync.keepalive_interval), so a pass waits at most
 * HEARTBEAT_INTERVAL_MS: an idle, healthy worker's heartbeat is never older
 * than that plus one pass. Such a wake does no work beyond the empty pass.
 *
 * Signals only set flags and the latch. SIGHUP reloads the configuration;
 * SIGTERM closes every client with 1001 and exits with status 1, so that
 * the postmaster starts the worker again unless it is itself shutting down
 * (status 0 would unregister the worker for good: pg_terminate_backend on
 * it must not switch real-time sync off until the next restart). SIGINT
 * (pg_cancel_backend) is ignored: the worker runs no statement of its own.
 *
 * The worker is a backend connected to no database, like the logical
 * replication launcher: it is in the proc array, so pg_stat_activity shows
 * it (backend_type and application_name "rtsync server") and
 * pg_terminate_backend can signal it. InitPostgres runs one short
 * transaction to set that up and commits it; after that the worker holds no
 * transaction, snapshot or xmin, and talks to PostgreSQL only through
 * libpq. Being in the proc array also means it takes part in ProcSignal
 * barriers (DROP DATABASE waits for every process to absorb one), so each
 * pass processes pending interrupts.
 *
 * Memory: each pass runs in pass_cxt, a child of TopMemoryContext made
 * once and reset at the end of the pass (as pg_cron's main loop does), so
 * whatever a callback allocates in the current context without naming one
 * lives one pass at the most. Everything that must outlive a pass is made
 * in a context of its own, created with an explicit parent: connections,
 * subscriptions, the registry, the schema, keys and grants, the pool's
 * jobs, HTTP requests, WebSocket operations.
 *
 * Errors: every callback the libraries call runs in its own guard at the
 * entry (base/guard.h; net/pgconn.c, server.c, control/control.c, stream/replication.c,
 * http/connection.c, net/listener.c). What this loop runs itself between the
 * library calls (processing interrupts, which can raise an ERROR from a
 * ProcSignal barrier, and the reload after SIGHUP) is guarded here: the
 * error is logged and the worker goes on with its next pass. Only FATAL
 * (a request to terminate) ends it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <uv.h>

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "net/transport.h"
#include "control/control.h"
#include "control/identity.h"
#include "http/graphql.h"
#include "stream/catchup.h"
#include "stream/handlers.h"
#include "stream/registry.h"
#include "ws/protocol.h"
#include "base/guard.h"
#include "base/metrics.h"
#include "net/pool.h"
#include "stream/replication.h"
#include "stream/retention.h"
#include "server.h"
#include "base/settings.h"
#include "worker.h"

#define SHUTDOWN_GRACE_MS 2000

/* longest wait of a pass: the heartbeat's bound when idle (see above) */
#define HEARTBEAT_INTERVAL_MS 1000

#define WORKER_NAME "rtsync server"

/* transient allocations of one pass of the loop (see the banner) */
static MemoryContext pass_cxt = NULL;

static volatile sig_atomic_t terminate_requested = false;

static void
handle_sigterm(SIGNAL_ARGS)
{
	int			save_errno = errno;

	terminate_requested = true;
	SetLatch(MyLatch);
	errno = save_errno;
}

void
rtsync_worker_register(void)
{
	BackgroundWorker worker;

	rtsync_settings_define();
	if (rtsync_port == 0)
		return;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 1;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "rtsync");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "rtsync_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, WORKER_NAME);
	snprintf(worker.bgw_type, BGW_MAXLEN, WORKER_NAME);
	RegisterBackgroundWorker(&worker);
}

/* After SIGHUP: the configuration file, then what the server keeps of it. */
static void
reload_config(void)
{
	ProcessConfigFile(PGC_SIGHUP);
	rtsync_server_reload();
	/*
	 * A rotated JWKS file; and the roles a token may take, should the
	 * authenticator have changed (a reload is one round trip: always).
	 */
	rtsync_identity_load_keys();
	rtsync_control_reload();
}

/*
 * Run the loop once without blocking, then wait for anything to happen (at
 * most max_timeout_ms, or as long as libuv allows when it is negative). The
 * pass runs in pass_cxt, reset at its end.
 */
static void
loop_pass(uv_loop_t *loop, WaitEventSet *wes, long max_timeout_ms)
{
	WaitEvent	event;
	long		timeout;
	MemoryContext old = MemoryContextSwitchTo(pass_cxt);

	rtsync_metrics_heartbeat();
	uv_run(loop, UV_RUN_NOWAIT);
	/* what the pass queued for clients goes out now, a write per client */
	rtsync_transport_flush();
	timeout = uv_backend_timeout(loop);
	if (max_timeout_ms >= 0 && (timeout < 0 || timeout > max_timeout_ms))
		timeout = max_timeout_ms;
	if (WaitEventSetWait(wes, timeout, &event, 1, PG_WAIT_EXTENSION) > 0 &&
		(event.events & WL_LATCH_SET))
		ResetLatch(MyLatch);
	/*
	 * ProcSignal barriers, pg_log_backend_memory_contexts(). A barrier that
	 * fails raises an ERROR (and stays pending, to be absorbed again on the
	 * next pass): logged, the worker goes on.
	 */
	RTSYNC_GUARD(CHECK_FOR_INTERRUPTS(), (void) 0);
	if (ConfigReloadPending)
	{
		ConfigReloadPending = false;
		/* an invalid file is reported and ignored; any ERROR is logged */
		RTSYNC_GUARD(reload_config(), (void) 0);
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(pass_cxt);
}

void
rtsync_worker_main(Datum arg)
{
	uv_loop_t	loop;
	WaitEventSet *wes;
	TimestampTz deadline;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, handle_sigterm);
	pqsignal(SIGINT, SIG_IGN);
	BackgroundWorkerUnblockSignals();
	/* in the proc array, no database (see the banner) */
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	SetConfigOption("application_name", WORKER_NAME, PGC_SUSET, PGC_S_OVERRIDE);
	/*
	 * Backend facilities we use (sha256 for API keys) track resources. Made
	 * after InitPostgres, whose transaction leaves no owner behind.
	 */
	Assert(!IsTransactionState());
	CurrentResourceOwner = ResourceOwnerCreate(NULL, WORKER_NAME);
	rtsync_metrics_worker_start();
	pass_cxt = AllocSetContextCreate(TopMemoryContext, "rtsync loop pass",
									 ALLOCSET_DEFAULT_SIZES);

	if (uv_loop_init(&loop) != 0)
		ereport(ERROR, (errmsg("rtsync could not create its event loop")));
	if (!rtsync_server_start(&loop))
		proc_exit(1);
	/*
	 * Who hears of control/'s loads, before the first one: the registry
	 * gets each new schema first; then, after a load, the protocol and
	 * then HTTP, in this order.
	 */
	rtsync_registry_init();
	rtsync_protocol_init();
	rtsync_http_graphql_init();
	rtsync_identity_load_keys();
	rtsync_control_start(&loop);
	rtsync_pool_start(&loop);
	rtsync_retention_start(&loop);
	rtsync_catchup_start(&loop);
	rtsync_handlers_start(&loop);
	rtsync_replication_start(&loop);

	wes = CreateWaitEventSet(TopMemoryContext, 3);
	AddWaitEventToSet(wes, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(wes, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	AddWaitEventToSet(wes, WL_SOCKET_READABLE, uv_backend_fd(&loop), NULL, NULL);

	while (!terminate_requested)
		loop_pass(&loop, wes, HEARTBEAT_INTERVAL_MS);

	/* close every client properly, give the frames a moment to go out */
	ereport(LOG, (errmsg("rtsync server shutting down")));
	rtsync_server_shutdown();
	rtsync_replication_stop();
	rtsync_handlers_stop();
	rtsync_retention_stop();
	rtsync_pool_stop();
	rtsync_control_stop();
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), SHUTDOWN_GRACE_MS);
	while (rtsync_transport_count() > 0 &&
		   GetCurrentTimestamp() < deadline)
		loop_pass(&loop, wes, 50);
	rtsync_server_destroy();
	uv_run(&loop, UV_RUN_NOWAIT);
	proc_exit(1);
}
