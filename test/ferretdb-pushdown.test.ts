/**
 * FerretDB's query pushdown (tools/ferretdb/patches): the patched FerretDB must return exactly what the
 * upstream one returns. Both get the same generated documents, inserted in the same order, and the same
 * indexes (Hookflow's own, and more), then answer the same queries: the ones Hookflow issues and random
 * ones; results are compared as canonical Extended JSON, order and BSON types included. The patched one
 * runs with debug logs, which name the pushdown it took, so the test also sees that pushdown happened.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BSON, Double, Int32, Long, MongoClient, ObjectId, type Db, type Document, type Filter, type Sort } from 'mongodb';
import { loadConfig } from '../src/config';
import { INDEXES } from '../src/db/mongo';
import { ensureFerretDb } from '../src/dev/tools';
import { freePort } from '../src/dev/servers';

jest.setTimeout(600_000);
const { EJSON } = BSON;

interface Ferret {
  child: ChildProcess;
  client: MongoClient;
  db: Db;
  log: string[];
}

async function startFerret(binary: string, dir: string, debug: boolean): Promise<Ferret> {
  const port = await freePort();
  const child = spawn(binary, ['-listen', `127.0.0.1:${port}`, '-sqlite-dir', dir, '-log-level', debug ? 'debug' : 'warn'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log: string[] = [];
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    for (const line of chunk.split('\n')) if (line.includes('hookflow pushdown')) log.push(line);
  });
  const uri = await new Promise<string>((resolve, reject) => {
    let buffered = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      buffered += chunk;
      const line = buffered.split('\n').find((l) => l.startsWith('ferretdb ready '));
      if (line) resolve(line.slice('ferretdb ready '.length).trim());
    });
    child.once('exit', (code) => reject(new Error(`FerretDB exited with ${code}`)));
  });
  const client = await MongoClient.connect(uri);
  return { child, client, db: client.db('pushdown'), log };
}

/** A small deterministic PRNG, so that a failure can be replayed. */
function prng(seed: number) {
  let s = seed >>> 0;
  const next = () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  return { next, int: (n: number) => Math.floor(next() * n), pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]! };
}

/** One of few ObjectIds, so that equalities and ranges on them match something. */
const objectId = (n: number) => new ObjectId(n.toString(16).padStart(24, '0'));

const SEED = Number(process.env.PUSHDOWN_SEED ?? 17);
const T0 = Date.UTC(2026, 0, 1);
const TENANTS = ['ten_a', 'ten_b', 'ten_c'];
const TYPES = ['order.created', 'order.paid', 'a"quote', 'ünï', 'Z', '<tag>&'];
const ENDPOINTS = ['ep_1', 'ep_2', 'ep_3', 'ep_4'];
const STATUSES = ['PENDING', 'FAILING', 'SUCCEEDED', 'PARKED', 'EXHAUSTED', 'CANCELLED'];

/** Messages like Hookflow's, with ties on createdAt and a few odd values in the indexed fields. */
function generate(count: number, seed: number, oddities: 'scalars' | 'arrays'): Document[] {
  const r = prng(seed);
  const docs: Document[] = [];
  for (let i = 0; i < count; i++) {
    // Times in whole seconds over 10 days, so that some coincide.
    const createdAt = new Date(T0 + r.int(10 * 86_400) * 1000);
    const doc: Document = {
      _id: `msg_${String(r.int(1e9)).padStart(9, '0')}_${i}`,
      tenantId: r.pick(TENANTS),
      eventType: r.pick(TYPES),
      endpointId: r.pick(ENDPOINTS),
      status: r.pick(STATUSES),
      createdAt,
      occurredAt: new Date(createdAt.getTime() - r.int(5000)),
      n: r.pick([new Int32(r.int(100) - 50), new Double(r.int(100) / 4 - 10), Long.fromNumber(r.int(100) - 50), new Double(r.int(50))]),
      flag: r.next() < 0.5,
      oid: objectId(r.int(200)),
      attemptCount: new Int32(r.int(3)),
    };
    if (oddities === 'scalars') {
      const odd = r.int(40);
      if (odd === 0) delete doc.createdAt;
      if (odd === 1) doc.createdAt = null;
      if (odd === 2) doc.eventType = new Int32(7);
      if (odd === 3) doc.n = 'a string';
      if (odd === 4) delete doc.tenantId;
      if (odd === 5) doc.createdAt = `${createdAt.toISOString()}`;
    } else if (r.int(30) === 0) {
      const field = r.pick(['eventType', 'createdAt', 'n', 'tenantId']);
      doc[field] = [doc[field], r.pick(TYPES)];
    }
    docs.push(doc);
  }
  return docs;
}

