// Markdown tables for bench/http/run.sh from its summary (one JSON line per
// point, wrk's result plus the CPU figures run.sh adds).
//
// Usage: node report.mjs SUMMARY.jsonl
import fs from 'node:fs';

const all = fs
	.readFileSync(process.argv[2], 'utf8')
	.split('\n')
	.filter(Boolean)
	.map((l) => JSON.parse(l));

const int = (x) => Math.round(x).toLocaleString('en-US');
const ms = (us) => (us / 1000).toFixed(us < 10000 ? 2 : 1);
const f2 = (x) => x.toFixed(2);
const rps = (r) => r.requests / (r.duration_us / 1e6);
// bad counts every response that failed the check, non-200 statuses included
const errors = (r) => r.connect_errors + r.read_errors + r.write_errors + r.timeouts + r.bad;
const perReq = (s, r) => (r.requests ? (s * 1e6) / r.requests : NaN);
// with several rounds, each point keeps the round with the highest req/s
const key = (r) => `${r.target}/${r.workload}/${r.clients}`;
const rounds = new Map();
for (const r of all) {
	if (!rounds.has(key(r))) rounds.set(key(r), []);
	rounds.get(key(r)).push(r);
}
const rows = [...rounds.values()].map((rs) => rs.reduce((a, b) => (rps(b) > rps(a) ? b : a)));
const multi = [...rounds.values()].some((rs) => rs.length > 1);
const roundsCell = (r) => (multi ? ` ${rounds.get(key(r)).map((x) => int(rps(x))).join(' / ')} |` : '');

const name = { rtsync: 'rtsync', postgraphile: 'PostGraphile' };

const out = [];
out.push('| workload | clients | server | requests | req/s |' + (multi ? ' req/s of each round |' : '') + ' p50 ms | p90 ms | p99 ms | max ms | errors | server CPU s | PostgreSQL CPU s | wrk CPU s | other CPU s | CPU µs/req server / +PostgreSQL |');
out.push('|---|---:|---|---:|---:|' + (multi ? '---|' : '') + '---:|---:|---:|---:|---:|---:|---:|---:|---:|---|');
for (const r of rows) {
	out.push(
		`| ${r.workload} | ${r.clients} | ${name[r.target]} | ${int(r.requests)} | ${int(rps(r))} |${roundsCell(r)} ${ms(r.p50_us)} | ` +
			`${ms(r.p90_us)} | ${ms(r.p99_us)} | ${ms(r.max_us)} | ${errors(r)} | ${f2(r.serverCpuS)} | ${f2(r.pgCpuS)} | ` +
			`${f2(r.wrkCpuS)} | ${f2(r.otherCpuS ?? NaN)} | ${int(perReq(r.serverCpuS, r))} / ${int(perReq(r.serverCpuS + r.pgCpuS, r))} |`,
	);
}

const find = (t, w, c) => rows.find((r) => r.target === t && r.workload === w && r.clients === c);
const pairs = [];
for (const r of rows) {
	if (r.target !== 'rtsync') continue;
	const p = find('postgraphile', r.workload, r.clients);
	if (p) pairs.push([r, p]);
}
if (pairs.length) {
	out.push('');
	out.push('Ratios rtsync / PostGraphile (req/s above 1: rtsync faster; latency and CPU below 1: rtsync lower). Goal: req/s ≥ 2 at p99 ≤ 1.');
	out.push('');
	out.push('| workload | clients | req/s | p50 | p99 | server CPU/req | server + PostgreSQL CPU/req | goal |');
	out.push('|---|---:|---:|---:|---:|---:|---:|---|');
	for (const [r, p] of pairs) {
		const tr = rps(r) / rps(p);
		const p99 = r.p99_us / p.p99_us;
		const ok = tr >= 2 && p99 <= 1 && errors(r) === 0;
		out.push(
			`| ${r.workload} | ${r.clients} | **${f2(tr)}** | ${f2(r.p50_us / p.p50_us)} | **${f2(p99)}** | ` +
				`${f2(perReq(r.serverCpuS, r) / perReq(p.serverCpuS, p))} | ` +
				`${f2(perReq(r.serverCpuS + r.pgCpuS, r) / perReq(p.serverCpuS + p.pgCpuS, p))} | ${ok ? 'met' : 'not met'} |`,
		);
	}
}
const bad = all.filter((r) => errors(r) > 0);
for (const r of bad) {
	out.push('');
	out.push(
		`${name[r.target]} ${r.workload} c=${r.clients}${multi ? ` round ${r.round}` : ''}: ${errors(r)} errors (connect ${r.connect_errors}, read ${r.read_errors}, ` +
			`write ${r.write_errors}, timeout ${r.timeouts}, bad responses ${r.bad} of which HTTP >= 400 ${r.status_errors})` +
			(r.bad_sample ? `; first bad response: \`${r.bad_sample}\`` : ''),
	);
}
console.log(out.join('\n'));
