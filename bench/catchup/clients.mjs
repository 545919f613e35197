// Catch-up benchmark clients (issue 11, section 5), in one process:
//   - LIVE graphql-transport-ws connections, each subscribed to
//     onCreateBenchCatchup(filter: {id: {gt: BASE}}): the live rows;
//   - a writer (node-postgres) committing RATE rows/s for SECONDS, each row
//     carrying its sent_at (µs since the epoch), ids above BASE;
//   - in phase "catchup" only: one more connection that resumes after AFTER
//     (connectionParams.after) and counts the BEHIND kept rows (ids up to
//     BASE) it is owed, timing from its subscribe to the last of them.
// Live latency is sent_at -> receipt, over every live connection and row.
// Prints one JSON line: { phase, live: {n, p50_ms, p99_ms, max_ms, lost},
// catchup: {records, seconds, per_s} }.
// Usage: node clients.mjs URL KEY LIVE RATE SECONDS BASE PHASE [AFTER BEHIND]
import { createRequire } from 'node:module';

const require = createRequire(new URL('../../test/e2e/package.json', import.meta.url));
const WebSocket = require('ws');
const pg = require(new URL('../node_modules/pg/lib/index.js', import.meta.url).pathname);

const [url, key, liveArg, rateArg, secondsArg, baseArg, phase, after, behindArg] = process.argv.slice(2);
const LIVE = Number(liveArg);
const RATE = Number(rateArg);
const SECONDS = Number(secondsArg);
const BASE = Number(baseArg);
const BEHIND = Number(behindArg ?? 0);
const rows = RATE * SECONDS;
const deadline = Date.now() + (SECONDS + 120) * 1000;

function connect(params, query) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, 'graphql-transport-ws');
    ws.on('error', reject);
    ws.on('open', () => ws.send(JSON.stringify({ type: 'connection_init', payload: params })));
    ws.on('message', function first(data) {
      const m = JSON.parse(data.toString());
      if (m.type !== 'connection_ack') return reject(new Error(data.toString()));
      ws.off('message', first);
      ws.send(JSON.stringify({ type: 'subscribe', id: '1', payload: { query } }));
      ws.send(JSON.stringify({ type: 'ping', payload: { probe: 1 } }));
      ws.on('message', function pong(d) {
        if (JSON.parse(d.toString()).type === 'pong') { ws.off('message', pong); resolve(ws); }
      });
    });
  });
}

const latencies = [];
let liveReceived = 0;
const liveQuery = `subscription { onCreateBenchCatchup(filter: {id: {gt: ${BASE}}}) { id sent_at } }`;
const sockets = [];
for (let i = 0; i < LIVE; i++) {
  const ws = await connect({ 'x-api-key': key }, liveQuery);
  ws.on('message', (data) => {
    const m = JSON.parse(data.toString());
    if (m.type !== 'next') return;
    const sent = Number(m.payload.data.onCreateBenchCatchup.sent_at);
    latencies.push(Date.now() * 1000 - sent);
    liveReceived++;
  });
  sockets.push(ws);
}

let catchup = null;
let caughtUp;
const caughtUpDone = new Promise((resolve) => { caughtUp = resolve; });
if (phase === 'catchup') {
  const started = process.hrtime.bigint();
  let owed = 0;
  const ws = new WebSocket(url, 'graphql-transport-ws');
  ws.on('open', () => ws.send(JSON.stringify({ type: 'connection_init', payload: { 'x-api-key': key, after } })));
  ws.on('message', (data) => {
    const m = JSON.parse(data.toString());
    if (m.type === 'connection_ack') {
      ws.send(JSON.stringify({ type: 'subscribe', id: 'c', payload: { query: 'subscription { onCreateBenchCatchup { id } }' } }));
    } else if (m.type === 'next' && Number(m.payload.data.onCreateBenchCatchup.id) >= 1 && Number(m.payload.data.onCreateBenchCatchup.id) <= BEHIND) {
      if (++owed === BEHIND) {
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        catchup = { records: owed, seconds: +seconds.toFixed(3), per_s: Math.round(owed / seconds) };
        caughtUp();
      }
    } else if (m.type === 'error') {
      console.error(`catch-up refused: ${data}`);
      process.exit(1);
    }
  });
  sockets.push(ws);
} else caughtUp();

// the writer: RATE rows/s, paced by the clock, bounded by rows
const db = new pg.Client();
await db.connect();
const t0 = Date.now();
for (let i = 0; i < rows; i++) {
  const due = t0 + (i * 1000) / RATE;
  const wait = due - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  await db.query('INSERT INTO bench_catchup (id, sent_at, body) VALUES ($1, $2, $3)',
    [BASE + 1 + i, Date.now() * 1000, 'live']);
}
await db.end();
// every live connection gets every row, within the deadline
while (liveReceived < rows * LIVE && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
await Promise.race([caughtUpDone, new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())))]);

latencies.sort((a, b) => a - b);
const pct = (p) => +(latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] / 1000).toFixed(2);
console.log(JSON.stringify({
  phase,
  live: { n: latencies.length, p50_ms: pct(0.5), p99_ms: pct(0.99), max_ms: pct(1), lost: rows * LIVE - liveReceived },
  catchup,
}));
for (const ws of sockets) ws.terminate();
process.exit(0);
