// Fan-out benchmark receivers: N raw graphql-transport-ws connections, spread
// over several forked processes, to one of two servers (MODE):
//   rtsync        each connection subscribes to onCreateFanoutItem: one message
//                 per inserted row;
//   postgraphile  each connection runs a PostGraphile v4 live query for the
//                 WINDOW newest rows (allFanoutItems(orderBy: ID_DESC, first:
//                 WINDOW)); PostGraphile re-runs it and sends the whole result
//                 when the table changes (throttled). Every row id a connection
//                 sees for the first time counts as delivered, its latency taken
//                 at that receipt; a result that brings no new id is a repeat
//                 (counted as a duplicate).
// Protocol with run.sh (all through files, bounded):
//   - prints "ready" on stdout once every connection got connection_ack and
//     pong (and, for live queries, the initial result), and the CPU clocks
//     are reset then;
//   - polls FENCE_FILE for the fence id, then waits (at most WAIT_S seconds)
//     until every connection saw it, and writes a JSON summary to RESULT_FILE.
//     run.sh writes FENCE_FILE.rows first: "id<TAB>sent_at in µs since the
//     epoch" for every row of the run, from which each connection's catch-up
//     latency is computed: for every row, the time from its sent_at until the
//     connection first received a message carrying that row or a newer one
//     (for rtsync that is the row's own receipt; for a live query it also
//     covers the rows it skipped, which the receipt latency cannot).
//
// Usage: node subscribers.mjs URL KEY N PROCS FENCE_FILE RESULT_FILE [WAIT_S [MODE [WINDOW]]]
//   MODE rtsync (default) or postgraphile; WINDOW rows per live result (1)
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
	const [url, key, nStr, procsStr, fenceFile, resultFile, waitStr, modeArg, windowStr] = process.argv.slice(2);
	const mode = modeArg || 'rtsync';
	const window = Math.max(1, Number(windowStr || 1));
	if (mode !== 'rtsync' && mode !== 'postgraphile') {
		console.error('subscribers: MODE must be rtsync or postgraphile');
		process.exit(2);
	}
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
			env: { ...process.env, FANOUT_CHILD: '1', URL: url, KEY: key, COUNT: String(share), WAIT_S: String(waitS),
				MODE: mode, WINDOW: String(window) },
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
			for (const c of kids) c.send({ type: 'fence', fence: Number(fence), rows: fenceFile + '.rows' });
		}, 50);
	}

	function finish() {
		const hist = new Float64Array(NBUCKETS);
		const catchHist = new Float64Array(NBUCKETS);
		const sum = { mode, window, n, procs, connections: 0, delivered: 0, results: 0, duplicates: 0, reachedFence: 0,
			caughtUp: 0, notCaughtUp: 0,
			minPerConn: Infinity, maxPerConn: 0, cpuUserS: 0, cpuSysS: 0, closeCodes: {}, errors: 0,
			firstRecvMs: Infinity, lastRecvMs: 0, waitedMs: 0 };
		for (const r of results) {
			sum.connections += r.connections;
			sum.delivered += r.delivered;
			sum.results += r.results;
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
			sum.caughtUp += r.caughtUp;
			sum.notCaughtUp += r.notCaughtUp;
			for (const [b, k] of r.hist) hist[b] += k;
			for (const [b, k] of r.catchHist) catchHist[b] += k;
		}
		sum.latencyMs = percentiles(hist);
		sum.catchUpMs = percentiles(catchHist);
		if (sum.minPerConn === Infinity) sum.minPerConn = 0;
		writeFileSync(resultFile, JSON.stringify(sum));
		process.exit(0);
	}
}

// p50, p99 and max of a histogram, in ms (upper bounds of the buckets)
function percentiles(hist) {
	const total = hist.reduce((a, b) => a + b, 0);
	const pct = (p) => {
		if (!total) return null;
		const target = Math.ceil(total * p);
		let acc = 0;
		for (let b = 0; b < NBUCKETS; b++) {
			acc += hist[b];
			if (acc >= target) return ((b + 1) * BUCKET_US) / 1000;
		}
		return null;
	};
	let maxB = -1;
	for (let b = NBUCKETS - 1; b >= 0; b--) if (hist[b]) { maxB = b; break; }
	return { p50: pct(0.5), p99: pct(0.99), max: maxB < 0 ? null : ((maxB + 1) * BUCKET_US) / 1000 };
}

