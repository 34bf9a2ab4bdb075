// A small line-plot renderer producing standalone inline SVG (no plotting dependency): axes with
// "nice" ticks, one polyline + markers per series, a legend. Enough for the HTML report.

export interface Series {
  name: string;
  points: [number, number][];
}

export interface PlotSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  width?: number;
  height?: number;
}

const kColors = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** About `count` round tick values covering [lo, hi] (steps of 1, 2 or 5 × 10^n). */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) hi = lo + 1;
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let v = Math.floor(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  if (ticks[ticks.length - 1]! < hi) ticks.push(Number((ticks[ticks.length - 1]! + step).toPrecision(12)));
  return ticks;
}

function fmt(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e6) return `${Number((v / 1e6).toPrecision(3))}M`;
  if (a >= 1e4) return `${Number((v / 1e3).toPrecision(3))}k`;
  return String(Number(v.toPrecision(4)));
}

export function linePlot(spec: PlotSpec): string {
  const W = spec.width ?? 560;
  const H = spec.height ?? 340;
  const m = { l: 64, r: 16, t: 32, b: 48 };
  const pts = spec.series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<text x="${W / 2}" y="18" text-anchor="middle" font-size="13" font-weight="bold">${escapeXml(spec.title)}</text>`,
  ];
  if (pts.length === 0) {
    parts.push(`<text x="${W / 2}" y="${H / 2}" text-anchor="middle" fill="#888">no data</text>`, '</svg>');
    return parts.join('\n');
  }
  const xt = niceTicks(Math.min(0, ...pts.map((p) => p[0])), Math.max(...pts.map((p) => p[0])));
  const yt = niceTicks(Math.min(0, ...pts.map((p) => p[1])), Math.max(...pts.map((p) => p[1])));
  const [x0, x1, y0, y1] = [xt[0]!, xt[xt.length - 1]!, yt[0]!, yt[yt.length - 1]!];
  const px = (x: number): number => m.l + ((x - x0) / (x1 - x0 || 1)) * (W - m.l - m.r);
  const py = (y: number): number => H - m.b - ((y - y0) / (y1 - y0 || 1)) * (H - m.t - m.b);
  const r = (v: number): string => v.toFixed(1);
  parts.push(`<g stroke="#ccc" stroke-width="1">`);
  for (const t of xt) parts.push(`<line x1="${r(px(t))}" y1="${m.t}" x2="${r(px(t))}" y2="${H - m.b}"/>`);
  for (const t of yt) parts.push(`<line x1="${m.l}" y1="${r(py(t))}" x2="${W - m.r}" y2="${r(py(t))}"/>`);
  parts.push('</g>');
  parts.push(`<g fill="#333">`);
  for (const t of xt) parts.push(`<text x="${r(px(t))}" y="${H - m.b + 14}" text-anchor="middle">${fmt(t)}</text>`);
  for (const t of yt) parts.push(`<text x="${m.l - 4}" y="${r(py(t) + 4)}" text-anchor="end">${fmt(t)}</text>`);
  parts.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 10}" text-anchor="middle">${escapeXml(spec.xLabel)}</text>`);
  parts.push(
    `<text x="14" y="${(m.t + H - m.b) / 2}" text-anchor="middle" transform="rotate(-90 14 ${(m.t + H - m.b) / 2})">${escapeXml(spec.yLabel)}</text>`,
  );
  parts.push('</g>');
  spec.series.forEach((s, i) => {
    const color = kColors[i % kColors.length]!;
    const sp = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    if (sp.length === 0) return;
    parts.push(
      `<polyline fill="none" stroke="${color}" stroke-width="2" points="${sp.map(([x, y]) => `${r(px(x))},${r(py(y))}`).join(' ')}"/>`,
    );
    for (const [x, y] of sp) parts.push(`<circle cx="${r(px(x))}" cy="${r(py(y))}" r="3" fill="${color}"/>`);
    const ly = m.t + 6 + i * 14;
    parts.push(`<rect x="${m.l + 8}" y="${ly}" width="10" height="3" fill="${color}"/>`);
    parts.push(`<text x="${m.l + 22}" y="${ly + 5}">${escapeXml(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}
