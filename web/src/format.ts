/** How values and times read on screen. */

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

export function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
