/**
 * The fuzz suite's properties, shared by the short CI run (test/unit/fuzz-*.test.ts) and the long
 * one (`npm run fuzz -- --runs N`). Each case is bounded in time; a hang is a failure, and so is
 * anything thrown that is not a HubError (the socket would answer it `500`, or worse, crash).
 */
import fc from 'fast-check';
import type { Principal, UserRow } from '../../src/auth/principal.js';
import { docsOpRegistry } from '../../src/docs/asyncapi-document.js';
import { HubError } from '../../src/errors.js';
import type { Catalog, EventRef } from '../../src/ingest/catalog.js';
import { uuidToBytes } from '../../src/ingest/uuid7.js';
import { MAX_FUTURE_MS, validateIngest } from '../../src/ingest/validate.js';
import { decodeFrame, encodeMessage, type Encoding } from '../../src/protocol/codec.js';
import { errorReply, isPlainObject, MAX_ID_LENGTH, okReply, parseRequest, type RequestId } from '../../src/protocol/envelope.js';
import type { OpDef } from '../../src/protocol/ops.js';
import { compileSchema, type Validator } from '../../src/protocol/validate.js';
import { CASE_LIMIT_MS, binaryFrame, nastyNumber, nastyValue, objectWith, textFrame } from './fuzz-inputs.js';

export interface FuzzProperty {
  readonly name: string;
  /** Cases per run relative to FUZZ_RUNS (cheap properties run more). */
  readonly weight: number;
  /** Runs the property `numRuns` times (from `seed`) and returns fast-check's verdict. */
  readonly check: (params: { numRuns: number; seed?: number | undefined }) => fc.RunDetails<unknown>;
}

/** A property, typed for the list: built and checked on demand. */
function fuzz<Ts extends [unknown, ...unknown[]]>(name: string, weight: number, property: () => fc.IRawProperty<Ts>): FuzzProperty {
  return { name, weight, check: ({ numRuns, seed }) => fc.check(property(), { numRuns, seed, endOnFailure: false }) as fc.RunDetails<unknown> };
}

// ---------------------------------------------------------------------------------------------
// The registry the hub serves, built as the docs generator builds it: no database behind it.

function opDefinitions(): OpDef[] {
  return docsOpRegistry().definitions();
}

export const OP_DEFS: readonly OpDef[] = opDefinitions();
export const OP_NAMES: readonly string[] = [...OP_DEFS.map((d) => d.name), 'no.such.op'];
const VALIDATORS = new Map<string, Validator>(OP_DEFS.filter((d) => d.schema !== undefined).map((d) => [d.name, compileSchema(d.schema as never)]));

// ---------------------------------------------------------------------------------------------
// Checks

/** Runs `fn`, failing the case when it takes longer than CASE_LIMIT_MS (a hang, for our purposes). */
function bounded<T>(what: string, fn: () => T): T {
  const started = performance.now();
  const result = fn();
  const ms = performance.now() - started;
  if (ms > CASE_LIMIT_MS) throw new Error(`${what} took ${ms.toFixed(0)} ms (limit ${CASE_LIMIT_MS} ms)`);
  return result;
}

