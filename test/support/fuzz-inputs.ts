/**
 * Arbitraries for the property-based fuzz suite: adversarial values and frames, built for what a
 * hostile client can actually send (any bytes in a text or binary frame) and for what a decode
 * can hand the hub (deep nesting, huge arrays and strings, every MessagePack type incl. ext,
 * 64-bit integers, invalid UTF-8, NUL, NaN/Infinity, `__proto__` keys).
 */
import fc from 'fast-check';

/** Runs per property: `FUZZ_RUNS` (the long run sets it), else small enough for CI. */
export const FUZZ_RUNS = positiveInt(process.env.FUZZ_RUNS, 120);
/** A seed to replay a failure (fast-check prints it), else random. */
export const FUZZ_SEED = process.env.FUZZ_SEED === undefined || process.env.FUZZ_SEED === '' ? undefined : Number(process.env.FUZZ_SEED);
/** The most one case may take: far above any honest case, far below a hang. */
export const CASE_LIMIT_MS = positiveInt(process.env.FUZZ_CASE_LIMIT_MS, 5_000);

function positiveInt(raw: string | undefined, fallback: number): number {
  const n = Number(raw);
  return raw !== undefined && raw !== '' && Number.isSafeInteger(n) && n > 0 ? n : fallback;
}

const utf8 = new TextEncoder();

// ---------------------------------------------------------------------------------------------
// Values (what a decoder can produce, and a little more)

/** Strings that have broken parsers, validators and databases before. */
export const nastyString: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      '',
      '\u0000',
      'a\u0000b',
      '\ud800',
      'x\udfffy',
      '\ufeff',
      '__proto__',
      'constructor',
      'prototype',
      'toString',
      'hasOwnProperty',
      'valueOf',
      '💥'.repeat(3),
      'NaN',
      'Infinity',
      '-0',
      '1e400',
      "'; DROP TABLE users; --",
      '=HYPERLINK("x")',
      '%s%n%x',
      '\r\n\t',
      '../../../etc/passwd',
      '01899a5e-7c2b-7000-8000-000000000000',
      '01899A5E-7C2B-7000-8000-00000000000G',
      '2024-02-30T25:61:61Z',
      'http://[::1]/',
      'http://',
      'a@b.c',
    ),
  },
  { weight: 1, arbitrary: fc.uuid() },
  // Long strings, and the shapes a backtracking regex would choke on.
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.integer({ min: 256, max: 200_000 }), fc.constantFrom('x', '.', '9', '\u0000', 'é', 'a@', '-', ' '), fc.constantFrom('', ' ', '@', '!', 'Z'))
      .map(([n, unit, tail]) => unit.repeat(Math.ceil(n / unit.length)) + tail),
  },
  { weight: 1, arbitrary: fc.integer({ min: 64, max: 50_000 }).map((n) => `a@${'.'.repeat(n)} `) },
  { weight: 1, arbitrary: fc.integer({ min: 64, max: 50_000 }).map((n) => `1${'.1'.repeat(n)}`) },
);

/** Numbers at every edge: NaN, ±Infinity, -0, beyond 2^53, subnormals. */
export const nastyNumber: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0, 0, 1, -1, 0.5, 2 ** 53, 2 ** 53 + 2, -(2 ** 53) - 2, 2 ** 64, 1e21, 1e308, Number.MAX_VALUE, Number.MIN_VALUE, 4_294_967_296, 86_400_001),
  fc.double(),
  fc.integer(),
  fc.integer({ min: 0, max: 4_000_000_000_000 }),
);

/** Keys a JavaScript object can trip on. */
export const nastyKey: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '', '\u0000', 'a/b', '~1', 'op', 'id', 'data') },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }) },
  { weight: 1, arbitrary: fc.integer({ min: 300, max: 100_000 }).map((n) => 'k'.repeat(n)) },
);

