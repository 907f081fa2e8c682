/**
 * Readiness: Temporal and MongoDB must both answer within a short deadline. The report names each
 * dependency, so that a 503 says what is down.
 */
import { Connection } from '@temporalio/client';
import { connectionOptionsOf, type TemporalTarget } from '../temporal';
import type { Db } from 'mongodb';

export interface DependencyState {
  ok: boolean;
  /** Why it is not ready; absent when ok. */
  error?: string;
  ms: number;
}

export interface ReadinessReport {
  ready: boolean;
  checks: Record<string, DependencyState>;
}

export interface Readiness {
  check(): Promise<ReadinessReport>;
  close(): Promise<void>;
}

/** Each check gets this long; a probe must answer well within the orchestrator's own timeout. */
const CHECK_DEADLINE_MS = 2_000;

function withDeadline<T>(what: string, work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

async function timed(what: string, probe: () => Promise<unknown>): Promise<DependencyState> {
  const started = performance.now();
  try {
    await withDeadline(what, probe(), CHECK_DEADLINE_MS);
    return { ok: true, ms: Math.round(performance.now() - started) };
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.message : String(error), ms: Math.round(performance.now() - started) };
  }
}

/**
 * The Temporal check has a connection of its own without the SDK's retry interceptor: a probe says how
 * things are now, and must leave no retry behind it when the process stops.
 */
export function createReadiness(deps: { temporal: TemporalTarget; mongo: Db }): Readiness {
  const connection = Connection.lazy({ ...connectionOptionsOf(deps.temporal), interceptors: [] });
  return {
    async check() {
      const [temporal, mongodb] = await Promise.all([
        timed('Temporal', () =>
          connection.withDeadline(Date.now() + CHECK_DEADLINE_MS, () => connection.workflowService.describeNamespace({ namespace: deps.temporal.namespace })),
        ),
        timed('MongoDB', () => deps.mongo.command({ ping: 1 }, { timeoutMS: CHECK_DEADLINE_MS })),
      ]);
      return { ready: temporal.ok && mongodb.ok, checks: { temporal, mongodb } };
    },
    close: () => connection.close(),
  };
}
