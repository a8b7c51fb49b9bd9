/**
 * The AsyncAPI 3 description of the socket, generated from the op registry's own schemas, so
 * the document cannot drift from what the hub validates. `npm run docs:generate` writes it to
 * docs/asyncapi.json; a test fails when the committed file is stale.
 */
import { ERRORS } from '../errors.js';
import type { OpRegistry } from './ops.js';
import { PUSHES } from './pushes.js';

type Json = Record<string, unknown>;

const ref = (path: string): Json => ({ $ref: path });

/** Builds the AsyncAPI document for `registry`. */
export function buildAsyncApi(registry: OpRegistry, version: string): Json {
  const messages: Json = {};
  const operations: Json = {};
  const channelMessages: Json = {};
  for (const def of registry.definitions()) {
    const key = def.name.replace('.', '_');
    messages[key] = {
      name: def.name,
      title: def.name,
      contentType: 'application/json',
      summary: `Request of op ${def.name} (text frame: JSON; binary frame: MessagePack)`,
      payload: {
        type: 'object',
        required: ['op'],
        additionalProperties: false,
        properties: {
          id: ref('#/components/schemas/RequestId'),
          op: { const: def.name },
          data: def.schema ?? { type: 'object' },
        },
      },
    };
    channelMessages[key] = ref(`#/components/messages/${key}`);
    operations[key] = {
      action: 'receive',
      title: def.name,
      channel: ref('#/channels/socket'),
      messages: [ref(`#/channels/socket/messages/${key}`)],
      reply: {
        channel: ref('#/channels/socket'),
        messages: [ref('#/channels/socket/messages/ok_reply'), ref('#/channels/socket/messages/error_reply')],
      },
    };
  }
  // Pushes: sent by the hub, unasked (subscriptions, topics, commands to devices).
  for (const push of PUSHES) {
    const key = `push_${push.op}`;
    messages[key] = {
      name: push.op,
      title: `push ${push.op}`,
      contentType: 'application/json',
      summary: push.summary,
      payload: {
        type: 'object',
        required: ['op', 'data'],
        additionalProperties: false,
        properties: { op: { const: push.op }, data: push.data },
      },
    };
    channelMessages[key] = ref(`#/components/messages/${key}`);
    operations[key] = {
      action: 'send',
      title: `push ${push.op}`,
      channel: ref('#/channels/socket'),
      messages: [ref(`#/channels/socket/messages/${key}`)],
    };
  }
  channelMessages.ok_reply = ref('#/components/messages/ok_reply');
  channelMessages.error_reply = ref('#/components/messages/error_reply');

  return {
    asyncapi: '3.0.0',
    info: {
      title: 'Telemetry hub socket',
      version,
      description:
        'One WebSocket per client at /ws. Text frames carry JSON, binary frames MessagePack; replies come in the encoding of the request. See docs/protocol.md.',
    },
    defaultContentType: 'application/json',
    servers: {
      hub: {
        host: '127.0.0.1:8080',
        protocol: 'ws',
        pathname: '/ws',
        description: 'HUB_HOST:HUB_PORT',
        security: [ref('#/components/securitySchemes/bearer'), ref('#/components/securitySchemes/queryToken')],
      },
    },
    channels: { socket: { address: '/ws', messages: channelMessages } },
    operations,
    components: {
      securitySchemes: {
        bearer: { type: 'httpApiKey', name: 'Authorization', in: 'header', description: 'Bearer <login JWT or API token>' },
        queryToken: { type: 'httpApiKey', name: 'token', in: 'query', description: 'For browsers, which cannot set headers' },
      },
      schemas: {
        RequestId: {
          description: 'A number, or a string of at most 64 characters; absent: no reply on success',
          oneOf: [{ type: 'number' }, { type: 'string', maxLength: 64 }],
        },
        Error: {
          type: 'object',
          required: ['status', 'code', 'message'],
          properties: {
            status: { type: 'integer' },
            code: { enum: Object.keys(ERRORS) },
            message: { type: 'string' },
            details: {
              type: 'array',
              items: { type: 'object', required: ['path', 'message'], properties: { path: { type: 'string' }, message: { type: 'string' } } },
            },
            retry_after_ms: { type: 'integer', minimum: 0 },
          },
        },
      },
      messages: {
        ok_reply: {
          name: 'ok_reply',
          payload: {
            type: 'object',
            required: ['id', 'ok', 'data'],
            properties: { id: ref('#/components/schemas/RequestId'), ok: { const: true }, data: {} },
          },
        },
        error_reply: {
          name: 'error_reply',
          payload: {
            type: 'object',
            required: ['id', 'ok', 'error'],
            properties: {
              id: { oneOf: [ref('#/components/schemas/RequestId'), { type: 'null' }] },
              ok: { const: false },
              error: ref('#/components/schemas/Error'),
            },
          },
        },
        ...messages,
      },
    },
  };
}
