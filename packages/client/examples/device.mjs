// A device: streams a reading every 100 ms through the producer, which batches, numbers,
// resends after any reconnect, and never loses a point the hub acknowledged.
// Run from the repository root: node packages/client/examples/device.mjs
import { connect, FileSeqStore, Producer } from '@telemetry-hub/client/node';

const url = process.env.HUB_URL ?? 'ws://127.0.0.1:8080';
const connection = await connect({ url, token: process.env.HUB_TOKEN });

// The event to write to: found by name, created if missing.
const name = process.env.EVENT ?? 'boiler_temp';
const found = await connection.call('events.list', { filter: { name } });
const event = found.items[0] ?? (await connection.call('events.create', { name, unit: 'C' }));

// seq survives restarts in this file, so a restarted device never reuses one.
const producer = new Producer(connection, { lingerMs: 50, seqStore: new FileSeqStore('./device.seq') });
producer.onAck(({ seq, points, duplicate }) => console.log(`seq ${seq}: ${points.length} points stored${duplicate ? ' (resent)' : ''}`));
producer.onError((err, points) => console.error(`refused ${points.length} points: ${err.message}`));
connection.on('disconnect', (ev) => console.log(`disconnected (${ev.code})${ev.reconnecting ? ', reconnecting' : ''}`));

const timer = setInterval(() => void producer.send({ event: event.public_id, value: 60 + Math.random() * 40 }), 100);
process.once('SIGINT', async () => {
  clearInterval(timer);
  await producer.close(); // resolves once everything sent is acknowledged
  await connection.close();
  console.log(`done: ${producer.stats.acked} points acknowledged`);
});
