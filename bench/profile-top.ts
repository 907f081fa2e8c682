/**
 * Where a Hookflow process spent its CPU: reads the V8 CPU profiles that `BENCH_CPU_PROFILE=<dir> npm
 * run bench` wrote (one per process, `--cpu-prof`), and prints the self time by package or source file
 * and by function. `npx tsx bench/profile-top.ts <dir> [rows]`.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

function profiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const file = path.join(dir, name);
    if (statSync(file).isDirectory()) return profiles(file);
    return name.endsWith('.cpuprofile') ? [file] : [];
  });
}

/** `node_modules/@temporalio/worker/…` → `@temporalio/worker`; a project file → its path; V8 internals by name. */
function owner(url: string, functionName: string): string {
  if (!url) return `(${functionName || 'native'})`;
  const modules = url.lastIndexOf('node_modules/');
  if (modules >= 0) {
    const parts = url.slice(modules + 'node_modules/'.length).split('/');
    return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
  }
  if (url.startsWith('node:')) return url;
  const root = path.resolve(__dirname, '..');
  return url.replace(/^file:\/\//, '').replace(`${root}/`, '');
}

function selfTimes(profile: CpuProfile): Map<number, number> {
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  return self;
}

function top(entries: Map<string, number>, total: number, rows: number): string[] {
  return [...entries.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, rows)
    .map(([name, us]) => `${((100 * us) / total).toFixed(1).padStart(5)} %  ${(us / 1000).toFixed(0).padStart(7)} ms  ${name}`);
}

function main(): void {
  const [dir, rowsArg] = process.argv.slice(2);
  if (!dir) throw new Error('usage: tsx bench/profile-top.ts <dir> [rows]');
  const rows = Number(rowsArg ?? 25);
  for (const file of profiles(dir)) {
    const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const byOwner = new Map<string, number>();
    const byFunction = new Map<string, number>();
    let total = 0;
    let idle = 0;
    for (const [id, us] of selfTimes(profile)) {
      const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
      if (functionName === '(idle)') {
        idle += us;
        continue;
      }
      total += us;
      const who = owner(url, functionName);
      byOwner.set(who, (byOwner.get(who) ?? 0) + us);
      const fn = `${functionName || '(anonymous)'} ${who}${url ? `:${lineNumber + 1}` : ''}`;
      byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
    }
    // Inclusive time of the project's own functions (and of each package's entry points into it).
    const inclusive = new Map<number, number>();
    const self = selfTimes(profile);
    const visit = (id: number): number => {
      const node = byId.get(id)!;
      const sum = (node.callFrame.functionName === '(idle)' ? 0 : (self.get(id) ?? 0)) + (node.children ?? []).reduce((acc, child) => acc + visit(child), 0);
      inclusive.set(id, sum);
      return sum;
    };
    visit(profile.nodes[0]!.id);
    const byProjectFunction = new Map<string, number>();
    const onStack = new Set<string>();
    const walk = (id: number) => {
      const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
      const who = owner(url, functionName);
      const own = url !== '' && !url.includes('node_modules/') && !url.startsWith('node:');
      const key = `${functionName || '(anonymous)'} ${who}:${lineNumber + 1}`;
      // A recursive or re-entered function counts once per stack.
      const counted = own && !onStack.has(key);
      if (counted) {
        byProjectFunction.set(key, (byProjectFunction.get(key) ?? 0) + inclusive.get(id)!);
        onStack.add(key);
      }
      for (const child of byId.get(id)!.children ?? []) walk(child);
      if (counted) onStack.delete(key);
    };
    walk(profile.nodes[0]!.id);
    const wall = (profile.endTime - profile.startTime) / 1000;
    process.stdout.write(
      `\n== ${path.relative(process.cwd(), file)}: ${(total / 1000).toFixed(0)} ms busy, ${(idle / 1000).toFixed(0)} ms idle, ${wall.toFixed(0)} ms profiled\n`,
    );
    process.stdout.write('-- self time by package or file\n');
    for (const line of top(byOwner, total, rows)) process.stdout.write(`${line}\n`);
    process.stdout.write('-- self time by function\n');
    for (const line of top(byFunction, total, rows)) process.stdout.write(`${line}\n`);
    process.stdout.write("-- inclusive time of the project's functions\n");
    for (const line of top(byProjectFunction, total, rows)) process.stdout.write(`${line}\n`);
  }
}

main();
