// Idle WebSocket subscribers: opens N graphql-transport-ws connections to
// rtsync, each acked and subscribed, then holds them open and silent (the
// ws library answers the server's pings) for HOLD seconds while the caller
// measures the worker. Prints "ready N" once every subscription is acked,
// "done" after HOLD seconds, then closes everything and exits.
// Usage: node idle.mjs URL KEY N HOLD_SECONDS
import { createRequire } from 'node:module';

// the end-to-end tests' ws (test/e2e/node_modules), as bench/fanout does
const require = createRequire(new URL('../../test/e2e/package.json', import.meta.url));
const WebSocket = require('ws');

const [url, key, nArg, holdArg] = process.argv.slice(2);
const n = Number(nArg);
const hold = Number(holdArg);
const sockets = [];
let acked = 0;

function open(i) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, 'graphql-transport-ws');
    ws.on('open', () => ws.send(JSON.stringify({ type: 'connection_init', payload: { 'x-api-key': key } })));
    ws.on('message', (data) => {
      const m = JSON.parse(data);
      if (m.type === 'connection_ack')
        ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: `subscription { onCreateDataItem(id: "idle-${i}") { id } }` } }));
      // a ping round trip after the subscribe: it is registered by then
      if (m.type === 'connection_ack') ws.send(JSON.stringify({ type: 'ping' }));
      if (m.type === 'pong') { acked++; resolve(); }
    });
    ws.on('error', reject);
    sockets.push(ws);
  });
}

process.on('unhandledRejection', (e) => { console.log(`error ${e?.message ?? e}`); process.exit(1); });

// bounded concurrency while connecting
const batch = 500;
for (let i = 0; i < n; i += batch)
  await Promise.all(Array.from({ length: Math.min(batch, n - i) }, (_, j) => open(i + j)));
console.log(`ready ${acked}`);
await new Promise((r) => setTimeout(r, hold * 1000));
const open_ = sockets.filter((s) => s.readyState === WebSocket.OPEN).length;
console.log(`done ${open_}`);
for (const s of sockets) s.terminate();
process.exit(0);
