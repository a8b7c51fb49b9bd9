/**
 * The WebSocket close codes the hub sends, in one registry beside the error registry
 * (centrifuge's disconnect.go keeps them so), each with what the client should do.
 * @see PROTOCOL.md §4
 */
export const CLOSE = {
  /** Normal closure. */
  normal: 1000,
  /** The hub is shutting down: reconnect (to it or another hub). */
  goingAway: 1001,
  /** A text frame that is not UTF-8 (RFC 6455; uWS itself cuts most such connections, seen as 1006). */
  invalidPayload: 1007,
  /** The token was revoked, deleted or expired, its user's password or role changed, or its device was disabled: do not reconnect with it. */
  tokenRevoked: 1008,
  /** A frame over HUB_MAX_FRAME_BYTES. */
  tooBig: 1009,
  /** An internal error. */
  internal: 1011,
  /** Too slow for topic pushes or for a `since` replay: reconnect, resuming with `since`. */
  tryAgainLater: 1013,
} as const;

export type CloseCode = (typeof CLOSE)[keyof typeof CLOSE];