const EXTRA_INDEXES: Document[] = [{ n: 1 }, { flag: 1, n: -1 }, { oid: 1 }, { status: 1, createdAt: 1 }, { endpointId: 1, status: 1, occurredAt: 1 }];

async function prepare(db: Db, name: string, docs: Document[]) {
  const collection = db.collection(name);
  for (const index of INDEXES.filter((i) => i.collection === 'messages')) await collection.createIndex(index.key, { name: index.name });
  for (const key of EXTRA_INDEXES) await collection.createIndex(key);
  for (let i = 0; i < docs.length; i += 500) await collection.insertMany(docs.slice(i, i + 500), { ordered: true });
}

interface Query {
  filter: Filter<Document>;
  sort?: Sort;
  limit?: number;
  skip?: number;
  projection?: Document;
  count?: boolean;
}

/** The queries Hookflow issues (src/messages.ts, src/history.ts, activities/maintenance.ts), on this data. */
function hookflowQueries(docs: Document[]): Query[] {
  const since = new Date(T0 + 3 * 86_400_000);
  const cutoff = new Date(T0 + 5 * 86_400_000);
  const queries: Query[] = [];
  for (const tenantId of TENANTS) {
    const byType = { tenantId, eventType: { $in: ['order.paid'] }, createdAt: { $gte: since } };
    queries.push({ filter: { $and: [byType, {}] }, sort: { createdAt: -1, _id: -1 }, limit: 51 });
    queries.push({ filter: { $and: [{ tenantId }, {}] }, sort: { createdAt: -1, _id: -1 }, limit: 51 });
    queries.push({ filter: { tenantId, occurredAt: { $gte: since, $lt: cutoff } }, sort: { createdAt: -1, _id: -1 }, limit: 11 });
    queries.push({ filter: byType, count: true });
    // Page 2: after the 50th row of page 1.
    const page1 = docs
      .filter((d) => d.tenantId === tenantId && d.createdAt instanceof Date)
      .sort((a, b) => b.createdAt - a.createdAt || (a._id < b._id ? 1 : -1));
    const last = page1[49];
    if (last) {
      const after = { $or: [{ createdAt: { $lt: last.createdAt } }, { createdAt: last.createdAt, _id: { $lt: last._id } }] };
      queries.push({ filter: { $and: [{ tenantId }, after] }, sort: { createdAt: -1, _id: -1 }, limit: 51 });
      queries.push({ filter: { $and: [{ tenantId, eventType: { $in: ['Z', 'ünï'] } }, after] }, sort: { createdAt: -1, _id: -1 }, limit: 51 });
    }
    // By endpoint, as on the deliveries collection (sort key not unique: ties are possible).
    queries.push({
      filter: { $and: [{ tenantId, endpointId: 'ep_2' }, {}] },
      sort: { createdAt: -1, eventType: -1 },
      limit: 51,
      projection: { eventType: 1, createdAt: 1 },
    });
  }
  queries.push({ filter: { createdAt: { $lt: cutoff } }, projection: { _id: 1, endpointId: 1 }, limit: 500 });
  queries.push({ filter: { createdAt: { $lt: cutoff } }, projection: { _id: 1, endpointId: 1 }, sort: { createdAt: 1, _id: 1 }, limit: 500 });
  // findByIds: one $in per chunk, ids missing among them.
  queries.push({ filter: { _id: { $in: [...docs.slice(0, 40).map((d) => d._id), 'msg_missing'] } } });
  queries.push({ filter: { _id: docs[7]!._id, tenantId: docs[7]!.tenantId } });
  queries.push({ filter: { status: 'PENDING', attemptCount: 0, createdAt: { $lt: cutoff } }, limit: 100 });
  queries.push({ filter: { status: { $in: ['PENDING', 'FAILING'] }, createdAt: { $lt: cutoff } }, limit: 100 });
  queries.push({
    filter: { endpointId: 'ep_1', status: { $in: ['PARKED', 'EXHAUSTED', 'CANCELLED'] }, createdAt: { $gte: since, $lt: cutoff } },
    sort: { occurredAt: 1, _id: 1 },
    limit: 1001,
  });
  queries.push({ filter: { endpointId: 'ep_3', createdAt: { $gte: since } }, sort: { createdAt: -1 }, limit: 1 });
  return queries;
}

