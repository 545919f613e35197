// Shared helpers for the end-to-end tests: the server's address and key
// (set up by scripts/test.sh), SQL through psql, and graphql-ws clients
// that can tell when the server has processed what they sent.
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import WebSocket from 'ws';
import { createClient } from 'graphql-ws';

export const port = process.env.RTSYNC_PORT;
export const wsUrl = `ws://127.0.0.1:${port}/graphql`;
export const httpUrl = `http://127.0.0.1:${port}/graphql`;
export const apiKey = process.env.RTSYNC_API_KEY;

if (!port || !apiKey) throw new Error('RTSYNC_PORT and RTSYNC_API_KEY must be set (run through scripts/test.sh)');

// Runs SQL with psql (any SQL client will do: this is one) and returns its
// unaligned output.
export function sql(query) {
  return execFileSync('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-c', query],
    { encoding: 'utf8' }).trim();
}

// The worker's pid, from pg_stat_activity (backend_type "rtsync server"),
// or null while none runs. run: the psql of the cluster to ask.
export function workerPid(run = sql) {
  const pids = run(`SELECT pid FROM pg_stat_activity WHERE backend_type = 'rtsync server'`);
  if (pids.includes('\n')) throw new Error(`more than one rtsync server: ${pids}`);
  return pids ? Number(pids) : null;
}

// promise, or an error after ms. The timer holds node's loop while it
// waits: a socket that closes under a test fails it with this message,
// instead of leaving the loop nothing to wait on.
export async function within(promise, ms, what) {
  let timer;
  try {
    return await Promise.race([promise, new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    })]);
  } finally {
    clearTimeout(timer);
  }
}

// A queue of values that tests await one at a time.
export class Inbox {
  constructor() { this.items = []; this.waiters = []; }
  push(item) {
    const w = this.waiters.shift();
    if (w) w(item); else this.items.push(item);
  }
  next(timeoutMs = 5000, what = 'a message') {
    if (this.items.length) return Promise.resolve(this.items.shift());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const waiter = (item) => { clearTimeout(timer); resolve(item); };
      this.waiters.push(waiter);
    });
  }
  get size() { return this.items.length; }
}

// An event's payload without its resume position, once that is checked:
// every subscription event carries extensions.sequenceNumber, its stream
// record's 30-digit SequenceNumber, and nothing else in extensions.
export function withoutPosition(payload) {
  if (!/^[0-9]{30}$/.test(payload?.extensions?.sequenceNumber ?? '') ||
    Object.keys(payload.extensions).length !== 1) {
    throw new Error(`an event without its extensions.sequenceNumber: ${JSON.stringify(payload)}`);
  }
  const { extensions, ...rest } = payload;
  return rest;
}
// The same for a whole AppSync or legacy "data" message.
export const messageWithoutPosition = (m) => ({ ...m, payload: withoutPosition(m?.payload) });

// A graphql-ws client plus a barrier: sync() sends a protocol ping on the
// client's socket and resolves on the pong. The server handles a
// connection's messages in order, so after sync() every subscribe sent
// before it is registered.
export function transportClient(options = {}) {
  let socket = null;
  let pongs = 0;
  const pongWaiters = new Map();
  // a sync() in progress fails when the socket closes, saying how
  const closeWaiters = new Set();
  const client = createClient({
    url: options.url ?? wsUrl,
    webSocketImpl: options.webSocketImpl ?? WebSocket,
    lazy: false,
    retryAttempts: options.retryAttempts ?? 0,
    connectionParams: options.connectionParams ?? { 'x-api-key': apiKey },
    on: {
      ...(options.on ?? {}),
      connected: (s, ...rest) => { socket = s; options.on?.connected?.(s, ...rest); },
      closed: (event, ...rest) => {
        for (const reject of closeWaiters) reject(new Error(`the socket closed with ${event?.code} ${event?.reason ?? ''} during sync()`));
        closeWaiters.clear();
        options.on?.closed?.(event, ...rest);
      },
      pong: (received, payload) => {
        const w = payload && pongWaiters.get(payload.probe);
        if (w) { pongWaiters.delete(payload.probe); w(); }
      },
    },
    ...(options.client ?? {}),
  });
  const ping = async () => {
    const probe = ++pongs;
    const done = new Promise((resolve) => pongWaiters.set(probe, resolve));
    socket.send(JSON.stringify({ type: 'ping', payload: { probe } }));
    await done;
  };
  // Two rounds: right after the ack the client may not have sent the
  // subscribe messages it queued yet; after the first pong it has.
  // Bounded, and it fails at once, saying how, when the socket closes.
  client.sync = async () => {
    let reject;
    const closed = new Promise((_, r) => { reject = r; closeWaiters.add(r); });
    try {
      await within(Promise.race([closed, (async () => {
        if (!socket) await new Promise((resolve) => { const off = client.on('connected', (s) => { socket = s; off(); resolve(); }); });
        await ping();
        await ping();
      })()]), 5000, 'sync()');
    } finally {
      closeWaiters.delete(reject);
    }
  };
  return client;
}

