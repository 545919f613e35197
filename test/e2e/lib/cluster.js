// A throwaway cluster of a test file's own, for tests that need server
// settings the shared cluster does not have (TLS, settings changed and
// reloaded). Made with scripts/lib.sh like scripts/test.sh makes the shared
// one, on the shared cluster's ports plus an offset (so runs side by side
// do not collide), and destroyed by stop().
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import https from 'node:https';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

function lib(script, args, env = {}) {
  return execFileSync('bash', ['-c', `set -e; . scripts/lib.sh; ${script}`, 'bash', ...args.map(String)],
    { cwd: repo, encoding: 'utf8', env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}

// GET a URL once; resolves with the status code, or 0 when nothing answers.
function probe(url, ca) {
  const get = url.startsWith('https:') ? https.get : http.get;
  return new Promise((resolve) => {
    const req = get(url, { ca, timeout: 1000 }, (res) => { res.resume(); resolve(res.statusCode); });
    req.on('error', () => resolve(0));
    req.on('timeout', () => { req.destroy(); resolve(0); });
  });
}

// offset: added to the shared cluster's PostgreSQL and rtsync ports.
// settings(dir): postgresql.conf lines; prepare(dir): runs before start
// (as root when we are root: files the server reads must be readable by it).
export async function startCluster({ offset, settings = () => [], prepare = () => {}, ca } = {}) {
  const pgPort = Number(process.env.PGPORT) + offset;
  const port = Number(process.env.RTSYNC_PORT) + offset;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rtsync-e2e-aux.'));
  lib('cluster_create "$1" "$2" "${@:3}"', [dir, pgPort, ...settings(dir)], { RTSYNC_PORT: String(port) });
  prepare(dir);
  lib('cluster_start "$1"', [dir]);
  const env = {
    ...process.env, PGHOST: dir, PGPORT: String(pgPort), PGDATABASE: 'postgres',
    PGUSER: process.getuid?.() === 0 ? 'postgres' : os.userInfo().username,
  };
  const cluster = {
    dir, port, pgPort, env,
    sql(query) {
      return execFileSync('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-c', query],
        { encoding: 'utf8', env }).trim();
    },
    log() { return readFileSync(path.join(dir, 'server.log'), 'utf8'); },
    stop() { lib('cluster_destroy "$1"', [dir]); },
  };
  try {
    execFileSync('psql', ['-X', '-q', '-o', '/dev/null', '-v', 'ON_ERROR_STOP=1', '-f', 'scripts/data_items.sql'],
      { cwd: repo, env, stdio: ['ignore', 'ignore', 'pipe'] });
    cluster.apiKey = cluster.sql(`SELECT rtsync.create_api_key('e2e aux')`);
    // the worker is up once it answers; bounded, like scripts/test.sh
    const scheme = readFileSync(path.join(dir, 'data', 'postgresql.conf'), 'utf8')
      .match(/^rtsync\.tls_cert_file\s*=\s*'[^']+'/m) ? 'https' : 'http';
    let status = 0;
    for (let i = 0; i < 100 && status !== 200; i++) {
      status = await probe(`${scheme}://127.0.0.1:${port}/healthz`, ca?.(dir));
      if (status !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    if (status !== 200) throw new Error(`the rtsync server on port ${port} did not come up:\n${cluster.log().slice(-3000)}`);
  } catch (e) {
    cluster.stop();
    throw e;
  }
  return cluster;
}
