import type { Pool, PoolClient } from 'pg';
import type { Claim, ProcessContext, ReceivedMessage, ReceivedStatus, ReceiverStore } from '../store';
import type { WebhookMessage } from '../verify';

export interface PostgresStoreOptions {
  /** A `pg` Pool of the caller's (the store does not import the driver). Each running claim holds one connection. */
  pool: Pool;
  /** Schema of the three tables `webhook_messages`, `webhook_event_times`, `webhook_checkpoints`; created if absent. */
  schema?: string;
}

interface Row {
  id: string;
  type: string | null;
  timestamp: string;
  data: unknown;
  status: ReceivedStatus;
  attempts: number;
  received_at: Date;
  next_attempt_at: Date;
  last_error: string | null;
  completed_at: Date | null;
}

const toMessage = (row: Row): ReceivedMessage => ({
  id: row.id,
  type: row.type,
  timestamp: row.timestamp,
  data: row.data ?? undefined,
  status: row.status,
  attempts: row.attempts,
  receivedAt: row.received_at,
  nextAttemptAt: row.next_attempt_at,
  lastError: row.last_error,
  completedAt: row.completed_at,
});

const quote = (identifier: string) => `"${identifier.replace(/"/g, '""')}"`;

/**
 * PostgreSQL: one transaction around claim and completion. A claim locks the message's row
 * (FOR UPDATE SKIP LOCKED, so other runners pass over it) and `process` gets that transaction's
 * client as `context.db`: what it writes there commits with the completion, or not at all. A runner
 * that dies mid-way drops its connection, the transaction rolls back, and the message is due again.
 * `leaseMs` bounds how long a claim may sit idle in its transaction (idle_in_transaction_session_timeout);
 * the handler renews it while `process` runs.
 */
