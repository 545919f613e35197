// Fan-out benchmark receivers: N raw graphql-transport-ws connections to
// rtsync, each subscribed to onCreateFanoutItem, spread over several forked
// processes. Protocol with run.sh (all through files, bounded):
//   - prints "ready" on stdout once every connection got connection_ack and
//     pong (and the CPU clocks are reset then);
//   - polls FENCE_FILE for the fence id, then waits (at most WAIT_S seconds)
//     until every connection saw it, and writes a JSON summary to RESULT_FILE.
//
// Usage: node subscribers.mjs URL KEY N PROCS FENCE_FILE RESULT_FILE [WAIT_S]
import { createRequire } from 'node:module';
import { fork } from 'node:child_process';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const require = createRequire(new URL('../../test/e2e/package.json', import.meta.url));
const WebSocket = require('ws');

const BUCKET_US = 100; // latency histogram resolution: 0.1 ms
const NBUCKETS = 600001; // up to 60 s; the last bucket holds the overflow

if (process.env.FANOUT_CHILD) child();
else parent();

// ---------------------------------------------------------------- parent ----
function parent() {
	const [url, key, nStr, procsStr, fenceFile, resultFile, waitStr] = process.argv.slice(2);
	const n = Number(nStr);
	const procs = Math.max(1, Math.min(Number(procsStr), n));
	const waitS = Number(waitStr || 30);
	const kids = [];
	let ready = 0;
	const results = [];
	const failTimer = setTimeout(() => {
		console.error(`subscribers: not ready after 180 s (${ready}/${procs} processes)`);
		for (const k of kids) k.kill();
		process.exit(2);
	}, 180000);
	for (let i = 0; i < procs; i++) {
		const share = Math.floor(n / procs) + (i < n % procs ? 1 : 0);
		const k = fork(fileURLToPath(import.meta.url), [], {
			env: { ...process.env, FANOUT_CHILD: '1', URL: url, KEY: key, COUNT: String(share), WAIT_S: String(waitS) },
			stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
		});
		k.on('message', (m) => {
			if (m.type === 'ready') {
				if (++ready === procs) {
					clearTimeout(failTimer);
					for (const c of kids) c.send({ type: 'go' });
					console.log('ready');
					pollFence();
				}
			} else if (m.type === 'result') {
				results.push(m);
				if (results.length === procs) finish();
			} else if (m.type === 'fatal') {
				console.error('subscribers: ' + m.msg);
				for (const c of kids) c.kill();
				process.exit(2);
			}
		});
		k.on('exit', (code) => {
			if (code && results.length < procs) {
				console.error(`subscribers: child exited with ${code}`);
				for (const c of kids) c.kill();
				process.exit(2);
			}
		});
		kids.push(k);
	}

	function pollFence() {
		const t = setInterval(() => {
			if (!existsSync(fenceFile)) return;
			const fence = readFileSync(fenceFile, 'utf8').trim();
			if (!/^\d+$/.test(fence)) return;
			clearInterval(t);
			for (const c of kids) c.send({ type: 'fence', fence: Number(fence) });
		}, 50);
	}

	function finish() {
		const hist = new Float64Array(NBUCKETS);
		const sum = { n, procs, connections: 0, delivered: 0, duplicates: 0, reachedFence: 0,
			minPerConn: Infinity, maxPerConn: 0, cpuUserS: 0, cpuSysS: 0, closeCodes: {}, errors: 0,
			firstRecvMs: Infinity, lastRecvMs: 0, waitedMs: 0 };
		for (const r of results) {
			sum.connections += r.connections;
			sum.delivered += r.delivered;
			sum.duplicates += r.duplicates;
			sum.reachedFence += r.reachedFence;
			sum.minPerConn = Math.min(sum.minPerConn, r.minPerConn);
			sum.maxPerConn = Math.max(sum.maxPerConn, r.maxPerConn);
			sum.cpuUserS += r.cpu.user / 1e6;
			sum.cpuSysS += r.cpu.system / 1e6;
			sum.errors += r.errors;
			sum.firstRecvMs = Math.min(sum.firstRecvMs, r.firstRecvMs);
			sum.lastRecvMs = Math.max(sum.lastRecvMs, r.lastRecvMs);
			sum.waitedMs = Math.max(sum.waitedMs, r.waitedMs);
			for (const [c, k] of Object.entries(r.closeCodes)) sum.closeCodes[c] = (sum.closeCodes[c] || 0) + k;
			for (const [b, k] of r.hist) hist[b] += k;
		}
		const total = hist.reduce((a, b) => a + b, 0);
		const pct = (p) => {
			if (!total) return null;
			const target = Math.ceil(total * p);
			let acc = 0;
			for (let b = 0; b < NBUCKETS; b++) {
				acc += hist[b];
				if (acc >= target) return ((b + 1) * BUCKET_US) / 1000; // upper bound of the bucket, ms
			}
			return null;
		};
		let maxB = -1;
		for (let b = NBUCKETS - 1; b >= 0; b--) if (hist[b]) { maxB = b; break; }
		sum.latencyMs = { p50: pct(0.5), p99: pct(0.99), max: maxB < 0 ? null : ((maxB + 1) * BUCKET_US) / 1000 };
		if (sum.minPerConn === Infinity) sum.minPerConn = 0;
		writeFileSync(resultFile, JSON.stringify(sum));
		process.exit(0);
	}
}

