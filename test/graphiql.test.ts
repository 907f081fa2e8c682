import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import pino from 'pino';
import { startApiServer, type RunningApi } from '../src/app';
import { liveConfigOf, loadConfig } from '../src/config';
import { startReceiver, type Receiver } from './helpers/receiver';
import { startStack, testEnv, type TestStack } from './helpers/stack';

/**
 * GraphiQL as `npm start` serves it (the key pre-filled in its headers), in Debian's Chromium (.ci/run
 * installs it), with every request outside 127.0.0.1 refused: it must come whole from the API.
 */

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = path.join(os.tmpdir(), 'hookflow-graphiql.png');

let stack: TestStack;
let api: RunningApi;
let receiver: Receiver;
let browser: BrowserContext;
let profile: string;
const outside: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (bash .ci/run does)`);
  stack = await startStack();
  receiver = await startReceiver();
  const config = loadConfig(testEnv());
  api = await startApiServer({
    services: stack.services,
    db: stack.mongo.collections,
    live: liveConfigOf(config),
    log: pino({ level: 'silent' }),
    host: '127.0.0.1',
    port: 0,
    maxRequestBytes: config.HOOKFLOW_MAX_REQUEST_BYTES,
    graphiqlApiKey: stack.apiKey,
  });
  profile = mkdtempSync(path.join(os.tmpdir(), 'hookflow-chromium-'));
  // A new, empty profile (Playwright passes it as --user-data-dir).
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1400, height: 900 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});
afterAll(async () => {
  await browser?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  await api?.close();
  await receiver?.close();
  await stack?.stop();
});

async function openGraphiql(query: string) {
  const page = await browser.newPage();
  await page.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.hostname === '127.0.0.1' || url.protocol === 'blob:' || url.protocol === 'data:') return route.continue();
    outside.push(url.href);
    return route.abort();
  });
  await page.goto(`${api.url}?query=${encodeURIComponent(query)}`, { headers: { accept: 'text/html' } } as never);
  await page
    .getByRole('button', { name: /execute query/i })
    .first()
    .waitFor({ timeout: 30_000 });
  return page;
}

test('GraphiQL loads from the API itself and runs a query and a subscription', async () => {
  const endpoint = (await stack.gql('mutation ($u: String!) { createEndpoint(input: { url: $u }) { endpoint { id } } }', { u: receiver.url })).data
    .createEndpoint.endpoint.id;

  const queryPage = await openGraphiql('{ endpoints { id url } }');
  await queryPage
    .getByRole('button', { name: /execute query/i })
    .first()
    .click();
  await queryPage.getByText(endpoint, { exact: false }).first().waitFor({ timeout: 20_000 });
  await queryPage.close();

  const page = await openGraphiql('subscription { deliveryEvents { status message { id } attempt { statusCode } } }');
  await page
    .getByRole('button', { name: /execute query/i })
    .first()
    .click();
  // The subscription is open once the API counts it; then a message is sent and its event shows.
  const deadline = Date.now() + 20_000;
  while (api.live.hub.subscriptionCount === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  expect(api.live.hub.subscriptionCount).toBeGreaterThan(0);
  const messageId = (await stack.gql('mutation { sendMessage(input: { eventType: "order.created", payload: { n: 1 } }) { id } }')).data.sendMessage.id;
  await page.getByText(messageId, { exact: false }).first().waitFor({ timeout: 20_000 });
  await page.getByText('SUCCEEDED', { exact: false }).first().waitFor({ timeout: 20_000 });
  await page.screenshot({ path: SCREENSHOT });
  process.stdout.write(`GraphiQL screenshot: ${SCREENSHOT}\n`);
  expect(await page.content()).not.toContain('Loading Hookflow...');
  expect(outside).toEqual([]);
  await page.close();
}, 90_000);
