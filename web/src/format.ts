/** How values, times, sizes and errors read on screen. */

/** A value as the old page showed it: at most `decimals` places, no trailing zeros. */
export function formatValue(value: number, decimals = 3): string {
  return String(Number(value.toFixed(decimals)));
}

/** "12 s ago", "3 min ago", … */
export function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86_400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86_400)} d ago`;
}

/** A record's ISO time in the reader's local time; `—` for none. */
export function when(iso: string | null | undefined): string {
  if (iso === null || iso === undefined || iso === '') return '—';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

/** "12 s ago" for an ISO time, `never` for none. */
export function agoIso(iso: string | null | undefined, now = Date.now()): string {
  if (iso === null || iso === undefined) return 'never';
  return ago(now - new Date(iso).getTime());
}

/** 1536 → "1.5 KiB". */
export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

/** An epoch-ms time as a `datetime-local` input value (local time, to the second). */
export function toLocalInput(ms: number): string {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 19);
}

/**
 * What a failed call says on screen: the hub's message, each refused field of a `422`, and a
 * plain word for a `403` (the role may not do this), never a stack.
 */
export function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const e = err as Error & { status?: number; details?: { path: string; message: string }[] };
  let text = e.message;
  if (Array.isArray(e.details) && e.details.length > 0) text += ': ' + e.details.map((d) => `${d.path} ${d.message}`).join('; ');
  if (e.status === 403) text = `Not allowed for your role: ${text}`;
  return text;
}