/** Leaves of any type a MessagePack or JSON decode can produce (and BigInt, Date, bytes). */
export const nastyLeaf: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: nastyString },
  { weight: 4, arbitrary: nastyNumber },
  { weight: 1, arbitrary: fc.bigInt({ min: -(2n ** 80n), max: 2n ** 80n }) },
  { weight: 1, arbitrary: fc.constantFrom(null, undefined, true, false) },
  { weight: 1, arbitrary: fc.date({ noInvalidDate: false }) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 16 }) },
);

/** Arrays or objects nested `depth` levels deep, built without recursion. */
export function nested(depth: number, kind: 'array' | 'object' | 'mixed', leaf: unknown): unknown {
  let value = leaf;
  for (let i = 0; i < depth; i++) {
    const asArray = kind === 'array' || (kind === 'mixed' && i % 2 === 0);
    value = asArray ? [value] : { a: value };
  }
  return value;
}

/** Values nested from a hundred to tens of thousands of levels. */
export const deepValue: fc.Arbitrary<unknown> = fc
  .tuple(fc.integer({ min: 33, max: 30_000 }), fc.constantFrom('array' as const, 'object' as const, 'mixed' as const), nastyLeaf)
  .map(([depth, kind, leaf]) => nested(depth, kind, leaf));

/** Small leaves: what fills huge arrays (a huge array of huge strings would not fit a frame). */
const smallLeaf: fc.Arbitrary<unknown> = fc.oneof(nastyNumber, fc.string({ unit: 'binary', maxLength: 8 }), fc.constantFrom(null, true, '\u0000', '__proto__'), fc.bigInt());

/** Arrays of up to 200 000 items (one repeated leaf: cheap to build, as costly to check). */
export const hugeArray: fc.Arbitrary<unknown[]> = fc
  .tuple(fc.integer({ min: 1_000, max: 200_000 }), smallLeaf)
  .map(([n, leaf]) => new Array<unknown>(n).fill(leaf));

/** Any value: small trees with nasty leaves and keys, or a deep or huge one. */
export const nastyValue: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    { weight: 6, arbitrary: nastyLeaf },
    { weight: 2, arbitrary: fc.array(tie('value'), { maxLength: 6 }) },
    { weight: 2, arbitrary: fc.dictionary(nastyKey, tie('value'), { maxKeys: 6 }) },
    { weight: 1, arbitrary: objectWithOwnProto(fc.oneof(smallLeaf, fc.dictionary(nastyKey, smallLeaf, { maxKeys: 3 }))) },
    { weight: 1, arbitrary: deepValue },
    { weight: 1, arbitrary: hugeArray },
  ),
})).value;

/** An object with an own `__proto__` key, as JSON.parse makes from `{"__proto__": …}`. */
function objectWithOwnProto(value: fc.Arbitrary<unknown>): fc.Arbitrary<Record<string, unknown>> {
  return value.map((v) => JSON.parse(`{"__proto__": ${safeJson(v)}, "a": 1}`) as Record<string, unknown>);
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v) ?? 'null';
  } catch {
    return 'null';
  }
}

/** An object whose keys are mostly `keys` (a schema's properties, to get past "unknown field"). */
export function objectWith(keys: readonly string[], value: fc.Arbitrary<unknown> = nastyValue): fc.Arbitrary<Record<string, unknown>> {
  const key = keys.length === 0 ? nastyKey : fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...keys) }, { weight: 1, arbitrary: nastyKey });
  return fc.array(fc.tuple(key, value), { maxLength: keys.length + 2 }).map((entries) => {
    const out: Record<string, unknown> = {};
    // defineProperty: an own `__proto__` key as a decoder makes it, not a prototype change.
    for (const [k, v] of entries) Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
    return out;
  });
}

// ---------------------------------------------------------------------------------------------
// MessagePack frames, written by hand so that every format and every lie about a length appears

const u8 = (...b: number[]) => Uint8Array.from(b);

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

function be(n: number | bigint, bytes: 1 | 2 | 4 | 8): Uint8Array {
  const view = new DataView(new ArrayBuffer(bytes));
  if (bytes === 1) view.setUint8(0, Number(n) & 0xff);
  else if (bytes === 2) view.setUint16(0, Number(n) & 0xffff);
  else if (bytes === 4) view.setUint32(0, Number(n) >>> 0);
  else view.setBigUint64(0, BigInt.asUintN(64, BigInt(n)));
  return new Uint8Array(view.buffer);
}

