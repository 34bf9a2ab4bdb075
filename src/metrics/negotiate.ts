// Which form GET /metrics answers in, from the request's Accept header. Clipper's own clients
// (clipper_admin's inspect_instance, its frontend exporter) GET /metrics with Python requests'
// `Accept: */*` and parse Clipper's JSON; Prometheus scrapers name their text formats explicitly.
//
// Rules: among the media ranges of Accept that are exactly text/plain (Prometheus text 0.0.4),
// application/openmetrics-text (OpenMetrics 1.0.0) or application/json (Clipper's JSON), with a
// q-value above 0, the one with the highest q wins, the earliest listed on a tie. When Accept names
// none of them (absent, empty, */*, text/*, text/html, ...), the answer is Clipper's JSON.

export type MetricsFormat = 'json' | 'prometheus' | 'openmetrics';

const kExplicit: ReadonlyMap<string, MetricsFormat> = new Map([
  ['text/plain', 'prometheus'],
  ['application/openmetrics-text', 'openmetrics'],
  ['application/json', 'json'],
]);

/** The q-value of one media range's parameters (1 when absent; 0 when unparseable). */
function qualityOf(params: string[]): number {
  for (const p of params) {
    const eq = p.indexOf('=');
    if (eq === -1 || p.slice(0, eq).trim().toLowerCase() !== 'q') continue;
    const q = Number(p.slice(eq + 1).trim());
    return Number.isFinite(q) && q >= 0 && q <= 1 ? q : 0;
  }
  return 1;
}

export function metricsFormatFor(accept: string | undefined): MetricsFormat {
  if (accept === undefined || accept === '') return 'json';
  let best: MetricsFormat = 'json';
  let bestQ = 0;
  for (const range of accept.split(',')) {
    const [type = '', ...params] = range.split(';');
    const format = kExplicit.get(type.trim().toLowerCase());
    if (format === undefined) continue;
    const q = qualityOf(params);
    if (q > bestQ) {
      best = format;
      bestQ = q;
    }
  }
  return best;
}
