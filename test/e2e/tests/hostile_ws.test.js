// A WebSocket reader that stops (SIGSTOP) falls behind, is closed with 1013
// and, when it resumes, reads that code (not a bare end of stream), while a
// bystander gets every row and the worker keeps its pid.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { sql, wsUrl, port, apiKey, transportClient, collect, Inbox, workerPid } from '../lib/env.js';

after(() => sql(`DELETE FROM data_items WHERE id LIKE 'hws-%'`));


async function slowClientsClosed() {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return Number(text.match(/^rtsync_slow_clients_closed_total (\d+)/m)?.[1] ?? 0);
}

test('a stopped reader is closed with 1013 and reads it when it resumes', async () => {
  const pid0 = workerPid();
  const child = spawn(process.execPath, [new URL('../lib/slow_reader.mjs', import.meta.url).pathname, wsUrl, apiKey, 'hws-bulk'],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = new Inbox();
  createInterface({ input: child.stdout }).on('line', (l) => lines.push(l));
  assert.equal(await lines.next(5000, 'the reader ready'), 'ready');
  const bystander = transportClient();
  const inbox = collect(bystander, { query: 'subscription { onCreateDataItem(title: "hws-bulk") { id } }' });
  await bystander.sync();
  const closed0 = await slowClientsClosed();
  child.kill('SIGSTOP');
  try {
    // bounded: 400 rows of 64 kB, far more than socket buffers and rtsync.max_queue hold
    sql(`INSERT INTO data_items (id, title, content)
         SELECT 'hws-' || i, 'hws-bulk', repeat(md5(i::text), 2048) FROM generate_series(1, 400) i`);
    for (let i = 1; i <= 400; i++)
      assert.equal((await inbox.next(5000, `row ${i}`)).next.data.onCreateDataItem.id, `hws-${i}`);
    for (let i = 0; i < 50 && (await slowClientsClosed()) === closed0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(await slowClientsClosed(), closed0 + 1, 'the server closed the stopped reader');
  } finally {
    child.kill('SIGCONT');
  }
  const last = await lines.next(10000, 'the reader closed');
  assert.match(last, /^closed 1013 client too slow/);
  assert.equal(workerPid(), pid0);
  await bystander.dispose();
});
