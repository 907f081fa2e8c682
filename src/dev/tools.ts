import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../config';

/**
 * The Go-built servers of the embedded stack. They are built once into a cache outside the clone
 * (HOOKFLOW_CACHE_DIR) and reused by later runs, CI included.
 */
export const TEMPORAL_CLI_VERSION = 'v1.5.1';
const ferretLauncherDir = path.join(projectRoot, 'tools', 'ferretdb');

export function temporalCliPath(cacheDir: string): string {
  return path.join(cacheDir, 'bin', `temporal-${TEMPORAL_CLI_VERSION}`);
}

/**
 * Our own launcher of Temporal server v1.32.2 with its Web UI (tools/temporal). That server asks for Go
 * 1.26.10; GOTOOLCHAIN=go1.27.3 makes the go command fetch that toolchain from the module proxy.
 */
export const TEMPORAL_SERVER_VERSION = 'v1.32.2';
export const TEMPORAL_LAUNCHER_GOTOOLCHAIN = 'go1.27.3';
const temporalLauncherDir = path.join(projectRoot, 'tools', 'temporal');

/** Keyed by the launcher's sources and the toolchain, so a change to either builds a new binary. */
export function temporalLauncherPath(cacheDir: string): string {
  const hash = createHash('sha256').update(TEMPORAL_LAUNCHER_GOTOOLCHAIN);
  for (const file of ['go.mod', 'go.sum', 'main.go']) hash.update(readFileSync(path.join(temporalLauncherDir, file)));
  return path.join(cacheDir, 'bin', `temporal-server-${TEMPORAL_SERVER_VERSION}-${hash.digest('hex').slice(0, 12)}`);
}

