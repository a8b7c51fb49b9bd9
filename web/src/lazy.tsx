/** Loads a view's chunk on first use (uPlot and gridstack stay out of the first download). */
import type { ComponentType } from 'preact';
import { useEffect, useState } from 'preact/hooks';

export function lazy<P extends object>(load: () => Promise<ComponentType<P>>): ComponentType<P> {
  let loaded: ComponentType<P> | undefined;
  return function Lazy(props: P) {
    const [, setReady] = useState(loaded !== undefined);
    const [error, setError] = useState('');
    useEffect(() => {
      if (loaded !== undefined) return;
      load().then(
        (c) => {
          loaded = c;
          setReady(true);
        },
        (err: unknown) => setError(String(err)),
      );
    }, []);
    if (error !== '') return <p class="error">{error}</p>;
    if (loaded === undefined) return <p class="muted">Loading…</p>;
    const View = loaded;
    return <View {...props} />;
  };
}
