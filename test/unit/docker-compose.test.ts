import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config';

// No Docker engine or compose plugin runs here, so the production stack is checked as data.
const root = path.join(__dirname, '..', '..');
const read = (file: string) => parse(readFileSync(path.join(root, file), 'utf8'), { merge: true });
const compose = read('docker-compose.yml');

test('docker-compose.yml defines the production stack', () => {
  expect(Object.keys(compose.services).sort()).toEqual(['api', 'grafana', 'mongo', 'postgresql', 'prometheus', 'temporal', 'temporal-ui', 'worker']);
  expect(compose.services.mongo.image).toBe('mongo:7');
  expect(compose.services.api.command).toEqual(['npm', 'run', 'api']);
  expect(compose.services.worker.command).toEqual(['npm', 'run', 'worker']);
});

test('the API and worker environment is valid Hookflow configuration', () => {
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

test('every service has a healthcheck, and the API and the worker probe /readyz on the port that serves it', () => {
  for (const [name, service] of Object.entries<any>(compose.services)) {
    if (name === 'temporal-ui') continue; // its image has no HTTP client to probe with
    expect({ name, test: service.healthcheck?.test }).toEqual({ name, test: expect.any(Array) });
  }
  const dockerfile = readFileSync(path.join(root, 'Dockerfile'), 'utf8');
  expect(dockerfile).toMatch(/HOST=0\.0\.0\.0/); // the ops ports must be reachable from Prometheus
  for (const [service, port] of [
    ['api', 4000],
    ['worker', 9464],
  ] as const) {
    const probe = compose.services[service].healthcheck.test.join(' ');
    expect(probe).toContain('/readyz');
    const env = compose.services[service].environment;
    expect(Number(env.READYZ_PORT ?? 4000)).toBe(port);
    const config = loadConfig({ ...env, HOOKFLOW_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64') });
    expect(service === 'api' ? config.PORT : config.HOOKFLOW_METRICS_PORT).toBe(port);
  }
});

test('Prometheus scrapes the API, the worker and the Temporal SDK exporter on the ports they serve', () => {
  const prometheus = read('deploy/prometheus/prometheus.yml');
  const targets = prometheus.scrape_configs.flatMap((job: any) => job.static_configs.flatMap((c: any) => c.targets));
  const worker = loadConfig({ ...compose.services.worker.environment, HOOKFLOW_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64') });
  expect(targets.sort()).toEqual(['api:4000', `worker:${worker.HOOKFLOW_METRICS_PORT}`, `worker:${worker.HOOKFLOW_SDK_METRICS_PORT}`].sort());
  const mounts: string[] = compose.services.prometheus.volumes;
  expect(mounts).toContain('./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro');
});

test('Grafana is provisioned with the Prometheus datasource and the dashboard kept in the repository', () => {
  const datasource = read('deploy/grafana/provisioning/datasources/prometheus.yml').datasources[0];
  expect(datasource).toMatchObject({ type: 'prometheus', uid: 'prometheus', url: 'http://prometheus:9090' });
  const provider = read('deploy/grafana/provisioning/dashboards/hookflow.yml').providers[0];
  const mounts: string[] = compose.services.grafana.volumes;
  expect(mounts).toContain(`./deploy/grafana/dashboards:${provider.options.path}:ro`);
  const dashboard = JSON.parse(readFileSync(path.join(root, 'deploy/grafana/dashboards/hookflow.json'), 'utf8'));
  for (const panel of dashboard.panels) expect(panel.datasource.uid).toBe(datasource.uid);
});
