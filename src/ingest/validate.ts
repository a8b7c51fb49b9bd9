/**
 * Checks one `ingest` message, all or nothing, and turns it into compact parallel arrays (the
 * form the COPY encoder reads). Synchronous and allocation-light: the hot path.
 * @see PROTOCOL.md §6, §10
 */
import type { Principal } from '../auth/principal.js';
import { HubError, invalid, tooLarge, type ErrorDetail } from '../errors.js';
import type { Catalog, EventRef } from './catalog.js';

/** Longer than any event public_id (36 characters, or 32 without dashes, maybe braced). */
const MAX_ID_CHARS = 64;
/** channel_mappings.channel_id is varchar(255). */
const MAX_CHANNEL_CHARS = 255;

/** A validated message: `count` points as parallel arrays. */
export interface IngestPoints {
  readonly seq: number | null;
  readonly count: number;
  readonly events: EventRef[];
  readonly eventBytes: Buffer[];
  readonly values: Float64Array;
  readonly ts: Float64Array;
}

export type Validated =
  | { readonly kind: 'ok'; readonly points: IngestPoints }
  | { readonly kind: 'error'; readonly error: HubError }
  /** Some event or channel is unknown: the catalog may be behind; reload it and validate again. */
  | { readonly kind: 'unknown' };

/** How far ahead of the hub's clock a point's `ts` may be. */
export const MAX_FUTURE_MS = 24 * 3600 * 1000;
const MAX_DETAILS = 50;

/**
 * Validates `data` for `principal`. `final` says the catalog was just reloaded, so unknown
 * events and channels are errors rather than a reason to reload.
 */
export function validateIngest(
  data: Readonly<Record<string, unknown>>,
  principal: Principal,
  catalog: Catalog,
  maxPoints: number,
  now: number,
  final: boolean,
): Validated {
  const { points, seq } = data;
  for (const key in data) {
    if (key !== 'points' && key !== 'seq') return error(invalid([{ path: `/${key}`, message: 'is not a known field' }]));
  }
  if (seq !== undefined && seq !== null && !(typeof seq === 'number' && Number.isSafeInteger(seq) && seq >= 0)) {
    return error(invalid([{ path: '/seq', message: 'must be a non-negative integer' }]));
  }
  if (!Array.isArray(points)) return error(invalid([{ path: '/points', message: 'must be an array of points' }]));
  const count = points.length;
  if (count === 0) return error(invalid([{ path: '/points', message: 'must hold at least one point' }]));
  if (count > maxPoints) return error(tooLarge(`An ingest holds at most ${maxPoints} points (HUB_MAX_BATCH_POINTS); this one has ${count}`));

  const device = principal.pluginInstancePublicId;
  const events: EventRef[] = new Array<EventRef>(count);
  const eventBytes: Buffer[] = new Array<Buffer>(count);
  const values = new Float64Array(count);
  const ts = new Float64Array(count);
  const latest = now + MAX_FUTURE_MS;
  let details: ErrorDetail[] | undefined;
  let unknown = false;
  const fail = (path: string, message: string): void => {
    details ??= [];
    if (details.length < MAX_DETAILS) details.push({ path, message });
  };

  for (let i = 0; i < count; i++) {
    const p = points[i] as { event?: unknown; channel?: unknown; value?: unknown; ts?: unknown } | null;
    if (typeof p !== 'object' || p === null || Array.isArray(p)) {
      fail(`/points/${i}`, 'must be an object');
      continue;
    }
    const { event, channel, value, ts: t } = p;
    let ref: EventRef | null | undefined;
    if ((event === undefined) === (channel === undefined)) {
      fail(`/points/${i}`, 'must name exactly one of event and channel');
    } else if (event !== undefined) {
      // A string far longer than an id is refused before any lookup hashes it (a frame of
      // thousands of long strings must not cost seconds).
      if (typeof event !== 'string' || event.length > MAX_ID_CHARS) fail(`/points/${i}/event`, 'must be an event public_id');
      else {
        ref = catalog.event(event);
        if (ref === undefined) {
          if (final) fail(`/points/${i}/event`, `Event '${event.slice(0, 64)}' not found`);
          else unknown = true;
        } else if (device !== null && !catalog.instanceHasEvent(device, ref.id)) {
          if (final) fail(`/points/${i}/event`, 'is not mapped to this device');
          else unknown = true;
        }
      }
    } else if (device === null) {
      fail(`/points/${i}/channel`, 'channel is for device tokens; name the event');
    } else if (typeof channel !== 'string' || channel.length > MAX_CHANNEL_CHARS) {
      fail(`/points/${i}/channel`, `must be a channel_id string of at most ${MAX_CHANNEL_CHARS} characters`);
    } else {
      ref = catalog.channel(device, channel);
      if (ref === undefined) {
        if (final) fail(`/points/${i}/channel`, `no channel '${channel.slice(0, 64)}' on this plugin instance`);
        else unknown = true;
      } else if (ref === null) {
        fail(`/points/${i}/channel`, 'is mapped to no event');
      }
    }
    // Only a number goes into the Float64Array: storing anything else converts it, and a BigInt
    // (MessagePack ext) or an object without a primitive form would throw a TypeError there.
    const finite = typeof value === 'number' && Number.isFinite(value);
    if (!finite) fail(`/points/${i}/value`, 'must be a finite number');
    let time = now;
    if (t !== undefined) {
      if (typeof t !== 'number' || !Number.isFinite(t) || t < 0 || t > latest) {
        fail(`/points/${i}/ts`, 'must be epoch milliseconds from 0 to 24 hours ahead of the hub');
      } else time = t;
    }
    if (ref !== undefined && ref !== null) {
      events[i] = ref;
      eventBytes[i] = ref.bytes;
    }
    values[i] = finite ? value : Number.NaN;
    ts[i] = time;
  }

  // Unknown names first: after a reload the final pass reports every problem at once.
  if (unknown) return { kind: 'unknown' };
  if (details !== undefined) return error(invalid(details, 'Invalid points; nothing was stored'));
  return { kind: 'ok', points: { seq: typeof seq === 'number' ? seq : null, count, events, eventBytes, values, ts } };
}

const error = (e: HubError): Validated => ({ kind: 'error', error: e });
