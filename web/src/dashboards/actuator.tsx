/**
 * The actuator widget: a toggle for an `actuator` event (0 / 1), a slider for a `range` event
 * (its min..max). Operators and admins write the value by `ingest`; what the widget shows as the
 * state is the value last committed for the event (what the device reports back, live), never
 * the click itself: a write that is refused or lost does not look like it took effect.
 * Viewers see the state read-only. @see PROTOCOL.md §6, §13 (actuators)
 */
import { useSignal } from '@preact/signals';
import type { EventRecord } from '@telemetry-hub/client';
import { ago, formatValue } from '../format.js';
import { useTick } from '../live.js';
import { STALE_MS } from '../stat.js';
import { failureText, request } from './requests.js';
import { useLatest } from './use-latest.js';
import type { WidgetConfig } from './widget-config.js';

export function ActuatorWidget(props: { event: EventRecord; config: WidgetConfig; writable: boolean }) {
  const { event, config, writable } = props;
  const { latest, loadedAt } = useLatest(event.public_id);
  const sending = useSignal<number | null>(null);
  const draft = useSignal<number | null>(null);
  const error = useSignal('');
  const now = useTick(5_000);
  const slider = event.event_type === 'range';
  const min = config.min ?? event.min_value ?? 0;
  const max = config.max ?? event.max_value ?? (slider ? 100 : 1);
  const step = config.step ?? (slider ? (max - min) / 100 : 1);

  const write = (value: number): void => {
    sending.value = value;
    error.value = '';
    request('ingest', { points: [{ event: event.public_id, value }] }).then(
      () => (sending.value = null),
      (err: unknown) => {
        sending.value = null;
        error.value = failureText(err);
      },
    );
  };
  const reported = latest.value;
  const stale = reported !== undefined && now - reported.ts > STALE_MS;
  const on = reported !== undefined && reported.value !== 0;
  const state = reported === undefined ? '' : `${formatValue(reported.value, config.decimals)}${event.unit !== '' ? ' ' + event.unit : ''}`;

  return (
    <div class="actuator" data-drawn={loadedAt.value > 0 ? String(loadedAt.value) : undefined}>
      {slider ? (
        <label class="slider">
          <span class="sr">set {event.name}</span>
          <input
            type="range"
            min={min}
            max={max}
            step={step}
            value={draft.value ?? reported?.value ?? min}
            disabled={!writable || sending.value !== null}
            onInput={(e) => (draft.value = Number((e.currentTarget as HTMLInputElement).value))}
            onChange={(e) => {
              const value = Number((e.currentTarget as HTMLInputElement).value);
              draft.value = null;
              write(value);
            }}
          />
          {draft.value !== null && <span class="draft">→ {formatValue(draft.value, config.decimals)}</span>}
        </label>
      ) : (
        <button
          type="button"
          role="switch"
          class={on ? 'switch on' : 'switch'}
          aria-checked={on}
          aria-label={`${event.name} ${on ? 'on' : 'off'}`}
          disabled={!writable || sending.value !== null}
          onClick={() => write(on ? 0 : 1)}
        >
          <span class="knob" />
        </button>
      )}
      <div class={stale ? 'reported stale' : 'reported'} data-reported={reported === undefined ? undefined : String(reported.value)}>
        {reported === undefined ? <b>no value reported yet</b> : <>{slider ? 'reported ' : on ? 'on · reported ' : 'off · reported '}<b>{state}</b></>}
        {reported?.conflated === true && <span class="conflated" title="conflated: not every point is shown"> ≈</span>}
        {stale && reported !== undefined && <span class="age"> {ago(now - reported.ts)}</span>}
      </div>
      {sending.value !== null && <div class="muted small">sending {formatValue(sending.value, config.decimals)}…</div>}
      {!writable && <div class="muted small">read-only</div>}
      {error.value !== '' && <div class="error small">{error.value}</div>}
    </div>
  );
}