/** A header for a str/bin/array/map/ext of `length`, in a format chosen by `pick` (0..3). */
function lengthHeader(kind: 'str' | 'bin' | 'array' | 'map', length: number, pick: number): Uint8Array {
  const fix = { str: 0xa0, array: 0x90, map: 0x80 } as const;
  const wide = { str: [0xd9, 0xda, 0xdb], bin: [0xc4, 0xc5, 0xc6], array: [0, 0xdc, 0xdd], map: [0, 0xde, 0xdf] } as const;
  const fixMax = kind === 'str' ? 31 : 15;
  if (kind !== 'bin' && pick === 0 && length <= fixMax) return u8(fix[kind] | length);
  const sizes = [1, 2, 4] as const;
  for (let i = kind === 'array' || kind === 'map' ? 1 : 0; i < 3; i++) {
    const size = sizes[i] as 1 | 2 | 4;
    if (i >= Math.min(pick, 2) && length < 2 ** (8 * size)) return concat([u8(wide[kind][i] as number), be(length, size)]);
  }
  return concat([u8(wide[kind][2] as number), be(length, 4)]);
}

/** Integers in every width, signed and unsigned, including beyond 2^53. */
const mpInt: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.integer({ min: 0, max: 0x7f }).map((n) => u8(n)),
  fc.integer({ min: -32, max: -1 }).map((n) => u8(n & 0xff)),
  fc.tuple(fc.constantFrom(0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd1, 0xd2, 0xd3), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })).map(([tag, n]) => {
    const size = ([1, 2, 4, 8] as const)[(tag - 0xcc) % 4] as 1 | 2 | 4 | 8;
    return concat([u8(tag), be(BigInt.asUintN(size * 8, n), size)]);
  }),
  fc.constantFrom(
    concat([u8(0xcf), be(2n ** 64n - 1n, 8)]),
    concat([u8(0xcf), be(2n ** 53n + 1n, 8)]),
    concat([u8(0xd3), be(-(2n ** 63n), 8)]),
    concat([u8(0xd3), be(-(2n ** 53n) - 1n, 8)]),
  ),
);

/** float32 and float64, NaN and the infinities included. */
const mpFloat: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.double().map((d) => {
    const view = new DataView(new ArrayBuffer(9));
    view.setUint8(0, 0xcb);
    view.setFloat64(1, d);
    return new Uint8Array(view.buffer);
  }),
  fc.float().map((f) => {
    const view = new DataView(new ArrayBuffer(5));
    view.setUint8(0, 0xca);
    view.setFloat32(1, f);
    return new Uint8Array(view.buffer);
  }),
);

/** Strings as bytes: valid UTF-8 of nasty strings, or any bytes (mostly invalid UTF-8). */
const mpStr: fc.Arbitrary<Uint8Array> = fc
  .tuple(fc.oneof(nastyString.map((s) => utf8.encode(s)), fc.uint8Array({ maxLength: 40 })), fc.integer({ min: 0, max: 3 }))
  .map(([bytes, pick]) => concat([lengthHeader('str', bytes.length, pick), bytes]));

const mpBin: fc.Arbitrary<Uint8Array> = fc
  .tuple(fc.uint8Array({ maxLength: 40 }), fc.integer({ min: 0, max: 2 }))
  .map(([bytes, pick]) => concat([lengthHeader('bin', bytes.length, pick), bytes]));

/** Extension types msgpackr gives meaning to (BigInt, typed arrays, Error, Set, RegExp, records, timestamps) and others. */
const extType: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(-1, 0, 0x42, 0x74, 0x65, 0x73, 0x78, 0x70, 0x69, 0x6d, 0x72, 0x52, 0x44, 0x62, 0x75, 0x7a),
  fc.integer({ min: -128, max: 127 }),
);

