/**
 * The page's theme (`data-theme` on the root element, set by the header's switch). Canvas
 * charts read their colours from CSS variables when they are made; they are made again when
 * the theme changes.
 */
import { useEffect, useState } from 'preact/hooks';

const current = (): string => document.documentElement.dataset['theme'] ?? '';

export function useTheme(): string {
  const [theme, setTheme] = useState(current);
  useEffect(() => {
    const watch = new MutationObserver(() => setTheme(current()));
    watch.observe(document.documentElement, { attributes: true, attributeFilter: ['data-theme'] });
    return () => watch.disconnect();
  }, []);
  return theme;
}
