/**
 * The latest value of one event for a widget: `datapoints.latest` once, then the live stream,
 * shown in an animation frame at most five times a second (a burst renders once).
 */
import { useSignal, type Signal } from '@preact/signals';
import { useEffect } from 'preact/hooks';
import type { Points, ReadingsInfo } from '@telemetry-hub/client';
import { live } from '../session.js';
import type { Latest } from '../stat.js';
import { cancelDraw, drawNextFrame, throttledDraw } from './frame.js';

/** A number changing faster than this is not read anyway. */
const LIVE_REDRAW_MS = 200;
import { latestOf } from './requests.js';

export interface LatestState {
  latest: Signal<Latest | undefined>;
  /** When the first answer (a value, or none stored) was shown (`performance.now()`); 0 before. */
  loadedAt: Signal<number>;
}

export function useLatest(event: string): LatestState {
  const latest = useSignal<Latest | undefined>(undefined);
  const loadedAt = useSignal(0);
  useEffect(() => {
    let gone = false;
    let newest: Latest | undefined;
    const show = (): void => {
      if (!gone) latest.value = newest;
    };
    const shown = throttledDraw(show, LIVE_REDRAW_MS);
    const take = (candidate: Latest): void => {
      if (newest !== undefined && candidate.ts < newest.ts) return;
      newest = candidate;
      shown.request();
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
    const loaded = (): void => {
      drawNextFrame(() => {
        if (!gone) loadedAt.value = Math.round(performance.now());
      });
    };
    latestOf(event).then((p) => {
      if (p !== undefined) take({ ts: p.ts, value: p.value, conflated: false });
      loaded();
    }, loaded);
    return () => {
      gone = true;
      shown.cancel();
      void sub?.unsubscribe().catch(() => undefined);
    };
  }, [event]);
  return { latest, loadedAt };
}
