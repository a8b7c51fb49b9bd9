// A dashboard: live readings of every event (the demo's included), resuming without a gap or
// a duplicate after any reconnect, plus the alerts topic.
// Run from the repository root: node packages/client/examples/dashboard.mjs
import { connect, Subscriber } from '@telemetry-hub/client';

const url = process.env.HUB_URL ?? 'ws://127.0.0.1:8080';
const connection = await connect({ url, token: process.env.HUB_TOKEN });

const { items } = await connection.call('events.list', { page_size: 500 });
const names = new Map(items.map((e) => [e.public_id, e.name]));

const subscriber = new Subscriber(connection);
await subscriber.subscribe(
  [...names.keys()],
  (event, points, { conflated }) => {
    for (const [ts, value] of points) console.log(`${new Date(ts).toISOString()}  ${names.get(event)}  ${value}${conflated ? '  (conflated)' : ''}`);
  },
  { since: Date.now() - 5_000 }, // the last 5 s first, then live
);
await subscriber.subscribeTopics(['alerts'], (push) => console.log('ALERT', push.data));
connection.on('disconnect', (ev) => console.log(`disconnected (${ev.code})${ev.reconnecting ? ', reconnecting' : ''}`));
process.once('SIGINT', () => void connection.close());
