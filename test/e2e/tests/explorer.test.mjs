// The explorer page at GET /, driven in headless Chromium (Debian's
// chromium package, through playwright-core, which never downloads a
// browser): a row created from one page shows up live in a subscription
// running in another.
// The row is created by the page's mutation over POST /graphql.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { port, apiKey, sql } from '../lib/env.js';

const pageUrl = `http://127.0.0.1:${port}/`;
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const WAIT_MS = 5000; // the bound on every single wait below

let browser;

before(async () => {
  if (!existsSync(chromiumPath)) throw new Error(`no Chromium at ${chromiumPath}: scripts/setup.sh installs Debian's chromium package`);
  // --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start;
  // a first, cold start on a busy 2-core machine can take over 10 s
  browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'], timeout: 30000 });
});

after(async () => {
  await browser?.close();
});

// Opens the explorer in a new page, collecting script errors and console
// errors (a Content-Security-Policy violation shows up there) in problems.
async function openExplorer(context, problems) {
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`); });
  const response = await page.goto(pageUrl);
  assert.equal(response.status(), 200);
  return page;
}

// The JSON shown in a result block of the page.
async function shownJson(block) {
  return JSON.parse(await block.locator('code').textContent());
}

test('GET / serves the explorer page with security headers', async () => {
  const response = await fetch(pageUrl, { signal: AbortSignal.timeout(WAIT_MS) });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('content-type'), 'text/html; charset=utf-8');
  assert.match(response.headers.get('content-security-policy'), /default-src 'none'/);
  assert.match(response.headers.get('content-security-policy'), /connect-src 'self'/);
  assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
  assert.match(await response.text(), /<title>rtsync explorer<\/title>/);

  const post = await fetch(pageUrl, { method: 'POST', body: 'x', signal: AbortSignal.timeout(WAIT_MS) });
  assert.equal(post.status, 405);
  assert.equal(post.headers.get('allow'), 'GET, HEAD');
});

test('a row created from one explorer page appears live in a subscription in another', { timeout: 30000 }, async (t) => {
  const context = await browser.newContext();
  const problems = [];
  let id = null;
  try {
    // page A: paste the key, start a subscription, wait until it is in place
    const a = await openExplorer(context, problems);
    await a.locator('#key').fill(apiKey);
    await a.locator('#query').fill('subscription { onCreateDataItem { id title } }');
    await a.locator('#query').press('Control+Enter');
    await a.locator('#status').filter({ hasText: 'listening for events' }).waitFor();
    assert.equal(await a.locator('#stop').isEnabled(), true);

    // page B: the key was remembered (localStorage); paste it anyway
    const b = await openExplorer(context, problems);
    assert.equal(await b.locator('#key').inputValue(), apiKey);
    await b.locator('#key').fill(apiKey);

    {
      await b.locator('#query').fill('mutation { createDataItem(input: {title: "from the browser", content: "x"}) { id title } }');
      await b.locator('#run').click();
      const result = b.locator('#output pre').filter({ hasText: 'createDataItem' });
      await result.waitFor();
      const shown = await shownJson(result);
      assert.equal(shown.errors, undefined, JSON.stringify(shown.errors));
      assert.equal(shown.data.createDataItem.title, 'from the browser');
      id = shown.data.createDataItem.id;

      // the docs list the mutation, from the page's introspection query
      await b.locator('#docs-toggle').click();
      await b.locator('#docs-body').filter({ hasText: 'createDataItem' }).waitFor();
    }

    // page A shows the event as it arrives
    const event = a.locator('#output pre.event').filter({ hasText: id });
    await event.waitFor();
    assert.deepEqual((await shownJson(event)).data.onCreateDataItem, { id, title: 'from the browser' });

    await a.locator('#stop').click();
    await a.locator('#status').filter({ hasText: 'stopped' }).waitFor();
    assert.equal(await a.locator('#stop').isEnabled(), false);

    assert.deepEqual(problems, []);
  } finally {
    await context.close();
    if (id) sql(`DELETE FROM data_items WHERE id = '${id.replaceAll("'", "''")}'`);
  }
});
