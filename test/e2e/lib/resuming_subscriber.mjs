// A stock graphql-ws subscriber with the README's resume lines, in a process
// of its own so a test can SIGSTOP it. It subscribes to onCreateDataItem
// (title: TITLE) and prints one line per event, "event <id> <sequenceNumber>",
// (it selects content too, so big rows fill its queue), and "closed <code>" whenever its socket closes (it then reconnects and
// resumes, as graphql-ws does by itself). Exits on SIGTERM.
// Usage: node resuming_subscriber.mjs URL KEY TITLE
import WebSocket from 'ws';
import { createClient } from 'graphql-ws';

const [url, key, title] = process.argv.slice(2);
let last = null;
const client = createClient({
  url,
  webSocketImpl: WebSocket,
  lazy: false,
  retryAttempts: 1000,
  retryWait: () => new Promise((resolve) => setTimeout(resolve, 200)),
  shouldRetry: () => true,
  connectionParams: () => ({ 'x-api-key': key, ...(last && { after: last }) }),
  on: {
    ping: (received, payload) => { if (received && payload?.sequenceNumber) last = payload.sequenceNumber; },
    connected: () => console.log('connected'),
    closed: (event) => console.log(`closed ${event?.code}`),
  },
});
client.subscribe({ query: `subscription { onCreateDataItem(title: "${title}") { id content } }` }, {
  next: (value) => {
    last = value.extensions.sequenceNumber;
    console.log(`event ${value.data.onCreateDataItem.id} ${last}`);
  },
  error: (error) => console.log(`error ${JSON.stringify(error)}`),
  complete: () => console.log('complete'),
});
process.on('SIGTERM', () => { client.dispose(); process.exit(0); });
