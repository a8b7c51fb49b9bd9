/** A uPlot line chart of fetched history: one line, or average with min and max for buckets. */
import 'uplot/dist/uPlot.min.css';
import uPlot from 'uplot';
import { useEffect, useRef } from 'preact/hooks';

export interface ChartData {
  /** Epoch ms, ascending. */
  ts: number[];
  value: number[];
  min?: number[];
  max?: number[];
}

function cssVar(name: string, fallback: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

export function HistoryChart({ data, label }: { data: ChartData; label: string }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (el === null || data.ts.length === 0) return;
    const line = cssVar('--line', '#58a6ff');
    const muted = cssVar('--muted', '#9aa5b1');
    const grid = { stroke: cssVar('--border', '#2c3642'), width: 1 };
    const series: uPlot.Series[] = [{}, { label, stroke: line, width: 1.5 }];
    const columns: number[][] = [data.ts.map((t) => t / 1000), data.value];
    if (data.min !== undefined && data.max !== undefined) {
      series.push({ label: 'min', stroke: muted, width: 1, dash: [4, 4] }, { label: 'max', stroke: muted, width: 1, dash: [4, 4] });
      columns.push(data.min, data.max);
    }
    const plot = new uPlot(
      {
        width: Math.max(200, el.clientWidth),
        height: 260,
        series,
        axes: [
          { stroke: muted, grid },
          { stroke: muted, grid },
        ],
        cursor: { drag: { x: true, y: false } },
      },
      columns as uPlot.AlignedData,
      el,
    );
    const resize = new ResizeObserver(() => plot.setSize({ width: Math.max(200, el.clientWidth), height: 260 }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [data, label]);
  return <div class="history-chart" ref={box} />;
}