/** Runs `fn`; a HubError is an answer, anything else thrown is a bug. Returns whether it passed. */
function onlyHubErrors(what: string, fn: () => void): boolean {
  try {
    fn();
    return true;
  } catch (err) {
    if (err instanceof HubError) return false;
    throw new Error(`${what} threw ${describe(err)}, not a HubError`, { cause: err });
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? `${err.constructor.name}: ${err.message.slice(0, 200)}` : String(err).slice(0, 200);
}

const isValidId = (id: unknown): boolean =>
  id === null || id === undefined || (typeof id === 'number' && Number.isFinite(id)) || (typeof id === 'string' && id.length <= MAX_ID_LENGTH);

/** An error reply must always encode: it is what the socket falls back on. */
function errorAlwaysEncodes(id: RequestId | null | undefined, err: HubError): void {
  for (const encoding of ['json', 'msgpack'] as const) encodeMessage(errorReply(id, err), encoding);
}

/** parseRequest never throws and its verdict is well formed. */
function checkEnvelope(value: unknown): ReturnType<typeof parseRequest> {
  const parsed = parseRequest(value);
  if (parsed.ok) {
    const { id, op, data } = parsed.request;
    if (typeof op !== 'string' || op === '') throw new Error('accepted a request without a string op');
    if (!isPlainObject(data)) throw new Error('accepted a request whose data is not an object');
    if (!isValidId(id)) throw new Error(`accepted an invalid id ${String(id).slice(0, 80)}`);
  } else {
    if (!(parsed.error instanceof HubError)) throw new Error('refused a request without a HubError');
    if (!isValidId(parsed.id)) throw new Error('refused a request echoing an invalid id');
    errorAlwaysEncodes(parsed.id, parsed.error);
  }
  return parsed;
}

/**
 * What the socket does with a decoded value: encode a reply carrying it. Encoding may fail (a
 * value too deep for the encoder); then the `500 internal` reply the socket falls back on must
 * encode. Returns whether the value itself encoded.
 */
function checkReplyEncodes(id: RequestId | undefined, value: unknown, encoding: Encoding): boolean {
  try {
    encodeMessage(okReply(id, value), encoding);
    return true;
  } catch {
    encodeMessage(errorReply(id, new HubError('internal')), encoding);
    return false;
  }
}

/** A frame through the socket's path: decode, envelope, the error or echo reply encodes. */
function checkFrame(bytes: Uint8Array, binary: boolean): void {
  const decoded = bounded('decodeFrame', () => decodeFrame(bytes, binary));
  if (decoded.ok !== true && decoded.ok !== false) throw new Error('decodeFrame returned no verdict');
  if (!decoded.ok) {
    if (typeof decoded.reason !== 'string' || decoded.reason === '') throw new Error('decodeFrame refused without a reason');
    errorAlwaysEncodes(null, new HubError('bad_request', decoded.reason));
    return;
  }
  const parsed = bounded('parseRequest', () => checkEnvelope(decoded.value));
  const encoding: Encoding = binary ? 'msgpack' : 'json';
  const id = parsed.ok ? parsed.request.id : undefined;
  bounded('encodeMessage', () => checkReplyEncodes(id, decoded.value, encoding));
  if (parsed.ok) checkOpData(parsed.request.op, parsed.request.data);
}

/** Stored values come back in replies (get, list, pushes): what a write accepts must encode. */
const STORES = /\.(create|update)$/;

/** An op's prepare + validator: only HubError; accepted data of a write encodes both ways. */
function checkOpData(op: string, data: Readonly<Record<string, unknown>>): void {
  const def = OP_DEFS.find((d) => d.name === op);
  if (def === undefined) return;
  const validator = VALIDATORS.get(op);
  let prepared: Record<string, unknown> = data as Record<string, unknown>;
  const passed = bounded(`${op} prepare+validate`, () =>
    onlyHubErrors(`${op} prepare+validate`, () => {
      if (def.prepare !== undefined) prepared = def.prepare(data);
      validator?.assert(prepared);
    }),
  );
  if (passed && validator !== undefined && STORES.test(op)) {
    for (const encoding of ['json', 'msgpack'] as const) {
      try {
        bounded(`${op} encode`, () => encodeMessage(prepared, encoding));
      } catch (err) {
        throw new Error(`${op} accepted data that cannot be encoded as ${encoding} (${describe(err)})`, { cause: err });
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Ingest: a catalog of a few events and one device's channels

const EVENT_IDS = ['01899a5e-7c2b-7000-8000-000000000001', '01899a5e-7c2b-7000-8000-000000000002', '01899a5e-7c2b-7000-8000-000000000003'];
const DEVICE = '01899a5e-7c2b-7000-8000-0000000000d0';
const refs = new Map<string, EventRef>(EVENT_IDS.map((id) => [id, { id, bytes: uuidToBytes(id) }]));
const channels = new Map<string, EventRef | null>([
  ['temp', refs.get(EVENT_IDS[0] as string) as EventRef],
  ['unmapped', null],
]);
const catalog = {
  event: (publicId: string) => refs.get(publicId) ?? refs.get(publicId.toLowerCase()),
  channel: (instance: string, channel: string) => (instance === DEVICE ? channels.get(channel) : undefined),
  instanceHasEvent: (instance: string, event: string) => instance === DEVICE && event === EVENT_IDS[0],
} as unknown as Catalog;

function principal(kind: 'device' | 'operator'): Principal {
  const user = { public_id: '01899a5e-7c2b-7000-8000-0000000000aa', username: 'fuzz', role: 'operator' } as UserRow;
  return {
    role: kind,
    user,
    kind: kind === 'device' ? 'api_token' : 'login',
    tokenId: 'fuzz',
    expiresAt: null,
    pluginInstancePublicId: kind === 'device' ? DEVICE : null,
  };
}

const pointValue = fc.oneof({ weight: 3, arbitrary: nastyNumber }, { weight: 1, arbitrary: nastyValue });
const point = fc.oneof(
  { weight: 4, arbitrary: fc.record({ event: fc.oneof(fc.constantFrom(...EVENT_IDS, EVENT_IDS[1]?.toUpperCase() as string), nastyValue), value: pointValue, ts: pointValue }, { requiredKeys: [] }) },
  { weight: 2, arbitrary: fc.record({ channel: fc.oneof(fc.constantFrom('temp', 'unmapped', 'nope'), nastyValue), value: pointValue, ts: pointValue }, { requiredKeys: [] }) },
  { weight: 1, arbitrary: objectWith(['event', 'channel', 'value', 'ts']) },
  { weight: 1, arbitrary: nastyValue },
);
const ingestData = fc.oneof(
  { weight: 4, arbitrary: fc.record({ seq: fc.oneof(nastyNumber, nastyValue), points: fc.array(point, { maxLength: 8 }) }, { requiredKeys: ['points'] }) },
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 9_000, max: 20_000 }), point).map(([n, p]) => ({ points: new Array<unknown>(n).fill(p) })) },
  { weight: 1, arbitrary: objectWith(['points', 'seq']) },
);

function checkIngest(data: Record<string, unknown>, kind: 'device' | 'operator', final: boolean): void {
  const now = Date.now();
  const maxPoints = 10_000;
  let result: ReturnType<typeof validateIngest> | undefined;
  bounded('validateIngest', () =>
    onlyHubErrors('validateIngest', () => {
      result = validateIngest(data, principal(kind), catalog, maxPoints, now, final);
    }),
  );
  if (result === undefined) throw new Error('validateIngest threw a HubError instead of returning it');
  if (result.kind === 'error') {
    if (!(result.error instanceof HubError) || ![413, 422].includes(result.error.status)) throw new Error(`validateIngest answered ${describe(result.error)}`);
    errorAlwaysEncodes(null, result.error);
  } else if (result.kind === 'ok') {
    const { points } = result;
    const sent = data.points as unknown[];
    if (points.count !== sent.length || points.count > maxPoints) throw new Error('accepted a count that is not the points sent');
    for (let i = 0; i < points.count; i++) {
      const v = points.values[i] as number;
      const t = points.ts[i] as number;
      if (!Number.isFinite(v)) throw new Error(`accepted a non-finite value at ${i}`);
      if (!(t >= 0 && t <= now + MAX_FUTURE_MS)) throw new Error(`accepted ts ${t} at ${i}`);
      if (points.events[i] === undefined || points.eventBytes[i]?.length !== 16) throw new Error(`accepted a point without an event at ${i}`);
    }
    if (points.seq !== null && !(Number.isSafeInteger(points.seq) && points.seq >= 0)) throw new Error(`accepted seq ${points.seq}`);
  } else if (final) {
    throw new Error('a final validation answered "unknown" (reload) instead of an error');
  }
}

// ---------------------------------------------------------------------------------------------

const opWithData = fc.constantFrom(...OP_DEFS.filter((d) => d.schema !== undefined)).chain((def) => {
  const keys = Object.keys((def.schema as { properties?: object }).properties ?? {});
  return fc.tuple(fc.constant(def.name), objectWith([...keys, 'public_id', 'created_on', 'status']));
});

export const FUZZ_PROPERTIES: readonly FuzzProperty[] = [
  fuzz('binary frames: decode, envelope and replies never throw outside the registry', 4, () =>
    fc.property(binaryFrame(OP_NAMES), (bytes) => checkFrame(bytes, true)),
  ),
  fuzz('text frames: decode, envelope and replies never throw outside the registry', 2, () =>
    fc.property(textFrame(OP_NAMES), (bytes) => checkFrame(bytes, false)),
  ),
  fuzz('parseRequest: any value gets a well-formed verdict', 2, () =>
    fc.property(fc.oneof(nastyValue, objectWith(['id', 'op', 'data'])), (value) => {
      bounded('parseRequest', () => checkEnvelope(value));
    }),
  ),
  fuzz('op validators: prepare + schema throw only HubError; what a write accepts encodes', 4, () =>
    fc.property(opWithData, ([op, data]) => checkOpData(op, data)),
  ),
  fuzz('ingest validator: only verdicts, never a throw; what it accepts is sound', 3, () =>
    fc.property(ingestData, fc.constantFrom('device' as const, 'operator' as const), fc.boolean(), (data, kind, final) =>
      checkIngest(data as Record<string, unknown>, kind, final),
    ),
  ),
];

// ---------------------------------------------------------------------------------------------
// Reporting: fast-check's own printer recurses, so a 30 000-level counterexample would overflow it.

/** A bounded preview of a value: depth, size and type of what is too deep or too long to print. */
export function preview(value: unknown, maxDepth = 6, budget = { chars: 1_500 }): string {
  if (budget.chars <= 0) return '…';
  let out: string;
  if (typeof value === 'string') out = value.length > 80 ? `${JSON.stringify(value.slice(0, 40))}…(${value.length} chars)` : JSON.stringify(value);
  else if (typeof value === 'bigint') out = `${value}n`;
  else if (typeof value !== 'object' || value === null) out = Object.is(value, -0) ? '-0' : String(value);
  else if (value instanceof Uint8Array) out = `${value.constructor.name}[${value.length}] ${Buffer.from(value.subarray(0, 48)).toString('hex')}${value.length > 48 ? '…' : ''}`;
  else if (maxDepth === 0) out = `${Array.isArray(value) ? '[…]' : '{…}'} (nested ${depthOf(value)} more levels)`;
  else if (Array.isArray(value)) {
    const items = value.slice(0, 8).map((v) => preview(v, maxDepth - 1, budget));
    out = `[${items.join(', ')}${value.length > 8 ? `, …(${value.length} items)` : ''}]`;
  } else {
    const proto = Object.getPrototypeOf(value) as { constructor?: { name?: string } } | null;
    const name = proto === null ? 'null-proto ' : proto === Object.prototype ? '' : `${proto.constructor?.name ?? '?'} `;
    const entries = Object.entries(value).slice(0, 8).map(([k, v]) => `${JSON.stringify(k.length > 40 ? `${k.slice(0, 40)}…` : k)}: ${preview(v, maxDepth - 1, budget)}`);
    out = `${name}{${entries.join(', ')}}`;
  }
  budget.chars -= out.length;
  return out;
}

/** Nesting depth of arrays and objects, without recursion. */
function depthOf(value: unknown): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, d] = stack.pop() as [unknown, number];
    if (typeof v !== 'object' || v === null || v instanceof Uint8Array) continue;
    deepest = Math.max(deepest, d);
    if (d > 1_000_000) break;
    for (const child of Object.values(v)) stack.push([child, d + 1]);
  }
  return deepest;
}

/** The failure of a run, printable whatever the counterexample: seed, path, error, a preview. */
export function failureMessage(details: fc.RunDetails<unknown>): string {
  const example = details.counterexample === null ? 'none' : (details.counterexample as unknown[]).map((v) => preview(v)).join('\n  ');
  const error = details.errorInstance instanceof Error ? details.errorInstance : new Error(String(details.errorInstance));
  const cause = error.cause instanceof Error ? `\ncaused by: ${error.cause.stack?.split('\n').slice(0, 8).join('\n')}` : '';
  return [
    `failed after ${details.numRuns} runs (${details.numShrinks} shrinks), seed ${details.seed}, path ${details.counterexamplePath}; replay with the same runs and FUZZ_SEED=${details.seed} (or npm run fuzz -- --seed ${details.seed})`,
    `error: ${error.message}${cause}`,
    `counterexample:\n  ${example}`,
  ].join('\n');
}

/** fast-check's reporter, safe for deep counterexamples. */
export const reporter = (details: fc.RunDetails<unknown>): void => {
  if (details.failed) throw new Error(failureMessage(details));
};
