// The demo's GraphQL subscriber: a stock graphql-ws client (installed under
// test/e2e by the setup step) subscribed to onCreate/onUpdate/onDeleteDataItem.
// Prints one line per event; exits once it sees the item titled "demo-done".
// Usage: node scripts/demo-subscriber.mjs ws://127.0.0.1:8080/graphql <api key>
import { createRequire } from 'node:module';

const require = createRequire(new URL('../test/e2e/package.json', import.meta.url));
const { createClient } = require('graphql-ws');
const WebSocket = require('ws');

const [url, apiKey] = process.argv.slice(2);
// Says "subscribed" once the server has registered the subscriptions: after
// the ack, a ping whose pong proves the queued subscribes went out, then a
// second one whose pong proves the server processed them.
let pings = 0;
const client = createClient({
  url, webSocketImpl: WebSocket, lazy: false,
  connectionParams: { 'x-api-key': apiKey },
  on: {
    connected: (socket) => { socket.send(JSON.stringify({ type: 'ping' })); },
    pong: (received) => {
      if (!received) return;
      if (++pings === 1) sent.socket?.send(JSON.stringify({ type: 'ping' }));
      else if (pings === 2) console.log('demo: subscribed');
    },
  },
});
const sent = {};
client.on('connected', (socket) => { sent.socket = socket; });
const fields = 'id title content timestamp version';

for (const field of ['onCreateDataItem', 'onUpdateDataItem', 'onDeleteDataItem']) {
  client.subscribe({ query: `subscription { ${field} { ${fields} } }` }, {
    next: ({ data, errors }) => {
      if (errors) { console.error(field, JSON.stringify(errors)); return; }
      console.log(`${field.padEnd(17)} ${JSON.stringify(data[field])}`);
      if (field === 'onCreateDataItem' && data[field].title === 'demo-done') {
        client.dispose();
        process.exit(0);
      }
    },
    error: (error) => { console.error(field, 'error:', JSON.stringify(error)); process.exit(1); },
    complete: () => {},
  });
}
