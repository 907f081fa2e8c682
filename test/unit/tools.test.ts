import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  ensureFerretDb,
  ensureTemporalCli,
  ensureTemporalLauncher,
  FERRETDB_PATCHES,
  ferretDbPath,
  SQLITE_DRIVER_PATCHES,
  ferretPatchFiles,
  TEMPORAL_LAUNCHER_GOTOOLCHAIN,
  temporalCliPath,
  temporalLauncherPath,
} from '../../src/dev/tools';

/**
 * The tool cache on a machine that never built anything: an empty cache directory. A stand-in `go` on
 * PATH writes the binary where `go install` (GOBIN) or `go build -o` would, and logs its calls, so
 * the cache logic runs in milliseconds; the real Go builds run in every CI run on a fresh machine.
 */
describe('the Go tool cache', () => {
  let root: string;
  let savedPath: string | undefined;

  beforeEach(() => {
    root = mkdtempSync(path.join(os.tmpdir(), 'hookflow-tools-'));
    const fakeBin = path.join(root, 'fake-bin');
    mkdirSync(fakeBin);
    // A read-only module, as Go's module cache keeps it, holding each text the patches replace once.
    const fakeModule = path.join(root, 'modcache', 'FerretDB@v1.24.2');
    const upstreamTexts = new Map<string, string[]>();
    for (const patch of FERRETDB_PATCHES) upstreamTexts.set(patch.file, [...(upstreamTexts.get(patch.file) ?? []), patch.from]);
    for (const [file, texts] of upstreamTexts) {
      const target = path.join(fakeModule, file);
      mkdirSync(path.dirname(target), { recursive: true });
      writeFileSync(target, `package upstream\n\n${texts.join('\n\n')}\n`);
      chmodSync(target, 0o444);
    }
    // The same for the SQLite driver FerretDB builds with.
    const fakeDriver = path.join(root, 'modcache', 'sqlite@v1.32.0');
    mkdirSync(fakeDriver, { recursive: true });
    writeFileSync(path.join(fakeDriver, 'sqlite.go'), `package sqlite\n\n${SQLITE_DRIVER_PATCHES.map((p) => p.from).join('\n\n')}\n`);
    chmodSync(path.join(fakeDriver, 'sqlite.go'), 0o444);
    const go = path.join(fakeBin, 'go');
    writeFileSync(
      go,
      [
        '#!/bin/sh',
        `echo "$@" >> "${path.join(root, 'go-calls.log')}"`,
        'echo "github.com/example/compiled" >&2',
        'if [ "$1" = install ]; then echo built > "$GOBIN/temporal"; exit 0; fi',
        `if [ "$1" = mod ] && echo "$@" | grep -q modernc.org/sqlite; then echo '{"Path": "modernc.org/sqlite", "Dir": "${fakeDriver}"}'; exit 0; fi`,
        `if [ "$1" = mod ]; then echo '{"Path": "github.com/FerretDB/FerretDB", "Dir": "${fakeModule}"}'; exit 0; fi`,
        // The build must see the patched copy through a replace in the go.mod it is given.
        `echo "GOTOOLCHAIN=$GOTOOLCHAIN" >> "${path.join(root, 'go-env.log')}"`,
        'if [ "$1" = build ] && echo "$@" | grep -q -- -modfile; then modfile=$(echo "$@" | sed -n "s/.*-modfile \\([^ ]*\\).*/\\1/p"); dir=$(sed -n "s/^replace github.com\\/FerretDB\\/FerretDB => //p" "$modfile"); cp -R "$dir" "' +
          path.join(root, 'built-from') +
          '"; driver=$(sed -n "s/^replace modernc.org\\/sqlite => //p" "$modfile"); if [ -n "$driver" ]; then cp -R "$driver" "' +
          path.join(root, 'built-driver') +
          '"; fi; fi',
        'while [ $# -gt 0 ]; do if [ "$1" = -o ]; then echo built > "$2"; exit 0; fi; shift; done',
        'exit 1',
      ].join('\n'),
    );
    chmodSync(go, 0o755);
    savedPath = process.env.PATH;
    process.env.PATH = `${fakeBin}:${savedPath}`;
  });

  afterEach(() => {
    process.env.PATH = savedPath;
    rmSync(root, { recursive: true, force: true });
  });

  test('a fresh cache directory gets both binaries, and a second call builds nothing', async () => {
    const cache = path.join(root, 'cache');
    const progress: string[] = [];
    const temporal = await ensureTemporalCli(cache, (line) => progress.push(line));
    const ferret = await ensureFerretDb(cache, (line) => progress.push(line));
    expect(temporal).toBe(temporalCliPath(cache));
    expect(ferret).toBe(ferretDbPath(cache));
    expect(readFileSync(temporal, 'utf8')).toBe('built\n');
    expect(readFileSync(ferret, 'utf8')).toBe('built\n');
    expect(progress.filter((line) => line.startsWith('built '))).toHaveLength(2);

    // FerretDB was built from a patched copy: every edit made, every patch file added; the module cache is untouched.
    const builtFrom = path.join(root, 'built-from');
    expect(readFileSync(path.join(builtFrom, 'internal/backends/sqlite/metadata/metadata.go'), 'utf8')).toContain(`IDColumn = DefaultColumn + "->'_id'"`);
    for (const patch of FERRETDB_PATCHES) expect(readFileSync(path.join(builtFrom, patch.file), 'utf8')).toContain(patch.to);
    expect(ferretPatchFiles().length).toBeGreaterThan(0);
    for (const file of ferretPatchFiles())
      expect(readFileSync(path.join(builtFrom, file), 'utf8')).toBe(readFileSync(path.join('tools/ferretdb/patches', file), 'utf8'));
    expect(readFileSync(path.join(root, 'modcache', 'FerretDB@v1.24.2', 'internal/backends/sqlite/metadata/metadata.go'), 'utf8')).toContain(`"->'$._id'"`);

    // And with its SQLite driver patched: every edit made, the statement cache added.
    const builtDriver = path.join(root, 'built-driver');
    for (const patch of SQLITE_DRIVER_PATCHES) expect(readFileSync(path.join(builtDriver, patch.file), 'utf8')).toContain(patch.to);
    expect(readFileSync(path.join(builtDriver, 'hookflow_stmtcache.go'), 'utf8')).toBe(
      readFileSync('tools/ferretdb/sqlite-patches/hookflow_stmtcache.go', 'utf8'),
    );

    const calls = readFileSync(path.join(root, 'go-calls.log'), 'utf8').trim().split('\n');
    expect(calls).toHaveLength(4);
    await ensureTemporalCli(cache, () => undefined);
    await ensureFerretDb(cache, () => undefined);
    expect(readFileSync(path.join(root, 'go-calls.log'), 'utf8').trim().split('\n')).toHaveLength(4);
    // No temporary build output is left behind.
    expect(existsSync(path.join(cache, 'tmp')) ? readdirSync(path.join(cache, 'tmp')) : []).toEqual([]);
  });

  test('the upstream FerretDB (for the pushdown test) is built unpatched, under a name of its own', async () => {
    const cache = path.join(root, 'cache');
    const upstream = await ensureFerretDb(cache, () => undefined, { upstream: true });
    expect(upstream).toBe(ferretDbPath(cache, { upstream: true }));
    expect(upstream).not.toBe(ferretDbPath(cache));
    expect(readFileSync(path.join(root, 'built-from', 'internal/backends/sqlite/metadata/metadata.go'), 'utf8')).toContain(`"->'$._id'"`);
    expect(existsSync(path.join(root, 'built-from', ferretPatchFiles()[0]!))).toBe(false);
    expect(existsSync(path.join(root, 'built-driver'))).toBe(false);
  });

  test('the Temporal server launcher is built with the Go toolchain it needs, once', async () => {
    const cache = path.join(root, 'cache');
    const progress: string[] = [];
    const launcher = await ensureTemporalLauncher(cache, (line) => progress.push(line));
    expect(launcher).toBe(temporalLauncherPath(cache));
    expect(readFileSync(launcher, 'utf8')).toBe('built\n');
    expect(readFileSync(path.join(root, 'go-env.log'), 'utf8').trim()).toBe(`GOTOOLCHAIN=${TEMPORAL_LAUNCHER_GOTOOLCHAIN}`);
    expect(progress.some((line) => line.startsWith('built Temporal server'))).toBe(true);
    await ensureTemporalLauncher(cache, () => undefined);
    expect(readFileSync(path.join(root, 'go-calls.log'), 'utf8').trim().split('\n')).toHaveLength(1);
  });

  test('a FerretDB release the patch does not fit is refused, not built unpatched', async () => {
    const metadata = path.join(root, 'modcache', 'FerretDB@v1.24.2', 'internal/backends/sqlite/metadata/metadata.go');
    chmodSync(metadata, 0o644);
    writeFileSync(metadata, 'package metadata\n');
    await expect(ensureFerretDb(path.join(root, 'cache'), () => undefined)).rejects.toThrow(/patch does not apply/);
  });

  test("a failed build says so with Go's output, and leaves no binary", async () => {
    const cache = path.join(root, 'cache');
    writeFileSync(path.join(root, 'fake-bin', 'go'), '#!/bin/sh\necho "compile error: boom" >&2\nexit 2\n');
    await expect(ensureTemporalCli(cache, () => undefined)).rejects.toThrow(/go exit 2[\s\S]*compile error: boom/);
    expect(existsSync(temporalCliPath(cache))).toBe(false);
  });
});
