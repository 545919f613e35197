// Row-level security benchmark report: reads the JSON lines run.sh appends,
// one per scenario, and prints markdown.
//
// Usage: node report.mjs row SUMMARY_FILE     the last line as a table row
//        node report.mjs tables SUMMARY_FILE  the table, then RLS / baseline
import { readFileSync } from 'node:fs';

const [what, file] = process.argv.slice(2);
const runs = readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));

const int = (x) => Math.round(x).toLocaleString('en-US');
const ms = (x) => (x == null ? '–' : x >= 60000 ? '≥60000' : x.toFixed(1));
const lat = (l) => (l ? `${ms(l.p50)} / ${ms(l.p95)} / ${ms(l.p99)} / ${ms(l.max)}` : '–');
const perChangeUs = (r, cpu) => (r.changes ? (1e6 * cpu) / r.changes : null);
const us = (x) => (x == null ? '–' : x >= 100 ? int(x) : x.toFixed(1));

const header = '| scenario | N | R (/s) | D (s) | changes | delivered / expected | missing | wrong | dup | errors / closes | p50 / p95 / p99 / max ms | delivered msg/s | worker CPU s | worker µs / change | pool CPU s | other PG CPU s | RLS checks / change | SQL statements / change | RLS denied / change | measured s (drain after load ms) | receivers CPU s (procs) | pgbench tps |';
const sep = '|---|---:|---:|---:|---:|---|---:|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---:|';

function row(r) {
	if (r.failed) return `| ${r.scenario} | failed: ${r.failed} ||||||||||||||||||||`;
	const pct = r.expected ? ((100 * r.delivered) / r.expected).toFixed(2) : '–';
	const closes = Object.entries(r.closeCodes).map(([c, k]) => `${c}×${k}`).join(', ') || 'none';
	const span = (r.lastRecvMs - r.firstRecvMs) / 1000;
	const mps = span > 0 ? int(r.delivered / span) : '–';
	const per = (x) => (r.changes ? (x / r.changes).toFixed(1) : '–');
	return `| ${r.scenario} | ${int(r.connections)} | ${r.r} | ${r.d} | ${int(r.changes)} | ${int(r.delivered)} / ${int(r.expected)} (${pct}%) | ${int(r.missing)} | ${int(r.wrong)} | ${int(r.duplicates)} | ${r.errors} / ${closes}${r.slowClosed ? ` (${r.slowClosed} slow-closed)` : ''} | ${lat(r.latencyMs)} | ${mps} | ${r.workerCpuS.toFixed(2)} | ${us(perChangeUs(r, r.workerCpuS))} | ${r.poolCpuS.toFixed(2)} | ${r.pgCpuS.toFixed(2)} | ${per(r.rlsChecks)} | ${Number.isFinite(r.rlsStatements) ? per(r.rlsStatements) : '–'} | ${per(r.rlsDenied)} | ${r.measuredS.toFixed(1)} (${int(r.drainMs)}) | ${(r.cpuUserS + r.cpuSysS).toFixed(2)} (${r.procs}) | ${r.tps} |`;
}

function ratio(a, b) {
	if (a == null || b == null) return '–';
	if (b === 0) return a === 0 ? '0 / 0' : '∞';
	const x = a / b;
	return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
}

const PAIRS = [['owner-rls', 'owner-filter', 'A: owner policy / owner filter'], ['membership-rls', 'membership-open', 'B: membership policy / no RLS']];

function ratios() {
	const lines = [
		'| pair | worker CPU / change | worker + pool CPU / change | p50 | p95 | p99 | delivered fraction |',
		'|---|---:|---:|---:|---:|---:|---:|',
	];
	for (const [x, y, label] of PAIRS) {
		const a = runs.find((r) => r.scenario === x && !r.failed), b = runs.find((r) => r.scenario === y && !r.failed);
		if (!a || !b) continue;
		const frac = (r) => (r.expected ? r.delivered / r.expected : null);
		lines.push(`| ${label} | ${ratio(perChangeUs(a, a.workerCpuS), perChangeUs(b, b.workerCpuS))} | ${ratio(perChangeUs(a, a.workerCpuS + a.poolCpuS), perChangeUs(b, b.workerCpuS + b.poolCpuS))} | ${ratio(a.latencyMs.p50, b.latencyMs.p50)} | ${ratio(a.latencyMs.p95, b.latencyMs.p95)} | ${ratio(a.latencyMs.p99, b.latencyMs.p99)} | ${ratio(frac(a), frac(b))} |`);
	}
	return lines.length > 2 ? lines.join('\n') : null;
}

function notes() {
	const out = [];
	for (const r of runs) {
		if (r.failed) continue;
		if (r.wrongSample?.length) out.push(`- ${r.scenario}: wrong deliveries, e.g. ${r.wrongSample.slice(0, 3).join('; ')}`);
		if (r.errorSample?.length) out.push(`- ${r.scenario}: receiver errors, e.g. ${r.errorSample.slice(0, 2).join('; ')}`);
		if (r.drainTimedOut) out.push(`- ${r.scenario}: not every expected row had arrived when the wait ran out`);
		if (r.fenceMarkersSeen < r.fenceMarkers) out.push(`- ${r.scenario}: the fence reached ${r.fenceMarkersSeen} of ${r.fenceMarkers} marker connections`);
		if (r.rlsErrors) out.push(`- ${r.scenario}: ${r.rlsErrors} RLS checks failed (rtsync_rls_errors_total)`);
	}
	return out;
}

if (what === 'row') {
	console.log(row(runs[runs.length - 1]));
} else if (what === 'tables') {
	const out = [header, sep, ...runs.map(row)];
	const rt = ratios();
	if (rt) out.push('', 'Ratios RLS / baseline (below 1: RLS lower):', '', rt);
	const n = notes();
	if (n.length) out.push('', ...n);
	console.log(out.join('\n'));
} else {
	console.error('usage: node report.mjs row|tables SUMMARY_FILE');
	process.exit(2);
}
