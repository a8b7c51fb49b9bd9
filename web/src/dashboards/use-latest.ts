/**
 * The latest value of one event for a widget: `datapoints.latest` once, then the live stream,
 * shown at most once per animation frame (a stream of ten points a second renders ten times at
 * most, and a burst in one frame renders once).
 */
import { useSignal, type Signal } from '@preact/signals';
import { useEffect } from 'preact/hooks';
import type { Points, ReadingsInfo } from '@telemetry-hub/client';
import { live } from '../session.js';
import type { Latest } from '../stat.js';
import { cancelDraw, drawNextFrame } from './frame.js';
import { request } from './requests.js';

export interface LatestState {
  latest: Signal<Latest | undefined>;
  /** The first answer (a value, or none stored) has come. */
  loaded: Signal<boolean>;
}

export function useLatest(event: string): LatestState {
  const latest = useSignal<Latest | undefined>(undefined);
  const loaded = useSignal(false);
  useEffect(() => {
    let gone = false;
    let newest: Latest | undefined;
    const show = (): void => {
      if (!gone) latest.value = newest;
    };
    const take = (candidate: Latest): void => {
      if (newest !== undefined && candidate.ts < newest.ts) return;
      newest = candidate;
      drawNextFrame(show);
    };
    const onPoints = (_e: string, points: Points, info: ReadingsInfo): void => {
      const p = points[points.length - 1];
      if (p !== undefined) take({ ts: p[0], value: p[1], conflated: info.conflated });
    };
    let sub: { unsubscribe(): Promise<void> } | undefined;
    live()
      .subscribe([event], onPoints)
      .then((s) => {
        sub = s;
        if (gone) void s.unsubscribe().catch(() => undefined);
      }, () => undefined);
    request('datapoints.latest', { events: [event] }).then(
      (r) => {
        const p = r.items[0];
        if (p !== undefined) take({ ts: p.ts, value: p.value, conflated: false });
        loaded.value = true;
      },
      () => (loaded.value = true),
    );
    return () => {
      gone = true;
      cancelDraw(show);
      void sub?.unsubscribe().catch(() => undefined);
    };
  }, [event]);
  return { latest, loaded };
}
