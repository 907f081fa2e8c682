import type { Db, MongoServerError } from 'mongodb';
import type { Claim, ReceivedMessage, ReceivedStatus, ReceiverStore } from '../store';
import type { WebhookMessage } from '../verify';

/** The state of a message after one transition; the latest transition is the truth. */
interface State {
  status: ReceivedStatus;
  attempts: number;
  nextAttemptAt: Date;
  lastError: string | null;
  completedAt: Date | null;
  owner: string | null;
  leaseUntil: Date | null;
}

interface MessageDoc extends State {
  /** The message id: `_id`'s unique index is what turns a redelivery into a duplicate-key error. */
  _id: string;
  type: string | null;
  timestamp: string;
  data: unknown;
  receivedAt: Date;
  /** The number of the latest transition this copy of the state reflects (a hint for queries, see below). */
  version: number;
}

interface TransitionDoc extends State {
  /** `<message id>#<version>`: at most one transition can ever take a version. */
  _id: string;
  at: Date;
}

const DUPLICATE_KEY = 11000;
const isDuplicate = (error: unknown) => (error as MongoServerError)?.code === DUPLICATE_KEY;
const stateOf = ({ status, attempts, nextAttemptAt, lastError, completedAt, owner, leaseUntil }: State): State => ({
  status,
  attempts,
  nextAttemptAt,
  lastError,
  completedAt,
  owner,
  leaseUntil,
});
const claimable = (state: State, now: Date) =>
  (state.status === 'pending' && state.nextAttemptAt <= now) || (state.status === 'processing' && state.leaseUntil !== null && state.leaseUntil <= now);

export interface MongoStoreOptions {
  /** A database of the caller's own `mongodb` client (the store does not import the driver). */
  db: Db;
  /** Prefix of the collection names: `<prefix>messages`, `<prefix>transitions`, `<prefix>event_times`, `<prefix>checkpoints`. */
  prefix?: string;
}

/**
 * MongoDB (or FerretDB): claim-then-complete with a lease, where every change of a message's state
 * (claim, lease renewal, completion, retry, failure) is an insert of `<message id>#<version>` into a
 * transitions collection. Two runners that both read version n race to insert n+1, and the unique
 * `_id` lets exactly one win: a runner whose lease ran out and was taken over cannot complete, and two
 * runners never claim the same message. Only inserts are relied on because FerretDB v1 (the embedded
 * server) does not run findOneAndUpdate or a conditional update atomically: two concurrent ones can
 * both match, which a test showed. The message document repeats the latest state for the due-message
 * query; it is a hint, checked against the transitions before anything is decided.
 */
