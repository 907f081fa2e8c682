import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface Registration {
  endpointId: string;
  secret: string;
  url: string;
}

async function gql<T>(apiUrl: string, apiKey: string, query: string, variables: Record<string, unknown>): Promise<T> {
  const response = await fetch(apiUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
    body: JSON.stringify({ query, variables }),
  });
  const result = (await response.json()) as { data?: T; errors?: { message: string }[] };
  if (result.errors?.length || !result.data) throw new Error(`Hookflow API: ${result.errors?.[0]?.message ?? response.status}`);
  return result.data;
}

/**
 * The endpoint this receiver listens as: registered once through the API (createEndpoint returns the
 * secret, shown once) and kept in `file`, so a restart reuses it. Registered again if the URL changed
 * or the endpoint is gone.
 */
export async function ensureEndpoint(options: { apiUrl: string; apiKey: string; url: string; file: string }): Promise<Registration> {
  if (existsSync(options.file)) {
    const saved = JSON.parse(readFileSync(options.file, 'utf8')) as Registration;
    if (saved.url === options.url) {
      const { endpoint } = await gql<{ endpoint: { id: string } | null }>(options.apiUrl, options.apiKey, 'query ($id: ID!) { endpoint(id: $id) { id } }', {
        id: saved.endpointId,
      }).catch(() => ({ endpoint: null }));
      if (endpoint) return saved;
    }
  }
  const { createEndpoint } = await gql<{ createEndpoint: { endpoint: { id: string }; secret: string } }>(
    options.apiUrl,
    options.apiKey,
    'mutation ($input: CreateEndpointInput!) { createEndpoint(input: $input) { endpoint { id } secret } }',
    { input: { url: options.url, description: 'examples/receiver: order sync' } },
  );
  const registration = { endpointId: createEndpoint.endpoint.id, secret: createEndpoint.secret, url: options.url };
  mkdirSync(path.dirname(options.file), { recursive: true });
  writeFileSync(options.file, JSON.stringify(registration, null, 2), { mode: 0o600 });
  return registration;
}