// ----------------------------------------------------------------- child ----
function child() {
	const url = process.env.URL, key = process.env.KEY;
	const count = Number(process.env.COUNT), waitS = Number(process.env.WAIT_S);
	const live = process.env.MODE === 'postgraphile';
	const window = Number(process.env.WINDOW || 1);
	const hist = new Uint32Array(NBUCKETS);
	const catchHist = new Uint32Array(NBUCKETS);
	const conns = [];
	const closeCodes = {};
	let errors = 0, acked = 0, started = false;
	let firstRecvMs = Infinity, lastRecvMs = 0;
	// now in microseconds since the epoch, finer than Date.now()
	const t0us = performance.timeOrigin * 1000;
	const nowUs = () => t0us + performance.now() * 1000;
	const re = /"onCreateFanoutItem":\{"id":"?(\d+)"?,"sent_at":"([^"]+)"/;
	// PostGraphile: bigint ids come as strings, rows newest first
	const reLive = /\{"id":"(\d+)","sentAt":"([^"]+)"\}/g;
	const init = JSON.stringify({ type: 'connection_init', payload: live ? {} : { 'x-api-key': key } });
	const query = live
		? `subscription { allFanoutItems(orderBy: ID_DESC, first: ${window}) { nodes { id sentAt } } }`
		: 'subscription { onCreateFanoutItem { id sent_at } }';
	const sub = JSON.stringify({ id: '1', type: 'subscribe', payload: { query } });
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

	// the connection's high-water marks: when it first saw an id above all
	// earlier ones (for the catch-up latency)
	function highWater(c, now) {
		if (c.maxId <= c.hwMax) return;
		if (c.hwLen === c.hwId.length) {
			const t = new Float64Array(c.hwLen * 2), id = new Float64Array(c.hwLen * 2);
			t.set(c.hwT); id.set(c.hwId); c.hwT = t; c.hwId = id;
		}
		c.hwT[c.hwLen] = now; c.hwId[c.hwLen] = c.maxId; c.hwLen++;
		c.hwMax = c.maxId;
	}

	function record(now, sentAt) {
		let b = Math.floor((now - sentUs(sentAt)) / BUCKET_US);
		if (b < 0) b = 0; else if (b >= NBUCKETS) b = NBUCKETS - 1;
		hist[b]++;
		const ms = now / 1000;
		if (ms < firstRecvMs) firstRecvMs = ms;
		lastRecvMs = ms;
	}

	// one live-query result: the first one is the initial result (sent before
	// "go"), whose rows only mark what the connection already knows
	function liveResult(c, s) {
		if (s.includes('"errors"')) { errors++; if (errors < 5) console.error('subscribers: ' + s.slice(0, 300)); return; }
		const now = nowUs();
		let fresh = 0;
		reLive.lastIndex = 0;
		for (let m; (m = reLive.exec(s));) {
			const id = Number(m[1]);
			if (markSeen(c, id)) continue;
			if (id > c.maxId) c.maxId = id;
			if (!started) continue;
			fresh++;
			c.count++;
			record(now, m[2]);
		}
		if (!c.gotInitial) { c.gotInitial = true; c.hwMax = c.maxId; return; }
		if (!started) { c.hwMax = c.maxId; return; }
		highWater(c, now);
		c.results++;
		if (!fresh) c.dup++;
	}

	function open(i) {
		return new Promise((resolve) => {
			const c = { ws: null, gotAck: false, gotPong: false, gotInitial: !live, count: 0, results: 0, maxId: 0, base: -1,
				bits: new Uint8Array(1024), dup: 0, closed: false,
				hwMax: 0, hwLen: 0, hwT: new Float64Array(64), hwId: new Float64Array(64) };
			conns[i] = c;
			let done = false;
			const ok = () => { if (!done && c.gotAck && c.gotPong && c.gotInitial) { done = true; acked++; resolve(); } };
			const ws = new WebSocket(url, 'graphql-transport-ws', { perMessageDeflate: false });
			c.ws = ws;
			ws.on('open', () => { ws.send(init); });
			ws.on('message', (data) => {
				const s = data.toString();
				if (live && s.startsWith('{"id":"1","type":"next"')) { liveResult(c, s); ok(); return; }
				const m = live ? null : re.exec(s);
				if (m) {
					const now = nowUs();
					const id = Number(m[1]);
					if (markSeen(c, id)) c.dup++;
					c.count++;
					c.results++;
					if (id > c.maxId) c.maxId = id;
					highWater(c, now);
					record(now, m[2]);
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
				if (all || Date.now() > deadline) report(m.fence, m.rows);
				else setTimeout(check, 20);
			};
			check();
		}
	});

	function report(fence, rowsFile) {
		const cpu = process.cpuUsage(cpu0);
		// catch-up latency of every row on every connection: a merge of the
		// rows (id order) with the connection's high-water marks (id order)
		const lines = rowsFile && existsSync(rowsFile) ? readFileSync(rowsFile, 'utf8').split('\n').filter(Boolean) : [];
		const rowId = new Float64Array(lines.length), rowSent = new Float64Array(lines.length);
		lines.forEach((l, i) => { const [id, us] = l.split('\t'); rowId[i] = Number(id); rowSent[i] = Number(us); });
		let caughtUp = 0, notCaughtUp = 0;
		for (const c of conns) {
			let j = 0;
			for (let i = 0; i < rowId.length; i++) {
				while (j < c.hwLen && c.hwId[j] < rowId[i]) j++;
				if (j === c.hwLen) { notCaughtUp += rowId.length - i; break; }
				let b = Math.floor((c.hwT[j] - rowSent[i]) / BUCKET_US);
				if (b < 0) b = 0; else if (b >= NBUCKETS) b = NBUCKETS - 1;
				catchHist[b]++;
				caughtUp++;
			}
		}
		const catchSparse = [];
		for (let b = 0; b < NBUCKETS; b++) if (catchHist[b]) catchSparse.push([b, catchHist[b]]);
		let delivered = 0, results = 0, duplicates = 0, reachedFence = 0, minPerConn = Infinity, maxPerConn = 0;
		for (const c of conns) {
			delivered += c.count;
			results += c.results;
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
		process.send({ type: 'result', connections: count, delivered, results, duplicates, reachedFence,
			minPerConn, maxPerConn, cpu, closeCodes, errors, firstRecvMs, lastRecvMs, waitedMs, hist: sparse,
			caughtUp, notCaughtUp, catchHist: catchSparse }, () => process.exit(0));
	}

	main().catch((e) => { process.send({ type: 'fatal', msg: String(e && e.stack || e) }); });
}
