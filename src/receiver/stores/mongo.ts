import type { Db, Filter, MongoServerError } from 'mongodb';
import type { Claim, ReceivedMessage, ReceivedStatus, ReceiverStore } from '../store';
import type { WebhookMessage } from '../verify';

interface MessageDoc extends Omit<ReceivedMessage, 'id'> {
  /** The message id: `_id`'s unique index is what turns a redelivery into a duplicate-key error. */
  _id: string;
  owner: string | null;
  leaseUntil: Date | null;
}

const DUPLICATE_KEY = 11000;
const isDuplicate = (error: unknown) => (error as MongoServerError)?.code === DUPLICATE_KEY;

const toMessage = ({ _id, owner: _owner, leaseUntil: _lease, ...rest }: MessageDoc): ReceivedMessage => ({ id: _id, ...rest });

export interface MongoStoreOptions {
  /** A database of the caller's own `mongodb` client (the store does not import the driver). */
  db: Db;
  /** Prefix of the three collection names: `<prefix>messages`, `<prefix>event_times`, `<prefix>checkpoints`. */
  prefix?: string;
}

/**
 * MongoDB (or FerretDB): claim-then-complete with a lease. A claim is one findOneAndUpdate that
 * moves a due message to `processing` under the runner's name until `leaseUntil`; completing is
 * conditional on still holding that claim (owner and attempt number), so a runner whose lease ran out
 * and was taken over cannot complete it too.
 */
export function createMongoStore({ db, prefix = 'webhook_' }: MongoStoreOptions): ReceiverStore {
  const messages = db.collection<MessageDoc>(`${prefix}messages`);
  const eventTimes = db.collection<{ _id: string; at: Date }>(`${prefix}event_times`);
  const checkpoints = db.collection<{ _id: string; value: string }>(`${prefix}checkpoints`);

  return {
    async init() {
      await messages.createIndexes([
        { key: { status: 1, nextAttemptAt: 1 }, name: 'due' },
        { key: { status: 1, leaseUntil: 1 }, name: 'leases' },
      ]);
    },
    async record(message: WebhookMessage) {
      const now = new Date();
      try {
        await messages.insertOne({
          _id: message.id,
          type: message.type,
          timestamp: message.timestamp,
          data: message.data,
          status: 'pending',
          attempts: 0,
          receivedAt: now,
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
    async claim(owner, leaseMs) {
      const now = new Date();
      const due: Filter<MessageDoc> = {
        $or: [
          { status: 'pending', nextAttemptAt: { $lte: now } },
          { status: 'processing', leaseUntil: { $lte: now } },
        ],
      };
      const doc = await messages.findOneAndUpdate(
        due,
        { $set: { status: 'processing', owner, leaseUntil: new Date(now.getTime() + leaseMs) }, $inc: { attempts: 1 } },
        { sort: { receivedAt: 1 }, returnDocument: 'after' },
      );
      if (!doc) return null;
      const held = { _id: doc._id, status: 'processing' as const, owner, attempts: doc.attempts };
      const end = async (update: Partial<MessageDoc>) =>
        (await messages.updateOne(held, { $set: { ...update, owner: null, leaseUntil: null } })).modifiedCount === 1;
      const claim: Claim = {
        message: toMessage(doc),
        context: { attempt: doc.attempts },
        complete: () => end({ status: 'done', completedAt: new Date() }),
        async retry(error, at) {
          await end({ status: 'pending', lastError: error, nextAttemptAt: at });
        },
        async fail(error) {
          await end({ status: 'failed', lastError: error });
        },
        async renew() {
          return (await messages.updateOne(held, { $set: { leaseUntil: new Date(Date.now() + leaseMs) } })).modifiedCount === 1;
        },
      };
      return claim;
    },
    async get(id) {
      const doc = await messages.findOne({ _id: id });
      return doc ? toMessage(doc) : null;
    },
    async seen(ids) {
      const found = await messages.find({ _id: { $in: [...ids] } }, { projection: { _id: 1 } }).toArray();
      return new Set(found.map((doc) => doc._id));
    },
    async list(status: ReceivedStatus, limit = 100) {
      return (await messages.find({ status }).sort({ receivedAt: 1 }).limit(limit).toArray()).map(toMessage);
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
