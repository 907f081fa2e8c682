/**
 * The `summary` object of the bench JSON: the figures issue 17 asks tools to read, under fixed keys.
 * A key whose figure this run does not measure is null, never a guess.
 */
export interface BenchSummary {
  /** Delivered messages/s with the API and the worker in one process (`npm start`'s shape): not run yet. */
  deliveredPerSec: number | null;
  /** Delivered messages/s with the API and the worker as separate processes (the burst, 1 endpoint). */
  deliveredPerSecSplit: number | null;
  rawTemporalPerSec: number | null;
  /** Delivered / naive baseline, from the one-process shape, or from the split one while that is not run (`ratiosFrom`). */
  ratioToRawTemporal: number | null;
  rawTemporalBestPerSec: number | null;
  ratioToRawTemporalBest: number | null;
  ratiosFrom: 'one-process' | 'split';
  e2eHalfRateP99Ms: number | null;
  sendMessageP99MsAt80Pct: number | null;
  /**
   * `sendMessage` p99 at 80 % of the delivered rate (split processes), open loop: a rate the system
   * sustains, where the burst's ingest rate is above what it can deliver, so a queue builds behind it.
   */
  sendMessageP99MsAt80PctOfDelivered: number | null;
  /** Batch ingest: messages a second `sendMessages` takes in, 100 a call from 4 clients. */
  sendMessagesPerSec: number | null;
  historyPageMsAt10k: number | null;
  historyPageMsAt100k: number | null;
  retentionMsPerMessageAt100k: number | null;
}

interface Throughput {
  messagesPerSecond: number;
  ingest: { p99: number; requestsPerSecond?: number };
  endToEnd: { p99: number };
}
interface GrowthFigures {
  storedMessages: number;
  queryByTypeMs: number;
  queryByEndpointMs: number;
  secondPageMs: number;
  retentionDeleted: number;
  retentionSeconds: number;
}

const round = (v: number | null | undefined, digits = 2) =>
  v === null || v === undefined || !Number.isFinite(v) ? null : Math.round(v * 10 ** digits) / 10 ** digits;

/** The growth point closest to `level` stored messages (seeding tops up to it, so within a few). */
function at(growth: GrowthFigures[] | undefined, level: number): GrowthFigures | undefined {
  return growth?.find((g) => Math.abs(g.storedMessages - level) <= level * 0.05);
}

/** The slowest of the history pages the bench times: by type (and time range), by endpoint, page 2. */
const slowestPage = (g: GrowthFigures | undefined) => (g ? Math.max(g.queryByTypeMs, g.queryByEndpointMs, g.secondPageMs) : null);

export function benchSummary(results: Record<string, unknown>): BenchSummary {
  const burst = results.burst as Throughput | undefined;
  const oneProcess = results.oneProcess as Throughput | undefined;
  const half = results.half as Throughput | undefined;
  const eighty = results.eighty as Throughput | undefined;
  const eightyDelivered = results.eightyOfDelivered as Throughput | undefined;
  const batch = results.batch as Throughput | undefined;
  const raw = results.rawTemporal as { workflowsPerSecond: number } | undefined;
  const best = results.rawTemporalBest as { workflowsPerSecond: number } | undefined;
  const growth = results.growth as GrowthFigures[] | undefined;
  const delivered = oneProcess?.messagesPerSecond ?? burst?.messagesPerSecond;
  const at100k = at(growth, 100_000);
  return {
    deliveredPerSec: round(oneProcess?.messagesPerSecond),
    deliveredPerSecSplit: round(burst?.messagesPerSecond),
    rawTemporalPerSec: round(raw?.workflowsPerSecond),
    ratioToRawTemporal: round(delivered !== undefined && raw ? delivered / raw.workflowsPerSecond : null, 3),
    rawTemporalBestPerSec: round(best?.workflowsPerSecond),
    ratioToRawTemporalBest: round(delivered !== undefined && best ? delivered / best.workflowsPerSecond : null, 3),
    ratiosFrom: oneProcess ? 'one-process' : 'split',
    e2eHalfRateP99Ms: round(half?.endToEnd.p99, 1),
    sendMessageP99MsAt80Pct: round(eighty?.ingest.p99, 1),
    sendMessageP99MsAt80PctOfDelivered: round(eightyDelivered?.ingest.p99, 1),
    sendMessagesPerSec: round(batch?.ingest.requestsPerSecond, 1),
    historyPageMsAt10k: round(slowestPage(at(growth, 10_000)), 1),
    historyPageMsAt100k: round(slowestPage(at100k), 1),
    retentionMsPerMessageAt100k: round(at100k && at100k.retentionDeleted > 0 ? (at100k.retentionSeconds * 1000) / at100k.retentionDeleted : null, 3),
  };
}