export function createPostgresStore({ pool, schema = 'public' }: PostgresStoreOptions): ReceiverStore {
  const messages = `${quote(schema)}.webhook_messages`;
  const eventTimes = `${quote(schema)}.webhook_event_times`;
  const checkpoints = `${quote(schema)}.webhook_checkpoints`;
  const runner = (context?: ProcessContext) => (context?.db as PoolClient | undefined) ?? pool;

  async function claimIn(client: PoolClient, leaseMs: number, id?: string): Promise<Claim | null> {
    await client.query('BEGIN');
    await client.query(`SET LOCAL idle_in_transaction_session_timeout = ${Math.max(1, Math.round(leaseMs))}`);
    const { rows } = await client.query<Row>(
      `SELECT * FROM ${messages} WHERE status = 'pending' AND next_attempt_at <= now() ${id === undefined ? '' : 'AND id = $1'}
       ORDER BY received_at LIMIT 1 FOR UPDATE SKIP LOCKED`,
      id === undefined ? [] : [id],
    );
    if (rows.length === 0) {
      await client.query('COMMIT');
      return null;
    }
    // Whatever `process` writes goes after this savepoint: a failure undoes it and keeps the row lock.
    await client.query('SAVEPOINT work');
    const attempt = rows[0].attempts + 1;
    const message = { ...toMessage(rows[0]), status: 'processing' as const, attempts: attempt };
    const end = async (work: 'commit' | 'undo', set: string, values: unknown[]) => {
      if (work === 'undo') await client.query('ROLLBACK TO SAVEPOINT work');
      await client.query(`UPDATE ${messages} SET attempts = ${attempt}, ${set} WHERE id = $1`, [message.id, ...values]);
      await client.query('COMMIT');
    };
    return {
      message,
      context: { db: client, attempt },
      async complete() {
        await end('commit', `status = 'done', completed_at = now()`, []);
        return true;
      },
      retry: (error, at) => end('undo', `status = 'pending', last_error = $2, next_attempt_at = $3`, [error, at]),
      fail: (error) => end('undo', `status = 'failed', last_error = $2`, [error]),
      // Any statement restarts the idle-in-transaction timer that stands for the lease.
      renew: () =>
        client.query('SELECT 1').then(
          () => true,
          () => false,
        ),
    };
  }

  return {
    async init() {
      await pool.query(`CREATE SCHEMA IF NOT EXISTS ${quote(schema)}`);
      await pool.query(`CREATE TABLE IF NOT EXISTS ${messages} (
        id text PRIMARY KEY,
        type text,
        timestamp text NOT NULL,
        data jsonb,
        status text NOT NULL,
        attempts integer NOT NULL DEFAULT 0,
        received_at timestamptz NOT NULL DEFAULT now(),
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        last_error text,
        completed_at timestamptz)`);
      await pool.query(`CREATE INDEX IF NOT EXISTS webhook_messages_due ON ${messages} (next_attempt_at) WHERE status = 'pending'`);
      await pool.query(`CREATE TABLE IF NOT EXISTS ${eventTimes} (key text PRIMARY KEY, at timestamptz NOT NULL)`);
      await pool.query(`CREATE TABLE IF NOT EXISTS ${checkpoints} (name text PRIMARY KEY, value text NOT NULL)`);
    },
    async record(message: WebhookMessage) {
      const { rowCount } = await pool.query(
        `INSERT INTO ${messages} (id, type, timestamp, data, status) VALUES ($1, $2, $3, $4::jsonb, 'pending')
         ON CONFLICT (id) DO NOTHING`,
        [message.id, message.type, message.timestamp, message.data === undefined ? null : JSON.stringify(message.data)],
      );
      return rowCount === 1;
    },
    async claim(_owner, leaseMs, id) {
      const client = await pool.connect();
      try {
        const claim = await claimIn(client, leaseMs, id);
        if (!claim) {
          client.release();
          return null;
        }
        // The connection goes back to the pool when the claim ends, whichever way.
        const releasing =
          <A extends unknown[], R>(fn: (...args: A) => Promise<R>) =>
          async (...args: A): Promise<R> => {
            try {
              const result = await fn(...args);
              client.release();
              return result;
            } catch (error) {
              client.release(error as Error);
              throw error;
            }
          };
        return { ...claim, complete: releasing(claim.complete), retry: releasing(claim.retry), fail: releasing(claim.fail) };
      } catch (error) {
        client.release(error as Error);
        throw error;
      }
    },
    async get(id) {
      const { rows } = await pool.query<Row>(`SELECT * FROM ${messages} WHERE id = $1`, [id]);
      return rows[0] ? toMessage(rows[0]) : null;
    },
    async seen(ids) {
      const { rows } = await pool.query<{ id: string }>(`SELECT id FROM ${messages} WHERE id = ANY($1)`, [[...ids]]);
      return new Set(rows.map((row) => row.id));
    },
    async list(status, limit = 100) {
      const { rows } = await pool.query<Row>(`SELECT * FROM ${messages} WHERE status = $1 ORDER BY received_at LIMIT $2`, [status, limit]);
      return rows.map(toMessage);
    },
    async newestEventAt(key, context) {
      // Inside a claim's transaction the row is locked, so two events of one key are not applied at once.
      const lock = context?.db ? ' FOR UPDATE' : '';
      const { rows } = await runner(context).query<{ at: Date }>(`SELECT at FROM ${eventTimes} WHERE key = $1${lock}`, [key]);
      return rows[0]?.at ?? null;
    },
    async advanceEventAt(key, at, context) {
      await runner(context).query(
        `INSERT INTO ${eventTimes} (key, at) VALUES ($1, $2)
         ON CONFLICT (key) DO UPDATE SET at = EXCLUDED.at WHERE ${eventTimes}.at < EXCLUDED.at`,
        [key, at],
      );
    },
    async getCheckpoint(name) {
      const { rows } = await pool.query<{ value: string }>(`SELECT value FROM ${checkpoints} WHERE name = $1`, [name]);
      return rows[0]?.value ?? null;
    },
    async setCheckpoint(name, value) {
      await pool.query(`INSERT INTO ${checkpoints} (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value`, [name, value]);
    },
  };
}
