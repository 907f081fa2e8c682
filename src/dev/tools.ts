import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
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

const FERRETDB_MODULE = 'github.com/FerretDB/FerretDB';
const FERRETDB_VERSION = 'v1.24.2';

/**
 * FerretDB v1 applies `update`, `findAndModify` and `delete` as a read, a change made in Go, and a
 * write, in separate SQLite transactions: two concurrent updates of one document can lose one of
 * them (an `$inc` overwritten by a concurrent `$set`), and a conditional update can act on a state
 * that has just changed. MongoDB makes every single-document write atomic, and Hookflow relies on
 * that (fenced delivery rows, attempt numbers allocated by `$inc`). These patches give each
 * collection a lock held across the read and the write, so the embedded store keeps MongoDB's promise.
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
    to: 'unlock := lockCollection(params.DB, params.Collection)\n\tmatched, modified, upserted, err := h.updateDocument(connCtx, params)\n\tunlock()',
  },
  {
    file: 'internal/handler/msg_findandmodify.go',
    from: 'res, err := h.findAndModifyDocument(connCtx, params)',
    to: 'unlock := lockCollection(params.DB, params.Collection)\n\tres, err := h.findAndModifyDocument(connCtx, params)\n\tunlock()',
  },
  {
    file: 'internal/handler/msg_delete.go',
    from: 'd, err = h.execDelete(connCtx, c, &p)',
    to: 'unlock := lockCollection(params.DB, params.Collection)\n\t\td, err = h.execDelete(connCtx, c, &p)\n\t\tunlock()',
  },
];

/**
 * Source patches applied to FerretDB before the launcher is built against it.
 *
 * FerretDB v1.24.2's SQLite backend creates the unique `_id` index on the expression
 * `_ferretdb_sjson->"_id"` but looks `_id` up with `_ferretdb_sjson->'$._id'`. SQLite uses an expression
 * index only for the same expression, so every `_id` lookup, update and delete scanned the whole table
 * (EXPLAIN QUERY PLAN: `SCAN`; 340 ms per findOne at 100k documents). Both expressions select the same
 * JSON value; with the lookup written like the index, SQLite searches the index (`SEARCH … USING INDEX`).
 */
export const FERRETDB_PATCHES = [
  {
    file: 'internal/backends/sqlite/metadata/metadata.go',
    from: `IDColumn = DefaultColumn + "->'$._id'"`,
    to: `IDColumn = DefaultColumn + "->'_id'"`,
  },
  ...ATOMIC_DOCUMENT_WRITES,
];

/** Keyed by the launcher's sources and the patches, so a change to either builds a new binary. */
export function ferretDbPath(cacheDir: string): string {
  const hash = createHash('sha256');
  for (const file of ['go.mod', 'go.sum', 'main.go']) hash.update(readFileSync(path.join(ferretLauncherDir, file)));
  hash.update(JSON.stringify(FERRETDB_PATCHES));
  return path.join(cacheDir, 'bin', `ferretdb-${hash.digest('hex').slice(0, 12)}`);
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
 * the committed go.mod stays the plain upstream requirement.
 */
export async function ensureFerretDb(cacheDir: string, progress: Progress): Promise<string> {
  const target = ferretDbPath(cacheDir);
  if (existsSync(target)) return target;
  const work = mkdtempSync(path.join(ensureDir(path.join(cacheDir, 'tmp')), 'ferretdb-'));
  try {
    progress(`fetching FerretDB ${FERRETDB_VERSION} sources…`);
    const download = execFileSync('go', ['mod', 'download', '-json', `${FERRETDB_MODULE}@${FERRETDB_VERSION}`], { cwd: ferretLauncherDir, encoding: 'utf8', env: process.env });
    const source = JSON.parse(download).Dir as string;
    const patched = path.join(work, 'FerretDB');
    execFileSync('cp', ['-R', source, patched]);
    execFileSync('chmod', ['-R', 'u+w', patched]);
    for (const patch of FERRETDB_PATCHES) {
      const file = path.join(patched, patch.file);
      const text = readFileSync(file, 'utf8');
      if (text.split(patch.from).length !== 2) throw new Error(`FerretDB patch does not apply: ${patch.file} does not hold ${patch.from} exactly once`);
      chmodSync(file, 0o644);
      writeFileSync(file, text.replace(patch.from, patch.to));
    }
    const modfile = path.join(work, 'go.mod');
    writeFileSync(modfile, `${readFileSync(path.join(ferretLauncherDir, 'go.mod'), 'utf8')}\nreplace ${FERRETDB_MODULE} => ${patched}\n`);
    copyFileSync(path.join(ferretLauncherDir, 'go.sum'), path.join(work, 'go.sum'));
    const out = path.join(work, 'ferretdb');
    await goBuild(`FerretDB ${FERRETDB_VERSION} launcher`, ['build', '-v', '-modfile', modfile, '-o', out, '.'], { cwd: ferretLauncherDir, env: {} }, progress);
    renameSync(out, path.join(ensureDir(path.dirname(target)), path.basename(target)));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return target;
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