function mpExt(payload: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return fc.tuple(extType, payload, fc.boolean()).map(([type, data, fixed]) => {
    const t = u8(type & 0xff);
    const fixTag = { 1: 0xd4, 2: 0xd5, 4: 0xd6, 8: 0xd7, 16: 0xd8 }[data.length];
    if (fixed && fixTag !== undefined) return concat([u8(fixTag), t, data]);
    if (data.length < 256) return concat([u8(0xc7, data.length), t, data]);
    if (data.length < 65_536) return concat([u8(0xc8), be(data.length, 2), t, data]);
    return concat([u8(0xc9), be(data.length, 4), t, data]);
  });
}

/** Map keys: mostly strings (the envelope's and nasty ones). */
const mpKey: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.constantFrom('id', 'op', 'data', '__proto__', 'points', 'value', 'config').map((k) => concat([lengthHeader('str', k.length, 0), utf8.encode(k)])),
  mpStr,
);

/**
 * One MessagePack value of any type, containers included; an array's declared length is sometimes
 * off by one (the decoder must notice, not read past the end).
 */
export const msgpackValue: fc.Arbitrary<Uint8Array> = fc.letrec<{ node: Uint8Array }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    { weight: 1, arbitrary: fc.constantFrom(u8(0xc0), u8(0xc2), u8(0xc3)) },
    { weight: 3, arbitrary: mpInt },
    { weight: 2, arbitrary: mpFloat },
    { weight: 3, arbitrary: mpStr },
    { weight: 1, arbitrary: mpBin },
    { weight: 1, arbitrary: mpExt(fc.oneof(fc.uint8Array({ maxLength: 20 }), tie('node'))) },
    {
      weight: 2,
      arbitrary: fc
        .tuple(fc.array(tie('node'), { maxLength: 5 }), fc.integer({ min: 0, max: 2 }), fc.integer({ min: -1, max: 1 }))
        .map(([items, pick, lie]) => concat([lengthHeader('array', Math.max(0, items.length + lie), pick), ...items])),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(fc.array(fc.tuple(fc.oneof({ weight: 5, arbitrary: mpKey }, { weight: 1, arbitrary: tie('node') }), tie('node')), { maxLength: 5 }), fc.integer({ min: 0, max: 2 }))
        .map(([entries, pick]) => concat([lengthHeader('map', entries.length, pick), ...entries.flat()])),
    },
    { weight: 1, arbitrary: fc.constantFrom(u8(0xc1), u8(0xdd, 0xff, 0xff, 0xff, 0xff), u8(0xdb, 0x7f, 0xff, 0xff, 0xff, 0x61), u8(0xc9, 0xff, 0xff, 0xff, 0xff, 0x42)) },
  ),
})).node;

/** Arrays or maps nested `depth` levels as MessagePack (1..100 000 levels, a byte or three each). */
export const deepMsgpack: fc.Arbitrary<Uint8Array> = fc
  .tuple(fc.integer({ min: 1, max: 100_000 }), fc.constantFrom('array', 'map'), mpInt)
  .map(([depth, kind, leaf]) => {
    const level = kind === 'array' ? u8(0x91) : u8(0x81, 0xa1, 0x61);
    const out = new Uint8Array(depth * level.length + leaf.length);
    for (let i = 0; i < depth; i++) out.set(level, i * level.length);
    out.set(leaf, depth * level.length);
    return out;
  });

/** A request-shaped map: `{id?, op?, data?}` with any values, as MessagePack. */
export function msgpackEnvelope(ops: readonly string[]): fc.Arbitrary<Uint8Array> {
  const str = (s: string) => {
    const b = utf8.encode(s);
    return concat([lengthHeader('str', b.length, 1), b]);
  };
  const op = fc.oneof(fc.constantFrom(...ops).map(str), msgpackValue);
  return fc
    .record({ id: msgpackValue, op, data: fc.oneof(msgpackValue, deepMsgpack) }, { requiredKeys: ['op'] })
    .map((r) => {
      const entries = Object.entries(r).map(([k, v]) => concat([str(k), v]));
      return concat([lengthHeader('map', entries.length, 0), ...entries]);
    });
}

