import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
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

/** Keyed by the launcher's sources, so a change to them builds a new binary. */
export function ferretDbPath(cacheDir: string): string {
  const hash = createHash('sha256');
  for (const file of ['go.mod', 'go.sum', 'main.go']) hash.update(readFileSync(path.join(ferretLauncherDir, file)));
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

export async function ensureFerretDb(cacheDir: string, progress: Progress): Promise<string> {
  const target = ferretDbPath(cacheDir);
  if (existsSync(target)) return target;
  const tmp = path.join(ensureDir(path.dirname(target)), `${path.basename(target)}.tmp-${process.pid}`);
  await goBuild('FerretDB v1.24.2 launcher', ['build', '-v', '-o', tmp, '.'], { cwd: ferretLauncherDir, env: {} }, progress);
  renameSync(tmp, target);
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
