// PostGraphile v4 server for the HTTP benchmark: queries and mutations over
// POST /graphql on 127.0.0.1 only, no subscriptions, no live queries, no
// GraphiQL, no query log. Its pg pool is a pg.Pool of POOL_SIZE connections
// (rtsync's equivalent is rtsync.pool_size). Prints "listening" once the
// schema is built and the HTTP server accepts connections.
//
// Usage: node postgraphile.cjs CONNECTION_STRING PORT POOL_SIZE [ROLE]
//   CONNECTION_STRING  e.g. postgres://postgres@%2Ftmp%2Fdir:55740/postgres
//                      (the unix socket directory, URL-encoded, as the host)
//   ROLE               when given, every request runs as rtsync's do: in a
//                      transaction that first sets this role and a 30 s
//                      statement_timeout locally (pgSettings)
'use strict';

const http = require('node:http');
const { Pool } = require('pg');
const { postgraphile } = require('postgraphile');

const [conn, portStr, poolStr, role] = process.argv.slice(2);
const port = Number(portStr);
const poolSize = Number(poolStr);
if (!conn || !(port > 0) || !(poolSize > 0)) {
	console.error('usage: node postgraphile.cjs CONNECTION_STRING PORT POOL_SIZE');
	process.exit(2);
}

const pool = new Pool({ connectionString: conn, max: poolSize });
pool.on('error', (e) => console.error('postgraphile: pool: ' + e.message));

const middleware = postgraphile(pool, 'public', {
	disableQueryLog: true,
	retryOnInitFail: false,
	watchPg: false,
	ignoreRBAC: true,
	graphiql: false,
	enhanceGraphiql: false,
	setofFunctionsContainNodes: false,
	...(role ? { pgSettings: { role, statement_timeout: '30s' } } : {}),
});

const server = http.createServer(middleware);
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
		.then(() => pool.end())
		.catch(() => {})
		.finally(() => process.exit(0));
	setTimeout(() => process.exit(0), 3000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