export async function ensureTemporalLauncher(cacheDir: string, progress: Progress): Promise<string> {
  const target = temporalLauncherPath(cacheDir);
  if (existsSync(target)) return target;
  const work = mkdtempSync(path.join(ensureDir(path.join(cacheDir, 'tmp')), 'temporal-server-'));
  try {
    const out = path.join(work, 'temporal-server');
    await goBuild(
      `Temporal server ${TEMPORAL_SERVER_VERSION} launcher`,
      ['build', '-v', '-o', out, '.'],
      { cwd: temporalLauncherDir, env: { GOTOOLCHAIN: TEMPORAL_LAUNCHER_GOTOOLCHAIN } },
      progress,
    );
    renameSync(out, path.join(ensureDir(path.dirname(target)), path.basename(target)));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return target;
}

/** Which embedded Temporal server to run: HOOKFLOW_TEMPORAL_SERVER = `dev-server` (default) or `launcher`. */
export type TemporalServerKind = 'dev-server' | 'launcher';

export function temporalServerKind(env: NodeJS.ProcessEnv = process.env): TemporalServerKind {
  const kind = env.HOOKFLOW_TEMPORAL_SERVER ?? 'dev-server';
  if (kind !== 'dev-server' && kind !== 'launcher') throw new Error(`HOOKFLOW_TEMPORAL_SERVER must be dev-server or launcher, not ${JSON.stringify(kind)}`);
  return kind;
}

/** Builds (once) and returns the embedded Temporal server of the chosen kind. */
export async function ensureTemporalServer(
  cacheDir: string,
  progress: Progress,
  kind = temporalServerKind(),
): Promise<{ binary: string; kind: TemporalServerKind }> {
  const binary = kind === 'launcher' ? await ensureTemporalLauncher(cacheDir, progress) : await ensureTemporalCli(cacheDir, progress);
  return { binary, kind };
}

const FERRETDB_MODULE = 'github.com/FerretDB/FerretDB';
const FERRETDB_VERSION = 'v1.24.2';

/**
 * FerretDB v1 applies `update`, `findAndModify` and `delete` as a read, a change made in Go, and a
 * write, in separate SQLite transactions: two concurrent updates of one document can lose one of
 * them (an `$inc` overwritten by a concurrent `$set`), and a conditional update can act on a state
 * that has just changed. MongoDB makes every single-document write atomic, and Hookflow relies on
 * that (fenced delivery rows, attempt numbers allocated by `$inc`). These patches give each
 * collection a lock held across the read and the write, released by defer so that a panic cannot leave
 * it held, and the embedded store keeps MongoDB's promise.
 */
const ATOMIC_DOCUMENT_WRITES = [
  {
    file: 'internal/handler/msg_update.go',
    from: `import (\n\t"context"\n`,
    to: `import (\n\t"context"\n\t"sync"\n`,
  },
  {
    file: 'internal/handler/msg_update.go',
    from: '// MsgUpdate implements `update` command.',
    to: [
      '// collectionWrites serializes the read-modify-write of documents per collection (patched in by Hookflow).',
      'var collectionWrites sync.Map',
      '',
      '// lockCollection locks db.collection for writing and returns the unlock.',
      'func lockCollection(db, collection string) func() {',
      '\tm, _ := collectionWrites.LoadOrStore(db+"."+collection, new(sync.Mutex))',
      '\tm.(*sync.Mutex).Lock()',
      '\treturn m.(*sync.Mutex).Unlock',
      '}',
      '',
      '// MsgUpdate implements `update` command.',
    ].join('\n'),
  },
  {
    file: 'internal/handler/msg_update.go',
    from: 'matched, modified, upserted, err := h.updateDocument(connCtx, params)',
    to: 'unlock := lockCollection(params.DB, params.Collection)\n\tdefer unlock()\n\tmatched, modified, upserted, err := h.updateDocument(connCtx, params)',
  },
  {
    file: 'internal/handler/msg_findandmodify.go',
    from: 'res, err := h.findAndModifyDocument(connCtx, params)',
    to: 'unlock := lockCollection(params.DB, params.Collection)\n\tdefer unlock()\n\tres, err := h.findAndModifyDocument(connCtx, params)',
  },
  {
    file: 'internal/handler/msg_delete.go',
    from: 'd, err = h.execDelete(connCtx, c, &p)',
    to: 'd, err = func() (int32, error) {\n\t\t\tdefer lockCollection(params.DB, params.Collection)()\n\t\t\treturn h.execDelete(connCtx, c, &p)\n\t\t}()',
  },
];

/**
 * Source patches applied to FerretDB before the launcher is built against it: the edits below, and
 * the files under tools/ferretdb/patches/, copied into the module at the same paths.
 *
 * 1. FerretDB v1.24.2's SQLite backend creates the unique `_id` index on the expression
 *    `_ferretdb_sjson->"_id"` but looks `_id` up with `_ferretdb_sjson->'$._id'`. SQLite uses an
 *    expression index only for the same expression, so every `_id` lookup, update and delete scanned the
 *    whole table (EXPLAIN QUERY PLAN: `SCAN`; 340 ms per findOne at 100k documents). Both expressions
 *    select the same JSON value; with the lookup written like the index, SQLite searches the index.
 * 2. Upstream runs no other filter, sort or limit in SQLite: an update or findAndModify whose filter
 *    names `_id` and anything else (a fenced write: `{ _id, workflowId, status }`) read and decoded the
 *    whole collection. The rest push a find's (and an aggregation's first `$match`'s), a delete's, an
 *    update's and a findAndModify's filter, and a find's sort and limit (also a capped collection's
 *    newest records: `sort({ $natural: -1 }).limit(n)`, which upstream read in full), down to SQLite, on secondary indexes built on sort keys
 *    whose SQLite order is FerretDB's, wherever that returns exactly what upstream returns
 *    (patches/internal/backends/sqlite/hookflow_pushdown.go says how).
 * 3. A delete whose filter is only `_id` (an equality or `$in` of strings) skips upstream's read and
 *    decoding of the documents it removes (patches/internal/handler/hookflow_delete.go).
 */
export const FERRETDB_PATCHES = [
  {
    file: 'internal/backends/sqlite/metadata/metadata.go',
    from: `IDColumn = DefaultColumn + "->'$._id'"`,
    to: `IDColumn = DefaultColumn + "->'_id'"`,
  },
  {
    file: 'internal/backends/collection.go',
    from: `\tOnlyRecordIDs bool\n\tComment       string\n}`,
    to: `\tOnlyRecordIDs bool\n\tComment       string\n\n\t// Hookflow: a find's whole filter, sort, and limit plus skip, for the SQLite backend's pushdown.\n\tPushdownFilter *types.Document\n\tPushdownSort   *types.Document\n\tPushdownLimit  int64\n}`,
  },
  {
    file: 'internal/handler/msg_find.go',
    from: `\th.L.DebugContext(ctx, fmt.Sprintf("Converted %+v for %+v to %+v.", params, cInfo, qp))`,
    to: `\tif !h.DisablePushdown && !cInfo.Capped() {\n\t\tqp.PushdownFilter = params.Filter\n\t\tif params.Sort.Len() > 0 && !params.Sort.Has("$natural") {\n\t\t\tqp.PushdownSort = params.Sort\n\t\t}\n\t\tif params.Limit > 0 {\n\t\t\tqp.PushdownLimit = params.Limit + params.Skip\n\t\t}\n\t}\n\n\th.L.DebugContext(ctx, fmt.Sprintf("Converted %+v for %+v to %+v.", params, cInfo, qp))`,
  },
  {
    file: 'internal/handler/msg_aggregate.go',
    from: `\t\t\tqp.Filter = filter\n`,
    to: `\t\t\tqp.Filter = filter\n\t\t\tqp.PushdownFilter = filter\n`,
  },
  {
    file: 'internal/handler/msg_delete.go',
    from: `func (h *Handler) execDelete(ctx context.Context, c backends.Collection, p *common.Delete) (int32, error) {\n`,
    to: `func (h *Handler) execDelete(ctx context.Context, c backends.Collection, p *common.Delete) (int32, error) {\n\t// Hookflow: a delete by \`_id\` alone reads nothing (patches/internal/handler/hookflow_delete.go).\n\tif ids, ok := hookflowDeleteIDs(p); ok && !h.DisablePushdown {\n\t\td, err := c.DeleteAll(ctx, &backends.DeleteAllParams{IDs: ids})\n\t\tif err != nil {\n\t\t\treturn 0, lazyerrors.Error(err)\n\t\t}\n\n\t\treturn d.Deleted, nil\n\t}\n\n`,
  },
  {
    file: 'internal/handler/msg_delete.go',
    from: `\t\tqp.Filter = p.Filter\n`,
    to: `\t\tqp.Filter = p.Filter\n\t\tqp.PushdownFilter = p.Filter\n\t\tif p.Limited {\n\t\t\tqp.PushdownLimit = 1\n\t\t}\n`,
  },
  {
    file: 'internal/backends/sqlite/collection.go',
    from: `params.OnlyRecordIDs)\n\n\tvar whereClause string\n\tvar args []any\n\n\t// that logic should exist in one place\n\t// TODO https://github.com/FerretDB/FerretDB/issues/3235\n\tif params.Filter.Len() == 1 {\n\t\tv, _ := params.Filter.Get("_id")`,
    to: `params.OnlyRecordIDs)\n\n\tvar whereClause string\n\tvar args []any\n\n\t// Hookflow: an \`_id\` equality beside other conditions is looked up too; the handler filters the rest.\n\tif v, ok := hookflowIDEquality(params.Filter); ok {`,
  },
  {
    file: 'internal/handler/msg_find.go',
    from: `\tif !h.DisablePushdown && params.Filter.Len() == 0 && params.Sort.Len() == 0 && params.Skip == 0 {`,
    to: `\t// Hookflow: also a capped collection's \`$natural\` sort, which SQLite runs on the record id.\n\tnaturalOnly := cInfo.Capped() && params.Sort.Len() == 1 && params.Sort.Keys()[0] == "$natural"\n\tif !h.DisablePushdown && params.Filter.Len() == 0 && (params.Sort.Len() == 0 || naturalOnly) && params.Skip == 0 {`,
  },
  {
    file: 'internal/handler/msg_update.go',
    from: `\t\t\tqp.Filter = u.Filter\n`,
    to: `\t\t\tqp.Filter = u.Filter\n\t\t\tqp.PushdownFilter = u.Filter\n`,
  },
  {
    file: 'internal/handler/msg_findandmodify.go',
    from: `\t\tqp.Filter = params.Query\n`,
    to: `\t\tqp.Filter = params.Query\n\t\tqp.PushdownFilter = params.Query\n`,
  },
  {
    file: 'internal/backends/sqlite/collection.go',
    from: `\tq := prepareSelectClause(meta.TableName, params.Comment, meta.Capped(), params.OnlyRecordIDs)`,
    to: `\tif res, err := c.hookflowQuery(ctx, db, meta, params); res != nil || err != nil {\n\t\treturn res, err\n\t}\n\n\tq := prepareSelectClause(meta.TableName, params.Comment, meta.Capped(), params.OnlyRecordIDs)`,
  },
  {
    file: 'internal/backends/sqlite/metadata/registry.go',
    from: `\t\tq = fmt.Sprintf(\n\t\t\tq,\n\t\t\tc.TableName+"_"+index.Name,`,
    to: `\t\tif sortKeys := hookflowIndexColumns(index); sortKeys != nil {\n\t\t\tcolumns = sortKeys\n\t\t}\n\n\t\tq = fmt.Sprintf(\n\t\t\tq,\n\t\t\tc.TableName+"_"+index.Name,`,
  },
  {
    file: 'internal/backends/sqlite/metadata/registry.go',
    from: `\t\tcreated = append(created, index.Name)`,
    to: `\t\tcreated = append(created, index.Name)\n\n\t\tif err := hookflowCreateInexactIndexes(ctx, db, c.TableName, index); err != nil {\n\t\t\t_ = r.indexesDrop(ctx, dbName, collectionName, created)\n\t\t\treturn lazyerrors.Error(err)\n\t\t}`,
  },
  ...ATOMIC_DOCUMENT_WRITES,
];

const ferretPatchDir = path.join(ferretLauncherDir, 'patches');

/** The SQLite driver FerretDB v1.24.2 builds with (the launcher's go.mod), patched beside FerretDB. */
const SQLITE_DRIVER_MODULE = 'modernc.org/sqlite';
const SQLITE_DRIVER_VERSION = 'v1.32.0';
const sqlitePatchDir = path.join(ferretLauncherDir, 'sqlite-patches');

/**
 * 4. The SQLite driver compiles every statement again on each use. The edits below rename its
 *    `prepareV2` and `finalize`, and tools/ferretdb/sqlite-patches/hookflow_stmtcache.go puts in their
 *    place a cache of prepared statements per connection (the file says why and how).
 */
export const SQLITE_DRIVER_PATCHES = [
  {
    file: 'sqlite.go',
    from: 'func (c *conn) prepareV2(zSQL *uintptr) (pstmt uintptr, err error) {',
    to: 'func (c *conn) hookflowPrepareV2Uncached(zSQL *uintptr) (pstmt uintptr, err error) {',
  },
  {
    file: 'sqlite.go',
    from: 'func (c *conn) finalize(pstmt uintptr) error {',
    to: 'func (c *conn) hookflowFinalizeUncached(pstmt uintptr) error {',
  },
  {
    file: 'sqlite.go',
    from: '\twriteTimeFormat string\n\tbeginMode       string\n}',
    to: '\twriteTimeFormat string\n\tbeginMode       string\n\n\t// Hookflow: prepared statements kept for reuse (hookflow_stmtcache.go).\n\thookflowStmts hookflowStmtCache\n}',
  },
  {
    file: 'sqlite.go',
    from: '\tif c.db != 0 {\n\t\tif err := c.closeV2(c.db); err != nil {',
    to: '\tif c.db != 0 {\n\t\tc.hookflowCloseStmts()\n\t\tif err := c.closeV2(c.db); err != nil {',
  },
];

/** The files under tools/ferretdb/patches/, relative to it: each goes into the module at that path. */
export function ferretPatchFiles(): string[] {
  return readdirSync(ferretPatchDir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(ferretPatchDir, path.join(entry.parentPath, entry.name)))
    .sort();
}

/** Keyed by the launcher's sources and the patches, so a change to either builds a new binary. */
export function ferretDbPath(cacheDir: string, options: { upstream?: boolean } = {}): string {
  const hash = createHash('sha256');
  for (const file of ['go.mod', 'go.sum', 'main.go']) hash.update(readFileSync(path.join(ferretLauncherDir, file)));
  if (!options.upstream) {
    hash.update(JSON.stringify(FERRETDB_PATCHES)).update(JSON.stringify(SQLITE_DRIVER_PATCHES));
    for (const file of ferretPatchFiles()) hash.update(file).update(readFileSync(path.join(ferretPatchDir, file)));
    for (const file of readdirSync(sqlitePatchDir).sort()) hash.update(file).update(readFileSync(path.join(sqlitePatchDir, file)));
  }
  return path.join(cacheDir, 'bin', `ferretdb-${options.upstream ? 'upstream-' : ''}${hash.digest('hex').slice(0, 12)}`);
}

type Progress = (line: string) => void;

export async function ensureTemporalCli(cacheDir: string, progress: Progress): Promise<string> {
  const target = temporalCliPath(cacheDir);
  if (existsSync(target)) return target;
  const tmp = mkdtempSync(path.join(ensureDir(path.join(cacheDir, 'tmp')), 'temporal-'));
  try {
    // Tags after v1.5.1 carry a `replace` directive and refuse `go install`.
    await goBuild(
      `Temporal CLI ${TEMPORAL_CLI_VERSION}`,
      ['install', '-v', `github.com/temporalio/cli/cmd/temporal@${TEMPORAL_CLI_VERSION}`],
      { cwd: tmp, env: { GOBIN: tmp } },
      progress,
    );
    renameSync(path.join(tmp, 'temporal'), path.join(ensureDir(path.dirname(target)), path.basename(target)));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return target;
}

/**
 * Builds the launcher against a patched copy of FerretDB: the module is copied out of Go's module cache
 * (read-only), patched, and swapped in by a `replace` in a temporary copy of the launcher's go.mod, so
 * the committed go.mod stays the plain upstream requirement. `upstream` builds it unpatched, which the
 * pushdown's differential test compares against.
 */
export async function ensureFerretDb(cacheDir: string, progress: Progress, options: { upstream?: boolean } = {}): Promise<string> {
  const target = ferretDbPath(cacheDir, options);
  if (existsSync(target)) return target;
  const work = mkdtempSync(path.join(ensureDir(path.join(cacheDir, 'tmp')), 'ferretdb-'));
  try {
    progress(`fetching FerretDB ${FERRETDB_VERSION} sources…`);
    const patched = writableModuleCopy(FERRETDB_MODULE, FERRETDB_VERSION, path.join(work, 'FerretDB'));
    let replaces = `replace ${FERRETDB_MODULE} => ${patched}\n`;
    if (!options.upstream) {
      applyFerretPatches(patched);
      const patchedDriver = writableModuleCopy(SQLITE_DRIVER_MODULE, SQLITE_DRIVER_VERSION, path.join(work, 'sqlite'));
      applyPatches('SQLite driver', patchedDriver, SQLITE_DRIVER_PATCHES);
      addPatchFiles('SQLite driver', sqlitePatchDir, readdirSync(sqlitePatchDir), patchedDriver);
      replaces += `replace ${SQLITE_DRIVER_MODULE} => ${patchedDriver}\n`;
    }
    const modfile = path.join(work, 'go.mod');
    writeFileSync(modfile, `${readFileSync(path.join(ferretLauncherDir, 'go.mod'), 'utf8')}\n${replaces}`);
    copyFileSync(path.join(ferretLauncherDir, 'go.sum'), path.join(work, 'go.sum'));
    const out = path.join(work, 'ferretdb');
    const what = `FerretDB ${FERRETDB_VERSION} launcher${options.upstream ? ' (upstream, unpatched)' : ''}`;
    await goBuild(what, ['build', '-v', '-modfile', modfile, '-o', out, '.'], { cwd: ferretLauncherDir, env: {} }, progress);
    renameSync(out, path.join(ensureDir(path.dirname(target)), path.basename(target)));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return target;
}

/** Applies FERRETDB_PATCHES and copies the patch files into a writable copy of the FerretDB module. */
export function applyFerretPatches(moduleDir: string): void {
  applyPatches('FerretDB', moduleDir, FERRETDB_PATCHES);
  addPatchFiles('FerretDB', ferretPatchDir, ferretPatchFiles(), moduleDir);
}

/** A writable copy at `target` of a module version from Go's module cache (which keeps it read-only). */
function writableModuleCopy(module: string, version: string, target: string): string {
  const download = execFileSync('go', ['mod', 'download', '-json', `${module}@${version}`], { cwd: ferretLauncherDir, encoding: 'utf8', env: process.env });
  execFileSync('cp', ['-R', JSON.parse(download).Dir as string, target]);
  execFileSync('chmod', ['-R', 'u+w', target]);
  return target;
}

/** Copies patch files (paths relative to `fromDir`) into a module; none may replace an upstream file. */
function addPatchFiles(what: string, fromDir: string, files: string[], moduleDir: string): void {
  for (const file of files) {
    const target = path.join(moduleDir, file);
    if (existsSync(target)) throw new Error(`${what} patch file ${file} would replace an upstream file`);
    mkdirSync(path.dirname(target), { recursive: true });
    copyFileSync(path.join(fromDir, file), target);
  }
}

/** Applies text edits to a writable copy of a Go module; each `from` must occur exactly once. */
function applyPatches(what: string, moduleDir: string, patches: { file: string; from: string; to: string }[]): void {
  for (const patch of patches) {
    const file = path.join(moduleDir, patch.file);
    const text = readFileSync(file, 'utf8');
    if (text.split(patch.from).length !== 2) throw new Error(`${what} patch does not apply: ${patch.file} does not hold ${patch.from} exactly once`);
    chmodSync(file, 0o644);
    writeFileSync(
      file,
      text.replace(patch.from, () => patch.to),
    );
  }
}

function ensureDir(dir: string): string {
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Runs `go …`, reporting every 25 compiled packages so that a first build of minutes shows life. */
function goBuild(what: string, args: string[], opts: { cwd: string; env: Record<string, string> }, progress: Progress): Promise<void> {
  progress(`building ${what} with Go (first run only; a few minutes on 2 cores)…`);
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn('go', args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'inherit', 'pipe'] });
    let packages = 0;
    const tail: string[] = [];
    let buffered = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        tail.push(line);
        if (tail.length > 30) tail.shift();
        if (line.startsWith('go: downloading')) continue;
        packages += 1;
        if (packages % 25 === 0) progress(`  ${what}: ${packages} packages compiled (${Math.round((Date.now() - started) / 1000)} s)`);
      }
    });
    child.on('error', (error) => reject(new Error(`cannot run go (is Go installed and on PATH?): ${error.message}`)));
    child.on('exit', (code) => {
      if (code === 0) {
        progress(`built ${what} in ${Math.round((Date.now() - started) / 1000)} s`);
        resolve();
      } else {
        reject(new Error(`building ${what} failed (go exit ${code}):\n${tail.join('\n')}`));
      }
    });
  });
}
