/** Live readings for components: subscribe on mount, unsubscribe on unmount (the SDK resumes gaps). */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { Points, ReadingsInfo } from '@telemetry-hub/client';
import { live } from './session.js';

/** Calls `onPoints` with each event's committed points from `since` on, across reconnects. */
export function useReadings(events: readonly string[], since: number | undefined, onPoints: (event: string, points: Points, info: ReadingsInfo) => void): void {
  const handler = useRef(onPoints);
  handler.current = onPoints;
  const key = events.join(',');
  useEffect(() => {
    if (events.length === 0) return;
    let gone = false;
    let sub: { unsubscribe(): Promise<void> } | undefined;
    void live()
      .subscribe(events, (event, points, info) => handler.current(event, points, info), since === undefined ? {} : { since })
      .then((s) => {
        sub = s;
        if (gone) void s.unsubscribe().catch(() => undefined);
      })
      .catch(() => undefined);
    return () => {
      gone = true;
      void sub?.unsubscribe().catch(() => undefined);
    };
    // Resubscribe only when the set of events changes.
  }, [key]);
}

/** Re-renders every `ms` (staleness labels age without new points). */
export function useTick(ms: number): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [ms]);
  return now;
}
