// Row-level security benchmark receivers: N graphql-transport-ws connections
// (raw `ws`, as bench/fanout does), spread over several forked processes;
// connection i is user<i> (a token with sub = user<i>, or the API key and a
// filter on owner = user<i>) and subscribes once.
//
// Every row carries its key column (owner text, or team int) and sent_at;
// connection i expects
//   MODE=owner  the rows whose owner is user<i>, and no other;
//   MODE=all    every row.
// A row that reaches a connection that should not get it is a wrong delivery,
// whatever the phase; a load row received twice is a duplicate.
//
// Protocol with run.sh (files in CTL_DIR, every wait bounded by WAIT_S):
//   - once every connection got connection_ack and the pong that follows its
//     subscribe, prints "markers U1 U2 ..." (the user index of each process's
//     first connection: run.sh writes marker rows for those users) and then
//     "connected";
//   - CTL_DIR/warm holds the id of the warm-up marker row(s): each process
//     waits until its marker connection(s) saw it (MODE=all: every connection),
//     plus a short grace for sibling sockets, then the parent prints "ready";
//   - CTL_DIR/rows ("id<TAB>key<TAB>sent_at µs", the load rows) then
//     CTL_DIR/load (the last load id): each process waits until every
//     connection has every row it expects; the parent prints "drained MS";
//   - CTL_DIR/fence holds the id of the first fence row: each process waits
//     for its markers to see it, plus the grace, then reports; the parent
//     writes the summary JSON to CTL_DIR/result.json and exits.
//
// Environment: URL N PROCS CTL_DIR WAIT_S MODE (owner|all) AUTH (token|key)
//   SECRET ROLE (for tokens) KEY (for the API key) QUERY (%USER% is replaced
//   by user<i>) FIELD (the subscription field) KEYFIELD (owner|team)
import { createRequire } from 'node:module';
import { fork } from 'node:child_process';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import crypto from 'node:crypto';
import path from 'node:path';

const require = createRequire(new URL('../../test/e2e/package.json', import.meta.url));
const WebSocket = require('ws');

const BUCKET_US = 100; // latency histogram resolution: 0.1 ms
const NBUCKETS = 600001; // up to 60 s; the last bucket holds the overflow
const GRACE_MS = 300; // after a marker: what sibling sockets may still carry

const env = process.env;

function readId(file) {
	if (!existsSync(file)) return null;
	const s = readFileSync(file, 'utf8').trim();
	return /^\d+$/.test(s) ? Number(s) : null;
}

// polls file until it holds an id, then calls fn(id)
function whenFile(file, fn) {
	const t = setInterval(() => {
		const id = readId(file);
		if (id == null) return;
		clearInterval(t);
		fn(id);
	}, 20);
}

