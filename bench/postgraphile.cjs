// PostGraphile v4, the peer the benchmarks compare rtsync with, on 127.0.0.1
// only, connected through the cluster's unix socket. Two modes:
//   live  for bench/fanout: live queries over logical decoding
//         (@graphile/subscriptions-lds, which polls a temporary wal2json
//         slot), served over WebSocket (graphql-transport-ws and legacy);
//   http  for bench/http: queries and mutations over POST /graphql, with a
//         pg.Pool of POOL_SIZE connections (rtsync's rtsync.pool_size).
// No GraphiQL, no query log. Prints "listening" once the schema (and the
// LDS source inside it) is built and the HTTP server accepts connections.
//
// Usage: node postgraphile.cjs live CONNECTION_STRING PORT
//        node postgraphile.cjs http CONNECTION_STRING PORT POOL_SIZE [ROLE]
//   CONNECTION_STRING  e.g. postgres://postgres@%2Ftmp%2Fdir:55700/postgres
//                      (the unix socket directory, URL-encoded, as the host)
//   ROLE               when given, every request runs as rtsync's do: in a
//                      transaction that first sets this role and a 30 s
//                      statement_timeout locally (pgSettings)
// Live-query tunables are PostGraphile's own environment variables, left at
// their defaults unless set: LIVE_THROTTLE (ms, 500), LD_WAIT (LDS poll, ms, 200).
'use strict';

const http = require('node:http');
const { postgraphile, enhanceHttpServerWithSubscriptions } = require('postgraphile');

const [mode, conn, portStr, poolStr, role] = process.argv.slice(2);
const port = Number(portStr);
const poolSize = Number(poolStr);
if (!conn || !(port > 0) || !(mode === 'live' || (mode === 'http' && poolSize > 0))) {
	console.error('usage: node postgraphile.cjs live CONNECTION_STRING PORT\n' +
		'       node postgraphile.cjs http CONNECTION_STRING PORT POOL_SIZE [ROLE]');
	process.exit(2);
}

const common = {
	disableQueryLog: true,
	retryOnInitFail: false,
	watchPg: false,
	ignoreRBAC: true,
	graphiql: false,
	enhanceGraphiql: false,
	setofFunctionsContainNodes: false,
};
let pool = null;
let middleware;
if (mode === 'live') {
	middleware = postgraphile(conn, 'public', {
		...common,
		subscriptions: true,
		live: true,
		ownerConnectionString: conn, // LDS creates its slot through this one
		appendPlugins: [require('@graphile/subscriptions-lds').default],
	});
} else {
	const { Pool } = require('pg');
	pool = new Pool({ connectionString: conn, max: poolSize });
	pool.on('error', (e) => console.error('postgraphile: pool: ' + e.message));
	middleware = postgraphile(pool, 'public', {
		...common,
		...(role ? { pgSettings: { role, statement_timeout: '30s' } } : {}),
	});
}

const server = http.createServer(middleware);
if (mode === 'live') enhanceHttpServerWithSubscriptions(server, middleware);
server.on('error', (e) => {
	console.error('postgraphile: ' + e.message);
	process.exit(1);
});

middleware
	.getGraphQLSchema()
	.then(() => {
		server.listen(port, '127.0.0.1', () => console.log('listening'));
	})
	.catch((e) => {
		console.error('postgraphile: schema build failed: ' + (e && e.stack || e));
		process.exit(1);
	});

function stop() {
	server.close();
	Promise.resolve(middleware.release && middleware.release())
		.then(() => pool && pool.end())
		.catch(() => {})
		.finally(() => process.exit(0));
	setTimeout(() => process.exit(0), 3000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