/** Mutations of a frame: flipped, inserted, deleted bytes and truncation. */
export function mutated(frames: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  const edit = fc.record({ at: fc.nat(), kind: fc.constantFrom('flip', 'insert', 'delete', 'truncate'), byte: fc.integer({ min: 0, max: 255 }) });
  return fc.tuple(frames, fc.array(edit, { minLength: 1, maxLength: 4 })).map(([frame, edits]) => {
    let bytes = Array.from(frame);
    for (const e of edits) {
      const at = bytes.length === 0 ? 0 : e.at % bytes.length;
      if (e.kind === 'flip') bytes[at] = e.byte;
      else if (e.kind === 'insert') bytes.splice(at, 0, e.byte);
      else if (e.kind === 'delete') bytes.splice(at, 1);
      else bytes = bytes.slice(0, at);
    }
    return Uint8Array.from(bytes);
  });
}

/** Binary frames: MessagePack of every kind, deep, request-shaped, mutated, and random bytes. */
export function binaryFrame(ops: readonly string[]): fc.Arbitrary<Uint8Array> {
  const envelope = msgpackEnvelope(ops);
  return fc.oneof(
    { weight: 3, arbitrary: msgpackValue },
    { weight: 3, arbitrary: envelope },
    { weight: 1, arbitrary: deepMsgpack },
    { weight: 2, arbitrary: mutated(fc.oneof(msgpackValue, envelope)) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }) },
    // Two values, or a value and garbage: a frame is exactly one value.
    { weight: 1, arbitrary: fc.tuple(msgpackValue, fc.oneof(msgpackValue, fc.uint8Array({ minLength: 1, maxLength: 4 }))).map(([a, b]) => concat([a, b])) },
  );
}

// ---------------------------------------------------------------------------------------------
// Text frames

/** JSON text nested `depth` levels (up to 200 000). */
export const deepJson: fc.Arbitrary<string> = fc
  .tuple(fc.integer({ min: 1, max: 200_000 }), fc.constantFrom('array', 'object', 'unclosed'))
  .map(([depth, kind]) => {
    if (kind === 'array') return `${'['.repeat(depth)}1${']'.repeat(depth)}`;
    if (kind === 'object') return `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
    return '['.repeat(depth);
  });

/** JSON snippets that stress JSON.parse's edges. */
const jsonOddity: fc.Arbitrary<string> = fc.constantFrom(
  '1e400',
  '-1e400',
  '123456789012345678901234567890',
  '-0',
  '"\\u0000"',
  '"\\ud800"',
  '"\\udc00\\ud800"',
  '{"__proto__":{"op":"auth.me"},"op":"x"}',
  '{"op":"ingest","data":{"points":[{"value":1e400}]}}',
  '{"op":"x","op":"y"}',
  '{"id":1e400,"op":"auth.me"}',
  '{"id":-0,"op":"auth.me"}',
  '\ufeff{"op":"auth.me"}',
  '',
  ' ',
  'null',
  '"op"',
);

/** Text frames: JSON of nasty envelopes, deep, odd, mutated (into invalid UTF-8 too), random bytes. */
export function textFrame(ops: readonly string[]): fc.Arbitrary<Uint8Array> {
  const jsonEnvelope = fc
    .record({ id: fc.oneof(fc.integer(), fc.double(), nastyString), op: fc.oneof(fc.constantFrom(...ops), nastyString), data: nastyValue }, { requiredKeys: [] })
    .map((r) => safeJson(r));
  const text = fc.oneof(
    { weight: 3, arbitrary: jsonEnvelope },
    { weight: 2, arbitrary: fc.json() },
    { weight: 1, arbitrary: deepJson },
    { weight: 1, arbitrary: jsonOddity },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  );
  const bytes = text.map((s) => utf8.encode(s));
  return fc.oneof(
    { weight: 4, arbitrary: bytes },
    { weight: 2, arbitrary: mutated(bytes) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }) },
  );
}
