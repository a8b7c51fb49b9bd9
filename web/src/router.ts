/** Hash routes (`#/dashboards/<id>`): the hub serves one page, the fragment never reaches it. */
import { signal } from '@preact/signals';

function current(): string[] {
  // Only `#/…` is a route (`#sso_code=…` is the sign-in's, PROTOCOL.md §17).
  if (!location.hash.startsWith('#/')) return [];
  return location.hash.replace(/^#\/?/, '').split('/').filter((part) => part !== '').map(decodeURIComponent);
}

export const route = signal<string[]>(current());

window.addEventListener('hashchange', () => {
  route.value = current();
});

export function go(...parts: string[]): void {
  location.hash = '#/' + parts.map(encodeURIComponent).join('/');
}

export function href(...parts: string[]): string {
  return '#/' + parts.map(encodeURIComponent).join('/');
}
