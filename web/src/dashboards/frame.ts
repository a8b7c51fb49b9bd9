/**
 * Redraws batched per animation frame: a widget that receives ten pushes a second marks itself
 * dirty on each and is drawn once in the next frame, whatever the number of pushes. A hidden tab
 * gets no frames, so it draws nothing until it is shown again.
 */
const dirty = new Set<() => void>();
let requested = false;

function flush(): void {
  requested = false;
  const jobs = [...dirty];
  dirty.clear();
  for (const job of jobs) {
    try {
      job();
    } catch (err) {
      // One widget's failure must not starve the others of their frame; still report it.
      queueMicrotask(() => {
        throw err;
      });
    }
  }
}

/** Runs `draw` once in the next frame, however often it is asked for before then. */
export function drawNextFrame(draw: () => void): void {
  dirty.add(draw);
  if (!requested) {
    requested = true;
    requestAnimationFrame(flush);
  }
}

/** Forgets a pending draw (the widget is gone). */
export function cancelDraw(draw: () => void): void {
  dirty.delete(draw);
}

/** Draws waiting for a slot on the shared time grid, by slot time. */
const slots = new Map<number, Set<() => void>>();

/** Runs `draw` in the first frame after the next multiple of `everyMs` (shared by all callers). */
function atNextSlot(draw: () => void, everyMs: number): void {
  const at = Math.ceil((performance.now() + 1) / everyMs) * everyMs;
  let jobs = slots.get(at);
  if (jobs === undefined) {
    slots.set(at, (jobs = new Set()));
    setTimeout(() => {
      slots.delete(at);
      for (const job of jobs as Set<() => void>) drawNextFrame(job);
    }, at - performance.now());
  }
  jobs.add(draw);
}

/**
 * `draw` at most once per `minMs`: a widget receiving ten pushes a second need not be painted
 * ten times. A change after a quiet spell is drawn in the next frame; a change sooner waits for
 * the next slot of a time grid shared by every widget, so that the widgets that wait are drawn
 * together in one frame rather than each in its own (each frame costs style, layout and paint).
 */
export function throttledDraw(draw: () => void, minMs: number): { request(): void; cancel(): void } {
  let last = Number.NEGATIVE_INFINITY;
  let waiting = false;
  let gone = false;
  const run = (): void => {
    waiting = false;
    if (gone) return;
    last = performance.now();
    draw();
  };
  return {
    request: () => {
      if (waiting || gone) return;
      waiting = true;
      if (performance.now() - last >= minMs) drawNextFrame(run);
      else atNextSlot(run, minMs);
    },
    cancel: () => {
      gone = true;
      cancelDraw(run);
      for (const jobs of slots.values()) jobs.delete(run);
    },
  };
}
