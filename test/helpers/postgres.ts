import { Client } from 'pg';

export const pgUrl = () => process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** Null if a PostgreSQL server answers at `url`, else why not (shown when its tests are skipped). */
export async function probePostgres(url: string): Promise<string | null> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return null;
  } catch (error) {
    return `${(error as Error).message || (error as { code?: string }).code} (${url.replace(/\/\/[^@]*@/, '//…@')})`;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * `describe`, or `describe.skip` with a printed reason where no PostgreSQL answers. Jest's global
 * setup probes once (PG_URL, default postgres://postgres@127.0.0.1:5432/postgres) and passes the
 * verdict in TEST_PG_UNAVAILABLE.
 */
export function describeWithPostgres(name: string, body: () => void) {
  const unavailable = process.env.TEST_PG_UNAVAILABLE;
  if (unavailable) {
    console.warn(`Skipping "${name}": no PostgreSQL server: ${unavailable}. Set PG_URL to run it.`);
    describe.skip(name, body);
  } else {
    describe(name, body);
  }
}
