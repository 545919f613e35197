// PostGraphile v4 server for the fan-out benchmark: live queries over logical
// decoding (@graphile/subscriptions-lds, which polls a temporary wal2json slot),
// served over WebSocket (graphql-transport-ws, and the legacy graphql-ws
// subprotocol) on 127.0.0.1 only. Prints "listening" once the schema is built,
// the LDS slot exists and the HTTP server accepts connections.
//
// Usage: node postgraphile.cjs CONNECTION_STRING PORT
//   CONNECTION_STRING  e.g. postgres://postgres@%2Ftmp%2Fdir:55700/postgres
//                      (the unix socket directory, URL-encoded, as the host)
// Tunables are PostGraphile's own environment variables, left at their
// defaults unless set: LIVE_THROTTLE (ms, 500), LD_WAIT (LDS poll sleep, ms, 200).
'use strict';

const http = require('node:http');
const { postgraphile, enhanceHttpServerWithSubscriptions } = require('postgraphile');
const PgLDSSourcePlugin = require('@graphile/subscriptions-lds').default;

const [conn, portStr] = process.argv.slice(2);
const port = Number(portStr);
if (!conn || !(port > 0)) {
	console.error('usage: node postgraphile.cjs CONNECTION_STRING PORT');
	process.exit(2);
}

const middleware = postgraphile(conn, 'public', {
	subscriptions: true,
	live: true,
	ownerConnectionString: conn, // LDS creates its slot through this one
	appendPlugins: [PgLDSSourcePlugin],
	disableQueryLog: true,
	retryOnInitFail: false,
	watchPg: false,
	ignoreRBAC: true,
	graphiql: false,
	enhanceGraphiql: false,
	setofFunctionsContainNodes: false,
});

const server = http.createServer(middleware);
enhanceHttpServerWithSubscriptions(server, middleware);
server.on('error', (e) => {
	console.error('postgraphile: ' + e.message);
	process.exit(1);
});

// the schema (and the LDS source inside it) is built asynchronously: wait for it
// before listening, so that "listening" means subscriptions work
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
		.catch(() => {})
		.finally(() => process.exit(0));
	setTimeout(() => process.exit(0), 3000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