/** Random filters, sorts, limits and skips over the indexed fields and others. */
function randomQueries(count: number, seed: number): Query[] {
  const r = prng(seed);
  const value = (field: string): unknown => {
    switch (field) {
      case 'tenantId':
        return r.pick([...TENANTS, 'ten_none']);
      case 'eventType':
        return r.pick([...TYPES, new Int32(7)]);
      case 'createdAt':
      case 'occurredAt':
        return r.pick([new Date(T0 + r.int(10 * 86_400) * 1000), null, 'x']);
      case 'n':
        return r.pick([new Int32(r.int(100) - 50), new Double(r.int(40) / 4 - 5), Long.fromNumber(r.int(60) - 30), 'a string']);
      case 'flag':
        return r.next() < 0.5;
      case 'oid':
        return objectId(r.int(200));
      default:
        return r.pick(STATUSES);
    }
  };
  const fields = ['tenantId', 'eventType', 'createdAt', 'occurredAt', 'n', 'flag', 'oid', 'status', 'endpointId'];
  const condition = (): Document => {
    const field = r.pick(fields);
    switch (r.int(9)) {
      case 0:
      case 1:
        return { [field]: value(field) };
      case 2:
        return { [field]: { $in: [value(field), value(field)] } };
      case 3:
        return { [field]: { $gte: value(field), $lt: value(field) } };
      case 4:
        return { [field]: { [r.pick(['$gt', '$gte', '$lt', '$lte'])]: value(field) } };
      case 5:
        return { $or: [{ [field]: value(field) }, { [r.pick(fields)]: { $lt: value(field) } }] };
      case 6:
        return { [field]: { $ne: value(field) } };
      case 7:
        return { [field]: { $exists: r.next() < 0.5 } };
      default:
        return { [field]: { $eq: value(field) } };
    }
  };
  const queries: Query[] = [];
  for (let i = 0; i < count; i++) {
    const filter: Document = r.next() < 0.3 ? { $and: [condition(), condition()] } : Object.assign({}, condition(), r.next() < 0.5 ? condition() : {});
    const sortFields = Array.from({ length: r.int(3) }, () => r.pick(fields));
    const sort: Document = {};
    for (const f of sortFields) sort[f] = r.pick([1, -1]);
    if (r.next() < 0.5) sort._id = r.pick([1, -1]);
    queries.push({
      filter,
      sort: Object.keys(sort).length ? (sort as Sort) : undefined,
      limit: r.pick([0, 1, 3, 20, 51]),
      skip: r.next() < 0.2 ? r.int(5) : undefined,
      count: r.next() < 0.1,
    });
  }
  return queries;
}

async function run(db: Db, name: string, q: Query): Promise<string> {
  const collection = db.collection(name);
  if (q.count) return String(await collection.countDocuments(q.filter));
  let cursor = collection.find(q.filter, q.projection ? { projection: q.projection } : {});
  if (q.sort) cursor = cursor.sort(q.sort);
  if (q.skip) cursor = cursor.skip(q.skip);
  if (q.limit) cursor = cursor.limit(q.limit);
  return EJSON.stringify(await cursor.toArray(), { relaxed: false });
}