// ---------------------------------------------------------------- parent ----
function parent() {
	const n = Number(env.N), procs = Math.max(1, Math.min(Number(env.PROCS), n));
	const ctl = env.CTL_DIR, waitS = Number(env.WAIT_S || 60);
	const kids = [];
	const offsets = [];
	const phase = { connected: 0, ready: 0, drained: 0 };
	const results = [];
	const t0 = Date.now();
	let drainStart = 0;
	const fail = (msg) => {
		console.error('receiver: ' + msg);
		for (const k of kids) k.kill();
		process.exit(2);
	};
	const connectTimer = setTimeout(() => fail(`not connected after 180 s (${phase.connected}/${procs} processes)`), 180000);
	let off = 0;
	for (let i = 0; i < procs; i++) {
		const share = Math.floor(n / procs) + (i < n % procs ? 1 : 0);
		offsets.push(off);
		const k = fork(fileURLToPath(import.meta.url), [], {
			env: { ...env, RLS_CHILD: '1', OFFSET: String(off), COUNT: String(share) },
			stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
		});
		off += share;
		k.on('message', (m) => {
			if (m.type === 'connected') {
				if (++phase.connected === procs) {
					clearTimeout(connectTimer);
					console.log('markers ' + offsets.join(' '));
					console.log('connected');
					whenFile(path.join(ctl, 'warm'), (id) => { for (const c of kids) c.send({ type: 'warm', id }); });
				}
			} else if (m.type === 'ready') {
				if (++phase.ready === procs) {
					console.log('ready');
					whenFile(path.join(ctl, 'load'), (id) => {
						drainStart = Date.now();
						for (const c of kids) c.send({ type: 'load', id, rows: path.join(ctl, 'rows') });
					});
				}
			} else if (m.type === 'drained') {
				if (++phase.drained === procs) {
					console.log(`drained ${Date.now() - drainStart}`);
					whenFile(path.join(ctl, 'fence'), (id) => { for (const c of kids) c.send({ type: 'fence', id }); });
				}
			} else if (m.type === 'result') {
				results.push(m);
				if (results.length === procs) finish();
			} else if (m.type === 'fatal') fail(m.msg);
		});
		k.on('exit', (code) => {
			if (code && results.length < procs) fail(`child exited with ${code}`);
		});
		kids.push(k);
	}
	// everything is bounded: connecting (180 s), then each phase WAIT_S in the
	// children; this is the backstop
	setTimeout(() => fail('no result in time'), 180000 + 4 * (waitS + 30) * 1000).unref();

	function finish() {
		const hist = new Float64Array(NBUCKETS);
		const sum = { n, procs, connections: 0, expected: 0, delivered: 0, missing: 0, wrong: 0, wrongSample: [],
			duplicates: 0, messages: 0, errors: 0, errorSample: [], closeCodes: {}, reachedFence: 0, drainedConns: 0,
			fenceMarkers: 0, fenceMarkersSeen: 0,
			drainTimedOut: false, cpuUserS: 0, cpuSysS: 0, firstRecvMs: Infinity, lastRecvMs: 0,
			connectS: 0 };
		for (const r of results) {
			for (const k of ['connections', 'expected', 'delivered', 'missing', 'wrong', 'duplicates', 'messages', 'errors',
				'reachedFence', 'drainedConns', 'fenceMarkers', 'fenceMarkersSeen']) sum[k] += r[k];
			sum.wrongSample.push(...r.wrongSample);
			sum.errorSample.push(...r.errorSample);
			sum.drainTimedOut ||= r.drainTimedOut;
			sum.cpuUserS += r.cpu.user / 1e6;
			sum.cpuSysS += r.cpu.system / 1e6;
			sum.firstRecvMs = Math.min(sum.firstRecvMs, r.firstRecvMs);
			sum.lastRecvMs = Math.max(sum.lastRecvMs, r.lastRecvMs);
			sum.connectS = Math.max(sum.connectS, r.connectS);
			for (const [c, k] of Object.entries(r.closeCodes)) sum.closeCodes[c] = (sum.closeCodes[c] || 0) + k;
			for (const [b, k] of r.hist) hist[b] += k;
		}
		sum.wrongSample = sum.wrongSample.slice(0, 10);
		sum.errorSample = sum.errorSample.slice(0, 5);
		sum.latencyMs = percentiles(hist);
		if (sum.firstRecvMs === Infinity) sum.firstRecvMs = 0;
		sum.elapsedS = (Date.now() - t0) / 1000;
		writeFileSync(path.join(ctl, 'result.json'), JSON.stringify(sum));
		process.exit(0);
	}
}

// p50, p95, p99 and max of a histogram, in ms (upper bounds of the buckets)
function percentiles(hist) {
	let total = 0;
	for (let b = 0; b < NBUCKETS; b++) total += hist[b];
	const out = { p50: null, p95: null, p99: null, max: null };
	if (!total) return out;
	const want = [['p50', 0.5], ['p95', 0.95], ['p99', 0.99]];
	let acc = 0, w = 0;
	for (let b = 0; b < NBUCKETS && w < want.length; b++) {
		acc += hist[b];
		while (w < want.length && acc >= Math.ceil(total * want[w][1])) { out[want[w][0]] = ((b + 1) * BUCKET_US) / 1000; w++; }
	}
	for (let b = NBUCKETS - 1; b >= 0; b--) if (hist[b]) { out.max = ((b + 1) * BUCKET_US) / 1000; break; }
	return out;
}

// an HS256 JWT
const b64 = (x) => Buffer.from(typeof x === 'string' ? x : JSON.stringify(x)).toString('base64url');
function sign(secret, claims) {
	const input = b64({ alg: 'HS256', typ: 'JWT' }) + '.' + b64(claims);
	return input + '.' + crypto.createHmac('sha256', secret).update(input).digest('base64url');
}