export function createMongoStore({ db, prefix = 'webhook_' }: MongoStoreOptions): ReceiverStore {
  const messages = db.collection<MessageDoc>(`${prefix}messages`);
  const transitions = db.collection<TransitionDoc>(`${prefix}transitions`);
  const eventTimes = db.collection<{ _id: string; at: Date }>(`${prefix}event_times`);
  const checkpoints = db.collection<{ _id: string; value: string }>(`${prefix}checkpoints`);

  /** The latest state, walking the transitions forward from the version the message document names. */
  async function current(doc: MessageDoc): Promise<{ version: number; state: State }> {
    // The document's state and version are written together, so it is the state of that version.
    let version = doc.version;
    let state = stateOf(doc);
    for (;;) {
      const next = await transitions.findOne({ _id: `${doc._id}#${version + 1}` });
      if (!next) break;
      version += 1;
      state = stateOf(next);
    }
    // A repair, from a read that may be old by now: it must not overwrite a newer copy, or a message
    // done or retried could look `processing` to the due-message query until that old lease ran out.
    if (version !== doc.version) await messages.updateOne({ _id: doc._id, version: { $lt: version } }, { $set: { ...state, version } });
    return { version, state };
  }

  /**
   * Repeats a state on the message document after its transition, by `_id` alone (FerretDB runs any
   * other filter by reading the collection). The runner that made the transition copies it before it
   * can make the next, so its copies land in order.
   */
  async function copyToMessage(id: string, version: number, state: State) {
    await messages.updateOne({ _id: id }, { $set: { ...state, version } });
  }

  /** Moves a message from `version` to version + 1; false if another runner got there first. */
  async function transition(id: string, version: number, state: State): Promise<boolean> {
    try {
      await transitions.insertOne({ _id: `${id}#${version + 1}`, ...state, at: new Date() });
    } catch (error) {
      if (isDuplicate(error)) return false;
      throw error;
    }
    await copyToMessage(id, version + 1, state);
    return true;
  }

  function claimOf(doc: MessageDoc, claimedVersion: number, state: State, leaseMs: number): Claim {
    let version = claimedVersion;
    let held = state;
    const end = (next: Partial<State>) => transition(doc._id, version, { ...held, ...next, owner: null, leaseUntil: null });
    const { _id, type, timestamp, data, receivedAt } = doc;
    return {
      message: { id: _id, type, timestamp, data, receivedAt, ...state },
      context: { attempt: state.attempts },
      complete: () => end({ status: 'done', completedAt: new Date() }),
      async retry(error, at) {
        await end({ status: 'pending', lastError: error, nextAttemptAt: at });
      },
      async fail(error) {
        await end({ status: 'failed', lastError: error });
      },
      async renew() {
        const renewed = { ...held, leaseUntil: new Date(Date.now() + leaseMs) };
        if (!(await transition(doc._id, version, renewed))) return false;
        version += 1;
        held = renewed;
        return true;
      },
    };
  }

  async function get(id: string): Promise<ReceivedMessage | null> {
    const doc = await messages.findOne({ _id: id });
    if (!doc) return null;
    const { state } = await current(doc);
    const { _id, type, timestamp, data, receivedAt } = doc;
    const { owner: _owner, leaseUntil: _lease, ...visible } = state;
    return { id: _id, type, timestamp, data, receivedAt, ...visible };
  }

  return {
    async init() {
      // One createIndex each: FerretDB v1 drops the connection on a createIndexes of several that all exist.
      await messages.createIndex({ status: 1, nextAttemptAt: 1 }, { name: 'due' });
      await messages.createIndex({ status: 1, leaseUntil: 1 }, { name: 'leases' });
    },
    async record(message: WebhookMessage) {
      const now = new Date();
      try {
        await messages.insertOne({
          _id: message.id,
          type: message.type,
          timestamp: message.timestamp,
          data: message.data,
          receivedAt: now,
          version: 0,
          status: 'pending',
          attempts: 0,
          nextAttemptAt: now,
          lastError: null,
          completedAt: null,
          owner: null,
          leaseUntil: null,
        });
        return true;
      } catch (error) {
        if (isDuplicate(error)) return false;
        throw error;
      }
    },
    async claim(owner, leaseMs, id) {
      const now = new Date();
      const candidates =
        id !== undefined
          ? await messages.find({ _id: id }).toArray()
          : await messages
              .find({
                $or: [
                  { status: 'pending', nextAttemptAt: { $lte: now } },
                  { status: 'processing', leaseUntil: { $lte: now } },
                ],
              })
              .sort({ receivedAt: 1 })
              .limit(8)
              .toArray();
      for (const doc of candidates) {
        const { version, state } = await current(doc);
        if (!claimable(state, now)) continue;
        const claimed: State = { ...state, status: 'processing', attempts: state.attempts + 1, owner, leaseUntil: new Date(Date.now() + leaseMs) };
        if (await transition(doc._id, version, claimed)) return claimOf(doc, version + 1, claimed, leaseMs);
      }
      return null;
    },
    get,
    async seen(ids) {
      const found = await messages.find({ _id: { $in: [...ids] } }, { projection: { _id: 1 } }).toArray();
      return new Set(found.map((doc) => doc._id));
    },
    async list(status: ReceivedStatus, limit = 100) {
      // A document's state can lag behind its transitions, to an earlier state (pending or processing),
      // never run ahead: so every message whose copy says this state or an earlier one is checked.
      const found: ReceivedMessage[] = [];
      const cursor = messages.find({ status: { $in: [...new Set<ReceivedStatus>(['pending', 'processing', status])] } }).sort({ receivedAt: 1 });
      for await (const doc of cursor) {
        const message = await get(doc._id);
        if (message?.status === status) found.push(message);
        if (found.length >= limit) break;
      }
      await cursor.close();
      return found;
    },
    async newestEventAt(key) {
      return (await eventTimes.findOne({ _id: key }))?.at ?? null;
    },
    async advanceEventAt(key, at) {
      try {
        // Matches only an older time; where a later one is stored, the upsert collides on _id: keep it.
        await eventTimes.updateOne({ _id: key, at: { $lt: at } }, { $set: { at } }, { upsert: true });
      } catch (error) {
        if (!isDuplicate(error)) throw error;
      }
    },
    async getCheckpoint(name) {
      return (await checkpoints.findOne({ _id: name }))?.value ?? null;
    },
    async setCheckpoint(name, value) {
      await checkpoints.updateOne({ _id: name }, { $set: { value } }, { upsert: true });
    },
  };
}
