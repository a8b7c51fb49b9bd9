/**
 * @telemetry-hub/client — the SDK for the telemetry hub (PROTOCOL.md): typed ops over one
 * socket that reconnects, a producer for devices and a subscriber for dashboards.
 */
export { backoffDelay, type BackoffOptions } from './backoff.js';
export { decode, encode, type Encoding, type IncomingMessage } from './codec.js';
export { Connection, type ConnectionOptions, type ConnectionState, type Push, type RequestOptions } from './connection.js';
export { AuthError, ClosedError, HubRequestError, TimeoutError, type ErrorDetail, type WireError } from './errors.js';
export { HubClient, type HubClientOptions } from './hub-client.js';
export { OP_NAMES, type OpName, type OpRequests, type PushData, type ReplyTo, type RequestOf } from './ops.js';
export { BufferFullError, Producer, SeqConflictError, type AckEvent, type ProducerOptions, type ProducerStats } from './producer.js';
export { MemorySeqStore, type SeqStore } from './seq-store.js';
export { defaultSocketFactory, socketUrl, type SocketFactory, type SocketLike } from './socket.js';
export { Subscriber, type Points, type ReadingsHandler, type ReadingsInfo, type SubscribeOptions, type Subscription, type Topic, type TopicHandler } from './subscriber.js';
export type * from './wire-types.js';

import { Connection, type ConnectionOptions } from './connection.js';

/** Opens a reconnecting connection and waits for its first socket. */
export function connect(options: ConnectionOptions): Promise<Connection> {
  return Connection.open(options);
}
