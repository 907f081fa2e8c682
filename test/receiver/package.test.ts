import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(__dirname, '../..');
const filesUnder = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) => (entry.isDirectory() ? filesUnder(path.join(dir, entry.name)) : [path.join(dir, entry.name)]));
const node = (args: string[]) => execFileSync(process.execPath, args, { cwd: root, encoding: 'utf8' });

describe('hookflow/receiver as a package', () => {
  beforeAll(() => {
    execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.receiver.json'], { cwd: root });
  }, 120_000);

  it('resolves through package.json "exports", from require and from import, and verifies a signature', () => {
    const script = `
      const { verifyWebhook, createWebhookHandler, createMongoStore, createPostgresStore, createMemoryStore, reconcile, inEventOrder } = require('hookflow/receiver');
      const { sign } = { sign: (s, id, t, b) => 'v1,' + require('node:crypto').createHmac('sha256', Buffer.from(s.slice(6), 'base64')).update(id + '.' + t + '.' + b).digest('base64') };
      const secret = 'whsec_' + Buffer.alloc(32, 7).toString('base64');
      const t = Math.floor(Date.now() / 1000);
      const body = JSON.stringify({ type: 'order.created', timestamp: '2026-01-01T00:00:00.000Z', data: { a: 1 } });
      const m = verifyWebhook({ headers: { 'webhook-id': 'msg_1', 'webhook-timestamp': String(t), 'webhook-signature': sign(secret, 'msg_1', t, body) }, body, secrets: [secret] });
      console.log(JSON.stringify({ m, kinds: [createWebhookHandler, createMongoStore, createPostgresStore, createMemoryStore, reconcile, inEventOrder].map((f) => typeof f), resolved: require.resolve('hookflow/receiver') }));
    `;
    const out = JSON.parse(node(['-e', script]));
    expect(out.m).toEqual({ id: 'msg_1', type: 'order.created', timestamp: '2026-01-01T00:00:00.000Z', data: { a: 1 } });
    expect(out.kinds).toEqual(Array(6).fill('function'));
    expect(out.resolved).toBe(path.join(root, 'dist/receiver/index.js'));
    expect(node(['--input-type=module', '-e', "import { verifyWebhook } from 'hookflow/receiver'; console.log(typeof verifyWebhook)"]).trim()).toBe('function');
  });

  it('ships type declarations where "exports" says', () => {
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
    const types = readFileSync(path.join(root, pkg.exports['./receiver'].types), 'utf8');
    expect(types).toMatch(/export \{ verifyWebhook, WebhookVerificationError \} from '\.\/verify'/);
  });

  it('stands alone: no Temporal, no server module, no database driver at run time', () => {
    for (const file of filesUnder(path.join(root, 'src/receiver'))) {
      const source = readFileSync(file, 'utf8');
      for (const [, typeOnly, specifier] of source.matchAll(/^(?:import|export) (type )?[^'"]*from '([^']+)'/gm)) {
        const local = specifier.startsWith('.') && path.resolve(path.dirname(file), specifier).startsWith(path.join(root, 'src/receiver'));
        const ok = local || specifier.startsWith('node:') || (typeOnly && ['mongodb', 'pg'].includes(specifier));
        expect({ file: path.relative(root, file), specifier, ok }).toEqual({ file: path.relative(root, file), specifier, ok: true });
      }
    }
    for (const file of filesUnder(path.join(root, 'dist/receiver')).filter((f) => f.endsWith('.js'))) {
      for (const [, specifier] of readFileSync(file, 'utf8').matchAll(/require\("([^"]+)"\)/g)) {
        expect(specifier.startsWith('./') || specifier.startsWith('../') || specifier.startsWith('node:')).toBe(true);
      }
    }
  });
});
