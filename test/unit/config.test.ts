import { ConfigError, loadConfig } from '../../src/config';

test('defaults work with an empty environment', () => {
  const config = loadConfig({});
  expect(config.PORT).toBe(4000);
  expect(config.TEMPORAL_ADDRESS).toBeUndefined();
  expect(config.MONGODB_URI).toBeUndefined();
  expect(config.TEMPORAL_NAMESPACE).toBe('default');
  expect(config.HOOKFLOW_MAX_PAYLOAD_BYTES).toBe(262_144);
  expect(config.HOOKFLOW_DELIVERY_TIMEOUT_MS).toBe(15_000);
  expect(config.HOOKFLOW_DATA_DIR).toMatch(/\.data$/);
});

test('values from the environment are coerced and empty strings mean unset', () => {
  const config = loadConfig({ PORT: '8080', MONGODB_URI: 'mongodb://db:27017', TEMPORAL_ADDRESS: '' });
  expect(config.PORT).toBe(8080);
  expect(config.MONGODB_URI).toBe('mongodb://db:27017');
  expect(config.TEMPORAL_ADDRESS).toBeUndefined();
});

test('every wrong variable is named, with the value it had', () => {
  let error: unknown;
  try {
    loadConfig({ PORT: 'eighty', MONGODB_URI: 'postgres://x', HOOKFLOW_API_KEY: 'short' });
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(ConfigError);
  const message = (error as ConfigError).message;
  expect(message).toMatch(/PORT: .*\(got "eighty"\)/);
  expect(message).toMatch(/MONGODB_URI: must start with mongodb:\/\//);
  expect(message).toMatch(/HOOKFLOW_API_KEY: must be at least 16 characters/);
  expect((error as ConfigError).problems).toHaveLength(3);
});
