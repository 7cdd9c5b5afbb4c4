// Learning curves with uPlot (vendored from node_modules): one line per trial, best highlighted.
import uPlot from '/vendor/uplot/uPlot.esm.js';
import { seriesColor, shortId } from './common.js';

/**
 * curves: [{ trialId, epochs: number[], values: number[] }]; bestId highlighted.
 * Returns the uPlot instance (re-created on each call: data and series change together).
 */
export function curveChart(container, { title, curves, bestId, yLabel, previous }) {
  if (previous) previous.destroy();
  container.replaceChildren();
  const maxEpoch = Math.max(1, ...curves.flatMap((c) => c.epochs));
  const xs = Array.from({ length: maxEpoch }, (_, i) => i + 1);
  // Draw the best last so it sits on top.
  const ordered = [...curves].sort((a, b) => (a.trialId === bestId) - (b.trialId === bestId));
  const data = [xs];
  const series = [{ label: 'epoch' }];
  ordered.forEach((c, i) => {
    const ys = new Array(maxEpoch).fill(null);
    c.epochs.forEach((e, j) => (ys[e - 1] = c.values[j]));
    data.push(ys);
    const best = c.trialId === bestId;
    series.push({
      label: (best && curves.length > 2 ? '★ ' : '') + (c.label ?? shortId(c.trialId)),
      stroke: best ? '#b3261e' : seriesColor(i) + (curves.length > 40 ? '55' : 'aa'),
      width: best ? 3 : 1,
      points: { show: maxEpoch <= 12, size: best ? 6 : 3 },
      spanGaps: true,
    });
  });
  const width = Math.max(300, container.clientWidth || 560);
  return new uPlot(
    {
      title,
      width,
      height: 260,
      series,
      legend: { show: curves.length <= 12 },
      axes: [{ label: 'epoch', incrs: [1, 2, 5, 10, 20, 50, 100] }, { label: yLabel, size: 56 }],
      scales: { x: { time: false } },
      cursor: { drag: { x: true, y: false } },
    },
    data,
    container,
  );
}
