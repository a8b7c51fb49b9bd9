/**
 * Rows → records on the wire: no internal `id`, no secrets, timestamps as ISO 8601 UTC strings,
 * and the derived flags clients see instead of secrets (`has_secret`, `has_file`).
 * @see PROTOCOL.md §3, §5, §10
 */

/** Columns that never leave the hub. */
const HIDDEN: ReadonlySet<string> = new Set([
  'id',
  'password_hash',
  'token_hash',
  'secret',
  'file_path',
  'token_generation',
  // The provider's identity of a user stays in the hub (PROTOCOL.md §17): `sso_linked` instead.
  'oidc_issuer',
  'oidc_subject',
]);

export type WireRecord = Record<string, unknown>;

/** The wire form of a row of `resource`. */
export function toRecord(resource: string, row: Readonly<Record<string, unknown>>): WireRecord {
  const out: WireRecord = {};
  for (const [key, value] of Object.entries(row)) {
    if (HIDDEN.has(key)) continue;
    out[key] = value instanceof Date ? value.toISOString() : value;
  }
  switch (resource) {
    case 'users':
      if ('oidc_subject' in row) out.sso_linked = row.oidc_subject !== null;
      break;
    case 'webhooks':
      out.has_secret = row.secret !== null && row.secret !== undefined;
      break;
    case 'firmware_updates':
    case 'plugin_packages':
      out.has_file = row.file_path !== null && row.file_path !== undefined;
      break;
    case 'datapoints':
      // A datapoint's time is `timestamp`; its commit time is internal.
      delete out.created_on;
      break;
  }
  return out;
}
