/**
 * Typed ops: the request types are generated from the hub's AsyncAPI document
 * (ops.generated.ts), the reply types written from PROTOCOL.md (wire-types.ts); the checks
 * below make the build fail when the two name different ops.
 */
import type { OpRequests } from './ops.generated.js';
import type { ReplyOf, SpecialReplies } from './wire-types.js';

export { OP_NAMES, type OpRequests, type PushData } from './ops.generated.js';

/** Every op the hub registers. */
export type OpName = keyof OpRequests & string;
/** The `data` of a request of `O`. */
export type RequestOf<O extends OpName> = OpRequests[O];
/** The `data` of the reply to `O`. */
export type ReplyTo<O extends OpName> = ReplyOf<O>;

type Assert<T extends true> = T;
/** Ops without a reply type (must be none). */
type Unreplied = { [O in OpName]: [ReplyOf<O>] extends [never] ? O : never }[OpName];
/** Reply types for ops the hub does not have (must be none). */
type Unknown = Exclude<keyof SpecialReplies, OpName>;
export type RepliesCoverEveryOp = Assert<[Unreplied] extends [never] ? true : false>;
export type RepliesNameOnlyRealOps = Assert<[Unknown] extends [never] ? true : false>;
