// One SQL client reading a table's kept stream with the DynamoDB Streams
// read API, as a boto3 GetRecords loop would: an iterator from TRIM_HORIZON,
// then each page's NextShardIterator, until `want` records are read (bounded
// by calls), in FORMAT (json or dynamodb; default json). Prints one JSON
// line: records, calls, bytes, seconds.
// Usage: node pager.mjs TABLE WANT [FORMAT]   (PGHOST, PGPORT, PGDATABASE, PGUSER from the environment)
import pg from 'pg';

const [table, wantArg, format = 'json'] = process.argv.slice(2);
const want = Number(wantArg);
const client = new pg.Client();
await client.connect();
// the page as text: what a client receives, parsed only to follow the iterator
const pageQuery = `SELECT page::text AS page FROM rtsync.get_records($1, 1000, $2) AS page`;
let { rows } = await client.query(`SELECT rtsync.get_shard_iterator($1, 'TRIM_HORIZON') AS it`, [table]);
let iterator = rows[0].it;
let records = 0, calls = 0, bytes = 0, previous = '';
const started = process.hrtime.bigint();
while (records < want && calls < want / 1000 + 100) {
  ({ rows } = await client.query(pageQuery, [iterator, format]));
  calls++;
  bytes += rows[0].page.length;
  const page = JSON.parse(rows[0].page);
  for (const r of page.Records) {
    if (r.dynamodb.SequenceNumber <= previous) throw new Error(`out of order at ${r.dynamodb.SequenceNumber}`);
    previous = r.dynamodb.SequenceNumber;
  }
  records += page.Records.length;
  iterator = page.NextShardIterator;
}
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
await client.end();
console.log(JSON.stringify({ records, calls, bytes, seconds }));
