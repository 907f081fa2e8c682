import { readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';

/**
 * The production image installs `dependencies` only (`npm ci --omit=dev`), so every package the
 * service's own code loads at run time must be listed there, not among the devDependencies.
 */
const root = path.join(__dirname, '..', '..');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const file = path.join(dir, name);
    if (statSync(file).isDirectory()) return name === 'generated' ? [] : sources(file);
    return file.endsWith('.ts') ? [file] : [];
  });
}

/** Bare specifiers of value imports and re-exports (`import type` is erased and loads nothing). */
function packagesLoadedBy(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers = [...text.matchAll(/^(?:import|export)\s+(?!type\s)[^;]*?from\s+'([^']+)'|^import\s+'([^']+)'/gm)].map((m) => m[1] ?? m[2]!);
  return specifiers
    .filter((s) => !s.startsWith('.') && !s.startsWith('node:') && !builtinModules.includes(s))
    .map((s) => (s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : s.split('/')[0]!));
}

test('every package the service loads at run time is a dependency, not a devDependency', () => {
  const files = ['src', 'activities', 'workflows'].flatMap((dir) => sources(path.join(root, dir)));
  const used = new Map<string, string>();
  for (const file of files) for (const name of packagesLoadedBy(file)) used.set(name, path.relative(root, file));
  expect(used.size).toBeGreaterThan(10);
  const missing = [...used].filter(([name]) => !(name in pkg.dependencies)).map(([name, file]) => `${name} (loaded by ${file})`);
  expect(missing).toEqual([]);
});
