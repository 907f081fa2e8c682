import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config';

// No Docker engine or compose plugin runs here, so the production stack is checked as data.
const compose = parse(readFileSync(path.join(__dirname, '..', '..', 'docker-compose.yml'), 'utf8'));

test('docker-compose.yml defines the production stack', () => {
  expect(Object.keys(compose.services).sort()).toEqual(['api', 'mongo', 'postgresql', 'temporal', 'temporal-ui', 'worker']);
  expect(compose.services.mongo.image).toBe('mongo:7');
  expect(compose.services.api.command).toEqual(['npm', 'run', 'api']);
  expect(compose.services.worker.command).toEqual(['npm', 'run', 'worker']);
});

test("the API and worker environment is valid Hookflow configuration", () => {
  for (const service of ['api', 'worker']) {
    const env = {
      ...compose.services[service].environment,
      HOOKFLOW_API_KEY: 'k'.repeat(24),
      HOOKFLOW_ADMIN_TOKEN: 'a'.repeat(24),
      HOOKFLOW_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64'),
    };
    const config = loadConfig(env);
    expect(config.TEMPORAL_ADDRESS).toBe('temporal:7233');
    expect(config.MONGODB_URI).toBe('mongodb://mongo:27017');
    expect(config.HOOKFLOW_ALLOW_HTTP).toBe(false);
    expect(config.HOOKFLOW_ALLOW_PRIVATE_URLS).toBeUndefined();
  }
});
