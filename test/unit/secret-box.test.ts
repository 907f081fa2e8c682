import { createSecretBox, generateEncryptionKey } from '../../src/secret-box';

test('a sealed secret opens with its key only, and sealing twice gives different ciphertexts', () => {
  const box = createSecretBox(generateEncryptionKey());
  const sealed = box.seal('whsec_abc');
  expect(sealed).toMatch(/^v1\./);
  expect(sealed).not.toContain('abc');
  expect(box.open(sealed)).toBe('whsec_abc');
  expect(box.seal('whsec_abc')).not.toBe(sealed);
  expect(() => createSecretBox(generateEncryptionKey()).open(sealed)).toThrow();
  const [v, iv, tag] = sealed.split('.');
  expect(() => box.open([v, iv, tag, Buffer.from('tampered').toString('base64url')].join('.'))).toThrow();
  expect(() => createSecretBox(Buffer.alloc(16).toString('base64'))).toThrow(/32 bytes/);
});
