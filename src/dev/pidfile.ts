import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ChildServer } from './servers';

/**
 * The servers `npm start` runs are recorded in the data directory, so that a start after a crash
 * (or after `kill -9` of the parent) stops the orphans that still hold the ports and files.
 */
const fileName = 'children.json';

export function writeChildPids(dataDir: string, children: ChildServer[]): void {
  const entries = children.map((c) => ({ name: c.name, pid: c.pid, cmdline: readCmdline(c.pid) }));
  writeFileSync(path.join(dataDir, fileName), JSON.stringify(entries, null, 2));
}

export function killStaleChildren(dataDir: string, say: (line: string) => void): void {
  const file = path.join(dataDir, fileName);
  if (!existsSync(file)) return;
  let entries: { name: string; pid: number; cmdline: string | null }[] = [];
  try {
    entries = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    entries = [];
  }
  for (const entry of entries) {
    // The pid may have been reused: only a process with the same command line is ours.
    if (entry.cmdline && readCmdline(entry.pid) === entry.cmdline) {
      say(`stopping ${entry.name} (pid ${entry.pid}) left over from an earlier run`);
      try {
        process.kill(entry.pid, 'SIGKILL');
      } catch {
        // it exited meanwhile
      }
    }
  }
  rmSync(file, { force: true });
}

function readCmdline(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return null;
  }
}