// Subscribes and collects every result (and the error or completion) in an Inbox.
export function collect(client, request) {
  const inbox = new Inbox();
  const unsubscribe = client.subscribe(request, {
    next: (value) => inbox.push({ next: value }),
    error: (error) => inbox.push({ error }),
    complete: () => inbox.push({ complete: true }),
  });
  inbox.unsubscribe = unsubscribe;
  return inbox;
}

// A raw WebSocket speaking JSON messages, for protocol-level tests
// (wsOptions: more options for ws, e.g. { ca } for wss://).
export async function rawSocket(protocols, url = wsUrl, headers = {}, wsOptions = {}) {
  const ws = new WebSocket(url, protocols, { headers, ...wsOptions });
  const inbox = new Inbox();
  ws.on('message', (data) => {
    const m = JSON.parse(data.toString());
    // a graphql-transport-ws server's keep-alive ping (it carries the
    // connection's position) is answered, as stock clients do, not queued
    if (m?.type === 'ping' && m.payload?.sequenceNumber && ws.protocol === 'graphql-transport-ws') {
      ws.send(JSON.stringify({ type: 'pong' }));
      return;
    }
    inbox.push(m);
  });
  const closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  // bounded: a test waiting for a close that never comes fails, it does not hang
  Object.defineProperty(ws, 'closed', {
    get: () => Promise.race([closed, new Promise((_, reject) =>
      setTimeout(() => reject(new Error('timed out after 15000 ms waiting for the server to close')), 15000).unref())]),
  });
  ws.inbox = inbox;
  ws.sendJson = (obj) => ws.send(JSON.stringify(obj));
  // the next message other than a keep-alive: AppSync and legacy clients get
  // a "ka" every rtsync.keepalive_interval, whenever the timer fires
  ws.nextIgnoringKa = async (timeoutMs, what) => {
    for (;;) {
      const m = await inbox.next(timeoutMs, what);
      if (m?.type !== 'ka') return m;
    }
  };
  await Promise.race([once(ws, 'open'), new Promise((_, reject) =>
    setTimeout(() => reject(new Error('timed out after 5000 ms opening a WebSocket')), 5000).unref())]);
  return ws;
}

export { once };

// A stream barrier: inserts a row and waits until a subscriber gets it. The
// worker handles the stream in order, so everything committed before (a
// GRANT, a publication, a revoked key) has reached it by then; and client
// messages sent afterwards wait for any reload that caused.
let barrierClient = null;
let barrierInbox = null;
let barriers = 0;
export async function streamBarrier() {
  if (!barrierClient) {
    barrierClient = transportClient();
    barrierInbox = collect(barrierClient, { query: 'subscription { onCreateDataItem(title: "rtsync-barrier") { id } }' });
    await barrierClient.sync();
  }
  const id = `barrier-${process.pid}-${++barriers}`;
  sql(`INSERT INTO data_items (id, title) VALUES ('${id}', 'rtsync-barrier')`);
  for (;;) {
    const { next } = await barrierInbox.next(5000, 'the barrier row');
    if (next?.data?.onCreateDataItem?.id === id) break;
  }
  sql(`DELETE FROM data_items WHERE id = '${id}'`);
}
export async function closeBarrier() {
  if (barrierClient) await barrierClient.dispose();
  barrierClient = null;
}

// A psql session that runs statement in a transaction and holds what it
// locked until release() (bounded: it fails the test rather than hang when
// the lock cannot be had).
export async function holdLock(statement, env = process.env) {
  const psql = spawn('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1'], { stdio: ['pipe', 'pipe', 'pipe'], env });
  let out = '';
  let err = '';
  const locked = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out taking the lock: ${err}`)), 5000);
    psql.stdout.on('data', (d) => { out += d; if (out.includes('locked')) { clearTimeout(timer); resolve(); } });
    psql.stderr.on('data', (d) => { err += d; });
    psql.on('exit', (code) => { clearTimeout(timer); reject(new Error(`psql exited (${code}): ${err}`)); });
  });
  psql.stdin.write(`BEGIN; ${statement}; SELECT 'locked';\n`);
  await locked;
  const exited = new Promise((resolve) => psql.on('exit', resolve));
  return {
    async release() {
      psql.stdin.end('COMMIT;\n');
      await exited;
    },
  };
}
