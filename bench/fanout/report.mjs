// Fan-out benchmark report: reads the JSON lines run.sh appends, one per
// configuration and server, and prints markdown.
//
// Usage: node report.mjs row SUMMARY_FILE     the last line as a table row
//        node report.mjs tables SUMMARY_FILE  one table per server, then the
//                                             rtsync / PostGraphile ratios
import { readFileSync } from 'node:fs';

const [what, file] = process.argv.slice(2);
const runs = readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));

const NAMES = { rtsync: 'rtsync', postgraphile: 'PostGraphile' };
const int = (x) => Math.round(x).toLocaleString('en-US');
const ms = (x) => (x == null ? '–' : x >= 60000 ? '≥60000' : x.toFixed(1));
const key = (r) => `${r.n}/${r.r}/${r.d}`;
const label = (r) => (r.target === 'postgraphile' && r.window > 1 ? `PostGraphile (window ${r.window})` : NAMES[r.target]);

const header = '| server | N | R (/s) | D (s) | changes | delivered / expected | results | dup | closes | receipt p50 / p99 / max ms | catch-up p50 / p99 / max ms | caught up | received msg/s | server CPU s | PostgreSQL CPU s | server RSS idle / peak / after MB | receivers CPU s (procs) | pgbench tps |';
const sep = '|---|---:|---:|---:|---:|---|---:|---:|---|---|---|---|---:|---:|---:|---|---|---:|';
const lat = (l) => (l ? `${ms(l.p50)} / ${ms(l.p99)} / ${ms(l.max)}` : '–');

function row(r) {
	if (r.failed) return `| ${label(r)} | ${r.n} | ${r.r} | ${r.d} | failed: ${r.failed} |||||||||||||`;
	const exp = r.connections * r.changes;
	const pct = exp ? ((100 * r.delivered) / exp).toFixed(2) : '–';
	const closes = Object.entries(r.closeCodes).map(([c, k]) => `${c}×${k}`).join(', ') || 'none';
	const span = (r.lastRecvMs - r.firstRecvMs) / 1000;
	const mps = span > 0 ? int(r.results / span) : '–';
	const pairs = r.caughtUp + r.notCaughtUp;
	const caught = pairs ? `${((100 * r.caughtUp) / pairs).toFixed(2)}%` : '–';
	return `| ${label(r)} | ${int(r.connections)} | ${r.r} | ${r.d} | ${int(r.changes)} | ${int(r.delivered)} / ${int(exp)} (${pct}%) | ${int(r.results)} | ${int(r.duplicates)} | ${closes} | ${lat(r.latencyMs)} | ${lat(r.catchUpMs)} | ${caught} | ${mps} | ${r.serverCpuS.toFixed(2)} | ${r.pgCpuS.toFixed(2)} | ${r.rssIdleMb} / ${r.rssPeakMb} / ${r.rssAfterMb} | ${(r.cpuUserS + r.cpuSysS).toFixed(2)} (${r.procs}) | ${r.tps} |`;
}

// rtsync / PostGraphile, to two places; "0 / 0" when both are zero
function ratio(a, b) {
	if (a == null || b == null) return '–';
	if (b === 0) return a === 0 ? '0 / 0' : '∞';
	const x = a / b;
	return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
}

const lratio = (a, b) => (a && b ? `${ratio(a.p50, b.p50)} / ${ratio(a.p99, b.p99)} / ${ratio(a.max, b.max)}` : '–');

function ratios() {
	const lines = [
		'| N | R (/s) | D (s) | against | receipt p50 / p99 / max | catch-up p50 / p99 / max | delivered / expected | dup | server CPU s | server RSS peak | server RSS after | PostgreSQL CPU s | server + PostgreSQL CPU s |',
		'|---:|---:|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|',
	];
	for (const a of runs.filter((r) => r.target === 'rtsync' && !r.failed)) {
		for (const b of runs.filter((r) => r.target === 'postgraphile' && key(r) === key(a))) {
			if (b.failed) {
				lines.push(`| ${a.n} | ${a.r} | ${a.d} | ${label(b)} | PostGraphile failed: ${b.failed} ||||||||`);
				continue;
			}
			const frac = (r) => r.delivered / (r.connections * r.changes);
			lines.push(`| ${int(a.connections)} | ${a.r} | ${a.d} | ${label(b)} | ${lratio(a.latencyMs, b.latencyMs)} | ${lratio(a.catchUpMs, b.catchUpMs)} | ${ratio(frac(a), frac(b))} | ${ratio(a.duplicates, b.duplicates)} | ${ratio(a.serverCpuS, b.serverCpuS)} | ${ratio(Number(a.rssPeakMb), Number(b.rssPeakMb))} | ${ratio(Number(a.rssAfterMb), Number(b.rssAfterMb))} | ${ratio(a.pgCpuS, b.pgCpuS)} | ${ratio(a.serverCpuS + a.pgCpuS, b.serverCpuS + b.pgCpuS)} |`);
		}
	}
	return lines.length > 2 ? lines.join('\n') : null;
}

if (what === 'row') {
	console.log(row(runs[runs.length - 1]));
} else if (what === 'tables') {
	const out = [header, sep, ...runs.map(row)];
	const rt = ratios();
	if (rt) out.push('', 'Ratios rtsync / PostGraphile (below 1: rtsync lower; for delivered, above 1: rtsync delivered more):', '', rt);
	console.log(out.join('\n'));
} else {
	console.error('usage: node report.mjs row|tables SUMMARY_FILE');
	process.exit(2);
}
