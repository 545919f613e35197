// TLS: with rtsync.tls_cert_file and rtsync.tls_key_file the server speaks
// wss:// (and https:// for /healthz). A certificate made for the run with
// openssl, trusted by the clients as their CA. On a cluster of this file's
// own: TLS is a postmaster setting.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chownSync, readFileSync } from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { transportClient, collect, rawSocket } from '../lib/env.js';
import { startCluster } from '../lib/cluster.js';

let cluster;
let ca;

before(async () => {
  cluster = await startCluster({
    offset: 2,
    settings: (dir) => [
      `rtsync.tls_cert_file = '${path.join(dir, 'rtsync.crt')}'`,
      `rtsync.tls_key_file = '${path.join(dir, 'rtsync.key')}'`,
    ],
    prepare: (dir) => {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1',
        '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
        '-keyout', path.join(dir, 'rtsync.key'), '-out', path.join(dir, 'rtsync.crt')], { stdio: 'ignore' });
      if (process.getuid?.() === 0) {
        const { uid, gid } = JSON.parse(execFileSync('bash', ['-c', 'echo "{\\"uid\\":$(id -u postgres),\\"gid\\":$(id -g postgres)}"'], { encoding: 'utf8' }));
        for (const f of ['rtsync.key', 'rtsync.crt']) chownSync(path.join(dir, f), uid, gid);
      }
      ca = readFileSync(path.join(dir, 'rtsync.crt'));
    },
    ca: () => ca,
  });
});
after(() => cluster?.stop());

// ws with the test's CA: the certificate is verified, not waved through
class TlsWebSocket extends WebSocket {
  constructor(url, protocols) { super(url, protocols, { ca }); }
}

test('a graphql-ws client over wss:// gets its subscription events', async () => {
  const client = transportClient({
    url: `wss://127.0.0.1:${cluster.port}/graphql`,
    webSocketImpl: TlsWebSocket,
    connectionParams: { 'x-api-key': cluster.apiKey },
  });
  try {
    const inbox = collect(client, { query: `subscription { onCreateDataItem { id title } }` });
    await client.sync();
    cluster.sql(`INSERT INTO data_items (id, title) VALUES ('tls-1', 'over TLS')`);
    assert.deepEqual((await inbox.next()).next.data, { onCreateDataItem: { id: 'tls-1', title: 'over TLS' } });
  } finally {
    await client.dispose();
  }
});

test('AppSync with the key in the header= query parameter over wss://', async () => {
  const header = Buffer.from(JSON.stringify({ host: `127.0.0.1:${cluster.port}`, 'x-api-key': cluster.apiKey })).toString('base64url');
  const ws = await rawSocket('graphql-ws', `wss://127.0.0.1:${cluster.port}/graphql/realtime?header=${header}&payload=e30=`, {}, { ca });
  try {
    assert.equal(ws.protocol, 'graphql-ws');
    ws.sendJson({ type: 'connection_init' });
    assert.deepEqual(await ws.inbox.next(), { type: 'connection_ack', payload: { connectionTimeoutMs: 300000 } });
    assert.deepEqual(await ws.inbox.next(), { type: 'ka' });
    ws.sendJson({
      id: 's', type: 'start',
      payload: { data: JSON.stringify({ query: `subscription { onCreateDataItem(title: "tls-appsync") { id } }` }), extensions: { authorization: { 'x-api-key': cluster.apiKey } } },
    });
    assert.deepEqual(await ws.nextIgnoringKa(), { type: 'start_ack', id: 's' });
    cluster.sql(`INSERT INTO data_items (id, title) VALUES ('tls-2', 'tls-appsync')`);
    assert.deepEqual(await ws.nextIgnoringKa(), { type: 'data', id: 's', payload: { data: { onCreateDataItem: { id: 'tls-2' } } } });
  } finally {
    ws.close();
  }
});

test('a client that does not trust the certificate is refused by its own TLS check', async () => {
  await assert.rejects(rawSocket('graphql-transport-ws', `wss://127.0.0.1:${cluster.port}/graphql`), /self.signed|certificate/i);
});
