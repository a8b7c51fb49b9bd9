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