describe('FerretDB pushdown returns what upstream FerretDB returns', () => {
  let patched: Ferret;
  let upstream: Ferret;
  let dir: string;
  const docs = generate(1200, SEED, 'scalars');
  const arrayDocs = generate(800, SEED + 1, 'arrays');

  beforeAll(async () => {
    const { HOOKFLOW_CACHE_DIR } = loadConfig({ ...process.env, MONGODB_URI: undefined, TEMPORAL_ADDRESS: undefined });
    const say = (line: string) => process.stdout.write(`[pushdown] ${line}\n`);
    const [patchedBinary, upstreamBinary] = [await ensureFerretDb(HOOKFLOW_CACHE_DIR, say), await ensureFerretDb(HOOKFLOW_CACHE_DIR, say, { upstream: true })];
    dir = mkdtempSync(path.join(os.tmpdir(), 'hookflow-pushdown-'));
    [patched, upstream] = await Promise.all([
      startFerret(patchedBinary, path.join(dir, 'patched'), true),
      startFerret(upstreamBinary, path.join(dir, 'upstream'), false),
    ]);
    for (const ferret of [patched, upstream]) {
      await prepare(ferret.db, 'messages', docs);
      await prepare(ferret.db, 'mixed', arrayDocs);
      await prepare(ferret.db, 'fenced', docs.slice(0, 60));
    }
  });

  afterAll(async () => {
    for (const ferret of [patched, upstream]) {
      await ferret?.client.close();
      ferret?.child.kill('SIGTERM');
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function compare(name: string, queries: Query[]) {
    const differences: string[] = [];
    for (const q of queries) {
      const [mine, theirs] = [await run(patched.db, name, q), await run(upstream.db, name, q)];
      if (mine !== theirs) differences.push(`${EJSON.stringify(q)}\n  patched:  ${mine.slice(0, 300)}\n  upstream: ${theirs.slice(0, 300)}`);
    }
    return differences;
  }

  test("Hookflow's queries", async () => {
    const before = patched.log.length;
    expect(await compare('messages', hookflowQueries(docs))).toEqual([]);
    const modes = patched.log.slice(before).join('\n');
    expect(modes).toMatch(/hookflow pushdown: limited/);
    expect(modes).toMatch(/hookflow pushdown: superset/);
  });

  test('random queries', async () => {
    const before = patched.log.length;
    expect(await compare('messages', randomQueries(200, SEED))).toEqual([]);
    expect(patched.log.slice(before).filter((l) => l.includes('pushdown: limited')).length).toBeGreaterThan(20);
  });

  test('a collection with arrays in indexed fields is answered without pushdown, the same', async () => {
    const before = patched.log.length;
    expect(await compare('mixed', [...hookflowQueries(arrayDocs), ...randomQueries(80, SEED + 2)])).toEqual([]);
    const lines = patched.log.slice(before);
    expect(lines.some((l) => l.includes('pushdown: none'))).toBe(true);
  });

  test('fenced writes: an `_id` equality beside other conditions updates and returns the same', async () => {
    // The delivery store's writes: { _id, workflowId, status: { $in } }, with and without $or, on ids
    // that exist and ids that do not, whose other conditions hold or do not. Each write's result and
    // then the whole collection are compared.
    const r = prng(SEED + 4);
    const ids = [...docs.slice(0, 60).map((d) => d._id as string), 'msg_missing_1', 'msg_missing_2'];
    const writes = Array.from({ length: 150 }, (_, i) => {
      const _id = r.pick(ids);
      const statuses = [r.pick(STATUSES), r.pick(STATUSES)];
      const filter: Filter<{ _id: string }> =
        r.next() < 0.3
          ? { _id, $or: [{ tenantId: r.pick(TENANTS), status: { $in: statuses } }, { status: r.pick(STATUSES) }] }
          : { _id, tenantId: r.pick(TENANTS), status: { $in: statuses } };
      const update = { $inc: { n: 1 }, $set: { status: r.pick(STATUSES), step: i } };
      return { kind: r.pick(['updateOne', 'findOneAndUpdate'] as const), filter, update };
    });
    const differences: string[] = [];
    for (const w of writes) {
      const results = await Promise.all(
        [patched, upstream].map(async ({ db }) => {
          const collection = db.collection<{ _id: string }>('fenced');
          const result =
            w.kind === 'updateOne'
              ? await collection.updateOne(w.filter, w.update).then((u) => ({ matched: u.matchedCount, modified: u.modifiedCount }))
              : await collection.findOneAndUpdate(w.filter, w.update, { returnDocument: 'before' });
          return EJSON.stringify(result, { relaxed: false });
        }),
      );
      if (results[0] !== results[1]) differences.push(`${w.kind} ${EJSON.stringify(w.filter)}\n  patched:  ${results[0]}\n  upstream: ${results[1]}`);
    }
    expect(differences).toEqual([]);
    expect(await compare('fenced', [{ filter: {}, sort: { _id: 1 } }])).toEqual([]);
    // The writes did something: some matched, some did not.
    const changed = await patched.db.collection('fenced').countDocuments({ step: { $exists: true } });
    expect(changed).toBeGreaterThan(5);
    expect(changed).toBeLessThan(60);
  });

  test("a capped collection's newest records (`$natural: -1` with a limit), as the live tail reads them, are the same", async () => {
    for (const { db } of [patched, upstream]) {
      await db.createCollection('capped', { capped: true, size: 8 * 1024 * 1024 });
      for (let i = 0; i < docs.length; i += 400) await db.collection('capped').insertMany(docs.slice(i, i + 400), { ordered: true });
    }
    const queries: Query[] = [1, 7, 64, 256, 5000].flatMap((limit) => [
      { filter: {}, sort: { $natural: -1 }, limit },
      { filter: {}, sort: { $natural: 1 }, limit },
    ]);
    expect(
      await compare('capped', [...queries, { filter: {}, sort: { $natural: -1 } }, { filter: { tenantId: 'ten_a' }, sort: { $natural: -1 }, limit: 5 }]),
    ).toEqual([]);
  });

  test('an array stored later turns pushdown off for its field, and deletes keep both the same', async () => {
    const late: Document = {
      _id: 'msg_late_array',
      tenantId: 'ten_a',
      eventType: ['order.paid', 'Z'],
      createdAt: new Date(T0 + 4 * 86_400_000),
      n: new Int32(1),
    };
    const deletedCounts: number[][] = [];
    for (const ferret of [patched, upstream]) {
      const messages = ferret.db.collection<{ _id: string }>('messages');
      await messages.insertOne({ ...late } as { _id: string });
      const counts = [(await messages.deleteMany({ createdAt: { $lt: new Date(T0 + 86_400_000) } })).deletedCount];
      // deleteByIds (which the patched server runs without reading: ids already gone, repeated, absent,
      // and of other types among them), an `_id` equality, and a deleteOne whose filter matches several.
      const ids = docs.slice(100, 160).map((d) => d._id as string);
      counts.push((await messages.deleteMany({ _id: { $in: [...ids, ids[0]!, 'msg_absent', docs[0]!._id as string] } })).deletedCount);
      counts.push((await messages.deleteMany({ _id: { $in: ids } })).deletedCount);
      counts.push((await messages.deleteMany({ _id: docs[170]!._id as string })).deletedCount);
      counts.push((await messages.deleteMany({ _id: { $in: [docs[171]!._id as string, 7 as unknown as string] } })).deletedCount);
      counts.push((await messages.deleteOne({ tenantId: 'ten_b', createdAt: { $gte: new Date(T0) } })).deletedCount);
      deletedCounts.push(counts);
    }
    expect(deletedCounts[0]).toEqual(deletedCounts[1]);
    // The repeated `$in` deleted something, and once deleted, the same ids delete nothing.
    expect(deletedCounts[0]![1]).toBeGreaterThan(0);
    expect(deletedCounts[0]![2]).toBe(0);
    expect(await compare('messages', [...hookflowQueries(docs), ...randomQueries(60, SEED + 3)])).toEqual([]);
  });

  test("the driver's kept statements answer the same: after a failed write, with a cursor open, across a dropped collection and a new index", async () => {
    const outcomes: string[][] = [];
    for (const ferret of [patched, upstream]) {
      const seen: string[] = [];
      const note = (value: unknown) => seen.push(EJSON.stringify(value, { relaxed: false }));
      const reuse = ferret.db.collection<{ _id: string; [field: string]: unknown }>('reuse');
      const rows = (n: number, tag: string) => Array.from({ length: n }, (_, i) => ({ _id: `r_${i}`, tag, n: new Int32(i) }));
      await reuse.insertMany(rows(40, 'first'));
      for (let i = 0; i < 5; i++) {
        note(await reuse.findOne({ _id: `r_${i}` }));
        note((await reuse.updateOne({ _id: `r_${i}` }, { $set: { seen: new Int32(i) } })).modifiedCount);
      }
      // A duplicate key fails the insert's statement; the same statement then inserts.
      note(
        await reuse.insertOne({ _id: 'r_1', tag: 'dup' }).then(
          () => 'inserted',
          (error: { code?: number }) => error.code,
        ),
      );
      note((await reuse.insertOne({ _id: 'r_new', tag: 'after' })).insertedId);
      // A cursor left open on a query while the same query runs to the end, then read on.
      const open = reuse.find({}, { batchSize: 3 }).sort({ _id: 1 });
      note(await open.next());
      note(await reuse.find({}).sort({ _id: 1 }).toArray());
      note(await open.toArray());
      // The collection dropped and created again, and an index added: the same texts find the new rows.
      await reuse.drop();
      await reuse.insertMany(rows(10, 'second'));
      note(await reuse.findOne({ _id: 'r_3' }));
      await reuse.createIndex({ tag: 1, n: -1 });
      note(await reuse.find({ tag: 'second' }).sort({ n: -1 }).limit(3).toArray());
      note((await reuse.updateOne({ _id: 'r_4' }, { $set: { seen: new Int32(4) } })).modifiedCount);
      note(await reuse.findOne({ _id: 'r_4' }));
      outcomes.push(seen);
    }
    expect(outcomes[0]).toEqual(outcomes[1]);
    expect(outcomes[0]!.filter((o) => o.includes('"tag":"second"')).length).toBeGreaterThan(0);
  });
});
