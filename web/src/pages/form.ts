/** Reading a submitted form's fields into the typed values an op takes. */

/** The submitted form's fields. */
export function fieldsOf(e: Event): { form: HTMLFormElement; get(name: string): string; checked(name: string): boolean; all(name: string): string[] } {
  e.preventDefault();
  const form = e.currentTarget as HTMLFormElement;
  const data = new FormData(form);
  return {
    form,
    get: (name) => String(data.get(name) ?? '').trim(),
    checked: (name) => data.get(name) !== null,
    all: (name) => data.getAll(name).map(String),
  };
}

/** `''` → null, else the number (the hub refuses what is not finite, with a 422 that says where). */
export function numberOrNull(text: string): number | null {
  return text === '' ? null : Number(text);
}

/** A `datetime-local` value (local time) → ISO 8601 UTC; `''` → null. */
export function isoOrNull(local: string): string | null {
  if (local === '') return null;
  const ms = new Date(local).getTime();
  return Number.isNaN(ms) ? null : new Date(ms).toISOString();
}
