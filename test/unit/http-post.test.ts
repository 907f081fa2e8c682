import { classifyError, parseRetryAfter } from '../../src/webhooks/http-post';

test('Retry-After is read as seconds or as an HTTP date', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  expect(parseRetryAfter('120', now)).toBe(120_000);
  expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30_000);
  expect(parseRetryAfter('Wed, 31 Dec 2025 00:00:00 GMT', now)).toBe(0);
  expect(parseRetryAfter('soon', now)).toBeUndefined();
  expect(parseRetryAfter(undefined, now)).toBeUndefined();
});

test('network errors are classified by their codes, including nested causes', () => {
  const withCode = (code: string) => Object.assign(new Error(code), { code });
  expect(classifyError(withCode('ECONNREFUSED'))).toBe('connection_refused');
  expect(classifyError(new TypeError('fetch failed', { cause: withCode('ECONNRESET') }))).toBe('connection_reset');
  expect(classifyError(withCode('ENOTFOUND'))).toBe('dns');
  expect(classifyError(withCode('UND_ERR_HEADERS_TIMEOUT'))).toBe('timeout');
  expect(classifyError(new DOMException('timed out', 'TimeoutError'))).toBe('timeout');
  expect(classifyError(withCode('ERR_TLS_CERT_ALTNAME_INVALID'))).toBe('tls');
  expect(classifyError(withCode('HPE_INVALID_CONSTANT'))).toBe('protocol');
  expect(classifyError(new Error('something else'))).toBe('network');
});