// ----------------------------------------------------------------- child ----
function child() {
	const url = process.env.URL, key = process.env.KEY;
	const count = Number(process.env.COUNT), waitS = Number(process.env.WAIT_S);
	const hist = new Uint32Array(NBUCKETS);
	const conns = [];
	const closeCodes = {};
	let errors = 0, acked = 0, started = false;
	let firstRecvMs = Infinity, lastRecvMs = 0;
	// now in microseconds since the epoch, finer than Date.now()
	const t0us = performance.timeOrigin * 1000;
	const nowUs = () => t0us + performance.now() * 1000;
	const re = /"onCreateFanoutItem":\{"id":"?(\d+)"?,"sent_at":"([^"]+)"/;
	const init = JSON.stringify({ type: 'connection_init', payload: { 'x-api-key': key } });
	const sub = JSON.stringify({ id: '1', type: 'subscribe', payload: { query: 'subscription { onCreateFanoutItem { id sent_at } }' } });
	const ping = JSON.stringify({ type: 'ping' });

	// sent_at like 2024-05-01T12:00:00.123456Z (or +00:00): ms from Date.parse,
	// the extra microsecond digits by hand
	function sentUs(s) {
		const ms = Date.parse(s);
		const m = /\.(\d+)/.exec(s);
		let extra = 0;
		if (m && m[1].length > 3) extra = Number((m[1].slice(3) + '000').slice(0, 3));
		return ms * 1000 + extra;
	}

	// records id on the connection's bitmap; true when it was already there
	function markSeen(c, id) {
		if (c.base < 0) c.base = id;
		let off = id - c.base;
		if (off < 0) { // older than the first id seen: shift the bitmap
			const shift = (-off + 7) & ~7;
			const nb = new Uint8Array(c.bits.length + shift / 8);
			nb.set(c.bits, shift / 8);
			c.bits = nb; c.base -= shift; off += shift;
		}
		while ((off >> 3) >= c.bits.length) { const nb = new Uint8Array(c.bits.length * 2); nb.set(c.bits); c.bits = nb; }
		const was = c.bits[off >> 3] & (1 << (off & 7));
		c.bits[off >> 3] |= 1 << (off & 7);
		return was !== 0;
	}

	function open(i) {
		return new Promise((resolve) => {
			const c = { ws: null, gotAck: false, gotPong: false, count: 0, maxId: 0, base: -1, bits: new Uint8Array(1024), dup: 0, closed: false };
			conns[i] = c;
			let done = false;
			const ok = () => { if (!done && c.gotAck && c.gotPong) { done = true; acked++; resolve(); } };
			const ws = new WebSocket(url, 'graphql-transport-ws', { perMessageDeflate: false });
			c.ws = ws;
			ws.on('open', () => { ws.send(init); });
			ws.on('message', (data) => {
				const s = data.toString();
				const m = re.exec(s);
				if (m) {
					const now = nowUs();
					const id = Number(m[1]);
					if (markSeen(c, id)) c.dup++;
					c.count++;
					if (id > c.maxId) c.maxId = id;
					let b = Math.floor((now - sentUs(m[2])) / BUCKET_US);
					if (b < 0) b = 0; else if (b >= NBUCKETS) b = NBUCKETS - 1;
					hist[b]++;
					const ms = now / 1000;
					if (ms < firstRecvMs) firstRecvMs = ms;
					lastRecvMs = ms;
					return;
				}
				let msg;
				try { msg = JSON.parse(s); } catch { errors++; return; }
				if (msg.type === 'connection_ack') { c.gotAck = true; ws.send(sub); ws.send(ping); }
				else if (msg.type === 'pong') { c.gotPong = true; ok(); }
				else if (msg.type === 'ping') ws.send(JSON.stringify({ type: 'pong' }));
				else if (msg.type === 'next') { errors++; } // unexpected shape
				else { errors++; if (errors < 5) console.error('subscribers: unexpected ' + s.slice(0, 300)); }
			});
			ws.on('error', (e) => { errors++; if (errors < 5) console.error('subscribers: ws error ' + e.message); });
			ws.on('close', (code) => {
				c.closed = true;
				closeCodes[code] = (closeCodes[code] || 0) + 1;
				if (!done) { done = true; resolve(); }
			});
		});
	}

	async function main() {
		const BATCH = 200;
		for (let i = 0; i < count; i += BATCH) {
			const ps = [];
			for (let j = i; j < Math.min(count, i + BATCH); j++) ps.push(open(j));
			await Promise.all(ps);
		}
		if (acked !== count) {
			process.send({ type: 'fatal', msg: `only ${acked}/${count} connections acked; close codes ${JSON.stringify(closeCodes)}` });
			return;
		}
		process.send({ type: 'ready' });
	}

	let cpu0 = null, fenceWaitStart = 0;
	process.on('message', (m) => {
		if (m.type === 'go') { cpu0 = process.cpuUsage(); started = true; }
		else if (m.type === 'fence') {
			fenceWaitStart = Date.now();
			const deadline = fenceWaitStart + waitS * 1000;
			const check = () => {
				const all = conns.every((c) => c.closed || c.maxId >= m.fence);
				if (all || Date.now() > deadline) report(m.fence);
				else setTimeout(check, 20);
			};
			check();
		}
	});

	function report(fence) {
		const cpu = process.cpuUsage(cpu0);
		let delivered = 0, duplicates = 0, reachedFence = 0, minPerConn = Infinity, maxPerConn = 0;
		for (const c of conns) {
			delivered += c.count;
			duplicates += c.dup;
			if (c.maxId >= fence) reachedFence++;
			minPerConn = Math.min(minPerConn, c.count);
			maxPerConn = Math.max(maxPerConn, c.count);
		}
		const sparse = [];
		for (let b = 0; b < NBUCKETS; b++) if (hist[b]) sparse.push([b, hist[b]]);
		const waitedMs = Date.now() - fenceWaitStart;
		// close our sockets first, so their close codes are not counted
		for (const c of conns) { c.ws.removeAllListeners('close'); c.ws.terminate(); }
		process.send({ type: 'result', connections: count, delivered, duplicates, reachedFence,
			minPerConn, maxPerConn, cpu, closeCodes, errors, firstRecvMs, lastRecvMs, waitedMs, hist: sparse }, () => process.exit(0));
	}

	main().catch((e) => { process.send({ type: 'fatal', msg: String(e && e.stack || e) }); });
}
