import { rmSync } from 'node:fs';

export default async function globalTeardown(): Promise<void> {
  const state = globalThis.hookflowTestServers;
  if (!state) return;
  await Promise.all(state.servers.map((server) => server.stop()));
  rmSync(state.dir, { recursive: true, force: true });
}
