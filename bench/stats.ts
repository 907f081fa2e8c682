/** Figures for `npm run bench`: percentiles, CPU shares and an SVG chart. Pure. */

export interface Summary {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** The nearest-rank percentile. */
export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]! : NaN;
}

export const summary = (values: number[]): Summary => ({
  n: values.length,
  p50: percentile(values, 50),
  p95: percentile(values, 95),
  p99: percentile(values, 99),
  max: values.length ? Math.max(...values) : NaN,
});

export const median = (values: number[]) => percentile(values, 50);

/** CPU seconds per process between two readings, as a share of one core over the wall time. */
export function cpuShares(
  before: Record<string, { cpuSeconds: number } | null>,
  after: Record<string, { cpuSeconds: number } | null>,
  wallSeconds: number,
): Record<string, number> {
  const shares: Record<string, number> = {};
  for (const [name, end] of Object.entries(after)) {
    const start = before[name];
    if (end && start) shares[name] = Math.round(((end.cpuSeconds - start.cpuSeconds) / wallSeconds) * 100) / 100;
  }
  return shares;
}

/** Milliseconds of CPU per process between two readings, divided by the work done meanwhile. */
export function cpuMsPer(
  before: Record<string, { cpuSeconds: number } | null>,
  after: Record<string, { cpuSeconds: number } | null>,
  count: number,
): Record<string, number> {
  const perItem: Record<string, number> = {};
  for (const [name, end] of Object.entries(after)) {
    const start = before[name];
    if (end && start) perItem[name] = Math.round(((end.cpuSeconds - start.cpuSeconds) * 1000 * 10) / count) / 10;
  }
  return perItem;
}

/** A cumulative distribution of each series, on one chart with a shared millisecond axis (log scale). */
export function svgCdf(title: string, series: { label: string; values: number[] }[]): string {
  const width = 720;
  const height = 360;
  const left = 60;
  const right = 180;
  const top = 30;
  const bottom = 50;
  const all = series.flatMap((s) => s.values).filter((v) => v > 0);
  const lo = Math.max(1, Math.min(...all));
  const hi = Math.max(lo * 10, Math.max(...all));
  const x = (v: number) => left + ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * (width - left - right);
  const y = (q: number) => top + (1 - q) * (height - top - bottom);
  const colours = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd'];
  const lines = series.map((s, i) => {
    const sorted = [...s.values].sort((a, b) => a - b);
    const points = sorted.map((v, k) => `${x(v).toFixed(1)},${y((k + 1) / sorted.length).toFixed(1)}`).join(' ');
    const colour = colours[i % colours.length];
    return `<polyline fill="none" stroke="${colour}" stroke-width="2" points="${points}"/><text x="${width - right + 10}" y="${top + 20 + i * 18}" fill="${colour}" font-size="12" font-family="sans-serif">${s.label} (n=${s.values.length})</text>`;
  });
  const ticks: string[] = [];
  for (let decade = Math.floor(Math.log10(lo)); decade <= Math.ceil(Math.log10(hi)); decade++) {
    const v = 10 ** decade;
    if (v < lo || v > hi) continue;
    ticks.push(
      `<line x1="${x(v)}" y1="${top}" x2="${x(v)}" y2="${height - bottom}" stroke="#ddd"/><text x="${x(v) - 10}" y="${height - bottom + 16}" font-size="11" font-family="sans-serif">${v} ms</text>`,
    );
  }
  for (const q of [0.5, 0.95, 0.99]) {
    ticks.push(
      `<line x1="${left}" y1="${y(q)}" x2="${width - right}" y2="${y(q)}" stroke="#eee"/><text x="10" y="${y(q) + 4}" font-size="11" font-family="sans-serif">p${Math.round(q * 100)}</text>`,
    );
  }
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left}" y="18" font-size="13" font-family="sans-serif">${title}</text>`,
    ...ticks,
    `<line x1="${left}" y1="${height - bottom}" x2="${width - right}" y2="${height - bottom}" stroke="black"/>`,
    `<line x1="${left}" y1="${top}" x2="${left}" y2="${height - bottom}" stroke="black"/>`,
    `<text x="${left}" y="${height - 10}" font-size="11" font-family="sans-serif">latency (log scale); y: share of messages delivered within it</text>`,
    ...lines,
    '</svg>',
  ].join('');
}
