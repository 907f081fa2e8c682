import type { Claim, ReceivedMessage, ReceivedStatus, ReceiverStore } from '../store';
import type { WebhookMessage } from '../verify';

interface Row extends ReceivedMessage {
  owner: string | null;
  leaseUntil: number;
}

const copy = (row: Row): ReceivedMessage => {
  const { owner: _owner, leaseUntil: _lease, ...message } = row;
  return { ...message };
};

/** Everything in the process's memory: for tests and for trying the handler out. Lost on exit. */
export function createMemoryStore(): ReceiverStore {
  const rows = new Map<string, Row>();
  const newest = new Map<string, Date>();
  const checkpoints = new Map<string, string>();

  return {
    async init() {},
    async record(message: WebhookMessage) {
      if (rows.has(message.id)) return false;
      const now = new Date();
      rows.set(message.id, {
        ...message,
        status: 'pending',
        attempts: 0,
        receivedAt: now,
        nextAttemptAt: now,
        lastError: null,
        completedAt: null,
        owner: null,
        leaseUntil: 0,
      });
      return true;
    },
    async claim(owner, leaseMs, id) {
      const now = Date.now();
      const claimable = (row: Row) =>
        (row.status === 'pending' && row.nextAttemptAt.getTime() <= now) || (row.status === 'processing' && row.leaseUntil <= now);
      let due: Row | undefined;
      for (const row of id === undefined ? rows.values() : [rows.get(id)].filter((r): r is Row => r !== undefined)) {
        if (claimable(row) && (!due || row.receivedAt < due.receivedAt)) due = row;
      }
      if (!due) return null;
      const row = due;
      Object.assign(row, { status: 'processing', owner, leaseUntil: now + leaseMs, attempts: row.attempts + 1 });
      const attempt = row.attempts;
      const mine = () => row.status === 'processing' && row.owner === owner && row.attempts === attempt;
      const claim: Claim = {
        message: copy(row),
        context: { attempt },
        async complete() {
          if (!mine()) return false;
          Object.assign(row, { status: 'done', owner: null, completedAt: new Date() });
          return true;
        },
        async retry(error, at) {
          if (mine()) Object.assign(row, { status: 'pending', owner: null, lastError: error, nextAttemptAt: at });
        },
        async fail(error) {
          if (mine()) Object.assign(row, { status: 'failed', owner: null, lastError: error });
        },
        async renew() {
          if (!mine()) return false;
          row.leaseUntil = Date.now() + leaseMs;
          return true;
        },
      };
      return claim;
    },
    async get(id) {
      const row = rows.get(id);
      return row ? copy(row) : null;
    },
    async seen(ids) {
      return new Set(ids.filter((id) => rows.has(id)));
    },
    async list(status: ReceivedStatus, limit = 100) {
      return [...rows.values()]
        .filter((row) => row.status === status)
        .slice(0, limit)
        .map(copy);
    },
    async newestEventAt(key) {
      return newest.get(key) ?? null;
    },
    async advanceEventAt(key, at) {
      const current = newest.get(key);
      if (!current || current < at) newest.set(key, at);
    },
    async getCheckpoint(name) {
      return checkpoints.get(name) ?? null;
    },
    async setCheckpoint(name, value) {
      checkpoints.set(name, value);
    },
  };
}
