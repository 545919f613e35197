// A subscriber in a process of its own, so a test can SIGSTOP it: prints
// "ready" once its subscription is registered, then, after it was closed,
// "closed CODE REASON" and exits.
// Usage: node slow_reader.mjs URL KEY TITLE
import WebSocket from 'ws';

const [url, key, title] = process.argv.slice(2);
const ws = new WebSocket(url, 'graphql-transport-ws');
ws.on('open', () => ws.send(JSON.stringify({ type: 'connection_init', payload: { 'x-api-key': key } })));
ws.on('message', (data) => {
  const m = JSON.parse(data);
  if (m.type === 'connection_ack') {
    ws.send(JSON.stringify({ id: 's', type: 'subscribe', payload: { query: `subscription { onCreateDataItem(title: "${title}") { id content } }` } }));
    ws.send(JSON.stringify({ type: 'ping' }));
  } else if (m.type === 'pong') {
    console.log('ready');
  }
});
ws.on('close', (code, reason) => { console.log(`closed ${code} ${reason}`); process.exit(0); });