// ----------------------------------------------------------------- child ----
function child() {
	const offset = Number(env.OFFSET), count = Number(env.COUNT), waitS = Number(env.WAIT_S || 60);
	const ownerMode = env.MODE === 'owner';
	const field = env.FIELD, keyField = env.KEYFIELD;
	const hist = new Uint32Array(NBUCKETS);
	const conns = [];
	const closeCodes = {};
	let errors = 0, acked = 0, messages = 0, wrong = 0;
	const wrongSample = [], errorSample = [];
	let firstRecvMs = Infinity, lastRecvMs = 0;
	// the load window: ids in (warmId, loadId] are load rows, above are fence rows
	let warmId = Infinity, loadId = Infinity;
	const t0us = performance.timeOrigin * 1000;
	const nowUs = () => t0us + performance.now() * 1000;
	const re = new RegExp(`"${field}":\\{"id":"?(\\d+)"?,"${keyField}":"?([^",]*)"?,"sent_at":"([^"]+)"`);
	const iat = Math.floor(Date.now() / 1000);
	const ping = JSON.stringify({ type: 'ping' });
	const tConnect = Date.now();
	let connectS = 0;

	function sentUs(s) {
		const ms = Date.parse(s);
		const m = /\.(\d+)/.exec(s);
		let extra = 0;
		if (m && m[1].length > 3) extra = Number((m[1].slice(3) + '000').slice(0, 3));
		return ms * 1000 + extra;
	}

	const expects = (c, key) => (ownerMode ? key === c.user : true);

	function open(i) {
		return new Promise((resolve) => {
			const user = `user${offset + i}`;
			const c = { user, ws: null, gotAck: false, gotPong: false, seen: new Set(), maxId: 0, closed: false,
				expected: null, have: 0, dup: 0 };
			conns[i] = c;
			let done = false;
			const ok = () => { if (!done && c.gotAck && c.gotPong) { done = true; acked++; resolve(); } };
			const payload = env.AUTH === 'token'
				? { Authorization: 'Bearer ' + sign(env.SECRET, { sub: user, role: env.ROLE, iat, exp: iat + 7200 }) }
				: { 'x-api-key': env.KEY };
			const query = env.QUERY.replaceAll('%USER%', user);
			const ws = new WebSocket(env.URL, 'graphql-transport-ws', { perMessageDeflate: false });
			c.ws = ws;
			ws.on('open', () => ws.send(JSON.stringify({ type: 'connection_init', payload })));
			ws.on('message', (data) => {
				const s = data.toString();
				const m = re.exec(s);
				if (m) {
					const now = nowUs();
					const id = Number(m[1]);
					messages++;
					if (id > c.maxId) c.maxId = id;
					if (!expects(c, m[2])) {
						wrong++;
						if (wrongSample.length < 5) wrongSample.push(`${c.user} got id ${id} of ${keyField} ${m[2]}`);
						return;
					}
					if (id <= warmId) return; // warm-up marker
					if (c.seen.has(id)) { c.dup++; return; }
					c.seen.add(id);
					if (id > loadId) return; // a fence row
					if (c.expected && c.expected.has(id)) c.have++;
					let b = Math.floor((now - sentUs(m[3])) / BUCKET_US);
					if (b < 0) b = 0; else if (b >= NBUCKETS) b = NBUCKETS - 1;
					hist[b]++;
					const ms = now / 1000;
					if (ms < firstRecvMs) firstRecvMs = ms;
					lastRecvMs = ms;
					return;
				}
				let msg;
				try { msg = JSON.parse(s); } catch { errors++; return; }
				if (msg.type === 'connection_ack') {
					c.gotAck = true;
					ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query } }));
					ws.send(ping);
				} else if (msg.type === 'pong') { c.gotPong = true; ok(); }
				else if (msg.type === 'ping') ws.send(JSON.stringify({ type: 'pong' }));
				else {
					errors++;
					if (errorSample.length < 3) errorSample.push(`${c.user}: ${s.slice(0, 300)}`);
				}
			});
			ws.on('error', (e) => { errors++; if (errorSample.length < 3) errorSample.push(`${c.user}: ws error ${e.message}`); });
			ws.on('close', (code) => {
				c.closed = true;
				closeCodes[code] = (closeCodes[code] || 0) + 1;
				if (!done) { done = true; resolve(); }
			});
		});
	}

	async function main() {
		const BATCH = 100;
		for (let i = 0; i < count; i += BATCH) {
			const ps = [];
			for (let j = i; j < Math.min(count, i + BATCH); j++) ps.push(open(j));
			await Promise.all(ps);
		}
		if (acked !== count) {
			process.send({ type: 'fatal', msg: `only ${acked}/${count} connections acked; close codes ${JSON.stringify(closeCodes)}; ${errorSample.join(' | ')}` });
			return;
		}
		connectS = (Date.now() - tConnect) / 1000;
		process.send({ type: 'connected' });
	}

	// waits until the marker connections saw a row above low (MODE=all: every
	// connection; owner: this process's first connection, the only one the
	// marker rows of this process reach), then the grace; bounded by WAIT_S
	function afterMarker(low, what, fn) {
		const deadline = Date.now() + waitS * 1000;
		const markers = ownerMode ? [conns[0]] : conns;
		const check = () => {
			if (markers.every((c) => c.closed || c.maxId > low)) setTimeout(() => fn(true), GRACE_MS);
			else if (Date.now() > deadline) {
				console.error(`receiver: ${what} row not seen by ${markers.filter((c) => c.maxId <= low).length} connection(s) after ${waitS} s`);
				fn(false);
			} else setTimeout(check, 10);
		};
		check();
	}

	let cpu0 = null, drainTimedOut = false;
	process.on('message', (m) => {
		if (m.type === 'warm') {
			warmId = m.id;
			afterMarker(0, 'warm-up', (ok) => {
				if (!ok) { process.send({ type: 'fatal', msg: 'the warm-up row did not arrive: are the subscriptions live?' }); return; }
				cpu0 = process.cpuUsage();
				process.send({ type: 'ready' });
			});
		} else if (m.type === 'load') {
			loadId = m.id;
			// each connection's expected load rows
			const lines = readFileSync(m.rows, 'utf8').split('\n').filter(Boolean);
			for (const c of conns) { c.expected = new Set(); c.have = 0; }
			for (const l of lines) {
				const [idS, key] = l.split('\t');
				const id = Number(idS);
				for (const c of conns) if (expects(c, key)) c.expected.add(id);
			}
			for (const c of conns) for (const id of c.seen) if (c.expected.has(id)) c.have++;
			const deadline = Date.now() + waitS * 1000;
			const check = () => {
				if (conns.every((c) => c.closed || c.have >= c.expected.size)) process.send({ type: 'drained' });
				else if (Date.now() > deadline) {
					drainTimedOut = true;
					console.error(`receiver: not every load row arrived within ${waitS} s`);
					process.send({ type: 'drained' });
				} else setTimeout(check, 10);
			};
			check();
		} else if (m.type === 'fence') {
			afterMarker(loadId, 'fence', () => report());
		}
	});

	function report() {
		const cpu = process.cpuUsage(cpu0);
		let expected = 0, delivered = 0, duplicates = 0, reachedFence = 0, drainedConns = 0, fenceMarkersSeen = 0;
		for (const c of conns) {
			const exp = c.expected || new Set();
			expected += exp.size;
			let got = 0;
			for (const id of c.seen) if (exp.has(id)) got++;
			delivered += got;
			duplicates += c.dup;
			if (c.maxId > loadId) reachedFence++;
			if ((ownerMode ? c === conns[0] : true) && c.maxId > loadId) fenceMarkersSeen++;
			if (c.have >= exp.size) drainedConns++;
		}
		const sparse = [];
		for (let b = 0; b < NBUCKETS; b++) if (hist[b]) sparse.push([b, hist[b]]);
		for (const c of conns) { c.ws.removeAllListeners('close'); c.ws.terminate(); }
		process.send({ type: 'result', connections: count, expected, delivered, missing: expected - delivered, wrong, wrongSample,
			duplicates, messages, errors, errorSample, closeCodes, reachedFence, drainedConns, drainTimedOut, cpu,
			fenceMarkers: ownerMode ? 1 : count, fenceMarkersSeen, firstRecvMs, lastRecvMs, connectS, hist: sparse }, () => process.exit(0));
	}

	main().catch((e) => { process.send({ type: 'fatal', msg: String((e && e.stack) || e) }); });
}

if (env.RLS_CHILD) child();
else parent();
